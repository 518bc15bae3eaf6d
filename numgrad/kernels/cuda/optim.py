"""Fused optimizer update kernels for CUDA: one launch updates a parameter and its state in place.

The per-element updates are the CPU's own: ``kernels/element_bodies.py``
(``sgd_update``, ``adam_update``, ``rmsprop_update``) compiled as device
functions, with ``sqrt`` bound to the device's, so both devices follow
PyTorch's single-tensor implementation in the same order.  One thread
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

from .. import element_bodies
from ..variants import rebind
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


_sgd_elem = cuda.jit(device=True, inline=True)(element_bodies.sgd_update)
_adam_elem = cuda.jit(device=True, inline=True)(rebind(element_bodies.adam_update, sqrt=_sqrt))
_rmsprop_elem = cuda.jit(device=True, inline=True)(rebind(element_bodies.rmsprop_update, sqrt=_sqrt))


@cuda.jit(cache=True)
def _sgd_kernel(p, g, buf, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first):
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        _sgd_elem(p, g, buf, i, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first)


@cuda.jit(cache=True)
def _adam_kernel(p, g, m, v, vmax, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled,
                 amsgrad, maximize, step_size, bc2_sqrt):
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        _adam_elem(p, g, m, v, vmax, i, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled,
                   amsgrad, maximize, step_size, bc2_sqrt)


@cuda.jit(cache=True)
def _rmsprop_kernel(p, g, sq, gavg, buf, lr, alpha, one_minus_alpha, eps, weight_decay, momentum, centered,
                    maximize):
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        _rmsprop_elem(p, g, sq, gavg, buf, i, lr, alpha, one_minus_alpha, eps, weight_decay, momentum, centered,
                      maximize)


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
