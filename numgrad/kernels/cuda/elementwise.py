"""Generated elementwise ("map") kernels for CUDA, from the same expression DAGs as the CPU ones.

One thread per output element in a grid-stride loop; each thread unravels its
flat index over the collapsed output shape and reads every input through its
strides (0 on broadcast dims).  Like the CPU kernels, a kernel is keyed by the
expression structure, dtypes and the ndim left after merging contiguous dims -
never by a shape - and its source is a content-hashed module in numgrad's cache
directory, so ``cache=True`` keeps the compiled code on disk (numba-cuda keys
it by compute capability).
"""
from __future__ import annotations

import numpy as np

from ...device import devices_differ
from ...ir import expr as ex
from ...ir.expr import forward_roots
from ...ir.table import ELEMENTWISE
from .. import cache
from ..cpu.elementwise import _broadcast_strides, _collapse, _const_fmt, _preambles, load_lines
from . import devmath
from .array import DeviceArray, empty
from ..cpu.reduce_axes import reducer_source
from .reduce_axes import MAX_PARTIALS, THREADS as TREE, _threads_for, block_tree_source, reduce_axes

_kernels: dict = {}
THREADS = 256
# grid-stride loops: enough blocks to fill a large GPU (an H200 has 132 SMs), not one block per 256 elements
MAX_BLOCKS = 132 * 16
_CPU_DEVICE_FN = "@njit(inline='always', cache=True, nogil=True, error_model='numpy')"


def launch_config(n: int) -> tuple:
    """(blocks, threads) for ``n`` elements; tiny launches stay tiny (the simulator runs each thread in Python)."""
    threads = THREADS if n >= THREADS else max(32, -(-n // 32) * 32)
    blocks = min(MAX_BLOCKS, max(1, -(-n // threads)))
    return blocks, threads


def _unravel(ndim: int, ind: str) -> list:
    """Lines that turn ``flat`` into indices i0..i{ndim-1} over ``o0``'s shape."""
    if ndim == 1:
        return [f"{ind}i0 = flat"]
    lines = [f"{ind}rest = flat"]
    for d in range(ndim - 1, 0, -1):
        lines.append(f"{ind}i{d} = rest % shape{d}")
        lines.append(f"{ind}rest = rest // shape{d}")
    lines.append(f"{ind}i0 = rest")
    return lines


def _source(roots, in_kinds, in_casts, n_out, ndim, compute) -> str:
    # float16 regions compute in float32 (constants and math included) and round on store, as on the CPU
    compute = "float32" if compute == "float16" else compute
    lines, outs = ex.render(roots, lambda i: f"v{i}", _const_fmt, spell=devmath.spell_for(compute))
    args = [f"o{j}" for j in range(n_out)] + [f"a{k}" for k in range(len(in_kinds))]
    preamble = _preambles(roots).replace(_CPU_DEVICE_FN, "@cuda.jit(device=True, inline=True)")
    idx = ", ".join(f"i{d}" for d in range(ndim))
    src = [
        "import math",
        "import numpy as np",
        "from numba import cuda",
        "from numgrad.kernels.cuda import devmath as dm",
        f"T = np.{compute}",
        "",
        preamble,
        "",
        "@cuda.jit(cache=True)",
        f"def kernel(n, {', '.join(args)}):",
    ]
    ind = "    "
    src.extend(f"{ind}shape{d} = o0.shape[{d}]" for d in range(1, ndim))
    src.append(f"{ind}for flat in range(cuda.grid(1), n, cuda.gridsize(1)):")
    ind += "    "
    src.extend(_unravel(ndim, ind))
    src.extend(load_lines(in_kinds, in_casts, idx, ind))
    src.extend(ind + line for line in lines)
    for j, name in enumerate(outs):
        src.append(f"{ind}o{j}[{idx}] = {name}")
    src.append("")
    return "\n".join(src)


def get_kernel(roots, in_kinds, in_casts, n_out, ndim, compute):
    key = (tuple(roots), in_kinds, in_casts, n_out, ndim, compute)
    mod = _kernels.get(key)
    if mod is None:
        mod = cache.load_module(_source(roots, in_kinds, in_casts, n_out, ndim, compute), prefix="cuda_map")
        _kernels[key] = mod
    return mod


def _host_scalar(a):
    """A kernel scalar argument from a Python number, NumPy scalar or one-element host array."""
    if isinstance(a, np.ndarray):
        if a.size != 1:
            raise devices_differ("cuda:0", "cpu", f"a CPU array of shape {list(a.shape)} met CUDA tensors")
        return a.reshape(-1)[0]
    return a


def prepare(inputs, shape: tuple, outs: list):
    """(kinds, kernel args, collapsed shape): device arrays as strided views over the shape left after merging
    dims that are contiguous for every operand, host values as scalars."""
    kinds, arrays, scalars = [], [], []
    for o in outs:
        if type(o) is not DeviceArray:
            raise devices_differ("cuda:0", "cpu", f"an output of shape {list(o.shape)} is in host memory")
    for a in inputs:
        if type(a) is DeviceArray:
            kinds.append("a")
            arrays.append(a)
        else:
            kinds.append("s")
            scalars.append(_host_scalar(a))
    strides = [_broadcast_strides(o, shape) for o in outs] + [_broadcast_strides(a, shape) for a in arrays]
    cshape, cstrides = _collapse(shape, strides)
    views = [
        arr.as_strided(cshape, tuple(s * arr.itemsize for s in st)).kernel_arg()
        for arr, st in zip(list(outs) + arrays, cstrides)
    ]
    out_args, in_arrays = views[: len(outs)], iter(views[len(outs):])
    it_scalars = iter(scalars)
    in_args = [next(in_arrays) if k == "a" else next(it_scalars) for k in kinds]
    return kinds, out_args + in_args, cshape


def run_map(roots, inputs, out_dtypes, shape, compute, in_casts, outs=None):
    """Evaluate expression ``roots`` over ``shape`` on the GPU; returns the output ``DeviceArray``s.

    Same contract as ``numgrad.kernels.cpu.elementwise.run_map``.
    """
    shape = tuple(shape)
    if outs is None:
        outs = [empty(shape, dt) for dt in out_dtypes]
    n = outs[0].size
    if n == 0:
        return outs
    kinds, args, cshape = prepare(inputs, shape, outs)
    ndim = len(cshape)
    key = (roots, tuple(kinds), tuple(in_casts), len(outs), ndim, compute)
    mod = _kernels.get(key)
    if mod is None:
        mod = get_kernel(tuple(roots), tuple(kinds), tuple(in_casts), len(outs), ndim, compute)
        _kernels[key] = mod
    blocks, threads = launch_config(n)
    mod.kernel[blocks, threads](n, *args)
    return outs




def _reduce_source(root, in_kinds, in_casts, ndim, reducer: str, acc: str, map_roots=()) -> str:
    """A kernel that evaluates ``root`` at every index and folds it with ``reducer``: one partial per block.

    Each thread accumulates its grid-stride slice in registers, then the block
    combines its threads with a tree in shared memory (``reduce.THREADS``
    wide, a power of two), so a fused region and its reduction read every
    input once and write one value per block - no intermediate array.
    ``map_roots`` are also evaluated and stored at every index into outputs
    ``o0, o1, ...`` (the deferred-loss kernel: gradients plus the loss).
    """
    init, step = reducer_source(reducer, acc)
    lines, names = ex.render(list(map_roots) + [root], lambda i: f"v{i}", _const_fmt,
                             spell=devmath.spell_for(acc))
    value = names[-1]
    args = (["n", "partials"] + [f"shape{d}" for d in range(1, ndim)] + [f"o{j}" for j in range(len(map_roots))]
            + [f"a{k}" for k in range(len(in_kinds))])
    idx = ", ".join(f"i{d}" for d in range(ndim))
    ind = " " * 8
    body = _unravel(ndim, ind)
    body.extend(load_lines(in_kinds, in_casts, idx, ind))
    body.extend(ind + line for line in lines)
    body.extend(f"{ind}o{j}[{idx}] = {name}" for j, name in enumerate(names[:-1]))
    body.append(f"{ind}v = T({value})")
    body.append(f"{ind}acc = {step}")
    preamble = _preambles(list(map_roots) + [root]).replace(_CPU_DEVICE_FN, "@cuda.jit(device=True, inline=True)")
    return "\n".join([
        "import math",
        "import numpy as np",
        "from numba import cuda",
        "from numgrad.kernels.cuda import devmath as dm",
        f"T = np.{'bool_' if acc == 'bool' else acc}",
        f"INIT = T({init})  # evaluated in Python: np.iinfo has no device implementation",
        f"TREE = {TREE}",
        "",
        preamble,
        "",
        "@cuda.jit(cache=True)",
        f"def kernel({', '.join(args)}):",
        "    shared = cuda.shared.array(TREE, T)",
        "    tid = cuda.threadIdx.x",
        "    acc = INIT",
        "    for flat in range(cuda.grid(1), n, cuda.gridsize(1)):",
        *body,
        block_tree_source(step, "v", "    "),
        "    if tid == 0:",
        "        partials[cuda.blockIdx.x] = shared[0]",
        "",
    ])


def run_reduce(root, inputs, shape, reducer: str, acc: str, map_roots=(), outs=()):
    """Reduce expression ``root`` over all of ``shape`` in one fused kernel; a 0-d ``DeviceArray`` of ``acc``.

    Blocks write partials; a one-block pass of ``reduce.reduce_axes`` folds
    them, so the result is deterministic (no atomics).  ``map_roots`` are
    written into ``outs`` by the same kernel.
    """
    shape = tuple(shape)
    n = 1
    for d in shape:
        n *= d
    if n == 0:
        return None  # the caller's empty-reduction rules apply
    kinds, args, cshape = prepare(inputs, shape, list(outs))
    ndim = len(cshape)
    key = ("reduce", root, tuple(kinds), ndim, reducer, acc, tuple(map_roots))
    mod = _kernels.get(key)
    if mod is None:
        source = _reduce_source(root, tuple(kinds), ("",) * len(kinds), ndim, reducer, acc, tuple(map_roots))
        mod = cache.load_module(source, prefix="cuda_mapsum" if map_roots else "cuda_mapreduce")
        _kernels[key] = mod
    threads = _threads_for(n)
    blocks = max(1, min(-(-n // threads), MAX_PARTIALS))
    partials = empty((blocks,), np.dtype(np.bool_ if acc == "bool" else acc))
    # the collapsed shape travels as scalars (a plain reduction has no output array to read it from)
    mod.kernel[blocks, threads](n, partials.kernel_arg(), *cshape[1:], *args)
    out = empty((), partials.dtype)
    reduce_axes(partials.kernel_arg(), (0,), reducer, partials.dtype.name, out=out.kernel_arg())
    return out


def run_map_sum(map_roots, reduce_root, inputs, shape, compute: str, acc: str, outs):
    """``map_roots`` written into ``outs`` and the sum of ``reduce_root`` (a 0-d ``DeviceArray``) in one kernel;
    same contract as ``numgrad.kernels.cpu.elementwise.run_map_sum``."""
    return run_reduce(reduce_root, inputs, shape, "sum", acc, tuple(map_roots), tuple(outs))

_IDENTITY = forward_roots(ELEMENTWISE["identity"])


def copy(src, dtype=None, out=None):
    """``src`` (an array, or a number to fill with) copied by one map kernel into ``out`` (any strides; src is
    broadcast to it) or into a new C-contiguous array of src's shape, cast to out's dtype or ``dtype``
    (default: src's).  The one identity copy of numgrad: contiguous copies, casts and fills all come here."""
    if out is None:
        dtype = src.dtype if dtype is None else np.dtype(dtype)
        shape, outs = src.shape, None
    else:
        dtype, shape, outs = out.dtype, out.shape, [out]
    # an array already of the target dtype is loaded as it is; anything else converts on load
    cast = "" if type(src) is DeviceArray and src.dtype == dtype else dtype.name
    (res,) = run_map(_IDENTITY, [src], [dtype], shape, dtype.name, [cast], outs)
    return res


def contiguous(x):
    """``x`` itself when C-contiguous, else a C-contiguous copy."""
    return x if x.flags.c_contiguous else copy(x)
