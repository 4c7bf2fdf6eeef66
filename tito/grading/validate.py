"""`tito validate`: the autograder grades known implementations as they deserve.

The solution must score full marks, the untouched stub nothing, every correct implementation
(`correct/*.py` and the catalogue's `[[correct]]` entries) full marks, and every mutant in
`mutants/catalogue.toml` (the solution with one realistic bug) less than full marks, and fairly:
it fails the test of its concept, no test outside its concept and the tests its entry allows,
and loses at most MAX_LOSS points; over the catalogue the median loss is at most
MAX_MEDIAN_LOSS. Beside each hidden score stands the visible one (the notebook's own tests, what
`tito test` shows), which must be within MAX_VISIBLE_GAP points of it.
"""
from __future__ import annotations

import contextlib
import io
import statistics
import tempfile
import tomllib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tito.course import Module
from tito.grading.judge import Grader, SubmissionResult
from tito.grading.submissions import Submission
from tito.visible import run_visible_tests

MAX_LOSS = 25  # the points one bug may cost
MAX_MEDIAN_LOSS = 8  # over the catalogue
MAX_VISIBLE_GAP = 10  # points between what `tito test` shows and the grade


@dataclass(frozen=True)
class Candidate:
    name: str
    path: Path
    kind: str  # "solution", "stub", "correct" or "mutant"
    concept: str = ""  # for a mutant: the concept whose test should catch it
    allowed: tuple[str, ...] = ()  # for a mutant: the other tests it may fail, by name
    notebook: bool = True  # the module's source, visible tests and all; else only its code


@dataclass
class Verdict:
    """How one candidate was graded, hidden and visible, and what is wrong with that."""
    candidate: Candidate
    result: SubmissionResult
    visible: float  # the visible tests' score, out of 100
    problems: list[str] = field(default_factory=list)

    @property
    def hidden(self) -> float:
        return 100 * self.result.score / self.result.max_score if self.result.max_score else 0.0

    @property
    def failed(self) -> list[str]:
        return [o.name for o in self.result.outcomes if o.score < o.points]

    @property
    def ok(self) -> bool:
        return not self.problems


def apply_mutant(solution_text: str, replacements: list[list[str]], name: str) -> str:
    for old, new in replacements:
        if solution_text.count(old) != 1:
            raise ValueError(f"mutant {name}: {old!r} occurs {solution_text.count(old)} times in the solution")
        solution_text = solution_text.replace(old, new)
    return solution_text


def load_catalogue(folder: Path) -> dict[str, list[dict]]:
    """The catalogue's `mutant` and `correct` entries."""
    with open(folder / "mutants" / "catalogue.toml", "rb") as f:
        catalogue = tomllib.load(f)
    return {"mutant": catalogue.get("mutant", []), "correct": catalogue.get("correct", [])}


def candidates(module: Module, folder: Path, scratch: Path) -> list[Candidate]:
    found = [Candidate("solution", module.solution, "solution"), Candidate("stub", module.source, "stub")]
    found += [Candidate(p.stem, p, "correct", notebook=False)
              for p in sorted((folder / "correct").glob("*.py"))]
    catalogue = load_catalogue(folder)
    solution_text = module.solution.read_text()
    for kind in ("correct", "mutant"):
        for entry in catalogue[kind]:
            path = scratch / f"{kind}-{entry['name']}.py"
            path.write_text(apply_mutant(solution_text, entry["replace"], entry["name"]))
            found.append(Candidate(entry["name"], path, kind, entry.get("concept", ""),
                                   tuple(entry.get("allowed", ()))))
    return found


def visible_score(module: Module, candidate: Candidate) -> float:
    """Out of 100: the notebook's visible tests run against the candidate's code, as `tito test`
    runs them: its own test cells where it is the module's source, else the solution's."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        results = (run_visible_tests(candidate.path) if candidate.notebook
                   else run_visible_tests(module.solution, code=candidate.path))
    total = sum(r.points for r in results)
    return 100 * sum(r.score for r in results) / total if total else 0.0


def problems(candidate: Candidate, result: SubmissionResult, visible: float, test_of: dict) -> list[str]:
    """What is wrong with how `candidate` was graded; empty when it was graded as it deserves."""
    hidden = 100 * result.score / result.max_score if result.max_score else 0.0
    failed = [o.name for o in result.outcomes if o.score < o.points]
    found = []
    if candidate.kind == "stub":
        return [f"the stub scores {hidden:g}, not 0"] if result.score else []
    if candidate.kind in ("solution", "correct"):
        if failed:
            found.append(f"fails {', '.join(failed)}")
        if visible < 100:
            found.append(f"scores {visible:g} on the visible tests")
        return found
    concept_test = test_of.get(candidate.concept)
    if not failed:
        return ["not caught"]
    if concept_test not in failed:
        found.append(f"passes the test of its concept ({concept_test})")
    outside = [name for name in failed if name != concept_test and name not in candidate.allowed]
    if outside:
        found.append(f"loses tests outside its concept: {', '.join(outside)}")
    if 100 - hidden > MAX_LOSS:
        found.append(f"loses {100 - hidden:g} points (at most {MAX_LOSS})")
    if abs(visible - hidden) > MAX_VISIBLE_GAP:
        found.append(f"visible {visible:g} against hidden {hidden:g}")
    return found


def validate(module: Module, grader: Grader, jobs: int) -> list[Verdict]:
    """Grade every candidate, hidden and visible."""
    test_of = {test.concept: test.name for test in grader.autograder.tests}
    with tempfile.TemporaryDirectory(prefix="tito-validate-") as scratch:
        found = candidates(module, grader.autograder.folder, Path(scratch))
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            results = list(pool.map(lambda c: grader.grade(Submission(c.name, c.path)), found))
        visible = [visible_score(module, c) for c in found]
    return [Verdict(c, r, v, problems(c, r, v, test_of)) for c, r, v in zip(found, results, visible)]


def losses(verdicts: list[Verdict]) -> list[float]:
    return [100 - v.hidden for v in verdicts if v.candidate.kind == "mutant"]


def catalogue_problems(verdicts: list[Verdict]) -> list[str]:
    lost = losses(verdicts)
    if lost and statistics.median(lost) > MAX_MEDIAN_LOSS:
        return [f"the median mutant loses {statistics.median(lost):g} points (at most {MAX_MEDIAN_LOSS})"]
    return []


def catch_rates(verdicts: list[Verdict]) -> dict[str, tuple[int, int]]:
    """For each concept: (mutants caught, mutants aimed at it)."""
    rates: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for v in verdicts:
        if v.candidate.kind == "mutant":
            rates[v.candidate.concept][0] += bool(v.failed)
            rates[v.candidate.concept][1] += 1
    return {concept: (caught, total) for concept, (caught, total) in sorted(rates.items())}
