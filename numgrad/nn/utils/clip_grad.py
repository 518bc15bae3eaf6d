"""Gradient clipping (PyTorch's ``torch.nn.utils.clip_grad``).

The norm of all gradients together is the ``norm_type`` norm of the vector of
each gradient's own norm, as in PyTorch; every gradient is then scaled in place
by ``min(max_norm / (total_norm + 1e-6), 1)``.
"""
from __future__ import annotations

import types
import warnings
from typing import Iterable, Optional, Union

from ...autograd.grad_mode import no_grad
from ...creation import tensor
from ...ops.shape import stack
from ...tensor import Tensor

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]

TensorOrTensors = Union[Tensor, Iterable[Tensor]]


def _as_list(tensors: TensorOrTensors) -> list:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def get_total_norm(tensors: TensorOrTensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: Optional[bool] = None) -> Tensor:
    """The ``norm_type`` norm of ``tensors`` seen as one vector (``'inf'`` for the max norm).

    ``foreach`` is accepted for PyTorch compatibility; numgrad has one implementation.

    >>> import numgrad as ng
    >>> ng.nn.utils.get_total_norm([ng.tensor([3.0]), ng.tensor([4.0])])
    tensor(5.)
    """
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return tensor(0.0)
    with no_grad():
        norms = [t.norm(norm_type) for t in tensors]
        total = stack([n.to(norms[0].dtype) for n in norms]).norm(norm_type)
    if error_if_nonfinite:
        value = float(total)
        if value != value or value in (float("inf"), float("-inf")):
            raise RuntimeError(
                f"The total norm of order {norm_type} for gradients from "
                "`parameters` is non-finite, so it cannot be clipped. To disable "
                "this error and scale the gradients by the non-finite norm anyway, "
                "set `error_if_nonfinite=False`"
            )
    return total


def clip_grads_with_norm_(parameters: TensorOrTensors, max_norm: float, total_norm: Tensor,
                          foreach: Optional[bool] = None) -> None:
    """Scale the ``.grad`` of ``parameters`` in place by ``min(max_norm / (total_norm + 1e-6), 1)``.

    >>> import numgrad as ng
    >>> p = ng.nn.Parameter(ng.ones(2))
    >>> p.grad = ng.tensor([3.0, 4.0])
    >>> ng.nn.utils.clip_grads_with_norm_([p], 1.0, ng.tensor(5.0))
    >>> p.grad
    tensor([0.6000, 0.8000])
    """
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    with no_grad():
        coef = (float(max_norm) / (total_norm + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.to(g.dtype))


def clip_grad_norm_(parameters: TensorOrTensors, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: Optional[bool] = None) -> Tensor:
    """Clip the gradients of ``parameters`` so that their total ``norm_type`` norm is at most ``max_norm``.

    Returns the total norm before clipping (a 0-d tensor). ``norm_type`` may be
    ``float('inf')`` / ``'inf'``; ``error_if_nonfinite=True`` raises on a NaN or
    infinite total norm; ``foreach`` is accepted and ignored.

    >>> import numgrad as ng
    >>> p = ng.nn.Parameter(ng.ones(2))
    >>> p.grad = ng.tensor([3.0, 4.0])
    >>> ng.nn.utils.clip_grad_norm_([p], max_norm=1.0)
    tensor(5.)
    >>> p.grad
    tensor([0.6000, 0.8000])
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=2)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(parameters: TensorOrTensors, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: Optional[bool] = None) -> Tensor:
    """Deprecated alias of ``clip_grad_norm_`` (a ``FutureWarning``, as in PyTorch).

    >>> import warnings, numgrad as ng
    >>> p = ng.nn.Parameter(ng.ones(1)); p.grad = ng.tensor([2.0])
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     ng.nn.utils.clip_grad_norm([p], 1.0)
    tensor(2.)
    """
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters: TensorOrTensors, clip_value: float, foreach: Optional[bool] = None) -> None:
    """Clamp every ``.grad`` of ``parameters`` into ``[-clip_value, clip_value]`` in place.

    >>> import numgrad as ng
    >>> p = ng.nn.Parameter(ng.ones(2))
    >>> p.grad = ng.tensor([3.0, -0.5])
    >>> ng.nn.utils.clip_grad_value_([p], 1.0)
    >>> p.grad
    tensor([ 1.0000, -0.5000])
    """
    clip_value = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad.clamp_(min=-clip_value, max=clip_value)
