"""Gradescope's entry point: grade `/autograder/submission`, write `/autograder/results/results.json`.

`AUTOGRADER_ROOT` replaces `/autograder` (the tests run it against a fake tree).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from tito.course import load_course
from tito.grading.judge import Grader, load_autograder
from tito.grading.reports import gradescope_results
from tito.grading.submissions import submission_at
from tito.grading.worker import Limits


def main() -> int:
    root = Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    course = load_course(root / "source")
    module = course.module(course.assignment)
    submission = submission_at(root / "submission", module)
    with Grader(load_autograder(module), Limits()) as grader:
        result = grader.grade(submission)
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "results.json").write_text(json.dumps(gradescope_results(result), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
