"""Find the submissions in a folder, as the spec defines them, and read their sources safely.

A submission is a file `<student>.py` / `<student>.ipynb`, or a folder `<student>/` holding the
module's source somewhere below it (nbgrader's `submitted/<student>/<assignment>/` included).
Only the submission's own files are read: a symbolic link is never followed (it could lead to
the solution, readable by the grader but not by the student), nor is anything but a regular
file read, and a source over MAX_SOURCE_BYTES is refused before it is read.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from tito.course import CourseError, Module

SOURCE_SUFFIXES = (".py", ".ipynb")
MAX_SOURCE_BYTES = 20 * 2 ** 20  # a notebook with its outputs; the course's own is about 100 kB


@dataclass(frozen=True)
class Submission:
    student: str
    source: Path | None  # None when the folder holds no source; `problem` says why
    problem: str = ""
    entry: str = ""  # its name in the folder of submissions, which tells two of one student apart
    root: Path | None = None  # the submission's own file or folder, which its source may not leave


def find_submissions(folder: Path, module: Module) -> list[Submission]:
    if not folder.is_dir():
        raise CourseError(f"{folder} is not a folder of submissions.")
    found = [submission_at(entry, module) for entry in sorted(folder.iterdir()) if _visible(entry)]
    submissions = [s for s in found if s is not None]
    if not submissions:
        raise CourseError(f"{folder} holds no submissions (<student>.py, <student>.ipynb or <student>/).")
    return submissions


def submission_at(entry: Path, module: Module) -> Submission | None:
    """The submission at `entry`, or None when `entry` is not one (a file of another kind)."""
    mode = entry.lstat().st_mode
    if stat.S_ISDIR(mode):
        return _in_folder(entry, module)
    if entry.suffix not in SOURCE_SUFFIXES and not (stat.S_ISLNK(mode) and entry.is_dir()):
        return None
    student = entry.stem if entry.suffix in SOURCE_SUFFIXES else entry.name
    if not stat.S_ISREG(mode):
        what = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        return Submission(student, None, f"{entry.name} is {what}: only a submission's own files are graded",
                          entry.name, entry)
    return Submission(student, entry, "", entry.name, entry)


def _in_folder(entry: Path, module: Module) -> Submission:
    def refused(problem: str) -> Submission:
        return Submission(entry.name, None, problem, entry.name, entry)

    sources, links = [], []
    for parent, folders, files in os.walk(entry):  # does not follow links to folders
        folders[:] = sorted(f for f in folders if _visible(f))
        for name in sorted(files):
            path = Path(parent, name)
            if path.suffix in SOURCE_SUFFIXES and _visible(name):
                (links if path.is_symlink() else sources).append(path)
        links += [Path(parent, f) for f in folders if Path(parent, f).is_symlink()]
    named = [p for p in sources if p.stem == Path(module.file).stem] or sources
    if not named:
        if links:
            return refused(f"{links[0].relative_to(entry.parent)} is a symbolic link: only a "
                           "submission's own files are graded")
        return refused(f"no .py or .ipynb file in {entry.name}/")
    if len({p.stem for p in named}) > 1:
        names = ", ".join(str(p.relative_to(entry)) for p in named)
        return refused(f"several candidate sources ({names}); expected {module.file}")
    return Submission(entry.name, max(named, key=lambda p: p.lstat().st_mtime), "", entry.name, entry)


def read_source(submission: Submission) -> str:
    """The text of the submission's source, read without following a link out of its own files."""
    path = submission.source
    for step in _steps(path, submission.root):
        if step.is_symlink():
            raise CourseError(f"{step.name} is a symbolic link: only a submission's own files are graded.")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        raise CourseError(f"{path.name} cannot be read: {error.strerror}.") from None
    with os.fdopen(fd, "rb") as f:
        status = os.fstat(f.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise CourseError(f"{path.name} is not a regular file.")
        if status.st_size > MAX_SOURCE_BYTES:
            raise CourseError(f"{path.name} holds {status.st_size / 2 ** 20:.0f} MB; a submission may "
                              f"hold at most {MAX_SOURCE_BYTES // 2 ** 20} MB.")
        data = f.read(MAX_SOURCE_BYTES + 1)
    if len(data) > MAX_SOURCE_BYTES:
        raise CourseError(f"{path.name} grew beyond {MAX_SOURCE_BYTES // 2 ** 20} MB while it was read.")
    return data.decode("utf-8")


def _steps(path: Path, root: Path | None) -> list[Path]:
    """`root` and every path from it down to `path` (only `path` when there is no root)."""
    if root is None or root == path:
        return [path]
    if root not in path.parents:
        raise CourseError(f"{path.name} lies outside the submission {root.name}.")
    return [root, *(root / Path(*path.relative_to(root).parts[:i + 1])
                    for i in range(len(path.relative_to(root).parts)))]


def _visible(path: Path | str) -> bool:
    name = path.name if isinstance(path, Path) else path
    return not name.startswith((".", "__")) and name != ".ipynb_checkpoints"
