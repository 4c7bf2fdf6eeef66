"""Save and resume training: a model's parameters, its optimizer's state and its scheduler's.

A checkpoint is one file of `tinytorch.plaindata.save`: an `.npz` of the arrays with the rest of
the data as JSON in one entry, read with `allow_pickle=False` (opening it never runs code) and
written atomically (a crash in the middle of a save leaves the previous checkpoint as it was).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tinytorch import plaindata

FORMAT = "tinytorch-checkpoint-2"


class CheckpointError(ValueError):
    """A file that is not a checkpoint of this model; the message says what does not fit."""


def save_checkpoint(path, model, optimizer, scheduler=None, **meta) -> Path:
    """Write `model`'s parameters, `optimizer`'s and `scheduler`'s state and `meta` (plain data,
    e.g. epoch=3) to `path`, atomically."""
    return plaindata.save(path, {
        "format": FORMAT,
        "parameters": [p.data for p in model.parameters()],
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "meta": meta,
    })


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
        checkpoint = plaindata.load(path)
    except ValueError as error:
        raise CheckpointError(str(error)) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a tinytorch checkpoint (no {FORMAT!r} marker).")
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
