"""The worker: the only process in which a student's code runs.

Forked by the zygote for one submission, it reads its job (the student's code as cells, the
scenarios to run, the limits), runs the scenarios and sends back what it observed as plain data
(see `wire`). It decides nothing: the grader compares and scores.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import tempfile
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from tito.cells import Cell
from tito.exporter import run_cells
from tito.grading.wire import encode, frame

MESSAGE_LIMIT = 500
PR_SET_DUMPABLE = 4

# The worker's messages, in order: READY (or {"type": "import_error", "error": ERROR}), then one
# {"type": "result", "scenario": NAME, "observations": ...} or {..., "error": ERROR} per scenario,
# where ERROR is `describe`'s {"type", "message", "where"}. Nothing else: no status, no verdict.
READY = {"type": "ready"}


@dataclass(frozen=True)
class Limits:
    test_seconds: float = 5.0  # wall time of one test (a correct one takes milliseconds)
    cpu_seconds: int = 60  # CPU time of one worker process
    memory_mb: int = 512  # address space of one worker process (a correct one peaks near 150 MB)
    output_kb: int = 1024  # what the student's code may print, in all
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


def run_job(scenarios, job_fd: int, results_fd: int, scratch: str) -> None:
    """The worker process, from fork to exit."""
    os.setsid()  # its own process group: everything the submission starts can be killed at once
    _undumpable()
    with os.fdopen(job_fd, "rb") as f:
        job = Job.from_json(f.read())
    results = os.fdopen(results_fd, "wb", buffering=0)
    confine(job.limits, Path(scratch))
    cells = [Cell("code", text, {}, Path(name), line, index) for text, name, line, index in job.cells]
    source = cells[0].path.as_posix() if cells else "submission"
    try:
        student = run_cells(cells, "submission", source)
    except BaseException as error:  # whatever the student's code raises, report it
        results.write(frame(encode({"type": "import_error", "error": describe(error, source)})))
        os._exit(0)
    results.write(frame(encode(READY)))
    for name in job.scenarios:
        results.write(frame(run_scenario(scenarios, student, name, source)))
    os._exit(0)


def run_scenario(scenarios, student, name: str, source: str) -> bytes:
    try:
        observations = scenarios.SCENARIOS[name](scenarios.TinyBackend(student))
        return encode({"type": "result", "scenario": name, "observations": observations})
    except BaseException as error:
        return encode({"type": "result", "scenario": name, "error": describe(error, source)})


def confine(limits: Limits, scratch: Path) -> None:
    """Resource limits, a scratch working folder, and the student's output sent to a capped file."""
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    tasks = tasks_of(os.getuid()) + limits.tasks
    resource.setrlimit(resource.RLIMIT_NPROC, (tasks, tasks))
    output = limits.output_kb * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails instead of killing
    os.chdir(scratch)
    os.environ["TMPDIR"] = tempfile.tempdir = str(scratch)  # the student's temporary files go with the job
    log = os.open(scratch / "output.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)


def tasks_of(uid: int) -> int:
    """Processes and threads of `uid` that this process can see: what RLIMIT_NPROC counts.

    In the sandbox only the sandbox's are seen: exactly what the kernel counts in a user
    namespace; without one, the uid's other processes on the machine are missed, and the limit
    only gets stricter.
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


def _undumpable() -> None:
    """Other processes of the same user may not read this one's memory or files in /proc."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass
