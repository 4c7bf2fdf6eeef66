"""The worker: the only process in which a student's code runs.

Forked by the zygote for one submission, it reads its job (the student's code as cells, the
scenarios to run, the limits), runs the scenarios and sends back what it observed as plain data
(see `wire`). It decides nothing: the grader compares and scores.
"""
from __future__ import annotations

import io
import json
import os
import resource
import signal
import sys
import tempfile
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from tito.cells import Cell
from tito.exporter import run_cells
from tito.grading import isolation
from tito.grading.wire import encode, frame

MESSAGE_LIMIT = 500
OUTPUT_BUDGET = 64 * 1024  # bytes Python's printing sends on, more than the zygote keeps
THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# The worker's messages, in order: READY (or {"type": "import_error", "error": ERROR}), then one
# {"type": "result", "scenario": NAME, "observations": ...} or {..., "error": ERROR} per scenario,
# where ERROR is `describe`'s {"type", "message", "where"}. Nothing else: no status, no verdict.
READY = {"type": "ready"}


@dataclass(frozen=True)
class Limits:
    test_seconds: float = 5.0  # wall time of one test (a correct one takes milliseconds)
    cpu_seconds: int = 60  # CPU time of one worker process
    memory_mb: int = 512  # address space of one worker process (a correct one peaks near 150 MB)
    tasks: int = 32  # processes and threads the student's code may start (a fork bomb stops there)


@dataclass(frozen=True)
class Job:
    """What the grader asks of one worker; it travels as JSON."""
    cells: list[tuple[str, str, int, int]]  # (source, file, first line, index) of each graded cell
    scenarios: list[str]
    limits: Limits

    def to_json(self) -> bytes:
        return json.dumps({**asdict(self), "limits": asdict(self.limits)}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Job":
        raw = json.loads(data)
        return cls([tuple(c) for c in raw["cells"]], raw["scenarios"], Limits(**raw["limits"]))


def run_job(scenarios, job_fd: int, results_fd: int, output_fd: int, mode: str, job_number: int,
            folder: str) -> None:
    """The worker process, from fork to exit: isolated first, then the student's code."""
    os.setsid()  # its own process group: everything the submission starts can be killed at once
    isolation.enter(mode, job_number, folder)
    with os.fdopen(job_fd, "rb") as f:
        job = Job.from_json(f.read())
    results = os.fdopen(results_fd, "wb", buffering=0)
    confine(job.limits, folder, output_fd)
    cells = [Cell("code", text, {}, Path(name), line, index) for text, name, line, index in job.cells]
    source = cells[0].path.as_posix() if cells else "submission"
    try:
        student = run_cells(cells, "submission", source)
    except BaseException as error:  # whatever the student's code raises, report it
        results.write(frame(encode({"type": "import_error", "error": describe(error, source)})))
        _exit()
    results.write(frame(encode(READY)))
    for name in job.scenarios:
        results.write(frame(run_scenario(scenarios, student, name, source)))
    _exit()


def _exit() -> None:
    """End without running the student's exit handlers, once what it printed has been written."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # the student's code may have replaced or closed it
            pass
    os._exit(0)


def run_scenario(scenarios, student, name: str, source: str) -> bytes:
    try:
        observations = scenarios.SCENARIOS[name](scenarios.TinyBackend(student))
        return encode({"type": "result", "scenario": name, "observations": observations})
    except BaseException as error:
        return encode({"type": "result", "scenario": name, "error": describe(error, source)})


def confine(limits: Limits, folder: str, output_fd: int) -> None:
    """Resource limits, a cleared environment, and the student's output sent to the zygote."""
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    tasks = tasks_of(os.getuid()) + limits.tasks
    resource.setrlimit(resource.RLIMIT_NPROC, (tasks, tasks))
    resource.setrlimit(resource.RLIMIT_FSIZE, (isolation.JOB_BYTES, isolation.JOB_BYTES))  # files, not pipes
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails instead of killing
    os.environ.clear()
    os.environ.update(job_environment(folder))
    tempfile.tempdir = folder  # the student's temporary files go with the job
    sys.path[:] = [p for p in sys.path if p and os.path.isabs(p)]  # nothing relative to the working folder
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)
    _print_to_the_zygote()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)


class _CappedOutput(io.RawIOBase):
    """File descriptors 1 and 2, past which Python's own printing stops once the zygote has
    seen more than it keeps: printing any amount then costs no more than formatting it. (Writes
    to the descriptors themselves still reach the zygote, which discards them.)"""

    def __init__(self, budget: int):
        self.budget = budget

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        size = len(data)
        if self.budget > 0:
            kept = bytes(data[:self.budget])
            self.budget -= len(kept)
            try:
                while kept:
                    kept = kept[os.write(1, kept):]
            except OSError:
                self.budget = 0
        return size


class _CappedText(io.TextIOWrapper):
    """A text stream over a _CappedOutput that, once its budget is spent, drops text without
    encoding it: a flood of printing then costs no more than the calls, also on a loaded
    machine, where encoding hundreds of megabytes could take longer than loading is allowed."""

    def __init__(self, raw: _CappedOutput, buffer, **kwargs):
        super().__init__(buffer, "utf-8", "backslashreplace", **kwargs)
        self.capped = raw

    def write(self, text) -> int:
        if self.capped.budget <= 0 and isinstance(text, str):
            return len(text)
        return super().write(text)


def _print_to_the_zygote() -> None:
    """sys.stdout (line-buffered, as in a terminal) and sys.stderr share one _CappedOutput."""
    raw = _CappedOutput(OUTPUT_BUDGET)
    sys.stdout = sys.__stdout__ = _CappedText(raw, io.BufferedWriter(raw), line_buffering=True)
    sys.stderr = sys.__stderr__ = _CappedText(raw, raw, write_through=True)


def job_environment(folder: str) -> dict[str, str]:
    """All a job's processes see of an environment: none of the grader's variables."""
    return {"PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
            "HOME": os.path.join(folder, "home"), "TMPDIR": folder, "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1", **THREADS}


def tasks_of(uid: int) -> int:
    """Processes and threads of `uid` that this process can see: what RLIMIT_NPROC counts.

    A job with a user of its own, or in a user and PID namespace of its own, sees exactly what
    the kernel counts for it; otherwise what it cannot see only makes the limit stricter.
    """
    count = 0
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:  # not a process, or gone already
            continue
        if int(fields["Uid"].split()[0]) == uid:
            count += int(fields["Threads"])
    return count


def describe(error: BaseException, source: str) -> dict:
    """An exception as plain data: its type, message and the line of the student's code."""
    try:
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(source)]
        if isinstance(error, SyntaxError) and str(error.filename).startswith(source):
            where = f"{Path(source).name}:{error.lineno}"
        else:
            where = f"{Path(source).name}:{frames[-1].lineno}" if frames else ""
        message = str(error)[:MESSAGE_LIMIT]
    except BaseException:  # an exception can be built to fail even here
        where, message = "", "(the exception could not be described)"
    return {"type": type(error).__name__[:100], "message": message, "where": where}
