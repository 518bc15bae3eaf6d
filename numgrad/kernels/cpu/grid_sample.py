"""Numba kernels of ``F.grid_sample`` on 4-D input, PyTorch's CPU ``grid_sampler_2d`` and its backward.

``x`` is ``(N, C, H, W)``, ``grid`` ``(N, Ho, Wo, 2)`` with ``(x, y)`` in [-1, 1]; ``mode`` 0 bilinear, 1 nearest;
``padding`` 0 zeros, 1 border, 2 reflection (PyTorch's enums).  The coordinate helpers return the source
coordinate and its derivative with respect to the grid value, as PyTorch's ``*_set_grad`` helpers do.
The input gradient is a scatter, so the loops are serial.

>>> import numpy as np
>>> from numgrad.kernels.cpu import grid_sample as k
>>> x = np.arange(4.0).reshape(1, 1, 2, 2); out = np.empty((1, 1, 1, 1))
>>> k.grid_sample_forward(x, np.zeros((1, 1, 1, 2)), 0, 0, True, out); out  # the centre: mean of the four
array([[[[1.5]]]])
"""
from __future__ import annotations

import math

from numba import njit

_OPTS = dict(cache=True, nogil=True, error_model="numpy")


@njit(**_OPTS)
def _clip(v, size):
    """(clamped to [0, size - 1], derivative)."""
    if v <= 0:
        return 0.0, 0.0
    top = size - 1.0
    if v >= top:
        return top, 0.0
    return v, 1.0


@njit(**_OPTS)
def _reflect(v, twice_low, twice_high):
    """(v reflected into [twice_low / 2, twice_high / 2], derivative)."""
    if twice_low == twice_high:
        return 0.0, 0.0
    low = twice_low / 2.0
    span = (twice_high - twice_low) / 2.0
    sign = 1.0
    if v < low:
        sign = -1.0
        v = low - v
    else:
        v = v - low
    flips = math.floor(v / span)
    extra = v - flips * span  # fmod(v, span) for v >= 0 (numba has no math.fmod)
    flips = int(flips)
    if flips % 2 == 0:
        return extra + low, sign
    return span - extra + low, -sign


@njit(**_OPTS)
def _source_index(coord, size, padding, align_corners):
    """(source pixel coordinate of normalized ``coord``, its derivative): PyTorch's
    ``grid_sampler_compute_source_index_set_grad``."""
    if align_corners:
        mult = (size - 1) / 2.0
        v = (coord + 1.0) * mult
    else:
        mult = size / 2.0
        v = ((coord + 1.0) * size - 1.0) / 2.0
    if padding == 1:
        v, d = _clip(v, size)
        mult *= d
    elif padding == 2:
        if align_corners:
            v, d = _reflect(v, 0.0, 2.0 * (size - 1))
        else:
            v, d = _reflect(v, -1.0, 2.0 * size - 1.0)
        mult *= d
        v, d = _clip(v, size)
        mult *= d
    return v, mult


@njit(**_OPTS)
def _round_half_even(v):
    r = math.floor(v + 0.5)
    if r - v == 0.5 and r % 2 != 0:  # a tie: nearbyint rounds to even
        r -= 1.0
    return r


@njit(**_OPTS)
def grid_sample_forward(x, grid, mode, padding, align_corners, out):
    """``out[n, c, h, w]``: ``x[n, c]`` sampled at ``grid[n, h, w]`` (0 outside with zeros padding)."""
    N, C, H, W = x.shape
    for n in range(N):
        for h in range(out.shape[2]):
            for w in range(out.shape[3]):
                ix, _ = _source_index(grid[n, h, w, 0], W, padding, align_corners)
                iy, _ = _source_index(grid[n, h, w, 1], H, padding, align_corners)
                if mode == 1:
                    xn = int(_round_half_even(ix))
                    yn = int(_round_half_even(iy))
                    inside = 0 <= xn < W and 0 <= yn < H
                    for c in range(C):
                        out[n, c, h, w] = x[n, c, yn, xn] if inside else 0.0
                    continue
                x0 = int(math.floor(ix))
                y0 = int(math.floor(iy))
                x1 = x0 + 1
                y1 = y0 + 1
                wx1 = ix - x0
                wx0 = x1 - ix
                wy1 = iy - y0
                wy0 = y1 - iy
                in_x0 = 0 <= x0 < W
                in_x1 = 0 <= x1 < W
                in_y0 = 0 <= y0 < H
                in_y1 = 0 <= y1 < H
                for c in range(C):
                    acc = 0.0
                    if in_y0 and in_x0:
                        acc += x[n, c, y0, x0] * wx0 * wy0
                    if in_y0 and in_x1:
                        acc += x[n, c, y0, x1] * wx1 * wy0
                    if in_y1 and in_x0:
                        acc += x[n, c, y1, x0] * wx0 * wy1
                    if in_y1 and in_x1:
                        acc += x[n, c, y1, x1] * wx1 * wy1
                    out[n, c, h, w] = acc


@njit(**_OPTS)
def grid_sample_backward(g, x, grid, mode, padding, align_corners, need_input, need_grid, gx, ggrid):
    """``gx`` (shape of ``x``): the output gradient scattered to the pixels each sample read; ``ggrid``: the
    derivative of each sample with respect to its grid coordinates (0 in nearest mode)."""
    N, C, H, W = x.shape
    if need_input:
        for n in range(N):
            for c in range(C):
                for i in range(H):
                    for j in range(W):
                        gx[n, c, i, j] = 0.0
    for n in range(N):
        for h in range(g.shape[2]):
            for w in range(g.shape[3]):
                ix, mx = _source_index(grid[n, h, w, 0], W, padding, align_corners)
                iy, my = _source_index(grid[n, h, w, 1], H, padding, align_corners)
                if mode == 1:
                    if need_grid:
                        ggrid[n, h, w, 0] = 0.0
                        ggrid[n, h, w, 1] = 0.0
                    xn = int(_round_half_even(ix))
                    yn = int(_round_half_even(iy))
                    if need_input and 0 <= xn < W and 0 <= yn < H:
                        for c in range(C):
                            gx[n, c, yn, xn] += g[n, c, h, w]
                    continue
                x0 = int(math.floor(ix))
                y0 = int(math.floor(iy))
                x1 = x0 + 1
                y1 = y0 + 1
                wx1 = ix - x0
                wx0 = x1 - ix
                wy1 = iy - y0
                wy0 = y1 - iy
                in_x0 = 0 <= x0 < W
                in_x1 = 0 <= x1 < W
                in_y0 = 0 <= y0 < H
                in_y1 = 0 <= y1 < H
                gix = 0.0
                giy = 0.0
                for c in range(C):
                    go = g[n, c, h, w]
                    if in_y0 and in_x0:
                        v = x[n, c, y0, x0]
                        gix -= v * wy0 * go
                        giy -= v * wx0 * go
                        if need_input:
                            gx[n, c, y0, x0] += wx0 * wy0 * go
                    if in_y0 and in_x1:
                        v = x[n, c, y0, x1]
                        gix += v * wy0 * go
                        giy -= v * wx1 * go
                        if need_input:
                            gx[n, c, y0, x1] += wx1 * wy0 * go
                    if in_y1 and in_x0:
                        v = x[n, c, y1, x0]
                        gix -= v * wy1 * go
                        giy += v * wx0 * go
                        if need_input:
                            gx[n, c, y1, x0] += wx0 * wy1 * go
                    if in_y1 and in_x1:
                        v = x[n, c, y1, x1]
                        gix += v * wy1 * go
                        giy += v * wx1 * go
                        if need_input:
                            gx[n, c, y1, x1] += wx1 * wy1 * go
                if need_grid:
                    ggrid[n, h, w, 0] = mx * gix
                    ggrid[n, h, w, 1] = my * giy
