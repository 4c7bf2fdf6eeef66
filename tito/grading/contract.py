"""What an autograder's `tests.py` gives the grader (see docs/grading.md)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class GradedTest:
    name: str  # the column in grades.csv
    concept: str  # what the student reads
    points: float
    scenario: str  # the scenario whose observations it checks
    check: Callable[[object, object], "str | None"]  # (observed, expected) -> None, or what differed
