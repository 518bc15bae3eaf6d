"""Numba kernels for cumulative products, log-sum-exp and max/min along the middle axis of ``(A, R, C)``.

The ops layer lays the scanned dimension out as the middle axis with ``map_reduce.prepare``
(``numgrad/ops/scan.py``); ``cumsum`` has its own kernels in ``map_reduce.py``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_OPTS = dict(cache=True, nogil=True)


@njit(parallel=True, **_OPTS)
def cumprod3(x3, out):
    """out[a, r, c] = prod(x3[a, :r+1, c])."""
    n_a, n_r, n_c = x3.shape
    for a in prange(n_a):
        for c in range(n_c):
            acc = out.dtype.type(1)
            for r in range(n_r):
                acc = acc * x3[a, r, c]
                out[a, r, c] = acc


@njit(parallel=True, **_OPTS)
def logcumsumexp3(x3, out):
    """out[a, r, c] = log(sum(exp(x3[a, :r+1, c]))), one running log-add-exp (no overflow)."""
    n_a, n_r, n_c = x3.shape
    for a in prange(n_a):
        for c in range(n_c):
            acc = -np.inf
            for r in range(n_r):
                v = x3[a, r, c]
                if v != v or acc != acc:
                    acc = v + acc  # NaN propagates
                else:
                    hi = max(acc, v)
                    lo = min(acc, v)
                    if hi == -np.inf:
                        acc = -np.inf
                    elif hi == np.inf:
                        acc = np.inf
                    else:
                        acc = hi + math.log1p(math.exp(lo - hi))
                out[a, r, c] = acc


@njit(parallel=True, **_OPTS)
def cumextreme3(x3, values, indices, take_max):
    """Running max (``take_max``) or min along the middle axis with the index it came from: a later equal
    value takes over (PyTorch's ``>=``), and the first NaN wins for good."""
    n_a, n_r, n_c = x3.shape
    for a in prange(n_a):
        for c in range(n_c):
            best = x3[a, 0, c]
            where = 0
            for r in range(n_r):
                v = x3[a, r, c]
                if best == best:  # no NaN yet
                    if v != v or (v >= best if take_max else v <= best):
                        best = v
                        where = r
                values[a, r, c] = best
                indices[a, r, c] = where
