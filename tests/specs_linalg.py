"""Registry specs for matrix products (``linalg.*``) and ``numgrad.nn.functional``
softmax, losses and ``linear`` (``nnfunc.*``); see ``tests/op_registry.py``."""
from __future__ import annotations

import numpy as np

from tests.op_registry import OpSpec, Sample

REDUCTIONS = ("none", "mean", "sum")


def _normal(rng, *shapes):
    return tuple(rng.standard_normal(s) for s in shapes)


# ---------------------------------------------------------------- matrix products

_MATMUL_SHAPES = [
    ((2, 3), (3, 4)),
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 2, 3), (2, 3, 4)),
    ((2, 2, 3), (3, 4)),  # batch folded into one GEMM
    ((2, 3), (2, 3, 4)),
    ((2, 1, 2, 3), (3, 3, 2)),  # broadcast batch dims
    ((2, 2, 3), (3,)),
    ((3,), (2, 3, 4)),
]


def _pairs(shapes):
    def samples(rng):
        return [Sample(_normal(rng, sa, sb)) for sa, sb in shapes]
    return samples


def _transposed_operands(rng):
    # values are built transposed, then .mT in fn: operands reach the kernel as F-ordered views
    return [Sample(_normal(rng, (3, 2), (4, 3))), Sample(_normal(rng, (2, 3, 2), (2, 4, 3)))]


SPECS = [
    OpSpec("linalg.matmul", lambda ng, a, b: a @ b, lambda torch, a, b: a @ b, _pairs(_MATMUL_SHAPES)),
    OpSpec("linalg.matmul_transposed", lambda ng, a, b: ng.matmul(a.mT, b.mT),
           lambda torch, a, b: torch.matmul(a.mT, b.mT), _transposed_operands),
    OpSpec("linalg.mm", lambda ng, a, b: ng.mm(a, b), lambda torch, a, b: torch.mm(a, b),
           _pairs([((2, 3), (3, 4)), ((1, 5), (5, 1))])),
    OpSpec("linalg.bmm", lambda ng, a, b: ng.bmm(a, b), lambda torch, a, b: torch.bmm(a, b),
           _pairs([((2, 2, 3), (2, 3, 4))])),
    OpSpec("linalg.mv", lambda ng, a, b: ng.mv(a, b), lambda torch, a, b: torch.mv(a, b), _pairs([((2, 3), (3,))])),
    OpSpec("linalg.dot", lambda ng, a, b: ng.dot(a, b), lambda torch, a, b: torch.dot(a, b), _pairs([((4,), (4,))])),
    OpSpec("linalg.outer", lambda ng, a, b: ng.outer(a, b), lambda torch, a, b: torch.outer(a, b),
           _pairs([((3,), (2,))])),
]


# ---------------------------------------------------------------- softmax family

def _softmax_samples(rng):
    return [Sample(_normal(rng, (3, 4)), {"dim": 1}), Sample(_normal(rng, (2, 3, 4)), {"dim": 1}),
            Sample(_normal(rng, (2, 3, 4)), {"dim": -1}), Sample(_normal(rng, (5,)), {"dim": 0})]


for _name in ("softmax", "log_softmax", "softmin"):
    SPECS.append(OpSpec(
        f"nnfunc.{_name}",
        lambda ng, x, _n=_name, **k: getattr(ng.nn.functional, _n)(x, **k),
        lambda torch, x, _n=_name, **k: getattr(torch.nn.functional, _n)(x, **k),
        _softmax_samples,
    ))


# ---------------------------------------------------------------- classification losses

def _class_samples(rng, reduction, probabilities=False):
    """(N, C) and (N, C, d) logits with class-index targets, some ignored, plus class weights."""
    x2, x3 = _normal(rng, (4, 3), (2, 3, 2))
    t2 = np.array([0, 2, 1, 2])
    t3 = np.array([[1, 0], [2, 1]])
    weight = rng.uniform(0.5, 1.5, 3)
    if probabilities:
        p2 = rng.dirichlet(np.ones(3), 4)
        return [Sample((x2, p2), {"reduction": reduction}, grad=(0, 1)),
                Sample((x2, p2, weight), {"reduction": reduction, "label_smoothing": 0.2}, grad=(0, 1))]
    return [
        Sample((x2, t2), {"reduction": reduction}),
        Sample((x2, t2, weight), {"reduction": reduction}, grad=(0,)),
        Sample((x2, t2), {"reduction": reduction, "ignore_index": 2}),
        Sample((x3, t3, weight), {"reduction": reduction, "ignore_index": 0}, grad=(0,)),
        Sample((x2[0], np.array(1)), {"reduction": reduction}),
    ]


def _smoothed(rng, reduction):
    x2, x3 = _normal(rng, (4, 3), (2, 3, 2))
    weight = rng.uniform(0.5, 1.5, 3)
    return [
        Sample((x2, np.array([0, 2, 1, 2])), {"reduction": reduction, "label_smoothing": 0.1}),
        Sample((x3, np.array([[1, 0], [2, 1]]), weight),
               {"reduction": reduction, "label_smoothing": 0.3, "ignore_index": 1}, grad=(0,)),
    ]


for _red in REDUCTIONS:
    SPECS += [
        OpSpec(f"nnfunc.cross_entropy.{_red}",
               lambda ng, *a, **k: ng.nn.functional.cross_entropy(*a, **k),
               lambda torch, *a, **k: torch.nn.functional.cross_entropy(*a, **k),
               lambda rng, _r=_red: _class_samples(rng, _r)),
        OpSpec(f"nnfunc.cross_entropy_smoothing.{_red}",
               lambda ng, *a, **k: ng.nn.functional.cross_entropy(*a, **k),
               lambda torch, *a, **k: torch.nn.functional.cross_entropy(*a, **k),
               lambda rng, _r=_red: _smoothed(rng, _r)),
        OpSpec(f"nnfunc.cross_entropy_probabilities.{_red}",
               lambda ng, *a, **k: ng.nn.functional.cross_entropy(*a, **k),
               lambda torch, *a, **k: torch.nn.functional.cross_entropy(*a, **k),
               lambda rng, _r=_red: _class_samples(rng, _r, probabilities=True)),
        OpSpec(f"nnfunc.nll_loss.{_red}",
               lambda ng, x, *a, **k: ng.nn.functional.nll_loss(ng.nn.functional.log_softmax(
                   x, 1 if x.ndim > 1 else 0), *a, **k),
               lambda torch, x, *a, **k: torch.nn.functional.nll_loss(torch.nn.functional.log_softmax(
                   x, 1 if x.ndim > 1 else 0), *a, **k),
               lambda rng, _r=_red: _class_samples(rng, _r)),
    ]


# ---------------------------------------------------------------- regression and binary losses

def _regression_samples(rng, reduction, **kwargs):
    a, b, c = _normal(rng, (3, 4), (3, 4), (2, 5))
    return [Sample((a, b), {"reduction": reduction, **kwargs}),
            Sample((c, c + rng.uniform(-2.0, 2.0, c.shape)), {"reduction": reduction, **kwargs})]


def _probability_samples(rng, reduction):
    x = rng.uniform(0.05, 0.95, (3, 4))
    t = rng.uniform(0.0, 1.0, (3, 4))
    weight = rng.uniform(0.5, 1.5, (4,))
    return [Sample((x, t), {"reduction": reduction}),
            Sample((x, t, weight), {"reduction": reduction}, grad=(0, 1))]


def _logit_samples(rng, reduction):
    x, t = rng.standard_normal((3, 4)) * 3, rng.uniform(0.0, 1.0, (3, 4))
    weight, pos_weight = rng.uniform(0.5, 1.5, (4,)), rng.uniform(0.5, 2.0, (4,))
    return [Sample((x, t), {"reduction": reduction}),
            Sample((x, t, weight, pos_weight), {"reduction": reduction}, grad=(0, 1))]


def _bce_logits(lib, x, t, weight=None, pos_weight=None, **k):
    return lib.nn.functional.binary_cross_entropy_with_logits(x, t, weight, pos_weight=pos_weight, **k)


for _red in REDUCTIONS:
    for _name, _kw in (("mse_loss", {}), ("l1_loss", {}), ("smooth_l1_loss", {"beta": 0.7}),
                       ("huber_loss", {"delta": 0.7})):
        SPECS.append(OpSpec(
            f"nnfunc.{_name}.{_red}",
            lambda ng, *a, _n=_name, **k: getattr(ng.nn.functional, _n)(*a, **k),
            lambda torch, *a, _n=_name, **k: getattr(torch.nn.functional, _n)(*a, **k),
            lambda rng, _r=_red, _k=_kw: _regression_samples(rng, _r, **_k),
        ))
    SPECS += [
        OpSpec(f"nnfunc.binary_cross_entropy.{_red}",
               lambda ng, *a, **k: ng.nn.functional.binary_cross_entropy(*a, **k),
               lambda torch, *a, **k: torch.nn.functional.binary_cross_entropy(*a, **k),
               lambda rng, _r=_red: _probability_samples(rng, _r)),
        OpSpec(f"nnfunc.binary_cross_entropy_with_logits.{_red}", _bce_logits, _bce_logits,
               lambda rng, _r=_red: _logit_samples(rng, _r)),
    ]


# ---------------------------------------------------------------- linear

def _linear_samples(rng):
    x2, x3, w, b = _normal(rng, (2, 3), (2, 2, 3), (4, 3), (4,))
    return [Sample((x2, w, b)), Sample((x3, w, b)), Sample((x2, w))]


SPECS.append(OpSpec("nnfunc.linear", lambda ng, *a: ng.nn.functional.linear(*a),
                    lambda torch, *a: torch.nn.functional.linear(*a), _linear_samples))
