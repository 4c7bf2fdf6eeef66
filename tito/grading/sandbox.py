"""Where workers run: the zygote process, inside bubblewrap when the machine allows it.

With bubblewrap the zygote and its workers see a read-only Python installation, the `tito`
package, the `tinytorch` package and a private /tmp, in new user, PID, network, IPC and UTS
namespaces, as user `nobody`: no network, no course repository, no `solutions/`, no
`autograder/`, no other submission, and no process outside the sandbox to signal.
Without it they are ordinary processes (as `nobody` if the grader runs as root).
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

from tito.grading.wire import MAX_MESSAGE, WireError, decode
from tito.grading.zygote import SCRATCH_BYTES

SCRATCH = "/scratch"


class SandboxError(RuntimeError):
    """The grader could not start its workers."""


@dataclass(frozen=True)
class Isolation:
    name: str  # "bubblewrap" or "none"
    summary: str
    prefix: tuple[str, ...] = ()

    @property
    def isolated(self) -> bool:
        return self.name != "none"


def bubblewrap_prefix() -> tuple[str, ...]:
    import tinytorch
    import tito

    binds = {Path(sys.base_prefix), Path(sys.prefix), Path(tito.__file__).parent,
             Path(next(iter(tinytorch.__path__)))}
    args = ["bwrap", *namespaces(), "--die-with-parent", "--as-pid-1", "--new-session",
            "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", *scratch_size(), "--tmpfs", SCRATCH]
    for link in ("bin", "lib", "lib64", "sbin"):
        if Path("/", link).is_symlink():
            args += ["--symlink", os.readlink(Path("/", link)), f"/{link}"]
    for folder in sorted({parent for path in binds for parent in path.parents} - {Path("/")}):
        args += ["--perms", "0755", "--dir", str(folder)]  # readable by nobody, whatever the host's
    for path in sorted(binds):
        args += ["--ro-bind", str(path), str(path)]
    args += ["--chdir", SCRATCH, "--clearenv", "--setenv", "TMPDIR", SCRATCH, "--setenv", "HOME", SCRATCH,
             "--setenv", "PYTHONPATH", str(Path(tito.__file__).parent.parent),
             "--setenv", "OPENBLAS_NUM_THREADS", "1", "--setenv", "OMP_NUM_THREADS", "1", "--"]
    return tuple(args)


def namespaces() -> list[str]:
    """Every namespace bubblewrap can make, but a user namespace when the grader is root.

    Run by root, bubblewrap's user namespace maps its `nobody` to the machine's uid 0, which the
    kernel exempts from the limit on processes (a fork bomb would not stop). Without one, the
    zygote starts as root and drops to the machine's real `nobody` itself (zygote._drop_root).
    """
    if os.getuid() != 0:
        return ["--unshare-all"]
    return ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]


def scratch_size() -> list[str]:
    """The size of the sandbox's /scratch, a tmpfs, where bubblewrap can set it (0.7 and later).

    Otherwise it is half the machine's memory, and only the zygote's watch bounds it."""
    usage = subprocess.run(["bwrap", "--help"], capture_output=True, text=True).stdout
    return ["--size", str(SCRATCH_BYTES)] if "--size" in usage else []


def choose_isolation(allow_none: bool = True) -> Isolation:
    """Bubblewrap if it works here; otherwise no isolation (or an error if that is not allowed)."""
    if shutil.which("bwrap"):
        prefix = bubblewrap_prefix()
        probe = subprocess.run([*prefix, sys.executable, "-c", "import numpy"], capture_output=True)
        if probe.returncode == 0:
            return Isolation("bubblewrap", "bubblewrap sandbox: no network, no course files, read-only "
                             "Python, private /tmp, own PID namespace, user nobody", prefix)
        reason = f"bubblewrap is installed but failed: {probe.stderr.decode(errors='replace').strip()[:200]}"
    else:
        reason = "bubblewrap (bwrap) is not installed"
    if not allow_none:
        raise SandboxError(f"no isolation available: {reason}")
    user = "user nobody" if os.getuid() == 0 else "the grader's own user"
    return Isolation("none", f"NO isolation ({reason}): student code runs as {user} and can read "
                             "whatever that user can read")


class Zygote:
    """Our end of the zygote: start jobs, kill them, learn how they ended. Thread-safe."""

    def __init__(self, scenarios: Path, isolation: Isolation):
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        command = [*isolation.prefix, sys.executable, "-m", "tito.grading.zygote", str(theirs.fileno())]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                                        pass_fds=[theirs.fileno()], env=env)
        theirs.close()
        self.process.stdin.write(scenarios.read_bytes())
        self.process.stdin.close()
        self._lock = threading.Lock()
        self._exits: dict[int, int] = {}  # job -> exit code (negative: killed by that signal)
        self._reasons: dict[int, str] = {}  # job -> why the zygote killed it, if it did
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
                data = self.control.recv(4096)
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

    def demote(self) -> None:
        self.zygote.demote(self.job)

    def stop(self) -> None:
        if self.zygote.exit_code(self.job) is None:
            self.zygote.kill(self.job)
            self.zygote.exit_code(self.job, wait=5.0)
        os.close(self.fd)


def _write_and_close(fd: int, data: bytes) -> None:
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError:
        pass  # the worker died before reading its job; the grader learns it from the exit

