"""Numba kernels for drawing categories: ``multinomial`` with and without replacement.

Uniform numbers come from numgrad's generator (``numgrad.manual_seed``) and are passed in,
so a seed reproduces the draws; the kernels turn them into categories.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

_OPTS = dict(cache=True, nogil=True)


@njit(parallel=True, **_OPTS)
def multinomial_rows(weights, uniforms, replacement):
    """Draw ``uniforms.shape[1]`` categories from each row of non-negative ``weights`` (rows, k).

    With replacement every draw walks the row's cumulative weights; without, a drawn
    category's weight is set to zero before the next draw.  Returns int64 (rows, n)."""
    rows, k = weights.shape
    n = uniforms.shape[1]
    out = np.empty((rows, n), dtype=np.int64)
    for r in prange(rows):
        w = weights[r].copy()
        cum = np.empty(k, dtype=np.float64)
        for s in range(n):
            if s == 0 or not replacement:
                total = 0.0
                for j in range(k):
                    total += w[j]
                    cum[j] = total
            target = uniforms[r, s] * cum[k - 1]
            lo, hi = 0, k - 1
            while lo < hi:  # first category whose cumulative weight exceeds the target
                mid = (lo + hi) // 2
                if cum[mid] > target:
                    hi = mid
                else:
                    lo = mid + 1
            while lo > 0 and w[lo] == 0.0:  # target rounded up to the total: the last category with weight
                lo -= 1
            out[r, s] = lo
            if not replacement:
                w[lo] = 0.0
    return out
