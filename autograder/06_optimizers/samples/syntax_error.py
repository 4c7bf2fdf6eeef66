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

# %% [markdown]
# # 06 · Optimizers
#
# My solutions, written after torch.optim: the hyper-parameters live in a param group and `lr` reads it.

# %%
#| default_exp core.optimizers

# %%
#| export
import math

import numpy as np

# %% [markdown]
# ## The base class

# %%
#| export
class Optimizer:
    def __init__(self, params, lr, **defaults):
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        for p in params:
            if isinstance(p, np.ndarray) or not hasattr(p, "data"):
                raise TypeError(f"optimizer params must be parameters, got {type(p).__name__}")
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        self.params = params
        self.param_groups = [{"lr": lr, **defaults, "params": list(range(len(params)))}]
        self.state = {i: {} for i in range(len(params))}
        self.step_count = 0

    @property
    def group(self):
        return self.param_groups[0]

    @property
    def lr(self):
        return self.group["lr"]

    @lr.setter
    def lr(self, value):
        self.group["lr"] = value

    def zero_grad(self)
        for p in self.params:
            p.grad = None

    def step(self):
        raise NotImplementedError

    def state_dict(self):
        state = {i: {k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in s.items()}
                 for i, s in self.state.items()}
        groups = [{k: list(v) if isinstance(v, list) else v for k, v in g.items()} for g in self.param_groups]
        return {"state": state, "param_groups": groups, "step_count": self.step_count}

    def load_state_dict(self, state_dict):
        if set(state_dict) != {"state", "param_groups", "step_count"}:
            raise ValueError(f"state_dict keys {sorted(state_dict)} do not fit an optimizer")
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(groups)} parameter groups, expected 1")
        if set(groups[0]) != set(self.group):
            raise ValueError(f"loaded param group keys {sorted(groups[0])} differ from {sorted(self.group)}")
        if len(groups[0]["params"]) != len(self.params):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the "
                             f"size of optimizer's group: {len(groups[0]['params'])} vs {len(self.params)}")
        state = {i: {} for i in range(len(self.params))}
        for key, buffers in state_dict["state"].items():
            i = int(key)
            if i not in state:
                raise ValueError(f"loaded state has an entry for parameter {key}, which does not exist")
            for name, value in buffers.items():
                if isinstance(value, np.ndarray):
                    if value.shape != self.params[i].data.shape:
                        raise ValueError(f"loaded {name} of parameter {i} has shape {value.shape}, "
                                         f"expected {self.params[i].data.shape}")
                    value = np.array(value)
                state[i][name] = value
        self.state = state
        group = dict(groups[0])
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
        self.param_groups = [group]
        self.step_count = state_dict["step_count"]

# %% [markdown]
# ## SGD

# %%
#| export
class SGD(Optimizer):
    def __init__(self, params, lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov)

    def has_momentum(self):
        return self.group["momentum"] != 0

    def get_momentum_state(self):
        if not self.has_momentum():
            return None
        return [None if "momentum_buffer" not in s else s["momentum_buffer"].copy()
                for s in self.state.values()]

    def set_momentum_state(self, buffers):
        if buffers is not None and len(buffers) != len(self.params):
            raise ValueError(f"expected {len(self.params)} momentum buffers, got {len(buffers)}")
        for i, state in self.state.items():
            state.pop("momentum_buffer", None)
            if buffers is not None and buffers[i] is not None:
                state["momentum_buffer"] = np.array(buffers[i])

    def step(self):
        group = self.group
        momentum, dampening, nesterov = group["momentum"], group["dampening"], group["nesterov"]
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            d_p = p.grad
            if group["weight_decay"] != 0:
                d_p = d_p + group["weight_decay"] * p.data
            if momentum != 0:
                state = self.state[i]
                if "momentum_buffer" not in state:
                    buf = state["momentum_buffer"] = np.array(d_p)
                else:
                    buf = state["momentum_buffer"]
                    np.multiply(buf, momentum, out=buf)
                    np.add(buf, (1 - dampening) * d_p, out=buf)
                d_p = d_p + momentum * buf if nesterov else buf
            np.subtract(p.data, group["lr"] * d_p, out=p.data)
        self.step_count += 1

# %% [markdown]
# ## Momentum

# %%
#| export
class Momentum(SGD):
    def __init__(self, params, lr=0.01, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr, momentum, dampening, weight_decay, nesterov)

# %% [markdown]
# ## Adam

# %%
#| export
class Adam(Optimizer):
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    decoupled_weight_decay = False

    @property
    def m_buffers(self):
        return [s.get("exp_avg") for s in self.state.values()]

    @property
    def v_buffers(self):
        return [s.get("exp_avg_sq") for s in self.state.values()]

    def step(self):
        group = self.group
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            grad = p.grad
            if self.decoupled_weight_decay:
                p.data *= 1 - lr * weight_decay
            elif weight_decay != 0:
                grad = grad + weight_decay * p.data
            state = self.state[i]
            if not state:
                state["step"] = 0.0
                state["exp_avg"] = np.zeros_like(p.data)
                state["exp_avg_sq"] = np.zeros_like(p.data)
            state["step"] += 1
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg += (1 - beta1) * (grad - exp_avg)  # the lerp torch uses: beta1 * m + (1 - beta1) * g
            exp_avg_sq *= beta2
            exp_avg_sq += (1 - beta2) * grad * grad
            bias_correction1 = 1 - beta1 ** state["step"]
            bias_correction2 = 1 - beta2 ** state["step"]
            denom = np.sqrt(exp_avg_sq) / math.sqrt(bias_correction2) + eps
            p.data -= (lr / bias_correction1) * exp_avg / denom
        self.step_count += 1

# %% [markdown]
# ## AdamW

# %%
#| export
class AdamW(Adam):
    decoupled_weight_decay = True

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)

# %% [markdown]
# ## Learning-rate schedulers

# %%
#| export
class LRScheduler:
    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lrs = [optimizer.lr]
        self.last_epoch = 0
        self._last_lr = [optimizer.lr]

    def step(self):
        self.last_epoch += 1
        self.optimizer.lr = self.get_lr()
        self._last_lr = [self.optimizer.lr]

    def get_last_lr(self):
        return self._last_lr

    def state_dict(self):
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)

# %%
#| export
class StepLR(LRScheduler):
    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self):
        return self.base_lrs[0] * self.gamma ** (self.last_epoch // self.step_size)

# %%
#| export
class CosineAnnealingLR(LRScheduler):
    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer)

    def get_lr(self):
        return self.eta_min + (self.base_lrs[0] - self.eta_min) * (
            1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2

# %%
# Trying it out: Adam on (x - 3)^2.
import numpy as np


class Scalar:
    def __init__(self, x):
        self.data, self.grad = np.array([x]), None


x = Scalar(0.0)
opt = Adam([x], lr=0.1)
for _ in range(200):
    x.grad = 2 * (x.data - 3)
    opt.step()
    opt.zero_grad()
print(x.data)  # close to 3
