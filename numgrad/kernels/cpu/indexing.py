"""Hand-written Numba kernels for indexing: gather, scatter(-add), one_hot, nonzero.

Every kernel addresses its strided source/destination through a 1-D "flat"
view of the memory span (see ``flat_span``) plus precomputed element offsets,
so one compiled function serves every shape and every number of dimensions;
kernels are compiled per dtype only.

An indexed read/write is split as ``offset = pre_off[p] + mid_off[n] + post_off[q]``
over an output of shape ``(P, N, Q)``: ``pre`` and ``post`` walk the dimensions
that are not indexed, ``mid`` the indexed ones.  Scatters run in parallel only
over ``p``: distinct ``p`` address distinct memory, whereas duplicate indices
make distinct ``n`` collide, so the ``n`` loop stays serial (DESIGN.md: prange
scatter-adds race).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..config import FASTMATH, PARALLEL_THRESHOLD
from ..variants import serial_and_parallel

_OPTS = dict(cache=True, nogil=True, error_model="numpy", fastmath=set(FASTMATH))


def flat_span(arr: np.ndarray):
    """A 1-D view covering the memory of ``arr`` and ``arr``'s element strides.

    ``arr`` must have non-negative strides that are multiples of its item size;
    ``None`` is returned otherwise (the caller copies to a contiguous array).
    """
    item = arr.itemsize
    strides = arr.strides
    if any(s < 0 or s % item for s in strides):
        return None
    if arr.size == 0:
        return arr.reshape(-1)[:0], tuple(s // item for s in strides)
    span = 1
    for n, s in zip(arr.shape, strides):
        span += (n - 1) * (s // item)
    flat = np.lib.stride_tricks.as_strided(arr, shape=(span,), strides=(item,),
                                           writeable=bool(arr.flags.writeable))
    return flat, tuple(s // item for s in strides)


def offsets(shape, strides) -> np.ndarray:
    """Element offsets of a strided walk over ``shape`` in C order (int64, length prod(shape))."""
    if not len(shape):
        return np.zeros(1, dtype=np.int64)  # a walk over no dims visits offset 0 once; skip the kernel call
    n = 1
    for s in shape:
        n *= s
    out = np.empty(n, dtype=np.int64)
    if n:
        _strided_offsets(np.asarray(shape, dtype=np.int64).reshape(-1),
                         np.asarray(strides, dtype=np.int64).reshape(-1), out)
    return out


@njit(**_OPTS)
def _strided_offsets(shape, strides, out):
    nd = shape.shape[0]
    counter = np.zeros(nd, dtype=np.int64)
    off = 0
    for i in range(out.shape[0]):
        out[i] = off
        j = nd - 1
        while j >= 0:
            counter[j] += 1
            off += strides[j]
            if counter[j] < shape[j]:
                break
            off -= strides[j] * shape[j]
            counter[j] = 0
            j -= 1


@njit(**_OPTS)
def accumulate_index_offsets(idx_flat, idx_strides, bshape, size, stride, out):
    """``out[n] += wrap(idx[n]) * stride`` over the broadcast shape ``bshape``.

    ``idx_flat`` is read through ``idx_strides`` (0 on broadcast dims); negative
    indices count from the end.  Returns -1, or the position in ``idx_flat`` of
    the first index outside ``[-size, size)`` (nothing is half-written that
    matters: ``out`` is a scratch array).
    """
    nd = bshape.shape[0]
    counter = np.zeros(nd, dtype=np.int64)
    pos = 0
    for i in range(out.shape[0]):
        v = np.int64(idx_flat[pos])
        if v < 0:
            v += size
        if v < 0 or v >= size:
            return pos
        out[i] += v * stride
        j = nd - 1
        while j >= 0:
            counter[j] += 1
            pos += idx_strides[j]
            if counter[j] < bshape[j]:
                break
            pos -= idx_strides[j] * bshape[j]
            counter[j] = 0
            j -= 1
    return -1


@njit(**_OPTS)
def check_bounds(idx_flat, size):
    """-1 when every index is in ``[0, size)``, else the position of the first that is not."""
    for i in range(idx_flat.shape[0]):
        v = idx_flat[i]
        if v < 0 or v >= size:
            return i
    return -1


def gather_offsets(src, pre_off, mid_off, post_off, out):
    """``out[p, n, q] = src[pre_off[p] + mid_off[n] + post_off[q]]``."""
    # one (p, n) row per iteration: the rows of out are disjoint
    P, N, Q = out.shape
    for pn in prange(P * N):
        p = pn // N
        n = pn - p * N
        base = pre_off[p] + mid_off[n]
        for q in range(Q):
            out[p, n, q] = src[base + post_off[q]]


gather_offsets, gather_offsets_parallel = serial_and_parallel(gather_offsets, suffix="_parallel", **_OPTS)


def scatter_offsets(dst, pre_off, mid_off, post_off, values, accumulate):
    """``dst[pre+mid+post] (+)= values[p, n, q]``; duplicates accumulate (serial over n)."""
    # race-free in parallel: each p owns the addresses pre_off[p] + ..., and n stays serial
    P, N, Q = values.shape
    for p in prange(P):
        for n in range(N):
            base = pre_off[p] + mid_off[n]
            if accumulate:
                for q in range(Q):
                    dst[base + post_off[q]] += values[p, n, q]
            else:
                for q in range(Q):
                    dst[base + post_off[q]] = values[p, n, q]


scatter_offsets, scatter_offsets_parallel = serial_and_parallel(scatter_offsets, suffix="_parallel", **_OPTS)


def gather_dim(src, pre_off, post_off, dim_stride, index, out):
    """``out[p, n, q] = src[pre_off[p] + index[p, n, q] * dim_stride + post_off[q]]``."""
    P, N, Q = out.shape
    for p in prange(P):
        for n in range(N):
            for q in range(Q):
                out[p, n, q] = src[pre_off[p] + index[p, n, q] * dim_stride + post_off[q]]


gather_dim, gather_dim_parallel = serial_and_parallel(gather_dim, suffix="_parallel", **_OPTS)


def scatter_add_dim(dst, pre_off, post_off, dim_stride, index, src):
    """``dst[pre_off[p] + index[p, n, q] * dim_stride + post_off[q]] += src[p, n, q]``."""
    # race-free in parallel: rows p write disjoint memory; collisions only happen along n and q
    P, N, Q = src.shape
    for p in prange(P):
        for n in range(N):
            for q in range(Q):
                dst[pre_off[p] + index[p, n, q] * dim_stride + post_off[q]] += src[p, n, q]


scatter_add_dim, scatter_add_dim_parallel = serial_and_parallel(scatter_add_dim, suffix="_parallel", **_OPTS)


@njit(**_OPTS)
def one_hot_fill(index, out):
    """``out`` (zeros, shape ``(len(index), C)``) gets a 1 in column ``index[i]`` of row i."""
    for i in range(index.shape[0]):
        out[i, index[i]] = 1


@njit(**_OPTS)
def count_nonzero(flat):
    n = 0
    for i in range(flat.shape[0]):
        if flat[i] != 0:
            n += 1
    return n


@njit(**_OPTS)
def nonzero_fill(flat, shape, out):
    """Row k of ``out`` gets the multi-index of the k-th nonzero of C-contiguous ``flat``."""
    nd = shape.shape[0]
    counter = np.zeros(nd, dtype=np.int64)
    k = 0
    for i in range(flat.shape[0]):
        if flat[i] != 0:
            for j in range(nd):
                out[k, j] = counter[j]
            k += 1
        j = nd - 1
        while j >= 0:
            counter[j] += 1
            if counter[j] < shape[j]:
                break
            counter[j] = 0
            j -= 1


def use_parallel(n_elements: int, n_outer: int) -> bool:
    """Whether the parallel variant pays off (and has more than one independent row)."""
    return n_elements >= PARALLEL_THRESHOLD and n_outer > 1
