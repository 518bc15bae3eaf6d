"""Numba kernels of the CTC loss (Graves et al. 2006): log-space alpha (forward) and beta (backward) recursions
over the blank-extended target ``l'`` of length ``2 * L + 1``, PyTorch's ``ctc_loss`` on the CPU.

``log_probs`` is ``(T, N, C)``; the targets of sample ``n`` are ``targets[tstart[n]:tstart[n] + tlen[n]]`` of a
flat int64 array.  ``log_alpha`` is ``(N, T, S)`` with ``S >= 2 * max(tlen) + 1``.  The loops are serial: a
``parallel=True`` variant took ~4x longer to compile than the loss takes to run at typical sizes.

>>> import numpy as np
>>> from numgrad.kernels.cpu import ctc
>>> lp = np.log(np.full((2, 1, 2), 0.5)); nll = np.empty(1); alpha = np.empty((1, 2, 3))
>>> ctc.ctc_forward(lp, np.array([1]), np.array([0]), np.array([2]), np.array([1]), 0, alpha, nll)
>>> round(float(np.exp(-nll[0])), 4)  # paths "1 1", "0 1", "1 0"
0.75
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

_OPTS = dict(cache=True, nogil=True, error_model="numpy")  # no fastmath: -inf must stay -inf


@njit(**_OPTS)
def _lse(a, b):
    """log(exp(a) + exp(b)), exact for -inf operands."""
    m = max(a, b)
    if m == -np.inf:
        return -np.inf
    return m + math.log(math.exp(a - m) + math.exp(b - m))


@njit(**_OPTS)
def _label(targets, start, s, blank):
    return blank if s % 2 == 0 else targets[start + s // 2]


@njit(**_OPTS)
def ctc_forward(log_probs, targets, tstart, input_lengths, target_lengths, blank, log_alpha, nll):
    """``nll[n] = -log p(target_n | input_n)``; ``log_alpha[n, t, s]`` kept for the backward."""
    for n in range(log_probs.shape[1]):
        T = input_lengths[n]
        L = target_lengths[n]
        S = 2 * L + 1
        start = tstart[n]
        for t in range(log_alpha.shape[1]):
            for s in range(log_alpha.shape[2]):
                log_alpha[n, t, s] = -np.inf
        if T == 0:
            nll[n] = 0.0 if L == 0 else np.inf
            continue
        log_alpha[n, 0, 0] = log_probs[0, n, blank]
        if L > 0:
            log_alpha[n, 0, 1] = log_probs[0, n, targets[start]]
        for t in range(1, T):
            for s in range(S):
                c = _label(targets, start, s, blank)
                v = log_alpha[n, t - 1, s]
                if s > 0:
                    v = _lse(v, log_alpha[n, t - 1, s - 1])
                if s > 1 and c != blank and c != _label(targets, start, s - 2, blank):
                    v = _lse(v, log_alpha[n, t - 1, s - 2])
                if v != -np.inf:
                    v = v + log_probs[t, n, c]
                log_alpha[n, t, s] = v
        last = log_alpha[n, T - 1, S - 1]
        if L > 0:
            last = _lse(last, log_alpha[n, T - 1, S - 2])
        nll[n] = -last


@njit(**_OPTS)
def ctc_backward(grad_out, log_probs, targets, tstart, input_lengths, target_lengths, blank, log_alpha, nll,
                 zero_infinity, grad):
    """PyTorch's gradient: ``grad[t, n, c] = (exp(lp) - exp(log(sum_{s: l'_s = c} alpha * beta) + nll - lp))
    * grad_out[n]`` for ``t < T_n`` (0 after; 0 for the whole sample when its loss is infinite and
    ``zero_infinity``).  It is the gradient with respect to the logits of a ``log_softmax`` that produced
    ``log_probs`` (the ``exp(lp)`` term is that softmax's share), as PyTorch computes it."""
    C = log_probs.shape[2]
    for n in range(log_probs.shape[1]):
        T = input_lengths[n]
        L = target_lengths[n]
        S = 2 * L + 1
        start = tstart[n]
        gr = grad_out[n]
        for t in range(log_probs.shape[0]):
            for c in range(C):
                grad[t, n, c] = 0
        if T == 0 or (zero_infinity and nll[n] == np.inf):
            continue
        beta = np.full((2, S), -np.inf)  # two rows of beta: t + 1 and t
        lcab = np.full(C, -np.inf)
        nl = nll[n]
        for t in range(T - 1, -1, -1):
            cur = t % 2
            nxt = 1 - cur
            for s in range(S):
                c = _label(targets, start, s, blank)
                if t == T - 1:
                    v = log_probs[t, n, c] if s >= S - 2 else -np.inf
                else:
                    v = beta[nxt, s]
                    if s < S - 1:
                        v = _lse(v, beta[nxt, s + 1])
                    if s < S - 2 and c != blank and c != _label(targets, start, s + 2, blank):
                        v = _lse(v, beta[nxt, s + 2])
                    if v != -np.inf:
                        v = v + log_probs[t, n, c]
                beta[cur, s] = v
            for c in range(C):
                lcab[c] = -np.inf
            for s in range(S):
                c = _label(targets, start, s, blank)
                lcab[c] = _lse(lcab[c], log_alpha[n, t, s] + beta[cur, s])
            for c in range(C):
                lp = log_probs[t, n, c]
                grad[t, n, c] = (math.exp(lp) - math.exp(lcab[c] + nl - lp)) * gr
