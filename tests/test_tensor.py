"""Tensor basics: creation, dtypes and promotion, operators, in-place ops, views, repr."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng
from tests.helpers import assert_close

DTYPES = ["bool", "int32", "int64", "float32", "float64"]


def test_creation_dtypes_follow_pytorch():
    assert ng.tensor(1.5).dtype == ng.float32
    assert ng.tensor([1, 2]).dtype == ng.int64
    assert ng.tensor([True, False]).dtype == ng.bool
    assert ng.tensor(np.zeros(2)).dtype == ng.float64  # NumPy arrays keep their dtype
    assert ng.tensor([1, 2], dtype=ng.float64).dtype == ng.float64
    assert ng.zeros(2, 3).shape == (2, 3) and ng.zeros((2, 3)).dtype == ng.float32
    assert ng.full((2,), 3).dtype == ng.int64 and ng.full((2,), 3.0).dtype == ng.float32
    assert ng.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert ng.arange(0, 1, 0.25).dtype == ng.float32
    assert_close(ng.linspace(0, 1, 5), torch.linspace(0, 1, 5))
    assert_close(ng.eye(3, 2), torch.eye(3, 2))
    x = ng.randn(4, 5, dtype=ng.float64)
    for like in (ng.zeros_like, ng.ones_like, ng.empty_like, ng.rand_like, ng.randn_like):
        y = like(x)
        assert y.shape == x.shape and y.dtype == ng.float64
    assert ng.randint(0, 3, (100,)).numpy().max() < 3


def test_manual_seed_reproducible():
    ng.manual_seed(123)
    a = ng.randn(5)
    ng.manual_seed(123)
    b = ng.randn(5)
    assert np.array_equal(a.numpy(), b.numpy())


def test_from_numpy_shares_memory_and_numpy_roundtrip():
    arr = np.arange(4, dtype=np.float32)
    t = ng.from_numpy(arr)
    arr[0] = 10
    assert t[0].item() == 10 if hasattr(ng.Tensor, "__getitem__") else t.numpy()[0] == 10
    assert t.numpy() is arr


def _make(dtype, zero_dim):
    shape = () if zero_dim else (2,)
    return np.full(shape, 1, dtype=dtype)


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", DTYPES)
def test_promotion_tensor_tensor_matches_torch(da, db):
    for zd_a, zd_b in ((False, False), (False, True), (True, False), (True, True)):
        a, b = _make(da, zd_a), _make(db, zd_b)
        got = ng.result_type(ng.tensor(a), ng.tensor(b))
        want = torch.result_type(torch.from_numpy(a), torch.from_numpy(b))
        assert got.name == str(want).split(".")[1].replace("bool", "bool"), (da, db, zd_a, zd_b)


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("scalar", [True, 2, 2.5])
def test_promotion_tensor_scalar_matches_torch(da, scalar):
    a = _make(da, False)
    got = ng.result_type(ng.tensor(a), scalar)
    want = torch.result_type(torch.from_numpy(a), scalar)
    assert got.name == str(want).split(".")[1]


def test_operators_with_scalars_and_numpy_on_either_side():
    x = ng.tensor([1.0, 2.0, 4.0])
    t = torch.tensor([1.0, 2.0, 4.0])
    a = np.array([2.0, 2.0, 2.0], dtype=np.float32)
    for f in (lambda u, v: u + v, lambda u, v: u - v, lambda u, v: u * v, lambda u, v: u / v,
              lambda u, v: u ** v, lambda u, v: u // v, lambda u, v: u % v):
        assert_close(f(x, 3), f(t, 3))
        assert_close(f(3, x), f(3, t))
        assert_close(f(x, ng.tensor(a)), f(t, torch.from_numpy(a)))
    assert isinstance(a * x, ng.Tensor) and isinstance(x * a, ng.Tensor)
    assert_close(-x, -t)
    for cmp in (lambda u, v: u < v, lambda u, v: u <= v, lambda u, v: u > v, lambda u, v: u >= v,
                lambda u, v: u == v, lambda u, v: u != v):
        r = cmp(x, 2.0)
        assert r.dtype == ng.bool
        assert r.tolist() == cmp(t, 2.0).tolist()


def test_integer_division_and_remainder_follow_python_semantics():
    a = ng.tensor([-7, 7, -7, 7])
    b = ng.tensor([2, -2, -2, 2])
    ta, tb = torch.tensor([-7, 7, -7, 7]), torch.tensor([2, -2, -2, 2])
    assert (a // b).tolist() == (ta // tb).tolist()
    assert (a % b).tolist() == (ta % tb).tolist()
    assert (a / b).dtype == ng.float32  # true division of ints gives the default float
    assert_close(a / b, ta / tb)
    assert ng.tensor([True]) + 1 is not None and (ng.tensor([True]) + 1).dtype == ng.int64


def test_inplace_ops_and_version_counter():
    x = ng.tensor([1.0, 2.0, 3.0])
    v0 = x._version[0]
    x += 1
    x.sub_(0.5).mul_(2).div_(4)
    assert_close(x, torch.tensor([0.75, 1.25, 1.75]))
    assert x._version[0] == v0 + 4
    x.clamp_(1.0, 1.5)
    assert x.tolist() == [1.0, 1.25, 1.5]
    x.fill_(7)
    assert x.tolist() == [7.0, 7.0, 7.0]
    x.zero_()
    assert x.tolist() == [0.0, 0.0, 0.0]
    x.copy_(ng.tensor([1, 2, 3]))
    assert x.tolist() == [1.0, 2.0, 3.0]
    x.add_(ng.tensor([1.0, 1.0, 1.0]), alpha=2)
    assert x.tolist() == [3.0, 4.0, 5.0]


def test_inplace_result_type_cannot_be_cast():
    x = ng.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="result type float32 can't be cast to the desired output type int64"):
        x += 1.5
    assert x.tolist() == [1, 2, 3]  # untouched


def test_views_share_memory_and_version():
    x = ng.arange(6, dtype=ng.float32)
    v = x.view(2, 3)
    t = v.t()
    t.mul_(2)
    assert x.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert x._version is v._version
    assert not t.is_contiguous() and t.contiguous().is_contiguous()
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        t.view(6)
    assert t.reshape(6).tolist() == [0.0, 6.0, 2.0, 8.0, 4.0, 10.0]


def test_to_detach_clone_item_tolist():
    x = ng.tensor([1.5, 2.5], requires_grad=True)
    assert x.to(ng.float64).dtype == ng.float64
    assert x.to(ng.int64).tolist() == [1, 2]
    d = x.detach()
    assert not d.requires_grad and d.numpy() is x.detach().numpy() or np.shares_memory(d.numpy(), x._data)
    c = x.clone()
    assert c.grad_fn is not None and c.grad_fn.name() == "CloneBackward0"
    assert ng.tensor([[3]]).item() == 3
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted to Scalar"):
        x.item()
    assert x.size() == (2,) and x.size(0) == 2 and x.numel() == 2 and x.ndim == 1 and x.dim() == 1
    assert str(x.device) == "cpu"


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.tensor([1.0, 2.5, -3.0]),
        lambda m: m.tensor([[1.0, 2.0], [3.0, 4.0]]),
        lambda m: m.tensor([1, 2, 3]),
        lambda m: m.tensor([True, False]),
        lambda m: m.tensor(2.0),
        lambda m: m.tensor([1.0, 2.0], dtype=m.float64),
        lambda m: m.tensor([0.001, 1000.0]),
        lambda m: m.tensor([1.0, float("nan"), float("inf")]),
        lambda m: m.tensor([1.0, 2.0], requires_grad=True),
    ],
)
def test_repr_matches_pytorch(make):
    assert repr(make(ng)) == repr(make(torch)).replace("torch.", "numgrad.")


def test_repr_shows_grad_fn():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward0>)"


def test_numpy_interop_with_ufunc_style_operands():
    x = ng.tensor([1.0, 2.0])
    arr = np.asarray(x)
    assert arr.dtype == np.float32 and arr.tolist() == [1.0, 2.0]


def test_set_num_threads():
    n = ng.get_num_threads()
    ng.set_num_threads(1)
    assert ng.get_num_threads() == 1
    ng.set_num_threads(n)


def test_large_arrays_use_parallel_kernels_with_same_results():
    ng.manual_seed(0)
    x = ng.randn(300_000, dtype=ng.float64)
    t = torch.from_numpy(x.numpy().copy())
    assert_close(ng.tanh(x) * 2 + x, torch.tanh(t) * 2 + t, rtol=1e-12)
    assert_close(x.sum(), t.sum(), rtol=1e-9)
