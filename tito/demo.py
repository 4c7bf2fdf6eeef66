"""The tour behind `tito demo`: stubs fail, the solution passes, exports and trains a network."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tito.course import Course, CourseError, copy_course, load_course
from tito.exporter import export

EXAMPLE = Path("examples") / "train_mlp.py"


def train_with_solution(course: Course, number: str, plot: Path) -> subprocess.CompletedProcess:
    """Export the solution in a scratch copy of the course and run the MLP example against it.

    The copy keeps the solution out of this checkout's `modules/` and `tinytorch/`.
    """
    if not course.module(number).solution.is_file():
        raise CourseError("The demo needs solutions/: run it from the instructor's repository.")
    with tempfile.TemporaryDirectory(prefix="tito-demo-") as scratch:
        copy = load_course(copy_course(course.root, Path(scratch) / "course"))
        module = copy.module(number)
        shutil.copyfile(module.solution, module.source)
        export(module, module.source)
        env = {**os.environ, "PYTHONPATH": str(copy.root), "MPLBACKEND": "Agg"}
        return subprocess.run(
            [sys.executable, str(EXAMPLE), "--plot", str(plot.resolve())],
            cwd=copy.root, env=env, capture_output=True, text=True)
