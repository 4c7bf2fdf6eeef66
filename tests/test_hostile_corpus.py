"""Grading the hostile corpus: every submission gets the score it deserves, nothing is harmed."""
import csv
import hashlib
import subprocess
import time

import pytest

from hostile_corpus import CORPUS, RAW_FILES, with_cell
from tito.cli import main
from tito.grading.reports import RECORD
from tito.grading.sandbox import choose_isolation

pytestmark = [pytest.mark.grading, pytest.mark.slow]

ISOLATED = choose_isolation().isolated


def build_corpus(course, folder):
    module = course.module(course.assignment)
    bases = {"solution": module.solution.read_text(), "stub": module.source.read_text()}
    folder.mkdir()
    for name, (base, code, _) in CORPUS.items():
        if name == "steals_the_solution" and not ISOLATED:
            continue  # without a sandbox the solution is readable: see test_sandbox's isolation test
        (folder / f"{name}.py").write_text(with_cell(bases[base], code))
    for name, content in RAW_FILES.items():
        write = (folder / name).write_bytes if isinstance(content, bytes) else (folder / name).write_text
        write(content)
    for base, text in bases.items():
        (folder / f"{base}.py").write_text(text)
    return folder


def fingerprint(folder):
    """Every file under `folder` and its content, to compare before and after grading."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def test_the_hostile_corpus(course_copy, tmp_path, capsys):
    submissions = build_corpus(course_copy, tmp_path / "submissions")
    before = fingerprint(course_copy.root), fingerprint(submissions)
    out = tmp_path / "out"
    started = time.monotonic()
    assert main(["grade", "06", str(submissions), "--out", str(out), "--timeout", "2"]) == 0
    seconds = time.monotonic() - started
    printed = capsys.readouterr().out
    scores = {row["student"]: float(row["score"]) for row in csv.DictReader((out / "grades.csv").open())}

    expected_students = {p.stem for p in submissions.iterdir()}
    assert set(scores) == expected_students, "every submission gets a row"
    assert scores["solution"] == 100 and scores["stub"] == 0
    assert 0 < scores["adam_broken"] < 100
    for name, (_, _, deserves) in CORPUS.items():
        if name not in scores:
            continue
        if deserves == "at_most_stub":
            assert scores[name] <= scores["stub"], name
        else:
            assert scores[name] == scores[deserves], name
    for name in RAW_FILES:
        assert scores[name.rsplit(".", 1)[0]] == 0

    assert (fingerprint(course_copy.root), fingerprint(submissions)) == before, "grading changed files"
    students = {p.name for p in out.iterdir() if p.is_dir() and p.name != RECORD}
    assert students == expected_students
    assert {p.name for p in out.iterdir() if p.is_file()} == {"grades.csv", "report.html"}
    assert subprocess.run(["pgrep", "-f", "sleep 424242"], capture_output=True).stdout == b""
    assert "isolation:" in printed
    print(f"hostile corpus: {len(scores)} submissions graded in {seconds:.1f} s "
          f"({'bubblewrap' if ISOLATED else 'no isolation'})")
