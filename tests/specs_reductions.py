"""Registry specs for the reductions of ``numgrad/ops/reductions.py``.

Each spec calls the op with the same name and keyword arguments in numgrad and
PyTorch; samples cover a reduction over the inner dim, over leading dims
(including non-adjacent ones, which take the copy path) and over everything.
"""
from __future__ import annotations

import math

import numpy as np

from tests.op_registry import OpSpec, Sample


def _same(name: str):
    """(numgrad fn, torch fn) calling ``name`` with the sample's args and kwargs."""
    def fn(ng, *args, **kwargs):
        return getattr(ng, name)(*args, **kwargs)

    def torch_fn(torch, *args, **kwargs):
        return getattr(torch, name)(*args, **kwargs)

    return fn, torch_fn


def _distinct(rng, shape):
    """Random values without ties (max/min/norm-inf gradients are only unique then)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) / n * 4.0 - 2.0 + rng.uniform(0.01, 0.02, n)).reshape(shape)


def _nonzero(rng, shape):
    x = rng.standard_normal(shape)
    return np.sign(x) * (np.abs(x) + 0.5)


def _dim_samples(make, kwargs_list, shape=(2, 3, 4)):
    def samples(rng):
        return [Sample((make(rng, shape),), dict(kw)) for kw in kwargs_list]
    return samples


_DIMS = [dict(dim=2), dict(dim=(0, 2), keepdim=True), dict(dim=0), dict()]


def _spec(name, kwargs_list, make=_distinct, shape=(2, 3, 4), label=None, **options):
    fn, torch_fn = _same(name)
    return OpSpec(f"reductions.{label or name}", fn, torch_fn, _dim_samples(make, kwargs_list, shape), **options)


def _prod_samples(rng):
    x = _nonzero(rng, (3, 4))
    with_zeros = _nonzero(rng, (3, 4))
    with_zeros[0, 1] = 0.0  # one zero in row 0
    with_zeros[1, 0] = with_zeros[1, 3] = 0.0  # two zeros in row 1
    return [
        Sample((x,), dict(dim=1)),
        Sample((x,), dict(dim=0, keepdim=True)),
        Sample((x,), {}),
        Sample((with_zeros,), dict(dim=1)),
        Sample((with_zeros,), dict(dim=0)),
        Sample((with_zeros[1:],), {}),
        Sample((with_zeros[:1],), {}),
    ]


def _max_dim_fn(ng, x, **kw):
    return tuple(ng.max(x, **kw))


def _max_dim_torch(torch, x, **kw):
    return tuple(torch.max(x, **kw))


def _min_method_fn(ng, x, **kw):
    return tuple(x.min(**kw))


def _min_method_torch(torch, x, **kw):
    return tuple(x.min(**kw))


def _max_pair_fn(ng, a, b):
    return ng.max(a, b)


def _max_pair_torch(torch, a, b):
    return torch.max(a, b)


def _pair_samples(rng):
    return [Sample((_distinct(rng, (3, 4)), _distinct(rng, (4,)) + 0.001))]


def _cumsum_samples(rng):
    x = rng.standard_normal((3, 4))
    return [Sample((x,), dict(dim=1)), Sample((x,), dict(dim=0)), Sample((rng.standard_normal((2, 3, 4)),),
                                                                         dict(dim=-2))]


SPECS = [
    _spec("amax", _DIMS, gradcheck=True),
    _spec("amin", _DIMS),
    _spec("max", [dict()], label="max_all"),
    _spec("min", [dict()], label="min_all"),
    OpSpec("reductions.max_dim", _max_dim_fn, _max_dim_torch,
           _dim_samples(_distinct, [dict(dim=1), dict(dim=0, keepdim=True), dict(dim=-1)])),
    OpSpec("reductions.min_dim_method", _min_method_fn, _min_method_torch,
           _dim_samples(_distinct, [dict(dim=2, keepdim=True), dict(dim=0)])),
    OpSpec("reductions.max_pair", _max_pair_fn, _max_pair_torch, _pair_samples),
    _spec("argmax", [dict(dim=1), dict(dim=0, keepdim=True), dict()], differentiable=False),
    _spec("argmin", [dict(dim=2), dict()], differentiable=False),
    OpSpec("reductions.prod", *_same("prod"), _prod_samples),
    _spec("var", [dict(dim=2), dict(dim=(0, 2), keepdim=True), dict(dim=1, correction=0), dict(unbiased=False),
                  dict()], make=lambda rng, s: rng.standard_normal(s)),
    _spec("std", [dict(dim=2), dict(dim=(0, 1)), dict(dim=2, correction=2, keepdim=True), dict()],
          make=lambda rng, s: rng.standard_normal(s)),
    _spec("logsumexp", [dict(dim=2), dict(dim=(0, 2), keepdim=True), dict(dim=0)],
          make=lambda rng, s: rng.standard_normal(s) * 3.0),
    _spec("norm", [dict(), dict(dim=2), dict(p=1, dim=(0, 2)), dict(p=math.inf, dim=1, keepdim=True),
                   dict(p=-math.inf, dim=2), dict(p=3, dim=0), dict(p="fro", dim=(1, 2)), dict(p=0.5, dim=2)],
          make=_nonzero, rtol32=2e-4),
    _spec("norm", [dict(p=0, dim=1)], make=_nonzero, label="norm_p0", gradcheck=False),
    OpSpec("reductions.cumsum", *_same("cumsum"), _cumsum_samples),
    _spec("count_nonzero", [dict(dim=1), dict(dim=(0, 2)), dict()], make=lambda rng, s: np.round(
        rng.standard_normal(s)), differentiable=False),
    _spec("all", [dict(dim=1), dict(dim=(0, 2), keepdim=True), dict()], make=lambda rng, s: np.round(
        rng.standard_normal(s)), differentiable=False),
    _spec("any", [dict(dim=2), dict()], make=lambda rng, s: np.round(rng.standard_normal(s) * 0.3),
          differentiable=False),
]
