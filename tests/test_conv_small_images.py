"""The CPU conv2d and max_pool2d kernels' small-image paths (``numgrad/kernels/cpu/conv.py``).

conv2d puts images of at most ``SMALL_IMAGE_PIXELS`` output pixels side by side in one column block (a gather
through a tap table, one gemm per block) and keeps a gemm per image above that; max_pool2d scans windows inside
the plane through tap offsets and the others with the general bounds-checked scan.  Each path is checked
against torch and finite differences on both sides of its threshold, with partial blocks, groups, strides,
dilation and padding.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng
import numgrad.nn.functional as F
from numgrad.kernels.cpu import conv as K

RNG = np.random.default_rng(17)


# (N, C, H, W, OC, kwargs): the first three take the block path (<= 64 output pixels), the last one a gemm per image
CONV_CASES = [
    (35, 2, 8, 8, 3, dict(padding=1)),  # 64 pixels: blocks of 32 images, then a partial block of 3
    (5, 4, 7, 5, 4, dict(stride=2, padding=(1, 2), dilation=(2, 1), groups=2)),
    (3, 3, 4, 4, 2, dict(padding=0)),  # 2x2 outputs, no padding
    (3, 2, 9, 9, 3, dict(padding=1)),  # 81 pixels: one image per gemm
]


@pytest.mark.parametrize("n, c, h, w, oc, kwargs", CONV_CASES)
def test_conv2d_blocks_match_torch(n, c, h, w, oc, kwargs):
    groups = kwargs.get("groups", 1)
    x = RNG.standard_normal((n, c, h, w))
    wt = RNG.standard_normal((oc, c // groups, 3, 3))
    b = RNG.standard_normal(oc)
    ours = [ng.tensor(v, requires_grad=True) for v in (x, wt, b)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (x, wt, b)]
    out = F.conv2d(*ours, **kwargs)
    expected = torch.nn.functional.conv2d(*theirs, **kwargs)
    pixels = expected.shape[2] * expected.shape[3]
    assert (K.images_per_block(pixels, c * 9, n) > 1) == (pixels <= K.SMALL_IMAGE_PIXELS) == (h < 9)
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-10)
    g = RNG.standard_normal(expected.shape)
    out.backward(ng.tensor(g))
    expected.backward(torch.tensor(g))
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-10)
    # no bias: the block path's other output copy
    np.testing.assert_allclose(F.conv2d(ours[0], ours[1], **kwargs).detach().numpy(),
                               torch.nn.functional.conv2d(theirs[0], theirs[1], **kwargs).detach().numpy(),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("h", [4, 9], ids=["block", "per-image"])
def test_conv2d_gradcheck_both_sides_of_the_block_threshold(h):
    x = ng.tensor(RNG.standard_normal((3, 2, h, h)), requires_grad=True)
    w = ng.tensor(RNG.standard_normal((2, 1, 3, 3)), requires_grad=True)
    b = ng.tensor(RNG.standard_normal(2), requires_grad=True)
    assert ng.autograd.gradcheck(lambda a, k, c: F.conv2d(a, k, c, padding=1, groups=2), (x, w, b))


def test_conv2d_block_kernels_split_over_parts_match_serial():
    """The parallel variants hand each part a range of images, so blocks start mid-batch."""
    x = RNG.standard_normal((11, 3, 5, 5)).astype(np.float32)
    w2 = RNG.standard_normal((4, 27)).astype(np.float32)
    b = RNG.standard_normal(4).astype(np.float32)
    geo = (3, 3, 1, 1, 1, 1, 1, 1, 1, 5, 5)
    out, out_par = np.empty((11, 4, 25), np.float32), np.full((11, 4, 25), np.nan, np.float32)
    K.conv_forward(x, w2, b, True, geo, out)
    K.conv_forward_par(x, w2, b, True, geo, out_par, 3)
    np.testing.assert_allclose(out_par, out, rtol=1e-5, atol=1e-5)
    g = RNG.standard_normal((11, 4, 25)).astype(np.float32)
    gx, gx_par = np.empty_like(x), np.full_like(x, np.nan)
    K.conv_input_grad(g, w2, geo, gx)
    K.conv_input_grad_par(g, w2, geo, gx_par, 3)
    np.testing.assert_allclose(gx_par, gx, rtol=1e-5, atol=1e-5)
    gw, gw_par = np.empty_like(w2), np.full_like(w2, np.nan)
    K.conv_weight_grad(x, g, geo, gw)
    K.conv_weight_grad_par(x, g, geo, gw_par, 3)
    np.testing.assert_allclose(gw_par, gw, rtol=1e-4, atol=1e-4)
    expected = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w2.reshape(4, 3, 3, 3)), torch.tensor(b),
                                          padding=1)
    np.testing.assert_allclose(out.reshape(expected.shape), expected.numpy(), rtol=1e-5, atol=1e-5)


POOL_CASES = [
    dict(kernel_size=2),  # every window inside
    dict(kernel_size=3, stride=2, padding=1),  # a border of padded windows
    dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1), ceil_mode=True),  # windows past the edge
    dict(kernel_size=3, stride=1, padding=1, dilation=2),
    dict(kernel_size=4, stride=3, padding=2),  # windows wider than the plane's inside
]


@pytest.mark.parametrize("kwargs", POOL_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_pool2d_inside_and_border_windows_match_torch(kwargs, dtype):
    x = RNG.standard_normal((2, 3, 7, 8)).astype(dtype)
    x[0, 0, 1, 1] = x[1, 2, 4, 5] = x[1, 2, 4, 6] = np.nan  # NaN wins, the last one of a window
    x[0, 1, 2, :] = -np.inf
    x[1, 1] = np.round(x[1, 1])  # ties: the first maximum wins
    out, idx = F.max_pool2d(ng.tensor(x), return_indices=True, **kwargs)
    t_out, t_idx = torch.nn.functional.max_pool2d(torch.tensor(x), return_indices=True, **kwargs)
    np.testing.assert_array_equal(out.numpy(), t_out.numpy())
    np.testing.assert_array_equal(idx.numpy(), t_idx.numpy())


def test_max_pool2d_gradcheck_and_parts():
    x = ng.tensor(RNG.standard_normal((2, 2, 6, 5)), requires_grad=True)
    assert ng.autograd.gradcheck(lambda a: F.max_pool2d(a, 3, stride=2, padding=1), (x,))
    # the parallel variant's blocks of planes give the serial variant's bits
    xs = RNG.standard_normal((3, 5, 9, 9)).astype(np.float32)
    out, idx = np.empty((3, 5, 5, 5), np.float32), np.empty((3, 5, 5, 5), np.int64)
    out_par, idx_par = np.full_like(out, np.nan), np.full_like(idx, -7)
    K.max_pool2d_forward(xs, 3, 3, 2, 2, 1, 1, 1, 1, out, idx)
    K.max_pool2d_forward_par(xs, 3, 3, 2, 2, 1, 1, 1, 1, out_par, idx_par, 4)
    np.testing.assert_array_equal(out_par, out)
    np.testing.assert_array_equal(idx_par, idx)
