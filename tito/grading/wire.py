"""What crosses from a worker to the grader: JSON plus an `.npz` archive, never pickle.

The worker runs a student's code, so its bytes are untrusted: decoding them must not run code,
and anything that is not plain data is refused.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from tinytorch.plaindata import flatten, restore

MAX_MESSAGE = 64 * 1024 * 1024


class WireError(ValueError):
    """The worker sent something that is not a well-formed message."""


def encode(message: dict) -> bytes:
    tree, arrays = flatten(message)
    header = json.dumps(tree, allow_nan=True).encode()
    archive = io.BytesIO()
    if arrays:
        np.savez(archive, **arrays)
    return len(header).to_bytes(8, "little") + header + archive.getvalue()


def decode(blob: bytes) -> dict:
    if len(blob) < 8 or len(blob) > MAX_MESSAGE:
        raise WireError(f"a message of {len(blob)} bytes")
    size = int.from_bytes(blob[:8], "little")
    try:
        header = json.loads(blob[8:8 + size])
        arrays = _load_arrays(blob[8 + size:])
        message = restore(header, arrays)
    except (ValueError, KeyError, TypeError, OSError, RecursionError) as error:
        raise WireError(str(error)) from None
    if not isinstance(message, dict):
        raise WireError("a message that is not a dict")
    return message


def _load_arrays(data: bytes) -> dict[str, np.ndarray]:
    if not data:
        return {}
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def frame(blob: bytes) -> bytes:
    """A message on a stream: its length, then the message."""
    return len(blob).to_bytes(8, "little") + blob


def save(stem: Path, value) -> None:
    """Data at rest in the same form: `stem.json` for the structure, `stem.npz` for the arrays."""
    tree, arrays = flatten(value)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(tree, indent=1) + "\n", encoding="utf-8")
    np.savez_compressed(stem.with_suffix(".npz"), **arrays)


def load(stem: Path):
    tree = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
    with np.load(stem.with_suffix(".npz"), allow_pickle=False) as archive:
        return restore(tree, {key: archive[key] for key in archive.files})
