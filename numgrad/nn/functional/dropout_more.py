"""Alpha dropout of ``numgrad.nn.functional`` (for SELU networks): ``alpha_dropout`` and
``feature_alpha_dropout`` (whole channels). Dropped units are set to SELU's negative saturation value and the
result is rescaled so that mean and variance are kept, with PyTorch's constants; the mask is drawn from
numgrad's generator and the rest is differentiable tensor ops."""
from __future__ import annotations

import math

from ...creation import empty
from ...ops.random import bernoulli_
from ...tensor import Tensor
from ._arguments import _as_tensor

__all__ = ["alpha_dropout", "feature_alpha_dropout"]

_ALPHA = 1.7580993408473766  # SELU's scale * alpha: minus the value a saturated SELU unit outputs


def _alpha_dropout(input, p: float, training: bool, inplace: bool, feature: bool, op: str) -> Tensor:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = _as_tensor(input)
    if not training or p == 0:
        return x
    if p == 1:
        out = x * 0.0
    else:
        if feature:
            if x.ndim < 2:
                raise RuntimeError(f"{op}: Feature dropout requires at least 2 dimensions in the input, got "
                                   f"{list(x.shape)}")
            noise_shape = x.shape[:2] + (1,) * (x.ndim - 2)
        else:
            noise_shape = x.shape
        keep = bernoulli_(empty(*noise_shape, dtype=x.dtype), 1.0 - p)
        a = 1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
        b = (keep - 1.0) * (_ALPHA * a) + _ALPHA * a * p
        out = x * (keep * a) + b
    return x.copy_(out) if inplace else out


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Alpha dropout: keeps SELU activations' mean and variance (identity unless ``training``).

    >>> import numgrad as ng
    >>> ng.nn.functional.alpha_dropout(ng.ones(3), 0.5)
    tensor([1., 1., 1.])
    """
    return _alpha_dropout(input, p, training, inplace, False, "alpha_dropout")


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Alpha dropout of whole channels (dim 1) (identity unless ``training``).

    >>> import numgrad as ng
    >>> ng.nn.functional.feature_alpha_dropout(ng.ones(1, 2, 3), 0.5).shape
    (1, 2, 3)
    """
    return _alpha_dropout(input, p, training, inplace, True, "feature_alpha_dropout")
