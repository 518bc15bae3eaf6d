"""The Poisson distribution with rate ``rate`` (counts ``0, 1, 2, ...``).

Draws come from ``numgrad.poisson`` (numgrad's generator; no gradient, as in PyTorch).

>>> import numgrad as ng
>>> from numgrad.distributions import Poisson
>>> Poisson(ng.tensor([2.0])).log_prob(ng.tensor([1.0]))
tensor([-1.3069])
"""
from __future__ import annotations

from typing import Optional, Union

from ..autograd.grad_mode import no_grad
from ..ops.misc_torch import poisson as _poisson
from ..tensor import Size, Tensor
from . import constraints
from .exp_family import ExponentialFamily
from .utils import _Number, broadcast_all

__all__ = ["Poisson"]


class Poisson(ExponentialFamily):
    """Poisson distribution: ``P(k) = rate^k e^-rate / k!``.

    >>> import numgrad as ng
    >>> d = Poisson(ng.tensor([0.5, 4.0]))
    >>> d.mean, d.mode
    (tensor([0.5000, 4.0000]), tensor([0., 4.]))
    """

    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    @property
    def mean(self) -> Tensor:
        return self.rate

    @property
    def mode(self) -> Tensor:
        return self.rate.floor()

    @property
    def variance(self) -> Tensor:
        return self.rate

    def __init__(self, rate: Union[Tensor, float], validate_args: Optional[bool] = None) -> None:
        (self.rate,) = broadcast_all(rate)
        batch_shape = Size() if isinstance(rate, _Number) else self.rate.size()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Poisson, _instance)
        batch_shape = Size(tuple(batch_shape))
        new.rate = self.rate.expand(batch_shape)
        super(Poisson, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape=Size()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with no_grad():
            return _poisson(self.rate.expand(shape).contiguous())

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        rate, value = broadcast_all(self.rate, value)
        return value.xlogy(rate) - rate - (value + 1).lgamma()

    @property
    def _natural_params(self) -> tuple:
        return (self.rate.log(),)

    def _log_normalizer(self, x):
        return x.exp()
