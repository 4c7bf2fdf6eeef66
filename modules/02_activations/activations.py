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
# # 02 · Modules and activations
#
# A network is built from pieces: layers, activations, whole sub-networks. Each piece turns an
# input tensor into an output tensor, and some of them own parameters. This module introduces the
# `Module` base class that every piece shares, and the first three pieces, which own nothing: the
# activation functions ReLU, tanh and sigmoid.
#
# This module covers:
# - `Module`: calling a module runs its `forward`;
# - `parameters()`: how a model finds every weight inside it, however deeply nested;
# - why a network needs a nonlinearity between its layers.

# %% nbgrader={"grade": false, "grade_id": "default_exp", "locked": true, "schema_version": 3, "solution": false}
#| default_exp core.activations

# %% [markdown] nbgrader={"grade": false, "grade_id": "module_md", "locked": true, "schema_version": 3, "solution": false}
# ## Module
#
# A subclass defines `forward`; `model(x)` calls it. Keeping the call in one place, `__call__`,
# gives the library a single spot to hook into later.
#
# An optimizer needs the list of everything the model learns: `model.parameters()`. Nobody writes
# that list by hand. `parameters()` looks through the module's attributes, in the order they were
# assigned in `__init__`, and collects:
# - every `Parameter`;
# - the parameters of every attribute that is itself a `Module`, recursively;
# - the same for the items of attributes that are lists or tuples (a stack of layers).
#
# A layer used twice in one model (weight sharing) is one set of parameters, so each parameter
# appears once, at its first position. The search also skips modules it has already seen, so a
# module that refers back to its parent does not loop forever.
#
# `zero_grad()` clears every parameter's gradient. Gradients accumulate (module 01), so a training
# loop calls it after each update.

# %% nbgrader={"grade": false, "grade_id": "module", "locked": true, "schema_version": 3, "solution": false}
#| export
from tinytorch.core.tensor import Parameter, Tensor


class Module:
    """A piece of a network: it maps tensors to tensors in `forward`, and may own parameters."""

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def parameters(self):
        """Every Parameter reachable through attributes, in definition order, each once."""
        found, seen = [], set()

        def visit(value):
            if id(value) in seen:
                return
            if isinstance(value, Parameter):
                seen.add(id(value))
                found.append(value)
            elif isinstance(value, Module):
                seen.add(id(value))
                for attribute in vars(value).values():
                    visit(attribute)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    visit(item)

        visit(self)
        return found

    def zero_grad(self):
        for parameter in self.parameters():
            parameter.grad = None

    def __repr__(self):
        return f"{type(self).__name__}()"


# %% [markdown] nbgrader={"grade": false, "grade_id": "activations_md", "locked": true, "schema_version": 3, "solution": false}
# ## Activations
#
# Two linear layers in a row are still one linear map: `(x @ A) @ B` is `x @ (A @ B)`. However many
# layers you stack, without something nonlinear between them the network can only draw straight
# lines. An activation function, applied to every element, supplies the bend.
#
# | activation | formula | derivative | range |
# | --- | --- | --- | --- |
# | ReLU | `max(x, 0)` | 1 where `x > 0`, else 0 | `[0, ∞)` |
# | tanh | `(e^x - e^-x) / (e^x + e^-x)` | `1 - tanh(x)²` | `(-1, 1)` |
# | sigmoid | `1 / (1 + e^-x)` | `s (1 - s)` | `(0, 1)` |
#
# ReLU is the default for hidden layers: it is cheap, and its gradient is exactly 1 wherever the
# unit is active, so gradients do not shrink as they pass through many layers. tanh and sigmoid
# flatten out for large `|x|`, where their gradient is nearly 0 (they *saturate*); sigmoid's
# output in `(0, 1)` makes it the natural choice for a probability.
#
# The Tensor methods from module 01 already compute these and their gradients; the modules wrap
# them so that they can sit in a model next to layers.

# %% nbgrader={"grade": false, "grade_id": "activations", "locked": true, "schema_version": 3, "solution": false}
#| export
class ReLU(Module):
    """max(x, 0), element by element."""

    def forward(self, x):
        return x.relu()


class Tanh(Module):
    """tanh(x), element by element: outputs in (-1, 1)."""

    def forward(self, x):
        return x.tanh()


class Sigmoid(Module):
    """1 / (1 + exp(-x)), element by element: outputs in (0, 1)."""

    def forward(self, x):
        return x.sigmoid()


# %% [markdown] nbgrader={"grade": false, "grade_id": "demo_md", "locked": true, "schema_version": 3, "solution": false}
# ## Try it
#
# The three activations on the same inputs, and a small module that owns two parameters, one of
# them inside a list.

# %% nbgrader={"grade": false, "grade_id": "demo", "locked": true, "schema_version": 3, "solution": false}
x = Tensor([-3.0, -0.5, 0.0, 0.5, 3.0])
for activation in (ReLU(), Tanh(), Sigmoid()):
    print(f"{type(activation).__name__:>8}:", activation(x).data.round(3))


class Scale(Module):
    def __init__(self):
        self.gain = Parameter([2.0])
        self.extras = [Parameter([0.5])]

    def forward(self, x):
        return x * self.gain + self.extras[0]


print(Scale().parameters())

# %% [markdown] nbgrader={"grade": false, "grade_id": "tests_md", "locked": true, "schema_version": 3, "solution": false}
# ## Tests

# %% nbgrader={"grade": true, "grade_id": "test_parameters", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Test: parameters() finds every Parameter once, in definition order
import numpy as np


class Inner(Module):
    def __init__(self):
        self.w = Parameter(np.ones(2))
        self.constant = Tensor(np.ones(2), requires_grad=True)  # a tensor, not a parameter


class Outer(Module):
    def __init__(self):
        self.first = Parameter(np.zeros(1))
        self.blocks = [Inner(), ReLU()]
        self.shared = self.blocks[0]
        self.last = Parameter(np.zeros(3))


model = Outer()
found = model.parameters()
expected = [model.first, model.blocks[0].w, model.last]
assert len(found) == 3, f"expected 3 parameters, found {len(found)}: is a shared module counted twice?"
assert all(a is b for a, b in zip(found, expected)), "parameters should come in attribute definition order"
for p in found:
    p.grad = np.ones_like(p.data)
model.zero_grad()
assert all(p.grad is None for p in found), "zero_grad() should set every parameter's grad to None"

# %% nbgrader={"grade": true, "grade_id": "test_activations", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Test: ReLU, Tanh and Sigmoid compute their functions and pass gradients back
import numpy as np

x0 = np.array([-2.0, -0.5, 0.5, 2.0])
for module, f, df in [
    (ReLU(), lambda v: np.maximum(v, 0), lambda v: (v > 0) * 1.0),
    (Tanh(), np.tanh, lambda v: 1 - np.tanh(v) ** 2),
    (Sigmoid(), lambda v: 1 / (1 + np.exp(-v)), lambda v: np.exp(-v) / (1 + np.exp(-v)) ** 2),
]:
    name = type(module).__name__
    x = Tensor(x0, requires_grad=True)
    y = module(x)
    assert np.allclose(y.data, f(x0)), f"{name} gives {y.data}, expected {f(x0)}"
    y.sum().backward()
    assert np.allclose(x.grad, df(x0)), f"{name}'s gradient is {x.grad}, expected {df(x0)}"
