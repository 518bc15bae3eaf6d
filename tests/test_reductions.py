"""Behaviour of the reductions beyond the registry: errors, dtypes, NaN, empty
inputs, double backward, the parallel kernel variants."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad.kernels.cpu import map_reduce as K
from tests.helpers import assert_close

NAN = float("nan")


def _pair(values, dtype=None):
    arr = np.array(values, dtype=dtype)
    return ng.tensor(arr), torch.tensor(arr)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("op", ["max", "min", "amax", "amin"])
def test_empty_without_dim_raises_like_torch(op):
    with pytest.raises(RuntimeError, match=rf"{op}\(\): Expected reduction dim to be specified for "
                                           r"input.numel\(\) == 0. Specify the reduction dim with the 'dim' argument."):
        getattr(ng.empty(0), op)()


def test_empty_reduced_dim_raises_index_error():
    x = ng.empty(0, 3)
    with pytest.raises(IndexError, match=r"max\(\): Expected reduction dim 0 to have non-zero size."):
        x.max(0)
    with pytest.raises(IndexError, match=r"amax\(\): Expected reduction dim 0 to have non-zero size."):
        x.amax((0, 1))
    with pytest.raises(IndexError, match=r"argmax\(\): Expected reduction dim to be specified"):
        x.argmax()
    # reducing a non-empty dim of an empty tensor is fine
    values, indices = x.max(1, keepdim=True)
    assert values.shape == (0, 1) and indices.dtype == ng.int64
    assert ng.argmax(x, 1).shape == (0,)


def test_empty_reductions_with_identity():
    x = ng.empty(0)
    assert x.prod().item() == 1.0
    assert x.logsumexp(0).item() == -math.inf
    assert x.norm().item() == 0.0
    assert x.count_nonzero().item() == 0
    assert x.all().item() is True and x.any().item() is False
    with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):
        assert math.isnan(x.var().item())
    with pytest.raises(RuntimeError, match="cannot compute the inf norm on an empty tensor"):
        x.norm(p=math.inf)


@pytest.mark.parametrize("call", [
    lambda x: x.max(3), lambda x: x.argmin(-3), lambda x: x.amax((0, 2)), lambda x: x.var(5),
    lambda x: x.logsumexp(2), lambda x: x.norm(dim=3), lambda x: x.cumsum(2), lambda x: x.prod(-3),
    lambda x: x.count_nonzero(2), lambda x: x.all(7),
])
def test_dim_out_of_range(call):
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got"):
        call(ng.zeros(2, 3))


def test_repeated_dim():
    with pytest.raises(RuntimeError, match="dim 0 appears multiple times in the list of dims"):
        ng.zeros(2, 3).amax((0, 0))


def test_dim_types_like_torch():
    x = ng.zeros(2, 3)
    with pytest.raises(TypeError, match="argument 'dim' must be int, not tuple"):
        x.max(dim=(0, 1))
    with pytest.raises(TypeError, match="argument 'dim' must be int, not tuple"):
        x.prod((0, 1))
    with pytest.raises(TypeError, match="argument 'dim' must be int, not tuple"):
        x.argmax((0, 1))
    with pytest.raises(TypeError):
        ng.cumsum(x)  # dim is required, as in torch
    with pytest.raises(TypeError):
        ng.logsumexp(x)


def test_integer_inputs_that_need_float():
    ints = ng.tensor([1, 2, 3])
    for op in ("var", "std"):
        with pytest.raises(RuntimeError, match="std and var only support floating point and complex dtypes"):
            getattr(ints, op)()
    with pytest.raises(RuntimeError, match="linalg.vector_norm: Expected a floating point or complex tensor as "
                                           "input. Got Long"):
        ints.norm()
    with pytest.raises(RuntimeError, match=r"argmax\(\): does not support bool input"):
        ng.tensor([True, False]).argmax()


def test_norm_bad_orders():
    x = ng.ones(2, 2, 2)
    with pytest.raises(RuntimeError, match="linalg.matrix_norm: dim must be a 2-tuple. Got 0 1 2"):
        x.norm(p="fro", dim=(0, 1, 2))
    with pytest.raises(RuntimeError, match="Order abc not supported"):
        x.norm(p="abc")
    with pytest.raises(RuntimeError, match="nuclear norm"):
        x.norm(p="nuc")


# ------------------------------------------------------------------ dtypes
def test_integer_dtypes_follow_torch():
    for dtype in ("int32", "int64"):
        x, t = _pair([[3, -1, 4], [1, 5, -9]], dtype)
        assert x.prod().dtype == ng.int64 and x.prod().item() == t.prod().item()
        assert_close(x.prod(1), t.prod(1))
        c = x.cumsum(1)
        assert c.dtype == ng.int64
        assert_close(c, t.cumsum(1))
        values, indices = x.max(1)
        assert values.dtype == x.dtype and indices.dtype == ng.int64
        assert_close(values, t.max(1).values)
        assert_close(indices, t.max(1).indices)
        assert_close(x.amin(0), t.amin(0))
        assert x.argmax().item() == t.argmax().item()
        assert x.max().item() == 5 and x.min().item() == -9
        lse = x.logsumexp(1)
        assert lse.dtype == ng.float32
        assert_close(lse, t.logsumexp(1), 1e-6, 1e-6)
        assert_close(x.count_nonzero(0), t.count_nonzero(0))


def test_bool_inputs():
    x, t = _pair([[True, False, True], [False, False, True]])
    assert x.prod().dtype == ng.int64 and x.prod().item() == 0
    assert_close(x.cumsum(1), t.cumsum(1))
    assert x.max().item() is True
    assert_close(x.max(1).values, t.max(1).values)
    assert_close(x.any(1), t.any(1))
    assert_close(x.all(0), t.all(0))
    assert_close(x.count_nonzero(), t.count_nonzero())


def test_all_any_dtypes():
    x, t = _pair([[1, 0, 3]], "uint8")
    assert x.all(1).dtype == ng.uint8 and x.all(1).tolist() == [0]
    f = ng.tensor([[0.5, 0.0], [NAN, 2.0]])
    assert f.all(1).tolist() == [False, True]  # NaN is non-zero
    assert f.any().dtype == ng.bool


def test_dtype_arguments():
    x = ng.tensor([1.5, 2.0])
    assert x.prod(dtype=ng.float64).dtype == ng.float64
    assert x.prod(dtype=ng.int64).item() == 2  # cast first, as in torch
    c = ng.tensor([1, 2]).cumsum(0, dtype=ng.float64)
    assert c.dtype == ng.float64 and c.tolist() == [1.0, 3.0]
    y = ng.tensor([3.0, 4.0], requires_grad=True)
    n = y.norm(dim=0, dtype=ng.float64)
    assert n.dtype == ng.float64 and n.item() == 5.0
    n.backward()
    assert y.grad.dtype == ng.float32
    z = ng.tensor([1.0, 2.0], requires_grad=True)
    z.cumsum(0, dtype=ng.float64).sum().backward()
    assert z.grad.dtype == ng.float32 and z.grad.tolist() == [2.0, 1.0]


# ------------------------------------------------------------------ NaN / inf
def test_nan_propagates_and_indices_point_at_first_nan():
    rows = [[1.0, NAN, 3.0, NAN], [2.0, 7.0, 7.0, 1.0], [NAN, 1.0, 1.0, 1.0]]
    x, t = _pair(rows)
    for op in ("max", "min"):
        ours, ref = getattr(x, op)(1), getattr(t, op)(1)
        assert_close(ours.values, ref.values)
        assert ours.indices.tolist() == ref.indices.tolist()
        col, ref_col = getattr(x, op)(0), getattr(t, op)(0)  # the (A, R, C) kernel
        assert_close(col.values, ref_col.values)
        assert col.indices.tolist() == ref_col.indices.tolist()
    assert x.argmax(1).tolist() == t.argmax(1).tolist()
    assert x.argmin().item() == t.argmin().item()
    assert math.isnan(x.max().item()) and math.isnan(x.amin().item())
    assert_close(x.amax(1), t.amax(1))
    assert_close(x.logsumexp(1), t.logsumexp(1))
    assert_close(x.norm(dim=1), t.norm(dim=1))
    assert_close(x.norm(p=math.inf, dim=1), t.norm(p=math.inf, dim=1))


@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_long_rows_use_lanes_and_keep_first_index(dtype):
    # rows longer than the kernels' lane count, with ties and NaN inside the
    # vectorized part, in the remainder, and nowhere
    rng = np.random.default_rng(7)
    arr = rng.integers(-20, 20, size=(5, 150)).astype(dtype)
    if dtype == "float32":
        arr[1, 70] = arr[1, 3] = NAN
        arr[2, 140] = NAN
        arr[3, :] = 1.0
    x, t = ng.tensor(arr), torch.tensor(arr)
    for op in ("max", "min"):
        ours, ref = getattr(x, op)(1), getattr(t, op)(1)
        assert_close(ours.values, ref.values)
        assert ours.indices.tolist() == ref.indices.tolist()
        assert_close(getattr(x, "a" + op)(1), getattr(t, "a" + op)(1))
    assert x.argmax(1).tolist() == t.argmax(1).tolist()
    assert x.argmin().item() == t.argmin().item()
    assert_close(x.count_nonzero(1), t.count_nonzero(1))
    if dtype == "float32":
        assert_close(x.logsumexp(1), t.logsumexp(1), 1e-6, 1e-5)
        assert_close(x.norm(p=math.inf, dim=1), t.norm(p=math.inf, dim=1))
        assert_close(x.var(1), t.var(1), 1e-5, 1e-5)


def test_logsumexp_is_stable_with_large_and_infinite_values():
    x, t = _pair([[1000.0, 1000.0], [-1000.0, -1001.0], [math.inf, 1.0], [-math.inf, -math.inf],
                  [math.inf, -math.inf]], "float32")
    assert_close(x.logsumexp(1), t.logsumexp(1), 1e-6, 1e-6)
    assert_close(x.logsumexp(0), t.logsumexp(0), 1e-6, 1e-6)


# ------------------------------------------------------------------ results and gradients
def test_max_returns_values_and_indices_namedtuple():
    x = ng.tensor([[1.0, 5.0], [3.0, 2.0]], requires_grad=True)
    result = ng.max(x, dim=1, keepdim=True)
    values, indices = result
    assert result.values is values and result.indices is indices
    assert values.grad_fn.name() == "MaxBackward0" and not indices.requires_grad
    assert x.max().grad_fn.name() == "MaxBackward1"
    assert x.amax(0).grad_fn.name() == "AmaxBackward0"
    assert ng.max(x, ng.zeros(2)).grad_fn.name() == "MaximumBackward0"
    assert ng.min(x, other=ng.ones(2)).tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert "values=" in repr(result)


def test_tie_gradients_follow_torch():
    rows = [[1.0, 5.0, 5.0], [2.0, 2.0, 2.0]]
    cases = [
        lambda m, x: m.amax(x, 1), lambda m, x: m.amin(x, 0), lambda m, x: m.max(x),
        lambda m, x: m.max(x, 1).values, lambda m, x: m.min(x, 0).values,
        lambda m, x: m.norm(x, p=math.inf, dim=1),
    ]
    for case in cases:
        x = ng.tensor(rows, requires_grad=True)
        t = torch.tensor(rows, requires_grad=True)
        case(ng, x).sum().backward()
        case(torch, t).sum().backward()
        assert_close(x.grad, t.grad)


def test_zero_gradients_are_safe_like_torch():
    rows = [[0.0, 0.0, 0.0], [3.0, 0.0, -4.0]]
    for p in (2, 1, 3, 0.5, math.inf):
        x = ng.tensor(rows, requires_grad=True)
        t = torch.tensor(rows, requires_grad=True)
        x.norm(p=p, dim=1).sum().backward()
        t.norm(p=p, dim=1).sum().backward()
        assert_close(x.grad, t.grad, 1e-6, 1e-6)
    x = ng.tensor(rows, requires_grad=True)
    x.norm(p=0).backward()
    assert x.grad is None or np.all(x.grad.numpy() == 0)


def test_var_correction_forms():
    x, t = _pair([[1.0, 2.0, 4.0, 8.0], [0.5, 0.25, 3.0, 1.0]])
    assert_close(x.var(0, True, True), t.var(0, True, True), 1e-6, 1e-7)
    assert_close(x.var(False), t.var(False), 1e-6, 1e-7)
    assert_close(x.std(1, correction=0.5), t.std(1, correction=0.5), 1e-6, 1e-7)
    assert_close(x.var(dim=()), t.var(dim=()), 1e-6, 1e-7)
    with pytest.raises(TypeError, match="either 'unbiased' or 'correction'"):
        x.var(0, unbiased=True, correction=1)


def test_single_element_var_is_nan_with_warning():
    with pytest.warns(UserWarning, match=r"var\(\): degrees of freedom is <= 0"):
        assert math.isnan(ng.tensor([3.0]).var().item())


def test_zero_dim_inputs():
    x, t = _pair(2.5)
    assert x.max(0).values.item() == 2.5 and x.max(-1).indices.item() == 0
    assert x.argmax(0).item() == 0
    assert x.cumsum(0).item() == 2.5 and x.cumsum(0).shape == ()
    assert x.norm(dim=0).item() == 2.5
    assert_close(x.logsumexp(0), t.logsumexp(0))
    assert x.prod(0).item() == 2.5


def test_argmax_keepdim_without_dim():
    x, t = _pair([[1.0, 5.0], [3.0, 2.0]])
    assert x.argmax(keepdim=True).shape == tuple(t.argmax(keepdim=True).shape) == (1, 1)


def test_in_place_change_after_max_is_detected():
    x = ng.tensor([1.0, 3.0, 2.0], requires_grad=True)
    y = x * 1.0
    m = y.amax()
    y.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        m.backward()


# ------------------------------------------------------------------ double backward
def _f64(*shape, seed=0, positive=False):
    rng = np.random.default_rng(seed)
    arr = rng.standard_normal(shape)
    if positive:
        arr = np.abs(arr) + 0.5
    return ng.tensor(arr, requires_grad=True)


@pytest.mark.parametrize("fn", [
    lambda x: x.var(1),
    lambda x: x.std(dim=(0, 1), correction=0),
    lambda x: x.logsumexp(0),
    lambda x: x.prod(1),
    lambda x: x.prod(),
    lambda x: x.norm(dim=1),
    lambda x: x.norm(p=3),
    lambda x: x.cumsum(1),
    lambda x: x.max(1, keepdim=True).values * x.amax(0, keepdim=True),
], ids=["var", "std", "logsumexp", "prod_dim", "prod_all", "norm2", "norm3", "cumsum", "max_amax"])
def test_gradgradcheck(fn):
    x = _f64(3, 4, positive=True)
    assert ng.autograd.gradgradcheck(fn, (x,))


def test_hessian_vector_product_of_logsumexp_matches_torch():
    rng = np.random.default_rng(3)
    arr, v = rng.standard_normal((2, 5)), rng.standard_normal((2, 5))
    x = ng.tensor(arr, requires_grad=True)
    t = torch.tensor(arr, requires_grad=True)
    (g,) = ng.autograd.grad(x.logsumexp(1).sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad(t.logsumexp(1).sum(), t, create_graph=True)
    (g * ng.tensor(v)).sum().backward()
    (tg * torch.tensor(v)).sum().backward()
    assert_close(x.grad, t.grad, 1e-9, 1e-10)


def test_prod_gradient_with_zeros_matches_torch():
    arr = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 1.0], [1.0, 2.0, 4.0]])
    for kwargs in (dict(dim=1), dict(dim=0), dict()):
        x = ng.tensor(arr, requires_grad=True)
        t = torch.tensor(arr, requires_grad=True)
        x.prod(**kwargs).sum().backward()
        t.prod(**kwargs).sum().backward()
        assert_close(x.grad, t.grad)


# ------------------------------------------------------------------ kernel layouts
@pytest.fixture
def parallel_kernels(monkeypatch):
    """Run the parallel kernel variants on small arrays."""
    monkeypatch.setattr(K, "PARALLEL_THRESHOLD", 0)


@pytest.mark.parametrize("shape, dim", [((3, 1100), 0), ((1100, 3), 1), ((40, 300), 1), ((2, 3, 600), 1),
                                        ((1, 5, 1030), (0, 1))])
def test_parallel_variants_match_torch(parallel_kernels, shape, dim):
    rng = np.random.default_rng(4)
    arr = rng.standard_normal(shape)
    x, t = ng.tensor(arr), torch.tensor(arr)
    assert_close(x.var(dim), t.var(dim), 1e-9, 1e-10)
    assert_close(x.logsumexp(dim), t.logsumexp(dim), 1e-9, 1e-10)
    assert_close(x.norm(dim=dim), t.norm(dim=dim), 1e-9, 1e-10)
    if isinstance(dim, int):
        assert_close(x.max(dim).values, t.max(dim).values)
        assert x.argmin(dim).tolist() == t.argmin(dim).tolist()
        assert_close(x.cumsum(dim), t.cumsum(dim), 1e-9, 1e-9)


def test_non_adjacent_dims_and_strided_inputs():
    rng = np.random.default_rng(5)
    arr = rng.standard_normal((3, 4, 5, 2))
    x, t = ng.tensor(arr), torch.tensor(arr)
    xt, tt = x.transpose(0, 2), t.transpose(0, 2)
    for dims in ((0, 2), (1, 3), (0, 1, 3)):
        assert_close(xt.var(dims), tt.var(dims), 1e-9, 1e-10)
        assert_close(xt.norm(p=1, dim=dims), tt.norm(p=1, dim=dims), 1e-9, 1e-10)
        assert_close(xt.count_nonzero(dims), tt.count_nonzero(dims))
    assert_close(xt.cumsum(1), tt.cumsum(1), 1e-9, 1e-10)
    assert xt.argmax(2).tolist() == tt.argmax(2).tolist()


def test_methods_and_public_names_are_bound():
    names = ("amax", "amin", "max", "min", "argmax", "argmin", "prod", "var", "std", "logsumexp", "norm",
             "cumsum", "all", "any", "count_nonzero")
    x = ng.tensor([[1.0, 2.0], [3.0, 4.0]])
    for name in names:
        assert callable(getattr(ng, name)) and callable(getattr(x, name))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.var().item() == pytest.approx(torch.tensor([[1.0, 2.0], [3.0, 4.0]]).var().item())
