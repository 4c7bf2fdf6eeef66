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
# # 03 · Layers
#
# The linear layer is where a network keeps almost all of what it learns. This module builds it,
# and `Sequential`, which chains modules into a model. With them and module 02's activations, a
# multi-layer perceptron is one line:
#
# ```python
# model = Sequential(Linear(2, 32), ReLU(), Linear(32, 2))
# ```
#
# This module covers:
# - the linear layer `x @ W + b`, and why its weight has shape `(in_features, out_features)`;
# - how to choose the initial weights so that signals keep a sensible size;
# - seeding, so that an experiment can be repeated exactly.

# %% nbgrader={"grade": false, "grade_id": "default_exp", "locked": true, "schema_version": 3, "solution": false}
#| default_exp core.layers

# %% [markdown] nbgrader={"grade": false, "grade_id": "linear_md", "locked": true, "schema_version": 3, "solution": false}
# ## Linear
#
# A batch of inputs is a matrix `x` of shape `(batch, in_features)`, one example per row.
# `Linear` computes `x @ W + b`, with `W` of shape `(in_features, out_features)` and `b` of shape
# `(out_features,)`. Storing `W` this way round makes the forward pass a plain matrix product
# (PyTorch stores the transpose and computes `x @ W.T`). The bias is broadcast over the batch,
# and module 01 already sums its gradient over the rows.
#
# **Initialisation.** Each output adds up `in_features` products. If the weights were drawn with
# a fixed spread, the outputs would grow with the width of the layer, and after a few layers the
# activations would saturate or blow up. Drawing each weight uniformly from `±1/sqrt(in_features)`
# (variance `1 / (3 in_features)`) keeps an output's variance about a third of the input's,
# whatever the width. This is PyTorch's default rule for `nn.Linear`; the bias uses the same
# range.
#
# **Seeding.** The weights come from `np.random.default_rng(seed)`: the same seed gives the same
# layer, and `seed=None` draws fresh randomness. Parameters are float32, the training precision.

# %% nbgrader={"grade": false, "grade_id": "linear", "locked": true, "schema_version": 3, "solution": false}
#| export
import numpy as np

from tinytorch.core.activations import Module
from tinytorch.core.tensor import Parameter


class Linear(Module):
    """y = x @ weight + bias, with weight of shape (in_features, out_features)."""

    def __init__(self, in_features, out_features, bias=True, seed=None):
        self.in_features, self.out_features = in_features, out_features
        rng = np.random.default_rng(seed)
        bound = 1 / np.sqrt(in_features)
        self.weight = Parameter(rng.uniform(-bound, bound, (in_features, out_features)).astype(np.float32))
        self.bias = Parameter(rng.uniform(-bound, bound, out_features).astype(np.float32)) if bias else None

    def forward(self, x):
        out = x @ self.weight
        return out if self.bias is None else out + self.bias

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"


# %% [markdown] nbgrader={"grade": false, "grade_id": "sequential_md", "locked": true, "schema_version": 3, "solution": false}
# ## Sequential
#
# `Sequential(a, b, c)(x)` is `c(b(a(x)))`. It keeps its modules in a list, so `parameters()`
# finds theirs in order: first layer first.

# %% nbgrader={"grade": false, "grade_id": "sequential", "locked": true, "schema_version": 3, "solution": false}
#| export
class Sequential(Module):
    """Modules applied one after another: the output of each is the input of the next."""

    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __repr__(self):
        return "Sequential(" + ", ".join(map(repr, self.layers)) + ")"


# %% [markdown] nbgrader={"grade": false, "grade_id": "demo_md", "locked": true, "schema_version": 3, "solution": false}
# ## Try it
#
# A two-layer perceptron on a batch of four points. The outputs are meaningless until it is
# trained (module 06), but the shapes, the parameter count and the gradients are all there.

# %% nbgrader={"grade": false, "grade_id": "demo", "locked": true, "schema_version": 3, "solution": false}
from tinytorch.core.activations import ReLU
from tinytorch.core.tensor import Tensor

model = Sequential(Linear(2, 8, seed=0), ReLU(), Linear(8, 1, seed=1))
x = Tensor(np.random.default_rng(2).normal(size=(4, 2)))
y = model(x)
print(model)
print("output shape:", y.shape)
print("parameters:", [p.shape for p in model.parameters()], "=", sum(p.data.size for p in model.parameters()))
y.sum().backward()
print("gradient of the first weight:", model.layers[0].weight.grad.shape)

# %% [markdown] nbgrader={"grade": false, "grade_id": "tests_md", "locked": true, "schema_version": 3, "solution": false}
# ## Tests

# %% nbgrader={"grade": true, "grade_id": "test_linear", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Test: Linear computes x @ W + b from seeded float32 weights within ±1/sqrt(in_features)
import numpy as np

from tinytorch.core.tensor import Tensor

layer = Linear(16, 4, seed=0)
w, b = layer.weight, layer.bias
assert w.shape == (16, 4), f"the weight should have shape (in, out) = (16, 4), not {w.shape}"
assert b.shape == (4,), f"the bias should have shape (4,), not {b.shape}"
assert w.dtype == np.float32 and b.dtype == np.float32, "parameters should be float32"
assert np.abs(w.data).max() <= 0.25, "weights should lie within ±1/sqrt(16) = ±0.25"
assert np.array_equal(Linear(16, 4, seed=0).weight.data, w.data), "one seed should give one set of weights"
params = layer.parameters()
assert len(params) == 2 and params[0] is w and params[1] is b, "parameters() should be [weight, bias]"
assert len(Linear(16, 4, bias=False).parameters()) == 1, "bias=False should leave only the weight"

x = np.random.default_rng(1).normal(size=(3, 16)).astype(np.float32)
y = layer(Tensor(x))
assert np.allclose(y.data, x @ w.data + b.data, atol=1e-6), "forward should give x @ weight + bias"
y.sum().backward()
assert np.allclose(b.grad, [3, 3, 3, 3]), "the bias gradient should be summed over the batch"
assert np.allclose(w.grad, x.T @ np.ones((3, 4)), atol=1e-5), "the weight gradient should be x.T @ g"

# %% nbgrader={"grade": true, "grade_id": "test_sequential", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Test: Sequential chains its modules and lists their parameters in order
import numpy as np

from tinytorch.core.activations import ReLU
from tinytorch.core.tensor import Tensor

first, second = Linear(3, 5, seed=0), Linear(5, 2, seed=1)
model = Sequential(first, ReLU(), second)
x = Tensor(np.ones((4, 3)))
assert np.allclose(model(x).data, second(first(x).relu()).data), "Sequential should apply its modules in turn"
expected = [first.weight, first.bias, second.weight, second.bias]
assert all(p is q for p, q in zip(model.parameters(), expected)) and len(model.parameters()) == 4, (
    "parameters() should list the first layer's weight and bias, then the second's")
