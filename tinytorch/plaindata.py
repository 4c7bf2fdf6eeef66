"""Plain data (numbers, strings, None, lists, dicts and numpy arrays) as JSON plus arrays.

The form in which grading results cross processes and checkpoints reach disk: the arrays go to an
`.npz` archive, read back with `allow_pickle=False`, and everything else to JSON, so reading it
never runs code.
"""
from __future__ import annotations

import numpy as np

ARRAY_TAG = "__array__"


def flatten(value) -> tuple[object, dict[str, np.ndarray]]:
    """`value` as a JSON-ready tree whose arrays are replaced by references, and the arrays."""
    arrays: dict[str, np.ndarray] = {}
    return _to_tree(value, arrays), arrays


def restore(tree, arrays: dict[str, np.ndarray]):
    """The inverse of `flatten` (tuples come back as lists)."""
    if isinstance(tree, dict):
        if set(tree) == {ARRAY_TAG}:
            return arrays[tree[ARRAY_TAG]]
        return {k: restore(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [restore(v, arrays) for v in tree]
    return tree


def _to_tree(value, arrays):
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError("arrays of Python objects are not plain data")
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {ARRAY_TAG: key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _to_tree(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_tree(v, arrays) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{type(value).__name__} is not plain data")
