"""``Dropout`` and the channel-wise ``Dropout1d`` / ``Dropout2d`` / ``Dropout3d`` (PyTorch's
``torch.nn.modules.dropout``)."""
from __future__ import annotations

from ...tensor import Tensor
from ..functional.regularization import dropout, dropout1d, dropout2d, dropout3d
from .module import Module

__all__ = ["Dropout"]
__all__ += ["Dropout1d", "Dropout2d", "Dropout3d"]


class Dropout(Module):
    """Randomly zero elements with probability ``p`` in training mode (identity in eval).

    >>> import numgrad as ng
    >>> ng.nn.Dropout(0.5).eval()(ng.ones(3))
    tensor([1., 1., 1.])
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input: Tensor) -> Tensor:
        return dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(Dropout):
    """Zero whole channels of ``(N, C, L)`` or ``(C, L)`` input with probability ``p`` in training mode.

    >>> import numgrad as ng
    >>> ng.nn.Dropout1d(0.5).eval()(ng.ones(2, 3, 4)).shape
    (2, 3, 4)
    """

    def forward(self, input: Tensor) -> Tensor:
        return dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(Dropout):
    """Zero whole channels of ``(N, C, H, W)`` input with probability ``p`` in training mode.

    >>> import numgrad as ng
    >>> ng.nn.Dropout2d(0.5).eval()(ng.ones(2, 3, 4, 4)).shape
    (2, 3, 4, 4)
    """

    def forward(self, input: Tensor) -> Tensor:
        return dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(Dropout):
    """Zero whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input with probability ``p`` in training mode.

    >>> import numgrad as ng
    >>> ng.nn.Dropout3d(0.5).eval()(ng.ones(1, 2, 2, 2, 2)).shape
    (1, 2, 2, 2, 2)
    """

    def forward(self, input: Tensor) -> Tensor:
        return dropout3d(input, self.p, self.training, self.inplace)
