"""``RMSNorm`` and ``LocalResponseNorm`` (PyTorch's ``torch.nn``) over ``F.rms_norm`` / ``F.local_response_norm``."""
from __future__ import annotations

from typing import Optional

from ... import creation
from ...tensor import Tensor
from .. import init
from ..functional.normalization_more import local_response_norm, rms_norm
from ..parameter import Parameter
from .module import Module
from .utils import _float_dtype

__all__ = ["RMSNorm", "LocalResponseNorm"]


class RMSNorm(Module):
    """Root-mean-square normalization over the trailing ``normalized_shape`` dims, with a learnt scale.

    >>> import numgrad as ng
    >>> ng.nn.RMSNorm(4)(ng.randn(2, 4)).shape
    (2, 4)
    """

    def __init__(self, normalized_shape, eps: Optional[float] = None, elementwise_affine: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.ones(*self.normalized_shape, dtype=_float_dtype(dtype)))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input: Tensor) -> Tensor:
        return rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class LocalResponseNorm(Module):
    """Normalization across ``size`` neighbouring channels (AlexNet's LRN).

    >>> import numgrad as ng
    >>> ng.nn.LocalResponseNorm(2)(ng.ones(1, 3, 2, 2)).shape
    (1, 3, 2, 2)
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input: Tensor) -> Tensor:
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
