"""Reductions: sum, mean and the broadcast-gradient helper ``sum_to``.

Each reduction is a ``Function`` whose forward runs a reduction kernel and
whose backward is written with tensor ops (so it is differentiable again).
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from .. import _dtypes
from ..tensor import Tensor
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..fusion.deferred import defer_full_reduction, mean_of_total
from ..fusion.lazy import reduce_lazy
from ..kernels.backend import copy, reduce_array
from ..kernels.broadcast import sum_to_array

Dims = Union[int, Sequence[int], None]


def normalize_dims(dim: Dims, ndim: int, op: str) -> tuple:
    """Sorted, non-negative, de-duplicated dims; all dims when ``dim`` is None."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    n = max(ndim, 1)
    out = []
    for d in dims:
        d = int(d)
        if not -n <= d < n:
            raise IndexError(
                f"{op}(): Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})"
            )
        d = d + n if d < 0 else d
        if d in out:
            raise RuntimeError(f"{op}(): dim {d} appears multiple times in the list of dims")
        out.append(d)
    if ndim == 0:
        return ()
    return tuple(sorted(out))


def kept_shape(shape: tuple, dims: tuple) -> tuple:
    """``shape`` with the reduced ``dims`` set to 1 (the keepdim=True shape)."""
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


class SumTo(Function):
    saves_only_metadata = True  # shapes and dims only: a second backward works
    node_name = "SumBackward1"

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return Tensor(sum_to_array(x._data, shape))

    @staticmethod
    def backward(ctx, g):
        return g.expand(ctx.in_shape), None


def sum_to(x, shape: tuple):
    """Reduce ``x`` by summation to ``shape`` (the inverse of broadcasting)."""
    if tuple(x.shape) == tuple(shape):
        return x
    return SumTo.apply(x, tuple(shape))


def _reduce(x, dims, reducer, acc):
    """Reduce over ``dims``; a full reduction of a lazy region happens inside its kernel."""
    if acc.is_16bit_float or x.dtype.is_16bit_float:
        total = _reduce_wide(x, dims, reducer, acc)
        return copy(total, acc.np) if acc.is_16bit_float else total
    if len(dims) == x.ndim and x._buf is None:
        out = reduce_lazy(x, reducer, acc)
        if out is not None:
            return out
    return reduce_array(x._data, dims, reducer, acc.np)


def _reduce_wide(x, dims, reducer, acc):
    """The reduction of a float16/bfloat16 input (or into one) accumulated in float32 (``acc`` when wider), as
    PyTorch's CPU kernels accumulate 16-bit floats; the caller rounds it to 16 bits once, at the end."""
    wide = _dtypes.float32 if acc.is_16bit_float else acc
    if len(dims) == x.ndim and x._buf is None:
        out = reduce_lazy(x, reducer, wide)  # the region's kernel converts its 16-bit loads to float32
        if out is not None:
            return out
    return reduce_array(copy(x._data, wide.np), dims, reducer, wide.np)


def _sum_dtype(dtype):
    return _dtypes.int64 if not dtype.is_floating_point else dtype


def _broadcast_back(g, ctx):
    """The gradient of a reduction over ``ctx.dims`` spread back over ``ctx.in_shape`` (a broadcast view).

    Without ``create_graph`` the view is made directly on the array: the
    reshape + expand graph nodes would only cost time (about 40 us a step
    measured on a small W1); with it, they are recorded so the result stays
    differentiable.
    """
    kept = kept_shape(ctx.in_shape, ctx.dims)
    if is_grad_enabled():
        if not ctx.keepdim:
            g = g.reshape(kept)
        return g.expand(ctx.in_shape)
    arr = g._data
    if type(arr) is np.ndarray and arr.ndim == 0:
        # a full reduction's gradient: a stride-0 view made directly (np.broadcast_to: ~3 us more)
        view = np.ndarray(ctx.in_shape, arr.dtype, arr, 0, (0,) * len(ctx.in_shape))
        view.flags.writeable = False
        return Tensor(view)
    return Tensor(np.broadcast_to(np.reshape(arr, kept), ctx.in_shape))


class Sum(Function):
    saves_only_metadata = True  # shapes and dims only: a second backward works
    @staticmethod
    def forward(ctx, x, dims, keepdim, dtype):
        ctx.in_shape = x.shape
        ctx.dims = dims
        ctx.node_name = "SumBackward0" if len(dims) == x.ndim else "SumBackward1"
        acc = dtype if dtype is not None else _sum_dtype(x.dtype)
        ctx.keepdim = keepdim
        deferred = defer_full_reduction(ctx, x, dims, keepdim, acc)
        if deferred is not None:
            return deferred
        out = _reduce(x, dims, "sum", acc)
        if keepdim:
            out = out.reshape(kept_shape(x.shape, dims))
        return Tensor(out)

    @staticmethod
    def backward(ctx, g):
        return _broadcast_back(g, ctx), None, None, None


def sum(input, dim: Dims = None, keepdim: bool = False, *, dtype=None):
    """Sum of elements over ``dim`` (all dims by default).

    >>> import numgrad as ng
    >>> ng.sum(ng.tensor([[1., 2.], [3., 4.]]), dim=0)
    tensor([4., 6.])
    """
    dims = normalize_dims(dim, input.ndim, "sum")
    return Sum.apply(input, dims, keepdim, None if dtype is None else _dtypes.as_dtype(dtype))


class Mean(Function):
    saves_only_metadata = True  # shapes and dims only: a second backward works
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        if not x.dtype.is_floating_point:
            raise RuntimeError(
                "mean(): could not infer output dtype. Input dtype must be either a floating point or "
                f"complex dtype. Got: {x.dtype.name.capitalize()}"
            )
        ctx.in_shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        ctx.node_name = "MeanBackward0" if len(dims) == x.ndim else "MeanBackward1"
        count = 1
        for d in dims:
            count *= x.shape[d]
        ctx.count = count
        deferred = defer_full_reduction(ctx, x, dims, keepdim, x.dtype, count)
        if deferred is not None:
            return deferred
        if x.dtype.is_16bit_float:  # the mean of 16-bit floats: float32 sum and division, one rounding
            out = Tensor(copy(mean_of_total(_reduce_wide(x, dims, "sum", x.dtype), count), x.dtype.np))
        else:
            out = Tensor(mean_of_total(_reduce(x, dims, "sum", x.dtype), count))
        if keepdim:
            out = out.reshape(kept_shape(x.shape, dims))
        return out

    @staticmethod
    def backward(ctx, g):
        # divide before spreading: one division of g, not one per element of the input
        return _broadcast_back(g / ctx.count, ctx), None, None


def mean(input, dim: Dims = None, keepdim: bool = False):
    """Mean of elements over ``dim`` (all dims by default).

    >>> import numgrad as ng
    >>> ng.mean(ng.tensor([1., 2., 3.]))
    tensor(2.)
    """
    return Mean.apply(input, normalize_dims(dim, input.ndim, "mean"), keepdim)


TENSOR_METHODS = {"sum": sum, "mean": mean, "sum_to_size": lambda self, *shape: sum_to(
    self, tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape))}
PUBLIC = ("sum", "mean")
