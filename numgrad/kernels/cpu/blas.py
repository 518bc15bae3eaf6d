"""BLAS gemm on strided sub-blocks, callable from ``@njit`` code, and a gemm split over Numba's threads.

Why not ``np.dot``: Numba's ``np.dot(a, b, out)`` takes only whole C- or
F-contiguous matrices, so it cannot write a column block ``out[:, lo:hi]``,
accumulate (``beta = 1``) or scale.  ``gemm`` below calls the Fortran-interface
``?gemm`` of the library ``blas_library`` binds (Intel MKL when its wheel is
installed, else SciPy's OpenBLAS, the library Numba's ``np.dot`` calls) with
explicit leading dimensions.

Why split a gemm ourselves: OpenBLAS's own threads busy-wait after every call,
and on a 2-core machine they then steal the core a Numba-parallel kernel
needs (measured: an MLP step 1.7x *slower* with ``OPENBLAS_NUM_THREADS=2``),
so numgrad runs OpenBLAS single-threaded (``numgrad/config.py``), and MKL sequential.
``gemm_parallel`` gives big products both cores anyway by running one
single-threaded gemm per column (or row) block inside a ``prange`` over
Numba's own thread pool: one pool, no oversubscription, no spinning.

The split is along N when M <= N (each thread packs all of A, the smaller
operand, and half of B) and along M otherwise, in blocks that are multiples
of 16 columns so every block keeps full SIMD panels.

>>> import numpy as np
>>> a, b = np.ones((4, 3), np.float32), np.ones((3, 5), np.float32)
>>> c = np.zeros((4, 5), np.float32)
>>> gemm(a, b, c, 1.0, 0.0); float(c[0, 0])
3.0
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from ..config import FASTMATH
from .blas_library import SYMBOLS

_OPTS = dict(cache=True, nogil=True, error_model="numpy", fastmath=set(FASTMATH))

# Products below this many multiply-adds run on one thread.  With the OpenMP
# layer's bounded spin a launch costs 2-60 us here (config.py) and one core
# does about 60 G multiply-adds/s, so 2^21 (about 35 us of work) is where two
# threads start to pay.
PARALLEL_MIN_MACS = 1 << 21

_VOIDP = ir.IntType(8).as_pointer()
# the Fortran BLAS interface (LP64) takes 32-bit integers
_INT32_MAX = 2**31 - 1


@intrinsic
def _xxgemm(typingctx, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Column-major BLAS gemm ``c = alpha op(a) op(b) + beta c`` on the arrays' data pointers.

    ``transa``/``transb`` are ``ord('n')`` or ``ord('t')``; leading dimensions in elements.  Calls the
    Fortran-interface ``?gemm`` that ``blas_library`` bound to ``numgrad_sgemm``/``numgrad_dgemm`` (MKL or
    OpenBLAS): every argument by pointer, 32-bit integers.
    """
    dtype = c.dtype
    sig = types.void(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    kind = {types.float32: "s", types.float64: "d"}[dtype]

    def codegen(context, builder, signature, args):
        (ta, tb, m_, n_, k_, alpha_, a_, lda_, b_, ldb_, beta_, c_, ldc_) = args
        fnty = ir.FunctionType(ir.VoidType(), [_VOIDP] * 13)
        fn = cgutils.get_or_insert_function(builder.module, fnty, SYMBOLS[kind])
        arg_types = signature.args

        def slot(value, ty, to):
            """A stack slot holding ``value`` cast to ``to``, as ``void*`` (Fortran passes by reference)."""
            value = context.cast(builder, value, ty, to)
            return builder.bitcast(cgutils.alloca_once_value(builder, value), _VOIDP)

        def int_slot(value, ty, bits=32):
            """A stack slot holding ``value`` as a ``bits``-bit integer (a char for the trans flags)."""
            wide = context.cast(builder, value, ty, types.intp)
            return builder.bitcast(cgutils.alloca_once_value(builder, builder.trunc(wide, ir.IntType(bits))), _VOIDP)

        def data(value, ty):
            return builder.bitcast(context.make_array(ty)(context, builder, value).data, _VOIDP)

        builder.call(fn, (
            int_slot(ta, arg_types[0], 8), int_slot(tb, arg_types[1], 8),
            int_slot(m_, arg_types[2]), int_slot(n_, arg_types[3]), int_slot(k_, arg_types[4]),
            slot(alpha_, arg_types[5], dtype), data(a_, arg_types[6]), int_slot(lda_, arg_types[7]),
            data(b_, arg_types[8]), int_slot(ldb_, arg_types[9]),
            slot(beta_, arg_types[10], dtype), data(c_, arg_types[11]), int_slot(ldc_, arg_types[12]),
        ))
        return context.get_dummy_value()

    return sig, codegen


@njit(**_OPTS)
def _storage(x):
    """(row_major, leading dimension) of a 2-D array with unit stride along one axis; (False, 0) if neither."""
    rows, cols = x.shape
    size = x.itemsize
    s_row, s_col = x.strides
    if (cols == 1 or s_col == size) and (rows == 1 or s_row >= cols * size):
        return True, (s_row // size if rows > 1 else max(cols, 1))
    if (rows == 1 or s_row == size) and (cols == 1 or s_col >= rows * size):
        return False, (s_col // size if cols > 1 else max(rows, 1))
    return False, 0


@intrinsic
def _any_layout(typingctx, arr):
    """The same array, typed with layout "A" (any strides).

    Numba compiles a function once per argument layout, and the callers hand
    gemm C-contiguous arrays, transposes (F) and column blocks (A): six
    specializations of ``gemm`` and three of the parallel ``_gemm_split`` in
    one digits training run, each a full compile.  Only strides and the data
    pointer are used here, so every call can share the "A" specialization.
    """
    if not isinstance(arr, types.Array):
        return None
    any_layout = arr.copy(layout="A")

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[0], signature.args[0], signature.return_type)
        return impl_ret_borrowed(context, builder, signature.return_type, value)

    return any_layout(arr), codegen


@njit(**_OPTS)
def gemm(a, b, c, alpha, beta):
    """``c = alpha * a @ b + beta * c`` for 2-D float arrays of one dtype.

    ``a`` and ``b`` may be row- or column-major with any leading dimension (a
    transpose or a block of a bigger matrix); ``c`` must be row-major with unit
    column stride.  Operands with neither layout are copied first.  Every
    layout shares one compiled ``_gemm`` (see ``_any_layout``).
    """
    _gemm(_any_layout(a), _any_layout(b), _any_layout(c), np.float64(alpha), np.float64(beta))


@njit(**_OPTS)
def _gemm(a, b, c, alpha, beta):
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        for i in range(m):
            for j in range(n):
                c[i, j] = beta * c[i, j] if beta != 0 else 0
        return
    a_row, lda = _storage(a)
    if lda == 0:
        a = np.ascontiguousarray(a)
        a_row, lda = True, k
    b_row, ldb = _storage(b)
    if ldb == 0:
        b = np.ascontiguousarray(b)
        b_row, ldb = True, n
    ldc = c.strides[0] // c.itemsize if m > 1 else max(n, 1)
    if max(m, n, k, lda, ldb, ldc) > _INT32_MAX:
        raise ValueError("matmul: a dimension or row stride exceeds 2**31 - 1 elements, the limit of the "
                         "32-bit BLAS interface numgrad calls; split the product into smaller blocks")
    # row-major c = a b is column-major c^T = b^T a^T: BLAS sees b first
    _xxgemm(ord("n") if b_row else ord("t"), ord("n") if a_row else ord("t"),
            n, m, k, alpha, b, ldb, a, lda, beta, c, ldc)


@njit(**_OPTS)
def _blocks(extent, parts):
    """Block size: ``extent`` split into ``parts`` blocks, rounded up to a multiple of 16."""
    size = (extent + parts - 1) // parts
    return max(16, (size + 15) // 16 * 16)


@njit(parallel=True, **_OPTS)
def _gemm_split(a, b, c, alpha, beta, by_cols, block, parts):
    for part in prange(parts):
        lo = part * block
        if by_cols:
            hi = min(c.shape[1], lo + block)
            if lo < hi:
                gemm(a, b[:, lo:hi], c[:, lo:hi], alpha, beta)
        else:
            hi = min(c.shape[0], lo + block)
            if lo < hi:
                gemm(a[lo:hi], b, c[lo:hi], alpha, beta)


@njit(**_OPTS)
def gemm_parallel(a, b, c, alpha, beta, parts):
    """``gemm`` split into ``parts`` column (or row) blocks run on Numba's threads; ``parts < 2``: one gemm."""
    m = a.shape[0]
    n = b.shape[1]
    by_cols = m <= n
    extent = n if by_cols else m
    block = extent
    if parts >= 2:
        block = _blocks(extent, parts)
        parts = (extent + block - 1) // block
    if parts < 2:
        gemm(a, b, c, alpha, beta)
        return
    _gemm_split(_any_layout(a), _any_layout(b), _any_layout(c), np.float64(alpha), np.float64(beta), by_cols,
                block, parts)


def parallel_parts(macs: int, max_parts: int) -> int:
    """How many threads a product of ``macs`` multiply-adds should use (1: serial).

    >>> parallel_parts(10, 8)
    1
    """
    threads = numba.get_num_threads()
    if threads < 2 or max_parts < 2 or macs < PARALLEL_MIN_MACS:
        return 1
    return min(threads, max_parts)


def gemm_parts(m: int, n: int, k: int) -> int:
    """Threads for an (m, k) @ (k, n) product: blocks of at least 16 rows or columns.

    >>> gemm_parts(4, 4, 4)
    1
    """
    return parallel_parts(m * n * k, max(m, n) // 16)


def matmul_into(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool = False) -> np.ndarray:
    """``out = a @ b`` (``out += a @ b`` with ``accumulate``) for 2-D float arrays, threads included.

    ``a``/``b`` may be transposes or blocks of bigger arrays; ``out`` must be row-major with unit column stride.

    >>> import numpy as np
    >>> float(matmul_into(np.eye(2), np.full((2, 2), 3.0), np.empty((2, 2)))[1, 1])
    3.0
    """
    parts = gemm_parts(a.shape[0], b.shape[1], a.shape[1])
    gemm_parallel(a, b, out, 1.0, 1.0 if accumulate else 0.0, parts)
    return out
