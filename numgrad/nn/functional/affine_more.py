"""``bilinear`` of ``numgrad.nn.functional``: ``y = x1^T A x2 + b`` as one differentiable einsum."""
from __future__ import annotations

from typing import Optional

from ...ops.einsum import einsum
from ...tensor import Tensor
from ._arguments import _as_tensor
from ...ops.autocast_policy import autocast_op

__all__ = ["bilinear"]


@autocast_op
def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """``y[..., o] = sum_ij input1[..., i] * weight[o, i, j] * input2[..., j] + bias[o]``.

    >>> import numgrad as ng
    >>> ng.nn.functional.bilinear(ng.ones(2, 3), ng.ones(2, 4), ng.ones(5, 3, 4)).shape
    (2, 5)
    """
    a, b, w = _as_tensor(input1), _as_tensor(input2), _as_tensor(weight)
    if w.ndim != 3:
        raise RuntimeError(f"bilinear(): weight must be three-dimensional, got {w.ndim} dimensions")
    if a.shape[:-1] != b.shape[:-1]:
        raise RuntimeError(
            f"bilinear(): input batch dimensions do not match: got {list(a.shape[:-1])} and {list(b.shape[:-1])}"
        )
    if a.shape[-1] != w.shape[1] or b.shape[-1] != w.shape[2]:
        raise RuntimeError(
            f"bilinear(): input sizes {a.shape[-1]} and {b.shape[-1]} do not match weight of shape {list(w.shape)}"
        )
    out = einsum("...i,oij,...j->...o", a, w, b)
    return out + bias if bias is not None else out
