"""Read a module's cells from its jupytext percent `.py` or its `.ipynb`.

`tito test` must answer in well under a second, and importing jupytext or nbformat alone costs
about a second, so this reads both formats directly (json for the notebook, a few lines of
parsing for the percent format). The test suite checks that it agrees with jupytext on every
source in the course. Only a notebook older than format 4 is handed to nbformat, to be upgraded.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from tito.course import CourseError

MAX_CELLS = 10_000  # the course's notebooks hold about a hundred; more is no notebook a person wrote
CELL_MARKER = re.compile(r"^# %%(?P<rest>.*)$")
METADATA_KEY = re.compile(r"\s*(?P<key>[A-Za-z_][\w.-]*)=")


@dataclass
class Cell:
    kind: str  # "code" or "markdown"
    source: str
    metadata: dict = field(default_factory=dict)
    path: Path = Path()
    first_line: int = 1  # of the source in a `.py`; 1 in a notebook cell
    index: int = 0  # position among the file's cells, counting from 1

    @property
    def directives(self) -> list[str]:
        """The `#| ...` lines, without their prefix."""
        return [line[2:].strip() for line in self.source.splitlines() if line.startswith("#|")]

    @property
    def is_export(self) -> bool:
        return self.kind == "code" and "export" in self.directives

    @property
    def nbgrader(self) -> dict:
        value = self.metadata.get("nbgrader")
        return value if isinstance(value, dict) else {}

    @property
    def is_graded(self) -> bool:
        return self.kind == "code" and bool(self.nbgrader.get("grade"))

    @property
    def location(self) -> str:
        if self.path.suffix == ".ipynb":
            return f"{self.path} (cell {self.index})"
        return f"{self.path}:{self.first_line}"

    def compile(self):
        """Compile the cell so that tracebacks and syntax errors point into the source file."""
        if self.path.suffix == ".ipynb":
            return compile(self.source, self.location, "exec")
        return compile("\n" * (self.first_line - 1) + self.source, str(self.path), "exec")


def read_cells(path: Path) -> list[Cell]:
    if not path.is_file():
        raise CourseError(f"{path} does not exist.")
    return parse_cells(path.read_text(encoding="utf-8"), path)


def parse_cells(text: str, path: Path) -> list[Cell]:
    """The cells of `text`, the content of the file `path` (its suffix says the format)."""
    return parse_notebook(text, path) if path.suffix == ".ipynb" else parse_percent(text, path)


def read_notebook(path: Path) -> list[Cell]:
    return parse_notebook(path.read_text(encoding="utf-8"), path)


def parse_notebook(text: str, path: Path) -> list[Cell]:
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as e:
        raise CourseError(
            f"{path} is not a valid notebook: line {e.lineno}, column {e.colno}: {e.msg}. "
            "Repair it, or delete it to work from the .py (`tito notebook` recreates it)."
        ) from None
    except RecursionError:
        raise CourseError(f"{path} is not a valid notebook: its JSON is nested too deeply. Repair it, or "
                          "delete it to work from the .py (`tito notebook` recreates it).") from None
    if isinstance(notebook, dict) and isinstance(notebook.get("nbformat"), int) and notebook["nbformat"] < 4:
        notebook = _upgraded(text, path)
    raw_cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(raw_cells, list):
        raise CourseError(f"{path} is JSON but not a notebook: it has no list of cells.")
    _check_count(len(raw_cells), path)
    return [_notebook_cell(raw, path, index) for index, raw in enumerate(raw_cells, start=1)]


def _upgraded(text: str, path: Path) -> dict:
    """A notebook of format 3 or older, upgraded to format 4 by nbformat's own converter."""
    import nbformat  # imported here: it costs a second, and only old notebooks need it

    try:
        return nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat's converter raises many kinds on a malformed notebook
        raise CourseError(f"{path} is an old notebook (format 3) that nbformat cannot upgrade: "
                          f"{type(error).__name__}: {str(error)[:200]}") from None


def _notebook_cell(raw, path: Path, index: int) -> Cell:
    def broken(what: str) -> CourseError:
        return CourseError(f"{path} is JSON but not a notebook: cell {index} {what}.")

    if not isinstance(raw, dict):
        raise broken("is not an object")
    source = raw.get("source", "")
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        source = "".join(source)
    if not isinstance(source, str):
        raise broken("has a source that is not text")
    kind = raw.get("cell_type", "code")
    if not isinstance(kind, str):
        raise broken("has a cell_type that is not text")
    metadata = raw.get("metadata", {})
    if not isinstance(metadata, dict):
        raise broken("has metadata that is not an object")
    return Cell(kind, source, metadata, path, 1, index)


def parse_percent(text: str, path: Path) -> list[Cell]:
    lines = text.splitlines()
    cells: list[Cell] = []
    start = _skip_header(lines)
    current: tuple[str, dict, int] = ("code", {}, start + 1)  # text before any `# %%` is a cell too
    body: list[str] = []
    marked = False  # whether the current cell began with a `# %%` line
    for number, line in enumerate(lines[start:], start=start + 1):
        marker = CELL_MARKER.match(line)
        if marker:
            if marked or any(line.strip() for line in body):
                cells.append(_make_cell(path, current, body, len(cells) + 1))
                _check_count(len(cells), path)
            current, body = (*_parse_marker(marker["rest"], path, number), number + 1), []
            marked = True
        else:
            body.append(line)
    if marked or any(line.strip() for line in body):
        cells.append(_make_cell(path, current, body, len(cells) + 1))
    _check_count(len(cells), path)
    return cells


def _check_count(cells: int, path: Path) -> None:
    if cells > MAX_CELLS:
        raise CourseError(f"{path} holds more than {MAX_CELLS} cells, more than a notebook can be graded with.")


def _skip_header(lines: list[str]) -> int:
    """Index of the first line after jupytext's `# ---` YAML header (0 when there is none)."""
    if lines and lines[0] == "# ---":
        for i, line in enumerate(lines[1:], start=1):
            if line == "# ---":
                return i + 1
    return 0


def _parse_marker(rest: str, path: Path, number: int) -> tuple[str, dict]:
    kind = "code"
    rest = rest.strip()
    if rest.startswith("[markdown]"):
        kind, rest = "markdown", rest[len("[markdown]"):]
    metadata, position, decoder = {}, 0, json.JSONDecoder()
    while rest[position:].strip():
        key = METADATA_KEY.match(rest, position)
        try:
            metadata[key["key"]], position = decoder.raw_decode(rest, key.end())
        except (TypeError, json.JSONDecodeError):
            raise CourseError(f"{path}:{number}: cannot read the metadata on this `# %%` line.") from None
    return kind, metadata


def _make_cell(path: Path, current: tuple[str, dict, int], body: list[str], index: int) -> Cell:
    kind, metadata, first_line = current
    while body and not body[-1].strip():
        body.pop()
    if kind == "markdown":
        body = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in body]
    return Cell(kind, "\n".join(body), metadata, path, first_line, index)
