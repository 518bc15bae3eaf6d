"""Kernels behind ``numgrad.nn.functional``: softmax / log_softmax and the
class-index gather/scatter of ``nll_loss``.

Softmax-like kernels see their input as a C-contiguous ``(A, R, C)`` array
and normalize over the middle axis ``R`` (``C == 1`` when the dimension is the
last one).  Each ``a`` is independent, so the ``parallel=True`` drivers split
over ``a`` without any shared writes.  Each driver is one ``prange`` loop
compiled serial and parallel by ``serial_and_parallel``, which gives the
parallel copy a name (and on-disk cache entry) of its own.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..config import FASTMATH
from ..variants import serial_and_parallel

# numba accepts a set (not a frozenset) of fast-math flags
_OPTS = dict(cache=True, nogil=True, error_model="numpy", fastmath=set(FASTMATH))


@njit(**_OPTS)
def _softmax_slab(x, out, a, log):
    """Softmax (``log=False``) or log-softmax of ``x[a]`` over its first axis into ``out[a]``.

    exp runs in the input's dtype (expf for float32 is ~1.7x faster than exp);
    the sum of exponentials accumulates in float64.
    """
    rows = x.shape[1]
    cols = x.shape[2]
    if rows == 0:
        return
    if cols == 1:
        peak = x[a, 0, 0]
        for r in range(rows):
            v = x[a, r, 0]
            # a NaN becomes the peak, so it propagates to the whole slab as in PyTorch
            if v > peak or v != v:
                peak = v
        # the sum runs in a loop that stores nothing: a loop that stores and sums at once is vectorized or not
        # by where the arrays lie, and the total would change in its last bit from call to call (DESIGN.md)
        total = 0.0
        if log:
            for r in range(rows):
                total += np.exp(x[a, r, 0] - peak)
            shift = peak + np.log(total)
            for r in range(rows):
                out[a, r, 0] = x[a, r, 0] - shift
        else:
            for r in range(rows):
                out[a, r, 0] = np.exp(x[a, r, 0] - peak)
            for r in range(rows):
                total += out[a, r, 0]
            inv = 1 / total
            for r in range(rows):
                out[a, r, 0] *= inv
        return
    peak = np.empty(cols, dtype=x.dtype)
    total = np.zeros(cols)
    for c in range(cols):
        peak[c] = x[a, 0, c]
    for r in range(rows):
        for c in range(cols):
            v = x[a, r, c]
            if v > peak[c] or v != v:
                peak[c] = v
    for r in range(rows):
        for c in range(cols):
            e = np.exp(x[a, r, c] - peak[c])
            total[c] += e
            if not log:
                out[a, r, c] = e
    if log:
        for c in range(cols):
            total[c] = peak[c] + np.log(total[c])
        for r in range(rows):
            for c in range(cols):
                out[a, r, c] = x[a, r, c] - total[c]
    else:
        for c in range(cols):
            total[c] = 1 / total[c]
        for r in range(rows):
            for c in range(cols):
                out[a, r, c] *= total[c]


def softmax_forward(x, out, log):
    for a in prange(x.shape[0]):
        _softmax_slab(x, out, a, log)


softmax_forward, softmax_forward_par = serial_and_parallel(softmax_forward, **_OPTS)


@njit(**_OPTS)
def _softmax_backward_slab(y, g, out, a, log):
    """Input gradient of (log-)softmax for slab ``a`` given output ``y`` and output gradient ``g``.

    softmax:      dx = y * (g - sum(g * y))
    log_softmax:  dx = g - exp(y) * sum(g)
    """
    rows = y.shape[1]
    cols = y.shape[2]
    if cols == 1:
        total = 0.0
        for r in range(rows):
            total += g[a, r, 0] if log else g[a, r, 0] * y[a, r, 0]
        for r in range(rows):
            if log:
                out[a, r, 0] = g[a, r, 0] - np.exp(y[a, r, 0]) * total
            else:
                out[a, r, 0] = y[a, r, 0] * (g[a, r, 0] - total)
        return
    total = np.zeros(cols)
    for r in range(rows):
        for c in range(cols):
            total[c] += g[a, r, c] if log else g[a, r, c] * y[a, r, c]
    for r in range(rows):
        for c in range(cols):
            if log:
                out[a, r, c] = g[a, r, c] - np.exp(y[a, r, c]) * total[c]
            else:
                out[a, r, c] = y[a, r, c] * (g[a, r, c] - total[c])


def softmax_backward(y, g, out, log):
    for a in prange(y.shape[0]):
        _softmax_backward_slab(y, g, out, a, log)


softmax_backward, softmax_backward_par = serial_and_parallel(softmax_backward, **_OPTS)


@njit(**_OPTS)
def nll_gather(logp, target, weight, ignore_index, out, total):
    """``out[n, d] = -weight[t] * logp[n, t, d]`` with ``t = target[n, d]`` (0 where ignored), and
    ``total[0]`` = the sum of the weights of the counted targets (summed in float64, stored in total's dtype).

    logp: (N, C, D); target: (N, D) integers; weight: (C,); out: (N, D); total: (1,).
    Returns the flat position of the first out-of-range target, or -1.  The total is written here, not
    returned, so that ``ng.compile`` replays it with the step (a returned number is only checked on replay).
    Serial: the weight total is one accumulator, and the pass is a single read of N*D elements.  The loop's
    early exit keeps LLVM from vectorizing it (checked in the IR), so the total's summation order never
    depends on where the arrays lie.
    """
    classes = logp.shape[1]
    acc = 0.0
    for n in range(target.shape[0]):
        for d in range(target.shape[1]):
            t = target[n, d]
            if t == ignore_index:
                out[n, d] = 0
                continue
            if t < 0 or t >= classes:
                total[0] = acc
                return n * target.shape[1] + d
            w = weight[t]
            out[n, d] = -w * logp[n, t, d]
            acc += w
    total[0] = acc
    return -1


@njit(**_OPTS)
def nll_scatter(g, target, weight, ignore_index, out):
    """Adjoint of ``nll_gather``: ``out[n, t, d] = -weight[t] * g[n, d]`` with ``t = target[n, d]``, and 0 in
    every other element of ``out`` (N, C, D): the kernel writes all of it, so no zero fill outside a kernel is
    needed (``ng.compile`` replays what kernels write).

    Each (n, d) writes a distinct element, so there are no colliding writes.  Targets were range-checked by
    the forward pass.
    """
    for n in range(target.shape[0]):
        for c in range(out.shape[1]):
            for d in range(out.shape[2]):
                out[n, c, d] = 0
        for d in range(target.shape[1]):
            t = target[n, d]
            if t != ignore_index:
                out[n, t, d] = -weight[t] * g[n, d]


@njit(**_OPTS)
def all_in_unit_interval(x):
    """True when every element of the 1-D array ``x`` lies in [0, 1] (NaN fails)."""
    for i in range(x.shape[0]):
        v = x[i]
        if not (v >= 0 and v <= 1):
            return False
    return True


@njit(**_OPTS)
def any_below(x, bound):
    """True when some element of the 1-D array ``x`` is below ``bound`` (NaN is not)."""
    for i in range(x.shape[0]):
        if x[i] < bound:
            return True
    return False


@njit(**_OPTS)
def multilabel_target_mask(labels, mask):
    """``mask[n, c]`` = 1 where class c is among row n's targets (the entries of ``labels[n]`` before its first
    negative one), else 0; every element of ``mask`` is written.  labels: (N, C) integers; mask: (N, C) floats.
    Returns False (mask unspecified) when some label lies outside [-1, C)."""
    classes = labels.shape[1]
    for n in range(labels.shape[0]):
        for c in range(classes):
            v = labels[n, c]
            if v < -1 or v >= classes:
                return False
            mask[n, c] = 0
        for c in range(classes):
            v = labels[n, c]
            if v < 0:
                break
            mask[n, v] = 1
    return True


# ----------------------------------------------------------------- fused cross entropy (class indices)
@njit(**_OPTS)
def cross_entropy_forward(x, target, ignore_index, mean, lse, losses, row_weight, total):
    """Per-row ``losses[n] = logsumexp(x[n]) - x[n, t]`` (0 where ``t == ignore_index``) and ``lse[n]``; the
    reduced loss in ``total[0]`` (the float64 sum, divided by the counted rows when ``mean``; NaN when none
    is counted) and ``row_weight[n]`` = d total / d losses[n] (1 or 1/count on counted rows, 0 on ignored ones).

    x: (N, C) C-contiguous; target: (N,) integers.  Returns the first out-of-range row or -1.  The same
    max-shifted, float64-summed log-sum-exp as ``_softmax_slab``, so the loss equals log_softmax + nll_loss.
    Everything the loss needs is written here (no NumPy arithmetic around it), so ``ng.compile`` can replay it.
    """
    classes = x.shape[1]
    counted = 0
    acc = 0.0
    for n in range(x.shape[0]):
        t = target[n]
        if t != ignore_index and (t < 0 or t >= classes):
            return n
        peak = x[n, 0]
        for c in range(classes):
            v = x[n, c]
            if v > peak or v != v:
                peak = v
        sub = 0.0
        for c in range(classes):
            sub += np.exp(x[n, c] - peak)
        shift = peak + np.log(sub)
        lse[n] = shift
        if t == ignore_index:
            losses[n] = 0
            row_weight[n] = 0
        else:
            losses[n] = shift - x[n, t]
            acc += losses[n]
            row_weight[n] = 1
            counted += 1
    if mean:
        if counted:
            for n in range(x.shape[0]):
                row_weight[n] = row_weight[n] / counted
            total[0] = acc / counted
        else:
            total[0] = np.nan
    else:
        total[0] = acc
    return -1


@njit(**_OPTS)
def cross_entropy_backward(x, target, ignore_index, lse, row_weight, g, gx):
    """``gx[n] = (softmax(x[n]) - onehot(t)) * row_weight[n] * g``, zero for ignored rows; ``g`` holds one
    incoming gradient (a reduced loss) or one per row (``reduction='none'``)."""
    per_row = g.shape[0] > 1
    for n in range(x.shape[0]):
        t = target[n]
        if t == ignore_index:
            gx[n, :] = 0
            continue
        s = row_weight[n] * (g[n] if per_row else g[0])
        shift = lse[n]
        for c in range(x.shape[1]):
            gx[n, c] = np.exp(x[n, c] - shift) * s
        gx[n, t] -= s
