"""CUDA kernels behind ``numgrad.nn.functional``: softmax / log_softmax, forward and backward, and the
input checks of ``binary_cross_entropy`` and ``gaussian_nll_loss``, and the target mask of
``multilabel_margin_loss``.

Same contract as the CPU kernels in ``kernels/cpu/nnfunc.py``: arrays viewed as
C-contiguous ``(A, R, C)`` slabs, softmax over the middle axis.  One thread per
``(a, c)`` column makes three passes over ``R`` (max, sum of exp, write), which
keeps every thread's reads independent of the others: race-free and
deterministic.  A block-per-row variant (shared-memory max and sum) would be
faster when ``R`` is long and ``A * C`` small.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .array import from_host
from .elementwise import launch_config


@cuda.jit(cache=True)
def _softmax_forward(x, out, log):
    for flat in range(cuda.grid(1), x.shape[0] * x.shape[2], cuda.gridsize(1)):
        a = flat // x.shape[2]
        c = flat % x.shape[2]
        top = x[a, 0, c]
        for r in range(1, x.shape[1]):
            v = x[a, r, c]
            if v > top or v != v:
                top = v
        total = x[a, 0, c] * 0
        for r in range(x.shape[1]):
            total += math.exp(x[a, r, c] - top)
        if log:
            shift = top + math.log(total)
            for r in range(x.shape[1]):
                out[a, r, c] = x[a, r, c] - shift
        else:
            for r in range(x.shape[1]):
                out[a, r, c] = math.exp(x[a, r, c] - top) / total


@cuda.jit(cache=True)
def _softmax_backward(y, g, out, log):
    for flat in range(cuda.grid(1), y.shape[0] * y.shape[2], cuda.gridsize(1)):
        a = flat // y.shape[2]
        c = flat % y.shape[2]
        total = y[a, 0, c] * 0
        for r in range(y.shape[1]):
            total += g[a, r, c] if log else g[a, r, c] * y[a, r, c]
        for r in range(y.shape[1]):
            if log:
                out[a, r, c] = g[a, r, c] - math.exp(y[a, r, c]) * total
            else:
                out[a, r, c] = y[a, r, c] * (g[a, r, c] - total)


def softmax_forward(slabs, out, log: bool) -> None:
    """``out = softmax(slabs)`` (or log_softmax) over axis 1 of ``(A, R, C)`` DeviceArrays."""
    blocks, threads = launch_config(slabs.shape[0] * slabs.shape[2])
    _softmax_forward[blocks, threads](slabs.kernel_arg(), out.kernel_arg(), bool(log))


def softmax_backward(ys, gs, out, log: bool) -> None:
    """The input gradient of softmax (or log_softmax) from its output ``ys`` and incoming gradient ``gs``."""
    blocks, threads = launch_config(ys.shape[0] * ys.shape[2])
    _softmax_backward[blocks, threads](ys.kernel_arg(), gs.kernel_arg(), out.kernel_arg(), bool(log))


@cuda.jit(cache=True)
def _outside_unit_interval(x, flag):
    """flag[0] = 1 when some element of the 1-D x is outside [0, 1] or NaN (every writer stores the same 1)."""
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        v = x[i]
        if not (v >= 0 and v <= 1):
            flag[0] = 1


def all_in_unit_interval(x) -> bool:
    """True when every element of the 1-D DeviceArray ``x`` lies in [0, 1]: one kernel, one read back."""
    flag = from_host(np.zeros(1, dtype=np.int32))
    if x.size:
        blocks, threads = launch_config(x.size)
        _outside_unit_interval[blocks, threads](x.kernel_arg(), flag.kernel_arg())
    return flag.item() == 0


@cuda.jit(cache=True)
def _below(x, bound, flag):
    """flag[0] = 1 when some element of the 1-D x is below ``bound`` (every writer stores the same 1)."""
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        if x[i] < bound:
            flag[0] = 1


def any_below(x, bound: float) -> bool:
    """True when some element of the 1-D DeviceArray ``x`` is below ``bound`` (NaN is not): one kernel, one read
    back."""
    flag = from_host(np.zeros(1, dtype=np.int32))
    if x.size:
        blocks, threads = launch_config(x.size)
        _below[blocks, threads](x.kernel_arg(), float(bound), flag.kernel_arg())
    return flag.item() != 0


@cuda.jit(cache=True)
def _multilabel_target_mask(labels, mask, bad):
    """One thread per row n: ``mask[n, c]`` = 1 where c is among the labels before the row's first negative one,
    else 0; ``bad[0]`` = 1 when a label lies outside [-1, C)."""
    classes = labels.shape[1]
    for n in range(cuda.grid(1), labels.shape[0], cuda.gridsize(1)):
        for c in range(classes):
            v = labels[n, c]
            if v < -1 or v >= classes:
                bad[0] = 1
            mask[n, c] = 0
        for c in range(classes):
            v = labels[n, c]
            if v < 0 or v >= classes:
                break
            mask[n, v] = 1


def multilabel_target_mask(labels, mask) -> bool:
    """``nnfunc.multilabel_target_mask`` of the CPU on (N, C) DeviceArrays: one kernel, one read back."""
    bad = from_host(np.zeros(1, dtype=np.int32))
    if labels.shape[0]:
        blocks, threads = launch_config(labels.shape[0])
        _multilabel_target_mask[blocks, threads](labels.kernel_arg(), mask.kernel_arg(), bad.kernel_arg())
    return bad.item() == 0
