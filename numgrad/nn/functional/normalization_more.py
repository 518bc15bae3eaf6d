"""``rms_norm`` (root-mean-square normalization over the trailing dimensions) and ``local_response_norm``
(across channels) of ``numgrad.nn.functional``, composed of differentiable tensor ops (the elementwise parts
fuse; the channel window sum is ``avg_pool2d`` over a padded channel axis, PyTorch's own composition)."""
from __future__ import annotations

import numbers
from typing import Optional

import numpy as np

from ...ops.elementwise_functions import rsqrt
from ...ops.shape import pad
from ...tensor import Tensor
from ._arguments import _as_tensor, _check_float
from .pooling import avg_pool2d
from ...ops.autocast_policy import autocast_op

__all__ = ["rms_norm", "local_response_norm"]


@autocast_op
def rms_norm(input: Tensor, normalized_shape, weight: Optional[Tensor] = None,
             eps: Optional[float] = None) -> Tensor:
    """``x / sqrt(mean(x**2) + eps) * weight`` over the trailing ``normalized_shape`` dimensions; ``eps``
    defaults to the machine epsilon of ``input``'s dtype, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.nn.functional.rms_norm(ng.tensor([[3.0, 4.0]]), (2,), eps=0.0)
    tensor([[0.8485, 1.1314]])
    """
    x = _as_tensor(input)
    if isinstance(normalized_shape, (numbers.Integral, np.integer)):
        normalized_shape = (int(normalized_shape),)
    normalized_shape = tuple(int(s) for s in normalized_shape)
    nd = len(normalized_shape)
    if nd == 0 or x.ndim < nd or tuple(x.shape[x.ndim - nd:]) != normalized_shape:
        raise RuntimeError(
            f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
            f"[*, {', '.join(str(s) for s in normalized_shape)}], but got input of size{list(x.shape)}"
        )
    _check_float(x, "input", "rms_norm")
    if weight is not None and tuple(weight.shape) != normalized_shape:
        raise RuntimeError(
            f"Expected weight to be of same shape as normalized_shape, but got weight of shape "
            f"{list(weight.shape)} and normalized_shape = {list(normalized_shape)}"
        )
    if eps is None:
        eps = float(np.finfo(np.float32 if x.dtype.is_16bit_float else x.dtype.np).eps)
    dims = tuple(range(x.ndim - nd, x.ndim))
    y = x * rsqrt((x * x).mean(dims, keepdim=True) + eps)
    return y * weight if weight is not None else y


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """``x / (k + alpha * mean of x**2 over ``size`` neighbouring channels) ** beta`` (channels = dim 1).

    >>> import numgrad as ng
    >>> ng.nn.functional.local_response_norm(ng.ones(1, 3, 2), 2).shape
    (1, 3, 2)
    """
    x = _as_tensor(input)
    if x.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {x.ndim} dimensions)")
    if x.numel() == 0:
        return x
    n, c = x.shape[0], x.shape[1]
    # (N, 1, C, rest): the channel window becomes a (size, 1) pooling window, zero-padded like PyTorch's
    sq = (x * x).reshape(n, 1, c, -1)
    sq = pad(sq, (0, 0, size // 2, (size - 1) // 2))
    div = avg_pool2d(sq, (size, 1), stride=1).reshape(x.shape)
    return x / (div * alpha + k) ** beta
