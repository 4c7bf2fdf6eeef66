"""Gradescope's entry point: grade `/autograder/submission`, write `/autograder/results/results.json`.

Gradescope runs it as root in a fresh container. Before any student code runs, the grader's files
(`/autograder/source`: the hidden tests, their expected values) and the submission become root's
alone, the code workers import (`source/lib`) readable by all and writable by root alone; the grader reads a private copy of the submission's regular files (a
symlink in it reaches nothing) and sends the code to its workers, which run as users of their
own in whatever isolation the machine allows (bubblewrap where the container permits it:
`choose_isolation` probes), with a cleared environment. Only this process writes the results,
whole, into a folder only root may write, after every worker has ended.

`AUTOGRADER_ROOT` replaces `/autograder` (the tests run it against a fake tree).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

from tito.course import load_course
from tito.exporter import write_atomically
from tito.gradescope_bundle import LIB
from tito.grading.isolation import FIRST_JOB_UID, JOB_UIDS
from tito.grading.judge import Grader, SubmissionResult, load_autograder
from tito.grading.reports import gradescope_results
from tito.grading.submissions import submission_at
from tito.grading.worker import Limits

SHARED_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")
INCIDENTS = {"timeout": "ran out of time (an endless loop?) and stopped",
             "crashed": "crashed the process that ran your code",
             "error": "stopped with an error in your code"}


def main() -> int:
    root = Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    results = own_folder(root / "results")
    try:
        lock_down(root)
        report = grade(root)
    except Exception:  # the program's edge: the student still gets a result, and says so
        traceback.print_exc()
        report = {"score": 0, "output": "The autograder itself failed on this submission, which "
                  "scored 0 for now: tell your instructor.", "tests": []}
    write_atomically(results / "results.json", json.dumps(report, indent=2) + "\n")
    os.chmod(results / "results.json", 0o644)
    return 0


def grade(root: Path) -> dict:
    course = load_course(root / "source")
    module = course.module(course.assignment)
    with tempfile.TemporaryDirectory(prefix="submission-") as copy:
        submission = submission_at(private_copy(root / "submission", Path(copy) / "submission"), module)
        with Grader(load_autograder(module), Limits()) as grader:
            isolation = grader.isolation.summary
            print(f"isolation: {isolation}", flush=True)  # before any student code runs
            result = grader.grade(submission)
    remove_job_files()
    return gradescope_report(result, course.test_visibility, isolation)


def gradescope_report(result: SubmissionResult, visibility: str, isolation: str) -> dict:
    """`tito grade`'s results.json for this submission, with Gradescope's settings: each test
    shown as the course says, and an overall output that names what went wrong."""
    report = gradescope_results(result)
    for test in report["tests"]:
        test["visibility"] = visibility
        test["output"] = test["output"] or "passed"
    report.update(output=overall_output(result), execution_time=round(result.seconds, 2),
                  stdout_visibility="hidden")
    report["extra_data"]["isolation"] = isolation
    return report


def overall_output(result: SubmissionResult) -> str:
    if result.problem:
        return f"0/{result.max_score:g} points: nothing could be graded, because {result.problem}."
    passed = sum(o.status == "passed" for o in result.outcomes)
    lines = [f"{result.score:g}/{result.max_score:g} points: {passed} of {len(result.outcomes)} tests passed."]
    for status, what in INCIDENTS.items():
        names = [o.concept for o in result.outcomes if o.status == status]
        if names:
            tests = "1 test" if len(names) == 1 else f"{len(names)} tests"
            lines.append(f"{tests} {what}: {'; '.join(names)}.")
    return "\n".join(lines)


def lock_down(root: Path) -> None:
    """Make the bundle and the submission root's alone (the grader's own user's, when it is not
    root): no worker may read the hidden tests, their expected values or the submission, nor
    write a file of them. `lib/` (tito and tinytorch, public code that workers import) stays
    readable by all, writable by root alone."""
    library = root / "source" / LIB
    for top in (root / "source", root / "submission"):
        for parent, dirs, files in os.walk(top):
            for path in [Path(parent), *(Path(parent) / name for name in dirs + files)]:
                if path.is_symlink():
                    continue
                if os.getuid() == 0:
                    os.chown(path, 0, 0)
                public = path == library or library in path.parents or path in library.parents
                mode = path.stat().st_mode & 0o700
                os.chmod(path, mode | (mode >> 3 & 0o050) | (mode >> 6 & 0o005) if public else mode)


def private_copy(submission: Path, copy: Path) -> Path:
    """The submission's regular files, copied into `copy` with their times; symlinks are left out."""
    copy.mkdir(parents=True)
    for parent, _, files in os.walk(submission):
        for name in files:
            source = Path(parent) / name
            if source.is_symlink() or not source.is_file():
                continue
            target = copy / source.relative_to(submission)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)  # with its time: the newest of several sources is graded
    return copy


def remove_job_files(folders=SHARED_FOLDERS) -> None:
    """Delete what jobs left in the machine's shared folders (where a job without a mount
    namespace of its own writes its temporary files): the disk is the grader's again."""
    for folder in map(Path, folders):
        for parent, dirs, files in os.walk(folder, topdown=False):
            for name in files + dirs:
                path = Path(parent) / name
                try:
                    if is_job_uid(path.lstat().st_uid):
                        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
                except OSError:
                    pass  # gone already, or the folder of a job's folder removed first


def is_job_uid(uid: int) -> bool:
    return FIRST_JOB_UID <= uid < FIRST_JOB_UID + JOB_UIDS


def own_folder(folder: Path) -> Path:
    """The results folder, emptied and made writable by the grader alone before any student
    code runs: what a worker might have put there cannot stand in for results.json."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    if os.getuid() == 0:
        os.chown(folder, 0, 0)
    os.chmod(folder, 0o755)
    return folder


if __name__ == "__main__":
    sys.exit(main())
