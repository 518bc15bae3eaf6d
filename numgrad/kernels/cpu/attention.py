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

The backward writes ``scale * p * (g - sum(g * p))`` per row from the saved
probabilities ``p``.  Rows are independent, so the ``prange`` over rows needs
no shared writes; ``serial_and_parallel`` compiles each driver both ways.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..config import FASTMATH
from ..variants import serial_and_parallel

_OPTS = dict(cache=True, nogil=True, error_model="numpy", fastmath=set(FASTMATH))


@njit(**_OPTS)
def _masked_softmax_row(s, scale, bmask, fmask, mask_kind, mask_slab, causal, out, row):
    """Row ``row`` (of ``B * L``) of the masked, scaled softmax into ``out``."""
    n_q = s.shape[1]
    n_k = s.shape[2]
    b = row // n_q
    i = row % n_q
    m = mask_slab[b]
    mi = i if bmask.shape[1] > 1 or fmask.shape[1] > 1 else 0
    stride_j = 1 if (mask_kind == 1 and bmask.shape[2] > 1) or (mask_kind == 2 and fmask.shape[2] > 1) else 0
    limit = n_k
    if causal and i + 1 < n_k:
        limit = i + 1
    peak = -np.inf
    # pass 1: logits (scale * s + mask) into out, their maximum; masked keys hold -inf
    for j in range(n_k):
        v = s[b, i, j] * scale
        if j >= limit:
            v = -np.inf
        elif mask_kind == 1:
            if not bmask[m, mi, j * stride_j]:
                v = -np.inf
        elif mask_kind == 2:
            v = v + fmask[m, mi, j * stride_j]
        out[b, i, j] = v
        # a NaN becomes the peak, so it propagates to the whole row as in PyTorch
        if v > peak or v != v:
            peak = v
    if peak == -np.inf:
        # every key masked: zeros, as PyTorch's safe softmax
        for j in range(n_k):
            out[b, i, j] = 0
        return
    total = 0.0
    for j in range(n_k):
        e = np.exp(out[b, i, j] - peak)
        total += e
        out[b, i, j] = e
    inv = 1 / total
    for j in range(n_k):
        out[b, i, j] *= inv


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
    dot = 0.0
    for j in range(p.shape[2]):
        dot += g[b, i, j] * p[b, i, j]
    for j in range(p.shape[2]):
        out[b, i, j] = scale * p[b, i, j] * (g[b, i, j] - dot)


def masked_softmax_backward(p, g, scale, out):
    """out = scale * p * (g - sum(g * p)) per row: the gradient in the scores (masked keys have p == 0)."""
    for row in prange(p.shape[0] * p.shape[1]):
        _masked_softmax_backward_row(p, g, scale, out, np.int64(row))


masked_softmax_backward, masked_softmax_backward_par = serial_and_parallel(masked_softmax_backward, **_OPTS)
