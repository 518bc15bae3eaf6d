"""Kernels for the reductions beyond plain sum: map-reduce, arg-reduce and scan.

Every kernel works on a C-contiguous ``(A, R, C)`` array and reduces (or scans)
its middle axis R.  Reductions over the innermost axes are the case C == 1,
which runs on an ``(A, R)`` view with R as the inner loop (it vectorizes);
reductions over leading axes keep C as the inner loop so memory is read in
order.  ``prepare`` turns any array and any set of reduced dims into that
layout, copying only when the input is not contiguous or the dims are not
adjacent.

Three generated families (sources go through ``kernels.cache`` so they hit the
on-disk Numba cache in the next process):

* ``map_reduce``: ``out = FINAL(COMBINE over r of TRANSFORM(x[a, r, c], shift))``,
  where ``shift`` is an optional per-output value (the mean for ``var``, the
  max for ``logsumexp``) and ``p`` a scalar parameter.  Covers var, std,
  logsumexp, every vector norm and count_nonzero.
* ``arg_reduce``: max/min value and the index of its first occurrence, NaN
  winning (as PyTorch: the first NaN is the result).
* ``scan``: inclusive cumulative sum, forward or reversed.
"""
from __future__ import annotations

import numpy as np

from .. import cache
from .elementwise import contiguous as cpu_contiguous
from ..config import FASTMATH_LITERAL, PARALLEL_THRESHOLD

# Independent accumulators per row in the (A, R) layout.  A reduction loop
# whose combine is a NaN-aware select (max, min) does not vectorize without
# ``nnan``, but W lanes updated elementwise do; the lanes are merged at the end.
LANES = 64

# Smallest column block of one parallel task in the (A, R, C) layout: a loop
# over A alone would be serial for the common "reduce dim 0 of a matrix" case
# (A == 1), so tasks are (a, block of columns) pairs, each owning its outputs.
MIN_COLUMN_BLOCK = 512

_HEADER = f'''import math
import numpy as np
from numba import njit, prange
from numgrad.kernels.cpu import fastmath as fm
FASTMATH = {FASTMATH_LITERAL}
W = {LANES}
'''


def _decorator(parallel: bool) -> str:
    extra = ", parallel=True" if parallel else ""
    return f"@njit(cache=True, nogil=True, error_model='numpy', fastmath=FASTMATH{extra})"


# Row and column loops shared by the templates: ``rows`` gives each task a
# range of rows (one task when serial) so that per-task scratch lanes are
# allocated once per task, not per row; ``blocks`` walks (a, column block)
# pairs.  Columns are read through 1-D row slices, which LLVM vectorizes
# (indexing the 3-D array directly inside the blocked loop did not).
_ROWS = """
    n_a = x.shape[0]
    per_task = (n_a + n_tasks - 1) // n_tasks
    for task in {rng}(n_tasks):
        lo = task * per_task
        hi = min(n_a, lo + per_task)
"""
_BLOCKS = """
    n_a, n_r, n_c = x.shape
    n_blocks = (n_c + block - 1) // block
    for task in {rng}(n_a * n_blocks):
        a = task // n_blocks
        c0 = (task % n_blocks) * block
        c1 = min(n_c, c0 + block)
        width = c1 - c0
"""


_map_reduce_modules: dict = {}


def _map_reduce_module(init: str, transform: str, combine: str, final: str, load: str, acc: str, shifted: bool):
    key = (init, transform, combine, final, load, acc, shifted)
    mod = _map_reduce_modules.get(key)
    if mod is not None:
        return mod
    shift_arg = ", s" if shifted else ""
    src = _HEADER + f"T = np.{acc}\nL = {load}\n"
    for suffix, par in (("", False), ("_par", True)):
        rng = "prange" if par else "range"
        inner_shift = "sh = s[a]" if shifted else "sh = T(0)"
        middle_shift = "sh = srow[c]" if shifted else "sh = T(0)"
        middle_srow = "srow = s[a, c0:c1]" if shifted else ""
        src += f'''
{_decorator(par)}
def inner{suffix}(x{shift_arg}, out, p, n_tasks):
    n_r = x.shape[1]
    full = n_r - n_r % W
{_ROWS.format(rng=rng)}
        lanes = np.empty(W, dtype=T)
        for a in range(lo, hi):
            row = x[a]
            {inner_shift}
            for j in range(W):
                lanes[j] = {init}
            for r0 in range(0, full, W):
                for j in range(W):
                    v = L(row[r0 + j])
                    t = {transform}
                    acc = lanes[j]
                    lanes[j] = {combine}
            acc = {init}
            for j in range(W):
                t = lanes[j]
                acc = {combine}
            for r in range(full, n_r):
                v = L(row[r])
                t = {transform}
                acc = {combine}
            out[a] = {final}


{_decorator(par)}
def middle{suffix}(x{shift_arg}, out, p, block):
{_BLOCKS.format(rng=rng)}
        o = out[a, c0:c1]
        {middle_srow}
        for c in range(width):
            o[c] = {init}
        for r in range(n_r):
            xr = x[a, r, c0:c1]
            for c in range(width):
                {middle_shift}
                v = L(xr[c])
                t = {transform}
                acc = o[c]
                o[c] = {combine}
        for c in range(width):
            {middle_shift}
            acc = o[c]
            o[c] = {final}
'''
    mod = _map_reduce_modules[key] = cache.load_module(src, prefix="mapreduce")
    return mod


def prepare(x: np.ndarray, dims: tuple, contiguous=cpu_contiguous) -> tuple:
    """View ``x`` as a C-contiguous ``(A, R, C)`` array reducing ``dims``.

    Returns ``(array3, out_shape)`` where ``out_shape`` is the keepdim=False
    result shape.  ``contiguous`` makes the one copy a transpose or strided
    input needs (``kernels/cuda/map_reduce.py`` passes the device's).  ``dims`` must be sorted and non-negative; an empty ``dims``
    on a 0-d array reduces its single element.
    """
    shape = x.shape
    kept = [d for d in range(x.ndim) if d not in dims]
    out_shape = tuple(shape[d] for d in kept)
    if not dims:
        # nothing reduced (or a 0-d input): every element is its own group of one
        return contiguous(x).reshape(-1, 1, 1), out_shape
    adjacent = list(dims) == list(range(dims[0], dims[-1] + 1))
    if not adjacent:
        # reduced dims moved innermost: one copy, then the vectorized (A, R) layout
        x = x.transpose(kept + list(dims))
        start, stop = len(kept), x.ndim
    else:
        start, stop = dims[0], dims[-1] + 1
    x = contiguous(x)
    a = int(np.prod(x.shape[:start], dtype=np.int64))
    r = int(np.prod(x.shape[start:stop], dtype=np.int64))
    c = int(np.prod(x.shape[stop:], dtype=np.int64))
    return x.reshape(a, r, c), out_shape



def _use_parallel(x3: np.ndarray) -> bool:
    return x3.size >= PARALLEL_THRESHOLD


def _threads() -> int:
    import numba

    return numba.get_num_threads()


def _row_tasks(n_a: int, par: bool) -> int:
    return max(1, min(n_a, 4 * _threads())) if par else 1


def _column_block(n_c: int, par: bool) -> int:
    if not par:
        return max(n_c, 1)
    share = -(-n_c // _threads())
    return max(MIN_COLUMN_BLOCK, -(-share // LANES) * LANES)


def map_reduce(x3: np.ndarray, *, init: str, transform: str, combine: str, final: str = "acc",
               acc_dtype, load_dtype=None, shift: np.ndarray = None, p: float = 0.0) -> np.ndarray:
    """Reduce the middle axis of the ``(A, R, C)`` array ``x3``; returns shape ``(A, C)``.

    The strings are Numba expressions over ``v`` (the loaded value), ``t`` (the
    transformed value), ``acc`` (accumulator), ``sh`` (the shift, one value per
    output) and ``p`` (a scalar parameter); ``T`` is the accumulator type and
    ``L`` the type values are loaded as (``load_dtype``, default ``acc_dtype``).
    ``combine`` must be associative: partial results of lanes and column blocks
    are merged with it.
    """
    acc = np.dtype(acc_dtype)
    load = f"np.{np.dtype(load_dtype).name}" if load_dtype is not None else "T"
    mod = _map_reduce_module(init, transform, combine, final, load, acc.name, shift is not None)
    n_a, _, n_c = x3.shape
    par = _use_parallel(x3)
    shift_args = () if shift is None else (shift.reshape(n_a) if n_c == 1 else shift.reshape(n_a, n_c),)
    p = acc.type(p) if acc.kind == "f" else np.float64(p)
    if n_c == 1:
        out = np.empty(n_a, dtype=acc)
        run = mod.inner_par if par and n_a > 1 else mod.inner
        run(x3.reshape(n_a, -1), *shift_args, out, p, _row_tasks(n_a, par))
        return out.reshape(n_a, 1)
    out = np.empty((n_a, n_c), dtype=acc)
    (mod.middle_par if par else mod.middle)(x3, *shift_args, out, p, _column_block(n_c, par))
    return out


_arg_modules: dict = {}


def _arg_module(kind: str):
    mod = _arg_modules.get(kind)
    if mod is not None:
        return mod
    better = ">" if kind == "max" else "<"
    # a NaN replaces a number and nothing replaces a NaN, so NaN propagates;
    # the strict comparison keeps the first of equal values
    wins = f"(v {better} best or (v != v and best == best))"
    src = _HEADER
    for suffix, par in (("", False), ("_par", True)):
        rng = "prange" if par else "range"
        src += f'''
{_decorator(par)}
def inner{suffix}(x, values, indices, n_tasks):
    n_r = x.shape[1]
    full = n_r - n_r % W
{_ROWS.format(rng=rng)}
        lanes = np.empty(W, dtype=x.dtype)
        for a in range(lo, hi):
            row = x[a]
            # pass 1 (vectorized): the extreme value, W lanes at a time
            for j in range(W):
                lanes[j] = row[0]
            for r0 in range(0, full, W):
                for j in range(W):
                    v = row[r0 + j]
                    best = lanes[j]
                    lanes[j] = v if (v {better} best or v != v) else best
            best = row[0]
            for j in range(W):
                v = lanes[j]
                if {wins}:
                    best = v
            for r in range(full, n_r):
                v = row[r]
                if {wins}:
                    best = v
            # pass 2: its first position (stops early)
            found = 0
            if best != best:
                for r in range(n_r):
                    if row[r] != row[r]:
                        found = r
                        break
            else:
                for r in range(n_r):
                    if row[r] == best:
                        found = r
                        break
            values[a] = best
            indices[a] = found


{_decorator(par)}
def middle{suffix}(x, values, indices, block):
{_BLOCKS.format(rng=rng)}
        vals = values[a, c0:c1]
        idx = indices[a, c0:c1]
        first = x[a, 0, c0:c1]
        for c in range(width):
            vals[c] = first[c]
            idx[c] = 0
        for r in range(1, n_r):
            xr = x[a, r, c0:c1]
            for c in range(width):
                v = xr[c]
                best = vals[c]
                win = {wins}
                vals[c] = v if win else best
                idx[c] = r if win else idx[c]
'''
    mod = _arg_modules[kind] = cache.load_module(src, prefix=f"arg{kind}")
    return mod


def arg_reduce(x3: np.ndarray, kind: str) -> tuple:
    """Max or min (``kind``) over the middle axis of ``(A, R, C)`` with R >= 1.

    Returns ``(values, indices)`` of shape ``(A, C)``; indices are int64 and
    point at the first occurrence (the first NaN when there is one).
    """
    mod = _arg_module(kind)
    n_a, _, n_c = x3.shape
    par = _use_parallel(x3)
    values = np.empty((n_a, n_c), dtype=x3.dtype)
    indices = np.empty((n_a, n_c), dtype=np.int64)
    if n_c == 1:
        run = mod.inner_par if par and n_a > 1 else mod.inner
        run(x3.reshape(n_a, -1), values.reshape(n_a), indices.reshape(n_a), _row_tasks(n_a, par))
    else:
        (mod.middle_par if par else mod.middle)(x3, values, indices, _column_block(n_c, par))
    return values, indices


_scan_modules: dict = {}


def _scan_module(acc: str):
    mod = _scan_modules.get(acc)
    if mod is not None:
        return mod
    src = _HEADER + f"T = np.{acc}\n"
    for suffix, par in (("", False), ("_par", True)):
        rng = "prange" if par else "range"
        src += f'''
{_decorator(par)}
def inner{suffix}(x, out, reverse):
    n_r = x.shape[1]
    for a in {rng}(x.shape[0]):
        acc = T(0)
        for k in range(n_r):
            r = n_r - 1 - k if reverse else k
            acc = acc + T(x[a, r])
            out[a, r] = acc


{_decorator(par)}
def middle{suffix}(x, out, reverse, block):
{_BLOCKS.format(rng=rng)}
        if n_r == 0:
            continue
        first = n_r - 1 if reverse else 0
        o = out[a, first, c0:c1]
        xr = x[a, first, c0:c1]
        for c in range(width):
            o[c] = T(xr[c])
        for k in range(1, n_r):
            r = n_r - 1 - k if reverse else k
            prev = out[a, r + 1 if reverse else r - 1, c0:c1]
            o = out[a, r, c0:c1]
            xr = x[a, r, c0:c1]
            for c in range(width):
                o[c] = prev[c] + T(xr[c])
'''
    mod = _scan_modules[acc] = cache.load_module(src, prefix="scan")
    return mod


def scan_sum(x3: np.ndarray, acc_dtype, reverse: bool = False) -> np.ndarray:
    """Inclusive cumulative sum along the middle axis of ``(A, R, C)`` (from the end if ``reverse``)."""
    acc = np.dtype(acc_dtype)
    mod = _scan_module(acc.name)
    n_a, n_r, n_c = x3.shape
    out = np.empty((n_a, n_r, n_c), dtype=acc)
    par = _use_parallel(x3)
    if n_c == 1:
        (mod.inner_par if par and n_a > 1 else mod.inner)(x3.reshape(n_a, n_r), out.reshape(n_a, n_r), reverse)
    else:
        (mod.middle_par if par else mod.middle)(x3, out, reverse, _column_block(n_c, par))
    return out
