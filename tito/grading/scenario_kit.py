"""What an autograder's scenarios.py may use beside numpy (see docs/authoring.md).

A scenario runs beside the student's code in the worker, and on the reference library's backend
in make_expected.py; like the scenarios, this module imports only numpy, the standard library and
`tinytorch.plaindata` (which imports only those two).
It has what is not specific to a module: seeded inputs, plain copies of whatever the student's
code returns, the name of an exception raised, and `save` / `load`, the one file format of
`tinytorch.plaindata` (JSON in an `.npz`, never pickle) that keeps dict keys' types, tuples and
numpy scalar types, for the scenarios that write a checkpoint to disk.
"""
from __future__ import annotations

import numpy as np

from tinytorch.plaindata import load, save  # noqa: F401  for the scenarios


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


_DTYPE_TEXT: dict[np.dtype, str] = {}


def dtype_text(array: np.ndarray) -> str:
    """`str(array.dtype)`, remembered per dtype: numpy takes microseconds to make it, and a
    scenario names the dtype of thousands of arrays."""
    text = _DTYPE_TEXT.get(array.dtype)
    if text is None:
        text = _DTYPE_TEXT[array.dtype] = str(array.dtype)
    return text


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
