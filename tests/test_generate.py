"""modules/ and tinytorch/ are generated from solutions/, never edited, and never leak answers."""
import os
import re
import subprocess
import sys

import pytest

from tito.cli import main
from tito.exporter import package_text
from tito.stubs import fill_todo_messages, student_text

pytestmark = pytest.mark.tito

REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def solution_lines(path):
    """Every non-trivial line inside an answer region."""
    lines = {line.strip() for region in REGION.findall(path.read_text()) for line in region.splitlines()}
    return {line for line in lines if len(line) > 12 and not line.startswith("#")}


def test_student_copies_are_generated_from_solutions(course):
    for module in course.modules:
        assert module.source.read_text() == student_text(module.solution), (
            f"{module.source} has drifted from {module.solution}: run `tito generate {module.number}`")


def test_package_files_are_exported_from_student_copies(course):
    for module in course.modules:
        assert module.package_file.read_text() == package_text(module, module.source), (
            f"{module.package_file} has drifted: run `tito generate {module.number}`")


def test_no_solution_line_reaches_the_student(course):
    module = course.module(course.assignment)
    lines = solution_lines(module.solution)
    assert len(lines) > 20, "the assignment should have answer regions"
    student = module.source.read_text() + module.package_file.read_text()
    leaked = [line for line in lines if line in student]
    # A few lines are legitimately shared with given code (e.g. `return self`); none may be long.
    assert [line for line in leaked if len(line) > 40] == []


def test_every_stub_names_what_to_implement(course):
    module = course.module(course.assignment)
    stubs = re.findall(r'raise NotImplementedError\("(.*)"\)', module.source.read_text())
    assert len(stubs) >= 8
    assert all(len(message.split()) >= 4 for message in stubs), stubs


def test_a_region_without_a_todo_line_is_refused(tmp_path):
    with pytest.raises(ValueError, match="needs a `# TODO: ...` line"):
        fill_todo_messages('def f():\n    raise NotImplementedError("{todo}")', tmp_path / "m.py")


def test_todo_sentence_is_quoted_safely(tmp_path):
    filled = fill_todo_messages('# TODO: say "hi"\nraise NotImplementedError("{todo}")', tmp_path)
    assert filled.endswith('raise NotImplementedError("say \\"hi\\"")')


def git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t"})


def test_generate_refuses_to_overwrite_uncommitted_edits(course_copy, capsys):
    module = course_copy.module(course_copy.assignment)
    git(course_copy.root, "init", "-q")
    git(course_copy.root, "add", "-A")
    git(course_copy.root, "commit", "-q", "-m", "course")
    assert main(["generate", module.number]) == 0  # nothing edited: generating again is harmless
    edited = module.source.read_text() + "\n# my notes\n"
    module.source.write_text(edited)
    assert main(["generate", module.number]) == 2
    printed = " ".join(capsys.readouterr().out.split())
    assert f"modules/{module.folder}/{module.file} has uncommitted edits" in printed and "--force" in printed
    assert module.source.read_text() == edited
    assert main(["generate", module.number, "--force"]) == 0
    assert module.source.read_text() == student_text(module.solution)


def test_the_student_release_has_no_instructor_command(course, tmp_path):
    out = tmp_path / "release"
    assert main(["release", course.assignment, "--out", str(out)]) == 0
    assert sorted(p.stem for p in (out / "tito" / "commands").glob("*.py")) == [
        "__init__", "demo", "export", "notebook", "status", "test"]
    env = {**os.environ, "PYTHONPATH": str(out)}
    for command in (["generate"], ["grade", "06", "modules", "--out", "graded"], ["validate", "06"], ["bench"]):
        done = subprocess.run([sys.executable, "-m", "tito", *command], cwd=out, env=env, capture_output=True,
                              text=True)
        assert done.returncode == 2 and "invalid choice" in done.stderr and "Traceback" not in done.stderr
    listed = subprocess.run([sys.executable, "-m", "tito", "--help"], cwd=out, env=env, capture_output=True,
                            text=True).stdout
    assert "test" in listed and "(instructor)" not in listed
