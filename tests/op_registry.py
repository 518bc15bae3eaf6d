"""The op registry that drives the generic tests.

Every op contributes ``OpSpec`` entries: how to call it in numgrad and in
PyTorch (the oracle), and sample inputs.  ``test_registry.py`` runs each spec
through: forward vs PyTorch in float32 and float64, gradients vs PyTorch,
gradients vs float64 finite differences (``gradcheck``), and the same with
non-contiguous inputs.

Elementwise ops come straight from numgrad's op table; other families add a
``tests/specs_<family>.py`` module with a ``SPECS`` list.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np


@dataclass
class Sample:
    """Inputs for one call.  Float arrays in ``args`` become tensors that require
    grad; integer/bool arrays become plain tensors; anything else is passed as is."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    grad: Optional[tuple] = None  # indices of args that require grad (default: all float arrays)


@dataclass
class OpSpec:
    name: str
    fn: Callable  # (numgrad module, *args, **kwargs) -> Tensor or tuple
    torch_fn: Callable  # (torch module, *args, **kwargs) -> torch.Tensor or tuple
    samples: Callable  # (rng: np.random.Generator) -> list[Sample] (float64 arrays)
    differentiable: bool = True
    gradcheck: bool = True  # finite differences (off for ops with kinks at the samples)
    rtol32: float = 1e-4
    atol32: float = 1e-5
    dtypes: tuple = ("float32", "float64")
    noncontiguous: bool = True


def _elementwise_specs():
    from numgrad.ir.table import ELEMENTWISE

    specs = []
    special_args = {
        "leaky_relu": dict(negative_slope=0.2),
        "softplus": dict(beta=1.5, threshold=2.0),
        "elu": dict(alpha=0.7),
        "hardtanh": dict(min_val=-0.5, max_val=0.8),
    }
    torch_names = {"gelu_tanh": "gelu", "identity": "clone", "clamp_min": "clamp_min", "clamp_max": "clamp_max"}
    skip = {"bitwise_and", "bitwise_or", "bitwise_xor", "logical_and", "logical_or", "logical_xor",
            "logical_not", "isnan", "isinf", "isfinite", "isclose", "eq", "ne", "lt", "le", "gt", "ge", "floor_divide"}
    skip |= {"polygamma", "igamma", "igammac", "gcd", "lcm", "nextafter", "i1"}  # tests/specs_special.py has them
    for name, row in ELEMENTWISE.items():
        # cast rows are internal; user_* rows are registered by tests of @ng.elementwise
        if name in skip or name.startswith(("cast_", "user_")):
            continue
        kwargs = special_args.get(name, {})

        def fn(ng, *a, _n=name, **k):
            if _n == "hardtanh":
                return ng.nn.functional.hardtanh(*a, **k)
            if _n == "gelu_tanh":
                return ng.gelu(*a, approximate="tanh")
            if _n == "identity":
                return ng.clone(*a)
            if _n == "where":
                return ng.where(a[0] > 0, a[1], a[2])
            return getattr(ng, _n)(*a, **k)

        def torch_fn(torch, *a, _n=name, **k):
            if _n == "gelu_tanh":
                return torch.nn.functional.gelu(*a, approximate="tanh")
            if _n == "where":
                return torch.where(a[0] > 0, a[1], a[2])
            if _n in ("maximum", "minimum", "atan2") and not isinstance(a[1], torch.Tensor):
                a = (a[0], torch.tensor(a[1], dtype=a[0].dtype))
            if _n in ("leaky_relu", "softplus", "elu", "gelu", "silu", "hardtanh"):
                return getattr(torch.nn.functional, _n)(*a, **k)
            return getattr(torch, torch_names.get(_n, _n))(*a, **k)

        def samples(rng, _row=row, _kw=kwargs):
            return _elementwise_samples(rng, _row, _kw)

        kink = name in ("abs", "relu", "leaky_relu", "maximum", "minimum", "clamp", "clamp_min", "clamp_max", "hardtanh",
                        "sign", "floor", "ceil", "round", "trunc", "remainder", "elu", "where")
        specs.append(OpSpec(f"elementwise.{name}", fn, torch_fn, samples, differentiable=row.grad is not None,
                            gradcheck=not kink or name in ("where",)))
    return specs


def _domain(rng, domain, shape):
    x = rng.standard_normal(shape)
    if domain == "positive":
        return np.abs(x) + 0.5
    if domain == "unit":
        return np.clip(x, -1.2, 1.2)
    if domain == "nonzero":
        return np.sign(x) * (np.abs(x) + 0.5)
    if domain == "open_unit":  # asin, acos, atanh: inside (-1, 1), away from the poles
        return np.tanh(x) * 0.9
    if domain == "above_one":  # acosh
        return np.abs(x) + 1.5
    return x


def _elementwise_samples(rng, row, kwargs):
    out = []
    shapes = [[(3, 4)] * row.arity, [(2, 3, 4), (3, 4), (1, 4)][: row.arity], [(5,), (1,), (5,)][: row.arity]]
    for shp in shapes:
        args = []
        for i, s in enumerate(shp):
            dom = row.domain
            if row.name == "pow" and i == 0:
                dom = "positive"
            args.append(_domain(rng, dom, s))
        if row.name == "clamp" and row.arity == 3:
            args[1] = -np.abs(args[1]) - 0.1
            args[2] = np.abs(args[2]) + 0.1
        out.append(Sample(tuple(args), dict(kwargs)))
    # scalar operand
    if row.arity == 2 and row.name not in ("where",):
        out.append(Sample((_domain(rng, "positive" if row.name == "pow" else row.domain, (4,)), 1.5), dict(kwargs)))
    return out


def all_specs():
    specs = _elementwise_specs()
    import tests as pkg  # noqa: F401

    here = __file__.rsplit("/", 1)[0]
    for info in pkgutil.iter_modules([here]):
        if info.name.startswith("specs_"):
            mod = importlib.import_module(f"tests.{info.name}")
            specs.extend(mod.SPECS)
    return specs
