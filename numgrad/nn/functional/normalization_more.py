"""``rms_norm`` of ``numgrad.nn.functional``: root-mean-square normalization over the trailing dimensions,
composed of differentiable tensor ops (square, mean, rsqrt, multiply) so its elementwise parts fuse."""
from __future__ import annotations

import numbers
from typing import Optional

import numpy as np

from ...ops.elementwise_functions import rsqrt
from ...tensor import Tensor
from ._arguments import _as_tensor, _check_float

__all__ = ["rms_norm"]


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
