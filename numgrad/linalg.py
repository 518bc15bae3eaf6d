"""``numgrad.linalg``: the parts of ``torch.linalg`` built from numgrad's ops.

Norms (matrix norms 'nuc', 2 and -2 through the singular values), products, diagonals, ``inv``, ``det``,
``slogdet``, ``solve``, ``matrix_power``, and the decompositions with what is built on them
(``numgrad/ops/decompositions.py``): ``cholesky``, ``cholesky_ex``, ``solve_triangular``, ``qr``, ``eigh``,
``eigvalsh``, ``svd``, ``svdvals``, ``pinv``, ``lstsq``, ``matrix_rank``, ``cond``, ``matrix_exp``, and the LU
family with ``householder_product`` (``numgrad/ops/lu.py``: ``lu``, ``lu_factor``, ``lu_factor_ex``,
``lu_solve``), with PyTorch's values, errors (``LinAlgError``) and gradients. Not defined yet, so a port that
needs them fails at the attribute lookup rather than with a wrong answer: general (non-symmetric) eigensystems
(``eig``, ``eigvals``, which PyTorch returns complex), ``inv_ex``, ``solve_ex``, ``ldl_factor``.

>>> import numgrad as ng
>>> ng.linalg.vector_norm(ng.tensor([3., 4.]))
tensor(5.)
"""
from __future__ import annotations

import math
from typing import Sequence, Union

from . import _dtypes
from .creation import eye as _eye
from .tensor import Tensor
from .ops import elementwise_functions as pw
from .ops.combine import cross as _cross
from .ops.decompositions import (  # noqa: F401 - torch.linalg's names
    cholesky_ex, det, eigh, eigvalsh, linalg_cholesky as cholesky, linalg_qr as qr, linalg_svd as svd, lstsq,
    matrix_exp, matrix_rank, pinv, solve_triangular, svdvals,
)
from .ops.lu import (  # noqa: F401 - torch.linalg's names
    householder_product, linalg_lu as lu, linalg_lu_solve as lu_solve, lu_factor, lu_factor_ex,
)
from .ops.dense_linalg import LinAlgError, inverse as inv, matrix_power, slogdet, solve
from .ops.diagonals import diagonal as _diagonal
from .ops.linalg import matmul, mm
from .ops.reductions import amax, amin, norm as _norm
from .ops.shape import movedim as _movedim, narrow as _narrow
from .ops.sum_mean import sum as _sum
from .ops.autocast_policy import autocast_op


@autocast_op(name="linalg.vector_norm")
def vector_norm(x, ord: Union[float, int] = 2, dim: Union[int, Sequence[int], None] = None, keepdim: bool = False,
                *, dtype=None) -> Tensor:
    """The ``ord``-norm of ``x`` as a vector (all elements, or over ``dim``): any float ``ord``, ``inf``, ``-inf``
    and 0 (the count of non-zeros). The gradient at a zero vector is 0, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.linalg.vector_norm(ng.tensor([[3., 4.], [0., 1.]]), dim=1)
    tensor([5., 1.])
    """
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.vector_norm: ord must be a number, got {ord!r} (matrix norms: linalg.matrix_norm)")
    if dtype is not None:
        x = x.to(dtype)
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
                           f"{x.dtype.name}")
    if dim is None:
        out = _norm(x.reshape(-1), float(ord), dim=0)
        return out.reshape(*([1] * x.ndim)) if keepdim else out
    return _norm(x, float(ord), dim=dim, keepdim=keepdim)


@autocast_op(name="linalg.matrix_norm")
def matrix_norm(A, ord: Union[str, float] = "fro", dim: Sequence[int] = (-2, -1), keepdim: bool = False,
                *, dtype=None) -> Tensor:
    """The ``ord``-norm of the matrices in dims ``dim``: 'fro', 'nuc' (sum of the singular values), 2 and -2
    (largest and smallest singular value), 1, -1 (max/min column sum), inf, -inf (max/min row sum).

    >>> import numgrad as ng
    >>> ng.linalg.matrix_norm(ng.tensor([[1., -2.], [3., 4.]]), ord=1)
    tensor(6.)
    """
    if dtype is not None:
        A = A.to(dtype)
    if A.ndim < 2:
        raise RuntimeError(f"linalg.matrix_norm: The input tensor A must have at least 2 dimensions (got shape "
                           f"{list(A.shape)})")
    d0, d1 = (d % A.ndim for d in dim)
    if ord == "fro":
        return _norm(A, 2.0, dim=(d0, d1), keepdim=keepdim)
    if ord in ("nuc", 2, -2):
        S = svdvals(_movedim(A, (d0, d1), (-2, -1)))
        out = _sum(S, -1) if ord == "nuc" else (amax if ord == 2 else amin)(S, -1)
        if keepdim:
            for d in sorted((d0, d1)):
                out = out.unsqueeze(d)
        return out
    if ord in (1, -1, math.inf, -math.inf):
        # 1/-1: sum over rows (dim d0) then the max/min over columns; inf/-inf the other way round
        summed, over = (d0, d1) if ord in (1, -1) else (d1, d0)
        sums = _sum(pw.abs(A), summed, keepdim=True)
        out = (amax if ord in (1, math.inf) else amin)(sums, over, keepdim=True)
        return out if keepdim else out.squeeze((d0, d1) if d0 < d1 else (d1, d0))
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


def norm(A, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``vector_norm`` or ``matrix_norm`` as ``torch.linalg.norm`` chooses: a 2-tuple ``dim``, or an ``ord`` with a
    2-D input and no ``dim``, means a matrix norm; otherwise a vector norm (all elements when both are None).

    >>> import numgrad as ng
    >>> ng.linalg.norm(ng.tensor([[3., 4.]]))
    tensor(5.)
    """
    matrix_dims = dim is not None and not isinstance(dim, int) and len(dim) == 2
    if matrix_dims or (ord is not None and A.ndim == 2 and dim is None):
        return matrix_norm(A, "fro" if ord is None else ord, (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if isinstance(ord, str):
        return matrix_norm(A, ord, (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
    return vector_norm(A, ord, dim, keepdim, dtype=dtype)


def _inverse_or_inf(A) -> Tensor:
    """The inverse of each matrix, inf-filled where it is singular (PyTorch's ``inv_ex`` then ``masked_fill``)."""
    sign, _ = slogdet(A)
    singular = pw.eq(sign, 0).unsqueeze(-1).unsqueeze(-1)
    identity = _eye(A.shape[-1], dtype=A.dtype, device=A.device)
    return pw.where(singular, math.inf, inv(pw.where(singular, identity, A)))


@autocast_op(name="linalg.cond")
def cond(A, p=None) -> Tensor:
    """The condition number of each matrix in the ``p``-norm: None or 2 (largest over smallest singular value,
    any shape), -2 (the reciprocal), or 'fro', 'nuc', 1, -1, inf, -inf (``norm(A) * norm(inv(A))``, square
    matrices; inf where A is singular).

    >>> import numgrad as ng
    >>> ng.linalg.cond(ng.tensor([[2., 0.], [0., 0.5]]))
    tensor(4.)
    """
    if not isinstance(A, Tensor):
        raise TypeError(f"linalg_cond(): argument 'input' must be Tensor, not {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError("linalg.cond: The input tensor must have at least 2 dimensions.")
    if p is None or p in (2, -2):
        S = svdvals(A)
        s_max, s_min = _narrow(S, -1, 0, 1), _narrow(S, -1, S.shape[-1] - 1, 1)
        return (s_min / s_max if p == -2 else s_max / s_min).squeeze(-1)
    if p not in ("fro", "nuc", 1, -1, math.inf, -math.inf):
        raise RuntimeError(f"linalg.cond got an invalid norm type: {p}")
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.cond(ord={p}): A must be batches of square matrices, but they are {A.shape[-2]} "
                           f"by {A.shape[-1]} matrices")
    if not A.dtype.is_floating_point:
        raise RuntimeError(f"linalg.inv: Expected a floating point or complex tensor as input. Got "
                           f"{_dtypes.torch_type_name(A.dtype)}")
    return matrix_norm(A, p) * matrix_norm(_inverse_or_inf(A), p)


def cross(input, other, *, dim: int = -1) -> Tensor:
    """Cross product of 3-vectors along ``dim`` (default the last; shapes broadcast).

    >>> import numgrad as ng
    >>> ng.linalg.cross(ng.tensor([1., 0., 0.]), ng.tensor([0., 1., 0.]))
    tensor([0., 0., 1.])
    """
    return _cross(input, other, dim=dim)


@autocast_op(name="linalg.vecdot")
def vecdot(x, y, *, dim: int = -1) -> Tensor:
    """Dot products along ``dim`` (shapes broadcast).

    >>> import numgrad as ng
    >>> ng.linalg.vecdot(ng.tensor([[1., 2.]]), ng.tensor([3., 4.]))
    tensor([11.])
    """
    return _sum(x * y, dim)


@autocast_op(name="linalg.multi_dot")
def multi_dot(tensors: Sequence) -> Tensor:
    """The product of the matrices in order (first may be 1-D as a row, last 1-D as a column).

    >>> import numgrad as ng
    >>> ng.linalg.multi_dot([ng.ones(3), ng.ones(3, 2), ng.ones(2)])
    tensor(6.)
    """
    ts = list(tensors)
    if len(ts) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(ts)}")
    first_1d, last_1d = ts[0].ndim == 1, ts[-1].ndim == 1
    if first_1d:
        ts[0] = ts[0].reshape(1, -1)
    if last_1d:
        ts[-1] = ts[-1].reshape(-1, 1)
    out = ts[0]
    for t in ts[1:]:
        out = mm(out, t)
    if first_1d:
        out = out.squeeze(0)
    if last_1d:
        out = out.squeeze(-1)
    return out


def diagonal(A, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """The diagonal of the matrices in dims ``dim1``, ``dim2`` (``torch.diagonal`` with matrix defaults).

    >>> import numgrad as ng
    >>> ng.linalg.diagonal(ng.eye(2))
    tensor([1., 1.])
    """
    return _diagonal(A, offset, dim1, dim2)


__all__ = ["vector_norm", "matrix_norm", "norm", "cross", "vecdot", "multi_dot", "diagonal", "matmul", "inv", "det",
           "slogdet", "solve", "matrix_power", "LinAlgError", "cholesky", "cholesky_ex", "solve_triangular", "qr", "eigh",
           "eigvalsh", "svd", "svdvals", "pinv", "lstsq", "matrix_rank", "cond", "matrix_exp", "lu", "lu_factor",
           "lu_factor_ex", "lu_solve", "householder_product"]
