"""The worker: the only process in which a student's code runs.

It loads the submission, runs the scenarios it is asked for, and sends back what it observed as
plain data (see `wire`). It decides nothing: the grader compares and scores.
"""
from __future__ import annotations

import importlib.util
import os
import resource
import signal
import traceback
from dataclasses import dataclass
from pathlib import Path

from tito.exporter import load_exported
from tito.grading.wire import encode

MESSAGE_LIMIT = 500


@dataclass(frozen=True)
class Limits:
    test_seconds: float = 10.0  # wall time of one test
    cpu_seconds: int = 60  # CPU time of one worker process
    memory_mb: int = 2048  # address space of one worker process
    output_kb: int = 1024  # what the student's code may print, in all


def run_worker(conn, source: str, scenarios_path: str, names: list[str], limits: Limits,
               scratch: str) -> None:
    """Entry point of the worker process (started by the grader)."""
    os.setsid()  # its own process group: the grader kills everything the submission started
    confine(limits, Path(scratch))
    scenarios = load_scenarios(Path(scenarios_path))
    try:
        student = load_exported(Path(source), "submission")
    except BaseException as error:  # whatever the student's code raises, report it
        conn.send_bytes(encode({"type": "import_error", "error": describe(error, source)}))
        os._exit(0)
    conn.send_bytes(encode({"type": "ready"}))
    for name in names:
        conn.send_bytes(run_scenario(scenarios, student, name, source))
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
    output = limits.output_kb * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails instead of killing
    os.chdir(scratch)
    log = os.open(scratch / "output.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)


def load_scenarios(path: Path):
    spec = importlib.util.spec_from_file_location("autograder_scenarios", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def describe(error: BaseException, source: str) -> dict:
    """An exception as plain data: its type, message and the line of the student's code."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(source)]
    if isinstance(error, SyntaxError) and error.filename and error.filename.startswith(source):
        where = f"{Path(source).name}:{error.lineno}"
    else:
        where = f"{Path(source).name}:{frames[-1].lineno}" if frames else ""
    try:
        message = str(error)[:MESSAGE_LIMIT]
    except BaseException:
        message = "(the exception's message could not be read)"
    return {"type": type(error).__name__, "message": message, "where": where}
