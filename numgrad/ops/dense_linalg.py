"""Inverse, log-determinants and linear solves of (batches of) square matrices, and ``matrix_power``.

Forward values come from the dense kernels of the data's device (``numgrad/kernels/cpu/dense_linalg.py``
through ``kernels.backend.dense_linalg_kernels``: NumPy's LAPACK routines under Numba); the
backward passes are written with these ops and matmul, so they are differentiable again. The
gradients use the inverse, so they are those of PyTorch for invertible matrices; at a singular
matrix the inverse raises PyTorch's error.  ``det`` is in ``decompositions``: its backward at a singular
matrix goes through the SVD, as PyTorch's does.
"""
from __future__ import annotations

import collections

import numpy as np

from ..tensor import Tensor
from ..autograd.function import Function
from ..kernels import backend as _backend
from ..kernels.backend import dense_linalg_kernels
from ..creation import eye
from . import elementwise_functions as pw
from .linalg import matmul
from .autocast_policy import autocast_op

class LinAlgError(RuntimeError):
    """PyTorch's ``torch.linalg.LinAlgError``: a ``RuntimeError`` for a matrix the factorization cannot handle
    (singular for ``inv``/``solve``, not positive-definite for ``cholesky``...)."""


slogdet_return_type = collections.namedtuple("slogdet", ("sign", "logabsdet"))
slogdet_return_type.__module__ = "numgrad.return_types"


def _square(A, op: str) -> None:
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}(): argument 'A' must be Tensor, not {type(A).__name__}")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.{op}: A must be batches of square matrices (got shape {list(A.shape)})")
    if not A.dtype.is_floating_point:
        raise RuntimeError(f"linalg.{op}: Expected a floating point or complex tensor as input. Got {A.dtype.name}")


def _batch(arr: np.ndarray) -> np.ndarray:
    n = arr.shape[-1]
    return _backend.contiguous(arr).reshape(-1, n, n)


class Inverse(Function):
    node_name = "LinalgInvExBackward0"

    @staticmethod
    def forward(ctx, A):
        K = dense_linalg_kernels(A._data, "linalg.inv")
        try:
            out = K.inv_batch(_batch(A._data)) if A.numel() else np.empty(A.shape, A.dtype.np)
        except np.linalg.LinAlgError:
            raise LinAlgError("linalg.inv: The diagonal element 1 is zero, the inversion could not be completed "
                               "because the input matrix is singular.") from None
        out = Tensor(out.reshape(A.shape))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (inv,) = ctx.saved_tensors
        inv_t = inv.mT
        return -matmul(matmul(inv_t, g), inv_t)


@autocast_op
def inverse(input) -> Tensor:
    """The inverse of each square matrix in the last two dims.

    >>> import numgrad as ng
    >>> ng.inverse(ng.tensor([[2., 1.], [0., 4.]]))
    tensor([[ 0.5000, -0.1250],
            [ 0.0000,  0.2500]])
    """
    _square(input, "inv")
    return Inverse.apply(input)


class SlogDet(Function):
    node_name = "LinalgSlogdetBackward0"

    @staticmethod
    def forward(ctx, A):
        K = dense_linalg_kernels(A._data, "linalg.slogdet")
        sign, logabs = K.slogdet_batch(_batch(A._data))
        batch = A.shape[:-2]
        sign, logabs = Tensor(sign.reshape(batch)), Tensor(logabs.reshape(batch))
        ctx.save_for_backward(A)
        ctx.mark_non_differentiable(sign)
        return sign, logabs

    @staticmethod
    def backward(ctx, _g_sign, g_logabs):
        (A,) = ctx.saved_tensors
        # d log|det A| / dA = A^-T
        return g_logabs.unsqueeze(-1).unsqueeze(-1) * inverse(A).mT


def slogdet(A):
    """``(sign, log|det|)`` of each square matrix; only ``logabsdet`` carries a gradient.

    >>> import numgrad as ng
    >>> ng.slogdet(ng.tensor([[-2., 0.], [0., 3.]])).sign
    tensor(-1.)
    """
    _square(A, "slogdet")
    return slogdet_return_type(*SlogDet.apply(A))


def logdet(A) -> Tensor:
    """``log(det(A))``: NaN where the determinant is negative, -inf where it is 0.

    >>> import numgrad as ng
    >>> ng.logdet(ng.tensor([[2., 0.], [0., 3.]]))
    tensor(1.7918)
    """
    _square(A, "logdet")
    sign, logabs = slogdet(A)
    return pw.where(pw.lt(sign, 0), float("nan"), logabs)


class Solve(Function):
    node_name = "LinalgSolveExBackward0"

    @staticmethod
    def forward(ctx, A, B, vector: bool):
        K = dense_linalg_kernels(A._data, "linalg.solve")
        n = A.shape[-1]
        b3 = B._data.reshape(B.shape + (1,)) if vector else B._data
        batch = A.shape[:-2]
        try:
            x = K.solve_batch(_batch(A._data), _backend.contiguous(b3).reshape(-1, n, b3.shape[-1]))
        except np.linalg.LinAlgError:
            raise LinAlgError("linalg.solve: The solver failed because the input matrix is singular.") from None
        out = Tensor(x.reshape(batch + ((n,) if vector else (n, b3.shape[-1]))))
        ctx.save_for_backward(A, out)
        ctx.vector = vector
        return out

    @staticmethod
    def backward(ctx, g):
        A, X = ctx.saved_tensors
        g_b = solve(A.mT, g)
        if ctx.vector:
            g_a = -matmul(g_b.unsqueeze(-1), X.unsqueeze(-2))
        else:
            g_a = -matmul(g_b, X.mT)
        return g_a, g_b, None


@autocast_op(name="linalg.solve")
def solve(A, B, *, left: bool = True) -> Tensor:
    """The solution ``X`` of ``A X = B`` for square ``A`` (``B`` a matrix, or a vector per matrix).

    >>> import numgrad as ng
    >>> ng.linalg.solve(ng.tensor([[2., 0.], [0., 4.]]), ng.tensor([2., 2.]))
    tensor([1.0000, 0.5000])
    """
    if not left:
        return solve(A.mT, B.mT).mT
    _square(A, "solve")
    if not isinstance(B, Tensor) or B.dtype != A.dtype:
        raise RuntimeError(f"linalg.solve: Expected B to be a tensor of A's dtype {A.dtype.name}")
    vector = B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1])
    if not vector and (B.ndim != A.ndim or B.shape[-2] != A.shape[-1] or B.shape[:-2] != A.shape[:-2]):
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                           f"({'x'.join(map(str, A.shape[-2:]))} and {'x'.join(map(str, B.shape[-2:]))}; "
                           "numgrad does not broadcast batch dims here)")
    return Solve.apply(A, B, vector)


def matrix_power(input, n: int) -> Tensor:
    """``input`` multiplied by itself ``n`` times (the identity for 0, powers of the inverse for negative n),
    by repeated squaring.

    >>> import numgrad as ng
    >>> ng.matrix_power(ng.tensor([[1., 1.], [0., 1.]]), 3)
    tensor([[1., 3.],
            [0., 1.]])
    """
    if input.ndim < 2 or input.shape[-1] != input.shape[-2]:
        raise RuntimeError(f"linalg.matrix_power: A must be batches of square matrices (shape {list(input.shape)})")
    if n == 0:
        identity = eye(input.shape[-1], dtype=input.dtype, device=input.device)
        return identity.expand(*input.shape).clone()
    base = inverse(input) if n < 0 else input
    n = abs(n)
    result = None
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result


# det is in ``decompositions`` (its gradient at a singular matrix goes through the SVD)
TENSOR_METHODS = {"inverse": inverse, "logdet": logdet, "slogdet": slogdet, "matrix_power": matrix_power}
PUBLIC = ("inverse", "logdet", "slogdet", "matrix_power")
