"""Gradients at the edges of ops' domains (zeros, ties, bounds, infinities) against PyTorch's: where a derivative
formula meets 0/0 or a tie, PyTorch's answer (a masked 0, an even split, a strict bound) is the one to give.

PyTorch answers differently on: ``special.entr`` at 0 (+inf; numgrad NaN), ``copysign``'s ``other`` (zeros;
numgrad no gradient) and ``det`` of a singular matrix (numgrad raises).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng


def _grads(lib, f, *arrays):
    ts = [lib.tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    out = f(lib, *ts)
    out.sum().backward()
    return [None if t.grad is None else np.asarray(t.grad.tolist()) for t in ts]


CASES = {
 "sinc0": (lambda L, x: L.sinc(x), [0.0, 0.5]),
 "norm_zero": (lambda L, x: x.norm(), [0.0, 0.0]),
 "norm_dim_zero": (lambda L, x: x.reshape(2, 2).norm(dim=1), [0.0, 0.0, 3.0, 4.0]),
 "vector_norm_inf": (lambda L, x: L.linalg.vector_norm(x, ord=float('inf')), [1.0, -3.0, 3.0]),
 "sqrt0": (lambda L, x: x.sqrt(), [0.0, 4.0]),
 "abs0": (lambda L, x: x.abs(), [0.0, -2.0]),
 "clamp_edge": (lambda L, x: x.clamp(0.0, 1.0), [0.0, 1.0, 0.5, 2.0]),
 "relu0": (lambda L, x: L.relu(x), [0.0, 1.0]),
 "max_ties": (lambda L, x: x.max(), [2.0, 2.0, 1.0]),
 "amax_ties": (lambda L, x: x.amax(), [2.0, 2.0, 1.0]),
 "max_dim_ties": (lambda L, x: x.reshape(1, 3).max(dim=1)[0], [2.0, 2.0, 1.0]),
 "median_ties": (lambda L, x: x.median(), [1.0, 2.0, 2.0, 3.0]),
 "prod_zero": (lambda L, x: x.prod(), [0.0, 2.0, 3.0]),
 "prod_two_zeros": (lambda L, x: x.prod(), [0.0, 2.0, 0.0]),
 "cumprod_zero": (lambda L, x: x.cumprod(0), [2.0, 0.0, 3.0]),
 "std_const": (lambda L, x: x.std(), [1.0, 1.0, 1.0]),
 "normalize_zero": (lambda L, x: L.nn.functional.normalize(x.reshape(1, 2), dim=1), [0.0, 0.0]),
 "pow00": (lambda L, x: x.pow(0.0), [0.0, 2.0]),
 "pow_x_y": (lambda L, x, y: x.pow(y), [0.0, 2.0], [2.0, 0.5]),
 "pow0_neg": (lambda L, x, y: x.pow(y), [0.0, 2.0], [0.0, 1.0]),
 "atan2_00": (lambda L, x, y: L.atan2(x, y), [0.0, 1.0], [0.0, 1.0]),
 "hypot00": (lambda L, x, y: L.hypot(x, y), [0.0, 3.0], [0.0, 4.0]),
 "cos_sim_zero": (lambda L, x, y: L.nn.functional.cosine_similarity(x.reshape(1, 2), y.reshape(1, 2)), [0.0, 0.0], [1.0, 2.0]),
 "cdist_same": (lambda L, x: L.cdist(x.reshape(2, 1), x.reshape(2, 1)), [1.0, 2.0]),
 "logsumexp_ninf": (lambda L, x: x.logsumexp(0), [float('-inf'), float('-inf')]),
 "softplus_big": (lambda L, x: L.nn.functional.softplus(x), [50.0, -50.0]),
 "log_softmax_ninf": (lambda L, x: L.log_softmax(x, 0)[1], [float('-inf'), 0.0]),
 "logit_eps": (lambda L, x: L.logit(x, eps=0.1), [0.0, 0.5, 1.0]),
 "minimum_tie": (lambda L, x, y: L.minimum(x, y), [1.0, 2.0], [1.0, 3.0]),
 "fmax_nan": (lambda L, x, y: L.fmax(x, y), [float('nan'), 2.0], [1.0, 3.0]),
 "where_nan_branch": (lambda L, x: L.where(x > 0, x.log(), L.zeros_like(x)), [0.0, 1.0]),
 "masked_fill": (lambda L, x: x.masked_fill(x > 1, 0.0), [0.5, 2.0]),
 "hardtanh_edge": (lambda L, x: L.nn.functional.hardtanh(x), [-1.0, 1.0, 0.0]),
 "leaky_relu0": (lambda L, x: L.nn.functional.leaky_relu(x, 0.1), [0.0, -1.0]),
 "elu0": (lambda L, x: L.nn.functional.elu(x), [0.0]),
 "gelu_tanh": (lambda L, x: L.nn.functional.gelu(x, approximate="tanh"), [0.0, 1.0]),
 "sort_ties": (lambda L, x: x.sort()[0] * L.tensor([1.0, 2.0, 3.0], dtype=L.float64), [2.0, 2.0, 1.0]),
 "topk_ties": (lambda L, x: x.topk(2)[0] * L.tensor([1.0, 2.0], dtype=L.float64), [2.0, 2.0, 1.0]),
 "kthvalue_ties": (lambda L, x: x.kthvalue(2)[0], [2.0, 2.0, 1.0]),
 "var_single": (lambda L, x: x.var(correction=0), [3.0]),
 "dist_zero": (lambda L, x, y: L.dist(x, y), [1.0, 2.0], [1.0, 2.0]),
 "renorm": (lambda L, x: x.reshape(2, 2).renorm(2, 0, 1.0), [3.0, 4.0, 0.1, 0.1]),
 "smooth_l1_edge": (lambda L, x: L.nn.functional.smooth_l1_loss(x, L.zeros_like(x), reduction="none", beta=1.0), [1.0, -1.0, 0.0]),
 "huber_edge": (lambda L, x: L.nn.functional.huber_loss(x, L.zeros_like(x), reduction="none", delta=1.0), [1.0, -1.0]),
 "l1_zero": (lambda L, x: L.nn.functional.l1_loss(x, L.zeros_like(x)), [0.0, 1.0]),
 "sign": (lambda L, x: x.sign() * x, [0.0, -2.0]),
 "frac": (lambda L, x: x.frac(), [1.5, -0.5]),
 "round_grad": (lambda L, x: x.round(), [0.4, 1.5]),
 "remainder": (lambda L, x, y: L.remainder(x, y), [5.0, -3.0], [3.0, 2.0]),
 "fmod": (lambda L, x, y: L.fmod(x, y), [5.0, -3.0], [3.0, 2.0]),
 "lerp_w": (lambda L, x, y, w: L.lerp(x, y, w), [1.0, 2.0], [3.0, 4.0], [0.5, 0.9]),
 "addcdiv": (lambda L, x, y, z: L.addcdiv(x, y, z, value=2.0), [1.0], [2.0], [4.0]),
 "trace": (lambda L, x: x.reshape(2, 2).trace(), [1.0, 2.0, 3.0, 4.0]),
 "logdet": (lambda L, x: L.logdet(x.reshape(2, 2)), [2.0, 1.0, 1.0, 3.0]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_at_the_edge_matches_torch(name):
    f, *arrays = CASES[name]
    ours, theirs = _grads(ng, f, *arrays), _grads(torch, f, *arrays)
    for a, b in zip(ours, theirs):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)
