"""Matrix decompositions and what is built on them: Cholesky, triangular solves, QR, symmetric eigensystems,
SVD, pseudo-inverse, least squares, rank, matrix exponential - with PyTorch's values, errors and gradients.

Forward values come from the device's dense kernels (``numgrad/kernels/cpu/dense_linalg.py``: NumPy's LAPACK
routines under Numba). Each backward is PyTorch's formula (``torch/csrc/autograd/FunctionsManual.cpp``:
``cholesky_backward``, ``linalg_qr_backward``, ``linalg_eig_backward``, ``svd_backward``, ``pinv_backward``...)
written with numgrad's ops, so it is differentiable again. Outputs that no gradient reached arrive in backward
as ``None``, as PyTorch's undefined gradients do (the eigenvalue-only and singular-value-only shortcuts).
As in PyTorch, eigenvector and singular-vector gradients assume distinct eigenvalues / singular values (and a
full-rank matrix for a rectangular SVD); elsewhere they are inf or NaN.

>>> import numgrad as ng
>>> A = ng.tensor([[4., 2.], [2., 3.]])
>>> ng.linalg.cholesky(A)
tensor([[2.0000, 0.0000],
        [1.0000, 1.4142]])
"""
from __future__ import annotations

import collections
import warnings

import numpy as np

from .. import _dtypes
from ..autograd.function import Function
from ..creation import eye, ones_like, zeros
from ..kernels import backend as _backend
from ..kernels.backend import dense_linalg_kernels
from ..tensor import Tensor, result_type
from . import elementwise_functions as pw
from .dense_linalg import LinAlgError, _square, inverse, slogdet
from .diagonals import diag_embed, tril, triu
from .elementwise import broadcast_shapes
from .linalg import matmul
from .reductions import amax
from .scan import cumprod
from .shape import cat, flip, narrow
from .sum_mean import sum as _sum
from .autocast_policy import autocast_op


def _return_type(name: str, fields: tuple):
    t = collections.namedtuple(name, fields)
    t.__module__ = "numgrad.return_types"
    return t


cholesky_ex_return_type = _return_type("linalg_cholesky_ex", ("L", "info"))
qr_return_type = _return_type("linalg_qr", ("Q", "R"))
torch_qr_return_type = _return_type("qr", ("Q", "R"))
eigh_return_type = _return_type("linalg_eigh", ("eigenvalues", "eigenvectors"))
svd_return_type = _return_type("linalg_svd", ("U", "S", "Vh"))
torch_svd_return_type = _return_type("svd", ("U", "S", "V"))
lstsq_return_type = _return_type("linalg_lstsq", ("solution", "residuals", "rank", "singular_values"))
triangular_solve_return_type = _return_type("triangular_solve", ("solution", "cloned_coefficient"))

_LAPACK_DTYPES = ("float32", "float64")
_warned: set = set()


def _warn_once(key: str, message: str) -> None:
    """PyTorch's TORCH_WARN_ONCE: a deprecation warning the first time a deprecated function runs."""
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, UserWarning, stacklevel=3)


# ---------------------------------------------------------------------------------------------- checks
def _check_matrix(A, op: str, *, square: bool = True, name: str = "A", kernel=None, ints_unimplemented=False,
                  lapack: bool = True):
    """PyTorch's checks of a matrix argument, in its order: a Tensor, >= 2 dims, square, a LAPACK dtype.

    Integer input is PyTorch's "Expected a floating point" error, or, for the ops whose kernels PyTorch
    dispatches on the dtype first (``ints_unimplemented``), its "not implemented for 'Long'"; 16-bit floats,
    which LAPACK has no routines for, are "not implemented for 'Half'" (PyTorch's ``kernel`` name)."""
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor {name} must have at least 2 dimensions.")
    if square and A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{op}: {name} must be batches of square matrices, but they are {A.shape[-2]} by "
                           f"{A.shape[-1]} matrices")
    _check_dtype(A, op, kernel, ints_unimplemented, lapack)


def _check_dtype(A, op: str, kernel, ints_unimplemented: bool, lapack: bool = True) -> None:
    tname = _dtypes.torch_type_name(A.dtype)
    if not A.dtype.is_floating_point and not ints_unimplemented:
        raise RuntimeError(f"{op}: Expected a floating point or complex tensor as input. Got {tname}")
    if A.dtype.name not in _LAPACK_DTYPES and (lapack or not A.dtype.is_floating_point):
        raise NotImplementedError(f'"{kernel or op}" not implemented for \'{tname}\'')


def _batched(arr: np.ndarray, m: int, n: int) -> np.ndarray:
    """``arr`` (..., m, n) as a C-contiguous (batch, m, n) array (a copy only where it is not one already)."""
    nb = int(np.prod(arr.shape[:-2], dtype=np.int64))
    return _backend.contiguous(arr).reshape(nb, m, n)


def _transposed(arr: np.ndarray) -> np.ndarray:
    return _backend.contiguous(np.swapaxes(arr, -1, -2))


def _batch_prefix(A, index: int) -> str:
    return f"(Batch element {index}): " if A.ndim > 2 else ""


def _broadcast_batch(A, B, a_tail: int = 2, b_tail: int = 2):
    """``A`` and ``B`` expanded to their common batch shape (a recorded expand: gradients sum back)."""
    batch = broadcast_shapes(tuple(A.shape[:-a_tail]), tuple(B.shape[:-b_tail]))
    if tuple(A.shape[:-a_tail]) != batch:
        A = A.expand(*batch, *A.shape[-a_tail:])
    if tuple(B.shape[:-b_tail]) != batch:
        B = B.expand(*batch, *B.shape[-b_tail:])
    return A, B


def _eye_like(A, n: int):
    return eye(n, dtype=A.dtype, device=A.device)


# ---------------------------------------------------------------------------------------------- Cholesky
class Cholesky(Function):
    node_name = "LinalgCholeskyExBackward0"

    @staticmethod
    def forward(ctx, A, upper: bool, op: str, check_errors: bool):
        if op == "cholesky":
            ctx.node_name = "CholeskyBackward0"
        n = A.shape[-1]
        K = dense_linalg_kernels(A._data, op)
        # the upper factor of A is the transpose of the lower factor of A^T (whose lower triangle is A's upper one)
        a = np.swapaxes(A._data, -1, -2) if upper else A._data
        L, info = K.cholesky_batch(_batched(a, n, n))
        if check_errors and info.any():
            b = int(np.flatnonzero(info)[0])
            raise LinAlgError(f"{op}: {_batch_prefix(A, b)}The factorization could not be completed because the "
                              f"input is not positive-definite (the leading minor of order {int(info[b])} is not "
                              "positive-definite).")
        L = L.reshape(A.shape)
        out = Tensor(_transposed(L) if upper else L)
        info_t = Tensor(info.reshape(A.shape[:-2]))
        ctx.save_for_backward(out)
        ctx.upper = upper
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(info_t)
        return out, info_t

    @staticmethod
    def backward(ctx, gL, _g_info):
        if gL is None:
            return None
        (L,) = ctx.saved_tensors
        if ctx.upper:
            L, gL = L.mT, gL.mT
        # PyTorch's cholesky_backward (Iain Murray, arXiv 1602.07527): gA = L^-T Phi(L^T gL) L^-1, where
        # Phi takes the lower triangle and halves the diagonal, symmetrised
        gA = tril(matmul(L.mT, gL))
        gA = 0.5 * (gA + tril(gA, -1).mT)
        gA = solve_triangular(L.mT, gA, upper=True)
        return solve_triangular(L, gA, upper=False, left=False)


def _cholesky(A, upper: bool, op: str, check_errors: bool):
    _check_matrix(A, op, kernel="cholesky_cpu")
    return Cholesky.apply(A, bool(upper), op, check_errors)


@autocast_op(name="linalg.cholesky")
def linalg_cholesky(A, *, upper: bool = False) -> Tensor:
    """The Cholesky factor ``L`` (lower; ``upper=True``: ``U = L^T``) of each symmetric positive-definite matrix,
    read from its lower (upper) triangle. Not positive-definite: ``LinAlgError`` naming the leading minor.

    >>> import numgrad as ng
    >>> ng.linalg.cholesky(ng.tensor([[4., 2.], [2., 5.]]))
    tensor([[2., 0.],
            [1., 2.]])
    """
    return _cholesky(A, upper, "linalg.cholesky", True)[0]


@autocast_op(name="linalg.cholesky_ex")
def cholesky_ex(A, *, upper: bool = False, check_errors: bool = False):
    """``(L, info)``: the Cholesky factor and, per matrix, 0 or the order of the first leading minor that is not
    positive-definite (then ``L`` is LAPACK's partial factor); raises only with ``check_errors=True``.

    >>> import numgrad as ng
    >>> ng.linalg.cholesky_ex(ng.tensor([[1., 2.], [2., 1.]])).info
    tensor(2, dtype=numgrad.int32)
    """
    return cholesky_ex_return_type(*_cholesky(A, upper, "linalg.cholesky_ex", check_errors))


@autocast_op
def cholesky(input, upper: bool = False) -> Tensor:
    """``torch.cholesky`` (deprecated there in favour of ``linalg.cholesky``): the lower factor, or the upper one.

    >>> import numgrad as ng
    >>> ng.linalg.cholesky(ng.tensor([[4., 2.], [2., 5.]]), upper=True)
    tensor([[2., 1.],
            [0., 2.]])
    """
    _warn_once("cholesky", "torch.cholesky is deprecated in favor of torch.linalg.cholesky and will be removed in a "
               "future PyTorch release.\nL = torch.cholesky(A)\nshould be replaced with\nL = torch.linalg.cholesky(A)"
               "\nand\nU = torch.cholesky(A, upper=True)\nshould be replaced with\nU = torch.linalg.cholesky(A).mH\n"
               "This transform will produce equivalent results for all valid (symmetric positive definite) inputs.")
    return _cholesky(input, upper, "cholesky", True)[0]


def _solve_with_factor(K, f3: np.ndarray, b3: np.ndarray, upper: bool) -> np.ndarray:
    """X with (F^T F) X = B (``upper``) or (F F^T) X = B, F triangular: two triangular solves."""
    ft = _transposed(f3)
    if upper:
        y = K.solve_triangular_batch(ft, b3, True, False)
        return K.solve_triangular_batch(f3, y, False, False)
    y = K.solve_triangular_batch(f3, b3, True, False)
    return K.solve_triangular_batch(ft, y, False, False)


class CholeskySolve(Function):
    node_name = "CholeskySolveBackward0"

    @staticmethod
    def forward(ctx, B, F, upper: bool):
        n, k = B.shape[-2], B.shape[-1]
        K = dense_linalg_kernels(F._data, "cholesky_solve")
        x = _solve_with_factor(K, _batched(F._data, n, n), _batched(B._data, n, k), upper)
        out = Tensor(x.reshape(B.shape))
        ctx.save_for_backward(F, out)
        ctx.upper = upper
        return out

    @staticmethod
    def backward(ctx, g):
        F, X = ctx.saved_tensors
        # PyTorch's cholesky_solve_backward: the gradient of the factor is not projected onto a triangle
        g_b = cholesky_solve(g, F, ctx.upper)
        g_f = None
        if ctx.needs_input_grad[1]:
            common = matmul(g_b, X.mT)
            common = common + common.mT
            g_f = -matmul(F, common) if ctx.upper else -matmul(common, F)
        return g_b, g_f


@autocast_op
def cholesky_solve(input, input2, upper: bool = False) -> Tensor:
    """``X`` with ``A X = input`` for ``A = L L^T`` given its Cholesky factor ``input2`` (``L``; ``upper=True``:
    ``U`` with ``A = U^T U``). Batch dims broadcast.

    >>> import numgrad as ng
    >>> L = ng.tensor([[2., 0.], [1., 2.]])
    >>> ng.cholesky_solve(ng.tensor([[6.], [7.]]), L)
    tensor([[1.],
            [1.]])
    """
    B, F = input, input2
    for t, label in ((B, "b"), (F, "u")):
        if not isinstance(t, Tensor):
            raise TypeError(f"cholesky_solve(): argument '{'input' if label == 'b' else 'input2'}' must be Tensor, "
                            f"not {type(t).__name__}")
        if t.ndim < 2:
            raise RuntimeError(f"{label} should have at least 2 dimensions, but has {t.ndim} dimensions instead")
    if B.dtype != F.dtype:
        raise RuntimeError(f"Expected b and A to have the same dtype, but found b of type "
                           f"{_dtypes.torch_type_name(B.dtype)} and A of type {_dtypes.torch_type_name(F.dtype)} "
                           "instead.")
    if F.shape[-1] != F.shape[-2] or B.shape[-2] != F.shape[-1]:
        raise RuntimeError(f"Incompatible matrix sizes for cholesky_solve: each A matrix is {F.shape[-2]} by "
                           f"{F.shape[-1]} but each b matrix is {B.shape[-2]} by {B.shape[-1]}")
    _check_dtype(B, "cholesky_solve", "cholesky_solve_cpu", True)
    B, F = _broadcast_batch(B, F)
    return CholeskySolve.apply(B, F, bool(upper))


class CholeskyInverse(Function):
    node_name = "CholeskyInverseBackward0"

    @staticmethod
    def forward(ctx, F, upper: bool):
        n = F.shape[-1]
        K = dense_linalg_kernels(F._data, "cholesky_inverse")
        f3 = _batched(F._data, n, n)
        zero = K.zero_diagonal_batch(f3)
        if zero.any():
            b = int(np.flatnonzero(zero)[0])
            raise LinAlgError(f"cholesky_inverse: {_batch_prefix(F, b)}The diagonal element {int(zero[b])} is zero, "
                              "the inversion could not be completed because the input matrix is singular.")
        ident = np.broadcast_to(np.eye(n, dtype=f3.dtype), f3.shape)
        out = Tensor(_solve_with_factor(K, f3, _backend.contiguous(ident), upper).reshape(F.shape))
        ctx.save_for_backward(F, out)
        ctx.upper = upper
        return out

    @staticmethod
    def backward(ctx, g):
        F, inv = ctx.saved_tensors
        common = matmul(inv, matmul(g + g.mT, inv))
        return -matmul(F, common) if ctx.upper else -matmul(common, F)


@autocast_op
def cholesky_inverse(input, upper: bool = False) -> Tensor:
    """The inverse of ``A = L L^T`` (``upper=True``: ``U^T U``) from its Cholesky factor.

    >>> import numgrad as ng
    >>> ng.cholesky_inverse(ng.tensor([[2., 0.], [0., 4.]]))
    tensor([[0.2500, 0.0000],
            [0.0000, 0.0625]])
    """
    _check_matrix(input, "cholesky_inverse", kernel="cholesky_inverse_out_cpu", ints_unimplemented=True)
    return CholeskyInverse.apply(input, bool(upper))


# ---------------------------------------------------------------------------------------------- triangular
class SolveTriangular(Function):
    node_name = "LinalgSolveTriangularBackward0"

    @staticmethod
    def forward(ctx, A, B, upper: bool, left: bool, unitriangular: bool):
        K = dense_linalg_kernels(A._data, "linalg.solve_triangular")
        n = A.shape[-1]
        if left:  # A X = B
            x = K.solve_triangular_batch(_batched(A._data, n, n), _batched(B._data, n, B.shape[-1]),
                                         not upper, unitriangular)
            out = x.reshape(B.shape)
        else:  # X A = B  <=>  A^T X^T = B^T, and A^T is lower where A is upper
            bt = np.swapaxes(B._data, -1, -2)
            x = K.solve_triangular_batch(_batched(np.swapaxes(A._data, -1, -2), n, n),
                                         _batched(bt, n, B.shape[-2]), upper, unitriangular)
            out = _transposed(x.reshape(bt.shape))
        out = Tensor(out)
        ctx.save_for_backward(A, out)
        ctx.flags = (upper, left, unitriangular)
        return out

    @staticmethod
    def backward(ctx, g):
        A, X = ctx.saved_tensors
        upper, left, unit = ctx.flags
        # PyTorch's linalg_solve_triangular_backward: G_B = A^-T G_X, G_A = -G_B X^T on A's triangle
        g_b = solve_triangular(A.mT, g, upper=not upper, left=left, unitriangular=unit)
        g_a = None
        if ctx.needs_input_grad[0]:
            g_a = -matmul(g_b, X.mT) if left else -matmul(X.mT, g_b)
            g_a = triu(g_a, int(unit)) if upper else tril(g_a, -int(unit))
        return g_a, (g_b if ctx.needs_input_grad[1] else None)


def solve_triangular(A, B, *, upper: bool, left: bool = True, unitriangular: bool = False) -> Tensor:
    """``X`` with ``A X = B`` (``left=False``: ``X A = B``) for triangular ``A``: its upper or lower triangle is
    read, the other ignored (``unitriangular``: ones assumed on the diagonal). Batch dims broadcast; dtypes
    promote. A zero on the diagonal gives inf/NaN, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.linalg.solve_triangular(ng.tensor([[2., 1.], [0., 4.]]), ng.tensor([[3.], [4.]]), upper=True)
    tensor([[1.],
            [1.]])
    """
    op = "linalg.solve_triangular"
    for t, name in ((A, "A"), (B, "B")):
        if not isinstance(t, Tensor):
            raise TypeError(f"linalg_solve_triangular(): argument '{'input' if name == 'A' else 'B'}' must be Tensor, "
                            f"not {type(t).__name__}")
        if t.ndim < 2:
            raise RuntimeError(f"{op}: The input tensor {name} must have at least 2 dimensions.")
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{op}: A must be batches of square matrices, but they are {A.shape[-2]} by "
                           f"{A.shape[-1]} matrices")
    if (B.shape[-2] if left else B.shape[-1]) != A.shape[-1]:
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation {'AX = B' if left else 'XA = B'} "
                           f"({A.shape[-2]}x{A.shape[-1]} and {B.shape[-2]}x{B.shape[-1]})")
    dtype = result_type(A, B)
    probe = A if A.dtype == dtype else A.to(dtype)
    _check_dtype(probe, op, "triangular_solve_cpu", True)
    A, B = probe, (B if B.dtype == dtype else B.to(dtype))
    A, B = _broadcast_batch(A, B)
    return SolveTriangular.apply(A, B, bool(upper), bool(left), bool(unitriangular))


@autocast_op
def triangular_solve(input, A, upper: bool = True, transpose: bool = False, unitriangular: bool = False):
    """``torch.triangular_solve`` (deprecated there): ``(solution, cloned_coefficient)`` with
    ``op(A) X = input``, ``op`` the transpose when ``transpose=True``; the second item is a copy of ``A``
    (broadcast to the batch shape).

    >>> import numgrad as ng
    >>> ng.triangular_solve(ng.tensor([[3.], [4.]]), ng.tensor([[2., 1.], [0., 4.]])).solution
    tensor([[1.],
            [1.]])
    """
    _warn_once("triangular_solve", "torch.triangular_solve is deprecated in favor of torch.linalg.solve_triangular "
               "and will be removed in a future PyTorch release.\ntorch.linalg.solve_triangular has its arguments "
               "reversed and does not return a copy of one of the inputs.\nX = torch.triangular_solve(B, A).solution\n"
               "should be replaced with\nX = torch.linalg.solve_triangular(A, B).")
    for t, name in ((input, "b"), (A, "A")):
        if not isinstance(t, Tensor):
            raise TypeError(f"triangular_solve(): argument '{'input' if name == 'b' else 'A'}' must be Tensor, "
                            f"not {type(t).__name__}")
        if t.ndim < 2:
            raise RuntimeError(f"torch.triangular_solve: Expected {name} to have at least 2 dimensions, but it has "
                               f"{t.ndim} dimensions instead")
    if A.shape[-1] != A.shape[-2] or input.shape[-2] != A.shape[-1]:
        raise RuntimeError(f"Incompatible matrix sizes for triangular_solve: each A matrix is {A.shape[-2]} by "
                           f"{A.shape[-1]} but each b matrix is {input.shape[-2]} by {input.shape[-1]}")
    _check_dtype(A, "triangular_solve", "triangular_solve_cpu", True)
    input, A = _broadcast_batch(input, A)
    coefficient = A.mT if transpose else A
    solution = solve_triangular(coefficient, input, upper=bool(upper) != bool(transpose), unitriangular=unitriangular)
    return triangular_solve_return_type(solution, pw.clone(A))  # A broadcast to the batch shape, as PyTorch's


# ---------------------------------------------------------------------------------------------- QR
_QR_MODES = ("reduced", "complete", "r")


class QR(Function):
    node_name = "LinalgQrBackward0"

    @staticmethod
    def forward(ctx, A, mode: str):
        m, n = A.shape[-2:]
        batch = A.shape[:-2]
        complete = mode == "complete"
        qc = m if complete else min(m, n)
        if A.numel():
            K = dense_linalg_kernels(A._data, "linalg.qr")
            q, r = K.qr_batch(_batched(A._data, m, n), complete)
        else:
            q = np.broadcast_to(np.eye(m, qc, dtype=A.dtype.np), batch + (m, qc))
            r = np.zeros(batch + (qc, n), dtype=A.dtype.np)
        Q = Tensor(_backend.contiguous(q).reshape(batch + (m, qc))) if mode != "r" else zeros(0, dtype=A.dtype)
        R = Tensor(r.reshape(batch + (qc, n)))
        ctx.save_for_backward(Q, R)
        ctx.mode = mode
        ctx.set_materialize_grads(False)
        return Q, R

    @staticmethod
    def backward(ctx, gQ, gR):
        mode = ctx.mode
        if mode == "r":
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please "
                               "use linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr.")
        Q, R = ctx.saved_tensors
        m, n = Q.shape[-2], R.shape[-1]
        if mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
        if gQ is None and gR is None:
            return None
        # PyTorch's linalg_qr_backward
        if gQ is not None:
            gA = -matmul(Q.mT, gQ) if gR is None else matmul(gR, R.mT) - matmul(Q.mT, gQ)
        else:
            gA = matmul(gR, R.mT)
        if m >= n:
            X = triu(gA)
            gA = matmul(Q, X + triu(X, 1).mT)  # syminvadj: X + X^T with X's diagonal once
            if gQ is not None:
                gA = gA + gQ
            return solve_triangular(R.mT, gA, upper=False, left=False)
        Y = -gA
        gA = matmul(Q, tril(Y - Y.mT))
        gA = solve_triangular(narrow(R, -1, 0, m).mT, gA, upper=False, left=False)
        gA = cat([gA, zeros(*R.shape[:-1], n - m, dtype=gA.dtype)], -1)
        if gR is not None:
            gA = gA + matmul(Q, gR)
        return gA


def _qr(A, mode: str):
    if mode not in _QR_MODES:
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', or "
                           "'complete'")
    _check_matrix(A, "linalg.qr", square=False, kernel="geqrf_cpu")
    return QR.apply(A, mode)


@autocast_op(name="linalg.qr")
def linalg_qr(A, mode: str = "reduced"):
    """``(Q, R)`` with ``A = Q R``, ``Q`` orthonormal columns and ``R`` upper triangular (LAPACK's Householder
    QR, as PyTorch's: R's diagonal may be negative). ``mode``: 'reduced' (k = min(m, n) columns), 'complete'
    (``Q`` square) or 'r' (``Q`` empty). Backward: not through mode 'r', nor 'complete' with m > n (PyTorch's errors).

    >>> import numgrad as ng
    >>> ng.linalg.qr(ng.tensor([[3., 0.], [4., 5.]])).R
    tensor([[-5., -4.],
            [ 0.,  3.]])
    """
    return qr_return_type(*_qr(A, mode))


@autocast_op
def qr(input, some: bool = True):
    """``torch.qr``: ``linalg.qr`` with ``some=True`` meaning mode 'reduced', ``False`` 'complete'.

    >>> import numgrad as ng
    >>> ng.qr(ng.ones(3, 2)).Q.shape
    (3, 2)
    """
    _warn_once("qr", "The boolean parameter 'some' has been replaced with a string parameter 'mode'.\nQ, R = "
               "torch.qr(A, some)\nshould be replaced with\nQ, R = torch.linalg.qr(A, 'reduced' if some else "
               "'complete')")
    return torch_qr_return_type(*_qr(input, "reduced" if some else "complete"))


# ---------------------------------------------------------------------------------------------- eigh
class Eigh(Function):
    node_name = "LinalgEighBackward0"

    @staticmethod
    def forward(ctx, A, upper: bool):
        n = A.shape[-1]
        K = dense_linalg_kernels(A._data, "linalg.eigh")
        w, v = K.eigh_batch(_batched(A._data, n, n), upper)
        L, V = Tensor(w.reshape(A.shape[:-1])), Tensor(v.reshape(A.shape))
        ctx.save_for_backward(L, V)
        ctx.set_materialize_grads(False)
        return L, V

    @staticmethod
    def backward(ctx, gL, gV):
        L, V = ctx.saved_tensors
        # PyTorch's linalg_eig_backward, Hermitian case
        if gV is None:
            return None if gL is None else matmul(V * gL.unsqueeze(-2), V.mT)
        VhgV = matmul(V.mT, gV)
        VhgV = 0.5 * (VhgV - VhgV.mT)
        E = L.unsqueeze(-2) - L.unsqueeze(-1) + _eye_like(L, L.shape[-1])  # E_ij = L_j - L_i, 1 on the diagonal
        inner = VhgV / E
        if gL is not None:
            inner = inner + diag_embed(gL)
        return matmul(V, matmul(inner, V.mT))


def _eigh(A, UPLO: str, op: str):
    _check_matrix(A, op, kernel="linalg_eigh_cpu", ints_unimplemented=True)
    if UPLO not in ("L", "U", "l", "u"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return Eigh.apply(A, UPLO in ("U", "u"))


@autocast_op(name="linalg.eigh")
def eigh(A, UPLO: str = "L"):
    """``(eigenvalues, eigenvectors)`` of each symmetric matrix (read from its lower triangle, or upper with
    ``UPLO='U'``): eigenvalues ascending, eigenvectors orthonormal columns (each up to sign).

    >>> import numgrad as ng
    >>> ng.linalg.eigh(ng.tensor([[2., 1.], [1., 2.]])).eigenvalues
    tensor([1., 3.])
    """
    return eigh_return_type(*_eigh(A, UPLO, "linalg.eigh"))


@autocast_op(name="linalg.eigvalsh")
def eigvalsh(A, UPLO: str = "L") -> Tensor:
    """The eigenvalues (ascending) of each symmetric matrix; the gradient is ``V diag(g) V^T``.

    >>> import numgrad as ng
    >>> ng.linalg.eigvalsh(ng.tensor([[2., 0.], [0., 1.]]))
    tensor([1., 2.])
    """
    return _eigh(A, UPLO, "linalg.eigh")[0]


# ---------------------------------------------------------------------------------------------- SVD
class SVD(Function):
    node_name = "LinalgSvdBackward0"

    @staticmethod
    def forward(ctx, A, full_matrices: bool):
        m, n = A.shape[-2:]
        k = min(m, n)
        batch = A.shape[:-2]
        uc, vr = (m, n) if full_matrices else (k, k)
        if A.numel():
            K = dense_linalg_kernels(A._data, "linalg.svd")
            u, s, vh, info = K.svd_batch(_batched(A._data, m, n), full_matrices)
            if info.any():
                b = int(np.flatnonzero(info)[0])
                raise LinAlgError(f"linalg.svd: {_batch_prefix(A, b)}The algorithm failed to converge because the "
                                  "input matrix contained non-finite values.")
        else:  # PyTorch's: the full factor of the non-empty side is the identity
            u = np.broadcast_to(np.eye(m, uc, dtype=A.dtype.np), batch + (m, uc))
            s = np.zeros(batch + (k,), dtype=A.dtype.np)
            vh = np.broadcast_to(np.eye(vr, n, dtype=A.dtype.np), batch + (vr, n))
        U = Tensor(_backend.contiguous(u).reshape(batch + (m, uc)))
        S = Tensor(s.reshape(batch + (k,)))
        Vh = Tensor(_backend.contiguous(vh).reshape(batch + (vr, n)))
        ctx.save_for_backward(U, S, Vh)
        ctx.full = full_matrices
        ctx.set_materialize_grads(False)
        return U, S, Vh

    @staticmethod
    def backward(ctx, gU, gS, gVh):
        U, S, Vh = ctx.saved_tensors
        m, n, k = U.shape[-2], Vh.shape[-1], S.shape[-1]
        if ctx.full:  # as PyTorch: only the first k singular vectors carry gradient
            U, Vh = narrow(U, -1, 0, k), narrow(Vh, -2, 0, k)
            gU = None if gU is None else narrow(gU, -1, 0, k)
            gVh = None if gVh is None else narrow(gVh, -2, 0, k)
        # PyTorch's svd_backward
        if gU is None and gVh is None:
            if gS is None:
                return None
            return matmul(U, gS.unsqueeze(-1) * Vh) if m >= n else matmul(U * gS.unsqueeze(-2), Vh)
        UhgU = None if gU is None else matmul(U.mT, gU)
        UhgU = None if UhgU is None else UhgU - UhgU.mT
        VhgV = None if gVh is None else matmul(Vh, gVh.mT)
        VhgV = None if VhgV is None else VhgV - VhgV.mT
        S2 = S * S
        E = S2.unsqueeze(-2) - S2.unsqueeze(-1) + _eye_like(S, k)  # E_jk = S_k^2 - S_j^2, 1 on the diagonal
        if UhgU is not None and VhgV is not None:
            inner = (UhgU * S.unsqueeze(-2) + S.unsqueeze(-1) * VhgV) / E
        elif UhgU is not None:
            inner = (UhgU / E) * S.unsqueeze(-2)
        else:
            inner = S.unsqueeze(-1) * (VhgV / E)
        if gS is not None:
            inner = inner + diag_embed(gS)
        if m > n and gU is not None:
            gA = matmul(U, inner)
            gUSinv = gU / S.unsqueeze(-2)
            gA = gA + gUSinv - matmul(U, matmul(U.mT, gUSinv))
            return matmul(gA, Vh)
        if m < n and gVh is not None:
            gA = matmul(inner, Vh)
            SinvgVh = gVh / S.unsqueeze(-1)
            gA = gA + SinvgVh - matmul(matmul(SinvgVh, Vh.mT), Vh)
            return matmul(U, gA)
        return matmul(U, matmul(inner, Vh)) if m >= n else matmul(matmul(U, inner), Vh)


def _svd(A, full_matrices: bool, driver=None):
    if driver is not None:
        raise RuntimeError("torch.linalg.svd: keyword argument `driver=` is only supported on CUDA inputs with "
                           "cuSOLVER backend.")
    _check_matrix(A, "linalg.svd", square=False, kernel="linalg_svd_cpu")
    return SVD.apply(A, bool(full_matrices))


@autocast_op(name="linalg.svd")
def linalg_svd(A, full_matrices: bool = True, *, driver=None):
    """``(U, S, Vh)`` with ``A = U diag(S) Vh``: singular values descending, singular vectors up to sign
    (LAPACK's gesdd, as PyTorch's on the CPU). ``full_matrices=True`` gives square ``U``, ``Vh``; only their
    first min(m, n) vectors carry gradient, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.linalg.svd(ng.tensor([[3., 0.], [0., -4.]])).S
    tensor([4., 3.])
    """
    return svd_return_type(*_svd(A, full_matrices, driver))


@autocast_op(name="linalg.svdvals")
def svdvals(A, *, driver=None) -> Tensor:
    """The singular values of each matrix, descending; the gradient is ``U diag(g) Vh``.

    >>> import numgrad as ng
    >>> ng.linalg.svdvals(ng.tensor([[0., 2.], [1., 0.]]))
    tensor([2., 1.])
    """
    return _svd(A, False, driver)[1]


@autocast_op
def svd(input, some: bool = True, compute_uv: bool = True):
    """``torch.svd``: ``(U, S, V)`` with ``A = U diag(S) V^T`` (``V``, not ``Vh``); ``some=False`` gives square
    ``U``, ``V``; ``compute_uv=False`` gives zero-filled (m, m) ``U`` and (n, n) ``V``, as PyTorch's.

    >>> import numgrad as ng
    >>> ng.svd(ng.tensor([[3., 0.], [0., -4.]])).S
    tensor([4., 3.])
    """
    if not compute_uv:
        S = svdvals(input)
        m, n = input.shape[-2:]
        batch = tuple(input.shape[:-2])
        return torch_svd_return_type(zeros(*batch, m, m, dtype=input.dtype), S, zeros(*batch, n, n, dtype=input.dtype))
    U, S, Vh = _svd(input, not some)
    return torch_svd_return_type(U, S, Vh.mT)


# ---------------------------------------------------------------------------------------------- pinv, lstsq, rank
def _tolerances(A, atol, rtol):
    """PyTorch's get_atol_rtol: absent ``rtol`` is eps * max(m, n), or 0 where ``atol`` > 0. Tensor tolerances
    (one per matrix) are unsqueezed to broadcast against the singular values."""
    default = _dtypes.finfo(A.dtype).eps * max(A.shape[-2], A.shape[-1])
    if isinstance(atol, Tensor):
        atol = atol.unsqueeze(-1)
    if rtol is None:
        if atol is None:
            rtol = default
        elif isinstance(atol, Tensor):
            rtol = pw.where(pw.gt(atol, 0), 0.0, default)
        else:
            rtol = 0.0 if atol > 0 else default
    elif isinstance(rtol, Tensor):
        rtol = rtol.unsqueeze(-1)
    return (0.0 if atol is None else atol), rtol


def _cutoff(atol, rtol, max_value: Tensor) -> Tensor:
    """max(atol, rtol * max_value), to compare with the singular values (or eigenvalues) of each matrix."""
    return pw.maximum(rtol * max_value, atol)


def _pinv_values(A, atol, rtol, hermitian: bool) -> Tensor:
    """PyTorch's linalg_pinv forward: the SVD (or eigh) with small singular values (eigenvalues) dropped."""
    m, n = A.shape[-2:]
    if A.numel() == 0:
        return zeros(*A.shape[:-2], n, m, dtype=A.dtype)
    atol, rtol = _tolerances(A, atol, rtol)
    if hermitian:
        L, V = eigh(A)
        absL = pw.abs(L)
        keep = pw.gt(absL, _cutoff(atol, rtol, amax(absL, -1, keepdim=True)))
        inv = pw.where(keep, pw.reciprocal(L), 0.0).to(A.dtype)
        return matmul(V * inv.unsqueeze(-2), V.mT)
    U, S, Vh = linalg_svd(A, full_matrices=False)
    keep = pw.gt(S, _cutoff(atol, rtol, narrow(S, -1, 0, 1)))
    inv = pw.where(keep, pw.reciprocal(S), 0.0).to(A.dtype)
    return matmul(Vh.mT * inv.unsqueeze(-2), U.mT)


def _pinv_backward(g, P, A):
    """PyTorch's pinv_backward: the gradient of pinv at A (P = pinv(A)), in the smaller of the two shapes."""
    m, n = A.shape[-2:]
    Pt, gt = P.mT, g.mT
    if m <= n:
        K = matmul(gt, P)
        KPt = matmul(K, Pt)
        return (-matmul(P, K).mT + KPt - matmul(matmul(A, P), KPt)
                + matmul(matmul(Pt, P), gt - matmul(K, A)))
    K = matmul(P, gt)
    PtK = matmul(Pt, K)
    return (-matmul(K, P).mT + matmul(matmul(gt - matmul(A, K), P), Pt) + PtK
            - matmul(matmul(PtK, P), A))


class Pinv(Function):
    node_name = "LinalgPinvBackward0"

    @staticmethod
    def forward(ctx, A, atol, rtol, hermitian: bool):
        out = _pinv_values(A, atol, rtol, hermitian)
        ctx.save_for_backward(A, out)
        return out

    @staticmethod
    def backward(ctx, g):
        A, P = ctx.saved_tensors
        return _pinv_backward(g, P, A)


def pinv(A, rcond=None, hermitian: bool = False, *, atol=None, rtol=None) -> Tensor:
    """The Moore-Penrose pseudo-inverse of each matrix, from its SVD (its eigendecomposition with
    ``hermitian=True``): singular values at most ``max(atol, rtol * largest)`` count as zero (default ``rtol``:
    eps * max(m, n); the old ``rcond`` is ``rtol`` with ``atol=0``). The gradient is PyTorch's ``pinv_backward``.

    >>> import numgrad as ng
    >>> ng.linalg.pinv(ng.tensor([[2., 0.], [0., 0.]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.0000]])
    """
    if not isinstance(A, Tensor):
        raise TypeError(f"linalg_pinv(): argument 'input' must be Tensor, not {type(A).__name__}")
    if A.ndim < 2 or A.dtype.name not in _LAPACK_DTYPES:
        raise RuntimeError(f"linalg.pinv({_dtypes.torch_type_name(A.dtype)}{{{list(A.shape)}}}): expected a tensor "
                           "with 2 or more dimensions of float, double, cfloat or cdouble types")
    if rcond is not None:
        if atol is not None or rtol is not None:
            raise TypeError("linalg_pinv() received an invalid combination of arguments: rcond cannot be given with "
                            "atol or rtol")
        atol, rtol = 0.0, rcond
    return Pinv.apply(A, atol, rtol, bool(hermitian))


@autocast_op
def pinverse(input, rcond: float = 1e-15) -> Tensor:
    """``torch.pinverse``: ``linalg.pinv(input, rcond)``.

    >>> import numgrad as ng
    >>> ng.pinverse(ng.tensor([[1., 1.]]))
    tensor([[0.5000],
            [0.5000]])
    """
    return pinv(input, rcond)


class LstsqSolution(Function):
    node_name = "LinalgLstsqBackward0"

    @staticmethod
    def forward(ctx, A, B, rcond: float):
        # the minimum-norm solution through the SVD (LAPACK's gelsd); PyTorch's default CPU driver, gelsy, gives
        # the same solution (it differs only where the rank is decided differently near the cutoff)
        U, S, Vh = linalg_svd(A, full_matrices=False)
        keep = pw.gt(S, rcond * narrow(S, -1, 0, 1))
        inv = pw.where(keep, pw.reciprocal(S), 0.0)
        X = matmul(Vh.mT, inv.unsqueeze(-1) * matmul(U.mT, B))
        rank = _sum(keep, -1)
        ctx.save_for_backward(A, B)
        ctx.mark_non_differentiable(S)
        return X, rank, S

    @staticmethod
    def backward(ctx, gX, _g_rank, _g_s):
        A, B = ctx.saved_tensors
        # PyTorch's linalg_lstsq_backward (the solution's part): through pinv(A) with its default tolerance
        P = pinv(A)
        gA = _pinv_backward(matmul(gX, B.mT), P, A) if ctx.needs_input_grad[0] else None
        gB = matmul(P.mT, gX) if ctx.needs_input_grad[1] else None
        return gA, gB


_LSTSQ_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


@autocast_op(name="linalg.lstsq")
def lstsq(A, B, rcond=None, *, driver=None):
    """``(solution, residuals, rank, singular_values)`` of min |A X - B| for each matrix (``B`` a matrix, or a
    vector per matrix), filled as PyTorch fills them for ``driver`` (default 'gelsy', PyTorch's CPU default):
    the rank for gelsy/gelsd/gelss, the singular values for gelsd/gelss, the squared residuals per column when
    m > n for gels (and for gelsd/gelss when every matrix has full rank); the others are empty. The solution is
    the minimum-norm one (for rank-deficient A with driver 'gels' PyTorch returns LAPACK's unpivoted QR answer
    instead). Singular values at most ``rcond`` (default eps * max(m, n)) times the largest count as zero.

    >>> import numgrad as ng
    >>> ng.linalg.lstsq(ng.tensor([[1., 0.], [0., 1.], [0., 0.]]), ng.tensor([1., 2., 3.])).solution
    tensor([1., 2.])
    """
    for t, name in ((A, "input"), (B, "other")):
        if not isinstance(t, Tensor):
            raise TypeError(f"linalg_lstsq(): argument '{'self' if name == 'input' else 'b'}' must be Tensor, not "
                            f"{type(t).__name__}")
    if A.dtype.name not in _LAPACK_DTYPES or B.dtype.name not in _LAPACK_DTYPES:
        raise RuntimeError("This function doesn't handle types other than float and double")
    if A.dtype != B.dtype:
        raise RuntimeError(f"torch.linalg.lstsq: Expected input and other to have the same dtype, but got input's "
                           f"dtype {_dtypes.torch_type_name(A.dtype)} and other's dtype "
                           f"{_dtypes.torch_type_name(B.dtype)}")
    if A.ndim < 2:
        raise RuntimeError("torch.linalg.lstsq: input must have at least 2 dimensions.")
    if B.ndim < 1:
        raise RuntimeError("torch.linalg.lstsq: other must have at least 1 dimension.")
    if driver is not None and driver not in _LSTSQ_DRIVERS:
        raise RuntimeError("torch.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)")
    driver = driver or "gelsy"
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    B2 = B.unsqueeze(-1) if vector else B
    if B2.shape[-2] != A.shape[-2]:
        raise RuntimeError("torch.linalg.lstsq: input.size(-2) should match other.size(-2)")
    m, n = A.shape[-2:]
    A, B2 = _broadcast_batch(A, B2)
    if rcond is None:
        rcond = _dtypes.finfo(A.dtype).eps * max(m, n)
    if A.numel() == 0:
        X = zeros(*A.shape[:-2], n, B2.shape[-1], dtype=A.dtype)
        rank_t = zeros(*A.shape[:-2], dtype=_dtypes.int64)
        S = zeros(*A.shape[:-2], min(m, n), dtype=A.dtype)
    else:
        try:
            X, rank_t, S = LstsqSolution.apply(A, B2, float(rcond))
        except LinAlgError as e:  # NaN in A: the SVD's error, under this op's name
            raise LinAlgError(str(e).replace("linalg.svd:", "linalg.lstsq:")) from None
    empty = zeros(0, dtype=A.dtype)
    residuals = empty
    full_rank = driver in ("gelsd", "gelss") and bool((rank_t == n).all())
    if m > n and (driver == "gels" or full_rank):
        # through the solution too: its part vanishes at the optimum (PyTorch's formula, by Danskin's theorem,
        # leaves it out), and second derivatives stay right
        r = matmul(A, X) - B2
        residuals = _sum(r * r, -2)
    rank = rank_t if driver != "gels" else zeros(0, dtype=_dtypes.int64)
    singular_values = S if driver in ("gelsd", "gelss") else empty
    return lstsq_return_type(X.squeeze(-1) if vector else X, residuals, rank, singular_values)


@autocast_op(name="linalg.matrix_rank")
def matrix_rank(A, tol=None, hermitian: bool = False, *, atol=None, rtol=None) -> Tensor:
    """The number of singular values (absolute eigenvalues with ``hermitian=True``) above
    ``max(atol, rtol * largest)`` (default ``rtol``: eps * max(m, n); the old ``tol`` is ``atol`` with ``rtol=0``).

    >>> import numgrad as ng
    >>> ng.linalg.matrix_rank(ng.tensor([[1., 2.], [2., 4.]]))
    tensor(1)
    """
    if not isinstance(A, Tensor):
        raise TypeError(f"linalg_matrix_rank(): argument 'input' must be Tensor, not {type(A).__name__}")
    if A.dtype.name not in _LAPACK_DTYPES:
        raise RuntimeError("This function doesn't handle types other than float and double")
    if A.ndim < 2:
        raise RuntimeError("torch.linalg.matrix_rank: The input tensor input must have at least 2 dimensions.")
    if tol is not None:
        atol, rtol = tol, 0.0
    if A.numel() == 0:
        return zeros(*A.shape[:-2], dtype=_dtypes.int64)
    atol, rtol = _tolerances(A, atol, rtol)
    S = pw.abs(eigvalsh(A)) if hermitian else svdvals(A)
    return _sum(pw.gt(S, _cutoff(atol, rtol, amax(S, -1, keepdim=True))), -1)


# ---------------------------------------------------------------------------------------------- matrix_exp
class MatrixExp(Function):
    node_name = "LinalgMatrixExpBackward0"

    @staticmethod
    def forward(ctx, A):
        n = A.shape[-1]
        wide = A if A.dtype.name == "float64" else A.to(_dtypes.float64)  # one float64 kernel for every dtype
        K = dense_linalg_kernels(A._data, "linalg.matrix_exp")
        out = Tensor(K.matrix_exp_batch(_batched(wide._data, n, n)).reshape(A.shape))
        ctx.save_for_backward(A)
        return out if A.dtype.name == "float64" else out.to(A.dtype)

    @staticmethod
    def backward(ctx, g):
        (A,) = ctx.saved_tensors
        # PyTorch's linalg_matrix_exp_differential (Mathias 1996): the top-right block of
        # exp([[A^T, G], [0, A^T]])
        n = A.shape[-1]
        At = A.mT
        top = cat([At, g], -1)
        bottom = cat([zeros(*At.shape, dtype=At.dtype), At], -1)
        big = matrix_exp(cat([top, bottom], -2))
        return narrow(narrow(big, -2, 0, n), -1, n, n)


def matrix_exp(A) -> Tensor:
    """The matrix exponential of each square matrix (scaling and squaring with a [13/13] Pade approximant,
    computed in float64); its gradient is the adjoint Frechet derivative, itself a matrix exponential.

    >>> import numgrad as ng
    >>> ng.linalg.matrix_exp(ng.tensor([[0., 1.], [0., 0.]]))
    tensor([[1., 1.],
            [0., 1.]])
    """
    _check_matrix(A, "linalg.matrix_exp", lapack=False)
    if A.numel() == 0:
        return pw.clone(A)
    return MatrixExp.apply(A)


def _exclusive_products(S: Tensor) -> Tensor:
    """``P[..., i]`` = the product of every ``S[..., j]`` but ``S[..., i]`` (PyTorch's ``prod_safe_zeros_backward``:
    exact with zeros among them, where dividing the whole product by ``S[..., i]`` is not)."""
    ones = ones_like(narrow(S, -1, 0, 1))
    n = S.shape[-1]
    before = cumprod(cat([ones, narrow(S, -1, 0, n - 1)], -1), -1)
    after = flip(cumprod(flip(cat([narrow(S, -1, 1, n - 1), ones], -1), [-1]), -1), [-1])
    return before * after


class Det(Function):
    node_name = "LinalgDetBackward0"

    @staticmethod
    def forward(ctx, A):
        sign, logabs = slogdet(A)
        out = sign * logabs.exp()
        ctx.save_for_backward(A, out)
        return out

    @staticmethod
    def backward(ctx, g):
        A, out = ctx.saved_tensors
        eps = float(np.finfo(A.dtype.np).eps)
        absolute = _backend.contiguous(pw.abs(out)._data).reshape(-1)
        if A.numel() == 0 or not _backend.any_below(absolute, eps):  # (one kernel: ng.compile checks its answer)
            return (g * out).unsqueeze(-1).unsqueeze(-2) * inverse(A).mT
        # PyTorch's singular case, for the whole batch: with A = U diag(S) Vh, det A = det U det Vh prod S, so
        # the gradient is U diag(d prod S / d S) Vh times g det U det Vh (both +-1)
        U, S, Vh = SVD.apply(A, False)
        alpha = slogdet(U).sign * slogdet(Vh).sign
        D = _exclusive_products(S) * (g * alpha).unsqueeze(-1)
        return matmul(U * D.unsqueeze(-2), Vh)


def det(A) -> Tensor:
    """The determinant of each square matrix; its gradient is ``det * A^-T`` and, at a singular matrix,
    PyTorch's through the SVD (the adjugate's transpose).

    >>> import numgrad as ng
    >>> A = ng.tensor([[2., 0.], [0., 0.]], requires_grad=True)
    >>> ng.det(A).backward(); A.grad
    tensor([[0., 0.],
            [0., 2.]])
    """
    _square(A, "det")
    return Det.apply(A)


TENSOR_METHODS = {
    "det": det,
    "cholesky": cholesky, "cholesky_solve": cholesky_solve, "cholesky_inverse": cholesky_inverse, "qr": qr,
    "svd": svd, "pinverse": pinverse, "matrix_exp": matrix_exp, "triangular_solve": triangular_solve,
}
PUBLIC = ("det", "cholesky", "cholesky_solve", "cholesky_inverse", "qr", "svd", "pinverse", "matrix_exp",
          "triangular_solve")
