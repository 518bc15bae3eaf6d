"""Fused optimizer update kernels: one pass over a parameter updates it and its state in place.

Each kernel reads the gradient once and writes the parameter and its state
buffers once, in the order of PyTorch's single-tensor implementation, so the
results match ``torch.optim`` to rounding.  Arrays are flat and contiguous;
hyper-parameters arrive as scalars of the parameter's dtype so float32
parameters are updated in float32 arithmetic, as PyTorch does.  Elements are
independent, so the ``parallel=True`` variants are race-free.

The per-element updates live in ``kernels/element_bodies.py``, shared with
the CUDA kernels; each loop below is written once and compiled serial
(``sgd_step``) and parallel (``sgd_step_par``) by ``serial_and_parallel``.
"""
from __future__ import annotations

from numba import njit, prange

from .. import element_bodies
from ..config import FASTMATH
from ..variants import serial_and_parallel

_OPTS = dict(cache=True, nogil=True, error_model="numpy", fastmath=set(FASTMATH))

_sgd_elem = njit(**_OPTS)(element_bodies.sgd_update)
_adam_elem = njit(**_OPTS)(element_bodies.adam_update)
_rmsprop_elem = njit(**_OPTS)(element_bodies.rmsprop_update)


def sgd_step(p, g, buf, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first):
    for i in prange(p.shape[0]):
        _sgd_elem(p, g, buf, i, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first)


sgd_step, sgd_step_par = serial_and_parallel(sgd_step, **_OPTS)


def adam_step(p, g, m, v, vmax, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled, amsgrad, maximize, step_size,
              bc2_sqrt):
    for i in prange(p.shape[0]):
        _adam_elem(p, g, m, v, vmax, i, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled, amsgrad, maximize,
                   step_size, bc2_sqrt)


adam_step, adam_step_par = serial_and_parallel(adam_step, **_OPTS)


def rmsprop_step(p, g, sq, gavg, buf, lr, alpha, one_minus_alpha, eps, weight_decay, momentum, centered, maximize):
    for i in prange(p.shape[0]):
        _rmsprop_elem(p, g, sq, gavg, buf, i, lr, alpha, one_minus_alpha, eps, weight_decay, momentum, centered, maximize)


rmsprop_step, rmsprop_step_par = serial_and_parallel(rmsprop_step, **_OPTS)
