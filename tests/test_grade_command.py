"""`tito grade` end to end on a toy autograder: outputs, resume after a kill, determinism."""
import csv
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tito.cli import main

pytestmark = pytest.mark.grading

TOY = Path(__file__).parent / "toy_autograder"
GOOD = "def add(a, b): return a + b\ndef greet(name): return 'hello ' + name\n"
SLOW = "import time\ntime.sleep(0.2)\n" + GOOD


@pytest.fixture
def toy_course(course_copy):
    """The course with the toy autograder in place of module 06's."""
    module = course_copy.module(course_copy.assignment)
    target = course_copy.root / "autograder" / module.folder
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(TOY, target)
    return course_copy


def write_submissions(folder: Path, codes: dict[str, str]) -> Path:
    folder.mkdir()
    for student, code in codes.items():
        (folder / f"{student}.py").write_text(code)
    return folder


def test_outputs_for_every_submission(toy_course, tmp_path, capsys):
    subs = write_submissions(tmp_path / "subs", {
        "ada": GOOD, "bob": GOOD.replace("hello", "hi"), "cy": "raise SystemExit", "dee": "def add(:"})
    out = tmp_path / "out"
    assert main(["grade", "06", str(subs), "--out", str(out), "--jobs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "isolation:" in printed and "4 submissions" in printed
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert [(r["student"], r["score"]) for r in rows] == [("ada", "100"), ("bob", "60"), ("cy", "0"), ("dee", "0")]
    assert list(rows[0]) == ["student", "score", "max_score", "add", "greet"]
    results = json.loads((out / "bob" / "results.json").read_text())
    assert results["score"] == 60 and {t["status"] for t in results["tests"]} == {"passed", "failed"}
    assert set(results["tests"][0]) >= {"name", "score", "max_score", "status", "output", "visibility"}
    feedback = (out / "dee" / "feedback.md").read_text()
    assert "SyntaxError" in feedback and "dee.py:1" in feedback
    report = (out / "report.html").read_text()
    assert report.count("<svg") == 2 and "href='ada/feedback.html'" in report
    page = (out / "dee" / "feedback.html").read_text()
    assert page.startswith("<!doctype html>") and "<pre><code" in page and "SyntaxError" in page


def test_grading_twice_gives_the_same_scores_whatever_the_jobs(toy_course, tmp_path):
    codes = {f"s{i:02d}": GOOD if i % 3 else GOOD.replace("+ b", "- b") for i in range(12)}
    subs = write_submissions(tmp_path / "subs", codes)
    runs = []
    for jobs in (1, 3):
        out = tmp_path / f"out{jobs}"
        assert main(["grade", "06", str(subs), "--out", str(out), "--jobs", str(jobs)]) == 0
        runs.append((out / "grades.csv").read_text())
    assert runs[0] == runs[1]


def test_resume_after_kill_grades_only_what_is_missing(toy_course, tmp_path):
    subs = write_submissions(tmp_path / "subs", {f"s{i:02d}": SLOW for i in range(20)})
    out = tmp_path / "out"
    command = [sys.executable, "-m", "tito", "grade", "06", str(subs), "--out", str(out), "--jobs", "1"]
    grader = subprocess.Popen(command, cwd=toy_course.root, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(list(out.glob("*/results.json"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(grader.pid, signal.SIGKILL)
    grader.wait()
    done_before = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/results.json")}
    assert 4 <= len(done_before) < 20, "the kill should land in the middle of the run"
    assert not (out / "grades.csv").exists() or len((out / "grades.csv").read_text().splitlines()) < 21
    assert main(["grade", "06", str(subs), "--out", str(out), "--resume"]) == 0
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert sorted(r["student"] for r in rows) == sorted(f"s{i:02d}" for i in range(20))
    assert all(r["score"] == "100" for r in rows)
    for student, mtime in done_before.items():  # finished work was kept, not redone
        assert (out / student / "results.json").stat().st_mtime_ns == mtime
    assert not list(out.rglob("*.tmp"))


@pytest.mark.parametrize("argument, value, accepted", [
    ("--jobs", "0", "at least 1"), ("--jobs", "two", "at least 1"), ("--cpu", "0", "at least 1"),
    ("--timeout", "0", "above 0"), ("--timeout", "-5", "above 0"), ("--timeout", "nan", "above 0"),
    ("--timeout", "inf", "above 0"), ("--memory", "64", "at least 256"),
])
def test_bad_arguments_are_refused_before_anything_is_written(toy_course, tmp_path, capsys, argument, value,
                                                              accepted):
    subs = write_submissions(tmp_path / "subs", {"ada": GOOD})
    with pytest.raises(SystemExit) as stopped:
        main(["grade", "06", str(subs), "--out", str(tmp_path / "out"), argument, value])
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"tito grade: error: argument {argument}: ") and accepted in error
    assert "Traceback" not in error and not (tmp_path / "out").exists()


def test_out_must_be_a_folder_of_its_own(toy_course, tmp_path, capsys):
    subs = write_submissions(tmp_path / "subs", {"ada": GOOD})
    (tmp_path / "a_file").write_text("")
    with pytest.raises(SystemExit) as stopped:
        main(["grade", "06", str(subs), "--out", str(tmp_path / "a_file")])
    assert stopped.value.code == 2 and "argument --out: must be a folder" in capsys.readouterr().err
    for out in (subs, subs / "graded", toy_course.root / "solutions" / "06_optimizers" / "graded",
                toy_course.root / "autograder" / "06_optimizers" / "expected", toy_course.root):
        assert main(["grade", "06", str(subs), "--out", str(out)]) == 2
        error = capsys.readouterr().out
        assert "--out" in error and "overlaps" in error, out
    assert sorted(p.name for p in subs.iterdir()) == ["ada.py"]
    assert not (toy_course.root / "solutions" / "06_optimizers" / "graded").exists()


def test_grading_refuses_a_package_that_holds_the_solution(toy_course, tmp_path, capsys):
    from tito.exporter import package_text

    module = toy_course.module("06")
    module.package_file.write_text(package_text(module, module.solution))  # an export of the solution
    subs = write_submissions(tmp_path / "subs", {"ada": GOOD})
    assert main(["grade", "06", str(subs), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().out
    assert "holds lines of the solution of module 06" in error and "before grading" in error
    assert not (tmp_path / "out").exists()


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        main(["grade", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in (f"(default: {os.cpu_count()})", "seconds per test (default: 5.0)",
                    "CPU seconds per worker (default: 60)", "(default: 512)", "(default: False)"):
        assert default in text
    assert text.count("(default:") == 6  # --jobs, --timeout, --cpu, --memory, --resume, --require-isolation


def test_the_report_counts_scores_in_bins_of_ten_and_draws_one_bar_each():
    from tito.grading.reports import bars_svg, score_bins

    results = [{"score": s, "max_score": 100} for s in (100, 60, 100, 69.5, 0, 9.9)]
    bins = dict(score_bins(results))
    assert (bins["100"], bins["60-69"], bins["0-9"], bins["90-99"]) == (2, 2, 2, 0) and len(bins) == 11
    chart = bars_svg([("a<b", 3), ("c", 0)], 3, "", "#000")
    assert chart.count("<rect") == 2 and "a&lt;b" in chart and 'width="320.0"' in chart


def test_outputs_follow_the_umask(toy_course, tmp_path):
    subs = write_submissions(tmp_path / "subs", {"ada": GOOD})
    umask = os.umask(0o027)
    try:
        assert main(["grade", "06", str(subs), "--out", str(tmp_path / "out")]) == 0
    finally:
        os.umask(umask)
    for name in ("grades.csv", "report.html", "ada/feedback.md", "ada/feedback.html", "ada/results.json"):
        assert stat.S_IMODE((tmp_path / "out" / name).stat().st_mode) == 0o640, name


def as_another_user() -> list[str]:
    """A prefix that runs a command as uid 1000 (in a user namespace of its own, mapped to the
    machine's own user), as an instructor without root would; [] where this machine forbids it."""
    prefix = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]
    try:
        probe = subprocess.run([*prefix, "id", "-u"], capture_output=True, text=True)
    except FileNotFoundError:
        return []
    return prefix if probe.returncode == 0 and probe.stdout.strip() == "1000" else []


def test_an_instructor_without_root_gets_the_same_scores_and_is_told_the_isolation(toy_course, tmp_path):
    prefix = as_another_user()
    if not prefix:
        pytest.skip("this machine lets no process become another user in a user namespace")
    subs = write_submissions(tmp_path / "subs", {"ada": GOOD, "bob": GOOD.replace("hello", "hi"),
                                                 "cy": "import os\nos.kill(os.getppid(), 9)\n" + GOOD})
    done = subprocess.run([*prefix, sys.executable, "-m", "tito", "grade", "06", str(subs), "--out",
                           str(tmp_path / "out")], cwd=toy_course.root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "isolation:" in done.stdout and "3 submissions" in done.stdout
    rows = {r["student"]: r["score"] for r in csv.DictReader((tmp_path / "out" / "grades.csv").open())}
    assert rows == {"ada": "100", "bob": "60", "cy": "100"}
