"""Matrix products beyond the registry: errors, integer dtypes, operand layouts,
graph node names, double backward and the kernels' fallback paths."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import numgrad as ng
from numgrad.kernels.cpu import matmul as mk
from tests.helpers import assert_close


def _pair(sa, sb, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(sa).astype(dtype), rng.standard_normal(sb).astype(dtype)


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("sa, sb, message", [
    ((2, 3), (4, 5), r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"),
    ((3,), (4, 5), r"mat1 and mat2 shapes cannot be multiplied \(1x3 and 4x5\)"),
    ((2, 2, 3), (2, 4, 5), r"mat1 and mat2 shapes cannot be multiplied \(2x2x3 and 2x4x5\)"),
    ((3,), (4,), r"inconsistent tensor size, expected tensor \[3\] and src \[4\]"),
    ((2, 3), (4,), r"size mismatch, got input \(2\), mat \(2x3\), vec \(4\)"),
    ((2, 2, 3), (3, 3, 5), r"size of tensor a \(2\) must match the size of tensor b \(3\).*\[2, 2, 3\] and \[3, 3, 5\]"),
    ((), (3,), r"both arguments to matmul need to be at least 1D, but they are 0D and 1D"),
])
def test_matmul_shape_errors_name_both_shapes(sa, sb, message):
    a, b = _pair(sa, sb)
    with pytest.raises(RuntimeError, match=message):
        ng.tensor(a) @ ng.tensor(b)


def test_matmul_dtype_mismatch_is_pytorchs_error():
    with pytest.raises(RuntimeError, match=r"expected m1 and m2 to have the same dtype, but got: float != double"):
        ng.ones(2, 3) @ ng.ones(3, 4, dtype=ng.float64)
    with pytest.raises(RuntimeError, match=r"long int != int"):
        ng.ones(2, 3, dtype=ng.int64) @ ng.ones(3, 2, dtype=ng.int32)


def test_matmul_bool_is_not_implemented():
    with pytest.raises(NotImplementedError, match=r"not implemented for 'Bool'"):
        ng.ones(2, 3, dtype=ng.bool) @ ng.ones(3, 2, dtype=ng.bool)
    # float16 products are computed in float32 (tests/test_dtypes16.py)


def test_mm_bmm_mv_dot_outer_errors():
    with pytest.raises(RuntimeError, match="self must be a matrix"):
        ng.mm(ng.ones(3), ng.ones(3, 3))
    with pytest.raises(RuntimeError, match="mat2 must be a matrix"):
        ng.mm(ng.ones(3, 3), ng.ones(3))
    with pytest.raises(RuntimeError, match="batch1 must be a 3D tensor"):
        ng.bmm(ng.ones(3, 4), ng.ones(2, 4, 5))
    with pytest.raises(RuntimeError, match=r"Expected size for first two dimensions of batch2 tensor to be: \[2, 4\] "
                                            r"but got: \[3, 4\]"):
        ng.bmm(ng.ones(2, 3, 4), ng.ones(3, 4, 5))
    with pytest.raises(RuntimeError, match=r"vector \+ matrix @ vector expected, got 1, 1, 1"):
        ng.mv(ng.ones(3), ng.ones(3))
    with pytest.raises(RuntimeError, match="1D tensors expected, but got 2D and 1D tensors"):
        ng.dot(ng.ones(3, 1), ng.ones(3))
    with pytest.raises(RuntimeError, match="dot : expected both vectors to have same dtype, but found Float and Double"):
        ng.dot(ng.ones(3), ng.ones(3, dtype=ng.float64))
    with pytest.raises(RuntimeError, match="outer: Expected 1-D argument self, but got 2-D"):
        ng.outer(ng.ones(3, 1), ng.ones(2))


def test_matmul_rejects_python_scalars():
    with pytest.raises(TypeError, match="matmul"):
        ng.ones(3) @ 2.0


# ---------------------------------------------------------------- values and dtypes

@pytest.mark.parametrize("dtype", [np.int64, np.int32])
@pytest.mark.parametrize("sa, sb", [((2, 3), (3, 4)), ((2, 2, 3), (3,)), ((3,), (3,)), ((2, 1, 2, 3), (3, 3, 2))])
def test_integer_matmul_matches_torch(dtype, sa, sb):
    rng = np.random.default_rng(1)
    a = rng.integers(-5, 5, sa).astype(dtype)
    b = rng.integers(-5, 5, sb).astype(dtype)
    out = ng.tensor(a) @ ng.tensor(b)
    expected = torch.from_numpy(a) @ torch.from_numpy(b)
    assert out.dtype.name == str(expected.dtype).split(".")[-1]
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


def test_integer_matmul_large_uses_parallel_kernel_correctly():
    a = np.arange(64 * 70, dtype=np.int64).reshape(64, 70) % 7
    b = np.arange(70 * 64, dtype=np.int64).reshape(70, 64) % 5
    np.testing.assert_array_equal((ng.tensor(a) @ ng.tensor(b)).numpy(), a @ b)


@pytest.mark.parametrize("sa, sb", [((0, 3), (3, 4)), ((2, 0), (0, 4)), ((2, 3), (3, 0)), ((0, 2, 3), (3, 4))])
def test_empty_operands(sa, sb):
    a, b = _pair(sa, sb)
    out = ng.tensor(a, requires_grad=True) @ ng.tensor(b)
    np.testing.assert_array_equal(out.detach().numpy(), a @ b)
    out.sum().backward()


def test_layouts_transposed_strided_and_broadcast_views():
    rng = np.random.default_rng(3)
    base_a, base_b = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 5, 4))
    cases = [
        (np.swapaxes(base_a, -1, -2), np.swapaxes(base_b, -1, -2)),  # both F-ordered matrices
        (base_a[:, ::2, :], np.asfortranarray(rng.standard_normal((6, 3)))),  # strided batch, F-ordered 2-D
        (np.broadcast_to(base_a[:1], (3, 4, 6)), base_a[0].T),  # stride-0 batch
    ]
    for a, b in cases:
        out = ng.from_numpy(a) @ ng.from_numpy(b)
        np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-12, atol=1e-12)


def test_rmatmul_with_numpy_array_and_methods():
    a, b = _pair((2, 3), (3, 4))
    x = ng.tensor(b)
    np.testing.assert_allclose((a @ x).numpy(), a @ b)
    np.testing.assert_allclose(ng.tensor(a).matmul(x).numpy(), a @ b)
    np.testing.assert_allclose(ng.tensor(a).mm(x).numpy(), a @ b)
    v = np.arange(3.0)
    assert ng.tensor(v).dot(ng.tensor(v)).item() == 5.0
    assert ng.tensor(v).outer(ng.tensor(v)).shape == (3, 3)


def test_outer_promotes_like_pytorch():
    out = ng.outer(ng.ones(3), ng.ones(2, dtype=ng.float64))
    assert out.dtype == ng.float64 and out.shape == (3, 2)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from([1, 2, 3]), min_size=0, max_size=3),
       st.lists(st.sampled_from([1, 2, 3]), min_size=0, max_size=3),
       st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))
def test_broadcast_batch_dims_match_numpy(batch_a, batch_b, m, k, n):
    batch_a, batch_b = tuple(batch_a), tuple(batch_b)
    try:
        np.broadcast_shapes(batch_a, batch_b)
    except ValueError:
        return
    a, b = _pair(batch_a + (m, k), batch_b + (k, n))
    np.testing.assert_allclose((ng.tensor(a) @ ng.tensor(b)).numpy(), a @ b, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- autograd

@pytest.mark.parametrize("sa, sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)),
                                    ((2, 2, 3), (2, 3, 4)), ((2, 2, 3), (3, 4)), ((2, 3), (2, 3, 4))])
def test_grad_fn_names_match_pytorch(sa, sb):
    a, b = _pair(sa, sb)
    out = ng.tensor(a, requires_grad=True) @ ng.tensor(b, requires_grad=True)
    expected = torch.tensor(a, requires_grad=True) @ torch.tensor(b, requires_grad=True)
    assert out.grad_fn.name() == expected.grad_fn.name()
    assert ng.bmm(ng.ones(2, 2, 3, requires_grad=True), ng.ones(2, 3, 1)).grad_fn.name() == "BmmBackward0"


@pytest.mark.parametrize("sa, sb", [((2, 3), (3, 2)), ((3,), (3,)), ((2, 2, 3), (3,)), ((2, 1, 2, 3), (3, 3, 2)),
                                    ((2, 2, 3), (3, 2))])
def test_matmul_gradgradcheck(sa, sb):
    a, b = _pair(sa, sb)
    x, y = ng.tensor(a, requires_grad=True), ng.tensor(b, requires_grad=True)
    assert ng.autograd.gradgradcheck(lambda p, q: p @ q, (x, y))


def test_hessian_vector_product_matches_torch():
    a, b = _pair((3, 3), (3,))
    x, tx = ng.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    v, tv = ng.tensor(b, requires_grad=True), torch.tensor(b, requires_grad=True)

    def energy(lib, m, w):
        return ((m @ w) * (m @ w)).sum()

    (g,) = ng.autograd.grad(energy(ng, x, v), (x,), create_graph=True)
    (tg,) = torch.autograd.grad(energy(torch, tx, tv), (tx,), create_graph=True)
    (g * g).sum().backward()
    (tg * tg).sum().backward()
    assert_close(x.grad, tx.grad, 1e-10, 1e-10)
    assert_close(v.grad, tv.grad, 1e-10, 1e-10)


def test_only_needed_gradient_is_computed_and_saved():
    a, b = _pair((2, 3), (3, 4))
    x, w = ng.tensor(a, requires_grad=True), ng.tensor(b)
    (x @ w).sum().backward()
    assert w.grad is None
    assert_close(x.grad, np.ones((2, 4)) @ b.T, 1e-12, 1e-12)


def test_inplace_modification_of_saved_operand_is_detected():
    x = ng.ones(2, 3, requires_grad=True)
    w = ng.ones(3, 2)
    out = x @ w
    with ng.no_grad():
        w.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


# ---------------------------------------------------------------- kernel paths

def test_loop_kernel_serves_floats_without_blas(monkeypatch):
    monkeypatch.setattr(mk, "BLAS_AVAILABLE", False)
    for sa, sb in [((2, 3), (3, 4)), ((2, 1, 2, 3), (3, 3, 2))]:
        a, b = _pair(sa, sb)
        np.testing.assert_allclose(mk.matmul_arrays(a, np.swapaxes(b.copy(), -1, -2).swapaxes(-1, -2)), a @ b,
                                   rtol=1e-12, atol=1e-12)


def test_matmul_arrays_is_callable_on_plain_arrays():
    a, b = _pair((4, 2, 3), (3, 5), dtype=np.float32)
    out = mk.matmul_arrays(a, b)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-6)
