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
        """Hints: `not self.params` is true for an empty list; `hasattr(p, "data")` checks an
        element (reject numpy arrays too: they have a `.data` of their own, a memoryview).
        Error messages name the value and the accepted range, as in
        "Invalid learning rate: -0.1 (must be >= 0)".
        """
        self.params = list(params)
        # TODO: raise ValueError for no params or lr < 0, and TypeError for an element that is not a parameter.
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
        """Forget every gradient, so that the next backward() starts from nothing."""
        # TODO: set the grad of every parameter to None.
        ### BEGIN SOLUTION
        for p in self.params:
            p.grad = None
        ### END SOLUTION

    def step(self) -> None:
        """Update every parameter that has a gradient, then count the step.

        Parameter i's state is the dict `self.state[i]`, created empty the first time
        (`self.state.setdefault(i, {})`); a parameter whose grad is None is skipped, and gets no
        state.
        """
        # TODO: call self.update(p, p.grad, state) for each parameter with a gradient, then count the step.
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
        """A new dict with copies of everything needed to resume:

        {"state": {i: {buffer name: value}},
         "param_groups": [{"lr": lr, <every hyper-parameter>, "params": [0, 1, ...]}],
         "step_count": step_count}
        """
        # TODO: return that dict, with every parameter's buffers copied (copy_buffers).
        ### BEGIN SOLUTION
        group = {"lr": self.lr, **self.hyperparams, "params": list(range(len(self.params)))}
        return {"state": {i: copy_buffers(buffers) for i, buffers in self.state.items()},
                "param_groups": [group],
                "step_count": self.step_count}
        ### END SOLUTION

    def check_state_dict(self, state_dict: dict) -> None:
        """Raise ValueError, saying what does not fit, unless `state_dict` fits this optimizer.

        It fits when it has exactly the keys "state", "param_groups" and "step_count"; one param
        group, whose keys are "lr", "params" and this optimizer's hyper-parameter names, and whose
        "params" has one entry per parameter; and state only for indices of parameters, with every
        array buffer shaped like its parameter.
        """
        # TODO: raise ValueError naming the first mismatch (keys, parameter count, hyper-parameter names, buffer shape).
        ### BEGIN SOLUTION
        expected = {"state", "param_groups", "step_count"}
        if set(state_dict) != expected:
            raise ValueError(f"the state_dict has keys {sorted(state_dict)}, "
                             f"expected {sorted(expected)}")
        if len(state_dict["param_groups"]) != 1:
            raise ValueError(f"the state_dict has {len(state_dict['param_groups'])} param groups, "
                             "expected 1")
        group = state_dict["param_groups"][0]
        expected = {"lr", "params", *self.hyperparams}
        if set(group) != expected:
            raise ValueError(f"the param group has keys {sorted(group)}, expected "
                             f"{sorted(expected)}: was it saved by another kind of optimizer?")
        if len(group["params"]) != len(self.params):
            raise ValueError(f"the state_dict is for {len(group['params'])} parameters, "
                             f"this optimizer has {len(self.params)}")
        for i, buffers in state_dict["state"].items():
            if i not in range(len(self.params)):
                raise ValueError(f"the state_dict has state for parameter {i!r}, expected an int "
                                 f"index in range({len(self.params)})")
            shape = self.params[i].data.shape
            for name, value in buffers.items():
                if isinstance(value, np.ndarray) and value.shape != shape:
                    raise ValueError(f"state[{i}][{name!r}] has shape {value.shape}, "
                                     f"parameter {i} has shape {shape}")
        ### END SOLUTION

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the buffers, lr, hyper-parameters and step_count saved by state_dict().

        Checks first (check_state_dict), then changes: a dict that does not fit changes nothing.
        The arrays are copied in, so the optimizer shares no memory with `state_dict`.
        """
        self.check_state_dict(state_dict)
        # TODO: copy the buffers in, then restore lr, every hyper-parameter and step_count.
        ### BEGIN SOLUTION
        group = state_dict["param_groups"][0]
        self.state = {i: copy_buffers(buffers) for i, buffers in state_dict["state"].items()}
        self.lr = group["lr"]
        self.hyperparams = {name: group[name] for name in self.hyperparams}
        self.step_count = state_dict["step_count"]
        ### END SOLUTION

# %%
#| export
class SGD(Optimizer):
    """Stochastic gradient descent, with optional weight decay, momentum and Nesterov momentum."""

    def __init__(self, params: Iterable, lr: float = 0.01, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False):
        """Hint: validate, then hand everything to the base class; its __init__ checks lr."""
        # TODO: raise ValueError for momentum < 0, weight_decay < 0, or nesterov without momentum > 0 and dampening 0.
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
        """g = grad + weight_decay * p
        with momentum: buf = g at the first step, else buf = momentum * buf + (1 - dampening) * g;
                       then g = g + momentum * buf (Nesterov) or g = buf
        p -= lr * g

        Hints: the buffer is state["momentum_buffer"]; update it and p.data in place.
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
        """Whether this optimizer keeps a velocity."""
        # TODO: return True when the momentum hyper-parameter is not 0.
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
        # TODO: copy each buffer into the parameter's state, or remove it where the entry is None.
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
        """Messages as in PyTorch: "Invalid beta parameter at index 1: 1.0 (must be in [0, 1))"."""
        # TODO: raise ValueError for a beta outside [0, 1), eps < 0 or weight_decay < 0.
        raise NotImplementedError("raise ValueError for a beta outside [0, 1), eps < 0 or weight_decay < 0.")
        super().__init__(params, lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def update(self, p, grad: np.ndarray, state: dict) -> None:
        """Adam with L2 regularisation: g = grad + weight_decay * p, then adam_step(p, g, state)."""
        # TODO: add weight_decay * p.data to the gradient (as a new array), then call self.adam_step.
        raise NotImplementedError("add weight_decay * p.data to the gradient (as a new array), then call self.adam_step.")

    def adam_step(self, p, grad: np.ndarray, state: dict) -> None:
        """One Adam update of p from grad.

        First update: state["step"] = 0, state["exp_avg"] = state["exp_avg_sq"] = zeros like p.
        t = step + 1;  m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
        p -= lr * (m / (1 - beta1 ** t)) / (sqrt(v / (1 - beta2 ** t)) + eps)

        Hints: update m and v in place (they are the arrays in state); m_hat and v_hat are new
        arrays; np.zeros_like(p.data) keeps the parameter's dtype.
        """
        # TODO: update this parameter's step, exp_avg and exp_avg_sq, then move p by the bias-corrected step.
        raise NotImplementedError("update this parameter's step, exp_avg and exp_avg_sq, then move p by the bias-corrected step.")

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
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay, then an Adam step."""

    def __init__(self, params: Iterable, lr: float = 0.001, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01):
        super().__init__(params, lr, betas, eps, weight_decay)

    def update(self, p, grad: np.ndarray, state: dict) -> None:
        """p *= 1 - lr * weight_decay (in place), then adam_step with the raw gradient."""
        # TODO: shrink p.data by the factor 1 - lr * weight_decay, then take an Adam step with the raw gradient.
        raise NotImplementedError("shrink p.data by the factor 1 - lr * weight_decay, then take an Adam step with the raw gradient.")

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
        # TODO: return a new dict of every attribute in vars(self) except "optimizer".
        raise NotImplementedError("return a new dict of every attribute in vars(self) except \"optimizer\".")

    def load_state_dict(self, state_dict: dict) -> None:
        """Set every attribute named in state_dict to its value."""
        # TODO: set each attribute named in state_dict to the saved value.
        raise NotImplementedError("set each attribute named in state_dict to the saved value.")


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (last_epoch // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self) -> float:
        # TODO: return the step-decayed learning rate for epoch self.last_epoch.
        raise NotImplementedError("return the step-decayed learning rate for epoch self.last_epoch.")


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * last_epoch / T_max)) / 2."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer)

    def get_lr(self) -> float:
        # TODO: return the cosine-annealed learning rate for epoch self.last_epoch.
        raise NotImplementedError("return the cosine-annealed learning rate for epoch self.last_epoch.")
