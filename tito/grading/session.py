"""Grade a whole class: every submission gets a row, results are saved the moment they exist."""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from tito.course import CourseError
from tito.grading.judge import Grader, SubmissionResult
from tito.grading.reports import RESULTS, load_results, write_grades_csv, write_report_html, write_submission
from tito.grading.submissions import Submission


def to_grade(submissions: list[Submission], out: Path, resume: bool) -> list[Submission]:
    """The submissions still without results; refuses to mix a new run into an old one."""
    duplicates = [name for name, n in Counter(s.student for s in submissions).items() if n > 1]
    if duplicates:
        raise CourseError(f"Two submissions share a student id: {', '.join(duplicates)}. Rename one.")
    done = {p.parent.name for p in out.glob(f"*/{RESULTS}")}
    if done and not resume:
        raise CourseError(f"{out} already holds results of {len(done)} submissions: "
                          "add --resume to grade only the rest, or choose another --out.")
    return [s for s in submissions if s.student not in done]


def grade_all(submissions: list[Submission], grader: Grader, out: Path, jobs: int,
              on_result: Callable[[SubmissionResult], None] = lambda r: None) -> list[dict]:
    """Grade, saving each submission's files as soon as it is graded; return every result."""
    out.mkdir(parents=True, exist_ok=True)

    def one(submission: Submission) -> None:
        result = grader.grade(submission)
        write_submission(out, result)
        on_result(result)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for future in [pool.submit(one, s) for s in submissions]:
            future.result()
    results = load_results(out)
    write_grades_csv(out, results)
    write_report_html(out, results)
    return results
