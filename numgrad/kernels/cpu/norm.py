"""Numba kernels of the normalization layers (batch norm, layer norm), embedding and dropout.

The CPU half of ``kernels/cuda/norm.py``, function for function (same names and
contracts; ``CpuBackend.norm_kernels`` / ``CudaBackend.norm_kernels`` return the
module for an array's device).  Every array argument is C-contiguous and float
arrays of one call share a dtype.  ``layer_norm_forward`` and
``dropout_forward`` have ``*_par`` variants (one ``prange`` loop compiled both
ways by ``variants.serial_and_parallel``) that split rows, so no two threads
write the same element.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..config import FASTMATH
from ..variants import serial_and_parallel

_OPTS = dict(cache=True, nogil=True, error_model="numpy", fastmath=set(FASTMATH))


# ----------------------------------------------------------------- batch norm
@njit(**_OPTS)
def batch_norm_stats(x, mean, var):
    """Per-channel mean and biased variance of x (N, C, L); two passes in float64."""
    n_img, C, L = x.shape
    count = n_img * L
    for c in range(C):
        acc = 0.0
        for n in range(n_img):
            for p in range(L):
                acc += x[n, c, p]
        m = acc / count
        acc2 = 0.0
        for n in range(n_img):
            for p in range(L):
                d = x[n, c, p] - m
                acc2 += d * d
        mean[c] = m
        var[c] = acc2 / count


@njit(**_OPTS)
def batch_norm_apply(x, mean, invstd, w, b, out):
    """out = (x - mean[c]) * invstd[c] * w[c] + b[c] for x (N, C, L)."""
    n_img, C, L = x.shape
    for n in range(n_img):
        for c in range(C):
            scale = invstd[c] * w[c]
            shift = b[c] - mean[c] * scale
            for p in range(L):
                out[n, c, p] = x[n, c, p] * scale + shift


@njit(**_OPTS)
def batch_norm_update_running(running_mean, running_var, mean, var, count, momentum):
    """Exponential moving averages; the running variance takes the unbiased batch variance."""
    unbias = count / (count - 1) if count > 1 else 1.0
    for c in range(mean.shape[0]):
        running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean[c]
        running_var[c] = (1 - momentum) * running_var[c] + momentum * var[c] * unbias


@njit(**_OPTS)
def batch_norm_backward(g, x, mean, invstd, w, training, gx, gw, gb):
    """Gradients of batch norm; in training the batch statistics depend on x."""
    n_img, C, L = x.shape
    count = n_img * L
    for c in range(C):
        sum_g = 0.0
        sum_gxhat = 0.0
        for n in range(n_img):
            for p in range(L):
                gv = g[n, c, p]
                sum_g += gv
                sum_gxhat += gv * (x[n, c, p] - mean[c]) * invstd[c]
        gw[c] = sum_gxhat
        gb[c] = sum_g
        scale = w[c] * invstd[c]
        if training:
            mean_g = sum_g / count
            mean_gxhat = sum_gxhat / count
            for n in range(n_img):
                for p in range(L):
                    xhat = (x[n, c, p] - mean[c]) * invstd[c]
                    gx[n, c, p] = scale * (g[n, c, p] - mean_g - xhat * mean_gxhat)
        else:
            for n in range(n_img):
                for p in range(L):
                    gx[n, c, p] = scale * g[n, c, p]


# ----------------------------------------------------------------- layer norm
@njit(**_OPTS)
def _layer_norm_row(x, w, b, eps, out, mean, rstd, r):
    D = x.shape[1]
    acc = 0.0
    for k in range(D):
        acc += x[r, k]
    m = acc / D
    acc2 = 0.0
    for k in range(D):
        d = x[r, k] - m
        acc2 += d * d
    s = 1.0 / math.sqrt(acc2 / D + eps)
    mean[r] = m
    rstd[r] = s
    for k in range(D):
        out[r, k] = (x[r, k] - m) * s * w[k] + b[k]


def layer_norm_forward(x, w, b, eps, out, mean, rstd):
    """Normalize each row of x (R, D) into out; its mean and 1/std go to mean[r] and rstd[r]."""
    for r in prange(x.shape[0]):
        # int64 for range's and prange's index alike: one compilation of the row helper
        _layer_norm_row(x, w, b, eps, out, mean, rstd, np.int64(r))


layer_norm_forward, layer_norm_forward_par = serial_and_parallel(layer_norm_forward, **_OPTS)


@njit(**_OPTS)
def layer_norm_backward(g, x, mean, rstd, w, gx, gw, gb):
    R, D = x.shape
    for k in range(D):
        gw[k] = 0
        gb[k] = 0
    for r in range(R):
        m = mean[r]
        s = rstd[r]
        # the row sums in a loop of their own: summed in the loop that also stores gw/gb, they changed in their
        # last bit with where the arrays lie (LLVM's runtime overlap check picks the vector or the scalar sum)
        sum_gw = 0.0
        sum_gw_xhat = 0.0
        for k in range(D):
            xhat = (x[r, k] - m) * s
            gv = g[r, k]
            sum_gw += gv * w[k]
            sum_gw_xhat += gv * w[k] * xhat
        for k in range(D):
            xhat = (x[r, k] - m) * s
            gv = g[r, k]
            gw[k] += gv * xhat
            gb[k] += gv
        mean_gw = sum_gw / D
        mean_gw_xhat = sum_gw_xhat / D
        for k in range(D):
            xhat = (x[r, k] - m) * s
            gx[r, k] = s * (g[r, k] * w[k] - mean_gw - xhat * mean_gw_xhat)


# ----------------------------------------------------------------- embedding
@njit(**_OPTS)
def first_bad_index(idx, n):
    """Position of the first index outside [0, n), or -1."""
    for i in range(idx.shape[0]):
        if idx[i] < 0 or idx[i] >= n:
            return i
    return -1


@njit(**_OPTS)
def embedding_forward(weight, idx, out):
    for i in range(idx.shape[0]):
        row = idx[i]
        for k in range(weight.shape[1]):
            out[i, k] = weight[row, k]


@njit(**_OPTS)
def embedding_backward(g, idx, padding_idx, gw):
    """Scatter-add rows of g into gw; serial, so repeated indices never race."""
    for r in range(gw.shape[0]):
        for k in range(gw.shape[1]):
            gw[r, k] = 0
    for i in range(idx.shape[0]):
        row = idx[i]
        if row == padding_idx:
            continue
        for k in range(gw.shape[1]):
            gw[row, k] += g[i, k]


# ----------------------------------------------------------------- dropout
def dropout_forward(x, u, p, scale, out, mask):
    """Keep an element where u >= p; kept elements are scaled by 1 / (1 - p)."""
    for i in prange(x.shape[0]):
        m = scale if u[i] >= p else 0.0
        mask[i] = m
        out[i] = x[i] * m


dropout_forward, dropout_forward_par = serial_and_parallel(dropout_forward, **_OPTS)


@njit(**_OPTS)
def rsqrt_eps(var, eps, out):
    """out = 1 / sqrt(var + eps)."""
    for c in range(var.shape[0]):
        out[c] = 1.0 / math.sqrt(var[c] + eps)
