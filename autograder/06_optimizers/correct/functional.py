"""Module 06 as small pure update functions, with thin classes that keep the state."""
import math

import numpy as np


# The rules: each takes arrays and numbers and returns new arrays; nothing is changed in place.
# The new parameter keeps p's dtype, even when a hyper-parameter is a numpy float64.

def sgd_rule(p, grad, buf, *, lr, momentum, dampening, weight_decay, nesterov):
    """Returns (new p, new momentum buffer or None)."""
    g = grad + weight_decay * p
    if momentum == 0:
        return (p - lr * g).astype(p.dtype), None
    buf = g if buf is None else momentum * buf + (1 - dampening) * g
    direction = g + momentum * buf if nesterov else buf
    return (p - lr * direction).astype(p.dtype), buf


def adam_rule(p, grad, m, v, t, *, lr, betas, eps):
    """Returns (new p, new m, new v) after Adam step number t (counted from 1)."""
    beta1, beta2 = betas
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * np.square(grad)
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return (p - lr * m_hat / (np.sqrt(v_hat) + eps)).astype(p.dtype), m, v


def step_lr(base_lr, epoch, step_size, gamma):
    return base_lr * gamma ** (epoch // step_size)


def cosine_lr(base_lr, epoch, T_max, eta_min):
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * epoch / T_max)) / 2


def copy_tree(value):
    """A deep copy of dicts, lists and arrays; numbers and strings are shared (immutable)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: copy_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(copy_tree(v) for v in value)
    return value


def require(condition, message):
    if not condition:
        raise ValueError(message)


# The optimizers.

class Optimizer:
    BUFFERS = ()

    def __init__(self, params, lr):
        self.params = list(params)
        require(len(self.params) > 0, "optimizer got no parameters")
        bad = [type(p).__name__ for p in self.params if isinstance(p, np.ndarray) or not hasattr(p, "data")]
        if bad:
            raise TypeError(f"not parameters: {', '.join(bad)}")
        require(lr >= 0, f"Invalid learning rate: {lr}")
        self.lr = lr
        self.state = {}
        self.step_count = 0

    def hyperparameters(self):
        """The hyper-parameters other than lr, by name (the base class has none)."""
        return {}

    def set_hyperparameters(self, values):
        """Take the hyper-parameters from a dict like the one hyperparameters() returns."""

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        raise NotImplementedError("Optimizer is abstract")

    def state_dict(self):
        group = {"lr": self.lr, **self.hyperparameters(), "params": list(range(len(self.params)))}
        return {"state": copy_tree(self.state), "param_groups": [copy_tree(group)],
                "step_count": self.step_count}

    def load_state_dict(self, sd):
        require(set(sd) == {"state", "param_groups", "step_count"}, f"unexpected keys {sorted(sd)}")
        require(len(sd["param_groups"]) == 1, "expected exactly one param group")
        group = sd["param_groups"][0]
        names = {"lr", "params", *self.hyperparameters()}
        require(set(group) == names, f"param group keys {sorted(group)} should be {sorted(names)}")
        n = len(self.params)
        require(len(group["params"]) == n, f"the dict holds {len(group['params'])} parameters, not {n}")
        state = {int(i): copy_tree(buffers) for i, buffers in sd["state"].items()}
        for i, buffers in state.items():
            require(0 <= i < n, f"state for parameter {i}, which does not exist")
            require(not buffers or set(buffers) == set(self.BUFFERS),
                    f"parameter {i} has buffers {sorted(buffers)}, expected {list(self.BUFFERS)}")
            for name, value in buffers.items():
                if isinstance(value, np.ndarray):
                    require(value.shape == self.params[i].data.shape,
                            f"{name} of parameter {i} has shape {value.shape}, not {self.params[i].data.shape}")
        self.state = state
        self.lr = group["lr"]
        self.set_hyperparameters(group)
        self.step_count = sd["step_count"]


class SGD(Optimizer):
    BUFFERS = ("momentum_buffer",)

    def __init__(self, params, lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr)
        require(momentum >= 0, f"Invalid momentum value: {momentum}")
        require(weight_decay >= 0, f"Invalid weight_decay value: {weight_decay}")
        require(not nesterov or (momentum > 0 and dampening == 0),
                "Nesterov momentum requires a momentum and zero dampening")
        self.set_hyperparameters(dict(momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def hyperparameters(self):
        return {"momentum": self.momentum, "dampening": self.dampening,
                "weight_decay": self.weight_decay, "nesterov": self.nesterov}

    def set_hyperparameters(self, values):
        self.momentum = values["momentum"]
        self.dampening = values["dampening"]
        self.weight_decay = values["weight_decay"]
        self.nesterov = values["nesterov"]

    def has_momentum(self):
        return self.momentum != 0

    def get_momentum_state(self):
        if not self.has_momentum():
            return None
        return [copy_tree(self.state.get(i, {}).get("momentum_buffer")) for i in range(len(self.params))]

    def set_momentum_state(self, buffers):
        if buffers is None:
            buffers = [None] * len(self.params)
        require(len(buffers) == len(self.params),
                f"{len(buffers)} momentum buffers for {len(self.params)} parameters")
        self.state = {i: {"momentum_buffer": np.array(b)} for i, b in enumerate(buffers) if b is not None}

    def step(self):
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            p.data, buf = sgd_rule(p.data, p.grad, self.state.get(i, {}).get("momentum_buffer"),
                                   lr=self.lr, **self.hyperparameters())
            if buf is not None:
                self.state[i] = {"momentum_buffer": buf}
        self.step_count += 1


class Momentum(SGD):
    def __init__(self, params, lr=0.01, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr, momentum, dampening, weight_decay, nesterov)


class Adam(Optimizer):
    BUFFERS = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        require(eps >= 0, f"Invalid epsilon value: {eps}")
        require(weight_decay >= 0, f"Invalid weight_decay value: {weight_decay}")
        require(all(0 <= b < 1 for b in betas), f"Invalid betas: {betas}")
        self.set_hyperparameters(dict(betas=betas, eps=eps, weight_decay=weight_decay))

    def hyperparameters(self):
        return {"betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}

    def set_hyperparameters(self, values):
        self.betas = tuple(values["betas"])
        self.eps = values["eps"]
        self.weight_decay = values["weight_decay"]

    @property
    def m_buffers(self):
        return [self.state.get(i, {}).get("exp_avg") for i in range(len(self.params))]

    @property
    def v_buffers(self):
        return [self.state.get(i, {}).get("exp_avg_sq") for i in range(len(self.params))]

    def prepare(self, p):
        """(parameter, gradient) that the Adam rule sees: L2 decay joins the gradient."""
        return p.data, p.grad + self.weight_decay * p.data

    def step(self):
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            x, g = self.prepare(p)
            old = self.state.get(i) or {"step": 0, "exp_avg": np.zeros_like(x), "exp_avg_sq": np.zeros_like(x)}
            t = old["step"] + 1
            p.data, m, v = adam_rule(x, g, old["exp_avg"], old["exp_avg_sq"], t,
                                     lr=self.lr, betas=self.betas, eps=self.eps)
            self.state[i] = {"step": t, "exp_avg": m, "exp_avg_sq": v}
        self.step_count += 1


class AdamW(Adam):
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)

    def prepare(self, p):
        """Decoupled decay: the parameter shrinks, the gradient stays raw."""
        return (p.data * (1 - self.lr * self.weight_decay)).astype(p.data.dtype), p.grad


# The schedulers: the epoch is the state; the rate is a function of it.

class Scheduler:
    def __init__(self, optimizer, rule, **settings):
        self.optimizer = optimizer
        self.rule = rule
        self.settings = {"base_lr": optimizer.lr, **settings}
        self.epoch = 0

    def step(self):
        self.epoch += 1
        self.optimizer.lr = self.rule(epoch=self.epoch, **self.settings)

    def get_last_lr(self):
        return [self.optimizer.lr]

    def state_dict(self):
        return {"epoch": self.epoch, **self.settings}

    def load_state_dict(self, sd):
        self.epoch = sd["epoch"]
        self.settings = {k: sd[k] for k in self.settings}


class StepLR(Scheduler):
    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer, step_lr, step_size=step_size, gamma=gamma)


class CosineAnnealingLR(Scheduler):
    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer, cosine_lr, T_max=T_max, eta_min=eta_min)
