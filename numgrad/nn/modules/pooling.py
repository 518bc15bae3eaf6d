"""Pooling layers: ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d`` (PyTorch's ``torch.nn.modules.pooling``)."""
from __future__ import annotations

from typing import Optional

from ...tensor import Tensor
from ..functional.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]


class _MaxPoolNd(Module):
    """What MaxPool1d/2d/3d share, as PyTorch's ``_MaxPoolNd``: the arguments (``stride`` defaults to
    ``kernel_size``) and the repr."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class _AdaptivePoolNd(Module):
    """What the adaptive average poolings share (PyTorch's ``_AdaptiveAvgPoolNd``): the output size."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    """The adaptive max poolings (PyTorch's ``_AdaptiveMaxPoolNd``): the output size and ``return_indices``."""

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = return_indices


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling (``stride`` defaults to ``kernel_size``).

    >>> import numgrad as ng
    >>> ng.nn.MaxPool2d(2)(ng.ones(1, 1, 4, 4)).shape
    (1, 1, 2, 2)
    """

    def forward(self, input: Tensor):
        return max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)


class AvgPool2d(Module):
    """2-D average pooling.

    >>> import numgrad as ng
    >>> ng.nn.AvgPool2d(2)(ng.ones(1, 1, 4, 4)).shape
    (1, 1, 2, 2)
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: Optional[int] = None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(_AdaptivePoolNd):
    """Average pooling to a fixed output size.

    >>> import numgrad as ng
    >>> ng.nn.AdaptiveAvgPool2d((1, 1))(ng.ones(2, 3, 5, 5)).shape
    (2, 3, 1, 1)
    """

    def forward(self, input: Tensor) -> Tensor:
        return adaptive_avg_pool2d(input, self.output_size)
