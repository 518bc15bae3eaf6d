"""Helpers shared by the distributions (PyTorch's ``torch.distributions.utils``).

``broadcast_all`` turns numbers into tensors and broadcasts parameters together, ``probs_to_logits`` /
``logits_to_probs`` convert the two parameterisations of discrete distributions, and ``lazy_property``
computes a parameter (``probs`` from ``logits`` or back) the first time it is read. Everything is written
with numgrad ops, so gradients flow through the conversions.

>>> import numgrad as ng
>>> from numgrad.distributions.utils import broadcast_all
>>> [t.shape for t in broadcast_all(ng.zeros(2, 3), 1.0)]
[(2, 3), (2, 3)]
"""
from __future__ import annotations

import numbers
from functools import update_wrapper
from typing import Any, Callable

from .. import _dtypes
from ..autograd.grad_mode import enable_grad
from ..creation import empty, tensor as _tensor
from ..ops.shape_more import broadcast_tensors
from ..tensor import Tensor

euler_constant = 0.57721566490153286060  # Euler-Mascheroni constant

__all__ = ["broadcast_all", "logits_to_probs", "clamp_probs", "probs_to_logits", "lazy_property"]

_Number = (int, float, bool, numbers.Number)


def broadcast_all(*values) -> tuple:
    """Broadcast tensors and numbers together; numbers take the first tensor's dtype (or the default dtype).

    >>> import numgrad as ng
    >>> broadcast_all(1.0, ng.tensor([1., 2.]))[0]
    tensor([1., 1.])
    """
    if not all(isinstance(v, Tensor) or isinstance(v, _Number) for v in values):
        raise ValueError("Input arguments must all be instances of Number, "
                         "torch.Tensor or objects implementing __torch_function__.")
    if not all(isinstance(v, Tensor) for v in values):
        options: dict = dict(dtype=_dtypes.get_default_dtype())
        for value in values:
            if isinstance(value, Tensor):
                options = dict(dtype=value.dtype, device=value.device)
                break
        values = tuple(v if isinstance(v, Tensor) else _tensor(v, **options) for v in values)
    return tuple(broadcast_tensors(*values))


def _standard_normal(shape, dtype, device) -> Tensor:
    """Standard normal draws from numgrad's generator (no gradient)."""
    return empty(tuple(shape), dtype=dtype, device=device).normal_()


def _sum_rightmost(value, dim: int):
    """Sum out the ``dim`` rightmost dimensions of ``value``."""
    if dim == 0:
        return value
    required_shape = tuple(value.shape[:-dim]) + (-1,)
    return value.reshape(required_shape).sum(-1)


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """Probabilities from logits: the sigmoid (binary) or the softmax over the last dimension.

    >>> import numgrad as ng
    >>> logits_to_probs(ng.tensor([0.]), is_binary=True)
    tensor([0.5000])
    """
    if is_binary:
        return logits.sigmoid()
    return logits.softmax(-1)


def clamp_probs(probs: Tensor) -> Tensor:
    """Clamp probabilities to ``[eps, 1 - eps]`` of their dtype.

    >>> import numgrad as ng
    >>> clamp_probs(ng.tensor([0.0, 0.5], dtype=ng.float64))
    tensor([2.2204e-16, 5.0000e-01], dtype=numgrad.float64)
    """
    eps = _dtypes.finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """Logits from probabilities: log-odds (binary) or the log of each probability.

    >>> import numgrad as ng
    >>> probs_to_logits(ng.tensor([0.5]), is_binary=True)
    tensor([0.])
    """
    ps_clamped = clamp_probs(probs)
    if is_binary:
        return ps_clamped.log() - (-ps_clamped).log1p()
    return ps_clamped.log()


class lazy_property:
    """A property computed on first access (with grad enabled) and then stored on the instance.

    >>> class A:
    ...     @lazy_property
    ...     def x(self):
    ...         return 3
    >>> A().x
    3
    """

    def __init__(self, wrapped: Callable[[Any], Any]) -> None:
        self.wrapped = wrapped
        update_wrapper(self, wrapped)

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return _lazy_property_and_property(self.wrapped)
        with enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


class _lazy_property_and_property(lazy_property, property):
    """A lazy_property that also looks like a property when read from the class."""

    def __init__(self, wrapped: Callable[[Any], Any]) -> None:
        property.__init__(self, wrapped)
