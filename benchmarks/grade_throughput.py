"""Grading throughput: `tito grade` against `nbgrader autograde`, on the same class of submissions.

The class is module 06's solution several times over, the correct variants of
autograder/06_optimizers/correct/, every mutant of the catalogue (the solution with one bug), one
submission whose Adam hangs in several hidden tests (those with betas other than the defaults;
the notebook's own cells never use any) and one that crashes its process as it loads. Each is the
released notebook filled in, experiments and visible tests included. The same files are laid out as an nbgrader course (the one
`tito nbgrader 06 --course` builds, whose graded cells call the course autograder) and as a
folder for `tito grade`. Both grade them in the same run with their default settings: nbgrader
one notebook at a time, `tito grade` on every core in its sandbox. The scores of every
submission except the two hostile ones must agree.

    python benchmarks/grade_throughput.py [--quick]
"""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from tito.bench import quick_flag, result_table, row, target
from tito.cells import read_cells
from tito.console import console
from tito.course import load_course
from tito.grading.sandbox import choose_isolation
from tito.grading.validate import apply_mutant
from tito.grading.worker import Limits
from tito.nbgrader_course import build_course, nbgrader_env

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HANG = ["super().__init__(params, lr, betas=tuple(betas)",
        "while tuple(betas) != (0.9, 0.999):  # never ends for betas other than the defaults\n"
        "            pass\n        super().__init__(params, lr, betas=tuple(betas)"]
CRASH = ["class Optimizer:", "import os\nimport signal\n\n"
                             "os.kill(os.getpid(), signal.SIGSEGV)  # dies as it loads, like a crash in native code\n\n\n"
                             "class Optimizer:"]
HOSTILE = ("hang", "crash")
TARGET_RATIO = 20


def run(quick: bool) -> dict:
    course = load_course(ROOT)
    module = course.module(course.assignment)
    rounds = 1 if quick else 2
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as scratch:
        scratch = Path(scratch)
        nbgrader = build_course(course, module, scratch / "nbgrader")
        _call(["nbgrader", "generate_assignment", module.folder], nbgrader, scratch / "setup.log")
        shutil.copy2(nbgrader / "gradebook.db", scratch / "gradebook.db")
        release = nbgrader / "release" / module.folder / Path(module.file).with_suffix(".ipynb").name
        students = lay_out(the_class(module, quick, scratch / "texts"), release, nbgrader, scratch / "tito")
        times = {"nbgrader autograde": [], "tito grade": []}
        for attempt in range(rounds):
            shutil.rmtree(nbgrader / "autograded", ignore_errors=True)
            shutil.copy2(scratch / "gradebook.db", nbgrader / "gradebook.db")
            times["nbgrader autograde"].append(_call(
                ["nbgrader", "autograde", module.folder, "--create"], nbgrader, scratch / "nbgrader.log"))
            times["tito grade"].append(_call(
                ["tito", "grade", module.number, str(scratch / "tito"), "--out", str(scratch / f"out{attempt}")],
                ROOT, scratch / "tito.log"))
        nbgrader_scores = read_nbgrader_scores(nbgrader, module.folder, students)
        tito_results = {r["extra_data"]["student"]: r for r in
                        (json.loads(p.read_text()) for p in (scratch / f"out{attempt}").glob("*/results.json"))}
    return summarize(students, times, nbgrader_scores, tito_results, quick)


def the_class(module, quick: bool, folder: Path) -> dict[str, dict[str, str]]:
    """Every student's answers: the grade_id of an answer cell -> the code the student wrote."""
    autograder = module.root / "autograder" / module.folder
    solution = module.solution.read_text()
    mutants = tomllib.loads((autograder / "mutants" / "catalogue.toml").read_text())["mutant"]
    variants = sorted((autograder / "correct").glob("*.py"))
    copies, variants, mutants = (1, [], mutants[:1]) if quick else (10, variants, mutants)
    texts = {f"solution-{i:02d}": solution for i in range(copies)}
    texts |= {f"mutant-{m['name']}": apply_mutant(solution, m["replace"], m["name"]) for m in mutants}
    texts["crash"] = apply_mutant(solution, [CRASH], "crash")
    if not quick:  # it costs each grader at least one per-test limit: too slow for a quick run
        texts["hang"] = apply_mutant(solution, [HANG], "hang")
    folder.mkdir()
    answers = {}
    for student, text in texts.items():
        (folder / f"{student}.py").write_text(text)
        answers[student] = {c.nbgrader["grade_id"]: c.source for c in read_cells(folder / f"{student}.py")
                            if c.nbgrader.get("solution")}
    # a variant is a module of its own: all of it in the first answer cell, the other cells empty
    answers |= {f"correct-{p.stem}": {"optimizer": "#| export\n" + p.read_text()} for p in variants}
    return answers


def lay_out(answers: dict, release: Path, nbgrader: Path, tito: Path) -> list[str]:
    """Fill the released notebook with each student's answers; save it for nbgrader and for tito."""
    notebook = json.loads(release.read_text())
    tito.mkdir()
    for student, cells in answers.items():
        for cell in notebook["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if meta.get("solution"):
                cell["source"] = cells.get(meta["grade_id"], "#| export")
        text = json.dumps(notebook, indent=1)
        submitted = nbgrader / "submitted" / student / release.parent.name / release.name
        submitted.parent.mkdir(parents=True)
        submitted.write_text(text)
        (tito / f"{student}.ipynb").write_text(text)
    return sorted(answers)


def read_nbgrader_scores(course: Path, assignment: str, students: list[str]) -> dict:
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in students:
            try:
                scores[student] = gradebook.find_submission(assignment, student).score
            except MissingEntry:
                scores[student] = None
    return scores


def summarize(students, times, nbgrader_scores, tito_results, quick) -> dict:
    n = len(students)
    rates = {name: [n / seconds for seconds in runs] for name, runs in times.items()}
    ratio = [t / b for t, b in zip(rates["tito grade"], rates["nbgrader autograde"])]
    tito_scores = {student: result["score"] for student, result in tito_results.items()}
    compared = [s for s in students if s not in HOSTILE]
    differ = [f"{s}: nbgrader {nbgrader_scores[s]}, tito {tito_scores[s]}"
              for s in compared if nbgrader_scores[s] != tito_scores[s]]
    rows = [row(f"{n} submissions", name, "submissions/s", rates[name],
                **{"seconds": statistics.median(times[name])},
                **({"x nbgrader": statistics.median(ratio)} if name == "tito grade" else {}))
            for name in times]
    isolation = choose_isolation()
    targets = [
        target(f"tito grade >= {TARGET_RATIO}x nbgrader's throughput, in its sandbox",
               f"{min(ratio):.1f}x to {max(ratio):.1f}x, isolation: {isolation.name}",
               min(ratio) >= TARGET_RATIO and isolation.isolated),
        target("the same scores on every non-hostile submission",
               f"{len(compared) - len(differ)}/{len(compared)} agree" + "".join(f"; {d}" for d in differ[:5]),
               not differ),
    ]
    if "hang" in tito_results:
        limit, extra = Limits().test_seconds, tito_results["hang"]["extra_data"]
        targets.append(target("a hanging submission costs one per-test limit, not one per hanging test",
                              f"{len(extra['incidents'])} tests hung; graded in {extra['seconds']:.1f} s = "
                              f"{extra['seconds'] / limit:.1f} limits of {limit:g} s",
                              extra["seconds"] < 1.5 * limit))
    kinds = {kind: sum(s.startswith(kind) for s in students) for kind in ("solution", "correct", "mutant")}
    notes = [f"the class: {kinds['solution']} copies of the solution, {kinds['correct']} correct variants, "
             f"{kinds['mutant']} mutants, hostile: " + ", ".join(
                 f"{s} (scored {_points(nbgrader_scores[s])} by nbgrader, {_points(tito_scores[s])} by tito)"
                 for s in HOSTILE if s in students),
             "each time is one whole command, from start to exit, on all the submissions"]
    if quick:
        notes.append("quick mode: a few submissions, no hanging one, one round")
    return {"title": "Grading throughput: tito grade against nbgrader autograde", "rows": rows,
            "targets": targets, "notes": notes}


def _points(score: float | None) -> str:
    return "nothing" if score is None else f"{score:g}"


def _call(command: list[str], cwd: Path, log: Path) -> float:
    """Run one of the environment's commands in `cwd`; the seconds it took."""
    started = time.perf_counter()
    with open(log, "a") as output:
        done = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=cwd, stdout=output, stderr=output,
                              env=nbgrader_env())
    seconds = time.perf_counter() - started
    if done.returncode != 0 and command[:2] != ["nbgrader", "autograde"]:  # nbgrader fails a crashed notebook
        raise RuntimeError(f"{' '.join(command)} failed:\n{log.read_text()[-3000:]}")
    return seconds


if __name__ == "__main__":
    console.print(result_table(run(quick_flag(__doc__))))
