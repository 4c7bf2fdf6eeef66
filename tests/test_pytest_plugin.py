"""`pytest autograder/NN_name --submission PATH`: the grader's verdicts and points, under pytest."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from hostile_corpus import ADAM_RAISES, with_cell
from tito.course import load_course
from tito.grading.judge import Grader, load_autograder
from tito.grading.submissions import find_submissions, submission_at
from tito.grading.worker import Limits

pytestmark = pytest.mark.grading

ROOT = Path(__file__).resolve().parents[1]
COURSE = load_course(ROOT)
MODULE = COURSE.module(COURSE.assignment)
AUTOGRADER = load_autograder(MODULE)

# What a submission does to pytest where it runs (the worker): all of it must change nothing.
TAMPERING = """
import os
try:
    import pytest, _pytest.reports, _pytest.runner
    _pytest.reports.TestReport.passed = property(lambda self: True)
    _pytest.runner.call_and_report = lambda *args, **kwargs: None
    pytest.fail = lambda *args, **kwargs: None
except ImportError:
    pass
for folder in (".", "..", os.environ.get("PWD", ".")):
    for name, text in (("report.xml", '<testsuites><testsuite tests="1" failures="0"/></testsuites>'),
                       ("conftest.py", "import pytest\\n")):
        try:
            with open(os.path.join(folder, name), "w") as f:
                f.write(text)
        except OSError:
            pass
print("score 100/100")
"""

# A conftest.py in the submission's folder: were pytest to import it, every test would pass.
CONFTEST = """
from pathlib import Path
Path(__file__).with_name("IMPORTED").write_text("pytest imported the submission's conftest.py")

import pytest

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report.outcome = "passed"
    return report
"""


def sample_paths() -> list[Path]:
    """Every sample submission as pytest is given it (a folder stays a folder), the solution, the stub."""
    samples = AUTOGRADER.folder / "samples"
    found = find_submissions(samples, MODULE) if samples.is_dir() else []
    paths = [samples / s.student if (samples / s.student).is_dir() else s.source for s in found]
    return [MODULE.solution, MODULE.source, *paths]


@dataclass
class Run:
    returncode: int
    output: str
    cases: list[tuple]  # (name, passed, message, points, max_points) of each JUnit <testcase>

    @property
    def last_line(self) -> str:
        return self.output.rstrip().splitlines()[-1]


def run_pytest(tmp_path: Path, *args: str, cwd: Path | None = None) -> Run:
    """`python -m pytest ARGS --junitxml` in a fresh process, as an instructor runs it."""
    assert any(ep.value == "tito.grading.pytest_plugin" for ep in entry_points(group="pytest11")), \
        "the pytest plugin's entry point is not installed: run `make setup-test`"
    junit = tmp_path / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args,
                           f"--junitxml={junit}"], cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    cases = []
    if junit.exists():
        for case in ET.parse(junit).iter("testcase"):
            failure = case.find("failure")
            properties = {p.get("name"): float(p.get("value")) for p in case.iter("property")}
            cases.append((case.get("name"), failure is None, "" if failure is None else failure.get("message"),
                          properties.get("points"), properties.get("max_points")))
    return Run(done.returncode, done.stdout + done.stderr, cases)


def expected_cases(result, names=None) -> list[tuple]:
    return [(o.name, o.status == "passed", o.message, o.score, o.points) for o in result.outcomes
            if names is None or o.name in names]


@pytest.fixture(scope="module")
def grader():
    with Grader(AUTOGRADER, Limits()) as grader:
        yield grader


@pytest.fixture
def adam_broken(tmp_path) -> Path:
    path = tmp_path / "adam_broken.py"
    path.write_text(with_cell(MODULE.solution.read_text(), ADAM_RAISES))
    return path


@pytest.mark.parametrize("path", sample_paths(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_item_is_the_graders_verdict_with_its_points(path, grader, tmp_path):
    expected = grader.grade(submission_at(path, MODULE))
    run = run_pytest(tmp_path, str(AUTOGRADER.folder), "--submission", str(path))
    assert run.cases == expected_cases(expected)
    assert [case[0] for case in run.cases] == [test.name for test in AUTOGRADER.tests]
    assert run.last_line == f"score {expected.score:g}/{expected.max_score:g}"
    assert run.returncode == (0 if expected.score == expected.max_score else 1)


def test_k_runs_the_selected_tests_and_the_score_says_which(adam_broken, grader, tmp_path):
    expected = grader.grade(submission_at(adam_broken, MODULE))
    selected = [o for o in expected.outcomes if "adam" in o.name or "sgd" in o.name]
    run = run_pytest(tmp_path, str(AUTOGRADER.folder), "--submission", str(adam_broken), "-k", "adam or sgd")
    assert run.cases == expected_cases(expected, {o.name for o in selected})
    score, points = sum(o.score for o in selected), sum(o.points for o in selected)
    assert 0 < score < points
    assert run.last_line == f"score {score:g}/{points:g} ({len(selected)} of {len(expected.outcomes)} tests run)"


def test_a_submission_tampering_with_pytest_scores_what_the_grader_gives_it(adam_broken, grader, tmp_path):
    folder = tmp_path / "mallory"
    folder.mkdir()
    (folder / MODULE.file).write_text(with_cell(adam_broken.read_text(), TAMPERING))
    (folder / "conftest.py").write_text(CONFTEST)
    # Read by pytest, this would turn the plugin off and leave the conftest.py free to forge scores.
    (folder / "pytest.ini").write_text("[pytest]\naddopts = -p no:tito.grading.pytest_plugin\n")
    cwd = tmp_path / "instructor"
    cwd.mkdir()
    expected = grader.grade(submission_at(folder, MODULE))
    run = run_pytest(tmp_path, str(AUTOGRADER.folder), "--submission", str(folder), cwd=cwd)
    assert not (folder / "IMPORTED").exists()
    assert run.cases == expected_cases(expected)
    assert 0 < expected.score < expected.max_score
    assert run.last_line == f"score {expected.score:g}/{expected.max_score:g}"
    assert not list(cwd.iterdir()), "the submission wrote into the instructor's folder"


@pytest.mark.parametrize("given", ["folder", "file in it"])
def test_a_submission_named_first_cannot_bring_its_pytest_ini(given, tmp_path):
    folder = tmp_path / "mallory"
    folder.mkdir()
    (folder / MODULE.file).write_text(MODULE.solution.read_text())
    (folder / "conftest.py").write_text(CONFTEST)
    (folder / "pytest.ini").write_text("[pytest]\naddopts = -p no:junitxml\n")
    path = folder if given == "folder" else folder / MODULE.file
    run = run_pytest(tmp_path, "--submission", str(path), str(AUTOGRADER.folder))
    assert run.returncode == pytest.ExitCode.USAGE_ERROR
    assert f"configuration file {folder / 'pytest.ini'} from beside the submission" in run.output
    assert "name the autograder folder before --submission" in run.output
    assert not (folder / "IMPORTED").exists() and not run.cases


def test_an_unloadable_submission_fails_every_item_with_the_reason(grader, tmp_path):
    path = tmp_path / "dee.py"
    path.write_text("class SGD:\n    def step(self)\n        pass\n")
    expected = grader.grade(submission_at(path, MODULE))
    assert expected.problem
    run = run_pytest(tmp_path, str(AUTOGRADER.folder), "--submission", str(path))
    assert run.returncode == pytest.ExitCode.TESTS_FAILED
    assert run.cases == [(test.name, False, expected.problem, 0, test.points) for test in AUTOGRADER.tests]
    assert run.output.count(f"dee scores nothing: {expected.problem}") == 1
    assert run.last_line == f"score 0/{expected.max_score:g}"


def test_without_a_submission_the_autograder_collects_nothing(tmp_path):
    run = run_pytest(tmp_path, str(AUTOGRADER.folder))
    assert run.returncode == pytest.ExitCode.NO_TESTS_COLLECTED and not run.cases
    assert run.last_line.endswith("add --submission PATH to grade a submission")


def test_the_submission_is_graded_once_for_the_whole_session(monkeypatch, capsys):
    graded = []
    grade = Grader.grade
    monkeypatch.setattr(Grader, "grade", lambda self, submission: graded.append(submission) or grade(self, submission))
    code = pytest.main([str(AUTOGRADER.folder), "--submission", str(MODULE.solution), "-p", "no:cacheprovider"])
    assert code == pytest.ExitCode.OK
    assert [s.source for s in graded] == [MODULE.solution]
    total = sum(test.points for test in AUTOGRADER.tests)
    assert capsys.readouterr().out.rstrip().endswith(f"score {total:g}/{total:g}")
