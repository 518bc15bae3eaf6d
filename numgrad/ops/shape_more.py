"""More shape ops, written with the existing views, cat, narrow and index_select (so gradients and devices
come from those): roll, tensor_split, hsplit/vsplit/dsplit, hstack/vstack/dstack/column_stack/row_stack,
atleast_1d/2d/3d, broadcast_tensors, meshgrid, cartesian_prod, repeat_interleave, swapaxes/swapdims,
ravel, unflatten, select, fliplr/flipud, rot90.
"""
from __future__ import annotations

import numbers
import warnings
from typing import Optional, Sequence, Union

import numpy as np

from ..autograd.function import Function
from ..tensor import Tensor
from ..creation import _finish, arange, zeros
from .elementwise import broadcast_shapes
from .indexing import _wrap_dim, index_select
from .scatter import index_add
from .shape import cat, flip, movedim, narrow, stack
from .tensor_storage import _root, _strided_array
from .views import transpose


def _tensors(args, op: str) -> tuple:
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = tuple(args[0])
    for t in args:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): expected Tensors, got {type(t).__name__}")
    return tuple(args)


def roll(input, shifts: Union[int, Sequence[int]], dims: Union[int, Sequence[int], None] = None) -> Tensor:
    """Shift elements along ``dims`` cyclically by ``shifts`` (flattened when ``dims`` is None).

    >>> import numgrad as ng
    >>> ng.roll(ng.tensor([1, 2, 3, 4]), 1)
    tensor([4, 1, 2, 3])
    """
    if dims is None:
        if not isinstance(shifts, numbers.Integral):
            if len(shifts) != 1:
                raise RuntimeError(f"roll(): with dims=None, shifts must be a single int (got {shifts})")
            shifts = shifts[0]
        return roll(input.reshape(-1), shifts, 0).reshape(*input.shape)
    shifts = (shifts,) if isinstance(shifts, numbers.Integral) else tuple(shifts)
    dims = (dims,) if isinstance(dims, numbers.Integral) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    out = input
    for s, d in zip(shifts, dims):
        d = _wrap_dim(d, input.ndim, "roll")
        n = out.shape[d]
        s = s % n if n else 0
        if s:
            out = cat([narrow(out, d, n - s, s), narrow(out, d, 0, n - s)], d)
    return out if out is not input else input.clone()


def tensor_split(input, indices_or_sections, dim: int = 0) -> tuple:
    """Split along ``dim`` into ``n`` nearly equal parts (the first ones one longer), or at the given indices.

    >>> import numgrad as ng
    >>> [t.tolist() for t in ng.tensor_split(ng.arange(5), 2)]
    [[0, 1, 2], [3, 4]]
    """
    d = _wrap_dim(dim, input.ndim, "tensor_split")
    n = input.shape[d]
    if isinstance(indices_or_sections, Tensor):
        indices_or_sections = indices_or_sections.tolist()
    if isinstance(indices_or_sections, numbers.Integral):
        k = int(indices_or_sections)
        if k <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {k}")
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        bounds, start = [], 0
        for size in sizes:
            bounds.append((start, start + size))
            start += size
    else:
        cuts = [0] + [min(max(int(i) if i >= 0 else int(i) + n, 0), n) for i in indices_or_sections] + [n]
        bounds = [(a, max(a, b)) for a, b in zip(cuts[:-1], cuts[1:])]
    return tuple(narrow(input, d, a, b - a) for a, b in bounds)


def _split_dim(input, sections, dim: int, op: str, min_ndim: int) -> tuple:
    if input.ndim < min_ndim:
        raise RuntimeError(f"torch.{op} requires a tensor with at least {min_ndim} dimension, but got a tensor with "
                           f"{input.ndim} dimensions!")
    if isinstance(sections, numbers.Integral) and input.shape[dim] % sections:
        raise RuntimeError(f"torch.{op} attempted to split along dimension {dim}, but the size of the dimension "
                           f"{input.shape[dim]} is not divisible by the split_size {sections}!")
    return tensor_split(input, sections, dim)


def hsplit(input, sections) -> tuple:
    """:func:`tensor_split` along dim 1 (dim 0 for 1-D tensors); ``n`` must divide the size.

    >>> import numgrad as ng
    >>> len(ng.hsplit(ng.ones(2, 4), 2))
    2
    """
    return _split_dim(input, sections, 1 if input.ndim > 1 else 0, "hsplit", 1)


def vsplit(input, sections) -> tuple:
    """:func:`tensor_split` along dim 0 of a tensor with at least 2 dims.

    >>> import numgrad as ng
    >>> len(ng.vsplit(ng.ones(4, 2), [1]))
    2
    """
    return _split_dim(input, sections, 0, "vsplit", 2)


def dsplit(input, sections) -> tuple:
    """:func:`tensor_split` along dim 2 of a tensor with at least 3 dims.

    >>> import numgrad as ng
    >>> len(ng.dsplit(ng.ones(1, 1, 4), 2))
    2
    """
    return _split_dim(input, sections, 2, "dsplit", 3)


def _one_or_tuple(args, fn):
    many = len(args) != 1 or isinstance(args[0], (list, tuple))
    out = tuple(fn(t) for t in _tensors(args, fn.__name__))
    return out if many else out[0]


def _at_least_1d(t):
    return t.reshape(1) if t.ndim == 0 else t


def _at_least_2d(t):
    return t.reshape(1, -1) if t.ndim < 2 else t


def _at_least_3d(t):
    if t.ndim == 0:
        return t.reshape(1, 1, 1)
    if t.ndim == 1:
        return t.reshape(1, -1, 1)
    if t.ndim == 2:
        return t.unsqueeze(-1)
    return t


def atleast_1d(*tensors):
    """Each tensor with at least one dim (0-d becomes shape (1,)); one tensor in, one out.

    >>> import numgrad as ng
    >>> ng.atleast_1d(ng.tensor(3.)).shape
    (1,)
    """
    return _one_or_tuple(tensors, _at_least_1d)


def atleast_2d(*tensors):
    """Each tensor with at least two dims (a 1-D tensor becomes a row).

    >>> import numgrad as ng
    >>> ng.atleast_2d(ng.ones(3)).shape
    (1, 3)
    """
    return _one_or_tuple(tensors, _at_least_2d)


def atleast_3d(*tensors):
    """Each tensor with at least three dims (1-D ``(n,)`` becomes ``(1, n, 1)``, 2-D gets a last dim).

    >>> import numgrad as ng
    >>> ng.atleast_3d(ng.ones(2, 3)).shape
    (2, 3, 1)
    """
    return _one_or_tuple(tensors, _at_least_3d)


def hstack(tensors) -> Tensor:
    """Concatenate along dim 1 (dim 0 when the tensors are 1-D).

    >>> import numgrad as ng
    >>> ng.hstack([ng.ones(2), ng.zeros(1)])
    tensor([1., 1., 0.])
    """
    ts = [_at_least_1d(t) for t in _tensors((tensors,), "hstack")]
    return cat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    """Concatenate along dim 0 after making every tensor at least 2-D.

    >>> import numgrad as ng
    >>> ng.vstack([ng.ones(2), ng.zeros(2)]).shape
    (2, 2)
    """
    return cat([_at_least_2d(t) for t in _tensors((tensors,), "vstack")], 0)


row_stack = vstack


def dstack(tensors) -> Tensor:
    """Concatenate along dim 2 after making every tensor at least 3-D.

    >>> import numgrad as ng
    >>> ng.dstack([ng.ones(2), ng.zeros(2)]).shape
    (1, 2, 2)
    """
    return cat([_at_least_3d(t) for t in _tensors((tensors,), "dstack")], 2)


def column_stack(tensors) -> Tensor:
    """Stack 0-d/1-D tensors as columns (and concatenate 2-D ones along dim 1).

    >>> import numgrad as ng
    >>> ng.column_stack([ng.ones(2), ng.zeros(2)]).shape
    (2, 2)
    """
    ts = [t.reshape(-1, 1) if t.ndim < 2 else t for t in _tensors((tensors,), "column_stack")]
    return cat(ts, 1)


def broadcast_tensors(*tensors) -> tuple:
    """The tensors expanded to their common broadcast shape (views).

    >>> import numgrad as ng
    >>> [t.shape for t in ng.broadcast_tensors(ng.ones(2, 1), ng.ones(3))]
    [(2, 3), (2, 3)]
    """
    ts = _tensors(tensors, "broadcast_tensors")
    shape = broadcast_shapes(*(t.shape for t in ts))
    return tuple(t.expand(*shape) if tuple(t.shape) != shape else t for t in ts)


def meshgrid(*tensors, indexing: Optional[str] = None) -> tuple:
    """Coordinate grids from 1-D tensors: ``indexing='ij'`` gives shape ``(len(t0), len(t1), ...)``,
    ``'xy'`` swaps the first two (Cartesian, as NumPy's default).

    >>> import numgrad as ng
    >>> x, y = ng.meshgrid(ng.arange(3), ng.arange(2), indexing='xy')
    >>> x.shape
    (2, 3)
    """
    ts = _tensors(tensors, "meshgrid")
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
                      UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {indexing}")
    for t in ts:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t.ndim}D")
    swap = indexing == "xy" and len(ts) >= 2
    order = [1, 0] + list(range(2, len(ts))) if swap else list(range(len(ts)))
    grid_inputs = [ts[i].reshape(-1) for i in order]
    shape = tuple(t.shape[0] for t in grid_inputs)
    outs = []
    for k, t in enumerate(grid_inputs):
        view = [1] * len(shape)
        view[k] = shape[k]
        outs.append(t.reshape(*view).expand(*shape))
    return tuple(outs[order.index(i)] for i in range(len(ts)))


def cartesian_prod(*tensors) -> Tensor:
    """Every combination of the elements of the 1-D tensors, one per row (a 1-D input comes back as is).

    >>> import numgrad as ng
    >>> ng.cartesian_prod(ng.tensor([1, 2]), ng.tensor([3, 4])).tolist()
    [[1, 3], [1, 4], [2, 3], [2, 4]]
    """
    ts = _tensors(tensors, "cartesian_prod")
    if len(ts) == 1:
        return ts[0]
    grids = meshgrid(*ts, indexing="ij")
    return stack([g.reshape(-1) for g in grids], 1)


def repeat_interleave(input, repeats=None, dim: Optional[int] = None, *, output_size: Optional[int] = None) -> Tensor:
    """Repeat each element (each slice along ``dim``) ``repeats`` times (an int or one count per element);
    ``repeat_interleave(counts)`` alone repeats each index ``i`` ``counts[i]`` times.

    >>> import numgrad as ng
    >>> ng.repeat_interleave(ng.tensor([1, 2]), 2)
    tensor([1, 1, 2, 2])
    """
    if repeats is None:  # torch.repeat_interleave(repeats)
        counts = input
        return repeat_interleave(_finish(np.arange(counts.numel(), dtype=np.int64), False, counts.device), counts)
    if dim is None:
        input, dim = input.reshape(-1), 0
    d = _wrap_dim(dim, input.ndim, "repeat_interleave")
    n = input.shape[d] if input.ndim else 1
    if isinstance(repeats, Tensor):
        if repeats.ndim > 1:
            raise RuntimeError("repeat_interleave: repeats must be 0-dim or 1-dim tensor")
        counts = np.asarray(repeats.tolist(), dtype=np.int64).reshape(-1)
        if counts.size == 1:
            counts = np.full(n, counts[0])
    else:
        counts = np.full(n, int(repeats), dtype=np.int64)
    if counts.size != n:
        raise RuntimeError(f"repeats must have the same size as input along dim, but got repeats.size(0) = "
                           f"{counts.size} and input.size({d}) = {n}")
    if (counts < 0).any():
        raise RuntimeError("repeat_interleave: repeats can not be negative")
    index = np.repeat(np.arange(n, dtype=np.int64), counts)
    if output_size is not None and output_size != index.size:
        raise RuntimeError(f"repeat_interleave: output_size {output_size} does not match the total repeats "
                           f"{index.size}")
    if input.ndim == 0:
        input = input.reshape(1)
    return index_select(input, d, _finish(index, False, input.device))


def swapaxes(input, axis0: int, axis1: int) -> Tensor:
    """Alias of :func:`transpose` (NumPy's name).

    >>> import numgrad as ng
    >>> ng.swapaxes(ng.ones(2, 3), 0, 1).shape
    (3, 2)
    """
    return transpose(input, axis0, axis1)


def swapdims(input, dim0: int, dim1: int) -> Tensor:
    """Alias of :func:`transpose`.

    >>> import numgrad as ng
    >>> ng.swapdims(ng.ones(2, 3), 0, 1).shape
    (3, 2)
    """
    return transpose(input, dim0, dim1)


def ravel(input) -> Tensor:
    """The tensor flattened to 1-D (a view when possible).

    >>> import numgrad as ng
    >>> ng.ravel(ng.ones(2, 2)).shape
    (4,)
    """
    return input.reshape(-1)


def unflatten(input, dim: int, sizes: Sequence[int]) -> Tensor:
    """Dim ``dim`` split into ``sizes`` (one entry may be -1).

    >>> import numgrad as ng
    >>> ng.unflatten(ng.ones(2, 6), 1, (2, 3)).shape
    (2, 2, 3)
    """
    d = _wrap_dim(dim, input.ndim, "unflatten")
    sizes = tuple(int(s) for s in sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    return input.reshape(*input.shape[:d], *sizes, *input.shape[d + 1:])


def select(input, dim: int, index: int) -> Tensor:
    """The slice at ``index`` along ``dim`` (that dim removed); ``x.select(0, i)`` is ``x[i]``.

    >>> import numgrad as ng
    >>> ng.select(ng.tensor([[1, 2], [3, 4]]), 1, 0)
    tensor([1, 3])
    """
    d = _wrap_dim(dim, input.ndim, "select")
    n = input.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(input.shape)} at dimension "
                         f"{d}")
    return input[(slice(None),) * d + (int(index),)]


def fliplr(input) -> Tensor:
    """Reverse dim 1 (left/right) of a tensor with at least 2 dims.

    >>> import numgrad as ng
    >>> ng.fliplr(ng.tensor([[1, 2]]))
    tensor([[2, 1]])
    """
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, (1,))


def flipud(input) -> Tensor:
    """Reverse dim 0 (up/down).

    >>> import numgrad as ng
    >>> ng.flipud(ng.tensor([1, 2]))
    tensor([2, 1])
    """
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, (0,))


def rot90(input, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
    """Rotate by 90 degrees ``k`` times in the plane of ``dims`` (from the first towards the second).

    >>> import numgrad as ng
    >>> ng.rot90(ng.tensor([[1, 2], [3, 4]]))
    tensor([[2, 4],
            [1, 3]])
    """
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    d0, d1 = (_wrap_dim(d, input.ndim, "rot90") for d in dims)
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    k = k % 4
    if k == 1:
        return transpose(flip(input, (d1,)), d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return flip(transpose(input, d0, d1), (d1,))
    return input.clone()


class Unfold(Function):
    """Every window of ``size`` elements along dim ``d``, ``step`` apart, as a view: dim ``d`` counts the windows
    (stride ``step`` times the dim's) and a last dim of ``size`` walks one window (the dim's stride).  Windows that
    overlap (``step < size``) make a view no in-place op can write, as expanded memory."""

    node_name = "UnfoldBackward0"
    returns_views = True

    @staticmethod
    def forward(ctx, x, d: int, size: int, step: int):
        windows = (x.shape[d] - size) // step + 1
        ctx.in_shape, ctx.geometry = x.shape, (d, size, step, windows)
        arr = x._data
        _, start, _ = _root(arr)
        stride = x.stride()
        shape = x.shape[:d] + (windows,) + x.shape[d + 1:] + (size,)
        steps = stride[:d] + (stride[d] * step,) + stride[d + 1:] + (stride[d],)
        return Tensor(_strided_array(arr, shape, steps, start), _version=x._version)

    @staticmethod
    def backward(ctx, g):
        # each window's gradient added back where its elements lie (overlapping windows add up)
        d, size, step, windows = ctx.geometry
        index = (arange(windows, device=g.device).reshape(windows, 1) * step
                 + arange(size, device=g.device).reshape(1, size)).reshape(-1)
        per_element = movedim(g, -1, d + 1).reshape(*ctx.in_shape[:d], windows * size, *ctx.in_shape[d + 1:])
        return index_add(zeros(*ctx.in_shape, dtype=g.dtype, device=g.device), d, index, per_element), None, None, None


def unfold(self, dimension: int, size: int, step: int) -> Tensor:
    """Every window of ``size`` elements along ``dimension``, ``step`` apart: that dim becomes the window count
    and a last dim of ``size`` is added (``Tensor.unfold``; a view, as in PyTorch).

    >>> import numgrad as ng
    >>> ng.arange(5.).unfold(0, 2, 2)
    tensor([[0., 1.],
            [2., 3.]])
    """
    if self.ndim == 0:  # PyTorch treats a 0-d tensor as one element along dim 0
        _wrap_dim(dimension, 0, "unfold")
        if size > 1:
            raise RuntimeError(f"maximum size for tensor at dimension 0 is 1 but size is {size}")
        if step <= 0:
            raise RuntimeError(f"step is {step} but must be > 0")
        return self.reshape(1)
    d = _wrap_dim(dimension, self.ndim, "unfold")
    if size > self.shape[d]:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {self.shape[d]} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    return Unfold.apply(self, d, int(size), int(step))


TENSOR_METHODS = {
    "roll": roll, "tensor_split": tensor_split, "hsplit": hsplit, "vsplit": vsplit, "dsplit": dsplit,
    "repeat_interleave": repeat_interleave, "swapaxes": swapaxes, "swapdims": swapdims, "ravel": ravel,
    "unflatten": unflatten, "select": select, "unfold": unfold, "fliplr": fliplr, "flipud": flipud, "rot90": rot90,
}
PUBLIC = ("roll", "tensor_split", "hsplit", "vsplit", "dsplit", "atleast_1d", "atleast_2d", "atleast_3d", "hstack",
          "vstack", "row_stack", "dstack", "column_stack", "broadcast_tensors", "meshgrid", "cartesian_prod",
          "repeat_interleave", "swapaxes", "swapdims", "ravel", "unflatten", "select", "fliplr", "flipud", "rot90")
