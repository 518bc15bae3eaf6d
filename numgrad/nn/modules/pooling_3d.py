"""3-D pooling and max unpooling layers (PyTorch's ``torch.nn.modules.pooling``): ``MaxPool3d``, ``AvgPool3d``,
``AdaptiveAvgPool3d``, ``AdaptiveMaxPool3d``, ``LPPool3d``, ``MaxUnpool1d``, ``MaxUnpool2d``, ``MaxUnpool3d``."""
from __future__ import annotations

from typing import Optional, Sequence

from ...tensor import Tensor
from ..functional import pooling_3d as P
from ..functional.unpooling import max_unpool1d, max_unpool2d, max_unpool3d
from .module import Module
from .pooling import _AdaptiveMaxPoolNd, _AdaptivePoolNd, _MaxPoolNd
from .pooling_more import _LPPoolNd, _single
from .utils import _pair, _triple

__all__ = ["MaxPool3d", "AvgPool3d", "AdaptiveAvgPool3d", "AdaptiveMaxPool3d", "LPPool3d", "MaxUnpool1d",
           "MaxUnpool2d", "MaxUnpool3d"]


class MaxPool3d(_MaxPoolNd):
    """3-D max pooling (``stride`` defaults to ``kernel_size``).

    >>> import numgrad as ng
    >>> ng.nn.MaxPool3d(2)(ng.ones(1, 1, 4, 4, 4)).shape
    (1, 1, 2, 2, 2)
    """

    def forward(self, input: Tensor):
        return P.max_pool3d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)


class AvgPool3d(Module):
    """3-D average pooling.

    >>> import numgrad as ng
    >>> ng.nn.AvgPool3d(2)(ng.ones(1, 1, 4, 4, 4)).shape
    (1, 1, 2, 2, 2)
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: Optional[int] = None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return P.avg_pool3d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool3d(_AdaptivePoolNd):
    """Average pooling of the last three dimensions to ``output_size`` (``None`` keeps that size).

    >>> import numgrad as ng
    >>> ng.nn.AdaptiveAvgPool3d((1, 2, None))(ng.ones(2, 3, 4, 4, 5)).shape
    (2, 3, 1, 2, 5)
    """

    def forward(self, input: Tensor) -> Tensor:
        return P.adaptive_avg_pool3d(input, self.output_size)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Max pooling of the last three dimensions to ``output_size`` bins.

    >>> import numgrad as ng
    >>> ng.nn.AdaptiveMaxPool3d(2)(ng.ones(1, 3, 4, 5, 6)).shape
    (1, 3, 2, 2, 2)
    """

    def forward(self, input: Tensor):
        return P.adaptive_max_pool3d(input, self.output_size, self.return_indices)


class LPPool3d(_LPPoolNd):
    """3-D power-average pooling.

    >>> import numgrad as ng
    >>> ng.nn.LPPool3d(2, 2)(ng.ones(1, 2, 4, 4, 4)).shape
    (1, 2, 2, 2, 2)
    """

    def forward(self, input: Tensor) -> Tensor:
        return P.lp_pool3d(input, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)


class _MaxUnpoolNd(Module):
    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Partial inverse of ``MaxPool1d``: values placed at their indices, zeros elsewhere.

    >>> import numgrad as ng
    >>> pool, unpool = ng.nn.MaxPool1d(2, return_indices=True), ng.nn.MaxUnpool1d(2)
    >>> unpool(*pool(ng.tensor([[1.0, 3.0, 2.0, 0.0]])))
    tensor([[0., 3., 2., 0.]])
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)

    def forward(self, input: Tensor, indices: Tensor, output_size: Optional[Sequence[int]] = None) -> Tensor:
        return max_unpool1d(input, indices, self.kernel_size, self.stride, self.padding, output_size)


class MaxUnpool2d(_MaxUnpoolNd):
    """Partial inverse of ``MaxPool2d``: values placed at their indices, zeros elsewhere.

    >>> import numgrad as ng
    >>> ng.nn.MaxUnpool2d(2)(ng.ones(1, 1, 2, 2), ng.tensor([[[[0, 3], [9, 15]]]])).shape
    (1, 1, 4, 4)
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride if stride is not None else kernel_size)
        self.padding = _pair(padding)

    def forward(self, input: Tensor, indices: Tensor, output_size: Optional[Sequence[int]] = None) -> Tensor:
        return max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding, output_size)


class MaxUnpool3d(_MaxUnpoolNd):
    """Partial inverse of ``MaxPool3d``: values placed at their indices, zeros elsewhere.

    >>> import numgrad as ng
    >>> ng.nn.MaxUnpool3d(2)(ng.ones(1, 1, 1, 1, 1), ng.tensor([[[[[7]]]]])).flatten()
    tensor([0., 0., 0., 0., 0., 0., 0., 1.])
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _triple(kernel_size)
        self.stride = _triple(stride if stride is not None else kernel_size)
        self.padding = _triple(padding)

    def forward(self, input: Tensor, indices: Tensor, output_size: Optional[Sequence[int]] = None) -> Tensor:
        return max_unpool3d(input, indices, self.kernel_size, self.stride, self.padding, output_size)
