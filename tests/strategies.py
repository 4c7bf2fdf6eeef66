"""Hypothesis strategies for the Tensor and nn tests: float64 arrays of small, well-behaved values."""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


def values(low=-3.0, high=3.0, away_from_zero=0.0):
    """Floats in [low, high]; with away_from_zero > 0, none closer to 0 than that (kinks, poles)."""
    floats = st.floats(low, high, allow_nan=False, allow_infinity=False)
    return floats.filter(lambda v: abs(v) >= away_from_zero) if away_from_zero else floats


def arrays(shape=SHAPES, **value_options):
    return hnp.arrays(np.float64, shape, elements=values(**value_options))


@st.composite
def broadcastable_pairs(draw, **value_options):
    """Two arrays whose shapes numpy broadcasts together, e.g. (3, 1) and (4,)."""
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4)).input_shapes
    return tuple(draw(arrays(shape, **value_options)) for shape in shapes)


@st.composite
def matmul_pairs(draw, batch=False):
    """Arrays of shapes (n, k) and (k, m), with a leading batch axis on one or both if batch."""
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    left, right = (n, k), (k, m)
    if batch:
        b = draw(st.integers(1, 3))
        batched = [((b, *left), (b, *right)), ((b, *left), right), (left, (b, *right))]
        left, right = draw(st.sampled_from(batched))
    return draw(arrays(left)), draw(arrays(right))


@st.composite
def reductions(draw):
    """An array of at least one dimension, an axis argument (None, an int or a tuple) and keepdims."""
    x = draw(arrays(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)))
    axes = draw(st.lists(st.integers(-x.ndim, x.ndim - 1), max_size=x.ndim, unique_by=lambda a: a % x.ndim))
    axis = draw(st.sampled_from([None, tuple(axes), *axes]))
    return x, axis, draw(st.booleans())


@st.composite
def classification_batches(draw):
    """Logits (N, C), in float64 and possibly huge, with N integer targets in [0, C)."""
    n, classes = draw(st.integers(1, 6)), draw(st.integers(2, 5))
    scale = draw(st.sampled_from([1.0, 10.0, 1000.0]))
    logits = draw(arrays((n, classes))) * scale
    targets = np.array(draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)))
    return logits, targets


# Module 06: optimizer settings that both the spec and torch.optim accept


@st.composite
def sgd_settings(draw):
    """SGD's hyper-parameters: any valid mix of momentum, dampening, weight decay and Nesterov."""
    momentum = draw(st.sampled_from([0.0, 0.5, 0.9, 0.99]))
    nesterov = momentum > 0 and draw(st.booleans())
    return {"lr": draw(st.floats(0.0, 0.5)), "momentum": momentum,
            "dampening": 0.0 if nesterov else draw(st.sampled_from([0.0, 0.1, 0.5])),
            "weight_decay": draw(st.sampled_from([0.0, 1e-4, 0.1])), "nesterov": nesterov}


@st.composite
def adam_settings(draw):
    """Adam's and AdamW's hyper-parameters, betas anywhere in [0, 1) and eps from tiny to large."""
    beta = st.floats(0.0, 0.999)
    return {"lr": draw(st.floats(0.0, 0.1)), "betas": (draw(beta), draw(beta)),
            "eps": draw(st.sampled_from([1e-12, 1e-8, 1e-3, 0.1])),
            "weight_decay": draw(st.sampled_from([0.0, 0.01, 0.5]))}


@st.composite
def training_inputs(draw, steps=30):
    """Initial values of 1 to 3 parameters and a gradient for each at every step (None where a
    parameter has none), from a seeded generator."""
    shapes = draw(st.lists(hnp.array_shapes(min_dims=1, max_dims=2, max_side=4), min_size=1, max_size=3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    skipped = draw(st.floats(0.0, 0.5))
    init = [rng.normal(size=shape) for shape in shapes]
    grads = [[None if rng.random() < skipped else rng.normal(size=shape) for shape in shapes]
             for _ in range(steps)]
    return init, grads
