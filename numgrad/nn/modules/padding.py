"""Padding layers (PyTorch's ``torch.nn.modules.padding``): ``ZeroPad1d/2d/3d``, ``ConstantPad1d/2d/3d``,
``ReflectionPad1d/2d/3d``, ``ReplicationPad1d/2d/3d``, ``CircularPad1d/2d/3d``, thin layers over ``F.pad``."""
from __future__ import annotations

from typing import Sequence, Tuple, Union

from ...ops.shape import pad
from ...tensor import Tensor
from .module import Module

__all__ = [
    "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ReflectionPad1d",
    "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "ReflectionPad3d", "ReplicationPad3d", "CircularPad1d",
    "CircularPad2d", "CircularPad3d",
]


def _ntuple(padding: Union[int, Sequence[int]], n: int) -> Tuple[int, ...]:
    """One int for every side, or PyTorch's ``(left, right, top, bottom, front, back)`` tuple."""
    if isinstance(padding, int):
        return (padding,) * (2 * n)
    padding = tuple(int(p) for p in padding)
    if len(padding) != 2 * n:
        raise ValueError(f"padding must be an int or a tuple of {2 * n} ints, got {padding}")
    return padding


class _PadNd(Module):
    _dims = 1
    _mode = "constant"

    def __init__(self, padding: Union[int, Sequence[int]]):
        super().__init__()
        self.padding = _ntuple(padding, self._dims)

    def forward(self, input: Tensor) -> Tensor:
        return pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding: Union[int, Sequence[int]], value: float):
        super().__init__(padding)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dimension with ``value``.

    >>> import numgrad as ng
    >>> ng.nn.ConstantPad1d((1, 0), 2.0)(ng.zeros(1, 2))
    tensor([[2., 0., 0.]])
    """

    _dims = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dimensions with ``value``.

    >>> import numgrad as ng
    >>> ng.nn.ConstantPad2d(1, 0.5)(ng.zeros(1, 1, 2, 2)).shape
    (1, 1, 4, 4)
    """

    _dims = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dimensions with ``value``.

    >>> import numgrad as ng
    >>> ng.nn.ConstantPad3d(1, 0.5)(ng.zeros(1, 2, 2, 2)).shape
    (1, 4, 4, 4)
    """

    _dims = 3


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding: Union[int, Sequence[int]]):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    """Pad the last dimension with zeros.

    >>> import numgrad as ng
    >>> ng.nn.ZeroPad1d(1)(ng.ones(1, 1))
    tensor([[0., 1., 0.]])
    """

    _dims = 1


class ZeroPad2d(_ZeroPadNd):
    """Pad the last two dimensions with zeros.

    >>> import numgrad as ng
    >>> ng.nn.ZeroPad2d((1, 1, 2, 0))(ng.ones(1, 1, 2, 2)).shape
    (1, 1, 4, 4)
    """

    _dims = 2


class ZeroPad3d(_ZeroPadNd):
    """Pad the last three dimensions with zeros.

    >>> import numgrad as ng
    >>> ng.nn.ZeroPad3d(1)(ng.ones(1, 1, 1, 1)).shape
    (1, 3, 3, 3)
    """

    _dims = 3


class ReflectionPad1d(_PadNd):
    """Pad the last dimension with its reflection (the edge value not repeated).

    >>> import numgrad as ng
    >>> ng.nn.ReflectionPad1d(1)(ng.tensor([[1.0, 2.0, 3.0]]))
    tensor([[2., 1., 2., 3., 2.]])
    """

    _dims, _mode = 1, "reflect"


class ReflectionPad2d(_PadNd):
    """Pad the last two dimensions with their reflection.

    >>> import numgrad as ng
    >>> ng.nn.ReflectionPad2d(1)(ng.ones(1, 1, 2, 2)).shape
    (1, 1, 4, 4)
    """

    _dims, _mode = 2, "reflect"


class ReplicationPad1d(_PadNd):
    """Pad the last dimension by repeating its edge values.

    >>> import numgrad as ng
    >>> ng.nn.ReplicationPad1d(1)(ng.tensor([[1.0, 2.0]]))
    tensor([[1., 1., 2., 2.]])
    """

    _dims, _mode = 1, "replicate"


class ReplicationPad2d(_PadNd):
    """Pad the last two dimensions by repeating their edge values.

    >>> import numgrad as ng
    >>> ng.nn.ReplicationPad2d(1)(ng.ones(1, 1, 2, 2)).shape
    (1, 1, 4, 4)
    """

    _dims, _mode = 2, "replicate"


class ReflectionPad3d(_PadNd):
    """Pad the last three dimensions with their reflection.

    >>> import numgrad as ng
    >>> ng.nn.ReflectionPad3d(1)(ng.ones(1, 2, 2, 2)).shape
    (1, 4, 4, 4)
    """

    _dims, _mode = 3, "reflect"


class ReplicationPad3d(_PadNd):
    """Pad the last three dimensions with their edge values repeated.

    >>> import numgrad as ng
    >>> ng.nn.ReplicationPad3d(1)(ng.ones(1, 2, 2, 2)).shape
    (1, 4, 4, 4)
    """

    _dims, _mode = 3, "replicate"


class CircularPad1d(_PadNd):
    """Pad the last dimension by wrapping around (periodic padding).

    >>> import numgrad as ng
    >>> ng.nn.CircularPad1d(1)(ng.ones(1, 1, 2)).shape
    (1, 1, 4)
    """

    _dims, _mode = 1, "circular"


class CircularPad2d(_PadNd):
    """Pad the last two dimensions by wrapping around (periodic padding).

    >>> import numgrad as ng
    >>> ng.nn.CircularPad2d(1)(ng.ones(1, 1, 2, 2)).shape
    (1, 1, 4, 4)
    """

    _dims, _mode = 2, "circular"


class CircularPad3d(_PadNd):
    """Pad the last three dimensions by wrapping around (periodic padding).

    >>> import numgrad as ng
    >>> ng.nn.CircularPad3d(1)(ng.ones(1, 1, 2, 2, 2)).shape
    (1, 1, 4, 4, 4)
    """

    _dims, _mode = 3, "circular"
