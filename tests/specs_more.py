"""Registry specs for the ops added for issue 16 (``numgrad/ops/sorting.py``, ``scan.py``, ``diagonals.py``,
``einsum.py``, ``combine.py``, ``scatter.py``, ``shape_more.py``, ``pointwise.py``).

Samples avoid ties where PyTorch leaves the order of equal values unspecified (topk, kthvalue), and
keep kinks away from the finite-difference steps.
"""
from __future__ import annotations

import numpy as np

from tests.op_registry import OpSpec, Sample


def _r(rng, *shape):
    return rng.standard_normal(shape)


def _i(*values):
    return np.array(values, dtype=np.int64)


def _both(call):
    return call, call


def _spec(name, call, samples, **options):
    return OpSpec(name, call, call, samples, **options)


SPECS = [
    # ------------------------------------------------------------------ sorting
    _spec("sorting.sort", lambda lib, x, **k: lib.sort(x, **k),
          lambda rng: [Sample((_r(rng, 3, 5),)), Sample((_r(rng, 4, 3),), dict(dim=0, descending=True))]),
    _spec("sorting.argsort", lambda lib, x, **k: (lib.argsort(x, **k),),
          lambda rng: [Sample((_r(rng, 3, 5),), dict(dim=1, descending=True))], differentiable=False),
    _spec("sorting.topk", lambda lib, x, k, **kw: lib.topk(x, k, **kw),
          lambda rng: [Sample((_r(rng, 3, 6), 2)), Sample((_r(rng, 5, 2), 3), dict(dim=0, largest=False))]),
    _spec("sorting.kthvalue", lambda lib, x, k, **kw: lib.kthvalue(x, k, **kw),
          lambda rng: [Sample((_r(rng, 3, 6), 2)), Sample((_r(rng, 5, 2), 4), dict(dim=0, keepdim=True))]),
    _spec("sorting.msort", lambda lib, x: lib.msort(x), lambda rng: [Sample((_r(rng, 4, 3),))]),
    # ------------------------------------------------------------------ scans
    _spec("scan.cumprod", lambda lib, x, dim: lib.cumprod(x, dim),
          lambda rng: [Sample((_r(rng, 3, 4), 1)), Sample((_r(rng, 4, 2), 0))]),
    _spec("scan.cumprod_zeros", lambda lib, x, dim: lib.cumprod(x, dim),
          lambda rng: [Sample((np.array([[1.5, 0.0, 2.0, -1.0], [0.5, 2.0, 0.0, 0.0], [1.2, -0.7, 0.9, 0.0]]), 1))],
          gradcheck=True),
    _spec("scan.logcumsumexp", lambda lib, x, dim: lib.logcumsumexp(x, dim),
          lambda rng: [Sample((_r(rng, 3, 4), 1)), Sample((_r(rng, 4, 2) * 30, 0))]),
    # ------------------------------------------------------------------ triangles and diagonals
    _spec("diagonals.tril", lambda lib, x, k=0: lib.tril(x, k),
          lambda rng: [Sample((_r(rng, 3, 4),)), Sample((_r(rng, 2, 3, 3), -1))]),
    _spec("diagonals.triu", lambda lib, x, k=0: lib.triu(x, k),
          lambda rng: [Sample((_r(rng, 3, 4), 1)), Sample((_r(rng, 2, 3, 3),))]),
    _spec("diagonals.diagonal", lambda lib, x, *a: lib.diagonal(x, *a),
          lambda rng: [Sample((_r(rng, 3, 4),)), Sample((_r(rng, 2, 3, 4), 1, 0, 2)), Sample((_r(rng, 4, 3), -1))]),
    _spec("diagonals.diag_embed", lambda lib, x, *a: lib.diag_embed(x, *a),
          lambda rng: [Sample((_r(rng, 2, 3),)), Sample((_r(rng, 2, 3), 1, 0, 2))]),
    _spec("diagonals.diag", lambda lib, x, *a: lib.diag(x, *a),
          lambda rng: [Sample((_r(rng, 3),)), Sample((_r(rng, 3), -1)), Sample((_r(rng, 3, 4), 1))]),
    _spec("diagonals.trace", lambda lib, x: lib.trace(x), lambda rng: [Sample((_r(rng, 3, 4),))]),
]

SPECS += [
    # ------------------------------------------------------------------ einsum
    _spec("einsum.matmul", lambda lib, a, b: lib.einsum("ij,jk->ik", a, b),
          lambda rng: [Sample((_r(rng, 2, 3), _r(rng, 3, 4)))]),
    _spec("einsum.attention", lambda lib, q, k: lib.einsum("bhqd,bhkd->bhqk", q, k),
          lambda rng: [Sample((_r(rng, 2, 2, 3, 4), _r(rng, 2, 2, 5, 4)))]),
    _spec("einsum.trace_diag", lambda lib, a: lib.einsum("iij->j", a), lambda rng: [Sample((_r(rng, 3, 3, 2),))]),
    _spec("einsum.three", lambda lib, a, b, c: lib.einsum("bn,anm,bm->ba", a, b, c),
          lambda rng: [Sample((_r(rng, 2, 3), _r(rng, 4, 3, 5), _r(rng, 2, 5)))]),
    _spec("einsum.ellipsis_implicit", lambda lib, a, b: lib.einsum("...ij,...jk", a, b),
          lambda rng: [Sample((_r(rng, 2, 3, 4), _r(rng, 4, 5)))]),
    # ------------------------------------------------------------------ products and combinations
    _spec("combine.addmm", lambda lib, i, a, b, **k: lib.addmm(i, a, b, **k),
          lambda rng: [Sample((_r(rng, 3), _r(rng, 2, 4), _r(rng, 4, 3)), dict(beta=0.5, alpha=2.0)),
                       Sample((_r(rng, 2, 3), _r(rng, 2, 4), _r(rng, 4, 3)))]),
    _spec("combine.addmv", lambda lib, i, a, b: lib.addmv(i, a, b, beta=2.0),
          lambda rng: [Sample((_r(rng, 2), _r(rng, 2, 4), _r(rng, 4)))]),
    _spec("combine.baddbmm", lambda lib, i, a, b: lib.baddbmm(i, a, b, alpha=0.5),
          lambda rng: [Sample((_r(rng, 2, 3, 5), _r(rng, 2, 3, 4), _r(rng, 2, 4, 5)))]),
    _spec("combine.addbmm", lambda lib, i, a, b: lib.addbmm(i, a, b),
          lambda rng: [Sample((_r(rng, 3, 5), _r(rng, 2, 3, 4), _r(rng, 2, 4, 5)))]),
    _spec("combine.addr", lambda lib, i, a, b: lib.addr(i, a, b), lambda rng: [Sample((_r(rng, 2, 3), _r(rng, 2),
                                                                                       _r(rng, 3)))]),
    _spec("combine.cross", lambda lib, a, b, dim=None: lib.cross(a, b, dim=dim),
          lambda rng: [Sample((_r(rng, 4, 3), _r(rng, 4, 3)), dict(dim=1)), Sample((_r(rng, 3, 2), _r(rng, 3, 1)),
                                                                                   dict(dim=0))]),
    _spec("combine.cdist", lambda lib, a, b, p=2.0: lib.cdist(a, b, p=p),
          lambda rng: [Sample((_r(rng, 4, 3), _r(rng, 5, 3))),
                       Sample((_r(rng, 2, 3, 2), _r(rng, 2, 4, 2)), dict(p=1.0)),
                       Sample((_r(rng, 3, 2), _r(rng, 2, 2)), dict(p=3.0))], gradcheck=True),
    _spec("combine.kron", lambda lib, a, b: lib.kron(a, b),
          lambda rng: [Sample((_r(rng, 2, 3), _r(rng, 2, 2))), Sample((_r(rng, 3), _r(rng, 2, 2)))]),
    _spec("combine.inner", lambda lib, a, b: lib.inner(a, b), lambda rng: [Sample((_r(rng, 2, 3), _r(rng, 4, 3)))]),
    _spec("combine.tensordot", lambda lib, a, b, dims=2: lib.tensordot(a, b, dims=dims),
          lambda rng: [Sample((_r(rng, 2, 3, 4), _r(rng, 3, 4, 5))),
                       Sample((_r(rng, 2, 3), _r(rng, 3, 2)), dict(dims=([0, 1], [1, 0])))]),
    _spec("combine.dist", lambda lib, a, b: lib.dist(a, b, 3), lambda rng: [Sample((_r(rng, 2, 3), _r(rng, 3)))]),
]


def _pos(rng, *shape):
    return np.abs(rng.standard_normal(shape)) + 0.5


SPECS += [
    # ------------------------------------------------------------------ elementwise compositions
    _spec("pointwise.lerp", lambda lib, a, b, w: lib.lerp(a, b, w),
          lambda rng: [Sample((_r(rng, 3, 4), _r(rng, 3, 4), _r(rng, 4))), Sample((_r(rng, 3), _r(rng, 3), 0.3))]),
    _spec("pointwise.addcmul", lambda lib, a, b, c, **k: lib.addcmul(a, b, c, **k),
          lambda rng: [Sample((_r(rng, 3, 4), _r(rng, 3, 4), _r(rng, 4)), dict(value=0.5))]),
    _spec("pointwise.addcdiv", lambda lib, a, b, c, **k: lib.addcdiv(a, b, c, **k),
          lambda rng: [Sample((_r(rng, 3, 4), _r(rng, 3, 4), _pos(rng, 4)), dict(value=-2.0))]),
    _spec("pointwise.nan_to_num", lambda lib, x: lib.nan_to_num(x, posinf=3.0),
          lambda rng: [Sample((_r(rng, 3, 4),))]),
    _spec("pointwise.logaddexp", lambda lib, a, b: lib.logaddexp(a, b),
          lambda rng: [Sample((_r(rng, 3, 4), _r(rng, 4) * 5))]),
    _spec("pointwise.hypot", lambda lib, a, b: lib.hypot(a, b), lambda rng: [Sample((_pos(rng, 3, 4), _r(rng, 4)))]),
    _spec("pointwise.xlogy", lambda lib, a, b: lib.xlogy(a, b), lambda rng: [Sample((_r(rng, 3, 4), _pos(rng, 4)))]),
]

SPECS += [
    # ------------------------------------------------------------------ scatter family (no duplicate positions where
    # a write keeps one value; duplicates where values accumulate)
    _spec("scatter.scatter", lambda lib, x, d, i, s: lib.scatter(x, d, i, s),
          lambda rng: [Sample((_r(rng, 3, 4), 0, _i(2, 0, 1, 2).reshape(1, 4), _r(rng, 1, 4))),
                       Sample((_r(rng, 2, 4), 1, _i(3, 0, 1, 2, 1, 0).reshape(2, 3), _r(rng, 2, 3)))]),
    _spec("scatter.scatter_value", lambda lib, x, d, i: lib.scatter(x, d, i, 1.5),
          lambda rng: [Sample((_r(rng, 3, 4), 1, _i(0, 3, 1, 2, 2, 0).reshape(3, 2)))]),
    _spec("scatter.scatter_reduce_sum", lambda lib, x, d, i, s, **k: lib.scatter_reduce(x, d, i, s, "sum", **k),
          lambda rng: [Sample((_r(rng, 3), 0, _i(0, 0, 2, 0), _r(rng, 4))),
                       Sample((_r(rng, 3), 0, _i(0, 0, 2, 0), _r(rng, 4)), dict(include_self=False))]),
    _spec("scatter.scatter_reduce_mean", lambda lib, x, d, i, s, **k: lib.scatter_reduce(x, d, i, s, "mean", **k),
          lambda rng: [Sample((_r(rng, 2, 3), 1, _i(0, 0, 2, 1, 1, 1).reshape(2, 3), _r(rng, 2, 3))),
                       Sample((_r(rng, 4), 0, _i(1, 1, 2), _r(rng, 3)), dict(include_self=False))]),
    _spec("scatter.index_add", lambda lib, x, d, i, s, **k: lib.index_add(x, d, i, s, **k),
          lambda rng: [Sample((_r(rng, 4, 2), 0, _i(0, 3, 0), _r(rng, 3, 2)), dict(alpha=2.0)),
                       Sample((_r(rng, 2, 3), 1, _i(2, 2), _r(rng, 2, 2)))]),
    _spec("scatter.index_copy", lambda lib, x, d, i, s: lib.index_copy(x, d, i, s),
          lambda rng: [Sample((_r(rng, 4, 2), 0, _i(3, 1), _r(rng, 2, 2)))]),
    _spec("scatter.index_fill", lambda lib, x, d, i: lib.index_fill(x, d, i, -2.0),
          lambda rng: [Sample((_r(rng, 3, 4), 1, _i(0, 2)))]),
    _spec("scatter.masked_select", lambda lib, x, m: lib.masked_select(x, m),
          lambda rng: [Sample((_r(rng, 3, 4), np.array([True, False, True, True])))]),
    _spec("scatter.masked_scatter", lambda lib, x, m, s: lib.masked_scatter(x, m, s),
          lambda rng: [Sample((_r(rng, 2, 3), np.array([[True, False, True], [False, False, True]]), _r(rng, 5)))]),
    _spec("scatter.take", lambda lib, x, i: lib.take(x, i), lambda rng: [Sample((_r(rng, 3, 4), _i(0, 11, 5, 5)))]),
]

SPECS += [
    # ------------------------------------------------------------------ more shape ops
    _spec("shape_more.roll", lambda lib, x, s, d=None: lib.roll(x, s, d),
          lambda rng: [Sample((_r(rng, 3, 4), 5)), Sample((_r(rng, 3, 4), (1, -1), (0, 1)))]),
    _spec("shape_more.tensor_split", lambda lib, x, s, dim=0: lib.tensor_split(x, s, dim),
          lambda rng: [Sample((_r(rng, 5, 2), 3)), Sample((_r(rng, 2, 5), [1, 4]), dict(dim=1))]),
    _spec("shape_more.repeat_interleave", lambda lib, x, r, dim=None: lib.repeat_interleave(x, r, dim),
          lambda rng: [Sample((_r(rng, 2, 3), 2)), Sample((_r(rng, 2, 3), 3), dict(dim=1))]),
    _spec("shape_more.rot90", lambda lib, x, k: lib.rot90(x, k, (0, 1)),
          lambda rng: [Sample((_r(rng, 2, 3), 1)), Sample((_r(rng, 2, 3), 3))]),
    _spec("shape_more.meshgrid", lambda lib, a, b, indexing: lib.meshgrid(a, b, indexing=indexing),
          lambda rng: [Sample((_r(rng, 3), _r(rng, 2), "ij")), Sample((_r(rng, 3), _r(rng, 2), "xy"))]),
    _spec("shape_more.stacks", lambda lib, a, b: (lib.hstack([a, b]), lib.vstack([a, b]), lib.dstack([a, b]),
                                                  lib.column_stack([a, b])),
          lambda rng: [Sample((_r(rng, 3), _r(rng, 3))), Sample((_r(rng, 2, 3), _r(rng, 2, 3)))]),
    _spec("shape_more.broadcast_tensors", lambda lib, a, b: lib.broadcast_tensors(a, b),
          lambda rng: [Sample((_r(rng, 2, 1), _r(rng, 3)))]),
    _spec("shape_more.cartesian_prod", lambda lib, a, b: lib.cartesian_prod(a, b),
          lambda rng: [Sample((_r(rng, 3), _r(rng, 2)))]),
]

SPECS += [
    # ------------------------------------------------------------------ order statistics, NaN-aware reductions
    _spec("statistics.median", lambda lib, x, *a, **k: lib.median(x, *a, **k),
          lambda rng: [Sample((_r(rng, 3, 5), 1)), Sample((_r(rng, 4, 2), 0), dict(keepdim=True)),
                       Sample((_r(rng, 3, 4),))]),
    _spec("statistics.nanmedian", lambda lib, x, *a: lib.nanmedian(x, *a), lambda rng: [Sample((_r(rng, 3, 5), 1))]),
    _spec("statistics.quantile", lambda lib, x, q, *a, **k: lib.quantile(x, q, *a, **k),
          lambda rng: [Sample((_r(rng, 3, 5), 0.3, 1)), Sample((_r(rng, 7), 0.8)),
                       Sample((_r(rng, 4, 3), 0.5), dict(dim=0, keepdim=True, interpolation="midpoint"))]),
    _spec("statistics.quantile_many", lambda lib, x, q: lib.quantile(x, lib.tensor(q, dtype=x.dtype), dim=1),
          lambda rng: [Sample((_r(rng, 3, 5), [0.1, 0.5, 0.95]))]),
    _spec("statistics.cummax", lambda lib, x, d: lib.cummax(x, d),
          lambda rng: [Sample((_r(rng, 3, 5), 1)), Sample((_r(rng, 4, 2), 0))]),
    _spec("statistics.cummin", lambda lib, x, d: lib.cummin(x, d), lambda rng: [Sample((_r(rng, 3, 5), 1))]),
    _spec("statistics.aminmax", lambda lib, x, **k: lib.aminmax(x, **k),
          lambda rng: [Sample((_r(rng, 3, 5),), dict(dim=1))], gradcheck=False),
    _spec("statistics.var_mean", lambda lib, x, *a, **k: lib.var_mean(x, *a, **k),
          lambda rng: [Sample((_r(rng, 3, 5), 1), dict(correction=0)), Sample((_r(rng, 4),))]),
    _spec("statistics.std_mean", lambda lib, x, *a, **k: lib.std_mean(x, *a, **k),
          lambda rng: [Sample((_r(rng, 3, 5), 0), dict(keepdim=True))]),
    _spec("statistics.nansum_nanmean", lambda lib, x: (lib.nansum(x, 1), lib.nanmean(x, 1), lib.nansum(x)),
          lambda rng: [Sample((_r(rng, 3, 4),))]),
    _spec("statistics.diff", lambda lib, x, *a, **k: lib.diff(x, *a, **k),
          lambda rng: [Sample((_r(rng, 3, 5),)), Sample((_r(rng, 4, 3), 2, 0))]),
]

SPECS += [
    # ------------------------------------------------------------------ numgrad.linalg
    _spec("linalg.vector_norm", lambda lib, x, *a, **k: lib.linalg.vector_norm(x, *a, **k),
          lambda rng: [Sample((_r(rng, 3, 4),)), Sample((_r(rng, 3, 4), 3.0), dict(dim=1, keepdim=True))]),
    _spec("linalg.matrix_norm", lambda lib, x, *a, **k: lib.linalg.matrix_norm(x, *a, **k),
          lambda rng: [Sample((_r(rng, 2, 3, 4),)), Sample((_r(rng, 2, 3, 4), 1), dict(dim=(0, 2)))]),
    _spec("linalg.norm", lambda lib, x, *a, **k: lib.linalg.norm(x, *a, **k),
          lambda rng: [Sample((_r(rng, 3, 4),)), Sample((_r(rng, 3, 4), float("inf"))),
                       Sample((_r(rng, 3, 4), 1), dict(dim=1))]),
    _spec("linalg.multi_dot", lambda lib, a, b, c: lib.linalg.multi_dot([a, b, c]),
          lambda rng: [Sample((_r(rng, 3), _r(rng, 3, 4), _r(rng, 4, 2)))]),
    _spec("linalg.vecdot", lambda lib, a, b: lib.linalg.vecdot(a, b),
          lambda rng: [Sample((_r(rng, 2, 3), _r(rng, 3)))]),
]

SPECS += [
    _spec("pointwise.frac_fmod", lambda lib, a, b: (lib.frac(a * 3), lib.fmod(a * 3, b)),
          lambda rng: [Sample((_r(rng, 3, 4), _pos(rng, 4)))], gradcheck=False),
    _spec("pointwise.logit", lambda lib, p, **k: lib.logit(p, **k),
          lambda rng: [Sample((rng.uniform(0.05, 0.95, (3, 4)),)), Sample((rng.uniform(0.3, 0.7, (5,)),),
                                                                          dict(eps=0.35))], gradcheck=False),
    _spec("pointwise.sinc", lambda lib, x: lib.sinc(x), lambda rng: [Sample((_r(rng, 3, 4),))]),
    # other gets no gradient here (None), where PyTorch attaches zeros
    _spec("pointwise.copysign", lambda lib, a, b: lib.copysign(a, b),
          lambda rng: [Sample((_r(rng, 3, 4), _r(rng, 4)), grad=(0,))], gradcheck=False),
    _spec("pointwise.deg_rad", lambda lib, x: (lib.deg2rad(x), lib.rad2deg(x)), lambda rng: [Sample((_r(rng, 3),))]),
    _spec("shape_more.unfold", lambda lib, x, *a: x.unfold(*a),
          lambda rng: [Sample((_r(rng, 7), 0, 3, 2)), Sample((_r(rng, 2, 5, 3), 1, 2, 1))]),
]


def _well_conditioned(rng, *shape):
    return rng.standard_normal(shape) + 3 * np.eye(shape[-1])


SPECS += [
    # ------------------------------------------------------------------ inverse, determinants, solve
    _spec("dense_linalg.inverse", lambda lib, a: lib.inverse(a),
          lambda rng: [Sample((_well_conditioned(rng, 2, 3, 3),))]),
    _spec("dense_linalg.det", lambda lib, a: lib.det(a), lambda rng: [Sample((_well_conditioned(rng, 2, 3, 3),))]),
    _spec("dense_linalg.slogdet", lambda lib, a: lib.slogdet(a), lambda rng: [Sample((_r(rng, 3, 3),))]),
    _spec("dense_linalg.solve", lambda lib, a, b: lib.linalg.solve(a, b),
          lambda rng: [Sample((_well_conditioned(rng, 2, 3, 3), _r(rng, 2, 3, 2))),
                       Sample((_well_conditioned(rng, 3, 3), _r(rng, 3)))]),
    _spec("dense_linalg.matrix_power", lambda lib, a, n: lib.matrix_power(a, n),
          lambda rng: [Sample((_r(rng, 3, 3) * 0.5, 3)), Sample((_r(rng, 2, 2, 2), 6))]),
    _spec("dense_linalg.matrix_power_negative", lambda lib, a, n: lib.matrix_power(a, n),
          lambda rng: [Sample((_well_conditioned(rng, 2, 2, 2), -2))]),
]

SPECS += [
    # ------------------------------------------------------------------ counting, integration, covariance, builders
    _spec("misc.bincount_weights", lambda lib, i, w: lib.bincount(i, weights=w, minlength=6),
          lambda rng: [Sample((_i(0, 2, 2, 4, 0), _r(rng, 5)))], differentiable=False),
    _spec("misc.cov_corrcoef", lambda lib, x: (lib.cov(x), lib.corrcoef(x), lib.cov(x[0], correction=0)),
          lambda rng: [Sample((_r(rng, 3, 6),))]),
    _spec("misc.trapezoid", lambda lib, y, *x: (lib.trapezoid(y, *x), lib.cumulative_trapezoid(y, *x, dim=-1)),
          lambda rng: [Sample((_r(rng, 3, 5),)), Sample((_r(rng, 3, 5), np.cumsum(_pos(rng, 5))), grad=(0,))]),
    _spec("misc.block_diag", lambda lib, a, b, c: lib.block_diag(a, b, c),
          lambda rng: [Sample((_r(rng, 2, 3), _r(rng, 2), _r(rng, 1, 1)))]),
    _spec("misc.scatter_views", lambda lib, x, a, b, c: (lib.select_scatter(x, a, 1, 2),
                                                        lib.slice_scatter(x, b, 2, 0, 4, 2),
                                                        lib.diagonal_scatter(x, c, 1, 0, 1)),
          lambda rng: [Sample((_r(rng, 2, 3, 4), _r(rng, 2, 4), _r(rng, 2, 3, 2), _r(rng, 4, 2)))]),
    _spec("misc.fmax_fmin_logaddexp2", lambda lib, a, b: (lib.fmax(a, b), lib.fmin(a, b), lib.logaddexp2(a, b)),
          lambda rng: [Sample((_r(rng, 3, 4), _r(rng, 4)))]),
    # torch's vander backward fails (an in-place write into a saved view); ours is gradchecked in test_ops_more
    _spec("misc.vander", lambda lib, x: lib.vander(x, N=4), lambda rng: [Sample((_r(rng, 3),))], differentiable=False),
]

SPECS += [
    # ties on purpose: PyTorch shares an extreme's gradient equally among the elements equal to it
    _spec("scatter.scatter_reduce_extreme",
          lambda lib, x, s, i, red, inc: lib.scatter_reduce(x, 1, i, s, red, include_self=inc),
          lambda rng: [Sample((np.array([[1.0, 5.0, 2.0], [0.0, 3.0, 3.0]]),
                               np.array([[4.0, 1.0, 3.0], [2.0, 3.0, 9.0]]), _i(0, 1, 1, 1, 1, 0).reshape(2, 3),
                               red, inc))
                       for red in ("amax", "amin") for inc in (True, False)], gradcheck=False),
    _spec("scatter.scatter_reduce_extreme_smooth",
          lambda lib, x, s, i: lib.scatter_reduce(x, 0, i, s, "amax", include_self=False),
          lambda rng: [Sample((_r(rng, 4), _r(rng, 6), _i(0, 1, 1, 3, 0, 3)))]),
]

SPECS += [
    _spec("scatter.put", lambda lib, x, i, s, acc=False: x.put(i, s, acc),
          lambda rng: [Sample((_r(rng, 3, 4), _i(0, 11, 5), _r(rng, 3))),
                       Sample((_r(rng, 2, 3), _i(1, 1, 4), _r(rng, 3), True))]),
]

SPECS += [
    _spec("misc.distances", lambda lib, a, b: (lib.cosine_similarity(a, b), lib.pairwise_distance(a, b, 3.0),
                                               lib.pdist(a), lib.cosine_similarity(a, b[0], dim=-1)),
          lambda rng: [Sample((_r(rng, 4, 3), _r(rng, 4, 3)))]),
]
