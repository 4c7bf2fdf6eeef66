"""The student's loop: `tito test 06` against running the module as a plain script.

In a scratch copy of the course with the solution in place of the student's copy, it times
`tito test 06` (the visible tests, in one process) and `python modules/06_optimizers/optimizers.py`
(the same file run top to bottom: its tests and its experiments) in turns, and, as the floor under
both, a Python that only imports numpy. Each time is the wall time of one whole process.

    python benchmarks/tito_test_latency.py [--quick]
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tito.bench import quick_flag, result_table, row, target
from tito.console import console
from tito.course import copy_course, load_course

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 1.0


def run(quick: bool) -> dict:
    course = load_course(ROOT)
    module = course.module(course.assignment)
    with tempfile.TemporaryDirectory(prefix="bench-test-") as scratch:
        copy = load_course(copy_course(course.root, Path(scratch) / "course"))
        source = copy.module(module.number).source
        shutil.copyfile(module.solution, source)
        commands = {
            f"tito test {module.number}": [str(Path(sys.executable).with_name("tito")), "test", module.number],
            "the module as a script": [sys.executable, str(source.relative_to(copy.root))],
            "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
        }
        times = {name: [] for name in commands}
        for _ in range(1 if quick else 15):
            for name, command in commands.items():
                times[name].append(wall_time(command, copy.root))
    tito, script, floor = times.values()
    case = f"module {module.number}, the solution in place"
    rows = [row(case, f"tito test {module.number}", "s", tito,
                **{"x faster than the script": statistics.median(script) / statistics.median(tito)}),
            row(case, f"python {source.relative_to(copy.root)}", "s", script),
            row(case, "python -c 'import numpy'", "s", floor)]
    notes = ["the script runs the whole notebook: its tests and its experiments (training runs, plots "
             "drawn with matplotlib's Agg backend)"]
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        notes.append("PYTHONDONTWRITEBYTECODE is set: modules without a cached .pyc are compiled at every start")
    return {"title": f"The student's loop: tito test {module.number} against the module run as a script",
            "rows": rows, "notes": notes,
            "targets": [target(f"tito test {module.number}: median <= {TARGET_SECONDS:g} s",
                               f"{statistics.median(tito):.2f} s", statistics.median(tito) <= TARGET_SECONDS)]}


def wall_time(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return seconds


if __name__ == "__main__":
    console.print(result_table(run(quick_flag(__doc__))))
