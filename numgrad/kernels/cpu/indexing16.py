"""The indexing kernels of ``indexing.py`` for float16/bfloat16 data.

Gathers and plain scatters move bits, so they run on the arrays' 16-bit words (``uint16`` views).  Scatters
that add (duplicate indices, the gradients of gather and advanced indexing) add in float32: the destination
span and the values are converted, added by the same kernel, and rounded back once, as PyTorch's CPU
kernels accumulate 16-bit floats in float32.  ``nonzero`` reads values, not words (``-0.0`` is zero).

>>> import numpy as np
>>> src, out = np.array([1.5, 2.5], dtype=np.float16), np.empty((1, 2, 1), dtype=np.float16)
>>> gather_offsets(src, np.zeros(1, np.int64), np.array([1, 0]), np.zeros(1, np.int64), out); out.ravel()
array([2.5, 1.5], dtype=float16)
"""
from __future__ import annotations

import numpy as np

from . import indexing as _words
from .elementwise import copy
from .indexing import (  # index arithmetic only: the same for every data dtype
    accumulate_index_offsets, check_bounds, flat_span, offsets, one_hot_fill, use_parallel,
)

__all__ = ["accumulate_index_offsets", "check_bounds", "flat_span", "offsets", "one_hot_fill", "use_parallel",
           "gather_offsets", "gather_offsets_parallel", "scatter_offsets", "scatter_offsets_parallel", "gather_dim",
           "gather_dim_parallel", "scatter_add_dim", "scatter_add_dim_parallel", "count_nonzero", "nonzero_fill"]


def _w(arr: np.ndarray) -> np.ndarray:
    return arr.view(np.uint16)


def gather_offsets(src, pre_off, mid_off, post_off, out):
    """``out[p, n, q] = src[pre_off[p] + mid_off[n] + post_off[q]]``, on the words."""
    _words.gather_offsets(_w(src), pre_off, mid_off, post_off, _w(out))


def gather_offsets_parallel(src, pre_off, mid_off, post_off, out):
    """The parallel variant of ``gather_offsets``."""
    _words.gather_offsets_parallel(_w(src), pre_off, mid_off, post_off, _w(out))


def _scatter(kernel, dst, pre_off, mid_off, post_off, values, accumulate):
    if accumulate:
        wide_dst = copy(dst, np.float32)
        kernel(wide_dst, pre_off, mid_off, post_off, copy(values, np.float32), True)
        copy(wide_dst, out=dst)
    else:
        values = values if values.dtype == dst.dtype else copy(values, dst.dtype)
        kernel(_w(dst), pre_off, mid_off, post_off, _w(values), False)


def scatter_offsets(dst, pre_off, mid_off, post_off, values, accumulate):
    """``dst[pre+mid+post] (+)= values[p, n, q]``: words for a write, float32 for an add."""
    _scatter(_words.scatter_offsets, dst, pre_off, mid_off, post_off, values, accumulate)


def scatter_offsets_parallel(dst, pre_off, mid_off, post_off, values, accumulate):
    """The parallel variant of ``scatter_offsets``."""
    _scatter(_words.scatter_offsets_parallel, dst, pre_off, mid_off, post_off, values, accumulate)


def gather_dim(src, pre_off, post_off, dim_stride, index, out):
    """``out[p, n, q] = src[pre_off[p] + index[p, n, q] * dim_stride + post_off[q]]``, on the words."""
    _words.gather_dim(_w(src), pre_off, post_off, dim_stride, index, _w(out))


def gather_dim_parallel(src, pre_off, post_off, dim_stride, index, out):
    """The parallel variant of ``gather_dim``."""
    _words.gather_dim_parallel(_w(src), pre_off, post_off, dim_stride, index, _w(out))


def _scatter_add_dim(kernel, dst, pre_off, post_off, dim_stride, index, src):
    wide_dst = copy(dst, np.float32)
    kernel(wide_dst, pre_off, post_off, dim_stride, index, copy(src, np.float32))
    copy(wide_dst, out=dst)


def scatter_add_dim(dst, pre_off, post_off, dim_stride, index, src):
    """``dst[pre_off[p] + index[p, n, q] * dim_stride + post_off[q]] += src[p, n, q]``, added in float32."""
    _scatter_add_dim(_words.scatter_add_dim, dst, pre_off, post_off, dim_stride, index, src)


def scatter_add_dim_parallel(dst, pre_off, post_off, dim_stride, index, src):
    """The parallel variant of ``scatter_add_dim``."""
    _scatter_add_dim(_words.scatter_add_dim_parallel, dst, pre_off, post_off, dim_stride, index, src)


def count_nonzero(flat) -> int:
    """How many elements of the 1-D ``flat`` are nonzero (by value: ``-0.0`` counts as zero)."""
    return _words.count_nonzero(copy(flat, np.float32))


def nonzero_fill(flat, shape, out):
    """The multi-indices of the nonzero values of ``flat`` (see ``indexing.nonzero_fill``)."""
    _words.nonzero_fill(copy(flat, np.float32), shape, out)
