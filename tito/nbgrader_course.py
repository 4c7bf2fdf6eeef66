"""Lay out an nbgrader course that grades the notebook `tito release` gives students.

Its source notebook is `tito.release.assignment_notebook`, so `nbgrader generate_assignment`
makes the notebook `tito release` makes; its configuration puts tito's steps into nbgrader's
pipelines (`tito.nbgrader_hooks`): the stubs of `tito generate`, and the hidden tests' verdicts
decided by the course's sandboxed grader, outside the student's kernel. The kernel skips the
module's experiment cells (EXPERIMENT_TAG): nothing graded needs them, and they cost seconds a notebook.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from tito.course import REGISTRY, Course, CourseError, Module
from tito.grading.judge import grader_files, load_autograder

CONFIG = '''c = get_config()  # noqa: F821
from tito.nbgrader_hooks import autograde_preprocessors, generate_preprocessors, sanitize_preprocessors

c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "tinytorch"
# nbgrader's pipelines with tito's steps: the stubs `tito generate` writes, and each hidden test's
# verdict decided by the course's sandboxed grader after the notebook ran (tito.nbgrader_hooks).
c.GenerateAssignment.preprocessors = generate_preprocessors()
c.Autograde.sanitize_preprocessors = sanitize_preprocessors()
c.Autograde.autograde_preprocessors = autograde_preprocessors()
c.HiddenTestVerdicts.course_root = {root!r}
c.HiddenTestVerdicts.module = {module!r}
c.Execute.timeout = {timeout}
# The chapter's experiments (timings, training runs, plots) earn no points: the kernel skips them.
c.Execute.skip_cells_with_tag = {tag!r}
# The student's kernel runs in bubblewrap, where it works, and sees none of these folders.
c.SandboxedKernelManager.hidden = [{root!r}]
'''
KERNEL_SECONDS = 120  # of one cell in the student's kernel; the grader has its own limits
# The Jupyter tag of a module's experiment cells (`tags=["experiment"]` on their `# %%` line):
# locked cells that only demonstrate, time or plot, which nothing graded needs. A student's
# Jupyter runs them; `nbgrader autograde` skips them.
EXPERIMENT_TAG = "experiment"


def build_course(course: Course, module: Module, out: Path) -> Path:
    """`out` becomes an nbgrader course: config, the source notebook and the autograder it calls."""
    from tito.release import assignment_notebook

    if (out / "source").exists():
        raise CourseError(f"{out} already holds an nbgrader course: choose a new folder.")
    out.mkdir(parents=True, exist_ok=True)
    config = CONFIG.format(root=str(out.resolve()), module=module.number, timeout=KERNEL_SECONDS,
                           tag=EXPERIMENT_TAG)
    (out / "nbgrader_config.py").write_text(config)
    shutil.copy2(course.root / REGISTRY, out / REGISTRY)
    autograder = load_autograder(module)
    for source in grader_files(autograder.folder):
        target = out / module.autograder / source.relative_to(autograder.folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    _write_notebook(assignment_notebook(module, autograder.tests), source_notebook(out, module))
    return out


def source_notebook(course_dir: Path, module: Module) -> Path:
    return course_dir / "source" / module.folder / Path(module.file).with_suffix(".ipynb").name


def release_notebook(course_dir: Path, module: Module) -> Path:
    """What `nbgrader generate_assignment` made for students (the same as `tito release`'s)."""
    return course_dir / "release" / module.folder / Path(module.file).with_suffix(".ipynb").name


def filled_notebook(release: Path, code: str):
    """The released notebook with `code` as its answer (for demos, tests and benchmarks): the
    code in the first solution cell, the other solution cells emptied, every other cell kept."""
    import nbformat

    notebook = nbformat.read(release, as_version=4)
    answers = [c for c in notebook.cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    for i, cell in enumerate(answers):
        cell.source = "#| export\n" + code if i == 0 else ""
    return notebook


def write_submission(course_dir: Path, module: Module, student: str, notebook) -> Path:
    """Put a student's notebook where `nbgrader autograde` looks for it."""
    target = course_dir / "submitted" / student / module.folder / release_notebook(course_dir, module).name
    _write_notebook(notebook, target)
    return target


def _write_notebook(notebook, target: Path) -> None:
    import nbformat

    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)


def nbgrader_env() -> dict[str, str]:
    """The environment to run nbgrader in: it calls the `alembic` command of its own install, so
    this interpreter's scripts folder must be on PATH even when the virtualenv is not activated."""
    import os
    import sys

    scripts = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}
