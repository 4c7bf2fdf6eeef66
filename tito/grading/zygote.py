"""The zygote: a small process, inside the sandbox, that forks one worker per submission.

It starts once per grading run, imports numpy and the hidden scenarios (read from its standard
input, so the autograder's folder need not be visible in the sandbox), and then forks workers on
request, which costs about a millisecond instead of a fresh interpreter's tenth of a second.
It also reaps: every process a submission starts, even one that detached itself, ends up its
child (it is the sandbox's PID 1, or a child subreaper outside one) and is killed.

    python -m tito.grading.zygote CONTROL_FD  < scenarios.py
"""
from __future__ import annotations

import ctypes
import importlib
import json
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
import types

import numpy  # noqa: F401  (imported once here, shared by every forked worker)

from tito.grading import worker

# Imported before privileges are dropped, for student code that uses them: outside a sandbox the
# unprivileged user may not be able to read the Python installation afterwards.
PRELOAD = ("abc", "collections", "copy", "dataclasses", "functools", "itertools", "math", "numbers",
           "typing", "warnings", "zipfile", "numpy.linalg", "numpy.random", "numpy.lib.format")
PR_SET_CHILD_SUBREAPER = 36
ORPHAN_SCAN_SECONDS = 0.5
DISK_CHECK_SECONDS = 0.02  # a bomb writes 50 MB in that time, not more
JOB_SCRATCH_BYTES = 32 * 2 ** 20  # what one job may hold in its folder, files counted as pages
SCRATCH_BYTES = 1024 * 2 ** 20  # the sandbox's /scratch, with room for many bombs while they are killed
MAX_SCRATCH_FILES = 10_000
LOWEST_PRIORITY = 19  # nice value


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    scenarios = load_scenarios(sys.stdin.read())
    for name in PRELOAD:
        importlib.import_module(name)
    _become_subreaper()
    _drop_root()
    control.send(json.dumps({"op": "ready", "pid": os.getpid()}).encode())
    serve(control, scenarios)


def serve(control: socket.socket, scenarios) -> None:
    workers: dict[int, tuple[int, str]] = {}  # pid -> (job, scratch folder)
    reasons: dict[int, str] = {}  # pid -> why we killed that worker
    sandboxed = os.getpid() == 1
    last_scan = 0.0
    child_ended = _wake_on_sigchld()
    while True:
        ready = select.select([control, child_ended], [], [], DISK_CHECK_SECONDS)[0]
        if child_ended in ready:
            os.read(child_ended, 4096)
        if control in ready:
            try:
                data, fds, _, _ = socket.recv_fds(control, 4096, 2)
            except OSError:
                data = b""
            if not data:
                break
            request = json.loads(data)
            if request["op"] == "start":
                scratch = tempfile.mkdtemp(prefix=f"job{request['job']}-")
                pid = fork_worker(control, scenarios, fds, scratch)
                workers[pid] = (request["job"], scratch)
            elif request["op"] in ("kill", "demote"):
                for pid, (job, _) in workers.items():
                    if job == request["job"]:
                        (_kill_group if request["op"] == "kill" else _demote_group)(pid)
        ended = reap(control, workers, reasons)
        if ended or time.monotonic() - last_scan > ORPHAN_SCAN_SECONDS:
            kill_orphans(workers)
            last_scan = time.monotonic()
        police_disk(workers, reasons)
        if sandboxed:
            if ended:
                remove_strays(workers)
            police_scratch(workers)
    for pid in workers:
        _kill_group(pid)
    kill_orphans({})


def fork_worker(control, scenarios, fds: list[int], scratch: str) -> int:
    job_fd, results_fd = fds
    pid = os.fork()
    if pid == 0:
        try:
            control.close()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            worker.run_job(scenarios, job_fd, results_fd, scratch)
        finally:
            os._exit(70)
    os.close(job_fd)
    os.close(results_fd)
    return pid


def reap(control, workers, reasons) -> bool:
    """Collect finished children; tell the grader how each worker ended. True if any ended."""
    reaped = False
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped = True
        if pid in workers:
            job, scratch = workers.pop(pid)
            _kill_group(pid)
            shutil.rmtree(scratch, ignore_errors=True)
            control.send(json.dumps({"op": "exited", "job": job, "code": os.waitstatus_to_exitcode(status),
                                     "reason": reasons.pop(pid, "")}).encode())


def police_disk(workers, reasons) -> None:
    """Kill every job whose folder holds more than JOB_SCRATCH_BYTES (a correct one holds
    kilobytes), before it fills the disk under the others."""
    for pid, (_, scratch) in workers.items():
        if pid not in reasons and footprint(scratch) > JOB_SCRATCH_BYTES:
            reasons[pid] = "it filled the grader's disk"
            _kill_group(pid)


def police_scratch(workers) -> None:
    """In the sandbox, /scratch is one tmpfs for every job: when it holds half of SCRATCH_BYTES
    or too many files, remove what is outside the live jobs' folders."""
    disk = os.statvfs(tempfile.gettempdir())
    used = (disk.f_blocks - disk.f_bfree) * disk.f_frsize
    if used * 2 >= SCRATCH_BYTES or disk.f_files - disk.f_ffree >= MAX_SCRATCH_FILES:
        remove_strays(workers)


def footprint(folder: str) -> int:
    """Bytes under `folder`, counting each file as at least a page, as a tmpfs does."""
    total = 0
    for parent, _, files in os.walk(folder):
        for name in files:
            try:
                total += max(os.lstat(os.path.join(parent, name)).st_size, 4096)
            except OSError:
                pass
    return total


def remove_strays(workers) -> None:
    """In the sandbox: remove everything in /scratch outside the live jobs' folders."""
    live = {scratch for _, scratch in workers.values()}
    for entry in os.scandir(tempfile.gettempdir()):
        if entry.path not in live:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass


def kill_orphans(workers) -> None:
    """Kill every child of ours that is not a worker: processes a submission left behind."""
    me = str(os.getpid())
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in workers:
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = f.read().rsplit(")", 1)[1].split()[1]
        except OSError:
            continue
        if parent == me:
            _kill(int(entry))


def load_scenarios(source: str) -> types.ModuleType:
    module = types.ModuleType("scenarios")
    exec(compile(source, "scenarios.py", "exec"), module.__dict__)
    return module


def _wake_on_sigchld() -> int:
    """A file descriptor that becomes readable whenever a child ends."""
    read, write = os.pipe()
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    return read


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _demote_group(pid: int) -> None:
    """The lowest CPU priority for a worker and what it started: it can no longer slow the others.

    The worker itself first: a new one may not have made its process group yet, and what it
    starts later inherits its priority."""
    for which in (os.PRIO_PROCESS, os.PRIO_PGRP):
        try:
            os.setpriority(which, pid, LOWEST_PRIORITY)
        except (ProcessLookupError, PermissionError):
            pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _become_subreaper() -> None:
    if os.getpid() != 1:
        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _drop_root() -> None:
    """Started as root (bubblewrap run by root, or no sandbox): continue as `nobody`."""
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)


if __name__ == "__main__":
    main()
