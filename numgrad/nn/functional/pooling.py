"""Poolings of ``numgrad.nn.functional``: max_pool2d, avg_pool2d, adaptive_avg_pool2d.

Kernels of ``numgrad.kernels.backend`` (``kernels/cpu/conv.py`` or
``kernels/cuda/conv.py``); each backward is a ``Function`` whose own backward
is the forward's gather again, so ``create_graph=True`` works through them.
"""
from __future__ import annotations

from typing import Optional

from ...autograd.function import Function
from ...kernels import backend
from ...tensor import Tensor
from ._arguments import IntPair, _arr, _check_float, _check_tensor, _pair
from ...ops.autocast_policy import autocast_op


def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_args(input, kernel_size, stride, padding, dilation, op: str):
    _check_tensor(input, "input", op)
    if input.ndim not in (3, 4) or input.numel() == 0:
        raise RuntimeError(
            f"{op}(): non-empty 3D or 4D (batch mode) tensor expected for input, got size {list(input.shape)}"
        )
    _check_float(input, "input", op)
    kh, kw = _pair(kernel_size, "kernel_size", op)
    if kh <= 0 or kw <= 0:
        raise RuntimeError(f"{op}(): kernel_size must be greater than zero, but got {kernel_size}")
    sh, sw = (kh, kw) if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else _pair(
        stride, "stride", op)
    if sh <= 0 or sw <= 0:
        raise RuntimeError(f"{op}(): stride should be greater than zero, but got {stride}")
    ph, pw = _pair(padding, "padding", op)
    dh, dw = _pair(dilation, "dilation", op)
    if dh <= 0 or dw <= 0:
        raise RuntimeError(f"{op}(): dilation should be greater than zero, but got {dilation}")
    if ph < 0 or pw < 0 or ph > (dh * (kh - 1) + 1) // 2 or pw > (dw * (kw - 1) + 1) // 2:
        raise RuntimeError(
            f"pad should be at most half of effective kernel size, but got pad={max(ph, pw)}, "
            f"kernel_size={max(kh, kw)} and dilation={max(dh, dw)}"
        )
    return (kh, kw, sh, sw, ph, pw, dh, dw)


def _check_pool_output(x_shape, oh, ow, op) -> None:
    if oh <= 0 or ow <= 0:
        c, h, w = x_shape[-3:]
        raise RuntimeError(
            f"{op}(): Given input size: ({c}x{h}x{w}). Calculated output size: ({c}x{oh}x{ow}). "
            "Output size is too small"
        )


class _MaxPool2d(Function):
    node_name = "MaxPool2DWithIndicesBackward0"

    @staticmethod
    def forward(ctx, x, geo, out_hw):
        out, idx = backend.max_pool2d_forward(_arr(x), geo, out_hw)
        indices = Tensor(idx)
        ctx.mark_non_differentiable(indices)
        ctx.indices = indices
        ctx.x_shape, ctx.geo = x.shape, geo
        return Tensor(out), indices

    @staticmethod
    def backward(ctx, g, _g_indices):
        return _MaxPoolScatter.apply(g, ctx.indices, ctx.x_shape, ctx.geo), None, None


class _MaxPoolScatter(Function):
    """Routes each output gradient to the input element that was the maximum."""

    node_name = "MaxPool2DWithIndicesBackwardBackward0"

    @staticmethod
    def forward(ctx, g, indices, x_shape, geo):
        ctx.indices, ctx.geo = indices, geo
        return Tensor(backend.max_pool2d_backward(_arr(g), indices._data, x_shape, geo))

    @staticmethod
    def backward(ctx, ggx):
        return _MaxPoolGather.apply(ggx, ctx.indices, ctx.geo), None, None, None


class _MaxPoolGather(Function):
    node_name = "MaxPool2DWithIndicesBackwardBackward1"

    @staticmethod
    def forward(ctx, src, indices, geo):
        ctx.indices, ctx.src_shape, ctx.geo = indices, src.shape, geo
        return Tensor(backend.max_pool2d_gather(_arr(src), indices._data))

    @staticmethod
    def backward(ctx, g):
        return _MaxPoolScatter.apply(g, ctx.indices, ctx.src_shape, ctx.geo), None, None


@autocast_op
def max_pool2d(input: Tensor, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
               dilation: IntPair = 1, ceil_mode: bool = False, return_indices: bool = False):
    """2-D max pooling; with ``return_indices`` also the flat index of each maximum within its plane.

    >>> import numgrad as ng
    >>> ng.nn.functional.max_pool2d(ng.arange(16.).reshape(1, 1, 4, 4), 2)
    tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """
    geo = _pool_args(input, kernel_size, stride, padding, dilation, "max_pool2d")
    kh, kw, sh, sw, ph, pw, dh, dw = geo
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    oh = _pool_out(x.shape[2], kh, sh, ph, dh, ceil_mode)
    ow = _pool_out(x.shape[3], kw, sw, pw, dw, ceil_mode)
    _check_pool_output(x.shape, oh, ow, "max_pool2d")
    out, idx = _MaxPool2d.apply(x, geo, (oh, ow))
    if unbatched:
        out, idx = out.squeeze(0), idx.squeeze(0)
    return (out, idx) if return_indices else out


class _AvgPool2d(Function):
    node_name = "AvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, geo, out_hw):
        ctx.geo, ctx.x_shape = geo, x.shape
        return Tensor(backend.avg_pool2d_forward(_arr(x), geo, out_hw))

    @staticmethod
    def backward(ctx, g):
        return _AvgPool2dAdjoint.apply(g, ctx.geo, ctx.x_shape), None, None


class _AvgPool2dAdjoint(Function):
    node_name = "AvgPool2DBackwardBackward0"

    @staticmethod
    def forward(ctx, g, geo, x_shape):
        ctx.geo, ctx.out_hw = geo, g.shape[2:]
        return Tensor(backend.avg_pool2d_backward(_arr(g), geo, x_shape))

    @staticmethod
    def backward(ctx, ggx):
        return _AvgPool2d.apply(ggx, ctx.geo, tuple(ctx.out_hw)), None, None


@autocast_op
def avg_pool2d(input: Tensor, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: Optional[int] = None) -> Tensor:
    """2-D average pooling.

    >>> import numgrad as ng
    >>> ng.nn.functional.avg_pool2d(ng.ones(1, 1, 4, 4), 2).shape
    (1, 1, 2, 2)
    """
    kh, kw, sh, sw, ph, pw, _, _ = _pool_args(input, kernel_size, stride, padding, 1, "avg_pool2d")
    if divisor_override is not None and divisor_override <= 0:
        raise RuntimeError("divisor must be not zero")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    oh = _pool_out(x.shape[2], kh, sh, ph, 1, ceil_mode)
    ow = _pool_out(x.shape[3], kw, sw, pw, 1, ceil_mode)
    _check_pool_output(x.shape, oh, ow, "avg_pool2d")
    geo = (kh, kw, sh, sw, ph, pw, bool(count_include_pad), int(divisor_override or 0))
    out = _AvgPool2d.apply(x, geo, (oh, ow))
    return out.squeeze(0) if unbatched else out


class _AdaptiveAvgPool2d(Function):
    node_name = "AdaptiveAvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, out_hw):
        ctx.x_shape = x.shape
        return Tensor(backend.adaptive_avg_pool2d_forward(_arr(x), out_hw))

    @staticmethod
    def backward(ctx, g):
        return _AdaptiveAvgPool2dAdjoint.apply(g, ctx.x_shape), None


class _AdaptiveAvgPool2dAdjoint(Function):
    node_name = "AdaptiveAvgPool2DBackwardBackward0"

    @staticmethod
    def forward(ctx, g, x_shape):
        ctx.out_hw = tuple(g.shape[2:])
        return Tensor(backend.adaptive_avg_pool2d_backward(_arr(g), x_shape))

    @staticmethod
    def backward(ctx, ggx):
        return _AdaptiveAvgPool2d.apply(ggx, ctx.out_hw), None


@autocast_op
def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed output size (``None`` keeps that input size), with PyTorch's bins.

    >>> import numgrad as ng
    >>> ng.nn.functional.adaptive_avg_pool2d(ng.ones(2, 3, 7, 5), 1).shape
    (2, 3, 1, 1)
    """
    _check_tensor(input, "input", "adaptive_avg_pool2d")
    if input.ndim not in (3, 4):
        raise RuntimeError(f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {list(input.shape)}")
    _check_float(input, "input", "adaptive_avg_pool2d")
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"adaptive_avg_pool2d: output_size must be 2, got {len(output_size)}")
        sizes = list(output_size)
    else:
        sizes = [output_size, output_size]
    sizes = [input.shape[-2 + i] if s is None else int(s) for i, s in enumerate(sizes)]
    if any(s <= 0 for s in sizes):
        raise RuntimeError(f"adaptive_avg_pool2d(): output_size must be positive, got {output_size}")
    if any(n == 0 for n in input.shape[-2:]):
        raise RuntimeError(
            f"adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch dimensions, but input has "
            f"sizes {list(input.shape)}"
        )
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    out = _AdaptiveAvgPool2d.apply(x, tuple(sizes))
    return out.squeeze(0) if unbatched else out
