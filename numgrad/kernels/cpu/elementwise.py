"""Generated elementwise kernels ("map" kernels) for the CPU.

A map kernel evaluates scalar expressions (see ``numgrad.ir.expr``) at every
index of an output shape, reading array inputs through their strides (stride 0
for broadcast dimensions) and scalar inputs as arguments.  Kernels are keyed by
expression structure, dtypes and the number of dimensions left after merging
dimensions that are contiguous for every operand - never by shape, so a new
batch size does not recompile.

Each generated module holds a serial and a ``parallel=True`` variant of the same
loop nest; the parallel one is only compiled when an array is large enough to
use it (``PARALLEL_THRESHOLD``).
"""
from __future__ import annotations

import numpy as np

from ...ir import expr as ex
from ...ir.expr import forward_roots
from ...ir.table import ELEMENTWISE
from ...ir import table as ir_table
from ... import _profiler_hooks as _profiler  # hooks in run_map / run_reduce: what a launch computes
from ... import _dtypes
from .. import cache
from ..config import FASTMATH_LITERAL, PARALLEL_THRESHOLD
from .reduce_axes import REDUCERS

_kernels: dict = {}

# The CPU's spelling of the op table's math names (``M.exp`` -> ``fm.exp``).  ``fm`` is
# numgrad.kernels.cpu.fastmath, whose polynomial versions vectorize where libm's do not (pip's
# llvmlite has no SVML); the rest are NumPy scalar functions: LLVM intrinsics (floor, sqrt) or
# libm calls (tan, exp2, log2: fastmath has no version of those yet).  The spellings are the ones
# the templates held before they named math by meaning, so the generated source, its content hash
# and the disk cache are unchanged.
MATH = {
    "exp": "fm.exp", "log": "fm.log", "log1p": "fm.log1p", "expm1": "fm.expm1", "sin": "fm.sin",
    "cos": "fm.cos", "tanh": "fm.tanh", "erf": "fm.erf", "pow": "fm.pow", "sigmoid": "fm.sigmoid",
    "floor": "np.floor", "ceil": "np.ceil", "rint": "np.rint", "trunc": "np.trunc", "exp2": "np.exp2",
    "log2": "np.log2", "sqrt": "np.sqrt", "tan": "np.tan",
}
# inverse and hyperbolic trigonometry, log10, atan2: NumPy's scalar functions (libm calls)
MATH.update({
    "asin": "np.arcsin", "acos": "np.arccos", "atan": "np.arctan", "sinh": "np.sinh", "cosh": "np.cosh",
    "asinh": "np.arcsinh", "acosh": "np.arccosh", "atanh": "np.arctanh", "log10": "np.log10", "atan2": "np.arctan2",
    "erfc": "math.erfc",  # 1 - erf(x) would lose every digit in the tail
})
# fails here, at import, naming any math name of the table the CPU cannot spell
ir_table.register_math_renderer("cpu", MATH)


def spell_math(name: str, dtype=None) -> str:
    """The CPU code for math name ``name`` (``ex.render``'s ``spell``): the same for every dtype.

    >>> spell_math("tanh"), spell_math("floor", "float32")
    ('fm.tanh', 'np.floor')
    """
    return MATH[name]


def _const_fmt(v) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    if v != v:
        return "T(np.nan)"
    if v in (float("inf"), float("-inf")):
        return "T(np.inf)" if v > 0 else "T(-np.inf)"
    return f"T({v!r})"


def _preambles(roots) -> str:
    """Source that rows used in the DAG need (user-defined elementwise functions)."""
    seen = []
    for node in ex.postorder(list(roots)):
        if node.op not in ("var", "const"):
            pre = ELEMENTWISE[node.op].preamble
            if pre and pre not in seen:
                seen.append(pre)
    return "\n\n".join(seen)


# 16-bit floats: arrays reach kernels as uint16 words ("h": float16, "b": bfloat16 array kinds), are converted
# to float32 on load and rounded back on store (kernels/cpu/half.py); arithmetic on them is float32's
_HALF_NAMES = ("float16", "bfloat16")
_TO_FLOAT = {"h": "hf.half_to_float", "b": "hf.bfloat16_to_float"}
_FROM_FLOAT = {"h": "hf.float_to_half", "b": "hf.float_to_bfloat16"}
_HALF_IMPORT = "from numgrad.kernels.cpu import half as hf\n"


def _compute_name(compute: str) -> str:
    """The type kernels compute in: 16-bit floats in float32."""
    return "float32" if compute in _HALF_NAMES else compute


def half_kind(arr) -> str:
    """"h" for a float16 array, "b" for a bfloat16 one (uint16 words marked as bfloat16), else ""."""
    if arr.itemsize == 2:
        char = arr.dtype.char
        if char == "e":
            return "h"
        if char == "H" and _dtypes.is_bfloat16_array_dtype(arr.dtype):
            return "b"
    return ""


def half_scalar(arr: np.ndarray):
    """The first element of a float16/bfloat16 array as a float32 scalar (a kernel's scalar argument)."""
    word = arr.reshape(-1)[:1]
    if word.dtype.char == "e":
        return np.float32(word[0])
    return (word.astype(np.uint32) << 16).view(np.float32)[0]


def _load(kind: str, k: int, index: str, array: str = "a") -> str:
    """The expression reading input ``k`` (named ``a{k}``, or ``{array}{k}`` for an array): an element of an
    array (16-bit floats converted), or a scalar."""
    if kind == "s":
        return f"a{k}"
    load = f"{array}{k}[{index}]"
    return f"{_TO_FLOAT[kind]}({load})" if kind in _TO_FLOAT else load


def _split_invariant(roots, kinds, lines: list) -> tuple:
    """(``lines`` whose values depend only on scalar inputs and constants, the others), each in order.

    The first are the same for every element, so a kernel computes them once, before its loops.  Left inside a
    loop, each branch among them (a clamp, softplus's threshold, the range checks of ``fm.log``) is loop-invariant
    and LLVM unswitches the loop on it, doubling the loop per branch: a fused region whose inputs all had one
    element compiled for minutes.
    """
    flags = ex.invariant_lines(roots, lambda k: kinds[k] == "s")
    return [ln for ln, f in zip(lines, flags) if f], [ln for ln, f in zip(lines, flags) if not f]


def _store(out_kind: str, value: str) -> str:
    return f"{_FROM_FLOAT[out_kind]}({value})" if out_kind in _FROM_FLOAT else value


def _source(roots, in_kinds, in_casts, n_out, ndim, compute) -> str:
    """Python source of a module with ``serial`` and ``parallel`` map kernels (outputs of a 16-bit ``compute``
    type are stored as 16-bit words)."""
    # a 16-bit compute type names the outputs' dtype (a fused region's): they are stored as rounded words
    out_kinds = ({"float16": "h", "bfloat16": "b"}[compute],) * n_out if compute in _HALF_NAMES else None
    return _source_16(roots, in_kinds, in_casts, n_out, ndim, compute, out_kinds)


def _source_16(roots, in_kinds, in_casts, n_out, ndim, compute, out_kinds) -> str:
    """Python source of a module with ``serial`` and ``parallel`` map kernels.

    in_kinds[k]: "a" (array), "h"/"b" (float16/bfloat16 array as uint16 words) or "s" (scalar);
    in_casts[k]: NumPy type name to convert the loaded value to, or "" to keep it as loaded;
    out_kinds[j]: "h"/"b" for a 16-bit float output (stored rounded from float32), else "".
    """
    compute = _compute_name(compute)
    out_kinds = out_kinds or ("",) * n_out
    lines, outs = ex.render(roots, lambda i: f"v{i}", _const_fmt, spell=spell_math)
    args = [f"o{j}" for j in range(n_out)] + [f"a{k}" for k in range(len(in_kinds))]
    preamble = _preambles(roots)
    idx = ", ".join(f"i{d}" for d in range(ndim))
    src = [
        "import math",
        "import numpy as np",
        "from numba import njit, prange",
        "from numgrad.kernels.cpu import fastmath as fm",
    ] + ([_HALF_IMPORT.strip()] if _uses_half(in_kinds, out_kinds) else []) + [
        f"T = np.{compute}",
        f"FASTMATH = {FASTMATH_LITERAL}",
        "",
        preamble,
    ]
    loads = load_lines(in_kinds, in_casts, idx, "")
    scalar_loads = [ln for ln, kind in zip(loads, in_kinds) if kind == "s"]
    element_loads = [ln for ln, kind in zip(loads, in_kinds) if kind != "s"]
    invariant, per_element = _split_invariant(roots, in_kinds, lines)
    for variant, rng, extra in (("serial", "range", ""), ("parallel", "prange", ", parallel=True")):
        src.append(f"@njit(cache=True, nogil=True, error_model='numpy', fastmath=FASTMATH{extra})")
        src.append(f"def {variant}({', '.join(args)}):")
        ind = "    "
        src.extend(ind + line for line in scalar_loads + invariant)
        for d in range(ndim):
            loop = rng if d == 0 else "range"
            src.append(f"{ind}for i{d} in {loop}(o0.shape[{d}]):")
            ind += "    "
        src.extend(ind + line for line in element_loads + per_element)
        for j, name in enumerate(outs):
            src.append(f"{ind}o{j}[{idx}] = {_store(out_kinds[j], name)}")
        src.append("")
    return "\n".join(src)


def _uses_half(in_kinds, out_kinds=()) -> bool:
    return any(k in _TO_FLOAT for k in in_kinds) or any(k in _FROM_FLOAT for k in out_kinds)


def load_lines(in_kinds, in_casts, index: str, indent: str) -> list:
    """A kernel's input reads: ``v<k> = np.<cast>(a<k>[index])`` for arrays, ``v<k> = a<k>`` for scalars.

    in_casts[k] is the NumPy type name to convert to, or "" to keep the value as loaded (16-bit float
    arrays are loaded as float32: a cast to float16/bfloat16 is one to float32).
    """
    lines = []
    for k, (kind, cast) in enumerate(zip(in_kinds, in_casts)):
        load = _load(kind, k, index)
        cast = "bool_" if cast == "bool" else _compute_name(cast)
        lines.append(f"{indent}v{k} = {'np.' + cast + '(' + load + ')' if cast else load}")
    return lines


def get_kernel(roots, in_kinds, in_casts, n_out, ndim, compute, out_kinds=None):
    key = (tuple(roots), in_kinds, in_casts, n_out, ndim, compute, out_kinds)
    mod = _kernels.get(key)
    if mod is None:
        source = _source_16(roots, in_kinds, in_casts, n_out, ndim, compute, out_kinds)
        mod = cache.load_module(source, prefix="map")
        _kernels[key] = mod
    return mod


def _broadcast_strides(arr: np.ndarray, shape: tuple) -> list:
    """Element strides of ``arr`` broadcast to ``shape`` (0 on broadcast dims)."""
    nd = len(shape)
    off = nd - arr.ndim
    item = arr.itemsize
    strides = [0] * nd
    for d in range(arr.ndim):
        if arr.shape[d] != 1:
            strides[off + d] = arr.strides[d] // item
    return strides


def _collapse(shape: tuple, all_strides: list):
    """Drop size-1 dims and merge neighbours that are contiguous for every operand."""
    dims = [d for d in range(len(shape)) if shape[d] != 1]
    new_shape: list = []
    new_strides = [[] for _ in all_strides]
    for d in dims:
        if new_shape and all(s[-1] == st[d] * shape[d] for s, st in zip(new_strides, all_strides)):
            new_shape[-1] *= shape[d]
            for s, st in zip(new_strides, all_strides):
                s[-1] = st[d]
        else:
            new_shape.append(shape[d])
            for s, st in zip(new_strides, all_strides):
                s.append(st[d])
    if not new_shape:
        new_shape = [1]
        new_strides = [[0] for _ in all_strides]
    return tuple(new_shape), new_strides


def _view(arr: np.ndarray, shape: tuple, strides: list) -> np.ndarray:
    item = arr.itemsize
    return np.lib.stride_tricks.as_strided(
        arr, shape=shape, strides=tuple(s * item for s in strides), writeable=False
    )


def _result_array(total, acc) -> np.ndarray:
    """The number a reduction kernel returned, as the 0-d array of dtype ``acc`` the ops get."""
    out = np.asarray(total, dtype=np.dtype(acc))
    if _profiler._capture_result is not None:  # ng.compile: replay writes the kernel's result here
        _profiler._capture_result(out)
    return out


def _all_broadcast(a: np.ndarray) -> bool:
    """True for an array that holds one value repeated (e.g. the expand() of a scalar grad)."""
    for n, st in zip(a.shape, a.strides):
        if n != 1 and st != 0:
            return False
    return True


def prepare(inputs, shape: tuple, outs: list):
    """Kernel arguments for evaluating over ``shape``: (kinds, call args, out views, ndim).

    Arrays become views over the shape left after dropping size-1 dims and
    merging dims that are contiguous for every operand (stride 0 where an input
    is broadcast); scalars (and 0-d arrays) are passed as values.
    """
    kinds = []
    args = []
    fast = True
    for a in inputs:
        if type(a) is np.ndarray and a.ndim > 0 and not _all_broadcast(a):
            half = half_kind(a) if a.itemsize == 2 else ""
            if half:
                kinds.append(half)
                args.append(a.view(np.uint16))
            else:
                kinds.append("a")
                args.append(a)
            if fast and (a.shape != shape or not a.flags.c_contiguous):
                fast = False
        elif isinstance(a, np.ndarray) and a.itemsize == 2 and a.size and half_kind(a):
            kinds.append("s")
            args.append(half_scalar(a))
        else:
            # scalars, 0-d arrays and arrays that repeat one value (stride 0 everywhere)
            kinds.append("s")
            value = (a.reshape(-1)[0] if isinstance(a, np.ndarray) and a.size else
                     a[()] if isinstance(a, np.ndarray) and a.ndim == 0 else a)
            if _profiler._capture_scalar is not None and isinstance(a, np.ndarray):
                _profiler._capture_scalar(value, a)  # ng.compile: this value is read from memory on replay
            args.append(value)
    if fast:
        for o in outs:
            if not o.flags.c_contiguous:
                fast = False
    if fast:
        call_args = [a.reshape(-1) if k != "s" else a for a, k in zip(args, kinds)]
        return kinds, call_args, [o.reshape(-1) for o in outs], 1
    arrays = [a for a, k in zip(args, kinds) if k != "s"]
    strides = [_broadcast_strides(o, shape) for o in outs] + [_broadcast_strides(a, shape) for a in arrays]
    cshape, cstrides = _collapse(shape, strides)
    if not outs and not arrays:
        cshape = (int(np.prod(shape, dtype=np.int64)) or 1,)
    out_views = [
        np.lib.stride_tricks.as_strided(o, shape=cshape, strides=tuple(s * o.itemsize for s in st))
        for o, st in zip(outs, cstrides[: len(outs)])
    ]
    it = iter(_view(a, cshape, st) for a, st in zip(arrays, cstrides[len(outs):]))
    call_args = [next(it) if k != "s" else a for a, k in zip(args, kinds)]
    return kinds, call_args, out_views, len(cshape)


def run_map(roots, inputs, out_dtypes, shape, compute, in_casts, outs=None):
    """Evaluate expression ``roots`` over ``shape`` and return the output arrays.

    inputs: arrays broadcastable to ``shape``, or scalars (Python numbers,
    NumPy scalars, 0-d arrays).  ``outs`` may supply preallocated outputs
    (gradient accumulation, in-place ops).  ``compute`` and ``in_casts`` are
    NumPy type names.
    """
    shape = tuple(shape)
    if outs is None:
        outs = [np.empty(shape, dtype=dt) for dt in out_dtypes]
    size = outs[0].size
    if size == 0:
        return outs
    out_kinds = None
    for o in outs:
        if o.itemsize == 2 and half_kind(o):  # a float16/bfloat16 output: stored as rounded words
            out_kinds = tuple(half_kind(o) for o in outs)
            outs_as_words = [o.view(np.uint16) if k else o for o, k in zip(outs, out_kinds)]
            break
    kinds, call_args, out_views, ndim = prepare(inputs, shape, outs if out_kinds is None else outs_as_words)
    key = (roots, tuple(kinds), tuple(in_casts), len(outs), ndim, compute, out_kinds)
    mod = _kernels.get(key)
    if mod is None:
        mod = get_kernel(tuple(roots), tuple(kinds), tuple(in_casts), len(outs), ndim, compute, out_kinds)
        _kernels[key] = mod
    fn = mod.parallel if size >= PARALLEL_THRESHOLD else mod.serial
    if _profiler._ACTIVE:  # numgrad.profiler hook (off: one attribute check)
        _profiler._annotate(roots, len(outs), shape)
    fn(*out_views, *call_args)
    return outs


# chunks of a parallel full reduction: enough to balance threads, few enough to combine cheaply
_REDUCE_CHUNKS = 64


def _reduce_source(root, kinds, reducer: str, acc: str) -> str:
    """A module whose serial/parallel kernels reduce ``root`` over a 1-D index space."""
    init, step = REDUCERS[reducer]
    acc = _compute_name(acc)
    is_float = acc.startswith("float")
    init = init.replace("LOW", "T(-np.inf)" if is_float else f"np.iinfo(np.{acc}).min")
    init = init.replace("HIGH", "T(np.inf)" if is_float else f"np.iinfo(np.{acc}).max")
    lines, (out,) = ex.render([root], lambda i: f"v{i}", _const_fmt, spell=spell_math)
    args = [f"a{k}" for k in range(len(kinds))]
    loads = [f"v{k} = {_load(kind, k, 'i')}" for k, kind in enumerate(kinds)]
    invariant, per_element = _split_invariant([root], kinds, lines)
    before = "\n".join("    " + line for line in
                       [ld for ld, kind in zip(loads, kinds) if kind == "s"] + invariant)
    body = "\n".join("            " + line for line in
                     [ld for ld, kind in zip(loads, kinds) if kind != "s"] + per_element)
    parallel = _parallel_reduce(reducer, init, step, body).replace("{ARGS}", ", ".join(args)).replace("{OUT}", out)
    parallel = parallel.replace("{BEFORE}", before)
    preamble = _preambles([root])
    return f"""import math
import numpy as np
from numba import njit, prange
from numgrad.kernels.cpu import fastmath as fm
{_HALF_IMPORT if _uses_half(kinds) else ""}T = np.{'bool_' if acc == 'bool' else acc}
FASTMATH = {FASTMATH_LITERAL}

{preamble}


@njit(cache=True, nogil=True, error_model='numpy', fastmath=FASTMATH)
def serial(n, {', '.join(args)}):
{before}
    acc = {init}
    for i in range(n):
        if True:
{body}
            v = T({out})
            acc = {step}
    return acc


{parallel}"""


def _parallel_reduce(reducer, init, step, body) -> str:
    if reducer in ("sum", "prod"):
        # Numba's own prange reduction of `acc = acc op v` (race-free, and measured 3x faster
        # here than hand-made chunks)
        return f"""@njit(cache=True, nogil=True, error_model='numpy', fastmath=FASTMATH, parallel=True)
def parallel(n, {{ARGS}}):
{{BEFORE}}
    acc = {init}
    for i in prange(n):
        if True:
{body}
            v = T({{OUT}})
            acc = {step}
    return acc
"""
    return f"""@njit(cache=True, nogil=True, error_model='numpy', fastmath=FASTMATH, parallel=True)
def parallel(n, {{ARGS}}):
{{BEFORE}}
    partial = np.empty({_REDUCE_CHUNKS}, dtype=T)
    for c in prange({_REDUCE_CHUNKS}):
        acc = {init}
        for i in range(c * n // {_REDUCE_CHUNKS}, (c + 1) * n // {_REDUCE_CHUNKS}):
{body}
            v = T({{OUT}})
            acc = {step}
        partial[c] = acc
    acc = {init}
    for c in range({_REDUCE_CHUNKS}):
        v = partial[c]
        acc = {step}
    return acc
"""


def run_reduce(root, inputs, shape, reducer: str, acc: str):
    """Reduce expression ``root`` over all of ``shape`` in one pass, as a 0-d array of dtype ``acc``; None when
    the operands do not collapse to one dimension (the caller then computes the map first)."""
    shape = tuple(shape)
    size = 1
    for n in shape:
        size *= n
    kinds, call_args, _, ndim = prepare(inputs, shape, [])
    if ndim != 1 or size == 0:
        return None
    key = ("reduce", root, tuple(kinds), reducer, acc)
    mod = _kernels.get(key)
    if mod is None:
        mod = cache.load_module(_reduce_source(root, tuple(kinds), reducer, acc), prefix="mapreduce")
        _kernels[key] = mod
    fn = mod.parallel if size >= PARALLEL_THRESHOLD else mod.serial
    if _profiler._ACTIVE:  # numgrad.profiler hook (off: one attribute check)
        _profiler._annotate((root,), 0, shape, reducer)
    return _result_array(fn(size, *call_args), _compute_name(acc))


# elements whose reduced values a serial map-sum kernel buffers before summing them (16-32 KB: in L1 or L2).
# Each block pays for the slices, the element loop's overlap checks and constants, and the summing loop: on W1
# 4096-element blocks ran as fast as 1024 or faster
_SUM_BLOCK = 4096


def _map_sum_source(map_roots, reduce_root, kinds, compute: str, acc: str, n_out: int) -> str:
    """A module whose kernels write ``map_roots`` to outputs and return the sum of ``reduce_root``, in one
    pass over a 1-D index space (all expressions share their common subexpressions).

    The total must not depend on where the arrays lie (``ng.compile`` checks replays bit for bit against eager
    calls whose buffers are elsewhere).  A serial loop that both stores outputs and accumulates makes LLVM check
    at run time whether the outputs overlap the inputs and take its vectorized (reassociated) sum or its scalar
    one by the arrays' addresses: the same values summed one ulp apart from call to call.  So ``serial`` sums per
    block of ``_SUM_BLOCK`` elements, from a small buffer, in a loop of its own (a loop without stores is
    vectorized by its length alone); one block is a function of its own (``block``): nested inside the loop over
    blocks, the element loop kept fewer of its constants (tanh's and exp's coefficients) in vector registers (on
    an AVX2 host, 147 instructions per 8 elements against 105).

    ``parallel`` is one ``prange`` loop with Numba's reduction, as a hand-written kernel would be.  Numba
    compiles a parfor body whose arrays its alias analysis finds distinct (here: the kernel's own arguments)
    with LLVM ``noalias`` arguments, so the loop has no runtime overlap check and only its vectorized sum, and
    the total depends on ``n`` and the thread count alone (``tests/test_deferred.py`` places the arrays within
    a vector's reach of each other).  The per-block buffer there cost 5-10% on W1 at 1e7 on 2 threads against a
    hand-written kernel; this loop is within about 4% of it.  numgrad's ops refuse partial overlaps of an
    output with an input (PyTorch's rule), and an output that is exactly an input (a ``.grad`` accumulated in
    place) reads each element before writing it, which ``noalias`` code does too.
    """
    lines, names = ex.render(list(map_roots) + [reduce_root], lambda i: f"v{i}", _const_fmt, spell=spell_math)
    invariant, per_element = _split_invariant(list(map_roots) + [reduce_root], kinds, lines)
    # scalar inputs and what depends only on them, computed once before each kernel's element loop
    before = "\n".join("    " + line for line in [f"v{k} = a{k}" for k, kind in enumerate(kinds) if kind == "s"]
                       + invariant)
    preamble = _preambles(list(map_roots) + [reduce_root])
    # a block's arrays are slices indexed from 0: LLVM then knows no index is negative and vectorizes (with
    # ``i = start + j`` inside a loop over blocks it could not, and the kernel ran 3x slower)
    block_args = [f"p{j}" for j in range(n_out)] + [f"a{k}" if kind == "s" else f"x{k}" for k, kind in enumerate(kinds)]
    slices = [f"o{j}[start:start + m]" for j in range(n_out)]
    slices += [f"a{k}" if kind == "s" else f"a{k}[start:start + m]" for k, kind in enumerate(kinds)]
    args = [f"o{j}" for j in range(n_out)] + [f"a{k}" for k in range(len(kinds))]
    block_loads = [f"v{k} = {_load(kind, k, 'j', array='x')}" for k, kind in enumerate(kinds) if kind != "s"]
    block_stores = [f"p{j}[j] = {name}" for j, name in enumerate(names[:-1])]
    block_body = "\n".join("        " + line for line in block_loads + per_element + block_stores)
    block = f"""@njit(cache=True, nogil=True, error_model='numpy', fastmath=FASTMATH)
def block(m, values, {', '.join(block_args)}):
{before}
    for j in range(m):
{block_body}
        values[j] = A({names[-1]})
    part = A(0)
    for j in range(m):
        part += values[j]
    return part
"""
    serial = f"""@njit(cache=True, nogil=True, error_model='numpy', fastmath=FASTMATH)
def serial(n, {', '.join(args)}):
    values = np.empty(BLOCK, dtype=A)
    acc = A(0)
    for start in range(0, n, BLOCK):
        m = min(BLOCK, n - start)
        acc += block(m, values, {', '.join(slices)})
    return acc
"""
    loads = [f"v{k} = {_load(kind, k, 'i')}" for k, kind in enumerate(kinds) if kind != "s"]
    stores = [f"o{j}[i] = {name}" for j, name in enumerate(names[:-1])]
    body = "\n".join("        " + line for line in loads + per_element + stores)
    parallel = f"""@njit(cache=True, nogil=True, error_model='numpy', fastmath=FASTMATH, parallel=True)
def parallel(n, {', '.join(args)}):
{before}
    acc = A(0)
    for i in prange(n):
{body}
        acc += A({names[-1]})
    return acc
"""
    return f"""import math
import numpy as np
from numba import njit, prange
from numgrad.kernels.cpu import fastmath as fm
{_HALF_IMPORT if _uses_half(kinds) else ""}T = np.{_compute_name(compute)}
A = np.{_compute_name(acc)}
FASTMATH = {FASTMATH_LITERAL}
BLOCK = {_SUM_BLOCK}

{preamble}


""" + "\n\n".join([block, serial, parallel])


def run_map_sum(map_roots, reduce_root, inputs, shape, compute: str, acc: str, outs):
    """Write ``map_roots`` over ``shape`` into ``outs`` and return the sum of ``reduce_root`` (a 0-d array of
    dtype ``acc``), in one kernel; None when the operands do not collapse to one dimension (nothing is written).

    The sum is exact to the bit from call to call: the same values give the same total wherever the arrays
    lie (the parallel variant, for large inputs, sums per thread: the total depends on the thread count too).
    """
    shape = tuple(shape)
    size = 1
    for n in shape:
        size *= n
    for o in outs:
        if o.itemsize == 2 and half_kind(o):
            return None  # 16-bit float outputs: the caller computes the map and the sum apart
    kinds, call_args, out_views, ndim = prepare(inputs, shape, outs)
    if ndim != 1 or size == 0:
        return None
    key = ("map_sum", tuple(map_roots), reduce_root, tuple(kinds), compute, acc, len(outs))
    mod = _kernels.get(key)
    if mod is None:
        source = _map_sum_source(map_roots, reduce_root, tuple(kinds), compute, acc, len(outs))
        mod = cache.load_module(source, prefix="mapsum")
        _kernels[key] = mod
    fn = mod.parallel if size >= PARALLEL_THRESHOLD else mod.serial
    if _profiler._ACTIVE:  # numgrad.profiler hook (off: one attribute check)
        _profiler._annotate(tuple(map_roots) + (reduce_root,), len(outs), shape, "sum")
    return _result_array(fn(size, *out_views, *call_args), acc)

_IDENTITY = forward_roots(ELEMENTWISE["identity"])


def copy(src, dtype=None, out=None):
    """``src`` (an array, or a number to fill with) copied by one map kernel into ``out`` (any strides; src is
    broadcast to it) or into a new C-contiguous array of src's shape, cast to out's dtype or ``dtype``
    (default: src's).  The one identity copy of numgrad: contiguous copies, casts and fills all come here.

    >>> copy(np.arange(3), np.float32)
    array([0., 1., 2.], dtype=float32)
    """
    if out is None:
        dtype = src.dtype if dtype is None else np.dtype(dtype)
        shape, outs = src.shape, None
    else:
        dtype, shape, outs = out.dtype, out.shape, [out]
    # an array already of the target dtype is loaded as it is; anything else converts on load (bfloat16's
    # storage dtype is named uint16 by NumPy: its name here is bfloat16, so values are rounded, not truncated)
    name = "bfloat16" if dtype.itemsize == 2 and _dtypes.is_bfloat16_array_dtype(dtype) else dtype.name
    same = type(src) is np.ndarray and src.dtype == dtype and \
        _dtypes.is_bfloat16_array_dtype(src.dtype) == (name == "bfloat16")
    (res,) = run_map(_IDENTITY, [src], [dtype], shape, name, ["" if same else name], outs)
    return res


def contiguous(x):
    """``x`` itself when C-contiguous, else a C-contiguous copy."""
    return x if x.flags.c_contiguous else copy(x)
