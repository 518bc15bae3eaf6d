"""The arithmetic ``DistributedDataParallel`` does on gradients around its all-reduces, as Numba kernels.

They are kernels (not NumPy calls) so that ``ng.compile`` records them with the rest of a training step and
its replay repeats them: copying gradients into the flat buckets MPI reduces (scaled by 1 / world size, the
average folded into the copy) and the results back into ``.grad``.  Arrays are 1-D and contiguous.

>>> import numpy as np
>>> out = np.zeros(3, dtype=np.float32)
>>> scale_into(np.ones(3, dtype=np.float32), np.float32(0.5), out); out.tolist()
[0.5, 0.5, 0.5]
"""
from __future__ import annotations

from numba import njit

_OPTS = dict(cache=True, nogil=True)


@njit(**_OPTS)
def scale_into(src, factor, dst):
    """``dst = src * factor`` (``factor`` of ``dst``'s dtype, as NumPy's ``np.multiply(src, f, out=dst)``)."""
    for i in range(dst.shape[0]):
        dst[i] = src[i] * factor


@njit(**_OPTS)
def copy_into(src, dst):
    """``dst[:] = src``."""
    for i in range(dst.shape[0]):
        dst[i] = src[i]


@njit(**_OPTS)
def fill_zero(dst):
    """``dst[:] = 0`` (a parameter without a gradient on this rank contributes zero)."""
    for i in range(dst.shape[0]):
        dst[i] = 0
