"""The zygote: a small process that forks one worker per job, each apart from all the others.

It starts once per grading run, imports numpy and the hidden scenarios (read from its standard
input, so the autograder's folder need not be visible in the sandbox), and then forks workers on
request, which costs a few milliseconds instead of a fresh interpreter's tenth of a second. Each
worker is set up as `isolation` says (its own namespaces, user and tmpfs where the machine allows
them). The zygote keeps the first OUTPUT_KEPT bytes of what each job printed and tells the grader,
when a job ends, how it ended and what it printed. No job can reach it: its control socket and
every other job's pipes are closed in the job before the student's code runs.

    python -P -m tito.grading.zygote CONTROL_FD MODE  < scenarios.py
"""
from __future__ import annotations

import ctypes
import fcntl
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
from dataclasses import dataclass, field

import numpy  # noqa: F401  (imported once here, shared by every forked worker)

from tito.grading import isolation, worker

# Imported before the jobs change user, for student code that uses them: outside a sandbox a
# job's user may not be able to read the Python installation.
PRELOAD = ("abc", "bisect", "collections", "contextlib", "copy", "dataclasses", "enum", "functools", "heapq",
           "inspect", "itertools", "json", "math", "numbers", "operator", "pathlib", "random", "re", "statistics",
           "string", "subprocess", "tempfile", "textwrap", "typing", "warnings", "zipfile", "numpy.linalg",
           "numpy.random", "numpy.lib.format")
PR_SET_PDEATHSIG = 1
ORPHAN_SCAN_SECONDS = 0.5
DISK_CHECK_SECONDS = 0.02  # a bomb writes 50 MB in that time, not more
OUTPUT_KEPT = 4096  # bytes of what a job printed that reach the grader
OUTPUT_PIPE = 2 ** 20  # the size of a job's output pipe
SPLICES = 8  # pipefuls discarded at one wake-up, at most
LOWEST_PRIORITY = 19  # nice value


@dataclass
class _Job:
    job: int
    user: int  # its user number, see isolation.job_users
    output: int  # read end of the job's stdout and stderr
    folder: str = ""  # made by the zygote, outside namespaces only
    printed: bytearray = field(default_factory=bytearray)
    cut: bool = False


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    mode = sys.argv[2]
    scenarios = load_scenarios(sys.stdin.read())
    for name in PRELOAD:
        importlib.import_module(name)
    isolation.python_paths()  # found once, here, for every job
    if mode == "namespaces" and os.getuid() == 0 and os.getpid() != 1:
        _own_namespaces(control)
    isolation.adopt_orphans()
    control.send(json.dumps({"op": "ready", "pid": os.getpid()}).encode())
    Zygote(control, scenarios, mode).serve()


class Zygote:
    def __init__(self, control: socket.socket, scenarios, mode: str):
        self.control, self.scenarios, self.mode = control, scenarios, mode
        self.workers: dict[int, _Job] = {}  # pid -> its job
        self.reasons: dict[int, str] = {}  # pid -> why we killed that worker
        self.by_output: dict[int, _Job] = {}  # output fd -> its job
        self.demoted: set[int] = set()  # pids of the jobs at the lowest priority
        self.poller = select.poll()
        self.devnull = os.open(os.devnull, os.O_WRONLY)

    def serve(self) -> None:
        child_ended = _wake_on_sigchld()
        self.poller.register(self.control, select.POLLIN)
        self.poller.register(child_ended, select.POLLIN)
        last_scan = 0.0
        while True:
            for fd, _ in self.poller.poll(DISK_CHECK_SECONDS * 1000):
                if fd == child_ended:
                    os.read(child_ended, 4096)
                elif fd == self.control.fileno():
                    if not self.answer():
                        return self.end()
                elif fd in self.by_output:
                    self.take_output(self.by_output[fd])
            ended = self.reap()
            for pid in self.demoted & self.workers.keys():
                self.lower(pid)
            if self.mode != "namespaces":
                if ended or time.monotonic() - last_scan > ORPHAN_SCAN_SECONDS:
                    kill_orphans(self.workers)
                    last_scan = time.monotonic()
                self.police_disk()

    def answer(self) -> bool:
        """Serve one request of the grader; False when the grader has gone."""
        try:
            data, fds, _, _ = socket.recv_fds(self.control, 4096, 2)
        except OSError:
            data = b""
        if not data:
            return False
        request = json.loads(data)
        if request["op"] == "start":
            self.start(request["job"], request["user"], fds)
        elif request["op"] in ("kill", "demote"):
            for pid, job in list(self.workers.items()):
                if job.job == request["job"]:
                    (self.kill if request["op"] == "kill" else self.demote)(pid)
        return True

    def start(self, job: int, user: int, fds: list[int]) -> None:
        job_fd, results_fd = fds
        output_r, output_w = os.pipe()
        try:
            fcntl.fcntl(output_w, fcntl.F_SETPIPE_SZ, OUTPUT_PIPE)  # fewer wake-ups for a flood
        except OSError:
            pass
        folder = ""
        try:
            if self.mode != "namespaces":
                folder = tempfile.mkdtemp(prefix=f"tito-job{job}-")
                if self.mode == "uid":
                    isolation.give_folder(folder, user)
            pid = isolation.fork_job(self.mode)
        except OSError as error:  # the job gets a reason; the zygote goes on with the others
            pid, refused = -1, f"the grader could not isolate it ({error})"
        if pid == 0:
            try:
                _keep_only(job_fd, results_fd, output_w)
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                worker.run_job(self.scenarios, job_fd, results_fd, output_w, self.mode, user,
                               folder or isolation.JOB_ROOT)
            finally:
                os._exit(70)
        for fd in (job_fd, results_fd, output_w):
            os.close(fd)
        os.set_blocking(output_r, False)
        record = _Job(job, user, output_r, folder)
        self.by_output[output_r] = record
        self.poller.register(output_r, select.POLLIN)
        if pid < 0:
            self.finish(record, 1, refused)
        else:
            self.workers[pid] = record

    def take_output(self, job: _Job) -> bool:
        """Read what a job printed: the first OUTPUT_KEPT bytes are kept, the rest discarded
        (spliced to /dev/null, never copied). False when there is nothing more to read now; at
        the end of the pipe, or on an error, the pipe is closed."""
        try:
            if len(job.printed) < OUTPUT_KEPT:
                chunk = os.read(job.output, OUTPUT_KEPT - len(job.printed))
                job.printed += chunk
                size = len(chunk)
            else:
                size = self.discard(job)
        except BlockingIOError:
            return False
        except OSError:
            size = 0
        if not size:
            self.close_output(job)
        return size > 0

    def discard(self, job: _Job) -> int:
        """Up to SPLICES pipefuls of a job's output past the first OUTPUT_KEPT bytes, dropped."""
        size = os.splice(job.output, self.devnull, OUTPUT_PIPE)
        job.cut = job.cut or size > 0
        for _ in range(SPLICES - 1):
            try:
                more = os.splice(job.output, self.devnull, OUTPUT_PIPE)
            except BlockingIOError:
                break
            if not more:
                break
            size += more
        return size

    def close_output(self, job: _Job) -> None:
        if job.output >= 0:
            self.poller.unregister(job.output)
            del self.by_output[job.output]
            os.close(job.output)
            job.output = -1

    def reap(self) -> bool:
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
            if pid in self.workers:
                self.kill(pid)
                code = isolation.exit_code(self.mode, os.waitstatus_to_exitcode(status))
                self.demoted.discard(pid)
                self.finish(self.workers.pop(pid), code, self.reasons.pop(pid, ""))

    def finish(self, job: _Job, code: int, reason: str) -> None:
        for _ in range(64):  # what is left: a pipe's worth, unless a process outside namespaces still writes
            if job.output < 0 or not self.take_output(job):
                break
        self.close_output(job)
        if job.folder:
            shutil.rmtree(job.folder, ignore_errors=True)
        self.control.send(json.dumps({"op": "exited", "job": job.job, "code": code, "reason": reason,
                                      "output": job.printed.decode(errors="replace"), "cut": job.cut}).encode())

    def kill(self, pid: int) -> None:
        """Kill a job and everything it started. In its own PID namespace it is PID 1, whose end
        ends every other process there; otherwise its process group, and, when it has a user of
        its own, every process of that user."""
        for kill in (os.kill, os.killpg):
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.mode == "uid" and pid in self.workers:
            _kill_user(isolation.job_uid(self.workers[pid].user))

    def demote(self, pid: int) -> None:
        """The lowest CPU priority for a job and what it started: it can no longer slow the others.

        The worker itself first: a new one may not have made its process group yet, and what it
        starts later inherits its priority. A job with a user of its own: every process of it.
        Asked again at every turn of the zygote's loop, for a process the job started between
        fork and taking its user."""
        self.demoted.add(pid)
        self.lower(pid)

    def lower(self, pid: int) -> None:
        targets = [(os.PRIO_PROCESS, pid), (os.PRIO_PGRP, pid)]
        if os.getuid() == 0:
            targets.append((os.PRIO_USER, isolation.job_uid(self.workers[pid].user)))
        for which, who in targets:
            try:
                os.setpriority(which, who, LOWEST_PRIORITY)
            except (ProcessLookupError, PermissionError):
                pass
        own = _autogroup(os.getpid())
        for process in _descendants(pid):  # each session's group: nice counts between groups only
            group = _autogroup(process)
            if group[0] != own[0] and group[1] != str(LOWEST_PRIORITY):
                try:
                    with open(f"/proc/{process}/autogroup", "w") as f:
                        f.write(str(LOWEST_PRIORITY))
                except OSError:
                    pass

    def police_disk(self) -> None:
        """Outside namespaces a job's folder is not a capped tmpfs: kill every job whose folder
        holds more than isolation.JOB_BYTES, before it fills the disk under the others."""
        for pid, job in self.workers.items():
            if pid not in self.reasons and footprint(job.folder) > isolation.JOB_BYTES:
                self.reasons[pid] = "it filled the grader's disk"
                self.kill(pid)

    def end(self) -> None:
        """Kill every job. In namespaces that ends everything they started; otherwise what they
        left behind is found among this process's children (its /proc is then its own PID
        namespace's, or the machine's)."""
        for pid in list(self.workers):
            self.kill(pid)
        if self.mode != "namespaces":
            kill_orphans({})


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
            try:
                os.kill(int(entry), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def load_scenarios(source: str) -> types.ModuleType:
    module = types.ModuleType("scenarios")
    exec(compile(source, "scenarios.py", "exec"), module.__dict__)
    return module


def _own_namespaces(control: socket.socket) -> None:
    """Root without bubblewrap: continue as PID 1 of a new PID namespace without network (and a
    mount namespace, for its /proc), so that every job ends with this process and none can reach
    the network. The first process stays
    only to wait for it (and kills it if the grader goes)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if libc.unshare(isolation.CLONE_NEWPID | isolation.CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "the zygote could not make its namespaces")
    pid = os.fork()
    if pid:
        control.close()
        os._exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) & 0xFF)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    isolation.own_proc()  # /proc of this PID namespace, where the jobs' pids are found


def _keep_only(*fds: int) -> None:
    """In a new job: close every file descriptor but `fds` (and 0, 1, 2, replaced later): the
    control socket, the other jobs' pipes, the zygote's wake-up pipe."""
    start = 3
    for fd in sorted(fds):
        os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, os.sysconf("SC_OPEN_MAX"))


def _descendants(pid: int) -> list[int]:
    """`pid` and every process it started that is still its descendant (a job's are few: they
    count against its limit on processes)."""
    found, index = [pid], 0
    while index < len(found):
        try:
            with open(f"/proc/{found[index]}/task/{found[index]}/children") as f:
                found += [int(child) for child in f.read().split()]
        except OSError:
            pass
        index += 1
    return found


def _autogroup(pid: int) -> tuple[str, str]:
    """The kernel's scheduling group of a process and its nice value, ("/autogroup-N", "0");
    ("", "") where there is none (a kernel without autogroup, or a process gone)."""
    try:
        with open(f"/proc/{pid}/autogroup") as f:
            name, _, nice = f.read().split()
        return name, nice
    except (OSError, ValueError):
        return "", ""


def _kill_user(uid: int) -> None:
    """Kill every process of `uid`, atomically: kill(-1) from a process of that user."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _wake_on_sigchld() -> int:
    """A file descriptor that becomes readable whenever a child ends."""
    read, write = os.pipe()
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    return read


if __name__ == "__main__":
    main()
