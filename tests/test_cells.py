"""tito reads cells without jupytext (for speed); it must read exactly what jupytext reads."""
import json

import jupytext
import pytest

from tito.cells import read_cells, read_notebook
from tito.course import CourseError

pytestmark = pytest.mark.tito


# Layout hints jupytext keeps in a cell's metadata to reproduce the file's blank lines exactly.
JUPYTEXT_LAYOUT = {"lines_to_next_cell", "lines_to_end_of_cell_marker"}


def without_layout(metadata):
    return {k: v for k, v in metadata.items() if k not in JUPYTEXT_LAYOUT}


def sources(course):
    return [path for m in course.modules for path in (m.solution, m.source)]


def test_reader_agrees_with_jupytext_on_every_source(course):
    for path in sources(course):
        expected = jupytext.read(path).cells
        cells = read_cells(path)
        assert [c.kind for c in cells] == [c.cell_type for c in expected], path
        for ours, theirs in zip(cells, expected):
            assert ours.source == theirs.source, f"{path}:{ours.first_line}"
            assert ours.metadata == without_layout(theirs.metadata), f"{path}:{ours.first_line}"


def test_reader_agrees_with_jupytext_on_a_notebook(course, tmp_path):
    module = course.module(course.assignment)
    notebook = tmp_path / "nb.ipynb"
    jupytext.write(jupytext.read(module.source), notebook)
    def cells(path):
        return [(c.kind, c.source, without_layout(c.metadata)) for c in read_cells(path)]

    assert cells(notebook) == cells(module.source)


def test_line_numbers_point_into_the_file(course):
    module = course.module(course.assignment)
    lines = module.solution.read_text().splitlines()
    for cell in read_cells(module.solution):
        if cell.source:
            first = cell.source.splitlines()[0]
            assert lines[cell.first_line - 1].endswith(first.strip()), cell.first_line


def test_a_notebook_that_is_not_json_is_a_clear_error(tmp_path):
    broken = tmp_path / "optimizers.ipynb"
    broken.write_text('{"cells": [')
    with pytest.raises(CourseError, match=r"optimizers.ipynb is not a valid notebook: line 1"):
        read_notebook(broken)


def test_a_deeply_nested_notebook_is_a_clear_error(tmp_path):
    deep = tmp_path / "optimizers.ipynb"
    deep.write_text('{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(CourseError, match="nested too deeply"):
        read_notebook(deep)


def test_json_that_is_not_a_notebook_is_a_clear_error(tmp_path):
    odd = tmp_path / "odd.ipynb"
    odd.write_text(json.dumps([1, 2]))
    with pytest.raises(CourseError, match="not a notebook"):
        read_notebook(odd)


def test_unreadable_cell_metadata_names_the_line(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("# %%\nx = 1\n\n# %% nbgrader={oops\ny = 2\n")
    with pytest.raises(CourseError, match=r"m.py:4"):
        read_cells(source)


def test_a_source_of_too_many_cells_is_refused(tmp_path):
    from tito.cells import MAX_CELLS, parse_cells

    with pytest.raises(CourseError, match="more than"):
        parse_cells("# %%\nx = 1\n" * (MAX_CELLS + 1), tmp_path / "m.py")
    with pytest.raises(CourseError, match="more than"):
        parse_cells(json.dumps({"cells": [{}] * (MAX_CELLS + 1)}), tmp_path / "m.ipynb")
    assert len(parse_cells("# %%\nx = 1\n" * 3, tmp_path / "m.py")) == 3


@pytest.mark.parametrize("text", ['{"cells": [1]}', '{"cells": "x"}', "[]", '{"cells": [{"source": 7}]}',
                                  '{"cells": [{"source": "x", "metadata": []}]}', '{"cells": [{"cell_type": 3}]}'])
def test_json_that_is_not_a_notebook_is_a_clear_error(tmp_path, text):
    from tito.cells import parse_cells

    with pytest.raises(CourseError, match="JSON but not a notebook"):
        parse_cells(text, tmp_path / "m.ipynb")


def test_an_nbformat_3_notebook_is_upgraded(course, tmp_path):
    import jupytext
    import nbformat

    from tito.cells import parse_cells, read_cells

    module = course.module(course.assignment)
    old = nbformat.writes(nbformat.convert(jupytext.read(module.solution), 3), version=3)
    upgraded = [(c.kind, c.source.strip()) for c in parse_cells(old, tmp_path / "m.ipynb") if c.source.strip()]
    assert upgraded == [(c.kind, c.source.strip()) for c in read_cells(module.solution) if c.source.strip()]
