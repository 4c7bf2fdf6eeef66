"""tito's steps in nbgrader's pipelines, named by the nbgrader_config.py that `tito nbgrader` writes.

- `TodoStubs` clears solutions with the stubs `tito generate` writes (`generate_assignment`, and
  `tito release`, which runs the same release pipeline).
- `HiddenTestVerdicts` (autograde, after `Execute`) grades the notebook being autograded with the
  course's sandboxed grader, as `tito grade` would, and sets each hidden test cell to the grader's
  verdict: no output when it passed, one error output with the grader's message when not.
  Whatever the student's kernel printed, raised or patched, nbgrader's `SaveAutoGrades` reads
  only that.
- `Execute` is nbgrader's, except that a kernel that dies or stops answering ends the run of that
  notebook, not its grading: the verdicts never depended on it.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader import preprocessors as nbgrader_steps
from nbgrader.converters import Autograde, GenerateAssignment
from traitlets import Unicode

from tito.course import load_course
from tito.stubs import STUB, fill_todo_messages

VERDICT_NAMES = {"failed": "Failed", "error": "Error", "timeout": "TimedOut", "crashed": "Crashed"}


class TodoStubs(nbgrader_steps.ClearSolutions):
    """nbgrader's ClearSolutions, whose stub raises NotImplementedError with the region's TODO."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.code_stub = {"python": STUB}

    def preprocess_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        if cell.cell_type == "code":
            cell.source = fill_todo_messages(cell.source, resources.get("source", "the notebook"))
        return cell, resources


class Execute(nbgrader_steps.Execute):
    def preprocess(self, nb, resources, km=None):
        try:
            return super().preprocess(nb, resources, km=km)
        except (DeadKernelError, CellTimeoutError, TimeoutError) as stopped:
            self.log.warning("The kernel stopped (%s): the hidden tests are graded all the same.", stopped)
            return nb, resources


class HiddenTestVerdicts(nbgrader_steps.NbGraderPreprocessor):
    course_root = Unicode(help="the course folder, with course.toml and autograder/").tag(config=True)
    module = Unicode(help="the module's number, e.g. 06").tag(config=True)

    def preprocess(self, nb, resources):
        from tito.grading.judge import load_autograder
        from tito.release import hidden_cell, hidden_id

        module = load_course(Path(self.course_root)).module(self.module)
        autograder = load_autograder(module)
        outcomes = {o.name: o for o in grade_notebook(nb, module, autograder, resources["nbgrader"]["student"]).outcomes}
        cells = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in nb.cells}
        for test in autograder.tests:
            cell = cells.get(hidden_id(test.name))
            if cell is None:  # deleted: the test is graded all the same
                cell = hidden_cell(test)
                nb.cells.append(cell)
            checksum = cell.metadata.get("nbgrader", {}).get("checksum")
            canonical = hidden_cell(test)
            cell.update(cell_type="code", source=canonical.source, metadata=canonical.metadata,
                        execution_count=None, outputs=verdict_outputs(outcomes[test.name]))
            if checksum:
                cell.metadata.nbgrader["checksum"] = checksum
        return nb, resources


def grade_notebook(nb, module, autograder, student: str):
    """The grader's result for the notebook in memory (the cells nbgrader is autograding, never a
    file the student's kernel could have rewritten), graded from a private copy."""
    from tito.grading.judge import Grader
    from tito.grading.submissions import Submission
    from tito.grading.worker import Limits

    with tempfile.TemporaryDirectory(prefix="tito-nbgrader-") as folder:
        copy = Path(folder) / Path(module.file).with_suffix(".ipynb").name
        nbformat.write(nb, copy)
        with Grader(autograder, Limits()) as grader:
            return grader.grade(Submission(student, copy))


def verdict_outputs(outcome) -> list:
    if outcome.status == "passed":
        return []
    name = VERDICT_NAMES.get(outcome.status, "Failed")
    return [nbformat.v4.new_output("error", ename=name, evalue=outcome.message,
                                   traceback=[f"{name}: {outcome.message}"])]


def generate_preprocessors() -> list:
    """nbgrader's `generate_assignment` pipeline, clearing solutions with tito's stubs."""
    return [TodoStubs if step is nbgrader_steps.ClearSolutions else step
            for step in _default(GenerateAssignment, "preprocessors")]


def release_preprocessors() -> list:
    """The same pipeline without its database step, for `tito release`."""
    return [step() for step in generate_preprocessors() if step is not nbgrader_steps.SaveCells]


def autograde_preprocessors() -> list:
    """nbgrader's autograde pipeline with our Execute, and the verdicts set right before they are
    saved (after Execute and after every step that rewrites outputs)."""
    steps = [Execute if step is nbgrader_steps.Execute else step
             for step in _default(Autograde, "autograde_preprocessors")]
    save = steps.index(nbgrader_steps.SaveAutoGrades)
    return [*steps[:save], HiddenTestVerdicts, *steps[save:]]


def _default(converter, pipeline: str) -> list:
    return list(converter.class_traits()[pipeline].default())
