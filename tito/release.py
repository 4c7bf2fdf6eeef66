"""The student release of a module: everything a student needs, and nothing that grades them."""
from __future__ import annotations

import shutil
from pathlib import Path

from tito.course import Course, CourseError, Module

# What a student gets: path in the release -> path in the course. Never solutions/, autograder/
# or tests/, nor the instructor's commands, which need them (`tito` lists only what is there).
RELEASED = {name: name for name in ("course.toml", "pyproject.toml", "tito", "tinytorch", "modules",
                                    "examples")} | {"README.md": "docs/student-README.md"}
NOT_RELEASED = ("__pycache__", "*.ipynb", ".tito", ".ipynb_checkpoints")


def release(course: Course, module: Module, out: Path) -> Path:
    if out.exists() and any(out.iterdir()):
        raise CourseError(f"{out} is not empty: choose a new folder for the release.")
    for name, origin in RELEASED.items():
        source = course.root / origin
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=_not_released(course))
        else:
            shutil.copy2(source, target)
    write_release_notebook(module, out / "modules" / module.folder / Path(module.file).with_suffix(".ipynb"))
    return out


def _not_released(course: Course):
    from tito.cli import INSTRUCTOR_COMMANDS

    patterns = shutil.ignore_patterns(*NOT_RELEASED)
    commands = (course.root / "tito" / "commands").resolve()

    def ignored(folder: str, names: list[str]) -> set[str]:
        skipped = set(patterns(folder, names))
        if Path(folder).resolve() == commands:
            skipped |= {f"{name}.py" for name in INSTRUCTOR_COMMANDS}
        return skipped
    return ignored


def write_release_notebook(module: Module, target: Path) -> Path:
    """nbgrader's release version of the student copy: outputs cleared, graded cells locked."""
    import jupytext
    from nbgrader.preprocessors import ClearOutput, LockCells

    notebook = jupytext.read(module.source)
    for preprocessor in (ClearOutput(), LockCells()):
        notebook, _ = preprocessor.preprocess(notebook, {})
    jupytext.write(notebook, target)
    return target
