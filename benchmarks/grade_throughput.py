"""Grading throughput: `tito grade` against `nbgrader autograde`, on the same classes of submissions.

Three classes, each graded by both in the same run: a correct one of a hundred (module 06's solution
and the correct variants of autograder/06_optimizers/correct/), a buggy one (every
mutant of the catalogue: the solution with one bug, so that most hidden tests pass and some fail
with a message, as before a deadline) and a hostile one (a submission whose Adam hangs in several
hidden tests, those with betas other than the defaults, and one that crashes its process as it
loads; in quick mode the solution once, one correct variant, one mutant and the crash). Each is the released
notebook filled in, laid out as an nbgrader course (the one `tito nbgrader 06 --course` builds,
whose graded cells call the course autograder) and as a folder per class for `tito grade`. Both
run with their default settings: nbgrader one notebook at a time, each in a sandboxed kernel that
runs every cell but the experiments (the cells tagged `experiment`: timings, training runs,
plots, which that course skips), that is the imports, the answers, the given `#| export` cells
and the visible tests, and then the hidden tests' verdicts from the course's grader; `tito grade`
on every core in its sandbox, running only the `#| export` cells and the hidden tests. The scores
of every submission except the hostile ones must agree.

Beside them, the least any kernel-based grader spends on a notebook: starting one Jupyter kernel
and running one cell in it. Each class's time per submission is given against it.

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
TARGET_RATIO = {"correct": 50, "buggy": 30}  # x nbgrader's throughput; none for the hostile class
CORRECT_CLASS = 100  # submissions: the correct variants, and copies of the solution for the rest


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
        classes = {kind: lay_out(answers, release, nbgrader, scratch / "tito" / kind)
                   for kind, answers in the_classes(module, quick, scratch / "texts").items()}
        times = {(kind, grader): [] for kind in classes for grader in ("nbgrader autograde", "tito grade")}
        kernel = []
        for attempt in range(rounds):
            shutil.rmtree(nbgrader / "autograded", ignore_errors=True)
            shutil.copy2(scratch / "gradebook.db", nbgrader / "gradebook.db")
            kernel += [kernel_and_one_cell() for _ in range(1 if quick else 3)]
            for kind in classes:
                times[kind, "nbgrader autograde"].append(_call(
                    ["nbgrader", "autograde", module.folder, "--create", f"--student={kind}-*"],
                    nbgrader, scratch / "nbgrader.log"))
                times[kind, "tito grade"].append(_call(
                    ["tito", "grade", module.number, str(scratch / "tito" / kind),
                     "--out", str(scratch / f"out{attempt}" / kind)], ROOT, scratch / "tito.log"))
        students = [s for kind in classes.values() for s in kind]
        nbgrader_scores = read_nbgrader_scores(nbgrader, module.folder, students)
        tito_results = {r["extra_data"]["student"]: r for r in
                        (json.loads(p.read_text()) for p in (scratch / f"out{attempt}").glob("*/*/results.json"))}
    return summarize(classes, times, kernel, nbgrader_scores, tito_results, quick)


def the_classes(module, quick: bool, folder: Path) -> dict[str, dict[str, dict[str, str]]]:
    """Per class, every student's answers: the grade_id of an answer cell -> the code the student
    wrote. A student's id starts with its class."""
    autograder = module.autograder_folder
    solution = module.solution.read_text()
    mutants = tomllib.loads((autograder / "mutants" / "catalogue.toml").read_text())["mutant"]
    variants = sorted((autograder / "correct").glob("*.py"))
    variants, mutants = (variants[:1], mutants[:1]) if quick else (variants, mutants)
    copies = 1 if quick else CORRECT_CLASS - len(variants)
    texts = {"correct": {f"solution-{i:02d}": solution for i in range(copies)},
             "buggy": {m["name"]: apply_mutant(solution, m["replace"], m["name"]) for m in mutants},
             "hostile": {"crash": apply_mutant(solution, [CRASH], "crash")}}
    if not quick:  # it costs each grader at least one per-test limit: too slow for a quick run
        texts["hostile"]["hang"] = apply_mutant(solution, [HANG], "hang")
    folder.mkdir()
    classes = {}
    for kind, students in texts.items():
        classes[kind] = {}
        for student, text in students.items():
            path = folder / f"{kind}-{student}.py"
            path.write_text(text)
            classes[kind][path.stem] = {c.nbgrader["grade_id"]: c.source for c in read_cells(path)
                                        if c.nbgrader.get("solution")}
    # a variant is a module of its own: all of it in the first answer cell, the other cells empty
    classes["correct"] |= {f"correct-{p.stem}": {"optimizer": "#| export\n" + p.read_text()}
                           for p in variants}
    return classes


def kernel_and_one_cell() -> float:
    """Seconds to start a Jupyter kernel and run one cell in it, as nbgrader does per notebook."""
    from jupyter_client.manager import start_new_kernel

    started = time.perf_counter()
    manager, client = start_new_kernel(kernel_name="python3", stderr=subprocess.DEVNULL)
    try:
        client.execute_interactive("1 + 1", timeout=60)
        return time.perf_counter() - started
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def lay_out(answers: dict, release: Path, nbgrader: Path, tito: Path) -> list[str]:
    """Fill the released notebook with each student's answers; save it for nbgrader and for tito."""
    notebook = json.loads(release.read_text())
    tito.mkdir(parents=True)
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


def summarize(classes, times, kernel, nbgrader_scores, tito_results, quick) -> dict:
    tito_scores = {student: result["score"] for student, result in tito_results.items()}
    isolation = choose_isolation()
    floor = statistics.median(kernel)
    rows, targets = [], []
    for kind, students in classes.items():
        n = len(students)
        rates = {name: [n / seconds for seconds in times[kind, name]]
                 for name in ("nbgrader autograde", "tito grade")}
        ratio = [t / b for t, b in zip(rates["tito grade"], rates["nbgrader autograde"])]
        for name, rate in rates.items():
            each = statistics.median(times[kind, name]) / n
            extra = {"seconds": statistics.median(times[kind, name]), "ms each": 1000 * each,
                     "x kernel+cell": each / floor}
            if name == "tito grade":
                extra["x nbgrader"] = statistics.median(ratio)
            rows.append(row(f"{n} {kind} submissions", name, "submissions/s", rate, **extra))
        if kind in TARGET_RATIO:
            targets.append(target(
                f"tito grade >= {TARGET_RATIO[kind]}x nbgrader's throughput on the {kind} class, in its sandbox",
                f"{min(ratio):.1f}x to {max(ratio):.1f}x, {1000 * statistics.median(times[kind, 'tito grade']) / n:.0f} ms "
                f"a submission, {1000 * floor:.0f} ms to start a kernel and run one cell; isolation: {isolation.name}",
                min(ratio) >= TARGET_RATIO[kind] and isolation.isolated))
    compared = [s for kind in ("correct", "buggy") for s in classes[kind]]
    differ = [f"{s}: nbgrader {nbgrader_scores[s]}, tito {tito_scores[s]}"
              for s in compared if nbgrader_scores[s] != tito_scores[s]]
    targets.append(target("the same scores on every non-hostile submission",
                          f"{len(compared) - len(differ)}/{len(compared)} agree" + "".join(f"; {d}" for d in differ[:5]),
                          not differ))
    if "hostile-hang" in tito_results:
        limit, extra = Limits().test_seconds, tito_results["hostile-hang"]["extra_data"]
        targets.append(target("a hanging submission costs one per-test limit, not one per hanging test",
                              f"{len(extra['incidents'])} tests hung; graded in {extra['seconds']:.1f} s = "
                              f"{extra['seconds'] / limit:.1f} limits of {limit:g} s",
                              extra["seconds"] < 1.5 * limit))
    correct = classes["correct"]
    notes = [f"the correct class: {sum(s.startswith('correct-solution') for s in correct)} copies of the solution, "
             f"{sum(not s.startswith('correct-solution') for s in correct)} correct variants; the buggy class: "
             f"{len(classes['buggy'])} mutants; hostile: " + ", ".join(
                 f"{s} (scored {_points(nbgrader_scores[s])} by nbgrader, {_points(tito_scores.get(s))} by tito)"
                 for s in classes["hostile"]),
             "each time is one whole command, from start to exit, on all the submissions of a class",
             f"a Jupyter kernel started and one cell run: {1000 * floor:.0f} ms (median of {len(kernel)}, "
             f"{1000 * min(kernel):.0f}-{1000 * max(kernel):.0f} ms); 'x kernel+cell' is the time per submission "
             "over it"]
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
