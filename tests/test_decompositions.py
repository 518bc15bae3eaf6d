"""numgrad's matrix decompositions (numgrad/ops/decompositions.py, numgrad.linalg) against PyTorch: values,
gradients of gauge-invariant losses (eigen/singular vectors are defined up to sign), finite-difference checks
of first and second derivatives in float64, and PyTorch's errors for misuse. Small matrices, few cases: the
kernels' first compilation dominates this file's time."""
from __future__ import annotations

import doctest
import importlib
import math
import warnings

import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(7)
A43 = RNG.standard_normal((2, 4, 3))
A34 = RNG.standard_normal((2, 3, 4))
A33 = RNG.standard_normal((3, 3))
B32 = RNG.standard_normal((2, 3, 2))


def _spd(lib, a):
    """A symmetric positive-definite matrix made from ``a`` (so a gradient check may move ``a`` freely)."""
    return a.mT @ a + lib.eye(a.shape[-1], dtype=a.dtype)


def _sym(a):
    return a + a.mT


def _tri(lib, a, upper=True):
    """A well-conditioned triangular matrix made from ``a``."""
    return (a.triu() if upper else a.tril()) + 3 * lib.eye(a.shape[-1], dtype=a.dtype)


def _no_deprecation(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn()


# name -> (function of (lib, *inputs) returning a tensor or tuple of tensors whose values are gauge-invariant,
# input arrays)
CASES = {
    "cholesky": (lambda L, a: L.linalg.cholesky(_spd(L, a)), (A43,)),
    "cholesky_upper": (lambda L, a: L.linalg.cholesky(_spd(L, a), upper=True), (A43,)),
    "cholesky_ex": (lambda L, a: L.linalg.cholesky_ex(_spd(L, a)).L, (A33,)),
    "torch_cholesky": (lambda L, a: _no_deprecation(lambda: L.cholesky(_spd(L, a), upper=True)), (A33,)),
    "cholesky_solve": (lambda L, b, a: L.cholesky_solve(b, L.linalg.cholesky(_spd(L, a))), (B32, A33)),
    "cholesky_solve_upper": (lambda L, b, a: L.cholesky_solve(b, _tri(L, a), upper=True), (B32, A33)),
    "cholesky_inverse": (lambda L, a: L.cholesky_inverse(_tri(L, a, upper=False)), (A33,)),
    "solve_triangular": (lambda L, a, b: L.linalg.solve_triangular(_tri(L, a), b, upper=True), (A33, B32)),
    "solve_triangular_right_unit": (
        lambda L, a, b: L.linalg.solve_triangular(_tri(L, a, False), b.mT, upper=False, left=False,
                                                  unitriangular=True), (A33, B32)),
    "triangular_solve": (lambda L, b, a: _no_deprecation(lambda: L.triangular_solve(b, _tri(L, a), transpose=True)),
                         (B32, A33)),
    "qr_tall": (lambda L, a: L.linalg.qr(a), (A43,)),
    "qr_wide": (lambda L, a: L.linalg.qr(a), (A34,)),
    "eigh": (lambda L, a: (L.linalg.eigh(_sym(a)).eigenvalues, L.linalg.eigh(_sym(a)).eigenvectors ** 2), (A33,)),
    "eigh_upper": (lambda L, a: L.linalg.eigh(a.triu(), UPLO="U").eigenvectors ** 2, (A33,)),
    "eigvalsh": (lambda L, a: L.linalg.eigvalsh(a.tril()), (A33,)),
    "svd_tall": (lambda L, a: tuple(t ** 2 for t in L.linalg.svd(a, full_matrices=False)), (A43,)),
    "svd_wide": (lambda L, a: tuple(t ** 2 for t in L.linalg.svd(a, full_matrices=False)), (A34,)),
    # only the first min(m, n) singular vectors of a full SVD carry gradient, in PyTorch as here
    "svd_wide_full": (lambda L, a: tuple(t ** 2 for t in L.linalg.svd(a)), (A34,)),
    "torch_svd": (lambda L, a: tuple(t ** 2 for t in L.svd(a)), (A43,)),
    "svdvals": (lambda L, a: L.linalg.svdvals(a), (A34,)),
    "pinv": (lambda L, a: L.linalg.pinv(a), (A43,)),
    "pinv_hermitian": (lambda L, a: L.linalg.pinv(_sym(a), hermitian=True), (A33,)),
    "pinverse_rcond": (lambda L, a: L.pinverse(a, rcond=0.3), (A34,)),
    "lstsq": (lambda L, a, b: L.linalg.lstsq(a, b).solution, (A43, RNG.standard_normal((2, 4, 2)))),
    "lstsq_vector_residuals": (lambda L, a, b: L.linalg.lstsq(a, b, driver="gelsd")[:2],
                               (A43, RNG.standard_normal((2, 4)))),
    "matrix_exp": (lambda L, a: L.linalg.matrix_exp(2 * a), (A33,)),
    "cond": (lambda L, a: L.linalg.cond(a), (A43,)),
    "matrix_norm_nuc_2": (lambda L, a: (L.linalg.matrix_norm(a, "nuc"), L.linalg.matrix_norm(a, -2, dim=(0, 2))),
                          (A43,)),
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
        loss = sum((o * lib.tensor(np.cos(np.arange(o.numel())).reshape(tuple(o.shape)))).sum() for o in outs)
        loss.backward()
        results[lib.__name__] = ([o.detach().numpy() for o in outs], [t.grad.numpy() for t in inputs])
    (want_out, want_grad), (have_out, have_grad) = results["torch"], results["numgrad"]
    for want, have in zip(want_out + want_grad, have_out + have_grad):
        assert want.shape == have.shape
        np.testing.assert_allclose(have, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["cholesky", "cholesky_solve", "cholesky_inverse", "solve_triangular_right_unit",
                                  "qr_tall", "qr_wide", "eigh", "svd_tall", "svd_wide", "pinv", "lstsq",
                                  "lstsq_vector_residuals", "matrix_exp"])
def test_gradcheck_and_gradgradcheck_in_float64(name):
    fn, arrays = CASES[name]
    inputs = tuple(ng.tensor(a[0] if a.ndim == 3 and name in ("eigh", "matrix_exp") else a, requires_grad=True)
                   for a in arrays)
    assert gradcheck(lambda *xs: fn(ng, *xs), inputs)
    assert gradgradcheck(lambda *xs: fn(ng, *xs), inputs)


def test_decomposition_identities_and_float32():
    a = RNG.standard_normal((2, 4, 3)).astype(np.float32)
    A = ng.tensor(a)
    Q, R = ng.linalg.qr(A, mode="complete")
    assert Q.shape == (2, 4, 4) and R.shape == (2, 4, 3) and Q.dtype == ng.float32
    np.testing.assert_allclose((Q @ R).numpy(), a, atol=1e-5)
    np.testing.assert_allclose(Q.numpy(), torch.linalg.qr(torch.tensor(a), mode="complete").Q.numpy(), atol=1e-5)
    U, S, Vh = ng.linalg.svd(A, full_matrices=False)
    np.testing.assert_allclose(((U * S.unsqueeze(-2)) @ Vh).numpy(), a, atol=1e-5)
    np.testing.assert_allclose(S.numpy(), torch.linalg.svdvals(torch.tensor(a)).numpy(), rtol=1e-5)
    spd = np.swapaxes(a, -1, -2) @ a + np.eye(3, dtype=np.float32)
    w, V = ng.linalg.eigh(ng.tensor(spd))
    np.testing.assert_allclose(((V * w.unsqueeze(-2)) @ V.mT).numpy(), spd, rtol=1e-4, atol=1e-4)
    L = ng.linalg.cholesky(ng.tensor(spd))
    np.testing.assert_allclose(L.numpy(), torch.linalg.cholesky(torch.tensor(spd)).numpy(), rtol=1e-5, atol=1e-6)
    E = ng.linalg.matrix_exp(ng.tensor(spd[0] / 10))
    assert E.dtype == ng.float32
    np.testing.assert_allclose(E.numpy(), torch.linalg.matrix_exp(torch.tensor(spd[0] / 10)).numpy(), rtol=1e-5)


def test_named_tuples_ranks_and_lstsq_outputs_follow_torch():
    r = ng.linalg.cholesky_ex(ng.tensor([[[1., 0.], [0., 1.]], [[1., 2.], [2., 1.]]]))
    assert type(r).__name__ == "linalg_cholesky_ex" and type(r).__module__ == "numgrad.return_types"
    assert r.info.tolist() == [0, 2] and r.info.dtype == ng.int32
    a = RNG.standard_normal((4, 3))
    a[:, 2] = a[:, 0]  # rank 2
    b = RNG.standard_normal((4, 2))
    for driver in (None, "gels", "gelsd", "gelss"):
        have = ng.linalg.lstsq(ng.tensor(a if driver != "gels" else A43[0]), ng.tensor(b), driver=driver)
        want = torch.linalg.lstsq(torch.tensor(a if driver != "gels" else A43[0]), torch.tensor(b), driver=driver)
        for field in ("solution", "residuals", "rank", "singular_values"):
            h, w = getattr(have, field), getattr(want, field)
            assert tuple(h.shape) == tuple(w.shape) and str(h.dtype).split(".")[-1] == str(w.dtype).split(".")[-1]
            if field in ("solution", "rank") and driver != "gels":
                # rank-deficient: the minimum-norm solution and rank of NumPy's gelsd; torch's gelsy decides the
                # rank of this matrix (smallest singular value 1e-17) differently now and then, from run to run
                w = torch.tensor(np.linalg.lstsq(a, b, rcond=None)[0 if field == "solution" else 2])
            np.testing.assert_allclose(h.numpy(), w.numpy(), rtol=1e-9, atol=1e-12)
    for kwargs in ({}, {"hermitian": True}, {"atol": 0.5}, {"rtol": 0.5}, {"tol": 1.0}):
        sym = a.T @ a
        assert ng.linalg.matrix_rank(ng.tensor(sym), **kwargs).item() == torch.linalg.matrix_rank(
            torch.tensor(sym), **kwargs).item()
    assert ng.linalg.cond(ng.tensor(np.ones((3, 3))), 1).item() == math.inf
    for p in ("fro", "nuc", 1, -math.inf):  # values only: PyTorch 2.13's own backward of these fails (in place)
        np.testing.assert_allclose(ng.linalg.cond(ng.tensor(A43[:, :3]), p).numpy(),
                                   torch.linalg.cond(torch.tensor(A43[:, :3]), p).numpy(), rtol=1e-10)
    U, S, V = ng.svd(ng.tensor(A43), compute_uv=False)
    assert U.shape == (2, 4, 4) and V.shape == (2, 3, 3) and not U.numpy().any()
    assert ng.linalg.svd(ng.zeros(0, 3)).Vh.tolist() == np.eye(3).tolist()  # PyTorch's identity for the empty side


def test_tensor_methods_and_torch_names():
    x = ng.tensor(A33)
    spd = x.mT @ x + ng.eye(3, dtype=ng.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        L = spd.cholesky()
        assert spd.qr().R.shape == (3, 3) and spd.svd().V.shape == (3, 3)
        assert spd.triangular_solve(L, upper=False).solution.shape == (3, 3)
    np.testing.assert_allclose(L.cholesky_inverse().numpy(), np.linalg.inv(spd.numpy()), rtol=1e-10)
    np.testing.assert_allclose(ng.eye(3, dtype=ng.float64).cholesky_solve(L).numpy(), np.linalg.inv(spd.numpy()),
                               rtol=1e-10)
    np.testing.assert_allclose(x.pinverse().numpy(), np.linalg.pinv(A33), rtol=1e-10)
    np.testing.assert_allclose(x.matrix_exp().numpy(), torch.matrix_exp(torch.tensor(A33)).numpy(), rtol=1e-12)
    assert ng.linalg.cholesky(spd.requires_grad_()).grad_fn.name() == "LinalgCholeskyExBackward0"


def _same_error(fn):
    """Both libraries raise the same exception type (torch's _LinAlgError is numgrad's LinAlgError) and message."""
    got = []
    for lib in (torch, ng):
        with pytest.raises(Exception) as info:
            _no_deprecation(lambda: fn(lib))
        got.append((type(info.value).__name__.lstrip("_"), str(info.value).splitlines()[0]))
    assert got[0] == got[1]
    return got[1]


NPD = [[1., 2.], [2., 1.]]


@pytest.mark.parametrize("fn", [
    lambda L: L.linalg.cholesky(L.tensor(NPD)),
    lambda L: L.linalg.cholesky(L.tensor([[[1., 0.], [0., 1.]], NPD])),
    lambda L: L.cholesky(L.tensor(NPD)),
    lambda L: L.linalg.cholesky_ex(L.tensor(NPD), check_errors=True),
    lambda L: L.linalg.cholesky(L.ones(2, 3)),
    lambda L: L.linalg.cholesky(L.eye(2, dtype=L.int64)),
    lambda L: L.linalg.cholesky(L.eye(2, dtype=L.float16)),
    lambda L: L.linalg.qr(L.ones(3)),
    lambda L: L.linalg.qr(L.eye(2), mode="R"),
    lambda L: L.linalg.eigh(L.ones(3, 2)),
    lambda L: L.linalg.eigh(L.eye(2), UPLO="X"),
    lambda L: L.linalg.eigvalsh(L.eye(2, dtype=L.int32)),
    lambda L: L.linalg.svd(L.eye(2, dtype=L.int64)),
    lambda L: L.linalg.svdvals(L.tensor([[[1., 0.], [0., 1.]], [[float("nan"), 0.], [0., 1.]]])),
    lambda L: L.linalg.pinv(L.ones(3)),
    lambda L: L.linalg.lstsq(L.eye(3), L.ones(2, 2)),
    lambda L: L.linalg.lstsq(L.eye(3), L.ones(3, 2), driver="foo"),
    lambda L: L.linalg.lstsq(L.eye(3), L.ones(3, 2, dtype=L.float64)),
    lambda L: L.linalg.solve_triangular(L.eye(3), L.ones(3, 2), upper=True, left=False),
    lambda L: L.linalg.solve_triangular(L.eye(3, dtype=L.int64), L.ones(3, 2, dtype=L.int64), upper=True),
    lambda L: L.triangular_solve(L.ones(2, 2), L.eye(3)),
    lambda L: L.cholesky_solve(L.ones(3, 2), L.ones(2, 2)),
    lambda L: L.cholesky_solve(L.ones(3, 2), L.eye(3, dtype=L.float64)),
    lambda L: L.cholesky_inverse(L.zeros(3, 3)),
    lambda L: L.linalg.matrix_exp(L.ones(3, 2)),
    lambda L: L.linalg.matrix_rank(L.eye(3, dtype=L.int64)),
    lambda L: L.linalg.cond(L.ones(3, 2), "fro"),
    lambda L: L.linalg.cond(L.ones(3, 3), 3),
])
def test_misuse_raises_torchs_error(fn):
    _same_error(fn)


def test_backward_errors_follow_torch():
    np.testing.assert_allclose(ng.linalg.qr(ng.tensor(A34), mode="r").R.numpy(),
                               torch.linalg.qr(torch.tensor(A34), mode="r").R.numpy(), rtol=1e-10, atol=1e-12)
    for lib in (torch, ng):
        a = lib.tensor(A43, requires_grad=True)
        with pytest.raises(RuntimeError, match="not computed when mode='r'"):
            lib.linalg.qr(a, mode="r").R.sum().backward()
        with pytest.raises(RuntimeError, match="not differentiable when mode='complete' and nrows > ncols"):
            lib.linalg.qr(a, mode="complete").R.sum().backward()
    assert issubclass(ng.linalg.LinAlgError, RuntimeError)


@pytest.mark.parametrize("module", ["numgrad.ops.decompositions", "numgrad.linalg"])
def test_docstring_examples(module):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


SINGULAR = {
    "rank1_2x2": [[1.0, 2.0], [2.0, 4.0]],
    "zero_pivot": [[0.0, 1.0], [0.0, 0.0]],
    "rank2_3x3": [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]],
    "rank1_3x3": np.ones((3, 3)).tolist(),
    "batch_mixed": [[[1.0, 2.0], [2.0, 4.0]], [[2.0, 1.0], [0.5, 3.0]]],
}


@pytest.mark.parametrize("name", list(SINGULAR))
def test_det_gradient_at_a_singular_matrix_is_the_adjugate(name):
    # the derivative of det is the adjugate's transpose, also where det is 0 (PyTorch 2.13 gives it under
    # create_graph=True, through the SVD; without it, an exactly singular matrix gets zeros from its LU path)
    a = np.array(SINGULAR[name])
    ours = ng.tensor(a, requires_grad=True)
    theirs = torch.tensor(a, requires_grad=True)
    ng.det(ours).sum().backward()
    (want,) = torch.autograd.grad(torch.linalg.det(theirs).sum(), theirs, create_graph=True)
    np.testing.assert_allclose(ours.grad.numpy(), want.detach().numpy(), rtol=1e-9, atol=1e-12)
    assert ng.autograd.gradcheck(ng.linalg.det, (ng.tensor(a, requires_grad=True),))
