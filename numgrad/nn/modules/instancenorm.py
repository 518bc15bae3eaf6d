"""``InstanceNorm1d`` and ``InstanceNorm2d`` (PyTorch's ``torch.nn.modules.instancenorm``)."""
from __future__ import annotations

import warnings
from typing import Optional

from ...tensor import Tensor
from ..functional.normalization import instance_norm
from .batchnorm import _NormBase

__all__ = ["InstanceNorm1d", "InstanceNorm2d"]


class _InstanceNorm(_NormBase):
    _no_batch_dim = 2

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None, *, bias: bool = True):
        # num_batches_tracked is kept for state_dict compatibility; instance norm never counts batches (nor does
        # PyTorch)
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        feature_dim = input.ndim - self._no_batch_dim
        if input.shape[feature_dim] != self.num_features:
            if self.affine:
                raise ValueError(f"expected input's size at dim={feature_dim} to match num_features "
                                 f"({self.num_features}), but got: {input.shape[feature_dim]}.")
            warnings.warn(f"input's size at dim={feature_dim} does not match num_features. You can silence this "
                          "warning by not passing in num_features, which is not used because affine=False",
                          stacklevel=2)
        unbatched = input.ndim == self._no_batch_dim
        x = input.unsqueeze(0) if unbatched else input
        out = instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats,
                            self.momentum if self.momentum is not None else 0.0, self.eps)
        return out.squeeze(0) if unbatched else out

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization of ``(N, C, L)`` or ``(C, L)`` input: each channel of each sample over its positions.

    >>> import numgrad as ng
    >>> ng.nn.InstanceNorm1d(3)(ng.randn(2, 3, 5)).shape
    (2, 3, 5)
    """

    _no_batch_dim = 2
    _expected_dims = (2, 3)


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization of ``(N, C, H, W)`` or ``(C, H, W)`` input.

    >>> import numgrad as ng
    >>> ng.nn.InstanceNorm2d(3, affine=True)(ng.randn(2, 3, 4, 4)).shape
    (2, 3, 4, 4)
    """

    _no_batch_dim = 3
    _expected_dims = (3, 4)


__all__ += ["InstanceNorm3d"]


class InstanceNorm3d(_InstanceNorm):
    """Instance normalization of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input.

    >>> import numgrad as ng
    >>> ng.nn.InstanceNorm3d(3, affine=True)(ng.randn(2, 3, 2, 4, 4)).shape
    (2, 3, 2, 4, 4)
    """

    _no_batch_dim = 4
    _expected_dims = (4, 5)
