"""Kernels of ``scaled_dot_product_attention``: the masked, scaled softmax of the attention scores.

The scores arrive as a C-contiguous ``(B, L, S)`` array (``B`` the flattened batch
dims, ``L`` queries, ``S`` keys).  One pass per row computes
``softmax(scale * s + mask)`` where the mask is one of

- none (``mask_kind == 0``),
- boolean (``mask_kind == 1``): keep where True, as PyTorch's SDPA,
- additive float (``mask_kind == 2``),

and ``causal`` additionally drops every key ``j > i`` (top-left aligned, as
PyTorch's ``is_causal``).  The mask is read where it lives, never broadcast
into a ``(B, L, S)`` copy: it is a ``(Bm, Lm, Sm)`` array with ``Lm`` in
``{1, L}`` and ``Sm`` in ``{1, S}``, and ``mask_slab[b]`` names the slab that
batch row ``b`` reads (the broadcast of the leading dims, computed once on the
host).  A row whose every key is masked gives zeros (PyTorch's math backend
does the same since 2.5), not NaN.

``scale`` arrives as a scalar of the data's dtype, so float32 rows are computed in float32 (PyTorch's
CPU softmax also accumulates in float32).  The backward writes ``scale * p * (g - sum(g * p))`` per row from the saved
probabilities ``p``.  Rows are independent, so the ``prange`` over rows needs
no shared writes; ``serial_and_parallel`` compiles each driver both ways.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..config import FASTMATH
from ..variants import serial_and_parallel
from . import fastmath as fm

_OPTS = dict(cache=True, nogil=True, error_model="numpy", fastmath=set(FASTMATH))


@njit(**_OPTS)
def _masked_softmax_row(s, scale, bmask, fmask, mask_kind, mask_slab, causal, out, row):
    """Row ``row`` (of ``B * L``) of the masked, scaled softmax into ``out``.

    Each pass is its own loop with the mask's case decided outside it, and exp is ``fastmath.exp`` (libm's
    does not vectorize), so LLVM vectorizes every pass.
    """
    n_q = s.shape[1]
    n_k = s.shape[2]
    b = row // n_q
    i = row % n_q
    m = mask_slab[b]
    x = s[b, i]
    y = out[b, i]
    # keys at or after ``limit`` are masked by the causal triangle
    limit = n_k
    if causal and i + 1 < n_k:
        limit = i + 1
    # every scalar below is of the data's dtype (a float64 literal would promote the float32 loops to float64)
    zero = scale - scale
    ninf = zero - np.float32(np.inf)
    # pass 1: the logits (scale * s + mask) into the output row; masked keys hold -inf
    if mask_kind == 2:
        mrow = fmask[m, i if fmask.shape[1] > 1 else 0]
        if fmask.shape[2] > 1:
            for j in range(limit):
                y[j] = x[j] * scale + mrow[j]
        else:
            for j in range(limit):
                y[j] = x[j] * scale + mrow[0]
    elif mask_kind == 1:
        keep = bmask[m, i if bmask.shape[1] > 1 else 0]
        if bmask.shape[2] > 1:
            for j in range(limit):
                y[j] = x[j] * scale if keep[j] else ninf
        else:
            for j in range(limit):
                y[j] = x[j] * scale if keep[0] else ninf
    else:
        for j in range(limit):
            y[j] = x[j] * scale
    peak = y[0]
    for j in range(1, limit):
        peak = max(peak, y[j])
    if peak == ninf:
        # every key masked: zeros, as PyTorch's safe softmax (a NaN logit, which max skips, gives NaN)
        fill = zero
        for j in range(limit):
            if y[j] != y[j]:
                fill = y[j]
        for j in range(n_k):
            y[j] = fill
        return
    # accumulated in the data's dtype, as PyTorch's CPU softmax: a float64 sum kept the float32 loop from
    # vectorizing (3.3x slower); a NaN logit makes the total, and so the whole row, NaN
    total = zero
    for j in range(limit):
        e = fm.exp(y[j] - peak)
        total += e
        y[j] = e
    inv = 1 / total
    for j in range(limit):
        y[j] *= inv
    for j in range(limit, n_k):
        y[j] = 0


def masked_softmax_forward(s, scale, bmask, fmask, mask_kind, mask_slab, causal, out):
    """out (B, L, S) = softmax over the last axis of ``scale * s`` with the mask applied (module docstring)."""
    for row in prange(s.shape[0] * s.shape[1]):
        _masked_softmax_row(s, scale, bmask, fmask, mask_kind, mask_slab, causal, out, np.int64(row))


masked_softmax_forward, masked_softmax_forward_par = serial_and_parallel(masked_softmax_forward, **_OPTS)


@njit(**_OPTS)
def _masked_softmax_backward_row(p, g, scale, out, row):
    n_q = p.shape[1]
    b = row // n_q
    i = row % n_q
    dot = scale - scale
    for j in range(p.shape[2]):
        dot += g[b, i, j] * p[b, i, j]
    for j in range(p.shape[2]):
        out[b, i, j] = scale * p[b, i, j] * (g[b, i, j] - dot)


def masked_softmax_backward(p, g, scale, out):
    """out = scale * p * (g - sum(g * p)) per row: the gradient in the scores (masked keys have p == 0)."""
    for row in prange(p.shape[0] * p.shape[1]):
        _masked_softmax_backward_row(p, g, scale, out, np.int64(row))


masked_softmax_backward, masked_softmax_backward_par = serial_and_parallel(masked_softmax_backward, **_OPTS)
