"""The expected observations of module 06's hidden tests, produced by torch.optim.

    python autograder/06_optimizers/make_expected.py

runs every scenario of `scenarios.py` on `TorchBackend` and writes `expected/expected.json` and
`expected/expected.bin` (the arrays' raw bytes, in the form of the wire), and beside them
`expected/mistakes.{json,bin}`: for every run with recorded inputs, the trajectories of the known
mistakes (pitfalls.py), with which the grader names the mistake a failing submission made. It also
writes the sample submissions that are made from the solution and the stub (`SAMPLES`), so that
none of them is a copy kept by hand. Observations pass through
the grader's wire format first, so they have exactly the form the grader receives from a worker.

Where torch.optim differs from the spec by design, `TorchBackend` adapts it so that an observation
means the same on both sides: it fills in the spec's defaults and keeps only the spec's
hyper-parameters; its state_dict is a copy in the spec's layout (torch returns its live tensors,
counts steps in tensors and has no step_count); loading copies in and first makes the checks the
spec asks for; get/set_momentum_state are built on torch's momentum buffers. Expected values that
are no PyTorch output at all come from `SPEC_EXPECTED`, the spec written as data.
"""
import copy
import sys
from pathlib import Path

import numpy as np
import torch

from tito.course import load_course
from tito.grading import wire
from tito.grading.expected import observe
from tito.grading.files import load_file
from tito.grading.samples import exported_only, partly_done

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "expected"


scenarios, pitfalls = load_file(HERE / "scenarios.py"), load_file(HERE / "pitfalls.py")

SPEC_DEFAULTS = {"Optimizer": {}, **scenarios.DEFAULTS}  # every hyper-parameter, with its default
SPEC_BUFFERS = {"SGD": {"momentum_buffer"}, "Momentum": {"momentum_buffer"},
                "Adam": {"step", "exp_avg", "exp_avg_sq"}, "AdamW": {"step", "exp_avg", "exp_avg_sq"}}
TORCH_CLASSES = {
    "Optimizer": lambda params, **hyper: torch.optim.Optimizer(params, hyper),
    "SGD": torch.optim.SGD, "Momentum": torch.optim.SGD,
    "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW,
}

SPEC_EXPECTED = {
    # The spec's validation rules. torch.optim raises the same errors; a project test checks that.
    "validation": {"cases": {
        "SGD(lr=-0.1)": "ValueError",
        "SGD(momentum=-0.5)": "ValueError",
        "SGD(weight_decay=-0.1)": "ValueError",
        "SGD(nesterov=True, momentum=0)": "ValueError",
        "SGD(nesterov=True, momentum=0.9, dampening=0.1)": "ValueError",
        "Momentum(lr=-1.0)": "ValueError",
        "Adam(lr=-0.001)": "ValueError",
        "Adam(eps=-1e-8)": "ValueError",
        "Adam(betas=(1.0, 0.999))": "ValueError",
        "Adam(betas=(0.9, -0.1))": "ValueError",
        "Adam(weight_decay=-0.01)": "ValueError",
        "AdamW(weight_decay=-0.01)": "ValueError",
        "SGD(lr=0.0)": None,
        "SGD(momentum=0.0, dampening=0.5)": None,
        "Adam(betas=(0.0, 0.0), eps=0.0)": None,
        "SGD([]) (no parameters)": "ValueError",
        "Adam([object()]) (an element without .data)": "TypeError",
        "Optimizer(params, lr=0.1).step()": "NotImplementedError",
    }},
}


class TorchOptimizer:
    """A torch.optim optimizer, with the spec's name for it and its step_count."""

    def __init__(self, name: str, params, hyper: dict):
        self.name = name
        self.params = list(params)
        self.inner = TORCH_CLASSES[name](self.params, **{**SPEC_DEFAULTS[name], **hyper})
        self.step_count = 0

    def step(self):
        self.inner.step()
        self.step_count += 1

    def zero_grad(self):
        self.inner.zero_grad()  # set_to_none=True, as the spec's zero_grad

    @property
    def group(self) -> dict:
        return self.inner.param_groups[0]


class TorchBackend(scenarios.Backend):
    def parameter(self, array):
        return torch.tensor(np.array(array), requires_grad=True)

    def set_grad(self, param, grad):
        param.grad = None if grad is None else torch.tensor(np.array(grad))

    def value(self, param):
        return param.detach().numpy().copy()

    def grad(self, param):
        return None if param.grad is None else param.grad.numpy().copy()

    def optimizer(self, name, params, **hyper):
        return TorchOptimizer(name, params, hyper)

    def scheduler(self, name, optimizer, **settings):
        return getattr(torch.optim.lr_scheduler, name)(optimizer.inner, **settings)

    def get_lr(self, optimizer):
        return optimizer.group["lr"]

    def set_lr(self, optimizer, lr):
        optimizer.group["lr"] = lr

    def step_count(self, optimizer):
        return optimizer.step_count

    def state(self, optimizer, index):
        buffers = optimizer.inner.state.get(optimizer.params[index])
        return _to_numpy(buffers) if buffers else None

    def state_dict(self, obj):
        if isinstance(obj, TorchOptimizer):
            return _spec_state_dict(obj)
        return copy.deepcopy(obj.state_dict())  # a scheduler's dict shares its lists with it

    def load_state_dict(self, obj, state_dict):
        if isinstance(obj, TorchOptimizer):
            _load_spec_state_dict(obj, state_dict)
        else:
            obj.load_state_dict(copy.deepcopy(state_dict))

    def has_momentum(self, optimizer):
        return optimizer.group.get("momentum", 0) != 0

    def get_momentum_state(self, optimizer):
        if not self.has_momentum(optimizer):
            return None
        buffers = [optimizer.inner.state.get(p, {}).get("momentum_buffer") for p in optimizer.params]
        return [None if b is None else b.numpy().copy() for b in buffers]

    def set_momentum_state(self, optimizer, buffers):
        for p, buf in zip(optimizer.params, buffers or [None] * len(optimizer.params)):
            if buf is not None:
                optimizer.inner.state[p]["momentum_buffer"] = torch.tensor(np.array(buf))
            elif p in optimizer.inner.state:
                optimizer.inner.state[p].pop("momentum_buffer", None)


def _to_numpy(buffers: dict) -> dict:
    """One parameter's torch state as the spec keeps it: arrays, and the step as an int."""
    return {key: int(value.item()) if key == "step" else value.numpy().copy()
            for key, value in buffers.items()}


def _spec_state_dict(optimizer: TorchOptimizer) -> dict:
    torch_dict = optimizer.inner.state_dict()
    group = {key: optimizer.group[key] for key in SPEC_DEFAULTS[optimizer.name]}
    group["params"] = list(torch_dict["param_groups"][0]["params"])
    return {"state": {i: _to_numpy(b) for i, b in torch_dict["state"].items() if b},
            "param_groups": [group], "step_count": optimizer.step_count}


def _check_fits(optimizer: TorchOptimizer, state_dict: dict) -> None:
    """The spec's checks before loading; torch.optim checks only the number of parameters."""
    if set(state_dict) != {"state", "param_groups", "step_count"}:
        raise ValueError(f"keys {sorted(state_dict)}")
    group = state_dict["param_groups"][0]
    if set(group) != {"params", *SPEC_DEFAULTS[optimizer.name]}:
        raise ValueError(f"param group keys {sorted(group)}")
    if len(group["params"]) != len(optimizer.params):
        raise ValueError(f"{len(group['params'])} parameters")
    for i, buffers in state_dict["state"].items():
        if set(buffers) != SPEC_BUFFERS[optimizer.name]:
            raise ValueError(f"state[{i}] keys {sorted(buffers)}")
        shape = tuple(optimizer.params[i].shape)
        if any(np.shape(v) != shape for key, v in buffers.items() if key != "step"):
            raise ValueError(f"state[{i}] shapes")


def _load_spec_state_dict(optimizer: TorchOptimizer, state_dict: dict) -> None:
    _check_fits(optimizer, state_dict)
    saved = state_dict["param_groups"][0]
    group = {**optimizer.inner.state_dict()["param_groups"][0],
             **{key: saved[key] for key in SPEC_DEFAULTS[optimizer.name]}}
    state = {i: {key: torch.tensor(float(v)) if key == "step" else torch.tensor(np.array(v))
                 for key, v in buffers.items()}
             for i, buffers in state_dict["state"].items()}
    optimizer.inner.load_state_dict({"state": state, "param_groups": [group]})
    optimizer.step_count = state_dict["step_count"]


def expected_observations() -> dict:
    """Every scenario's expected observations, as the grader would receive them from a worker."""
    return observe(scenarios.SCENARIOS, TorchBackend(), SPEC_EXPECTED)


def known_mistakes(expected: dict) -> dict:
    """Per run with inputs (a dict with "optimizer", "hyper" and "inputs", anywhere in the
    expected observations), under its path: the simulated known mistakes of it."""
    return {"/".join(map(str, path)): pitfalls.known_mistakes(
                run["optimizer"], full_hyper(run), run["inputs"], SPEC_DEFAULTS[run["optimizer"]],
                buffers="state" in run or run.get("buffers", False),
                gradient=scenarios.GRADIENTS.get(run["inputs"].get("gradient")))
            for path, run in runs_with_inputs(expected)}


def runs_with_inputs(data, path=()):
    """(path, run) for every recorded run whose inputs make_expected.py can replay."""
    if isinstance(data, dict):
        if data.get("inputs") and {"optimizer", "hyper"} <= data.keys():
            yield path, data
        children = data.items()
    elif isinstance(data, list):
        children = enumerate(data)
    else:
        return
    for key, child in children:
        yield from runs_with_inputs(child, (*path, key))


def full_hyper(run: dict) -> dict:
    """A run's hyper-parameters, the spec's defaults filled in."""
    return {**SPEC_DEFAULTS[run["optimizer"]], **run["hyper"]}


def write_expected(folder: Path) -> None:
    expected = expected_observations()
    wire.save(folder / "expected", expected)
    wire.save(folder / "mistakes", known_mistakes(expected))


SAMPLES = {  # file in samples/ -> how it is made from the module's solution and stub
    "correct_percent.py": lambda module: exported_only(module.solution.read_text(encoding="utf-8")),
    "sgd_only.py": lambda module: exported_only(partly_done(module.solution, module.source,
                                                            ["adam", "adamw_class", "schedulers"])),
}


def write_samples(folder: Path) -> None:
    module = next(m for m in load_course(HERE.parents[1]).graded_modules if m.autograder_folder == HERE)
    for name, make in SAMPLES.items():
        (folder / name).write_text(make(module), encoding="utf-8")


if __name__ == "__main__":
    write_expected(Path(sys.argv[1]) if len(sys.argv) > 1 else EXPECTED)
    write_samples(HERE / "samples")
