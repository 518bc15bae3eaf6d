"""Fractional max pooling of ``numgrad.nn.functional`` (Graham, 2014): ``fractional_max_pool2d``,
``fractional_max_pool3d`` and their ``_with_indices`` forms.

Each ``(N, C)`` plane gets its own pseudo-random window starts from one sample in ``[0, 1)`` per spatial
dimension (``_random_samples``, drawn from numgrad's generator when not given), with PyTorch's interval rule
computed in the input's precision, so the same samples give PyTorch's windows; ``_windows.max_over_windows``
takes their maxima.
"""
from __future__ import annotations

import numbers
from typing import Optional

import numpy as np

from ...creation import rand
from ...tensor import Tensor
from ._arguments import _check_float, _check_tensor
from ._windows import max_over_windows
from ...ops.autocast_policy import autocast_op

__all__ = ["fractional_max_pool2d", "fractional_max_pool2d_with_indices", "fractional_max_pool3d",
           "fractional_max_pool3d_with_indices"]

_DIM_NAMES = {2: ("height", "width"), 3: ("time", "height", "width")}
# which column of _random_samples drives which spatial dimension (PyTorch's kernels: 2-D W then H; 3-D T, H, W)
_SAMPLE_COLUMN = {2: (1, 0), 3: (0, 1, 2)}


def _ntuple(value, n: int, name: str, op: str):
    if isinstance(value, (tuple, list)):
        if len(value) == 1:
            value = value[0]
        elif len(value) != n:
            raise ValueError(f"{op} requires {name} to be a single number or a tuple of {n}, got {tuple(value)}")
        else:
            return tuple(value)
    if not isinstance(value, (numbers.Real, np.number)) or isinstance(value, bool):
        raise TypeError(f"{op}(): {name} must be a number or a tuple of {n}, got {value!r}")
    return (value,) * n


def _intervals(samples: np.ndarray, in_size: int, out_size: int, pool: int) -> np.ndarray:
    """PyTorch's ``generate_intervals`` for every plane at once, in the samples' precision: window starts
    ``int((i + u) * alpha) - int(u * alpha)`` with ``alpha = (in - pool) / (out - 1)``, the last one at
    ``in - pool``."""
    starts = np.empty(samples.shape + (out_size,), dtype=np.int64)
    if out_size > 1:
        kind = samples.dtype.type
        alpha = kind(in_size - pool) / kind(out_size - 1)
        steps = np.arange(out_size - 1).astype(samples.dtype)
        starts[..., :-1] = (((steps + samples[..., None]) * alpha).astype(np.int64)
                            - (samples * alpha).astype(np.int64)[..., None])
    if out_size > 0:
        starts[..., -1] = in_size - pool
    return starts


def _check_samples(samples, x: Tensor, dims: int) -> None:
    _check_tensor(samples, "_random_samples", f"fractional_max_pool{dims}d")
    if samples.ndim != 3:
        raise RuntimeError(f"Expect _random_samples to have 3 dimensions, got {samples.ndim}")
    if samples.dtype != x.dtype:
        raise RuntimeError("Expect _random_samples to have the same dtype as input")
    if samples.shape[2] != dims:
        raise RuntimeError(f"Expect _random_samples.size(2) equals to {dims}; got {samples.shape[2]}.")
    if samples.shape[1] != x.shape[1]:
        raise RuntimeError("Expect _random_samples.size(1) equals to input channel size.")
    if samples.shape[0] < x.shape[0]:
        raise RuntimeError("Expect _random_samples.size(0) no less than input batch size.")


def _fractional_max_pool(input: Tensor, kernel_size, output_size, output_ratio, return_indices: bool,
                         _random_samples: Optional[Tensor], dims: int):
    op = f"fractional_max_pool{dims}d"
    _check_tensor(input, "input", op)
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op} requires specifying either an output_size or an output_ratio")
    if input.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"{op}(): Expected {dims + 1}D or {dims + 2}D tensor, but got: {list(input.shape)}")
    _check_float(input, "input", op)
    spatial = input.shape[-dims:]
    if output_size is None:
        ratios = _ntuple(output_ratio, dims, "output_ratio", op)
        output_size = [int(spatial[i] * ratios[i]) for i in range(dims)]
    kernel = tuple(int(k) for k in _ntuple(kernel_size, dims, "kernel_size", op))
    outs = tuple(int(o) for o in _ntuple(output_size, dims, "output_size", op))
    prefix = op if dims == 2 else f"{op}_out"
    for name, k, o, n in zip(_DIM_NAMES[dims], kernel, outs, spatial):
        if k <= 0:
            raise RuntimeError(f"{op}(): kernel_size must be greater than zero, but got {name} {k}")
        if o < 0:
            raise RuntimeError(f"{op}(): output_size must be non-negative, but got {name} {o}")
        # PyTorch's 3-D kernel also refuses a window that would end exactly at the input's edge
        if o + k - 1 > (n if dims == 2 else n - 1):
            raise RuntimeError(f"{prefix}(): pool {name} {k} too large relative to input {name} {n}")
    unbatched = input.ndim == dims + 1
    x = input.unsqueeze(0) if unbatched else input
    n_img, channels = x.shape[0], x.shape[1]
    if _random_samples is None:
        _random_samples = rand(n_img, channels, dims, dtype=x.dtype, device=x.device)
    else:
        _check_samples(_random_samples, x, dims)
    samples = _random_samples.detach().cpu().numpy()[:n_img]
    starts = [_intervals(samples[:, :, _SAMPLE_COLUMN[dims][i]], spatial[i], outs[i], kernel[i]) for i in range(dims)]
    out, indices = max_over_windows(x, starts, kernel, kernel)
    if not return_indices:
        return out.squeeze(0) if unbatched else out
    return (out.squeeze(0), indices.squeeze(0)) if unbatched else (out, indices)


@autocast_op
def fractional_max_pool2d(input: Tensor, kernel_size, output_size=None, output_ratio=None,
                          return_indices: bool = False, _random_samples: Optional[Tensor] = None):
    """2-D fractional max pooling of ``(N, C, H, W)`` or ``(C, H, W)`` input to ``output_size`` (or
    ``output_ratio`` of the input size), with pseudo-random window starts per plane.

    >>> import numgrad as ng
    >>> ng.nn.functional.fractional_max_pool2d(ng.randn(1, 2, 7, 7), 2, output_size=3).shape
    (1, 2, 3, 3)
    """
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, return_indices, _random_samples, 2)


def fractional_max_pool2d_with_indices(input: Tensor, kernel_size, output_size=None, output_ratio=None,
                                       return_indices: bool = False, _random_samples: Optional[Tensor] = None):
    """``fractional_max_pool2d`` returning ``(values, indices)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.fractional_max_pool2d_with_indices(ng.arange(4.).reshape(1, 2, 2), 2, 1)[1]
    tensor([[[3]]])
    """
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, True, _random_samples, 2)


@autocast_op
def fractional_max_pool3d(input: Tensor, kernel_size, output_size=None, output_ratio=None,
                          return_indices: bool = False, _random_samples: Optional[Tensor] = None):
    """3-D fractional max pooling of ``(N, C, T, H, W)`` or ``(C, T, H, W)`` input to ``output_size`` (or
    ``output_ratio`` of the input size), with pseudo-random window starts per plane.

    >>> import numgrad as ng
    >>> ng.nn.functional.fractional_max_pool3d(ng.randn(1, 2, 5, 6, 7), 2, output_ratio=0.5).shape
    (1, 2, 2, 3, 3)
    """
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, return_indices, _random_samples, 3)


def fractional_max_pool3d_with_indices(input: Tensor, kernel_size, output_size=None, output_ratio=None,
                                       return_indices: bool = False, _random_samples: Optional[Tensor] = None):
    """``fractional_max_pool3d`` returning ``(values, indices)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.fractional_max_pool3d_with_indices(ng.arange(27.).reshape(1, 3, 3, 3), 2, 1)[1]
    tensor([[[[26]]]])
    """
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, True, _random_samples, 3)

