"""Triangles and diagonals of matrices: tril, triu (and in place), diagonal, diag, diag_embed, diagflat,
trace, tril_indices, triu_indices.

The triangles and ``diag_embed`` are written with existing differentiable ops (a broadcast position
mask and ``masked_fill``, advanced indexing), so they fuse where their parts fuse, run on every
device those parts run on, and their gradients are PyTorch's: the gradient of a triangle is the
incoming gradient masked the same way.  ``diagonal`` is a view, as in PyTorch (``A.diagonal().add_(eps)``
changes ``A``): the input's memory with one stride that steps along both dims; its gradient is
written onto the diagonal of zeros (PyTorch's ``diagonal_backward``).  ``diag`` of a matrix copies, as
PyTorch's does.
"""
from __future__ import annotations

import numpy as np

from .. import _dtypes
from ..autograd.function import Function
from ..tensor import Tensor
from ..creation import _finish, arange, zeros
from ..device import as_device
from . import elementwise_functions as pw
from .indexing import _wrap_dim, masked_fill
from .shape import movedim
from .tensor_storage import _root, _strided_array
from .autocast_policy import autocast_op


def _need_matrix(input, op: str) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions (got shape {list(input.shape)})")


def _outside(input, diagonal: int, lower: bool):
    """Bool mask (rows, cols) of the entries tril (``lower``) or triu zeroes."""
    rows, cols = input.shape[-2:]
    r = arange(rows, device=input.device).reshape(rows, 1)
    c = arange(cols, device=input.device).reshape(1, cols)
    offset = c - r
    return pw.gt(offset, diagonal) if lower else pw.lt(offset, diagonal)


def tril(input, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (entries with ``col - row <= diagonal``), zeros elsewhere.

    >>> import numgrad as ng
    >>> ng.tril(ng.ones(2, 3))
    tensor([[1., 0., 0.],
            [1., 1., 0.]])
    """
    _need_matrix(input, "tril")
    return masked_fill(input, _outside(input, int(diagonal), True), 0)


def triu(input, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (entries with ``col - row >= diagonal``), zeros elsewhere.

    >>> import numgrad as ng
    >>> ng.triu(ng.ones(2, 3), diagonal=1)
    tensor([[0., 1., 1.],
            [0., 0., 1.]])
    """
    _need_matrix(input, "triu")
    return masked_fill(input, _outside(input, int(diagonal), False), 0)


def tril_(self, diagonal: int = 0) -> Tensor:
    """In-place :func:`tril`."""
    _need_matrix(self, "tril_")
    return self.masked_fill_(_outside(self, int(diagonal), True), 0)


def triu_(self, diagonal: int = 0) -> Tensor:
    """In-place :func:`triu`."""
    _need_matrix(self, "triu_")
    return self.masked_fill_(_outside(self, int(diagonal), False), 0)


def _diag_positions(n: int, m: int, offset: int, device):
    length = max(0, min(n - max(0, -offset), m - max(0, offset)))
    rows = arange(length, device=device) + max(0, -offset)
    cols = arange(length, device=device) + max(0, offset)
    return length, rows, cols


class Diagonal(Function):
    """The diagonal of dims ``d1``, ``d2`` shifted by ``offset``, as a view: the other dims keep their strides and
    the diagonal's stride is the sum of the two."""

    node_name = "DiagonalBackward0"
    returns_views = True

    @staticmethod
    def forward(ctx, x, offset: int, d1: int, d2: int):
        ctx.in_shape, ctx.geometry = x.shape, (offset, d1, d2)
        arr = x._data
        _, start, _ = _root(arr)
        stride = x.stride()
        length = max(0, min(x.shape[d1] - max(0, -offset), x.shape[d2] - max(0, offset)))
        if length:
            start += max(0, offset) * stride[d2] + max(0, -offset) * stride[d1]
        kept = [d for d in range(x.ndim) if d not in (d1, d2)]
        size = tuple(x.shape[d] for d in kept) + (length,)
        steps = tuple(stride[d] for d in kept) + (stride[d1] + stride[d2],)
        return Tensor(_strided_array(arr, size, steps, start), _version=x._version)

    @staticmethod
    def backward(ctx, g):
        offset, d1, d2 = ctx.geometry
        grad = zeros(*ctx.in_shape, dtype=g.dtype, device=g.device)
        Diagonal.apply(grad, offset, d1, d2).copy_(g)  # differentiable in g: a copy into a view
        return grad, None, None, None


def diagonal(input, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the matrices in dims ``dim1``, ``dim2`` (shifted by ``offset``), appended as the last dim;
    a view of ``input``, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.diagonal(ng.tensor([[1., 2.], [3., 4.]]), offset=1)
    tensor([2.])
    >>> a = ng.zeros(2, 2)
    >>> _ = a.diagonal().add_(1.0)
    >>> a
    tensor([[1., 0.],
            [0., 1.]])
    """
    _need_matrix(input, "diagonal")
    d1, d2 = _wrap_dim(dim1, input.ndim, "diagonal"), _wrap_dim(dim2, input.ndim, "diagonal")
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return Diagonal.apply(input, int(offset), d1, d2)


_diagonal_of = diagonal  # ``diag``'s argument named ``diagonal`` (PyTorch's name) hides the function


def diag_embed(input, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices whose diagonal (shifted by ``offset``, in dims ``dim1``, ``dim2`` of the result) is the last
    dim of ``input``; zeros elsewhere.

    >>> import numgrad as ng
    >>> ng.diag_embed(ng.tensor([1., 2.]))
    tensor([[1., 0.],
            [0., 2.]])
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"diag_embed(): argument 'input' must be Tensor, not {type(input).__name__}")
    out_ndim = input.ndim + 1
    d1, d2 = _wrap_dim(dim1, out_ndim, "diag_embed"), _wrap_dim(dim2, out_ndim, "diag_embed")
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    offset = int(offset)
    length = input.shape[-1] if input.ndim else 1
    n = length + abs(offset)
    _, rows, cols = _diag_positions(n, n, offset, input.device)
    out = zeros(*input.shape[:-1], n, n, dtype=input.dtype, device=input.device)
    out[..., rows, cols] = input
    return movedim(out, (-2, -1), (d1, d2))


def diag(input, diagonal: int = 0) -> Tensor:
    """A 1-D input as the ``diagonal``-th diagonal of a square matrix; a 2-D input's ``diagonal``-th diagonal.

    >>> import numgrad as ng
    >>> ng.diag(ng.tensor([[1., 2.], [3., 4.]]))
    tensor([1., 4.])
    """
    if not isinstance(input, Tensor) or input.ndim not in (1, 2):
        nd = input.ndim if isinstance(input, Tensor) else type(input).__name__
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {nd}D")
    if input.ndim == 1:
        return diag_embed(input, diagonal)
    return _diagonal_of(input, diagonal).clone()  # PyTorch's diag copies


def diagflat(input, offset: int = 0) -> Tensor:
    """``input`` flattened, as the ``offset``-th diagonal of a square matrix.

    >>> import numgrad as ng
    >>> ng.diagflat(ng.tensor([[1., 2.]]))
    tensor([[1., 0.],
            [0., 2.]])
    """
    return diag_embed(input.reshape(-1), offset)


@autocast_op
def trace(input) -> Tensor:
    """Sum of the main diagonal of a 2-D tensor.

    >>> import numgrad as ng
    >>> ng.trace(ng.tensor([[1., 2.], [3., 4.]]))
    tensor(5.)
    """
    if not isinstance(input, Tensor) or input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {getattr(input, 'ndim', '?')}")
    return diagonal(input).sum()


def _triangle_indices(row: int, col: int, offset: int, dtype, device, lower: bool) -> Tensor:
    if row < 0 or col < 0:
        raise RuntimeError(f"{'tril' if lower else 'triu'}_indices: row and col must be non-negative "
                           f"(got {row}, {col})")
    r, c = (np.tril_indices if lower else np.triu_indices)(row, offset, col)
    dt = _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.int64
    return _finish(np.stack([r, c]).astype(dt.np), False, as_device(device) if device is not None else None,
                   shape_constant=True)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None) -> Tensor:
    """The (2, N) row and column indices of the lower triangle of a ``row`` x ``col`` matrix, row by row.

    >>> import numgrad as ng
    >>> ng.tril_indices(2, 2)
    tensor([[0, 1, 1],
            [0, 0, 1]])
    """
    return _triangle_indices(row, col, offset, dtype, device, True)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None) -> Tensor:
    """The (2, N) row and column indices of the upper triangle of a ``row`` x ``col`` matrix, row by row.

    >>> import numgrad as ng
    >>> ng.triu_indices(2, 2)
    tensor([[0, 0, 1],
            [0, 1, 1]])
    """
    return _triangle_indices(row, col, offset, dtype, device, False)


TENSOR_METHODS = {
    "tril": tril, "triu": triu, "tril_": tril_, "triu_": triu_, "diagonal": diagonal, "diag": diag,
    "diag_embed": diag_embed, "diagflat": diagflat, "trace": trace,
}
PUBLIC = ("tril", "triu", "diagonal", "diag", "diag_embed", "diagflat", "trace", "tril_indices", "triu_indices")
