"""Comparing series of arrays (a parameter's values, step after step) and saying how they differ.

For an autograder's checks (see docs/authoring.md): `compare_series` compares with expected values
within a tolerance and explains the first difference in the student's terms (the values, how far
the value moved in that step against how far it should have, the likely mistake a diagnosis
finds); `compare_identical` compares two series that must be bit-identical, such as a run
resumed from a checkpoint against the uninterrupted one.
"""
from __future__ import annotations

import numpy as np

from tito.grading.observations import Mismatch, array, describe, differing, item, listed


def when(step: int) -> str:
    return "before the first step" if step == 0 else f"after step {step}"


def index_text(index) -> str:
    return f"[{', '.join(str(int(j)) for j in index)}]" if len(index) else ""


def compare_series(observed, expected: list, label: str, rtol: float, name, first_step=0,
                   diagnose=None, moves=True, equal_nan=False) -> None:
    """Series i (`name(i)`) is an array whose row j is its value {when(first_step + j)}.

    On a difference, the message gives the first one, how far the value moved in that step
    (for parameters) and the first explanation `diagnose(observed)` finds.
    """
    obs = [array(item(observed, i, name(i)), e.shape, f"the values of {name(i)}")
           for i, e in enumerate(expected)]
    exp = [e.astype(np.float64) for e in expected]
    bad = [differing(o, e, rtol, equal_nan) for o, e in zip(obs, exp)]
    if not any(b.any() for b in bad):
        return
    rows = [int(np.argmax(b.reshape(len(b), -1).any(axis=1))) if b.any() else len(b) for b in bad]
    k = min(rows)
    i = rows.index(k)
    with np.errstate(all="ignore"):
        error = np.where(bad[i][k], np.nan_to_num(np.abs(obs[i][k] - exp[i][k]), nan=np.inf), -1.0)
    index = np.unravel_index(int(np.argmax(error)), error.shape)
    got, want = obs[i][k][index], exp[i][k][index]
    message = f"{label}, {when(first_step + k)}: {name(i)}{index_text(index)} is {pair(got, want)}"
    if moves and k > 0:
        moved, should = got - obs[i][k - 1][index], want - exp[i][k - 1][index]
        message += f" (it moved by {moved:.4g} in that step, expected {should:.4g})"
    explanations = diagnose(obs) if diagnose else []
    if explanations:
        raise Mismatch(f"{message}. {explanations[0]}")
    raise Mismatch(message + "." + (move_hint(got, moved, should) if moves and k > 0
                                    else ratio_hint(got, want)))


def pair(got: float, want: float) -> str:
    """'got, expected want', with just enough digits to tell them apart, and their difference
    where those digits are many."""
    a, b = printed_apart(got, want)
    close = np.isfinite(got) and np.isfinite(want) and abs(got - want) <= 1e-6 * max(abs(got), abs(want))
    return f"{a}, expected {b}" + (f" (a difference of {got - want:.3g})" if close else "")


def printed_apart(first: float, second: float) -> tuple[str, str]:
    for digits in range(6, 18):
        a, b = f"{first:.{digits}g}", f"{second:.{digits}g}"
        if a != b:
            break
    return a, b


def values_apart(first: float, second: float) -> str:
    """Two values that should be equal, with their difference where they print alike."""
    return pair(first, second).replace(", expected ", " against ", 1)


def move_hint(value: float, moved: float, should: float) -> str:
    if not np.isfinite(value):
        return " A division by zero, or the square root of a negative number?"
    if moved == 0:
        return " It did not move: does step() change p.data?"
    if should == 0:
        return ""
    if abs(moved / should + 1) < 1e-3:
        return " It moved the opposite way: the update subtracts from p."
    return f" It moved {significant(moved / should)} times as far as expected."


def ratio_hint(got: float, want: float) -> str:
    if not np.isfinite(got):
        return " A division by zero, or the square root of a negative number?"
    return f" That is {significant(got / want)} times the expected value." if want else ""


def significant(ratio: float) -> str:
    """A ratio with three significant digits, or more when those would round it to 1."""
    for digits in range(3, 12):
        text = f"{ratio:.{digits}g}"
        if text != "1":
            return text
    return text


def distance(observed: np.ndarray, simulated: np.ndarray) -> float:
    """The largest difference relative to the simulation's scale; NaN where both are NaN is no
    difference, NaN in one of them an infinite one."""
    with np.errstate(all="ignore"):
        finite = np.abs(simulated[np.isfinite(simulated)])
        scale = finite.max() if finite.size else 1.0
        gap = np.abs(observed - simulated)
        gap[np.isnan(observed) & np.isnan(simulated)] = 0.0
        return float(np.nan_to_num(gap, nan=np.inf).max(initial=0.0) / (scale or 1.0))


def compare_identical(first, second, count: int, label: str, start: int, failure: str) -> None:
    """Two trajectories of `count` parameters that the spec makes bit-identical."""
    first, second = (listed(t, count, "a trajectory") for t in (first, second))
    diverged = []
    for i, (a, b) in enumerate(zip(first, second)):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.ndim > 0):
            raise Mismatch(f"{label}: the values of parameter {i} are {describe(a)} and {describe(b)}.")
        flat_a, flat_b = a.reshape(len(a), -1), b.reshape(len(b), -1)
        same = np.all((flat_a == flat_b) | (np.isnan(flat_a) & np.isnan(flat_b)), axis=1)
        if not same.all():
            k = int(np.argmin(same))
            j = int(np.argmax(~((flat_a[k] == flat_b[k]) | (np.isnan(flat_a[k]) & np.isnan(flat_b[k])))))
            diverged.append((k, i, float(flat_a[k][j]), float(flat_b[k][j])))
    if diverged:
        k, i, x, y = min(diverged)
        raise Mismatch(f"{label}: {failure} The first difference: parameter {i} {when(start + k)}, "
                       f"{values_apart(x, y)}.")


def moved(trajectory, label: str, needs: str) -> None:
    """A comparison of an optimizer with itself means something only if it moves."""
    if not any(isinstance(t, np.ndarray) and t.ndim > 0 and len(t) > 1 and t.dtype.kind in "biuf"
               and not np.array_equal(t[0], t[-1], equal_nan=True) for t in trajectory):
        raise Mismatch(f"{label}: no parameter moved, so nothing here can be compared. This test "
                       f"needs {needs} to update p.data.")


def step_gaps(taken: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """|taken - wanted|, where NaN in both is no gap and NaN in one an infinite one."""
    with np.errstate(all="ignore"):
        gap = np.abs(taken - wanted)
        gap[np.isnan(taken) & np.isnan(wanted)] = 0.0
        return np.nan_to_num(gap, nan=np.inf)


def step_distance(observed: list, anchor: list) -> float:
    """How far the steps of a trajectory are from those of `anchor`, relative to `anchor`'s
    largest step: where two runs started does not count, only how they move."""
    with np.errstate(all="ignore"):
        taken = [np.diff(o.astype(np.float64), axis=0) for o in observed]
        wanted = [np.diff(a.astype(np.float64), axis=0) for a in anchor]
        scale = max((np.abs(w[np.isfinite(w)]).max(initial=0.0) for w in wanted), default=0.0)
        gap = max(step_gaps(t, w).max(initial=0.0) for t, w in zip(taken, wanted))
    if not scale:
        return 0.0 if gap == 0 else np.inf
    return float(gap / scale)


def compare_anchored(observed, anchors: list, label: str, rtol: float, needs: str, library: str,
                     first_step=0) -> list:
    """The reference side of a comparison of the student's optimizer with itself.

    A self-comparison (a resumed run against the uninterrupted one, the defaults against the
    explicit values) means something only if its reference is recognisably the optimizer under
    test: its steps within `rtol` (loose, per concept) of one of `anchors`, the reference
    `library`'s trajectory first, then the stored known mistakes of it. Returns the observed
    trajectory; `needs` says, in the student's terms, which part of the code this test relies on.
    """
    reference = anchors[0]
    got = listed(observed, len(reference), "a trajectory")
    got = [array(g, r.shape, f"the values of parameter {i}") for i, (g, r) in enumerate(zip(got, reference))]
    if any(step_distance(got, anchor) <= rtol for anchor in anchors):
        return got
    steps = [np.diff(g, axis=0) for g in got]
    wanted = [np.diff(r.astype(np.float64), axis=0) for r in reference]
    gaps = [step_gaps(s, w).reshape(len(s), -1) for s, w in zip(steps, wanted)]
    i = int(np.argmax([gap.max(initial=0.0) for gap in gaps]))
    k = int(np.argmax(gaps[i].max(axis=1)))
    step, want = steps[i][k].ravel(), wanted[i][k].ravel()
    j = int(np.argmax(gaps[i][k]))
    raise Mismatch(f"{label}: in step {first_step + k + 1}, parameter {i}"
                   f"{index_text(np.unravel_index(j, reference[i].shape[1:]))} moved by "
                   f"{step[j]:.4g}, where {library}'s moved by {want[j]:.4g}. This test compares "
                   f"your optimizer with itself, so it needs {needs}.")
