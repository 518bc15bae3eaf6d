"""Numba kernels for cumulative products and cumulative log-sum-exp along the middle axis of ``(A, R, C)``.

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
