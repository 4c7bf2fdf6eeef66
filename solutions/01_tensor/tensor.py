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
# # 01 · Tensor
#
# A deep learning library does two things: it stores arrays of numbers, and it works out how a
# single number, the loss, changes when any of those arrays changes. This module does both.
#
# `Tensor` wraps a numpy array, and numpy does the arithmetic. What `Tensor` adds is memory: every
# result remembers the tensors it was computed from and how to send a gradient back to them.
# Calling `loss.backward()` walks that record backwards and fills `.grad` on every tensor that
# asked for one. This is reverse-mode automatic differentiation, the algorithm behind
# `loss.backward()` in PyTorch, in about two hundred lines.
#
# This module covers:
# - how a tensor picks its dtype;
# - the one pattern every operation follows: build the output, attach a `_backward` closure;
# - how `backward()` orders the graph and accumulates gradients;
# - why broadcasting in the forward pass means summing in the backward pass.
#
# The module is complete: read it, run it, and make sure you understand each operation's
# gradient. Everything later in the course is built on it.

# %% nbgrader={"grade": false, "grade_id": "default_exp", "locked": true, "schema_version": 3, "solution": false}
#| default_exp core.tensor

# %% [markdown] nbgrader={"grade": false, "grade_id": "dtypes_md", "locked": true, "schema_version": 3, "solution": false}
# ## Numbers and their precision
#
# `Tensor.data` is always a numpy array of dtype float32 or float64.
#
# - A float32 or float64 array keeps its dtype. float64 is what module 05 uses to check gradients
#   precisely.
# - Everything else becomes **float32**: Python numbers and lists (lists of floats too, which
#   numpy alone would turn into float64), integer arrays and boolean arrays. float32 is the usual
#   precision for training: half the memory of float64, and plenty of accuracy for gradient
#   descent.
#
# The array is always copied, so a tensor never shares memory with the array it was built from.
# An optimizer that updates `p.data` in place therefore cannot change the caller's array.

# %% nbgrader={"grade": false, "grade_id": "to_array", "locked": true, "schema_version": 3, "solution": false}
#| export
import numpy as np


def _to_array(data):
    """A float32 or float64 copy of `data` (a Tensor, array, number or nested list)."""
    if isinstance(data, Tensor):
        data = data.data
    dtype = getattr(data, "dtype", None)
    if dtype not in (np.float32, np.float64):
        dtype = np.float32
    return np.array(data, dtype=dtype)


# %% [markdown] nbgrader={"grade": false, "grade_id": "broadcasting_md", "locked": true, "schema_version": 3, "solution": false}
# ## The gradient of broadcasting
#
# numpy lets `x + b` add a bias `b` of shape `(10,)` to a batch `x` of shape `(32, 10)`: the same
# bias is reused in each of the 32 rows. A number that is used in several places receives the
# sum of the gradients of all its uses (the multivariable chain rule). So the backward pass of a
# broadcast operation must sum the incoming `(32, 10)` gradient over the rows, back down to `b`'s
# shape `(10,)`.
#
# `_unbroadcast` undoes any numpy broadcast this way. numpy broadcasts in two steps, and the
# function reverses both: it sums away the leading axes numpy added in front, then sums (keeping
# the axis) every axis where the operand had size 1 but the result did not.

# %% nbgrader={"grade": false, "grade_id": "unbroadcast", "locked": true, "schema_version": 3, "solution": false}
#| export
def _unbroadcast(grad, shape):
    """Sum `grad` down to `shape`, the shape of an operand that numpy broadcast."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and grad.shape[axis] != 1)
    return grad.sum(axis=stretched, keepdims=True)


# %% [markdown] nbgrader={"grade": false, "grade_id": "tensor_md", "locked": true, "schema_version": 3, "solution": false}
# ## Tensor: one pattern per operation
#
# Every operation does three things:
# 1. compute the output's data with numpy;
# 2. create the output tensor, recording the inputs it came from (`_children`);
# 3. attach a `_backward` closure. When it runs, `out.grad` holds d(loss)/d(out), and the closure
#    adds each input's share, d(loss)/d(input) = d(loss)/d(out) · d(out)/d(input), to that
#    input's `.grad`.
#
# The local derivatives, with `g` standing for `out.grad`:
#
# | operation | gradient sent to `x` |
# | --- | --- |
# | `x + y` | `g` (and `g` to `y`) |
# | `x * y` | `g * y` (and `g * x` to `y`) |
# | `x ** k` (`k` a number) | `g * k * x ** (k - 1)` |
# | `x @ w` | `g @ w.T` (and `x.T @ g` to `w`) |
# | `x.sum(axis)` | `g`, copied back along the summed axes |
# | `x.reshape(...)`, `x.T` | `g` reshaped or transposed back |
# | `x.exp()` | `g * exp(x)` |
# | `x.log()` | `g / x` |
# | `x.relu()` | `g * (x > 0)` |
# | `x.tanh()` | `g * (1 - tanh(x) ** 2)` |
# | `x.sigmoid()` | `g * s * (1 - s)`, with `s = sigmoid(x)` |
#
# Subtraction, division, negation and mean are written with these primitives, so they need no
# backward of their own: `a / b` is `a * b ** -1`, and `x.mean()` is `x.sum()` times a constant.
#
# **Which tensors get gradients.** A tensor created with `requires_grad=True` is a leaf that wants
# its gradient, like a model's weights. The result of an operation requires grad when any of its
# inputs does; everything else is a constant, which the graph does not even record. A Python
# number or numpy array mixed into an operation becomes a constant of the tensor's dtype, so
# `x * 0.5` keeps `x` float32.
#
# **Order.** `backward()` first lists the graph in topological order, every tensor after the
# tensors it was computed from, then runs the closures in reverse: a tensor passes its gradient on
# only once every tensor that used it has contributed. The search is an explicit loop rather than
# recursion, so a long chain of operations cannot exceed Python's recursion limit.
#
# **Accumulation.** Gradients are added, never assigned, because a tensor used twice (`x * x`)
# receives a contribution from each use. Leaves keep accumulating across `backward()` calls, as in
# PyTorch, which is why a training loop resets them after every step. Intermediate results start
# from nothing on every call. Each gradient is stored in the dtype of its tensor's data.
#
# `__array_ufunc__ = None` makes numpy step aside in `array + tensor`, so Python falls back to
# `Tensor.__radd__` and the result is a Tensor.

# %% nbgrader={"grade": false, "grade_id": "tensor", "locked": true, "schema_version": 3, "solution": false}
#| export
class Tensor:
    """A numpy array that records how it was computed, so that gradients can flow back.

    `_children` is for operations: the tensors the new one was computed from.
    """

    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, _children=()):
        self.data = _to_array(data)
        self.grad = None
        self._prev = tuple(child for child in _children if child.requires_grad)
        self.requires_grad = bool(requires_grad) or bool(self._prev)
        self._backward = lambda: None

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    def item(self):
        """The value of a one-element tensor, as a Python float."""
        return self.data.item()

    def __repr__(self):
        name = type(self).__name__
        values = np.array2string(self.data, separator=", ", prefix=name + "(")
        flag = ", requires_grad=True" if self.requires_grad else ""
        return f"{name}({values}, dtype={self.dtype}{flag})"

    def _lift(self, other):
        """`other` as a Tensor: a number or array becomes a constant of this tensor's dtype."""
        return other if isinstance(other, Tensor) else Tensor(np.asarray(other, dtype=self.dtype))

    def _accumulate(self, grad):
        """Add `grad` to `self.grad`, summed down to this tensor's shape, in its dtype."""
        if self.requires_grad:
            grad = np.array(_unbroadcast(grad, self.shape), dtype=self.dtype)  # a fresh array
            if self.grad is not None:
                grad += self.grad
            self.grad = grad

    # Primitive operations: each builds its output and attaches a `_backward` closure.

    def __add__(self, other):
        other = self._lift(other)
        out = Tensor(self.data + other.data, _children=(self, other))

        def _backward():
            self._accumulate(out.grad)
            other._accumulate(out.grad)
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = self._lift(other)
        out = Tensor(self.data * other.data, _children=(self, other))

        def _backward():
            self._accumulate(out.grad * other.data)
            other._accumulate(out.grad * self.data)
        out._backward = _backward
        return out

    def __pow__(self, exponent):
        if not isinstance(exponent, (int, float)):
            raise TypeError(f"the exponent must be a Python number, got {type(exponent).__name__}")
        out = Tensor(self.data ** exponent, _children=(self,))

        def _backward():
            self._accumulate(out.grad * exponent * self.data ** (exponent - 1))
        out._backward = _backward
        return out

    def __matmul__(self, other):
        other = self._lift(other)
        if self.ndim < 2 or other.ndim < 2:
            raise ValueError(f"matmul needs operands with at least 2 dimensions, "
                             f"got shapes {self.shape} and {other.shape}")
        out = Tensor(self.data @ other.data, _children=(self, other))

        def _backward():  # swapaxes(-1, -2) is .T for matrices, and also works on batches
            self._accumulate(out.grad @ other.data.swapaxes(-1, -2))
            other._accumulate(self.data.swapaxes(-1, -2) @ out.grad)
        out._backward = _backward
        return out

    def sum(self, axis=None, keepdims=False):
        out = Tensor(self.data.sum(axis=axis, keepdims=keepdims), _children=(self,))

        def _backward():
            grad = out.grad if keepdims or axis is None else np.expand_dims(out.grad, axis)
            self._accumulate(np.broadcast_to(grad, self.shape))
        out._backward = _backward
        return out

    def reshape(self, *shape):
        """`t.reshape(2, 3)` or `t.reshape((2, 3))`; one size may be -1, as in numpy."""
        out = Tensor(self.data.reshape(*shape), _children=(self,))

        def _backward():
            self._accumulate(out.grad.reshape(self.shape))
        out._backward = _backward
        return out

    def transpose(self):
        """Reverse the axes: a matrix's rows become its columns."""
        out = Tensor(self.data.T, _children=(self,))

        def _backward():
            self._accumulate(out.grad.T)
        out._backward = _backward
        return out

    def exp(self):
        out = Tensor(np.exp(self.data), _children=(self,))

        def _backward():
            self._accumulate(out.grad * out.data)
        out._backward = _backward
        return out

    def log(self):
        out = Tensor(np.log(self.data), _children=(self,))

        def _backward():
            self._accumulate(out.grad / self.data)
        out._backward = _backward
        return out

    def relu(self):
        out = Tensor(np.maximum(self.data, 0), _children=(self,))

        def _backward():
            self._accumulate(out.grad * (self.data > 0))
        out._backward = _backward
        return out

    def tanh(self):
        out = Tensor(np.tanh(self.data), _children=(self,))

        def _backward():
            self._accumulate(out.grad * (1 - out.data ** 2))
        out._backward = _backward
        return out

    def sigmoid(self):
        # 1 / (1 + e^-x) written as e^-log(1 + e^-x): no overflow warning for large negative x.
        out = Tensor(np.exp(-np.logaddexp(0, -self.data)), _children=(self,))

        def _backward():
            self._accumulate(out.grad * out.data * (1 - out.data))
        out._backward = _backward
        return out

    # Everything else is built from the primitives.

    @property
    def T(self):
        return self.transpose()

    def mean(self, axis=None, keepdims=False):
        total = self.sum(axis=axis, keepdims=keepdims)
        return total * (total.data.size / self.data.size)

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + -self._lift(other)

    def __truediv__(self, other):
        return self * self._lift(other) ** -1

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return self._lift(other) - self

    def __rtruediv__(self, other):
        return self._lift(other) * self ** -1

    def __rmatmul__(self, other):
        return self._lift(other) @ self

    # Reverse-mode differentiation.

    def backward(self, grad=None):
        """Add d(self)/d(t) to `t.grad` for every tensor `t` with requires_grad that self depends on.

        A scalar self, such as a loss, needs no argument. Otherwise pass `grad`, the gradient of
        some scalar L with respect to self: the tensors then receive d(L)/d(t).
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad: "
                               "none of the tensors it was computed from has requires_grad=True")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() needs a gradient for a tensor of shape {self.shape}: "
                                   "pass grad=, or reduce it to a scalar with .sum() or .mean()")
            grad = np.ones_like(self.data)
        if np.shape(grad) != self.shape:
            raise ValueError(f"grad has shape {np.shape(grad)}, the tensor has shape {self.shape}")
        order = self._topological_order()
        for node in order:
            if node._prev:
                node.grad = None  # intermediate results hold this call's gradient only
        self._accumulate(np.asarray(grad))
        for node in reversed(order):
            node._backward()

    def _topological_order(self):
        """Self and every tensor it depends on, each listed after all of its inputs."""
        order, visited, stack = [], set(), [(self, False)]
        while stack:
            node, inputs_listed = stack.pop()
            if inputs_listed:
                order.append(node)
            elif node not in visited:
                visited.add(node)
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
        return order


# %% [markdown] nbgrader={"grade": false, "grade_id": "parameter_md", "locked": true, "schema_version": 3, "solution": false}
# ## Parameter
#
# A `Parameter` is a tensor that a model learns: its weights and biases. It always requires
# grad, and its type is how `Module.parameters()` (module 02) tells it apart from other tensors.

# %% nbgrader={"grade": false, "grade_id": "parameter", "locked": true, "schema_version": 3, "solution": false}
#| export
class Parameter(Tensor):
    """A tensor that a model learns; it always requires grad."""

    def __init__(self, data):
        super().__init__(data, requires_grad=True)


# %% [markdown] nbgrader={"grade": false, "grade_id": "demo_md", "locked": true, "schema_version": 3, "solution": false}
# ## Try it
#
# `y = sum(tanh(2x + b))`. The bias `b` is broadcast over the two rows of `x`, so its gradient is
# the sum of the two rows of `dy/dx / 2`. Compare the printed values with that.

# %% nbgrader={"grade": false, "grade_id": "demo", "locked": true, "schema_version": 3, "solution": false}
x = Tensor([[1.0, -2.0], [0.5, 0.0]], requires_grad=True)
b = Tensor([0.5, -1.0], requires_grad=True)
y = (x * 2 + b).tanh().sum()
y.backward()
print(y)
print("dy/dx =", x.grad)
print("dy/db =", b.grad)

# %% [markdown] nbgrader={"grade": false, "grade_id": "tests_md", "locked": true, "schema_version": 3, "solution": false}
# ## Tests
#
# Each test below checks one idea. The gradient tests compare autograd with finite differences,
# `(f(x + h) - f(x - h)) / 2h`, computed in float64; module 05 turns that check into a tool.

# %% nbgrader={"grade": true, "grade_id": "test_dtype", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Test: a Tensor holds a float32 or float64 copy of its data
import numpy as np

assert Tensor([1, 2, 3]).dtype == np.float32, "a list of ints should become float32"
assert Tensor([0.5, 1.5]).dtype == np.float32, "a list of Python floats should become float32, not float64"
assert Tensor(np.zeros(2)).dtype == np.float64, "a float64 array should keep its dtype"
assert Tensor(np.zeros(2, dtype=np.float32)).dtype == np.float32, "a float32 array should keep its dtype"
source = np.ones(2, dtype=np.float32)
Tensor(source).data += 1
assert source[0] == 1, "changing a tensor's data changed the array it was built from: copy the data"
assert (Tensor(source) * 3).dtype == np.float32, "a Python number should not turn float32 into float64"
assert Parameter([1.0]).requires_grad, "a Parameter always requires grad"

# %% nbgrader={"grade": true, "grade_id": "test_elementwise_grads", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Test: the gradient of every elementwise operation matches finite differences
import numpy as np

x0 = np.array([[0.3, -1.2, 2.0], [-0.7, 0.9, 1.5]])
operations = {
    "x + 2": lambda x: x + 2, "3 - x": lambda x: 3 - x, "x * x": lambda x: x * x,
    "x / 4": lambda x: x / 4, "1 / (1 + x * x)": lambda x: 1 / (1 + x * x), "x ** 3": lambda x: x ** 3,
    "-x": lambda x: -x, "exp": lambda x: x.exp(), "log(x * x)": lambda x: (x * x).log(),
    "relu": lambda x: x.relu(), "tanh": lambda x: x.tanh(), "sigmoid": lambda x: x.sigmoid(),
}
for name, f in operations.items():
    x = Tensor(x0, requires_grad=True)
    f(x).sum().backward()
    numeric = np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        step = np.zeros_like(x0)
        step[i] = 1e-6
        numeric[i] = (f(Tensor(x0 + step)).sum().item() - f(Tensor(x0 - step)).sum().item()) / 2e-6
    assert x.grad is not None and np.allclose(x.grad, numeric, atol=1e-5), (
        f"d/dx sum({name}) is {x.grad}, finite differences give {numeric}")

# %% nbgrader={"grade": true, "grade_id": "test_graph_grads", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Test: gradients through broadcasting, matmul, reductions and a reused tensor
import numpy as np

a = Tensor(np.ones((2, 3)), requires_grad=True)
b = Tensor([0.0, 1.0, 2.0], requires_grad=True)
(a * b).sum().backward()
assert b.grad.shape == (3,), (
    f"b has shape (3,) but its gradient has shape {b.grad.shape}: sum it over the broadcast rows")
assert np.allclose(b.grad, [2, 2, 2]) and np.allclose(a.grad, [[0, 1, 2], [0, 1, 2]])

x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
w = Tensor([[1.0, -1.0, 0.5], [2.0, 0.0, 1.0]], requires_grad=True)
(x @ w).mean().backward()
assert np.allclose(x.grad, np.ones((2, 3)) @ w.data.T / 6), "the gradient of x @ w for x should be g @ w.T"
assert np.allclose(w.grad, x.data.T @ np.ones((2, 3)) / 6), "the gradient of x @ w for w should be x.T @ g"

x = Tensor([3.0], requires_grad=True)
(x * x + x).backward()
assert np.allclose(x.grad, 7), (
    f"d(x*x + x)/dx at 3 is 7, got {x.grad}: the gradients of a reused tensor must add up")
x.grad = None
x.sum().backward()
x.sum().backward()
assert np.allclose(x.grad, 2), "a second backward() should add to a leaf's gradient"

p = Parameter(np.ones((2, 2), dtype=np.float32))
(p * Tensor(np.ones(2, dtype=np.float64))).sum().backward()  # a float64 result
assert p.grad.dtype == np.float32, f"the gradient of a float32 tensor should be float32, got {p.grad.dtype}"
