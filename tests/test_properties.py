"""Properties of the reference optimizers for random shapes, dtypes and hyper-parameters."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import adam_settings, sgd_settings, training_inputs

pytestmark = pytest.mark.optim

DTYPES = st.sampled_from([np.float32, np.float64])


class Param:
    def __init__(self, data):
        self.data, self.grad = data, None


def optimizers(solution):
    return {"SGD": (solution.SGD, sgd_settings()), "Adam": (solution.Adam, adam_settings()),
            "AdamW": (solution.AdamW, adam_settings())}


def run(optimizer, params, grads):
    for step in grads:
        for p, g in zip(params, step):
            p.grad = None if g is None else g.astype(p.data.dtype)
        optimizer.step()


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(["SGD", "Adam", "AdamW"]), data=st.data(), inputs=training_inputs(steps=8),
       dtype=DTYPES)
def test_lr_zero_leaves_parameters_unchanged(solution, name, data, inputs, dtype):
    cls, hyper = optimizers(solution)[name]
    hyper = {**data.draw(hyper), "lr": 0.0}
    init, grads = inputs
    params = [Param(x.astype(dtype)) for x in init]
    run(cls(params, **hyper), params, grads)
    for p, x in zip(params, init):
        assert p.data.dtype == dtype and np.array_equal(p.data, x.astype(dtype))


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(["SGD", "Adam", "AdamW"]), data=st.data(), inputs=training_inputs(steps=10),
       dtype=DTYPES)
def test_a_state_dict_round_trip_continues_bit_identically(solution, name, data, inputs, dtype):
    cls, hyper = optimizers(solution)[name]
    hyper = data.draw(hyper)
    init, grads = inputs
    original = [Param(x.astype(dtype)) for x in init]
    optimizer = cls(original, **hyper)
    run(optimizer, original, grads[:5])
    copy = [Param(p.data.copy()) for p in original]
    resumed = cls(copy, **hyper)
    resumed.load_state_dict(optimizer.state_dict())
    run(optimizer, original, grads[5:])
    run(resumed, copy, grads[5:])
    assert all(np.array_equal(a.data, b.data) for a, b in zip(original, copy))


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), lr=st.floats(1e-4, 0.1),
       seed=st.integers(0, 2**32 - 1), dtype=DTYPES)
def test_adams_first_step_moves_every_coordinate_by_about_lr(solution, shape, lr, seed, dtype):
    rng = np.random.default_rng(seed)
    start = rng.normal(size=shape).astype(dtype)
    p = Param(start.copy())
    p.grad = (rng.choice([-1, 1], size=shape) * rng.uniform(0.01, 10, size=shape)).astype(dtype)
    solution.Adam([p], lr=lr).step()
    moved = np.abs(p.data.astype(np.float64) - start)
    # m_hat = g and v_hat = g * g at step 1, so the move is lr * |g| / (|g| + eps), a hair under
    # lr; storing the new value rounds it to the dtype's spacing near the parameter's value
    rounding = 2 * np.spacing(np.abs(start).astype(dtype)).astype(np.float64)
    assert np.all(np.abs(moved - lr) <= 1e-6 * lr + rounding)
