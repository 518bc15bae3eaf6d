"""Matrix-multiply kernels for the CPU.

Floating-point products call BLAS gemm (``blas.gemm``: MKL when installed,
else SciPy's OpenBLAS; ``blas_library``); a plain 2-D product goes through
``blas.matmul_into``, which splits large ones over Numba's threads.  gemm takes
row- or column-major operands without copying, so a transposed operand (``w.T``
in ``linear``, the ``b^T`` of a backward pass) is passed as the transpose of a
C-contiguous array and BLAS reads it with its transpose flag.  Batched products loop over the
batch inside one jitted function; broadcast batch dimensions are handled with
index maps (batch ``i`` of the output reads matrix ``ia[i]`` of ``a``), so an
operand broadcast over the batch is never copied.

Integer products (PyTorch supports them on the CPU) and floats when SciPy is
missing use a plain loop kernel that accepts any strides.

Everything here takes NumPy arrays; shapes and dtypes are validated by the
caller (``numgrad.ops.linalg``) before a kernel sees them.
"""
from __future__ import annotations

import importlib.util

import numpy as np
from numba import njit, prange

from ..config import FASTMATH, PARALLEL_THRESHOLD
from .elementwise import contiguous as _contiguous
from .blas import gemm, matmul_into

# OpenBLAS comes with SciPy (blas_library); without SciPy the loop kernel serves floats too.
BLAS_AVAILABLE = importlib.util.find_spec("scipy") is not None

# numba accepts a set (not a frozenset) of fast-math flags
_OPTS = dict(cache=True, nogil=True, error_model="numpy", fastmath=set(FASTMATH))


@njit(**_OPTS)
def bmm_blas(a, b, out, ia, ib):
    """Batched ``out[i] = a[ia[i]] @ b[ib[i]]`` through BLAS gemm.

    ``a``/``b`` may be stacks of transposes (``np.swapaxes`` of a C-contiguous
    stack): ``gemm`` reads either layout without a copy and every layout shares
    one compiled specialization.
    """
    for i in range(out.shape[0]):
        gemm(a[ia[i]], b[ib[i]], out[i], 1.0, 0.0)


@njit(**_OPTS)
def _loop_rows(x, y, o, m):
    # i-k-j order: the innermost loop walks a row of y and of o (unit stride when C-contiguous)
    for n in range(o.shape[1]):
        o[m, n] = 0
    for k in range(x.shape[1]):
        xv = x[m, k]
        for n in range(o.shape[1]):
            o[m, n] += xv * y[k, n]


@njit(**_OPTS)
def bmm_loop(a, b, out, ia, ib):
    """Batched ``out[i] = a[ia[i]] @ b[ib[i]]`` for any dtype and strides (no BLAS)."""
    for i in range(out.shape[0]):
        x = a[ia[i]]
        y = b[ib[i]]
        o = out[i]
        for m in range(o.shape[0]):
            _loop_rows(x, y, o, m)


# Not one body compiled twice (kernels/variants.py): the parallel loop runs over
# (batch, row) pairs so that one large matrix still splits over threads, and
# slicing the operands per row made the serial loop 2x slower on 512 4x4 products.
@njit(**_OPTS, parallel=True)
def bmm_loop_par(a, b, out, ia, ib):
    # each (batch, row) pair writes its own output row: no two iterations share memory
    rows = out.shape[1]
    for j in prange(out.shape[0] * rows):
        i = j // rows
        _loop_rows(a[ia[i]], b[ib[i]], out[i], j - i * rows)


def _reshape(arr: np.ndarray, shape: tuple) -> np.ndarray:
    """A view with ``shape`` when the strides allow one, else a contiguous copy."""
    try:
        return np.reshape(arr, shape, copy=False)
    except ValueError:
        return _contiguous(arr).reshape(shape)


def _matrix(arr: np.ndarray) -> np.ndarray:
    """A 2-D operand BLAS can read in place (C or F order), copying only when neither."""
    if arr.flags.c_contiguous or arr.flags.f_contiguous:
        return arr
    return _contiguous(arr)


def _stack(arr: np.ndarray) -> np.ndarray:
    """A 3-D stack (batch, R, C) of the matrices of an operand of shape (*batch, R, C) that gemm reads in place.

    The stack is C-contiguous or the axis swap of a C-contiguous stack of the
    transposes; a copy is made only when neither the array nor its
    last-two-axes swap is C-contiguous.
    """
    rows, cols = arr.shape[-2:]
    if arr.flags.c_contiguous:
        return arr.reshape(-1, rows, cols)
    swapped = np.swapaxes(arr, -1, -2)
    if swapped.flags.c_contiguous:
        return np.swapaxes(swapped.reshape(-1, cols, rows), 1, 2)
    return _contiguous(arr).reshape(-1, rows, cols)


def _batch_index(batch: tuple, full: tuple) -> np.ndarray:
    """For each batch entry of the broadcast ``full`` batch shape, the flat index into ``batch``."""
    count = 1
    for n in batch:
        count *= n
    if batch == full:
        return np.arange(count, dtype=np.int64)
    ids = np.arange(count, dtype=np.int64).reshape(batch)
    return np.ascontiguousarray(np.broadcast_to(ids, full)).reshape(-1)


def matmul_arrays(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for arrays of shape ``(*batch_a, M, K)`` and ``(*batch_b, K, N)``.

    Both must have the same dtype and at least 2 dimensions; batch dimensions
    broadcast.  Returns a new C-contiguous array of shape ``(*batch, M, N)``.

    >>> import numpy as np
    >>> matmul_arrays(np.ones((2, 3)), np.ones((3, 4))).shape
    (2, 4)
    """
    batch_a, batch_b = a.shape[:-2], b.shape[:-2]
    batch = np.broadcast_shapes(batch_a, batch_b)
    m, k = a.shape[-2:]
    n = b.shape[-1]
    if k == 0:
        return np.zeros(batch + (m, n), dtype=a.dtype)
    out = np.empty(batch + (m, n), dtype=a.dtype)
    if out.size == 0:
        return out
    use_blas = BLAS_AVAILABLE and a.dtype.kind == "f" and a.dtype.itemsize >= 4
    if use_blas and not batch_b:
        # b shared by the whole batch: fold the batch into M, one GEMM (split over threads when large)

        matmul_into(_matrix(_reshape(a, (-1, k))), _matrix(b), out.reshape(-1, n))
        return out
    if use_blas:
        bmm_blas(_stack(a), _stack(b), out.reshape(-1, m, n), _batch_index(batch_a, batch),
                 _batch_index(batch_b, batch))
        return out
    a3 = _reshape(a, (-1,) + a.shape[-2:])
    b3 = _reshape(b, (-1,) + b.shape[-2:])
    ia, ib = _batch_index(batch_a, batch), _batch_index(batch_b, batch)
    kernel = bmm_loop_par if out.size * k >= PARALLEL_THRESHOLD and out.shape[-2] * len(ia) > 1 else bmm_loop
    kernel(a3, b3, out.reshape(-1, m, n), ia, ib)
    return out
