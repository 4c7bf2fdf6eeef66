"""Reading what a worker observed, for an autograder's checks (see docs/grading.md).

Observations come from untrusted code in any JSON-like shape. A check reads them through these
helpers, which turn a missing key, a wrong type or a wrong shape into a `Mismatch` whose message
the student reads; `graded` turns such a check into a `GradedTest` that never raises.
"""
from __future__ import annotations

import numpy as np

from tito.grading.contract import GradedTest

RTOL_NUMBER = 1e-12  # same_value's default: a number computed another way, as in a closed form


class Mismatch(Exception):
    """What differed, in the student's terms; the check returns it as its message."""


def graded(name: str, concept: str, points: float, compare) -> GradedTest:
    """A test of the scenario `name`: `compare(observed, expected)` raises Mismatch on failure.

    The message is what differed; it does not repeat the concept, which every report shows
    beside it (feedback.md's heading, results.json's name).
    """

    def check(observed, expected):
        try:
            compare(observed, expected)
        except Mismatch as failure:
            return str(failure)
        except Exception as error:  # the edge between the grader and untrusted data
            return (f"what your code produced has an unexpected form "
                    f"({type(error).__name__}: {str(error)[:200]}).")
        return None

    return GradedTest(name, concept, points, name, check)


def item(data, key, what: str):
    """data[key]: a dict's key (the wire makes every key a string) or a list's index."""
    if isinstance(data, dict) and str(key) in data:
        return data[str(key)]
    if isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
        return data[key]
    raise Mismatch(f"{what} is missing.")


def listed(data, length: int, what: str) -> list:
    if not isinstance(data, list) or len(data) != length:
        raise Mismatch(f"{what} should be a list of {length}, not {describe(data)}.")
    return data


def array(value, shape, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        raise Mismatch(f"{what} is {describe(value)}, not an array of numbers.")
    if value.shape != tuple(shape):
        raise Mismatch(f"{what} has shape {value.shape}, expected {tuple(shape)}.")
    return value.astype(np.float64)


def describe(value) -> str:
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, str):
        return repr(value[:80])
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} ({value.dtype})"
    if isinstance(value, list):
        short = len(value) <= 4 and all(v is None or isinstance(v, (bool, int, float, str)) for v in value)
        return repr(value) if short else f"a list of {len(value)}"
    return f"a {type(value).__name__}"


def path_text(keys) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) or str(k).isdigit() else f"[{k!r}]" for k in keys)


def first_difference(a, b, keys=()):
    """The keys leading to the first place where two observed structures differ, or None."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        same = (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype
                and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        return None if same else keys
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            if key not in a or key not in b:
                return (*keys, key)
            found = first_difference(a[key], b[key], (*keys, key))
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, (*keys, i))
            if found is not None:
                return found
        return None
    both_nan = isinstance(a, float) and isinstance(b, float) and a != a and b != b
    return None if both_nan or (type(a) is type(b) and a == b) else keys


def same_value(observed, expected, rtol=RTOL_NUMBER) -> bool:
    """Numbers within rtol, bools and strings equal, lists (tuples on the wire) item by item."""
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return type(observed) is type(expected) and observed == expected
    if isinstance(expected, (int, float)):
        return (isinstance(observed, (int, float)) and not isinstance(observed, bool)
                and abs(observed - expected) <= rtol * abs(expected))
    if isinstance(expected, list):
        return (isinstance(observed, list) and len(observed) == len(expected)
                and all(same_value(o, e, rtol) for o, e in zip(observed, expected)))
    return False


def differing(observed: np.ndarray, expected: np.ndarray, rtol: float, equal_nan=False):
    """Elementwise: where `observed` is not within rtol of `expected` (relative to its scale)."""
    with np.errstate(all="ignore"):
        finite = np.abs(expected[np.isfinite(expected)])
        scale = finite.max() if finite.size else 0.0
        bad = ~(np.abs(observed - expected) <= rtol * (np.abs(expected) + scale))
        if equal_nan:
            bad &= ~(np.isnan(observed) & np.isnan(expected))
    return bad
