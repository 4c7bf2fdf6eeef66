# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false}
# # 05 · Checking autograd
#
# Module 01 gave every operation a hand-written backward formula. A wrong formula does not crash:
# the loss still goes down a little, or stalls, or training is just worse than it should be, and
# nothing points at the bug. So every gradient deserves an independent check.
#
# The check is the definition of the derivative. Nudge one input coordinate up and down by a tiny
# `ε`, and measure how much the output moves. Doing that for every coordinate gives a *numerical*
# gradient, slow but formula-free, to compare with what autograd computed.
#
# This module covers:
# - central differences, and why their error is `O(ε²)`;
# - why the check runs in float64, and how to choose `ε` and the tolerances;
# - `gradcheck`, the tool that compares the two and points at the worst coordinate.

# %% nbgrader={"grade": false, "grade_id": "default_exp", "locked": true, "schema_version": 3, "solution": false}
#| default_exp core.autograd

# %% [markdown] nbgrader={"grade": false, "grade_id": "numerical_md", "locked": true, "schema_version": 3, "solution": false}
# ## Numerical gradients
#
# For a scalar function `f` and a coordinate `x_i`, the **central difference** is
#
# `∂f/∂x_i ≈ (f(x + ε e_i) - f(x - ε e_i)) / 2ε`
#
# Expanding `f` in a Taylor series around `x`, the terms in `ε²` cancel between the two sides, so
# the error is `O(ε²)`; the one-sided `(f(x + ε e_i) - f(x)) / ε` is only `O(ε)`.
#
# Two errors pull `ε` in opposite directions. A large `ε` makes the Taylor error large. A small `ε`
# subtracts two nearly equal values of `f`, and their rounding error, about `|f|` times the
# machine precision, is divided by `2ε`. In float32 (precision `1e-7`) no `ε` gives more than about
# three correct digits. In float64 (precision `2e-16`) with `ε = 1e-6`, both errors are around
# `1e-10`. So `numerical_grad` temporarily switches the tensor's data to float64; the other inputs
# can stay as they are, since numpy promotes the computation to float64 once one operand is.
#
# The function is evaluated `2 × size` times, so this is for checking small examples, never for
# training. `f` must rebuild its result from `tensor.data` on every call, as any function written
# with Tensor operations does.

# %% nbgrader={"grade": false, "grade_id": "numerical_grad", "locked": true, "schema_version": 3, "solution": false}
#| export
import numpy as np


def numerical_grad(f, tensor, eps=1e-6):
    """d f(tensor) / d tensor by central differences in float64; f returns a scalar Tensor.

    `tensor.data` is perturbed in place and restored afterwards (the same array object).
    """
    original = tensor.data
    x = original.astype(np.float64)
    grad = np.zeros_like(x)
    tensor.data = x
    try:
        for i in np.ndindex(x.shape):
            x[i] += eps
            up = f(tensor).item()
            x[i] -= 2 * eps
            down = f(tensor).item()
            x[i] += eps
            grad[i] = (up - down) / (2 * eps)
    finally:
        tensor.data = original
    return grad


# %% [markdown] nbgrader={"grade": false, "grade_id": "gradcheck_md", "locked": true, "schema_version": 3, "solution": false}
# ## gradcheck
#
# `gradcheck(f, inputs)` calls `f(*inputs)`, runs `backward()` once, and compares each input's
# autograd gradient with its numerical gradient. The two agree when, coordinate by coordinate,
#
# `|autograd - numerical| ≤ atol + rtol · |numerical|`
#
# the same test as `np.allclose`. The absolute part covers gradients near 0, the relative part
# large ones. The default `rtol = 1e-3` leaves room for float32 rounding in the autograd pass; a
# wrong formula is usually off by far more: a missing factor 2, a wrong sign, a forgotten
# broadcast sum.
#
# When they disagree, `gradcheck` raises an `AssertionError` that names the input (by its
# position in `inputs`) and the coordinate where the disagreement is worst, with both values: the
# place to start debugging. Inputs that do not require grad are left out of the check. The inputs'
# `.grad` are put back as they were afterwards, so a check never disturbs training state.
#
# Kinks are a limit of the method: at `x = 0`, `relu` has no derivative, and the two sides of a
# central difference straddle the kink. Check such functions at points away from it.

# %% nbgrader={"grade": false, "grade_id": "gradcheck", "locked": true, "schema_version": 3, "solution": false}
#| export
def gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3):
    """Check autograd's gradient of the scalar f(*inputs) against central differences.

    Returns True, or raises AssertionError naming the input and its worst coordinate.
    """
    inputs = list(inputs)
    checked = [i for i, t in enumerate(inputs) if t.requires_grad]
    if not checked:
        raise ValueError("gradcheck needs at least one input with requires_grad=True")
    saved = [t.grad for t in inputs]
    try:
        for t in inputs:
            t.grad = None
        out = f(*inputs)
        if out.data.size != 1:
            raise ValueError(f"f should return a scalar Tensor, got shape {out.shape}")
        out.backward()
        analytic = {i: np.zeros(inputs[i].shape) if inputs[i].grad is None else inputs[i].grad
                    for i in checked}
    finally:
        for t, grad in zip(inputs, saved):
            t.grad = grad
    for i in checked:
        numeric = numerical_grad(lambda _: f(*inputs), inputs[i], eps)  # perturbs inputs[i] in place
        excess = np.abs(analytic[i] - numeric) - (atol + rtol * np.abs(numeric))
        if np.any(excess > 0):
            worst = tuple(int(k) for k in np.unravel_index(np.argmax(excess), numeric.shape))
            raise AssertionError(
                f"gradient of input {i} (shape {inputs[i].shape}) is wrong: at index {worst} "
                f"autograd gives {analytic[i][worst]:.6g}, finite differences {numeric[worst]:.6g}")
    return True


# %% [markdown] nbgrader={"grade": false, "grade_id": "demo_md", "locked": true, "schema_version": 3, "solution": false}
# ## Try it
#
# First a correct composite function, a small layer with a tanh and a mean. Then an operation
# with a deliberate bug, written the way module 01 writes operations: the backward of `x²`
# forgets the factor 2. `gradcheck` catches it and says where.

# %% nbgrader={"grade": false, "grade_id": "demo", "locked": true, "schema_version": 3, "solution": false}
from tinytorch.core.tensor import Tensor

rng = np.random.default_rng(0)
x = Tensor(rng.normal(size=(4, 3)), requires_grad=True)
w = Tensor(rng.normal(size=(3, 2)), requires_grad=True)
print("x @ w, tanh, mean:", gradcheck(lambda x, w: (x @ w).tanh().mean(), [x, w]))


def square_with_a_bug(t):
    out = Tensor(t.data ** 2, _children=(t,))
    out._backward = lambda: t._accumulate(out.grad * t.data)  # should be 2 * t.data
    return out


try:
    gradcheck(lambda x, w: square_with_a_bug(x @ w).sum(), [x, w])
except AssertionError as error:
    print("caught:", error)

# %% [markdown] nbgrader={"grade": false, "grade_id": "tests_md", "locked": true, "schema_version": 3, "solution": false}
# ## Tests

# %% nbgrader={"grade": true, "grade_id": "test_numerical_grad", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Test: numerical_grad matches a known derivative and leaves the tensor as it was
import numpy as np

from tinytorch.core.tensor import Tensor

x = Tensor(np.array([[0.5, -1.0], [2.0, 0.1]], dtype=np.float32))
before = x.data
grad = numerical_grad(lambda t: (t ** 3).sum(), x)
assert grad.shape == (2, 2), f"the numerical gradient should have the tensor's shape (2, 2), got {grad.shape}"
assert np.allclose(grad, 3 * x.data.astype(np.float64) ** 2, rtol=1e-6), (
    f"d/dx sum(x³) should be 3x² = {3 * x.data ** 2}, got {grad}: are the differences central, in float64?")
assert x.data is before and x.dtype == np.float32, "numerical_grad should restore the tensor's original data"

# %% nbgrader={"grade": true, "grade_id": "test_gradcheck", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Test: gradcheck accepts correct gradients and names the input of a wrong one
import numpy as np

from tinytorch.core.tensor import Tensor

rng = np.random.default_rng(1)
a = Tensor(rng.normal(size=(3, 2)), requires_grad=True)
b = Tensor(rng.normal(size=(2,)), requires_grad=True)
assert gradcheck(lambda a, b: ((a * b).sigmoid() + a / 3).mean(), [a, b]) is True


def double_with_a_bug(t):
    """2t, with a backward that leaves the gradient unchanged (should multiply it by 2)."""
    out = Tensor(t.data * 2, _children=(t,))
    out._backward = lambda: t._accumulate(out.grad)
    return out


try:
    gradcheck(lambda a, b: (a + double_with_a_bug(b)).sum(), [a, b])
except AssertionError as error:
    assert "input 1" in str(error), f"the message should name input 1 (b), got: {error}"
else:
    raise AssertionError("gradcheck accepted a gradient that is half of the right one")
assert a.grad is None and b.grad is None, "gradcheck should leave the inputs' .grad as it found them"
