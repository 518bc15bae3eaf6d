"""Order statistics and NaN-aware reductions: median, nanmedian, quantile, nanquantile, cummax, cummin,
aminmax, var_mean, std_mean, nansum, nanmean, diff.

Order statistics pick positions with the sort kernel (``numgrad/ops/sorting.py``) and gather the
values there, so their gradient goes to the chosen elements (split between the two neighbours
for an interpolated quantile), as in PyTorch. ``cummax``/``cummin`` get their running positions
from ``kernels/cpu/scan.py``'s kernel and gather likewise.
"""
from __future__ import annotations

import collections
import numbers
from typing import Optional

from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor
from ..creation import full_like, scalar_tensor, tensor
from ..kernels.backend import empty_for, scan_kernels
from ..kernels.backend import reduction_kernels as _reduce_kernels
from . import elementwise_functions as pw
from .indexing import _wrap_dim, gather
from .reductions import amax, amin, std, var
from .shape import cat, narrow, stack
from .sorting import _argsort_dim
from .sum_mean import mean, sum as _sum
from .autocast_policy import autocast_op

median_return_type = collections.namedtuple("median", ("values", "indices"))
nanmedian_return_type = collections.namedtuple("nanmedian", ("values", "indices"))
cummax_return_type = collections.namedtuple("cummax", ("values", "indices"))
cummin_return_type = collections.namedtuple("cummin", ("values", "indices"))
aminmax_return_type = collections.namedtuple("aminmax", ("min", "max"))
for _t in (median_return_type, nanmedian_return_type, cummax_return_type, cummin_return_type, aminmax_return_type):
    _t.__module__ = "numgrad.return_types"


def _pick(input, d: int, order, pos):
    """Positions ``pos`` (int64, keepdim shape) of the sorted order along ``d``: (source indices, values)."""
    idx = gather(order, d, pos)
    return idx, gather(input, d, idx)


def _median(input, dim, keepdim: bool, ignore_nan: bool, op: str):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    flat = dim is None
    x = input.reshape(-1) if flat else input
    if x.ndim == 0:
        x = x.reshape(1)
    d = 0 if flat else _wrap_dim(dim, x.ndim, op)
    n = x.shape[d]
    if n == 0:
        if flat and input.dtype.is_floating_point:  # PyTorch's median of no elements is NaN
            return scalar_tensor(float("nan"), dtype=input.dtype, device=input.device)
        raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
    order = _argsort_dim(x, d, False, op)
    nan_count = _sum(pw.isnan(x), d, keepdim=True)
    if ignore_nan:
        pos = pw.clamp_min(pw.floor_divide(n - nan_count - 1, 2), 0)
    else:
        # a row with NaN gives its first NaN, which the sort put right after the numbers
        pos = pw.where(pw.gt(nan_count, 0), n - nan_count, (n - 1) // 2)
    idx, values = _pick(x, d, order, pos)
    if flat:
        value = values.reshape(())
        if x.requires_grad and is_grad_enabled():
            return _shared_by_ties(x, value)
        return value
    if not keepdim:
        values, idx = values.squeeze(d), idx.squeeze(d)
    return (nanmedian_return_type if ignore_nan else median_return_type)(values, idx)


def _shared_by_ties(x: Tensor, value: Tensor) -> Tensor:
    """``value`` (an element of ``x``) whose gradient ``x``'s elements equal to it share evenly (the NaN ones when
    it is NaN), as PyTorch's ``evenly_distribute_backward`` for a median of all elements: the forward value is
    ``value`` exactly (``value + 0``)."""
    value = value.detach()
    ties = pw.where(pw.isnan(value), pw.isnan(x), pw.eq(x, value))
    share = _sum(pw.where(ties, x - x.detach(), 0.0)) / _sum(ties)
    return value + share


def median(input, dim: Optional[int] = None, keepdim: bool = False):
    """The lower median (the ``(n-1)//2``-th smallest value): of all elements, or along ``dim`` as
    ``(values, indices)``. NaN propagates.

    >>> import numgrad as ng
    >>> ng.median(ng.tensor([1., 3., 2., 4.]))
    tensor(2.)
    """
    return _median(input, dim, keepdim, False, "median")


def nanmedian(input, dim: Optional[int] = None, keepdim: bool = False):
    """:func:`median` ignoring NaN (NaN only where a row has nothing else).

    >>> import numgrad as ng
    >>> ng.nanmedian(ng.tensor([1., float('nan'), 2., 0.]))
    tensor(1.)
    """
    return _median(input, dim, keepdim, True, "nanmedian")


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(input, q, dim, keepdim: bool, interpolation: str, ignore_nan: bool, op: str):
    if not isinstance(input, Tensor) or not input.dtype.is_floating_point:
        raise RuntimeError(f"{op}() input tensor must be either float or double dtype")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(f"{op}() interpolation must be one of linear, lower, higher, midpoint or nearest. Got "
                           f"{interpolation}")
    if isinstance(q, Tensor) and q.dtype != input.dtype:
        raise RuntimeError(f"{op}() q tensor must be same dtype as the input tensor (got {q.dtype.name} and "
                           f"{input.dtype.name})")
    qs = q.tolist() if isinstance(q, Tensor) else q
    scalar_q = isinstance(qs, numbers.Number)
    qs = [qs] if scalar_q else list(qs)
    if isinstance(q, Tensor) and q.ndim > 1:
        raise RuntimeError(f"{op}() q must be a scalar or 1D tensor")
    if any(not 0 <= v <= 1 for v in qs):
        raise RuntimeError(f"{op}() q values must be in the range [0, 1]")
    flat = dim is None
    x = input.reshape(-1) if flat or input.ndim == 0 else input
    d = 0 if flat else _wrap_dim(dim, x.ndim, op)
    n = x.shape[d]
    if n == 0:
        raise IndexError(f"{op}() input tensor must be non-empty")
    order = _argsort_dim(x, d, False, op)
    sorted_x = gather(x, d, order)
    nan_count = _sum(pw.isnan(x), d, keepdim=True)
    valid = n - nan_count
    outs = []
    for v in qs:
        if ignore_nan:
            rank = pw.clamp_min(v * (valid - 1).to(x.dtype), 0.0)
        else:
            rank = full_like(nan_count, v * (n - 1), dtype=x.dtype)
        lo = pw.floor(rank)
        hi = pw.ceil(rank)
        if interpolation == "nearest":
            lo = hi = pw.round(rank)
        lo_i, hi_i = lo.long(), hi.long()
        a, b = gather(sorted_x, d, lo_i), gather(sorted_x, d, hi_i)
        if interpolation in ("lower", "nearest"):
            val = a
        elif interpolation == "higher":
            val = b
        elif interpolation == "midpoint":
            val = a + (b - a) * 0.5
        else:
            val = a + (b - a) * (rank - lo)
        if not ignore_nan:
            val = pw.where(pw.gt(nan_count, 0), float("nan"), val)
        else:
            val = pw.where(pw.eq(valid, 0), float("nan"), val)
        if flat:
            val = val.reshape(*([1] * input.ndim)) if keepdim else val.reshape(())
        elif not keepdim:
            val = val.squeeze(d)
        outs.append(val)
    return outs[0] if scalar_q else stack(outs, 0)


@autocast_op
def quantile(input, q, dim: Optional[int] = None, keepdim: bool = False, *, interpolation: str = "linear"):
    """The ``q``-quantiles (a number or a 1-D tensor in [0, 1]) of all elements or along ``dim``; between
    two data points ``interpolation`` decides (linear, lower, higher, midpoint, nearest). NaN propagates.

    >>> import numgrad as ng
    >>> ng.quantile(ng.tensor([1., 3., 2., 4.]), 0.25)
    tensor(1.7500)
    """
    return _quantile(input, q, dim, keepdim, interpolation, False, "quantile")


@autocast_op
def nanquantile(input, q, dim: Optional[int] = None, keepdim: bool = False, *, interpolation: str = "linear"):
    """:func:`quantile` ignoring NaN.

    >>> import numgrad as ng
    >>> ng.nanquantile(ng.tensor([1., float('nan'), 3.]), 0.5)
    tensor(2.)
    """
    return _quantile(input, q, dim, keepdim, interpolation, True, "nanquantile")


def _cum_extreme(input, dim: int, take_max: bool, op: str):
    d = _wrap_dim(dim, input.ndim, op)
    x = input if input.ndim else input.reshape(1)
    K = scan_kernels(x._data, op)
    x3, _ = _reduce_kernels(x._data).prepare(x._data, (d,))
    values = empty_for((x3,), x3.shape, x3.dtype)
    positions = empty_for((x3,), x3.shape, "int64")
    if x3.size:
        K.cumextreme3(x3, values, positions, take_max)
    indices = Tensor(positions.reshape(x.shape))
    out = gather(x, d, indices)
    if input.ndim == 0:
        out, indices = out.reshape(()), indices.reshape(())
    return (cummax_return_type if take_max else cummin_return_type)(out, indices)


def cummax(input, dim: int):
    """Running maximum along ``dim`` and where it came from (a later equal value takes over; NaN sticks).

    >>> import numgrad as ng
    >>> ng.cummax(ng.tensor([1., 3., 2.]), 0).values
    tensor([1., 3., 3.])
    """
    return _cum_extreme(input, dim, True, "cummax")


def cummin(input, dim: int):
    """Running minimum along ``dim`` and where it came from.

    >>> import numgrad as ng
    >>> ng.cummin(ng.tensor([3., 1., 2.]), 0).indices
    tensor([0, 1, 1])
    """
    return _cum_extreme(input, dim, False, "cummin")


def aminmax(input, *, dim: Optional[int] = None, keepdim: bool = False):
    """``(amin, amax)`` of all elements or along ``dim``.

    >>> import numgrad as ng
    >>> ng.aminmax(ng.tensor([3., 1., 2.])).max
    tensor(3.)
    """
    if dim is None:
        lo, hi = amin(input), amax(input)
        if keepdim:
            lo, hi = lo.reshape(*([1] * input.ndim)), hi.reshape(*([1] * input.ndim))
        return aminmax_return_type(lo, hi)
    return aminmax_return_type(amin(input, dim, keepdim), amax(input, dim, keepdim))


def _mean_over(input, dim, keepdim: bool):
    if dim is None:
        out = mean(input)
        return out.reshape(*([1] * input.ndim)) if keepdim else out
    return mean(input, dim, keepdim=keepdim)


def _sum_over(input, dim, keepdim: bool, dtype=None):
    if dim is None:
        out = _sum(input, dtype=dtype)
        return out.reshape(*([1] * input.ndim)) if keepdim else out
    return _sum(input, dim, keepdim=keepdim, dtype=dtype)


def var_mean(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """``(var, mean)`` over ``dim`` (see :func:`var` for ``correction``).

    >>> import numgrad as ng
    >>> ng.var_mean(ng.tensor([1., 2., 3.]))
    (tensor(1.), tensor(2.))
    """
    return (var(input, dim, unbiased, keepdim, correction=correction), _mean_over(input, dim, keepdim))


def std_mean(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """``(std, mean)`` over ``dim`` (see :func:`std` for ``correction``).

    >>> import numgrad as ng
    >>> ng.std_mean(ng.tensor([1., 2., 3.]))
    (tensor(1.), tensor(2.))
    """
    return (std(input, dim, unbiased, keepdim, correction=correction), _mean_over(input, dim, keepdim))


def nansum(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Sum treating NaN as zero.

    >>> import numgrad as ng
    >>> ng.nansum(ng.tensor([1., float('nan'), 2.]))
    tensor(3.)
    """
    clean = pw.where(pw.isnan(input), 0, input) if input.dtype.is_floating_point else input
    return _sum_over(clean, dim, keepdim, dtype)


def nanmean(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Mean of the non-NaN elements.

    >>> import numgrad as ng
    >>> ng.nanmean(ng.tensor([1., float('nan'), 2.]))
    tensor(1.5000)
    """
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"nanmean(): expected input to have floating point dtype but got {input.dtype.name}")
    count = _sum_over(pw.logical_not(pw.isnan(input)), dim, keepdim)
    return nansum(input, dim, keepdim, dtype=dtype) / count


def diff(input, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """The ``n``-th forward difference along ``dim`` (``prepend``/``append`` are concatenated first).

    >>> import numgrad as ng
    >>> ng.diff(ng.tensor([1, 4, 9, 16]))
    tensor([3, 5, 7])
    """
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    d = _wrap_dim(dim, input.ndim, "diff")
    parts = [t for t in (prepend, input, append) if t is not None]
    if len(parts) > 1:
        from_numbers = [t if isinstance(t, Tensor) else scalar_tensor(t, dtype=input.dtype, device=input.device)
                        if isinstance(t, numbers.Number) else tensor(t, dtype=input.dtype) for t in parts]
        x = _cat_along(from_numbers, d, input)
    else:
        x = input
    for _ in range(n):
        size = x.shape[d]
        if size == 0:
            break
        later, earlier = narrow(x, d, 1, size - 1), narrow(x, d, 0, size - 1)
        x = pw.logical_xor(later, earlier) if x.dtype.name == "bool" else later - earlier
    return x


def _cat_along(parts, d: int, like):
    shaped = []
    for t in parts:
        if t.ndim == 0:
            # a number: one slice of ``like``'s shape along d, the number everywhere in it
            t = t.reshape((1,) * like.ndim).expand(*[1 if k == d else n for k, n in enumerate(like.shape)])
        shaped.append(t)
    return cat(shaped, d)


TENSOR_METHODS = {
    "median": median, "nanmedian": nanmedian, "quantile": quantile, "nanquantile": nanquantile, "cummax": cummax,
    "cummin": cummin, "aminmax": aminmax, "nansum": nansum, "nanmean": nanmean, "diff": diff,
}
PUBLIC = ("median", "nanmedian", "quantile", "nanquantile", "cummax", "cummin", "aminmax", "var_mean", "std_mean",
          "nansum", "nanmean", "diff")
