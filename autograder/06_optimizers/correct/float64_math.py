"""Module 06 doing every update in float64 and storing the result in the parameter's own dtype."""
import math

import numpy as np


def _nonnegative(name, value):
    if value < 0:
        raise ValueError(f"Invalid {name}: {value}")


def _wide(array):
    return np.asarray(array, dtype=np.float64)


class Optimizer:
    def __init__(self, params, lr):
        self.params = list(params)
        if len(self.params) == 0:
            raise ValueError("params is empty")
        for p in self.params:
            if not hasattr(p, "data") or not hasattr(p, "grad"):
                raise TypeError(f"{p!r:.40} is not a parameter: it needs .data and .grad")
        _nonnegative("learning rate", lr)
        self.lr = lr
        self.state = {}
        self.step_count = 0

    def settings(self):
        """The hyper-parameters other than lr, by name."""
        return {}

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        raise NotImplementedError("use SGD, Momentum, Adam or AdamW")

    def state_dict(self):
        state = {}
        for i, buffers in self.state.items():
            state[i] = {}
            for key, value in buffers.items():
                state[i][key] = value.copy() if isinstance(value, np.ndarray) else value
        group = dict(lr=self.lr, **self.settings(), params=list(range(len(self.params))))
        return {"state": state, "param_groups": [group], "step_count": self.step_count}

    def load_state_dict(self, sd):
        if sorted(sd) != ["param_groups", "state", "step_count"]:
            raise ValueError(f"not an optimizer state dict: keys {sorted(sd)}")
        if len(sd["param_groups"]) != 1:
            raise ValueError("only one param group is supported")
        group = sd["param_groups"][0]
        names = sorted(["lr", "params", *self.settings()])
        if sorted(group) != names:
            raise ValueError(f"param group keys {sorted(group)} are not {names}")
        if len(group["params"]) != len(self.params):
            raise ValueError(f"{len(group['params'])} parameters in the dict, {len(self.params)} here")
        state = {}
        for key, buffers in sd["state"].items():
            i = int(key)
            if i < 0 or i >= len(self.params):
                raise ValueError(f"no parameter {key}")
            state[i] = {}
            for name, value in buffers.items():
                if isinstance(value, np.ndarray):
                    if value.shape != self.params[i].data.shape:
                        raise ValueError(f"buffer {name} of parameter {i}: shape {value.shape}, "
                                         f"expected {self.params[i].data.shape}")
                    value = value.copy()
                state[i][name] = value
        self.state = state
        self.lr = group["lr"]
        for name in self.settings():
            setattr(self, name, group[name])
        self.step_count = sd["step_count"]


class SGD(Optimizer):
    def __init__(self, params, lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr)
        _nonnegative("momentum value", momentum)
        _nonnegative("weight_decay value", weight_decay)
        if nesterov and not (momentum > 0 and dampening == 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        self.momentum = momentum
        self.dampening = dampening
        self.weight_decay = weight_decay
        self.nesterov = nesterov

    def settings(self):
        return {"momentum": self.momentum, "dampening": self.dampening,
                "weight_decay": self.weight_decay, "nesterov": self.nesterov}

    def has_momentum(self):
        return self.momentum > 0

    def get_momentum_state(self):
        if not self.has_momentum():
            return None
        out = []
        for i in range(len(self.params)):
            buf = self.state.get(i, {}).get("momentum_buffer")
            out.append(None if buf is None else buf.copy())
        return out

    def set_momentum_state(self, buffers):
        buffers = [None] * len(self.params) if buffers is None else buffers
        if len(buffers) != len(self.params):
            raise ValueError(f"expected {len(self.params)} momentum buffers, got {len(buffers)}")
        self.state = {i: {"momentum_buffer": buf.copy()} for i, buf in enumerate(buffers) if buf is not None}

    def step(self):
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = _wide(p.grad) + self.weight_decay * _wide(p.data)
            if self.momentum > 0:
                state = self.state.setdefault(i, {})
                if "momentum_buffer" in state:
                    buf = self.momentum * _wide(state["momentum_buffer"]) + (1 - self.dampening) * g
                else:
                    buf = g
                state["momentum_buffer"] = buf.astype(p.data.dtype)
                g = g + self.momentum * buf if self.nesterov else buf
            p.data = (_wide(p.data) - self.lr * g).astype(p.data.dtype)
        self.step_count += 1


class Momentum(SGD):
    def __init__(self, params, lr=0.01, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr, momentum, dampening, weight_decay, nesterov)


class Adam(Optimizer):
    decoupled_weight_decay = False

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        beta1, beta2 = betas
        if not 0.0 <= beta1 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {beta1}")
        if not 0.0 <= beta2 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {beta2}")
        _nonnegative("epsilon value", eps)
        _nonnegative("weight_decay value", weight_decay)
        self.betas = (beta1, beta2)
        self.eps = eps
        self.weight_decay = weight_decay

    def settings(self):
        return {"betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}

    @property
    def m_buffers(self):
        return [self.state.get(i, {}).get("exp_avg") for i in range(len(self.params))]

    @property
    def v_buffers(self):
        return [self.state.get(i, {}).get("exp_avg_sq") for i in range(len(self.params))]

    def step(self):
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            x, g = _wide(p.data), _wide(p.grad)
            if self.decoupled_weight_decay:
                x = x * (1 - self.lr * self.weight_decay)
            else:
                g = g + self.weight_decay * x
            state = self.state.get(i)
            if not state:
                state = self.state[i] = {"step": 0, "exp_avg": np.zeros_like(p.data),
                                         "exp_avg_sq": np.zeros_like(p.data)}
            state["step"] += 1
            t = state["step"]
            m = beta1 * _wide(state["exp_avg"]) + (1 - beta1) * g
            v = beta2 * _wide(state["exp_avg_sq"]) + (1 - beta2) * g ** 2
            state["exp_avg"] = m.astype(p.data.dtype)
            state["exp_avg_sq"] = v.astype(p.data.dtype)
            step = self.lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + self.eps)
            p.data = (x - step).astype(p.data.dtype)
        self.step_count += 1


class AdamW(Adam):
    decoupled_weight_decay = True

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)


class StepLR:
    def __init__(self, optimizer, step_size, gamma=0.1):
        self.optimizer = optimizer
        self.step_size = step_size
        self.gamma = gamma
        self.base_lr = optimizer.lr
        self.last_epoch = 0
        self.last_lr = [optimizer.lr]

    def step(self):
        self.last_epoch += 1
        self.optimizer.lr = self.base_lr * self.gamma ** (self.last_epoch // self.step_size)
        self.last_lr = [self.optimizer.lr]

    def get_last_lr(self):
        return list(self.last_lr)

    def state_dict(self):
        return {"step_size": self.step_size, "gamma": self.gamma, "base_lr": self.base_lr,
                "last_epoch": self.last_epoch, "last_lr": list(self.last_lr)}

    def load_state_dict(self, sd):
        self.step_size = sd["step_size"]
        self.gamma = sd["gamma"]
        self.base_lr = sd["base_lr"]
        self.last_epoch = sd["last_epoch"]
        self.last_lr = list(sd["last_lr"])


class CosineAnnealingLR:
    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.optimizer = optimizer
        self.T_max = T_max
        self.eta_min = eta_min
        self.base_lr = optimizer.lr
        self.last_epoch = 0
        self.last_lr = [optimizer.lr]

    def step(self):
        self.last_epoch += 1
        angle = math.pi * self.last_epoch / self.T_max
        self.optimizer.lr = self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(angle)) / 2
        self.last_lr = [self.optimizer.lr]

    def get_last_lr(self):
        return list(self.last_lr)

    def state_dict(self):
        return {"T_max": self.T_max, "eta_min": self.eta_min, "base_lr": self.base_lr,
                "last_epoch": self.last_epoch, "last_lr": list(self.last_lr)}

    def load_state_dict(self, sd):
        self.T_max = sd["T_max"]
        self.eta_min = sd["eta_min"]
        self.base_lr = sd["base_lr"]
        self.last_epoch = sd["last_epoch"]
        self.last_lr = list(sd["last_lr"])
