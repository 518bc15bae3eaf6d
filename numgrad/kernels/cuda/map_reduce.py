"""CUDA kernels for the reductions beyond plain sum: map-reduce, arg-reduce and scan.

The contract is that of ``kernels/cpu/map_reduce.py``, function for function:
``prepare`` (the CPU's own, which works on ``DeviceArray``s: a transpose and a
contiguous copy where needed, then an ``(A, R, C)`` view), ``map_reduce``
(var, std, logsumexp, vector norms, count_nonzero; the same template strings
``init``/``transform``/``combine``/``final``), ``arg_reduce`` (max/min with the
index of the first occurrence, the first NaN winning) and ``scan_sum``
(cumsum).  Every kernel reduces or scans the middle axis R of a C-contiguous
``(A, R, C)`` device array.

Two launch shapes:

* one thread per output ``(a, c)`` walks R in order.  Consecutive threads take
  consecutive ``c``, so reads coalesce when C > 1; for arg_reduce and scan the
  order (hence every tie and every rounding) is the CPU's;
* one block per output, when R is long (>= ``BLOCK_MIN_R``) and there are
  few outputs or C == 1: threads stride over R, then a tree in shared memory
  folds the partials with ``combine`` (which must be associative, as on the
  CPU); arg_reduce's tree breaks ties by the smaller index, so the result is
  still the first occurrence.  With fewer outputs than would fill the GPU
  (a full ``norm()``, ``var()`` or flattened ``argmax()``) R is split over
  several blocks per output that write partials, and a second launch (one
  thread per output) folds them in order and applies ``final``.  The folding
  order depends only on the sizes: results are bitwise the same run to run.

``scan_sum`` is one thread per ``(a, c)`` column, a sequential sum like the
CPU's (a parallel scan over a long R with few columns is the next step).
Template calls written for the CPU (``fm.exp``, ``np.log``, ``np.sqrt``) are
rewritten to the device functions of ``devmath`` for the accumulator dtype.
Sources are generated per template and dtype, never per shape.
"""
from __future__ import annotations

import numpy as np

from .. import cache
from ..cpu.map_reduce import prepare as _cpu_prepare
from . import devmath, simulator_enabled
from .array import empty
from .elementwise import contiguous, launch_config
from .reduce_axes import MAX_BLOCKS, MAX_PARTIALS, THREADS, _threads_for, block_tree_source

# a reduced axis at least this long gets a block per output instead of a thread
BLOCK_MIN_R = 256
# ... when C > 1 only if there are at most this many outputs (else threads per output fill the GPU)
FEW_OUTPUTS = 2048
# block size of those launches on Numba's simulator, which runs every thread in Python (and each thread
# then folds several elements before the tree, the case a GPU block of THREADS meets on long axes)
SIMULATOR_BLOCK = 64
# split R over several blocks per output when there are fewer outputs than this (2 blocks per SM of an H200)
SPLIT_BELOW = 2 * 132
# ... giving each thread about this many elements (at most MAX_PARTIALS partials in all)
ITEMS_PER_THREAD = 8

_modules: dict = {}


def prepare(x, dims: tuple) -> tuple:
    """The CPU's ``prepare`` (a transpose and a reshape work on ``DeviceArray``s too), copying on the device."""
    return _cpu_prepare(x, dims, contiguous)


def _device_code(code: str, acc: str) -> str:
    """A CPU template expression with its math calls on the device functions for ``acc``."""
    suffix = "_f32" if acc == "float32" else "_f64"
    code = code.replace("np.log(", f"dm.log{suffix}(")
    return devmath.rewriter_for(acc if acc in ("float32", "float64") else "float64")(code, None)


def _header(dtype: str) -> str:
    return f"""import math
import numpy as np
from numba import cuda
from numgrad.kernels.cuda import devmath as dm

T = np.{"bool_" if dtype == "bool" else dtype}
THREADS = {THREADS}
"""


def _use_blocks(n_a: int, n_r: int, n_c: int) -> bool:
    return n_r >= BLOCK_MIN_R and (n_c == 1 or n_a * n_c <= FEW_OUTPUTS)


def _plan(n_a: int, n_r: int, n_c: int):
    """``None`` (a thread per output) or ``(threads per block, blocks per output)`` for the block kernels."""
    n_out = n_a * n_c
    if n_out == 0 or not _use_blocks(n_a, n_r, n_c):
        return None
    threads = _threads_for(n_r)
    if simulator_enabled():
        threads = min(threads, SIMULATOR_BLOCK)
    parts = 1
    if n_out < SPLIT_BELOW:
        parts = max(1, min(-(-n_r // (threads * ITEMS_PER_THREAD)), MAX_PARTIALS // n_out))
    return threads, parts


_dummies: dict = {}


def _dummy(dtype):
    """A (1, 1) device array standing for the partials of an unsplit launch (never written)."""
    dtype = np.dtype(dtype)
    arr = _dummies.get(dtype)
    if arr is None:
        arr = _dummies[dtype] = empty((1, 1), dtype).kernel_arg()
    return arr


def _launch(mod, n_a: int, n_r: int, n_c: int, inputs: list, outs: list, partial_dtypes: tuple, extra=()) -> None:
    """Run ``mod``'s kernels: ``per_output``, or ``per_block`` (then ``finish`` when R is split)."""
    n_out = n_a * n_c
    if n_out == 0:
        return
    plan = _plan(n_a, n_r, n_c)
    if plan is None:
        blocks, threads = launch_config(n_out)
        mod.per_output[blocks, threads](*inputs, *outs, *extra)
        return
    threads, parts = plan
    if parts == 1:
        partials = [_dummy(dt) for dt in partial_dtypes]
    else:
        partials = [empty((n_out, parts), dt).kernel_arg() for dt in partial_dtypes]
    mod.per_block[min(n_out * parts, MAX_BLOCKS), threads](*inputs, *outs, *partials, *extra)
    if parts > 1:
        blocks, threads = launch_config(n_out)
        mod.finish[blocks, threads](*partials, *inputs[1:], *outs, *extra)


# ------------------------------------------------------------------ map_reduce
def _map_reduce_source(init, transform, combine, final, load, acc, shifted) -> str:
    transform, combine, final = (_device_code(c, acc) for c in (transform, combine, final))
    s_arg = "s, " if shifted else ""
    sh = "s[a, c]" if shifted else "T(0)"
    # evaluated in Python, at import: the device needs no np.inf / np.iinfo
    return _header(acc) + f"""L = {load}
INIT = {init}


@cuda.jit(cache=True)
def per_output(x, {s_arg}out, p):
    n_c = x.shape[2]
    for flat in range(cuda.grid(1), x.shape[0] * n_c, cuda.gridsize(1)):
        a = flat // n_c
        c = flat - a * n_c
        sh = {sh}
        acc = INIT
        for r in range(x.shape[1]):
            v = L(x[a, r, c])
            t = {transform}
            acc = {combine}
        out[a, c] = {final}


@cuda.jit(cache=True)
def per_block(x, {s_arg}out, partials, p):
    # block job = (output, part): part k of n_parts takes r = k * blockDim + tid, stepping n_parts * blockDim
    shared = cuda.shared.array(THREADS, T)
    tid = cuda.threadIdx.x
    n_c = x.shape[2]
    n_parts = partials.shape[1]
    for job in range(cuda.blockIdx.x, x.shape[0] * n_c * n_parts, cuda.gridDim.x):
        flat = job // n_parts
        part = job - flat * n_parts
        a = flat // n_c
        c = flat - a * n_c
        sh = {sh}
        acc = INIT
        for r in range(part * cuda.blockDim.x + tid, x.shape[1], n_parts * cuda.blockDim.x):
            v = L(x[a, r, c])
            t = {transform}
            acc = {combine}
{block_tree_source(combine, "t", "        ")}
        if tid == 0:
            acc = shared[0]
            if n_parts == 1:
                out[a, c] = {final}
            else:
                partials[flat, part] = acc
        cuda.syncthreads()  # shared is reused by this block's next job


@cuda.jit(cache=True)
def finish(partials, {s_arg}out, p):
    n_c = out.shape[1]
    for flat in range(cuda.grid(1), out.shape[0] * n_c, cuda.gridsize(1)):
        a = flat // n_c
        c = flat - a * n_c
        sh = {sh}
        acc = INIT
        for k in range(partials.shape[1]):
            t = partials[flat, k]
            acc = {combine}
        out[a, c] = {final}
"""


def _load(load_dtype) -> str:
    """The type values are loaded as: the accumulator's (``T``) or ``load_dtype``'s."""
    if load_dtype is None:
        return "T"
    name = np.dtype(load_dtype).name
    return "np.bool_" if name == "bool" else f"np.{name}"


def _map_reduce_module(init, transform, combine, final, load, acc, shifted):
    key = ("map", init, transform, combine, final, load, acc, shifted)
    mod = _modules.get(key)
    if mod is None:
        src = _map_reduce_source(init, transform, combine, final, load, acc, shifted)
        mod = _modules[key] = cache.load_module(src, prefix="cuda_mapred")
    return mod


def map_reduce(x3, *, init: str, transform: str, combine: str, final: str = "acc", acc_dtype, load_dtype=None,
               shift=None, p: float = 0.0):
    """Reduce the middle axis of the ``(A, R, C)`` DeviceArray ``x3``; returns an ``(A, C)`` DeviceArray.

    The template strings are those of the CPU ``map_reduce`` (see there);
    ``shift`` is an ``(A, C)`` (or ``(A, 1)``) DeviceArray of per-output values.
    """
    acc = np.dtype(acc_dtype)
    mod = _map_reduce_module(init, transform, combine, final, _load(load_dtype), acc.name, shift is not None)
    n_a, n_r, n_c = x3.shape
    out = empty((n_a, n_c), acc)
    p = acc.type(p) if acc.kind == "f" else np.float64(p)
    inputs = [x3.kernel_arg()]
    if shift is not None:
        inputs.append(shift.reshape(n_a, n_c).kernel_arg())
    _launch(mod, n_a, n_r, n_c, inputs, [out.kernel_arg()], (acc,), (p,))
    return out


# ------------------------------------------------------------------ arg_reduce
def _arg_source(kind: str, dtype: str) -> str:
    better = ">" if kind == "max" else "<"
    # a NaN replaces a number and nothing replaces a NaN; the strict comparison keeps the first of equals
    wins = f"(v {better} best or (v != v and best == best))"
    return _header(dtype) + f"""

@cuda.jit(cache=True)
def per_output(x, values, indices):
    n_c = x.shape[2]
    for flat in range(cuda.grid(1), x.shape[0] * n_c, cuda.gridsize(1)):
        a = flat // n_c
        c = flat - a * n_c
        best = x[a, 0, c]
        idx = 0
        for r in range(1, x.shape[1]):
            v = x[a, r, c]
            if {wins}:
                best = v
                idx = r
        values[a, c] = best
        indices[a, c] = idx


@cuda.jit(cache=True)
def per_block(x, values, indices, part_values, part_indices):
    vals = cuda.shared.array(THREADS, T)
    idxs = cuda.shared.array(THREADS, np.int64)
    tid = cuda.threadIdx.x
    n_c = x.shape[2]
    n_parts = part_values.shape[1]
    for job in range(cuda.blockIdx.x, x.shape[0] * n_c * n_parts, cuda.gridDim.x):
        flat = job // n_parts
        part = job - flat * n_parts
        a = flat // n_c
        c = flat - a * n_c
        # every thread starts from element 0 (a candidate of every slice), then walks its r in order
        best = x[a, 0, c]
        idx = 0
        for r in range(part * cuda.blockDim.x + tid, x.shape[1], n_parts * cuda.blockDim.x):
            v = x[a, r, c]
            if {wins}:
                best = v
                idx = r
        vals[tid] = best
        idxs[tid] = idx
        cuda.syncthreads()
        width = cuda.blockDim.x // 2
        while width > 0:
            if tid < width:
                best = vals[tid]
                idx = idxs[tid]
                v = vals[tid + width]
                other = idxs[tid + width]
                # partials interleave, so equal values (or two NaNs) go to the smaller index
                tie = v == best or (v != v and best != best)
                if {wins} or (tie and other < idx):
                    vals[tid] = v
                    idxs[tid] = other
            cuda.syncthreads()
            width //= 2
        if tid == 0:
            if n_parts == 1:
                values[a, c] = vals[0]
                indices[a, c] = idxs[0]
            else:
                part_values[flat, part] = vals[0]
                part_indices[flat, part] = idxs[0]
        cuda.syncthreads()


@cuda.jit(cache=True)
def finish(part_values, part_indices, values, indices):
    n_c = values.shape[1]
    for flat in range(cuda.grid(1), values.shape[0] * n_c, cuda.gridsize(1)):
        a = flat // n_c
        c = flat - a * n_c
        best = part_values[flat, 0]
        idx = part_indices[flat, 0]
        for k in range(1, part_values.shape[1]):
            v = part_values[flat, k]
            other = part_indices[flat, k]
            tie = v == best or (v != v and best != best)
            if {wins} or (tie and other < idx):
                best = v
                idx = other
        values[a, c] = best
        indices[a, c] = idx
"""


def _arg_module(kind: str, dtype):
    dtype = np.dtype(dtype).name
    key = ("arg", kind, dtype)
    mod = _modules.get(key)
    if mod is None:
        mod = _modules[key] = cache.load_module(_arg_source(kind, dtype), prefix=f"cuda_arg{kind}")
    return mod


def arg_reduce(x3, kind: str) -> tuple:
    """Max or min (``kind``) over the middle axis of the ``(A, R, C)`` DeviceArray ``x3`` with R >= 1.

    Returns ``(values, indices)`` DeviceArrays of shape ``(A, C)``; indices are
    int64 and point at the first occurrence (the first NaN when there is one).
    """
    mod = _arg_module(kind, x3.dtype)
    n_a, n_r, n_c = x3.shape
    values = empty((n_a, n_c), x3.dtype)
    indices = empty((n_a, n_c), np.int64)
    _launch(mod, n_a, n_r, n_c, [x3.kernel_arg()], [values.kernel_arg(), indices.kernel_arg()],
            (x3.dtype, np.int64))
    return values, indices


# ------------------------------------------------------------------------ scan
def _scan_source(acc: str) -> str:
    return _header(acc) + """

@cuda.jit(cache=True)
def scan(x, out, reverse):
    n_r = x.shape[1]
    n_c = x.shape[2]
    for flat in range(cuda.grid(1), x.shape[0] * n_c, cuda.gridsize(1)):
        a = flat // n_c
        c = flat - a * n_c
        acc = T(0)
        for k in range(n_r):
            r = n_r - 1 - k if reverse else k
            acc = T(x[a, r, c]) if k == 0 else acc + T(x[a, r, c])
            out[a, r, c] = acc
"""


def scan_kernel(acc_dtype):
    """The generated cumulative-sum kernel for accumulator dtype ``acc_dtype`` (exposed for the PTX test)."""
    acc = np.dtype(acc_dtype).name
    key = ("scan", acc)
    mod = _modules.get(key)
    if mod is None:
        mod = _modules[key] = cache.load_module(_scan_source(acc), prefix="cuda_scan")
    return mod.scan


def scan_sum(x3, acc_dtype, reverse: bool = False):
    """Inclusive cumulative sum along the middle axis of the ``(A, R, C)`` DeviceArray (from the end if ``reverse``)."""
    acc = np.dtype(acc_dtype)
    n_a, n_r, n_c = x3.shape
    out = empty((n_a, n_r, n_c), acc)
    if n_a * n_c and n_r:
        blocks, threads = launch_config(n_a * n_c)
        scan_kernel(acc)[blocks, threads](x3.kernel_arg(), out.kernel_arg(), bool(reverse))
    return out


def map_reduce_kernels(init: str, transform: str, combine: str, final: str, acc_dtype, load_dtype=None,
                       shifted: bool = False):
    """The generated ``(per_output, per_block, finish)`` kernels of one map-reduce template (for the PTX test)."""
    mod = _map_reduce_module(init, transform, combine, final, _load(load_dtype), np.dtype(acc_dtype).name, shifted)
    return mod.per_output, mod.per_block, mod.finish


def arg_kernels(kind: str, dtype):
    """The generated ``(per_output, per_block, finish)`` arg-reduce kernels (exposed for the PTX test)."""
    mod = _arg_module(kind, dtype)
    return mod.per_output, mod.per_block, mod.finish
