"""``ExponentialFamily``: distributions of the form ``p(x) = h(x) exp(<t(x), theta> - F(theta))``.

Subclasses give their natural parameters ``theta`` and log normaliser ``F``; the base class then gives the
entropy (and ``kl_divergence`` between two members of the same family, the Bregman divergence of ``F``)
through autograd, as PyTorch does.

>>> import numgrad as ng
>>> from numgrad.distributions import Poisson
>>> isinstance(Poisson(ng.tensor([1.0])), ExponentialFamily)
True
"""
from __future__ import annotations

from ..autograd import grad as _grad
from ..tensor import Tensor
from .distribution import Distribution

__all__ = ["ExponentialFamily"]


class ExponentialFamily(Distribution):
    """Base class of exponential-family distributions: the entropy from the natural parameters and the log
    normaliser (``F(theta) - <theta, grad F(theta)> - E[log h(x)]``).

    >>> import numgrad as ng
    >>> from numgrad.distributions import Exponential
    >>> ExponentialFamily.entropy(Exponential(ng.tensor([1.0])))
    tensor([1.], grad_fn=<SubBackward0>)
    """

    @property
    def _natural_params(self) -> tuple:
        raise NotImplementedError

    def _log_normalizer(self, *natural_params):
        raise NotImplementedError

    @property
    def _mean_carrier_measure(self) -> float:
        raise NotImplementedError

    def entropy(self) -> Tensor:
        result = -self._mean_carrier_measure
        nparams = [p.detach().requires_grad_() for p in self._natural_params]
        lg_normal = self._log_normalizer(*nparams)
        gradients = _grad(lg_normal.sum(), nparams, create_graph=True)
        result = result + lg_normal
        for np_, g in zip(nparams, gradients):
            result = result - (np_ * g).reshape(tuple(self._batch_shape) + (-1,)).sum(-1)
        return result
