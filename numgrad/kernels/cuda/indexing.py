"""CUDA kernels for indexing (gather, scatter(-add), index offsets, nonzero, one_hot) and ``nll_loss``.

Same contracts as ``numgrad.kernels.cpu.indexing`` and the nll kernels of
``numgrad.kernels.cpu.nnfunc``: every strided source or destination is read
through a 1-D "flat" view of its memory span plus int64 element offsets, so a
kernel is compiled per dtype only, never per shape or number of dimensions.
An indexed access is ``offset = pre[p] + mid[n] + post[q]`` over ``(P, N, Q)``.

One thread per element in grid-stride loops.  Scatters that accumulate use
``cuda.atomic.add`` (duplicate indices add up, race-free); plain stores with
duplicate indices keep one of the values, as PyTorch's CUDA ``index_put_``.
Index checks record the first bad position with ``cuda.atomic.min`` in a
one-element device array and the Python wrapper reads it after the launch
(one small device-to-host copy), so an out-of-range index raises the same
``IndexError`` as on the CPU instead of a device-side assert.

Small metadata (shapes and strides) travels as one int64 device array per
call; the wrappers take and return ``DeviceArray``s.
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from .array import DeviceArray, empty, from_host
from .elementwise import launch_config
from .. import settings

# dtypes cuda.atomic.add lowers for on a GPU (the simulator would take any)
ATOMIC_ADD_DTYPES = ("float32", "float64", "int32", "int64", "uint32", "uint64")


# ---------------------------------------------------------------------------------------------- kernels
@cuda.jit(device=True, inline=True)
def _walk_offset(i, meta, nd):
    """The element offset of position ``i`` of a C-order walk over ``meta[:nd]`` (shape) with strides ``meta[nd:]``."""
    rest = i
    off = 0
    for k in range(nd):
        j = nd - 1 - k
        n = meta[j]
        off += (rest % n) * meta[nd + j]
        rest //= n
    return off


@cuda.jit(cache=True)
def _strided_offsets(meta, out):
    """``out[i]`` = element offset of the i-th position of a C-order walk; meta = shape + strides."""
    nd = meta.shape[0] // 2
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        off = _walk_offset(i, meta, nd)
        out[i] = off


@cuda.jit(cache=True)
def _accumulate_index_offsets(idx_flat, meta, size, stride, out, bad):
    """``out[i] += wrap(idx[pos(i)]) * stride`` over the broadcast shape; meta = bshape + idx strides.

    ``bad[0]`` (preset to ``out.shape[0]``) gets the smallest ``i`` whose index is outside ``[-size, size)``.
    """
    nd = meta.shape[0] // 2
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        pos = _walk_offset(i, meta, nd)
        v = np.int64(idx_flat[pos])
        if v < 0:
            v += size
        if v < 0 or v >= size:
            cuda.atomic.min(bad, 0, i)
        else:
            out[i] += v * stride


@cuda.jit(cache=True)
def _check_bounds(idx_flat, size, bad):
    """``bad[0]`` (preset to ``len(idx_flat)``) gets the first position whose index is outside ``[0, size)``."""
    for i in range(cuda.grid(1), idx_flat.shape[0], cuda.gridsize(1)):
        v = idx_flat[i]
        if v < 0 or v >= size:
            cuda.atomic.min(bad, 0, i)


@cuda.jit(device=True, inline=True)
def _pnq(i, N, Q):
    """The (p, n, q) position of C-order index ``i`` in a (P, N, Q) array."""
    q = i % Q
    pn = i // Q
    return pn // N, pn % N, q


@cuda.jit(cache=True)
def _gather_offsets(src, pre_off, mid_off, post_off, out):
    P, N, Q = out.shape
    for i in range(cuda.grid(1), P * N * Q, cuda.gridsize(1)):
        p, n, q = _pnq(i, N, Q)
        out[p, n, q] = src[pre_off[p] + mid_off[n] + post_off[q]]


@cuda.jit(cache=True)
def _scatter_offsets_store(dst, pre_off, mid_off, post_off, values):
    P, N, Q = values.shape
    for i in range(cuda.grid(1), P * N * Q, cuda.gridsize(1)):
        p, n, q = _pnq(i, N, Q)
        dst[pre_off[p] + mid_off[n] + post_off[q]] = values[p, n, q]


@cuda.jit(cache=True)
def _scatter_offsets_add(dst, pre_off, mid_off, post_off, values):
    P, N, Q = values.shape
    for i in range(cuda.grid(1), P * N * Q, cuda.gridsize(1)):
        p, n, q = _pnq(i, N, Q)
        cuda.atomic.add(dst, pre_off[p] + mid_off[n] + post_off[q], values[p, n, q])


@cuda.jit(cache=True)
def _gather_dim(src, pre_off, post_off, dim_stride, index, out):
    P, N, Q = out.shape
    for i in range(cuda.grid(1), P * N * Q, cuda.gridsize(1)):
        p, n, q = _pnq(i, N, Q)
        out[p, n, q] = src[pre_off[p] + index[p, n, q] * dim_stride + post_off[q]]


@cuda.jit(cache=True)
def _scatter_add_dim(dst, pre_off, post_off, dim_stride, index, src):
    P, N, Q = src.shape
    for i in range(cuda.grid(1), P * N * Q, cuda.gridsize(1)):
        p, n, q = _pnq(i, N, Q)
        cuda.atomic.add(dst, pre_off[p] + index[p, n, q] * dim_stride + post_off[q], src[p, n, q])


@cuda.jit(cache=True)
def _chunk_counts(flat, chunk, counts):
    """``counts[c]`` = number of nonzeros in ``flat[c*chunk:(c+1)*chunk]``."""
    for c in range(cuda.grid(1), counts.shape[0], cuda.gridsize(1)):
        start = c * chunk
        stop = min(start + chunk, flat.shape[0])
        k = 0
        for i in range(start, stop):
            if flat[i] != 0:
                k += 1
        counts[c] = k


@cuda.jit(cache=True)
def _exclusive_scan(counts, starts):
    """``starts[c]`` = sum of ``counts[:c]``; ``starts[-1]`` the total (one thread: there are few chunks)."""
    if cuda.grid(1) == 0:
        acc = 0
        for c in range(counts.shape[0]):
            starts[c] = acc
            acc += counts[c]
        starts[counts.shape[0]] = acc


@cuda.jit(cache=True)
def _nonzero_fill(flat, chunk, starts, shape, out):
    """Row k of ``out`` gets the multi-index (over ``shape``) of the k-th nonzero of C-contiguous ``flat``."""
    nd = out.shape[1]
    for c in range(cuda.grid(1), starts.shape[0] - 1, cuda.gridsize(1)):
        start = c * chunk
        stop = min(start + chunk, flat.shape[0])
        k = starts[c]
        for i in range(start, stop):
            if flat[i] != 0:
                rest = i
                for m in range(nd):
                    j = nd - 1 - m
                    out[k, j] = rest % shape[j]
                    rest //= shape[j]
                k += 1


@cuda.jit(cache=True)
def _one_hot_fill(index, out):
    for i in range(cuda.grid(1), index.shape[0], cuda.gridsize(1)):
        out[i, index[i]] = 1


@cuda.jit(cache=True)
def _nll_gather(logp, target, weight, ignore_index, out, counted, bad):
    """``out[n, d] = -weight[t] * logp[n, t, d]`` (0 where ignored); ``counted[n, d]`` the weight counted."""
    D = target.shape[1]
    classes = logp.shape[1]
    for i in range(cuda.grid(1), target.shape[0] * D, cuda.gridsize(1)):
        n = i // D
        d = i % D
        t = target[n, d]
        if t == ignore_index:
            out[n, d] = 0
            counted[n, d] = 0
        elif t < 0 or t >= classes:
            out[n, d] = 0
            counted[n, d] = 0
            cuda.atomic.min(bad, 0, i)
        else:
            w = weight[t]
            out[n, d] = -w * logp[n, t, d]
            counted[n, d] = w


@cuda.jit(cache=True)
def _nll_scatter(g, target, weight, ignore_index, out):
    """``out[n, c, d] = -weight[t] * g[n, d]`` where ``c == t = target[n, d]``, else 0: one thread per element
    of ``out`` writes it, so ``out`` needs no zero fill first (the CPU kernel's contract)."""
    C = out.shape[1]
    D = out.shape[2]
    for i in range(cuda.grid(1), out.shape[0] * C * D, cuda.gridsize(1)):
        n = i // (C * D)
        c = (i // D) % C
        d = i % D
        t = target[n, d]
        if t != ignore_index and c == t:
            out[n, c, d] = -weight[t] * g[n, d]
        else:
            out[n, c, d] = 0


# ---------------------------------------------------------------------------------------------- wrappers
def _launch(kernel, n: int, *args) -> None:
    blocks, threads = launch_config(n)
    kernel[blocks, threads](*args)


def _meta(*parts) -> DeviceArray:
    """Small int64 metadata (shapes, strides) as one device array."""
    host = np.concatenate([np.asarray(p, dtype=np.int64).reshape(-1) for p in parts]) if parts else \
        np.zeros(0, dtype=np.int64)
    return from_host(host.astype(np.int64, copy=False))


def _first_bad(n: int, run) -> int:
    """Launch ``run(bad)`` with a one-element flag preset to ``n``; -1, or the smallest position it recorded."""
    bad = from_host(np.array([n], dtype=np.int64))
    run(bad.kernel_arg())
    got = bad.item()  # the one device-to-host read
    return -1 if got >= n else int(got)


def flat_span(arr: DeviceArray):
    """A 1-D view covering the memory of ``arr`` and ``arr``'s element strides (see the CPU ``flat_span``)."""
    item = arr.itemsize
    strides = arr.strides
    if any(s < 0 or s % item for s in strides):
        return None
    el = tuple(s // item for s in strides)
    if arr.size == 0:
        return arr.as_strided((0,), (item,)), el
    span = 1
    for n, s in zip(arr.shape, el):
        span += (n - 1) * s
    return arr.as_strided((span,), (item,)), el


def offsets(shape, strides) -> DeviceArray:
    """Element offsets of a strided walk over ``shape`` in C order (int64 on the device)."""
    if not len(shape):
        return from_host(np.zeros(1, dtype=np.int64))
    n = 1
    for s in shape:
        n *= s
    out = empty((n,), np.int64)
    if n:
        _launch(_strided_offsets, n, _meta(shape, strides).kernel_arg(), out.kernel_arg())
    return out


def accumulate_index_offsets(idx_flat: DeviceArray, idx_strides, bshape, size: int, stride: int,
                             out: DeviceArray) -> int:
    """``out[n] += wrap(idx[n]) * stride``; -1, or the position in ``idx_flat`` of the first bad index."""
    n = out.size
    if n == 0:
        return -1
    idx_strides = np.asarray(idx_strides, dtype=np.int64).reshape(-1)
    bshape = np.asarray(bshape, dtype=np.int64).reshape(-1)
    meta = _meta(bshape, idx_strides)
    first = _first_bad(n, lambda bad: _launch(_accumulate_index_offsets, n, idx_flat.kernel_arg(), meta.kernel_arg(),
                                              int(size), int(stride), out.kernel_arg(), bad))
    if first < 0:
        return -1
    # the flat position of broadcast element ``first`` (C order over bshape)
    pos = 0
    rest = first
    for j in range(len(bshape) - 1, -1, -1):
        pos += (rest % int(bshape[j])) * int(idx_strides[j])
        rest //= int(bshape[j])
    return pos


def check_bounds(idx_flat: DeviceArray, size: int) -> int:
    """-1 when every index is in ``[0, size)``, else the position of the first that is not."""
    n = idx_flat.size
    if n == 0:
        return -1
    return _first_bad(n, lambda bad: _launch(_check_bounds, n, idx_flat.kernel_arg(), int(size), bad))


def gather_offsets(src, pre_off, mid_off, post_off, out) -> None:
    """``out[p, n, q] = src[pre_off[p] + mid_off[n] + post_off[q]]``."""
    _launch(_gather_offsets, out.size, src.kernel_arg(), pre_off.kernel_arg(), mid_off.kernel_arg(),
            post_off.kernel_arg(), out.kernel_arg())


def _check_atomic(dtype, op: str) -> None:
    if np.dtype(dtype).kind == "f":  # float atomics add duplicates in a varying order; integer ones do not
        settings.alert_not_deterministic(f"{op} on CUDA")
    if np.dtype(dtype).name not in ATOMIC_ADD_DTYPES:
        raise NotImplementedError(
            f"{op} on CUDA accumulates with atomic adds, which support float32, float64, int32, int64, uint32 and "
            f"uint64 tensors (got {np.dtype(dtype).name}); convert the tensor with .to(...) or use the CPU"
        )


def scatter_offsets(dst, pre_off, mid_off, post_off, values, accumulate: bool) -> None:
    """``dst[pre+mid+post] (+)= values[p, n, q]``; accumulating adds duplicates atomically."""
    if accumulate:
        _check_atomic(dst.dtype, "index_put_(accumulate=True)")
    kernel = _scatter_offsets_add if accumulate else _scatter_offsets_store
    _launch(kernel, values.size, dst.kernel_arg(), pre_off.kernel_arg(), mid_off.kernel_arg(),
            post_off.kernel_arg(), values.kernel_arg())


def gather_dim(src, pre_off, post_off, dim_stride: int, index, out) -> None:
    """``out[p, n, q] = src[pre_off[p] + index[p, n, q] * dim_stride + post_off[q]]``."""
    _launch(_gather_dim, out.size, src.kernel_arg(), pre_off.kernel_arg(), post_off.kernel_arg(), int(dim_stride),
            index.kernel_arg(), out.kernel_arg())


def scatter_add_dim(dst, pre_off, post_off, dim_stride: int, index, src) -> None:
    """``dst[pre_off[p] + index[p, n, q] * dim_stride + post_off[q]] += src[p, n, q]`` (atomic adds)."""
    _check_atomic(dst.dtype, "scatter_add")
    _launch(_scatter_add_dim, src.size, dst.kernel_arg(), pre_off.kernel_arg(), post_off.kernel_arg(),
            int(dim_stride), index.kernel_arg(), src.kernel_arg())


# elements per nonzero chunk at least, and at most this many chunks (the scan over them is one thread)
_CHUNK_MIN = 32
_MAX_CHUNKS = 2048


def nonzero(flat: DeviceArray, shape) -> DeviceArray:
    """The ``(count, len(shape))`` int64 positions of the nonzeros of C-contiguous ``flat`` over ``shape``.

    Like PyTorch, the count is read back to the host (a sync) to size the result.
    """
    size = flat.size
    nd = len(shape)
    chunks = max(1, min(_MAX_CHUNKS, -(-size // _CHUNK_MIN)))
    chunk = max(1, -(-size // chunks))
    counts = empty((chunks,), np.int64)
    starts = empty((chunks + 1,), np.int64)
    arg = flat.kernel_arg()
    if size:
        _launch(_chunk_counts, chunks, arg, chunk, counts.kernel_arg())
        _exclusive_scan[1, 1](counts.kernel_arg(), starts.kernel_arg())
        count = int(starts[chunks].item())
    else:
        count = 0
    out = empty((count, nd), np.int64)
    if count and nd:
        _launch(_nonzero_fill, chunks, arg, chunk, starts.kernel_arg(), _meta(shape).kernel_arg(), out.kernel_arg())
    return out


def one_hot_fill(index: DeviceArray, out: DeviceArray) -> None:
    """``out`` (zeros, shape ``(len(index), C)``) gets a 1 in column ``index[i]`` of row i."""
    _launch(_one_hot_fill, index.size, index.kernel_arg(), out.kernel_arg())


def nll_gather(logp, target, weight, ignore_index: int, out):
    """(the float64 weight counted at each target position, to be summed; first bad flat position or -1)."""
    n = target.size
    counted = empty(target.shape, np.float64)
    if n == 0:
        return counted, -1
    first = _first_bad(n, lambda bad: _launch(
        _nll_gather, n, logp.kernel_arg(), target.kernel_arg(), weight.kernel_arg(), int(ignore_index),
        out.kernel_arg(), counted.kernel_arg(), bad))
    return counted, first


def nll_scatter(g, target, weight, ignore_index: int, out) -> None:
    """Adjoint of ``nll_gather``, writing every element of ``out`` (targets were range-checked by the forward
    pass)."""
    if out.size == 0:
        return
    _launch(_nll_scatter, out.size, g.kernel_arg(), target.kernel_arg(), weight.kernel_arg(), int(ignore_index),
            out.kernel_arg())


# the CPU module's names for its prange variants: a GPU launch is parallel already
gather_offsets_parallel = gather_offsets
scatter_offsets_parallel = scatter_offsets
gather_dim_parallel = gather_dim
scatter_add_dim_parallel = scatter_add_dim


def use_parallel(n_elements: int, n_outer: int) -> bool:
    """The CPU module's choice of a prange variant; on CUDA there is one kernel of each."""
    return False
