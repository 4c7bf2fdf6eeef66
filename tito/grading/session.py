"""Grade a whole class: every submission gets a row, results are saved the moment they exist.

The verdicts are made in parallel processes, each holding a `Grader` and so its own zygote:
decoding what the workers sent and running the checks (and the hints) of one submission do not
wait for another's under one interpreter lock. This process only hands out submissions and
writes what comes back.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import re
import signal
import time
import unicodedata
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Callable

from tito.course import CourseError
from tito.grading.judge import Autograder, Grader, SubmissionResult, all_failed, load_autograder_from
from tito.grading.reports import (
    RESERVED, finished_folders, load_results, read_manifest, write_grades_csv, write_report_html,
    write_submission)
from tito.grading.sandbox import Isolation
from tito.grading.submissions import Submission
from tito.grading.worker import Limits

SAFE_FOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TAGGED_FOLDER = re.compile(r".*-[0-9a-f]{16}")  # the form of a folder named for an unsafe id


@dataclass(frozen=True)
class Plan:
    folders: dict[Submission, str]  # every submission of the class -> its folder in OUT
    pending: list[Submission]  # those without results yet
    problems: dict[Submission, str]  # those that cannot be graded, and why (two of one student)


def plan(submissions: list[Submission], out: Path, resume: bool) -> Plan:
    """What to grade; refuses to mix a new run into an old one. Writes nothing."""
    folders = folder_names(submissions)
    finished = finished_folders(out, read_manifest(out))
    if not resume and any(out.glob("*/results.json")):
        raise CourseError(f"{out} already holds results: add --resume to grade only the rest, "
                          "or choose another --out.")
    pending = [s for s in submissions if folders[s] not in finished]
    return Plan(folders, pending, shared_ids(submissions))


def folder_names(submissions: list[Submission]) -> dict[Submission, str]:
    """A folder name for each submission: its student id where that is a safe, plain name, else
    a safe form of it tagged with a hash. No two collide (not even ignoring case), and none is
    `grades.csv`, `report.html` or the grader's own record."""
    shared = shared_ids(submissions)
    names = {s: _folder(s.student, s.entry if s in shared else None) for s in submissions}
    by_case: dict[str, list[Submission]] = defaultdict(list)
    for s, name in names.items():
        by_case[name.casefold()].append(s)
    for clash in (group for group in by_case.values() if len(group) > 1):
        for s in clash:
            names[s] = _folder(s.student, s.entry, tagged=True)
    return names


def _folder(student: str, entry: str | None, tagged: bool = False) -> str:
    plain = (SAFE_FOLDER.fullmatch(student) and not TAGGED_FOLDER.fullmatch(student)
             and student.casefold() not in RESERVED)
    if plain and entry is None and not tagged:
        return student
    ascii_form = unicodedata.normalize("NFKD", student).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_form).strip("._-")[:40]
    key = student if entry is None else f"{student}\0{entry}"
    return f"{slug or 'student'}-{hashlib.sha256(key.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}"


def shared_ids(submissions: list[Submission]) -> dict[Submission, str]:
    """The submissions that share a student id with another, each with the reason it scores 0."""
    by_id: dict[str, list[Submission]] = defaultdict(list)
    for s in submissions:
        by_id[s.student].append(s)
    return {s: (f"{len(group)} submissions have the student id {s.student!r} "
                f"({', '.join(t.entry or str(t.source) for t in group)}): none is graded until "
                "only one is left; rename or remove the others, then grade again with --resume")
            for group in by_id.values() if len(group) > 1 for s in group}


def grade_all(work: Plan, autograder: Autograder, limits: Limits, isolation: Isolation, out: Path,
              jobs: int, on_result: Callable[[SubmissionResult], None] = lambda r: None) -> list[dict]:
    """Grade what is pending, saving each submission's files as soon as it is graded; return the
    results of the whole class, rebuilt from the files."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out)

    def finish(submission: Submission, result: SubmissionResult) -> None:
        write_submission(out, work.folders[submission], result, manifest)
        on_result(result)

    graded = [s for s in work.pending if s not in work.problems]
    for submission in work.pending:
        if submission in work.problems:
            finish(submission, all_failed(submission, autograder, work.problems[submission], time.monotonic()))
    for submission, result in _grade_in_processes(graded, autograder, limits, isolation, jobs):
        finish(submission, result)
    results = load_results(out, manifest, sorted(set(work.folders.values())))
    write_grades_csv(out, results)
    write_report_html(out, results)
    return results


def _grade_in_processes(submissions, autograder: Autograder, limits, isolation, jobs: int):
    """(submission, result) for each, as they finish. Whatever goes wrong while one submission is
    graded is that submission's 0 and reason, never the end of the run; should a grading
    process itself die, the submissions it took down are graded once more in a fresh pool."""
    context = grading_context()
    remaining = list(submissions)
    for attempt in range(2):
        if not remaining:
            return
        lost = []
        pool = ProcessPoolExecutor(max_workers=max(1, min(jobs, len(remaining))), mp_context=context,
                                   initializer=_start_grader, initargs=(autograder.folder, limits, isolation))
        try:
            started = time.monotonic()
            futures = {pool.submit(_grade, s): s for s in remaining}
            for future in as_completed(futures):
                submission = futures[future]
                try:
                    result = future.result()
                except NoGrader as error:
                    raise CourseError(f"The grader cannot run: {error}") from None
                except BrokenProcessPool:
                    lost.append(submission)
                    continue
                except Exception as error:  # the program's edge: one submission, never the run
                    result = all_failed(submission, autograder, _grader_failed(error), started)
                yield submission, result
        finally:  # on an interruption too: what has not started never will
            # The processes close their sandboxes while the reports are written; the interpreter
            # waits for them as it exits (concurrent.futures joins every pool then).
            pool.shutdown(wait=False, cancel_futures=True)
        if attempt and len(lost) == len(remaining):  # not one graded: the processes cannot run here
            raise CourseError("The grading processes ended before grading anything (is tito run from a "
                              "script without `if __name__ == \"__main__\":`?)")
        remaining = lost
    for submission in remaining:
        yield submission, all_failed(submission, autograder, "a grading process ended twice while "
                                     "grading it; grade it alone to see why", time.monotonic())


def grading_context():
    """Where the grading processes come from: never a fork of this process, which has threads,
    but forks of a server that imported the grader once ("forkserver"), where the platform has
    one, and otherwise fresh interpreters ("spawn"), each importing it again."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def start_early() -> None:
    """Start the server the grading processes are forked from, which imports the grader while
    this process finds and plans the submissions (a fresh interpreter takes a third of a second)."""
    context = grading_context()
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver  # a module of the platforms that have one

        forkserver.ensure_running()


def _grader_failed(error: Exception) -> str:
    return f"the grader failed on this submission ({type(error).__name__}: {str(error)[:300]})"


class NoGrader(Exception):
    """A grading process could not make its Grader (its sandbox did not start, say)."""


_grader: Grader | NoGrader | None = None  # in each grading process: its own Grader and zygote


def _start_grader(folder: Path, limits: Limits, isolation: Isolation) -> None:
    global _grader
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which stops the pool
    try:
        _grader = Grader(load_autograder_from(folder), limits, isolation)
    except Exception as error:  # the edge of this process: said once, by the parent, not per submission
        _grader = NoGrader(f"{type(error).__name__}: {error}")
        return
    Finalize(_grader, _grader.close, exitpriority=10)  # when the pool shuts this process down


def _grade(submission: Submission) -> SubmissionResult:
    if isinstance(_grader, NoGrader):
        raise _grader
    return _grader.grade(submission)
