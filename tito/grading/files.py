"""Loading an autograder's files by path: its folder (autograder/06_optimizers) is no package."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def load_file(path: Path, name: str | None = None) -> ModuleType:
    """The Python file at `path` as a module named `name` (by default, after its folder and stem)."""
    spec = importlib.util.spec_from_file_location(name or f"{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
