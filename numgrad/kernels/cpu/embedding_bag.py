"""Numba kernels of ``F.embedding_bag``: sums, means or maxima of bags of embedding rows, and their gradients.

Bags are given by ``bounds`` (int64, length bags + 1): bag ``b`` is ``idx[bounds[b]:bounds[b + 1]]``.
``mode`` is PyTorch's enum (0 sum, 1 mean, 2 max); entries equal to ``padding_idx`` (-1: none) are skipped and
not counted.  ``psw`` holds per-sample weights (length 0: none).  Every array is C-contiguous, float arrays of
one call share a dtype.  The scatters run serially, so repeated indices never race.

>>> import numpy as np
>>> from numgrad.kernels.cpu import embedding_bag as k
>>> w = np.arange(6.0).reshape(3, 2); out = np.empty((1, 2)); counts = np.empty(1, np.int64)
>>> k.bag_forward(w, np.array([0, 2]), np.array([0, 2]), np.empty(0), 0, -1, out, counts, np.empty((1, 2), np.int64))
>>> out
array([[4., 6.]])
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..config import FASTMATH

_OPTS = dict(cache=True, nogil=True, error_model="numpy", fastmath=set(FASTMATH))


@njit(**_OPTS)
def bag_forward(weight, idx, bounds, psw, mode, padding_idx, out, counts, argmax):
    """``out[b]``: the bag's sum / mean / elementwise max; ``counts[b]``: its non-padding entries; ``argmax[b, k]``
    (max mode): the weight row that gave ``out[b, k]`` (-1 for an empty bag, whose output is 0)."""
    dim = weight.shape[1]
    has_w = psw.shape[0] > 0
    for b in range(out.shape[0]):
        for k in range(dim):
            out[b, k] = 0
            argmax[b, k] = -1
        n = 0
        for i in range(bounds[b], bounds[b + 1]):
            row = idx[i]
            if row == padding_idx:
                continue
            n += 1
            if mode == 2:
                for k in range(dim):
                    v = weight[row, k]
                    if argmax[b, k] < 0 or v > out[b, k]:
                        out[b, k] = v
                        argmax[b, k] = row
            else:
                s = psw[i] if has_w else 1.0
                for k in range(dim):
                    out[b, k] += s * weight[row, k]
        counts[b] = n
        if mode == 1 and n > 0:
            for k in range(dim):
                out[b, k] /= n


@njit(**_OPTS)
def bag_weight_grad(g, idx, bounds, psw, mode, padding_idx, scale_grad_by_freq, counts, argmax, gw):
    """The weight's gradient: each entry's row gets its bag's gradient (times its per-sample weight, over the
    bag's count in mean mode, over the row's frequency in the input with ``scale_grad_by_freq``); in max mode
    only the rows that gave the maxima get it."""
    num, dim = gw.shape
    for r in range(num):
        for k in range(dim):
            gw[r, k] = 0
    if mode == 2:
        for b in range(g.shape[0]):
            for k in range(dim):
                r = argmax[b, k]
                if r >= 0:
                    gw[r, k] += g[b, k]
        return
    freq = np.zeros(num, np.int64)
    if scale_grad_by_freq:
        for i in range(bounds[0], bounds[g.shape[0]]):
            freq[idx[i]] += 1
    has_w = psw.shape[0] > 0
    for b in range(g.shape[0]):
        for i in range(bounds[b], bounds[b + 1]):
            row = idx[i]
            if row == padding_idx:
                continue
            s = psw[i] if has_w else 1.0
            if mode == 1:
                s = s / counts[b]
            if scale_grad_by_freq:
                s = s / freq[row]
            for k in range(dim):
                gw[row, k] += s * g[b, k]


@njit(**_OPTS)
def bag_per_sample_weights_grad(g, weight, idx, bounds, padding_idx, gpsw):
    """``gpsw[i]``: the dot product of entry ``i``'s bag gradient with its weight row (0 for padding entries and
    entries in no bag)."""
    for i in range(gpsw.shape[0]):
        gpsw[i] = 0
    for b in range(g.shape[0]):
        for i in range(bounds[b], bounds[b + 1]):
            row = idx[i]
            if row == padding_idx:
                continue
            acc = 0.0
            for k in range(weight.shape[1]):
                acc += g[b, k] * weight[row, k]
            gpsw[i] = acc


@njit(**_OPTS)
def embedding_renorm(weight, idx, max_norm, norm_type):
    """PyTorch's ``embedding_renorm_``: each row of ``weight`` that ``idx`` names and whose ``norm_type``-norm
    exceeds ``max_norm`` is scaled, in place, to norm ``max_norm`` (over norm + 1e-7)."""
    seen = np.zeros(weight.shape[0], np.bool_)
    dim = weight.shape[1]
    for i in range(idx.shape[0]):
        row = idx[i]
        if seen[row]:
            continue
        seen[row] = True
        norm = 0.0
        if math.isinf(norm_type):
            for k in range(dim):
                norm = max(norm, abs(weight[row, k]))
        else:
            for k in range(dim):
                norm += abs(weight[row, k]) ** norm_type
            norm = norm ** (1.0 / norm_type)
        if norm > max_norm:
            scale = max_norm / (norm + 1e-7)
            for k in range(dim):
                weight[row, k] *= scale


@njit(**_OPTS)
def bad_bounds(bounds, n):
    """-1 when ``bounds`` are non-decreasing and within [0, n], else the first position that is not."""
    for b in range(bounds.shape[0]):
        if bounds[b] < 0 or bounds[b] > n or (b > 0 and bounds[b] < bounds[b - 1]):
            return b
    return -1
