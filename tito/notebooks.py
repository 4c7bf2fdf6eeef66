"""The student's paired `.py` / `.ipynb`, kept in sync with jupytext, losing no work."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from tito.cells import read_notebook

PAIRING = "ipynb,py:percent"


def sync_notebook(source: Path) -> str:
    """Create the `.ipynb` beside `source`, or bring the older of the pair up to the newer.

    Whichever file is about to be rewritten is first copied to `.tito/backups/`, so even an
    edit made to both files since the last sync is never lost.
    """
    import jupytext.cli  # imported here: it costs a second

    notebook = source.with_suffix(".ipynb")
    if not source.is_file() and not notebook.is_file():
        from tito.course import CourseError
        raise CourseError(f"Neither {source} nor {notebook} exists.")
    if notebook.is_file():
        read_notebook(notebook)  # a clear error when the notebook is not valid JSON
        newer, older = (notebook, source) if _mtime(notebook) > _mtime(source) else (source, notebook)
        if older.is_file():
            backup(older)
        jupytext.cli.jupytext(["--quiet", "--set-formats", PAIRING, str(newer)])
        return f"updated {older.name} from {newer.name} (the previous {older.name} is in .tito/backups/)"
    jupytext.cli.jupytext(["--quiet", "--set-formats", PAIRING, str(source)])
    return f"created {notebook.name}; open it in Jupyter, and run `tito notebook` again after editing the .py"


def backup(path: Path) -> Path:
    folder = path.parent / ".tito" / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{path.name}"
    shutil.copy2(path, copy)
    return copy


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.is_file() else 0.0
