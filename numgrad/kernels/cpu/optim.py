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
_adagrad_elem = njit(**_OPTS)(element_bodies.adagrad_update)
_adadelta_elem = njit(**_OPTS)(element_bodies.adadelta_update)
_adamax_elem = njit(**_OPTS)(element_bodies.adamax_update)
_nadam_elem = njit(**_OPTS)(element_bodies.nadam_update)
_radam_elem = njit(**_OPTS)(element_bodies.radam_update)
_rprop_elem = njit(**_OPTS)(element_bodies.rprop_update)
_asgd_elem = njit(**_OPTS)(element_bodies.asgd_update)


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


def adagrad_step(p, g, acc, neg_clr, eps, weight_decay, maximize):
    for i in prange(p.shape[0]):
        _adagrad_elem(p, g, acc, i, neg_clr, eps, weight_decay, maximize)


adagrad_step, adagrad_step_par = serial_and_parallel(adagrad_step, **_OPTS)


def adadelta_step(p, g, sq, acc_delta, neg_lr, rho, one_minus_rho, eps, weight_decay, maximize):
    for i in prange(p.shape[0]):
        _adadelta_elem(p, g, sq, acc_delta, i, neg_lr, rho, one_minus_rho, eps, weight_decay, maximize)


adadelta_step, adadelta_step_par = serial_and_parallel(adadelta_step, **_OPTS)


def adamax_step(p, g, m, u, one_minus_beta1, beta2, eps, weight_decay, maximize, neg_clr):
    for i in prange(p.shape[0]):
        _adamax_elem(p, g, m, u, i, one_minus_beta1, beta2, eps, weight_decay, maximize, neg_clr)


adamax_step, adamax_step_par = serial_and_parallel(adamax_step, **_OPTS)


def nadam_step(p, g, m, v, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled, maximize,
               bias_correction2, grad_coef, avg_coef):
    for i in prange(p.shape[0]):
        _nadam_elem(p, g, m, v, i, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled,
                    maximize, bias_correction2, grad_coef, avg_coef)


nadam_step, nadam_step_par = serial_and_parallel(nadam_step, **_OPTS)


def radam_step(p, g, m, v, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled, maximize,
               bias_correction1, lr, rectified, bc2_sqrt, rect):
    for i in prange(p.shape[0]):
        _radam_elem(p, g, m, v, i, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled,
                    maximize, bias_correction1, lr, rectified, bc2_sqrt, rect)


radam_step, radam_step_par = serial_and_parallel(radam_step, **_OPTS)


def rprop_step(p, g, prev, step_size, etaminus, etaplus, step_size_min, step_size_max, maximize):
    for i in prange(p.shape[0]):
        _rprop_elem(p, g, prev, step_size, i, etaminus, etaplus, step_size_min, step_size_max, maximize)


rprop_step, rprop_step_par = serial_and_parallel(rprop_step, **_OPTS)


def asgd_step(p, g, ax, decay, neg_eta, mu, weight_decay, average, maximize):
    for i in prange(p.shape[0]):
        _asgd_elem(p, g, ax, i, decay, neg_eta, mu, weight_decay, average, maximize)


asgd_step, asgd_step_par = serial_and_parallel(asgd_step, **_OPTS)
