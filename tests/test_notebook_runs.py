"""With the solution in place, the chapter runs top to bottom in a real Jupyter kernel."""
import jupytext
import nbclient
import pytest

from tito.nbgrader_course import EXPERIMENT_TAG

pytestmark = [pytest.mark.tito, pytest.mark.slow]


def test_solution_notebook_executes_in_a_kernel(course_copy, monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel draws inline, as for a student
    module = course_copy.module(course_copy.assignment)
    notebook = jupytext.read(module.solution)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(module.solution.parent)}}).execute()
    experiments = [c for c in notebook.cells if EXPERIMENT_TAG in c.metadata.get("tags", [])]
    assert experiments and all(c.execution_count for c in experiments), "a student's kernel runs the experiments"
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    images = [o for cell in notebook.cells for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 3, "the convergence, schedule and systems plots are drawn"
    texts = [str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
             for cell in notebook.cells for o in cell.get("outputs", [])]
    assert [t for t in texts if " at 0x" in t] == [], "an output is an object's raw repr"
