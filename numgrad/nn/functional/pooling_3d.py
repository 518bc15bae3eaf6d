"""3-D pooling of ``numgrad.nn.functional``: ``max_pool3d`` (and ``_with_indices``), ``avg_pool3d``,
``adaptive_avg_pool3d``, ``adaptive_max_pool3d`` (and ``_with_indices``), ``lp_pool3d``.

Pooling over a box is separable, so each 3-D pooling is two passes of the 2-D kernels (``pooling.py``, CPU
and CUDA): the ``(H, W)`` window over ``(N, C * D, H, W)``, then the depth window as a ``(kD, 1)`` window over
``(N, C, D, OH * OW)``. The max of maxima is the box's maximum and the first one in ``(d, h, w)`` order (each
pass keeps the first of equal values), which is the one PyTorch picks; averages compose because every divisor
PyTorch uses (window size with or without padding, clipped at the borders) is a product of one factor per
dimension. Indices compose as ``d * H * W + (the (H, W) pass's index at that d)``. Both passes are
differentiable Functions, so gradients and double backward come from them. Adaptive max pooling with unequal
bins gathers each bin instead (``_windows.max_over_windows``).
"""
from __future__ import annotations

import numbers
from typing import Optional, Tuple, Union

import numpy as np

from ...ops.elementwise_functions import abs as _abs
from ...tensor import Tensor
from ._arguments import _as_tensor, _check_float, _check_tensor
from .pooling import _pool_out, adaptive_avg_pool2d, avg_pool2d, max_pool2d
from ._windows import adaptive_bins, max_over_windows
from .pooling_more import _adaptive_sizes, _lp_finish
from ...ops.autocast_policy import autocast_op

__all__ = [
    "max_pool3d", "max_pool3d_with_indices", "avg_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d",
    "adaptive_max_pool3d_with_indices", "lp_pool3d",
]

IntTriple = Union[int, Tuple[int, int, int]]


def _is_int(v) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool)


def _triple(value, what: str) -> Tuple[int, int, int]:
    if _is_int(value):
        return (int(value),) * 3
    if isinstance(value, (tuple, list)) and len(value) in (1, 3) and all(_is_int(v) for v in value):
        return tuple(int(v) for v in value) * (3 // len(value))
    raise RuntimeError(what)


def _pool3d_args(input, kernel_size, stride, padding, dilation, op: str):
    """PyTorch's checks of a 3-D pooling, in its order; returns ``(kernel, stride, padding, dilation)``."""
    _check_tensor(input, "input", op)
    kernel = _triple(kernel_size, f"{op}: kernel_size must {'either ' if op == 'max_pool3d' else ''}be a single "
                                  "int, or a tuple of three ints")
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        strides = kernel
    else:
        strides = _triple(stride, f"{op}: stride must either be omitted, a single int, or a tuple of three ints")
    pads = _triple(padding, f"{op}: padding must either be a single int, or a tuple of three ints")
    dils = _triple(dilation, f"{op}: dilation must be either a single int, or a tuple of three ints")
    if min(kernel) <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got kT: {kernel[0]} kH: {kernel[1]} "
                           f"kW: {kernel[2]}")
    if min(strides) == 0:
        raise RuntimeError("stride should not be zero")
    if min(strides) < 0:
        raise RuntimeError(f"stride should be greater than zero, but got dT: {strides[0]} dH: {strides[1]} "
                           f"dW: {strides[2]}")
    if min(dils) <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got dilationT: {dils[0]} dilationH: "
                           f"{dils[1]} dilationW: {dils[2]}")
    for k, p, d in zip(kernel, pads, dils):
        if p < 0:
            raise RuntimeError(f"pad must be non-negative, but got pad: {p}")
        if p > ((k - 1) * d + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={p}, "
                               f"kernel_size={k} and dilation={d}")
    if any(k // 2 < p for k, p in zip(kernel, pads)):
        raise RuntimeError(f"pad should be smaller than or equal to half of kernel size, but got kT: {kernel[0]} "
                           f"kW: {kernel[2]} kH: {kernel[1]} padT: {pads[0]} padW: {pads[2]} padH: {pads[1]}")
    if input.ndim not in (4, 5) or input.numel() == 0:
        raise RuntimeError(f"non-empty 4D or 5D (batch mode) tensor expected for input, got size "
                           f"{list(input.shape)} ({op})")
    _check_float(input, "input", op)
    return kernel, strides, pads, dils


def _out_sizes(x: Tensor, kernel, strides, pads, dils, ceil_mode: bool):
    sizes = [_pool_out(x.shape[-3 + i], kernel[i], strides[i], pads[i], dils[i], ceil_mode) for i in range(3)]
    if min(sizes) <= 0:
        c, t, h, w = x.shape[-4:]
        raise RuntimeError(f"Given input size: ({c}x{t}x{h}x{w}). Calculated output size: "
                           f"({c}x{sizes[0]}x{sizes[1]}x{sizes[2]}). Output size is too small")
    return sizes


def _compose_indices(plane_idx: Tensor, depth_idx: Tensor, n: int, c: int, d: int, hw: int) -> Tensor:
    """Flat ``d * H * W + h * W + w`` indices from the (H, W) pass's indices ``plane_idx`` (N, C*D, OH, OW) and
    the depth pass's ``depth_idx`` (N, C, OD, OH*OW), whose values are ``d * OH*OW + column``."""
    oh, ow = plane_idx.shape[2], plane_idx.shape[3]
    d_sel = depth_idx // (oh * ow)
    picked = plane_idx.reshape(n, c, d, oh * ow).gather(2, d_sel)
    return (picked + d_sel * hw).reshape(n, c, depth_idx.shape[2], oh, ow)


@autocast_op
def max_pool3d(input: Tensor, kernel_size: IntTriple, stride: Optional[IntTriple] = None, padding: IntTriple = 0,
               dilation: IntTriple = 1, ceil_mode: bool = False, return_indices: bool = False):
    """3-D max pooling over ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input; with ``return_indices`` also the flat
    index ``d * H * W + h * W + w`` of each maximum within its volume (what ``max_unpool3d`` takes).

    >>> import numgrad as ng
    >>> ng.nn.functional.max_pool3d(ng.arange(8.).reshape(1, 1, 2, 2, 2), 2)
    tensor([[[[[7.]]]]])
    """
    kernel, strides, pads, dils = _pool3d_args(input, kernel_size, stride, padding, dilation, "max_pool3d")
    unbatched = input.ndim == 4
    x = input.unsqueeze(0) if unbatched else input
    _out_sizes(x, kernel, strides, pads, dils, ceil_mode)
    n, c, d, h, w = x.shape
    planes, plane_idx = max_pool2d(x.reshape(n, c * d, h, w), kernel[1:], strides[1:], pads[1:], dils[1:], ceil_mode,
                                   True)
    oh, ow = planes.shape[2], planes.shape[3]
    out, depth_idx = max_pool2d(planes.reshape(n, c, d, oh * ow), (kernel[0], 1), (strides[0], 1), (pads[0], 0),
                                (dils[0], 1), ceil_mode, True)
    out = out.reshape(n, c, out.shape[2], oh, ow)
    if not return_indices:
        return out.squeeze(0) if unbatched else out
    idx = _compose_indices(plane_idx, depth_idx, n, c, d, h * w)
    return (out.squeeze(0), idx.squeeze(0)) if unbatched else (out, idx)


def max_pool3d_with_indices(input: Tensor, kernel_size: IntTriple, stride: Optional[IntTriple] = None,
                            padding: IntTriple = 0, dilation: IntTriple = 1, ceil_mode: bool = False,
                            return_indices: bool = True):
    """``max_pool3d`` returning ``(values, indices)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.max_pool3d_with_indices(ng.arange(8.).reshape(1, 2, 2, 2), 2)[1]
    tensor([[[[7]]]])
    """
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


@autocast_op
def avg_pool3d(input: Tensor, kernel_size: IntTriple, stride: Optional[IntTriple] = None, padding: IntTriple = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: Optional[int] = None) -> Tensor:
    """3-D average pooling over ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input.

    >>> import numgrad as ng
    >>> ng.nn.functional.avg_pool3d(ng.arange(8.).reshape(1, 1, 2, 2, 2), 2)
    tensor([[[[[3.5000]]]]])
    """
    op = "avg_pool3d"
    kernel, strides, pads, _ = _pool3d_args(input, kernel_size, stride, padding, 1, op)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    unbatched = input.ndim == 4
    x = input.unsqueeze(0) if unbatched else input
    t, h, w = x.shape[-3:]
    if t < kernel[0] or h < kernel[1] or w < kernel[2]:
        raise RuntimeError(f"input image (T: {t} H: {h} W: {w}) smaller than kernel size (kT: {kernel[0]} kH: "
                           f"{kernel[1]} kW: {kernel[2]})")
    _out_sizes(x, kernel, strides, pads, (1, 1, 1), ceil_mode)
    n, c, d = x.shape[:3]
    # with divisor_override both passes sum (divisor 1) and the total is divided once
    per_pass = None if divisor_override is None else 1
    planes = avg_pool2d(x.reshape(n, c * d, h, w), kernel[1:], strides[1:], pads[1:], ceil_mode, count_include_pad,
                        per_pass)
    oh, ow = planes.shape[2], planes.shape[3]
    out = avg_pool2d(planes.reshape(n, c, d, oh * ow), (kernel[0], 1), (strides[0], 1), (pads[0], 0), ceil_mode,
                     count_include_pad, per_pass)
    out = out.reshape(n, c, out.shape[2], oh, ow)
    if divisor_override is not None:
        out = out / divisor_override
    return out.squeeze(0) if unbatched else out


def _adaptive3d_input(input, op: str, colon: str) -> Tensor:
    x = _as_tensor(input)
    if x.ndim not in (4, 5):
        raise RuntimeError(f"{op}(): Expected 4D or 5D tensor, but got{colon} {list(x.shape)}")
    _check_float(x, "input", op)
    return x


def _adaptive3d_sizes(output_size, x: Tensor, op: str, wrong_length: str):
    if isinstance(output_size, (tuple, list)) and len(output_size) != 3:
        raise RuntimeError(wrong_length)
    return _adaptive_sizes(output_size, x, 3, op)


@autocast_op
def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    """Average pooling of the last three dimensions to ``output_size`` bins (``None`` keeps that size), with
    PyTorch's bins.

    >>> import numgrad as ng
    >>> ng.nn.functional.adaptive_avg_pool3d(ng.ones(2, 3, 4, 5, 6), (1, 2, None)).shape
    (2, 3, 1, 2, 6)
    """
    op = "adaptive_avg_pool3d"
    x = _adaptive3d_input(input, op, "")
    od, oh, ow = _adaptive3d_sizes(output_size, x, op, f"{op}: output_size must be 3")
    lead, (d, h, w) = x.shape[:-3], x.shape[-3:]
    planes = adaptive_avg_pool2d(x.reshape((-1, d, h, w)), (oh, ow))
    out = adaptive_avg_pool2d(planes.reshape(-1, d, oh * ow), (od, oh * ow))
    return out.reshape(lead + (od, oh, ow))


@autocast_op
def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling of the last three dimensions to ``output_size`` bins (``None`` keeps that size), with PyTorch's
    bins.

    >>> import numgrad as ng
    >>> ng.nn.functional.adaptive_max_pool3d(ng.arange(8.).reshape(1, 2, 2, 2), 1)
    tensor([[[[7.]]]])
    """
    op = "adaptive_max_pool3d"
    x = _adaptive3d_input(input, op, ":")
    sizes = _adaptive3d_sizes(output_size, x, op, f"{op}(): internal error: output_size.size() must be 3")
    od, oh, ow = sizes
    unbatched = x.ndim == 4
    if unbatched:
        x = x.unsqueeze(0)
    n, c, d, h, w = x.shape
    if d % od or h % oh or w % ow:
        bins = [adaptive_bins(size, o) for size, o in ((d, od), (h, oh), (w, ow))]
        out, idx = max_over_windows(x, *zip(*bins))
    else:
        # equal bins: two passes of the max_pool2d kernel
        kernel = (d // od, h // oh, w // ow)
        planes, plane_idx = max_pool2d(x.reshape(n, c * d, h, w), kernel[1:], kernel[1:], return_indices=True)
        out, depth_idx = max_pool2d(planes.reshape(n, c, d, oh * ow), (kernel[0], 1), (kernel[0], 1),
                                    return_indices=True)
        out = out.reshape(n, c, od, oh, ow)
        idx = _compose_indices(plane_idx, depth_idx, n, c, d, h * w) if return_indices else None
    if not return_indices:
        return out.squeeze(0) if unbatched else out
    return (out.squeeze(0), idx.squeeze(0)) if unbatched else (out, idx)


def adaptive_max_pool3d_with_indices(input: Tensor, output_size, return_indices: bool = True):
    """``adaptive_max_pool3d`` returning ``(values, indices)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.adaptive_max_pool3d_with_indices(ng.arange(8.).reshape(1, 2, 2, 2), 1)[1]
    tensor([[[[7]]]])
    """
    return adaptive_max_pool3d(input, output_size, True)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size: IntTriple, stride: Optional[IntTriple] = None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling ``(sum over the window of x**p)**(1/p)`` over the last three dimensions.

    >>> import numgrad as ng
    >>> ng.nn.functional.lp_pool3d(ng.full((1, 2, 2, 2), 2.0), 1, 2)
    tensor([[[[16.]]]])
    """
    x = _as_tensor(input)
    if isinstance(kernel_size, (tuple, list)) and len(kernel_size) != 3:
        raise ValueError(f"not enough values to unpack (expected 3, got {len(kernel_size)})")
    kd, kh, kw = _triple(kernel_size, "lp_pool3d: kernel_size must be a single int, or a tuple of three ints")
    if norm_type == float("inf"):
        return max_pool3d(_abs(x), kernel_size, stride, 0, 1, ceil_mode)
    if norm_type == -float("inf"):
        return -max_pool3d(-_abs(x), kernel_size, stride, 0, 1, ceil_mode)
    out = avg_pool3d(x ** norm_type, kernel_size, stride, 0, ceil_mode)
    return _lp_finish(out, kd * kh * kw, norm_type)
