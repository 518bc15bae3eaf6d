"""``Bilinear`` (PyTorch's ``torch.nn.Bilinear``) over ``F.bilinear``, with PyTorch's parameter names and
default initialisation (uniform in ``+-1/sqrt(in1_features)``)."""
from __future__ import annotations

import math

from ...tensor import Tensor
from .. import init
from ..functional.affine_more import bilinear
from .module import Module
from .utils import _empty

__all__ = ["Bilinear"]


class Bilinear(Module):
    """``y = x1^T A x2 + b`` with ``weight`` ``(out_features, in1_features, in2_features)``.

    >>> import numgrad as ng
    >>> ng.nn.Bilinear(3, 4, 5)(ng.ones(2, 3), ng.ones(2, 4)).shape
    (2, 5)
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = _empty(out_features, in1_features, in2_features, dtype=dtype)
        if bias:
            self.bias = _empty(out_features, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
