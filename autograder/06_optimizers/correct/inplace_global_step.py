"""Module 06 with in-place updates, one step counter shared by all of Adam's parameters,
and schedulers that update the learning rate from its previous value, as torch does."""
import math

import numpy as np


def _copy_state(state):
    return {i: {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in s.items()}
            for i, s in state.items()}


class Optimizer:
    def __init__(self, params, lr):
        self.params = list(params)
        if len(self.params) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if any(not (hasattr(p, "data") and hasattr(p, "grad")) for p in self.params):
            raise TypeError("every parameter needs .data and .grad (pass the Parameter, not its array)")
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        self.lr = lr
        self.state = {}
        self.step_count = 0

    def hyper_parameters(self):
        return {}

    def buffer_names(self):
        return set()

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        raise NotImplementedError

    def state_dict(self):
        group = {"lr": self.lr, **self.hyper_parameters(), "params": list(range(len(self.params)))}
        return {"state": _copy_state(self.state), "param_groups": [group], "step_count": self.step_count}

    def load_state_dict(self, sd):
        self._check(sd)
        group = sd["param_groups"][0]
        self.state = _copy_state({int(i): dict(s) for i, s in sd["state"].items()})
        for s in self.state.values():
            if "step" in s:
                s["step"] = int(s["step"])
        self.lr = group["lr"]
        for name in self.hyper_parameters():
            value = group[name]
            setattr(self, name, tuple(value) if isinstance(value, list) else value)
        self.step_count = int(sd["step_count"])

    def _check(self, sd):
        """Raise ValueError unless `sd` fits this optimizer; change nothing."""
        if set(sd) != {"state", "param_groups", "step_count"}:
            raise ValueError(f"a state dict has keys state, param_groups, step_count; got {sorted(sd)}")
        if len(sd["param_groups"]) != 1:
            raise ValueError(f"expected one parameter group, got {len(sd['param_groups'])}")
        group = sd["param_groups"][0]
        expected = {"lr", "params", *self.hyper_parameters()}
        if set(group) != expected:
            raise ValueError(f"param_groups[0] has keys {sorted(group)}, expected {sorted(expected)}")
        n = len(self.params)
        if len(group["params"]) != n:
            raise ValueError(f"the state dict is for {len(group['params'])} parameters, not {n}")
        for key, s in sd["state"].items():
            if int(key) not in range(n):
                raise ValueError(f"state for parameter {key} of {n}")
            if s and set(s) != self.buffer_names():
                raise ValueError(f"state[{key}] has keys {sorted(s)}, expected {sorted(self.buffer_names())}")
            for name, value in s.items():
                if name != "step" and np.shape(value) != np.shape(self.params[int(key)].data):
                    raise ValueError(f"state[{key}][{name!r}] has shape {np.shape(value)}, "
                                     f"expected {np.shape(self.params[int(key)].data)}")


class SGD(Optimizer):
    def __init__(self, params, lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr)
        if momentum < 0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        self.momentum, self.dampening = momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov

    def hyper_parameters(self):
        return {"momentum": self.momentum, "dampening": self.dampening,
                "weight_decay": self.weight_decay, "nesterov": self.nesterov}

    def buffer_names(self):
        return {"momentum_buffer"}

    def has_momentum(self):
        return self.momentum != 0

    def get_momentum_state(self):
        if not self.has_momentum():
            return None
        return [self.state[i]["momentum_buffer"].copy() if self.state.get(i) else None
                for i in range(len(self.params))]

    def set_momentum_state(self, buffers):
        if buffers is not None and len(buffers) != len(self.params):
            raise ValueError(f"{len(buffers)} momentum buffers for {len(self.params)} parameters")
        self.state.clear()
        for i, buf in enumerate(buffers or []):
            if buf is not None:
                self.state[i] = {"momentum_buffer": np.array(buf, copy=True)}

    def step(self):
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            if self.momentum:
                if not self.state.get(i):
                    self.state[i] = {"momentum_buffer": np.array(g, copy=True)}
                else:
                    buf = self.state[i]["momentum_buffer"]
                    buf *= self.momentum
                    buf += (1 - self.dampening) * g
                buf = self.state[i]["momentum_buffer"]
                g = g + self.momentum * buf if self.nesterov else buf
            p.data -= self.lr * g
        self.step_count += 1


class Momentum(SGD):
    def __init__(self, params, lr=0.01, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov)


class Adam(Optimizer):
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        if eps < 0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Invalid betas: {betas}")
        self.betas, self.eps, self.weight_decay = tuple(betas), eps, weight_decay

    def hyper_parameters(self):
        return {"betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}

    def buffer_names(self):
        return {"step", "exp_avg", "exp_avg_sq"}

    @property
    def m_buffers(self):
        return [self.state[i]["exp_avg"] if self.state.get(i) else None for i in range(len(self.params))]

    @property
    def v_buffers(self):
        return [self.state[i]["exp_avg_sq"] if self.state.get(i) else None for i in range(len(self.params))]

    def _gradient(self, p):
        return p.grad + self.weight_decay * p.data if self.weight_decay else p.grad

    def step(self):
        beta1, beta2 = self.betas
        t = self.step_count + 1  # one clock for every parameter
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = self._gradient(p)
            if not self.state.get(i):
                self.state[i] = {"exp_avg": np.zeros_like(p.data), "exp_avg_sq": np.zeros_like(p.data)}
            s = self.state[i]
            s["step"] = t
            s["exp_avg"] *= beta1
            s["exp_avg"] += (1 - beta1) * g
            s["exp_avg_sq"] *= beta2
            s["exp_avg_sq"] += (1 - beta2) * g * g
            m_hat = s["exp_avg"] / (1 - beta1 ** t)
            v_hat = s["exp_avg_sq"] / (1 - beta2 ** t)
            p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        self.step_count = t


class AdamW(Adam):
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _gradient(self, p):
        p.data *= 1 - self.lr * self.weight_decay
        return p.grad


class _Scheduler:
    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def step(self):
        self.last_epoch += 1
        self.optimizer.lr = self.next_lr(self.optimizer.lr)

    def get_last_lr(self):
        return [self.optimizer.lr]

    def state_dict(self):
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, sd):
        vars(self).update(sd)


class StepLR(_Scheduler):
    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def next_lr(self, lr):
        return lr * self.gamma if self.last_epoch % self.step_size == 0 else lr


class CosineAnnealingLR(_Scheduler):
    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer)
        self.T_max, self.eta_min = T_max, eta_min

    def next_lr(self, lr):
        t, T = self.last_epoch, self.T_max
        if (t - 1 - T) % (2 * T) == 0:  # leaving the minimum: the ratio below would divide by 0
            return lr + (self.base_lr - self.eta_min) * (1 - math.cos(math.pi / T)) / 2
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return ratio * (lr - self.eta_min) + self.eta_min
