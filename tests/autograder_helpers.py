"""Module 06's autograder files for the tests. Its folder's name is not a package name, so the
files are loaded by path, each once."""
import functools
from pathlib import Path

import numpy as np

from tito.grading.files import load_file
from tito.grading.wire import decode, encode

AUTOGRADER = Path(__file__).resolve().parents[1] / "autograder" / "06_optimizers"


@functools.cache
def load(name: str):
    """`scenarios`, `tests`, `pitfalls` or `make_expected`, as a module."""
    return load_file(AUTOGRADER / f"{name}.py", f"autograder_06_{name}_for_tests")


def over_the_wire(observations):
    """The observations as the grader receives them from a worker."""
    return decode(encode({"observations": observations}))["observations"]


class Param:
    """A parameter as the spec sees it: `.data` and `.grad`."""

    def __init__(self, data):
        self.data = np.array(data)
        self.grad = None


def close(observed: np.ndarray, expected: np.ndarray, rtol: float) -> bool:
    """Within rtol of `expected`, relative to the largest magnitude in it (as the grader compares)."""
    scale = np.max(np.abs(expected)) if expected.size else 0.0
    return bool(np.all(np.abs(observed - expected) <= rtol * (np.abs(expected) + scale)))
