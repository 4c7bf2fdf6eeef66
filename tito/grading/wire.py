"""What crosses from a worker to the grader: JSON plus an `.npz` archive, never pickle.

The worker runs a student's code, so its bytes are untrusted: decoding them must not run code,
and anything that is not plain data is refused.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

ARRAY_TAG = "__array__"
MAX_MESSAGE = 64 * 1024 * 1024


class WireError(ValueError):
    """The worker sent something that is not a well-formed message."""


def encode(message: dict) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    header = json.dumps(_to_json(message, arrays), allow_nan=True).encode()
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
        message = _from_json(header, arrays)
    except (ValueError, KeyError, TypeError, OSError) as error:
        raise WireError(str(error)) from None
    if not isinstance(message, dict):
        raise WireError("a message that is not a dict")
    return message


def _to_json(value, arrays):
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError("arrays of Python objects cannot be sent")
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {ARRAY_TAG: key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _to_json(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v, arrays) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{type(value).__name__} cannot be sent to the grader")


def _load_arrays(data: bytes) -> dict[str, np.ndarray]:
    if not data:
        return {}
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _from_json(value, arrays):
    if isinstance(value, dict):
        if set(value) == {ARRAY_TAG}:
            return arrays[value[ARRAY_TAG]]
        return {k: _from_json(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v, arrays) for v in value]
    return value


def frame(blob: bytes) -> bytes:
    """A message on a stream: its length, then the message."""
    return len(blob).to_bytes(8, "little") + blob


def save(stem: Path, value) -> None:
    """Data at rest in the same form: `stem.json` for the structure, `stem.npz` for the arrays."""
    arrays: dict[str, np.ndarray] = {}
    tree = _to_json(value, arrays)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(tree, indent=1) + "\n", encoding="utf-8")
    np.savez_compressed(stem.with_suffix(".npz"), **arrays)


def load(stem: Path):
    tree = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
    with np.load(stem.with_suffix(".npz"), allow_pickle=False) as archive:
        return _from_json(tree, {key: archive[key] for key in archive.files})
