"""``kernels/cpu/blas.py``: gemm on strided blocks and transposes, accumulation, the split over threads,
and the layer kernels that use it above their parallel threshold (checked against NumPy and PyTorch)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad.kernels.cpu import blas
from tests.helpers import assert_close

RNG = np.random.default_rng(0)


def _layouts(m):
    """The same matrix as C order, F order (a transpose's layout), a column block, and reversed columns."""
    padded = np.zeros((m.shape[0], m.shape[1] + 5), m.dtype)
    padded[:, 2:2 + m.shape[1]] = m
    return {"C": m, "F": np.asfortranarray(m), "block": padded[:, 2:2 + m.shape[1]],
            "reversed": np.ascontiguousarray(m[:, ::-1])[:, ::-1]}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 7, 3), (1, 4, 6), (6, 4, 1), (1, 1, 1)])
def test_gemm_every_operand_layout_with_alpha_and_beta(shape, dtype):
    m, k, n = shape
    a, b = RNG.standard_normal((m, k)).astype(dtype), RNG.standard_normal((k, n)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a_name, a_view in _layouts(a).items():
        for b_name, b_view in _layouts(b).items():
            c0 = RNG.standard_normal((m, n)).astype(dtype)
            c = c0.copy()
            blas.gemm(a_view, b_view, c, 2.0, 0.5)
            np.testing.assert_allclose(c, 2 * (a @ b) + 0.5 * c0, rtol=tol, atol=tol, err_msg=f"{a_name} x {b_name}")


def test_gemm_writes_only_its_block_of_a_bigger_output():
    a, b = RNG.standard_normal((4, 3)), RNG.standard_normal((3, 5))
    out = np.full((4, 9), 7.0)
    blas.gemm(a, b, out[:, 2:7], 1.0, 0.0)
    np.testing.assert_allclose(out[:, 2:7], a @ b, rtol=1e-12)
    assert (out[:, :2] == 7).all() and (out[:, 7:] == 7).all()


def test_gemm_with_empty_inner_dimension_scales_the_output():
    out = np.ones((2, 3))
    blas.gemm(np.empty((2, 0)), np.empty((0, 3)), out, 1.0, 0.5)
    assert (out == 0.5).all()
    blas.gemm(np.empty((2, 0)), np.empty((0, 3)), out, 1.0, 0.0)
    assert (out == 0).all()


@pytest.mark.parametrize("shape", [(40, 30, 200), (200, 30, 40), (33, 17, 33)])
@pytest.mark.parametrize("parts", [2, 3])
def test_split_gemm_equals_one_gemm(shape, parts):
    """Column blocks (M <= N) or row blocks, including a ragged last block, give one gemm's result."""
    m, k, n = shape
    a, b = RNG.standard_normal((m, k)), RNG.standard_normal((k, n))
    whole = np.empty((m, n))
    split = np.empty((m, n))
    blas.gemm(a, b.T.copy().T, whole, 1.0, 0.0)
    blas.gemm_parallel(a, b.T.copy().T, split, 1.0, 0.0, parts)
    np.testing.assert_allclose(split, whole, rtol=1e-12, atol=1e-12)


def test_matmul_into_accumulates_and_threads_large_products():
    a, b = RNG.standard_normal((256, 128)).astype(np.float32), RNG.standard_normal((128, 300)).astype(np.float32)
    assert blas.gemm_parts(256, 300, 128) == min(ng.get_num_threads(), 300 // 16) or ng.get_num_threads() == 1
    out = np.ones((256, 300), np.float32)
    blas.matmul_into(a, b, out, accumulate=True)
    np.testing.assert_allclose(out, a @ b + 1, rtol=1e-4, atol=1e-4)
    assert blas.gemm_parts(4, 4, 4) == 1


def test_large_linear_uses_threads_and_matches_torch():
    x = RNG.standard_normal((128, 300)).astype(np.float32)
    w = RNG.standard_normal((200, 300)).astype(np.float32)
    bias = RNG.standard_normal(200).astype(np.float32)
    assert blas.gemm_parts(128, 200, 300) > 1 or ng.get_num_threads() == 1
    a, wa, ba = (ng.tensor(v, requires_grad=True) for v in (x, w, bias))
    out = ng.nn.functional.linear(a, wa, ba)
    t, wt, bt = (torch.tensor(v, requires_grad=True) for v in (x, w, bias))
    expected = torch.nn.functional.linear(t, wt, bt)
    assert_close(out, expected, 1e-4, 1e-4)
    g = RNG.standard_normal((128, 200)).astype(np.float32)
    out.backward(ng.tensor(g))
    expected.backward(torch.tensor(g))
    for ours, theirs in ((a, t), (wa, wt), (ba, bt)):
        assert_close(ours.grad, theirs.grad, 1e-3, 1e-3)


@pytest.mark.parametrize("kwargs", [dict(padding=1), dict(stride=2, padding=2, dilation=2), dict(groups=2, padding=1)])
def test_conv2d_parallel_over_images_matches_torch_and_is_deterministic(kwargs):
    """A batch big enough for the per-image parallel kernels; the weight gradient's partial sums are added
    in a fixed order, so two runs give identical bits."""
    from numgrad.kernels.cpu.backend import conv_plan as _conv_plan

    x = RNG.standard_normal((8, 8, 40, 40)).astype(np.float32)
    w = RNG.standard_normal((16, 8 // kwargs.get("groups", 1), 3, 3)).astype(np.float32)
    bias = RNG.standard_normal(16).astype(np.float32)
    s, p, d = kwargs.get("stride", 1), kwargs.get("padding", 0), kwargs.get("dilation", 1)
    out_hw = ((40 + 2 * p - d * 2 - 1) // s + 1,) * 2
    geo = (s, s, p, p, d, d, kwargs.get("groups", 1))
    assert _conv_plan(x.shape, w.shape, geo, out_hw)[1] > 1 or ng.get_num_threads() == 1
    grads = []
    for _ in range(2):
        a, wa, ba = (ng.tensor(v, requires_grad=True) for v in (x, w, bias))
        out = ng.nn.functional.conv2d(a, wa, ba, **kwargs)
        (out * out).sum().backward()
        grads.append((out.detach().numpy(), a.grad.numpy(), wa.grad.numpy(), ba.grad.numpy()))
    for first, second in zip(*grads):
        np.testing.assert_array_equal(first, second)
    t, wt, bt = (torch.tensor(v, requires_grad=True) for v in (x, w, bias))
    expected = torch.nn.functional.conv2d(t, wt, bt, **kwargs)
    (expected * expected).sum().backward()
    out, gx, gw, gb = grads[0]
    scale = float(np.abs(expected.detach().numpy()).max())
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-4, atol=1e-4 * scale)
    for ours, theirs in ((gx, t.grad), (gw, wt.grad), (gb, bt.grad)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-3, atol=1e-3 * float(np.abs(theirs.numpy()).max()))
