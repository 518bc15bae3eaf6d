"""``LayerNorm`` (PyTorch's ``torch.nn.modules.normalization``)."""
from __future__ import annotations

from ... import creation
from ...tensor import Tensor
from ..functional.normalization import layer_norm
from ..parameter import Parameter
from .module import Module
from .utils import _float_dtype

__all__ = ["LayerNorm"]


class LayerNorm(Module):
    """Layer normalization over the trailing ``normalized_shape`` dims.

    >>> import numgrad as ng
    >>> ng.nn.LayerNorm(4)(ng.randn(2, 4)).shape
    (2, 4)
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        dt = _float_dtype(dtype)
        if elementwise_affine:
            self.weight = Parameter(creation.ones(*self.normalized_shape, dtype=dt))
            if bias:
                self.bias = Parameter(creation.zeros(*self.normalized_shape, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
