"""Run a module's visible tests (its graded notebook cells) against a source, in this process.

The student's exported cells run first, as one module namespace; each graded cell then runs on
a copy of that namespace, so one test cannot break the next. This is the student's own feedback
loop: fast and readable. Grading that must withstand hostile code lives in the autograder.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

from tito.cells import Cell, read_cells
from tito.course import CourseError
from tito.exporter import export_cells, graded_cells


@dataclass(frozen=True)
class TestResult:
    grade_id: str
    concept: str
    points: float
    passed: bool
    hint: str = ""

    @property
    def score(self) -> float:
        return self.points if self.passed else 0.0


def concept_of(cell: Cell) -> str:
    first = cell.source.lstrip().splitlines()[0] if cell.source.strip() else ""
    return first.removeprefix("# Test:").strip() if first.startswith("# Test:") else cell.nbgrader["grade_id"]


def run_visible_tests(path: Path, code: Path | None = None) -> list[TestResult]:
    """Run the graded cells of `path` against the exported cells of `code` (default: `path`).

    Another `code` file is read as the grader reads a submission: its `#| export` cells, or the
    whole file when it has none. That is how the project checks that the visible tests pass
    every correct implementation of the contract, whatever its layout.
    """
    graded = [cell for cell in read_cells(path) if cell.is_graded]
    if not graded:
        raise CourseError(f"{path} has no graded test cells.")
    code = code or path
    namespace, import_error = {"__name__": "student"}, ""
    try:
        for cell in export_cells(code) if code == path else graded_cells(code):
            exec(cell.compile(), namespace)
    except CourseError:
        raise
    except BaseException as error:  # the student's code may raise anything; report it per test
        import_error = "your exported code failed before any test ran: " + describe(error, code)
    return [run_one(cell, namespace, import_error, code) for cell in graded]


def run_one(cell: Cell, namespace: dict, import_error: str, path: Path) -> TestResult:
    meta = cell.nbgrader
    result = dict(grade_id=meta["grade_id"], concept=concept_of(cell), points=float(meta.get("points", 0)))
    if import_error:
        return TestResult(**result, passed=False, hint=import_error)
    try:
        exec(cell.compile(), dict(namespace))
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        return TestResult(**result, passed=False, hint=describe(error, path))
    return TestResult(**result, passed=True)


def describe(error: BaseException, path: Path) -> str:
    """The hint for a failure, in the student's terms, with the line of their code it came from."""
    where = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(str(path))]
    at = f" (at {Path(where[-1].filename).name}:{where[-1].lineno})" if where else ""
    if isinstance(error, NotImplementedError):
        return f"not implemented yet: {error}{at}" if str(error) else f"not implemented yet{at}"
    if isinstance(error, AssertionError) and str(error):
        return str(error)
    return f"{type(error).__name__}: {error}{at}"
