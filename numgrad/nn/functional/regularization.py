"""``dropout`` and the channel-wise ``dropout1d`` / ``dropout2d`` / ``dropout3d`` of ``numgrad.nn.functional``.

The mask is drawn on the host from numgrad's generator on every device, so
``ng.manual_seed`` gives the same mask on the CPU and on CUDA; the kernels are
those of ``backend.norm_kernels(data)``.  The module is not called ``dropout``
so that ``numgrad.nn.functional.dropout`` names the function only.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from ...autograd.function import Function
from ...creation import default_generator
from ...kernels import backend
from ...kernels.config import PARALLEL_THRESHOLD
from ...ops.elementwise import apply as _ew
from ...tensor import Tensor
from ._arguments import _arr, _check_float, _check_tensor
from ...ops.autocast_policy import autocast_op


class _Dropout(Function):
    node_name = "MulBackward0"

    @staticmethod
    def forward(ctx, x, p):
        xa = _arr(x).reshape(-1)
        # drawn on the host from numgrad's generator on every device (on CUDA the kernel copies the draws to
        # the device in one transfer): the same random stream, so ng.manual_seed gives the same mask on both
        u = default_generator().random(xa.shape[0], dtype=np.float64 if xa.dtype == np.float64 else np.float32)
        empty = backend.empty_allocator(xa)
        out = empty(xa.shape, xa.dtype)
        mask = empty(xa.shape, xa.dtype)
        scale = 0.0 if p >= 1.0 else 1.0 / (1.0 - p)
        k = backend.norm_kernels(xa)
        (k.dropout_forward_par if xa.shape[0] >= PARALLEL_THRESHOLD else k.dropout_forward)(
            xa, u, p, scale, out, mask)
        ctx.mask = Tensor(mask.reshape(x.shape))
        return Tensor(out.reshape(x.shape))

    @staticmethod
    def backward(ctx, g):
        return _ew("mul", g, ctx.mask), None


@autocast_op
def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (training only).

    >>> import numgrad as ng
    >>> ng.nn.functional.dropout(ng.ones(4), p=0.0)
    tensor([1., 1., 1., 1.])
    """
    _check_tensor(input, "input", "dropout")
    if not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    _check_float(input, "input", "dropout")
    out = _Dropout.apply(input, float(p))
    if inplace:
        input.copy_(out)
        return input
    return out


# ------------------------------------------------------------------ channel-wise dropout (dropout1d/2d/3d)
def _feature_dropout(input: Tensor, p: float, training: bool, inplace: bool, batched: bool, op: str) -> Tensor:
    """Zero whole channels: one draw per (sample, channel), broadcast over the spatial dims."""
    if not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    _check_float(input, "input", op)
    lead = 2 if batched else 1
    shape = tuple(input.shape[:lead]) + (1,) * (input.ndim - lead)
    np_dtype = np.float64 if input.dtype.name == "float64" else np.float32
    # the same generator and rule (keep where u >= p) as dropout, so ng.manual_seed reproduces the mask
    u = default_generator().random(int(np.prod(shape, dtype=np.int64)), dtype=np_dtype).reshape(shape)
    scale = 0.0 if p >= 1.0 else 1.0 / (1.0 - p)
    draws = Tensor(backend.to_device(u, input.device))
    # the mask is computed from the draws by a kernel (not NumPy), so ng.compile replays it after the draw
    mask = (draws >= p).to(draws.dtype) * scale
    out = input * mask
    if inplace:
        input.copy_(out)
        return input
    return out


@autocast_op
def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero entire channels of ``(N, C, L)`` or ``(C, L)`` input with probability ``p``; scale the rest by
    ``1 / (1 - p)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.dropout1d(ng.ones(2, 3, 4), p=0.0).shape
    (2, 3, 4)
    """
    _check_tensor(input, "input", "dropout1d")
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that dropout1d exists to "
            "provide channel-wise dropout on inputs with 1 spatial dimension, a channel dimension, and an optional "
            "batch dimension (i.e. 2D or 3D inputs).")
    return _feature_dropout(input, p, training, inplace, input.ndim == 3, "dropout1d")


@autocast_op
def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero entire channels of ``(N, C, H, W)`` input with probability ``p`` (PyTorch's warnings and its
    ``(N, C, L)`` reading of 3-D input included).

    >>> import numgrad as ng
    >>> ng.nn.functional.dropout2d(ng.ones(2, 3, 4, 4), p=0.0).shape
    (2, 3, 4, 4)
    """
    _check_tensor(input, "input", "dropout2d")
    if input.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and will result in an "
            "error in a future release. To retain the behavior and silence this warning, please use dropout "
            "instead. Note that dropout2d exists to provide channel-wise dropout on inputs with 2 spatial "
            "dimensions, a channel dimension, and an optional batch dimension (i.e. 3D or 4D inputs).",
            stacklevel=2)
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior is "
            "desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior will "
            "change in a future release to interpret the input as one without a batch dimension, i.e. shape "
            "(C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using dropout1d "
            "instead.", stacklevel=2)
    return _feature_dropout(input, p, training, inplace, input.ndim >= 2, "dropout2d")


@autocast_op
def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero entire channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input with probability ``p``.

    >>> import numgrad as ng
    >>> ng.nn.functional.dropout3d(ng.ones(1, 2, 2, 2, 2), p=0.0).shape
    (1, 2, 2, 2, 2)
    """
    _check_tensor(input, "input", "dropout3d")
    if input.ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is deprecated and will result in an "
            "error in a future release. To retain the behavior and silence this warning, please use dropout "
            "instead. Note that dropout3d exists to provide channel-wise dropout on inputs with 3 spatial "
            "dimensions, a channel dimension, and an optional batch dimension (i.e. 4D or 5D inputs).",
            stacklevel=2)
    return _feature_dropout(input, p, training, inplace, input.ndim == 5, "dropout3d")
