"""Module 06's hidden tests, the half that runs beside the student's code (see docs/grading.md).

A scenario drives optimizers through a `Backend` and returns what happened as plain data:
trajectories, buffers, learning rates, the names of exceptions. It decides nothing; the grader
compares these observations with the ones PyTorch produced when `make_expected.py` ran the same
scenario on its own backend. Inputs come from seeded generators, so both runs see the same numbers.
Only numpy, the standard library and tito.grading.scenario_kit (which imports only those and
tinytorch.plaindata) are imported here.
"""
import os
import tempfile

import numpy as np

from tito.grading.scenario_kit import (
    dtype_text, each_alone, error_name, grads_at, load, make_inputs, needing, only, plain,
    save, steps_of)


class Param:
    """A parameter as the spec sees it: `.data`, a numpy array, and `.grad`, an array or None."""

    requires_grad = True

    def __init__(self, data: np.ndarray):
        self.data = data
        self.grad = None


class Backend:
    """What a scenario may do with an optimizer library; `TinyBackend` and PyTorch's implement it.

    Optimizers and schedulers it returns are driven directly by their own `step()`,
    `zero_grad()` and `get_last_lr()`; everything else goes through these methods.
    """

    def parameter(self, array: np.ndarray):
        raise NotImplementedError

    def set_grad(self, param, grad: np.ndarray | None) -> None:
        raise NotImplementedError

    def value(self, param) -> np.ndarray:
        """A copy of the parameter's current value."""
        raise NotImplementedError

    def grad(self, param) -> np.ndarray | None:
        raise NotImplementedError

    def optimizer(self, name: str, params, **hyper):
        """`name` is SGD, Momentum, Adam, AdamW or Optimizer; hyper-parameters the spec's."""
        raise NotImplementedError

    def scheduler(self, name: str, optimizer, **settings):
        raise NotImplementedError

    def get_lr(self, optimizer) -> float:
        raise NotImplementedError

    def set_lr(self, optimizer, lr: float) -> None:
        raise NotImplementedError

    def step_count(self, optimizer) -> int:
        raise NotImplementedError

    def state(self, optimizer, index: int) -> dict | None:
        """A plain copy of parameter `index`'s live buffers; None when it has no state."""
        raise NotImplementedError

    def state_dict(self, obj) -> dict:
        """The optimizer's or scheduler's state_dict(), in the spec's layout, as returned."""
        raise NotImplementedError

    def load_state_dict(self, obj, state_dict: dict) -> None:
        raise NotImplementedError

    def has_momentum(self, optimizer) -> bool:
        raise NotImplementedError

    def get_momentum_state(self, optimizer) -> list | None:
        raise NotImplementedError

    def set_momentum_state(self, optimizer, buffers: list | None) -> None:
        raise NotImplementedError


class TinyBackend(Backend):
    """The student's module: the classes the spec names, called as the spec says."""

    def __init__(self, module):
        self.module = module

    def parameter(self, array):
        return Param(np.array(array))

    def set_grad(self, param, grad):
        param.grad = None if grad is None else np.array(grad)

    def value(self, param):
        return _array(param.data, "p.data")

    def grad(self, param):
        return plain(param.grad)  # whatever it is, for the grader to compare with None or an array

    def optimizer(self, name, params, **hyper):
        return getattr(self.module, name)(params, **hyper)

    def scheduler(self, name, optimizer, **settings):
        return getattr(self.module, name)(optimizer, **settings)

    def get_lr(self, optimizer):
        return plain(optimizer.lr)

    def set_lr(self, optimizer, lr):
        optimizer.lr = lr

    def step_count(self, optimizer):
        return plain(optimizer.step_count)

    def state(self, optimizer, index):
        try:
            return plain(optimizer.state[index])  # a dict keyed by index, or a list
        except (KeyError, IndexError):
            return None

    def state_dict(self, obj):
        return obj.state_dict()

    def load_state_dict(self, obj, state_dict):
        obj.load_state_dict(state_dict)

    def has_momentum(self, optimizer):
        return plain(optimizer.has_momentum())

    def get_momentum_state(self, optimizer):
        return optimizer.get_momentum_state()

    def set_momentum_state(self, optimizer, buffers):
        optimizer.set_momentum_state(buffers)


def _array(value, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{what} is a {type(value).__name__}; the spec keeps it a numpy array")
    return value.copy()


# ---------------------------------------------------------------------------------------------
# Inputs and runs


SKIPPING = ("step() to skip a parameter whose grad is None (graded in \"A parameter whose grad is "
            "None is skipped, state and all\")")
ROUND_TRIP = ("load_state_dict to take back what state_dict returns, and the update to keep what it "
              "uses in optimizer.state (graded in \"state_dict's layout\")")


def feed(backend, optimizer, params, grads, set_grads=True, skipping_tested=False) -> None:
    """One training step: set every grad (None skips a parameter), then optimizer.step().
    With set_grads False the grads stay as they are. Unless skipping is what the scenario
    tests, an exception with a grad None says that the test needs it."""
    for param, grad in zip(params, grads if set_grads else ()):
        backend.set_grad(param, grad)
    if set_grads and not skipping_tested and any(grad is None for grad in grads):
        needing(SKIPPING, optimizer.step)
    else:
        optimizer.step()


def stacked(snapshots: list, index: int) -> np.ndarray:
    shapes = [s.shape for s in snapshots]
    if len(set(shapes)) > 1:
        raise ValueError(f"parameter {index} changed shape from {shapes[0]} to "
                         f"{next(s for s in shapes if s != shapes[0])} during training")
    return np.stack(snapshots)


def track(backend, optimizer, params, inputs, lrs=None, record_state=False,
          skipping_tested=False) -> dict:
    """Step through `inputs`, recording every parameter's value (and dtype) after every step,
    and the grads after the last one.

    `lrs[k]`, when not None, is set as the learning rate before step k.
    """
    values = [[backend.value(p)] for p in params]
    state = []
    for k in range(steps_of(inputs)):
        if lrs and lrs[k] is not None:
            backend.set_lr(optimizer, lrs[k])
        feed(backend, optimizer, params, grads_at(inputs, k), k % inputs["hold"] == 0, skipping_tested)
        for i, p in enumerate(params):
            values[i].append(backend.value(p))
        if record_state:
            state.append([backend.state(optimizer, i) for i in range(len(params))])
    observed = {"trajectory": [stacked(v, i) for i, v in enumerate(values)],
                "dtypes": [[dtype_text(v) for v in vs] for vs in values],
                "grads_after": [backend.grad(p) for p in params]}
    return {**observed, "state": state} if record_state else observed


def run(backend, optimizer: str, hyper: dict, inputs: dict, lrs=None, record_state=False) -> dict:
    """A fresh optimizer over fresh parameters, stepped through `inputs`."""
    params = [backend.parameter(x) for x in inputs["init"]]
    opt = backend.optimizer(optimizer, params, **hyper)
    return {"optimizer": optimizer, "hyper": hyper, "inputs": {**inputs, "lr": lrs},
            **track(backend, opt, params, inputs, lrs, record_state)}


def runs(*observed) -> dict:
    return {"runs": list(observed)}


def reference_run(optimizer: str, hyper: dict, inputs: dict, first_step: int, buffers=False) -> dict:
    """What a trajectory recorded from `first_step` on is a run of: make_expected.py stores the
    known mistakes of this run (with their buffers if `buffers`), which the grader accepts beside
    PyTorch's as anchors."""
    return {"optimizer": optimizer, "hyper": hyper, "inputs": {**inputs, "lr": None},
            "first_step": first_step, "buffers": buffers}


# ---------------------------------------------------------------------------------------------
# The update rules

TWO = [(3,), (2, 3)]


def sgd_update(backend):
    return runs(run(backend, "SGD", {"lr": 0.1}, make_inputs(1, TWO, 5)))


def sgd_weight_decay(backend):
    """Fresh gradients at every step, then each kept for two steps: the decay must not be
    written into p.grad; and with momentum, where the decay enters the velocity."""
    hyper = {"lr": 0.05, "weight_decay": 0.1}
    return runs(run(backend, "SGD", hyper, make_inputs(2, TWO, 5)),
                run(backend, "SGD", hyper, make_inputs(2, TWO, 6, hold=2)),
                run(backend, "SGD", {**hyper, "momentum": 0.9}, make_inputs(2, TWO, 5)))


def momentum_velocity(backend):
    """Fresh gradients at every step, then each kept for two steps: the velocity must start as
    a copy of the gradient, not as p.grad itself."""
    hyper = {"lr": 0.05, "momentum": 0.9}
    return runs(run(backend, "SGD", hyper, make_inputs(3, TWO, 6), record_state=True),
                run(backend, "SGD", hyper, make_inputs(3, TWO, 6, hold=2), record_state=True))


def momentum_dampening(backend):
    hyper = {"lr": 0.05, "momentum": 0.9, "dampening": 0.5}
    return runs(run(backend, "SGD", hyper, make_inputs(4, TWO, 5), record_state=True))


def momentum_lr_change(backend):
    """The learning rate drops, then rises: folding it into the velocity shows from step 4 on."""
    lrs = [None, None, None, 0.02, None, None, 0.2, None]
    return runs(run(backend, "SGD", {"lr": 0.1, "momentum": 0.9}, make_inputs(5, TWO, 8), lrs,
                    record_state=True))


def nesterov(backend):
    hyper = {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}
    return runs(run(backend, "SGD", hyper, make_inputs(6, TWO, 6), record_state=True))


def adam_moments(backend):
    """The moments depend on the gradients and betas alone: the default betas and others."""
    return runs(run(backend, "Adam", {"lr": 0.01, "betas": (0.9, 0.999)}, make_inputs(7, TWO, 5),
                    record_state=True),
                run(backend, "Adam", {"lr": 0.01, "betas": (0.8, 0.99)}, make_inputs(7, TWO, 5),
                    record_state=True))


def adam_bias_correction(backend):
    """A constant gradient of mixed scales: every bias-corrected step moves by about lr."""
    inputs = make_inputs(8, [(4,), (2, 2)], 10, scale=[1.0, 1e-2], constant=True)
    return runs(*(run(backend, "Adam", {"lr": 0.01}, alone) for alone in each_alone(inputs)))


def adam_long_run(backend):
    """1000 steps: with beta2 = 0.999 the second moment's correction matters all the way."""
    inputs = make_inputs(9, [(4,)], 1000)
    inputs["grads"][0] = inputs["grads"][0] + 0.5  # a drift, so that the parameter travels
    return runs(run(backend, "Adam", {"lr": 0.001}, inputs))


def adam_eps(backend):
    """Gradients near eps, where eps's place in the formula decides the step; and a large eps."""
    tiny = make_inputs(10, [(4,), (3,)], 8, scale=[1e-8, 1e-6])
    large = make_inputs(11, [(4,)], 8)
    return runs(*(run(backend, "Adam", {"lr": 0.01}, alone) for alone in each_alone(tiny)),
                run(backend, "Adam", {"lr": 0.01, "eps": 0.1}, large))


def adam_weight_decay(backend):
    hyper = {"lr": 0.01, "weight_decay": 0.1}
    fresh, held = make_inputs(12, TWO, 6, scale=[1.0, 0.01]), make_inputs(12, TWO, 6, hold=2)
    return runs(*(run(backend, "Adam", hyper, alone) for alone in each_alone(fresh) + each_alone(held)))


def adamw(backend):
    """Decoupled decay: the same shrink factor on a parameter with large and one with tiny grads."""
    inputs = make_inputs(13, TWO, 6, scale=[1.0, 0.01])
    return runs(*(run(backend, "AdamW", {"lr": 0.01, "weight_decay": 0.1}, alone)
                  for alone in each_alone(inputs)),
                run(backend, "AdamW", {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.5},
                    make_inputs(14, [(5,)], 6)))


def adam_step_counter(backend):
    """Three parameters, each with a gradient at every step, then each of them alone: t counts
    one parameter's steps, so each moves as it does alone. And the optimizer's step_count."""
    inputs = make_inputs(15, [(3,), (2, 2), (1,)], 8)
    params = [backend.parameter(x) for x in inputs["init"]]
    opt = backend.optimizer("Adam", params, lr=0.01)
    together_run = track(backend, opt, params, inputs)
    alone = [run(backend, "Adam", {"lr": 0.01}, only(inputs, i)) for i in range(len(params))]
    return {"together": together_run["trajectory"], "alone": alone,
            "step_count": backend.step_count(opt)}


DEFAULTS = {  # the spec's default hyper-parameters, each written out
    "SGD": {"lr": 0.01, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
    "Momentum": {"lr": 0.01, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0,
                 "nesterov": False},
    "Adam": {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
    "AdamW": {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01},
}


def defaults(backend):
    """Every optimizer built with its default hyper-parameters, and with them written out."""
    inputs = make_inputs(16, TWO, 5)
    observed = {}
    for name, hyper in DEFAULTS.items():
        opt = backend.optimizer(name, [backend.parameter(np.zeros(2))])
        observed[name] = {"implicit": run(backend, name, {}, inputs)["trajectory"],
                          "explicit": run(backend, name, hyper, inputs),
                          "lr": backend.get_lr(opt), "group": saved_group(backend, opt)}
    return observed


def saved_group(backend, optimizer):
    """The hyper-parameters an optimizer saves in its state_dict (None if it cannot say)."""
    try:
        return plain(backend.state_dict(optimizer)["param_groups"][0])
    except Exception:  # the state_dict is another test's concept
        return None


def dtype(backend):
    """float32 parameters and gradients through every optimizer; from step 4 on, the learning
    rate is a numpy float64, as a schedule computed with np.cos makes it. Beside each, the same
    run in float64, from the same values."""
    inputs = make_inputs(17, TWO, 10, dtype="float32")
    wide = {**inputs, **{key: [x.astype(np.float64) for x in inputs[key]] for key in ("init", "grads")}}
    settings = [("SGD", {"lr": 0.1}),
                ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
                ("Adam", {"lr": 0.01, "weight_decay": 0.01}),
                ("AdamW", {"lr": 0.01, "weight_decay": 0.1})]
    observed = []
    for name, hyper in settings:
        lrs = [np.float64(hyper["lr"]) if k == 3 else None for k in range(10)]
        narrow = run(backend, name, hyper, inputs, lrs=lrs, record_state=True)
        observed.append({"optimizer": name, "hyper": hyper, "dtypes": narrow["dtypes"],
                         "state_dtypes": [[buffer_dtypes(state) for state in step]
                                          for step in narrow["state"]],
                         "float32": narrow["trajectory"],
                         "float64": run(backend, name, hyper, wide, lrs=lrs)})
    return {"runs": observed}


def buffer_dtypes(state) -> dict:
    """The dtype of each array in one parameter's state."""
    return ({key: dtype_text(value) for key, value in state.items() if isinstance(value, np.ndarray)}
            if isinstance(state, dict) else {})


def training_loop(backend):
    """Least squares trained the way students train: parameters from a generator, gradients
    recomputed from the current weights, zero_grad() after every step; beside it, the same loop
    with the parameters in a list."""
    settings = [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.05}),
                ("AdamW", {"lr": 0.05, "weight_decay": 0.1})]
    start = {"init": [np.zeros(3), np.zeros(1)], "has_grad": [[True] * 20] * 2, "hold": 1,
             "gradient": "least_squares"}
    return {"runs": [{"optimizer": name, "hyper": hyper,
                      "generator": least_squares(backend, name, hyper, lambda ps: (p for p in ps)),
                      "list": {**least_squares(backend, name, hyper, list),
                               "reference": reference_run(name, hyper, start, 0)}}
                     for name, hyper in settings]}


def least_squares_gradient(values: list) -> list:
    """The gradients of a least-squares loss at the weights `values` = [w, b]."""
    rng = np.random.default_rng(18)
    x = rng.normal(size=(16, 3))
    y = x @ np.array([1.5, -2.0, 0.5]) + 0.3 + 0.1 * rng.normal(size=16)
    residual = x @ values[0] + values[1] - y
    return [x.T @ residual / len(y), np.array([residual.mean()])]


GRADIENTS = {"least_squares": least_squares_gradient}  # a run's gradients computed from its values


def least_squares(backend, name, hyper, given) -> dict:
    """20 steps of least squares; `given(params)` is what the optimizer is built from."""
    w, b = backend.parameter(np.zeros(3)), backend.parameter(np.zeros(1))
    opt = backend.optimizer(name, given((w, b)), **hyper)
    values = [[backend.value(w)], [backend.value(b)]]
    for _ in range(20):
        feed(backend, opt, (w, b), least_squares_gradient([backend.value(w), backend.value(b)]))
        opt.zero_grad()
        values[0].append(backend.value(w))
        values[1].append(backend.value(b))
    return {"trajectory": [stacked(v, i) for i, v in enumerate(values)],
            "grads_after": [backend.grad(w), backend.grad(b)]}


# ---------------------------------------------------------------------------------------------
# Skipping, zero_grad, validation


def grad_none(backend):
    """Parameter 0 always has a gradient, 1 never, 2 for the first three steps only; then
    parameter 0 alone, and parameter 2 alone for three steps, each with the same gradients.

    No parameter gets a gradient again after missing one, so a global step counter and a
    per-parameter one agree here. The state is recorded before the first step as well.
    """
    observed = []
    for name, hyper in [("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}),
                        ("Adam", {"lr": 0.01})]:
        inputs = make_inputs(19, [(3,), (2,), (2, 2)], 6)
        inputs["has_grad"][1] = [False] * 6
        inputs["has_grad"][2] = [True] * 3 + [False] * 3
        params = [backend.parameter(x) for x in inputs["init"]]
        opt = backend.optimizer(name, params, **hyper)
        before = [backend.state(opt, i) for i in range(len(params))]
        tracked = track(backend, opt, params, inputs, record_state=True, skipping_tested=True)
        first_three = {**only(inputs, 2), "has_grad": [[True] * 3]}
        first_three["grads"] = [first_three["grads"][0][:3]]
        alone = [run(backend, name, hyper, only(inputs, 0)), run(backend, name, hyper, first_three)]
        observed.append({"optimizer": name, "hyper": hyper, "inputs": {**inputs, "lr": None},
                         **tracked, "state": [before, *tracked["state"]], "alone": alone})
    return runs(*observed)


def zero_grad(backend):
    """zero_grad() after gradients were set; then a step, which must change nothing."""
    observed = {}
    for name in ("SGD", "Adam"):
        inputs = make_inputs(20, TWO, 1)
        params = [backend.parameter(x) for x in inputs["init"]]
        opt = backend.optimizer(name, params, lr=0.1)
        for p, g in zip(params, grads_at(inputs, 0)):
            backend.set_grad(p, g)
        opt.zero_grad()
        grads = [backend.grad(p) for p in params]
        opt.step()
        observed[name] = {"grads": grads, "init": inputs["init"],
                          "after_step": [backend.value(p) for p in params]}
    return observed


VALIDATION = {
    # case: (optimizer, hyper-parameters)
    "SGD(lr=-0.1)": ("SGD", {"lr": -0.1}),
    "SGD(momentum=-0.5)": ("SGD", {"momentum": -0.5}),
    "SGD(weight_decay=-0.1)": ("SGD", {"weight_decay": -0.1}),
    "SGD(nesterov=True, momentum=0)": ("SGD", {"nesterov": True}),
    "SGD(nesterov=True, momentum=0.9, dampening=0.1)":
        ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}),
    "Momentum(lr=-1.0)": ("Momentum", {"lr": -1.0}),
    "Adam(lr=-0.001)": ("Adam", {"lr": -0.001}),
    "Adam(eps=-1e-8)": ("Adam", {"eps": -1e-8}),
    "Adam(betas=(1.0, 0.999))": ("Adam", {"betas": (1.0, 0.999)}),
    "Adam(betas=(0.9, -0.1))": ("Adam", {"betas": (0.9, -0.1)}),
    "Adam(weight_decay=-0.01)": ("Adam", {"weight_decay": -0.01}),
    "AdamW(weight_decay=-0.01)": ("AdamW", {"weight_decay": -0.01}),
    # the edges of the valid ranges raise nothing
    "SGD(lr=0.0)": ("SGD", {"lr": 0.0}),
    "SGD(momentum=0.0, dampening=0.5)": ("SGD", {"dampening": 0.5}),
    "Adam(betas=(0.0, 0.0), eps=0.0)": ("Adam", {"betas": (0.0, 0.0), "eps": 0.0}),
}


def validation(backend):
    def build(name, hyper):
        return lambda: backend.optimizer(name, [backend.parameter(np.zeros(2))], **hyper)

    def base_step():
        param = backend.parameter(np.zeros(2))
        optimizer = backend.optimizer("Optimizer", [param], lr=0.1)
        backend.set_grad(param, np.ones(2))
        optimizer.step()

    cases = {case: error_name(build(*call)) for case, call in VALIDATION.items()}
    cases["SGD([]) (no parameters)"] = error_name(lambda: backend.optimizer("SGD", [], lr=0.1))
    cases["Adam([object()]) (an element without .data)"] = error_name(
        lambda: backend.optimizer("Adam", [object()], lr=0.1))
    cases["Optimizer(params, lr=0.1).step()"] = error_name(base_step)
    return {"cases": cases}


# ---------------------------------------------------------------------------------------------
# State: state_dict, load_state_dict, checkpoints, momentum state

CHECKPOINTED = [  # (optimizer, hyper-parameters of the saved one, of the one that loads)
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1},
     {"lr": 0.5}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
     {"lr": 0.5, "momentum": 0.5, "dampening": 0.3}),
]


def trained(backend, optimizer, hyper, inputs, steps):
    """An optimizer after `steps` steps of `inputs`, and its parameters."""
    params = [backend.parameter(x) for x in inputs["init"]]
    opt = backend.optimizer(optimizer, params, **hyper)
    for k in range(steps):
        feed(backend, opt, params, grads_at(inputs, k))
    return opt, params


def resumed(backend, optimizer, hyper, params, state_dict):
    """A new optimizer over copies of `params`' values, loaded from `state_dict`."""
    copies = [backend.parameter(backend.value(p)) for p in params]
    opt = backend.optimizer(optimizer, copies, **hyper)
    needing(ROUND_TRIP, lambda: backend.load_state_dict(opt, state_dict))
    return opt, copies


def together(backend, pairs, feeds, steps) -> list:
    """Step (optimizer, params) pairs in turn, pair j with the gradients of `feeds[j]`, at each
    step of `steps`; the trajectory of every pair."""
    values = [[[backend.value(p)] for p in params] for _, params in pairs]
    for k in steps:
        for (opt, params), inputs, vals in zip(pairs, feeds, values):
            feed(backend, opt, params, grads_at(inputs, k))
            for i, p in enumerate(params):
                vals[i].append(backend.value(p))
    return [[stacked(v, i) for i, v in enumerate(vals)] for vals in values]


def state_dict_copies(backend):
    """A state_dict taken after 3 steps, read again after 3 more."""
    observed = {}
    for optimizer, hyper, _ in CHECKPOINTED:
        inputs = make_inputs(21, TWO, 6)
        opt, params = trained(backend, optimizer, hyper, inputs, 3)
        state_dict = backend.state_dict(opt)
        at_save = plain(state_dict)
        together(backend, [(opt, params)], [inputs], range(3, 6))
        observed[optimizer] = {"at_save": at_save, "later": plain(state_dict),
                               "reference": reference_run(optimizer, hyper, inputs, 0, buffers=True)}
    return observed


def state_dict_layout(backend):
    observed = {}
    for optimizer, hyper, _ in CHECKPOINTED:
        opt, _ = trained(backend, optimizer, hyper, make_inputs(22, TWO, 2), 2)
        observed[optimizer] = {"state_dict": plain(backend.state_dict(opt)),
                               "step_count": backend.step_count(opt)}
    return observed


def load_state_dict_restores(backend):
    """A differently configured optimizer loads a trained one's dict; both then continue."""
    observed = {}
    for optimizer, hyper, other in CHECKPOINTED:
        inputs = make_inputs(23, TWO, 8)
        a, a_params = trained(backend, optimizer, hyper, inputs, 4)
        b, b_params = resumed(backend, optimizer, other, a_params, backend.state_dict(a))
        loaded = {"lr": backend.get_lr(b), "step_count": backend.step_count(b),
                  "saved_step_count": backend.step_count(a),
                  "state_dict": plain(backend.state_dict(b))}
        saved, resumed_run = needing(ROUND_TRIP, lambda: together(
            backend, [(a, a_params), (b, b_params)], [inputs] * 2, range(4, 8)))
        observed[optimizer] = {**loaded, "saved": saved, "resumed": resumed_run,
                               "reference": reference_run(optimizer, hyper, inputs, 4)}
    return observed


def chained(first: dict, then: dict) -> dict:
    """The inputs of a run that takes the steps of `first`, then those of `then`."""
    return {**first, "grads": [np.concatenate([a, b]) for a, b in zip(first["grads"], then["grads"])],
            "has_grad": [a + b for a, b in zip(first["has_grad"], then["has_grad"])]}


def load_state_dict_copies(backend):
    """Two optimizers loaded from one dict take turns with the original, the two copies with the
    same gradients and the original with others: unless the copies share an array (with the dict,
    each other or the original), they take identical steps."""
    observed = {}
    for optimizer, hyper, _ in CHECKPOINTED:
        trained_on = make_inputs(24, TWO, 3)
        a, a_params = trained(backend, optimizer, hyper, trained_on, 3)
        state_dict = backend.state_dict(a)
        pairs = [(a, a_params), resumed(backend, optimizer, hyper, a_params, state_dict),
                 resumed(backend, optimizer, hyper, a_params, state_dict)]
        feeds = [make_inputs(seed, TWO, 3) for seed in (25, 26, 26)]
        trajectories = needing(ROUND_TRIP, lambda: together(backend, pairs, feeds, range(3)))
        observed[optimizer] = {**dict(zip(("original", "first", "second"), trajectories)),
                               "reference": reference_run(optimizer, hyper,
                                                          chained(trained_on, feeds[1]), 3)}
    return observed


BAD_STATE_DICTS = {  # what does not fit: how the dict is made (shapes, optimizer, hyper-parameters,
    # keys left out); each from an optimizer with another lr, which must not be loaded either
    "one parameter instead of two": ([(3,)], "Adam", {"lr": 0.05, "betas": (0.5, 0.6)}, ()),
    "the second buffer shaped (3, 2), not (2, 3)":
        ([(3,), (3, 2)], "Adam", {"lr": 0.2, "eps": 0.1}, ()),
    "an SGD dict loaded into Adam": (TWO, "SGD", {"lr": 0.3, "momentum": 0.9}, ()),
    "a dict without 'state'": (TWO, "Adam", {"lr": 0.4}, ("state",)),
}


def load_state_dict_rejects(backend):
    """Dicts that do not fit must raise ValueError and leave the trained optimizer unchanged."""
    inputs = make_inputs(28, TWO, 6)
    opt, params = trained(backend, "Adam", {"lr": 0.01}, inputs, 3)
    control, control_params = trained(backend, "Adam", {"lr": 0.01}, inputs, 3)
    step_count = backend.step_count(opt)
    errors = {}
    for case, (shapes, optimizer, hyper, left_out) in BAD_STATE_DICTS.items():
        other, _ = trained(backend, optimizer, hyper, make_inputs(29, shapes, 2), 2)
        bad = {k: v for k, v in backend.state_dict(other).items() if k not in left_out}
        errors[case] = error_name(lambda: backend.load_state_dict(opt, bad))
    observed = {"errors": errors, "lr": backend.get_lr(opt), "step_count": backend.step_count(opt),
                "step_count_before": step_count,
                "reference": reference_run("Adam", {"lr": 0.01}, inputs, 3)}
    try:
        observed["after"], observed["control"] = together(
            backend, [(opt, params), (control, control_params)], [inputs] * 2, range(3, 6))
    except Exception as error:  # a dict that was not rejected can leave the optimizer broken
        observed["after_error"] = f"{type(error).__name__}: {error}"
    return observed


def checkpoint_disk(backend):
    """Weights and optimizer state saved to one file (tinytorch.plaindata's .npz: the arrays and a
    JSON tree), loaded into a new optimizer; then the original and the resumed one take the same
    steps."""
    observed = {}
    for optimizer, hyper, other in CHECKPOINTED:
        inputs = make_inputs(30, TWO, 9)
        a, a_params = trained(backend, optimizer, hyper, inputs, 4)
        checkpoint = {"weights": [backend.value(p) for p in a_params],
                      "optimizer": backend.state_dict(a)}
        with tempfile.TemporaryDirectory() as folder:
            try:
                save(os.path.join(folder, "checkpoint.npz"), checkpoint)
            except TypeError as error:
                observed[optimizer] = {"unsaveable": str(error)}
                continue
            loaded = load(os.path.join(folder, "checkpoint.npz"))
        b_params = [backend.parameter(w) for w in loaded["weights"]]
        b = backend.optimizer(optimizer, b_params, **other)
        needing(ROUND_TRIP, lambda: backend.load_state_dict(b, loaded["optimizer"]))
        restored = {"state_dict": plain(backend.state_dict(b))}
        saved, resumed_run = needing(ROUND_TRIP, lambda: together(
            backend, [(a, a_params), (b, b_params)], [inputs] * 2, range(4, 9)))
        observed[optimizer] = {**restored, "saved": saved, "resumed": resumed_run,
                               "reference": reference_run(optimizer, hyper, inputs, 4)}
    return observed


def momentum_state(backend):
    """get/set_momentum_state: structure, copies out, copies in, clearing, and no momentum."""
    inputs = make_inputs(31, TWO, 6)
    inputs["has_grad"][1][0] = False
    hyper = {"lr": 0.1, "momentum": 0.9}
    params = [backend.parameter(x) for x in inputs["init"]]
    opt = backend.optimizer("SGD", params, **hyper)
    observed = {"before_any_step": plain(backend.get_momentum_state(opt))}
    feed(backend, opt, params, grads_at(inputs, 0))
    observed["after_first_step"] = plain(backend.get_momentum_state(opt))
    observed["state_after_first_step"] = [backend.state(opt, i) for i in range(len(params))]
    feed(backend, opt, params, grads_at(inputs, 1))
    saved = backend.get_momentum_state(opt)
    observed["saved"] = plain(saved)
    observed["state_saved"] = [backend.state(opt, i) for i in range(len(params))]
    for buf in saved or ():
        if isinstance(buf, np.ndarray):
            buf += 100.0  # changing the copies must not change the optimizer
    twin_params = [backend.parameter(backend.value(p)) for p in params]
    twin = backend.optimizer("SGD", twin_params, **hyper)
    given = [None if b is None else np.array(b) for b in observed["saved"] or ()]
    backend.set_momentum_state(twin, given)
    for buf in given:
        if buf is not None and buf.dtype.kind == "f":
            buf += 100.0  # nor changing the arrays it was given
    observed["continued"], observed["twin"] = together(
        backend, [(opt, params), (twin, twin_params)], [inputs] * 2, range(2, 4))
    observed["reference"] = reference_run("SGD", hyper, inputs, 2)
    backend.set_momentum_state(opt, None)
    observed["after_clear"] = plain(backend.get_momentum_state(opt))
    fresh_params = [backend.parameter(backend.value(p)) for p in params]
    observed["fresh_reference"] = reference_run(
        "SGD", hyper, {**inputs, "init": [backend.value(p) for p in params],
                       **{key: [g[4:] for g in inputs[key]] for key in ("grads", "has_grad")}}, 0)
    fresh = backend.optimizer("SGD", fresh_params, **hyper)
    observed["after_clear_steps"], observed["fresh_steps"] = together(
        backend, [(opt, params), (fresh, fresh_params)], [inputs] * 2, range(4, 6))
    plain_sgd = backend.optimizer("SGD", [backend.parameter(np.zeros(2))], lr=0.1)
    observed["has_momentum"] = [backend.has_momentum(opt), backend.has_momentum(plain_sgd)]
    observed["without_momentum"] = plain(backend.get_momentum_state(plain_sgd))
    return observed


# ---------------------------------------------------------------------------------------------
# Learning-rate schedulers


def schedule(backend, scheduler, settings, epochs, seed):
    """SGD under a scheduler for `epochs` epochs: the lr each epoch used, get_last_lr() after each
    scheduler.step(), and the parameter; beside it, the parameter of an SGD whose lr is set to
    the same values directly, which shows the optimizer used the scheduled lr."""
    inputs = make_inputs(seed, [(3,)], epochs)
    params = [backend.parameter(x) for x in inputs["init"]]
    opt = backend.optimizer("SGD", params, lr=0.1)
    sched = backend.scheduler(scheduler, opt, **settings)
    used, last = [], [plain(sched.get_last_lr())]
    values = [backend.value(params[0])]
    for k in range(epochs):
        used.append(backend.get_lr(opt))
        feed(backend, opt, params, grads_at(inputs, k))
        sched.step()
        last.append(plain(sched.get_last_lr()))
        values.append(backend.value(params[0]))
    direct = run(backend, "SGD", {"lr": 0.1}, inputs,
                 lrs=[lr if isinstance(lr, (int, float)) else None for lr in used])
    return {"scheduler": scheduler, "settings": settings, "lr_used": used, "last_lr": last,
            "lr_after": backend.get_lr(opt), "trajectory": stacked(values, 0),
            "lr_set_directly": direct["trajectory"][0]}


def step_lr(backend):
    return {"schedules": [schedule(backend, "StepLR", {"step_size": 3, "gamma": 0.5}, 10, 32),
                          schedule(backend, "StepLR", {"step_size": 2}, 7, 33)]}


def cosine_lr(backend):
    """Epochs 0..T_max, where PyTorch's recursive form and the closed form agree."""
    return {"schedules": [
        schedule(backend, "CosineAnnealingLR", {"T_max": 10, "eta_min": 0.001}, 10, 34),
        schedule(backend, "CosineAnnealingLR", {"T_max": 7}, 7, 35)]}


def scheduler_state(backend):
    """A scheduler saved after 3 epochs and loaded into a new one made with other settings, over
    an optimizer made with another lr and given the first one's; then the originals and the
    resumed ones go on side by side."""
    observed = []
    for scheduler, settings, other in [
            ("StepLR", {"step_size": 2, "gamma": 0.5}, {"step_size": 5, "gamma": 0.9}),
            ("CosineAnnealingLR", {"T_max": 8, "eta_min": 0.01}, {"T_max": 20})]:
        pairs = []
        for lr, kwargs in [(0.1, settings), (0.5, other)]:
            param = backend.parameter(np.zeros(1))
            opt = backend.optimizer("SGD", [param], lr=lr)
            pairs.append((opt, backend.scheduler(scheduler, opt, **kwargs), param))
        (opt, sched, param), (new_opt, new_sched, _) = pairs
        for _ in range(3):
            feed(backend, opt, [param], [np.ones(1)])
            sched.step()
        backend.set_lr(new_opt, backend.get_lr(opt))
        backend.load_state_dict(new_sched, backend.state_dict(sched))
        lrs = {"original": [], "resumed": []}
        for _ in range(5):
            for (o, s, p), key in zip(pairs, lrs):
                feed(backend, o, [p], [np.ones(1)])
                s.step()
                lrs[key].append(backend.get_lr(o))
        observed.append({"scheduler": scheduler, "settings": settings, **lrs})
    return {"schedules": observed}


SCENARIOS = {scenario.__name__: scenario for scenario in (
    sgd_update, sgd_weight_decay, momentum_velocity, momentum_dampening, momentum_lr_change,
    nesterov, adam_moments, adam_bias_correction, adam_long_run, adam_eps, adam_weight_decay,
    adamw, adam_step_counter, defaults, dtype, training_loop, grad_none, zero_grad, validation,
    state_dict_copies, state_dict_layout, load_state_dict_restores, load_state_dict_copies,
    load_state_dict_rejects, checkpoint_disk, momentum_state, step_lr, cosine_lr,
    scheduler_state)}
