"""The instructor's commands: release, nbgrader, Gradescope, validate."""
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hostile_corpus import CORPUS, RAW_FILES, with_cell
from tito.cli import main
from tito.nbgrader_course import nbgrader_env, write_submission

pytestmark = pytest.mark.grading

REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
SAMPLES = ("correct_percent.py", "sgd_only.py")


def meaningful(lines):
    return {line.strip() for line in lines if len(line.strip()) >= 20 and not line.strip().startswith("#")}


def hidden_lines(course):
    """Every line of every answer region and of the hidden tests and their data scripts."""
    lines = set()
    for module in course.modules:
        for region in REGION.findall(module.solution.read_text()):
            lines |= meaningful(region.splitlines())
    autograder = course.root / "autograder"
    for path in [*autograder.rglob("*.py"), *autograder.rglob("*.toml")]:
        if "samples" not in path.parts:
            lines |= meaningful(path.read_text().splitlines())
    return lines


def public_lines(course):
    """What students may see by design: the modules without their answers, and the tools."""
    lines = set()
    for module in course.modules:
        lines |= meaningful(REGION.sub("", module.solution.read_text()).splitlines())
    for path in [*(course.root / "tito").rglob("*.py"), *(course.root / "tinytorch").rglob("*.py")]:
        lines |= meaningful(path.read_text().splitlines())
    return lines


def text_of(path):
    if path.suffix == ".ipynb":
        return "\n".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"])
    return path.read_text(errors="replace")


def test_release_holds_no_line_of_a_solution_or_hidden_test(course, tmp_path, capsys):
    out = tmp_path / "release"
    assert main(["release", course.assignment, "--out", str(out)]) == 0
    names = {p.relative_to(out).parts[0] for p in out.rglob("*")}
    assert not names & {"solutions", "autograder", "tests"}
    notebook = out / "modules" / course.module(course.assignment).folder / "optimizers.ipynb"
    assert notebook.is_file()
    cells = json.loads(notebook.read_text())["cells"]
    graded = [c for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]
    tests = [c for c in graded if c["cell_type"] == "code"]  # written answers stay editable
    assert tests and all(c["metadata"]["nbgrader"]["locked"] for c in tests)
    released = {line.strip() for p in out.rglob("*") if p.is_file() for line in text_of(p).splitlines()}
    secret = hidden_lines(course) - public_lines(course)
    assert len(secret) > 300, "the check must have something to look for"
    assert sorted(secret & released) == []


def test_release_refuses_a_folder_in_use(course, tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    assert main(["release", course.assignment, "--out", str(tmp_path / "x")]) == 2
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def samples(course):
    return course.root / "autograder" / course.module(course.assignment).folder / "samples"


def sample_submissions(course) -> dict[str, str]:
    """Student id -> code: some samples, the untouched stub, and the stub with numpy patched."""
    stub = course.module(course.assignment).source.read_text()
    codes = {Path(name).stem: (samples(course) / name).read_text() for name in SAMPLES}
    return codes | {"stub": stub, "patches_numpy": with_cell(stub, CORPUS["patches_numpy"][1]),
                    "syntax_error": RAW_FILES["syntax_error.py"]}


def tito_scores(course, tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    for student, code in sample_submissions(course).items():
        (folder / f"{student}.py").write_text(code)
    out = tmp_path / "graded"
    assert main(["grade", course.assignment, str(folder), "--out", str(out)]) == 0
    return {r["student"]: float(r["score"]) for r in csv.DictReader((out / "grades.csv").open())}


@pytest.mark.slow
def test_nbgrader_gives_the_same_scores_as_tito_grade(course, tmp_path, capsys):
    module = course.module(course.assignment)
    nbgrader_course = tmp_path / "nbgrader"
    assert main(["nbgrader", course.assignment, "--course", str(nbgrader_course)]) == 0
    for student, code in sample_submissions(course).items():
        write_submission(nbgrader_course, module, student, code)
    env = nbgrader_env()
    nbgrader = [sys.executable, "-m", "nbgrader"]
    for command in (["generate_assignment", module.folder, "--force"],
                    ["autograde", module.folder, "--create", "--force"], ["export"]):
        result = subprocess.run(nbgrader + command, cwd=nbgrader_course, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
    rows = csv.DictReader((nbgrader_course / "grades.csv").open())
    by_nbgrader = {r["student_id"]: float(r["score"]) for r in rows}
    assert by_nbgrader == tito_scores(course, tmp_path)
    assert by_nbgrader["correct_percent"] == 100 and by_nbgrader["stub"] == by_nbgrader["patches_numpy"] == 0


def test_gradescope_bundle_runs_against_a_fake_autograder_tree(course, tmp_path, capsys):
    bundle = tmp_path / "autograder.zip"
    assert main(["gradescope", course.assignment, "--out", str(bundle)]) == 0
    names = zipfile.ZipFile(bundle).namelist()
    assert {"setup.sh", "run_autograder"} <= set(names)
    assert not [n for n in names if n.startswith(("solutions/", "tests/")) or "/correct/" in n
                or "/mutants/" in n or "/samples/" in n]
    root = tmp_path / "autograder"
    zipfile.ZipFile(bundle).extractall(root / "source")
    codes = sample_submissions(course)
    for student, expected in (("correct_percent", 100), ("sgd_only", None), ("syntax_error", 0)):
        shutil.rmtree(root / "submission", ignore_errors=True)
        (root / "submission").mkdir()
        (root / "submission" / f"{student}.py").write_text(codes[student])
        env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        result = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        results = json.loads((root / "results" / "results.json").read_text())
        assert set(results) >= {"score", "tests"} and len(results["tests"]) > 10
        if expected is not None:
            assert results["score"] == expected, student
        assert all({"name", "score", "max_score", "status", "output", "visibility"} <= set(t) for t in results["tests"])


@pytest.mark.slow
def test_validate_passes_on_the_course(course, capsys):
    code = main(["validate", course.assignment])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    mutants = re.search(r"catch rate (\d+)/(\d+)", out)
    assert mutants and mutants[1] == mutants[2] and int(mutants[2]) >= 30
