"""Modules 02-04: Module, activations, Linear, Sequential and the losses, against PyTorch."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings

import tinytorch.nn as nn
from strategies import arrays, classification_batches
from tinytorch.core.tensor import Tensor

pytestmark = pytest.mark.nn


def test_nn_gathers_the_core_classes():
    from tinytorch.core import activations, layers, losses, tensor

    assert nn.Linear is layers.Linear and nn.Module is activations.Module and nn.Parameter is tensor.Parameter
    assert nn.CrossEntropyLoss is losses.CrossEntropyLoss
    assert all(hasattr(nn, name) for name in nn.__all__)


# Module and parameters()

class Block(nn.Module):
    def __init__(self, seed):
        self.scale = nn.Parameter(np.ones(2))
        self.layers = (nn.Linear(2, 2, seed=seed), nn.ReLU())
        self.buffer = Tensor(np.zeros(2), requires_grad=True)  # a tensor, not a parameter
        self.rate = 0.5


class Model(nn.Module):
    def __init__(self):
        self.first = Block(0)
        self.items = [nn.Parameter(np.zeros(1)), [nn.Linear(2, 1, bias=False, seed=1)]]
        self.again = self.first  # shared: its parameters count once
        self.shared_weight = self.first.layers[0].weight
        self.parent_of_first = None

    def forward(self, x):
        return x


def test_parameters_in_definition_order_without_duplicates():
    model = Model()
    linear = model.first.layers[0]
    expected = [model.first.scale, linear.weight, linear.bias, model.items[0], model.items[1][0].weight]
    found = model.parameters()
    assert len(found) == len(expected) and all(a is b for a, b in zip(found, expected))


def test_parameters_survive_a_cycle():
    model = Model()
    model.first.owner = model
    assert len(model.parameters()) == 5


def test_zero_grad_clears_every_gradient():
    model = Model()
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_forward_is_abstract():
    with pytest.raises(NotImplementedError, match="Block does not define forward"):
        Block(0)(Tensor([1.0]))


@pytest.mark.parametrize("ours, theirs", [(nn.ReLU(), torch.relu), (nn.Tanh(), torch.tanh),
                                          (nn.Sigmoid(), torch.sigmoid)])
@settings(deadline=None, max_examples=30)
@given(x0=arrays(low=-30, high=30, away_from_zero=1e-3))
def test_activations_match_torch(ours, theirs, x0):
    x, tx = Tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-300)
    (y * 3).sum().backward()
    (ty * 3).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-6, atol=1e-12)  # 1 - tanh² cancels


def test_relu_gradient_at_zero_is_zero_as_in_torch():
    x, tx = Tensor([0.0], requires_grad=True), torch.zeros(1, requires_grad=True)
    nn.ReLU()(x).sum().backward()
    torch.relu(tx).sum().backward()
    assert x.grad.tolist() == tx.grad.tolist() == [0.0]


def test_sigmoid_does_not_overflow():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert nn.Sigmoid()(Tensor([-1000.0, 1000.0])).data.tolist() == [0.0, 1.0]


# Linear and Sequential

def test_linear_initialisation():
    layer = nn.Linear(64, 10, seed=3)
    assert layer.weight.shape == (64, 10) and layer.bias.shape == (10,)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    bound = 1 / 8
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.weight.data).max() > 0.9 * bound
    assert np.abs(layer.bias.data).max() <= bound
    assert np.array_equal(nn.Linear(64, 10, seed=3).weight.data, layer.weight.data)
    assert not np.array_equal(nn.Linear(64, 10, seed=4).weight.data, layer.weight.data)
    assert nn.Linear(64, 10, bias=False).bias is None
    assert repr(layer) == "Linear(64, 10, bias=True)"


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(bias):
    layer = nn.Linear(3, 4, bias=bias, seed=0)
    x0 = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    weight = torch.tensor(layer.weight.data.T, requires_grad=True)  # torch stores (out, in)
    b = torch.tensor(layer.bias.data, requires_grad=True) if bias else None
    x, tx = Tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    upstream = np.random.default_rng(2).normal(size=(5, 4)).astype(np.float32)
    y, ty = layer(x), torch.nn.functional.linear(tx, weight, b)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    (y * upstream).sum().backward()
    (ty * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.weight.grad, weight.grad.numpy().T, rtol=1e-5, atol=1e-6)
    if bias:
        np.testing.assert_allclose(layer.bias.grad, b.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert layer.weight.grad.dtype == np.float32


def test_linear_accepts_a_numpy_batch():
    out = nn.Linear(3, 2, seed=0)(np.ones((4, 3)))
    assert isinstance(out, Tensor) and out.shape == (4, 2) and out.dtype == np.float32


def test_sequential_composes_and_lists_parameters_in_order():
    first, second = nn.Linear(3, 5, seed=0), nn.Linear(5, 2, seed=1)
    model = nn.Sequential(first, nn.Tanh(), second)
    x = Tensor(np.random.default_rng(0).normal(size=(4, 3)))
    np.testing.assert_allclose(model(x).data, second(first(x).tanh()).data)
    expected = [first.weight, first.bias, second.weight, second.bias]
    assert all(a is b for a, b in zip(model.parameters(), expected)) and len(model.parameters()) == 4
    assert repr(model) == "Sequential(Linear(3, 5, bias=True), Tanh(), Linear(5, 2, bias=True))"


def test_a_layer_used_twice_is_one_set_of_parameters():
    layer = nn.Linear(4, 4, seed=0)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert len(model.parameters()) == 2
    model(Tensor(np.ones((1, 4)))).sum().backward()
    assert layer.weight.grad is not None  # gradients from both uses, added


# Losses

def test_mse_matches_torch():
    pred0 = np.random.default_rng(0).normal(size=(6, 2))
    target = np.random.default_rng(1).normal(size=(6, 2))
    pred, tpred = Tensor(pred0, requires_grad=True), torch.tensor(pred0, requires_grad=True)
    loss, tloss = nn.MSELoss()(pred, target), torch.nn.functional.mse_loss(tpred, torch.tensor(target))
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(pred.grad, tpred.grad.numpy(), rtol=1e-12)


def test_mse_accepts_tensors_and_lists_and_keeps_float32():
    pred = Tensor([1.0, 2.0])
    assert nn.MSELoss()(pred, Tensor([1.0, 4.0])).item() == 2.0
    loss = nn.MSELoss()(pred, [1.0, 4.0])
    assert loss.item() == 2.0 and loss.dtype == np.float32


def test_mse_refuses_shapes_that_would_broadcast():
    with pytest.raises(ValueError, match=r"\(3, 1\).*\(3,\)"):
        nn.MSELoss()(Tensor(np.zeros((3, 1))), np.zeros(3))


@settings(deadline=None, max_examples=50)
@given(classification_batches())
def test_cross_entropy_matches_torch(batch):
    logits0, targets = batch
    logits, tlogits = Tensor(logits0, requires_grad=True), torch.tensor(logits0, requires_grad=True)
    loss = nn.CrossEntropyLoss()(logits, targets)
    tloss = torch.nn.functional.cross_entropy(tlogits, torch.tensor(targets))
    assert loss.shape == () and np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-10, atol=1e-12)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(logits.grad, tlogits.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_cross_entropy_in_float32_with_huge_logits():
    logits = Tensor(np.array([[1e4, -1e4, 0.0], [3.0, 3.0, 3.0]], dtype=np.float32), requires_grad=True)
    loss = nn.CrossEntropyLoss()(logits, [1, 2])
    loss.backward()
    assert loss.dtype == np.float32 and logits.grad.dtype == np.float32
    np.testing.assert_allclose(loss.item(), (2e4 + np.log(3)) / 2, rtol=1e-6)
    assert np.all(np.isfinite(logits.grad))


@pytest.mark.parametrize("logits, targets, message", [
    (np.zeros(3), [0], r"shape \(N, C\)"),
    (np.zeros((2, 3)), [0.0, 1.0], "integer class indices"),
    (np.zeros((2, 3)), [0, 1, 2], "2 integer class indices"),
    (np.zeros((2, 3)), [0, 3], r"\[0, 3\)"),
    (np.zeros((2, 3)), [-1, 0], r"\[0, 3\)"),
])
def test_cross_entropy_refuses_bad_targets(logits, targets, message):
    with pytest.raises(ValueError, match=message):
        nn.CrossEntropyLoss()(Tensor(logits), targets)


# Everything together

def test_gradient_descent_trains_a_small_mlp():
    """Two interleaved spirals' worth of difficulty: XOR of the signs, which needs a hidden layer."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(200, 2)).astype(np.float32)
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)
    model = nn.Sequential(nn.Linear(2, 16, seed=1), nn.Tanh(), nn.Linear(16, 2, seed=2))
    loss_fn, lr, losses = nn.CrossEntropyLoss(), 0.5, []
    for _ in range(300):
        loss = loss_fn(model(Tensor(x)), y)
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= lr * p.grad
        losses.append(loss.item())
    accuracy = (model(Tensor(x)).data.argmax(axis=1) == y).mean()
    assert losses[-1] < 0.3 * losses[0], losses[::50]
    assert accuracy > 0.9
    assert all(p.dtype == np.float32 for p in model.parameters())
