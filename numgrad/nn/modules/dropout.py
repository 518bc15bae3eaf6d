"""``Dropout`` (PyTorch's ``torch.nn.modules.dropout``)."""
from __future__ import annotations

from ...tensor import Tensor
from ..functional.regularization import dropout
from .module import Module

__all__ = ["Dropout"]


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
