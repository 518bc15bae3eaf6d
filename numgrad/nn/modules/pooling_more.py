"""1-D and adaptive max pooling layers (PyTorch's ``torch.nn.modules.pooling``): ``MaxPool1d``, ``AvgPool1d``,
``AdaptiveAvgPool1d``, ``AdaptiveMaxPool1d``, ``AdaptiveMaxPool2d``."""
from __future__ import annotations

from ...tensor import Tensor
from ..functional import pooling_more as P
from .module import Module
from .pooling import _AdaptiveMaxPoolNd, _AdaptivePoolNd, _MaxPoolNd

__all__ = ["MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "LPPool1d", "LPPool2d"]


def _single(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling (``stride`` defaults to ``kernel_size``).

    >>> import numgrad as ng
    >>> ng.nn.MaxPool1d(2)(ng.ones(1, 2, 6)).shape
    (1, 2, 3)
    """

    def forward(self, input: Tensor):
        return P.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)


class AvgPool1d(Module):
    """1-D average pooling.

    >>> import numgrad as ng
    >>> ng.nn.AvgPool1d(2)(ng.ones(1, 2, 6)).shape
    (1, 2, 3)
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return P.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool1d(_AdaptivePoolNd):
    """Average pooling of the last dimension to ``output_size`` bins.

    >>> import numgrad as ng
    >>> ng.nn.AdaptiveAvgPool1d(2)(ng.ones(1, 3, 5)).shape
    (1, 3, 2)
    """

    def forward(self, input: Tensor) -> Tensor:
        return P.adaptive_avg_pool1d(input, self.output_size)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max pooling of the last dimension to ``output_size`` bins.

    >>> import numgrad as ng
    >>> ng.nn.AdaptiveMaxPool1d(2)(ng.ones(1, 3, 5)).shape
    (1, 3, 2)
    """

    def forward(self, input: Tensor):
        return P.adaptive_max_pool1d(input, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max pooling of the last two dimensions to ``output_size`` bins.

    >>> import numgrad as ng
    >>> ng.nn.AdaptiveMaxPool2d((2, 3))(ng.ones(1, 3, 5, 7)).shape
    (1, 3, 2, 3)
    """

    def forward(self, input: Tensor):
        return P.adaptive_max_pool2d(input, self.output_size, self.return_indices)


class _LPPoolNd(Module):
    def __init__(self, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type, self.kernel_size, self.stride, self.ceil_mode = norm_type, kernel_size, stride, ceil_mode

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """1-D power-average pooling.

    >>> import numgrad as ng
    >>> ng.nn.LPPool1d(2, 2)(ng.ones(1, 2, 4)).shape
    (1, 2, 2)
    """

    def forward(self, input: Tensor) -> Tensor:
        return P.lp_pool1d(input, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)


class LPPool2d(_LPPoolNd):
    """2-D power-average pooling.

    >>> import numgrad as ng
    >>> ng.nn.LPPool2d(2, 2)(ng.ones(1, 2, 4, 4)).shape
    (1, 2, 2, 2)
    """

    def forward(self, input: Tensor) -> Tensor:
        return P.lp_pool2d(input, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)
