"""Max unpooling of ``numgrad.nn.functional``: ``max_unpool1d``, ``max_unpool2d``, ``max_unpool3d``.

The partial inverse of max pooling: each value goes to the flat position its index names within its
``(N, C)`` plane (or volume) of the output, everything else is zero. One ``scatter`` into zeros per call, so
the gradient is the gather of the incoming gradient at the indices (PyTorch's rule), on any device.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

from ... import _dtypes
from ...creation import zeros
from ...kernels import backend as _backend
from ...ops.views import contiguous_array
from ...tensor import Tensor
from ._arguments import _SCALAR_NAMES, _check_tensor, _float_only
from ...ops.autocast_policy import autocast_op

__all__ = ["max_unpool1d", "max_unpool2d", "max_unpool3d"]


def _ntuple(value, n: int) -> Tuple[int, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)
    return (int(value),) * n


def _unpool_output_size(input: Tensor, kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int],
                        output_size) -> Tuple[int, ...]:
    """PyTorch's ``_unpool_output_size``: the default size, or ``output_size`` checked against it."""
    _check_tensor(input, "input", f"max_unpool{len(kernel)}d")
    k = len(kernel)
    default = [(input.shape[input.ndim - k + d] - 1) * stride[d] + kernel[d] - 2 * padding[d] for d in range(k)]
    if output_size is None:
        return tuple(default)
    sizes = list(output_size)
    if len(sizes) == k + 2:
        sizes = sizes[2:]
    if len(sizes) != k:
        raise ValueError(f"output_size should be a sequence containing {k} or {k + 2} elements, but it has a length "
                         f"of '{len(sizes)}'")
    for d in range(k):
        lo, hi = default[d] - stride[d], default[d] + stride[d]
        if not lo < sizes[d] < hi:
            raise ValueError(f'invalid output_size "{output_size}" (dim {d} must be between {lo} and {hi})')
    return tuple(int(s) for s in sizes)


def _scatter_planes(input: Tensor, indices: Tensor, out_size: Tuple[int, ...], native: str, ndim_shown: int,
                    strides_checked: Optional[Tuple[int, ...]] = None) -> Tensor:
    """The shared body: PyTorch's checks of ``max_unpooling{2,3}d`` then one scatter into zeros."""
    _check_tensor(input, "input", native)
    _check_tensor(indices, "indices", native)
    _float_only(input, native)
    dims = len(out_size)
    if indices.dtype != _dtypes.int64:
        suffix = "" if dims == 3 else f" but got: {_SCALAR_NAMES.get(indices.dtype.name, indices.dtype.name)}"
        raise RuntimeError(f"elements in indices should be type int64{suffix}")
    if indices.shape != input.shape:
        raise RuntimeError(f"Expected shape of indices to be same as that of the input tensor ({list(input.shape)}) "
                           f"but got indices tensor with shape: {list(indices.shape)}")
    if input.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"Input to max_unpooling{dims}d should be a {dims + 1}d or {dims + 2}d Tensor, but got a "
                           f"tensor with {ndim_shown} dimensions.")
    if strides_checked is not None and min(strides_checked) <= 0:
        raise RuntimeError(f"strides should be greater than zero, but got stride: {list(strides_checked)}")
    if min(out_size) <= 0:
        raise RuntimeError(f"max_unpool{dims}d(): the output size {list(out_size)} must be positive")
    lead = input.shape[:-dims]
    volume = math.prod(out_size)
    flat_idx = indices.reshape(lead + (-1,))
    if flat_idx.numel():
        # one kernel returns the first bad position (no tensor read in Python: ng.compile checks it on replay)
        flat = contiguous_array(indices._data).reshape(-1)
        bad = _backend.indexing_kernels(flat).check_bounds(flat, volume)
        if bad >= 0:
            raise RuntimeError(f"Found an invalid max index: {int(flat[bad].item())} (output volumes are of size "
                               f"{'x'.join(map(str, out_size))})")
    out = zeros(lead + (volume,), dtype=input.dtype, device=input.device)
    return out.scatter(-1, flat_idx, input.reshape(lead + (-1,))).reshape(lead + tuple(out_size))


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """Partial inverse of ``max_pool1d``: ``(N, C, L)`` or ``(C, L)`` values placed at their ``indices`` in a zero
    output of length ``(L - 1) * stride + kernel_size - 2 * padding`` (or ``output_size``).

    >>> import numgrad as ng
    >>> ng.nn.functional.max_unpool1d(ng.tensor([[3.0, 2.0]]), ng.tensor([[1, 2]]), 2)
    tensor([[0., 3., 2., 0.]])
    """
    kernel = _ntuple(kernel_size, 1)
    stride = kernel if stride is None else _ntuple(stride, 1)
    out_size = _unpool_output_size(input, kernel, stride, _ntuple(padding, 1), output_size)
    # PyTorch runs max_unpool2d on a width-1 view, and its checks report that view
    out = _scatter_planes(input.unsqueeze(-1), indices.unsqueeze(-1) if isinstance(indices, Tensor) else indices,
                          out_size + (1,), "max_unpool2d", input.ndim + 1)
    return out.squeeze(-1)


@autocast_op
def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """Partial inverse of ``max_pool2d``: each value of ``(N, C, H, W)`` or ``(C, H, W)`` input goes to the flat
    position ``h * W_out + w`` its index names; the rest of the output is zero.

    >>> import numgrad as ng
    >>> F = ng.nn.functional
    >>> out, idx = F.max_pool2d(ng.arange(16.).reshape(1, 4, 4), 2, return_indices=True)
    >>> F.max_unpool2d(out, idx, 2)
    tensor([[[ 0.,  0.,  0.,  0.],
             [ 0.,  5.,  0.,  7.],
             [ 0.,  0.,  0.,  0.],
             [ 0., 13.,  0., 15.]]])
    """
    kernel = _ntuple(kernel_size, 2)
    stride = kernel if stride is None else _ntuple(stride, 2)
    out_size = _unpool_output_size(input, kernel, stride, _ntuple(padding, 2), output_size)
    return _scatter_planes(input, indices, out_size, "max_unpool2d", input.ndim)


@autocast_op
def max_unpool3d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """Partial inverse of ``max_pool3d``: each value of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input goes to the
    flat position ``d * H_out * W_out + h * W_out + w`` its index names; the rest of the output is zero.

    >>> import numgrad as ng
    >>> F = ng.nn.functional
    >>> out, idx = F.max_pool3d(ng.arange(8.).reshape(1, 2, 2, 2), 2, return_indices=True)
    >>> F.max_unpool3d(out, idx, 2).flatten()
    tensor([0., 0., 0., 0., 0., 0., 0., 7.])
    """
    kernel = _ntuple(kernel_size, 3)
    stride = kernel if stride is None else _ntuple(stride, 3)
    out_size = _unpool_output_size(input, kernel, stride, _ntuple(padding, 3), output_size)
    return _scatter_planes(input, indices, out_size, "max_unpool3d", input.ndim, stride)
