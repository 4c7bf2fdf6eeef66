"""Save and resume training: a model's parameters, its optimizer's state and its scheduler's.

A checkpoint is one `.npz` file: the arrays, plus the rest of the data as JSON in one entry. It is
read with `allow_pickle=False`, so opening a checkpoint never runs code, and it is written to a
temporary file that then replaces the old one, so a crash in the middle of a save leaves the
previous checkpoint as it was.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from tinytorch.plaindata import flatten, restore

FORMAT = "tinytorch-checkpoint-1"
JSON_ENTRY = "__checkpoint_json__"


class CheckpointError(ValueError):
    """A file that is not a checkpoint of this model; the message says what does not fit."""


def save_checkpoint(path, model, optimizer, scheduler=None, **meta) -> Path:
    """Write `model`'s parameters, `optimizer`'s and `scheduler`'s state and `meta` (plain data,
    e.g. epoch=3) to `path`, atomically."""
    path = Path(path)
    tree, arrays = flatten({
        "format": FORMAT,
        "parameters": [p.data for p in model.parameters()],
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "meta": meta,
    })
    arrays[JSON_ENTRY] = np.frombuffer(json.dumps(tree).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        try:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            os.unlink(f.name)
            raise
    os.replace(f.name, path)
    return path


def load_checkpoint(path, model, optimizer=None, scheduler=None) -> dict:
    """Restore what `save_checkpoint` wrote into `model` (and `optimizer`, `scheduler` if given);
    return the `meta` data. On any mismatch nothing is changed and CheckpointError says why."""
    checkpoint = read_checkpoint(path)
    parameters = list(model.parameters())
    saved = checkpoint["parameters"]
    if len(saved) != len(parameters):
        raise CheckpointError(f"{path} holds {len(saved)} parameters, the model has {len(parameters)}.")
    for i, (p, data) in enumerate(zip(parameters, saved)):
        if not isinstance(data, np.ndarray) or data.shape != p.data.shape:
            raise CheckpointError(f"{path}: parameter {i} has shape {getattr(data, 'shape', None)}, "
                                  f"the model's has {p.data.shape}.")
    _load_states(path, checkpoint, optimizer, scheduler)
    for p, data in zip(parameters, saved):
        p.data = data.astype(p.data.dtype, copy=True)
    return checkpoint["meta"]


def read_checkpoint(path) -> dict:
    """The checkpoint's content as plain data, without running anything in the file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        tree = json.loads(arrays.pop(JSON_ENTRY).tobytes())
    except FileNotFoundError:
        raise
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise CheckpointError(f"{path} holds pickled objects; it was refused and nothing in it ran.") from None
        raise CheckpointError(f"{path} is not a tinytorch checkpoint ({error}).") from None
    except (KeyError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is truncated or not a tinytorch checkpoint "
                              f"({type(error).__name__}).") from None
    checkpoint = restore(tree, arrays)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a tinytorch checkpoint (no {FORMAT!r} marker).")
    optimizer = checkpoint["optimizer"]  # JSON made its parameter indices strings
    optimizer["state"] = {int(i): buffers for i, buffers in optimizer["state"].items()}
    return checkpoint


def _load_states(path, checkpoint, optimizer, scheduler) -> None:
    """Load the optimizer's, then the scheduler's state; if the second fails, undo the first."""
    if scheduler is not None and checkpoint["scheduler"] is None:
        raise CheckpointError(f"{path} holds no scheduler state.")
    before = optimizer.state_dict() if optimizer is not None else None
    try:
        if optimizer is not None:
            optimizer.load_state_dict(checkpoint["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(checkpoint["scheduler"])
    except (ValueError, KeyError, TypeError) as error:
        if optimizer is not None:
            optimizer.load_state_dict(before)
        raise CheckpointError(f"{path} does not fit this optimizer or scheduler: {error}") from None
