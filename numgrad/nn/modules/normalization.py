"""``LayerNorm`` and ``GroupNorm`` (PyTorch's ``torch.nn.modules.normalization``)."""
from __future__ import annotations

from ... import creation
from ...tensor import Tensor
from ..functional.normalization import group_norm, layer_norm
from .. import init
from ..parameter import Parameter
from .module import Module
from .utils import _float_dtype

__all__ = ["LayerNorm"]
__all__ += ["GroupNorm"]


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


class GroupNorm(Module):
    """Group normalization: the channels of each sample in ``num_groups`` groups, each normalized over its
    channels and positions, then a per-channel affine (weight 1, bias 0 at first).

    >>> import numgrad as ng
    >>> ng.nn.GroupNorm(2, 4)(ng.randn(3, 4, 5)).shape
    (3, 4, 5)
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        dt = _float_dtype(dtype)
        if affine:
            self.weight = Parameter(creation.ones(num_channels, dtype=dt))
            if bias:
                self.bias = Parameter(creation.zeros(num_channels, dtype=dt))
            else:  # a scale without a shift (PyTorch's bias=False)
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """PyTorch's default: weight 1, bias 0."""
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, bias={self.bias is not None}"
