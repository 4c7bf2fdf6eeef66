"""modules/ and tinytorch/ are generated from solutions/, never edited, and never leak answers."""
import re

import pytest

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
