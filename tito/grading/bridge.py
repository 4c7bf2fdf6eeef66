"""Graded cells of an nbgrader notebook call into the same autograder as `tito grade`.

A cell `assert_passed("adam_bias_correction")` grades the notebook file on disk (the student's
submission as nbgrader copied it) in worker processes, once per kernel, and fails with the
autograder's message when that test did not pass. The student's code never decides the result:
the worker runs it, and this process compares.
"""
from __future__ import annotations

from pathlib import Path

from tito.course import CourseError, load_course
from tito.grading.judge import Grader, SubmissionResult, load_autograder
from tito.grading.submissions import Submission
from tito.grading.worker import Limits

_graded: dict[Path, SubmissionResult] = {}


def assert_passed(test_name: str) -> None:
    outcomes = {o.name: o for o in _grade_notebook().outcomes}
    if test_name not in outcomes:
        raise CourseError(f"The autograder has no test named {test_name!r}.")
    if outcomes[test_name].status != "passed":
        raise AssertionError(outcomes[test_name].message)


def _grade_notebook() -> SubmissionResult:
    try:
        course = load_course()
    except CourseError:
        raise CourseError("These cells are graded by the instructor's autograder. "
                          "Run `tito test` for the tests you can see.") from None
    module = course.module(course.assignment)
    notebook = (Path.cwd() / module.file).with_suffix(".ipynb")
    if notebook not in _graded:
        with Grader(load_autograder(module), Limits()) as grader:
            _graded[notebook] = grader.grade(Submission(notebook.parent.name, notebook))
    return _graded[notebook]
