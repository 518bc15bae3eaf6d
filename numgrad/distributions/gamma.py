"""Gamma and exponential distributions, and the standard-gamma sampler that Beta and Dirichlet build on.

Gamma draws use Marsaglia and Tsang's rejection method written with numgrad ops (normal and uniform
candidates from numgrad's generator, rounds until every element accepted; concentrations below 1 are
boosted by ``U^(1/alpha)``). ``Gamma.rsample`` is reparameterised through the implicit gradient
``dx/dalpha = -(dF/dalpha)(x; alpha) / f(x; alpha)``, computed with the same approximations as PyTorch's
``_standard_gamma_grad`` (a Taylor series for ``x < 0.8``, Rice's saddle-point expansion for
``alpha > 8``, otherwise a bivariate rational fit), so for a given draw numgrad's gradient is PyTorch's.

>>> import numgrad as ng
>>> from numgrad.distributions import Gamma
>>> Gamma(ng.tensor([2.0]), ng.tensor([3.0])).mean
tensor([0.6667])
"""
from __future__ import annotations

from typing import Optional, Union

from .. import _dtypes
from ..autograd import Function
from ..autograd.grad_mode import no_grad
from ..creation import empty, rand, randn, zeros
from ..ops.pointwise import where
from ..ops.special_math import igamma
from ..tensor import Size, Tensor
from . import constraints
from .exp_family import ExponentialFamily
from .utils import _Number, broadcast_all

__all__ = ["Gamma", "Exponential"]

_MAX_ROUNDS = 200  # rejection rounds; each accepts more than 95% of what is left


def _sample_standard_gamma(alpha: Tensor) -> Tensor:
    """Gamma(alpha, 1) draws of ``alpha``'s shape (no gradient), clamped below at the dtype's ``tiny``."""
    with no_grad():
        a = alpha.detach()
        shape, dt, dev = tuple(a.shape), a.dtype, a.device
        tiny = _dtypes.finfo(dt).tiny
        small = a < 1
        a1 = where(small, a + 1, a)
        d = a1 - 1.0 / 3.0
        c = (9 * d).rsqrt()
        out = zeros(shape, dtype=dt, device=dev)
        done = out != out  # all False
        for _ in range(_MAX_ROUNDS):
            z = randn(shape, dtype=dt, device=dev)
            u = rand(shape, dtype=dt, device=dev)
            v = 1 + c * z
            v = v * v * v
            accept = (v > 0) & (u.log() < 0.5 * z * z + d - d * v + d * v.clamp(min=tiny).log())
            out = where(accept & done.logical_not(), d * v, out)
            done = done | accept
            if bool(done.all()):
                break
        boost = where(small, (1 - rand(shape, dtype=dt, device=dev)).pow(1 / a), 1.0)
        return (out * boost).clamp(min=tiny)


def _standard_gamma_grad(alpha: Tensor, x: Tensor) -> Tensor:
    """``dx/dalpha`` of a Gamma(alpha, 1) draw ``x`` by implicit differentiation of its CDF: PyTorch's
    ``_standard_gamma_grad`` approximations, evaluated elementwise and selected with ``where``.

    >>> import numgrad as ng
    >>> _standard_gamma_grad(ng.tensor([2.0]), ng.tensor([1.5]))
    tensor([0.9366])
    """
    # Taylor series for small x
    numer = 1.0
    denom = alpha
    series1 = numer / denom
    series2 = numer / (denom * denom)
    for i in range(1, 6):
        numer = numer * (-x / i)
        denom = denom + 1
        series1 = series1 + numer / denom
        series2 = series2 + numer / (denom * denom)
    pow_x_alpha = x.pow(alpha)
    gamma_pdf = x.pow(alpha - 1) * (-x).exp()
    gamma_cdf = pow_x_alpha * series1
    gamma_cdf_alpha = (x.log() - alpha.digamma()) * gamma_cdf - pow_x_alpha * series2
    small_x = -gamma_cdf_alpha / gamma_pdf
    small_x = where(small_x.isnan(), 0.0, small_x)
    # Rice saddle point expansion for large alpha
    numer_1 = 1 + 24 * alpha * (1 + 12 * alpha)
    numer_2 = 1440 * (alpha * alpha) + 6 * x * (53 - 120 * x) - 65 * x * x / alpha + alpha * (107 + 3600 * x)
    near = numer_1 * numer_2 / (1244160 * (alpha * alpha) * (alpha * alpha))
    denom_r = (8 * alpha).sqrt()
    term2 = denom_r / (alpha - x)
    term3 = (x - alpha - alpha * (x / alpha).log()).pow(-1.5)
    term23 = where(x < alpha, term2 - term3, term2 + term3)
    term1 = (x / alpha).log() * term23 - (2 / alpha).sqrt() * (alpha + x) / ((alpha - x) * (alpha - x))
    stirling = 1 + 1 / (12 * alpha) * (1 + 1 / (24 * alpha))
    far = -stirling * (x * term1) / denom_r
    large_alpha = where((0.9 * alpha <= x) & (x <= 1.1 * alpha), near, far)
    # bivariate rational approximation otherwise
    u = (x / alpha).log()
    v = alpha.log()
    coef_uv = ((0.16009398, -0.094634809, 0.025146376, -0.0030648343, 1, 0.32668115, 0.10406089, 0.0014179084),
               (0.53487893, 0.1298071, 0.065735949, -0.0015649758, 0.16639465, 0.020070113, -0.0035938915,
                -0.00058392623),
               (0.040121004, -0.0065914022, -0.0026286047, -0.0013441777, 0.017050642, -0.0021309326,
                0.00085092367, -1.5247877e-07))
    coef_v = [coef_uv[0][i] + u * (coef_uv[1][i] + u * coef_uv[2][i]) for i in range(8)]
    p = coef_v[0] + v * (coef_v[1] + v * (coef_v[2] + v * coef_v[3]))
    q = coef_v[4] + v * (coef_v[5] + v * (coef_v[6] + v * coef_v[7]))
    rational = (p / q).exp()
    return where(x < 0.8, small_x, where(alpha > 8.0, large_alpha, rational))


class _StandardGamma(Function):
    """Gamma(alpha, 1) draws whose backward is the implicit reparameterisation gradient."""

    @staticmethod
    def forward(ctx, concentration):
        x = _sample_standard_gamma(concentration)
        ctx.save_for_backward(x, concentration)
        return x

    @staticmethod
    def backward(ctx, grad_output):
        x, concentration = ctx.saved_tensors
        with no_grad():
            g = _standard_gamma_grad(concentration.detach(), x.detach())
        return grad_output * g


def _standard_gamma(concentration: Tensor) -> Tensor:
    """Reparameterised Gamma(concentration, 1) draws of ``concentration``'s shape.

    >>> import numgrad as ng
    >>> bool((_standard_gamma(ng.ones(5)) > 0).all())
    True
    """
    return _StandardGamma.apply(concentration)


class Gamma(ExponentialFamily):
    """Gamma distribution with shape ``concentration`` and inverse scale ``rate``.

    >>> import numgrad as ng
    >>> d = Gamma(ng.tensor([2.0]), ng.tensor([1.0]))
    >>> d.variance, d.entropy()
    (tensor([2.]), tensor([1.5772]))
    """

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _mean_carrier_measure = 0

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.rate

    @property
    def mode(self) -> Tensor:
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self) -> Tensor:
        return self.concentration / self.rate.pow(2)

    def __init__(self, concentration: Union[Tensor, float], rate: Union[Tensor, float],
                 validate_args: Optional[bool] = None) -> None:
        self.concentration, self.rate = broadcast_all(concentration, rate)
        if isinstance(concentration, _Number) and isinstance(rate, _Number):
            batch_shape = Size()
        else:
            batch_shape = self.concentration.size()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Gamma, _instance)
        batch_shape = Size(tuple(batch_shape))
        new.concentration = self.concentration.expand(batch_shape)
        new.rate = self.rate.expand(batch_shape)
        super(Gamma, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape=Size()) -> Tensor:
        shape = tuple(self._extended_shape(sample_shape))
        value = _standard_gamma(self.concentration.expand(shape)) / self.rate.expand(shape)
        tiny = _dtypes.finfo(value.dtype).tiny
        return value + (value.detach().clamp(min=tiny) - value.detach())  # clamp the value, keep the gradient

    def log_prob(self, value):
        if not isinstance(value, Tensor):
            value = broadcast_all(self.rate, value)[1]
        if self._validate_args:
            self._validate_sample(value)
        return (self.concentration.xlogy(self.rate) + (self.concentration - 1).xlogy(value)
                - self.rate * value - self.concentration.lgamma())

    def entropy(self):
        return (self.concentration - self.rate.log() + self.concentration.lgamma()
                + (1.0 - self.concentration) * self.concentration.digamma())

    @property
    def _natural_params(self) -> tuple:
        return (self.concentration - 1, -self.rate)

    def _log_normalizer(self, x, y):
        return (x + 1).lgamma() + (x + 1) * (-y.reciprocal()).log()

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return igamma(self.concentration, self.rate * value)


class Exponential(ExponentialFamily):
    """Exponential distribution with rate ``rate`` (mean ``1 / rate``).

    >>> import numgrad as ng
    >>> d = Exponential(ng.tensor([2.0]))
    >>> d.mean, d.cdf(ng.tensor([0.0]))
    (tensor([0.5000]), tensor([0.]))
    """

    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _mean_carrier_measure = 0

    @property
    def mean(self) -> Tensor:
        return self.rate.reciprocal()

    @property
    def mode(self) -> Tensor:
        return self.rate * 0

    @property
    def stddev(self) -> Tensor:
        return self.rate.reciprocal()

    @property
    def variance(self) -> Tensor:
        return self.rate.pow(-2)

    def __init__(self, rate: Union[Tensor, float], validate_args: Optional[bool] = None) -> None:
        (self.rate,) = broadcast_all(rate)
        batch_shape = Size() if isinstance(rate, _Number) else self.rate.size()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Exponential, _instance)
        batch_shape = Size(tuple(batch_shape))
        new.rate = self.rate.expand(batch_shape)
        super(Exponential, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape=Size()) -> Tensor:
        shape = tuple(self._extended_shape(sample_shape))
        return empty(shape, dtype=self.rate.dtype, device=self.rate.device).exponential_() / self.rate

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self.rate.log() - self.rate * value

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 1 - (-self.rate * value).exp()

    def icdf(self, value):
        return -(-value).log1p() / self.rate

    def entropy(self):
        return 1.0 - self.rate.log()

    @property
    def _natural_params(self) -> tuple:
        return (-self.rate,)

    def _log_normalizer(self, x):
        return -(-x).log()
