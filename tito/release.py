"""The student release of a module: everything a student needs, and nothing that grades them."""
from __future__ import annotations

import shutil
from pathlib import Path

from tito.course import Course, CourseError, Module

# What a student gets: path in the release -> path in the course. Never solutions/, autograder/
# or tests/.
RELEASED = {name: name for name in ("course.toml", "pyproject.toml", "tito", "tinytorch", "modules",
                                    "examples")} | {"README.md": "docs/student-README.md"}


def release(course: Course, module: Module, out: Path) -> Path:
    if out.exists() and any(out.iterdir()):
        raise CourseError(f"{out} is not empty: choose a new folder for the release.")
    for name, origin in RELEASED.items():
        source = course.root / origin
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(
                "__pycache__", "*.ipynb", ".tito", ".ipynb_checkpoints"))
        else:
            shutil.copy2(source, target)
    write_release_notebook(module, out / "modules" / module.folder / Path(module.file).with_suffix(".ipynb"))
    return out


def write_release_notebook(module: Module, target: Path) -> Path:
    """nbgrader's release version of the student copy: outputs cleared, graded cells locked."""
    import jupytext
    from nbgrader.preprocessors import ClearOutput, LockCells

    notebook = jupytext.read(module.source)
    for preprocessor in (ClearOutput(), LockCells()):
        notebook, _ = preprocessor.preprocess(notebook, {})
    jupytext.write(notebook, target)
    return target
