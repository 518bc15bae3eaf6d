"""Writes at computed positions: scatter, scatter_reduce, index_add, index_copy, index_fill,
masked_select, masked_scatter, take, and their in-place forms.

Each builds the full advanced index of the positions it writes (the index along one dim, a
broadcast ``arange`` along the others) and runs ``index_put``/indexing (``numgrad/ops/indexing.py``),
so the gradients are PyTorch's: the written values get the incoming gradient gathered at
their positions, the overwritten entries of the input get zero, accumulated entries pass it on.
With duplicate positions a non-accumulating write keeps one of the values, which one is
unspecified, as in PyTorch. ``scatter_reduce`` with ``prod``/``amax``/``amin`` runs one kernel that combines
the values into their positions in order (``ScatterCombine``).
"""
from __future__ import annotations

import numbers

from .. import _dtypes
from ..tensor import Tensor
from ..creation import arange, full_like, ones_like, scalar_tensor, zeros_like
from . import elementwise_functions as pw
from .elementwise import broadcast_shapes
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..kernels import backend as _backend
from ..kernels.backend import scatter_reduce_kernels
from .indexing import _first_out_of_bounds, _wrap_dim, gather, index_put, index_put_, masked_fill, scatter_add
from .autocast_policy import autocast_op


def _check_index(op: str, index, want_1d: bool = False) -> None:
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index.dtype.name not in ("int64", "int32"):
        raise RuntimeError(f"{op}(): Expected dtype int64 for index (got {index.dtype.name})")
    if want_1d and index.ndim > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector (got shape {list(index.shape)})")


def _dim_positions(dim: int, index, shape: tuple, device) -> tuple:
    """The advanced index that addresses ``index`` along ``dim`` and every position of ``shape`` elsewhere."""
    n = len(shape)
    out = []
    for k in range(n):
        if k == dim:
            out.append(index)
        else:
            view = [1] * n
            view[k] = shape[k]
            out.append(arange(shape[k], device=device).reshape(*view))
    return tuple(out)


def _scatter_positions(op: str, input, dim: int, index, src=None) -> tuple:
    _check_index(op, index)
    d = _wrap_dim(dim, input.ndim, op)
    if max(index.ndim, 1) != max(input.ndim, 1):
        raise RuntimeError(f"Index tensor must have the same number of dimensions as self tensor ({op}: index shape "
                           f"{list(index.shape)}, self shape {list(input.shape)})")
    if src is not None and max(src.ndim, 1) != max(index.ndim, 1):
        # PyTorch: a RuntimeError, or an IndexError from looking up a dimension that src lacks
        error = RuntimeError if src.ndim > index.ndim else IndexError
        raise error(f"Index tensor must have the same number of dimensions as src tensor ({op}: index shape "
                    f"{list(index.shape)}, src shape {list(src.shape)}; index, src and self need the same "
                    "number of dimensions)")
    for k, (ni, nx) in enumerate(zip(index.shape, input.shape)):
        if k != d and ni > nx:
            raise RuntimeError(f"Size does not match at dimension {k} expected index {list(index.shape)} to be no "
                               f"larger than self {list(input.shape)} apart from dimension {d} ({op}: index is "
                               "not broadcast; slice it to fit self)")
        if src is not None and ni > (src.shape or (1,))[k]:
            raise RuntimeError(f"Expected index {list(index.shape)} to be no larger than src {list(src.shape)} "
                               f"apart from dimension {d} ({op}: index and src are not broadcast; give src at "
                               "least index's size in every dimension)")
    size = input.shape[d] if input.ndim else 1
    bad = _first_out_of_bounds(index, size)
    if bad is not None:
        raise RuntimeError(f"index {bad} is out of bounds for dimension {d} with size {size} ({op}: index values "
                           f"must lie in [0, {size}), negative indices are not wrapped)")
    if input.ndim == 0:
        return d, ()
    return d, _dim_positions(d, index, index.shape, input.device)


def _covered(src, index):
    """The part of ``src`` that ``index`` covers (``src`` may be larger along every dim)."""
    if tuple(src.shape) == tuple(index.shape):
        return src
    return src[tuple(slice(0, n) for n in index.shape)]


def _src_or_value(op: str, input, src, value):
    if src is not None and value is not None:
        raise TypeError(f"{op}(): give either src or value, not both")
    if src is None:
        if value is None:
            raise TypeError(f"{op}() missing 1 required argument: 'src' or 'value'")
        src = value
    if isinstance(src, Tensor):
        if src.ndim and src.dtype != input.dtype:
            raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype (got {input.dtype.name} and "
                               f"{src.dtype.name})")
        return src
    if not isinstance(src, numbers.Number):
        raise TypeError(f"{op}(): argument 'src' must be Tensor or a number, not {type(src).__name__}")
    return scalar_tensor(src, dtype=input.dtype, device=input.device)


def scatter(input, dim: int, index, src=None, *, value=None, reduce=None) -> Tensor:
    """A copy of ``input`` with ``src[i][j]`` written at ``[index[i][j]][j]`` (for ``dim=0``); ``src`` may be a
    number. ``reduce='add'`` adds instead of writing.

    >>> import numgrad as ng
    >>> ng.scatter(ng.zeros(2, 3), 0, ng.tensor([[1, 0, 1]]), ng.tensor([[1., 2., 3.]]))
    tensor([[0., 2., 0.],
            [1., 0., 3.]])
    """
    src = _src_or_value("scatter", input, src, value)
    if reduce not in (None, "add"):
        raise NotImplementedError(f"scatter(reduce={reduce!r}): only reduce='add' is supported (or use "
                                  "scatter_reduce with 'sum' or 'mean')")
    d, positions = _scatter_positions("scatter", input, dim, index, src if src.ndim else None)
    if index.numel() == 0:
        return input.clone()
    values = _covered(src, index) if src.ndim else src
    return index_put(input, positions, values, accumulate=reduce == "add") if positions else (
        values.reshape(()).clone() if reduce is None else input + values)


def scatter_(self, dim: int, index, src=None, *, value=None, reduce=None) -> Tensor:
    """In-place :func:`scatter`.

    >>> import numgrad as ng
    >>> ng.zeros(3).scatter_(0, ng.tensor([2]), 5.0)
    tensor([0., 0., 5.])
    """
    src = _src_or_value("scatter_", self, src, value)
    if reduce not in (None, "add"):
        raise NotImplementedError(f"scatter_(reduce={reduce!r}): only reduce='add' is supported")
    d, positions = _scatter_positions("scatter_", self, dim, index, src if src.ndim else None)
    if index.numel() == 0:
        return self
    values = _covered(src, index) if src.ndim else src
    if not positions:
        return self.copy_(values if reduce is None else self + values)
    return index_put_(self, positions, values, accumulate=reduce == "add")


def scatter_reduce(input, dim: int, index, src, reduce: str, *, include_self: bool = True) -> Tensor:
    """Reduce ``src`` into a copy of ``input`` at the positions of :func:`scatter`: ``reduce='sum'``, ``'prod'``,
    ``'mean'``, ``'amax'`` or ``'amin'`` (with ``include_self=False`` the written positions forget their old
    value). Gradients are PyTorch's: an extreme's gradient is shared equally by every element equal to it, and
    a product's gradient is the product of the other factors (exact when factors are zero).

    >>> import numgrad as ng
    >>> ng.scatter_reduce(ng.ones(2), 0, ng.tensor([0, 0, 1]), ng.tensor([1., 3., 5.]), "mean")
    tensor([1.6667, 3.0000])
    >>> ng.scatter_reduce(ng.full((2,), 2.), 0, ng.tensor([0, 0, 1]), ng.tensor([3., 4., 5.]), "prod")
    tensor([24., 10.])
    """
    if reduce not in ("sum", "mean", "prod", "amax", "amin"):
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_reduce(): argument 'src' must be Tensor, not {type(src).__name__}")
    d, positions = _scatter_positions("scatter_reduce", input, dim, index, src)
    if reduce in ("prod", "amax", "amin") and src.dtype != input.dtype:
        raise RuntimeError(f"scatter_reduce(): Expected self.dtype to be equal to src.dtype (got "
                           f"{input.dtype.name} and {src.dtype.name}; convert src with .to(self.dtype))")
    if index.numel() == 0:
        return input.clone()
    values = _covered(src, index)
    if reduce in ("prod", "amax", "amin"):
        if input.dtype.is_16bit_float:
            # the kernel runs in float32 and the result is rounded once: amax/amin are exact, a product can
            # differ in the last bit from PyTorch's, which rounds after every factor
            return ScatterCombine.apply(input.float(), d, index, values.float(), reduce,
                                        bool(include_self)).to(input.dtype)
        return ScatterCombine.apply(input, d, index, values, reduce, bool(include_self))
    base = input if include_self else index_put(input, positions, scalar_tensor(0, dtype=input.dtype,
                                                                                device=input.device))
    total = index_put(base, positions, values, accumulate=True)
    if reduce == "sum":
        return total
    ones = ones_like(values)
    start = 1 if include_self else 0
    counts = index_put(full_like(input, start), positions, ones, accumulate=True)
    counts = pw.where(pw.eq(counts, 0), 1, counts)  # untouched positions with include_self=False keep input
    if input.dtype.is_floating_point:
        return total / counts
    return pw.floor_divide(total, counts)


class ScatterCombine(Function):
    """scatter_reduce with prod/amax/amin: the kernel of the data's device multiplies the values into their
    positions or keeps the running extremes, in order; the backward is PyTorch's (``scatter_reduce_backward``),
    written with gather/scatter ops (so it is differentiable again)."""

    @staticmethod
    def forward(ctx, x, dim, index, values, reduce, include_self):
        ctx.node_name = "ScatterReduceBackward0"
        ctx.dim, ctx.reduce, ctx.include_self = dim, reduce, include_self
        K = scatter_reduce_kernels(x._data, "scatter_reduce")
        out = _backend.contiguous(x._data).copy() if x._data.flags.c_contiguous else _backend.contiguous(x._data)
        if x.ndim:
            strides = [1] * x.ndim
            for k in range(x.ndim - 2, -1, -1):
                strides[k] = strides[k + 1] * x.shape[k + 1]
            positions = _dim_positions(dim, index, index.shape, x.device)
            flat = positions[0] * strides[0]
            for p, s in zip(positions[1:], strides[1:]):
                flat = flat + p * s
            flat = flat.expand(*index.shape)
        else:  # a 0-d input: every index is 0 (checked), the flat position itself
            flat = index
        targets = _backend.contiguous(flat.to(_dtypes.int64)._data).reshape(-1)
        vals = _backend.contiguous(values._data).reshape(-1)
        op = {"amax": K.MAX, "amin": K.MIN, "prod": K.PROD}[reduce]
        K.scatter_combine(out.reshape(-1), targets, vals, op, include_self)
        result = Tensor(out)
        ctx.save_for_backward(x, index, values, result)
        return result

    @staticmethod
    def backward(ctx, g):
        x, index, values, result = ctx.saved_tensors
        d = ctx.dim
        if ctx.reduce == "prod":
            grad_self, grad_src = _prod_backward(g, x, d, index, values, result, ctx.include_self)
            if not ctx.include_self:
                grad_self = scatter(grad_self, d, index, 0.0)
            return grad_self, None, None, grad_src, None, None
        value = gather(result, d, index)
        self_is_result = pw.eq(x, result).to(x.dtype)
        src_is_result = pw.eq(values, value).to(x.dtype)
        n_to_distribute = scatter_add(self_is_result, d, index, src_is_result)
        distributed = g / n_to_distribute
        grad_self = self_is_result * distributed
        grad_src = src_is_result * gather(distributed, d, index)
        if not ctx.include_self:
            grad_self = scatter(grad_self, d, index, 0.0)
        return grad_self, None, None, grad_src, None, None


def _prod_backward(g, x, d: int, index, values, result, include_self: bool):
    """PyTorch's ``scatter_reduce_backward`` for ``prod``: each factor's gradient is the product of the other
    factors of its position. Dividing the result by the factor fails for zeros, so a zero of ``x`` gets the
    product of its position's values (``x``'s zeros replaced by 1), and a value that is its position's only zero
    gets the product of the others (itself replaced by 1); with several zeros at a position every factor
    there gets 0."""
    masked_self = masked_fill(x, pw.eq(x, 0), 1)
    masked_self_result = scatter_reduce(masked_self, d, index, values, "prod", include_self=include_self)
    grad_self = g * masked_self_result / masked_self
    src_zero = pw.eq(values, 0)
    src_num_zeros = gather(scatter_add(zeros_like(x), d, index, src_zero.to(x.dtype)), d, index)
    src_single_zero = pw.logical_and(src_zero, pw.eq(src_num_zeros, 1))
    masked_src = masked_fill(values, src_single_zero, 1)
    masked_src_result = scatter_reduce(x, d, index, masked_src, "prod", include_self=include_self)
    grad_src = pw.where(src_single_zero, gather(g * masked_src_result, d, index),
                        gather(g * result, d, index) / masked_fill(values, src_zero, 1))
    if is_grad_enabled() and bool(pw.gt(src_num_zeros, 1).any().item()):
        grad_src = _DelayedError.apply(grad_src, "scatter_reduce(): Double backward is unsupported for src when "
                                       ">1 zeros in src are scattered to the same position in self")
    return grad_self, grad_src


class _DelayedError(Function):
    """Passes its input through; differentiating it raises ``message`` (PyTorch's ``DelayedError`` node)."""

    @staticmethod
    def forward(ctx, x, message):
        ctx.node_name = "DelayedError"
        ctx.message = message
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError(ctx.message)


def _index_along(op: str, input, dim: int, index, source=None):
    _check_index(op, index, want_1d=True)
    d = _wrap_dim(dim, input.ndim, op)
    if source is not None:
        if not isinstance(source, Tensor):
            raise TypeError(f"{op}(): argument 'source' must be Tensor, not {type(source).__name__}")
        if source.ndim != input.ndim and not (source.ndim == 0 and input.ndim <= 1):
            raise IndexError(f"{op}(): Index is supposed to be a vector, and source and self should have the same "
                             f"number of dims (source shape {list(source.shape)}, self shape {list(input.shape)})")
        n = index.numel()
        if input.ndim and source.shape[d] != n:
            raise RuntimeError(f"{op}(): Number of indices ({n}) should be equal to source.size(dim) "
                               f"({source.shape[d]})")
        shape = tuple(source.shape)
    else:
        shape = tuple(input.shape[:d]) + (index.numel(),) + tuple(input.shape[d + 1:])
    if input.ndim == 0:
        return d, ()
    view = [1] * input.ndim
    view[d] = index.numel()
    return d, _dim_positions(d, index.reshape(-1).reshape(*view), shape, input.device)


def index_add(input, dim: int, index, source, *, alpha=1) -> Tensor:
    """A copy of ``input`` with ``alpha * source`` added at positions ``index`` (1-D) along ``dim``
    (duplicates accumulate).

    >>> import numgrad as ng
    >>> ng.index_add(ng.zeros(3), 0, ng.tensor([0, 0, 2]), ng.tensor([1., 2., 3.]))
    tensor([3., 0., 3.])
    """
    _, positions = _index_along("index_add", input, dim, index, source)
    values = source if alpha == 1 else source * alpha
    return index_put(input, positions, values, accumulate=True) if positions else input + values.reshape(())


def index_add_(self, dim: int, index, source, *, alpha=1) -> Tensor:
    """In-place :func:`index_add`."""
    _, positions = _index_along("index_add_", self, dim, index, source)
    values = source if alpha == 1 else source * alpha
    return index_put_(self, positions, values, accumulate=True) if positions else self.add_(values.reshape(()))


@autocast_op
def index_copy(input, dim: int, index, source) -> Tensor:
    """A copy of ``input`` with the slices of ``source`` written at positions ``index`` along ``dim``.

    >>> import numgrad as ng
    >>> ng.index_copy(ng.zeros(3), 0, ng.tensor([2]), ng.tensor([7.]))
    tensor([0., 0., 7.])
    """
    _, positions = _index_along("index_copy", input, dim, index, source)
    return index_put(input, positions, source) if positions else source.reshape(()).clone()


def index_copy_(self, dim: int, index, source) -> Tensor:
    """In-place :func:`index_copy`."""
    _, positions = _index_along("index_copy_", self, dim, index, source)
    return index_put_(self, positions, source) if positions else self.copy_(source.reshape(()))


def _fill_value(op: str, input, value):
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"{op}(): only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        return value.to(input.dtype) if value.dtype != input.dtype else value
    return scalar_tensor(value, dtype=input.dtype, device=input.device)


def index_fill(input, dim: int, index, value) -> Tensor:
    """A copy of ``input`` with ``value`` written at positions ``index`` along ``dim``.

    >>> import numgrad as ng
    >>> ng.index_fill(ng.ones(2, 2), 1, ng.tensor([0]), -1.0)
    tensor([[-1.,  1.],
            [-1.,  1.]])
    """
    _, positions = _index_along("index_fill", input, dim, index)
    value = _fill_value("index_fill", input, value)
    return index_put(input, positions, value) if positions else value.clone()


def index_fill_(self, dim: int, index, value) -> Tensor:
    """In-place :func:`index_fill`."""
    _, positions = _index_along("index_fill_", self, dim, index)
    value = _fill_value("index_fill_", self, value)
    return index_put_(self, positions, value) if positions else self.fill_(value)


def _check_mask(op: str, mask) -> None:
    if not isinstance(mask, Tensor):
        raise TypeError(f"{op}(): argument 'mask' must be Tensor, not {type(mask).__name__}")
    if mask.dtype.name != "bool":
        raise RuntimeError(f"{op}: expected BoolTensor for mask (got {mask.dtype.name})")


def masked_select(input, mask) -> Tensor:
    """The entries of ``input`` where ``mask`` (bool; both broadcast) is True, as a 1-D tensor.

    >>> import numgrad as ng
    >>> ng.masked_select(ng.tensor([[1., 2.], [3., 4.]]), ng.tensor([True, False]))
    tensor([1., 3.])
    """
    _check_mask("masked_select", mask)
    shape = broadcast_shapes(input.shape, mask.shape)
    x = input.expand(*shape) if tuple(input.shape) != shape else input
    m = mask.expand(*shape) if tuple(mask.shape) != shape else mask
    return x[m] if shape else x.reshape(1)[m.reshape(1)]


def _masked_scatter_values(op: str, input, mask, source):
    _check_mask(op, mask)
    if not isinstance(source, Tensor):
        raise TypeError(f"{op}(): argument 'source' must be Tensor, not {type(source).__name__}")
    if source.dtype != input.dtype:
        raise RuntimeError(f"{op}: expected self and source to have same dtypes but got {input.dtype.name} and "
                           f"{source.dtype.name}")
    m = mask.expand(*input.shape) if tuple(mask.shape) != tuple(input.shape) else mask
    n = int(m.sum().item())
    if n > source.numel():
        raise RuntimeError(f"{op}: Number of elements of source < number of ones in mask ({source.numel()} < {n})")
    return m, source.reshape(-1)[:n]


def masked_scatter(input, mask, source) -> Tensor:
    """A copy of ``input`` whose entries where ``mask`` is True take the first elements of ``source``, in order.

    >>> import numgrad as ng
    >>> ng.masked_scatter(ng.zeros(3), ng.tensor([True, False, True]), ng.tensor([1., 2., 3.]))
    tensor([1., 0., 2.])
    """
    m, values = _masked_scatter_values("masked_scatter", input, mask, source)
    out = input.clone()
    out[m] = values
    return out


def masked_scatter_(self, mask, source) -> Tensor:
    """In-place :func:`masked_scatter`."""
    m, values = _masked_scatter_values("masked_scatter_", self, mask, source)
    self[m] = values
    return self


def take(input, index) -> Tensor:
    """The entries of the flattened ``input`` at ``index`` (result shaped like ``index``).

    >>> import numgrad as ng
    >>> ng.take(ng.tensor([[4., 5.], [6., 7.]]), ng.tensor([0, 3]))
    tensor([4., 7.])
    """
    _check_index("take", index)
    return input.reshape(-1)[index]


def put(input, index, source, accumulate: bool = False) -> Tensor:
    """A copy of ``input`` with ``source`` written (or added) at the flat positions ``index`` (``take``'s inverse).

    >>> import numgrad as ng
    >>> ng.put(ng.zeros(2, 2), ng.tensor([0, 3]), ng.tensor([1., 2.]))
    tensor([[1., 0.],
            [0., 2.]])
    """
    _check_index("put", index)
    if not isinstance(source, Tensor):
        raise TypeError(f"put(): argument 'source' must be Tensor, not {type(source).__name__}")
    if source.numel() != index.numel():
        raise RuntimeError(f"put_(): Expected source and index to have the same number of elements, but got "
                           f"source.numel() = {source.numel()}, index.numel() = {index.numel()}")
    flat = index_put(input.reshape(-1), (index.reshape(-1),), source.reshape(-1), accumulate=bool(accumulate))
    return flat.reshape(*input.shape)


def _put_(self, index, source, accumulate: bool = False):
    """In-place :func:`put`."""
    return self.copy_(put(self, index, source, accumulate))


def _scatter_reduce_(self, dim: int, index, src, reduce: str, *, include_self: bool = True):
    """In-place :func:`scatter_reduce`."""
    return self.copy_(scatter_reduce(self, dim, index, src, reduce, include_self=include_self))


TENSOR_METHODS = {
    "scatter": scatter, "scatter_": scatter_, "scatter_reduce": scatter_reduce, "scatter_reduce_": _scatter_reduce_,
    "index_add": index_add, "index_add_": index_add_, "index_copy": index_copy, "index_copy_": index_copy_,
    "index_fill": index_fill, "index_fill_": index_fill_, "masked_select": masked_select,
    "masked_scatter": masked_scatter, "masked_scatter_": masked_scatter_, "take": take, "put": put, "put_": _put_,
}
PUBLIC = ("scatter", "scatter_reduce", "index_add", "index_copy", "index_fill", "masked_select", "masked_scatter",
          "take", "put")
