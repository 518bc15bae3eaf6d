"""``numgrad.special``: PyTorch's ``torch.special`` names of numgrad's special functions.

Most are numgrad's own ops under PyTorch's ``special`` names (``expit`` is ``sigmoid``, ``gammaln`` is ``lgamma``,
``psi`` is ``digamma``, ``multigammaln`` is ``mvlgamma``, ``gammainc``/``gammaincc`` are ``igamma``/``igammac``);
``entr`` (with PyTorch's gradient at 0) and ``ndtr`` are composed of them.  PyTorch's Bessel,
orthogonal-polynomial, ``zeta`` and ``log_ndtr``/``ndtri`` functions are not here (an ``AttributeError`` names
them).

>>> import numgrad as ng
>>> ng.special.expit(ng.tensor([0.0]))
tensor([0.5000])
"""
from __future__ import annotations

import math

from .autograd.function import Function
from .nn.functional.activation import log_softmax, softmax
from .ops import elementwise_functions as pw
from .ops.elementwise_functions import digamma, erf, erfc, erfinv, exp2, expm1, i0, lgamma as gammaln, log1p, round
from .ops.elementwise_functions import sigmoid as expit
from .ops.pointwise import logit, sinc, xlog1py, xlogy
from .ops.reductions import logsumexp
from .ops.special_math import igamma as gammainc, igammac as gammaincc, mvlgamma as multigammaln, polygamma
from .tensor import Tensor

psi = digamma

__all__ = ["digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammainc", "gammaincc", "gammaln",
           "i0", "log1p", "log_softmax", "logit", "logsumexp", "multigammaln", "ndtr", "polygamma", "psi", "round",
           "sinc", "softmax", "xlog1py", "xlogy"]


class _Entr(Function):
    """``-x log x`` with PyTorch's gradient ``-(1 + log x)``: +inf at 0 (where the composed ``where`` would give
    NaN), NaN below 0."""

    node_name = "SpecialEntrBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        terms = pw.where(pw.eq(x, 0), 0.0, -x * pw.log(x))
        return pw.where(pw.lt(x, 0), -math.inf, terms)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * -(pw.log(x) + 1.0)


def entr(input: Tensor) -> Tensor:
    """Elementwise entropy ``-x * log(x)``: 0 at 0, ``-inf`` below 0 (NaN stays NaN); its gradient is
    ``-(1 + log x)``, +inf at 0, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.special.entr(ng.tensor([0.0, 0.5, -1.0]))
    tensor([0.0000, 0.3466,   -inf])
    """
    return _Entr.apply(input)


def ndtr(input: Tensor) -> Tensor:
    """The standard normal distribution's cumulative function, ``(1 + erf(x / sqrt(2))) / 2``.

    >>> import numgrad as ng
    >>> ng.special.ndtr(ng.tensor([0.0]))
    tensor([0.5000])
    """
    return 0.5 * erfc(input * (-1.0 / math.sqrt(2.0)))
