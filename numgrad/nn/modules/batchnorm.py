"""Batch normalization: ``BatchNorm1d``, ``BatchNorm2d`` over a shared ``_BatchNorm`` (PyTorch's
``torch.nn.modules.batchnorm``)."""
from __future__ import annotations

from typing import Optional, Tuple

from ... import _dtypes
from ... import creation
from ...ops.elementwise import inplace_update
from ...tensor import Tensor
from .. import init
from ..functional.normalization import batch_norm
from ..parameter import Parameter
from .module import Module
from .utils import _float_dtype

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _NormBase(Module):
    """Parameters, running statistics and their resets, shared by batch and instance norm (PyTorch's ``_NormBase``)."""

    _expected_dims: Tuple[int, ...] = ()
    _version = 2  # PyTorch's (num_batches_tracked exists since version 2): ``state_dict()._metadata`` says so

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dt = _float_dtype(dtype)
        if affine:
            self.weight = Parameter(creation.ones(num_features, dtype=dt))
            if bias:
                self.bias = Parameter(creation.zeros(num_features, dtype=dt))
            else:  # a scale without a shift (PyTorch's bias=False)
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, dtype=dt))
            self.register_buffer("running_var", creation.ones(num_features, dtype=dt))
            self.register_buffer("num_batches_tracked", creation.tensor(0, dtype=_dtypes.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, batch count 0."""
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Running statistics reset; weight 1, bias 0."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in self._expected_dims:
            dims = " or ".join(f"{d}D" for d in self._expected_dims)
            raise ValueError(f"expected {dims} input (got {input.ndim}D input)")


class _BatchNorm(_NormBase):
    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            inplace_update(self.num_batches_tracked, "add", 1)
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked.item())
        use_batch_stats = self.training or self.running_mean is None
        track = self.running_mean is not None and (not self.training or self.track_running_stats)
        return batch_norm(input, self.running_mean if track else None, self.running_var if track else None,
                          self.weight, self.bias, use_batch_stats, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization over ``(N, C)`` or ``(N, C, L)`` input.

    >>> import numgrad as ng
    >>> ng.nn.BatchNorm1d(3)(ng.randn(4, 3)).shape
    (4, 3)
    """

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization over ``(N, C, H, W)`` input.

    >>> import numgrad as ng
    >>> ng.nn.BatchNorm2d(3)(ng.randn(2, 3, 4, 4)).shape
    (2, 3, 4, 4)
    """

    _expected_dims = (4,)


__all__ += ["BatchNorm3d"]


class BatchNorm3d(_BatchNorm):
    """Batch normalization over ``(N, C, D, H, W)`` input.

    >>> import numgrad as ng
    >>> ng.nn.BatchNorm3d(3)(ng.randn(2, 3, 2, 4, 4)).shape
    (2, 3, 2, 4, 4)
    """

    _expected_dims = (5,)
