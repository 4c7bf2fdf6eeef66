"""The grader's side: start workers, enforce limits, compare observations, assign points."""
from __future__ import annotations

import importlib.util
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tito.course import CourseError, Module
from tito.exporter import graded_cells
from tito.grading.sandbox import Isolation, RunningJob, SandboxError, Zygote, choose_isolation
from tito.grading.submissions import Submission
from tito.grading.worker import Job, Limits


@dataclass(frozen=True)
class TestOutcome:
    name: str
    concept: str
    points: float
    score: float
    status: str  # "passed", "failed", "error", "timeout" or "crashed"
    message: str = ""


@dataclass
class SubmissionResult:
    student: str
    source: str
    outcomes: list[TestOutcome]
    problem: str = ""  # why the whole submission scored nothing, if it did
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(o.score for o in self.outcomes)

    @property
    def max_score(self) -> float:
        return sum(o.points for o in self.outcomes)


@dataclass
class Autograder:
    """A module's hidden tests (`tests.py`), their expected values and the worker's scenarios."""
    folder: Path
    tests: list = field(default_factory=list)
    expected: dict = field(default_factory=dict)

    @property
    def scenarios_path(self) -> Path:
        return self.folder / "scenarios.py"


# What stays with the instructor: the material that validates the autograder, and the script that
# makes its expected values. Everything else in an autograder folder is what grading needs.
INSTRUCTOR_ONLY = ("mutants", "correct", "samples", "make_expected.py", "__pycache__")


def grader_files(folder: Path) -> list[Path]:
    """The files grading needs (to ship in an nbgrader course or a Gradescope bundle)."""
    return [p for p in sorted(folder.rglob("*"))
            if p.is_file() and not set(p.relative_to(folder).parts) & set(INSTRUCTOR_ONLY)]


def load_autograder(module: Module) -> Autograder:
    folder = module.root / "autograder" / module.folder
    if not (folder / "tests.py").is_file():
        raise CourseError(f"{folder} has no tests.py: this course has no autograder for module {module.number}.")
    return load_autograder_from(folder)


def load_autograder_from(folder: Path) -> Autograder:
    spec = importlib.util.spec_from_file_location(f"autograder_{folder.name}", folder / "tests.py")
    tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tests)
    return Autograder(folder, list(tests.TESTS), tests.load_expected())


class Grader:
    """Grades submissions against one autograder, in workers forked by one zygote.

    Use it as a context manager: the zygote, and every process a submission left behind, ends
    with it.
    """

    def __init__(self, autograder: Autograder, limits: Limits, isolation: Isolation | None = None):
        self.autograder, self.limits = autograder, limits
        self.isolation = isolation or choose_isolation()
        self.zygote = Zygote(autograder.scenarios_path, self.isolation)
        self._restart = threading.Lock()

    def __enter__(self) -> "Grader":
        return self

    def __exit__(self, *exc) -> None:
        self.zygote.close()

    def grade(self, submission: Submission) -> SubmissionResult:
        started = time.monotonic()
        try:
            cells = _job_cells(submission)
        except _Unreadable as problem:
            return _all_failed(submission, self.autograder, str(problem), started)
        scenarios = list(dict.fromkeys(test.scenario for test in self.autograder.tests))
        observed: dict[str, dict] = {}  # scenario -> the worker's message, or {"status", "message"}
        problem, load_seconds = self._run_worker(Job(cells, scenarios, self.limits), observed)
        if problem:
            return _all_failed(submission, self.autograder, problem, started)
        self._run_apart(cells, [name for name in scenarios if name not in observed], observed, load_seconds)
        outcomes = [_judge(t, observed[t.scenario], self.autograder.expected) for t in self.autograder.tests]
        return SubmissionResult(submission.student, str(submission.source), outcomes,
                                seconds=time.monotonic() - started)

    def _run_worker(self, job: Job, observed: dict) -> tuple[str, float]:
        """Run scenarios in one worker until done or one fails.

        Returns a problem that ends the grading of the submission ("" if none) and the seconds
        the worker took to load the submission's code."""
        started = time.monotonic()
        running = self._start(job)
        try:
            first = running.receive(self.limits.test_seconds * 3)
            if not isinstance(first, dict):
                return f"your code could not be loaded: {_lost(first, running, self.limits)}", 0.0
            if first.get("type") == "import_error":
                return f"your code failed to load: {_error_text(first.get('error'))}", 0.0
            load_seconds = time.monotonic() - started
            for name in job.scenarios:
                message = running.receive(self.limits.test_seconds)
                if isinstance(message, dict) and message.get("scenario") == name:
                    observed[name] = message
                    continue
                status = message if message in ("timeout", "crashed") else "error"
                observed[name] = {"status": status, "message": _lost(message, running, self.limits)}
                break  # the rest run apart
            return "", load_seconds
        finally:
            running.stop()


    def _run_apart(self, cells, names: list[str], observed: dict, load_seconds: float) -> None:
        """After one test hung or crashed, run each remaining test in a worker of its own, all at
        once: a bug that hangs many tests then costs one time limit, not one per test."""
        running = [(name, self._start(Job(cells, [name], self.limits))) for name in names]
        # Each worker loads the code again, with the others competing for the same cores.
        deadline = time.monotonic() + self.limits.test_seconds + 2 * load_seconds + 1.0
        try:
            for name, job in running:
                message = job.receive(max(0.0, deadline - time.monotonic()))
                if isinstance(message, dict) and message.get("type") == "ready":
                    message = job.receive(max(0.0, deadline - time.monotonic()))
                if isinstance(message, dict) and message.get("scenario") == name:
                    observed[name] = message
                else:
                    status = message if message in ("timeout", "crashed") else "error"
                    observed[name] = {"status": status, "message": _lost(message, job, self.limits)}
        finally:
            for _, job in running:
                job.stop()

    def _start(self, job: Job) -> RunningJob:
        """Start a worker; a zygote that a submission managed to kill is replaced first."""
        for attempt in range(2):
            zygote = self.zygote
            try:
                return zygote.start(job.to_json())
            except SandboxError:
                with self._restart:
                    if self.zygote is zygote:
                        zygote.close()
                        self.zygote = Zygote(self.autograder.scenarios_path, self.isolation)
        raise SandboxError("the zygote could not be restarted")


class _Unreadable(Exception):
    """The submission's file cannot be read as code."""


def _job_cells(submission: Submission) -> list[tuple[str, str, int, int]]:
    if submission.source is None:
        raise _Unreadable(submission.problem)
    try:
        cells = graded_cells(submission.source)
    except CourseError as error:
        raise _Unreadable(str(error).replace(str(submission.source), submission.source.name)) from None
    except (UnicodeDecodeError, ValueError):
        raise _Unreadable(f"{submission.source.name} is not a text file of Python code") from None
    if not any(cell.source.strip() for cell in cells):
        raise _Unreadable(f"{submission.source.name} holds no code")
    return [(c.source, str(c.path), c.first_line, c.index) for c in cells]


def _lost(status, running: RunningJob, limits: Limits) -> str:
    if status == "timeout":
        return f"it ran for more than {limits.test_seconds:g} s (an endless loop?) and was stopped"
    if not isinstance(status, str) or status == "garbled":
        return "the worker sent something that is not a result"
    return running.exit_reason()


def _judge(test, observed: dict, expected: dict) -> TestOutcome:
    def outcome(status, message=""):
        score = test.points if status == "passed" else 0.0
        return TestOutcome(test.name, test.concept, test.points, score, status, message)

    if "status" in observed:
        return outcome(observed["status"], f"{test.concept}: {observed['message']}")
    if "error" in observed:
        return outcome("error", f"{test.concept}: {_error_text(observed['error'])}")
    try:
        failure = test.check(observed.get("observations"), expected.get(test.scenario))
    except Exception as error:  # a check must not raise; if it does, the test fails, loudly
        failure = f"{test.concept}: the result could not be checked ({type(error).__name__}: {error})"
    return outcome("failed", failure) if failure else outcome("passed")


def _error_text(error) -> str:
    if not isinstance(error, dict):
        return "an unknown error"
    kind, message, where = (str(error.get(k, "")) for k in ("type", "message", "where"))
    if kind == "NotImplementedError":
        text = f"not implemented yet{': ' + message if message else ''}"
    else:
        text = f"{kind}: {message}" if message else kind
    return f"{text} (at {where})" if where else text


def _all_failed(submission, autograder, problem, started) -> SubmissionResult:
    outcomes = [TestOutcome(t.name, t.concept, t.points, 0.0, "error", problem) for t in autograder.tests]
    return SubmissionResult(submission.student, str(submission.source or ""), outcomes, problem,
                            time.monotonic() - started)
