"""Gradients at the edges of ops' domains (zeros, ties, bounds, infinities) against PyTorch's: where a derivative
formula meets 0/0 or a tie, PyTorch's answer (a masked 0, an even split, a strict bound) is the one to give.

``det`` at a singular matrix is in ``tests/test_decompositions.py`` (the adjugate, PyTorch's answer under
create_graph); numgrad has no bicubic interpolation.
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
 "entr_edges": (lambda L, x: L.special.entr(x), [0.0, -1.0, 0.5]),  # +inf at 0, NaN below
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
 "copysign": (lambda L, x, y: L.copysign(x, y), [1.0, 2.0, 0.0], [-1.0, 0.0, -2.0]),
 "lerp_w": (lambda L, x, y, w: L.lerp(x, y, w), [1.0, 2.0], [3.0, 4.0], [0.5, 0.9]),
 "addcdiv": (lambda L, x, y, z: L.addcdiv(x, y, z, value=2.0), [1.0], [2.0], [4.0]),
 "trace": (lambda L, x: x.reshape(2, 2).trace(), [1.0, 2.0, 3.0, 4.0]),
 "logdet": (lambda L, x: L.logdet(x.reshape(2, 2)), [2.0, 1.0, 1.0, 3.0]),
 "maxpool_ties": (lambda L, x: L.nn.functional.max_pool1d(x.reshape(1, 1, 4), 2), [1.0, 1.0, 2.0, 2.0]),
 "maxpool2d_ties": (lambda L, x: L.nn.functional.max_pool2d(x.reshape(1, 1, 2, 2), 2), [1.0, 1.0, 1.0, 1.0]),
 "adaptive_max_ties": (lambda L, x: L.nn.functional.adaptive_max_pool1d(x.reshape(1, 1, 4), 1), [3.0, 3.0, 1.0, 3.0]),
 "max_dim_first_tie": (lambda L, x: x.reshape(2, 2).max(dim=0)[0], [1.0, 5.0, 1.0, 5.0]),
 "argmax_path_min": (lambda L, x: x.reshape(2, 2).min(dim=1)[0], [1.0, 1.0, 0.0, 2.0]),
 "cummax_ties": (lambda L, x: x.cummax(0)[0], [1.0, 1.0, 0.5]),
 "logcumsumexp_ninf": (lambda L, x: x.logcumsumexp(0), [float('-inf'), 0.0, 1.0]),
 "layernorm_const": (lambda L, x: L.nn.functional.layer_norm(x.reshape(1, 3), (3,)), [2.0, 2.0, 2.0]),
 "batchnorm_const": (lambda L, x: L.nn.functional.batch_norm(x.reshape(3, 1), None, None, training=True), [1.0, 1.0, 1.0]),
 "groupnorm_const": (lambda L, x: L.nn.functional.group_norm(x.reshape(1, 2, 2), 1), [1.0, 1.0, 1.0, 1.0]),
 "rmsnorm_zero": (lambda L, x: L.nn.functional.rms_norm(x.reshape(1, 2), (2,)), [0.0, 0.0]),
 "softmax_ninf_row": (lambda L, x: L.softmax(x.reshape(1, 2), 1)[0, 0] * 1.0, [float('-inf'), 1.0]),
 "log_softmax_all_ninf": (lambda L, x: L.log_softmax(x, 0), [float('-inf'), float('-inf')]),
 "bce_edge": (lambda L, x: L.nn.functional.binary_cross_entropy(x, L.tensor([1.0, 0.0], dtype=L.float64)), [1.0, 0.0]),
 "bce_logits": (lambda L, x: L.nn.functional.binary_cross_entropy_with_logits(x, L.tensor([1.0, 0.0], dtype=L.float64)), [100.0, -100.0]),
 "kl_zero_target": (lambda L, x: L.nn.functional.kl_div(x, L.tensor([0.0, 1.0], dtype=L.float64), reduction="sum"), [-1.0, -0.5]),
 "nll_ignore_all": (lambda L, x: L.nn.functional.nll_loss(x.reshape(1, 2), L.tensor([-100])), [0.1, 0.2]),
 "cross_entropy_smooth": (lambda L, x: L.nn.functional.cross_entropy(x.reshape(1, 3), L.tensor([1]), label_smoothing=0.2), [0.0, float('-inf'), 1.0]),
 "poisson_nll": (lambda L, x: L.nn.functional.poisson_nll_loss(x, L.tensor([0.0, 2.0], dtype=L.float64), log_input=False), [0.0, 1.0]),
 "gaussian_nll": (lambda L, x, v: L.nn.functional.gaussian_nll_loss(x, L.tensor([0.0, 1.0], dtype=L.float64), v), [0.0, 2.0], [0.0, 1.0]),
 "margin_ranking_edge": (lambda L, x: L.nn.functional.margin_ranking_loss(x, L.zeros_like(x), L.ones_like(x)), [0.0, -1.0]),
 "hinge_edge": (lambda L, x: L.nn.functional.hinge_embedding_loss(x, L.tensor([-1.0, -1.0], dtype=L.float64)), [1.0, 0.5]),
 "triplet_zero": (lambda L, a, p: L.nn.functional.triplet_margin_loss(a.reshape(1, 2), p.reshape(1, 2), p.reshape(1, 2) + 1), [1.0, 1.0], [1.0, 1.0]),
 "pairwise_same": (lambda L, a: L.nn.functional.pairwise_distance(a.reshape(1, 2), a.reshape(1, 2)), [1.0, 2.0]),
 "pdist": (lambda L, a: L.nn.functional.pdist(a.reshape(2, 2)), [1.0, 2.0, 1.0, 2.0]),
 "cosine_emb": (lambda L, a, b: L.nn.functional.cosine_embedding_loss(a.reshape(1, 2), b.reshape(1, 2), L.tensor([1.0], dtype=L.float64)), [0.0, 0.0], [1.0, 1.0]),
 "silu": (lambda L, x: L.nn.functional.silu(x), [0.0, -100.0]),
 "mish": (lambda L, x: L.nn.functional.mish(x), [0.0, -100.0, 50.0]),
 "softsign": (lambda L, x: L.nn.functional.softsign(x), [0.0]),
 "hardswish_edges": (lambda L, x: L.nn.functional.hardswish(x), [-3.0, 3.0, 0.0]),
 "hardsigmoid_edges": (lambda L, x: L.nn.functional.hardsigmoid(x), [-3.0, 3.0, 0.0]),
 "selu0": (lambda L, x: L.nn.functional.selu(x), [0.0]),
 "celu0": (lambda L, x: L.nn.functional.celu(x), [0.0]),
 "threshold_edge": (lambda L, x: L.nn.functional.threshold(x, 1.0, 0.0), [1.0, 2.0]),
 "softshrink_edge": (lambda L, x: L.nn.functional.softshrink(x, 0.5), [0.5, -0.5, 1.0]),
 "hardshrink_edge": (lambda L, x: L.nn.functional.hardshrink(x, 0.5), [0.5, -0.5, 1.0]),
 "tanhshrink": (lambda L, x: L.nn.functional.tanhshrink(x), [0.0]),
 "logsigmoid_big": (lambda L, x: L.nn.functional.logsigmoid(x), [-100.0, 100.0]),
 "glu": (lambda L, x: L.nn.functional.glu(x, 0), [1.0, 0.0]),
 "prelu0": (lambda L, x, w: L.nn.functional.prelu(x, w), [0.0, -1.0], [0.25]),
 "rrelu_eval": (lambda L, x: L.nn.functional.rrelu(x, training=False), [0.0, -1.0]),
 "dropout_eval": (lambda L, x: L.nn.functional.dropout(x, 0.5, training=False), [1.0]),
 "interp_linear_ac": (lambda L, x: L.nn.functional.interpolate(x.reshape(1, 1, 3), size=5, mode="linear", align_corners=True), [1.0, 2.0, 4.0]),
 "grid_sample": (lambda L, x: L.nn.functional.grid_sample(x.reshape(1, 1, 2, 2), L.tensor([[[[0.0, 0.0], [1.0, 1.0]]]], dtype=L.float64), align_corners=False), [1.0, 2.0, 3.0, 4.0]),
 "pixel_shuffle": (lambda L, x: L.nn.functional.pixel_shuffle(x.reshape(1, 4, 1, 1), 2), [1.0, 2.0, 3.0, 4.0]),
 "embedding_pad": (lambda L, w: L.nn.functional.embedding(L.tensor([0, 1, 1]), w.reshape(2, 2), padding_idx=1), [1.0, 2.0, 3.0, 4.0]),
 "unfold_im2col": (lambda L, x: L.nn.functional.unfold(x.reshape(1, 1, 3, 3), 2, stride=2, padding=1), list(np.arange(9.0))),
 "fold": (lambda L, x: L.nn.functional.fold(x.reshape(1, 4, 4), (3, 3), 2, padding=0, stride=1), list(np.arange(16.0))),
 "cumsum_rev": (lambda L, x: x.flip(0).cumsum(0), [1.0, 2.0, 3.0]),
 "diff": (lambda L, x: L.diff(x, n=2), [1.0, 4.0, 9.0, 16.0]),
 "trapz": (lambda L, x: L.trapezoid(x), [1.0, 2.0, 4.0]),
 "quantile_ties": (lambda L, x: L.quantile(x, 0.5), [1.0, 2.0, 2.0, 3.0]),
 "nanmean": (lambda L, x: L.nanmean(x), [1.0, float('nan'), 3.0]),
 "nansum": (lambda L, x: L.nansum(x), [1.0, float('nan'), 3.0]),
 "var_mean": (lambda L, x: L.var_mean(x)[0] + L.var_mean(x)[1], [1.0, 2.0, 4.0]),
 "logaddexp_ninf": (lambda L, x, y: L.logaddexp(x, y), [float('-inf'), 1.0], [float('-inf'), 1.0]),
 "logaddexp_inf": (lambda L, x, y: L.logaddexp(x, y), [float('inf'), 1.0], [1.0, float('inf')]),
 "sigmoid_big": (lambda L, x: L.sigmoid(x), [-800.0, 800.0]),
 "tanh_big": (lambda L, x: L.tanh(x), [-50.0, 50.0]),
 "exp_big": (lambda L, x: L.exp(x), [800.0]),
 "log_zero": (lambda L, x: L.log(x), [0.0]),
 "rsqrt_zero": (lambda L, x: L.rsqrt(x), [0.0, 4.0]),
 "erfinv_edge": (lambda L, x: L.erfinv(x), [1.0, -1.0, 0.0]),
 "acos_edge": (lambda L, x: L.acos(x), [1.0, 0.0]),
 "lgamma_pole": (lambda L, x: L.lgamma(x), [0.0, -1.0, 0.5]),
 "digamma_pole": (lambda L, x: L.digamma(x), [0.0, 1.0]),
 "cross": (lambda L, a, b: L.linalg.cross(a.reshape(1, 3), b.reshape(1, 3)), [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
 "outer": (lambda L, a, b: L.outer(a, b), [1.0, 2.0], [3.0, 4.0]),
 "kron": (lambda L, a, b: L.kron(a, b), [1.0, 2.0], [3.0, 4.0]),
 "matrix_norm_nuc": (lambda L, a: L.linalg.matrix_norm(a.reshape(2, 2), ord="fro"), [1.0, 2.0, 3.0, 4.0]),
 "cond_inverse": (lambda L, a: L.linalg.inv(a.reshape(2, 2)), [2.0, 1.0, 1.0, 3.0]),
 "solve": (lambda L, a, b: L.linalg.solve(a.reshape(2, 2), b), [2.0, 1.0, 1.0, 3.0], [1.0, 2.0]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_at_the_edge_matches_torch(name):
    f, *arrays = CASES[name]
    ours, theirs = _grads(ng, f, *arrays), _grads(torch, f, *arrays)
    for a, b in zip(ours, theirs):
        assert (a is None) == (b is None)
        if a is not None:
            # (PyTorch computes some constants, hardsigmoid's 1/6, in float32 even for float64 tensors)
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-12, equal_nan=True)
