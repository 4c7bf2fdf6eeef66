"""Finding submissions in a folder, in every layout the spec allows."""
import pytest

from tito.course import CourseError
from tito.grading.session import to_grade
from tito.grading.submissions import Submission, find_submissions

pytestmark = pytest.mark.grading


def test_files_folders_and_nbgrader_layout(course, tmp_path):
    module = course.module(course.assignment)
    (tmp_path / "ada.py").write_text("x = 1")
    (tmp_path / "bob.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("not a submission")
    (tmp_path / "cy" / "06_optimizers").mkdir(parents=True)
    (tmp_path / "cy" / "06_optimizers" / "optimizers.ipynb").write_text("{}")
    (tmp_path / "cy" / "06_optimizers" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "cy" / "06_optimizers" / ".ipynb_checkpoints" / "optimizers-checkpoint.ipynb").write_text("{}")
    (tmp_path / "dee").mkdir()
    (tmp_path / ".hidden.py").write_text("")
    found = {s.student: s for s in find_submissions(tmp_path, module)}
    assert set(found) == {"ada", "bob", "cy", "dee"}
    assert found["cy"].source.name == "optimizers.ipynb"
    assert found["dee"].source is None and "no .py or .ipynb" in found["dee"].problem


def test_no_submissions_is_a_clear_error(course, tmp_path):
    with pytest.raises(CourseError, match="holds no submissions"):
        find_submissions(tmp_path, course.module(course.assignment))


def test_duplicate_ids_and_old_results_are_refused(tmp_path):
    twins = [Submission("ada", tmp_path / "ada.py"), Submission("ada", tmp_path / "ada" / "x.py")]
    with pytest.raises(CourseError, match="share a student id: ada"):
        to_grade(twins, tmp_path / "out", resume=False)
    (tmp_path / "out" / "bob").mkdir(parents=True)
    (tmp_path / "out" / "bob" / "results.json").write_text("{}")
    pending = [Submission("bob", tmp_path / "bob.py"), Submission("cy", tmp_path / "cy.py")]
    with pytest.raises(CourseError, match="--resume"):
        to_grade(pending, tmp_path / "out", resume=False)
    assert [s.student for s in to_grade(pending, tmp_path / "out", resume=True)] == ["cy"]
