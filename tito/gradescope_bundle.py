"""Build the zip that Gradescope runs: the grader, the hidden tests and their expected values.

Gradescope unpacks it into /autograder/source, runs `setup.sh` once as root when it builds the
image, and `run_autograder` for each submission (see `tito.grading.gradescope`). The code its
workers import (`tito`, and the whole `tinytorch` package that `tito grade` shows its workers,
with the modules' student stubs) lives in `lib/`, apart from `course.toml` and the hidden tests
in `autograder/`: a worker is shown `lib/` and nothing beside it. `setup.sh` installs what grading
imports, at the versions pyproject.toml asks for.
"""
from __future__ import annotations

import re
import shlex
import tomllib
import zipfile
from pathlib import Path

from tito.course import REGISTRY, Course, Module
from tito.grading.judge import grader_files, load_autograder
from tito.stubs import check_no_answer_in_package

GRADING_NEEDS = ("numpy", "nbformat")  # what workers and the grader import beyond the standard library

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image.
set -euo pipefail
# bubblewrap: the sandbox, used where the container allows it (run_autograder probes).
apt-get update -qq && apt-get install -y -qq python3 python3-pip bubblewrap >/dev/null
pip3 install --quiet tomli {REQUIREMENTS}
"""
LIB = "lib"
RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission.
set -euo pipefail
root="${AUTOGRADER_ROOT:-/autograder}"
cd "$root/source"
export PYTHONPATH="$root/source/{LIB}"
exec python3 -m tito.grading.gradescope
"""


def build_bundle(course: Course, module: Module, out: Path) -> Path:
    autograder = load_autograder(module)
    check_no_answer_in_package(course, "building the bundle")
    setup = SETUP.replace("{REQUIREMENTS}", " ".join(map(shlex.quote, requirements(course.root / "pyproject.toml"))))
    files = {"setup.sh": setup, "run_autograder": RUN.replace("{LIB}", LIB)}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in files.items():
            _write(bundle, name, text, executable=True)
        bundle.write(course.root / REGISTRY, REGISTRY)
        for path in [*sorted((course.root / "tito").rglob("*.py")), *sorted((course.root / "tinytorch").rglob("*.py"))]:
            bundle.write(path, f"{LIB}/{path.relative_to(course.root).as_posix()}")
        for path in grader_files(autograder.folder):
            bundle.write(path, path.relative_to(course.root).as_posix())
    return out


def requirements(pyproject: Path) -> list[str]:
    """pyproject.toml's requirements of the packages grading imports (GRADING_NEEDS)."""
    wanted = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [r for r in wanted if re.match(r"[A-Za-z0-9_.-]+", r)[0].lower() in GRADING_NEEDS]


def _write(bundle: zipfile.ZipFile, name: str, text: str, executable: bool) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = (0o755 if executable else 0o644) << 16
    bundle.writestr(info, text)
