"""Fused optimizer update kernels for CUDA: one launch updates a parameter and its state in place.

The per-element updates are the CPU's own: ``kernels/element_bodies.py``
(``sgd_update``, ``adam_update``, ``rmsprop_update``, ``adagrad_update``, ...) compiled as device
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
_adagrad_elem = cuda.jit(device=True, inline=True)(rebind(element_bodies.adagrad_update, sqrt=_sqrt))
_adadelta_elem = cuda.jit(device=True, inline=True)(rebind(element_bodies.adadelta_update, sqrt=_sqrt))
_adamax_elem = cuda.jit(device=True, inline=True)(element_bodies.adamax_update)
_nadam_elem = cuda.jit(device=True, inline=True)(rebind(element_bodies.nadam_update, sqrt=_sqrt))
_radam_elem = cuda.jit(device=True, inline=True)(rebind(element_bodies.radam_update, sqrt=_sqrt))
_rprop_elem = cuda.jit(device=True, inline=True)(element_bodies.rprop_update)
_asgd_elem = cuda.jit(device=True, inline=True)(element_bodies.asgd_update)


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


@cuda.jit(cache=True)
def _adagrad_kernel(p, g, acc, neg_clr, eps, weight_decay, maximize):
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        _adagrad_elem(p, g, acc, i, neg_clr, eps, weight_decay, maximize)


@cuda.jit(cache=True)
def _adadelta_kernel(p, g, sq, acc_delta, neg_lr, rho, one_minus_rho, eps, weight_decay, maximize):
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        _adadelta_elem(p, g, sq, acc_delta, i, neg_lr, rho, one_minus_rho, eps, weight_decay, maximize)


@cuda.jit(cache=True)
def _adamax_kernel(p, g, m, u, one_minus_beta1, beta2, eps, weight_decay, maximize, neg_clr):
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        _adamax_elem(p, g, m, u, i, one_minus_beta1, beta2, eps, weight_decay, maximize, neg_clr)


@cuda.jit(cache=True)
def _nadam_kernel(p, g, m, v, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled, maximize,
                  bias_correction2, grad_coef, avg_coef):
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        _nadam_elem(p, g, m, v, i, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled,
                    maximize, bias_correction2, grad_coef, avg_coef)


@cuda.jit(cache=True)
def _radam_kernel(p, g, m, v, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled, maximize,
                  bias_correction1, lr, rectified, bc2_sqrt, rect):
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        _radam_elem(p, g, m, v, i, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled,
                    maximize, bias_correction1, lr, rectified, bc2_sqrt, rect)


@cuda.jit(cache=True)
def _rprop_kernel(p, g, prev, step_size, etaminus, etaplus, step_size_min, step_size_max, maximize):
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        _rprop_elem(p, g, prev, step_size, i, etaminus, etaplus, step_size_min, step_size_max, maximize)


@cuda.jit(cache=True)
def _asgd_kernel(p, g, ax, decay, neg_eta, mu, weight_decay, average, maximize):
    for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
        _asgd_elem(p, g, ax, i, decay, neg_eta, mu, weight_decay, average, maximize)


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


def adagrad_step(p, g, acc, neg_clr, eps, weight_decay, maximize) -> None:
    """Adagrad on flat DeviceArrays: ``p`` and the squared-gradient sum ``acc`` are updated in place."""
    _launch(_adagrad_kernel, p, (p, g, acc), (neg_clr, eps, weight_decay, bool(maximize)))


def adadelta_step(p, g, sq, acc_delta, neg_lr, rho, one_minus_rho, eps, weight_decay, maximize) -> None:
    """Adadelta on flat DeviceArrays: ``p``, ``sq`` and ``acc_delta`` are updated in place."""
    _launch(_adadelta_kernel, p, (p, g, sq, acc_delta), (neg_lr, rho, one_minus_rho, eps, weight_decay, bool(maximize)))


def adamax_step(p, g, m, u, one_minus_beta1, beta2, eps, weight_decay, maximize, neg_clr) -> None:
    """Adamax on flat DeviceArrays: ``p``, ``m`` and the infinity norm ``u`` are updated in place."""
    _launch(_adamax_kernel, p, (p, g, m, u), (one_minus_beta1, beta2, eps, weight_decay, bool(maximize), neg_clr))


def nadam_step(p, g, m, v, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled, maximize,
               bias_correction2, grad_coef, avg_coef) -> None:
    """NAdam on flat DeviceArrays: ``p``, ``m`` and ``v`` are updated in place."""
    _launch(_nadam_kernel, p, (p, g, m, v),
            (decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, bool(decoupled), bool(maximize),
             bias_correction2, grad_coef, avg_coef))


def radam_step(p, g, m, v, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled, maximize,
               bias_correction1, lr, rectified, bc2_sqrt, rect) -> None:
    """RAdam on flat DeviceArrays: ``p``, ``m`` and ``v`` are updated in place."""
    _launch(_radam_kernel, p, (p, g, m, v),
            (decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, bool(decoupled), bool(maximize),
             bias_correction1, lr, bool(rectified), bc2_sqrt, rect))


def rprop_step(p, g, prev, step_size, etaminus, etaplus, step_size_min, step_size_max, maximize) -> None:
    """Rprop on flat DeviceArrays: ``p``, ``prev`` and ``step_size`` are updated in place."""
    _launch(_rprop_kernel, p, (p, g, prev, step_size), (etaminus, etaplus, step_size_min, step_size_max, bool(maximize)))


def asgd_step(p, g, ax, decay, neg_eta, mu, weight_decay, average, maximize) -> None:
    """ASGD on flat DeviceArrays: ``p`` and the average ``ax`` are updated in place."""
    _launch(_asgd_kernel, p, (p, g, ax), (decay, neg_eta, mu, weight_decay, bool(average), bool(maximize)))


# a GPU launch is parallel already: the optimizers' `parallel` choice maps to the same kernels
sgd_step_par = sgd_step
adam_step_par = adam_step
rmsprop_step_par = rmsprop_step
adagrad_step_par = adagrad_step
adadelta_step_par = adadelta_step
adamax_step_par = adamax_step
nadam_step_par = nadam_step
radam_step_par = radam_step
rprop_step_par = rprop_step
asgd_step_par = asgd_step
