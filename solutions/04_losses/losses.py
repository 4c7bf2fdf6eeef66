# ---
# jupyter:
#   jupytext:
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
# # 04 · Losses
#
# Training needs one number that says how wrong the model is: the loss. Gradient descent then
# moves every parameter a little in the direction that lowers it. This module builds the two
# losses used most: mean squared error for predicting numbers (regression) and cross-entropy for
# predicting classes (classification).
#
# Both are written entirely with module 01's differentiable operations, so `loss.backward()` works
# with no extra code.
#
# This module covers:
# - mean squared error, and a shape mistake that silently ruins it;
# - cross-entropy from logits, through the log-softmax;
# - the log-sum-exp trick that keeps it finite for any logits.

# %% nbgrader={"grade": false, "grade_id": "default_exp", "locked": true, "schema_version": 3, "solution": false}
#| default_exp core.losses

# %% [markdown] nbgrader={"grade": false, "grade_id": "mse_md", "locked": true, "schema_version": 3, "solution": false}
# ## Mean squared error
#
# `MSE = mean((pred - target)²)` over every element. Its gradient with respect to `pred` is
# `2 (pred - target) / n`: each prediction is pulled toward its target, harder the further away
# it is.
#
# A classic bug: a model outputs shape `(N, 1)`, the targets have shape `(N,)`, and broadcasting
# quietly makes an `(N, N)` matrix of every prediction minus every target. The loss is then a
# number, but the wrong one, and training goes nowhere. `MSELoss` refuses shapes that differ.
#
# Losses are Modules: they have no parameters, but they are called like every other piece of a
# model, `loss_fn(pred, target)`.

# %% nbgrader={"grade": false, "grade_id": "mse", "locked": true, "schema_version": 3, "solution": false}
#| export
import numpy as np

from tinytorch.core.activations import Module
from tinytorch.core.tensor import Tensor


class MSELoss(Module):
    """mean((pred - target) ** 2), a scalar Tensor."""

    def forward(self, pred, target):
        if not isinstance(target, Tensor):
            target = Tensor(np.asarray(target, dtype=pred.dtype))
        if pred.shape != target.shape:
            raise ValueError(f"pred has shape {pred.shape} but target has shape {target.shape}; "
                             "reshape one of them (broadcasting would compare every pair)")
        return ((pred - target) ** 2).mean()


# %% [markdown] nbgrader={"grade": false, "grade_id": "cross_entropy_md", "locked": true, "schema_version": 3, "solution": false}
# ## Cross-entropy
#
# A classifier outputs one score per class, the **logits** `z`, for each example. Softmax turns
# a row of logits into probabilities, `p_c = exp(z_c) / Σ_j exp(z_j)`, and cross-entropy is the
# average over the batch of `-log p_y`, where `y` is the correct class. It is small when the model
# gives the right class a high probability, and very large when it is confidently wrong.
#
# Taking the log of the softmax gives the **log-softmax**:
#
# `log p_c = z_c - log Σ_j exp(z_j)`
#
# Computed naively this fails: `exp(1000)` is `inf` in float32 and float64 alike. The fix is the
# *log-sum-exp trick*. Subtracting the row's largest logit `m` from every logit changes no
# probability, since the factor `exp(-m)` cancels between numerator and denominator. After the
# shift the largest term is `exp(0) = 1`, so nothing overflows, and the sum is at least 1, so the
# log never sees 0.
#
# The shift `m` is used as a constant (a numpy array, not a Tensor). That is exact, not an
# approximation: the loss does not depend on `m` at all, so the gradient through it would be 0.
#
# The correct class is picked with a one-hot mask: multiplying the log-probabilities by a matrix
# with a single 1 per row, and summing each row, keeps `log p_y`. The resulting gradient with
# respect to the logits is `(softmax(z) - one_hot(y)) / N`, which the test below checks.

# %% nbgrader={"grade": false, "grade_id": "cross_entropy", "locked": true, "schema_version": 3, "solution": false}
#| export
class CrossEntropyLoss(Module):
    """mean over the batch of -log softmax(logits)[target], a scalar Tensor.

    logits: a Tensor of shape (N, C); targets: N integer class indices in [0, C).
    """

    def forward(self, logits, targets):
        targets = np.asarray(targets)
        if logits.ndim != 2:
            raise ValueError(f"logits should have shape (N, C), got {logits.shape}")
        n, classes = logits.shape
        if targets.shape != (n,) or not np.issubdtype(targets.dtype, np.integer):
            raise ValueError(f"targets should be {n} integer class indices, "
                             f"got shape {targets.shape} and dtype {targets.dtype}")
        if n and (targets.min() < 0 or targets.max() >= classes):
            raise ValueError(f"targets should lie in [0, {classes}), got values from "
                             f"{targets.min()} to {targets.max()}")
        shifted = logits - logits.data.max(axis=1, keepdims=True)
        log_probs = shifted - shifted.exp().sum(axis=1, keepdims=True).log()
        one_hot = np.eye(classes)[targets]
        return -(log_probs * one_hot).sum(axis=1).mean()


# %% [markdown] nbgrader={"grade": false, "grade_id": "demo_md", "locked": true, "schema_version": 3, "solution": false}
# ## Try it
#
# Three examples of a three-class problem: one confidently right, one unsure, one confidently
# wrong. A model that knows nothing scores `log(3) ≈ 1.10`; huge logits stay finite.

# %% nbgrader={"grade": false, "grade_id": "demo", "locked": true, "schema_version": 3, "solution": false}
loss_fn = CrossEntropyLoss()
logits = Tensor([[4.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 4.0, 0.0]], requires_grad=True)
loss = loss_fn(logits, [0, 1, 0])
loss.backward()
print("loss:", loss.item())
print("gradient (softmax - one_hot) / 3:\n", logits.grad.round(3))
print("uniform guess:", loss_fn(Tensor(np.zeros((2, 3))), [0, 2]).item())
print("huge logits:", loss_fn(Tensor([[1000.0, -1000.0]]), [1]).item())
print("MSE:", MSELoss()(Tensor([1.0, 2.0, 3.0]), [1.0, 2.0, 5.0]).item())

# %% [markdown] nbgrader={"grade": false, "grade_id": "tests_md", "locked": true, "schema_version": 3, "solution": false}
# ## Tests

# %% nbgrader={"grade": true, "grade_id": "test_mse", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Test: MSELoss is the mean squared difference, with gradient 2 (pred - target) / n
import numpy as np

pred = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
target = np.array([[1.0, 0.0], [3.0, 1.0]])
loss = MSELoss()(pred, target)
assert loss.shape == (), f"the loss should be a scalar, not of shape {loss.shape}"
assert np.isclose(loss.item(), (0 + 4 + 0 + 9) / 4), f"MSE should be 3.25, not {loss.item()}"
loss.backward()
assert np.allclose(pred.grad, 2 * (pred.data - target) / 4), (
    f"the gradient should be 2 (pred - target) / 4, got {pred.grad}")
try:
    MSELoss()(Tensor(np.zeros((3, 1))), np.zeros(3))
except ValueError:
    pass
else:
    raise AssertionError("pred of shape (3, 1) and target of shape (3,) should raise ValueError")

# %% nbgrader={"grade": true, "grade_id": "test_cross_entropy", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Test: CrossEntropyLoss matches log-softmax, has gradient (softmax - one_hot) / N, and stays finite
import numpy as np

z = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0]])
y = np.array([0, 2])
softmax = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
logits = Tensor(z, requires_grad=True)
loss = CrossEntropyLoss()(logits, y)
expected = -np.log(softmax[[0, 1], y]).mean()
assert np.isclose(loss.item(), expected), f"cross-entropy should be {expected:.5f}, got {loss.item():.5f}"
loss.backward()
one_hot = np.eye(3)[y]
assert np.allclose(logits.grad, (softmax - one_hot) / 2), "the gradient should be (softmax - one_hot) / N"

big = Tensor([[1000.0, 0.0], [0.0, -1000.0]], requires_grad=True)
loss = CrossEntropyLoss()(big, [1, 0])
loss.backward()
assert np.isfinite(loss.item()) and np.isclose(loss.item(), 500.0), (
    f"logits of ±1000 should give a finite loss of 500, got {loss.item()}: subtract each row's max first")
assert np.all(np.isfinite(big.grad)), "the gradient should stay finite for large logits"
