"""Where workers run: the zygote process, inside bubblewrap when the machine allows it, and
each job apart from the others as `isolation` allows (see `choose_isolation`).

With bubblewrap the zygote and its workers see a read-only Python installation, the `tito`
package and the `tinytorch` package, in new PID, network, IPC and UTS namespaces (and a user
namespace when the grader is not root): no network, no course repository, no `solutions/`, no
`autograder/`, no other submission, and no process outside the sandbox to signal. Without it
the zygote is an ordinary process. Either way every job gets what `isolation.best_mode` found.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tito.grading.isolation import JOB_BYTES
from tito.grading.wire import MAX_MESSAGE, WireError, decode
from tito.grading.worker import THREADS

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
# What the zygote keeps as root in bubblewrap, to set up each job: namespaces and mounts, the
# job's own user, and killing and demoting processes of other users; where namespaces fail in the
# sandbox, making, watching and removing each job's folder. The jobs keep none.
ZYGOTE_CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_SYS_NICE", "CAP_CHOWN",
                       "CAP_DAC_OVERRIDE", "CAP_FOWNER")
EXITED_MESSAGE = 1 << 17  # the zygote's report of one job, with what it printed


class SandboxError(RuntimeError):
    """The grader could not start its workers."""


@dataclass(frozen=True)
class Isolation:
    name: str  # the sandbox: "bubblewrap" or "none"
    summary: str  # exactly what it does, for the instructor
    prefix: tuple[str, ...] = ()
    jobs: str = "shared"  # how each job is kept apart: an `isolation.MODES`

    @property
    def isolated(self) -> bool:
        """The course files are out of the student code's sight."""
        return self.name != "none"


def bubblewrap_prefix() -> tuple[str, ...]:
    import tinytorch
    import tito

    binds = {Path(sys.base_prefix), Path(sys.prefix), Path(tito.__file__).parent,
             Path(next(iter(tinytorch.__path__)))}
    args = [shutil.which("bwrap"), *namespaces(), "--die-with-parent", "--as-pid-1", "--new-session",
            "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev", "--dir", "/tmp"]
    for link in ("bin", "lib", "lib64", "sbin"):
        if Path("/", link).is_symlink():
            args += ["--symlink", os.readlink(Path("/", link)), f"/{link}"]
    for folder in sorted({parent for path in binds for parent in path.parents} - {Path("/")}):
        args += ["--perms", "0755", "--dir", str(folder)]  # readable by every job's user
    for path in sorted(binds):
        args += ["--ro-bind", str(path), str(path)]
    return tuple(args + ["--chdir", "/", "--"])


def namespaces() -> list[str]:
    """Every namespace bubblewrap can make, but a user namespace when the grader is root.

    Run by root, bubblewrap's user namespace would map its users to the machine's uid 0, which
    the kernel exempts from the limit on processes; without one the zygote stays root with only
    the capabilities it needs to give each job namespaces and a user of its own.
    """
    if os.getuid() != 0:
        return ["--unshare-all"]
    keep = [arg for cap in ZYGOTE_CAPABILITIES for arg in ("--cap-add", cap)]
    return ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--cap-drop", "ALL", *keep]


def zygote_environment() -> dict[str, str]:
    """The zygote's whole environment: none of the grader's variables reach it or its jobs."""
    import tito

    return {"PATH": DEFAULT_PATH, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": str(Path(tito.__file__).parent.parent), **THREADS}


def probe(prefix: tuple[str, ...]) -> tuple[str, str]:
    """Run `isolation.best_mode` where the zygote will run: the jobs' mode, and why not better.
    Raises SandboxError when the probe itself cannot run there (a broken bubblewrap)."""
    result = subprocess.run([*prefix, sys.executable, "-P", "-m", "tito.grading.isolation"],
                            capture_output=True, text=True, env=zygote_environment(), timeout=60)
    try:
        mode, why = json.loads(result.stdout)
    except ValueError:
        raise SandboxError(result.stderr.strip()[-300:] or f"the probe exited with {result.returncode}") from None
    return mode, why


def choose_isolation(allow_none: bool = True, use_bubblewrap: bool = True) -> Isolation:
    """The strongest isolation this machine allows, and a summary that says exactly what it is.

    Bubblewrap if it works here (unless `use_bubblewrap` is False), around the zygote; for each
    job, whatever `isolation.best_mode` finds, in the sandbox or outside it: namespaces (root or
    not), else a user per job (root), else nothing. Without bubblewrap and with `allow_none`
    False, SandboxError.
    """
    reason = "bubblewrap not asked for"
    if use_bubblewrap and shutil.which("bwrap"):
        try:
            mode, why = probe(bubblewrap_prefix())
            return Isolation("bubblewrap", f"bubblewrap sandbox: no network, no course files, read-only Python; "
                             f"{jobs_summary(mode, why)}", bubblewrap_prefix(), mode)
        except SandboxError as error:
            reason = f"bubblewrap is installed but failed: {error}"
    elif use_bubblewrap:
        reason = "bubblewrap (bwrap) is not installed"
    if not allow_none:
        raise SandboxError(f"no sandbox available: {reason}")
    mode, why = probe(())
    network = "has no network" if mode == "namespaces" and os.getuid() == 0 else "can use the network"
    return Isolation("none", f"NO sandbox ({reason}): student code can read whatever its user may read on this "
                             f"machine and {network}; {jobs_summary(mode, why)}", (), mode)


def jobs_summary(mode: str, why: str) -> str:
    """What each job gets in `mode`, for the instructor."""
    size = f"{JOB_BYTES // 2 ** 20} MB"
    if mode == "namespaces":
        user = "as a user of its own" if os.getuid() == 0 else "in a user namespace of its own"
        return (f"each job in its own mount, PID and IPC namespaces {user}, without capabilities, with a "
                f"private {size} /tmp holding its $HOME and working folder (nothing else writable), and a "
                f"cleared environment")
    if mode == "uid":
        return (f"each job runs as a user of its own ({why}): it cannot signal, trace or limit another job "
                f"or the grader; its folder ($HOME, TMPDIR, working folder) is private, watched to {size}; "
                f"/tmp is the machine's; cleared environment")
    user = "as root without capabilities" if os.getuid() == 0 else "as the grader's own user"
    return (f"every job runs {user} ({why}): a job can signal, read and write the other jobs; "
            f"cleared environment")


class Zygote:
    """Our end of the zygote: start jobs, kill them, learn how they ended. Thread-safe."""

    def __init__(self, scenarios: Path, isolation: Isolation):
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        command = [*isolation.prefix, sys.executable, "-P", "-m", "tito.grading.zygote",
                   str(theirs.fileno()), isolation.jobs]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                                        pass_fds=[theirs.fileno()], env=zygote_environment(), cwd="/")
        theirs.close()
        self.process.stdin.write(scenarios.read_bytes())
        self.process.stdin.close()
        self._lock = threading.Lock()
        self._exits: dict[int, int] = {}  # job -> exit code (negative: killed by that signal)
        self._reasons: dict[int, str] = {}  # job -> why the zygote killed it, if it did
        self._printed: dict[int, tuple[str, bool]] = {}  # job -> its first output, and if the rest was cut
        self._gone = False  # the zygote itself has ended, and with it every job
        self._changed = threading.Condition()
        self._next_job = 0
        self._await_ready()
        threading.Thread(target=self._listen, daemon=True).start()

    def _await_ready(self) -> None:
        if not select.select([self.control], [], [], 60)[0]:
            raise SandboxError("the zygote did not start within 60 s")
        data = self.control.recv(4096)
        if not data:
            self.process.wait(5)
            raise SandboxError(f"the zygote failed to start: {self.process.stderr.read().decode()[-2000:]}")

    def _listen(self) -> None:
        while True:
            try:
                data = self.control.recv(EXITED_MESSAGE)
            except OSError:
                data = b""
            with self._changed:
                if not data:
                    self._gone = True
                    self._changed.notify_all()
                    return
                message = json.loads(data)
                self._exits[message["job"]] = message["code"]
                self._reasons[message["job"]] = message.get("reason", "")
                self._printed[message["job"]] = (message.get("output", ""), message.get("cut", False))
                self._changed.notify_all()

    def start(self, job_json: bytes) -> "RunningJob":
        job_r, job_w = os.pipe()
        results_r, results_w = os.pipe()
        try:
            with self._lock:
                self._next_job += 1
                job = self._next_job
                socket.send_fds(self.control, [json.dumps({"op": "start", "job": job}).encode()],
                                [job_r, results_w])
        except OSError:
            for fd in (job_r, job_w, results_r, results_w):
                os.close(fd)
            with self._changed:
                self._gone = True
            raise SandboxError("the zygote has ended") from None
        os.close(job_r)
        os.close(results_w)
        threading.Thread(target=_write_and_close, args=(job_w, job_json), daemon=True).start()
        return RunningJob(self, job, results_r)

    def kill(self, job: int) -> None:
        self._ask("kill", job)

    def demote(self, job: int) -> None:
        """Give a job, and every process it started, the lowest CPU priority."""
        self._ask("demote", job)

    def _ask(self, op: str, job: int) -> None:
        with self._lock:
            try:
                self.control.send(json.dumps({"op": op, "job": job}).encode())
            except OSError:
                pass

    @property
    def gone(self) -> bool:
        with self._changed:
            return self._gone

    def exit_code(self, job: int, wait: float = 0.0) -> int | None:
        with self._changed:
            self._changed.wait_for(lambda: job in self._exits or self._gone, timeout=wait)
            return self._exits.get(job, -9 if self._gone else None)

    def kill_reason(self, job: int) -> str:
        with self._changed:
            return self._reasons.get(job, "")

    def printed(self, job: int) -> tuple[str, bool]:
        with self._changed:
            return self._printed.get(job, ("", False))

    def close(self) -> None:
        try:
            self.control.shutdown(socket.SHUT_RDWR)  # wakes our listener and tells the zygote to end
        except OSError:
            pass
        self.control.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class RunningJob:
    """One worker's stream of results."""

    def __init__(self, zygote: Zygote, job: int, results_fd: int):
        self.zygote, self.job, self.fd = zygote, job, results_fd
        self._buffer = b""

    def receive(self, seconds: float) -> dict | str:
        """The next message, or why there is none: "timeout", "crashed" or "garbled"."""
        deadline = time.monotonic() + seconds
        while True:
            if len(self._buffer) >= 8:
                size = int.from_bytes(self._buffer[:8], "little")
                if size > MAX_MESSAGE:
                    return "garbled"
                if len(self._buffer) >= 8 + size:
                    blob, self._buffer = self._buffer[8:8 + size], self._buffer[8 + size:]
                    try:
                        return decode(blob)
                    except WireError:
                        return "garbled"
            remaining = deadline - time.monotonic()
            if select.select([self.fd], [], [], min(max(remaining, 0.0), 0.1))[0]:
                chunk = os.read(self.fd, 1 << 20)
                if not chunk:
                    return "crashed"
                self._buffer += chunk
            elif self.zygote.exit_code(self.job) is not None and not select.select([self.fd], [], [], 0)[0]:
                return "crashed"
            elif remaining <= 0:
                return "timeout"

    def exit_reason(self) -> str:
        code = self.zygote.exit_code(self.job, wait=2.0)
        if code is None:
            return "the worker stopped answering"
        reason = self.zygote.kill_reason(self.job)
        if reason:
            return f"the process was killed: {reason}"
        if code < 0:
            name = signal.Signals(-code).name
            hint = {"SIGKILL": " (the memory or CPU limit, or a kill)", "SIGXCPU": " (the CPU-time limit)"}
            return f"the process was killed by {name}{hint.get(name, '')}"
        return f"the process exited with code {code} (sys.exit or os._exit in your code?)"

    def output(self) -> tuple[str, bool]:
        """The first zygote.OUTPUT_KEPT bytes the job printed (stdout and stderr, as the zygote
        read them), and whether the rest was cut. Complete once the job has ended."""
        self.zygote.exit_code(self.job, wait=2.0)
        return self.zygote.printed(self.job)

    def demote(self) -> None:
        self.zygote.demote(self.job)

    def kill(self) -> None:
        if self.zygote.exit_code(self.job) is None:
            self.zygote.kill(self.job)

    def stop(self) -> None:
        """Kill the job unless it has ended, wait for its end, and close its stream."""
        self.kill()
        self.zygote.exit_code(self.job, wait=5.0)
        os.close(self.fd)


def _write_and_close(fd: int, data: bytes) -> None:
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError:
        pass  # the worker died before reading its job; the grader learns it from the exit

