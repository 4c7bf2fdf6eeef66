"""`tito validate`: the autograder grades known implementations as they deserve.

The solution must score full marks, the untouched stub nothing, every correct implementation in
`correct/` full marks, and every mutant in `mutants/catalogue.toml` (the solution with one
realistic bug) less than full marks.
"""
from __future__ import annotations

import tempfile
import tomllib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tito.course import Module
from tito.grading.judge import Autograder, Grader, SubmissionResult
from tito.grading.submissions import Submission


@dataclass(frozen=True)
class Candidate:
    name: str
    path: Path
    kind: str  # "solution", "stub", "correct" or "mutant"
    concept: str = ""  # for a mutant: the concept that should catch it

    def acceptable(self, result: SubmissionResult) -> bool:
        if self.kind == "stub":
            return result.score == 0
        if self.kind == "mutant":
            return result.score < result.max_score
        return result.score == result.max_score


def apply_mutant(solution_text: str, replacements: list[list[str]], name: str) -> str:
    for old, new in replacements:
        if solution_text.count(old) != 1:
            raise ValueError(f"mutant {name}: {old!r} occurs {solution_text.count(old)} times in the solution")
        solution_text = solution_text.replace(old, new)
    return solution_text


def candidates(module: Module, autograder: Autograder, scratch: Path) -> list[Candidate]:
    found = [Candidate("solution", module.solution, "solution"), Candidate("stub", module.source, "stub")]
    found += [Candidate(p.stem, p, "correct") for p in sorted((autograder.folder / "correct").glob("*.py"))]
    with open(autograder.folder / "mutants" / "catalogue.toml", "rb") as f:
        catalogue = tomllib.load(f)["mutant"]
    solution_text = module.solution.read_text()
    for mutant in catalogue:
        path = scratch / f"{mutant['name']}.py"
        path.write_text(apply_mutant(solution_text, mutant["replace"], mutant["name"]))
        found.append(Candidate(mutant["name"], path, "mutant", mutant["concept"]))
    return found


def validate(module: Module, grader: Grader, jobs: int):
    """Grade every candidate; return (candidate, result) pairs."""
    with tempfile.TemporaryDirectory(prefix="tito-validate-") as scratch:
        found = candidates(module, grader.autograder, Path(scratch))
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            results = list(pool.map(lambda c: grader.grade(Submission(c.name, c.path)), found))
    return list(zip(found, results))


def catch_rates(graded) -> dict[str, tuple[int, int]]:
    """For each concept: (mutants caught, mutants aimed at it)."""
    rates: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for candidate, result in graded:
        if candidate.kind == "mutant":
            rates[candidate.concept][0] += candidate.acceptable(result)
            rates[candidate.concept][1] += 1
    return {concept: (caught, total) for concept, (caught, total) in sorted(rates.items())}
