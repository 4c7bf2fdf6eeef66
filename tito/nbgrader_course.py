"""Lay out an nbgrader course whose graded cells call the course's own autograder."""
from __future__ import annotations

import shutil
from pathlib import Path

from tito.course import REGISTRY, Course, CourseError, Module
from tito.grading.judge import grader_files, load_autograder

CONFIG = '''c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "tinytorch"
c.ClearSolutions.code_stub = {{"python": 'raise NotImplementedError("see the TODO above")'}}
c.ExecutePreprocessor.timeout = 120
'''
BRIDGE_INTRO = ("## Autograded tests\n\nThe cells below are graded by the course autograder, "
                "which runs your exported code in a separate process. Run `tito test` for the tests you can see.")


def build_course(course: Course, module: Module, out: Path) -> Path:
    """`out` becomes an nbgrader course: config, the source notebook and the autograder it calls."""
    if (out / "source").exists():
        raise CourseError(f"{out} already holds an nbgrader course: choose a new folder.")
    out.mkdir(parents=True, exist_ok=True)
    (out / "nbgrader_config.py").write_text(CONFIG.format(root=str(out.resolve())))
    shutil.copy2(course.root / REGISTRY, out / REGISTRY)
    autograder = load_autograder(module)
    for source in grader_files(autograder.folder):
        target = out / "autograder" / module.folder / source.relative_to(autograder.folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    write_source_notebook(module, autograder.tests, out / "source" / module.folder)
    return out


def write_source_notebook(module: Module, tests, folder: Path) -> Path:
    """The solution notebook, its visible tests kept as checks, the hidden tests as graded cells."""
    import jupytext
    from nbformat.v4 import new_code_cell, new_markdown_cell

    notebook = jupytext.read(module.solution)
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            # the visible tests become checks; written answers (markdown) stay graded by hand
            cell.metadata.nbgrader.update(grade=False, locked=True)
            cell.metadata.nbgrader.pop("points", None)
    notebook.cells.append(new_markdown_cell(BRIDGE_INTRO, metadata=_nbgrader("autograded_intro")))
    for test in tests:
        source = (f"# Test: {test.concept}\nfrom tito.grading.bridge import assert_passed\n"
                  f"assert_passed({test.name!r})")
        notebook.cells.append(new_code_cell(source, metadata=_nbgrader(f"hidden_{test.name}", test.points)))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / Path(module.file).with_suffix(".ipynb").name
    jupytext.write(notebook, target)
    return target


def _nbgrader(grade_id: str, points: float | None = None) -> dict:
    meta = {"grade_id": grade_id, "locked": True, "schema_version": 3, "solution": False,
            "grade": points is not None}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def write_submission(course_dir: Path, module: Module, student: str, code: str) -> Path:
    """A submitted notebook for nbgrader made from plain code (for demos, tests and benchmarks):
    the code as one exported cell, then the source notebook's graded cells."""
    import nbformat

    source = course_dir / "source" / module.folder / Path(module.file).with_suffix(".ipynb").name
    template = nbformat.read(source, as_version=4)
    graded = [c for c in template.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    notebook = nbformat.v4.new_notebook(metadata=template.metadata)
    notebook.cells = [nbformat.v4.new_code_cell("#| export\n" + code), *graded]
    target = course_dir / "submitted" / student / module.folder / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    return target


def nbgrader_env() -> dict[str, str]:
    """The environment to run nbgrader in: it calls the `alembic` command of its own install, so
    this interpreter's scripts folder must be on PATH even when the virtualenv is not activated."""
    import os
    import sys

    scripts = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}
