"""Generate the student's copy of a module from the instructor's source.

nbgrader's `ClearSolutions` replaces each `### BEGIN SOLUTION` ... `### END SOLUTION` region with a
stub; `TodoMessages` then puts the region's `# TODO:` sentence into the stub's exception, so a
student who calls an unfinished function reads what to implement.
"""
from __future__ import annotations

import re
from pathlib import Path

from tito.course import Module
from tito.exporter import write_atomically
from tito.notebooks import PAIRING

STUB = 'raise NotImplementedError("{todo}")'
TODO = re.compile(r"^\s*# TODO:\s*(?P<todo>.+?)\s*$")


def student_text(solution: Path) -> str:
    """The student's version of a solution source, in the same jupytext percent format."""
    import jupytext  # imported here: it costs a second, and only instructors generate stubs
    from nbgrader.preprocessors import ClearSolutions

    notebook = jupytext.read(solution)
    notebook, _ = ClearSolutions(code_stub={"python": STUB}).preprocess(notebook, {})
    notebook.metadata.setdefault("jupytext", {})["formats"] = PAIRING
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = fill_todo_messages(cell.source, solution)
    return jupytext.writes(notebook, fmt="py:percent")


def fill_todo_messages(source: str, solution: Path) -> str:
    """Replace each stub's `{todo}` with the `# TODO:` sentence on the line above it."""
    lines = source.split("\n")
    for i, line in enumerate(lines):
        if "{todo}" not in line:
            continue
        todo = TODO.match(lines[i - 1]) if i else None
        if not todo:
            raise ValueError(
                f"{solution}: every ### BEGIN SOLUTION needs a `# TODO: ...` line right above it "
                f"(missing above: {lines[i - 1].strip() if i else 'the start of the cell'!r}).")
        lines[i] = line.replace("{todo}", todo["todo"].replace("\\", "\\\\").replace('"', '\\"'))
    return "\n".join(lines)


def generate(module: Module) -> Path:
    """Write `modules/NN_name/name.py` from `solutions/NN_name/name.py`."""
    write_atomically(module.source, student_text(module.solution))
    return module.source
