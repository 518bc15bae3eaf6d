"""CUDA reductions (sum, prod, amax, amin, any, all) over any axes of a strided device array.

The reducers are the CPU table (``numgrad.kernels.cpu.reduce_axes.REDUCERS``) with
the same initial values, so both devices agree on semantics, NaN propagation
of amax/amin included.  Three kernel shapes cover every call:

* ``cast``: no axis reduced, an elementwise conversion to the accumulator dtype;
* ``reduce_some``: one thread per output element walks the reduced axes in
  nested loops.  Consecutive threads take consecutive output elements, so the
  reads coalesce when the innermost axis is kept.  For long reductions over
  the innermost axis a block per output element (a tree over the row, like
  ``reduce_all``) is the next step: here each thread reads a strided row;
* ``reduce_all``: every axis reduced.  Each block folds a grid-stride slice
  into one partial with a tree in shared memory, and a second one-block launch
  folds the partials.  No atomics: the combination order depends only on the
  element count, so a result is bitwise the same run to run (as PyTorch's sum).

Kernels index the array with its own strides (numba accepts any strided
device array, stride-0 broadcast dimensions included), so no copy is made.
Source is generated per (kernel shape, reducer, accumulator dtype, ndim,
reduced axes) and numba specializes it per input dtype and layout; a new size
never recompiles.
"""
from __future__ import annotations

import numpy as np

from .. import cache
from ..cpu.reduce_axes import REDUCERS, reducer_source

# block size of the big launches; a power of two because the tree halves it
THREADS = 256
# one warp: what a tiny input gets (the simulator pays ~0.1 ms per thread)
MIN_THREADS = 32
# first-pass blocks of a full reduction; the one-block second pass folds them
MAX_PARTIALS = 1024
# grid cap of the thread-per-element kernels; they grid-stride beyond it
MAX_BLOCKS = 4096

# numba-cuda compiles these; float16 and complex have no tested path yet
_SUPPORTED_KINDS = "biuf"

_modules: dict = {}


def _check_dtype(dtype, what: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind not in _SUPPORTED_KINDS or dtype == np.float16:
        raise TypeError(f"reduce_axes(): {what} dtype {dtype.name} is not supported on CUDA "
                        "(bool, integers, float32 and float64 are)")
    return dtype


def _header(acc_dtype: str) -> str:
    return f"""import numpy as np
from numba import cuda

T = np.{acc_dtype}
THREADS = {THREADS}
"""


def _unflatten(flat: str, dims, indent: str) -> list:
    """Source lines splitting the C-order linear index ``flat`` over ``dims`` into ``i<d>`` variables."""
    if len(dims) == 1:
        return [f"{indent}i{dims[0]} = {flat}"]
    lines = [f"{indent}rest = {flat}"]
    for d in reversed(dims[1:]):
        lines.append(f"{indent}i{d} = rest % x.shape[{d}]")
        lines.append(f"{indent}rest //= x.shape[{d}]")
    lines.append(f"{indent}i{dims[0]} = rest")
    return lines


def _index(dims) -> str:
    return ", ".join(f"i{d}" for d in dims)


def _cast_source(acc_dtype: str, ndim: int) -> str:
    dims = list(range(ndim))
    body = "\n".join(_unflatten("flat", dims, " " * 8))
    return _header(acc_dtype) + f"""

@cuda.jit(cache=True)
def cast(x, out):
    for flat in range(cuda.grid(1), out.size, cuda.gridsize(1)):
{body}
        out[{_index(dims)}] = T(x[{_index(dims)}])
"""


def _reducer_header(reducer: str, acc_dtype: str) -> str:
    init, _ = reducer_source(reducer, acc_dtype)
    # evaluated here, in Python: np.iinfo has no device implementation
    return _header(acc_dtype) + f"INIT = T({init})\n"


def _reduce_some_source(reducer: str, acc_dtype: str, ndim: int, axes: tuple) -> str:
    _, step = reducer_source(reducer, acc_dtype)
    kept = [d for d in range(ndim) if d not in axes]
    lines = _unflatten("flat", kept, " " * 8)
    lines.append(" " * 8 + "acc = INIT")
    indent = " " * 8
    for d in axes:
        lines.append(f"{indent}for i{d} in range(x.shape[{d}]):")
        indent += " " * 4
    lines.append(f"{indent}v = T(x[{_index(range(ndim))}])")
    lines.append(f"{indent}acc = {step}")
    lines.append(f"        out[{_index(kept)}] = acc")
    body = "\n".join(lines)
    return _reducer_header(reducer, acc_dtype) + f"""

@cuda.jit(cache=True)
def reduce_some(x, out):
    for flat in range(cuda.grid(1), out.size, cuda.gridsize(1)):
{body}
"""


def block_tree_source(combine: str, operand: str, indent: str) -> str:
    """Source that folds each thread's ``acc`` into ``shared[0]`` with a shared-memory tree.

    ``combine`` is the reducer step over ``acc`` and ``operand`` (the other half's value).  Race-free and
    deterministic: blockDim.x is a power of two, so halving pairs every element exactly once, and every
    step ends at a barrier.
    """
    lines = [
        "shared[tid] = acc",
        "cuda.syncthreads()",
        "width = cuda.blockDim.x // 2",
        "while width > 0:",
        "    if tid < width:",
        "        acc = shared[tid]",
        f"        {operand} = shared[tid + width]",
        f"        shared[tid] = {combine}",
        "    cuda.syncthreads()",
        "    width //= 2",
    ]
    return "\n".join(indent + line for line in lines)


def _reduce_all_source(reducer: str, acc_dtype: str, ndim: int) -> str:
    _, step = reducer_source(reducer, acc_dtype)
    dims = list(range(ndim))
    body = "\n".join(_unflatten("flat", dims, " " * 8))
    return _reducer_header(reducer, acc_dtype) + f"""

@cuda.jit(cache=True)
def reduce_all(x, partials):
    shared = cuda.shared.array(THREADS, T)
    tid = cuda.threadIdx.x
    acc = INIT
    for flat in range(cuda.grid(1), x.size, cuda.gridsize(1)):
{body}
        v = T(x[{_index(dims)}])
        acc = {step}
{block_tree_source(step, "v", "    ")}
    if tid == 0:
        partials[cuda.blockIdx.x] = shared[0]
"""


def kernel(kind: str, reducer: str, acc_dtype: str, ndim: int, axes: tuple = ()):
    """The generated ``@cuda.jit`` kernel of one shape (``"cast"``, ``"reduce_some"`` or ``"reduce_all"``).

    Exposed so that callers (and the PTX compile test) can reach the kernel
    objects; ``reduce_axes`` is the entry point for computing.
    """
    acc_dtype = np.dtype(acc_dtype).name
    if kind == "cast":
        key = (kind, acc_dtype, ndim)
    elif kind == "reduce_all":
        key = (kind, reducer, acc_dtype, ndim)
    elif kind == "reduce_some":
        key = (kind, reducer, acc_dtype, ndim, tuple(axes))
    else:
        raise ValueError(f"unknown CUDA reduction kernel {kind!r}: expected cast, reduce_some or reduce_all")
    mod = _modules.get(key)
    if mod is None:
        if kind == "cast":
            source = _cast_source(acc_dtype, ndim)
        elif kind == "reduce_all":
            source = _reduce_all_source(reducer, acc_dtype, ndim)
        else:
            source = _reduce_some_source(reducer, acc_dtype, ndim, tuple(axes))
        mod = _modules[key] = cache.load_module(source, prefix="cuda_reduce")
    return getattr(mod, kind)


def _threads_for(n: int) -> int:
    threads = MIN_THREADS
    while threads < n and threads < THREADS:
        threads *= 2
    return threads


def _launch_map(fn, n: int, *args) -> None:
    """Launch a thread-per-element kernel over ``n`` elements (nothing to do for none)."""
    if n == 0:
        return
    threads = _threads_for(n)
    blocks = min(-(-n // threads), MAX_BLOCKS)
    fn[blocks, threads](*args)


def _reduce_all(x, out, reducer: str, acc: np.dtype) -> None:
    from numba import cuda

    if x.ndim > 1 and x.is_c_contiguous():
        x = x.reshape(x.size)  # one index instead of a div/mod chain per element
    n = x.size
    final = out.reshape(1)
    threads = _threads_for(n)
    blocks = max(1, min(-(-n // threads), MAX_PARTIALS))
    first = kernel("reduce_all", reducer, acc.name, x.ndim)
    if blocks == 1:
        first[1, threads](x, final)
        return
    partials = cuda.device_array(blocks, dtype=acc)
    first[blocks, threads](x, partials)
    kernel("reduce_all", reducer, acc.name, 1)[1, _threads_for(blocks)](partials, final)


def reduce_axes(x, axes, reducer: str, acc_dtype: str, out=None):
    """Reduce the numba device array ``x`` over ``axes`` (keepdim=False) with ``reducer``.

    ``x`` may have any strides (transposed, sliced, stride-0 broadcast).
    ``axes`` is a sorted tuple of distinct axes: empty means an elementwise
    conversion to ``acc_dtype``, all axes a full reduction.  Every element is
    converted to ``acc_dtype`` (a NumPy type name) before it is combined, and
    the result has that dtype, like the CPU kernels.  Returns a new C-contiguous
    device array of ``x.shape`` without ``axes``, or writes into ``out``
    (a device array of that shape and dtype, any strides) and returns it.

    Empty reductions give the reducer's initial value (sum 0, prod 1, amax the
    dtype's lowest value); the ops layer rejects an empty amax/amin before any
    kernel runs, as on the CPU.
    """
    from numba import cuda

    if isinstance(x, np.ndarray):
        raise TypeError(f"reduce_axes(): expected a numba CUDA device array, got a NumPy array of shape "
                        f"{x.shape}; copy it to the device with numba.cuda.to_device first")
    if reducer not in REDUCERS:
        raise ValueError(f"reduce_axes(): unknown reducer {reducer!r}; expected one of {', '.join(REDUCERS)}")
    acc = _check_dtype(acc_dtype, "accumulator")
    _check_dtype(x.dtype, "input")
    axes = tuple(int(a) for a in axes)
    ndim = x.ndim
    if list(axes) != sorted(set(axes)) or any(not 0 <= a < ndim for a in axes):
        raise ValueError(f"reduce_axes(): axes must be sorted, distinct and in range for an input of shape "
                         f"{tuple(x.shape)} ({ndim} dims), got {axes}")
    out_shape = tuple(n for d, n in enumerate(x.shape) if d not in axes)
    if out is None:
        out = cuda.device_array(out_shape, dtype=acc)
    elif tuple(out.shape) != out_shape or np.dtype(out.dtype) != acc:
        raise ValueError(f"reduce_axes(): out has shape {tuple(out.shape)} and dtype {np.dtype(out.dtype).name}, "
                         f"but reducing {reducer} over axes {axes} of shape {tuple(x.shape)} gives shape "
                         f"{out_shape} and dtype {acc.name}")
    if ndim == 0:
        _launch_map(kernel("cast", reducer, acc.name, 1), 1, x.reshape(1), out.reshape(1))
    elif not axes:
        if x.is_c_contiguous() and out.is_c_contiguous():
            _launch_map(kernel("cast", reducer, acc.name, 1), x.size, x.reshape(x.size), out.reshape(x.size))
        else:
            _launch_map(kernel("cast", reducer, acc.name, ndim), x.size, x, out)
    elif len(axes) == ndim:
        _reduce_all(x, out, reducer, acc)
    else:
        _launch_map(kernel("reduce_some", reducer, acc.name, ndim, axes), out.size, x, out)
    return out
