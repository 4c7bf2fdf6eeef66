"""The grader's side: start workers, enforce limits, compare observations, assign points."""
from __future__ import annotations

import importlib.util
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tito.course import CourseError, Module
from tito.grading.submissions import Submission
from tito.grading.wire import WireError, decode
from tito.grading.worker import Limits, run_worker

# Workers are forked from a small server process that has imported numpy and the worker code,
# and nothing of the grader's: no expected values, no other submission.
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["numpy", "tito.grading.worker"])


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


def load_autograder(module: Module) -> Autograder:
    folder = module.root / "autograder" / module.folder
    if not (folder / "tests.py").is_file():
        raise CourseError(f"{folder} has no tests.py: this course has no autograder for module {module.number}.")
    spec = importlib.util.spec_from_file_location(f"autograder_{module.folder}", folder / "tests.py")
    tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tests)
    return Autograder(folder, list(tests.TESTS), tests.load_expected())


class _Worker:
    """One worker process and our end of its pipe."""

    def __init__(self, submission: Submission, autograder: Autograder, names: list[str], limits: Limits):
        self.scratch = tempfile.mkdtemp(prefix=f"tito-{submission.student[:20]}-")
        self.conn, child = _CONTEXT.Pipe(duplex=False)
        self.process = _CONTEXT.Process(
            target=run_worker, daemon=True,
            args=(child, str(submission.source), str(autograder.scenarios_path), names, limits, self.scratch))
        self.process.start()
        child.close()

    def receive(self, seconds: float) -> dict | str:
        """The next message, or why there is none: "timeout", "crashed" or "garbled"."""
        if not self.conn.poll(seconds):
            return "timeout"
        try:
            return decode(self.conn.recv_bytes())
        except (EOFError, OSError):
            return "crashed"
        except WireError:
            return "garbled"

    def exit_reason(self) -> str:
        self.process.join(1)
        code = self.process.exitcode
        if code is None:
            return "the worker stopped answering"
        if code < 0:
            name = signal.Signals(-code).name
            hint = {"SIGKILL": " (the memory or CPU limit, or a kill)", "SIGXCPU": " (the CPU-time limit)"}
            return f"the process was killed by {name}{hint.get(name, '')}"
        return f"the process exited with code {code} (sys.exit or os._exit in your code?)"

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, TypeError):
            pass
        self.process.join(5)
        self.conn.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def grade(submission: Submission, autograder: Autograder, limits: Limits) -> SubmissionResult:
    started = time.monotonic()
    if submission.source is None:
        return _all_failed(submission, autograder, "error", submission.problem, started)
    scenarios = list(dict.fromkeys(test.scenario for test in autograder.tests))
    observed: dict[str, dict] = {}  # scenario -> {"observations": ...} or {"status", "message"}
    while len(observed) < len(scenarios):
        remaining = [name for name in scenarios if name not in observed]
        problem = _run_worker(submission, autograder, remaining, limits, observed)
        if problem:
            return _all_failed(submission, autograder, "error", problem, started)
    outcomes = [_judge(test, observed[test.scenario], autograder.expected) for test in autograder.tests]
    return SubmissionResult(submission.student, str(submission.source), outcomes,
                            seconds=time.monotonic() - started)


def _run_worker(submission, autograder, names, limits, observed) -> str:
    """Run scenarios in one worker until they are done or it fails; return a fatal problem, if any."""
    worker = _Worker(submission, autograder, names, limits)
    try:
        first = worker.receive(limits.test_seconds * 3)
        if not isinstance(first, dict):
            return f"your code could not be loaded: {_lost(first, worker, limits)}"
        if first.get("type") == "import_error":
            return f"your code failed to load: {_error_text(first.get('error'))}"
        for name in names:
            message = worker.receive(limits.test_seconds)
            if isinstance(message, dict) and message.get("scenario") == name:
                observed[name] = message
                continue
            status = message if isinstance(message, str) else "garbled"
            observed[name] = {"status": status if status != "garbled" else "error",
                              "message": _lost(status, worker, limits)}
            return ""  # a fresh worker runs the rest
        return ""
    finally:
        worker.stop()


def _lost(status: str, worker: _Worker, limits: Limits) -> str:
    if status == "timeout":
        return f"it ran for more than {limits.test_seconds:g} s (an endless loop?) and was stopped"
    if status == "garbled":
        return "the worker sent something that is not a result"
    return worker.exit_reason()


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


def _all_failed(submission, autograder, status, problem, started) -> SubmissionResult:
    outcomes = [TestOutcome(t.name, t.concept, t.points, 0.0, status, problem) for t in autograder.tests]
    return SubmissionResult(submission.student, str(submission.source or ""), outcomes, problem,
                            time.monotonic() - started)
