"""The LU family and the Householder helpers, with PyTorch's signatures, values, errors and gradients:
``linalg.lu_factor``, ``linalg.lu_factor_ex``, ``linalg.lu``, ``linalg.lu_solve``, the deprecated ``torch.lu`` and
``torch.lu_solve``, ``torch.lu_unpack``; ``geqrf``, ``linalg.householder_product`` (``orgqr``) and ``ormqr``.

Factorisations and solves come from LAPACK's ``getrf``/``getrs``/``geqrf`` through ``scipy.linalg.lapack``
(one call per matrix of the batch), so pivots are LAPACK's: 1-based int32, row ``i`` swapped with row
``pivots[i] - 1`` at step ``i``, and ``A = P L U``. Each backward is PyTorch's formula
(``torch/csrc/autograd/FunctionsManual.cpp``: ``linalg_lu_backward``, ``lu_factor_ex_backward``,
``linalg_lu_solve_LU``, ``lu_unpack_backward``) written with numgrad's ops, so it is differentiable again.
``householder_product`` and ``ormqr`` apply the reflectors one by one with numgrad's ops, so their gradients
(w.r.t. the reflectors, ``tau`` and ``other``) are autograd's; ``geqrf`` has none, as in PyTorch.

CPU only (as the other decompositions): a CUDA tensor gets the backend's "no CUDA kernel" error.

>>> import numgrad as ng
>>> LU, pivots = ng.linalg.lu_factor(ng.tensor([[1., 2.], [3., 4.]]))
>>> pivots
tensor([2, 2], dtype=numgrad.int32)
>>> ng.linalg.lu_solve(LU, pivots, ng.tensor([[5.], [11.]]))
tensor([[1.],
        [2.]])
"""
from __future__ import annotations

import importlib
from typing import Optional, Sequence

import numpy as np

from .. import _dtypes
from ..autograd.function import Function
from ..creation import eye, zeros
from ..kernels.backend import dense_linalg_kernels
from ..tensor import Tensor
from .decompositions import _batch_prefix, _check_dtype, _return_type, _warn_once, solve_triangular
from .diagonals import tril, triu
from .elementwise import broadcast_shapes
from .elementwise_functions import write_out
from .linalg import matmul
from .shape import cat, narrow
from .autocast_policy import autocast_op

lu_factor_return_type = _return_type("linalg_lu_factor", ("LU", "pivots"))
lu_factor_ex_return_type = _return_type("linalg_lu_factor_ex", ("LU", "pivots", "info"))
lu_return_type = _return_type("linalg_lu", ("P", "L", "U"))
lu_with_info_return_type = _return_type("_lu_with_info", ("LU", "pivots", "info"))
lu_unpack_return_type = _return_type("lu_unpack", ("P", "L", "U"))
geqrf_return_type = _return_type("geqrf", ("a", "tau"))

_LAPACK = None


def _lapack():
    """``scipy.linalg.lapack``, imported the first time an LU op runs: importing ``scipy.linalg`` costs ~0.1 s,
    which ``import numgrad`` should not pay for a user who never factorises a matrix (not a cycle: scipy is
    outside numgrad)."""
    global _LAPACK
    if _LAPACK is None:
        _LAPACK = importlib.import_module("scipy.linalg.lapack")
    return _LAPACK


# ---------------------------------------------------------------------------------------------- LAPACK calls
def _cpu_only(A: Tensor, op: str) -> None:
    """The device check: the CUDA backend has no dense linear-algebra kernels and raises its own error."""
    dense_linalg_kernels(A._data, op)


def _as_batch(arr: np.ndarray) -> np.ndarray:
    """``arr`` (..., m, n) as a (batch, m, n) array."""
    count = int(np.prod(arr.shape[:-2], dtype=np.int64))  # not -1: a reshape cannot infer it when m or n is 0
    return np.ascontiguousarray(arr).reshape((count,) + arr.shape[-2:])


def _getrf(a: np.ndarray):
    """LAPACK's ``getrf`` on each matrix of ``a`` (..., m, n): ``(LU, pivots, info)`` with 1-based int32 pivots
    of length ``min(m, n)`` and int32 ``info`` (0, or the 1-based index of the first zero on U's diagonal)."""
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = a.shape[:-2]
    a3 = _as_batch(a)
    lu = a3.copy()
    pivots = np.zeros((a3.shape[0], k), dtype=np.int32)
    info = np.zeros(a3.shape[0], dtype=np.int32)
    if k:
        (getrf,) = _lapack().get_lapack_funcs(("getrf",), (a3,))
        for b in range(a3.shape[0]):
            lu_b, piv_b, info_b = getrf(a3[b])
            lu[b] = lu_b
            pivots[b] = piv_b[:k] + 1
            info[b] = info_b
    return lu.reshape(a.shape), pivots.reshape(batch + (k,)), info.reshape(batch)


def _getrs(lu: np.ndarray, pivots: np.ndarray, b: np.ndarray, transposed: bool) -> np.ndarray:
    """X with ``A X = B`` (``transposed``: ``A^T X = B``) for each factor ``lu`` (batch, n, n) with its 1-based
    ``pivots`` (batch, n) and right-hand side ``b`` (batch, n, k)."""
    out = np.empty_like(b)
    if out.size == 0:
        return out
    (getrs,) = _lapack().get_lapack_funcs(("getrs",), (lu,))
    zero_based = pivots - 1
    for i in range(lu.shape[0]):
        x, info = getrs(lu[i], zero_based[i], b[i], trans=int(transposed))
        out[i] = x
    return out


def _unpack_data(lu: np.ndarray):
    """(L, U) from LAPACK's compact ``lu`` (..., m, n): L (..., m, k) unit lower, U (..., k, n) upper."""
    m, n = lu.shape[-2:]
    k = min(m, n)
    L = np.tril(lu[..., :, :k], -1) + np.eye(m, k, dtype=lu.dtype)
    U = np.triu(lu[..., :k, :])
    return np.ascontiguousarray(L), np.ascontiguousarray(U)


def _permutation(pivots: np.ndarray, m: int, dtype) -> np.ndarray:
    """P (..., m, m) with ``A = P L U`` from LAPACK's 1-based pivots (..., k): the row swaps replayed on
    ``arange(m)`` give the row of A that ends up in each row of ``L U``, and P is that permutation's matrix."""
    batch = pivots.shape[:-1]
    count = int(np.prod(batch, dtype=np.int64))
    swaps = pivots.reshape(count, pivots.shape[-1]).astype(np.int64) - 1
    rows = np.arange(count)
    perm = np.tile(np.arange(m), (count, 1))
    for i in range(swaps.shape[1]):
        j = swaps[:, i]
        at_i = perm[rows, i].copy()
        perm[rows, i] = perm[rows, j]
        perm[rows, j] = at_i
    P = np.zeros((count, m, m), dtype=dtype)
    P[rows[:, None], perm, np.arange(m)[None, :]] = 1
    return P.reshape(batch + (m, m))


def _check_pivot_range(pivots: np.ndarray, m: int, message_low: str, message_high: str) -> None:
    if pivots.size:
        if pivots.min() < 1:
            raise RuntimeError(message_low)
        if pivots.max() > m:
            raise RuntimeError(message_high)


# ---------------------------------------------------------------------------------------------- checks
def _check_tensor(t, fn: str, name: str, position: int) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be Tensor, not {type(t).__name__}")


def _check_factorizable(A, op: str, fn: str, pivot: bool) -> None:
    """PyTorch's checks for ``getrf``'s input, in its order: a Tensor, >= 2 dims, pivoting, a LAPACK dtype."""
    _check_tensor(A, fn, "A", 1)
    if A.ndim < 2:
        raise RuntimeError(f"{op}: Expected tensor with 2 or more dimensions. Got size: {list(A.shape)} instead")
    if not pivot:
        raise RuntimeError("linalg.lu_factor: LU without pivoting is not implemented on the CPU")
    _check_dtype(A, op, "lu_cpu", True)
    _cpu_only(A, op)


def _lu_failure(op: str, A, info: np.ndarray) -> Optional[str]:
    """PyTorch's message for the first matrix whose U has a zero on the diagonal (``info`` > 0), or None."""
    flat = info.reshape(-1)
    bad = np.flatnonzero(flat > 0)
    if bad.size == 0:
        return None
    b = int(bad[0])
    i = int(flat[b])
    return (f"{op}: {_batch_prefix(A, b)}U[{i},{i}] is zero and using it on lu_solve would result in a division by "
            "zero. If you still want to perform the factorization, consider calling linalg.lu(A, pivot) or "
            "linalg.lu_factor_ex(A, pivot)")


def _write_outs(name: str, result: tuple, out, inputs: list):
    """``out=`` for the LU functions of ``numgrad.linalg`` (PyTorch's rules, as ``numgrad/_out_arguments.py``'s
    for the ``numgrad`` namespace): each result written into the matching tensor of ``out``."""
    if not isinstance(out, (tuple, list)) or len(out) != len(result):
        raise TypeError(f"{name}(): argument 'out' must be tuple of {len(result)} Tensors, not "
                        f"{type(out).__name__}" + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
    written = [write_out(name, r, o, inputs) for r, o in zip(result, out)]
    return type(result)(*written) if hasattr(result, "_fields") else tuple(written)


# ---------------------------------------------------------------------------------------------- backward formulas
def _lu_backward(gL, gU, P, L, U):
    """PyTorch's ``linalg_lu_backward`` (pivoted): the gradient of ``A = P L U`` from those of ``L`` and ``U``
    (either may be None). Square: ``gA = P L^-H [(L^H gL) o 1_L + (gU U^H) o 1_U] U^-H``; a wide or tall A
    carries the extra block of U or L straight through."""
    if gL is None and gU is None:
        return None
    m, n = L.shape[-2], U.shape[-1]
    k = min(m, n)
    if m == n:
        gA = tril(matmul(L.mT, gL), -1) if gL is not None else None
        if gU is not None:
            upper = triu(matmul(gU, U.mT))
            gA = upper if gA is None else gA + upper
        gA = solve_triangular(U.mT, gA, upper=False, left=False)
        gA = solve_triangular(L.mT, gA, upper=True, left=True, unitriangular=True)
        return matmul(P, gA)
    if m < n:  # wide: U = [U1 | U2], U1 square
        U1 = narrow(U, -1, 0, k)
        gA = matmul(L.mT, gL) if gL is not None else None
        if gU is not None:
            term = matmul(triu(gU), U.mT)
            gA = -term if gA is None else gA - term
        gA = solve_triangular(U1.mT, tril(gA, -1), upper=False, left=False)
        if gU is not None:
            gA = cat([gA + triu(narrow(gU, -1, 0, k)), narrow(gU, -1, k, n - k)], -1)
        gA = solve_triangular(L.mT, gA, upper=True, left=True, unitriangular=True)
        if gU is None:
            gA = cat([gA, zeros(*U.shape[:-1], n - k, dtype=gA.dtype)], -1)
        return matmul(P, gA)
    # tall: L = [L1; L2], L1 square
    L1 = narrow(L, -2, 0, k)
    gA = matmul(gU, U.mT) if gU is not None else None
    if gL is not None:
        term = matmul(L.mT, tril(gL, -1))
        gA = -term if gA is None else gA - term
    gA = solve_triangular(L1.mT, triu(gA), upper=True, left=True, unitriangular=True)
    if gL is not None:
        gA = cat([gA + tril(narrow(gL, -2, 0, k), -1), narrow(gL, -2, k, m - k)], -2)
    gA = solve_triangular(U.mT, gA, upper=False, left=False)
    if gL is None:
        gA = cat([gA, zeros(*L.shape[:-2], m - k, k, dtype=gA.dtype)], -2)
    return matmul(P, gA)


# ---------------------------------------------------------------------------------------------- Functions
class LuFactor(Function):
    node_name = "LinalgLuFactorExBackward0"

    @staticmethod
    def forward(ctx, A, op: str, check_errors: bool):
        lu, pivots, info = _getrf(A._data)
        if check_errors:
            message = _lu_failure(op, A, info)
            if message:
                raise RuntimeError(message)
        LU, pivots_t, info_t = Tensor(lu), Tensor(pivots), Tensor(info)
        ctx.save_for_backward(LU, pivots_t)
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(pivots_t, info_t)
        return LU, pivots_t, info_t

    @staticmethod
    def backward(ctx, gLU, _g_pivots, _g_info):
        if gLU is None:
            return None
        LU, pivots = ctx.saved_tensors
        # PyTorch's lu_factor_ex_backward: L's gradient is the first k columns, U's the first k rows
        P, L, U = lu_unpack(LU, pivots)
        k = min(LU.shape[-2], LU.shape[-1])
        return _lu_backward(narrow(gLU, -1, 0, k), narrow(gLU, -2, 0, k), P, L, U)


class Lu(Function):
    node_name = "LinalgLuBackward0"

    @staticmethod
    def forward(ctx, A):
        lu, pivots, _ = _getrf(A._data)
        L, U = _unpack_data(lu)
        P = Tensor(_permutation(pivots, A.shape[-2], A.dtype.np))
        L, U = Tensor(L), Tensor(U)
        ctx.save_for_backward(P, L, U)
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(P)
        return P, L, U

    @staticmethod
    def backward(ctx, _gP, gL, gU):
        P, L, U = ctx.saved_tensors
        return _lu_backward(gL, gU, P, L, U)


class LuUnpack(Function):
    node_name = "LuUnpackBackward0"

    @staticmethod
    def forward(ctx, LU, pivots, unpack_data: bool, unpack_pivots: bool):
        m, n = LU.shape[-2:]
        empty = np.zeros(0, dtype=LU.dtype.np)
        L, U = _unpack_data(LU._data) if unpack_data else (empty, empty)
        P = _permutation(pivots._data, m, LU.dtype.np) if unpack_pivots else empty
        P, L, U = Tensor(P), Tensor(L), Tensor(U)
        ctx.shape = (m, n)
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(P)
        return P, L, U

    @staticmethod
    def backward(ctx, _gP, gL, gU):
        # PyTorch's lu_unpack_backward: L's strictly lower part and U's upper part, placed back into (m, n)
        m, n = ctx.shape
        k = min(m, n)
        gL = tril(gL, -1) if gL is not None and gL.numel() else None
        gU = triu(gU) if gU is not None and gU.numel() else None
        if gL is None and gU is None:
            return None
        if m == n:
            return gU if gL is None else (gL if gU is None else gL + gU)
        if m < n:
            batch = (gL if gU is None else gU).shape[:-2]
            if gU is None:
                gU = zeros(*batch, k, n, dtype=gL.dtype)
            if gL is None:
                return gU
            return cat([narrow(gU, -1, 0, k) + gL, narrow(gU, -1, k, n - k)], -1)
        batch = (gL if gU is None else gU).shape[:-2]
        if gL is None:
            gL = zeros(*batch, m, k, dtype=gU.dtype)
        if gU is None:
            return gL
        return cat([narrow(gL, -2, 0, k) + gU, narrow(gL, -2, k, m - k)], -2)


class LuSolve(Function):
    node_name = "LinalgLuSolveBackward0"

    @staticmethod
    def forward(ctx, LU, pivots, B, left: bool, adjoint: bool):
        n = LU.shape[-1]
        lu3 = _as_batch(LU._data)
        piv3 = pivots._data.reshape(lu3.shape[0], n)
        if left:  # A X = B, or A^T X = B
            x = _getrs(lu3, piv3, _as_batch(B._data), adjoint)
            out = x.reshape(B.shape)
        else:  # X A = B <=> A^T X^T = B^T; X A^T = B <=> A X^T = B^T
            bt = np.swapaxes(B._data, -1, -2)
            x = _getrs(lu3, piv3, _as_batch(bt), not adjoint)
            out = np.ascontiguousarray(np.swapaxes(x.reshape(bt.shape), -1, -2))
        X = Tensor(out)
        ctx.save_for_backward(LU, pivots, X)
        ctx.flags = (left, adjoint)
        return X

    @staticmethod
    def backward(ctx, gX):
        LU, pivots, X = ctx.saved_tensors
        left, adjoint = ctx.flags
        gB = _lu_solve(LU, pivots, gX, left, not adjoint) if ctx.needs_input_grad[2] else None
        gLU = _lu_solve_LU(gX, LU, pivots, X, left, adjoint) if ctx.needs_input_grad[0] else None
        return gLU, None, gB


def _lu_solve_LU(gX, LU, pivots, X, left: bool, adjoint: bool):
    """PyTorch's ``linalg_lu_solve_LU``: the gradient of ``lu_solve``'s X with respect to the compact factor, as
    ``gL + gU`` (L's strictly lower part, U's upper part)."""
    P, L, U = lu_unpack(LU, pivots)
    if left != adjoint:
        # gR = U^-H op(-gX) op(X)^H;  gL = (L^-H gR U^H).tril(-1);  gU = gR.triu()
        product = -matmul(gX, X.mT) if left else -matmul(gX.mT, X)
        gR = solve_triangular(U.mT, product, upper=False)
        gL = tril(solve_triangular(L.mT, matmul(gR, U.mT), upper=True, left=True, unitriangular=True), -1)
        return gL + triu(gR)
    # gR = -P^T op(X) op(gX)^H P L^-H;  gU = (L^H gR U^-H).triu();  gL = gR.tril(-1)
    gR = -matmul(matmul(matmul(P.mT, X if left else X.mT), gX.mT if left else gX), P)
    gR = solve_triangular(L.mT, gR, upper=True, left=False, unitriangular=True)
    gU = triu(solve_triangular(U.mT, matmul(L.mT, gR), upper=False, left=False))
    return tril(gR, -1) + gU


# ---------------------------------------------------------------------------------------------- public API
def _lu_factor_ex(A, pivot: bool, check_errors: bool, op: str, fn: str):
    _check_factorizable(A, "torch.lu_factor", fn, pivot)
    return LuFactor.apply(A, op, bool(check_errors))


def lu_factor_ex(A: Tensor, *, pivot: bool = True, check_errors: bool = False,
                 out: Optional[Sequence[Tensor]] = None) -> tuple:
    """``(LU, pivots, info)``: the LU factorisation with partial pivoting of each matrix of ``A`` (..., m, n),
    in LAPACK's compact form (L's strictly lower part and U in one matrix; 1-based int32 pivots of length
    ``min(m, n)``), and ``info``, 0 or the 1-based index of the first zero on U's diagonal. Raises on a singular
    matrix only with ``check_errors=True``. ``pivot=False`` is not implemented on the CPU (PyTorch's error).

    >>> import numgrad as ng
    >>> ng.linalg.lu_factor_ex(ng.tensor([[1., 2.], [2., 4.]])).info
    tensor(2, dtype=numgrad.int32)
    """
    result = lu_factor_ex_return_type(*_lu_factor_ex(A, pivot, check_errors, "torch.linalg.lu_factor_ex",
                                                     "linalg_lu_factor_ex"))
    return result if out is None else _write_outs("linalg_lu_factor_ex", result, out, [A])


def lu_factor(A: Tensor, *, pivot: bool = True, out: Optional[Sequence[Tensor]] = None) -> tuple:
    """``(LU, pivots)``: the compact LU factorisation of each matrix of ``A`` (see ``lu_factor_ex``); a matrix
    whose U has a zero on the diagonal raises PyTorch's error naming it (use ``lu_factor_ex`` or ``lu`` to get
    the factorisation anyway). Differentiable w.r.t. ``A`` (PyTorch's ``lu_factor_ex_backward``).

    >>> import numgrad as ng
    >>> ng.linalg.lu_factor(ng.tensor([[4., 3.], [6., 3.]])).LU
    tensor([[6.0000, 3.0000],
            [0.6667, 1.0000]])
    """
    LU, pivots, _ = _lu_factor_ex(A, pivot, True, "torch.linalg.lu_factor", "linalg_lu_factor")
    result = lu_factor_return_type(LU, pivots)
    return result if out is None else _write_outs("linalg_lu_factor", result, out, [A])


def linalg_lu(A: Tensor, *, pivot: bool = True, out: Optional[Sequence[Tensor]] = None) -> tuple:
    """``(P, L, U)`` with ``A = P L U`` for each matrix of ``A`` (..., m, n): ``P`` (m, m) a permutation, ``L``
    (m, k) unit lower triangular, ``U`` (k, n) upper triangular, ``k = min(m, n)``. Singular matrices are fine.
    Differentiable w.r.t. ``A`` through ``L`` and ``U`` (square, wide and tall; ``P`` has no gradient).

    >>> import numgrad as ng
    >>> P, L, U = ng.linalg.lu(ng.tensor([[1., 2.], [3., 4.]]))
    >>> P @ L @ U
    tensor([[1., 2.],
            [3., 4.]])
    """
    _check_factorizable(A, "linalg.lu", "linalg_lu", pivot)
    result = lu_return_type(*Lu.apply(A))
    return result if out is None else _write_outs("linalg_lu", result, out, [A])


def _lu_solve(LU, pivots, B, left: bool, adjoint: bool):
    """``linalg.lu_solve`` after its checks (backward calls it too): batch dims broadcast by recorded expands."""
    batch = broadcast_shapes(tuple(LU.shape[:-2]), tuple(B.shape[:-2]))
    if tuple(LU.shape[:-2]) != batch:
        LU = LU.expand(*batch, *LU.shape[-2:])
        pivots = Tensor(np.ascontiguousarray(np.broadcast_to(pivots._data, batch + pivots.shape[-1:])))
    if tuple(B.shape[:-2]) != batch:
        B = B.expand(*batch, *B.shape[-2:])
    return LuSolve.apply(LU, pivots, B, bool(left), bool(adjoint))


def linalg_lu_solve(LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True, adjoint: bool = False,
                    out: Optional[Tensor] = None) -> Tensor:
    """``X`` with ``A X = B`` given ``A``'s compact LU factorisation (``linalg.lu_factor``'s ``LU, pivots``);
    ``left=False``: ``X A = B``; ``adjoint=True``: ``A^H`` (here ``A^T``) in place of ``A``. Batch dims of
    ``LU`` and ``B`` broadcast; ``pivots`` has ``LU``'s batch shape. Differentiable w.r.t. ``LU`` and ``B``.

    >>> import numgrad as ng
    >>> LU, pivots = ng.linalg.lu_factor(ng.tensor([[2., 0.], [0., 4.]]))
    >>> ng.linalg.lu_solve(LU, pivots, ng.tensor([[2.], [4.]]))
    tensor([[1.],
            [1.]])
    """
    op = "linalg.lu_solve"
    for t, name, position in ((LU, "LU", 1), (pivots, "pivots", 2), (B, "B", 3)):
        _check_tensor(t, "linalg_lu_solve", name, position)
    if LU.ndim < 2:
        raise RuntimeError("torch.linalg.lu_solve: The input tensor A must have at least 2 dimensions.")
    if LU.shape[-1] != LU.shape[-2]:
        raise RuntimeError(f"torch.linalg.lu_solve: A must be batches of square matrices, but they are "
                           f"{LU.shape[-2]} by {LU.shape[-1]} matrices")
    if not LU.dtype.is_floating_point:
        raise RuntimeError(f"torch.linalg.lu_solve: Expected a floating point or complex tensor as input. Got "
                           f"{_dtypes.torch_type_name(LU.dtype)}")
    if LU.dtype != B.dtype:
        raise RuntimeError(f"{op}: Expected LU and B to have the same dtype, but found LU of type "
                           f"{_dtypes.torch_type_name(LU.dtype)} and B of type {_dtypes.torch_type_name(B.dtype)} "
                           "instead")
    if pivots.dtype != _dtypes.int32:
        raise RuntimeError(f"{op}: pivots should be a Tensor of scalar type torch.int32")
    if B.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor B must have at least 2 dimensions.")
    n = LU.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation {'AX = B' if left else 'XA = B'} "
                           f"({n}x{n} and {B.shape[-2]}x{B.shape[-1]})")
    if pivots.ndim < 1 or pivots.shape[-1] != n:
        raise RuntimeError(f"{op}: Number of pivots per batch should be same as the dimension of the matrix")
    if tuple(pivots.shape) != tuple(LU.shape[:-1]):
        raise RuntimeError(f"{op}: Expected LU.shape[:-1] and pivots.shape to be the same, but got pivots with "
                           f"shape {list(pivots.shape)} instead")
    _check_dtype(LU, op, "linalg.lu_solve_cpu", True)
    _cpu_only(LU, op)
    _check_pivot_range(pivots._data, n,
                       "Pivots given to lu_solve must all be greater or equal to 1. Did you properly pass the result "
                       "of lu_factor?",
                       "Pivots given to lu_solve must all be smaller or equal to LU.size(-2). Did you properly pass "
                       "the result of lu_factor?")
    X = _lu_solve(LU, pivots, B, left, adjoint)
    return X if out is None else write_out("linalg_lu_solve", X, out, [LU, B])


def lu_unpack(LU_data: Tensor, LU_pivots: Tensor, unpack_data: bool = True, unpack_pivots: bool = True) -> tuple:
    """``(P, L, U)`` from a compact LU factorisation (``linalg.lu_factor``'s output): ``P`` (..., m, m) the
    permutation, ``L`` (..., m, k) unit lower, ``U`` (..., k, n) upper, so that ``P @ L @ U`` is the factorised
    matrix. ``unpack_data=False`` / ``unpack_pivots=False`` return empty ``L, U`` / ``P``. Differentiable w.r.t.
    ``LU_data`` (through ``L`` and ``U``).

    >>> import numgrad as ng
    >>> P, L, U = ng.lu_unpack(*ng.linalg.lu_factor(ng.tensor([[1., 2.], [3., 4.]])))
    >>> P
    tensor([[0., 1.],
            [1., 0.]])
    """
    _check_tensor(LU_data, "lu_unpack", "LU_data", 1)
    _check_tensor(LU_pivots, "lu_unpack", "LU_pivots", 2)
    if LU_data.ndim < 2:
        raise RuntimeError(f"torch.lu_unpack: Expected tensor with 2 or more dimensions. Got size: "
                           f"{list(LU_data.shape)} instead")
    if LU_pivots.dtype != _dtypes.int32:
        raise RuntimeError("torch.lu_unpack: LU_pivots is expected to be a contiguous tensor of torch.int32 dtype.\n"
                           "Note: this function is intended to be used with the output produced by "
                           "torch.linalg.lu_factor")
    m = LU_data.shape[-2]
    pivots = LU_pivots
    if unpack_pivots:
        if LU_pivots.ndim < 1:
            raise RuntimeError(f"torch.lu_unpack: LU_pivots must have at least 1 dimension (the pivots of each "
                               f"matrix), but it has shape {list(LU_pivots.shape)}")
        _check_pivot_range(LU_pivots._data, m, *(["pivots passed to lu_unpack must be between 1 and LU.size(-2) "
                                                  "inclusive.Did you properly pass the result of lu_factor?"] * 2))
        batch = tuple(LU_data.shape[:-2])
        if tuple(LU_pivots.shape[:-1]) != batch:
            try:
                expanded = np.broadcast_to(LU_pivots._data, batch + LU_pivots.shape[-1:])
            except ValueError:
                raise RuntimeError(f"torch.lu_unpack: the batch shape of LU_pivots {list(LU_pivots.shape[:-1])} "
                                   f"does not broadcast to LU_data's {list(batch)}: pass the pivots that "
                                   "linalg.lu_factor returned with LU_data") from None
            pivots = Tensor(np.ascontiguousarray(expanded))
    return lu_unpack_return_type(*LuUnpack.apply(LU_data, pivots, bool(unpack_data), bool(unpack_pivots)))


def lu(A: Tensor, pivot: bool = True, get_infos: bool = False, out: Optional[Sequence[Tensor]] = None) -> tuple:
    """``torch.lu`` (deprecated there in favour of ``linalg.lu_factor``): ``(LU, pivots)``, or with
    ``get_infos=True`` ``(LU, pivots, info)``. Never raises for a singular matrix (``info`` reports it).

    >>> import numgrad as ng
    >>> LU, pivots = ng.lu(ng.tensor([[1., 2.], [3., 4.]]))
    >>> pivots
    tensor([2, 2], dtype=numgrad.int32)
    """
    _warn_once("lu", "torch.lu is deprecated in favor of torch.linalg.lu_factor / torch.linalg.lu_factor_ex and "
               "will be removed in a future PyTorch release.\nLU, pivots = torch.lu(A, compute_pivots)\nshould be "
               "replaced with\nLU, pivots = torch.linalg.lu_factor(A, compute_pivots)\nand\nLU, pivots, info = "
               "torch.lu(A, compute_pivots, get_infos=True)\nshould be replaced with\nLU, pivots, info = "
               "torch.linalg.lu_factor_ex(A, compute_pivots)")
    result = lu_with_info_return_type(*_lu_factor_ex(A, pivot, False, "torch.lu", "_lu_with_info"))
    if not get_infos:
        result = (result.LU, result.pivots)
    if out is None:
        return result
    if not isinstance(out, (tuple, list)) or len(out) != len(result):
        size = len(out) if isinstance(out, (tuple, list)) else type(out).__name__
        raise TypeError(f"expected tuple of {len(result)} elements but got {size}")
    return _write_outs("lu", result, out, [A])


@autocast_op(name="lu_solve")
def torch_lu_solve(b: Tensor, LU_data: Tensor, LU_pivots: Tensor) -> Tensor:
    """``torch.lu_solve`` (deprecated there): ``linalg.lu_solve(LU_data, LU_pivots, b)``.

    >>> import numgrad as ng
    >>> LU, pivots = ng.linalg.lu_factor(ng.tensor([[2., 0.], [0., 4.]]))
    >>> ng.lu_solve(ng.tensor([[2.], [4.]]), LU, pivots)
    tensor([[1.],
            [1.]])
    """
    _warn_once("lu_solve", "torch.lu_solve is deprecated in favor of torch.linalg.lu_solveand will be removed in a "
               "future PyTorch release.\nNote that torch.linalg.lu_solve has its arguments reversed.\nX = "
               "torch.lu_solve(B, LU, pivots)\nshould be replaced with\nX = torch.linalg.lu_solve(LU, pivots, B)")
    return linalg_lu_solve(LU_data, LU_pivots, b)


# ---------------------------------------------------------------------------------------------- Householder
class Geqrf(Function):
    node_name = "GeqrfBackward0"

    @staticmethod
    def forward(ctx, A):
        m, n = A.shape[-2:]
        a3 = _as_batch(A._data)
        packed = a3.copy()
        tau = np.zeros((a3.shape[0], min(m, n)), dtype=a3.dtype)
        if packed.size:
            (geqrf,) = _lapack().get_lapack_funcs(("geqrf",), (a3,))
            for b in range(a3.shape[0]):
                qr_b, tau_b, _work, _info = geqrf(a3[b])
                packed[b] = qr_b
                tau[b] = tau_b
        return Tensor(packed.reshape(A.shape)), Tensor(tau.reshape(A.shape[:-2] + (min(m, n),)))

    @staticmethod
    def backward(ctx, _g_a, _g_tau):
        raise NotImplementedError("the derivative for 'geqrf' is not implemented.")


@autocast_op
def geqrf(input: Tensor) -> tuple:
    """``(a, tau)``: LAPACK's ``geqrf`` QR factorisation of each matrix (..., m, n): R in ``a``'s upper
    triangle, the Householder vectors below it (their leading 1 implied) and their scalars in ``tau``. Feed them
    to ``linalg.householder_product`` (Q) or ``ormqr`` (products with Q). No derivative (PyTorch's error).

    >>> import numgrad as ng
    >>> a, tau = ng.geqrf(ng.tensor([[3., 0.], [4., 5.]]))
    >>> a.triu()
    tensor([[-5., -4.],
            [ 0.,  3.]])
    """
    _check_tensor(input, "geqrf", "input", 1)
    if input.ndim < 2:
        raise RuntimeError("torch.geqrf: input must have at least 2 dimensions.")
    _check_dtype(input, "geqrf", "geqrf_cpu", True)
    _cpu_only(input, "geqrf")
    return geqrf_return_type(*Geqrf.apply(input))


def _reflectors(input, k: int):
    """The Householder vectors of ``input`` (..., m, >= k) as the columns of V (..., m, k): column i is 0 above
    row i, 1 at row i and ``input[i+1:, i]`` below (recorded ops, so gradients reach ``input``)."""
    m = input.shape[-2]
    return tril(narrow(input, -1, 0, k), -1) + eye(m, k, dtype=input.dtype, device=input.device)


def _apply_reflector(C, v, tau_i, left: bool):
    """``H C`` (``left``) or ``C H`` with ``H = I - tau v v^T``; ``v`` (..., m, 1), ``tau_i`` (..., 1, 1)."""
    if left:
        return C - matmul(v * tau_i, matmul(v.mT, C))
    return C - matmul(matmul(C, v) * tau_i, v.mT)


def _check_reflector_batches(input, tau, op: str) -> None:
    """PyTorch's checks that ``tau`` holds one scalar per reflector of each matrix of ``input``."""
    if input.ndim - tau.ndim != 1:
        raise RuntimeError(f"{op}: Expected tau to have one dimension less than input, but got tau.ndim equal to "
                           f"{tau.ndim} and input.ndim is equal to {input.ndim}")
    if input.ndim > 2 and tuple(tau.shape[:-1]) != tuple(input.shape[:-2]):
        raise RuntimeError(f"{op}: Expected batch dimensions of tau to be equal to input.shape[:-2], but got "
                           f"{list(tau.shape[:-1])}")


@autocast_op(name="linalg.householder_product")
def householder_product(A: Tensor, tau: Tensor, *, out: Optional[Tensor] = None) -> Tensor:
    """The first ``n`` columns of ``H_1 H_2 ... H_k`` for the Householder reflectors ``H_i = I - tau_i v_i v_i^T``
    stored in ``A`` (..., m, n) as ``geqrf`` leaves them (LAPACK's ``orgqr``); differentiable w.r.t. ``A`` and
    ``tau``.

    >>> import numgrad as ng
    >>> A = ng.tensor([[3., 0.], [4., 5.]])
    >>> Q = ng.linalg.householder_product(*ng.geqrf(A))
    >>> ng.allclose(Q @ ng.geqrf(A).a.triu(), A, atol=1e-6)
    True
    """
    op = "torch.linalg.householder_product"
    _check_tensor(A, "linalg_householder_product", "input", 1)
    _check_tensor(tau, "linalg_householder_product", "tau", 2)
    if A.ndim < 2:
        raise RuntimeError(f"{op}: input must have at least 2 dimensions.")
    m, n = A.shape[-2], A.shape[-1]
    k = tau.shape[-1] if tau.ndim else 1
    if m < n:
        raise RuntimeError(f"{op}: input.shape[-2] must be greater than or equal to input.shape[-1]")
    if n < k:
        raise RuntimeError(f"{op}: input.shape[-1] must be greater than or equal to tau.shape[-1]")
    _check_reflector_batches(A, tau, op)
    if tau.dtype != A.dtype:
        raise RuntimeError(f"{op}: tau dtype {_dtypes.torch_type_name(tau.dtype)} does not match input dtype "
                           f"{_dtypes.torch_type_name(A.dtype)}")
    _check_dtype(A, op, "orgqr_cpu", True)
    V = _reflectors(A, k)
    Q = eye(m, n, dtype=A.dtype, device=A.device).expand(*A.shape)
    for i in reversed(range(k)):  # H_1 (H_2 (... (H_k E)))
        Q = _apply_reflector(Q, narrow(V, -1, i, 1), narrow(tau, -1, i, 1).unsqueeze(-1), left=True)
    return Q if out is None else write_out("linalg_householder_product", Q, out, [A, tau])


@autocast_op
def orgqr(input: Tensor, input2: Tensor) -> Tensor:
    """``torch.orgqr``: ``linalg.householder_product(input, input2)`` (``input2`` the reflectors' ``tau``).

    >>> import numgrad as ng
    >>> ng.orgqr(*ng.geqrf(ng.tensor([[0., 2.], [2., 0.]]))).abs()
    tensor([[0., 1.],
            [1., 0.]])
    """
    return householder_product(input, input2)


@autocast_op
def ormqr(input: Tensor, input2: Tensor, input3: Tensor, left: bool = True, transpose: bool = False) -> Tensor:
    """``Q C``, ``Q^T C`` (``transpose``), ``C Q`` or ``C Q^T`` (``left=False``) for ``C = input3`` and the
    orthogonal ``Q = H_1 ... H_k`` whose reflectors ``geqrf`` stored in ``input`` (with ``tau = input2``),
    without forming Q (LAPACK's ``ormqr``). Differentiable w.r.t. all three.

    >>> import numgrad as ng
    >>> a, tau = ng.geqrf(ng.tensor([[3., 0.], [4., 5.]]))
    >>> ng.ormqr(a, tau, a.triu())
    tensor([[3., 0.],
            [4., 5.]])
    """
    op = "torch.ormqr"
    tau, other = input2, input3
    for t, name, position in ((input, "input", 1), (tau, "input2", 2), (other, "input3", 3)):
        _check_tensor(t, "ormqr", name, position)
    if input.ndim < 2:
        raise RuntimeError(f"{op}: input must have at least 2 dimensions.")
    if other.ndim < 2:
        raise RuntimeError(f"{op}: other must have at least 2 dimensions.")
    side = -2 if left else -1  # the dim of other that Q multiplies
    k = tau.shape[-1] if tau.ndim else 1
    if other.shape[side] < k:
        raise RuntimeError(f"{op}: other.shape[{side}] must be greater than or equal to tau.shape[-1]")
    if other.shape[side] != input.shape[-2]:
        raise RuntimeError(f"{op}: other.shape[{side}] must be equal to input.shape[-2]")
    if k > input.shape[-1]:
        raise RuntimeError(f"{op}: tau.shape[-1] must be less than or equal to input.shape[-1]")
    _check_reflector_batches(input, tau, op)
    if other.ndim != input.ndim:
        raise RuntimeError(f"{op}: Expected other to have the same number of dimensions as input, but got other.ndim "
                           f"equal to {other.ndim} and input.ndim is equal to {input.ndim}")
    if input.ndim > 2 and tuple(other.shape[:-2]) != tuple(input.shape[:-2]):
        raise RuntimeError(f"{op}: Expected batch dimensions of other to be equal to input.shape[:-2], but got "
                           f"{list(other.shape[:-2])}")
    for t, name in ((tau, "tau"), (other, "other")):
        if t.dtype != input.dtype:  # (PyTorch's message, its missing space included)
            raise RuntimeError(f"{op}: Expected input and {name} to have the same dtype, but input has dtype"
                               f"{_dtypes.torch_type_name(input.dtype)} and {name} has dtype "
                               f"{_dtypes.torch_type_name(t.dtype)}")
    _check_dtype(input, op, "ormqr_cpu", True)
    if k != min(other.shape[side], input.shape[-1]):
        raise RuntimeError(f"{op}: tau.shape[-1] must be equal to min(other.shape[{side}], input.shape[-1])")
    V = _reflectors(input, k)
    # Q C = H_1 (... (H_k C)) and C Q^T = C H_k ... H_1 take the reflectors last to first; the other two first to last
    order = range(k) if left == bool(transpose) else reversed(range(k))
    C = other
    for i in order:
        C = _apply_reflector(C, narrow(V, -1, i, 1), narrow(tau, -1, i, 1).unsqueeze(-1), left)
    return C


def _lu_method(self: Tensor, pivot: bool = True, get_infos: bool = False) -> tuple:
    """``Tensor.lu``: ``numgrad.lu(self, pivot, get_infos)`` (deprecated in PyTorch for ``linalg.lu_factor``).

    >>> import numgrad as ng
    >>> ng.tensor([[1., 2.], [3., 4.]]).lu()[1]
    tensor([2, 2], dtype=numgrad.int32)
    """
    return lu(self, pivot, get_infos)


def _lu_solve_method(self: Tensor, LU_data: Tensor, LU_pivots: Tensor) -> Tensor:
    """``Tensor.lu_solve``: ``numgrad.lu_solve(self, LU_data, LU_pivots)``, X with ``A X = self``.

    >>> import numgrad as ng
    >>> ng.tensor([[2.], [4.]]).lu_solve(*ng.linalg.lu_factor(ng.tensor([[2., 0.], [0., 4.]])))
    tensor([[1.],
            [1.]])
    """
    return torch_lu_solve(self, LU_data, LU_pivots)


TENSOR_METHODS = {
    "lu": _lu_method, "lu_solve": _lu_solve_method, "geqrf": geqrf, "orgqr": orgqr, "ormqr": ormqr,
}
# torch.lu, torch.lu_solve (b, LU, pivots), torch.lu_unpack, torch.geqrf/orgqr/ormqr; numgrad.linalg takes the rest
lu_solve = torch_lu_solve
PUBLIC = ("lu", "lu_solve", "lu_unpack", "geqrf", "orgqr", "ormqr")
