"""PyTorch's special-function and integer math: polygamma, mvlgamma, igamma, igammac, gcd, lcm, nextafter
(rows of ``numgrad/ir/special.py``, so they fuse), frexp, renorm, and the in-place forms of these and of
lgamma, digamma, erfinv and i0 (whose functions ``elementwise_functions`` generates from their rows).
"""
from __future__ import annotations

import collections
import math

import numpy as np

from .. import _dtypes
from ..autograd.grad_mode import is_grad_enabled
from ..creation import arange
from ..tensor import Tensor
from . import elementwise_functions as pw
from .elementwise import apply, inplace_update
from .reductions import all as _all
from .reductions import norm as _norm
from .sum_mean import sum as _sum
from .autocast_policy import autocast_op


frexp_return_type = collections.namedtuple("frexp", ("mantissa", "exponent"))
frexp_return_type.__module__ = "numgrad.return_types"


def _tensor_arg(x, op: str, arg: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{arg}' (position 1) must be Tensor, not {type(x).__name__}")
    return x


def _check_order(n, op: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{op}(): argument 'n' must be int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    return int(n)


def _result(name: str, result: Tensor, out, inputs) -> Tensor:
    return result if out is None else pw.write_out(name, result, out, inputs)


def polygamma(n: int, input, *, out=None) -> Tensor:
    """The ``n``-th derivative of ``digamma`` (``n = 0`` is ``digamma`` itself).

    >>> import numgrad as ng
    >>> ng.polygamma(1, ng.tensor([1.]))
    tensor([1.6449])
    """
    result = apply("polygamma", _tensor_arg(input, "polygamma"), float(_check_order(n, "polygamma")))
    return _result("polygamma", result, out, (input,))


def mvlgamma(input, p: int) -> Tensor:
    """The log of the multivariate gamma function of dimension ``p``:
    ``sum_i lgamma(x - i/2) + p (p-1)/4 log(pi)``; every element must exceed ``(p-1)/2``.

    >>> import numgrad as ng
    >>> ng.mvlgamma(ng.tensor([2.5]), 2)
    tensor([0.8570])
    """
    _tensor_arg(input, "mvlgamma")
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    if not input.dtype.is_floating_point:
        input = input.to(_dtypes.get_default_dtype())
    if not bool(_all(pw.gt(input.detach(), (p - 1) / 2.0))):
        raise RuntimeError("All elements must be greater than (p-1)/2")
    shifts = arange(p, dtype=input.dtype, device=input.device) * -0.5
    terms = pw.lgamma(input.unsqueeze(-1) + shifts)
    return _sum(terms, -1) + p * (p - 1) / 4.0 * math.log(math.pi)


def _check_igamma_input(input, op: str) -> None:
    if isinstance(input, Tensor) and input.requires_grad and is_grad_enabled():
        raise NotImplementedError(f"the derivative for '{op}: input' is not implemented.")


def igamma(input, other, *, out=None) -> Tensor:
    """The regularized lower incomplete gamma function ``P(a, x)`` (``a = input``). Differentiable in ``other``
    only, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.igamma(ng.tensor([1.]), ng.tensor([1.]))
    tensor([0.6321])
    """
    _check_igamma_input(input, "igamma")
    return _result("igamma", apply("igamma", input, other), out, (input, other))


def igammac(input, other, *, out=None) -> Tensor:
    """The regularized upper incomplete gamma function ``Q(a, x) = 1 - P(a, x)``.

    >>> import numgrad as ng
    >>> ng.igammac(ng.tensor([1.]), ng.tensor([1.]))
    tensor([0.3679])
    """
    _check_igamma_input(input, "igammac")
    return _result("igammac", apply("igammac", input, other), out, (input, other))


def _check_integral(op: str, *xs) -> None:
    for x in xs:
        if isinstance(x, Tensor) and (x.dtype.is_floating_point or x.dtype.name == "bool"):
            raise RuntimeError(f'"{op}_cpu" not implemented for \'{_dtypes.torch_type_name(x.dtype)}\'')


def gcd(input, other, *, out=None) -> Tensor:
    """Greatest common divisor of integer tensors (non-negative; ``gcd(0, 0) = 0``).

    >>> import numgrad as ng
    >>> ng.gcd(ng.tensor([12, -18, 0]), ng.tensor([8, 12, 0]))
    tensor([4, 6, 0])
    """
    _check_integral("gcd", input, other)
    return _result("gcd", apply("gcd", input, other), out, (input, other))


def lcm(input, other, *, out=None) -> Tensor:
    """Least common multiple of integer tensors (non-negative; 0 when either is 0).

    >>> import numgrad as ng
    >>> ng.lcm(ng.tensor([4, -6]), ng.tensor([6, 4]))
    tensor([12, 12])
    """
    _check_integral("lcm", input, other)
    return _result("lcm", apply("lcm", input, other), out, (input, other))


def nextafter(input, other, *, out=None) -> Tensor:
    """The next floating-point value after ``input`` towards ``other``, in ``input``'s dtype.

    >>> import numgrad as ng
    >>> bool(ng.nextafter(ng.tensor([1.], dtype=ng.float64), ng.tensor([2.], dtype=ng.float64)) > 1)
    True
    """
    for x in (input, other):
        if isinstance(x, Tensor) and not x.dtype.is_floating_point:
            raise RuntimeError(f'"nextafter_cpu" not implemented for \'{_dtypes.torch_type_name(x.dtype)}\'')
        if isinstance(x, Tensor) and x.dtype.is_16bit_float:
            raise NotImplementedError(f"nextafter: numgrad computes {x.dtype.name} in float32, so it cannot step "
                                      f"by one {x.dtype.name} ulp; convert to float32 or float64 first")
    return _result("nextafter", apply("nextafter", input, other), out, (input, other))


def frexp(input):
    """Split into mantissa in ``[0.5, 1)`` (by magnitude) and integer exponent: ``input = mantissa * 2**exponent``.
    Returns ``(mantissa, exponent)``, the exponent int32, as ``torch.frexp``; the mantissa's gradient is
    ``g / 2**exponent``.

    >>> import numgrad as ng
    >>> ng.frexp(ng.tensor([8., 0.75]))
    frexp(mantissa=tensor([0.5000, 0.7500]), exponent=tensor([4, 0], dtype=numgrad.int32))
    """
    _tensor_arg(input, "frexp")
    if not input.dtype.is_floating_point:
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    x = input.detach().to(_dtypes.float64)
    finite = pw.logical_and(pw.isfinite(x), pw.ne(x, 0.0))
    magnitude = pw.where(finite, pw.abs(x), 1.0)
    e = pw.floor(pw.log2(magnitude)) + 1.0
    m = magnitude / pw.exp2(e)
    # log2 can round across a power of two: move the mantissa back into [0.5, 1)
    e = pw.where(pw.ge(m, 1.0), e + 1.0, pw.where(pw.lt(m, 0.5), e - 1.0, e))
    e = pw.where(finite, e, 0.0)
    scale = pw.exp2(-e).to(input.dtype)
    mantissa = input * scale
    return frexp_return_type(mantissa, e.to(_dtypes.int32))


@autocast_op
def renorm(input, p, dim: int, maxnorm) -> Tensor:
    """Scale each slice ``input.select(dim, i)`` whose ``p``-norm exceeds ``maxnorm`` down to norm ``maxnorm``
    (PyTorch's ``maxnorm / (norm + 1e-7)`` factor); other slices are unchanged.

    >>> import numgrad as ng
    >>> ng.renorm(ng.tensor([[3., 4.], [0.3, 0.4]]), 2, 0, 1.0)
    tensor([[0.6000, 0.8000],
            [0.3000, 0.4000]])
    """
    _tensor_arg(input, "renorm")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f'"renorm" not implemented for \'{_dtypes.torch_type_name(input.dtype)}\'')
    if p <= 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    if input.ndim <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.ndim} dimensions")
    d = dim + input.ndim if dim < 0 else dim
    if not 0 <= d < input.ndim:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-input.ndim}, {input.ndim - 1}], "
                         f"but got {dim})")
    others = tuple(i for i in range(input.ndim) if i != d)
    norms = _norm(input, p, dim=others, keepdim=True)
    factor = pw.where(pw.gt(norms, maxnorm), maxnorm / (norms + 1e-7), 1.0)
    return input * factor


def _inplace(name: str, check=None):
    def method(self, *others):
        if check is not None:
            check(self, *others)
        inplace_update(self, name, *others)
        return self

    method.__name__ = name + "_"
    method.__doc__ = f"In-place ``{name}``: writes into this tensor and returns it."
    return method


def polygamma_(self, n: int) -> Tensor:
    """In-place ``polygamma(n, self)``."""
    inplace_update(self, "polygamma", float(_check_order(n, "polygamma_")))
    return self


def mvlgamma_(self, p: int) -> Tensor:
    """In-place ``mvlgamma``."""
    return self.copy_(mvlgamma(self, p))


def renorm_(self, p, dim: int, maxnorm) -> Tensor:
    """In-place ``renorm``."""
    return self.copy_(renorm(self, p, dim, maxnorm))


def _polygamma_method(self, n: int) -> Tensor:
    """``polygamma(n, self)``."""
    return polygamma(n, self)


def _igamma_check_(self, other) -> None:
    _check_igamma_input(self, "igamma")


TENSOR_METHODS = {
    "polygamma": _polygamma_method, "mvlgamma": mvlgamma, "igamma": igamma, "igammac": igammac, "gcd": gcd, "lcm": lcm, "nextafter": nextafter,
    "frexp": frexp, "renorm": renorm,
    "lgamma_": _inplace("lgamma"), "digamma_": _inplace("digamma"), "erfinv_": _inplace("erfinv"),
    "i0_": _inplace("i0"), "igamma_": _inplace("igamma", _igamma_check_), "igammac_": _inplace("igammac", lambda s, o: _check_igamma_input(s, "igammac")),
    "gcd_": _inplace("gcd", lambda s, o: _check_integral("gcd", s, o)),
    "lcm_": _inplace("lcm", lambda s, o: _check_integral("lcm", s, o)),
    "nextafter_": _inplace("nextafter"), "polygamma_": polygamma_, "mvlgamma_": mvlgamma_, "renorm_": renorm_,
}
PUBLIC = ("polygamma", "mvlgamma", "igamma", "igammac", "gcd", "lcm", "nextafter", "frexp", "renorm")
