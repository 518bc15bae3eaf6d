"""The LU family and the Householder helpers (numgrad/ops/lu.py) against PyTorch: values and pivots, gradients
of every differentiable output, finite-difference checks in float64, singular matrices (info, check_errors),
round trips, out=, and PyTorch's errors for misuse. Tiny matrices and few cases: this file runs in seconds."""
from __future__ import annotations

import doctest
import importlib
import warnings

import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(11)
A33 = RNG.standard_normal((2, 3, 3))
A43 = RNG.standard_normal((4, 3))
A34 = RNG.standard_normal((2, 3, 4))
B32 = RNG.standard_normal((2, 3, 2))
TAU = RNG.standard_normal((2, 3)) / 2
C42 = RNG.standard_normal((4, 2))


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn()


def _solve(L, a, b, left=True, adjoint=False):
    LU, pivots = L.linalg.lu_factor(a)
    return L.linalg.lu_solve(LU, pivots, b if left else b.mT, left=left, adjoint=adjoint)


def _lu_unpacked(L, a):
    _, l_factor, u_factor = L.lu_unpack(*L.linalg.lu_factor(a))
    return l_factor, u_factor


# name -> (function of (lib, *inputs) returning a tensor or a tuple of them, input arrays)
CASES = {
    "lu_factor_batched": (lambda L, a: L.linalg.lu_factor(a).LU, (A33,)),
    "lu_factor_tall": (lambda L, a: L.linalg.lu_factor(a).LU, (A43,)),
    "lu_factor_ex_wide": (lambda L, a: L.linalg.lu_factor_ex(a).LU, (A34,)),
    "lu_square": (lambda L, a: tuple(L.linalg.lu(a)), (A33,)),
    "lu_tall": (lambda L, a: tuple(L.linalg.lu(a)), (A43,)),
    "lu_wide": (lambda L, a: tuple(L.linalg.lu(a)), (A34,)),
    "lu_U_only": (lambda L, a: L.linalg.lu(a).U, (A34,)),
    "lu_unpack": (_lu_unpacked, (A33,)),
    "lu_unpack_wide": (_lu_unpacked, (A34,)),
    # LU (3, 3) against B (2, 3, 2): the batch dims broadcast and LU's gradient sums over them
    "lu_solve": (lambda L, a, b: _solve(L, a, b), (A33[0], B32)),
    "lu_solve_adjoint": (lambda L, a, b: _solve(L, a, b, adjoint=True), (A33, B32)),
    "lu_solve_right": (lambda L, a, b: _solve(L, a, b, left=False), (A33, B32)),
    "lu_solve_right_adjoint": (lambda L, a, b: _solve(L, a, b, left=False, adjoint=True), (A33, B32)),
    "torch_lu_solve": (lambda L, b, a: _quiet(lambda: L.lu_solve(b, *L.linalg.lu_factor(a))), (B32, A33)),
    "householder_product": (lambda L, a, tau: L.linalg.householder_product(a, tau), (A43, TAU[0])),
    "householder_product_batched_fewer_reflectors": (lambda L, a, tau: L.linalg.householder_product(a, tau),
                                                      (np.stack([A43, A43[::-1]]), TAU[:, :2])),
    "ormqr": (lambda L, a, tau, c: L.ormqr(a, tau, c), (A43, TAU[0], C42)),
    "ormqr_right_transposed": (lambda L, a, tau, c: L.ormqr(a, tau, c.mT, left=False, transpose=True),
                               (A43, TAU[0], C42)),
}


def _tuple(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("name", list(CASES))
def test_values_and_gradients_match_torch(name):
    fn, arrays = CASES[name]
    results = {}
    for lib in (torch, ng):
        inputs = [lib.tensor(a, requires_grad=True) for a in arrays]
        outs = _tuple(fn(lib, *inputs))
        weights = [lib.tensor(np.cos(np.arange(o.numel())).reshape(tuple(o.shape))) for o in outs]
        sum(((o * w).sum() for o, w in zip(outs, weights) if o.requires_grad)).backward()
        results[lib.__name__] = ([o.detach().numpy() for o in outs], [t.grad.numpy() for t in inputs])
    (want_out, want_grad), (have_out, have_grad) = results["torch"], results["numgrad"]
    for want, have in zip(want_out + want_grad, have_out + have_grad):
        assert want.shape == have.shape
        np.testing.assert_allclose(have, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["lu_factor_tall", "lu_factor_ex_wide", "lu_square", "lu_tall", "lu_wide",
                                  "lu_unpack_wide", "lu_solve", "lu_solve_right_adjoint", "householder_product",
                                  "ormqr_right_transposed"])
def test_gradcheck_in_float64(name):
    fn, arrays = CASES[name]
    inputs = tuple(ng.tensor(a[0] if a.ndim == 3 else a, requires_grad=True) for a in arrays)
    assert gradcheck(lambda *xs: fn(ng, *xs), inputs)


@pytest.mark.parametrize("name", ["lu_factor_batched", "lu_solve_adjoint"])
def test_gradgradcheck_in_float64(name):
    # the backward formulas are numgrad ops, so they differentiate again
    fn, arrays = CASES[name]
    inputs = tuple(ng.tensor(a[0], requires_grad=True) for a in arrays)
    assert gradgradcheck(lambda *xs: fn(ng, *xs), inputs)


@pytest.mark.parametrize("shape", [(2, 3, 3), (4, 3), (2, 3, 4)])
def test_float32_values_pivots_and_round_trips(shape):
    a = RNG.standard_normal(shape).astype(np.float32)
    LU, pivots = ng.linalg.lu_factor(ng.tensor(a))
    want_LU, want_pivots = torch.linalg.lu_factor(torch.tensor(a))
    assert LU.dtype == ng.float32 and pivots.dtype == ng.int32
    assert pivots.numpy().tolist() == want_pivots.numpy().tolist()
    np.testing.assert_allclose(LU.numpy(), want_LU.numpy(), rtol=1e-5, atol=1e-5)
    P, L, U = ng.linalg.lu(ng.tensor(a))
    k = min(shape[-2:])
    assert P.shape == shape[:-1] + (shape[-2],) and L.shape == shape[:-1] + (k,) and U.shape == shape[:-2] + (
        k, shape[-1])
    np.testing.assert_allclose((P @ L @ U).numpy(), a, atol=1e-5)
    for got, want in zip(ng.lu_unpack(LU, pivots), torch.lu_unpack(want_LU, want_pivots)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
    if shape[-1] == shape[-2]:
        b = RNG.standard_normal(shape[:-1] + (2,)).astype(np.float32)
        X = ng.linalg.lu_solve(LU, pivots, ng.tensor(b))
        np.testing.assert_allclose(a @ X.numpy(), b, atol=1e-4)
        Xt = ng.linalg.lu_solve(LU, pivots, ng.tensor(b).mT, left=False, adjoint=True)
        np.testing.assert_allclose(Xt.numpy() @ np.swapaxes(a, -1, -2), np.swapaxes(b, -1, -2), atol=1e-4)


SINGULAR = np.array([[[2., 1., 0.], [1., 3., 1.], [0., 1., 4.]], [[1., 2., 3.], [2., 4., 6.], [1., 0., 1.]]])


def test_singular_matrices_info_and_check_errors():
    have = ng.linalg.lu_factor_ex(ng.tensor(SINGULAR))
    want = torch.linalg.lu_factor_ex(torch.tensor(SINGULAR))
    assert have.info.tolist() == want.info.tolist() == [0, 3] and have.info.dtype == ng.int32
    assert have.pivots.tolist() == want.pivots.tolist()
    np.testing.assert_allclose(have.LU.numpy(), want.LU.numpy(), rtol=1e-12, atol=1e-15)
    P, L, U = ng.linalg.lu(ng.tensor(SINGULAR))  # no error: the factorisation exists
    np.testing.assert_allclose((P @ L @ U).numpy(), SINGULAR, atol=1e-12)
    infos = _quiet(lambda: ng.lu(ng.tensor(SINGULAR), get_infos=True))
    assert type(infos).__name__ == "_lu_with_info" and infos.info.tolist() == [0, 3]
    assert len(_quiet(lambda: ng.lu(ng.tensor(SINGULAR)))) == 2  # torch.lu never raises for a singular matrix
    for lib in (torch, ng):
        with pytest.raises(RuntimeError, match=r"lu_factor: \(Batch element 1\): U\[3,3\] is zero"):
            lib.linalg.lu_factor(lib.tensor(SINGULAR))
        with pytest.raises(RuntimeError, match=r"^torch.linalg.lu_factor_ex: U\[3,3\] is zero and using it on "
                                               r"lu_solve would result in a division by zero"):
            lib.linalg.lu_factor_ex(lib.tensor(SINGULAR[1]), check_errors=True)


def test_named_tuples_grad_fns_methods_and_empty_batches():
    A = ng.tensor(A33, requires_grad=True)
    assert type(ng.linalg.lu_factor(A)).__name__ == "linalg_lu_factor"
    assert type(ng.linalg.lu(A)).__module__ == "numgrad.return_types"
    assert type(ng.lu_unpack(*ng.linalg.lu_factor(A))).__name__ == "lu_unpack"
    assert type(ng.geqrf(A)).__name__ == "geqrf"
    assert ng.linalg.lu_factor(A).LU.grad_fn.name() == "LinalgLuFactorExBackward0"
    P, L, U = ng.linalg.lu(A)
    assert L.grad_fn.name() == "LinalgLuBackward0" and not P.requires_grad
    LU, pivots = ng.linalg.lu_factor(A)
    assert ng.lu_unpack(LU, pivots).U.grad_fn.name() == "LuUnpackBackward0" and not pivots.requires_grad
    assert ng.linalg.lu_solve(LU, pivots, ng.tensor(B32)).grad_fn.name() == "LinalgLuSolveBackward0"
    b = ng.tensor(B32)
    np.testing.assert_allclose(_quiet(lambda: b.lu_solve(*A.detach().lu())).numpy(),
                               np.linalg.solve(A33, B32), rtol=1e-10)
    a, tau = A.detach().geqrf()
    np.testing.assert_allclose(a.orgqr(tau).numpy(), np.linalg.qr(A33)[0] * np.sign(np.diagonal(
        a.numpy(), axis1=-2, axis2=-1) * np.diagonal(np.linalg.qr(A33)[1], axis1=-2, axis2=-1))[..., None, :],
        atol=1e-12)
    np.testing.assert_allclose(a.ormqr(tau, a.triu()).numpy(), A33, atol=1e-12)
    empty = ng.linalg.lu_factor_ex(ng.ones(2, 0, 0))
    assert empty.LU.shape == (2, 0, 0) and empty.pivots.shape == (2, 0) and empty.info.tolist() == [0, 0]
    P, L, U = ng.lu_unpack(LU, pivots, unpack_data=False)
    assert L.shape == (0,) and U.shape == (0,) and P.shape == (2, 3, 3)
    assert ng.lu_unpack(LU, pivots, unpack_pivots=False).P.shape == (0,)
    # the pivots of one matrix apply to each matrix of LU's batch (PyTorch accepts them too)
    shared = ng.lu_unpack(LU, pivots[0]).P.numpy()
    assert (shared == ng.lu_unpack(LU[0], pivots[0]).P.numpy()).all(axis=(-2, -1)).tolist() == [True, True]


def test_out_arguments():
    LU, pivots = ng.empty(0, dtype=ng.float64), ng.empty(0, dtype=ng.int32)
    result = ng.linalg.lu_factor(ng.tensor(A33), out=(LU, pivots))
    assert result.LU is LU and result.pivots is pivots and pivots.tolist() == torch.linalg.lu_factor(
        torch.tensor(A33)).pivots.tolist()
    X = ng.empty(0, dtype=ng.float64)
    assert ng.linalg.lu_solve(LU, pivots, ng.tensor(B32), out=X) is X
    np.testing.assert_allclose(X.numpy(), np.linalg.solve(A33, B32), rtol=1e-10)
    P, L, U = (ng.empty(0, dtype=ng.float64) for _ in range(3))
    assert ng.lu_unpack(LU, pivots, out=(P, L, U)).P is P
    np.testing.assert_allclose((P @ L @ U).numpy(), A33, atol=1e-12)
    outs = (ng.empty(0, dtype=ng.float64), ng.empty(0, dtype=ng.int32), ng.empty(0, dtype=ng.int32))
    assert _quiet(lambda: ng.lu(ng.tensor(A33), get_infos=True, out=outs))[2] is outs[2]
    with pytest.raises(TypeError, match="expected tuple of 2 elements but got 3"):
        _quiet(lambda: ng.lu(ng.tensor(A33), out=outs))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        ng.linalg.lu(ng.tensor(A33, requires_grad=True), out=(P, L, U))


def _same_error(fn):
    """Both libraries raise the same exception type and message (first line)."""
    got = []
    for lib in (torch, ng):
        with pytest.raises(Exception) as info:
            _quiet(lambda: fn(lib))
        got.append((type(info.value).__name__, str(info.value).splitlines()[0]))
    assert got[0] == got[1]


def _lu_of(L, dtype=None):
    LU, pivots = L.linalg.lu_factor(L.tensor(A33[0]))
    return LU if dtype is None else LU.to(dtype), pivots


@pytest.mark.parametrize("fn", [
    lambda L: L.linalg.lu_factor([[1.]]),
    lambda L: L.linalg.lu_factor(L.ones(3)),
    lambda L: L.linalg.lu_factor_ex(L.ones(3)),
    lambda L: L.linalg.lu(L.ones(3)),
    lambda L: L.linalg.lu_factor(L.eye(2), pivot=False),
    lambda L: L.linalg.lu(L.eye(2), pivot=False),
    lambda L: L.linalg.lu_factor(L.eye(2, dtype=L.int64)),
    lambda L: L.linalg.lu(L.eye(2, dtype=L.float16)),
    lambda L: L.linalg.lu_solve(*_lu_of(L), L.ones(4, 2, dtype=L.float64)),
    lambda L: L.linalg.lu_solve(*_lu_of(L), L.ones(3, 2, dtype=L.float64), left=False),
    lambda L: L.linalg.lu_solve(_lu_of(L)[0], _lu_of(L)[1].long(), L.ones(3, 2, dtype=L.float64)),
    lambda L: L.linalg.lu_solve(_lu_of(L)[0], _lu_of(L)[1][:2], L.ones(3, 2, dtype=L.float64)),
    lambda L: L.linalg.lu_solve(*_lu_of(L), L.ones(3, 2)),
    lambda L: L.linalg.lu_solve(_lu_of(L)[0][:2], _lu_of(L)[1], L.ones(2, 2, dtype=L.float64)),
    lambda L: L.linalg.lu_solve(*_lu_of(L), L.ones(3, dtype=L.float64)),
    lambda L: L.linalg.lu_solve(_lu_of(L)[0], _lu_of(L)[1].expand(2, 3), L.ones(3, 2, dtype=L.float64)),
    lambda L: L.linalg.lu_solve(_lu_of(L)[0], _lu_of(L)[1] + 5, L.ones(3, 2, dtype=L.float64)),
    lambda L: L.linalg.lu_solve(_lu_of(L)[0], _lu_of(L)[1] * 0, L.ones(3, 2, dtype=L.float64)),
    lambda L: L.linalg.lu_solve(*_lu_of(L, L.int64), L.ones(3, 1, dtype=L.int64)),
    lambda L: L.linalg.lu_solve(*_lu_of(L, L.float16), L.ones(3, 1, dtype=L.float16)),
    lambda L: L.linalg.lu_solve([1.], _lu_of(L)[1], L.ones(3, 1)),
    lambda L: L.lu_solve(L.ones(3, 1, dtype=L.float64), _lu_of(L)[0], _lu_of(L)[1].long()),
    lambda L: L.lu_unpack([1.], _lu_of(L)[1]),
    lambda L: L.lu_unpack(L.ones(3), _lu_of(L)[1]),
    lambda L: L.lu_unpack(_lu_of(L)[0], _lu_of(L)[1].long()),
    lambda L: L.lu_unpack(_lu_of(L)[0], _lu_of(L)[1] + 5),
    lambda L: L.linalg.householder_product(L.ones(2, 3), L.ones(2)),
    lambda L: L.linalg.householder_product(L.ones(3, 2), L.ones(3)),
    lambda L: L.linalg.householder_product(L.ones(3, 2), L.ones(2, dtype=L.float64)),
    lambda L: L.linalg.householder_product(L.ones(2, 3, 2), L.ones(3, 2)),
    lambda L: L.linalg.householder_product(L.ones(2, 3, 2), L.ones(2)),
    lambda L: L.linalg.householder_product(L.ones(3, 2, dtype=L.int64), L.ones(2, dtype=L.int64)),
    lambda L: L.orgqr(L.ones(3, 2, dtype=L.float16), L.ones(2, dtype=L.float16)),
    lambda L: L.ormqr(L.ones(4, 3), L.ones(3), L.ones(3, 2)),
    lambda L: L.ormqr(L.ones(5, 3), L.ones(2), L.ones(5, 2)),
    lambda L: L.ormqr(L.ones(5, 3), L.ones(2), L.ones(2, 5), left=False),
    lambda L: L.ormqr(L.ones(5, 3), L.ones(3), L.ones(5, 2, dtype=L.float64)),
    lambda L: L.ormqr(L.ones(5, 3, dtype=L.float64), L.ones(3), L.ones(5, 2)),
    lambda L: L.ormqr(L.ones(2, 5, 3), L.ones(3), L.ones(2, 5, 2)),
    lambda L: L.ormqr(L.ones(5, 3), L.ones(3), L.ones(2, 5, 2)),
    lambda L: L.ormqr(L.ones(5, 3, dtype=L.float16), L.ones(3, dtype=L.float16), L.ones(5, 2, dtype=L.float16)),
    lambda L: L.geqrf(L.ones(3)),
    lambda L: L.geqrf(L.ones(3, 2, dtype=L.int64)),
])
def test_misuse_raises_torchs_error(fn):
    _same_error(fn)


def test_backward_errors_follow_torch():
    for lib in (torch, ng):
        a = lib.tensor(A43, requires_grad=True)
        with pytest.raises(NotImplementedError, match="the derivative for 'geqrf' is not implemented."):
            lib.geqrf(a).a.sum().backward()


def test_docstring_examples():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = doctest.testmod(importlib.import_module("numgrad.ops.lu"), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 10
