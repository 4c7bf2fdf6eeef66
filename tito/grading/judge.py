"""The grader's side: start workers, enforce limits, compare observations, assign points."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from tito.cells import parse_cells
from tito.course import CourseError, Module
from tito.exporter import graded
from tito.grading.files import load_file
from tito.grading.sandbox import Isolation, RunningJob, SandboxError, Zygote, choose_isolation
from tito.grading.submissions import Submission, read_source
from tito.grading.worker import READY, Job, Limits


@dataclass(frozen=True)
class TestOutcome:
    name: str
    concept: str
    points: float
    score: float
    status: str  # "passed", "failed", "error", "timeout" or "crashed"
    message: str = ""


@dataclass(frozen=True)
class Report:
    """What a worker said about one scenario: its observations, or the exception that the
    student's code raised there. Only observations: what they are worth, the grader decides."""
    observations: object = None
    error: str = ""


@dataclass(frozen=True)
class Incident:
    """What the grader itself saw instead of a report: a timeout, a crash, a kill, garbage."""
    status: str  # "timeout", "crashed" or "error"
    message: str


@dataclass
class SubmissionResult:
    student: str
    source: str
    outcomes: list[TestOutcome]
    problem: str = ""  # why the whole submission scored nothing, if it did
    seconds: float = 0.0
    output: str = ""  # the first part of what the student's code printed, as the zygote read it
    output_cut: bool = False  # the rest of it was cut

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
LATE_SECONDS = 1.0  # a test still running after this starts the remaining ones apart
APART_SLACK = 0.5  # seconds a test apart gets beyond its limit, to start while the others do
MIN_TASKS = 4  # processes or threads a worker that runs apart may start, at least

INSTRUCTOR_ONLY = ("mutants", "correct", "samples", "make_expected.py", "__pycache__")


def grader_files(folder: Path) -> list[Path]:
    """The files grading needs (to ship in an nbgrader course or a Gradescope bundle)."""
    return [p for p in sorted(folder.rglob("*"))
            if p.is_file() and not set(p.relative_to(folder).parts) & set(INSTRUCTOR_ONLY)]


def load_autograder(module: Module) -> Autograder:
    """The autograder course.toml registers for `module`."""
    folder = module.autograder_folder
    if not (folder / "tests.py").is_file():
        raise CourseError(f"{folder} has no tests.py: this course has no autograder for module {module.number}.")
    return load_autograder_from(folder)


def load_autograder_from(folder: Path) -> Autograder:
    tests = load_file(folder / "tests.py", f"autograder_{folder.name}")
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
        self.close()

    def close(self) -> None:
        self.zygote.close()

    def grade(self, submission: Submission) -> SubmissionResult:
        started = time.monotonic()
        try:
            cells = _job_cells(submission)
        except _Unreadable as problem:
            return all_failed(submission, self.autograder, str(problem), started)
        scenarios = list(dict.fromkeys(test.scenario for test in self.autograder.tests))
        observed: dict[str, Report | Incident] = {}
        apart = _Apart(self, cells)
        job = Job(cells, scenarios, self.limits)
        running = self.start_worker(job)
        try:
            problem = self._run_worker(running, job, observed, apart)
            if problem:
                return all_failed(submission, self.autograder, problem, started, running.output())
            apart.collect(observed)
        finally:
            apart.stop()
        outcomes = [verdict(t, observed[t.scenario], self.autograder.expected) for t in self.autograder.tests]
        return SubmissionResult(submission.student, str(submission.source), outcomes,
                                seconds=time.monotonic() - started, **_printed(running.output()))

    def _run_worker(self, running: RunningJob, job: Job, observed: dict, apart: "_Apart") -> str:
        """Run the scenarios in one worker; return a problem that ends the grading ("" if none).

        A correct test answers in milliseconds. When one is late, the tests after it start at
        once, each in a worker of its own, while this one gets the rest of its time limit: a bug
        that hangs many tests then costs about one limit, not one per test. All of them run at
        the lowest CPU priority, so that they do not slow other submissions' tests.
        """
        started = time.monotonic()
        try:
            first = running.receive(self.limits.test_seconds * 3)
            failure = import_error(first)
            if failure is not None:
                return f"your code failed to load: {failure}"
            if not is_ready(first):
                return f"your code could not be loaded: {_lost(first, running, self.limits)}"
            apart.load_seconds = time.monotonic() - started
            for i, name in enumerate(job.scenarios):
                late = min(LATE_SECONDS, self.limits.test_seconds)
                message = running.receive(late)
                if _is(message, "timeout"):
                    running.demote()
                    apart.start(job.scenarios[i + 1:])
                    message = running.receive(self.limits.test_seconds - late)
                observed[name] = read_report(message, name) or _incident(message, running, self.limits)
                if isinstance(observed[name], Incident):
                    apart.start(job.scenarios[i + 1:])
                if apart.started:
                    return ""
            return ""
        finally:
            running.stop()

    def start_worker(self, job: Job) -> RunningJob:
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


class _Apart:
    """The tests of one submission that run side by side, one worker each."""

    def __init__(self, grader: Grader, cells):
        self.grader, self.cells = grader, cells
        self.load_seconds = 0.0
        self.running: list[tuple[str, RunningJob]] = []
        self.started = 0.0  # when they started; 0 while they have not

    def start(self, names: list[str]) -> None:
        if not self.started:
            self.started = time.monotonic()
            # Side by side, each gets half the memory, a share of the processes (each worker is a
            # user of its own, counted apart) and the lowest CPU priority: a bomb or a loop in code
            # that every test runs slows down no other submission.
            own = self.grader.limits
            limits = replace(own, memory_mb=own.memory_mb // 2, tasks=max(MIN_TASKS, own.tasks // max(1, len(names))))
            self.running = [(name, self.grader.start_worker(Job(self.cells, [name], limits))) for name in names]
            for _, job in self.running:
                job.demote()

    def collect(self, observed: dict) -> None:
        limits = self.grader.limits
        # Each worker loads the code again, with the others competing for the same cores.
        deadline = self.started + limits.test_seconds + 2 * self.load_seconds + APART_SLACK
        for name, job in self.running:
            message = job.receive(max(0.0, deadline - time.monotonic()))
            if is_ready(message):
                message = job.receive(max(0.0, deadline - time.monotonic()))
            observed[name] = read_report(message, name) or _incident(message, job, limits)

    def stop(self) -> None:
        for _, job in self.running:  # all at once: each ends in its own time, not one after another
            job.kill()
        for _, job in self.running:
            job.stop()


class _Unreadable(Exception):
    """The submission's file cannot be read as code."""


def _job_cells(submission: Submission) -> list[tuple[str, str, int, int]]:
    if submission.source is None:
        raise _Unreadable(submission.problem)
    try:
        cells = graded(parse_cells(read_source(submission), submission.source))
    except CourseError as error:
        raise _Unreadable(str(error).replace(str(submission.source), submission.source.name)) from None
    except (UnicodeDecodeError, ValueError):
        raise _Unreadable(f"{submission.source.name} is not a text file of Python code") from None
    if not any(cell.source.strip() for cell in cells):
        raise _Unreadable(f"{submission.source.name} holds no code")
    return [(c.source, str(c.path), c.first_line, c.index) for c in cells]


# What a worker may say (see worker.py). A message of any other shape is garbage, whoever wrote it.
RESULT_KEYS = ({"type", "scenario", "observations"}, {"type", "scenario", "error"})
ERROR_KEYS = {"type", "message", "where"}


def is_ready(message) -> bool:
    return isinstance(message, dict) and set(message) == set(READY) and _is(message["type"], READY["type"])


def read_report(message, scenario: str) -> Report | None:
    """The worker's report on `scenario`, or None when `message` is not one."""
    if not (isinstance(message, dict) and set(message) in RESULT_KEYS
            and _is(message["type"], "result") and _is(message["scenario"], scenario)):
        return None
    if "observations" in message:
        return Report(observations=message["observations"])
    text = _error_text(message["error"])
    return None if text is None else Report(error=text)


def import_error(message) -> str | None:
    """The text of the exception the student's code raised as it loaded, if `message` says so."""
    if isinstance(message, dict) and set(message) == {"type", "error"} and _is(message["type"], "import_error"):
        return _error_text(message["error"])
    return None


def _is(value, text: str) -> bool:
    """`value` is the string `text` (a forged message may hold an array, whose == is elementwise)."""
    return isinstance(value, str) and value == text


def _error_text(error) -> str | None:
    if not (isinstance(error, dict) and "type" in error and set(error) <= ERROR_KEYS
            and all(isinstance(v, str) for v in error.values())):
        return None
    kind, message, where = error["type"][:100], error.get("message", "")[:500], error.get("where", "")[:200]
    if kind == "NotImplementedError":
        text = f"not implemented yet{': ' + message if message else ''}"
    else:
        text = f"{kind}: {message}" if message else kind
    return f"{text} (at {where})" if where else text


def _incident(message, running: RunningJob, limits: Limits) -> Incident:
    status = message if isinstance(message, str) and message in ("timeout", "crashed") else "error"
    return Incident(status, _lost(message, running, limits))


def _lost(status, running: RunningJob, limits: Limits) -> str:
    if status == "timeout":
        return f"it ran for more than {limits.test_seconds:g} s (an endless loop?) and was stopped"
    if not isinstance(status, str) or status == "garbled":
        return "the worker sent something that is not a result"
    return running.exit_reason()


def verdict(test, seen: Report | Incident, expected: dict) -> TestOutcome:
    """The grader's verdict: a test passes only when its check accepts the observations.

    The message does not name the test: every report shows it beside the message (feedback.md's
    heading, results.json's name, the hidden cell in nbgrader, pytest's item).
    """
    def outcome(status, message=""):
        score = test.points if status == "passed" else 0.0
        return TestOutcome(test.name, test.concept, test.points, score, status, message)

    if isinstance(seen, Incident):
        return outcome(seen.status, seen.message)
    if seen.error:
        return outcome("error", seen.error)
    try:
        failure = test.check(seen.observations, expected.get(test.scenario))
    except Exception as error:  # a check must not raise; if it does, the test fails, loudly
        failure = f"the result could not be checked ({type(error).__name__}: {error})"
    return outcome("failed", failure) if failure else outcome("passed")


def all_failed(submission: Submission, autograder: Autograder, problem: str, started: float,
               printed: tuple[str, bool] = ("", False)) -> SubmissionResult:
    """Nothing of the submission could be graded: every test scores 0, for `problem`."""
    outcomes = [TestOutcome(t.name, t.concept, t.points, 0.0, "error", problem) for t in autograder.tests]
    return SubmissionResult(submission.student, str(submission.source or ""), outcomes, problem,
                            time.monotonic() - started, **_printed(printed))


def _printed(output: tuple[str, bool]) -> dict:
    return {"output": output[0], "output_cut": output[1]}
