"""Indexing: ``t[...]``, ``t[...] = v``, gather, scatter_add, index_select, masked_fill, one_hot, nonzero.

An index expression is compiled once into an ``IndexPlan``: a *basic* part
(ints, slices, None, Ellipsis), applied by NumPy as a view, followed by an
optional *advanced* part (integer arrays and boolean masks, PyTorch semantics)
that runs the gather kernel of the data's device (``numgrad.kernels.cpu.indexing``
or ``numgrad.kernels.cuda.indexing``, same names and contracts, picked by
``numgrad.kernels.backend.indexing_kernels``).  CPU index arrays may index CUDA
data (they are copied over, as PyTorch allows).

Two ``Function``s are each other's derivative, so indexing is differentiable
to any order: ``Index`` (read) has the backward ``IndexPut`` with accumulation
(a race-free scatter-add: duplicate indices add up), and ``IndexPut`` has the
backward ``Index`` for the values and a masked copy for the old tensor.
``Gather`` and ``ScatterAdd`` pair up the same way.
"""
from __future__ import annotations

import numbers
from typing import Optional

import numpy as np

from .._dtypes import torch_type_name
from ..tensor import Tensor
from ..autograd.function import Function
from ..kernels import backend as _backend
from ..kernels.backend import empty_for
from ..ir.expr import forward_roots
from ..ir.table import ELEMENTWISE
from ..autograd.grad_mode import is_grad_enabled
from ..creation import scalar_tensor, tensor, zeros
from .elementwise import OVERLAP_MSG, broadcast_shapes, copy_into, memory_overlap
from .elementwise_functions import where
from .shape import pad
from .sum_mean import sum_to
from ..autograd.views import check_view_inplace
from ..kernels.backend import reduce_array

_INDEX_TYPE_ERROR = (
    "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices (got {})"
)


_kernels = _backend.indexing_kernels  # the indexing kernels for an array's device (imported on first use)
_ADD = forward_roots(ELEMENTWISE["add"])


def _copy_array(dst: np.ndarray, src, accumulate: bool = False) -> None:
    """``dst[...] = src`` (or ``+=``) through a generated map kernel (broadcast, cast)."""
    if not accumulate:
        _backend.copy(src, None, dst)
        return
    name = dst.dtype.name
    _backend.run_map(_ADD, [dst, src], [dst.dtype], dst.shape, name, [name, name], [dst])


def _contiguous(arr: np.ndarray) -> np.ndarray:
    return _backend.contiguous(arr)


def _flat(arr: np.ndarray):
    """(1-D view of arr's memory, element strides), copying arr first if its strides are unusable."""
    K = _kernels(arr)
    got = K.flat_span(arr)
    if got is None:
        arr = _contiguous(arr)
        got = K.flat_span(arr)
    return got


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _shape_str(shape) -> str:
    return str(list(shape))


# ---------------------------------------------------------------------------------------------- plans
class IndexPlan:
    """A parsed index: ``basic`` (a NumPy basic-index tuple) then ``adv`` on the resulting view.

    ``adv`` is a list of ``(dim of the view, int array)`` sorted by dim; the arrays
    broadcast to ``bshape``.  As in PyTorch, the broadcast block replaces the
    indexed dims in place when they are adjacent, and goes first otherwise.
    """

    __slots__ = ("basic", "adv", "view_shape", "bshape", "pre", "post", "out_shape", "node_name")

    def __init__(self, in_shape: tuple, basic: tuple, adv: list, node_name: str):
        self.basic = basic
        self.adv = adv
        self.node_name = node_name
        self.view_shape = _basic_shape(tuple(in_shape), basic)
        if not adv:
            self.bshape = ()
            self.pre = self.post = ()
            self.out_shape = self.view_shape
            return
        try:
            self.bshape = np.broadcast_shapes(*(a.shape for _, a in adv))
        except ValueError:
            shapes = ", ".join(_shape_str(a.shape) for _, a in adv)
            raise IndexError(
                f"shape mismatch: indexing tensors could not be broadcast together with shapes {shapes}"
            ) from None
        dims = [d for d, _ in adv]
        rest = [d for d in range(len(self.view_shape)) if d not in dims]
        adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
        self.pre = tuple(d for d in rest if d < dims[0]) if adjacent else ()
        self.post = tuple(d for d in rest if d not in self.pre)
        vs = self.view_shape
        self.out_shape = tuple(vs[d] for d in self.pre) + tuple(self.bshape) + tuple(vs[d] for d in self.post)

    def mid_offsets(self, view: np.ndarray, strides: tuple) -> np.ndarray:
        """Element offsets of the indexed block, one per broadcast index position (validated), on view's device."""
        K = _kernels(view)
        bshape = tuple(self.bshape)
        out = _backend.full_for((view,), (_prod(bshape),), np.int64, 0)
        if out.size == 0:
            return out
        bshape_arr = np.asarray(bshape, dtype=np.int64).reshape(-1)
        for dim, idx in self.adv:
            flat, st = _flat(_backend.index_array_for(idx, view))
            off = len(bshape) - idx.ndim
            bst = [0] * len(bshape)
            for j, (n, s) in enumerate(zip(idx.shape, st)):
                bst[off + j] = s if n != 1 else 0
            bad = K.accumulate_index_offsets(flat, np.asarray(bst, dtype=np.int64).reshape(-1), bshape_arr,
                                             view.shape[dim], strides[dim], out)
            if bad >= 0:
                raise IndexError(
                    f"index {int(flat[bad].item())} is out of bounds for dimension {dim} with size {view.shape[dim]}"
                )
        return out

    def pqn(self) -> tuple:
        vs = self.view_shape
        return _prod(vs[d] for d in self.pre), _prod(self.bshape), _prod(vs[d] for d in self.post)


def _basic_shape(shape: tuple, basic: tuple) -> tuple:
    """Shape of ``array[basic]`` for a validated basic index without Ellipsis (no array needed)."""
    out = []
    dim = 0
    for item in basic:
        if item is None:
            out.append(1)
        elif isinstance(item, slice):
            out.append(len(range(*item.indices(shape[dim]))))
            dim += 1
        else:
            dim += 1
    return tuple(out) + shape[dim:]


def _as_index_array(k, Tensor):
    """(kind, array) for a tensor / ndarray / sequence index: kind is "mask", "adv" or "int"."""
    if isinstance(k, Tensor):
        arr = k._data
    elif isinstance(k, np.ndarray):
        arr = k
    else:
        try:
            arr = np.asarray(k)
        except (ValueError, TypeError):
            raise IndexError(_INDEX_TYPE_ERROR.format(type(k).__name__)) from None
        if arr.dtype == object:
            raise IndexError(_INDEX_TYPE_ERROR.format(type(k).__name__))
        if arr.size == 0 and arr.dtype.kind == "f":
            arr = arr.astype(np.int64)
    if arr.dtype.kind == "b" or arr.dtype == np.uint8:
        return ("bool", bool(_index_value(k, arr))) if arr.ndim == 0 else ("mask", arr)
    if arr.dtype.kind in "iu":
        return ("int", int(_index_value(k, arr))) if arr.ndim == 0 else ("adv", arr)
    raise IndexError("tensors used as indices must be long, int, byte or bool tensors")


def _index_value(k, arr):
    """The value of a 0-d index (a Python number, as PyTorch makes it: the result is a view).  A tensor is read
    through the tensor, so ng.compile sees the read instead of baking one call's value into a capture."""
    return k.item() if isinstance(k, Tensor) else arr.item()


def _parse(shape: tuple, key) -> IndexPlan:
    if not isinstance(key, tuple):
        key = (key,)
    items = []
    for k in key:
        if k is None or k is Ellipsis or isinstance(k, slice):
            items.append(k)
        elif isinstance(k, (bool, np.bool_)):
            items.append(("bool", bool(k)))
        elif isinstance(k, (numbers.Integral, np.integer)):
            items.append(("int", int(k)))
        elif isinstance(k, (Tensor, np.ndarray, list, tuple, range)):  # a range indexes like its list
            items.append(_as_index_array(k, Tensor))
        else:
            raise IndexError(_INDEX_TYPE_ERROR.format(type(k).__name__))
    ndim = len(shape)
    consumed = 0
    n_ellipsis = 0
    for it in items:
        if it is Ellipsis:
            n_ellipsis += 1
        elif isinstance(it, slice):
            consumed += 1
        elif isinstance(it, tuple) and it[0] in ("int", "adv"):
            consumed += 1
        elif isinstance(it, tuple) and it[0] == "mask":
            consumed += it[1].ndim
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")

    basic: list = []
    adv: list = []
    in_dim = view_dim = 0
    last = None  # the last view op applied, which names the node as in PyTorch
    for it in items:
        if it is None:
            basic.append(None)
            view_dim += 1
            last = "UnsqueezeBackward0"
        elif it is Ellipsis:
            for _ in range(ndim - consumed):
                basic.append(slice(None))
                in_dim += 1
                view_dim += 1
        elif isinstance(it, slice):
            if it.step is not None:
                step = int(it.step)
                if step == 0:
                    raise ValueError("slice step cannot be zero")
                if step < 0:
                    raise ValueError("step must be greater than zero")
            basic.append(it)
            if it != slice(None):
                last = "SliceBackward0"
            in_dim += 1
            view_dim += 1
        elif it[0] == "int":
            n = shape[in_dim]
            if not -n <= it[1] < n:
                raise IndexError(f"index {it[1]} is out of bounds for dimension {in_dim} with size {n}")
            basic.append(it[1])
            in_dim += 1
            last = "SelectBackward0"
        elif it[0] == "bool":
            basic.append(None)
            if not it[1]:
                adv.append((view_dim, np.zeros(0, dtype=np.int64)))
            view_dim += 1
            last = "UnsqueezeBackward0"
        elif it[0] == "adv":
            basic.append(slice(None))
            adv.append((view_dim, it[1]))
            in_dim += 1
            view_dim += 1
        else:  # mask: its nonzero positions, one index array per masked dim
            mask = it[1]
            for j in range(mask.ndim):
                if mask.shape[j] != shape[in_dim + j]:
                    raise IndexError(
                        f"The shape of the mask {_shape_str(mask.shape)} at index {j} does not match the shape "
                        f"of the indexed tensor {_shape_str(shape)} at index {in_dim + j}"
                    )
            positions = _nonzero_array(mask)
            for j in range(mask.ndim):
                basic.append(slice(None))
                adv.append((view_dim, positions[:, j]))
                in_dim += 1
                view_dim += 1
    name = "IndexBackward0" if adv else (last or "AliasBackward0")
    return IndexPlan(tuple(shape), tuple(basic), adv, name)


def _take(arr: np.ndarray, plan: IndexPlan) -> np.ndarray:
    """``arr[plan]``: a view for basic plans, a new array from the gather kernel otherwise."""
    view = arr[plan.basic + (Ellipsis,)]  # the Ellipsis keeps a 0-d result an array view, not a scalar
    if not plan.adv:
        return view
    K = _kernels(view)
    flat, strides = _flat(view)
    mid = plan.mid_offsets(view, strides)
    out = empty_for((arr,), plan.out_shape, arr.dtype)
    if out.size == 0:
        return out
    vs = plan.view_shape
    pre = K.offsets([vs[d] for d in plan.pre], [strides[d] for d in plan.pre])
    post = K.offsets([vs[d] for d in plan.post], [strides[d] for d in plan.post])
    P, N, Q = plan.pqn()
    fn = K.gather_offsets_parallel if K.use_parallel(out.size, P * N) else K.gather_offsets
    fn(flat, pre, mid, post, out.reshape(P, N, Q))
    return out


def _put(arr: np.ndarray, plan: IndexPlan, values, accumulate: bool) -> None:
    """``arr[plan] = values`` (or ``+=``, duplicates adding up) written into ``arr``'s memory."""
    view = arr[plan.basic + (Ellipsis,)]
    if not plan.adv:
        _copy_array(view, values, accumulate)
        return
    K = _kernels(view)
    got = K.flat_span(view)
    if got is None:  # unusual strides: work on a contiguous copy and write it back
        tmp = empty_for((view,), view.shape, view.dtype)
        _copy_array(tmp, view)
        sub = IndexPlan(tmp.shape, (), plan.adv, plan.node_name)
        _put(tmp, sub, values, accumulate)
        _copy_array(view, tmp)
        return
    flat, strides = got
    mid = plan.mid_offsets(view, strides)
    P, N, Q = plan.pqn()
    if P * N * Q == 0:
        return
    dense = empty_for((arr,), plan.out_shape, arr.dtype)
    _copy_array(dense, values)
    vs = plan.view_shape
    pre = K.offsets([vs[d] for d in plan.pre], [strides[d] for d in plan.pre])
    post = K.offsets([vs[d] for d in plan.post], [strides[d] for d in plan.post])
    fn = K.scatter_offsets_parallel if K.use_parallel(dense.size, P) else K.scatter_offsets
    fn(flat, pre, mid, post, dense.reshape(P, N, Q), accumulate)


def _nonzero_array(arr: np.ndarray) -> np.ndarray:
    """``(count, ndim)`` int64 positions of the nonzeros, on arr's device (CUDA reads the count back, as PyTorch)."""
    flat = arr.reshape(-1) if arr.flags.c_contiguous else _contiguous(arr).reshape(-1)
    if flat.dtype == np.bool_:
        flat = flat.view(np.uint8)  # numba compares bytes faster than booleans; same truth values
    return _backend.nonzero_positions(flat, arr.shape)


# ---------------------------------------------------------------------------------------------- Functions
class Index(Function):
    """``x[plan]``; backward scatters (adds) the gradient into zeros of ``x``'s shape."""

    node_name = "IndexBackward0"

    @classmethod
    def output_is_view(cls, ctx) -> bool:
        return not ctx.plan.adv  # basic indexing (ints, slices) views; advanced indexing copies

    @staticmethod
    def forward(ctx, x, plan):
        ctx.plan, ctx.in_shape, ctx.dtype = plan, x.shape, x.dtype
        ctx.node_name = plan.node_name
        out = _take(x._data, plan)
        if plan.adv:
            return Tensor(out)
        return Tensor(out, _version=x._version)

    @staticmethod
    def backward(ctx, g):
        base = zeros(ctx.in_shape, dtype=ctx.dtype, device=g.device)
        return IndexPut.apply(base, ctx.plan, g, bool(ctx.plan.adv), True), None


class IndexPut(Function):
    """``out = base; out[plan] = values`` (``+=`` when accumulating); ``inplace`` writes into ``base``."""

    node_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, base, plan, values, accumulate, inplace):
        ctx.plan, ctx.accumulate = plan, accumulate
        ctx.values_shape, ctx.values_dtype = values.shape, values.dtype
        ctx.node_name = "IndexPutBackward0" if plan.adv else "CopySlices"
        if inplace:
            _put(base._data, plan, values._data, accumulate)
            base._bump_version()
            return Tensor(base._data, _version=base._version)
        out = empty_for((base._data,), base.shape, base.dtype.np)
        _copy_array(out, base._data)
        _put(out, plan, values._data, accumulate)
        return Tensor(out)

    @staticmethod
    def backward(ctx, g):
        g_base = g_values = None
        if ctx.needs_input_grad[0]:
            if ctx.accumulate:
                g_base = g
            else:
                zero = zeros((), dtype=g.dtype, device=g.device)  # a recorded fill: ng.compile replays it
                g_base = IndexPut.apply(g, ctx.plan, zero, False, False)
        if ctx.needs_input_grad[2]:
            g_values = sum_to(Index.apply(g, ctx.plan), ctx.values_shape)
            if g_values.dtype != ctx.values_dtype:
                g_values = g_values.to(ctx.values_dtype)
        return g_base, None, g_values, None, None


def _value_tensor(value, target, op: str):
    """``value`` as a tensor for writing into ``target``; leading size-1 dims beyond the target are dropped."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (numbers.Number, np.bool_, np.number)):
        return scalar_tensor(value, dtype=target.dtype, device=target.device)
    if isinstance(value, np.ndarray):
        return tensor(value)
    raise TypeError(f"{op}: can't assign a {type(value).__name__} to a {target._type_name()}")


def _fit_values(values, out_shape: tuple, op: str):
    shape = values.shape
    while len(shape) > len(out_shape) and shape[0] == 1:
        shape = shape[1:]
    if shape != values.shape:
        values = values.reshape(shape)
    ok = len(shape) <= len(out_shape) and all(
        v == 1 or v == o for v, o in zip(reversed(shape), reversed(out_shape))
    )
    if not ok:
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {_shape_str(values.shape)} cannot be broadcast to indexing "
            f"result of shape {_shape_str(out_shape)} ({op})"
        )
    return values


# ---------------------------------------------------------------------------------------------- public API
def getitem(self, key):
    """``t[key]`` with ints, slices, None, Ellipsis, boolean masks and integer arrays (PyTorch semantics).

    Ints, slices, None and Ellipsis give a view sharing memory (and the version
    counter) with ``t``; integer arrays and masks gather a copy.

    >>> import numgrad as ng
    >>> x = ng.arange(6).reshape(2, 3)
    >>> x[1, 1:]
    tensor([4, 5])
    >>> x[:, [2, 0]]
    tensor([[2, 0],
            [5, 3]])
    """
    return Index.apply(self, _parse(self.shape, key))


def setitem(self, key, value) -> None:
    """``t[key] = value`` in place (value a tensor or number, broadcast); recorded for autograd.

    >>> import numgrad as ng
    >>> x = ng.zeros(2, 3)
    >>> x[0, [0, 2]] = 5.0
    >>> x
    tensor([[5., 0., 5.],
            [0., 0., 0.]])
    """
    plan = _parse(self.shape, key)
    _check_index_put_dtypes(self, value, plan)
    values = _fit_values(_value_tensor(value, self, "setitem"), plan.out_shape, "setitem")
    self._check_inplace("setitem")
    if is_grad_enabled() and (self.requires_grad or values.requires_grad):
        check_view_inplace(self, "setitem")
        out = IndexPut.apply(self, plan, values, False, True)
        if out._grad_fn is not None:
            self._rebase_history(out._grad_fn, 0)
        return
    _put(self._data, plan, values._data, False)
    self._bump_version()


def _check_index_put_dtypes(target, value, plan) -> None:
    """PyTorch casts a value written through slices, but not one written through index tensors; and refuses a
    value that shares memory with what it is written into (any of it through index tensors, part of it
    through slices)."""
    if not isinstance(value, Tensor):
        pass
    elif plan.adv:
        # the write computes both anyway: a pending (lazy) value or target is computed here.  The tensor itself
        # is always an overlap (PyTorch's same-TensorImpl check), even where its memory is too strided to compare
        if value is target or memory_overlap(target._data, value._data) != "none":
            raise RuntimeError(OVERLAP_MSG)
    elif value._buf is not None and target._buf is not None:
        if memory_overlap(_take(target._buf, plan), value._buf) == "partial":
            raise RuntimeError(OVERLAP_MSG)
    if plan.adv and isinstance(value, Tensor) and value.dtype != target.dtype:
        raise RuntimeError(
            "Index put requires the source and destination dtypes match, got "
            f"{torch_type_name(target.dtype)} for the destination and {torch_type_name(value.dtype)} for the source."
        )


def _index_plan_from_list(shape: tuple, indices) -> IndexPlan:
    return _parse(shape, tuple(indices))


def index_put(input, indices, values, accumulate: bool = False):
    """A copy of ``input`` with ``values`` written (or added) at ``indices`` (a tuple of index tensors).

    >>> import numgrad as ng
    >>> ng.index_put(ng.zeros(3), (ng.tensor([0, 0]),), ng.tensor(1.0), accumulate=True)
    tensor([2., 0., 0.])
    """
    plan = _index_plan_from_list(input.shape, indices)
    _check_index_put_dtypes(input, values, plan)
    values = _fit_values(_value_tensor(values, input, "index_put"), plan.out_shape, "index_put")
    return IndexPut.apply(input, plan, values, bool(accumulate), False)


def index_put_(self, indices, values, accumulate: bool = False):
    """In-place :func:`index_put`; returns ``self``.

    >>> import numgrad as ng
    >>> ng.zeros(3).index_put_((ng.tensor([1]),), ng.tensor(4.0))
    tensor([0., 4., 0.])
    """
    plan = _index_plan_from_list(self.shape, indices)
    _check_index_put_dtypes(self, values, plan)
    values = _fit_values(_value_tensor(values, self, "index_put_"), plan.out_shape, "index_put_")
    self._check_inplace("index_put")
    if is_grad_enabled() and (self.requires_grad or values.requires_grad):
        check_view_inplace(self, "index_put_")
        out = IndexPut.apply(self, plan, values, bool(accumulate), True)
        if out._grad_fn is not None:
            self._rebase_history(out._grad_fn, 0)
        return self
    _put(self._data, plan, values._data, bool(accumulate))
    self._bump_version()
    return self


def _wrap_dim(dim: int, ndim: int, op: str) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}(): Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim + n if dim < 0 else dim


def index_select(input, dim: int, index):
    """The entries of ``input`` at positions ``index`` (1-D int tensor) along ``dim``.

    >>> import numgrad as ng
    >>> ng.index_select(ng.tensor([[1, 2], [3, 4]]), 1, ng.tensor([1, 1]))
    tensor([[2, 2],
            [4, 4]])
    """
    if not isinstance(index, Tensor):
        raise TypeError(f"index_select(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index.dtype.name not in ("int32", "int64"):
        raise RuntimeError(f"index_select(): Expected dtype int32 or int64 for index (got {index.dtype.name})")
    if index.ndim > 1:
        raise IndexError(f"index_select(): Index is supposed to be a vector (got shape {_shape_str(index.shape)})")
    d = _wrap_dim(dim, input.ndim, "index_select")
    size = input.shape[d] if input.ndim else 1
    _backend.check_same_device("index_select", "index", index._data, input._data)
    idx = index._data.reshape(-1)
    flat = idx if idx.flags.c_contiguous else _contiguous(idx)
    if flat.size and _kernels(flat).check_bounds(flat, size) >= 0:
        raise IndexError(
            f"index out of range in self (index_select on dim {d} of size {size}, shape {_shape_str(input.shape)})"
        )
    if input.ndim == 0:
        return Index.apply(input, IndexPlan((), (), [], "IndexSelectBackward0")) if idx.size else input
    basic = (slice(None),) * input.ndim
    plan = IndexPlan(input.shape, basic, [(d, flat)], "IndexSelectBackward0")
    return Index.apply(input, plan)


# ------------------------------------------------------------------ gather / scatter_add along a dim
def _check_dim_index(op: str, input, dim: int, index, src=None) -> int:
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index.dtype.name not in ("int32", "int64"):
        raise RuntimeError(f"{op}(): Expected dtype int32/int64 for index (got {index.dtype.name})")
    d = _wrap_dim(dim, input.ndim, op)
    _backend.check_same_device(op, "index", index._data, input._data)
    if max(index.ndim, 1) != max(input.ndim, 1):
        raise RuntimeError(
            f"Index tensor must have the same number of dimensions as input tensor ({op}: index shape "
            f"{_shape_str(index.shape)}, input shape {_shape_str(input.shape)})"
        )
    ishape, xshape = index.shape or (1,), input.shape or (1,)
    for k in range(len(ishape)):
        if k != d and ishape[k] > xshape[k]:
            raise RuntimeError(
                f"Size does not match at dimension {k} expected index {_shape_str(index.shape)} to be no larger "
                f"than self {_shape_str(input.shape)} apart from dimension {d}"
            )
        if src is not None and ishape[k] > (src.shape or (1,))[k]:
            raise RuntimeError(
                f"Expected index {_shape_str(index.shape)} to be no larger than src {_shape_str(src.shape)} "
                f"apart from dimension {d} ({op})"
            )
    bad = _first_out_of_bounds(index, xshape[d])
    if bad is not None:
        raise RuntimeError(f"index {bad} is out of bounds for dimension {d} with size {xshape[d]}")
    return d


def _first_out_of_bounds(index, size: int):
    """The first entry of the int tensor ``index`` outside ``[0, size)`` (an int), or None when there is none."""
    if not index.numel():
        return None
    idx = index._data.reshape(-1) if index._data.flags.c_contiguous else _contiguous(index._data).reshape(-1)
    bad = _kernels(idx).check_bounds(idx, size)
    return None if bad < 0 else int(idx[bad].item())


def _dim_layout(arr: np.ndarray, index_shape: tuple, dim: int):
    """(flat, pre offsets, post offsets, dim stride) of ``arr`` walked over ``index_shape``."""
    K = _kernels(arr)
    flat, st = _flat(arr)
    pre = K.offsets(index_shape[:dim], st[:dim])
    post = K.offsets(index_shape[dim + 1:], st[dim + 1:])
    return flat, pre, post, st[dim]


def _pnq(shape: tuple, dim: int) -> tuple:
    return _prod(shape[:dim]), shape[dim], _prod(shape[dim + 1:])


def _index3(index: np.ndarray, dim: int) -> np.ndarray:
    idx = index if index.flags.c_contiguous else _contiguous(index)
    return idx.reshape(_pnq(idx.shape, dim))


class Gather(Function):
    node_name = "GatherBackward0"

    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.in_shape, ctx.dtype, ctx.dim = x.shape, x.dtype, dim
        ctx.save_for_backward(index)
        arr = x._data.reshape(x.shape or (1,))
        K = _kernels(arr)
        ishape = index.shape or (1,)
        out = empty_for((arr,), ishape, arr.dtype)
        if out.size:
            flat, pre, post, st = _dim_layout(arr, ishape, dim)
            P, N, Q = _pnq(ishape, dim)
            fn = K.gather_dim_parallel if K.use_parallel(out.size, P) else K.gather_dim
            fn(flat, pre, post, st, _index3(index._data.reshape(ishape), dim), out.reshape(P, N, Q))
        return Tensor(out.reshape(index.shape))

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        base = zeros(ctx.in_shape, dtype=ctx.dtype, device=g.device)
        return ScatterAdd.apply(base, ctx.dim, index, g, True), None, None


def _scatter_add_array(dst: np.ndarray, dim: int, index: np.ndarray, src: np.ndarray) -> None:
    K = _kernels(dst)
    ishape = index.shape
    if _prod(ishape) == 0:
        return
    got = K.flat_span(dst)
    if got is None:
        tmp = empty_for((dst,), dst.shape, dst.dtype)
        _copy_array(tmp, dst)
        _scatter_add_array(tmp, dim, index, src)
        _copy_array(dst, tmp)
        return
    flat, st = got
    pre = K.offsets(ishape[:dim], st[:dim])
    post = K.offsets(ishape[dim + 1:], st[dim + 1:])
    # the src entries the index covers, made dense in dst's dtype
    dense = empty_for((dst,), ishape, dst.dtype)
    _copy_array(dense, src[tuple(slice(0, n) for n in ishape)])
    P, N, Q = _pnq(ishape, dim)
    fn = K.scatter_add_dim_parallel if K.use_parallel(dense.size, P) else K.scatter_add_dim
    fn(flat, pre, post, st[dim], _index3(index, dim), dense.reshape(P, N, Q))


class ScatterAdd(Function):
    node_name = "ScatterAddBackward0"

    @staticmethod
    def forward(ctx, x, dim, index, src, inplace):
        ctx.dim, ctx.src_shape = dim, src.shape
        ctx.save_for_backward(index)
        shape1 = x.shape or (1,)
        if inplace:
            target = x._data
        else:
            target = empty_for((x._data,), x.shape, x.dtype.np)
            _copy_array(target, x._data)
        _scatter_add_array(target.reshape(shape1), dim, index._data.reshape(index.shape or (1,)),
                           src._data.reshape(src.shape or (1,)))
        if inplace:
            x._bump_version()
            return Tensor(target, _version=x._version)
        return Tensor(target)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        g_src = None
        if ctx.needs_input_grad[3]:
            g_src = gather(g, ctx.dim, index)
            if g_src.shape != ctx.src_shape:  # src larger than index: the uncovered part gets zeros

                widths = []
                for n_src, n_idx in zip(reversed(ctx.src_shape), reversed(g_src.shape)):
                    widths += [0, n_src - n_idx]
                g_src = pad(g_src, widths)
        return g, None, None, g_src, None


def gather(input, dim: int, index, *, sparse_grad: bool = False):
    """``out[i][j] = input[index[i][j]][j]`` (for ``dim=0``); ``index`` has ``input``'s number of dims.

    >>> import numgrad as ng
    >>> ng.gather(ng.tensor([[1, 2], [3, 4]]), 1, ng.tensor([[0, 0], [1, 0]]))
    tensor([[1, 1],
            [4, 3]])
    """
    d = _check_dim_index("gather", input, dim, index)
    return Gather.apply(input, d, index)


def _check_scatter_src(op: str, input, src):
    if not isinstance(src, Tensor):
        raise TypeError(f"{op}(): argument 'src' must be Tensor, not {type(src).__name__}")
    if src.dtype != input.dtype:
        raise RuntimeError(
            f"{op}(): Expected self.dtype to be equal to src.dtype (got {input.dtype.name} and {src.dtype.name})"
        )
    _backend.check_same_device(op, "src", src._data, input._data)
    if max(src.ndim, 1) != max(input.ndim, 1):
        raise RuntimeError(
            f"{op}(): Index tensor must have the same number of dimensions as src tensor "
            f"(src shape {_shape_str(src.shape)}, input shape {_shape_str(input.shape)})"
        )


def scatter_add(input, dim: int, index, src):
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim`` (duplicates accumulate).

    >>> import numgrad as ng
    >>> ng.scatter_add(ng.zeros(3), 0, ng.tensor([0, 0, 2]), ng.tensor([1., 2., 3.]))
    tensor([3., 0., 3.])
    """
    _check_scatter_src("scatter_add", input, src)
    d = _check_dim_index("scatter_add", input, dim, index, src)
    return ScatterAdd.apply(input, d, index, src, False)


def scatter_add_(self, dim: int, index, src):
    """In-place :func:`scatter_add`; returns ``self``.

    >>> import numgrad as ng
    >>> ng.zeros(2).scatter_add_(0, ng.tensor([1, 1]), ng.tensor([1., 1.]))
    tensor([0., 2.])
    """
    _check_scatter_src("scatter_add_", self, src)
    d = _check_dim_index("scatter_add_", self, dim, index, src)
    self._check_inplace("scatter_add")
    if is_grad_enabled() and (self.requires_grad or src.requires_grad):
        check_view_inplace(self, "scatter_add_")
        out = ScatterAdd.apply(self, d, index, src, True)
        if out._grad_fn is not None:
            self._rebase_history(out._grad_fn, 0)
        return self
    _scatter_add_array(self._data.reshape(self.shape or (1,)), d, index._data.reshape(index.shape or (1,)),
                       src._data.reshape(src.shape or (1,)))
    self._bump_version()
    return self


def take_along_dim(input, indices, dim: Optional[int] = None):
    """Values of ``input`` at ``indices`` along ``dim`` (other dims broadcast); flattened when ``dim`` is None.

    >>> import numgrad as ng
    >>> x = ng.tensor([[10., 30., 20.]])
    >>> ng.take_along_dim(x, ng.tensor([[1, 2]]), dim=1)
    tensor([[30., 20.]])
    """
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    d = _wrap_dim(dim, input.ndim, "take_along_dim")
    if input.ndim != indices.ndim:
        raise RuntimeError(
            f"torch.take_along_dim(): input and indices should have the same number of dimensions, but got "
            f"{input.ndim} dimensions for input, and {indices.ndim} dimensions for indices"
        )

    rest_in = tuple(1 if k == d else n for k, n in enumerate(input.shape))
    rest_idx = tuple(1 if k == d else n for k, n in enumerate(indices.shape))
    common = broadcast_shapes(rest_in, rest_idx)
    in_shape = tuple(input.shape[d] if k == d else n for k, n in enumerate(common))
    idx_shape = tuple(indices.shape[d] if k == d else n for k, n in enumerate(common))
    return gather(input.expand(*in_shape), d, indices.expand(*idx_shape))


# ------------------------------------------------------------------ masks, one_hot, nonzero
def _mask_and_value(op: str, input, mask, value):
    if not isinstance(mask, Tensor):
        raise TypeError(f"{op}(): argument 'mask' must be Tensor, not {type(mask).__name__}")
    if mask.dtype.name != "bool":
        raise RuntimeError(f"{op} only supports boolean masks, but got mask with dtype {mask.dtype.name}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(
                f"{op} only supports a 0-dimensional value tensor, but got tensor with {value.ndim} dimension(s)."
            )
        if value.dtype != input.dtype:
            value = value.to(input.dtype)
    else:
        value = scalar_tensor(value, dtype=input.dtype, device=input.device)
    return mask, value


def masked_fill(input, mask, value):
    """``value`` where ``mask`` (bool, broadcast) is True, ``input`` elsewhere.

    >>> import numgrad as ng
    >>> ng.masked_fill(ng.tensor([1., 2., 3.]), ng.tensor([True, False, True]), 0.0)
    tensor([0., 2., 0.])
    """
    mask, value = _mask_and_value("masked_fill", input, mask, value)
    out = where(mask, value, input)
    if out.grad_fn is not None:
        out.grad_fn._name = "MaskedFillBackward0"
    return out


def masked_fill_(self, mask, value):
    """In-place :func:`masked_fill`; ``mask`` must broadcast to ``self``'s shape.

    >>> import numgrad as ng
    >>> ng.ones(3).masked_fill_(ng.tensor([False, True, False]), 5.0)
    tensor([1., 5., 1.])
    """
    mask, value = _mask_and_value("masked_fill_", self, mask, value)
    if broadcast_shapes(self.shape, mask.shape) != self.shape:
        raise RuntimeError(
            f"masked_fill_: the mask of shape {_shape_str(mask.shape)} must be broadcastable to the tensor of "
            f"shape {_shape_str(self.shape)}"
        )
    self._check_inplace("masked_fill")
    if is_grad_enabled() and (self.requires_grad or value.requires_grad):
        check_view_inplace(self, "masked_fill_")
    result = masked_fill(self, mask, value)
    copy_into(self, result)
    if result._grad_fn is not None:
        self._rebase_history(result._grad_fn, 0)
    return self


def one_hot(tensor, num_classes: int = -1):
    """Rows of ``num_classes`` zeros with a 1 at each class index (int64 in, int64 out).

    >>> import numgrad as ng
    >>> ng.one_hot(ng.tensor([0, 2]), 3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    if not isinstance(tensor, Tensor) or tensor.dtype.name != "int64":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    arr = tensor._data
    if arr.size == 0:
        if num_classes < 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        return Tensor(_backend.full_for((arr,), arr.shape + (num_classes,), np.int64, 0))
    flat = arr.reshape(-1) if arr.flags.c_contiguous else _contiguous(arr).reshape(-1)
    if num_classes < 0:
        # the output's shape depends on the largest class: read it (as PyTorch does) through a tensor, so that
        # ng.compile sees the read and does not replay a shape computed from one call's data
        num_classes = max(int(Tensor(reduce_array(flat, [0], "amax", np.int64)).item()), -1) + 1
    # the range check is one kernel returning its answer: ng.compile checks it again on every replay (the
    # fill below writes out of bounds for a class outside [0, num_classes))
    if _kernels(flat).check_bounds(flat, num_classes) >= 0:
        low = int(reduce_array(flat, [0], "amin", np.int64).item())
        if low < 0:
            raise RuntimeError("Class values must be non-negative.")
        high = int(reduce_array(flat, [0], "amax", np.int64).item())
        raise RuntimeError(f"Class values must be smaller than num_classes. (got class {high}, num_classes "
                           f"{num_classes})")
    out = _backend.full_for((flat,), (flat.size, num_classes), np.int64, 0)
    _kernels(out).one_hot_fill(flat, out)
    return Tensor(out.reshape(arr.shape + (num_classes,)))


def nonzero(input, *, as_tuple: bool = False):
    """Indices of the nonzero elements: an ``(n, ndim)`` int64 tensor, or one 1-D tensor per dim.

    >>> import numgrad as ng
    >>> ng.nonzero(ng.tensor([[0, 1], [2, 0]]))
    tensor([[0, 1],
            [1, 0]])
    """
    arr = input._data
    positions = _nonzero_array(arr.reshape(arr.shape or (1,)) if as_tuple else arr)
    if as_tuple:
        return tuple(Tensor(_contiguous(positions[:, j])) for j in range(positions.shape[1]))
    return Tensor(positions)


TENSOR_METHODS = {
    "__getitem__": getitem, "__setitem__": setitem, "gather": gather, "scatter_add": scatter_add,
    "scatter_add_": scatter_add_, "index_select": index_select, "masked_fill": masked_fill,
    "masked_fill_": masked_fill_, "take_along_dim": take_along_dim, "nonzero": nonzero,
    "index_put": index_put, "index_put_": index_put_,
}
PUBLIC = ("gather", "scatter_add", "index_select", "masked_fill", "one_hot", "take_along_dim", "nonzero",
          "index_put")
