"""Finding submissions in a folder, in every layout the spec allows, reading only their own
files, and naming their output folders."""
import json
import os

import pytest

from tito.course import CourseError
from tito.grading.reports import RECORD, write_submission
from tito.grading.judge import SubmissionResult
from tito.grading.session import folder_names, plan
from tito.grading.submissions import MAX_SOURCE_BYTES, Submission, find_submissions, read_source

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


def test_links_out_of_a_submission_are_refused(course, tmp_path):
    module = course.module(course.assignment)
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ln.py").symlink_to(module.solution)
    (subs / "dir" / "06_optimizers").mkdir(parents=True)
    (subs / "dir" / "06_optimizers" / "optimizers.py").symlink_to(module.solution)
    (subs / "whole").symlink_to(module.solution.parent, target_is_directory=True)
    (subs / "inner").mkdir()
    (subs / "inner" / "06_optimizers").symlink_to(module.solution.parent, target_is_directory=True)
    os.mkfifo(subs / "fifo.py")
    found = {s.student: s for s in find_submissions(subs, module)}
    assert set(found) == {"ln", "dir", "whole", "inner", "fifo"}
    for student in ("ln", "dir", "whole", "inner"):
        assert found[student].source is None and "symbolic link" in found[student].problem, student
    assert found["fifo"].source is None and "not a regular file" in found["fifo"].problem


def test_read_source_never_follows_a_link(course, tmp_path):
    module = course.module(course.assignment)
    (tmp_path / "ada" / "06").mkdir(parents=True)
    (tmp_path / "ada" / "06" / "optimizers.py").symlink_to(module.solution)
    with pytest.raises(CourseError, match="symbolic link"):
        read_source(Submission("ada", tmp_path / "ada" / "06" / "optimizers.py", root=tmp_path / "ada"))
    (tmp_path / "bob").symlink_to(module.solution.parent, target_is_directory=True)
    with pytest.raises(CourseError, match="symbolic link"):
        read_source(Submission("bob", tmp_path / "bob" / "optimizers.py", root=tmp_path / "bob"))
    real = tmp_path / "cy.py"
    real.write_text("x = 1\n")
    assert read_source(Submission("cy", real, root=real)) == "x = 1\n"


def test_a_huge_source_is_refused_before_it_is_read(tmp_path):
    huge = tmp_path / "huge.py"
    with open(huge, "wb") as f:
        f.truncate(2 ** 30)  # 1 GiB, sparse: refused from its size, never read
    with pytest.raises(CourseError, match=f"at most {MAX_SOURCE_BYTES // 2 ** 20} MB"):
        read_source(Submission("huge", huge, root=huge))


@pytest.mark.parametrize("student", ["grades.csv", "report.html", ".tito-grade", "..", ".", "-rf", "=1+1",
                                     "a b", "Zoë", "x/y", "a\nb", "ada-0123456789abcdef", "", "-"])
def test_unsafe_student_ids_get_safe_folders(student):
    name = folder_names([Submission(student, None, entry=student)])[Submission(student, None, entry=student)]
    assert name not in ("grades.csv", "report.html", RECORD, ".", "..", "")
    assert name[0].isalnum() and all(c.isalnum() and c.isascii() or c in "._-" for c in name)
    assert name != student  # each of these ids needs a safe form of its own


def test_folder_names_never_collide():
    ids = ["ada", "Ada", "a b", "a_b", "a\tb", "grades.csv", "grades_csv", "..", "_", "Zoë", "Zoe", "x" * 200,
           "x" * 201]
    submissions = [Submission(s, None, entry=s) for s in ids] + [Submission("ada", None, entry="ada.ipynb")]
    names = folder_names(submissions)
    assert len({n.casefold() for n in names.values()}) == len(submissions)
    assert names[Submission("a_b", None, entry="a_b")] == "a_b"  # a plain id keeps its name


def test_two_submissions_of_one_student_are_both_reported(tmp_path):
    twins = [Submission("ada", tmp_path / "ada.py", entry="ada.py"),
             Submission("ada", tmp_path / "ada" / "x.py", entry="ada"),
             Submission("bob", tmp_path / "bob.py", entry="bob.py")]
    work = plan(twins, tmp_path / "out", resume=False)
    assert set(work.problems) == set(twins[:2]) and all("ada.py, ada" in p for p in work.problems.values())
    assert len(set(work.folders.values())) == 3 and work.pending == twins


def result_of(student):
    return SubmissionResult(student, f"{student}.py", [])


def test_resume_trusts_only_the_results_this_grader_wrote(tmp_path):
    out = tmp_path / "out"
    manifest = {}
    write_submission(out, "bob", result_of("bob"), manifest)
    write_submission(out, "dee", result_of("dee"), manifest)
    (out / "cy").mkdir()
    (out / "cy" / "results.json").write_text(json.dumps({"score": 100}))  # forged: not in the record
    forged = json.loads((out / "dee" / "results.json").read_text())
    forged["score"] = 100
    (out / "dee" / "results.json").write_text(json.dumps(forged))  # edited after the grader wrote it
    pending = [Submission(s, tmp_path / f"{s}.py", entry=f"{s}.py") for s in ("bob", "cy", "dee")]
    with pytest.raises(CourseError, match="--resume"):
        plan(pending, out, resume=False)
    assert [s.student for s in plan(pending, out, resume=True).pending] == ["cy", "dee"]
    (out / RECORD / "manifest.json").write_text("not json")
    assert [s.student for s in plan(pending, out, resume=True).pending] == ["bob", "cy", "dee"]


def test_gradescopes_private_copy_keeps_which_of_several_notebooks_is_newest(course, tmp_path):
    from tito.grading.gradescope import private_copy
    from tito.grading.submissions import submission_at

    module = course.module(course.assignment)
    for age, folder in enumerate(("newest", "older")):  # the older one is copied last
        (tmp_path / "submission" / folder).mkdir(parents=True)
        path = tmp_path / "submission" / folder / "optimizers.ipynb"
        path.write_text("{}")
        os.utime(path, (1_700_000_000 - age * 1000, 1_700_000_000 - age * 1000))
    copy = private_copy(tmp_path / "submission", tmp_path / "copy" / "submission")
    assert submission_at(copy, module).source.parent.name == "newest"
    assert (copy / "older" / "optimizers.ipynb").stat().st_mtime == 1_700_000_000 - 1000
