"""Numba kernels for batches of small dense matrices: inverse, determinant, sign/log-determinant, solve.

Each takes a C-contiguous ``(batch, n, n)`` array (float32 or float64) and loops over the batch
calling NumPy's LAPACK-backed routines, which Numba compiles in nopython mode. A singular matrix
makes ``inv``/``solve`` raise NumPy's ``LinAlgError``; the ops layer turns that into PyTorch's error.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_OPTS = dict(cache=True, nogil=True)


@njit(**_OPTS)
def inv_batch(a3):
    out = np.empty_like(a3)
    for b in range(a3.shape[0]):
        out[b] = np.linalg.inv(a3[b])
    return out


@njit(**_OPTS)
def slogdet_batch(a3):
    """(sign, log|det|) of each matrix, in the input's dtype."""
    n = a3.shape[0]
    sign = np.empty(n, dtype=a3.dtype)
    logabs = np.empty(n, dtype=a3.dtype)
    for b in range(n):
        s, l = np.linalg.slogdet(a3[b])
        sign[b] = s
        logabs[b] = l
    return sign, logabs


@njit(**_OPTS)
def solve_batch(a3, b3):
    """X with A X = B for each (A, B) of ``a3`` (batch, n, n) and ``b3`` (batch, n, k)."""
    out = np.empty_like(b3)
    for b in range(a3.shape[0]):
        out[b] = np.linalg.solve(a3[b], b3[b])
    return out
