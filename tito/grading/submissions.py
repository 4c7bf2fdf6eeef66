"""Find the submissions in a folder, as the spec defines them.

A submission is a file `<student>.py` / `<student>.ipynb`, or a folder `<student>/` holding the
module's source somewhere below it (nbgrader's `submitted/<student>/<assignment>/` included).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tito.course import CourseError, Module

SOURCE_SUFFIXES = (".py", ".ipynb")


@dataclass(frozen=True)
class Submission:
    student: str
    source: Path | None  # None when the folder holds no source; `problem` says why
    problem: str = ""


def find_submissions(folder: Path, module: Module) -> list[Submission]:
    if not folder.is_dir():
        raise CourseError(f"{folder} is not a folder of submissions.")
    found = [submission_at(entry, module) for entry in sorted(folder.iterdir()) if _visible(entry)]
    submissions = [s for s in found if s is not None]
    if not submissions:
        raise CourseError(f"{folder} holds no submissions (<student>.py, <student>.ipynb or <student>/).")
    return submissions


def submission_at(entry: Path, module: Module) -> Submission | None:
    if entry.is_file():
        return Submission(entry.stem, entry) if entry.suffix in SOURCE_SUFFIXES else None
    sources = [p for p in sorted(entry.rglob("*")) if p.suffix in SOURCE_SUFFIXES
               and p.is_file() and all(_visible(part) for part in p.relative_to(entry).parts)]
    named = [p for p in sources if p.stem == Path(module.file).stem] or sources
    if not named:
        return Submission(entry.name, None, f"no .py or .ipynb file in {entry.name}/")
    if len({p.stem for p in named}) > 1:
        names = ", ".join(str(p.relative_to(entry)) for p in named)
        return Submission(entry.name, None, f"several candidate sources ({names}); expected {module.file}")
    return Submission(entry.name, max(named, key=lambda p: p.stat().st_mtime))


def _visible(path: Path | str) -> bool:
    name = path.name if isinstance(path, Path) else path
    return not name.startswith((".", "__")) and name != ".ipynb_checkpoints"
