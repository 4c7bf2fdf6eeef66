"""How each job is kept apart from every other one: namespaces, a user and a tmpfs of its own.

The zygote forks each job with `fork_job`; before the student's code runs, the job calls
`enter`, in the best mode that the probe (`best_mode`, run as `python -m tito.grading.isolation`
where the zygote will run) found:

- "namespaces": new mount, PID and IPC namespaces, as a user of its own (`job_uid`) when the
  grader is root, or in a new user namespace when it is not. The job's PID 1 only waits for the
  worker (PID 2): the job sees no other process (not the zygote, not another job), cannot signal
  its PID 1, and everything it starts dies with it; /proc is its own. Every mount is read-only
  for it but its own tmpfs's: /tmp (holding $HOME and the working folder), /dev/shm, /var/tmp,
  capped in size and files, so a disk bomb meets ENOSPC there and harms no one.
- "uid": the kernel refuses namespaces (a container without CAP_SYS_ADMIN) but the grader is
  root: a user of its own per job, so it can signal, trace or limit no process of another job or
  of the zygote; its folder ($HOME, TMPDIR, working folder), made by the zygote, is private to
  that user and watched for size by the zygote; /tmp is the machine's.
- "shared": neither (not root, and no user namespaces): every job runs as the grader's user, and
  nothing keeps one job from another.

In every mode the job then has no capability, no_new_privs, is not dumpable, and has umask 077.
Linux only: this runs in the zygote, never on the student's own machine.
"""
from __future__ import annotations

import ctypes
import functools
import json
import os
import signal
import sys
from pathlib import Path

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x20000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC = 0x2, 0x4, 0x1000, 0x4000
MS_PRIVATE = 0x40000
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 0x1  # 442 on every architecture
PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE = 36, 38, 4
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522

MODES = ("namespaces", "uid", "shared")
JOB_ROOT = "/tmp"  # the job's tmpfs: TMPDIR, with HOME and the working folder inside
JOB_BYTES = 32 * 2 ** 20  # what one job may hold on disk (a correct one holds kilobytes)
JOB_FILES = 4096
SMALL_TMPFS = {"/dev/shm": 8 * 2 ** 20, "/var/tmp": 8 * 2 ** 20}  # private too, where they exist
FIRST_JOB_UID = 1_500_000_000  # far above any real user's uid
USERS_PER_ZYGOTE = 512  # job users a zygote holds, a block of its own: more than it runs at once
ZYGOTE_BLOCKS = 2 ** 22  # one block per pid the kernel can give (PID_MAX_LIMIT)
JOB_UIDS = USERS_PER_ZYGOTE * ZYGOTE_BLOCKS
KILLED = 128  # a job's PID 1 exits with KILLED + the signal that killed its worker
UNREADABLE = "the job's user cannot read"
INNER_UID = 1000  # the job's uid inside its user namespace, when the grader is not root

_libc = ctypes.CDLL(None, use_errno=True)


class IsolationError(OSError):
    """The kernel refused a step of a job's isolation."""


def job_uid(user: int) -> int:
    """The uid of job user number `user` (see `job_users`): none of a real person."""
    return FIRST_JOB_UID + user % JOB_UIDS


def job_users(zygote_pid: int) -> range:
    """The job users of the zygote the grader started as `zygote_pid`: a block no other zygote
    alive on this machine holds (its pid is its own while it lives), so grading processes side by
    side never share a job's user, its priority or its limit on processes. Block 0 (pid 0 is no
    process) is the probe's."""
    first = zygote_pid % ZYGOTE_BLOCKS * USERS_PER_ZYGOTE
    return range(first, first + USERS_PER_ZYGOTE)


def fork_job(mode: str) -> int:
    """Fork a job: its pid in the parent, 0 in the job, which is PID 1 of a new PID namespace in
    "namespaces" mode. Without root, two forks: the first makes a user namespace and the others,
    the second becomes PID 1 of the new PID namespace and is adopted by the caller (which must be
    PID 1 or a child subreaper) when the first exits."""
    if mode != "namespaces":
        return os.fork()
    if os.getuid() == 0:
        return _fork_into_namespaces()
    read, write = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.close(read)
        try:
            _unshare_job_namespaces()
            pid = os.fork()
        except BaseException as error:
            os.write(write, f"!{error}"[:500].encode())
            os._exit(71)
        if pid:
            os.write(write, str(pid).encode())
            os._exit(0)
        os.close(write)
        return 0
    os.close(write)
    try:
        answer = os.read(read, 512).decode()
    finally:
        os.close(read)
        os.waitpid(middle, 0)
    if not answer or answer.startswith("!"):
        raise IsolationError(f"the kernel refused a job's namespaces: {answer[1:] or 'no answer'}")
    return int(answer)


def _fork_into_namespaces() -> int:
    """As root, one fork: the child is PID 1 of a new PID namespace, then makes its own mount
    and IPC namespaces; the caller returns to its own PID namespace for its next children."""
    global _OWN_PID_NAMESPACE
    if _OWN_PID_NAMESPACE < 0:
        _OWN_PID_NAMESPACE = os.open("/proc/self/ns/pid", os.O_RDONLY)
    _check(_libc.unshare(CLONE_NEWPID), "unshare a PID namespace")
    pid = -1
    try:
        pid = os.fork()
    finally:
        if pid != 0:
            _check(_libc.setns(_OWN_PID_NAMESPACE, CLONE_NEWPID), "return to the zygote's PID namespace")
    if pid == 0:
        _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC), "unshare mount and IPC namespaces")
    return pid


_OWN_PID_NAMESPACE = -1


def adopt_orphans() -> None:
    """Outside a PID namespace of its own, become the child subreaper: a job's PID 1, whose
    parent exits at once in `fork_job`, becomes this process's child."""
    if os.getpid() != 1:
        _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "become a child subreaper")


def best_mode() -> tuple[str, str]:
    """The best mode this process can give its jobs, and why it cannot do better ("" if it can)."""
    adopt_orphans()
    refused = _probe("namespaces")
    if not refused:
        return "namespaces", ""
    if os.getuid() != 0:
        return "shared", f"{refused}; and the grader is not root, so it cannot give each job a user of its own"
    refused_uid = _probe("uid")
    if refused_uid.startswith(UNREADABLE):
        return "uid", f"{refused}; {refused_uid}"
    return ("uid", refused) if not refused_uid else ("shared", f"{refused}; {refused_uid}")


def _probe(mode: str) -> str:
    """"" if a job can be set up in `mode` here, else what the kernel said."""
    read, write = os.pipe()
    try:
        pid = fork_job(mode)
    except IsolationError as error:
        return str(error)
    if pid == 0:
        try:
            folder = JOB_ROOT if mode == "namespaces" else "/"
            enter(mode, 0, folder, make_folders=False)
            hidden = [path for path in python_paths() if not os.access(path, os.R_OK | os.X_OK)]
            if hidden:
                os.write(write, f"{UNREADABLE} {', '.join(hidden)}: only the modules the zygote imported "
                                f"beforehand can be imported".encode())
        except BaseException as error:
            os.write(write, str(error)[:500].encode())
        os._exit(0)
    os.close(write)
    answer = os.read(read, 512).decode()
    os.close(read)
    os.waitpid(pid, 0)
    return answer


def enter(mode: str, user: int, folder: str, make_folders: bool = True) -> None:
    """In the job, before any of the student's code: its files, its user, no privilege left.

    `user` is the job's user number (`job_users`); `folder` is the job's own (JOB_ROOT in "namespaces" mode, else one the zygote made): TMPDIR,
    with $HOME and the working folder inside."""
    if mode == "namespaces":
        _mount_private_files()
    if mode != "shared" and os.getuid() == 0:
        _become(job_uid(user))
    else:
        _drop_capabilities()
    _no_new_privileges()
    os.umask(0o077)
    if make_folders:
        for name in ("home", "work"):
            os.mkdir(os.path.join(folder, name), 0o700)
        os.chdir(os.path.join(folder, "work"))
    if mode == "namespaces":
        _become_init()


def _become_init() -> None:
    """Fork the worker; this process stays as the job's PID 1, reaping, until the worker ends,
    and ends as it did. The worker's parent is then PID 1, which its namespace's own processes
    cannot signal: a submission that kills its parent or PID 1 kills no one."""
    worker = os.fork()
    if worker == 0:
        return
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    while True:
        pid, status = os.wait()
        if pid == worker:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else KILLED - code)


def exit_code(mode: str, code: int) -> int:
    """How a job's worker ended, from its PID 1's exit code: negative, killed by that signal."""
    return KILLED - code if mode == "namespaces" and code > KILLED else code


def give_folder(folder: str, user: int) -> None:
    """In "uid" mode: the folder the zygote made for a job becomes that job's user's."""
    os.chown(folder, job_uid(user), job_uid(user))


def _unshare_job_namespaces() -> None:
    outer_uid, outer_gid = os.getuid(), os.getgid()
    user = 0 if outer_uid == 0 else CLONE_NEWUSER
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | user), "unshare")
    if user:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{INNER_UID} {outer_uid} 1")
        _write("/proc/self/gid_map", f"{INNER_UID} {outer_gid} 1")


def _mount_private_files() -> None:
    """The job's own view of the files: read-only everywhere but its own tmpfs's (mode 1777, like
    any /tmp: they are the job's alone, in its mount namespace) and a /proc of its PID namespace."""
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
    if os.getuid() == 0:
        _reveal(python_paths())
    _all_read_only()
    _tmpfs(JOB_ROOT, f"size={JOB_BYTES},nr_inodes={JOB_FILES},mode=1777", python_paths())
    for path, size in SMALL_TMPFS.items():
        if os.path.isdir(path):
            _tmpfs(path, f"size={size},nr_inodes=256,mode=1777", python_paths())
    _check(_libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV, None), "mount /proc")


def own_proc() -> None:
    """In a new mount namespace, a /proc of this process's PID namespace."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare a mount namespace")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
    _check(_libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV, None), "mount /proc")


@functools.cache
def python_paths() -> list[str]:
    """What a job must read: the Python installation, its packages, `tito` and `tinytorch`."""
    import tinytorch
    import tito

    paths = {sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable)),
             os.path.dirname(os.path.dirname(tito.__file__)), *tinytorch.__path__}
    return sorted(p for p in paths if not any(Path(p).is_relative_to(q) and p != q for q in paths))


def _reveal(paths: list[str]) -> None:
    """A folder on the way to `paths` that other users may not enter (root's own home, where a
    Python may be installed) becomes, for this job, a tmpfs that holds only those paths."""
    blocked = {}
    for path in paths:
        for folder in reversed(Path(path).parents):
            if folder != Path("/") and not os.stat(folder).st_mode & 0o001:
                blocked.setdefault(folder, []).append(path)
                break
    for folder, inside in blocked.items():
        _tmpfs(str(folder), "size=1m,nr_inodes=256,mode=0755", inside)


def _all_read_only() -> None:
    """Every mount the job sees becomes read-only for it (mount_setattr, Linux 5.12), before its
    own tmpfs's are mounted: it can write nowhere else, even where its user could (the
    sandbox's own folders, or the grader's files when it runs as the grader's user)."""
    attr = (ctypes.c_uint64 * 4)(MOUNT_ATTR_RDONLY, 0, 0, 0)
    result = _libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, b"/", AT_RECURSIVE, ctypes.byref(attr), ctypes.sizeof(attr))
    _check(result, "make every mount read-only")


def _tmpfs(folder: str, options: str, keep: list[str]) -> None:
    """A new tmpfs on `folder`, in which those of the paths `keep` that lay under it (the Python
    installation or the packages, when the grader's live in /tmp) are shown again, as they were."""
    inside = {path: os.open(path, os.O_PATH) for path in keep if Path(path).is_relative_to(folder)}
    _check(_libc.mount(b"tmpfs", folder.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options.encode()),
           f"mount a tmpfs on {folder}")
    for path, fd in inside.items():
        os.makedirs(path, 0o755, exist_ok=True)
        _check(_libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND | MS_REC, None),
               f"show {path} to the job")
        os.close(fd)


def _become(uid: int) -> None:
    """Root to `uid` for good: real, effective and saved ids, no groups; the kernel then clears
    every capability."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def _drop_capabilities() -> None:
    """Drop every capability: those a user namespace of its own gave the job, or those the
    zygote holds, in "shared" mode."""
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    _check(_libc.capset(ctypes.byref(Header(LINUX_CAPABILITY_VERSION_3, 0)), (Data * 2)()), "drop capabilities")


def _no_new_privileges() -> None:
    """No setuid program or file capability can give the job back a privilege; its memory and
    /proc files are not readable by other processes of its user."""
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs")
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise IsolationError(error, f"{what}: {os.strerror(error)}")


if __name__ == "__main__":  # the probe, run where the zygote will run: prints the mode and why
    print(json.dumps(best_mode()))
