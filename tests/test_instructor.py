"""The instructor's commands: release, nbgrader, Gradescope, validate."""
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from hostile_corpus import RAW_FILES, with_cell
from tito.cli import main
from tito.nbgrader_course import EXPERIMENT_TAG, filled_notebook, nbgrader_env, release_notebook, write_submission

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


PATCHES_THE_KERNEL = """
# Every verdict the kernel could decide, forged: the bridge, builtins, AssertionError, nbgrader;
# and the course's files read and written.
import builtins, nbgrader.utils, tito.grading.bridge
tito.grading.bridge.hidden_test = lambda name: print("passed")
builtins.AssertionError = type("AssertionError", (Exception,), {{}})
nbgrader.utils.determine_grade = lambda cell, log=None: (cell.metadata.nbgrader["points"],) * 2
for path, mode in (({expected!r}, "r"), ({canary!r}, "w")):
    try:
        with open(path, mode) as f:
            print(f.read() if mode == "r" else f.write("forged"))
    except OSError as error:
        print(error)
"""


def released_notebook(course, tmp_path):
    out = tmp_path / "release"
    assert main(["release", course.assignment, "--out", str(out)]) == 0
    return out / "modules" / course.module(course.assignment).folder / "optimizers.ipynb"


def class_of_notebooks(course, release: Path, nbgrader_course: Path) -> dict:
    """Student id -> notebook, each made from the released notebook: samples, the untouched
    release (an honest no-op), and notebooks that tamper with the kernel or the hidden cells."""
    import nbformat

    codes = {Path(name).stem: (samples(course) / name).read_text() for name in SAMPLES}
    notebooks = {student: filled_notebook(release, code) for student, code in codes.items()}
    notebooks["noop"] = nbformat.read(release, as_version=4)
    patcher = nbformat.read(release, as_version=4)
    expected = nbgrader_course / "autograder" / "06_optimizers" / "expected" / "expected.json"
    patcher.cells.insert(3, nbformat.v4.new_code_cell(PATCHES_THE_KERNEL.format(
        expected=str(expected), canary=str(nbgrader_course / "canary.txt"))))
    rewriter = filled_notebook(release, codes["sgd_only"])
    hidden = [c for c in rewriter.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("hidden_")]
    for cell in hidden[1:]:
        cell.source, cell.metadata.nbgrader["points"] = "print('passed')", 1000
    rewriter.cells.remove(hidden[0])
    for cell in rewriter.cells:  # the visible tests graded, as in the module's source
        if "points" in cell.metadata.get("nbgrader", {}) and cell not in hidden:
            cell.metadata.nbgrader.update(grade=True, points=50)
    mine = {"grade": True, "grade_id": "mine", "locked": False, "points": 50, "schema_version": 3, "solution": False}
    rewriter.cells.append(nbformat.v4.new_code_cell("print('passed')", metadata={"nbgrader": mine}))
    broken = filled_notebook(release, RAW_FILES["syntax_error.py"])  # and a cell that kills its kernel
    broken.cells.insert(5, nbformat.v4.new_code_cell("import os\nos._exit(3)"))
    sample = samples(course) / "nb_student" / "06_optimizers" / "optimizers.ipynb"
    return notebooks | {"patcher": patcher, "rewriter": rewriter, "broken": broken,
                        "nb_student": nbformat.read(sample, as_version=4)}


def nbgrader_scores(nbgrader_course: Path, module) -> dict:
    nbgrader = [sys.executable, "-m", "nbgrader"]
    for command in (["autograde", module.folder, "--create", "--force"], ["export"]):
        result = subprocess.run(nbgrader + command, cwd=nbgrader_course, env=nbgrader_env(),
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-3000:]
    return {r["student_id"]: float(r["score"]) for r in csv.DictReader((nbgrader_course / "grades.csv").open())}


def tito_grade_scores(folder: Path, out: Path) -> dict:
    assert main(["grade", "06", str(folder), "--out", str(out)]) == 0
    return {r["student"]: float(r["score"]) for r in csv.DictReader((out / "grades.csv").open())}


@pytest.fixture(scope="module")
def nbgrader_class(course, tmp_path_factory):
    """The class of notebooks, made from `tito release`'s notebook, graded by nbgrader in the
    course `tito nbgrader` builds, and by `tito grade`."""
    tmp_path = tmp_path_factory.mktemp("nbgrader")
    module = course.module(course.assignment)
    release = released_notebook(course, tmp_path)
    nbgrader_course = tmp_path / "nbgrader"
    assert main(["nbgrader", course.assignment, "--course", str(nbgrader_course)]) == 0
    result = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", module.folder],
                            cwd=nbgrader_course, env=nbgrader_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    notebooks = class_of_notebooks(course, release, nbgrader_course)
    (nbgrader_course / "canary.txt").write_text("untouched")
    for student, notebook in notebooks.items():
        write_submission(nbgrader_course, module, student, notebook)
    return {"release": release, "course": nbgrader_course, "notebooks": notebooks,
            "nbgrader": nbgrader_scores(nbgrader_course, module),
            "tito": tito_grade_scores(nbgrader_course / "submitted", tmp_path / "graded")}


@pytest.mark.slow
def test_nbgrader_grades_the_released_notebook_as_tito_grade_does_and_cannot_be_fooled(course, nbgrader_class):
    module = course.module(course.assignment)
    cells = [json.loads(path.read_text())["cells"]
             for path in (nbgrader_class["release"], release_notebook(nbgrader_class["course"], module))]
    assert [(c["cell_type"], c["source"], c["metadata"]) for c in cells[0]] == \
        [(c["cell_type"], c["source"], c["metadata"]) for c in cells[1]]
    by_nbgrader = nbgrader_class["nbgrader"]
    assert by_nbgrader == nbgrader_class["tito"]
    assert by_nbgrader["correct_percent"] == by_nbgrader["nb_student"] == 100
    assert by_nbgrader["noop"] == by_nbgrader["patcher"] == by_nbgrader["broken"] == 0
    assert 0 < by_nbgrader["rewriter"] == by_nbgrader["sgd_only"] < 100
    course_dir = nbgrader_class["course"]
    expected = (course_dir / "autograder" / module.folder / "expected" / "expected.json").read_text()
    patched = json.loads((course_dir / "autograded" / "patcher" / module.folder / "optimizers.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in patched["cells"] for o in c.get("outputs", []))
    assert "Errno 2" in printed, printed[:2000]  # the patching cell ran, and found no expected values
    assert (course_dir / "canary.txt").read_text() == "untouched" and expected[:60] not in printed
    graded = json.loads((course_dir / "autograded" / "correct_percent" / module.folder / "optimizers.ipynb").read_text())
    experiments = [c for c in graded["cells"] if EXPERIMENT_TAG in c["metadata"].get("tags", [])]
    assert len(experiments) >= 10 and all(c["outputs"] == [] and c["execution_count"] is None for c in experiments)
    visible = [c for c in graded["cells"] if c["cell_type"] == "code" and "points" in c["metadata"].get("nbgrader", {})
               and not c["metadata"]["nbgrader"]["grade_id"].startswith("hidden_")]
    assert visible and all(isinstance(c["execution_count"], int) for c in visible), "the visible tests ran"


def test_the_experiment_cells_are_locked_ungraded_demonstrations_tagged_in_the_release(course):
    from tito.grading.judge import load_autograder
    from tito.release import student_notebook

    module = course.module(course.assignment)
    notebook = student_notebook(module, load_autograder(module).tests)
    experiments = [c for c in notebook.cells if EXPERIMENT_TAG in c.metadata.get("tags", [])]
    assert len(experiments) >= 10
    for cell in experiments:
        meta = cell.metadata["nbgrader"]
        assert cell.cell_type == "code" and meta["locked"] and not meta["grade"] and not meta["solution"], meta
        assert "#| export" not in cell.source and "points" not in meta, meta["grade_id"]
    ids = {c.metadata["nbgrader"]["grade_id"] for c in experiments}
    assert {"spirals", "valley", "in_place_timing", "checkpoint", "noisy"} <= ids


@pytest.mark.slow
def test_a_class_of_notebooks_gets_the_same_scores_from_nbgrader_gradescope_and_tito_grade(nbgrader_class, gradescope):
    import nbformat

    on_gradescope = {student: run_gradescope(gradescope, f"class-{student}",
                                             {"optimizers.ipynb": nbformat.writes(notebook)})["score"]
                     for student, notebook in nbgrader_class["notebooks"].items()}
    assert on_gradescope == nbgrader_class["nbgrader"] == nbgrader_class["tito"]
    assert len(set(on_gradescope.values())) >= 3


def test_the_hidden_cells_fail_in_a_course_that_lost_the_grading_step(monkeypatch, capsys):
    from tito.grading.bridge import NotGradedHere, hidden_test

    hidden_test("adam_first_step")
    assert "graded by the course autograder when you submit" in capsys.readouterr().out
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(NotGradedHere, match="tito nbgrader"):
        hidden_test("adam_first_step")


SNOOPS = """
import os
_found = []
for _path in {files!r}:  # lib/ holds tito and tinytorch, public code the workers import
    for _how, _mode in (("read", "rb"), ("write", "ab"))[_path.startswith({lib!r}):]:
        try:
            open(_path, _mode).close()
            _found.append(_how + " " + os.path.relpath(_path, {root!r}))
        except OSError:
            pass
for _folder in {folders!r}:
    try:
        open(os.path.join(_folder, "planted"), "w").close()
        _found.append("write in " + os.path.relpath(_folder, {root!r}))
    except OSError:
        pass
_found += ["sees $" + name for name in os.environ if name == "GRADER_SECRET"]
if _found:
    raise RuntimeError(f"LEAK {{len(_found)}}: " + "; ".join(_found))
import tempfile  # and what costs nothing: printing, and files in /tmp
print("x" * 2_000_000)
with open(os.path.join(tempfile.gettempdir(), "scratch.txt"), "w") as f:
    f.write("y" * 1_000_000)
"""
LINGERS = """
import json, os, time

def _forge():
    try:
        with open({results!r}, "w") as f:
            json.dump({{"score": 100, "tests": []}}, f)
    except OSError:
        pass

_forge()
with open({leftover!r}, "w") as f:
    f.write("x" * 100_000)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open("/proc/self/comm", "w") as f:
            f.write({marker!r})
        for _ in range(200):
            _forge()
            time.sleep(0.05)
    os._exit(0)
"""


@pytest.fixture(scope="module")
def gradescope(course):
    """Where Gradescope's run is simulated: a folder every user can enter, the bundle, and a
    PATH that holds only a Python every user can run (the system's, with numpy): no bubblewrap."""
    if os.getuid() != 0:
        pytest.skip("Gradescope runs the bundle as root; simulating it needs root")
    top = Path(tempfile.mkdtemp(prefix="tito-gradescope-"))
    os.chmod(top, 0o755)
    assert main(["gradescope", course.assignment, "--out", str(top / "autograder.zip")]) == 0
    yield top, public_python(top)
    shutil.rmtree(top)


def public_python(top: Path) -> Path:
    import numpy

    system = Path("/usr/bin/python3")
    version = subprocess.run([system, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert version.stdout.strip() == str(sys.version_info[:2]), "needs the system's Python, same version as this one"
    venv = top / "python"
    subprocess.run([system, "-m", "venv", "--without-pip", str(venv)], check=True)
    packages, linked = Path(numpy.__file__).parent.parent, top / "numpy-only"
    linked.mkdir()
    for name in ("numpy", "numpy.libs"):
        if (packages / name).exists():
            (linked / name).symlink_to(packages / name)
    (next((venv / "lib").glob("python3*")) / "site-packages" / "numpy.pth").write_text(f"{linked}\n")
    return venv / "bin"


# How the container lets root isolate jobs: fully, or as Docker's default capabilities do
# (no CAP_SYS_ADMIN, so no namespaces: each job gets a user of its own instead).
CONTAINERS = {"root": [], "docker": ["/usr/bin/setpriv", "--bounding-set", "-sys_admin", "--"]}
JOB_ISOLATION = {"root": "own mount, PID and IPC namespaces", "docker": "runs as a user of its own"}


def run_gradescope(gradescope, name: str, files: dict, container: str = "root") -> dict:
    """Run the bundle's run_autograder as Gradescope does, against a fresh fake /autograder tree
    whose results folder anyone may write."""
    top, path = gradescope
    root = top / name
    zipfile.ZipFile(top / "autograder.zip").extractall(root / "source")
    (root / "submission").mkdir()
    for filename, text in files.items():
        (root / "submission" / filename).write_text(text)
    (root / "results").mkdir()
    os.chmod(root / "results", 0o777)
    env = {"PATH": str(path), "AUTOGRADER_ROOT": str(root), "HOME": "/root", "GRADER_SECRET": "hunter2"}
    result = subprocess.run([*CONTAINERS[container], "/bin/bash", str(root / "source" / "run_autograder")], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())


def test_the_gradescope_bundle_ships_the_grader_and_nothing_of_the_instructors(course, gradescope):
    names = zipfile.ZipFile(gradescope[0] / "autograder.zip").namelist()
    assert {"setup.sh", "run_autograder", "autograder/06_optimizers/tests.py"} <= set(names)
    assert not [n for n in names if n.startswith(("solutions/", "tests/")) or "/correct/" in n
                or "/mutants/" in n or "/samples/" in n]
    assert "bubblewrap" in zipfile.ZipFile(gradescope[0] / "autograder.zip").read("setup.sh").decode()


@pytest.mark.parametrize("container", CONTAINERS)
def test_on_gradescope_student_code_reads_no_file_of_the_bundle(course, gradescope, container):
    top, _ = gradescope
    root = top / f"snoop-{container}"
    names = zipfile.ZipFile(top / "autograder.zip").namelist()
    files = [str(root / "source" / n) for n in names] + [str(root / "submission" / "snoop.py"),
                                                          str(root / "results" / "results.json")]
    folders = [str(root / part) for part in ("source", "source/lib/tito", "source/autograder/06_optimizers",
                                             "submission", "results")]
    code = with_cell((samples(course) / "correct_percent.py").read_text(),
                     SNOOPS.format(files=files, folders=folders, root=str(root), lib=str(root / "source" / "lib")))
    results = run_gradescope(gradescope, root.name, {"snoop.py": code}, container)
    assert results["score"] == 100, results["output"]
    assert JOB_ISOLATION[container] in results["extra_data"]["isolation"], results["extra_data"]["isolation"]


@pytest.mark.parametrize("container", CONTAINERS)
def test_on_gradescope_results_are_the_graders_alone(course, gradescope, container):
    top, _ = gradescope
    marker, results_file = f"linger{os.getpid() % 10000}", top / f"linger-{container}" / "results" / "results.json"
    code = with_cell(course.module(course.assignment).source.read_text(),
                     LINGERS.format(results=str(results_file), marker=marker, leftover=f"/tmp/{marker}"))
    results = run_gradescope(gradescope, f"linger-{container}", {"optimizers.py": code}, container)
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _comm(p) == marker]
    time.sleep(1.0)
    again = json.loads(results_file.read_text())
    assert left == [] and again == results and not Path(f"/tmp/{marker}").exists()
    assert results["score"] == 0 and len(results["tests"]) > 10


def _comm(process: Path) -> str:
    try:
        return (process / "comm").read_text().strip()
    except OSError:
        return ""


def test_on_gradescope_a_correct_submission_gets_100_shown_as_the_course_says(course, gradescope):
    results = run_gradescope(gradescope, "control", {"optimizers.py": (samples(course) / "correct_percent.py").read_text()})
    assert results["score"] == 100 and results["output"].startswith("100/100 points")
    assert {t["visibility"] for t in results["tests"]} == {course.test_visibility} != {"visible"}
    assert all({"name", "score", "max_score", "status", "output"} <= set(t) for t in results["tests"])


def test_gradescope_output_names_the_crashes_and_time_outs():
    from tito.grading.gradescope import gradescope_report
    from tito.grading.judge import SubmissionResult, TestOutcome

    outcomes = [TestOutcome("a", "Adam's first step", 6, 0, "timeout", "Adam's first step: it ran for more than 5 s"),
                TestOutcome("b", "SGD's update", 4, 4, "passed"),
                TestOutcome("c", "StepLR", 4, 0, "crashed", "StepLR: the process was killed by SIGSEGV")]
    report = gradescope_report(SubmissionResult("s", "s.py", outcomes), "after_due_date", "none")
    assert report["output"].splitlines() == [
        "4/14 points: 1 of 3 tests passed.",
        "1 test ran out of time (an endless loop?) and stopped: Adam's first step.",
        "1 test crashed the process that ran your code: StepLR."]
    assert [t["output"] for t in report["tests"]] == [outcomes[0].message, "passed", outcomes[2].message]
    assert {t["visibility"] for t in report["tests"]} == {"after_due_date"}


@pytest.mark.slow
def test_validate_passes_on_the_course(course, capsys):
    code = main(["validate", course.assignment])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    mutants = re.search(r"catch rate (\d+)/(\d+)", out)
    assert mutants and mutants[1] == mutants[2] and int(mutants[2]) >= 30
