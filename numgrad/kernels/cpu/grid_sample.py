"""Numba kernels of ``F.grid_sample``: PyTorch's CPU ``grid_sampler_2d`` / ``grid_sampler_3d`` and their backwards.

``x`` is ``(N, C, H, W)``, ``grid`` ``(N, Ho, Wo, 2)`` with ``(x, y)`` in [-1, 1]; ``mode`` 0 bilinear, 1 nearest;
``padding`` 0 zeros, 1 border, 2 reflection (PyTorch's enums).  The coordinate helpers return the source
coordinate and its derivative with respect to the grid value, as PyTorch's ``*_set_grad`` helpers do.
The ``*3d`` kernels take ``(N, C, D, H, W)`` input and an ``(x, y, z)`` grid.  The input gradient is a scatter,
so the loops are serial.

>>> import numpy as np
>>> from numgrad.kernels.cpu import grid_sample as k
>>> x = np.arange(4.0).reshape(1, 1, 2, 2); out = np.empty((1, 1, 1, 1))
>>> k.grid_sample_forward(x, np.zeros((1, 1, 1, 2)), 0, 0, True, out); out  # the centre: mean of the four
array([[[[1.5]]]])
"""
from __future__ import annotations

import math

import numpy as np
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


# ----------------------------------------------------------------- 5-D input (volumetric): trilinear / nearest
@njit(**_OPTS)
def _corner(i, lo_x, lo_y, lo_z, ix, iy, iz):
    """Corner ``i`` (bits: x, y, z) of the cell at (lo_x, lo_y, lo_z): its indices, its three 1-D weights and
    the signs of their derivatives."""
    bx, by, bz = i & 1, (i >> 1) & 1, (i >> 2) & 1
    cx, cy, cz = lo_x + bx, lo_y + by, lo_z + bz
    wx = ix - lo_x if bx else lo_x + 1 - ix
    wy = iy - lo_y if by else lo_y + 1 - iy
    wz = iz - lo_z if bz else lo_z + 1 - iz
    return cx, cy, cz, wx, wy, wz, 2.0 * bx - 1.0, 2.0 * by - 1.0, 2.0 * bz - 1.0


@njit(**_OPTS)
def grid_sample3d_forward(x, grid, mode, padding, align_corners, out):
    """``out[n, c, d, h, w]``: ``x[n, c]`` (``(D, H, W)``) sampled at ``grid[n, d, h, w]`` = (x, y, z)."""
    N, C, D, H, W = x.shape
    for n in range(N):
        for d in range(out.shape[2]):
            for h in range(out.shape[3]):
                for w in range(out.shape[4]):
                    ix, _ = _source_index(grid[n, d, h, w, 0], W, padding, align_corners)
                    iy, _ = _source_index(grid[n, d, h, w, 1], H, padding, align_corners)
                    iz, _ = _source_index(grid[n, d, h, w, 2], D, padding, align_corners)
                    for c in range(C):
                        out[n, c, d, h, w] = 0.0
                    if mode == 1:
                        xn = int(_round_half_even(ix))
                        yn = int(_round_half_even(iy))
                        zn = int(_round_half_even(iz))
                        if 0 <= xn < W and 0 <= yn < H and 0 <= zn < D:
                            for c in range(C):
                                out[n, c, d, h, w] = x[n, c, zn, yn, xn]
                        continue
                    lo_x = int(math.floor(ix))
                    lo_y = int(math.floor(iy))
                    lo_z = int(math.floor(iz))
                    for i in range(8):
                        cx, cy, cz, wx, wy, wz, _, _, _ = _corner(i, lo_x, lo_y, lo_z, ix, iy, iz)
                        if 0 <= cx < W and 0 <= cy < H and 0 <= cz < D:
                            wt = wx * wy * wz
                            for c in range(C):
                                out[n, c, d, h, w] += x[n, c, cz, cy, cx] * wt


@njit(**_OPTS)
def grid_sample3d_backward(g, x, grid, mode, padding, align_corners, need_input, need_grid, gx, ggrid):
    """The 5-D counterpart of ``grid_sample_backward``."""
    N, C, D, H, W = x.shape
    if need_input:
        for n in range(N):
            for c in range(C):
                for k in range(D):
                    for i in range(H):
                        for j in range(W):
                            gx[n, c, k, i, j] = 0.0
    for n in range(N):
        for d in range(g.shape[2]):
            for h in range(g.shape[3]):
                for w in range(g.shape[4]):
                    ix, mx = _source_index(grid[n, d, h, w, 0], W, padding, align_corners)
                    iy, my = _source_index(grid[n, d, h, w, 1], H, padding, align_corners)
                    iz, mz = _source_index(grid[n, d, h, w, 2], D, padding, align_corners)
                    if mode == 1:
                        if need_grid:
                            for a in range(3):
                                ggrid[n, d, h, w, a] = 0.0
                        xn = int(_round_half_even(ix))
                        yn = int(_round_half_even(iy))
                        zn = int(_round_half_even(iz))
                        if need_input and 0 <= xn < W and 0 <= yn < H and 0 <= zn < D:
                            for c in range(C):
                                gx[n, c, zn, yn, xn] += g[n, c, d, h, w]
                        continue
                    lo_x = int(math.floor(ix))
                    lo_y = int(math.floor(iy))
                    lo_z = int(math.floor(iz))
                    gix = 0.0
                    giy = 0.0
                    giz = 0.0
                    for i in range(8):
                        cx, cy, cz, wx, wy, wz, sx, sy, sz = _corner(i, lo_x, lo_y, lo_z, ix, iy, iz)
                        if not (0 <= cx < W and 0 <= cy < H and 0 <= cz < D):
                            continue
                        for c in range(C):
                            go = g[n, c, d, h, w]
                            v = x[n, c, cz, cy, cx] * go
                            gix += sx * wy * wz * v
                            giy += sy * wx * wz * v
                            giz += sz * wx * wy * v
                            if need_input:
                                gx[n, c, cz, cy, cx] += wx * wy * wz * go
                    if need_grid:
                        ggrid[n, d, h, w, 0] = mx * gix
                        ggrid[n, d, h, w, 1] = my * giy
                        ggrid[n, d, h, w, 2] = mz * giz


# ----------------------------------------------------------------- 4-D bicubic (PyTorch's A = -0.75 convolution)
_A = -0.75


@njit(**_OPTS)
def _cubic_coefficients(t, out):
    """The four cubic-convolution weights of taps -1, 0, 1, 2 at fraction ``t`` (PyTorch's
    ``get_cubic_upsample_coefficients``)."""
    x = t + 1.0
    out[0] = ((_A * x - 5.0 * _A) * x + 8.0 * _A) * x - 4.0 * _A
    out[1] = ((_A + 2.0) * t - (_A + 3.0)) * t * t + 1.0
    x = 1.0 - t
    out[2] = ((_A + 2.0) * x - (_A + 3.0)) * x * x + 1.0
    x = 2.0 - t
    out[3] = ((_A * x - 5.0 * _A) * x + 8.0 * _A) * x - 4.0 * _A


@njit(**_OPTS)
def _cubic_coefficients_grad(t, out):
    """PyTorch's ``get_cubic_coefficients_grad`` (its sign convention: the backward subtracts these)."""
    x = -1.0 - t
    out[0] = (-3.0 * _A * x - 10.0 * _A) * x - 8.0 * _A
    x = -t
    out[1] = (-3.0 * (_A + 2.0) * x - 2.0 * (_A + 3.0)) * x
    x = 1.0 - t
    out[2] = (3.0 * (_A + 2.0) * x - 2.0 * (_A + 3.0)) * x
    x = 2.0 - t
    out[3] = (3.0 * _A * x - 10.0 * _A) * x + 8.0 * _A


@njit(**_OPTS)
def _tap(v, size, padding, align_corners):
    """Index of tap coordinate ``v`` after padding (PyTorch's ``get_value_bounded``), -1 when it lies outside."""
    if padding == 1:
        v, _ = _clip(v, size)
    elif padding == 2:
        if align_corners:
            v, _ = _reflect(v, 0.0, 2.0 * (size - 1))
        else:
            v, _ = _reflect(v, -1.0, 2.0 * size - 1.0)
        v, _ = _clip(v, size)
    i = int(v)  # truncation, as PyTorch's static_cast
    return i if 0 <= i < size else -1


@njit(**_OPTS)
def _unnormalize(coord, size, align_corners):
    """(pixel coordinate of normalized ``coord``, its derivative), no padding (bicubic pads per tap)."""
    if align_corners:
        return (coord + 1.0) * (size - 1) / 2.0, (size - 1) / 2.0
    return ((coord + 1.0) * size - 1.0) / 2.0, size / 2.0


@njit(**_OPTS)
def grid_sample_bicubic_forward(x, grid, padding, align_corners, out):
    """``out[n, c, h, w]``: the 4 x 4 cubic convolution of ``x[n, c]`` around ``grid[n, h, w]``."""
    N, C, H, W = x.shape
    cx = np.empty(4)
    cy = np.empty(4)
    for n in range(N):
        for h in range(out.shape[2]):
            for w in range(out.shape[3]):
                ix, _ = _unnormalize(grid[n, h, w, 0], W, align_corners)
                iy, _ = _unnormalize(grid[n, h, w, 1], H, align_corners)
                x0 = math.floor(ix)
                y0 = math.floor(iy)
                _cubic_coefficients(ix - x0, cx)
                _cubic_coefficients(iy - y0, cy)
                for c in range(C):
                    out[n, c, h, w] = 0.0
                for j in range(4):
                    r = _tap(y0 - 1 + j, H, padding, align_corners)
                    if r < 0:
                        continue
                    for i in range(4):
                        q = _tap(x0 - 1 + i, W, padding, align_corners)
                        if q < 0:
                            continue
                        wt = cx[i] * cy[j]
                        for c in range(C):
                            out[n, c, h, w] += x[n, c, r, q] * wt


@njit(**_OPTS)
def grid_sample_bicubic_backward(g, x, grid, padding, align_corners, need_input, need_grid, gx, ggrid):
    """The bicubic backward: each tap's weight times the output gradient scattered to its pixel; the grid
    gradient through the derivatives of the cubic weights."""
    N, C, H, W = x.shape
    cx = np.empty(4)
    cy = np.empty(4)
    dx = np.empty(4)
    dy = np.empty(4)
    if need_input:
        for n in range(N):
            for c in range(C):
                for i in range(H):
                    for j in range(W):
                        gx[n, c, i, j] = 0.0
    for n in range(N):
        for h in range(g.shape[2]):
            for w in range(g.shape[3]):
                ix, mx = _unnormalize(grid[n, h, w, 0], W, align_corners)
                iy, my = _unnormalize(grid[n, h, w, 1], H, align_corners)
                x0 = math.floor(ix)
                y0 = math.floor(iy)
                _cubic_coefficients(ix - x0, cx)
                _cubic_coefficients(iy - y0, cy)
                _cubic_coefficients_grad(ix - x0, dx)
                _cubic_coefficients_grad(iy - y0, dy)
                gix = 0.0
                giy = 0.0
                for j in range(4):
                    r = _tap(y0 - 1 + j, H, padding, align_corners)
                    if r < 0:
                        continue
                    for i in range(4):
                        q = _tap(x0 - 1 + i, W, padding, align_corners)
                        if q < 0:
                            continue
                        for c in range(C):
                            go = g[n, c, h, w]
                            v = x[n, c, r, q] * go
                            gix -= v * dx[i] * cy[j]
                            giy -= v * dy[j] * cx[i]
                            if need_input:
                                gx[n, c, r, q] += cx[i] * cy[j] * go
                if need_grid:
                    ggrid[n, h, w, 0] = mx * gix
                    ggrid[n, h, w, 1] = my * giy
