"""PyTorch's deprecated ``upsample_nearest`` and ``upsample_bilinear`` (``interpolate`` with a fixed mode)."""
from __future__ import annotations

import warnings

from ...tensor import Tensor
from .vision import interpolate

__all__ = ["upsample_nearest", "upsample_bilinear"]


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """``interpolate(input, size, scale_factor, mode='nearest')`` (deprecated in PyTorch; warns likewise).

    >>> import numgrad as ng, warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     ng.nn.functional.upsample_nearest(ng.ones(1, 1, 2, 2), scale_factor=2).shape
    (1, 1, 4, 4)
    """
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """``interpolate(input, size, scale_factor, mode='bilinear', align_corners=True)`` (deprecated in PyTorch).

    >>> import numgrad as ng, warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     ng.nn.functional.upsample_bilinear(ng.ones(1, 1, 2, 2), scale_factor=2).shape
    (1, 1, 4, 4)
    """
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
