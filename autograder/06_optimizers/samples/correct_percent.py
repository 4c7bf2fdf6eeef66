# %%
#| export
import math
from collections.abc import Iterable

import numpy as np

# %%
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

# %%
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

# %%
#| export
class Momentum(SGD):
    """SGD with momentum 0.9 by default: the heavy-ball method."""

    def __init__(self, params: Iterable, lr: float = 0.01, momentum: float = 0.9,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, lr, momentum, dampening, weight_decay, nesterov)

# %%
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

# %%
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

# %%
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

# %%
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

# %%
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

# %%
# A demo, not exported, so never graded.
print("a demo of my optimizers")
