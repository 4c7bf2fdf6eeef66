"""Module 06, written plainly: every update rebinds `p.data` to a new array."""
import math

import numpy as np


def assign(p, value):
    """p.data = value, in p's dtype (a numpy float64 lr would otherwise promote float32)."""
    p.data = np.asarray(value, dtype=p.data.dtype)


class Optimizer:
    hyper_parameters = ()  # names of the constructor arguments kept in param_groups
    buffers = ()  # names of the per-parameter state entries

    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for p in self.params:
            if isinstance(p, np.ndarray) or not hasattr(p, "data"):
                raise TypeError(f"optimizer can only update parameters (.data and .grad), got {type(p).__name__}")
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        self.lr = lr
        self.state = {}
        self.step_count = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        raise NotImplementedError("a subclass defines the update")

    def state_dict(self):
        group = {"lr": self.lr}
        for name in self.hyper_parameters:
            group[name] = getattr(self, name)
        group["params"] = list(range(len(self.params)))
        state = {}
        for i, buffers in self.state.items():
            state[i] = {k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in buffers.items()}
        return {"state": state, "param_groups": [group], "step_count": self.step_count}

    def load_state_dict(self, sd):
        if set(sd) != {"state", "param_groups", "step_count"}:
            raise ValueError(f"a state dict has the keys state, param_groups and step_count, not {sorted(sd)}")
        groups = sd["param_groups"]
        if len(groups) != 1:
            raise ValueError(f"expected 1 parameter group, got {len(groups)}")
        group = groups[0]
        wanted = {"lr", "params", *self.hyper_parameters}
        if set(group) != wanted:
            raise ValueError(f"param_groups keys {sorted(group)} do not fit {sorted(wanted)}")
        if len(group["params"]) != len(self.params):
            raise ValueError(f"the dict has {len(group['params'])} parameters, this optimizer {len(self.params)}")
        state = {}
        for key, buffers in sd["state"].items():
            i = int(key)
            if not 0 <= i < len(self.params):
                raise ValueError(f"state for parameter {key}, but there are only {len(self.params)}")
            if buffers and set(buffers) != set(self.buffers):
                raise ValueError(f"state {i} has keys {sorted(buffers)}, expected {sorted(self.buffers)}")
            state[i] = {}
            for name, value in buffers.items():
                if name == "step":
                    state[i][name] = int(value)
                    continue
                if np.shape(value) != self.params[i].data.shape:
                    raise ValueError(f"state {i} {name} has shape {np.shape(value)}, "
                                     f"parameter {i} has shape {self.params[i].data.shape}")
                state[i][name] = np.array(value)
        self.state = state
        self.lr = group["lr"]
        for name in self.hyper_parameters:
            setattr(self, name, tuple(group[name]) if name == "betas" else group[name])
        self.step_count = int(sd["step_count"])


class SGD(Optimizer):
    hyper_parameters = ("momentum", "dampening", "weight_decay", "nesterov")
    buffers = ("momentum_buffer",)

    def __init__(self, params, lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr)
        if momentum < 0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        self.momentum = momentum
        self.dampening = dampening
        self.weight_decay = weight_decay
        self.nesterov = nesterov

    def has_momentum(self):
        return self.momentum > 0

    def get_momentum_state(self):
        if not self.has_momentum():
            return None
        buffers = [self.state.get(i, {}).get("momentum_buffer") for i in range(len(self.params))]
        return [None if b is None else np.copy(b) for b in buffers]

    def set_momentum_state(self, buffers):
        if buffers is None:
            self.state = {}
            return
        if len(buffers) != len(self.params):
            raise ValueError(f"got {len(buffers)} momentum buffers for {len(self.params)} parameters")
        self.state = {i: {"momentum_buffer": np.array(b)} for i, b in enumerate(buffers) if b is not None}

    def step(self):
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad + self.weight_decay * p.data
            if self.momentum > 0:
                previous = self.state.get(i, {}).get("momentum_buffer")
                if previous is None:
                    buf = g
                else:
                    buf = self.momentum * previous + (1 - self.dampening) * g
                self.state[i] = {"momentum_buffer": buf}
                g = g + self.momentum * buf if self.nesterov else buf
            assign(p, p.data - self.lr * g)
        self.step_count += 1


class Momentum(SGD):
    def __init__(self, params, lr=0.01, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr, momentum, dampening, weight_decay, nesterov)


class Adam(Optimizer):
    hyper_parameters = ("betas", "eps", "weight_decay")
    buffers = ("step", "exp_avg", "exp_avg_sq")
    decoupled = False

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        if eps < 0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        for beta in betas:
            if not 0 <= beta < 1:
                raise ValueError(f"Invalid beta parameter: {beta}")
        self.betas = tuple(betas)
        self.eps = eps
        self.weight_decay = weight_decay

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
            if self.decoupled:
                assign(p, p.data * (1 - self.lr * self.weight_decay))
                g = p.grad
            else:
                g = p.grad + self.weight_decay * p.data
            s = self.state.get(i) or {"step": 0, "exp_avg": np.zeros_like(p.data),
                                      "exp_avg_sq": np.zeros_like(p.data)}
            t = s["step"] + 1
            m = beta1 * s["exp_avg"] + (1 - beta1) * g
            v = beta2 * s["exp_avg_sq"] + (1 - beta2) * g * g
            self.state[i] = {"step": t, "exp_avg": m, "exp_avg_sq": v}
            m_hat = m / (1 - beta1 ** t)
            v_hat = v / (1 - beta2 ** t)
            assign(p, p.data - self.lr * m_hat / (np.sqrt(v_hat) + self.eps))
        self.step_count += 1


class AdamW(Adam):
    decoupled = True

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)


class StepLR:
    def __init__(self, optimizer, step_size, gamma=0.1):
        self.optimizer = optimizer
        self.step_size = step_size
        self.gamma = gamma
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def step(self):
        self.last_epoch += 1
        self.optimizer.lr = self.base_lr * self.gamma ** (self.last_epoch // self.step_size)

    def get_last_lr(self):
        return [self.optimizer.lr]

    def state_dict(self):
        return {"step_size": self.step_size, "gamma": self.gamma,
                "base_lr": self.base_lr, "last_epoch": self.last_epoch}

    def load_state_dict(self, sd):
        self.step_size = sd["step_size"]
        self.gamma = sd["gamma"]
        self.base_lr = sd["base_lr"]
        self.last_epoch = sd["last_epoch"]


class CosineAnnealingLR:
    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.optimizer = optimizer
        self.T_max = T_max
        self.eta_min = eta_min
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def step(self):
        self.last_epoch += 1
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        self.optimizer.lr = self.eta_min + (self.base_lr - self.eta_min) * cosine

    def get_last_lr(self):
        return [self.optimizer.lr]

    def state_dict(self):
        return {"T_max": self.T_max, "eta_min": self.eta_min,
                "base_lr": self.base_lr, "last_epoch": self.last_epoch}

    def load_state_dict(self, sd):
        self.T_max = sd["T_max"]
        self.eta_min = sd["eta_min"]
        self.base_lr = sd["base_lr"]
        self.last_epoch = sd["last_epoch"]


# quick check
opt = SGD([], lr=0.1)
print(opt.params)
