"""course.toml is the one list of modules; the folders on disk agree with it."""
import pytest

from tito.cells import read_cells
from tito.course import CourseError

pytestmark = pytest.mark.tito


def test_every_module_has_its_source_and_student_copy(course):
    for module in course.modules:
        assert module.solution.is_file(), module.solution
        assert module.source.is_file(), module.source
        assert module.folder.startswith(module.number + "_")


def test_no_module_folder_is_missing_from_the_registry(course):
    registered = {m.folder for m in course.modules}
    for parent in ("solutions", "modules"):
        on_disk = {p.name for p in (course.root / parent).iterdir() if p.is_dir()}
        assert on_disk == registered, parent


def test_default_exp_agrees_with_the_registry(course):
    for module in course.modules:
        directives = [d for cell in read_cells(module.solution) for d in cell.directives]
        assert f"default_exp {module.package_module}" in directives, module.folder


def test_assignment_is_a_registered_module(course):
    assert course.module(course.assignment).number == course.assignment


def test_unknown_module_is_a_clear_error(course):
    with pytest.raises(CourseError, match=r"Unknown module '99'.*01, 02"):
        course.module("99")
