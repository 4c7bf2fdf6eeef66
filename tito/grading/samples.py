"""Sample submissions made from a module's solution and stub, so that none is kept by hand.

    partly_done(solution, stub, ["adam"])  # the solution, with the stub's answer cell "adam"
    exported_only(text)                    # its #| export cells alone, and a demo cell after them
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from tito.exporter import export_cells

MARKER = re.compile(r"^# %%.*$", re.MULTILINE)
GRADE_ID = re.compile(r'"grade_id": "(?P<id>[^"]+)"')
DEMO = ('# %%\n# A demo, not exported, so never graded.\n'
        'print("a demo of my optimizers")\n')


def chunks(text: str) -> list[str]:
    """A percent-format text cut before every cell marker (the first chunk is the header)."""
    starts = [0, *(m.start() for m in MARKER.finditer(text)), len(text)]
    return [text[a:b] for a, b in zip(starts, starts[1:]) if b > a]


def grade_id(chunk: str) -> str | None:
    found = GRADE_ID.search(chunk.split("\n", 1)[0])
    return found["id"] if found else None


def partly_done(solution: Path, stub: Path, left_undone: list[str]) -> str:
    """The solution with the answer cells `left_undone` (grade ids) as the stub has them."""
    from_stub = {grade_id(c): c for c in chunks(stub.read_text(encoding="utf-8"))}
    missing = [name for name in left_undone if name not in from_stub]
    if missing:
        raise ValueError(f"the stub has no cell {', '.join(missing)}")
    return "".join(from_stub[grade_id(c)] if grade_id(c) in left_undone else c
                   for c in chunks(solution.read_text(encoding="utf-8")))


def exported_only(text: str) -> str:
    """A plain percent file of the #| export cells of a module's `text`, and a demo cell after them."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "module.py"
        path.write_text(text, encoding="utf-8")
        cells = "".join(f"# %%\n{cell.source.rstrip()}\n\n" for cell in export_cells(path))
    return cells + DEMO
