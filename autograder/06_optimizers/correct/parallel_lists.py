"""Module 06 keeping each kind of buffer in a list with one slot per parameter.

`self.state` is still the dict of dicts the spec asks for: it is built from the lists when read,
and split back into them when assigned.
"""
import math

import numpy as np


class Optimizer:
    slots = {}  # state key -> name of the list attribute that holds it, one slot per parameter
    settings = ()  # the hyper-parameters besides lr

    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError("no parameters to optimize")
        for i, p in enumerate(self.params):
            if isinstance(p, np.ndarray) or not hasattr(p, "data"):
                raise TypeError(f"parameter {i} ({type(p).__name__}) has no .data")
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        self.lr = lr
        for attribute in self.slots.values():
            setattr(self, attribute, [None] * len(self.params))
        self.step_count = 0

    @property
    def state(self):
        state = {}
        for i in range(len(self.params)):
            buffers = {key: getattr(self, attribute)[i] for key, attribute in self.slots.items()}
            if buffers and all(b is not None for b in buffers.values()):
                state[i] = buffers
        return state

    @state.setter
    def state(self, state):
        lists = {attribute: [None] * len(self.params) for attribute in self.slots.values()}
        for i, buffers in state.items():
            for key, attribute in self.slots.items():
                lists[attribute][int(i)] = buffers.get(key)
        for attribute, values in lists.items():
            setattr(self, attribute, values)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        raise NotImplementedError("Optimizer.step is defined by each optimizer")

    def state_dict(self):
        state = {i: {k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in s.items()}
                 for i, s in self.state.items()}
        group = {"lr": self.lr}
        group.update({name: getattr(self, name) for name in self.settings})
        group["params"] = list(range(len(self.params)))
        return {"state": state, "param_groups": [group], "step_count": self.step_count}

    def load_state_dict(self, sd):
        group = self._validated_group(sd)
        state = {}
        for i, buffers in sd["state"].items():
            state[int(i)] = {k: int(v) if k == "step" else np.array(v) for k, v in buffers.items()}
        self.state = state
        self.lr = group["lr"]
        for name in self.settings:
            setattr(self, name, tuple(group[name]) if name == "betas" else group[name])
        self.step_count = int(sd["step_count"])

    def _validated_group(self, sd):
        missing = {"state", "param_groups", "step_count"} - set(sd)
        if missing:
            raise ValueError(f"state dict is missing {sorted(missing)}")
        if len(sd["param_groups"]) != 1:
            raise ValueError("state dict must hold exactly one param group")
        group = sd["param_groups"][0]
        keys = {"lr", "params", *self.settings}
        if set(group) != keys:
            raise ValueError(f"param group keys {sorted(group)} differ from {sorted(keys)}")
        if len(group["params"]) != len(self.params):
            raise ValueError(f"state dict has {len(group['params'])} params, optimizer has {len(self.params)}")
        for i, buffers in sd["state"].items():
            if not 0 <= int(i) < len(self.params):
                raise ValueError(f"state dict has state for a parameter {i} that does not exist")
            if buffers and set(buffers) != set(self.slots):
                raise ValueError(f"state {i}: keys {sorted(buffers)} differ from {sorted(self.slots)}")
            shape = self.params[int(i)].data.shape
            for k, v in buffers.items():
                if k != "step" and np.shape(v) != shape:
                    raise ValueError(f"state {i} {k}: shape {np.shape(v)} differs from the parameter's {shape}")
        return group


class SGD(Optimizer):
    slots = {"momentum_buffer": "momentum_buffers"}
    settings = ("momentum", "dampening", "weight_decay", "nesterov")

    def __init__(self, params, lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        if momentum < 0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, lr)
        self.momentum = momentum
        self.dampening = dampening
        self.weight_decay = weight_decay
        self.nesterov = nesterov

    def has_momentum(self):
        return self.momentum > 0

    def get_momentum_state(self):
        if not self.has_momentum():
            return None
        return [None if b is None else b.copy() for b in self.momentum_buffers]

    def set_momentum_state(self, buffers):
        if buffers is None:
            self.momentum_buffers = [None] * len(self.params)
        elif len(buffers) != len(self.params):
            raise ValueError(f"{len(buffers)} momentum buffers given, the optimizer has {len(self.params)} parameters")
        else:
            self.momentum_buffers = [None if b is None else np.array(b) for b in buffers]

    def step(self):
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            d_p = p.grad + self.weight_decay * p.data
            if self.momentum > 0:
                buf = self.momentum_buffers[i]
                if buf is None:
                    buf = d_p.copy()
                else:
                    buf = self.momentum * buf + (1 - self.dampening) * d_p
                self.momentum_buffers[i] = buf
                d_p = d_p + self.momentum * buf if self.nesterov else buf
            p.data = (p.data - self.lr * d_p).astype(p.data.dtype)
        self.step_count += 1


class Momentum(SGD):
    def __init__(self, params, lr=0.01, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr, momentum, dampening, weight_decay, nesterov)


class Adam(Optimizer):
    slots = {"step": "steps", "exp_avg": "exp_avgs", "exp_avg_sq": "exp_avg_sqs"}
    settings = ("betas", "eps", "weight_decay")

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if eps < 0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        for index, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {index}: {beta}")
        super().__init__(params, lr)
        self.betas = tuple(betas)
        self.eps = eps
        self.weight_decay = weight_decay

    @property
    def m_buffers(self):
        return list(self.exp_avgs)

    @property
    def v_buffers(self):
        return list(self.exp_avg_sqs)

    def step(self):
        b1, b2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            grad = self.decayed_gradient(p)
            if self.steps[i] is None:
                self.steps[i] = 0
                self.exp_avgs[i] = np.zeros_like(p.data)
                self.exp_avg_sqs[i] = np.zeros_like(p.data)
            self.steps[i] += 1
            t = self.steps[i]
            self.exp_avgs[i] = b1 * self.exp_avgs[i] + (1 - b1) * grad
            self.exp_avg_sqs[i] = b2 * self.exp_avg_sqs[i] + (1 - b2) * grad * grad
            m_hat = self.exp_avgs[i] / (1 - b1 ** t)
            v_hat = self.exp_avg_sqs[i] / (1 - b2 ** t)
            p.data = (p.data - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(p.data.dtype)
        self.step_count += 1

    def decayed_gradient(self, p):
        """L2: the decay joins the gradient."""
        return p.grad + self.weight_decay * p.data


class AdamW(Adam):
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)

    def decayed_gradient(self, p):
        """Decoupled: shrink the parameter, keep the raw gradient."""
        p.data = (p.data * (1 - self.lr * self.weight_decay)).astype(p.data.dtype)
        return p.grad


class StepLR:
    def __init__(self, optimizer, step_size, gamma=0.1):
        self.optimizer = optimizer
        self.step_size = step_size
        self.gamma = gamma
        self.base_lr = optimizer.lr
        self.epoch = 0

    def step(self):
        self.epoch += 1
        decays = self.epoch // self.step_size
        self.optimizer.lr = self.base_lr * self.gamma ** decays

    def get_last_lr(self):
        return [self.optimizer.lr]

    def state_dict(self):
        return {"base_lr": self.base_lr, "epoch": self.epoch, "step_size": self.step_size, "gamma": self.gamma}

    def load_state_dict(self, sd):
        self.base_lr, self.epoch = sd["base_lr"], sd["epoch"]
        self.step_size, self.gamma = sd["step_size"], sd["gamma"]


class CosineAnnealingLR:
    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.optimizer = optimizer
        self.T_max = T_max
        self.eta_min = eta_min
        self.base_lr = optimizer.lr
        self.epoch = 0

    def step(self):
        self.epoch += 1
        progress = self.epoch / self.T_max
        self.optimizer.lr = self.eta_min + 0.5 * (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * progress))

    def get_last_lr(self):
        return [self.optimizer.lr]

    def state_dict(self):
        return {"base_lr": self.base_lr, "epoch": self.epoch, "T_max": self.T_max, "eta_min": self.eta_min}

    def load_state_dict(self, sd):
        self.base_lr, self.epoch = sd["base_lr"], sd["epoch"]
        self.T_max, self.eta_min = sd["T_max"], sd["eta_min"]
