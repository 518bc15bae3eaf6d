"""Registry specs for the special functions and the composite ops of ``numgrad/ops/special_math.py``,
``stats_more.py`` and ``tensor_storage.py`` (lgamma, digamma, erfinv and i0 come from the op table's rows).

Samples keep away from poles (polygamma at the non-positive integers) and from ``a`` of igamma, which has
no derivative in PyTorch either.
"""
from __future__ import annotations

import numpy as np

from tests.op_registry import OpSpec, Sample


def _pos(rng, *shape, low=0.3):
    return np.abs(rng.standard_normal(shape)) + low


def _spec(name, call, samples, **options):
    return OpSpec(name, call, call, samples, **options)


SPECS = [
    _spec("special.polygamma", lambda lib, x, n: lib.polygamma(n, x),
          lambda rng: [Sample((_pos(rng, 3, 4), 1)), Sample((_pos(rng, 5), 2)), Sample((_pos(rng, 4), 0))]),
    _spec("special.igamma", lambda lib, a, x: lib.igamma(a, x),
          lambda rng: [Sample((_pos(rng, 3, 4, low=0.5), _pos(rng, 3, 4)), grad=(1,)),
                       Sample((_pos(rng, 4, low=2.0), _pos(rng, 4, low=2.5)), grad=(1,))]),
    _spec("special.igammac", lambda lib, a, x: lib.igammac(a, x),
          lambda rng: [Sample((_pos(rng, 3, 4, low=0.5), _pos(rng, 3, 4)), grad=(1,)),
                       Sample((_pos(rng, 4, low=2.0), _pos(rng, 4, low=2.5)), grad=(1,))]),
    _spec("special.mvlgamma", lambda lib, x, p: lib.mvlgamma(x, p),
          lambda rng: [Sample((_pos(rng, 3, 4, low=1.6), 3))]),
    _spec("special.renorm", lambda lib, x, p, dim, maxnorm: lib.renorm(x, p, dim, maxnorm),
          lambda rng: [Sample((rng.standard_normal((3, 4, 2)), 2, 1, 1.5)),
                       Sample((rng.standard_normal((4, 3)), 1.5, 0, 1.0))]),
    _spec("special.frexp", lambda lib, x: lib.frexp(x),
          lambda rng: [Sample((rng.standard_normal((3, 4)) * 10,))]),
    _spec("special.gcd", lambda lib, a, b: (lib.gcd(a, b), lib.lcm(a, b)),
          lambda rng: [Sample((rng.integers(-30, 30, (3, 4)), rng.integers(-30, 30, (4,))))],
          differentiable=False),
    _spec("special.nextafter", lambda lib, a, b: lib.nextafter(a, b),
          lambda rng: [Sample((rng.standard_normal((3, 4)), rng.standard_normal((3, 4))))], differentiable=False),
    _spec("stats.mode", lambda lib, x, **k: lib.mode(x, **k),
          lambda rng: [Sample((np.round(rng.standard_normal((3, 7))),), dict(dim=1), grad=()),
                       Sample((rng.standard_normal((4, 3)),), dict(dim=0, keepdim=True))], gradcheck=False),
    _spec("storage.as_strided", lambda lib, x, size, stride, off: lib.as_strided(x, size, stride, off),
          lambda rng: [Sample((rng.standard_normal((12,)), (3, 3), (3, 1), 2)),
                       Sample((rng.standard_normal((6,)), (3, 2), (1, 1), 1))], noncontiguous=False),
]
