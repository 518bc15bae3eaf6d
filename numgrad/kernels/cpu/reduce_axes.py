"""Reduction kernels generated from a small table of reducers.

Any reduction of a C-contiguous array over a run of adjacent axes is a
reduction of an ``(A, R, C)`` view over its middle axis, so two loop shapes
cover everything: ``(A, R) -> (A,)`` when the reduced axes are innermost
(vectorized along R), and ``(A, R, C) -> (A, C)`` otherwise (vectorized along
C).  Reductions over non-adjacent axes run as several such passes.
"""
from __future__ import annotations

import numpy as np

from .. import cache
from ..config import FASTMATH_LITERAL, PARALLEL_THRESHOLD

# name -> (initial value, combine step "acc = ...(acc, v)")
REDUCERS = {
    "sum": ("T(0)", "acc + v"),
    "prod": ("T(1)", "acc * v"),
    # NaN propagates: once acc is NaN neither branch replaces it
    "amax": ("LOW", "v if (v > acc or v != v) else acc"),
    "amin": ("HIGH", "v if (v < acc or v != v) else acc"),
    "any": ("False", "acc or bool(v)"),
    "all": ("True", "acc and bool(v)"),
}

_mods: dict = {}


def reducer_source(reducer: str, acc_dtype: str) -> tuple:
    """``(initial value, combine step)`` source of ``reducer`` for accumulator dtype ``acc_dtype``.

    The initial value is an expression over ``T`` (the accumulator type) and
    ``np``; amax/amin start from the dtype's lowest/highest value.  Shared by
    the CPU and CUDA generators so that both reduce with the same semantics.
    """
    init, step = REDUCERS[reducer]
    is_float = acc_dtype.startswith("float")
    low = "T(-np.inf)" if is_float else f"np.iinfo(np.{acc_dtype}).min" if acc_dtype != "bool" else "False"
    high = "T(np.inf)" if is_float else f"np.iinfo(np.{acc_dtype}).max" if acc_dtype != "bool" else "True"
    return init.replace("LOW", low).replace("HIGH", high), step


def _module(reducer: str, acc_dtype: str):
    key = (reducer, acc_dtype)
    mod = _mods.get(key)
    if mod is not None:
        return mod
    init, step = reducer_source(reducer, acc_dtype)
    src = f'''import numpy as np
from numba import njit, prange
T = np.{acc_dtype}
FASTMATH = {FASTMATH_LITERAL}
'''
    for variant, rng, extra in (("", "range", ""), ("_par", "prange", ", parallel=True")):
        src += f'''
@njit(cache=True, nogil=True, error_model="numpy", fastmath=FASTMATH{extra})
def inner{variant}(x, out):
    for a in {rng}(x.shape[0]):
        acc = {init}
        for r in range(x.shape[1]):
            v = T(x[a, r])
            acc = {step}
        out[a] = acc


@njit(cache=True, nogil=True, error_model="numpy", fastmath=FASTMATH{extra})
def middle{variant}(x, out):
    for a in {rng}(x.shape[0]):
        for c in range(x.shape[2]):
            out[a, c] = {init}
        for r in range(x.shape[1]):
            for c in range(x.shape[2]):
                acc = out[a, c]
                v = T(x[a, r, c])
                out[a, c] = {step}
'''
    mod = _mods[key] = cache.load_module(src, prefix="reduce")
    return mod


def _runs(axes):
    runs = []
    for ax in sorted(axes):
        if runs and runs[-1][1] == ax:
            runs[-1][1] = ax + 1
        else:
            runs.append([ax, ax + 1])
    return runs


def reduce_array(x: np.ndarray, axes, reducer: str, acc_dtype) -> np.ndarray:
    """Reduce the C-contiguous ``x`` over the non-empty ``axes`` (keepdim=False) with accumulator/result dtype
    ``acc_dtype``.  ``CpuBackend.reduce_array`` (kernels/cpu/backend.py) takes any ``x`` and ``axes``: it makes
    the copy a strided input or an empty ``axes`` needs, so this module needs no copy kernel of its own."""
    acc_dtype = np.dtype(acc_dtype)
    axes = sorted(set(axes))
    mod = _module(reducer, acc_dtype.name)
    shape = list(x.shape)
    # innermost run first keeps every pass on a contiguous array
    for start, stop in reversed(_runs(axes)):
        a = int(np.prod(shape[:start], dtype=np.int64))
        r = int(np.prod(shape[start:stop], dtype=np.int64))
        c = int(np.prod(shape[stop:], dtype=np.int64))
        par = x.size >= PARALLEL_THRESHOLD and a > 1
        if c == 1:
            out = np.empty(a, dtype=acc_dtype)
            (mod.inner_par if par else mod.inner)(x.reshape(a, r), out)
        else:
            out = np.empty((a, c), dtype=acc_dtype)
            (mod.middle_par if par else mod.middle)(x.reshape(a, r, c), out)
        shape = shape[:start] + shape[stop:]
        x = out.reshape(shape)
    return x
