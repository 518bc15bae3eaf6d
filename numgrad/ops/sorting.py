"""Sorting and searching: sort, argsort, msort, topk, kthvalue, unique, unique_consecutive, searchsorted,
bucketize.

The kernels (``numgrad/kernels/cpu/sorting.py``, picked by the data's device through
``kernels.backend.sorting_kernels``) compute positions only; values are ``gather``-ed at those
positions, so the gradient of a sorted/top-k/k-th value is the gather's: the incoming gradient
scattered back to the positions the values came from (as PyTorch's ``sort``/``topk`` backward).
Positions are int64 and carry no gradient; ``unique`` and the searches are not differentiable.
"""
from __future__ import annotations

import collections
import numbers
from typing import Optional

import numpy as np

from ..tensor import Tensor, result_type
from ..kernels import backend as _backend
from ..kernels.backend import sorting_kernels as _kernels
from ..creation import scalar_tensor, tensor
from .indexing import gather, index_select
from .shape import narrow

sort_return_type = collections.namedtuple("sort", ("values", "indices"))
topk_return_type = collections.namedtuple("topk", ("values", "indices"))
kthvalue_return_type = collections.namedtuple("kthvalue", ("values", "indices"))
for _t in (sort_return_type, topk_return_type, kthvalue_return_type):
    _t.__module__ = "numgrad.return_types"


def _wrap(dim: int, ndim: int, op: str) -> int:
    n = max(ndim, 1)
    if not isinstance(dim, numbers.Integral) or not -n <= dim < n:
        raise IndexError(f"{op}(): Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got "
                         f"{dim})")
    return int(dim) + n if dim < 0 else int(dim)


def _check_sortable(input, op: str) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")


def _rows_last(arr, d: int):
    """``arr`` with dim ``d`` moved innermost, C-contiguous, as (rows, n)."""
    moved = np.moveaxis(arr, d, -1) if arr.ndim else arr.reshape(1)
    return _backend.contiguous(moved).reshape(-1, moved.shape[-1] if moved.ndim else 1), moved.shape


def _argsort_dim(input, d: int, descending: bool, op: str) -> Tensor:
    """int64 positions along ``d`` that sort ``input`` (stable), shaped like ``input``."""
    K = _kernels(input._data, op)
    if input.numel() == 0:
        return Tensor(np.empty(input.shape, dtype=np.int64))
    rows, moved_shape = _rows_last(input._data, d)
    if rows.dtype == np.bool_:
        rows = rows.view(np.uint8)
    order = K.argsort_rows(rows, bool(descending)).reshape(moved_shape)
    return Tensor(np.ascontiguousarray(np.moveaxis(order, -1, d)) if input.ndim else order.reshape(()))


def sort(input, dim: int = -1, descending: bool = False, stable: bool = False):
    """Sort along ``dim``: ``(values, indices)`` with ``values == input.gather(dim, indices)``.

    NaN sorts as the largest value; equal values keep their order (the sort is always stable).
    Gradients flow to the positions the values came from.

    >>> import numgrad as ng
    >>> values, indices = ng.sort(ng.tensor([3., 1., 2.]))
    >>> values, indices
    (tensor([1., 2., 3.]), tensor([1, 2, 0]))
    """
    _check_sortable(input, "sort")
    d = _wrap(dim, input.ndim, "sort")
    indices = _argsort_dim(input, d, descending, "sort")
    values = gather(input, d, indices) if input.ndim else input.clone()
    return sort_return_type(values, indices)


def argsort(input, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The int64 positions that sort ``input`` along ``dim`` (stable; NaN last, or first when descending).

    >>> import numgrad as ng
    >>> ng.argsort(ng.tensor([[3., 1., 2.]]), dim=1, descending=True)
    tensor([[0, 2, 1]])
    """
    _check_sortable(input, "argsort")
    return _argsort_dim(input, _wrap(dim, input.ndim, "argsort"), descending, "argsort")


def msort(input) -> Tensor:
    """``sort(input, dim=0).values``.

    >>> import numgrad as ng
    >>> ng.msort(ng.tensor([[2., 1.], [0., 3.]]))
    tensor([[0., 1.],
            [2., 3.]])
    """
    return sort(input, 0).values


def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    """The ``k`` largest (or smallest) values along ``dim`` and their positions, largest first.

    Among equal values the earlier position comes first. Gradients flow to the chosen positions.

    >>> import numgrad as ng
    >>> ng.topk(ng.tensor([1., 5., 3., 4.]), 2).indices
    tensor([1, 3])
    """
    _check_sortable(input, "topk")
    d = _wrap(dim, input.ndim, "topk")
    size = input.shape[d] if input.ndim else 1
    if not isinstance(k, numbers.Integral) or not 0 <= k <= size:
        raise RuntimeError(f"topk(): selected index k out of range (k={k}, dimension {d} has size {size})")
    order = _argsort_dim(input, d, largest, "topk")
    if input.ndim == 0:
        return topk_return_type(input.clone() if k else input.reshape(0)[:0], order if k else order.reshape(0))
    indices = narrow(order, d, 0, k).contiguous()
    return topk_return_type(gather(input, d, indices), indices)


def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False):
    """The ``k``-th smallest value along ``dim`` (``k`` counts from 1) and its position.

    >>> import numgrad as ng
    >>> ng.kthvalue(ng.tensor([4., 1., 3.]), 2).values
    tensor(3.)
    """
    _check_sortable(input, "kthvalue")
    d = _wrap(dim, input.ndim, "kthvalue")
    size = input.shape[d] if input.ndim else 1
    if not isinstance(k, numbers.Integral) or not 1 <= k <= size:
        raise IndexError(f"kthvalue(): selected number k out of range for dimension {d} (k={k}, size {size})")
    order = _argsort_dim(input, d, False, "kthvalue")
    if input.ndim == 0:
        return kthvalue_return_type(input.clone(), order)
    indices = narrow(order, d, k - 1, 1).contiguous()
    values = gather(input, d, indices)
    if not keepdim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return kthvalue_return_type(values, indices)


def _flat_data(input) -> np.ndarray:
    return _backend.contiguous(input._data).reshape(-1)


def _unique_result(values, inverse, counts, shape, return_inverse: bool, return_counts: bool):
    out = [Tensor(values)]
    if return_inverse:
        out.append(Tensor(inverse.reshape(shape)))
    if return_counts:
        out.append(Tensor(counts))
    return out[0] if len(out) == 1 else tuple(out)


def _no_dim(dim, op: str) -> None:
    if dim is not None:
        raise NotImplementedError(f"{op}(dim={dim}): numgrad's {op} works on the flattened tensor only (dim=None); "
                                  "for unique rows, flatten each row to a key yourself")


def unique(input, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,
           dim: Optional[int] = None):
    """The distinct values of ``input`` (flattened), ascending, or the distinct slices along ``dim``; optionally
    the index of each element (slice) in that list and how often each occurs. Every NaN is distinct, as in
    PyTorch. Not differentiable.

    >>> import numgrad as ng
    >>> ng.unique(ng.tensor([2, 1, 2, 3]), return_inverse=True, return_counts=True)
    (tensor([1, 2, 3]), tensor([1, 0, 1, 2]), tensor([1, 2, 1]))
    """
    _check_sortable(input, "unique")
    if dim is not None:
        return _unique_dim(input, dim, return_inverse, return_counts)
    K = _kernels(input._data, "unique")
    flat = _flat_data(input)
    keys = flat.view(np.uint8) if flat.dtype == np.bool_ else flat
    order = K.argsort_rows(keys.reshape(1, -1), False).reshape(-1)
    values, inverse, counts = K.unique_sorted(keys[order], order)
    if flat.dtype == np.bool_:
        values = values.view(np.bool_)
    return _unique_result(values, inverse, counts, input.shape, return_inverse, return_counts)


def _unique_dim(input, dim: int, return_inverse: bool, return_counts: bool):
    """The distinct slices of ``input`` along ``dim``, in lexicographic order (PyTorch's ``unique(dim=...)``)."""
    d = _wrap(dim, input.ndim, "unique")
    K = _kernels(input._data, "unique")
    n = input.shape[d] if input.ndim else 1
    moved = np.moveaxis(input._data, d, 0) if input.ndim else input._data.reshape(1)
    rows = _backend.contiguous(moved).reshape(n, -1)
    if rows.dtype == np.bool_:
        rows = rows.view(np.uint8)
    first, inverse, counts = K.unique_rows(rows)
    values = index_select(input.detach(), d, Tensor(first))
    out = [values]
    if return_inverse:
        out.append(Tensor(inverse))
    if return_counts:
        out.append(Tensor(counts))
    return out[0] if len(out) == 1 else tuple(out)


def unique_consecutive(input, return_inverse: bool = False, return_counts: bool = False, dim: Optional[int] = None):
    """``input`` (flattened) with each run of equal neighbours collapsed to one value; optionally each
    element's run and the run lengths. Not differentiable.

    >>> import numgrad as ng
    >>> ng.unique_consecutive(ng.tensor([1, 1, 2, 2, 1]), return_counts=True)
    (tensor([1, 2, 1]), tensor([2, 2, 1]))
    """
    _check_sortable(input, "unique_consecutive")
    _no_dim(dim, "unique_consecutive")
    K = _kernels(input._data, "unique_consecutive")
    flat = _flat_data(input)
    keys = flat.view(np.uint8) if flat.dtype == np.bool_ else flat
    values, inverse, counts = K.unique_consecutive_runs(keys)
    if flat.dtype == np.bool_:
        values = values.view(np.bool_)
    return _unique_result(values, inverse, counts, input.shape, return_inverse, return_counts)


def searchsorted(sorted_sequence, input, *, out_int32: bool = False, right: bool = False,
                 side: Optional[str] = None, sorter=None) -> Tensor:
    """Where each value of ``input`` would be inserted into ``sorted_sequence`` (sorted along its last dim)
    to keep it sorted: the first such position, or the last with ``right=True`` / ``side='right'``.

    ``sorted_sequence`` is 1-D (shared by every value) or has ``input``'s leading dims.

    >>> import numgrad as ng
    >>> ng.searchsorted(ng.tensor([1., 3., 5.]), ng.tensor([3., 6.]))
    tensor([1, 3])
    """
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got side of left "
                               "while right was True")
        right = side == "right"
    if not isinstance(sorted_sequence, Tensor):
        raise TypeError(f"searchsorted(): argument 'sorted_sequence' must be Tensor, not "
                        f"{type(sorted_sequence).__name__}")
    scalar = not isinstance(input, Tensor)
    if not scalar:
        values = input
    elif isinstance(input, numbers.Number):  # a recorded fill (ng.compile keeps the number)
        values = scalar_tensor(input, dtype=sorted_sequence.dtype, device=sorted_sequence.device)
    else:
        values = tensor(input, dtype=sorted_sequence.dtype)
    if sorter is not None:
        sorted_sequence = gather(sorted_sequence, -1, sorter)
    seq = sorted_sequence
    if seq.ndim == 0:
        raise RuntimeError("torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions "
                           "of boundaries tensor and input value tensor must match, but we got boundaries tensor "
                           f"{list(seq.shape)} and input value tensor {list(values.shape)}")
    if seq.ndim > 1 and (seq.ndim != max(values.ndim, 1) or tuple(seq.shape[:-1]) != tuple(values.shape[:-1])):
        raise RuntimeError("torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions "
                           "of boundaries tensor and input value tensor must match, but we got boundaries tensor "
                           f"{list(seq.shape)} and input value tensor {list(values.shape)}")
    K = _kernels(seq._data, "searchsorted")
    _backend.check_same_device("searchsorted", "input", values._data, seq._data)
    common = result_type(seq, values)
    seq_arr = _backend.contiguous(seq.to(common)._data).reshape(-1, seq.shape[-1])
    n = values.shape[-1] if values.ndim and seq.ndim > 1 else max(values.numel(), 1)
    val_arr = _backend.contiguous(values.to(common)._data).reshape(-1, n) if values.numel() else None
    if val_arr is None:
        out = np.empty(values.shape, dtype=np.int64)
    else:
        out = K.searchsorted_rows(seq_arr, val_arr, bool(right)).reshape(values.shape)
    return Tensor(out.astype(np.int32) if out_int32 else out)


def bucketize(input, boundaries, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """The bucket of each value of ``input`` among the ascending 1-D ``boundaries``: ``i`` with
    ``boundaries[i-1] < x <= boundaries[i]`` (``right=True``: ``boundaries[i-1] <= x < boundaries[i]``).

    >>> import numgrad as ng
    >>> ng.bucketize(ng.tensor([1., 3., 9.]), ng.tensor([1., 3., 5., 7.]))
    tensor([0, 1, 4])
    """
    if not isinstance(boundaries, Tensor) or boundaries.ndim != 1:
        shape = list(boundaries.shape) if isinstance(boundaries, Tensor) else type(boundaries).__name__
        raise RuntimeError(f"bucketize(): boundaries tensor must be 1 dimension, but got dim({shape})")
    if not isinstance(input, Tensor):
        input = scalar_tensor(input, dtype=boundaries.dtype, device=boundaries.device) \
            if isinstance(input, numbers.Number) else tensor(input, dtype=boundaries.dtype)
    flat = input.reshape(-1) if input.ndim else input
    out = searchsorted(boundaries, flat, out_int32=out_int32, right=right)
    return out.reshape(input.shape)


TENSOR_METHODS = {
    "sort": sort, "argsort": argsort, "msort": msort, "topk": topk, "kthvalue": kthvalue, "unique": unique,
    "unique_consecutive": unique_consecutive,
}
PUBLIC = ("sort", "argsort", "msort", "topk", "kthvalue", "unique", "unique_consecutive", "searchsorted", "bucketize")
