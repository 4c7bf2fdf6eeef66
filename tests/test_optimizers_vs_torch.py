"""Module 06's reference solution against torch.optim, step for step.

Tolerances, relative to the largest magnitude of the compared array (as the autograder compares):
float64 1e-10, where the solution stays within 1e-15 of torch; float32 1e-5, where each step
rounds to float32 and 100 steps stay within 3e-7.
"""
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder_helpers import Param, close, load, over_the_wire
from strategies import adam_settings, sgd_settings, training_inputs

pytestmark = pytest.mark.optim

scenarios, make_expected = load("scenarios"), load("make_expected")
RTOL = {np.float64: 1e-10, np.float32: 1e-5}
SHAPES = [(5,), (3, 4), (2,)]


def gradients(seed: int, steps: int, dtype=np.float64) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    init = [rng.normal(size=shape).astype(dtype) for shape in SHAPES]
    return init, [[rng.normal(size=shape).astype(dtype) for shape in SHAPES] for _ in range(steps)]


def side_by_side(solution, name: str, hyper: dict, init: list, grads: list, lr_at=None):
    """The solution's and torch's optimizer stepped with the same gradients (None: no grad);
    yields both lists of parameter values after every step."""
    ours = [Param(x.copy()) for x in init]
    theirs = [torch.tensor(x.copy(), requires_grad=True) for x in init]
    ours_opt = getattr(solution, name)(ours, **hyper)
    theirs_opt = make_expected.TORCH_CLASSES[name](theirs, **{**make_expected.SPEC_DEFAULTS[name], **hyper})
    for k, step_grads in enumerate(grads):
        if lr_at and k in lr_at:
            ours_opt.lr = theirs_opt.param_groups[0]["lr"] = lr_at[k]
        for p, t, g in zip(ours, theirs, step_grads):
            p.grad = None if g is None else g.copy()
            t.grad = None if g is None else torch.tensor(g.copy())
        ours_opt.step()
        theirs_opt.step()
        yield [p.data for p in ours], [t.detach().numpy() for t in theirs]


def assert_same_steps(solution, name, hyper, init, grads, lr_at=None):
    dtype = init[0].dtype.type
    for k, (ours, theirs) in enumerate(side_by_side(solution, name, hyper, init, grads, lr_at), 1):
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert a.dtype == dtype, f"step {k}, parameter {i}: {a.dtype}"
            assert close(a, b, RTOL[dtype]), f"{name}({hyper}), step {k}, parameter {i}"


SGD_SETTINGS = [
    {"momentum": m, "dampening": d, "weight_decay": wd, "nesterov": n}
    for m, d, wd, n in itertools.product([0.0, 0.9], [0.0, 0.5], [0.0, 0.1], [False, True])
    if not n or (m > 0 and d == 0)
]


@pytest.mark.parametrize("hyper", SGD_SETTINGS, ids=lambda h: "-".join(f"{k}={v}" for k, v in h.items()))
def test_sgd_matches_torch_over_100_steps_and_lr_changes(solution, hyper):
    init, grads = gradients(0, 100)
    assert_same_steps(solution, "SGD", {"lr": 0.05, **hyper}, init, grads, lr_at={40: 0.01, 70: 0.1})


def test_momentum_is_torch_sgd_with_momentum_09(solution):
    assert_same_steps(solution, "Momentum", {}, *gradients(1, 100))


@pytest.mark.parametrize("name, hyper", [
    ("Adam", {"lr": 0.01}), ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("AdamW", {}), ("AdamW", {"lr": 0.01, "weight_decay": 0.5}),
])
def test_adam_and_adamw_match_torch_over_100_steps(solution, name, hyper):
    assert_same_steps(solution, name, hyper, *gradients(2, 100), lr_at={50: 0.002})


@pytest.mark.parametrize("name, hyper", [
    ("SGD", {"lr": 0.1}), ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}), ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
])
def test_float32_stays_float32_and_matches_torch(solution, name, hyper):
    init, grads = gradients(3, 100, np.float32)
    assert_same_steps(solution, name, hyper, init, grads, lr_at={50: np.float64(0.01)})


@settings(max_examples=40, deadline=None)
@given(hyper=sgd_settings(), inputs=training_inputs())
def test_sgd_matches_torch_for_any_settings_and_skipped_grads(solution, hyper, inputs):
    assert_same_steps(solution, "SGD", hyper, *inputs)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(["Adam", "AdamW"]), hyper=adam_settings(), inputs=training_inputs())
def test_adam_matches_torch_for_any_settings_and_skipped_grads(solution, name, hyper, inputs):
    assert_same_steps(solution, name, hyper, *inputs)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_a_parameter_without_grad_is_untouched(solution, name):
    init, grads = gradients(4, 10)
    grads = [[g if i != 1 else None for i, g in enumerate(step)] for step in grads]
    hyper = {"lr": 0.1, "weight_decay": 0.1, **({"momentum": 0.9} if name == "SGD" else {})}
    for ours, _ in side_by_side(solution, name, hyper, init, grads):
        assert np.array_equal(ours[1], init[1])


@pytest.mark.parametrize("name, hyper, other", scenarios.CHECKPOINTED)
def test_state_dict_round_trip_through_disk_resumes_bit_identically(solution, tmp_path, name, hyper, other):
    init, grads = gradients(5, 25)
    params = [Param(x.copy()) for x in init]
    original = getattr(solution, name)(params, **hyper)
    for step_grads in grads[:5]:
        for p, g in zip(params, step_grads):
            p.grad = g.copy()
        original.step()
    scenarios.save(tmp_path / "checkpoint.npz", {"weights": [p.data for p in params],
                                                 "optimizer": original.state_dict()})
    loaded = scenarios.load(tmp_path / "checkpoint.npz")
    copies = [Param(w) for w in loaded["weights"]]
    resumed = getattr(solution, name)(copies, **other)
    resumed.load_state_dict(loaded["optimizer"])
    for step_grads in grads[5:]:
        for opt, ps in ((original, params), (resumed, copies)):
            for p, g in zip(ps, step_grads):
                p.grad = g.copy()
            opt.step()
        assert all(np.array_equal(p.data, c.data) for p, c in zip(params, copies))
    assert_same_steps(solution, name, hyper, init, grads)


def test_validation_errors_are_the_spec_s_in_the_solution_and_in_torch(solution):
    spec = make_expected.SPEC_EXPECTED["validation"]
    assert over_the_wire(scenarios.validation(scenarios.TinyBackend(solution))) == spec
    assert over_the_wire(scenarios.validation(make_expected.TorchBackend())) == spec


def torch_lrs(scheduler: str, settings_: dict, epochs: int) -> list:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = getattr(torch.optim.lr_scheduler, scheduler)(opt, **settings_)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(epochs):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    return lrs


def solution_lrs(solution, scheduler: str, settings_: dict, epochs: int) -> list:
    opt = solution.SGD([Param(np.zeros(1))], lr=0.1)
    sched = getattr(solution, scheduler)(opt, **settings_)
    lrs = [opt.lr]
    for _ in range(epochs):
        opt.step()
        sched.step()
        assert sched.get_last_lr() == [opt.lr]
        lrs.append(opt.lr)
    return lrs


@settings(max_examples=40, deadline=None)
@given(step_size=st.integers(1, 6), gamma=st.floats(0.05, 1.0), epochs=st.integers(0, 25))
def test_step_lr_matches_torch(solution, step_size, gamma, epochs):
    args = ("StepLR", {"step_size": step_size, "gamma": gamma}, epochs)
    assert np.allclose(solution_lrs(solution, *args), torch_lrs(*args), rtol=1e-12, atol=0)


@settings(max_examples=40, deadline=None)
@given(t_max=st.integers(1, 30), eta_min=st.floats(0.0, 0.05))
def test_cosine_matches_torch_from_epoch_0_to_t_max(solution, t_max, eta_min):
    args = ("CosineAnnealingLR", {"T_max": t_max, "eta_min": eta_min}, t_max)
    assert np.allclose(solution_lrs(solution, *args), torch_lrs(*args), rtol=1e-12, atol=1e-15)
