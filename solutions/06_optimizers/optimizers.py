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
# # 06 · Optimizers
#
# After `loss.backward()` every parameter holds a gradient: `p.grad` says how the loss would
# change if `p.data` changed a little. A gradient is information, not learning. Something has to
# read it and move the weights, step after step, until the loss is small. That something is the
# optimizer.
#
# In this module you write the optimizers that every later module trains with: `SGD`, `Momentum`,
# `Adam` and `AdamW`, their common base class `Optimizer`, and two learning-rate schedulers. They
# follow `torch.optim`: the same update rules, the same names for their state and, in float64,
# the same numbers down to rounding, so that what you learn here carries over to PyTorch
# unchanged.
#
# This module covers:
# 1. gradient descent, and the three lines of every training step;
# 2. the `Optimizer` base class and optimizer state;
# 3. SGD with weight decay, momentum and Nesterov momentum (and where Nesterov's formula comes
#    from); Adagrad and RMSProp, Adam's parents; Adam; AdamW, and why decay usually spares
#    biases; learning-rate schedulers;
# 4. what each optimizer costs in memory and time: passes over memory counted, predicted and
#    measured, and the whole training step timed;
# 5. the optimizers racing each other, each at its own best learning rate, over three seeds;
# 6. checkpoints (`state_dict`, `load_state_dict`) that resume training exactly;
# 7. learning-rate schedules in practice, warm-up, and the noise floor of a constant rate.
#
# Along the way, **check your understanding** questions have answers you can reveal, and two
# **written answers** near the end are graded by hand.
#
# **How to work.** Each function you write has a `# TODO:` line. Implement them in the order of
# the notebook: everything builds on the base class. Below each piece is a graded test cell; run
# it, or run `tito test 06` to see all 100 points at once, with a hint for every failure. The
# tests use only the public contract (the attributes and methods in the tables below), so you
# may organise your code differently from the skeleton. When
# everything passes, `tito export 06` puts your optimizers into the package, and from then on
# `from tinytorch.optim import Adam` is yours.

# %% nbgrader={"grade": false, "grade_id": "default_exp", "locked": true, "schema_version": 3, "solution": false}
#| default_exp core.optimizers

# %% nbgrader={"grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false}
#| export
import math
from collections.abc import Iterable

import numpy as np

# %% nbgrader={"grade": false, "grade_id": "notebook_imports", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
# Tools for the experiments in this notebook; the package does not need them.
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt

from tinytorch.checkpoint import load_checkpoint, save_checkpoint
from tinytorch.core.tensor import Parameter, Tensor
from tinytorch.nn import CrossEntropyLoss, Linear, Module, ReLU, Sequential, Tanh


# %% [markdown] nbgrader={"grade": false, "grade_id": "descent_md", "locked": true, "schema_version": 3, "solution": false}
# ## 1 · Walking downhill
#
# Training a network means finding parameters $\theta$ that make the loss $L(\theta)$ small. We
# cannot solve for them: $L$ is a complicated function of millions of numbers. What we can do
# cheaply is evaluate $L$ at the current $\theta$ and, thanks to autograd, its gradient
# $\nabla L(\theta)$.
#
# Near the current point the loss is close to a plane:
# $L(\theta + \Delta) \approx L(\theta) + \nabla L(\theta) \cdot \Delta$. Among all small steps
# $\Delta$ of a given length, the one that lowers this plane the most points straight against the
# gradient. Taking that step, again and again, is **gradient descent**:
#
# $$\theta_{t+1} = \theta_t - \eta \, \nabla L(\theta_t)$$
#
# The **learning rate** $\eta$ sets the length of the step. The plane is only an approximation,
# so the step must be short enough for it to stay accurate, and that depends on how curved the
# loss is. Take the simplest curved loss, a parabola $L(x) = \frac{c}{2}(x - x^*)^2$ with
# curvature $c$. Its gradient is $c(x - x^*)$, so one step multiplies the distance to the minimum
# by a fixed factor:
#
# $$x_{t+1} - x^* = (1 - \eta c)\,(x_t - x^*)$$
#
# - $\eta < 1/c$: the factor is between 0 and 1, and $x$ creeps towards $x^*$ from one side;
# - $\eta = 1/c$: the factor is 0, and one step lands exactly on the minimum;
# - $1/c < \eta < 2/c$: the factor is negative, and $x$ overshoots, bouncing from side to side
#   while it closes in;
# - $\eta > 2/c$: the factor is below $-1$, and every bounce is larger than the last: divergence.
#
# The cell below runs exactly this on $L(x) = (x - 3)^2$, whose curvature is $c = 2$.

# %% nbgrader={"grade": false, "grade_id": "descent_demo", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
def descend(lr, steps=6, x=0.0):
    """Gradient descent on L(x) = (x - 3)^2, starting from x; returns every point visited."""
    path = [x]
    for _ in range(steps):
        grad = 2 * (x - 3)
        x = x - lr * grad
        path.append(x)
    return path


for lr in (0.1, 0.5, 0.9, 1.1):
    print(f"lr={lr}: " + "  ".join(f"{x:7.3f}" for x in descend(lr)))


# %% [markdown] nbgrader={"grade": false, "grade_id": "question_descent", "locked": true, "schema_version": 3, "solution": false}
# **Check your understanding 1.** On $L(x) = (x-3)^2$ (curvature $c = 2$), which learning rate reaches the minimum in one step, and from which learning rate on does gradient descent diverge? Check your answer against the printed paths above.
#
# <details><summary>Answer</summary>
#
# One step lands on the minimum when $1 - \eta c = 0$, so $\eta = 1/c = 0.5$ (the row `lr=0.5` jumps to 3 and stays). Divergence starts when $|1 - \eta c| > 1$, that is $\eta > 2/c = 1$: the row `lr=1.1` bounces further out at every step.
#
# </details>

# %% [markdown] nbgrader={"grade": false, "grade_id": "training_step_md", "locked": true, "schema_version": 3, "solution": false}
# The rule that matters for the rest of this module: **the steepest direction limits the learning
# rate**. A network's loss curves strongly in some directions and hardly at all in others. One
# learning rate has to stay below $2/c$ for the most curved direction, and then the flat
# directions crawl. Momentum and Adam are two answers to that problem.
#
# In practice the gradient is computed on a small random batch of the data rather than on all of
# it, which makes it a noisy estimate of the true gradient. Gradient descent with such estimates
# is **stochastic gradient descent** (SGD).
#
# ### The training step
#
# Every training loop in this course, and in PyTorch, repeats the same three lines after the
# forward pass:
#
# ```python
# loss = loss_fn(model(inputs), targets)   # forward: build the graph, compute the loss
# loss.backward()                          # fill p.grad for every parameter
# optimizer.step()                         # read each p.grad, change each p.data
# optimizer.zero_grad()                    # p.grad = None, ready for the next batch
# ```
#
# The optimizer never sees the model, the data or the loss. It holds a list of parameters, and
# of each parameter it uses only two attributes: `.data`, the numpy array it changes, and
# `.grad`, the gradient that `backward()` left there. Any object with those two attributes can be
# optimized, which is how the tests below can use bare `Parameter`s without building a model.
#
# Why `zero_grad()`? `backward()` *adds* into `.grad` (module 01: a tensor used twice receives
# the sum of both gradients). That is right within one backward pass but wrong across steps:
# without `zero_grad()` the gradient of step 10 would be the sum of ten gradients, each computed
# at a different point.

# %% [markdown] nbgrader={"grade": false, "grade_id": "optimizer_md", "locked": true, "schema_version": 3, "solution": false}
# ## 2 · The Optimizer base class
#
# SGD, Adam and every other optimizer share most of their code. They all keep a list of
# parameters and a learning rate; they all remember something between steps (a velocity, running
# averages); they all need to save that memory in a checkpoint and load it back. Only the update
# rule differs. So, as in `torch.optim`, the base class owns everything shared and each algorithm
# is a small **per-parameter kernel**:
#
# | attribute / method | what it is |
# | --- | --- |
# | `params` | the parameters, as a list (materialised once: `model.parameters()` may be a generator, which can be read only once) |
# | `lr` | the learning rate, a float; a scheduler changes it between epochs |
# | `state` | the memory of the algorithm: `{index of the parameter: {buffer name: value}}` |
# | `step_count` | how many times `step()` has run |
# | `zero_grad()` | sets every `p.grad` to `None` |
# | `step()` | updates every parameter that has a gradient |
# | `state_dict()`, `load_state_dict()` | a checkpoint of all of the above, and its restoration (section 6) |
#
# Those are the public contract: every test in this notebook uses only them, so any correct
# implementation passes, however it is organised inside. Ours adds two pieces of internal
# structure that make the subclasses short, as `torch.optim` does: `hyperparams`, every other
# hyper-parameter by name (`{"momentum": 0.9, ...}`), passed to `super().__init__` as keyword
# arguments so that the base class can save and restore them without knowing what they mean; and
# `update(p, grad, state)`, the rule for one parameter, the only method a new algorithm writes.
# (`step_count` is ours too: PyTorch keeps only a per-parameter `step`.)
#
# **All memory lives in `self.state`.** A velocity kept in an attribute of its own, say
# `self.velocities`, works perfectly until the day you resume from a checkpoint: `state_dict()`
# saves `self.state` and nothing else, and the resumed run silently starts with zero velocity.
# The state is keyed by the parameter's position in `params`, so it can be written to disk as is.
#
# **A parameter whose `grad` is `None` is skipped entirely.** It took no part in this loss: a
# frozen layer, a branch of the model that this batch did not use. Treating its gradient as zero
# would be wrong, because zero is still an update: weight decay would shrink the parameter and
# momentum would keep pushing it.
#
# `copy_buffers` and `buffers` below are given; the TODOs are yours. `state_dict` and
# `load_state_dict` hand over to functions you write in section 6, after the update rules.

# %% nbgrader={"grade": false, "grade_id": "optimizer", "locked": false, "schema_version": 3, "solution": true}
#| export
def copy_buffers(buffers: dict) -> dict:
    """A copy of one parameter's state that shares no memory with it (numbers are immutable)."""
    return {name: value.copy() if isinstance(value, np.ndarray) else value
            for name, value in buffers.items()}


class Optimizer:
    """Base class of the optimizers: the parameters, the hyper-parameters and the state.

    A subclass defines `update(p, grad, state)`, the rule for one parameter. A parameter is any
    object with `.data` (a numpy array, changed by the update) and `.grad` (an array or None).
    """

    def __init__(self, params: Iterable, lr: float, **hyperparams):
        """Refuse what cannot work, before keeping anything:

        - no parameters at all: ValueError (an optimizer built before the model's layers exist
          would train nothing, silently);
        - an element that is not a parameter (no `.data`, or a bare numpy array, whose `.data`
          is a memoryview): TypeError;
        - lr < 0: ValueError. lr = 0 is allowed (a frozen run, a warm-up that starts at 0).

        Each message names the value and what is accepted, for example
        "Invalid learning rate: -0.1 (must be >= 0)".
        """
        self.params = list(params)
        # TODO: refuse no parameters, a non-parameter and a negative lr.
        ### BEGIN SOLUTION
        if not self.params:
            raise ValueError("the optimizer got an empty list of parameters: create it after the "
                             "model, from model.parameters()")
        for i, p in enumerate(self.params):
            if isinstance(p, np.ndarray) or not hasattr(p, "data"):
                raise TypeError(f"params[{i}] is a {type(p).__name__}, not a parameter: pass "
                                "objects with .data and .grad (a Parameter, not its array)")
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr} (must be >= 0)")
        ### END SOLUTION
        self.lr = lr
        self.hyperparams = hyperparams  # every hyper-parameter except lr, by name
        self.state = {}  # index of a parameter in self.params -> {buffer name: value}
        self.step_count = 0

    def zero_grad(self) -> None:
        """Forget every gradient: each parameter's grad becomes None (not an array of zeros)."""
        # TODO: forget the gradient of every parameter.
        ### BEGIN SOLUTION
        for p in self.params:
            p.grad = None
        ### END SOLUTION

    def step(self) -> None:
        """Apply the update rule to every parameter that has a gradient, then count the step.

        Each parameter gets its own state dict, the same one at every step, so that what
        `update` stores there is still there next time; it is kept in `self.state` under the
        parameter's index and created, empty, at its first update. A parameter whose grad is
        None gets neither an update nor a state.
        """
        # TODO: update each parameter that has a gradient; count the step.
        ### BEGIN SOLUTION
        for i, p in enumerate(self.params):
            if p.grad is not None:
                self.update(p, p.grad, self.state.setdefault(i, {}))
        self.step_count += 1
        ### END SOLUTION

    def update(self, p, grad: np.ndarray, state: dict) -> None:
        """Change p.data using grad; keep in `state` whatever must be remembered until next step."""
        raise NotImplementedError(f"{type(self).__name__} does not define update(p, grad, state)")

    def buffers(self, name: str) -> list:
        """The buffer `name` of every parameter, in order (None where a parameter has none yet)."""
        return [self.state.get(i, {}).get(name) for i in range(len(self.params))]

    def state_dict(self) -> dict:
        """A snapshot of everything needed to resume training (section 6)."""
        return optimizer_state_dict(self)

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a snapshot made by state_dict(), or refuse it whole (section 6)."""
        load_optimizer_state_dict(self, state_dict)


# %% nbgrader={"grade": true, "grade_id": "validation", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Test: an optimizer refuses no parameters (built before the model's layers exist), a bare array, a negative lr
import numpy as np
from tinytorch.core.tensor import Parameter


def error_message(make, error):
    """The message of the `error` that make() raises, or None when it raises nothing."""
    try:
        make()
    except error as e:
        return str(e)
    return None


w = Parameter(np.zeros(3))
assert error_message(lambda: Optimizer([], lr=0.1), ValueError) is not None, (
    "Optimizer([], lr=0.1) was accepted: an optimizer built before the model's layers exist gets "
    "no parameters and would silently train nothing. Raise ValueError for an empty list")
assert error_message(lambda: Optimizer([w.data], lr=0.1), TypeError) is not None, (
    "Optimizer([w.data], lr=0.1) was accepted: it needs the parameter (with .data and .grad), "
    "not its numpy array. Raise TypeError")
message = error_message(lambda: Optimizer([w], lr=-0.1), ValueError)
assert message is not None and "-0.1" in message, (
    f"Optimizer([w], lr=-0.1) should raise ValueError naming the value -0.1, got: {message}")
message = error_message(lambda: Optimizer([w], lr=0.0), ValueError)
assert message is None, (
    f"Optimizer([w], lr=0.0) raised ValueError({message!r}): lr = 0 is allowed (lr >= 0), "
    "only a negative lr is an error")
opt = Optimizer((p for p in [w]), lr=0.1)  # a generator, like model.parameters() can be
assert list(opt.params) == [w] and opt.lr == 0.1 and opt.step_count == 0, (
    f"a new optimizer has params {opt.params}, lr {opt.lr} and step_count {opt.step_count}, "
    "expected the list of parameters given, lr 0.1 and step_count 0 (a generator can be read "
    "only once: keep a list)")
assert not any(opt.state.values()), f"a new optimizer's state is {opt.state}, expected no buffers"

# %% nbgrader={"grade": true, "grade_id": "zero_grad", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Test: zero_grad() sets every gradient to None (forgetting it makes gradients pile up)
import numpy as np
from tinytorch.core.tensor import Parameter

w, b = Parameter(np.ones(3)), Parameter(np.ones(2))
w.grad, b.grad = np.ones(3), np.ones(2)
Optimizer([w, b], lr=0.1).zero_grad()
assert w.grad is None and b.grad is None, (
    f"after zero_grad() the gradients are {w.grad} and {b.grad}, expected None: "
    + ("an array of zeros is not the same: a parameter that the next backward() does not reach "
       "would still be updated instead of skipped" if isinstance(w.grad, np.ndarray)
       and not w.grad.any() else
       "set p.grad = None on each parameter itself (assigning None to a loop variable changes "
       "nothing); backward() adds into .grad, so stale gradients would pile up from step to step"))
assert np.array_equal(w.data, np.ones(3)), "zero_grad() must not touch .data"


# %% [markdown] nbgrader={"grade": false, "grade_id": "early_optimizer_md", "locked": true, "schema_version": 3, "solution": false}
# **Pitfall: an optimizer built before the model's layers exist.** Some models create their
# layers lazily, at the first forward pass, when they see the input size. An optimizer created
# before that receives `model.parameters()` while it is still empty. If the optimizer accepted
# the empty list, training would run, print losses, and never change a weight. That is why the
# base class refuses it. The cell below builds such a model.

# %% nbgrader={"grade": false, "grade_id": "early_optimizer", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
class LazyLinear(Module):
    """A linear layer that creates its weights at the first call, from the input's width."""

    def __init__(self, out_features):
        self.out_features, self.layer = out_features, None

    def forward(self, x):
        if self.layer is None:
            self.layer = Linear(x.data.shape[1], self.out_features, seed=0)
        return self.layer(x)


lazy = LazyLinear(3)
print(f"parameters before the first forward pass: {lazy.parameters()}")
try:
    Optimizer(lazy.parameters(), lr=0.1)
except ValueError as error:
    print(f"Optimizer(lazy.parameters(), lr=0.1) -> ValueError: {error}")


# %% [markdown] nbgrader={"grade": false, "grade_id": "sgd_md", "locked": true, "schema_version": 3, "solution": false}
# ## 3 · The optimizers
#
# ### SGD
#
# Plain SGD is the rule from section 1, with one optional addition, **weight decay** $\lambda$:
#
# $$g_t = \nabla L(\theta_t) + \lambda\,\theta_t \qquad\qquad \theta_{t+1} = \theta_t - \eta\, g_t$$
#
# The extra term is the gradient of the penalty $\frac{\lambda}{2}\lVert\theta\rVert^2$ added to
# the loss (L2 regularisation): every step pulls every weight a little towards zero, so the
# network prefers small weights, which usually generalise better. Note that $\theta_t$ is the
# parameter *before* the update.
#
# Our `SGD` defaults to `lr=0.01`. Recent versions of PyTorch default to 0.001 instead; the
# default learning rate is rarely the right one anyway, so pass it explicitly.
#
# ### Momentum
#
# Section 1 ended on a problem: in a long, narrow valley the learning rate must be small enough
# for the steep walls, and then progress along the flat floor is slow. SGD zig-zags across the
# valley while creeping along it.
#
# **Momentum** gives the parameter a velocity. Instead of stepping along the current gradient, it
# steps along a running sum of past gradients, each older one discounted by a factor $\mu$ (the
# momentum, typically 0.9):
#
# $$b_1 = g_1, \qquad b_t = \mu\, b_{t-1} + (1 - \tau)\, g_t \qquad\qquad \theta_{t+1} = \theta_t - \eta\, b_t$$
#
# Along the valley floor the gradients agree from step to step, so the velocity builds up towards
# $g / (1 - \mu)$, ten times the gradient for $\mu = 0.9$. Across the valley they alternate in
# sign and largely cancel. The result accelerates where progress is consistent and damps the
# zig-zag: a heavy ball rolling downhill rather than a walker who forgets every previous step.
#
# $\tau$ is the **dampening** (default 0), which scales down the contribution of each new
# gradient. The first buffer is the gradient itself, undamped. The buffer is stored in
# `state["momentum_buffer"]`, as PyTorch names it.
#
# Three details, each a classic bug:
# - The buffer is a **sum**, not an average: the new gradient enters with weight $(1 - \tau)$,
#   which is 1 by default, not $(1 - \mu)$. The average form is a different optimizer, whose
#   steps are ten times smaller.
# - The learning rate is **not** inside the buffer. Some texts write $v_t = \mu v_{t-1} + \eta g_t$;
#   that agrees with ours while $\eta$ is constant, but once a schedule changes $\eta$ the old
#   velocity would keep the old learning rate. Ours keeps the buffer in gradient units and applies
#   the current $\eta$ at every step.
# - The buffer lives from step to step in `state`. Recreating it at every step turns momentum back
#   into plain SGD.
#
# ### Nesterov momentum
#
# Nesterov's variant steps along the current gradient *plus* the velocity, which amounts to
# looking one step ahead along the direction the velocity is already going:
#
# $$\theta_{t+1} = \theta_t - \eta\,(g_t + \mu\, b_t)$$
#
# It reacts faster when the velocity overshoots. It needs a momentum $\mu > 0$ and no dampening;
# any other combination is an error.
#
# ### Updating in place
#
# The formulas above, written as numpy, allocate a new array for every intermediate result:
#
# ```python
# buf = momentum * buf + (1 - dampening) * g     # three new arrays, each as large as the parameter
# p.data = p.data - lr * buf                     # two more
# ```
#
# In place, the same arithmetic writes into memory that already exists:
#
# ```python
# buf *= momentum                    # the buffer in self.state is changed, not replaced
# buf += (1 - dampening) * g         # one temporary for the product
# p.data -= lr * buf                 # one temporary
# ```
#
# This matters for three reasons. The buffer stored in `state` *is* the updated buffer, so there
# is nothing to store back. Fewer parameter-sized arrays are allocated at every step (section 4
# measures the difference). And the parameter keeps its dtype: an in-place operation writes into
# the existing float32 array, whereas `p.data = p.data - lr * buf` silently becomes float64 as
# soon as `lr` is a numpy float64 (numpy treats its own scalars as typed, and `np.cos` in a
# schedule returns one). Two cautions: the first buffer must be a *copy* of the gradient, or the
# in-place updates would overwrite `p.grad`; and `grad = grad + weight_decay * p.data` must make a
# new array, for the same reason.
#
# ### Saving momentum on its own
#
# Besides `state_dict()`, SGD offers `get_momentum_state()`, a list with a copy of each parameter's
# buffer (`None` where a parameter has none yet, and `None` instead of a list when momentum is
# off), and `set_momentum_state(buffers)`, which copies such a list back in (`None` clears every
# buffer). Use `self.buffers("momentum_buffer")` to read them.

# %% [markdown] nbgrader={"grade": false, "grade_id": "question_momentum", "locked": true, "schema_version": 3, "solution": false}
# **Check your understanding 2.** With momentum $\mu = 0.9$ and a gradient that stays constant at $g$, what does the velocity converge to, and how much larger is the step than plain SGD's? What if dampening is $\tau = 0.9$ as well?
#
# <details><summary>Answer</summary>
#
# The velocity is a geometric series: $b_t = g(1 + \mu + \dots + \mu^{t-1}) \to g/(1-\mu) = 10g$, so the steps become ten times SGD's. With dampening, new gradients enter with weight $1 - \tau$: $b \to (1-\tau) g / (1-\mu) = g$, which is the average form, no faster than SGD once warmed up (but the first buffer is still $g$ itself).
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "sgd", "locked": false, "schema_version": 3, "solution": true}
#| export
class SGD(Optimizer):
    """Stochastic gradient descent, with optional weight decay, momentum and Nesterov momentum."""

    def __init__(self, params: Iterable, lr: float = 0.01, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False):
        """Refuse momentum < 0 and weight_decay < 0, and Nesterov unless momentum > 0 and
        dampening is 0 (ValueError, naming the value), then hand every hyper-parameter to the
        base class, whose __init__ checks the parameters and lr."""
        # TODO: refuse invalid momentum, weight_decay and Nesterov settings.
        ### BEGIN SOLUTION
        if momentum < 0:
            raise ValueError(f"Invalid momentum value: {momentum} (must be >= 0)")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay} (must be >= 0)")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"Nesterov momentum needs momentum > 0 and dampening 0, "
                             f"got momentum={momentum}, dampening={dampening}")
        ### END SOLUTION
        super().__init__(params, lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov)

    def update(self, p, grad: np.ndarray, state: dict) -> None:
        """One SGD step of p, the formulas above in this order:

        1. the gradient with L2 weight decay, using p before the update;
        2. with momentum, the velocity: the decayed gradient itself at the first step, then
           momentum times the old velocity plus (1 - dampening) times the decayed gradient;
           it is the direction, or, with Nesterov, the gradient plus momentum times it;
        3. p moves against the direction, by lr times it.

        The velocity is this parameter's state["momentum_buffer"], kept from step to step.
        Work in place where you can (p and the velocity keep their dtype and memory), but never
        change the array the caller passed as grad.
        """
        # TODO: apply the SGD update to p, keeping the momentum buffer in state.
        ### BEGIN SOLUTION
        momentum = self.hyperparams["momentum"]
        weight_decay = self.hyperparams["weight_decay"]
        if weight_decay != 0:
            grad = grad + weight_decay * p.data
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= momentum
                buf += (1 - self.hyperparams["dampening"]) * grad
            grad = grad + momentum * buf if self.hyperparams["nesterov"] else buf
        p.data -= self.lr * grad
        ### END SOLUTION

    def has_momentum(self) -> bool:
        """Whether this optimizer keeps a velocity (its momentum is not 0)."""
        # TODO: say whether this optimizer keeps a velocity.
        ### BEGIN SOLUTION
        return self.hyperparams["momentum"] != 0
        ### END SOLUTION

    def get_momentum_state(self) -> list | None:
        """A copy of each parameter's momentum buffer (None where there is none yet).

        None instead of a list when the optimizer has no momentum.
        """
        # TODO: return copies of the momentum buffers, or None without momentum.
        ### BEGIN SOLUTION
        if not self.has_momentum():
            return None
        return [None if buf is None else buf.copy() for buf in self.buffers("momentum_buffer")]
        ### END SOLUTION

    def set_momentum_state(self, buffers: list | None) -> None:
        """Copy the buffers in, one per parameter (None: that parameter has none); None clears all.

        A list whose length is not the number of parameters raises ValueError.
        """
        # TODO: copy each buffer in, or remove it where the entry is None.
        ### BEGIN SOLUTION
        if buffers is None:
            buffers = [None] * len(self.params)
        if len(buffers) != len(self.params):
            raise ValueError(f"got {len(buffers)} momentum buffers for "
                             f"{len(self.params)} parameters")
        for i, buf in enumerate(buffers):
            if buf is not None:
                self.state.setdefault(i, {})["momentum_buffer"] = buf.copy()
            elif i in self.state:
                self.state[i].pop("momentum_buffer", None)
        ### END SOLUTION


# %% [markdown] nbgrader={"grade": false, "grade_id": "momentum_md", "locked": true, "schema_version": 3, "solution": false}
# `Momentum` is SGD with momentum switched on by default, for code that wants to say what it
# means: `Momentum(model.parameters(), lr=0.01)` is `SGD(model.parameters(), lr=0.01,
# momentum=0.9)`. It is given; there is nothing to add.

# %% nbgrader={"grade": false, "grade_id": "momentum", "locked": true, "schema_version": 3, "solution": false}
#| export
class Momentum(SGD):
    """SGD with momentum 0.9 by default: the heavy-ball method."""

    def __init__(self, params: Iterable, lr: float = 0.01, momentum: float = 0.9,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, lr, momentum, dampening, weight_decay, nesterov)


# %% nbgrader={"grade": true, "grade_id": "sgd_defaults", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Test: SGD's defaults (lr 0.01, no momentum; Momentum 0.9), and invalid hyper-parameters refused by value
import numpy as np
from tinytorch.core.tensor import Parameter


def moves(make, steps):
    """How far each of `steps` steps moves a parameter at 0 with gradient 1, from make([w])."""
    w = Parameter(np.array([0.0]))
    opt, before, distances = make([w]), 0.0, []
    for _ in range(steps):
        w.grad = np.array([1.0])
        opt.step()
        distances.append(round(before - float(w.data[0]), 10))
        before = float(w.data[0])
    return distances


for default, explicit, what in [
        (lambda ps: SGD(ps), lambda ps: SGD(ps, lr=0.01, momentum=0.0, dampening=0.0,
                                            weight_decay=0.0, nesterov=False),
         "SGD([w]) should be SGD([w], lr=0.01) with no momentum, dampening or weight decay"),
        (lambda ps: Momentum(ps, lr=0.1), lambda ps: SGD(ps, lr=0.1, momentum=0.9),
         "Momentum([w], lr=0.1) should be SGD([w], lr=0.1, momentum=0.9)")]:
    got, want = moves(default, 3), moves(explicit, 3)
    assert got == want, (
        f"{what}: with gradient 1 its steps moved by {got}, the explicit settings' by {want}"
        + (" (0.001 is recent PyTorch's default lr, ours is 0.01)" if got[0] * 10 == want[0] else ""))
w = Parameter(np.zeros(2))
for kwargs, value in [({"lr": -0.1}, "-0.1"), ({"momentum": -0.5}, "-0.5"),
                      ({"weight_decay": -0.25}, "-0.25")]:
    try:
        SGD([w], **kwargs)
    except ValueError as e:
        assert value in str(e), f"the error for SGD(**{kwargs}) should name {value}: got {e}"
    else:
        raise AssertionError(f"SGD([w], **{kwargs}) should raise ValueError")
for kwargs in [{"nesterov": True}, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}]:
    try:
        SGD([w], **kwargs)
    except ValueError:
        pass
    else:
        raise AssertionError(f"SGD([w], **{kwargs}) should raise ValueError: "
                             "Nesterov needs momentum > 0 and dampening 0")
valid = SGD([w], lr=0.1, momentum=0.9, nesterov=True)  # accepted: no error

# %% nbgrader={"grade": true, "grade_id": "sgd_update", "locked": true, "points": 4, "schema_version": 3, "solution": false}
# Test: an SGD step is p = p - lr * grad, for every parameter, with a new gradient at every step
import numpy as np
from tinytorch.core.tensor import Parameter

w, b = Parameter(np.array([1.0, -2.0])), Parameter(np.array([[0.5], [3.0]]))
opt = SGD([w, b], lr=0.1)
w.grad, b.grad = np.array([0.5, 0.5]), np.array([[1.0], [-1.0]])
opt.step()
assert np.allclose(w.data, [0.95, -2.05]) and np.allclose(b.data, [[0.4], [3.1]]), (
    f"one SGD step with lr 0.1 gave {w.data} and {b.data.ravel()}, expected [0.95, -2.05] and "
    "[0.4, 3.1] (p - lr * grad for every parameter)"
    + (": is the step p + lr * grad, climbing the loss?" if np.allclose(w.data, [1.05, -1.95]) else ""))
assert np.array_equal(w.grad, [0.5, 0.5]), (
    f"the step changed p.grad to {w.grad}: the gradient belongs to the caller, leave it as it is")
w.grad, b.grad = np.array([-1.0, 0.0]), np.array([[0.0], [0.0]])
opt.step()
assert np.allclose(w.data, [1.05, -2.05]) and np.allclose(b.data, [[0.4], [3.1]]), (
    f"a second step with new gradients gave {w.data} and {b.data.ravel()}, expected [1.05, -2.05] "
    "and [0.4, 3.1]: without momentum each step uses only the current gradient")

# %% nbgrader={"grade": true, "grade_id": "sgd_weight_decay", "locked": true, "points": 3, "schema_version": 3, "solution": false}
# Test: weight decay adds weight_decay * p to the gradient, before the momentum buffer sees it
import numpy as np
from tinytorch.core.tensor import Parameter

w = Parameter(np.array([1.0, -2.0]))
w.grad = np.array([0.5, 0.5])
SGD([w], lr=0.1, weight_decay=0.1).step()
assert np.allclose(w.data, [0.94, -2.03]), (
    f"with weight_decay 0.1 the step from [1, -2] with grad 0.5 gave {w.data}, expected "
    "[0.94, -2.03]: the gradient becomes grad + weight_decay * p, with p before the update"
    + (" (is weight_decay ignored?)" if np.allclose(w.data, [0.95, -2.05]) else ""))
assert np.array_equal(w.grad, [0.5, 0.5]), (
    f"the step changed p.grad to {w.grad}: compute grad + weight_decay * p as a new array "
    "(grad += ... writes into the caller's gradient)")

# With momentum, the decayed gradient is what the velocity accumulates: SGD(weight_decay=0.5)
# must equal SGD without decay fed grad + 0.5 * p, computed before each step.
w, manual = Parameter(np.array([1.0, -2.0])), Parameter(np.array([1.0, -2.0]))
opt = SGD([w], lr=0.1, momentum=0.9, weight_decay=0.5)
reference = SGD([manual], lr=0.1, momentum=0.9)
for g in ([0.0, 0.0], [1.0, -1.0], [0.5, 2.0]):
    w.grad = np.array(g)
    manual.grad = np.array(g) + 0.5 * manual.data
    opt.step()
    reference.step()
assert np.allclose(w.data, manual.data, rtol=1e-12), (
    f"three steps of SGD(lr=0.1, momentum=0.9, weight_decay=0.5) gave {w.data}, but the same "
    f"optimizer without decay fed grad + 0.5 * p gives {manual.data}: is the decay added after "
    "the momentum buffer? It belongs to the gradient the buffer accumulates: "
    "g = grad + weight_decay * p first, then the velocity from g")

# %% nbgrader={"grade": true, "grade_id": "momentum_velocity", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# Test: momentum keeps a velocity, buf = momentum * buf + grad (the first buf is grad), and steps by lr * buf
import numpy as np
from tinytorch.core.tensor import Parameter

w = Parameter(np.array([0.0]))
w.grad = np.array([1.0])  # the same gradient array at every step, as a loop may leave it
opt = SGD([w], lr=0.1, momentum=0.9)
opt.step()
assert np.allclose(w.data, [-0.1]), (
    f"the first momentum step from 0 with grad 1 and lr 0.1 gave {w.data[0]:.4g}, expected -0.1: "
    "the first buffer is the gradient itself, not (1 - momentum) * grad")
opt.step()
assert np.allclose(w.data, [-0.29]), (
    f"after 2 steps p = {w.data[0]:.4g}, expected -0.29 (buf = 0.9 * 1 + 1 = 1.9): "
    + ("is the velocity recreated at every step instead of kept in state, or written as an "
       "average, momentum * buf + (1 - momentum) * grad? The spec adds the gradient itself"
       if np.isclose(w.data[0], -0.2) else
       "is the first buffer p.grad itself? Then updating it in place changes the gradient too: "
       "store a copy" if np.isclose(w.data[0], -0.28) else
       "buf = momentum * buf + (1 - dampening) * grad"))
assert np.array_equal(w.grad, [1.0]), (
    f"the steps changed p.grad to {w.grad}: the first buffer must be a copy of the gradient, "
    "not the gradient array itself")
buf = opt.state.get(0, {}).get("momentum_buffer")
assert buf is not None and np.allclose(buf, [1.9]), (
    f"self.state[0]['momentum_buffer'] is {buf}, expected [1.9]: keep the velocity in "
    "self.state[i]['momentum_buffer'] (a velocity kept elsewhere is lost by every checkpoint), "
    "in gradient units")

# %% nbgrader={"grade": true, "grade_id": "momentum_dampening", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Test: dampening scales each new gradient by (1 - dampening), from the second step on
import numpy as np
from tinytorch.core.tensor import Parameter

w = Parameter(np.array([0.0]))
opt = SGD([w], lr=0.1, momentum=0.9, dampening=0.5)
for _ in range(2):
    w.grad = np.array([1.0])
    opt.step()
assert np.allclose(w.data, [-0.24]), (
    f"two steps with dampening 0.5 gave {w.data[0]:.4g}, expected -0.24 (buf = 1, then "
    "0.9 * 1 + 0.5 * 1 = 1.4): "
    + ("is dampening ignored?" if np.isclose(w.data[0], -0.29) else
       "the first buffer is the undamped gradient" if np.isclose(w.data[0], -0.145) else
       "later steps add (1 - dampening) * g"))

# %% nbgrader={"grade": true, "grade_id": "momentum_lr_change", "locked": true, "points": 3, "schema_version": 3, "solution": false}
# Test: when a schedule changes lr, the velocity keeps gradient units (lr stays out of the buffer)
import numpy as np
from tinytorch.core.tensor import Parameter

w = Parameter(np.array([0.0]))
opt = SGD([w], lr=0.1, momentum=0.9)
for lr in (0.1, 0.1, 0.01):
    opt.lr = lr  # a schedule lowers the learning rate for the third step
    w.grad = np.array([1.0])
    opt.step()
assert np.allclose(w.data, [-0.3171]), (
    f"after lowering lr to 0.01 for the third step p = {w.data[0]:.5g}, expected -0.3171 "
    "(buf = 0.9 * 1.9 + 1 = 2.71, p -= 0.01 * 2.71): "
    + ("is lr folded into the velocity (buf = momentum * buf + lr * grad)? Then the old steps keep "
       "the old learning rate. Keep the buffer in gradient units and multiply by the current lr"
       if np.isclose(w.data[0], -0.29 - 0.181) else
       "keep lr out of the buffer and multiply by the current lr when updating p"))

# %% nbgrader={"grade": true, "grade_id": "nesterov", "locked": true, "points": 3, "schema_version": 3, "solution": false}
# Test: Nesterov momentum steps along g + momentum * buf
import numpy as np
from tinytorch.core.tensor import Parameter

w = Parameter(np.array([0.0]))
opt = SGD([w], lr=0.1, momentum=0.9, nesterov=True)
w.grad = np.array([1.0])
opt.step()
assert np.allclose(w.data, [-0.19]), (
    f"the first Nesterov step gave {w.data[0]:.4g}, expected -0.19 (g + momentum * buf = 1.9): "
    + ("is nesterov ignored?" if np.isclose(w.data[0], -0.1) else "step along g + momentum * buf"))
w.grad = np.array([1.0])
opt.step()
assert np.allclose(w.data, [-0.461]), (
    f"the second Nesterov step gave {w.data[0]:.4g}, expected -0.461 (buf = 1.9, "
    "g + 0.9 * buf = 2.71)")

# %% nbgrader={"grade": true, "grade_id": "momentum_state", "locked": true, "points": 3, "schema_version": 3, "solution": false}
# Test: has_momentum, get_momentum_state and set_momentum_state work with copies
import numpy as np
from tinytorch.core.tensor import Parameter

w, b = Parameter(np.zeros(2)), Parameter(np.zeros(3))
assert not SGD([w]).has_momentum() and SGD([w]).get_momentum_state() is None, (
    "without momentum has_momentum() is False and get_momentum_state() is None")
opt = SGD([w, b], lr=0.1, momentum=0.9)
assert opt.has_momentum(), "SGD(momentum=0.9).has_momentum() should be True"
w.grad = np.ones(2)  # b has no gradient, so no buffer yet
opt.step()
saved = opt.get_momentum_state()
assert isinstance(saved, list) and len(saved) == 2 and saved[1] is None, (
    f"get_momentum_state() gave {saved}: expected one entry per parameter, None where none exists")
live = opt.state[0]["momentum_buffer"]
assert np.array_equal(saved[0], live), (
    f"get_momentum_state()[0] is {saved[0]}, the buffer in state[0]['momentum_buffer'] is {live}")
kept = saved[0].copy()
opt.step()
assert np.array_equal(saved[0], kept), (
    f"a later step changed the list get_momentum_state() returned, from {kept} to {saved[0]}: "
    "return copies of the buffers")
opt.set_momentum_state(saved)
saved[0] += 5
got = opt.get_momentum_state()[0]
assert np.array_equal(got, kept), (
    f"after set_momentum_state(saved) and a change to saved, the buffer is {got}, expected "
    f"{kept}: set_momentum_state() restores the saved buffers, copying them in")
opt.set_momentum_state(None)
assert opt.get_momentum_state() == [None, None], "set_momentum_state(None) should clear every buffer"


# %% [markdown] nbgrader={"grade": false, "grade_id": "nesterov_derivation_md", "locked": true, "schema_version": 3, "solution": false}
# ### Where Nesterov's formula comes from
#
# Nesterov's idea is to take the gradient not where the parameter is but where the velocity is
# about to carry it. With the velocity in step units, $u_t = \mu u_{t-1} - \eta \nabla L(\theta_{t-1} + \mu u_{t-1})$
# and $\theta_t = \theta_{t-1} + u_t$: look ahead by $\mu u_{t-1}$, measure the gradient there, and
# correct the velocity with it. That needs the loss at a point other than the parameter, which a
# training loop does not have. The trick is a change of variables: keep the *look-ahead point*
# $\phi_t = \theta_t + \mu u_t$ as the parameter instead. Substituting, and writing $g_t$ for the
# gradient at $\phi_{t-1}$ (which is where the model now is, so `backward()` computes it) and
# $u_t = -\eta\, b_t$:
#
# $$b_t = \mu\, b_{t-1} + g_t \qquad \phi_t = \phi_{t-1} + u_t + \mu\,(u_t - u_{t-1})
# = \phi_{t-1} - \eta\,(g_t + \mu\, b_t)$$
#
# using $u_t - u_{t-1} = (\mu - 1)u_{t-1} - \eta g_t$ and regrouping. That is exactly the update in
# the spec: step along $g + \mu b$. The cell below runs both forms on the valley's gradient and
# compares the look-ahead points.

# %% nbgrader={"grade": false, "grade_id": "nesterov_derivation", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
def nesterov_look_ahead(grad_at, theta, lr, mu, steps):
    """Nesterov as first written: the gradient at theta + mu * u; returns the look-ahead points."""
    u, points = np.zeros_like(theta), []
    for _ in range(steps):
        u = mu * u - lr * grad_at(theta + mu * u)
        theta = theta + u
        points.append(theta + mu * u)
    return np.array(points)


def grad_at(x):
    return np.array([1.0, 50.0]) * x  # the valley of section 5, minimum at 0


start, lr, mu = np.array([-8.0, 1.0]), 0.01, 0.9
x = Parameter(start.copy())  # the look-ahead point at the start, where u = 0
optimizer = SGD([x], lr=lr, momentum=mu, nesterov=True)
ours = []
for _ in range(20):
    x.grad = grad_at(x.data)
    optimizer.step()
    ours.append(x.data.copy())
gap = np.abs(np.array(ours) - nesterov_look_ahead(grad_at, start, lr, mu, 20)).max()
print(f"largest difference over 20 steps between SGD(nesterov=True) and the look-ahead form: {gap:.1e}")


# %% [markdown] nbgrader={"grade": false, "grade_id": "zero_grad_demo_md", "locked": true, "schema_version": 3, "solution": false}
# With SGD working, here is what forgetting `zero_grad()` does. We minimise $(x - 3)^2$ with
# tensors and `backward()`, once with the full training step and once without `zero_grad()`.
# Without it, the gradient used at every step is the sum of all gradients so far: $x$ swings past
# the minimum to about 6, back to about 0, and keeps swinging, never settling.

# %% nbgrader={"grade": false, "grade_id": "zero_grad_demo", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]

def minimise(clear_gradients, steps=16):
    """The values of x while SGD minimises (x - 3)^2 from 0."""
    x = Parameter([0.0])
    optimizer = SGD([x], lr=0.1)
    path = []
    for _ in range(steps):
        loss = ((x - 3) ** 2).sum()
        loss.backward()
        optimizer.step()
        if clear_gradients:
            optimizer.zero_grad()
        path.append(x.item())
    return path


print("with zero_grad:   ", " ".join(f"{x:5.2f}" for x in minimise(True)))
print("without zero_grad:", " ".join(f"{x:5.2f}" for x in minimise(False)))


# %% [markdown] nbgrader={"grade": false, "grade_id": "adam_parents_md", "locked": true, "schema_version": 3, "solution": false}
# ### Before Adam: Adagrad and RMSProp
#
# Adam did not come from nowhere. **Adagrad** (Duchi, Hazan and Singer, 2011) first gave every
# coordinate its own step size, dividing by the root of the *sum* of all squared gradients so far:
# $\theta \mathrel{-}= \eta\, g / (\sqrt{\textstyle\sum_s g_s^2} + \epsilon)$. Coordinates with large
# gradients take small steps and rare, small gradients get large ones, which suits sparse
# features, but the sum only grows: the steps shrink forever, and long runs stall. **RMSProp**
# (Hinton's lecture notes, 2012) replaced the sum by a running average,
# $v = \beta v + (1 - \beta) g^2$, so the scale follows the recent gradients instead of the whole
# history. Adam is RMSProp's $v$, plus a running average $m$ of the gradient itself (momentum),
# plus the bias correction that both averages need because they start at zero. The cell runs the
# two parents on the valley of section 5 with the same learning rate.

# %% nbgrader={"grade": false, "grade_id": "adam_parents", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
def adaptive_descent(rule, lr=0.3, steps=300):
    """Losses of an adaptive rule on L = (x^2 + 50 y^2) / 2 from (-8, 1); rule(acc, g) -> new acc."""
    x, acc, losses = np.array([-8.0, 1.0]), np.zeros(2), []
    for _ in range(steps):
        g = np.array([1.0, 50.0]) * x
        acc = rule(acc, g)
        x = x - lr * g / (np.sqrt(acc) + 1e-8)
        losses.append(0.5 * np.sum(np.array([1.0, 50.0]) * x ** 2))
    return np.array(losses)


PARENTS = {"Adagrad (sum of g^2)": lambda acc, g: acc + g * g,
           "RMSProp (average of g^2, beta 0.9)": lambda acc, g: 0.9 * acc + 0.1 * g * g}
for name, rule in PARENTS.items():
    losses = adaptive_descent(rule)
    print(f"{name:>36}: loss after 30, 100, 300 steps: "
          + ", ".join(f"{losses[k - 1]:.2e}" for k in (30, 100, 300)))


# %% [markdown] nbgrader={"grade": false, "grade_id": "adam_parents_text_md", "locked": true, "schema_version": 3, "solution": false}
# Read the rows (the project's tests check these three facts): Adagrad is still falling at step
# 300, ever more slowly, because its sum only grows and its steps shrink; RMSProp is far lower
# after 30 steps, and then no lower at 300: with steps of about `lr` in every coordinate and
# nothing to damp them, it bounces around the minimum at a floor. Adam keeps RMSProp's scale,
# adds momentum's average of the gradient, and corrects both for their start at zero.

# %% [markdown] nbgrader={"grade": false, "grade_id": "adam_md", "locked": true, "schema_version": 3, "solution": false}
# ### Adam
#
# SGD and momentum use one learning rate for every parameter. But the gradients of different
# parameters can differ by orders of magnitude: the weights of a rarely active unit, of an early
# layer, of a bias. One learning rate is then too large for some and too small for others.
#
# **Adam** (Kingma and Ba, 2015) gives every coordinate its own step size. It keeps two running
# averages per parameter: $m$, of the gradient (its direction), and $v$, of the squared gradient
# (its typical size). Then it steps along $m$ divided by $\sqrt{v}$, a gradient measured in units
# of its own typical size:
#
# $$m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \qquad\qquad v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2$$
#
# $$\hat m_t = \frac{m_t}{1 - \beta_1^t} \qquad \hat v_t = \frac{v_t}{1 - \beta_2^t} \qquad\qquad
# \theta_t = \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}$$
#
# with $m_0 = v_0 = 0$, and $g_t^2$ the element-wise square. The defaults are $\eta = 0.001$,
# $\beta_1 = 0.9$, $\beta_2 = 0.999$, $\epsilon = 10^{-8}$. Since $\hat m / \sqrt{\hat v}$ is
# about $\pm 1$ when the gradient is steady, every coordinate moves by about $\eta$ per step,
# whatever the scale of its gradient: $\eta$ becomes a step length in parameter units. Multiply
# the loss by 1000 and Adam takes almost exactly the same steps.
#
# **Bias correction.** The averages start at zero, so early on they are too small. With a
# constant gradient $g$, $m_t = (1 - \beta_1^t)\, g$ exactly: dividing by $1 - \beta_1^t$ removes
# the bias. At step 1 with $\beta_1 = 0.9$ the correction multiplies $m$ by 10; at step 10 it
# divides by 0.651; by step 100 it is negligible. For $v$, with $\beta_2 = 0.999$, the correction
# matters for thousands of steps ($1 - 0.999^{1000} \approx 0.63$). Without correcting $m$, the
# first updates are about 10 times too small. Without correcting either, they are not 10 times too
# small but about 3 times too *large* ($0.1 / \sqrt{0.001} \approx 3.2$), because $v$ sits under
# a square root: the two corrections belong together.
#
# **Getting the details right.** These are the places where implementations go wrong:
# - $\beta_1$ goes with $m$ and $\beta_2$ with $v$; $v$ averages $g \cdot g$, not $g$.
# - $\hat m$ and $\hat v$ are new arrays. Dividing `m` in place by the correction would corrupt
#   the running average that the next step builds on.
# - $\epsilon$ goes *outside* the square root, $\sqrt{\hat v} + \epsilon$, as in PyTorch. It keeps
#   the division finite where $v = 0$, and it also sets a scale: a coordinate whose gradient is
#   about $\epsilon$ moves only about half as far as the others ($|g| / (|g| + \epsilon)$), and
#   one far below $\epsilon$ hardly moves. Inside the root, $\sqrt{\hat v + \epsilon}$, the
#   same number would act like a gradient of size $\sqrt\epsilon = 10^{-4}$.
# - $t$ counts the steps of *this parameter*: it is stored per parameter in `state["step"]` and
#   goes up by exactly one each time the parameter is updated.
# - The state of parameter `i` is `state["step"]`, `state["exp_avg"]` ($m$) and
#   `state["exp_avg_sq"]` ($v$), created at its first update (zeros like the parameter).
#
# **Weight decay.** `Adam(weight_decay=λ)` adds $\lambda\theta$ to the gradient, like SGD (this is
# what `torch.optim.Adam` does). That has an unintended consequence: the decay then passes through
# the division by $\sqrt{\hat v}$, so parameters with large gradients are regularised *less*.
# AdamW, next, fixes exactly that.
#
# The code is split so that AdamW can reuse it: `update` prepares the gradient (weight decay) and
# calls `adam_step`, which does everything else. `m_buffers` and `v_buffers` list every
# parameter's $m$ and $v$ (`None` before its first step); they are given.

# %% [markdown] nbgrader={"grade": false, "grade_id": "question_bias", "locked": true, "schema_version": 3, "solution": false}
# **Check your understanding 3.** Derive the bias correction: with $m_0 = 0$ and a constant gradient $g$, show that $m_t = (1 - \beta_1^t)\, g$. What factor does the correction apply at $t = 1$ and $t = 10$ for $\beta_1 = 0.9$, and why does $v$ need its correction for far longer?
#
# <details><summary>Answer</summary>
#
# Unrolling $m_t = \beta_1 m_{t-1} + (1-\beta_1) g$ gives $m_t = (1-\beta_1)(1 + \beta_1 + \dots + \beta_1^{t-1})\, g = (1 - \beta_1^t)\, g$ (geometric series). So dividing by $1 - \beta_1^t$ returns $g$: a factor of 10 at $t = 1$, $1/0.651 = 1.54$ at $t = 10$. For $v$ the same argument gives $1 - \beta_2^t$ with $\beta_2 = 0.999$: still $0.63$ at $t = 1000$, so the correction matters for thousands of steps.
#
# </details>

# %% [markdown] nbgrader={"grade": false, "grade_id": "question_eps", "locked": true, "schema_version": 3, "solution": false}
# **Check your understanding 4.** A coordinate's gradient is steadily $|g| = 10^{-8}$, equal to the default $\epsilon$. How far does Adam move it per step, compared with a coordinate whose gradient is $1$? What would $\sqrt{\hat v + \epsilon}$ (eps inside the root) do instead?
#
# <details><summary>Answer</summary>
#
# With $\hat m = g$ and $\sqrt{\hat v} = |g|$, the step is $\eta\,|g| / (|g| + \epsilon) = \eta / 2$: half the step of a coordinate with a large gradient. The test `adam_eps` uses exactly this. Inside the root, $\sqrt{10^{-16} + 10^{-8}} = 10^{-4}$, so the step would be $\eta \cdot 10^{-8} / 10^{-4} = 10^{-4}\eta$: $\epsilon$ inside the root acts like a gradient floor of $\sqrt\epsilon$, which is why where it goes matters near $|g| \approx \epsilon$.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "adam", "locked": false, "schema_version": 3, "solution": true}
#| export
class Adam(Optimizer):
    """Adam: per-coordinate steps from running averages of the gradient and its square."""

    def __init__(self, params: Iterable, lr: float = 0.001, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        """Refuse a beta outside [0, 1), eps < 0 and weight_decay < 0 (ValueError naming the
        value, as PyTorch's "Invalid beta parameter at index 1: 1.0 (must be in [0, 1))")."""
        # TODO: refuse invalid betas, eps and weight_decay.
        ### BEGIN SOLUTION
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta} (must be in [0, 1))")
        if eps < 0:
            raise ValueError(f"Invalid epsilon value: {eps} (must be >= 0)")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay} (must be >= 0)")
        ### END SOLUTION
        super().__init__(params, lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def update(self, p, grad: np.ndarray, state: dict) -> None:
        """Adam with L2 regularisation: the gradient gains weight_decay times p (in a new
        array: the caller's gradient stays as it was), then adam_step does the rest."""
        # TODO: add the L2 term to the gradient, then take an Adam step with it.
        ### BEGIN SOLUTION
        weight_decay = self.hyperparams["weight_decay"]
        if weight_decay != 0:
            grad = grad + weight_decay * p.data
        self.adam_step(p, grad, state)
        ### END SOLUTION

    def adam_step(self, p, grad: np.ndarray, state: dict) -> None:
        """One Adam update of p from grad, the formulas above:

        1. count this parameter's steps: t is 1 at its first update;
        2. update the running averages m (of g, with beta1) and v (of g squared, with beta2);
        3. correct each for its bias at step t, into new arrays (m and v themselves go on);
        4. move p against m_hat, divided by the square root of v_hat plus eps, times lr.

        The state is "step", "exp_avg" (m) and "exp_avg_sq" (v), created at the first update
        as 0 and as zeros shaped and typed like the parameter. Update m, v and p in place.
        """
        # TODO: update step, m and v, then move p by the corrected step.
        ### BEGIN SOLUTION
        beta1, beta2 = self.hyperparams["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1 - beta1) * grad  # m = beta1 * m + (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * grad * grad  # v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.hyperparams["eps"])
        ### END SOLUTION

    @property
    def m_buffers(self) -> list:
        """The first moment m (exp_avg) of every parameter; None before its first step."""
        return self.buffers("exp_avg")

    @property
    def v_buffers(self) -> list:
        """The second moment v (exp_avg_sq) of every parameter; None before its first step."""
        return self.buffers("exp_avg_sq")


# %% nbgrader={"grade": true, "grade_id": "adam_moments", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# Test: Adam's running averages, m of the gradient (beta1) and v of its square (beta2), with the betas given
import numpy as np
from tinytorch.core.tensor import Parameter

w = Parameter(np.array([0.0, 0.0]))
opt = Adam([w], lr=0.01)
for g in ([1.0, -2.0], [3.0, 4.0]):
    w.grad = np.array(g)
    opt.step()
m, v = opt.m_buffers[0], opt.v_buffers[0]
assert m is not None and v is not None, (
    "m_buffers / v_buffers are None after two steps: keep m and v in "
    "self.state[i]['exp_avg'] / ['exp_avg_sq'], where a checkpoint finds them")
assert np.allclose(m, [0.39, 0.22]), (
    f"exp_avg after gradients [1, -2] then [3, 4] is {m}, expected [0.39, 0.22] "
    "(m = 0.9 * m + 0.1 * g): "
    + ("are the betas swapped?" if np.allclose(m, [0.003999, 0.002002], rtol=1e-3) else
       "is m divided in place by its bias correction? m_hat must be a new array"
       if not np.allclose(m, [0.39, 0.22], rtol=0.3) else "m = beta1 * m + (1 - beta1) * g"))
assert np.allclose(v, [0.009999, 0.019996]), (
    f"exp_avg_sq is {v}, expected [0.009999, 0.019996] (v = 0.999 * v + 0.001 * g * g): "
    + ("is v built from g instead of g * g?" if np.allclose(v, [0.003999, 0.002002], rtol=1e-3) else
       "are the betas swapped, or is v divided in place by its bias correction?"))

# The same gradients with betas=(0.8, 0.99): the averages use the betas the optimizer was given.
w = Parameter(np.array([0.0, 0.0]))
opt = Adam([w], lr=0.01, betas=(0.8, 0.99))
for g in ([1.0, -2.0], [3.0, 4.0]):
    w.grad = np.array(g)
    opt.step()
m, v = opt.m_buffers[0], opt.v_buffers[0]
defaults = np.allclose(m, [0.39, 0.22]) and np.allclose(v, [0.009999, 0.019996])
assert np.allclose(m, [0.76, 0.48]) and np.allclose(v, [0.0999, 0.1996]), (
    f"with betas=(0.8, 0.99) exp_avg is {m} and exp_avg_sq {v}, expected [0.76, 0.48] and "
    "[0.0999, 0.1996] (m = 0.8 * m + 0.2 * g, v = 0.99 * v + 0.01 * g * g): "
    + ("these are the averages of the default betas (0.9, 0.999): are the betas written into "
       "the update as numbers? Use the betas the optimizer was given" if defaults else
       "m averages g with beta1, v averages g * g with beta2"))

# %% nbgrader={"grade": true, "grade_id": "adam_bias_correction", "locked": true, "points": 6, "schema_version": 3, "solution": false}
# Test: Adam's bias correction: the first step moves every coordinate by lr, and steps 2 and 10 follow the formula
import numpy as np
from tinytorch.core.tensor import Parameter

w = Parameter(np.array([1.0, -1.0, 0.5]))
w.grad = np.array([0.3, -20.0, 0.01])
opt = Adam([w], lr=0.01)
opt.step()
moved = w.data - [1.0, -1.0, 0.5]
ratio = np.abs(moved).mean() / 0.01
assert np.allclose(moved, [-0.01, 0.01, -0.01], rtol=1e-4), (
    f"after 1 step Adam moved the parameter by {moved.round(5)}, expected 0.01 against the sign "
    f"of each gradient: that is {ratio:.3g}x lr, "
    + ("is the bias correction missing? (0.1 / sqrt(0.001) = 3.16)" if np.isclose(ratio, 3.16, rtol=0.01) else
       "is only v bias-corrected? Without m's correction the step is 10x too small" if np.isclose(ratio, 0.1, rtol=0.01) else
       "is only m bias-corrected? Without v's correction the step is 31.6x too large" if np.isclose(ratio, 31.6, rtol=0.01) else
       "m_hat / (sqrt(v_hat) + eps) is g / |g| at the first step"))


def reference(grads, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8):
    """The parameter after each of Adam's steps from 0, by the formulas."""
    p, m, v, path = 0.0, 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g * g
        p -= lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
        path.append(p)
    return path


grads = [1.0, -0.5, 2.0, 0.25, -1.0, 3.0, 0.5, -2.0, 1.5, 0.1]
expected = reference(grads)
w = Parameter(np.array([0.0]))
opt = Adam([w], lr=0.01)
path = []
for g in grads:
    w.grad = np.array([g])
    opt.step()
    path.append(float(w.data[0]))
for t in (2, 10):
    assert np.isclose(path[t - 1], expected[t - 1], rtol=1e-7, atol=1e-12), (
        f"after step {t} of gradients {grads[:t]} Adam's parameter is {path[t - 1]:.8g}, expected "
        f"{expected[t - 1]:.8g}: divide m by 1 - beta1 ** t and v by 1 - beta2 ** t, into new "
        "arrays m_hat and v_hat (dividing m or v in place corrupts the running averages)")

# %% nbgrader={"grade": true, "grade_id": "adam_long_run", "locked": true, "points": 3, "schema_version": 3, "solution": false}
# Test: Adam over 1000 steps, where v's bias correction still matters (1 - 0.999 ** 1000 = 0.63)
import numpy as np
from tinytorch.core.tensor import Parameter

grads = np.sin(np.arange(1000) / 37.0) + 0.5
p, m, v = 0.0, 0.0, 0.0
for t, g in enumerate(grads, start=1):
    m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
    p -= 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
w = Parameter(np.array([0.0]))
opt = Adam([w], lr=0.01)
for g in grads:
    w.grad = np.array([g])
    opt.step()
assert np.isclose(w.data[0], p, rtol=1e-7), (
    f"after 1000 steps Adam's parameter is {w.data[0]:.8g}, expected {p:.8g}: keep correcting v "
    "by 1 - beta2 ** t at every step. With beta2 = 0.999 the correction is still 1 / 0.63 at step "
    "1000: it is negligible after 100 steps only for m")

# %% nbgrader={"grade": true, "grade_id": "adam_eps", "locked": true, "points": 3, "schema_version": 3, "solution": false}
# Test: Adam's eps is added outside the square root, sqrt(v_hat) + eps
import numpy as np
from tinytorch.core.tensor import Parameter

w = Parameter(np.array([0.0]))
w.grad = np.array([1e-4])
Adam([w], lr=1.0, eps=1e-4).step()
assert np.isclose(w.data[0], -0.5), (
    f"with grad 1e-4 and eps 1e-4 the first step moved by {-w.data[0]:.4g} x lr, expected 0.5 "
    "(1e-4 / (1e-4 + 1e-4)): eps goes outside the square root, sqrt(v_hat) + eps"
    + (f"; sqrt(v_hat + eps) would give {1e-4 / np.sqrt(1e-8 + 1e-4):.4g}"
       if np.isclose(-w.data[0], 1e-4 / np.sqrt(1e-8 + 1e-4), rtol=1e-3) else ""))

# %% nbgrader={"grade": true, "grade_id": "adam_step_counter", "locked": true, "points": 3, "schema_version": 3, "solution": false}
# Test: Adam's step count t goes up once per step, for every parameter
import numpy as np
from tinytorch.core.tensor import Parameter

grads = [0.5, -1.0, 2.0]
alone = Parameter(np.zeros(1))
single = Adam([alone], lr=0.01)
w, b, c = Parameter(np.zeros((2, 2))), Parameter(np.zeros(3)), Parameter(np.zeros(1))
opt = Adam([w, b, c], lr=0.01)
for g in grads:
    alone.grad = np.full(1, g)
    w.grad, b.grad, c.grad = np.full((2, 2), g), np.full(3, g), np.full(1, g)
    single.step()
    opt.step()
got = [float(x.data.flat[0]) for x in (w, b, c)]
assert np.allclose(got, alone.data[0], rtol=1e-12, equal_nan=True), (
    f"3 steps on three parameters with the same gradients moved them to {np.round(got, 6)}, a "
    f"parameter alone to {alone.data[0]:.6f}: is t incremented once per step for each parameter? "
    "One counter shared by all parameters and incremented once per parameter runs ahead")
steps = [opt.state[i].get("step") for i in range(3)]
assert steps == [3, 3, 3], (
    f"after 3 steps state[i]['step'] is {steps}, expected 3 for each parameter: count each "
    "parameter's steps and store the count (t stuck at 1 treats every step as the first)")


# %% nbgrader={"grade": true, "grade_id": "adam_weight_decay", "locked": true, "points": 3, "schema_version": 3, "solution": false}
# Test: Adam's weight_decay is L2, added to the gradient before the moments
import numpy as np
from tinytorch.core.tensor import Parameter

# Adam(weight_decay=0.1) must equal Adam without decay fed grad + 0.1 * p, computed before each step.
w, manual, raw = (Parameter(np.array([1.0, -3.0])) for _ in range(3))
opt = Adam([w], lr=0.01, weight_decay=0.1)
reference, undecayed = Adam([manual], lr=0.01), Adam([raw], lr=0.01)
for g in ([0.0, 0.0], [1.0, -1.0], [0.5, 2.0]):
    w.grad, raw.grad = np.array(g), np.array(g)
    manual.grad = np.array(g) + 0.1 * manual.data
    for optimizer in (opt, reference, undecayed):
        optimizer.step()
assert np.allclose(w.data, manual.data, rtol=1e-12, equal_nan=True), (
    f"three steps of Adam(lr=0.01, weight_decay=0.1) gave {w.data}, but Adam without decay fed "
    f"grad + 0.1 * p gives {manual.data}: "
    + ("is weight_decay ignored?" if np.allclose(w.data, raw.data, rtol=1e-12) else
       "Adam adds weight_decay * p to the gradient, before the moments; shrinking p directly is "
       "AdamW's decoupled decay"))
assert np.array_equal(w.grad, [0.5, 2.0]), (
    f"the step changed p.grad to {w.grad}: add the decay in a new array")


# %% [markdown] nbgrader={"grade": false, "grade_id": "adamw_md", "locked": true, "schema_version": 3, "solution": false}
# ### AdamW
#
# Weight decay was meant to shrink every weight by the same small fraction at every step. In
# plain SGD (no momentum) the L2 gradient does exactly that: the step subtracts
# $\eta\lambda\theta$, the same fraction $\eta\lambda$ of every weight. With momentum the decay
# also enters the velocity and is carried into later steps, so it is no longer a fixed fraction
# per step. In Adam it is not even the same for every weight: the term $\lambda\theta$ is divided
# by $\sqrt{\hat v}$ together with the rest of the gradient, so a weight with large gradients is
# barely decayed while a weight with tiny gradients is decayed hard.
#
# **AdamW** (Loshchilov and Hutter, 2019) *decouples* the decay from the gradient. It shrinks the
# parameter directly, then takes an ordinary Adam step with the raw gradient:
#
# $$\theta \leftarrow \theta\,(1 - \eta\lambda) \qquad\text{then}\qquad
# \theta \leftarrow \theta - \eta\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}
# \quad\text{(with } m, v \text{ built from } g_t = \nabla L(\theta_t) \text{, no } \lambda\theta\text{)}$$
#
# Every parameter shrinks by the same factor $1 - \eta\lambda$, whatever the size of its gradient.
# The factor contains the learning rate, so the decay weakens along with the steps when a
# schedule lowers $\eta$. (That is PyTorch's convention. The AdamW paper writes the decay as
# $\eta_t \lambda \theta$ with a schedule multiplier $\eta_t$ separate from the learning rate
# $\alpha$, so its $\lambda$ is not multiplied by $\alpha$: a paper's $\lambda = 10^{-4}$ is roughly
# PyTorch's `weight_decay = 1e-4 / lr`.) The default is $\lambda = 0.01$. AdamW is the usual choice
# for training transformers. The order matches `torch.optim.AdamW`: decay first, using the
# parameter before the Adam step.

# %% [markdown] nbgrader={"grade": false, "grade_id": "question_adamw", "locked": true, "schema_version": 3, "solution": false}
# **Check your understanding 5.** PyTorch's AdamW shrinks each weight by $1 - \eta\lambda$ per step. The AdamW paper (Loshchilov and Hutter) decays by $\eta_t \lambda$, where $\eta_t$ is a schedule multiplier, not the learning rate $\alpha$. You copy $\lambda = 10^{-4}$ from the paper into `AdamW(lr=1e-3, weight_decay=...)`: what `weight_decay` gives the same decay per step?
#
# <details><summary>Answer</summary>
#
# In PyTorch the decay per step is `lr * weight_decay`; in the paper it is $\lambda$ (times the schedule's multiplier). To shrink by $10^{-4}$ per step at `lr = 1e-3` you need `weight_decay = 1e-4 / 1e-3 = 0.1`. Passing `weight_decay=1e-4` would decay a thousand times less than the paper.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "adamw_class", "locked": false, "schema_version": 3, "solution": true}
#| export
class AdamW(Adam):
    """Adam with decoupled weight decay: p shrinks by the factor 1 - lr * weight_decay first."""

    def __init__(self, params: Iterable, lr: float = 0.001, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01):
        super().__init__(params, lr, betas, eps, weight_decay)

    def update(self, p, grad: np.ndarray, state: dict) -> None:
        """Decoupled decay: shrink p (in place) by the factor above, then an Adam step with the
        raw gradient, which never sees the decay."""
        # TODO: shrink p, then take an Adam step with the raw gradient.
        ### BEGIN SOLUTION
        p.data *= 1 - self.lr * self.hyperparams["weight_decay"]
        self.adam_step(p, grad, state)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "adamw", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# Test: AdamW shrinks p by (1 - lr * weight_decay) first, then takes an Adam step with the raw gradient
import numpy as np
from tinytorch.core.tensor import Parameter

w = Parameter(np.array([2.0, -2.0]))
w.grad = np.zeros(2)  # only the decay acts
AdamW([w], lr=0.1, weight_decay=0.1).step()
assert np.allclose(w.data, [1.98, -1.98]), (
    f"with a zero gradient one AdamW step from [2, -2] gave {w.data}, expected [1.98, -1.98] "
    "(p * (1 - 0.1 * 0.1)): "
    + ("is the decay folded into the gradient, as in Adam?" if np.allclose(w.data, [1.9, -1.9]) else
       "is the learning rate missing from the decay?" if np.allclose(w.data, [1.8, -1.8]) else
       "decay with p *= 1 - lr * weight_decay"))

# AdamW must equal: shrink p by 1 - lr * weight_decay, then a step of Adam without decay.
w, manual = Parameter(np.array([1.0, -3.0])), Parameter(np.array([1.0, -3.0]))
opt = AdamW([w], lr=0.1, weight_decay=0.5)
reference = Adam([manual], lr=0.1)
for g in ([1.0, 1.0], [-1.0, 0.5], [2.0, 0.0]):
    w.grad, manual.grad = np.array(g), np.array(g)
    opt.step()
    manual.data *= 1 - 0.1 * 0.5
    reference.step()
assert np.allclose(w.data, manual.data, rtol=1e-12, equal_nan=True), (
    f"three AdamW steps (lr 0.1, weight_decay 0.5) gave {w.data}, but shrinking p by "
    f"1 - 0.05 and then an Adam step with the raw gradient gives {manual.data}: "
    "decay first, using p before the Adam step, and keep the decay out of the gradient "
    "(the moments see the raw gradient)")


# %% nbgrader={"grade": true, "grade_id": "adam_defaults", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Test: Adam's and AdamW's defaults (lr 0.001, betas (0.9, 0.999), eps 1e-8; AdamW weight_decay 0.01), invalid values refused by value
import numpy as np
from tinytorch.core.tensor import Parameter



def path(make, grads=(2.0, 1e-8, -0.5, 3.0)):
    """The values of a parameter at 0 stepped by make([w]) with these gradients."""
    w = Parameter(np.array([0.0]))
    opt, values = make([w]), []
    for g in grads:
        w.grad = np.array([g])
        opt.step()
        values.append(float(w.data[0]))
    return values


for default, explicit, what in [
        (lambda ps: Adam(ps), lambda ps: Adam(ps, lr=0.001, betas=(0.9, 0.999), eps=1e-8,
                                              weight_decay=0.0),
         "Adam([w]) should be Adam([w], lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)"),
        (lambda ps: AdamW(ps), lambda ps: AdamW(ps, lr=0.001, betas=(0.9, 0.999), eps=1e-8,
                                                weight_decay=0.01),
         "AdamW([w]) should be AdamW([w], lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)")]:
    got, want = path(default), path(explicit)
    assert np.allclose(got, want, rtol=1e-12, equal_nan=True), (
        f"{what}: its steps went through {np.round(got, 8)}, the explicit settings' through "
        f"{np.round(want, 8)}")
w = Parameter(np.zeros(2))
for kwargs, value in [({"lr": -0.1}, "-0.1"), ({"eps": -1e-08}, "-1e-08"),
                      ({"weight_decay": -0.5}, "-0.5"), ({"betas": (1.0, 0.999)}, "1.0"),
                      ({"betas": (0.9, -0.25)}, "-0.25")]:
    try:
        Adam([w], **kwargs)
    except ValueError as e:
        assert value in str(e), f"the error for Adam(**{kwargs}) should name {value}: got {e}"
    else:
        raise AssertionError(f"Adam([w], **{kwargs}) should raise ValueError: a beta must be "
                             "in [0, 1), eps and weight_decay >= 0")

# %% nbgrader={"grade": true, "grade_id": "dtype", "locked": true, "points": 3, "schema_version": 3, "solution": false}
# Test: float32 parameters stay float32, also when lr is a numpy float64 (as np.cos in a schedule returns)
import numpy as np
from tinytorch.core.tensor import Parameter

for make in (lambda params: SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01),
             lambda params: Adam(params, lr=0.01, weight_decay=0.01),
             lambda params: AdamW(params, lr=0.01)):
    w = Parameter(np.ones(3, dtype=np.float32))
    opt = make([w])
    name = type(opt).__name__
    opt.lr = np.float64(opt.lr)  # what a schedule computed with np.cos would set
    for _ in range(2):
        w.grad = np.full(3, 0.5, dtype=np.float32)
        opt.step()
    assert w.data.dtype == np.float32, (
        f"{name} turned a float32 parameter into {w.data.dtype} when lr was np.float64({float(opt.lr)}): "
        "numpy treats its own scalars as typed, so p.data - lr * g is float64. Update p.data in "
        "place (p.data -= ...), which keeps its dtype, or cast the result back to p's dtype")
    buffers = [value for value in opt.state[0].values() if isinstance(value, np.ndarray)]
    assert all(b.dtype == np.float32 for b in buffers), (
        f"{name}'s state holds {[str(b.dtype) for b in buffers]} for a float32 parameter: create "
        "the buffers like the parameter (np.zeros_like(p.data), a copy of the gradient)")


# %% nbgrader={"grade": true, "grade_id": "grad_none", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# Test: a parameter whose grad is None is skipped, state and all; the others move as without it
import numpy as np
from tinytorch.core.tensor import Parameter

for make in (lambda params: SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1),
             lambda params: Adam(params, lr=0.1, weight_decay=0.1),
             lambda params: AdamW(params, lr=0.1, weight_decay=0.1)):
    w, frozen = Parameter(np.array([1.0, 2.0])), Parameter(np.array([5.0]))
    alone = Parameter(np.array([1.0, 2.0]))
    opt, reference = make([frozen, w]), make([alone])
    name = type(opt).__name__
    for step in range(3):
        w.grad, alone.grad = np.array([0.5, -1.0]), np.array([0.5, -1.0])  # frozen.grad stays None
        try:
            opt.step()
        except (TypeError, AttributeError) as error:
            raise AssertionError(f"{name}.step() failed on a parameter whose grad is None "
                                 f"({type(error).__name__}: {error}): skip it") from None
        reference.step()
    assert np.array_equal(frozen.data, [5.0]), (
        f"{name} moved a parameter whose grad is None from 5 to {frozen.data[0]:.6g}: skip it; "
        "treating a missing gradient as zero still decays it and keeps its momentum going")
    assert not opt.state.get(0), (
        f"{name} gave a state {opt.state.get(0)} to a parameter that never had a gradient: skip it, "
        "state and all")
    assert np.allclose(w.data, alone.data, rtol=1e-12, equal_nan=True), (
        f"with a skipped parameter beside it, {name} moved the other one to {w.data}, alone it moves "
        f"to {alone.data}: a skipped parameter must not change how the others are updated")


# %% nbgrader={"grade": true, "grade_id": "training_loop", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Test: a training loop: parameters from a generator (model.parameters()), a new gradient at each step
import numpy as np
from tinytorch.core.tensor import Parameter

w, b = Parameter(np.array([1.0, 1.0])), Parameter(np.array([0.0]))
opt = SGD((p for p in [w, b]), lr=0.1)  # a generator can be read only once
for step in range(3):
    w.grad, b.grad = np.array([1.0, -1.0]) * (step + 1), np.array([2.0])
    opt.step()
    opt.zero_grad()
assert np.allclose(w.data, [0.4, 1.6]) and np.allclose(b.data, [-0.6]), (
    f"3 steps from a generator of parameters gave {w.data} and {b.data}, expected [0.4, 1.6] and "
    "[-0.6]: "
    + ("only the first step moved them: keep the parameters as a list (list(params)), a generator "
       "is used up by the first loop over it" if np.allclose(w.data, [0.9, 1.1]) else
       "each step uses the gradient the loop just set"))
assert w.grad is None and b.grad is None, "zero_grad() should leave every grad at None"


# %% [markdown] nbgrader={"grade": false, "grade_id": "decay_groups_md", "locked": true, "schema_version": 3, "solution": false}
# ### Why weight decay usually spares biases and normalisation parameters
#
# Weight decay pulls every parameter it touches towards zero. For a weight matrix that is the
# point: small weights make a smoother function. For a bias, or the gain of a normalisation layer,
# zero is not "simple", it is just a different function: a decayed bias moves the unit's threshold
# towards 0 whatever the data say, and a normalisation gain pulled towards 0 switches its unit
# off. These parameters are also few (one per unit), so they add little capacity to regularise.
# That is why training scripts usually put them in a second group with `weight_decay=0`; PyTorch
# does it with parameter groups, and with one group per optimizer here you can build two
# optimizers. The cell below fits a line with slope 2 and offset 5 by AdamW and decays either
# both parameters or the slope only. Decayed, the offset ends far below 5; spared, it is fitted
# (within 0.1 of 5), while the slope is shrunk in both runs, as decay means to (the project's
# tests check these figures).

# %% nbgrader={"grade": false, "grade_id": "decay_groups", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
rng_line = np.random.default_rng(0)
xs = rng_line.uniform(-1, 1, 200)
ys = 2.0 * xs + 5.0 + rng_line.normal(0, 0.1, 200)  # slope 2, offset 5


def fit_line(decay_bias, steps=500):
    """Slope and offset fitted by AdamW(weight_decay=0.5), the offset decayed or not."""
    slope, offset = Parameter(np.array([0.0])), Parameter(np.array([0.0]))
    groups = [AdamW([slope], lr=0.05, weight_decay=0.5),
              AdamW([offset], lr=0.05, weight_decay=0.5 if decay_bias else 0.0)]
    for _ in range(steps):
        error = slope.data * xs + offset.data - ys
        slope.grad, offset.grad = np.array([2 * np.mean(error * xs)]), np.array([2 * np.mean(error)])
        for optimizer in groups:
            optimizer.step()
    return slope.data[0], offset.data[0]


for decay_bias in (True, False):
    slope, offset = fit_line(decay_bias)
    print(f"offset {'decayed' if decay_bias else 'spared '}: slope {slope:.3f}, offset {offset:.3f} "
          f"(the data: slope 2, offset 5)")


# %% [markdown] nbgrader={"grade": false, "grade_id": "schedulers_md", "locked": true, "schema_version": 3, "solution": false}
# ### Learning-rate schedulers
#
# A learning rate that is right at the start of training is usually too large at the end. Early
# on, large steps cross the loss landscape quickly. Later, near a minimum, the same steps bounce
# around it, and with noisy mini-batch gradients they keep the loss at a floor set by the noise.
# Lowering $\eta$ over time gets both. A **scheduler** sets `optimizer.lr` from the number of
# epochs done; you call `scheduler.step()` once per epoch, after that epoch's `optimizer.step()`
# calls.
#
# Both schedulers here compute the rate in closed form from the epoch $e$ = `last_epoch` and the
# rate the optimizer had when the scheduler was created, $\eta_0$ = `base_lr`:
#
# - **Step decay** (`StepLR(optimizer, step_size, gamma=0.1)`): multiply by $\gamma$ every
#   `step_size` epochs,
#   $$\eta_e = \eta_0\, \gamma^{\lfloor e / s \rfloor}$$
#   where $s$ is `step_size`.
# - **Cosine annealing** (`CosineAnnealingLR(optimizer, T_max, eta_min=0.0)`): glide from
#   $\eta_0$ down to $\eta_{\min}$ along half a cosine wave over $T_{\max}$ epochs,
#   $$\eta_e = \eta_{\min} + (\eta_0 - \eta_{\min})\,\frac{1 + \cos(\pi e / T_{\max})}{2}$$
#   It stays near $\eta_0$ for a while, drops fastest in the middle and flattens out at the end.
#
# Creating a scheduler records `base_lr = optimizer.lr` and `last_epoch = 0` and leaves the
# optimizer alone; each `step()` adds one to `last_epoch` and sets `optimizer.lr = get_lr()`.
# These are the values `torch.optim.lr_scheduler` gives for the same calls. `get_last_lr()`
# returns `[lr]`, a list as in PyTorch (which allows several parameter groups).
#
# A scheduler has state too: `last_epoch` and its settings. Its `state_dict()` is every attribute
# except the optimizer (which saves itself), and `load_state_dict()` puts them back. `vars(self)`
# is the dict of an object's attributes.

# %% nbgrader={"grade": false, "grade_id": "schedulers", "locked": false, "schema_version": 3, "solution": true}
#| export
class LRScheduler:
    """Sets optimizer.lr from the epoch count; call step() once per epoch."""

    def __init__(self, optimizer: Optimizer):
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def get_lr(self) -> float:
        """The learning rate for epoch self.last_epoch."""
        raise NotImplementedError(f"{type(self).__name__} does not define get_lr()")

    def step(self) -> None:
        """Move on to the next epoch and set the optimizer's learning rate for it."""
        self.last_epoch += 1
        self.optimizer.lr = self.get_lr()

    def get_last_lr(self) -> list:
        return [self.optimizer.lr]

    def state_dict(self) -> dict:
        """Every attribute except the optimizer: base_lr, last_epoch and the settings."""
        # TODO: return every attribute except the optimizer, in a new dict.
        ### BEGIN SOLUTION
        return {name: value for name, value in vars(self).items() if name != "optimizer"}
        ### END SOLUTION

    def load_state_dict(self, state_dict: dict) -> None:
        """Set every attribute named in state_dict to its value."""
        # TODO: set each attribute named in state_dict to the saved value.
        ### BEGIN SOLUTION
        vars(self).update(state_dict)
        ### END SOLUTION


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (last_epoch // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self) -> float:
        # TODO: return the step-decayed learning rate for epoch self.last_epoch.
        ### BEGIN SOLUTION
        return self.base_lr * self.gamma ** (self.last_epoch // self.step_size)
        ### END SOLUTION


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * last_epoch / T_max)) / 2."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer)

    def get_lr(self) -> float:
        # TODO: return the cosine-annealed lr for epoch self.last_epoch.
        ### BEGIN SOLUTION
        progress = self.last_epoch / self.T_max
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * progress)) / 2
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "step_lr", "locked": true, "points": 4, "schema_version": 3, "solution": false}
# Test: StepLR multiplies the learning rate by gamma every step_size epochs
import numpy as np
from tinytorch.core.tensor import Parameter

opt = SGD([Parameter(np.zeros(1))], lr=0.1)
scheduler = StepLR(opt, step_size=2, gamma=0.5)
assert opt.lr == 0.1, f"creating a scheduler changed lr to {opt.lr}: leave it alone until step()"
lrs = []
for _ in range(5):
    scheduler.step()
    lrs.append(opt.lr)
assert np.allclose(lrs, [0.1, 0.05, 0.05, 0.025, 0.025]), (
    f"StepLR(step_size=2, gamma=0.5) from lr 0.1 gave {lrs} for epochs 1-5, expected "
    "[0.1, 0.05, 0.05, 0.025, 0.025]: lr = base_lr * gamma ** (epoch // step_size)"
    + (", counting the epoch before computing the lr" if np.allclose(lrs[:3], [0.1, 0.1, 0.05]) else "")
    + (", with the epoch itself in the exponent, not epoch + 1" if np.allclose(lrs[:2], [0.05, 0.05]) else ""))
assert scheduler.get_last_lr() == [opt.lr], "get_last_lr() should return [optimizer.lr]"

# %% nbgrader={"grade": true, "grade_id": "cosine_lr", "locked": true, "points": 4, "schema_version": 3, "solution": false}
# Test: CosineAnnealingLR follows half a cosine from base_lr down to eta_min over T_max epochs
import numpy as np
from tinytorch.core.tensor import Parameter

opt = SGD([Parameter(np.zeros(1))], lr=0.1)
scheduler = CosineAnnealingLR(opt, T_max=4, eta_min=0.01)
lrs = []
for _ in range(4):
    scheduler.step()
    lrs.append(opt.lr)
expected = [0.0868198, 0.055, 0.0231802, 0.01]
assert np.allclose(lrs, expected, atol=1e-7), (
    f"CosineAnnealingLR(T_max=4, eta_min=0.01) from lr 0.1 gave {np.round(lrs, 7)} for epochs "
    f"1-4, expected {expected}: lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * e / T_max)) / 2"
    + ("; it must reach eta_min at epoch T_max" if not np.isclose(lrs[-1], 0.01) else ""))

# %% nbgrader={"grade": true, "grade_id": "scheduler_state", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Test: a scheduler's state_dict() round-trips its epoch and settings, without the optimizer
import numpy as np
from tinytorch.core.tensor import Parameter

opt = SGD([Parameter(np.zeros(1))], lr=0.1)
scheduler = StepLR(opt, step_size=2, gamma=0.5)
for _ in range(3):
    scheduler.step()
sd = scheduler.state_dict()
new_opt = SGD([Parameter(np.zeros(1))], lr=0.05)  # the resumed optimizer, lr from its own checkpoint
resumed = StepLR(new_opt, step_size=7)
resumed.load_state_dict(sd)
scheduler.step()
resumed.step()
assert new_opt.lr == opt.lr == 0.025, (
    f"after resuming at epoch 3, epoch 4 set the new optimizer's lr to {new_opt.lr}, the original's "
    f"is {opt.lr}: "
    + ("the scheduler's state_dict holds its optimizer, so the loaded scheduler drives the old "
       "optimizer: leave the optimizer out of it (it saves itself)" if "optimizer" in sd else
       "load_state_dict() restores the epoch, base_lr and the settings (step_size, gamma)"))

# %% [markdown] nbgrader={"grade": false, "grade_id": "question_resume_lr", "locked": true, "schema_version": 3, "solution": false}
# **Check your understanding 6.** You resume Adam from a checkpoint but with a learning rate ten times smaller. What happens to $m$, $v$ and the bias correction at the next step? And what if you resumed with only the weights?
#
# <details><summary>Answer</summary>
#
# Nothing happens to $m$, $v$ or the step count: they are in gradient units and are restored as they were, so the next step is exactly the uninterrupted step scaled by $1/10$ (the learning rate multiplies the update, it is not inside the moments). With only the weights, $m = v = 0$ and $t = 0$: the bias correction treats the next step as the first, which moves every coordinate by about `lr` whatever its gradient history, the jolt the plot in section 6 shows.
#
# </details>

# %% [markdown] nbgrader={"grade": false, "grade_id": "systems_md", "locked": true, "schema_version": 3, "solution": false}
# ## 4 · The systems view: memory and time
#
# Every optimizer here does a fixed amount of work per parameter at every step, so each is $O(P)$
# in time for $P$ parameters. Where they differ is memory:
#
# | optimizer | state per parameter | extra memory |
# | --- | --- | --- |
# | SGD | nothing | 0 |
# | SGD with momentum | `momentum_buffer` | 1 × the parameters |
# | Adam, AdamW | `exp_avg`, `exp_avg_sq` (and a step count) | 2 × the parameters |
#
# Let's measure rather than believe the table. We build a real MLP with the layers of the earlier
# modules, compute gradients once, take a step with each optimizer, and count the bytes of every
# array in its state.

# %% nbgrader={"grade": false, "grade_id": "state_bytes", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
def make_mlp(hidden=256, seed=0):
    """A 2 -> hidden -> hidden -> 3 classifier."""
    return Sequential(Linear(2, hidden, seed=seed), ReLU(),
                      Linear(hidden, hidden, seed=seed + 1), ReLU(),
                      Linear(hidden, 3, seed=seed + 2))


def state_bytes(optimizer):
    """Bytes of every array the optimizer keeps in its state."""
    return sum(value.nbytes for buffers in optimizer.state.values()
               for value in buffers.values() if isinstance(value, np.ndarray))


def time_per_step(optimizers, steps=20, rounds=10):
    """Seconds per step of each optimizer in each of several rounds in which they take turns,
    so that each sees the machine in the same conditions."""
    times = {name: [] for name in optimizers}
    for _ in range(rounds):
        for name, optimizer in optimizers.items():
            start = time.perf_counter()
            for _ in range(steps):
                optimizer.step()
            times[name].append((time.perf_counter() - start) / steps)
    return {name: np.array(t) for name, t in times.items()}


OPTIMIZERS = {
    "SGD": lambda params: SGD(params, lr=0.05),
    "Momentum": lambda params: Momentum(params, lr=0.05),
    "Adam": lambda params: Adam(params, lr=0.005),
    "AdamW": lambda params: AdamW(params, lr=0.005),
}
rng = np.random.default_rng(0)
batch, labels = Tensor(rng.normal(size=(64, 2)).astype(np.float32)), rng.integers(0, 3, 64)
optimizers = {}
for name, make in OPTIMIZERS.items():
    model = make_mlp()  # the same initial weights for every optimizer
    optimizers[name] = make(model.parameters())
    CrossEntropyLoss()(model(batch), labels).backward()
    optimizers[name].step()  # the state is created at the first step

seconds = time_per_step(optimizers)
params = optimizers["SGD"].params
param_bytes = sum(p.data.nbytes for p in params)
print(f"the model: {len(params)} parameter arrays, {sum(p.data.size for p in params):,} numbers, "
      f"{param_bytes:,} bytes")
print(f"{'optimizer':>9} {'state bytes':>12} {'x params':>9} {'ms / step: median (min-max) of 10':>34}")
for name, optimizer in optimizers.items():
    times = seconds[name]
    print(f"{name:>9} {state_bytes(optimizer):>12,} {state_bytes(optimizer) / param_bytes:>9.2f} "
          f"{1e3 * np.median(times):>14.3f} ({1e3 * times.min():.3f}-{1e3 * times.max():.3f})")


# %% [markdown] nbgrader={"grade": false, "grade_id": "in_place_md", "locked": true, "schema_version": 3, "solution": false}
# Exactly 0, 1 and 2 times the parameter bytes (Adam's step counts are Python ints, not arrays).
# The times differ too, but at 67,331 numbers not because of arithmetic: each numpy call costs a
# few microseconds whatever its size, and Adam makes about a dozen calls per parameter array
# where SGD makes two. Differences between Adam and AdamW here are at the level of the spread:
# run the cell again and their order may swap.
#
# ### Counting passes over memory, then measuring
#
# On large arrays the picture changes. Take Adam's update on four million float32 numbers, so
# that each of $p, g, m, v$ is 16 MB, far more than the CPU's caches hold. numpy performs one
# operation at a time over whole arrays, so each operation streams its inputs from memory and
# its output back: one **transfer** is one array of 16 MB read or written once. Count them
# before measuring anything:
#
# | version | numpy operations | transfers |
# | --- | --- | --- |
# | the formulas as written, a new array for every result (`adam_with_temporaries`) | 14 | 33 |
# | in place, into $p, m, v$ and one scratch array (`adam_in_place`, below) | 12 | 28 |
# | the ideal: read $p, g, m, v$ once, write $p, m, v$ once | 1 | 7 |
#
# (An operation on one array reads it and writes its result, 2 transfers; `a + b` reads two, 3.
# `np.multiply(g, g)` reads $g$ once.) If the update is bound by memory traffic, its time is the
# number of transfers times the time of one, which a copy measures: `np.copyto` makes 2
# transfers. The version with temporaries also creates 8 new 16 MB arrays (numpy reuses a
# temporary in place where it can, as in `a * b + c`, which saves the others), and fresh memory
# has a price of its own: the operating system hands it out page by page on first touch. The
# cell measures that price too, and predicts each version as transfers plus new arrays.

# %% nbgrader={"grade": false, "grade_id": "adam_kernels", "locked": true, "schema_version": 3, "solution": false}
#| export
def adam_in_place(p, g, m, v, scratch, step_size, eps_hat, beta1, beta2):
    """Adam's update written into p, m, v and one scratch array, allocating nothing.

    The two bias corrections are folded into the step size and eps, as the Adam paper suggests:
    lr * m_hat / (sqrt(v_hat) + eps) = step_size * m / (sqrt(v) + eps_hat), with
    step_size = lr * sqrt(1 - beta2 ** t) / (1 - beta1 ** t) and eps_hat = eps * sqrt(1 - beta2 ** t).
    """
    m *= beta1
    np.multiply(g, 1 - beta1, out=scratch)
    m += scratch                # m = beta1 * m + (1 - beta1) * g
    v *= beta2
    np.multiply(g, g, out=scratch)
    scratch *= 1 - beta2
    v += scratch                # v = beta2 * v + (1 - beta2) * g * g
    np.sqrt(v, out=scratch)
    scratch += eps_hat
    np.divide(m, scratch, out=scratch)
    scratch *= step_size
    p -= scratch                # p -= step_size * m / (sqrt(v) + eps_hat)


BLOCK = 1 << 16  # numbers per block: a block of each array fits in the CPU's cache together


def blocks(p, *others):
    """Walk same-shaped arrays block by block: yields a piece of each, then a scratch piece.

    The pieces are views, so updating a piece in place updates the array. `p` and every array
    after it but the first (the gradient, only read) must be contiguous to be walked this way;
    otherwise the whole arrays come as one block.
    """
    arrays = (p, *others)
    if not all(a.flags.c_contiguous for a in (p, *others[1:])):
        yield (*arrays, np.empty_like(p))
        return
    flat = [a.reshape(-1) for a in arrays]
    scratch = np.empty(min(p.size, BLOCK), dtype=p.dtype)
    for start in range(0, p.size, BLOCK):
        pieces = [a[start:start + BLOCK] for a in flat]
        yield (*pieces, scratch[:len(pieces[0])])


def adam_in_blocks(p, g, m, v, t, lr, betas, eps):
    """Adam's step number t on p, m and v in place, block by block (adam_in_place on each)."""
    beta1, beta2 = betas
    root = math.sqrt(1 - beta2 ** t)
    for pieces in blocks(p, g, m, v):
        adam_in_place(*pieces, lr * root / (1 - beta1 ** t), eps * root, beta1, beta2)


class BlockedAdam(Adam):
    """Adam whose step works through each parameter in cache-sized blocks (section 4)."""

    def adam_step(self, p, grad: np.ndarray, state: dict) -> None:
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(p.data), exp_avg_sq=np.zeros_like(p.data))
        state["step"] += 1
        adam_in_blocks(p.data, grad, state["exp_avg"], state["exp_avg_sq"], state["step"],
                       self.lr, self.hyperparams["betas"], self.hyperparams["eps"])


# %% nbgrader={"grade": false, "grade_id": "in_place_timing_setup", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
def timings(run, repeats=7):
    """Seconds of each of `repeats` calls of run(), after one untimed call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return np.array(times)


def spread(times, unit=1e3):
    """'median (min-max)' of an array of seconds, in ms by default."""
    return f"{unit * np.median(times):.2f} ({unit * times.min():.2f}-{unit * times.max():.2f})"


def cache_resident_rates(size=BLOCK, repeats=200):
    """Elements per second of each operation of adam_in_place, on blocks that stay in the cache."""
    a, b, out = (rng.uniform(1, 2, size).astype(np.float32) for _ in range(3))
    operations = {
        "a *= c": lambda: np.multiply(a, 1.0, out=a),
        "np.multiply(a, b)": lambda: np.multiply(a, b, out=out),
        "a += b": lambda: np.add(a, b, out=a),
        "np.sqrt(a)": lambda: np.sqrt(b, out=out),
        "np.divide(a, b)": lambda: np.divide(a, b, out=out),
    }
    return {name: size / np.median(timings(run, repeats)) for name, run in operations.items()}


# %% nbgrader={"grade": false, "grade_id": "in_place_timing", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
def adam_with_temporaries(p, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """The formulas as written: every intermediate result is a new array."""
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    p = p - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return p, m, v


n = 4_000_000
p, g = rng.normal(size=n).astype(np.float32), rng.normal(size=n).astype(np.float32)
m, v, scratch, destination = np.zeros_like(p), np.zeros_like(p), np.empty_like(p), np.empty_like(p)
FOLDED = dict(step_size=1e-3 * math.sqrt(1 - 0.999) / (1 - 0.9), eps_hat=1e-8 * math.sqrt(1 - 0.999),
              beta1=0.9, beta2=0.999)  # step t = 1
expected = adam_with_temporaries(p, g, m, v, t=1)[0]
check = [a.copy() for a in (p, g, m, v)]
adam_in_place(*check, np.empty_like(p), **FOLDED)
assert np.allclose(check[0], expected, rtol=1e-5, atol=1e-6)  # the same update, up to rounding

copy = timings(lambda: np.copyto(destination, p))
fresh = (timings(lambda: [np.multiply(g, 0.5) for _ in range(8)], 5)  # 8 new arrays alive at once
         - timings(lambda: [np.multiply(g, 0.5, out=destination) for _ in range(8)], 5)) / 8
temporaries = timings(lambda: adam_with_temporaries(p, g, m, v, t=1))
in_place = timings(lambda: adam_in_place(p, g, m, v, scratch, **FOLDED))  # changes p, m, v: fine
per_transfer = copy.min() / 2  # the least disturbed copy: the machine's bandwidth
print(f"one transfer of 16 MB (half a copy): {1e3 * per_transfer:.2f} ms, "
      f"{p.nbytes / per_transfer / 1e9:.1f} GB/s")
print(f"a new 16 MB array costs {spread(fresh)} ms more than writing into an existing one "
      "(8 alive at once, as in the version with temporaries)")
print(f"{'version':>12} {'transfers':>9} {'new arrays':>10} {'predicted ms':>12} "
      f"{'measured ms: median (min-max) of 7':>36}")
for name, transfers, new, times in (("temporaries", 33, 8, temporaries), ("in place", 28, 0, in_place)):
    predicted = transfers * per_transfer + new * max(fresh.min(), 0.0)
    print(f"{name:>12} {transfers:>9} {new:>10} {1e3 * predicted:>12.1f} {spread(times):>36}")
print(f"{'ideal':>12} {7:>9} {0:>10} {1e3 * 7 * per_transfer:>12.1f}")
print(f"temporaries / in place: {np.median(temporaries) / np.median(in_place):.2f}x (medians), "
      f"{temporaries.min() / in_place.min():.2f}x (minima)")

# %% [markdown] nbgrader={"grade": false, "grade_id": "memory_bound_md", "locked": true, "schema_version": 3, "solution": false}
# Compare the predicted and the measured columns on your machine, and run the cell again: on a
# machine shared with other work the medians move, and the min-max spreads show by how much.
# Where prediction and measurement agree, the whole-array update is **memory-bound**: its time
# is its transfers, each operation one more trip through memory, plus, for the version with
# temporaries, the new memory it asks for at every step. The transfers alone differ by only
# $33/28 = 1.2$; whatever the temporaries cost beyond that is the price of fresh memory, which
# varies from machine to machine and run to run. Either way, neither version comes near the
# ideal of 7 transfers: for that the number of passes itself must fall.
#
# ### Working in blocks
#
# The trips get much cheaper if the data is already close to the processor: a CPU keeps recently
# used memory in its caches, a few MB that answer many times faster than main memory. So instead
# of running each operation over the whole arrays, run all of them on a block of 65,536 numbers
# (256 KB of each array, which fit in the cache together), then on the next block, and so on.
# Each array then crosses the memory bus about once per step: the 7 transfers of the ideal.
#
# `adam_in_blocks` above does exactly this with `adam_in_place` on each block, and `BlockedAdam`
# uses it: the second version of Adam's step, beside the readable one you wrote, the way
# `torch.optim` keeps a readable `_single_tensor_adam` and puts faster variants beside it. It is
# given, exported with the package, and not graded.
#
# Once the data sits in the cache, memory no longer sets the pace: the operations themselves do.
# So time each numpy operation on cache-resident blocks of 65,536 numbers, predict the blocked
# update from those times, and compare.

# %% nbgrader={"grade": false, "grade_id": "blocks_timing", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
RATES = cache_resident_rates()
for name, rate in RATES.items():
    print(f"{name:>18}: {rate / 1e9:5.2f} G elements/s on {BLOCK:,} cache-resident float32 numbers")
# adam_in_place: 6 operations of one array with a number, 3 sums and 1 product of two arrays,
# a sqrt and a division
per_element = (6 / RATES["a *= c"] + 1 / RATES["np.multiply(a, b)"] + 3 / RATES["a += b"]
               + 1 / RATES["np.sqrt(a)"] + 1 / RATES["np.divide(a, b)"])
arithmetic = n * per_element
tiny = np.ones(16, dtype=np.float32)
calls = 12 * math.ceil(n / BLOCK) * np.median(timings(lambda: np.multiply(tiny, 1.0, out=tiny), 200))
in_blocks = timings(lambda: adam_in_blocks(p, g, m, v, 1, lr=1e-3, betas=(0.9, 0.999), eps=1e-8))
print(f"predicted, in ms: the operations on cached data {1e3 * arithmetic:.1f} (sqrt and divide "
      f"{1e3 * n * (1 / RATES['np.sqrt(a)'] + 1 / RATES['np.divide(a, b)']):.1f} of it) + the 7 "
      f"transfers {1e3 * 7 * per_transfer:.1f} + {12 * math.ceil(n / BLOCK)} numpy calls "
      f"{1e3 * calls:.1f} = {1e3 * (arithmetic + 7 * per_transfer + calls):.1f}")
print(f"in blocks, measured: {spread(in_blocks)} ms; whole arrays in place: {spread(in_place)} ms")

# %% [markdown] nbgrader={"grade": false, "grade_id": "blocks_text_md", "locked": true, "schema_version": 3, "solution": false}
# Read the printed rates: on cache-resident data `np.sqrt` processes several times fewer
# elements per second than scaling by a number (the project's tests check that it is slower),
# and operations on two arrays are slower than operations on one. After blocking, the memory
# traffic is down to the 7 transfers, and the operations on cached data cost about as much
# again: the blocked update is bound as much by the arithmetic of its dozen numpy calls, and
# most by the slowest of them, as by memory. Compare the prediction with the measured median
# and minimum: the minimum is the run least disturbed by the machine's other work. Whether
# blocking pays on your machine is in the last line: programs that share the cache with yours
# can evict the blocks and take the gain away, so compare its minima as well. That is where
# numpy's one-operation-at-a-time model stops: a compiled, fused kernel does the dozen operations
# per number while the number is in a register, and reads and writes each array once.
#
# PyTorch offers exactly these variants. Its *fused* optimizers (`torch.optim.Adam(...,
# fused=True)`) compute the whole update in one pass per element in compiled code; its *foreach*
# implementations process all parameters in a handful of large operations instead of one small
# operation per parameter. None of this changes the arithmetic. foreach cuts the number of
# launches (one call for all parameters instead of one per parameter), not the passes over
# memory; only the fused kernel reads and writes each array once. On a CPU, PyTorch also splits
# each large tensor among the cores, where numpy runs every element-wise operation on one.
#
# ### At scale
#
# For a small MLP the state is a rounding error. For large models it decides what fits on the
# hardware.

# %% nbgrader={"grade": false, "grade_id": "scale", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
GiB, TiB = 2 ** 30, 2 ** 40
for count in (10e9, 175e9):
    weights = 4 * count  # float32
    print(f"{count / 1e9:.0f}B parameters: weights {weights / GiB:,.2f} GiB, "
          f"momentum +{weights / GiB:,.2f} GiB, Adam +{2 * weights / GiB:,.1f} GiB "
          f"(= {2 * weights / TiB:.2f} TiB, {2 * weights / 1e12:.1f} TB)")

# %% [markdown] nbgrader={"grade": false, "grade_id": "question_memory", "locked": true, "schema_version": 3, "solution": false}
# **Check your understanding 7.** Mixed-precision training with Adam commonly keeps, per parameter, a float16 weight and a float16 gradient, a float32 master copy of the weight, and Adam's $m$ and $v$ in float32. How many bytes is that per parameter, and how much memory for a 7-billion-parameter model before activations?
#
# <details><summary>Answer</summary>
#
# 2 (fp16 weight) + 2 (fp16 gradient) + 4 (fp32 master) + 4 ($m$) + 4 ($v$) = 16 bytes per parameter, of which Adam's state is 8. For $7 \times 10^9$ parameters: $112 \times 10^9$ bytes, about 104 GiB, more than one 80 GB accelerator holds: hence ZeRO, which shards the 12 bytes of optimizer-related state across the accelerators.
#
# </details>

# %% [markdown] nbgrader={"grade": false, "grade_id": "scale_text_md", "locked": true, "schema_version": 3, "solution": false}
# A 10-billion-parameter model has 37.25 GiB of float32 weights, and Adam adds another 74.5 GiB
# of state, twice the model itself, before counting gradients and activations. For a
# 175-billion-parameter model, Adam's state alone is about 1.3 TiB, far beyond one accelerator's
# memory. This is why large-scale training **shards the optimizer state**. ZeRO, the "Zero
# Redundancy Optimizer" of DeepSpeed, splits $m$ and $v$ across the $N$ accelerators that train
# the model together, each keeping and updating only its $1/N$ share, instead of every one of
# them holding a full copy; its later stages shard the gradients and the weights too (PyTorch
# offers the same ideas as `ZeroRedundancyOptimizer` and FSDP). Sharding is easy precisely
# because the update is element-wise: no number's update needs any other number's state.
#
# Memory is also a reason to prefer one optimizer over another, but the optimizer's step alone
# is not the measure that matters: the whole training step is, and then time to a good model.
# The cell below times forward, backward and step on the spirals MLP of section 5, so that the
# optimizer's share is measured: if Adam's whole training step costs $r$ times SGD's and Adam
# needs half the steps, it finishes in $0.5\,r$ of the time.

# %% nbgrader={"grade": false, "grade_id": "training_step_timing", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
def training_step_times(make, repeats=15, steps=20, seed=0):
    """Seconds of one whole training step (forward, backward, step, zero_grad) and of the step
    alone, on a 2-32-32-2 MLP and 80 points: `repeats` medians of `steps` steps each."""
    rng = np.random.default_rng(seed)
    inputs, targets = Tensor(rng.normal(size=(80, 2)).astype(np.float32)), rng.integers(0, 2, 80)
    model = Sequential(Linear(2, 32, seed=seed), Tanh(), Linear(32, 32, seed=seed + 1), Tanh(),
                       Linear(32, 2, seed=seed + 2))
    optimizer, whole, alone = make(model.parameters()), [], []
    for _ in range(repeats):
        total = step_only = 0.0
        for _ in range(steps):
            started = time.perf_counter()
            CrossEntropyLoss()(model(inputs), targets).backward()
            before_step = time.perf_counter()
            optimizer.step()
            step_only += time.perf_counter() - before_step
            optimizer.zero_grad()
            total += time.perf_counter() - started
        whole.append(total / steps)
        alone.append(step_only / steps)
    return np.array(whole), np.array(alone)


STEP_TIMES = {name: training_step_times(make) for name, make in OPTIMIZERS.items()}
sgd_whole = np.median(STEP_TIMES["SGD"][0])
print(f"{'optimizer':>9} {'training step, us':>22} {'step alone, us':>20} {'share':>6} {'vs SGD':>7}")
for name, (whole, alone) in STEP_TIMES.items():
    print(f"{name:>9} {1e6 * np.median(whole):>10.0f} (IQR {1e6 * np.subtract(*np.percentile(whole, [75, 25])):>4.0f})"
          f" {1e6 * np.median(alone):>10.0f} (IQR {1e6 * np.subtract(*np.percentile(alone, [75, 25])):>4.0f})"
          f" {np.median(alone / whole):>6.0%} {np.median(whole) / sgd_whole:>6.2f}x")
print("(medians of 15 repeats of 20 steps; IQR: the spread between the quartiles)")


# %% [markdown] nbgrader={"grade": false, "grade_id": "training_step_timing_md", "locked": true, "schema_version": 3, "solution": false}
# Read the columns against each other: Adam's step alone costs many times SGD's, yet forward and
# backward take most of every training step, so the ratio in the last column, the one that
# decides the cost of training, is much closer to 1. The project's tests check, on this cell's
# measurement (the least disturbed of the repeats of each), that Adam's whole training step
# costs less than twice SGD's. A wide IQR means the machine was busy: run the cell again.

# %% [markdown] nbgrader={"grade": false, "grade_id": "convergence_md", "locked": true, "schema_version": 3, "solution": false}
# ## 5 · The race
#
# A race between optimizers is only fair if each runs at a learning rate that suits it, and only
# convincing if the result survives another starting point. So every optimizer below runs at
# each learning rate of a small log-spaced sweep, from three random starting points (seeds), and
# is judged by a robust figure: the mean of $\log_{10}$ of the loss over the last 20 steps (one
# final value can sit at the top or the bottom of a swing). Each optimizer is then shown at its
# own best learning rate.
#
# ### A narrow valley
#
# First the problem from section 1, made concrete: a quadratic bowl 50 times more curved in one
# direction than in the other, with its minimum at $\theta^* = (2, 1)$ (not at the origin, so
# that weight decay cannot help by accident):
#
# $$L(\theta) = \tfrac{1}{2}(\theta - \theta^*)^\top H\, (\theta - \theta^*), \qquad
# H = \begin{pmatrix} 1 & 0 \\ 0 & 50 \end{pmatrix}, \qquad \nabla L = H\,(\theta - \theta^*)$$
#
# Plain SGD must keep $\eta < 2/50 = 0.04$ for the steep direction, and then every step shrinks
# the error in the flat direction by only a factor $1 - \eta$. The same bowl **rotated by 45°**
# ($R H R^\top$, started from the rotated starting points) is the same problem seen in other
# coordinates. The optimizers only need `.data` and `.grad`, so we compute the gradient by hand.

# %% nbgrader={"grade": false, "grade_id": "race_setup", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
RACERS = {  # name: (how to build it at a learning rate, the learning rates to try)
    "SGD": (lambda lr: lambda ps: SGD(ps, lr=lr), np.geomspace(3e-3, 6e-2, 4)),
    "Momentum": (lambda lr: lambda ps: Momentum(ps, lr=lr), np.geomspace(1e-3, 3e-2, 4)),
    "Nesterov": (lambda lr: lambda ps: SGD(ps, lr=lr, momentum=0.9, nesterov=True),
                 np.geomspace(1e-3, 3e-2, 4)),
    "Adam": (lambda lr: lambda ps: Adam(ps, lr=lr), np.geomspace(0.03, 3.0, 5)),
    "AdamW": (lambda lr: lambda ps: AdamW(ps, lr=lr, weight_decay=0.1), np.geomspace(0.03, 3.0, 5)),
}
VALLEY_MINIMUM = np.array([2.0, 1.0])
SEEDS = (0, 1, 2)


def valley(angle):
    """The valley turned by `angle` radians about the origin: (curvature, minimum, rotation)."""
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return rotation @ np.diag([1.0, 50.0]) @ rotation.T, rotation @ VALLEY_MINIMUM, rotation


def descend_valley(make, angle=0.0, seed=0, steps=100):
    """The path and the losses of an optimizer on the valley turned by `angle`, from a random
    point 8 units out along the valley and 1 across it (the same point, turned)."""
    curvature, minimum, rotation = valley(angle)
    around = np.random.default_rng(seed).uniform(0, 2 * np.pi)
    point = Parameter(rotation @ (VALLEY_MINIMUM + [8 * np.cos(around), np.sin(around)]))
    optimizer = make([point])
    path, losses = [point.data.copy()], []
    for _ in range(steps):
        error = point.data - minimum
        losses.append(0.5 * error @ curvature @ error)
        point.grad = curvature @ error
        optimizer.step()
        path.append(point.data.copy())
    return np.array(path), np.array(losses)


def figure_of_merit(losses, last=20):
    """Mean log10 loss over the last steps: lower is better; a diverged run scores +inf."""
    tail = np.asarray(losses[-last:], dtype=float)
    return float(np.mean(np.log10(tail + 1e-300))) if np.all(np.isfinite(tail)) else math.inf


def sweep(run, racers=RACERS, seeds=SEEDS):
    """{name: {lr: [figure for each seed]}} for run(make, seed) -> losses."""
    return {name: {float(lr): [figure_of_merit(run(build(lr), seed)) for seed in seeds]
                   for lr in lrs}
            for name, (build, lrs) in racers.items()}


def best_lr(figures):
    """The learning rate whose mean figure over the seeds is lowest."""
    return min(figures, key=lambda lr: np.mean(figures[lr]))


# %% nbgrader={"grade": false, "grade_id": "valley", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
VALLEY_FIGURES = {angle: sweep(lambda make, seed: descend_valley(make, angle, seed)[1])
                  for angle in (0.0, np.pi / 4)}
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
for name in RACERS:
    figures = VALLEY_FIGURES[0.0][name]
    lrs = sorted(figures)
    axes[0].semilogx(lrs, [np.mean(figures[lr]) for lr in lrs], "o-", label=name)
    for angle, ax, style in ((0.0, axes[1], "-"), (np.pi / 4, axes[2], "-")):
        lr = best_lr(VALLEY_FIGURES[angle][name])
        ax.semilogy(descend_valley(RACERS[name][0](lr), angle, seed=0)[1], style,
                    label=f"{name} (lr {lr:.2g})")
    print(f"{name:>9} best lr {best_lr(figures):<7.3g} figure by seed, axis-aligned "
          + " ".join(f"{x:6.2f}" for x in figures[best_lr(figures)])
          + "   turned 45 deg " + " ".join(
              f"{x:6.2f}" for x in VALLEY_FIGURES[np.pi / 4][name][best_lr(VALLEY_FIGURES[np.pi / 4][name])]))
axes[0].set(xlabel="learning rate", ylabel="mean log10 loss, last 20 steps",
            title="the sweep (axis-aligned valley, mean of 3 seeds)", ylim=(-6, 3))
axes[1].set(xlabel="step", ylabel="loss", title="axis-aligned, best lr each (seed 0)")
axes[2].set(xlabel="step", ylabel="loss", title="turned 45°, best lr each (seed 0)")
for ax in axes:
    ax.legend(fontsize=8, loc="lower left")
plt.tight_layout()
plt.show()


# %% [markdown] nbgrader={"grade": false, "grade_id": "valley_text_md", "locked": true, "schema_version": 3, "solution": false}
# What the printed figures show (the project's tests check each of these on the same runs):
# - **SGD** is limited by the steep direction: its best learning rate is the largest of its
#   sweep below $2/50 = 0.04$; the next one, 0.06, diverges (the steep direction's factor
#   $1 - 50\eta$ is below $-1$). At the best rate it crawls along the flat floor.
# - **Momentum** and **Nesterov** build up speed along the floor, where successive gradients
#   agree, and end lower than SGD from every starting point; Nesterov, which corrects the
#   velocity with a look-ahead, ends lower than Momentum from every starting point.
# - **Adam** divides each coordinate by its own gradient scale, so on the axis-aligned valley the
#   50-fold difference in curvature hardly matters, and it also ends lower than SGD.
# - **Turning the valley** changes nothing for SGD, Momentum and Nesterov: their steps are
#   multiples of gradients, so the turned run is the same run seen in other coordinates, and
#   their losses agree to rounding. Adam's per-coordinate scaling depends on the coordinates,
#   so its runs change: turned by 45°, each coordinate mixes the steep and the flat direction.
#   One often reads that this takes away Adam's edge. Look at the printed figures instead: at
#   its best learning rate the turned Adam is worse from some starting points and better from
#   others, and it ends below SGD either way. On this problem, over 100 steps, Adam's lead does
#   not come from the valley being aligned with the axes.
# - **AdamW** decays towards the origin, which is not the minimum here, so its loss stops at a
#   floor set by the pull of the decay, higher than Adam's from every starting point: on the
#   training loss, decay only costs.
#
# Learning rates matter as much as the algorithm: the sweep's curves show how quickly each
# optimizer degrades away from its best rate, and SGD diverges just above it.

# %% [markdown] nbgrader={"grade": false, "grade_id": "spirals_md", "locked": true, "schema_version": 3, "solution": false}
# ### A small network on two spirals
#
# Now a real training run. The data are two interleaved spirals in the plane, generated with
# numpy: 40 noisy points per arm to train on, and 200 more per arm, drawn independently, held out
# to measure what the model learned rather than what it memorised. The model is an MLP with two
# hidden layers of 32 units; the loss is cross-entropy; every epoch is one full-batch step. Each
# optimizer runs its sweep of learning rates from three initialisations (seeds); the figure is
# the mean training loss of the last 20 epochs. AdamW runs with a strong decay (0.3) so that its
# effect is visible on this small problem.

# %% nbgrader={"grade": false, "grade_id": "spirals_setup", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
def two_spirals(n, noise=1.0, seed=0):
    """n points on each of two interleaved spirals, as float32 coordinates and 0/1 labels."""
    rng = np.random.default_rng(seed)
    radius = np.sqrt(rng.uniform(0.05, 1, n)) * 3 * np.pi  # more points far out, where arms are long
    arm = np.stack([np.cos(radius) * radius, np.sin(radius) * radius], axis=1) / (3 * np.pi)
    points = np.concatenate([arm, -arm]) + rng.normal(0, noise / (3 * np.pi), (2 * n, 2))
    return 2 * points.astype(np.float32), np.repeat([0, 1], n)


SPIRAL_RACERS = {
    "SGD": (lambda lr: lambda ps: SGD(ps, lr=lr), (1.0, 3.0, 10.0)),
    "Momentum": (lambda lr: lambda ps: Momentum(ps, lr=lr), (0.1, 0.3, 1.0, 3.0)),
    "Nesterov": (lambda lr: lambda ps: SGD(ps, lr=lr, momentum=0.9, nesterov=True), (0.1, 0.3, 1.0, 3.0)),
    "Adam": (lambda lr: lambda ps: Adam(ps, lr=lr), (0.01, 0.03, 0.1)),
    "AdamW": (lambda lr: lambda ps: AdamW(ps, lr=lr, weight_decay=0.3), (0.01, 0.03, 0.1)),
}
train_points, train_labels = two_spirals(40, seed=0)
held_out_points, held_out_labels = two_spirals(200, seed=1)


def spiral_model(seed=0):
    return Sequential(Linear(2, 32, seed=seed), Tanh(), Linear(32, 32, seed=seed + 1), Tanh(),
                      Linear(32, 2, seed=seed + 2))


def train_spirals(make, epochs=300, seed=0):
    """Full-batch training; the training losses, and the held-out loss, accuracy and weight norm."""
    model = spiral_model(seed)
    optimizer, loss_fn, losses = make(model.parameters()), CrossEntropyLoss(), []
    for _ in range(epochs):
        loss = loss_fn(model(Tensor(train_points)), train_labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    logits = model(Tensor(held_out_points))
    return {"losses": np.array(losses), "held_out_loss": loss_fn(logits, held_out_labels).item(),
            "held_out_accuracy": float(np.mean(logits.data.argmax(axis=1) == held_out_labels)),
            "weight_norm": float(np.sqrt(sum(np.sum(p.data.astype(np.float64) ** 2)
                                             for p in model.parameters())))}


# %% nbgrader={"grade": false, "grade_id": "spirals", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
start = time.perf_counter()
SPIRAL_RUNS = {name: {lr: [train_spirals(build(lr), seed=seed) for seed in SEEDS] for lr in lrs}
               for name, (build, lrs) in SPIRAL_RACERS.items()}
SPIRAL_FIGURES = {name: {lr: [figure_of_merit(run["losses"]) for run in runs]
                         for lr, runs in by_lr.items()} for name, by_lr in SPIRAL_RUNS.items()}
print(f"({time.perf_counter() - start:.1f} s for {sum(len(r) * 3 for r in SPIRAL_RUNS.values())} runs)")
fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.2))
for label, colour in ((0, "tab:blue"), (1, "tab:red")):
    chosen = train_labels == label
    left.scatter(*train_points[chosen].T, s=10, color=colour, label=f"class {label} (training)")
    chosen = held_out_labels == label
    left.scatter(*held_out_points[chosen].T, s=3, color=colour, alpha=0.25,
                 label=f"class {label} (held out)")
left.set(title="two spirals", aspect="equal")
left.legend(fontsize=7, loc="upper right")
print(f"{'':>9} {'best lr':>8} {'train loss':>11} {'held-out loss':>14} {'held-out acc':>13} {'|w|':>6}"
      "   (means of 3 seeds)")
for (name, figures), style in zip(SPIRAL_FIGURES.items(), ("-", "-", "--", "-", ":")):
    lrs = sorted(figures)
    middle.semilogx(lrs, [np.mean(figures[lr]) for lr in lrs], "o" + style, label=name)
    lr = best_lr(figures)
    runs = SPIRAL_RUNS[name][lr]
    right.semilogy(runs[0]["losses"], style, linewidth=2 if name == "AdamW" else 1.2,
                   label=f"{name} (lr {lr:g})")
    print(f"{name:>9} {lr:>8g} {np.mean([r['losses'][-20:].mean() for r in runs]):>11.4f} "
          f"{np.mean([r['held_out_loss'] for r in runs]):>14.3f} "
          f"{np.mean([r['held_out_accuracy'] for r in runs]):>13.1%} "
          f"{np.mean([r['weight_norm'] for r in runs]):>6.1f}")
middle.set(xlabel="learning rate", ylabel="mean log10 training loss, last 20 epochs",
           title="the sweep (mean of 3 seeds)")
right.set(xlabel="epoch", ylabel="training cross-entropy", title="best lr each (seed 0)")
middle.legend(fontsize=8, loc="upper center")
right.legend(fontsize=8, loc="lower left")
plt.tight_layout()
plt.show()


# %% [markdown] nbgrader={"grade": false, "grade_id": "spirals_text_md", "locked": true, "schema_version": 3, "solution": false}
# What the printed figures show (checked by the project's tests on the same runs, seed by seed):
# - Plain **SGD** has the highest training loss of the five in every seed, even at its best
#   learning rate; Momentum, Nesterov, Adam and AdamW all end lower. Which of Momentum and Adam
#   ends lowest depends on the seed and on the learning rates tried: the sweep's curves show how
#   much of "Adam beats SGD" is a velocity and a learning rate that suits the method.
# - **AdamW** pays for its decay on the training loss (higher than Adam's in every seed) and is
#   repaid on the held-out points: lower held-out cross-entropy than Adam in every seed, with
#   weights of smaller norm. On 80 noisy training points Adam drives the training loss towards
#   zero by growing its weights, which makes it confidently wrong on the held-out points; the
#   decay keeps the weights small. The held-out *accuracy* moves much less than the loss: do not
#   read more into it than the printed numbers show.
#
# None of this is a law. With enough tuning, SGD with momentum often matches Adam, and on large
# vision models it is still common. Adam's default settings work reasonably on most problems
# with little tuning, which is why it is the usual first choice.

# %% [markdown] nbgrader={"grade": false, "grade_id": "checkpoint_md", "locked": true, "schema_version": 3, "solution": false}
# ## 6 · Checkpoints that resume exactly
#
# Long training runs are interrupted: a machine fails, a job hits its time limit. A checkpoint
# must then restore *everything* that influences the next step. The weights are not enough. For
# Adam, $m$ and $v$ hold the calibrated size of every coordinate's gradient; restart them at zero
# and the bias correction treats the next steps as the very first ones, with steps of about `lr`
# in every coordinate, whatever the gradient history said.
#
# ### `state_dict()` and `load_state_dict()`
#
# `state_dict()` returns everything needed to continue training later, in the layout of
# PyTorch's (whose `step_count` is ours; PyTorch keeps only each parameter's `step`):
#
# ```python
# {"state": {0: {"momentum_buffer": array([...])}, 1: {...}},
#  "param_groups": [{"lr": 0.01, "momentum": 0.9, ..., "params": [0, 1]}],
#  "step_count": 12}
# ```
#
# (PyTorch allows several groups of parameters with different hyper-parameters; we use one.)
# Two properties make it a real checkpoint:
# - **It is a snapshot.** Optimizers update their buffers in place, so a dict that merely
#   referred to the live arrays would change under your feet at the next step, before it ever
#   reached the disk. Every array in it is a copy.
# - **It holds only plain data**: numpy arrays, numbers, strings, `None`, lists, tuples and dicts.
#   So it can be written as one `.npz` file, the arrays plus the rest as JSON in one entry,
#   without `pickle` (which runs arbitrary code when loading, and breaks when a class is renamed).
#
# `load_state_dict(sd)` does the reverse, and **checks before it changes anything**. A dict from
# another model (a different number of parameters, or buffers of the wrong shape) or from another
# kind of optimizer (different hyper-parameter names) raises `ValueError` saying what does not fit,
# and leaves the optimizer exactly as it was. Half-loading and then failing would leave an
# optimizer that is neither the old one nor the new one. It also copies the arrays in, so that two
# optimizers loaded from the same dict never share a buffer.
#
# The base class's two methods call the three functions below.

# %% nbgrader={"grade": false, "grade_id": "checkpoint_functions", "locked": false, "schema_version": 3, "solution": true}
#| export
def optimizer_state_dict(optimizer: Optimizer) -> dict:
    """A new dict with copies of everything needed to resume:

    {"state": {i: {buffer name: value}},
     "param_groups": [{"lr": lr, <every hyper-parameter>, "params": [0, 1, ...]}],
     "step_count": step_count}

    Every array in it is a copy (copy_buffers), so later steps cannot change it.
    """
    # TODO: return that dict, sharing no array and no dict with the optimizer.
    ### BEGIN SOLUTION
    group = {"lr": optimizer.lr, **optimizer.hyperparams, "params": list(range(len(optimizer.params)))}
    return {"state": {i: copy_buffers(buffers) for i, buffers in optimizer.state.items()},
            "param_groups": [group],
            "step_count": optimizer.step_count}
    ### END SOLUTION


def check_state_dict(optimizer: Optimizer, state_dict: dict) -> None:
    """Raise ValueError, saying what does not fit, unless `state_dict` fits `optimizer`.

    It fits when it has exactly the keys "state", "param_groups" and "step_count"; one param
    group, whose keys are "lr", "params" and the optimizer's hyper-parameter names, and whose
    "params" has one entry per parameter; and state only for indices of parameters, with every
    array buffer shaped like its parameter.
    """
    # TODO: raise ValueError naming the first part that does not fit.
    ### BEGIN SOLUTION
    expected = {"state", "param_groups", "step_count"}
    if set(state_dict) != expected:
        raise ValueError(f"the state_dict has keys {sorted(state_dict)}, "
                         f"expected {sorted(expected)}")
    if len(state_dict["param_groups"]) != 1:
        raise ValueError(f"the state_dict has {len(state_dict['param_groups'])} param groups, "
                         "expected 1")
    group = state_dict["param_groups"][0]
    expected = {"lr", "params", *optimizer.hyperparams}
    if set(group) != expected:
        raise ValueError(f"the param group has keys {sorted(group)}, expected "
                         f"{sorted(expected)}: was it saved by another kind of optimizer?")
    if len(group["params"]) != len(optimizer.params):
        raise ValueError(f"the state_dict is for {len(group['params'])} parameters, "
                         f"this optimizer has {len(optimizer.params)}")
    for i, buffers in state_dict["state"].items():
        if i not in range(len(optimizer.params)):
            raise ValueError(f"the state_dict has state for parameter {i!r}, expected an int "
                             f"index in range({len(optimizer.params)})")
        shape = optimizer.params[i].data.shape
        for name, value in buffers.items():
            if isinstance(value, np.ndarray) and value.shape != shape:
                raise ValueError(f"state[{i}][{name!r}] has shape {value.shape}, "
                                 f"parameter {i} has shape {shape}")
    ### END SOLUTION


def load_optimizer_state_dict(optimizer: Optimizer, state_dict: dict) -> None:
    """Restore the buffers, lr, hyper-parameters and step_count that optimizer_state_dict saved.

    Check first, then change: a dict that does not fit changes nothing. Copy the arrays in, so
    that the optimizer shares no memory with `state_dict`.
    """
    check_state_dict(optimizer, state_dict)
    # TODO: copy the buffers in; restore lr, hyper-parameters, step_count.
    ### BEGIN SOLUTION
    group = state_dict["param_groups"][0]
    optimizer.state = {i: copy_buffers(buffers) for i, buffers in state_dict["state"].items()}
    optimizer.lr = group["lr"]
    optimizer.hyperparams = {name: group[name] for name in optimizer.hyperparams}
    optimizer.step_count = state_dict["step_count"]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "state_dict_layout", "locked": true, "points": 3, "schema_version": 3, "solution": false}
# Test: state_dict() is laid out as {"state", "param_groups": [one group], "step_count"}
import numpy as np
from tinytorch.core.tensor import Parameter

w, b = Parameter(np.zeros(2)), Parameter(np.zeros(3))
opt = SGD([w, b], lr=0.1, momentum=0.9)
for _ in range(3):
    w.grad = np.array([1.0, 2.0])  # b has no gradient
    opt.step()
sd = opt.state_dict()
assert isinstance(sd, dict) and set(sd) == {"state", "param_groups", "step_count"}, (
    f"state_dict() has keys {sorted(sd) if isinstance(sd, dict) else sd}, expected "
    "['param_groups', 'state', 'step_count']")
assert isinstance(sd["param_groups"], list) and len(sd["param_groups"]) == 1, (
    f"param_groups is {sd['param_groups']!r}, expected a list holding one group (as PyTorch's)")
assert sd["param_groups"][0] == {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0,
                                 "nesterov": False, "params": [0, 1]}, (
    f"the param group is {sd['param_groups'][0]}, expected lr, every hyper-parameter "
    "(momentum, dampening, weight_decay, nesterov) and params [0, 1]")
assert sd["step_count"] == 3, f"step_count is {sd['step_count']!r} after 3 steps, expected 3"
kept = {i: buffers for i, buffers in sd["state"].items() if buffers}  # {} counts as no state
assert list(kept) == [0] and set(kept[0]) == {"momentum_buffer"} and np.shape(
        kept[0]["momentum_buffer"]) == (2,), (
    f"state is {sd['state']}, expected {{0: {{'momentum_buffer': <an array of shape (2,)>}}}}: "
    "state keyed by the index of each parameter that has some, with its buffers")

# %% nbgrader={"grade": true, "grade_id": "state_dict_copies", "locked": true, "points": 3, "schema_version": 3, "solution": false}
# Test: state_dict() is a snapshot: later steps do not change a dict already returned
import numpy as np
from tinytorch.core.tensor import Parameter

w = Parameter(np.zeros(2))
opt = Adam([w], lr=0.1)
w.grad = np.array([1.0, -1.0])
opt.step()
sd = opt.state_dict()
saved = {name: np.copy(value) for name, value in sd["state"][0].items()}
for _ in range(2):
    opt.step()
changed = [name for name, value in sd["state"][0].items() if not np.array_equal(value, saved[name])]
assert not changed, (
    f"later steps changed {changed} in a state_dict already returned: "
    + ("copy every array (copy_buffers): copying the dicts is not enough when the optimizer "
       "updates its arrays in place" if sd["state"] is not opt.state else
       "return copies of the buffers, not self.state itself"))

# %% nbgrader={"grade": true, "grade_id": "load_state_dict_restores", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# Test: load_state_dict() restores buffers, steps, lr, hyper-parameters and step_count
import numpy as np
from tinytorch.core.tensor import Parameter

grads = np.random.default_rng(0).normal(size=(6, 3))
for make, other in [(lambda ps: Adam(ps, lr=0.1, betas=(0.8, 0.99), weight_decay=0.01),
                     lambda ps: Adam(ps, lr=0.5)),
                    (lambda ps: SGD(ps, lr=0.1, momentum=0.5, nesterov=True),
                     lambda ps: SGD(ps, lr=0.01, momentum=0.9))]:
    w = Parameter(np.ones(3))
    a = make([w])
    for g in grads[:3]:
        w.grad = g.copy()
        a.step()
    w2 = Parameter(w.data.copy())
    b = other([w2])  # other settings: the checkpoint's must win
    b.load_state_dict(a.state_dict())
    name = type(a).__name__
    assert b.lr == a.lr and b.step_count == a.step_count == 3, (
        f"after load_state_dict, {name}'s lr is {b.lr} and step_count {b.step_count}, expected "
        f"{a.lr} and 3: restore them from the state_dict")
    for g in grads[3:]:
        w.grad, w2.grad = g.copy(), g.copy()
        a.step()
        b.step()
    assert np.array_equal(w.data, w2.data, equal_nan=True), (
        f"the resumed {name} ended at {w2.data}, the uninterrupted one at {w.data}: does the "
        "state_dict hold every buffer and each parameter's step (kept in self.state, not in "
        "attributes of their own), and does load_state_dict restore the hyper-parameters too?")

# %% nbgrader={"grade": true, "grade_id": "load_state_dict_copies", "locked": true, "points": 3, "schema_version": 3, "solution": false}
# Test: load_state_dict() copies the arrays in: two optimizers loaded from one dict share nothing
import numpy as np
from tinytorch.core.tensor import Parameter

source = Parameter(np.zeros(2))
opt = SGD([source], lr=0.1, momentum=0.9)
source.grad = np.array([1.0, 2.0])
opt.step()
sd = opt.state_dict()
w, w2 = Parameter(np.zeros(2)), Parameter(np.zeros(2))
a, b = SGD([w], lr=0.1, momentum=0.9), SGD([w2], lr=0.1, momentum=0.9)
a.load_state_dict(sd)
b.load_state_dict(sd)
w.grad = np.array([10.0, 10.0])
a.step()  # updates a's buffer in place
assert np.array_equal(sd["state"][0]["momentum_buffer"], [1.0, 2.0]), (
    "a step after loading changed the state_dict it was loaded from: copy the arrays in")
assert np.array_equal(b.get_momentum_state()[0], [1.0, 2.0]), (
    f"a step of one optimizer changed another loaded from the same dict "
    f"(its buffer is now {b.get_momentum_state()[0]}): copy the arrays in")

# %% nbgrader={"grade": true, "grade_id": "load_state_dict_rejects", "locked": true, "points": 4, "schema_version": 3, "solution": false}
# Test: load_state_dict() refuses a dict that does not fit (another model, replaced parameters, another optimizer), changing nothing
import numpy as np
from tinytorch.core.tensor import Parameter

w, b = Parameter(np.zeros(2)), Parameter(np.zeros(3))
opt = SGD([w, b], lr=0.1, momentum=0.9)
w.grad, b.grad = np.array([1.0, 2.0]), np.ones(3)
opt.step()
fits = opt.state_dict()
group = fits["param_groups"][0]
before = (opt.lr, opt.step_count, [None if x is None else x.copy() for x in opt.get_momentum_state()])
misfits = {
    "one parameter instead of two": {**fits, "param_groups": [{**group, "params": [0]}]},
    "three parameters instead of two": {**fits, "param_groups": [{**group, "params": [0, 1, 2]}]},
    "a buffer shaped for a replaced parameter": {
        **fits, "state": {0: fits["state"][0], 1: {"momentum_buffer": np.zeros(4)}}},
    "a buffer of another rank": {
        **fits, "state": {0: fits["state"][0], 1: {"momentum_buffer": np.zeros((3, 1))}}},
    "another optimizer's hyper-parameters": {
        **fits, "param_groups": [{"lr": 0.5, "betas": (0.9, 0.999), "eps": 1e-8,
                                  "weight_decay": 0.0, "params": [0, 1]}]},
    "no step_count": {"state": fits["state"], "param_groups": [{**group, "lr": 0.5}]},
}
for what, sd in misfits.items():
    try:
        opt.load_state_dict(sd)
    except ValueError:
        pass
    else:
        raise AssertionError(f"load_state_dict() accepted a state_dict with {what}: "
                             "it should raise ValueError saying what does not fit")
    after = (opt.lr, opt.step_count, opt.get_momentum_state())
    unchanged = (after[0] == before[0] and after[1] == before[1]
                 and all(np.array_equal(x, y) for x, y in zip(after[2], before[2])))
    assert unchanged, (f"refusing a state_dict with {what} changed the optimizer: "
                       "check everything before changing anything")


# %% nbgrader={"grade": true, "grade_id": "checkpoint_disk", "locked": true, "points": 4, "schema_version": 3, "solution": false}
# Test: a checkpoint through disk (one .npz file, no pickle) resumes bit-identically
import tempfile
from pathlib import Path

import numpy as np
from tinytorch import plaindata
from tinytorch.core.tensor import Parameter


def leaves(x):
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in leaves(item)]
    return [x]


def through_disk(sd, folder):
    """sd written to one file and read back, as a training script would."""
    return plaindata.load(plaindata.save(Path(folder) / "state.npz", sd))


grads = np.random.default_rng(1).normal(size=(6, 2, 3)).astype(np.float32)
w = Parameter(np.ones((2, 3), dtype=np.float32))
a = AdamW([w], lr=0.05)
for g in grads[:3]:
    w.grad = g.copy()
    a.step()
sd = a.state_dict()
odd = [type(x).__name__ for x in leaves(sd)
       if not isinstance(x, (np.ndarray, int, float, bool, str, type(None)))]
assert not odd, (f"the state_dict holds {odd}: keep only arrays, Python numbers, strings, None, "
                 "lists, tuples and dicts, so that it can be saved without pickle")
with tempfile.TemporaryDirectory() as folder:
    loaded = through_disk(sd, folder)
w2 = Parameter(w.data.copy())
b = AdamW([w2], lr=0.5)
b.load_state_dict(loaded)
for g in grads[3:]:
    w.grad, w2.grad = g.copy(), g.copy()
    a.step()
    b.step()
assert np.array_equal(w.data, w2.data, equal_nan=True), (
    f"resumed from disk, AdamW ended at {w2.data.ravel()}, the uninterrupted run at "
    f"{w.data.ravel()}: everything a step depends on (m, v, each parameter's step, lr, the "
    "hyper-parameters, step_count) must be in the state_dict and restored from it")


# %% [markdown] nbgrader={"grade": false, "grade_id": "checkpoint_demo_md", "locked": true, "schema_version": 3, "solution": false}
# ### Resuming a training run
#
# Below, `tinytorch.checkpoint.save_checkpoint` writes a model's weights and an optimizer's
# `state_dict()` to one `.npz` file without pickle: the arrays, and everything else as JSON in one
# entry of the same file; `load_checkpoint` puts them back. Then we compare three
# runs of 40 steps on the spirals:
# 1. uninterrupted;
# 2. stopped after 20 steps, saved, and resumed from disk in a fresh model and a fresh optimizer;
# 3. the same, but restoring only the weights, with a fresh Adam.

# %% nbgrader={"grade": false, "grade_id": "checkpoint", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
def train_steps(model, optimizer, steps):
    losses = []
    for _ in range(steps):
        loss = CrossEntropyLoss()(model(Tensor(train_points)), train_labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


model = spiral_model()
straight = train_steps(model, Adam(model.parameters(), lr=0.02), 40)
final_weights = [p.data.copy() for p in model.parameters()]

model = spiral_model()
optimizer = Adam(model.parameters(), lr=0.02)
first_half = train_steps(model, optimizer, 20)
with tempfile.TemporaryDirectory() as folder:
    path = save_checkpoint(Path(folder) / "spirals.npz", model, optimizer, step=20)
    print(f"checkpoint file {path.name}: {path.stat().st_size:,} bytes")
    resumed_model = spiral_model()
    resumed_optimizer = Adam(resumed_model.parameters(), lr=0.02)
    print("resuming after step", load_checkpoint(path, resumed_model, resumed_optimizer)["step"])
    resumed = first_half + train_steps(resumed_model, resumed_optimizer, 20)

    weights_only_model = spiral_model()
    load_checkpoint(path, weights_only_model)
    weights_only = first_half + train_steps(
        weights_only_model, Adam(weights_only_model.parameters(), lr=0.02), 20)

identical = all(np.array_equal(a, p.data) for a, p in zip(final_weights, resumed_model.parameters()))
print(f"resumed with the optimizer state, the final weights are bit-identical: {identical}")
print(f"losses at step 40: uninterrupted {straight[-1]:.6f}, resumed {resumed[-1]:.6f}, "
      f"weights only {weights_only[-1]:.6f}")

plt.figure(figsize=(6, 4))
plt.plot(straight, linewidth=4, alpha=0.4, label="uninterrupted")
plt.plot(resumed, "--", label="resumed with optimizer state")
plt.plot(weights_only, ":", label="resumed with weights only")
plt.axvline(19.5, color="0.7")
plt.gca().set(xlabel="step", ylabel="cross-entropy", title="resuming after step 20")
plt.legend(fontsize=8)
plt.show()


# %% [markdown] nbgrader={"grade": false, "grade_id": "checkpoint_text_md", "locked": true, "schema_version": 3, "solution": false}
# The resumed run is not just close: every bit of every weight equals the uninterrupted run,
# because it performs exactly the same floating-point operations on exactly the same numbers. That
# is the standard to hold a checkpoint to, and the easiest way to test one. The weights-only run
# visibly departs from the others right after step 20, where Adam's restarted moments make it
# behave as if training had just begun.

# %% [markdown] nbgrader={"grade": false, "grade_id": "replaced_params_md", "locked": true, "schema_version": 3, "solution": false}
# ### Pitfall: replacing parameters while keeping the old optimizer
#
# An optimizer holds the parameter objects it was given. Replace a layer of the model afterwards
# (a new head for fine-tuning, a layer resized) and the old optimizer keeps updating the old
# arrays, which the model no longer uses: the new layer never trains, and nothing fails. And an
# old checkpoint's state does not fit the new parameters: the buffers have the old shapes. The
# cure is to build a new optimizer from `model.parameters()` after the change, and to let
# `load_state_dict` refuse a state that does not fit (the test `load_state_dict_rejects` checks
# exactly this). The cell shows both.

# %% nbgrader={"grade": false, "grade_id": "replaced_params", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
model = Sequential(Linear(2, 4, seed=0), Tanh(), Linear(4, 2, seed=1))
optimizer = Adam(model.parameters(), lr=0.01)
train_steps(model, optimizer, 3)
saved = optimizer.state_dict()
model.layers[-1] = Linear(4, 3, seed=2)  # a new head with three classes
head = model.layers[-1].parameters()[0].data.copy()
logits = model(Tensor(train_points))
CrossEntropyLoss()(logits, train_labels).backward()
optimizer.step()  # the old optimizer: it still holds the old head
print(f"the new head moved by {np.abs(model.layers[-1].parameters()[0].data - head).max():.1e} "
      "under the old optimizer")
try:
    Adam(model.parameters(), lr=0.01).load_state_dict(saved)
except ValueError as error:
    print(f"loading the old state into an optimizer of the new model: ValueError: {error}")


# %% [markdown] nbgrader={"grade": false, "grade_id": "schedules_md", "locked": true, "schema_version": 3, "solution": false}
# ## 7 · Learning-rate schedules in practice
#
# The schedulers from section 3, over 100 epochs from a learning rate of 0.1:

# %% nbgrader={"grade": false, "grade_id": "schedule_plot", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
def schedule(make_scheduler, epochs=100, lr=0.1):
    """The learning rate of every epoch 0..epochs under a scheduler."""
    optimizer = SGD([Parameter(np.zeros(1))], lr=lr)
    scheduler = make_scheduler(optimizer)
    lrs = [optimizer.lr]
    for _ in range(epochs):
        scheduler.step()
        lrs.extend(scheduler.get_last_lr())
    return lrs


SCHEDULES = {
    "constant": lambda optimizer: StepLR(optimizer, step_size=1, gamma=1.0),  # gamma 1: no change
    "StepLR(step_size=30, gamma=0.1)": lambda optimizer: StepLR(optimizer, step_size=30),
    "CosineAnnealingLR(T_max=100)": lambda optimizer: CosineAnnealingLR(optimizer, T_max=100),
}
plt.figure(figsize=(6, 3.5))
for name, make in SCHEDULES.items():
    plt.plot(schedule(make), label=name)
plt.gca().set(xlabel="epoch", ylabel="learning rate (log scale)", title="schedules", yscale="log",
              ylim=(1e-5, 0.3))
plt.legend(fontsize=8, loc="lower left")
plt.tight_layout()
plt.show()


# %% [markdown] nbgrader={"grade": false, "grade_id": "warmup_md", "locked": true, "schema_version": 3, "solution": false}
# ### Warm-up
#
# Large models are usually trained with a **warm-up**: the learning rate starts near 0 and rises
# linearly over the first few hundred or thousand steps, then a schedule (often cosine) takes
# over. The reason is Adam's first steps. Its bias correction makes every coordinate move by about
# `lr` from step 1, but at step 1 its $v$ is one squared gradient, a poor estimate of the
# coordinate's typical scale, and early gradients of a freshly initialised network are large and
# erratic. Full-size steps taken on such estimates can throw the weights into a bad region before
# $v$ has settled. A warm-up keeps those first steps small. Our schedulers have no warm-up, but
# one is a few lines on top of any of them: scale the scheduler's rate by $\min(1, e / W)$ for
# the first $W$ epochs.

# %% nbgrader={"grade": false, "grade_id": "warmup", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
def warmed_up(lrs, warmup):
    """A schedule's rates with a linear warm-up: epoch e's rate times min(1, e / warmup)."""
    return [lr * min(1.0, epoch / warmup) for epoch, lr in enumerate(lrs)]


plt.figure(figsize=(6, 3.5))
plt.plot(warmed_up(schedule(lambda opt: CosineAnnealingLR(opt, T_max=100)), warmup=10),
         label="10 epochs of linear warm-up, then cosine")
plt.plot(schedule(lambda opt: CosineAnnealingLR(opt, T_max=100)), "--", label="cosine alone")
plt.gca().set(xlabel="epoch", ylabel="learning rate", title="warm-up")
plt.legend(fontsize=8, loc="upper right")
plt.tight_layout()
plt.show()


# %% [markdown] nbgrader={"grade": false, "grade_id": "noisy_md", "locked": true, "schema_version": 3, "solution": false}
# Why decay at all? With exact gradients, a fixed learning rate that is stable converges anyway.
# Real gradients come from mini-batches and are noisy, and then a fixed learning rate never
# settles: every step adds a random kick of size about $\eta \times$ noise, and the loss stops
# falling at a floor where the pull towards the minimum balances the kicks. Lowering $\eta$
# lowers the floor, but starting with a small $\eta$ would make the first phase slow.
#
# The experiment: SGD on the valley of section 5 (its minimum moved to the origin), with
# Gaussian noise added to every gradient to imitate mini-batches, for 300 steps, with each
# schedule. We average the loss over 20 random seeds to see the trend rather than one noisy run.

# %% [markdown] nbgrader={"grade": false, "grade_id": "question_noise_floor", "locked": true, "schema_version": 3, "solution": false}
# **Check your understanding 8.** Before running the cell below: in the noisy valley with a constant learning rate, where should the loss settle? Use the one-dimensional version: $x_{t+1} = (1 - \eta c)\, x_t - \eta\, \xi_t$ with noise $\xi_t$ of standard deviation $\sigma$. What is the stationary variance of $x$, and the expected loss $\tfrac{c}{2}\mathbb{E}[x^2]$?
#
# <details><summary>Answer</summary>
#
# At equilibrium $\mathbb{E}[x^2] = (1 - \eta c)^2\, \mathbb{E}[x^2] + \eta^2 \sigma^2$, so $\mathbb{E}[x^2] = \eta \sigma^2 / (c\,(2 - \eta c))$ and the expected loss is $\eta\sigma^2 / (2(2 - \eta c))$: proportional to $\eta$ for small $\eta$, and independent of the curvature to first order. With $\eta = 0.03$ and $\sigma = 5$, each of the two directions contributes $0.03 \cdot 25 / (2(2 - 0.03c))$: about 0.19 for $c = 1$ and 0.75 for $c = 50$, so about 0.9 in all, close to the constant-lr line's floor. Halving $\eta$ halves the floor, which is what the schedules exploit.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "noisy_setup", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
CURVATURE = np.array([1.0, 50.0])  # the axis-aligned valley of section 5, minimum at 0


def noisy_descent(make_scheduler, steps=300, seeds=20, noise=5.0):
    """Mean loss per step of SGD (lr 0.03) with noisy gradients on L = (x^2 + 50 y^2) / 2."""
    total = np.zeros(steps)
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        point = Parameter(np.array([-8.0, 1.0]))
        optimizer = SGD([point], lr=0.03)
        scheduler = make_scheduler(optimizer, steps)
        for step in range(steps):
            total[step] += 0.5 * np.sum(CURVATURE * point.data ** 2)
            point.grad = CURVATURE * point.data + rng.normal(0, noise, 2)
            optimizer.step()
            scheduler.step()
    return total / seeds


NOISY = {
    "constant lr": lambda optimizer, steps: StepLR(optimizer, step_size=1, gamma=1.0),
    "StepLR (x0.1 at step 150)": lambda optimizer, steps: StepLR(optimizer, step_size=steps // 2),
    "cosine": lambda optimizer, steps: CosineAnnealingLR(optimizer, T_max=steps),
}


# %% nbgrader={"grade": false, "grade_id": "noisy", "locked": true, "schema_version": 3, "solution": false} tags=["experiment"]
plt.figure(figsize=(6, 4))
for name, make in NOISY.items():
    losses = noisy_descent(make)
    plt.semilogy(losses, label=name)
    print(f"{name:>32}: mean loss over the last 20 steps {losses[-20:].mean():.3f}")
plt.gca().set(xlabel="step", ylabel="loss (mean of 20 runs)", title="SGD with noisy gradients")
plt.legend(fontsize=8, loc="upper right")
plt.show()

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_adam_vs_sgd_prompt", "locked": true, "schema_version": 3, "solution": false}
# **Written answer (graded by hand, 3 points).** Your colleague's table reports that Adam's step takes 0.7 ms and SGD's 0.03 ms on the same model, and concludes that "Adam makes training 20 times slower". Using what you measured in section 4, explain in a few sentences why the conclusion does not follow, what you would measure instead, and under which conditions Adam would still be the slower choice to a good model.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_adam_vs_sgd", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# Rubric (3 points):
# - 1 point: the step alone is not the training step: forward and backward dominate (section 4: Adam's whole training step costs under twice SGD's, although its step alone costs many times more), so the ratio of whole training steps is what matters.
# - 1 point: what matters is time to a target (loss or accuracy): steps needed times the cost of a whole step; an optimizer that needs fewer steps can finish first despite a costlier step.
# - 1 point: a condition where Adam still loses: when its extra state does not fit (memory), when SGD with momentum, tuned, needs no more steps (in the race, which of Momentum and Adam ends lowest depends on the seed), or when the optimizer's share of the step is large (tiny models, huge parameter counts per FLOP).
# ### END SOLUTION

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_checkpoint_prompt", "locked": true, "schema_version": 3, "solution": false}
# **Written answer (graded by hand, 2 points).** A training script saves `model` weights every epoch but not the optimizer. After a crash it resumes with a fresh `Adam`. Describe what the loss curve does right after the restart and why, and what the script must save so that the resumed run is bit-identical to an uninterrupted one.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_checkpoint", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# Rubric (2 points):
# - 1 point: after the restart m = v = 0 and t = 0, so the bias correction makes the first steps about lr long in every coordinate, whatever the gradient scale: a jump or spike of the loss (the "weights only" curve of section 6), then a recovery as the moments re-calibrate.
# - 1 point: save the optimizer's state_dict (every m, v and step, lr, the hyper-parameters, step_count) and the scheduler's, along with the weights, and load them all; then the same gradients give the same floating-point operations and bit-identical weights.
# ### END SOLUTION

# %% [markdown] nbgrader={"grade": false, "grade_id": "summary_md", "locked": true, "schema_version": 3, "solution": false}
# With a constant learning rate the loss flattens at the noise floor. Both schedules fall just as
# fast at first, then each drop of the learning rate lowers the floor: step decay in sudden steps,
# cosine smoothly. That is the whole idea of a schedule: large steps while far away, small steps
# to settle. Module 07 puts schedules into a full training loop, together with gradient clipping,
# evaluation and checkpointing.
#
# ## Summary
#
# | optimizer | update | state per parameter | when |
# | --- | --- | --- | --- |
# | SGD | $\theta \mathrel{-}= \eta\,(g + \lambda\theta)$ | none | simple problems; the baseline |
# | Momentum / Nesterov | velocity $b = \mu b + g$, step $\eta b$ (Nesterov: $\eta\,(g + \mu b)$) | 1 × parameters | ill-conditioned problems; large vision models |
# | Adam | $\eta\,\hat m / (\sqrt{\hat v} + \epsilon)$ | 2 × parameters | the default that works with little tuning |
# | AdamW | $\theta \mathrel{*}= 1 - \eta\lambda$, then Adam | 2 × parameters | Adam with weight decay that works; transformers |
#
# - An optimizer turns gradients into parameter changes; the training step is
#   `loss.backward(); optimizer.step(); optimizer.zero_grad()`.
# - The base class owns the parameters, the hyper-parameters and the **state**; every algorithm
#   is a per-parameter kernel. Everything an optimizer remembers lives in `self.state`, so a
#   checkpoint (`state_dict()`, copies of plain data) can resume training bit for bit.
# - Momentum accelerates along consistent directions and damps oscillations; Adam adapts the step
#   size per coordinate, with bias correction for its zero-initialised averages; AdamW decays
#   weights independently of the gradient scale.
# - Every optimizer costs $O(P)$ per step, but memory differs (0, 1, 2 × the parameters). Written
#   with whole numpy arrays, the step is bound by memory traffic: count its passes and you
#   predict its time; worked in cache-sized blocks, it is bound as much by its slowest
#   operations. What decides the cost of training is the whole training step, of which the
#   optimizer is a small share on the spirals MLP. At scale, optimizer state is sharded (ZeRO).
# - A fixed learning rate rarely suffices: with noisy gradients it settles at a floor
#   proportional to the rate; schedules take large steps early and small steps late, often
#   after a warm-up.
# - Compare optimizers each at its own best learning rate, over several seeds, with a robust
#   figure: one run at one rate decides nothing.
#
# Run `tito test 06` until everything passes, then `tito export 06`: your optimizers are then
# part of the package, ready for module 07.
