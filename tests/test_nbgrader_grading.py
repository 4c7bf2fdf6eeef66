"""nbgrader's hidden-test step grades the notebook it executed as `tito grade` grades a file."""
from pathlib import Path

import nbformat
import pytest

from tito.grading.judge import load_autograder
from tito.grading.submissions import MAX_SOURCE_BYTES
from tito.nbgrader_hooks import grade_notebook

pytestmark = pytest.mark.grading

SAMPLES = Path(__file__).resolve().parents[1] / "autograder" / "06_optimizers" / "samples"


def test_the_outputs_of_the_executed_notebook_do_not_count_against_its_size(course):
    """A progress bar's worth of output (more than a source may hold) costs no point."""
    module = course.module("06")
    code = SAMPLES.joinpath("correct_percent.py").read_text().replace("# %%\n", "", 1)
    noise = nbformat.v4.new_output("stream", name="stdout", text="#" * (MAX_SOURCE_BYTES + 2 ** 20))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code, outputs=[noise])])
    result = grade_notebook(notebook, module, load_autograder(module), "student")
    assert not result.problem and result.score == result.max_score > 0
    assert notebook.cells[0].outputs == [noise]  # nbgrader's own notebook keeps its outputs
