"""The student release of a module: everything a student needs, and nothing that grades them.

Its notebook is the one notebook of the assignment, whichever tool grades it. `assignment_notebook`
is the instructor's side (the solution, the visible tests, one locked cell per hidden test: the
nbgrader course's source); `student_notebook` runs nbgrader's own release pipeline on it, as
`nbgrader generate_assignment` does in that course, so students get the same cells, `grade_id`s
and checksums from `tito release` as from nbgrader, and nbgrader's `OverwriteCells` restores the
hidden tests' cells in whatever they submit.

nbgrader grades only the hidden tests' cells (and the manually graded answers): the visible tests
keep their points for `tito test` but are locked cells nbgrader does not score, because a verdict
that the student's kernel decides could be forged.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from tito.course import Course, CourseError, Module

# What a student gets: path in the release -> path in the course. Never solutions/, autograder/
# or tests/, nor the instructor's commands, which need them (`tito` lists only what is there).
RELEASED = {name: name for name in ("course.toml", "pyproject.toml", "tito", "tinytorch", "modules",
                                    "examples")} | {"README.md": "docs/student-README.md"}
HIDDEN_PREFIX = "hidden_"
HIDDEN_INTRO = ("## Hidden tests\n\nThe locked cells below stand for the tests your submission is graded "
                "with. They are run by the course autograder, on your `#| export` cells, in a separate "
                "process; here they only print that. Run `tito test` for the tests you can see.")
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
    write_student_notebook(module, out / "modules" / module.folder / module.file)
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


def write_student_notebook(module: Module, target: Path) -> Path:
    """The student notebook as a pair: the `.ipynb` and its `.py`, written in that order so that
    `tito test` reads the notebook, and `tito notebook` keeps the hidden tests' cells."""
    import jupytext

    from tito.grading.judge import load_autograder

    notebook = student_notebook(module, load_autograder(module).tests)
    jupytext.write(notebook, target.with_suffix(".py"), fmt="py:percent")
    jupytext.write(notebook, target.with_suffix(".ipynb"))
    return target.with_suffix(".ipynb")


def student_notebook(module: Module, tests):
    """What students get and nbgrader autogrades: the assignment notebook through nbgrader's
    release preprocessors (tito's stubs, locked cells, no outputs, checksums)."""
    from tito.nbgrader_hooks import release_preprocessors

    notebook = assignment_notebook(module, tests)
    for preprocessor in release_preprocessors():
        notebook, _ = preprocessor.preprocess(notebook, {"source": str(module.solution)})
    return notebook


def assignment_notebook(module: Module, tests):
    """The solution notebook with the visible tests left to `tito test` and the hidden tests as
    nbgrader's graded cells; its written answers (nbgrader's manually graded cells) stay as they are."""
    import jupytext
    from nbformat.v4 import new_markdown_cell

    from tito.notebooks import PAIRING

    notebook = jupytext.read(module.solution)
    notebook.metadata.setdefault("jupytext", {})["formats"] = PAIRING
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            meta.update(grade=False, locked=True)  # keeps its points: `tito test` shows them
    intro = {"grade": False, "grade_id": f"{HIDDEN_PREFIX}intro", "locked": True, "schema_version": 3,
             "solution": False}
    notebook.cells.append(new_markdown_cell(HIDDEN_INTRO, metadata={"nbgrader": intro}))
    notebook.cells += [hidden_cell(test) for test in tests]
    return notebook


def hidden_cell(test):
    """The locked cell of one hidden test: nbgrader's graded cell, whose verdict the course's
    autograde preprocessor sets (`tito.nbgrader_hooks.HiddenTestVerdicts`)."""
    from nbformat.v4 import new_code_cell

    source = (f"# Hidden test: {test.concept} ({test.points:g} points)\n"
              f"from tito.grading.bridge import hidden_test\nhidden_test({test.name!r})")
    meta = {"grade": True, "grade_id": hidden_id(test.name), "locked": True, "points": test.points,
            "schema_version": 3, "solution": False}
    return new_code_cell(source, metadata={"nbgrader": meta})


def hidden_id(test_name: str) -> str:
    return HIDDEN_PREFIX + test_name
