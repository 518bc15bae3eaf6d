"""Tiled shared-memory matrix multiply on CUDA: ``(B, M, K) @ (B, K, N) -> (B, M, N)``.

Each 16x16 block computes one 16x16 tile of the output: it walks K one tile
at a time, staging a tile of ``a`` and of ``b`` in shared memory so that every
global element is read once per block instead of once per output element.
Threads along x take consecutive columns, so both tile loads and the output
store coalesce on row-major operands.  Operands may have any strides (a
transposed operand, a stride-0 broadcast batch); the kernel indexes them with
their own strides.  Products accumulate in the operand dtype, as cuBLAS does
by default for float32.

The source is generated (through the kernel cache) per dtype rather than
written as one module-level kernel: the shared-memory tiles need their dtype
as a compile-time constant, and numba offers no way to derive it from an
argument's type inside a kernel.
"""
from __future__ import annotations

import numpy as np

from .. import cache
from . import simulator_enabled

# 16x16 on a GPU; the simulator runs every thread in Python, and 8x8 blocks made the CUDA tests ~3x faster
# there (the PTX compile test still builds the 16x16 kernels)
TILE = 8 if simulator_enabled() else 16
# CUDA's limit on grid.y and grid.z; the kernel grid-strides over row tiles and batches beyond it
MAX_GRID_YZ = 65535

_modules: dict = {}


def _source(dtype: str, batched: bool) -> str:
    at = "batch, " if batched else ""
    if batched:
        loop_head = "    for batch in range(cuda.blockIdx.z, a.shape[0], cuda.gridDim.z):\n"
        indent = " " * 8
    else:
        loop_head = ""
        indent = " " * 4
    body = f"""for row_tile in range(cuda.blockIdx.y, row_tiles, cuda.gridDim.y):
    row = row_tile * TILE + ty
    acc = T(0)
    for k0 in range(0, k_total, TILE):
        k = k0 + tx
        if row < m and k < k_total:
            tile_a[ty, tx] = a[{at}row, k]
        else:
            tile_a[ty, tx] = T(0)
        k = k0 + ty
        if k < k_total and col < n:
            tile_b[ty, tx] = b[{at}k, col]
        else:
            tile_b[ty, tx] = T(0)
        cuda.syncthreads()
        for kk in range(TILE):
            acc += tile_a[ty, kk] * tile_b[kk, tx]
        # the next iteration overwrites the tiles other threads are still reading
        cuda.syncthreads()
    if row < m and col < n:
        out[{at}row, col] = acc
"""
    body = "".join(indent + line + "\n" for line in body.splitlines())
    dims = "a.shape[1], a.shape[2], b.shape[2]" if batched else "a.shape[0], a.shape[1], b.shape[1]"
    return f"""import numpy as np
from numba import cuda

T = np.{dtype}
TILE = {TILE}


@cuda.jit(cache=True)
def matmul_tiled(a, b, out):
    tile_a = cuda.shared.array((TILE, TILE), T)
    tile_b = cuda.shared.array((TILE, TILE), T)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    m, k_total, n = {dims}
    col = cuda.blockIdx.x * TILE + tx
    row_tiles = (m + TILE - 1) // TILE
{loop_head}{body}"""


def kernel(dtype, batched: bool = True):
    """The generated ``@cuda.jit`` tiled kernel for ``dtype`` (3-D operands when ``batched``, else 2-D)."""
    dtype = np.dtype(dtype).name
    key = (dtype, batched)
    mod = _modules.get(key)
    if mod is None:
        mod = _modules[key] = cache.load_module(_source(dtype, batched), prefix="cuda_matmul")
    return mod.matmul_tiled


def _check(op: str, a, b, out, ndim: int):
    for name, arr in (("a", a), ("b", b)):
        if isinstance(arr, np.ndarray):
            raise TypeError(f"{op}(): expected numba CUDA device arrays, got a NumPy array for {name} "
                            f"(shape {arr.shape}); copy it to the device with numba.cuda.to_device first")
        if arr.ndim != ndim:
            raise ValueError(f"{op}(): expected {ndim}-D operands, got {name} of shape {tuple(arr.shape)}")
    dtype = np.dtype(a.dtype)
    if np.dtype(b.dtype) != dtype:
        raise TypeError(f"{op}(): expected both operands to have the same dtype, but got {dtype.name} "
                        f"and {np.dtype(b.dtype).name}")
    if dtype.kind not in "iuf" or dtype == np.float16:
        raise TypeError(f"{op}(): dtype {dtype.name} is not supported on CUDA "
                        "(float32, float64 and integers are)")
    # tuples: the simulator's shapes reject negative indices
    a_shape, b_shape = tuple(a.shape), tuple(b.shape)
    if ndim == 3 and a_shape[0] != b_shape[0]:
        raise ValueError(f"{op}(): batch sizes differ: a has shape {a_shape}, b has shape "
                         f"{b_shape} (broadcast the batch with a stride-0 view first)")
    if a_shape[-1] != b_shape[-2]:
        raise ValueError(f"{op}(): shapes cannot be multiplied ({'x'.join(map(str, a_shape[-2:]))} and "
                         f"{'x'.join(map(str, b_shape[-2:]))}): a has shape {a_shape}, b has shape {b_shape}")
    out_shape = a_shape[:-1] + (b_shape[-1],)
    if out is None:
        from numba import cuda

        return cuda.device_array(out_shape, dtype=dtype)
    if tuple(out.shape) != out_shape or np.dtype(out.dtype) != dtype:
        raise ValueError(f"{op}(): out has shape {tuple(out.shape)} and dtype {np.dtype(out.dtype).name}, "
                         f"expected shape {out_shape} and dtype {dtype.name}")
    return out


def _launch(a, b, out, batched: bool) -> None:
    if out.size == 0:
        return
    shape = tuple(out.shape)
    m, n = shape[-2], shape[-1]
    batches = shape[0] if batched else 1
    grid = (-(-n // TILE), min(-(-m // TILE), MAX_GRID_YZ), min(batches, MAX_GRID_YZ))
    kernel(out.dtype, batched)[grid, (TILE, TILE)](a, b, out)


def matmul(a, b, out=None):
    """Batched product of numba device arrays: ``a`` (B, M, K) @ ``b`` (B, K, N) -> (B, M, N).

    Both operands have the same integer or float dtype and any strides; a
    batch stride of 0 broadcasts one matrix over the batch.  Returns a new
    C-contiguous array, or writes into ``out`` (shape (B, M, N), same dtype,
    any strides) and returns it.  K == 0 gives zeros.
    """
    out = _check("matmul", a, b, out, 3)
    _launch(a, b, out, batched=True)
    return out


def matmul_2d(a, b, out=None):
    """Matrix product of 2-D numba device arrays: ``a`` (M, K) @ ``b`` (K, N) -> (M, N); see ``matmul``."""
    out = _check("matmul_2d", a, b, out, 2)
    _launch(a, b, out, batched=False)
    return out
