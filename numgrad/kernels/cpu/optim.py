"""Fused optimizer update kernels: one pass over a parameter updates it and its state in place.

Each kernel reads the gradient once and writes the parameter and its state
buffers once, in the order of PyTorch's single-tensor implementation, so the
results match ``torch.optim`` to rounding.  Arrays are flat and contiguous;
hyper-parameters arrive as scalars of the parameter's dtype so float32
parameters are updated in float32 arithmetic, as PyTorch does.  Elements are
independent, so the ``parallel=True`` variants are race-free.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..config import FASTMATH

_OPTS = dict(cache=True, nogil=True, error_model="numpy", fastmath=set(FASTMATH))


@njit(**_OPTS)
def _sgd_elem(p, g, buf, i, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first):
    d = -g[i] if maximize else g[i]
    if weight_decay != 0:
        d = d + weight_decay * p[i]
    if momentum != 0:
        if first:
            b = d
        else:
            b = momentum * buf[i] + one_minus_dampening * d
        buf[i] = b
        if nesterov:
            d = d + momentum * b
        else:
            d = b
    p[i] = p[i] - lr * d


@njit(**_OPTS)
def sgd_step(p, g, buf, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first):
    for i in range(p.shape[0]):
        _sgd_elem(p, g, buf, i, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first)


@njit(parallel=True, **_OPTS)
def sgd_step_par(p, g, buf, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first):
    for i in prange(p.shape[0]):
        _sgd_elem(p, g, buf, i, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first)


@njit(**_OPTS)
def _adam_elem(p, g, m, v, vmax, i, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled, amsgrad, maximize,
               step_size, bc2_sqrt):
    grad = -g[i] if maximize else g[i]
    if decoupled:
        p[i] = p[i] * decay
    elif weight_decay != 0:
        grad = grad + weight_decay * p[i]
    mi = m[i] + one_minus_beta1 * (grad - m[i])
    vi = v[i] * beta2 + one_minus_beta2 * grad * grad
    m[i] = mi
    v[i] = vi
    if amsgrad:
        if vi > vmax[i] or vi != vi:
            vmax[i] = vi
        vi = vmax[i]
    denom = np.sqrt(vi) / bc2_sqrt + eps
    p[i] = p[i] - step_size * (mi / denom)


@njit(**_OPTS)
def adam_step(p, g, m, v, vmax, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled, amsgrad, maximize, step_size,
              bc2_sqrt):
    for i in range(p.shape[0]):
        _adam_elem(p, g, m, v, vmax, i, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled, amsgrad, maximize,
                   step_size, bc2_sqrt)


@njit(parallel=True, **_OPTS)
def adam_step_par(p, g, m, v, vmax, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled, amsgrad, maximize, step_size,
                  bc2_sqrt):
    for i in prange(p.shape[0]):
        _adam_elem(p, g, m, v, vmax, i, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled, amsgrad, maximize,
                   step_size, bc2_sqrt)


@njit(**_OPTS)
def _rmsprop_elem(p, g, sq, gavg, buf, i, lr, alpha, one_minus_alpha, eps, weight_decay, momentum, centered, maximize):
    grad = -g[i] if maximize else g[i]
    if weight_decay != 0:
        grad = grad + weight_decay * p[i]
    s = sq[i] * alpha + one_minus_alpha * grad * grad
    sq[i] = s
    if centered:
        ga = gavg[i] + one_minus_alpha * (grad - gavg[i])
        gavg[i] = ga
        avg = np.sqrt(s - ga * ga) + eps
    else:
        avg = np.sqrt(s) + eps
    if momentum > 0:
        b = buf[i] * momentum + grad / avg
        buf[i] = b
        p[i] = p[i] - lr * b
    else:
        p[i] = p[i] - lr * (grad / avg)


@njit(**_OPTS)
def rmsprop_step(p, g, sq, gavg, buf, lr, alpha, one_minus_alpha, eps, weight_decay, momentum, centered, maximize):
    for i in range(p.shape[0]):
        _rmsprop_elem(p, g, sq, gavg, buf, i, lr, alpha, one_minus_alpha, eps, weight_decay, momentum, centered, maximize)


@njit(parallel=True, **_OPTS)
def rmsprop_step_par(p, g, sq, gavg, buf, lr, alpha, one_minus_alpha, eps, weight_decay, momentum, centered, maximize):
    for i in prange(p.shape[0]):
        _rmsprop_elem(p, g, sq, gavg, buf, i, lr, alpha, one_minus_alpha, eps, weight_decay, momentum, centered, maximize)
