"""Counting, membership, integration, covariance and construction helpers, composed of numgrad's ops:
bincount, histc, isin, isposinf, isneginf, isreal, fmax, fmin, ldexp, logaddexp2, positive, trapezoid/trapz,
cumulative_trapezoid, cov, corrcoef, block_diag, argwhere, combinations, narrow_copy, select_scatter,
slice_scatter, diagonal_scatter, logspace, vander.

Counting ops accumulate with ``index_put`` (race-free duplicates); the rest are elementwise rows,
views, cat and matmul, so gradients and devices come from those ops.
"""
from __future__ import annotations

import itertools
import math
from typing import Optional

import numpy as np

from .. import _dtypes
from ..tensor import Tensor
from ..creation import _finish, arange, full, ones_like, zeros
from ..device import as_device
from . import elementwise_functions as pw
from .diagonals import diagonal as _diagonal
from .indexing import _wrap_dim, index_put, index_select, nonzero
from .linalg import matmul
from .reductions import amax, amin, cumsum
from .reductions import norm as _norm
from .shape import cat, narrow, stack
from .sorting import searchsorted, sort
from .sum_mean import mean
from .sum_mean import sum as _sum
from .autocast_policy import autocast_op


def bincount(input, weights=None, minlength: int = 0) -> Tensor:
    """How often each value ``0..max`` occurs in the non-negative 1-D int ``input`` (or the sum of ``weights``
    there); at least ``minlength`` bins. Not differentiable (as in PyTorch).

    >>> import numgrad as ng
    >>> ng.bincount(ng.tensor([0, 2, 2]), minlength=4)
    tensor([1, 0, 2, 0])
    """
    if not isinstance(input, Tensor) or input.ndim != 1 or input.dtype.is_floating_point:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError(f"bincount(): minlength should be >= 0 (got {minlength})")
    if input.numel() and int(amin(input).item()) < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if weights is not None and tuple(weights.shape) != tuple(input.shape):
        raise RuntimeError("weights should be 1-d and have the same length as input")
    size = max(int(amax(input).item()) + 1 if input.numel() else 0, minlength)
    if weights is None:
        counts = zeros(size, dtype=_dtypes.int64, device=input.device)
        return index_put(counts, (input,), full((), 1, dtype=_dtypes.int64, device=input.device), accumulate=True)
    dt = weights.dtype if weights.dtype.is_floating_point else _dtypes.float64
    return index_put(zeros(size, dtype=dt, device=input.device), (input,), weights.detach().to(dt), accumulate=True)


def histc(input, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
    """A histogram of ``bins`` equal-width bins over ``[min, max]`` (the data's range when both are 0); values
    outside are ignored, ``max`` itself goes to the last bin.

    >>> import numgrad as ng
    >>> ng.histc(ng.tensor([1., 2., 1.]), bins=4, min=0, max=3)
    tensor([0., 2., 1., 0.])
    """
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"histc: expected a floating point input (got {input.dtype.name})")
    if bins <= 0:
        raise RuntimeError(f"torch.histc: bins must be > 0, but got {bins} for dimension 0")
    flat = input.detach().reshape(-1)
    lo, hi = float(min), float(max)
    if lo == hi and flat.numel():
        lo, hi = float(amin(flat).item()), float(amax(flat).item())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError(f"torch.histc: max must be larger than min (got min {min} and max {max})")
    inside = pw.logical_and(pw.ge(flat, lo), pw.le(flat, hi))
    kept = flat[inside]
    index = pw.clamp_max(pw.floor((kept - lo) * (bins / (hi - lo))).long(), bins - 1)
    counts = zeros(bins, dtype=input.dtype, device=input.device)
    return index_put(counts, (index,), full((), 1.0, dtype=input.dtype, device=input.device), accumulate=True)


def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """Whether each of ``elements`` occurs in ``test_elements`` (a tensor or a number); ``invert`` negates.

    >>> import numgrad as ng
    >>> ng.isin(ng.tensor([1, 2, 3]), ng.tensor([2, 5]))
    tensor([False,  True, False])
    """
    if not isinstance(elements, Tensor):
        raise TypeError("isin(): elements must be a Tensor here")
    test = test_elements if isinstance(test_elements, Tensor) else full(
        (1,), test_elements, dtype=_dtypes.from_numpy_dtype(np.result_type(test_elements)), device=elements.device)
    if test.numel() == 0:
        found = pw.ne(elements, elements) if elements.dtype.is_floating_point else zeros(
            *elements.shape, dtype=_dtypes.bool_, device=elements.device)
    else:
        table = sort(test.reshape(-1)).values
        flat = elements.reshape(-1) if elements.ndim else elements.reshape(1)
        pos = pw.clamp_max(searchsorted(table, flat), table.numel() - 1)
        found = pw.eq(table[pos], flat).reshape(*elements.shape)
    return pw.logical_not(found) if invert else found


def isposinf(input) -> Tensor:
    """True where ``input`` is +inf.

    >>> import numgrad as ng
    >>> ng.isposinf(ng.tensor([1., float('inf'), -float('inf')]))
    tensor([False,  True, False])
    """
    return pw.eq(input, float("inf")) if input.dtype.is_floating_point else pw.ne(input, input)


def isneginf(input) -> Tensor:
    """True where ``input`` is -inf.

    >>> import numgrad as ng
    >>> ng.isneginf(ng.tensor([1., float('inf'), -float('inf')]))
    tensor([False, False,  True])
    """
    return pw.eq(input, float("-inf")) if input.dtype.is_floating_point else pw.ne(input, input)


def isreal(input) -> Tensor:
    """True everywhere: numgrad has no complex dtypes.

    >>> import numgrad as ng
    >>> ng.isreal(ng.tensor([1., 2.]))
    tensor([True, True])
    """
    return pw.eq(input, input) if not input.dtype.is_floating_point else pw.logical_or(pw.eq(input, input),
                                                                                         pw.isnan(input))


def fmax(input, other) -> Tensor:
    """Elementwise maximum that ignores NaN (NaN only where both are NaN).

    >>> import numgrad as ng
    >>> ng.fmax(ng.tensor([1., float('nan')]), ng.tensor([float('nan'), 2.]))
    tensor([1., 2.])
    """
    return pw.where(pw.isnan(other), input, pw.where(pw.isnan(input), other, pw.maximum(input, other)))


def fmin(input, other) -> Tensor:
    """Elementwise minimum that ignores NaN.

    >>> import numgrad as ng
    >>> ng.fmin(ng.tensor([1., float('nan')]), ng.tensor([float('nan'), 2.]))
    tensor([1., 2.])
    """
    return pw.where(pw.isnan(other), input, pw.where(pw.isnan(input), other, pw.minimum(input, other)))


def ldexp(input, other) -> Tensor:
    """``input * 2 ** other``.

    >>> import numgrad as ng
    >>> ng.ldexp(ng.tensor([1.]), ng.tensor([3]))
    tensor([8.])
    """
    return input * pw.exp2(other)


def logaddexp2(input, other) -> Tensor:
    """``log2(2 ** input + 2 ** other)`` without overflow.

    >>> import numgrad as ng
    >>> ng.logaddexp2(ng.tensor([1.]), ng.tensor([1.]))
    tensor([2.])
    """
    big = pw.maximum(input, other)
    return big + pw.log1p(pw.exp2(-pw.abs(input - other))) / math.log(2.0)


def positive(input) -> Tensor:
    """``input`` itself (refused for bool, as in PyTorch).

    >>> import numgrad as ng
    >>> ng.positive(ng.tensor([-1.]))
    tensor([-1.])
    """
    if input.dtype.name == "bool":
        raise TypeError("The `+` operator, on a bool tensor is not supported.")
    return input


def _spacing(x, d: int):
    n = x.shape[d]
    return narrow(x, d, 1, n - 1) - narrow(x, d, 0, n - 1)


def trapezoid(y, x=None, *, dx: Optional[float] = None, dim: int = -1) -> Tensor:
    """The trapezoid-rule integral of ``y`` along ``dim``, sampled at ``x`` or spaced ``dx`` (default 1).

    >>> import numgrad as ng
    >>> ng.trapezoid(ng.tensor([1., 2., 3.]))
    tensor(4.)
    """
    d = _wrap_dim(dim, y.ndim, "trapezoid")
    n = y.shape[d]
    if n == 0:
        return _sum(y, d)
    pair_sum = narrow(y, d, 1, n - 1) + narrow(y, d, 0, n - 1)
    if x is None:
        return _sum(pair_sum, d) * ((1.0 if dx is None else dx) / 2.0)
    xd = _wrap_dim(dim if x.ndim > 1 else 0, x.ndim, "trapezoid")
    widths = _spacing(x, xd)
    if x.ndim == 1 and y.ndim > 1:
        view = [1] * y.ndim
        view[d] = n - 1
        widths = widths.reshape(*view)
    return _sum(pair_sum * widths, d) / 2.0


def trapz(y, x=None, *, dx: Optional[float] = None, dim: int = -1) -> Tensor:
    """Alias of :func:`trapezoid`.

    >>> import numgrad as ng
    >>> ng.trapz(ng.tensor([1., 2., 3.]))
    tensor(4.)
    """
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y, x=None, *, dx: Optional[float] = None, dim: int = -1) -> Tensor:
    """The running trapezoid-rule integral of ``y`` along ``dim`` (one element shorter).

    >>> import numgrad as ng
    >>> ng.cumulative_trapezoid(ng.tensor([1., 2., 3.]), dx=2)
    tensor([3., 8.])
    """
    d = _wrap_dim(dim, y.ndim, "cumulative_trapezoid")
    n = y.shape[d]
    pair_sum = narrow(y, d, 1, n - 1) + narrow(y, d, 0, n - 1)
    if x is None:
        return cumsum(pair_sum, d) * ((1.0 if dx is None else dx) / 2.0)
    widths = _spacing(x, _wrap_dim(dim if x.ndim > 1 else 0, x.ndim, "cumulative_trapezoid"))
    if x.ndim == 1 and y.ndim > 1:
        view = [1] * y.ndim
        view[d] = n - 1
        widths = widths.reshape(*view)
    return cumsum(pair_sum * widths, d) / 2.0


def cov(input, *, correction: int = 1, fweights=None, aweights=None) -> Tensor:
    """The covariance matrix of the variables in the rows of ``input`` (observations in the columns).

    >>> import numgrad as ng
    >>> ng.cov(ng.tensor([[0., 1., 2.], [2., 1., 0.]]))
    tensor([[ 1., -1.],
            [-1.,  1.]])
    """
    if fweights is not None or aweights is not None:
        raise NotImplementedError("cov(): fweights and aweights are not supported by numgrad yet")
    if input.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with "
                           f"{input.ndim} dimensions")
    x = input.reshape(1, -1) if input.ndim < 2 else input
    if not x.dtype.is_floating_point:
        x = x.to(_dtypes.get_default_dtype())
    n = x.shape[1]
    centred = x - mean(x, 1, keepdim=True)
    out = matmul(centred, centred.mT) / float(max(n - correction, 0))
    return out.reshape(()) if input.ndim < 2 else out


def corrcoef(input) -> Tensor:
    """Pearson correlation coefficients of the rows of ``input``, clipped to [-1, 1].

    >>> import numgrad as ng
    >>> ng.corrcoef(ng.tensor([[0., 1., 2.], [2., 1., 0.]]))
    tensor([[ 1., -1.],
            [-1.,  1.]])
    """
    c = cov(input)
    if c.ndim == 0:
        return c / c
    std = pw.sqrt(_diagonal(c))
    return pw.clamp(c / std.reshape(-1, 1) / std.reshape(1, -1), -1.0, 1.0)


def block_diag(*tensors) -> Tensor:
    """A block-diagonal matrix of the given 0-, 1- or 2-D tensors (dtypes promote).

    >>> import numgrad as ng
    >>> ng.block_diag(ng.ones(1, 1), ng.full((1, 2), 2.))
    tensor([[1., 0., 0.],
            [0., 2., 2.]])
    """
    mats = []
    for t in tensors:
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input has {t.ndim} "
                               "dimensions")
        mats.append(t.reshape(1, 1) if t.ndim == 0 else (t.reshape(1, -1) if t.ndim == 1 else t))
    if not mats:
        return zeros(1, 0)
    dtype = mats[0].dtype
    for m in mats[1:]:
        if m.dtype != dtype:
            dtype = _dtypes.as_dtype(np.promote_types(dtype.np, m.dtype.np))
    cols = sum(m.shape[1] for m in mats)
    rows, start = [], 0
    for m in mats:
        r, c = m.shape
        left = zeros(r, start, dtype=dtype, device=m.device)
        right = zeros(r, cols - start - c, dtype=dtype, device=m.device)
        rows.append(cat([left, m.to(dtype), right], 1))
        start += c
    return cat(rows, 0)


def argwhere(input) -> Tensor:
    """The (n, ndim) indices of the nonzero entries (:func:`nonzero`).

    >>> import numgrad as ng
    >>> ng.argwhere(ng.tensor([0, 3, 0, 5]))
    tensor([[1],
            [3]])
    """
    return nonzero(input)


def combinations(input, r: int = 2, with_replacement: bool = False) -> Tensor:
    """Every length-``r`` combination of the elements of the 1-D ``input``, one per row (itertools order).

    >>> import numgrad as ng
    >>> ng.combinations(ng.tensor([1, 2, 3]))
    tensor([[1, 2],
            [1, 3],
            [2, 3]])
    """
    if input.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return zeros(0, dtype=input.dtype, device=input.device)
    maker = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    picks = np.array(list(maker(range(input.shape[0]), r)), dtype=np.int64).reshape(-1, r)
    if picks.shape[0] == 0:
        return zeros(0, r, dtype=input.dtype, device=input.device)
    index = _finish(picks.reshape(-1), False, input.device)
    return index_select(input, 0, index).reshape(-1, r)


def narrow_copy(input, dim: int, start: int, length: int) -> Tensor:
    """:func:`narrow` as a new tensor.

    >>> import numgrad as ng
    >>> ng.narrow_copy(ng.arange(5), 0, 1, 2)
    tensor([1, 2])
    """
    return narrow(input, dim, start, length).clone()


def _embed(input, src, key, op: str):
    out = input.clone()
    target_shape = out[key].shape
    if tuple(src.shape) != tuple(target_shape):
        raise RuntimeError(f"{op}: expected src to have a size equal to the slice of self. src size = "
                           f"{list(src.shape)}, slice size = {list(target_shape)}")
    out[key] = src
    return out


def select_scatter(input, src, dim: int, index: int) -> Tensor:
    """A copy of ``input`` whose slice at ``index`` along ``dim`` is ``src``.

    >>> import numgrad as ng
    >>> ng.select_scatter(ng.zeros(2, 2), ng.ones(2), 0, 0)
    tensor([[1., 1.],
            [0., 0.]])
    """
    d = _wrap_dim(dim, input.ndim, "select_scatter")
    return _embed(input, src, (slice(None),) * d + (int(index),), "select_scatter")


def slice_scatter(input, src, dim: int = 0, start: Optional[int] = None, end: Optional[int] = None,
                  step: int = 1) -> Tensor:
    """A copy of ``input`` whose slice ``start:end:step`` along ``dim`` is ``src``.

    >>> import numgrad as ng
    >>> ng.slice_scatter(ng.zeros(4), ng.ones(2), start=2)
    tensor([0., 0., 1., 1.])
    """
    d = _wrap_dim(dim, input.ndim, "slice_scatter")
    return _embed(input, src, (slice(None),) * d + (slice(start, end, step),), "slice_scatter")


def diagonal_scatter(input, src, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """A copy of ``input`` whose diagonal (as :func:`diagonal` picks it) is ``src``.

    >>> import numgrad as ng
    >>> ng.diagonal_scatter(ng.zeros(2, 2), ng.ones(2))
    tensor([[1., 0.],
            [0., 1.]])
    """
    d1, d2 = _wrap_dim(dim1, input.ndim, "diagonal_scatter"), _wrap_dim(dim2, input.ndim, "diagonal_scatter")
    n, m = input.shape[d1], input.shape[d2]
    length = max(0, min(n - max(0, -offset), m - max(0, offset)))
    rows = arange(length, device=input.device) + max(0, -offset)
    cols = arange(length, device=input.device) + max(0, offset)
    # the diagonal dim goes last in src, as diagonal() puts it
    others = [k for k in range(input.ndim) if k not in (d1, d2)]
    expected = tuple(input.shape[k] for k in others) + (length,)
    if tuple(src.shape) != expected:
        raise RuntimeError(f"diagonal_scatter: expected src to have a size equal to the diagonal of self. src size "
                           f"= {list(src.shape)}, diagonal size = {list(expected)}")
    full_key = []
    for k in range(input.ndim):
        if k in (d1, d2):
            full_key.append((rows if k == d1 else cols).reshape(*([1] * len(others)), length))
        else:
            shape = [1] * (len(others) + 1)
            shape[others.index(k)] = input.shape[k]
            full_key.append(arange(input.shape[k], device=input.device).reshape(*shape))
    return index_put(input, tuple(full_key), src)


def logspace(start: float, end: float, steps: int, base: float = 10.0, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` values from ``base ** start`` to ``base ** end``, evenly spaced in the exponent.

    >>> import numgrad as ng
    >>> ng.logspace(0, 2, 3)
    tensor([  1.,  10., 100.])
    """
    dt = _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.get_default_dtype()
    exps = np.linspace(start, end, steps, dtype=np.float64)
    return _finish((float(base) ** exps).astype(dt.np), requires_grad,
                   as_device(device) if device is not None else None, shape_constant=True)


def vander(x, N: Optional[int] = None, increasing: bool = False) -> Tensor:
    """The Vandermonde matrix of the 1-D ``x``: columns ``x ** (N-1) ... x ** 0`` (reversed if ``increasing``).

    >>> import numgrad as ng
    >>> ng.vander(ng.tensor([1, 2, 3]), N=3)
    tensor([[1, 1, 1],
            [4, 2, 1],
            [9, 3, 1]])
    """
    if x.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else int(N)
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    powers = [pw.pow(x, k) if k else ones_like(x) for k in range(n)]
    cols = powers if increasing else powers[::-1]
    return stack(cols, 1) if cols else zeros(x.shape[0], 0, dtype=x.dtype, device=x.device)


@autocast_op
def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Cosine of the angle between ``x1`` and ``x2`` along ``dim`` (broadcast), each norm clamped to at least
    ``eps`` in value only (the gradient is the norm's, as in PyTorch).

    >>> import numgrad as ng
    >>> ng.cosine_similarity(ng.tensor([[1., 0.]]), ng.tensor([[1., 1.]]))
    tensor([0.7071])
    """
    from_norm = []
    for x in (x1, x2):
        n = _norm(x, 2.0, dim=dim, keepdim=True)
        # PyTorch clamps the norm under no_grad: the value is clamped, the gradient stays the norm's
        from_norm.append(n + (pw.clamp_min(n, eps) - n).detach())
    return _sum((x1 / from_norm[0]) * (x2 / from_norm[1]), dim)


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """The p-norm of ``x1 - x2 + eps`` along the last dim (row by row distances).

    >>> import numgrad as ng
    >>> ng.pairwise_distance(ng.tensor([[1., 0.]]), ng.tensor([[1., 1.]]))
    tensor([1.0000])
    """
    return _norm(x1 - x2 + eps, float(p), dim=-1, keepdim=keepdim)


@autocast_op
def pdist(input, p: float = 2.0) -> Tensor:
    """The p-norm distances between every pair of rows ``i < j`` of the 2-D ``input``, row by row.

    >>> import numgrad as ng
    >>> ng.pdist(ng.tensor([[0., 0.], [3., 4.], [1., 1.]]))
    tensor([5.0000, 1.4142, 3.6056])
    """
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    n = input.shape[0]
    pairs = np.triu_indices(n, 1)
    first = index_select(input, 0, _finish(pairs[0].astype(np.int64), False, input.device))
    second = index_select(input, 0, _finish(pairs[1].astype(np.int64), False, input.device))
    return _norm(first - second, float(p), dim=1)


def bitwise_not(input) -> Tensor:
    """``~input``: bits flipped for integers, logical not for bool.

    >>> import numgrad as ng
    >>> ng.bitwise_not(ng.tensor([1, -2]))
    tensor([-2,  1])
    """
    if input.dtype.is_floating_point:
        raise RuntimeError(f"\"bitwise_not_cpu\" not implemented for '{input.dtype.name}'")
    return pw.logical_not(input) if input.dtype.name == "bool" else pw.bitwise_xor(input, -1)


def bitwise_left_shift(input, other) -> Tensor:
    """``input << other`` for integers (``input * 2**other``).

    >>> import numgrad as ng
    >>> ng.bitwise_left_shift(ng.tensor([1, 3]), 2)
    tensor([ 4, 12])
    """
    return input * pw.pow(2, other)


def bitwise_right_shift(input, other) -> Tensor:
    """``input >> other`` for integers (an arithmetic shift: rounds toward -inf).

    >>> import numgrad as ng
    >>> ng.bitwise_right_shift(ng.tensor([-8, 8]), 1)
    tensor([-4,  4])
    """
    return pw.floor_divide(input, pw.pow(2, other))


TENSOR_METHODS = {
    "bincount": bincount, "histc": histc, "isposinf": isposinf, "isneginf": isneginf, "isreal": isreal,
    "fmax": fmax, "fmin": fmin, "ldexp": ldexp, "logaddexp2": logaddexp2, "positive": positive, "cov": cov,
    "corrcoef": corrcoef, "argwhere": argwhere, "narrow_copy": narrow_copy, "select_scatter": select_scatter,
    "slice_scatter": slice_scatter, "diagonal_scatter": diagonal_scatter, "bitwise_not": bitwise_not,
    "bitwise_left_shift": bitwise_left_shift, "bitwise_right_shift": bitwise_right_shift,
}
PUBLIC = ("bincount", "histc", "isin", "isposinf", "isneginf", "isreal", "fmax", "fmin", "ldexp", "logaddexp2",
          "positive", "trapezoid", "trapz", "cumulative_trapezoid", "cov", "corrcoef", "block_diag", "argwhere",
          "combinations", "narrow_copy", "select_scatter", "slice_scatter", "diagonal_scatter", "logspace", "vander",
          "cosine_similarity", "pairwise_distance", "pdist", "bitwise_not", "bitwise_left_shift", "bitwise_right_shift")
