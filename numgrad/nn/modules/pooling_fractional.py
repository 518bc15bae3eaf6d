"""``FractionalMaxPool2d`` and ``FractionalMaxPool3d`` (PyTorch's ``torch.nn.modules.pooling``)."""
from __future__ import annotations

from typing import Optional

from ...tensor import Tensor
from ..functional.pooling_fractional import fractional_max_pool2d, fractional_max_pool3d
from .module import Module
from .utils import _pair, _triple

__all__ = ["FractionalMaxPool2d", "FractionalMaxPool3d"]


class _FractionalMaxPoolNd(Module):
    _dims = 2

    def __init__(self, kernel_size, output_size=None, output_ratio=None, return_indices: bool = False,
                 _random_samples: Optional[Tensor] = None):
        super().__init__()
        tup = _pair if self._dims == 2 else _triple
        self.kernel_size = tup(kernel_size)
        self.return_indices = return_indices
        # fixed samples (PyTorch's private argument) make the windows deterministic; None draws new ones per call
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = tup(output_size) if output_size is not None else None
        self.output_ratio = tup(output_ratio) if output_ratio is not None else None
        if output_size is None and output_ratio is None:
            raise ValueError(f"{type(self).__name__} requires specifying either an output size, or a pooling ratio")
        if output_size is not None and output_ratio is not None:
            raise ValueError("only one of output_size and output_ratio may be specified")
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """2-D fractional max pooling to ``output_size`` or ``output_ratio`` of the input size.

    >>> import numgrad as ng
    >>> ng.nn.FractionalMaxPool2d(3, output_ratio=0.5)(ng.randn(1, 2, 8, 10)).shape
    (1, 2, 4, 5)
    """

    _dims = 2

    def forward(self, input: Tensor):
        return fractional_max_pool2d(input, self.kernel_size, self.output_size, self.output_ratio,
                                     self.return_indices, _random_samples=self._random_samples)


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """3-D fractional max pooling to ``output_size`` or ``output_ratio`` of the input size.

    >>> import numgrad as ng
    >>> ng.nn.FractionalMaxPool3d(2, output_size=(2, 3, 3))(ng.randn(1, 2, 4, 6, 5)).shape
    (1, 2, 2, 3, 3)
    """

    _dims = 3

    def forward(self, input: Tensor):
        return fractional_max_pool3d(input, self.kernel_size, self.output_size, self.output_ratio,
                                     self.return_indices, _random_samples=self._random_samples)
