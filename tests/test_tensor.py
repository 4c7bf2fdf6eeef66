"""The prerequisite Tensor (module 01) and the gradient checker (module 05).

Every operation's gradient is compared with central differences in float64, and a composite
expression with PyTorch's autograd.
"""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import arrays, broadcastable_pairs, matmul_pairs, reductions
from tinytorch.core.autograd import gradcheck, numerical_grad
from tinytorch.core.tensor import Parameter, Tensor

pytestmark = pytest.mark.tensor


def finite_differences(f, x0, eps=1e-6):
    """d f / d x0 for a function of a float64 array returning a float."""
    grad = np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        step = np.zeros_like(x0)
        step[i] = eps
        grad[i] = (f(x0 + step) - f(x0 - step)) / (2 * eps)
    return grad


def assert_gradients_match(op, *inputs, rtol=1e-5, atol=1e-6):
    """Autograd's gradients of sum(op(*inputs) * w), w random, against central differences.

    The random weights w make every output element count differently, so a gradient routed to the
    wrong position cannot pass by symmetry.
    """
    tensors = [Tensor(x, requires_grad=True) for x in inputs]
    out = op(*tensors)
    weights = np.random.default_rng(0).normal(size=out.shape)
    (out * weights).sum().backward()
    for i, (tensor, x0) in enumerate(zip(tensors, inputs)):
        def f(x):
            args = [Tensor(x if j == i else other) for j, other in enumerate(inputs)]
            return (op(*args) * weights).sum().item()

        assert tensor.grad is not None and tensor.grad.shape == x0.shape, f"input {i}"
        np.testing.assert_allclose(tensor.grad, finite_differences(f, x0), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")


# Construction

@pytest.mark.parametrize("data, dtype", [
    ([1, 2, 3], np.float32),
    ([0.5, 1.5], np.float32),
    (3, np.float32),
    (2.5, np.float32),
    ([True, False], np.float32),
    (np.arange(3), np.float32),
    (np.zeros(2, dtype=np.float16), np.float32),
    (np.zeros(2, dtype=np.float32), np.float32),
    (np.zeros(2, dtype=np.float64), np.float64),
    (np.float64(1.5), np.float64),
])
def test_dtype_rules(data, dtype):
    t = Tensor(data)
    assert isinstance(t.data, np.ndarray) and t.dtype == dtype
    assert t.shape == np.shape(data) and t.ndim == np.ndim(data)


def test_data_is_a_copy():
    source = np.ones(3, dtype=np.float32)
    t = Tensor(source)
    t.data += 1
    assert source.tolist() == [1, 1, 1]
    assert Tensor(t).data is not t.data


def test_new_tensor_and_parameter():
    t = Tensor([[1.0, 2.0]])
    assert t.grad is None and t.requires_grad is False
    p = Parameter(np.zeros((2, 3)))
    assert isinstance(p, Tensor) and p.requires_grad is True and p.grad is None and p.dtype == np.float64
    assert repr(Tensor([1.0, 2.0])) == "Tensor([1., 2.], dtype=float32)"
    assert repr(p).startswith("Parameter([[0., 0., 0.],") and repr(p).endswith("requires_grad=True)")


def test_results_require_grad_when_an_input_does():
    a, b = Tensor([1.0], requires_grad=True), Tensor([2.0])
    assert (a * b).requires_grad and (b * a).requires_grad
    assert not (b * b).requires_grad and not (b + 1).requires_grad


# Gradients of each operation

UNARY = {
    "neg": (lambda x: -x, {}),
    "exp": (lambda x: x.exp(), {}),
    "log": (lambda x: x.log(), {"low": 0.1}),
    "relu": (lambda x: x.relu(), {"away_from_zero": 1e-3}),
    "tanh": (lambda x: x.tanh(), {}),
    "sigmoid": (lambda x: x.sigmoid(), {}),
    "pow 2": (lambda x: x ** 2, {}),
    "pow 3": (lambda x: x ** 3, {}),
    "pow -1": (lambda x: x ** -1, {"away_from_zero": 0.5}),
    "pow 0.5": (lambda x: x ** 0.5, {"low": 0.1}),
    "sum": (lambda x: x.sum(), {}),
    "mean": (lambda x: x.mean(), {}),
    "transpose": (lambda x: x.T, {}),
    "reshape": (lambda x: x.reshape(-1), {}),
    "reshape 2-D": (lambda x: x.reshape((1, x.data.size)), {}),
    "radd": (lambda x: 2 + x, {}),
    "rsub": (lambda x: 2 - x, {}),
    "rmul": (lambda x: 2 * x, {}),
    "rtruediv": (lambda x: 2 / x, {"away_from_zero": 0.5}),
    "sub constant": (lambda x: x - 0.5, {}),
    "div constant": (lambda x: x / 4, {}),
}


@pytest.mark.parametrize("name", UNARY)
@settings(deadline=None, max_examples=25)
@given(data=st.data())
def test_unary_gradients(name, data):
    op, value_options = UNARY[name]
    assert_gradients_match(op, data.draw(arrays(**value_options)))


@settings(deadline=None)
@given(reductions(), st.sampled_from(["sum", "mean"]))
def test_reductions_along_axes(case, reduction):
    x, axis, keepdims = case
    out = getattr(Tensor(x), reduction)(axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.data, getattr(x, reduction)(axis=axis, keepdims=keepdims))
    assert_gradients_match(lambda t: getattr(t, reduction)(axis=axis, keepdims=keepdims), x)


BINARY = {
    "add": (lambda a, b: a + b, {}),
    "sub": (lambda a, b: a - b, {}),
    "mul": (lambda a, b: a * b, {}),
    "truediv": (lambda a, b: a / b, {"away_from_zero": 0.5}),
}


@pytest.mark.parametrize("name", BINARY)
@settings(deadline=None, max_examples=40)
@given(data=st.data())
def test_binary_gradients_with_broadcasting(name, data):
    op, value_options = BINARY[name]
    a, b = data.draw(broadcastable_pairs(**value_options))
    np.testing.assert_allclose(op(Tensor(a), Tensor(b)).data, op(a, b), rtol=1e-12)
    assert_gradients_match(op, a, b)


@settings(deadline=None)
@given(matmul_pairs())
def test_matmul_gradients(pair):
    assert_gradients_match(lambda a, b: a @ b, *pair)


@settings(deadline=None)
@given(matmul_pairs(batch=True))
def test_batched_matmul_gradients(pair):
    assert_gradients_match(lambda a, b: a @ b, *pair)


def test_matmul_needs_matrices():
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*\(3,\)"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones(3))


def test_pow_needs_a_number():
    with pytest.raises(TypeError, match="Python number"):
        Tensor([1.0]) ** Tensor([2.0])


@pytest.mark.parametrize("shape_a, shape_b", [((3, 1), (1, 4)), ((2, 3), (3,)), ((2, 3), ()),
                                              ((1,), (2, 2, 1))])
def test_broadcast_gradients_have_the_operand_shape(shape_a, shape_b):
    a = Tensor(np.ones(shape_a), requires_grad=True)
    b = Tensor(np.full(shape_b, 2.0), requires_grad=True)
    out = a * b
    out.sum().backward()
    assert a.grad.shape == shape_a and b.grad.shape == shape_b
    assert np.allclose(a.grad, 2 * out.data.size / a.data.size)
    assert np.allclose(b.grad, out.data.size / b.data.size)


def test_numpy_arrays_on_the_left_give_tensors():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    for out in (np.ones(2) + x, np.ones(2) - x, np.ones(2) * x, np.ones(2) / x, np.eye(2) @ x):
        assert isinstance(out, Tensor) and out.requires_grad


# Composite expressions against PyTorch

def tinytorch_and_torch(*arrays):
    """The same float64 leaves, once as Tensors and once as torch tensors."""
    ours = [Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    return ours, theirs


def composite(x, w, b):
    """A small network using every kind of operation, written so that torch tensors run it too."""
    h = (x @ w + b).tanh()
    z = ((h * 2 - 1).sigmoid() ** 2 / 3 + (-(x @ w).relu()).exp()
         - (h.T @ h).mean() / (1 + x.sum() ** 2))
    return (z.reshape(-1) * (1 + h.reshape(-1).exp()).log()).mean()


@settings(deadline=None, max_examples=30)
@given(st.integers(0, 2**32 - 1))
def test_composite_expression_matches_torch(seed):
    rng = np.random.default_rng(seed)
    arrays = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=(2,))
    ours, theirs = tinytorch_and_torch(*arrays)
    out, expected = composite(*ours), composite(*theirs)
    out.backward()
    expected.backward()
    np.testing.assert_allclose(out.item(), expected.item(), rtol=1e-10)
    for mine, reference in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_reused_tensors_match_torch():
    (x,), (tx,) = tinytorch_and_torch(np.array([0.5, -1.5, 2.0]))
    y = x * x
    z = (y * x + y.exp() * x).sum()  # x reaches z along four paths, y along two
    ty = tx * tx
    tz = (ty * tx + ty.exp() * tx).sum()
    z.backward()
    tz.backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12)


def test_leaf_gradients_accumulate_and_intermediates_do_not():
    (x,), (tx,) = tinytorch_and_torch(np.array([1.0, 2.0]))
    z, tz = (x * x).sum() * 3, (tx * tx).sum() * 3
    z.backward()
    z.backward()
    tz.backward(retain_graph=True)
    tz.backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy())  # twice 6x, not more


def test_backward_with_an_explicit_gradient():
    x = Tensor([[1.0, 2.0]], requires_grad=True)
    (x * 3).backward(np.array([[1.0, -1.0]]))
    assert x.grad.tolist() == [[3.0, -3.0]]


def test_backward_errors_say_what_to_do():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).sum().backward()
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*\.sum\(\)"):
        (Tensor([1.0, 2.0], requires_grad=True) * 2).backward()
    with pytest.raises(ValueError, match="grad has shape"):
        (Tensor([1.0, 2.0], requires_grad=True) * 2).backward(np.ones(3))


def test_constants_get_no_gradient():
    x, c = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None and x.grad.tolist() == [3.0, 4.0]


def test_gradient_arrays_are_not_shared():
    a, b = Tensor([1.0], requires_grad=True), Tensor([2.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad *= 10  # an in-place update of one gradient, as gradient clipping does
    assert b.grad.tolist() == [1.0]


def test_a_long_chain_does_not_hit_the_recursion_limit():
    x = Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + x
    y.sum().backward()
    assert x.grad.tolist() == [5001.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_operation_keeps_the_dtype(dtype):
    x = Tensor(np.array([[0.5, 1.0], [1.5, 2.0]], dtype=dtype), requires_grad=True)
    steps = [x + 1, 1 - x, x * 2.5, x / 3, 2 / x, x ** 2, -x, x @ x, x.sum(axis=0), x.mean(), x.T,
             x.reshape(4), x.exp(), x.log(), x.relu(), x.tanh(), x.sigmoid(), x * np.ones(2),
             np.ones((2, 2)) @ x]
    assert [s.dtype for s in steps] == [dtype] * len(steps)
    sum(s.sum() for s in steps).backward()
    assert x.grad.dtype == dtype


def test_gradient_takes_the_dtype_of_its_tensor():
    p = Parameter(np.ones((2, 2), dtype=np.float32))
    out = p * Tensor(np.ones(2, dtype=np.float64))  # numpy promotes the result to float64
    assert out.dtype == np.float64
    out.sum().backward()
    assert p.grad.dtype == np.float32


# Module 05: numerical_grad and gradcheck

@settings(deadline=None, max_examples=30)
@given(arrays(low=-2, high=2))
def test_numerical_grad_of_a_cubic(x0):
    x = Tensor(x0.astype(np.float32))
    data = x.data
    grad = numerical_grad(lambda t: (t ** 3).sum(), x)
    expected = 3 * x.data.astype(np.float64) ** 2
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-6)
    assert x.data is data and x.dtype == np.float32


def test_numerical_grad_restores_the_data_when_f_fails():
    x = Tensor([1.0, 2.0])
    data = x.data

    def failing(t):
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        numerical_grad(failing, x)
    assert x.data is data


@settings(deadline=None, max_examples=20)
@given(st.integers(0, 2**32 - 1), st.sampled_from([np.float32, np.float64]))
def test_gradcheck_accepts_correct_gradients(seed, dtype):
    rng = np.random.default_rng(seed)
    inputs = [Tensor(rng.normal(size=shape).astype(dtype), requires_grad=True)
              for shape in [(4, 3), (3, 2), (2,)]]
    assert gradcheck(composite, inputs) is True


def double_with_a_bug(t):
    """2t, whose backward forgets the factor 2."""
    out = Tensor(t.data * 2, _children=(t,))
    out._backward = lambda: t._accumulate(out.grad)
    return out


def test_gradcheck_names_the_input_and_the_worst_coordinate():
    a = Tensor(np.zeros((2, 2)), requires_grad=True)
    b = Tensor(np.array([[0.1, 0.2], [0.3, 5.0]]), requires_grad=True)
    with pytest.raises(AssertionError, match=r"input 1 \(shape \(2, 2\)\).*index \(1, 1\)"):
        gradcheck(lambda a, b: (a + double_with_a_bug(b) ** 2).sum(), [a, b])


def test_gradcheck_leaves_gradients_as_it_found_them():
    previous = np.array([7.0, 7.0])
    a = Tensor([1.0, 2.0], requires_grad=True)
    a.grad = previous
    b = Tensor([3.0, 4.0], requires_grad=True)
    gradcheck(lambda a, b: (a * b).sum(), [a, b])
    assert a.grad is previous and b.grad is None


def test_gradcheck_skips_constants_and_refuses_bad_calls():
    x, c = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0])
    assert gradcheck(lambda x, c: (x * c).sum(), [x, c])
    with pytest.raises(ValueError, match="requires_grad=True"):
        gradcheck(lambda c: c.sum(), [c])
    with pytest.raises(ValueError, match="scalar"):
        gradcheck(lambda x: x * 2, [x])
