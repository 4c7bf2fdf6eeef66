"""What an autograder's scenarios.py may use beside numpy (see docs/authoring.md).

A scenario runs beside the student's code in the worker, and on the reference library's backend
in make_expected.py; like the scenarios, this module imports only numpy and the standard library.
It has what is not specific to a module: seeded inputs, plain copies of whatever the student's
code returns, the name of an exception raised, and a checkpoint written as JSON plus `.npz`
(never pickle) that keeps dict keys' types, tuples and numpy scalar types.
"""
from __future__ import annotations

import json
import os

import numpy as np


def make_inputs(seed: int, shapes: list, steps: int, scale=1.0, dtype="float64",
                constant=False, hold=1) -> dict:
    """Initial values and one gradient per step and parameter, from a seeded generator.

    `scale` is one number or one per parameter; `constant` repeats the first gradient.
    `has_grad[i][k]` is False where parameter i's grad is None at step k. With `hold`, each
    gradient is set once and left in p.grad for `hold` steps, as when one is reused.
    """
    rng = np.random.default_rng(seed)
    scales = scale if isinstance(scale, (list, tuple)) else [scale] * len(shapes)
    init = [rng.normal(size=shape).astype(dtype) for shape in shapes]
    grads = []
    for shape, s in zip(shapes, scales):
        drawn = rng.normal(size=(1 if constant else -(-steps // hold), *shape)) * s
        drawn = np.repeat(drawn, hold, axis=0)[:steps]
        grads.append(np.broadcast_to(drawn, (steps, *shape)).astype(dtype))
    return {"init": init, "grads": grads, "has_grad": [[True] * steps for _ in shapes],
            "hold": hold}


def only(inputs: dict, i: int) -> dict:
    """The inputs of parameter i alone."""
    return {**inputs, **{key: [inputs[key][i]] for key in ("init", "grads", "has_grad")}}


def each_alone(inputs: dict) -> list[dict]:
    """The inputs of every parameter, each alone: a test of an update rule where the step count
    is not its concept keeps one parameter per optimizer."""
    return [only(inputs, i) for i in range(len(inputs["init"]))]


def steps_of(inputs: dict) -> int:
    return len(inputs["has_grad"][0])


def grads_at(inputs: dict, k: int) -> list:
    return [g[k] if has[k] else None for g, has in zip(inputs["grads"], inputs["has_grad"])]


def plain(value):
    """A deep copy of `value` made only of data the grader accepts; other objects become their
    type's name, so that whatever the student's code returns can be reported."""
    if isinstance(value, np.ndarray):
        return value.copy() if value.dtype != object else f"<array of {value.dtype}>"
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k if isinstance(k, (int, str)) else str(k): plain(v) for k, v in value.items()}
    return f"<{type(value).__name__}>"


def error_name(call) -> str | None:
    """The name of the exception `call()` raises, or None when it raises nothing."""
    try:
        call()
    except Exception as error:  # which one is the observation
        return type(error).__name__
    return None


def needing(what: str, call):
    """call(), where a scenario relies on another part of the student's code: an exception
    there says which part, and that it is graded elsewhere."""
    try:
        return call()
    except Exception as error:  # re-raised, with what the test needed
        error.args = (f"{error} (this test needs {what})",)
        raise


def save_checkpoint(folder: str, obj) -> None:
    """Write `obj` (dicts, lists, tuples, numbers, strings, None, numpy arrays and scalars) to
    `folder`, keeping dict keys' types, tuples and numpy scalar types.

    Raises TypeError naming anything else, and where it is.
    """
    arrays = {}
    tree = _encode(obj, arrays, "checkpoint")
    with open(os.path.join(folder, "checkpoint.json"), "w", encoding="utf-8") as f:
        json.dump(tree, f)
    np.savez(os.path.join(folder, "arrays.npz"), **arrays)


def load_checkpoint(folder: str):
    with open(os.path.join(folder, "checkpoint.json"), encoding="utf-8") as f:
        tree = json.load(f)
    with np.load(os.path.join(folder, "arrays.npz"), allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    return _decode(tree, arrays)


def _encode(value, arrays: dict, where: str):
    if isinstance(value, (np.ndarray, np.generic)):
        if value.dtype == object:
            raise TypeError(f"{where} is an array of Python objects, which a checkpoint cannot hold")
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(value)
        return {"array" if isinstance(value, np.ndarray) else "scalar": key}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        items = [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]
        return {"tuple": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {"dict": [[_encode(k, arrays, f"a key of {where}"), _encode(v, arrays, f"{where}[{k!r}]")]
                         for k, v in value.items()]}
    raise TypeError(f"{where} is a {type(value).__name__}; a state_dict holds only numpy arrays, "
                    "numbers, bools, strings, None, lists, tuples and dicts")


def _decode(tree, arrays: dict):
    if isinstance(tree, list):
        return [_decode(v, arrays) for v in tree]
    if not isinstance(tree, dict):
        return tree
    (tag, content), = tree.items()
    if tag == "array":
        return arrays[content]
    if tag == "scalar":
        return arrays[content][()]
    if tag == "tuple":
        return tuple(_decode(v, arrays) for v in content)
    return {_decode(k, arrays): _decode(v, arrays) for k, v in content}
