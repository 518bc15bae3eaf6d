"""Numba kernels for batches of small dense matrices: inverse, determinant, sign/log-determinant, solve,
and the decompositions: Cholesky, triangular solve, QR, symmetric eigendecomposition, SVD, matrix exponential.

Each takes a C-contiguous ``(batch, n, n)`` (or ``(batch, m, n)``) array (float32 or float64) and loops over
the batch calling NumPy's LAPACK-backed routines, which Numba compiles in nopython mode (a triangular solve and
the matrix exponential, which NumPy lacks, are written out here). A singular matrix makes ``inv``/``solve``
raise NumPy's ``LinAlgError``; the ops layer turns that into PyTorch's error. The decompositions report
failures in an ``info`` array instead, so the ops layer can name the batch element as PyTorch does.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

_OPTS = dict(cache=True, nogil=True)


# Copies by loops: Numba's ``out[b] = array`` (array-to-array setitem) took ~3 s to compile, a loop ~0.1 s.
@njit(**_OPTS)
def _put2(dst, src):
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[i, j] = src[i, j]


@njit(**_OPTS)
def _put1(dst, src):
    for i in range(src.shape[0]):
        dst[i] = src[i]


@njit(**_OPTS)
def inv_batch(a3):
    out = np.empty_like(a3)
    for b in range(a3.shape[0]):
        _put2(out[b], np.linalg.inv(a3[b]))
    return out


@njit(**_OPTS)
def slogdet_batch(a3):
    """(sign, log|det|) of each matrix, in the input's dtype."""
    n = a3.shape[0]
    sign = np.empty(n, dtype=a3.dtype)
    logabs = np.empty(n, dtype=a3.dtype)
    for b in range(n):
        s, l = np.linalg.slogdet(a3[b])
        sign[b] = s
        logabs[b] = l
    return sign, logabs


@njit(**_OPTS)
def solve_batch(a3, b3):
    """X with A X = B for each (A, B) of ``a3`` (batch, n, n) and ``b3`` (batch, n, k)."""
    out = np.empty_like(b3)
    for b in range(a3.shape[0]):
        _put2(out[b], np.linalg.solve(a3[b], b3[b]))
    return out


# ---------------------------------------------------------------- decompositions (numgrad/ops/decompositions.py)
# Each loops over a C-contiguous (batch, m, n) array. NumPy's routines under Numba raise on NaN/inf input
# ("Array must not contain infs or NaNs"); PyTorch returns NaN there (QR, eigh, matrix_exp) or raises
# its own error (SVD of NaN): the kernels check first and fill NaN or report the matrix in ``info``.


@njit(**_OPTS)
def _all_finite(a) -> bool:
    for v in a.ravel():
        if not np.isfinite(v):
            return False
    return True


@njit(**_OPTS)
def _any_nan(a) -> bool:
    for v in a.ravel():
        if np.isnan(v):
            return True
    return False


@njit(**_OPTS)
def _cholesky_unblocked(a, out):
    """The lower Cholesky factor of ``a`` (its lower triangle) into ``out``, column by column as LAPACK's potf2
    does; returns 0, or the order of the first leading minor that is not positive-definite (``out`` then holds the
    partial factor with that minor's pivot on the diagonal)."""
    n = a.shape[0]
    for i in range(n):
        for j in range(n):
            out[i, j] = a[i, j] if j <= i else 0.0
    for j in range(n):
        s = out[j, j]
        for k in range(j):
            s -= out[j, k] * out[j, k]
        if not s > 0:  # NaN too
            out[j, j] = s
            return j + 1
        d = np.sqrt(s)
        out[j, j] = d
        for i in range(j + 1, n):
            t = out[i, j]
            for k in range(j):
                t -= out[i, k] * out[j, k]
            out[i, j] = t / d
    return 0


@njit(**_OPTS)
def cholesky_batch(a3):
    """Lower Cholesky factors (from the lower triangles) and LAPACK's ``info`` per matrix: 0, or the order of the
    first leading minor that is not positive-definite. LAPACK does the work; a matrix it rejects (or whose factor
    came out NaN) is factored again by ``_cholesky_unblocked`` to find that order."""
    nb, n = a3.shape[0], a3.shape[1]
    out = np.zeros_like(a3)
    info = np.zeros(nb, dtype=np.int32)
    for b in range(nb):
        ok = True
        try:
            _put2(out[b], np.linalg.cholesky(a3[b]))
        except Exception:  # noqa: B902 - numba catches exceptions only as a class
            ok = False
        if ok:
            for i in range(n):
                if np.isnan(out[b, i, i]):
                    ok = False
                    break
        if not ok:
            info[b] = _cholesky_unblocked(a3[b], out[b])
    return out, info


@njit(cache=True, nogil=True, error_model="numpy")
def solve_triangular_batch(a3, b3, lower, unit):
    """X with A X = B for triangular A (its ``lower`` or upper triangle; ``unit``: ones assumed on the diagonal)
    for each (A, B) of ``a3`` (batch, n, n) and ``b3`` (batch, n, k). NumPy has no triangular solve under Numba,
    so this is substitution by rows, the inner loop running along the k right-hand sides. A zero on the diagonal
    gives inf/NaN, as LAPACK's trtrs does without raising."""
    nb, n, k = b3.shape
    out = b3.copy()
    for b in range(nb):
        a = a3[b]
        x = out[b]
        for step in range(n):
            i = step if lower else n - 1 - step
            lo, hi = (0, i) if lower else (i + 1, n)
            for j in range(lo, hi):
                aij = a[i, j]
                if aij != 0:
                    for c in range(k):
                        x[i, c] -= aij * x[j, c]
            if not unit:
                d = a[i, i]
                for c in range(k):
                    x[i, c] /= d
    return out


@njit(**_OPTS)
def qr_batch(a3, complete):
    """(Q, R) of each (m, n) matrix, LAPACK's geqrf + orgqr (Householder: R's diagonal may be negative).
    Reduced: Q (m, k), R (k, n) with k = min(m, n); ``complete``: Q (m, m), R (m, n). The complete Q of a tall
    matrix is the QR of [A, 0]: the zero columns' reflectors are identities, so it is LAPACK's orgqr on A's
    reflectors, as PyTorch's."""
    nb, m, n = a3.shape
    k = min(m, n)
    qc = m if complete else k
    q = np.empty((nb, m, qc), dtype=a3.dtype)
    r = np.empty((nb, qc, n), dtype=a3.dtype)
    for b in range(nb):
        if not _all_finite(a3[b]):
            q[b] = np.nan
            for i in range(qc):
                for j in range(n):
                    r[b, i, j] = np.nan if j >= i else 0.0
            continue
        if qc > n:
            aug = np.zeros((m, m), dtype=a3.dtype)
            _put2(aug, a3[b])
            qb, rb = np.linalg.qr(aug)
            _put2(q[b], qb)
            _put2(r[b], rb[:, :n])
        else:
            qb, rb = np.linalg.qr(a3[b])
            _put2(q[b], qb)
            _put2(r[b], rb)
    return q, r


@njit(**_OPTS)
def eigh_batch(a3, upper):
    """Eigenvalues (ascending) and orthonormal eigenvectors (columns) of each symmetric matrix, read from its
    lower triangle, or from its ``upper`` one (as the lower triangle of the transpose). NaN/inf input: NaN out."""
    nb, n = a3.shape[0], a3.shape[1]
    w = np.empty((nb, n), dtype=a3.dtype)
    v = np.empty_like(a3)
    for b in range(nb):
        if not _all_finite(a3[b]):
            w[b] = np.nan
            v[b] = np.nan
            continue
        wb, vb = np.linalg.eigh(a3[b].T if upper else a3[b])
        _put1(w[b], wb)
        _put2(v[b], vb)
    return w, v


@njit(**_OPTS)
def svd_batch(a3, full):
    """(U, S, Vh) of each (m, n) matrix (LAPACK's gesdd, singular values descending), reduced or ``full``, and
    ``info``: 1 for a matrix with NaN (PyTorch raises for it); inf without NaN gives NaN, as PyTorch's."""
    nb, m, n = a3.shape
    k = min(m, n)
    uc = m if full else k
    vr = n if full else k
    u = np.empty((nb, m, uc), dtype=a3.dtype)
    s = np.empty((nb, k), dtype=a3.dtype)
    vh = np.empty((nb, vr, n), dtype=a3.dtype)
    info = np.zeros(nb, dtype=np.int32)
    for b in range(nb):
        if not _all_finite(a3[b]):
            info[b] = 1 if _any_nan(a3[b]) else 0
            u[b] = np.nan
            s[b] = np.nan
            vh[b] = np.nan
            continue
        ub, sb, vhb = np.linalg.svd(a3[b], full_matrices=full)
        _put2(u[b], ub)
        _put1(s[b], sb)
        _put2(vh[b], vhb)
    return u, s, vh, info


# Taylor coefficients 1/k! up to degree 18, and the largest 1-norm for which the degree-18 Taylor polynomial is
# exact to double precision (1.09, the bound PyTorch's matrix_exp uses for that degree, from Bader, Blanes and
# Casas 2019); larger matrices are scaled by a power of two and the result squared back
_TAYLOR18 = np.array([1.0 / math.factorial(k) for k in range(19)])
_THETA18 = 1.090863719290036


@njit(**_OPTS)
def _combine(c0, c1, x1, c2, x2, c3, x3):
    """c0 I + c1 x1 + c2 x2 + c3 x3 in one loop (array expressions cost Numba far more compile time)."""
    n = x1.shape[0]
    out = np.empty_like(x1)
    for i in range(n):
        for j in range(n):
            out[i, j] = c1 * x1[i, j] + c2 * x2[i, j] + c3 * x3[i, j] + (c0 if i == j else 0.0)
    return out


@njit(**_OPTS)
def _expm(a):
    """exp of one float64 matrix: scaling and squaring around the degree-18 Taylor polynomial, evaluated by
    Paterson-Stockmeyer in powers of X^4 (7 products; no linear solve, unlike a Pade approximant)."""
    n = a.shape[0]
    norm1 = 0.0
    for j in range(n):
        col = 0.0
        for i in range(n):
            col += abs(a[i, j])
        norm1 = max(norm1, col)
    s = 0
    if norm1 > _THETA18:
        s = int(np.ceil(np.log2(norm1 / _THETA18)))
    x = np.ascontiguousarray(a * (0.5 ** s))
    c = _TAYLOR18
    x2 = x @ x
    x3 = x2 @ x
    x4 = x2 @ x2
    t = _combine(c[16], c[17], x, c[18], x2, 0.0, x2)
    for j in range(3, -1, -1):
        t = x4 @ t + _combine(c[4 * j], c[4 * j + 1], x, c[4 * j + 2], x2, c[4 * j + 3], x3)
    for _ in range(s):
        t = t @ t
    return t


@njit(**_OPTS)
def matrix_exp_batch(a3):
    """exp of each square float64 matrix (the ops layer passes float32 input as float64: one compiled kernel).
    NaN/inf input: NaN."""
    out = np.empty_like(a3)
    for b in range(a3.shape[0]):
        if not _all_finite(a3[b]):
            out[b] = np.nan
            continue
        _put2(out[b], _expm(a3[b]))
    return out


@njit(**_OPTS)
def zero_diagonal_batch(a3):
    """Per matrix, the (1-based) position of the first zero on the diagonal, 0 where there is none."""
    nb, n = a3.shape[0], a3.shape[1]
    out = np.zeros(nb, dtype=np.int64)
    for b in range(nb):
        for i in range(n):
            if a3[b, i, i] == 0:
                out[b] = i + 1
                break
    return out
