"""nbgrader's hidden-test step grades the notebook it executed as `tito grade` grades a file."""
import logging
from pathlib import Path

import nbformat
import pytest

from tito.grading.judge import load_autograder
from tito.grading.submissions import MAX_SOURCE_BYTES
from tito.nbgrader_hooks import grade_notebook

pytestmark = pytest.mark.grading

SAMPLES = Path(__file__).resolve().parents[1] / "autograder" / "06_optimizers" / "samples"


def test_the_outputs_of_the_executed_notebook_do_not_count_against_its_size(course, caplog):
    """A progress bar's worth of output (more than a source may hold) costs no point."""
    module = course.module("06")
    code = SAMPLES.joinpath("correct_percent.py").read_text().replace("# %%\n", "", 1)
    noise = nbformat.v4.new_output("stream", name="stdout", text="#" * (MAX_SOURCE_BYTES + 2 ** 20))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code, outputs=[noise])])
    caplog.set_level(logging.INFO)
    result = grade_notebook(notebook, module, load_autograder(module), "student")
    assert not result.problem and result.score == result.max_score > 0
    assert notebook.cells[0].outputs == [noise]  # nbgrader's own notebook keeps its outputs
    assert "Grading in " in caplog.text and "each job" in caplog.text  # the isolation in effect is told


def test_the_students_kernel_is_stopped_at_the_notebooks_deadline():
    import time

    from tito.nbgrader_hooks import Execute

    cells = ["print('first')", "import time\ntime.sleep(60)", "print('never')"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    started = time.monotonic()
    executed, _ = Execute(notebook_timeout=6).preprocess(notebook, {"metadata": {"path": "."}})
    assert time.monotonic() - started < 30
    assert executed.cells[0].outputs[0].text == "first\n" and executed.cells[2].outputs == []
