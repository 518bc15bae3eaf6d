"""Resampling ops of ``numgrad.nn.functional`` (PyTorch's "vision functions"): ``interpolate`` (``upsample``),
``pixel_shuffle`` and ``pixel_unshuffle``.

Interpolation is separable: along each spatial dimension the output gathers one
(nearest) or two (linear) input slices with ``index_select`` and blends them with
per-position weights computed once on the host, so forward and backward are the
gather and scatter-add kernels of ``numgrad.ops.indexing`` plus one fused
elementwise blend.  Pixel shuffles are reshapes and one permute (a view), then
whatever copy the next op needs.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional, Sequence, Union

import numpy as np

from ... import creation
from ...tensor import Tensor
from ._arguments import _check_float, _check_tensor
from ...ops.autocast_policy import autocast_op

__all__ = ["interpolate", "upsample", "pixel_shuffle", "pixel_unshuffle"]

_LINEAR_MODES = {"linear": 3, "bilinear": 4, "trilinear": 5}
_SUPPORTED = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear")


def _nearest_index(in_size: int, out_size: int, scale: float, exact: bool) -> np.ndarray:
    """PyTorch's source index of each output position (its float32 arithmetic, so ties round the same)."""
    dst = np.arange(out_size, dtype=np.float32)
    s = np.float32(scale)
    src = np.floor((dst + np.float32(0.5)) * s) if exact else np.floor(dst * s)
    return np.minimum(src.astype(np.int64), in_size - 1)


def _linear_taps(in_size: int, out_size: int, scale: float, align_corners: bool):
    """(left index, right index, right weight) of each output position, as PyTorch's
    ``area_pixel_compute_source_index``."""
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        src = dst * scale
    else:
        src = np.maximum((dst + 0.5) * scale - 0.5, 0.0)
    left = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    right = np.minimum(left + 1, in_size - 1)
    return left, right, src - left


def _scale(in_size: int, out_size: int, factor: Optional[float], align_corners: bool, linear: bool) -> float:
    if linear and align_corners:
        return (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    if factor is not None:
        return 1.0 / factor
    return in_size / out_size


def _as_list(value, n: int) -> list:
    return list(value) if isinstance(value, (tuple, list)) else [value] * n


@autocast_op
def interpolate(input: Tensor, size: Optional[Union[int, Sequence[int]]] = None,
                scale_factor: Optional[Union[float, Sequence[float]]] = None, mode: str = "nearest",
                align_corners: Optional[bool] = None, recompute_scale_factor: Optional[bool] = None,
                antialias: bool = False) -> Tensor:
    """Resize ``(N, C, *spatial)`` input to ``size`` or by ``scale_factor``: ``mode`` is ``'nearest'``,
    ``'nearest-exact'``, ``'linear'`` (3-D), ``'bilinear'`` (4-D) or ``'trilinear'`` (5-D), with PyTorch's
    ``align_corners`` and ``recompute_scale_factor`` rules.

    >>> import numgrad as ng
    >>> x = ng.arange(4.0).reshape(1, 1, 2, 2)
    >>> ng.nn.functional.interpolate(x, scale_factor=2, mode="nearest")[0, 0, 0]
    tensor([0., 0., 1., 1.])
    >>> ng.nn.functional.interpolate(x, size=(3, 3), mode="bilinear", align_corners=True)[0, 0, 1]
    tensor([1.0000, 1.5000, 2.0000])
    """
    _check_tensor(input, "input", "interpolate")
    if mode not in _SUPPORTED:
        if mode in ("bicubic", "area"):
            raise NotImplementedError(f"interpolate(): mode '{mode}' is not supported by numgrad yet; use one of "
                                      f"{', '.join(_SUPPORTED)}")
        raise ValueError(f"interpolate(): unknown mode '{mode}'; expected one of {', '.join(_SUPPORTED)}")
    linear = mode in _LINEAR_MODES
    if align_corners is not None and not linear:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if align_corners is None:
        align_corners = False
    if antialias:
        raise NotImplementedError("interpolate(): antialias=True is not supported by numgrad")
    if input.ndim not in (3, 4, 5):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the modes: nearest | "
            f"linear | bilinear | bicubic | trilinear | area | nearest-exact (got {mode})")
    if linear and input.ndim != _LINEAR_MODES[mode]:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {_LINEAR_MODES[mode]}D input")
    dims = input.ndim - 2
    in_sizes = list(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    factors = None
    if size is not None:
        out_sizes = _as_list(size, dims)
        if len(out_sizes) != dims:
            raise ValueError(
                f"Input and output must have the same number of spatial dimensions, but got input with spatial "
                f"dimensions of {in_sizes} and output size of {list(size)}. Please provide input tensor in (N, C, "
                "d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format.")
        out_sizes = [int(s) for s in out_sizes]
    elif scale_factor is not None:
        factors = _as_list(scale_factor, dims)
        if len(factors) != dims:
            raise ValueError(
                f"Input and scale_factor must have the same number of spatial dimensions, but got input with spatial "
                f"dimensions of {in_sizes} and scale_factor of shape {list(scale_factor)}. Please provide input "
                "tensor in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format.")
        factors = [float(f) for f in factors]
        out_sizes = [int(math.floor(float(n) * f)) for n, f in zip(in_sizes, factors)]
        if recompute_scale_factor:
            factors = None
    else:
        raise ValueError("either size or scale_factor should be defined")
    if any(s <= 0 for s in out_sizes):
        raise RuntimeError(f"interpolate(): output size {out_sizes} of input {list(input.shape)} must be positive")
    if linear:
        _check_float(input, "input", "interpolate")
    out = input
    for d, (n_in, n_out) in enumerate(zip(in_sizes, out_sizes)):
        axis = d + 2
        if n_in == n_out and (factors is None or factors[d] == 1.0):
            continue  # PyTorch's kernels copy such a dimension unchanged too
        scale = _scale(n_in, n_out, None if factors is None else factors[d], align_corners, linear)
        if not linear:
            idx = _nearest_index(n_in, n_out, scale, mode == "nearest-exact")
            out = out.index_select(axis, creation.shape_constant(idx, device=input.device))
            continue
        left, right, frac = _linear_taps(n_in, n_out, scale, align_corners)
        shape = [1] * out.ndim
        shape[axis] = n_out
        w_right = creation.shape_constant(frac.reshape(shape), dtype=input.dtype, device=input.device)
        lo = out.index_select(axis, creation.shape_constant(left, device=input.device))
        hi = out.index_select(axis, creation.shape_constant(right, device=input.device))
        out = lo + (hi - lo) * w_right
    return out if out is not input else input.clone()


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
             align_corners: Optional[bool] = None) -> Tensor:
    """The deprecated name of ``interpolate``.

    >>> import numgrad as ng
    >>> ng.nn.functional.upsample(ng.ones(1, 1, 2), scale_factor=2).shape
    (1, 1, 4)
    """
    return interpolate(input, size, scale_factor, mode, align_corners)


def _factor(value, name: str, op: str) -> int:
    if not isinstance(value, (numbers.Integral, np.integer)) or isinstance(value, bool) or value <= 0:
        raise RuntimeError(f"{op} expects a positive integer {name}, but got {value!r}")
    return int(value)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """Rearrange ``(*, C * r**2, H, W)`` into ``(*, C, H * r, W * r)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.pixel_shuffle(ng.arange(4.0).reshape(1, 4, 1, 1), 2)[0, 0]
    tensor([[0., 1.],
            [2., 3.]])
    """
    _check_tensor(input, "input", "pixel_shuffle")
    r = _factor(upscale_factor, "upscale_factor", "pixel_shuffle")
    if input.ndim < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    *batch, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    oc = c // (r * r)
    nb = len(batch)
    x = input.reshape(*batch, oc, r, r, h, w)
    order = list(range(nb)) + [nb, nb + 3, nb + 1, nb + 4, nb + 2]
    return x.permute(*order).reshape(*batch, oc, h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """Rearrange ``(*, C, H * r, W * r)`` into ``(*, C * r**2, H, W)`` (the inverse of ``pixel_shuffle``).

    >>> import numgrad as ng
    >>> ng.nn.functional.pixel_unshuffle(ng.ones(1, 1, 4, 4), 2).shape
    (1, 4, 2, 2)
    """
    _check_tensor(input, "input", "pixel_unshuffle")
    r = _factor(downscale_factor, "downscale_factor", "pixel_unshuffle")
    if input.ndim < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    *batch, c, h, w = input.shape
    if h % r:
        raise RuntimeError(f"pixel_unshuffle expects height to be divisible by downscale_factor, but "
                           f"input.size(-2)={h} is not divisible by {r}")
    if w % r:
        raise RuntimeError(f"pixel_unshuffle expects width to be divisible by downscale_factor, but "
                           f"input.size(-1)={w} is not divisible by {r}")
    nb = len(batch)
    x = input.reshape(*batch, c, h // r, r, w // r, r)
    order = list(range(nb)) + [nb, nb + 2, nb + 4, nb + 1, nb + 3]
    return x.permute(*order).reshape(*batch, c * r * r, h // r, w // r)
