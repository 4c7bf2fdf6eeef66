"""Grading the hostile corpus: every submission gets the score it deserves, nothing is harmed."""
import csv
import hashlib
import json
import os
import stat
import subprocess
import time

import pytest
from markdown_it import MarkdownIt

from hostile_corpus import CORPUS, LINGERING, ODD_IDS, RAW_FILES, ROBUSTNESS, TWINS, with_cell, write_robustness_files
from tito.cli import main
from tito.grading.reports import RECORD
from tito.grading.sandbox import choose_isolation

pytestmark = [pytest.mark.grading, pytest.mark.slow]

ISOLATED = choose_isolation().isolated
CASES = {**CORPUS, **ROBUSTNESS}


def build_corpus(course, folder):
    """The corpus in `folder`; the score each student deserves where it is a number."""
    module = course.module(course.assignment)
    bases = {"solution": module.solution.read_text(), "stub": module.source.read_text()}
    folder.mkdir()
    for name, (base, code, _) in CASES.items():
        if name == "steals_the_solution" and not ISOLATED:
            continue  # without a sandbox the solution is readable: see test_sandbox's isolation test
        (folder / f"{name}.py").write_text(with_cell(bases[base], code))
    for name, content in RAW_FILES.items():
        write = (folder / name).write_bytes if isinstance(content, bytes) else (folder / name).write_text
        write(content)
    for base, text in bases.items():
        (folder / f"{base}.py").write_text(text)
    return write_robustness_files(folder, module.solution)


def fingerprint(folder):
    """Every file under `folder` and its content, to compare before and after grading."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()
            and p.stat().st_size < 2 ** 24 and "__pycache__" not in p.parts}


def test_the_hostile_corpus(course_copy, tmp_path, capsys):
    submissions = tmp_path / "submissions"
    deserved = build_corpus(course_copy, submissions)
    before = fingerprint(course_copy.root), fingerprint(submissions)
    out = tmp_path / "out"
    started = time.monotonic()
    umask = os.umask(0o022)
    try:
        assert main(["grade", "06", str(submissions), "--out", str(out), "--timeout", "2"]) == 0
    finally:
        os.umask(umask)
    seconds = time.monotonic() - started
    printed = capsys.readouterr().out
    rows = list(csv.DictReader((out / "grades.csv").open(newline="")))
    scores = {row["student"]: float(row["score"]) for row in rows}

    entries = [p for p in submissions.iterdir()]
    assert len(rows) == len(entries), "every submission gets a row, the twins one each"
    for student, cell in ODD_IDS.items():  # a cell a spreadsheet would evaluate is written as text
        assert scores[cell] == 100, student
    assert [r["score"] for r in rows if r["student"] == TWINS] == ["0", "0"]
    assert scores["solution"] == 100 and scores["stub"] == 0
    assert 0 < scores["adam_broken"] < 100
    for name, (_, _, deserves) in CASES.items():
        if name not in scores:
            continue
        if deserves == "at_most_stub":
            assert scores[name] <= scores["stub"], name
        else:
            assert scores[name] == scores[deserves], name
    for name in RAW_FILES:
        assert scores[name.rsplit(".", 1)[0]] == 0
    for student, score in deserved.items():
        if student not in ODD_IDS:
            assert scores[student] == score, student

    results = {r["extra_data"]["folder"]: r for r in map(json.loads, map(read, out.glob("*/results.json")))}
    problems = {r["extra_data"]["student"]: r["extra_data"]["problem"] for r in results.values()}
    assert "symbolic link" in problems["links_to_the_solution"] and "symbolic link" in problems["links_inside"]
    assert "at most 20 MB" in problems["huge"] and "share" not in problems["huge"]
    assert "not a notebook" in problems["notebook_cells_not_objects"]
    assert "have the student id 'twin'" in problems[TWINS]
    assert_outputs_are_safe(out, results, printed)

    assert (fingerprint(course_copy.root), fingerprint(submissions)) == before, "grading changed files"
    folders = {p.name for p in out.iterdir() if p.is_dir() and p.name != RECORD}
    assert folders == set(results) and len(folders) == len(rows)
    assert {p.name for p in out.iterdir() if p.is_file()} == {"grades.csv", "report.html"}
    assert subprocess.run(["pgrep", "-f", f"^sleep {LINGERING}$"], capture_output=True).stdout == b""
    assert "isolation:" in printed
    print(f"hostile corpus: {len(rows)} submissions graded in {seconds:.1f} s "
          f"({'bubblewrap' if ISOLATED else 'no isolation'})")


def read(path):
    return path.read_text(encoding="utf-8")


def assert_outputs_are_safe(out, results, printed):
    """No student text adds a line to feedback.md, a tag to an HTML page, a formula to
    grades.csv or a control code to a file or the terminal; every file is readable by others
    under umask 022."""
    for folder, result in results.items():
        feedback = read(out / folder / "feedback.md")
        assert [line for line in feedback.splitlines() if line.startswith("**Score")] == [
            f"**Score: {result['score']:g} / {result['max_score']:g}**"], folder
        assert "\x1b" not in feedback and "\r" not in feedback
        page = read(out / folder / "feedback.html")
        assert "<script" not in page and "\x1b" not in page
        tokens = [t for block in MarkdownIt("commonmark").enable("table").parse(feedback)
                  for t in [block, *(block.children or [])]]
        kinds = [t.type for t in tokens]  # student text is only ever the content of a code block
        assert kinds.count("strong_open") == 1 and not {"html_block", "html_inline"} & set(kinds), folder
        headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
        sections = {"What to fix", "Every test", "What your code printed"}
        sections |= {f"{t['name']} ({t['max_score']:g} points)" for t in result["tests"]}
        assert headings[0].startswith("Feedback for ") and set(headings[1:]) <= sections, folder
        assert len(set(headings)) == len(headings), folder  # no section twice
    escaped = read(out / "exception_text_escapes" / "feedback.md")
    assert "alert(1)" in escaped and "\\x1b[2J" in escaped
    assert "&lt;script&gt;" in read(out / "exception_text_escapes" / "feedback.html")
    report = read(out / "report.html")
    assert "<script" not in report and "\x1b" not in report
    for row in csv.reader((out / "grades.csv").open(newline="")):
        assert not row[0].startswith(("=", "+", "-", "@", "\t", "\r")), row[0]
    assert "\x1b" not in printed
    for path in [out / "grades.csv", out / "report.html", *out.glob("*/feedback.*"), *out.glob("*/results.json")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
