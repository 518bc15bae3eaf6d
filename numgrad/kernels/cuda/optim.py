"""Fused optimizer update kernels for CUDA: one launch updates a parameter and its state in place.

The per-element updates are those of ``kernels/cpu/optim.py`` (``_sgd_elem``,
``_adam_elem``, ``_rmsprop_elem``), statement for statement, so both devices
follow PyTorch's single-tensor implementation in the same order.  One thread
per element in a grid-stride loop; elements are independent, so the launch is
race-free.  Hyper-parameters arrive as NumPy scalars of the parameter's dtype,
so float32 parameters are updated in float32 arithmetic (``math.sqrt`` of a
float32 is ``sqrtf`` on the device).

The Python wrappers take flat, C-contiguous ``DeviceArray``s and have the
signatures of the CPU kernels; the ``*_par`` names are the same functions (a
GPU launch is always parallel), so ``Optimizer._update`` needs no device test.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from . import simulator_enabled
from .elementwise import launch_config

if simulator_enabled():
    # kernels are plain Python on the simulator, where math.sqrt raises on a negative argument
    # (centered RMSprop can round s - ga * ga below zero); the device gives NaN, as NumPy does
    def _sqrt(x):
        with np.errstate(invalid="ignore"):
            return np.sqrt(x)
else:
    @cuda.jit(device=True, inline=True)
    def _sqrt(x):
        return math.sqrt(x)


@cuda.jit(cache=True)
def _sgd_kernel(p, g, buf, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first):
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
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


@cuda.jit(cache=True)
def _adam_kernel(p, g, m, v, vmax, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled,
                 amsgrad, maximize, step_size, bc2_sqrt):
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
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
        denom = _sqrt(vi) / bc2_sqrt + eps
        p[i] = p[i] - step_size * (mi / denom)


@cuda.jit(cache=True)
def _rmsprop_kernel(p, g, sq, gavg, buf, lr, alpha, one_minus_alpha, eps, weight_decay, momentum, centered,
                    maximize):
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        grad = -g[i] if maximize else g[i]
        if weight_decay != 0:
            grad = grad + weight_decay * p[i]
        s = sq[i] * alpha + one_minus_alpha * grad * grad
        sq[i] = s
        if centered:
            ga = gavg[i] + one_minus_alpha * (grad - gavg[i])
            gavg[i] = ga
            avg = _sqrt(s - ga * ga) + eps
        else:
            avg = _sqrt(s) + eps
        if momentum > 0:
            b = buf[i] * momentum + grad / avg
            buf[i] = b
            p[i] = p[i] - lr * b
        else:
            p[i] = p[i] - lr * (grad / avg)


def _launch(kernel, p, arrays, scalars) -> None:
    n = p.shape[0]
    if n == 0:
        return
    blocks, threads = launch_config(n)
    kernel[blocks, threads](*(a.kernel_arg() for a in arrays), *scalars)


def sgd_step(p, g, buf, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first) -> None:
    """SGD on flat DeviceArrays ``p`` (updated), ``g`` and ``buf`` (the momentum buffer, updated)."""
    _launch(_sgd_kernel, p, (p, g, buf),
            (lr, weight_decay, momentum, one_minus_dampening, bool(nesterov), bool(maximize), bool(first)))


def adam_step(p, g, m, v, vmax, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled,
              amsgrad, maximize, step_size, bc2_sqrt) -> None:
    """Adam/AdamW on flat DeviceArrays: ``p``, ``m``, ``v`` and ``vmax`` are updated in place."""
    _launch(_adam_kernel, p, (p, g, m, v, vmax),
            (decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, bool(decoupled), bool(amsgrad),
             bool(maximize), step_size, bc2_sqrt))


def rmsprop_step(p, g, sq, gavg, buf, lr, alpha, one_minus_alpha, eps, weight_decay, momentum, centered,
                 maximize) -> None:
    """RMSprop on flat DeviceArrays: ``p``, ``sq``, ``gavg`` and ``buf`` are updated in place."""
    _launch(_rmsprop_kernel, p, (p, g, sq, gavg, buf),
            (lr, alpha, one_minus_alpha, eps, weight_decay, momentum, bool(centered), bool(maximize)))


# a GPU launch is parallel already: the optimizers' `parallel` choice maps to the same kernels
sgd_step_par = sgd_step
adam_step_par = adam_step
rmsprop_step_par = rmsprop_step
