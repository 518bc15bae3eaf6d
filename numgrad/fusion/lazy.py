"""Lazy elementwise ops and the realization of a region into one kernel.

A lazy tensor holds a ``LazyOp``: an op-table row, its operands (tensors, lazy
or computed, and Python scalars) and the output's shape and dtype.  Building one
costs a few Python objects; no kernel runs.  ``LazyOp.realize`` walks the region
(iteratively), turns it into an expression DAG over the region's input buffers
(``numgrad.ir.expr``, with explicit casts where eager execution would change
dtype) and runs the generated map kernel.
"""
from __future__ import annotations

import weakref

import numpy as np

from .. import _dtypes
from .. import _pending_readers as _readers
from ..kernels.backend import run_map, run_reduce
from ..ir import expr as ex
from ..ir.table import CAST_ROWS
from .. import _profiler_hooks as _profiler  # hook in realize_region
from ..tensor import Tensor
from . import state


class LazyOp:
    """One recorded elementwise op; ``realize()`` computes its whole region."""

    __slots__ = ("row", "operands", "params", "shape", "dtype", "compute", "size", "versions", "result",
                 "device", "reads_escaped", "__weakref__")

    def __init__(self, row, operands, params, shape, dtype, compute, size, device):
        self.device = device
        self.row = row
        self.operands = operands
        self.params = params
        self.shape = shape
        self.dtype = dtype
        self.compute = compute
        self.size = size
        self.result = None
        # an operand modified in place before we run would give a wrong value: remember
        # versions, and register as a reader so in-place writes compute us first.
        # Readers of a still-lazy operand wait under that LazyOp and move to its
        # result buffer once it is computed.
        # numgrad._pending_readers.register, inline: recording an op is a hot path
        versions = []
        ref = weakref.ref(self)
        pending = _readers._pending
        escaped = _readers._escaped  # memory NumPy can write unseen: the op is computed when recorded
        reads_escaped = False
        n = 0
        with _readers._lock:
            for x in operands:
                if isinstance(x, Tensor):
                    versions.append(x._version[0])
                    buf = x._buf if x._buf is not None else x._lazy.result
                    key = id(_readers.owner(buf)) if buf is not None else id(x._lazy)
                    readers = pending.get(key)
                    if readers is None:
                        pending[key] = [ref]
                    else:
                        readers.append(ref)
                    if escaped and key in escaped:
                        reads_escaped = True
                    n += 1
                else:
                    versions.append(None)
            entries = _readers._pending_entries
            entries[0] += n
            if entries[0] > entries[1]:
                _readers._compact()
        self.versions = versions
        self.reads_escaped = reads_escaped

    def realize(self) -> np.ndarray:
        if self.result is None:
            self.result = realize_region(self)
            self.operands = None  # the region's inputs may be freed now
            _readers.move(id(self), _readers.key_of(self.result))
        return self.result


def pending_op(t):
    """The LazyOp still to compute for tensor ``t``, or None when ``t`` has data.

    A deferred reduction (``fusion.deferred.PendingReduce``) is never inlined
    into a region: ``record`` computes it first.
    """
    if t._buf is not None:
        return None
    lazy = t._lazy
    return lazy if lazy.result is None and type(lazy) is LazyOp else None


def tensor_array(t) -> np.ndarray:
    buf = t._buf
    return buf if buf is not None else t._lazy.result


_SCALAR_DTYPES = {bool: _dtypes.bool_, int: _dtypes.int64, float: _dtypes.float64}


def scalar_dtype(x) -> _dtypes.DType:
    dt = _SCALAR_DTYPES.get(type(x))
    if dt is None:
        dt = _dtypes.from_numpy_dtype(np.asarray(x).dtype)
    return dt


# x ** c for these constant exponents becomes an exact cheap op instead of a general pow
_POW_SPECIAL = {2.0: "square", 0.5: "sqrt", -1.0: "reciprocal", 1.0: "identity", -0.5: "rsqrt"}
_POW_SPECIAL_ALL = set(_POW_SPECIAL) | {3.0}


def is_special_exponent(row, index: int, value) -> bool:
    """Whether scalar operand ``index`` of ``row`` is an exponent that selects a cheaper exact formula
    (``x ** 2`` -> square); it is then a constant of the kernel, not a variable."""
    return row.name == "pow" and index == 1 and not isinstance(value, bool) and float(value) in _POW_SPECIAL_ALL


def scalar_operand_key(row, index: int, value) -> tuple:
    """The part of a region's structure key that a scalar operand contributes."""
    if is_special_exponent(row, index, value):
        return ("c", float(value))
    return ("s", type(value))


def region_ops(root: LazyOp) -> list:
    """The pending ops of ``root``'s region, operands before their users, each once; versions checked.

    Iterative (a region can be deep); ``RegionBuilder.lazy_expr`` and
    ``_region_signature`` both walk this order, so they list inputs alike.
    """
    done: set = set()
    order = []
    stack = [(root, False)]
    while stack:
        op, expanded = stack.pop()
        if id(op) in done:
            continue
        if not expanded:
            stack.append((op, True))
            for x in op.operands:
                if isinstance(x, Tensor):
                    sub = pending_op(x)
                    if sub is not None and id(sub) not in done:
                        stack.append((sub, False))
            continue
        _check_versions(op)
        done.add(id(op))
        order.append(op)
    return order


def _pow_special(arg_exprs, compute):
    exponent = arg_exprs[1]
    if exponent.op != "const" or not compute.is_floating_point:
        return None
    base = arg_exprs[0]
    name = _POW_SPECIAL.get(exponent.arg)
    if name is not None:
        return ex.Expr(name, (base,), compute.name)
    if exponent.arg == 3.0:
        return ex.Expr("mul", (ex.Expr("square", (base,), compute.name), base), compute.name)
    return None


def op_expr(row, arg_exprs, arg_dtypes, compute, out_dtype) -> ex.Expr:
    """The Expr of ``row`` applied to arguments, with casts where eager execution has them."""
    if row.name == "pow" and arg_exprs[1].op == "const":
        base = arg_exprs[0]
        if arg_dtypes[0] is not compute:
            base = ex.Expr(CAST_ROWS[compute.name], (base,), compute.name)
        special = _pow_special((base, arg_exprs[1]), compute)
        if special is not None:
            return special
        arg_exprs = (arg_exprs[0], ex.Expr(CAST_ROWS[compute.name], (arg_exprs[1],), compute.name))
        arg_dtypes = (arg_dtypes[0], compute)
    args = []
    for i, (e, dt) in enumerate(zip(arg_exprs, arg_dtypes)):
        wants_raw = row.kind == "logical" or (row.name == "where" and i == 0)
        if not wants_raw and dt is not compute:
            e = ex.Expr(CAST_ROWS[compute.name], (e,), compute.name)
        args.append(e)
    node = ex.Expr(row.name, tuple(args), compute.name)
    if row.kind == "arith" and not out_dtype.is_floating_point:
        # Numba may widen integer/bool arithmetic (bool + bool -> int64); eager stores cast it back
        node = ex.Expr(CAST_ROWS[out_dtype.name], (node,), out_dtype.name)
    return node


class RegionBuilder:
    """Collects a region's input buffers/scalars as variables and builds Exprs."""

    def __init__(self):
        self.inputs: list = []
        self.dtypes: list = []
        self._by_buffer: dict = {}

    def buffer_var(self, arr: np.ndarray, dtype) -> ex.Expr:
        idx = self._by_buffer.get(id(arr))
        if idx is None:
            idx = len(self.inputs)
            self._by_buffer[id(arr)] = idx
            self.inputs.append(arr)
            self.dtypes.append(dtype)
        return ex.var(idx)

    def operand_scalar(self, row, index, value) -> tuple:
        """A scalar operand: a constant where it selects a cheaper formula (x ** 2), else a variable
        (so a new value does not need a new kernel)."""
        if is_special_exponent(row, index, value):
            return ex.const(float(value)), _dtypes.float64
        return self.scalar_var(value)

    def scalar_var(self, value) -> tuple:
        idx = len(self.inputs)
        self.inputs.append(value)
        dt = scalar_dtype(value)
        self.dtypes.append(dt)
        return ex.var(idx), dt

    def lazy_expr(self, root: LazyOp) -> ex.Expr:
        """Expr of the region rooted at ``root`` (iterative post-order walk)."""
        exprs: dict = {}
        for op in region_ops(root):
            def resolve(i, x):
                sub = pending_op(x)
                return (exprs[id(sub)], sub.dtype) if sub is not None else self.tensor_var(x)

            arg_exprs, arg_dtypes = self.args(op.row, op.operands, op.params, resolve)
            exprs[id(op)] = op_expr(op.row, arg_exprs, arg_dtypes, op.compute, op.dtype)
        return exprs[id(root)]

    def tensor_var(self, x) -> tuple:
        """(Expr, dtype) of a tensor operand: its pending region inlined, or its buffer."""
        sub = pending_op(x)
        if sub is not None:
            return self.lazy_expr(sub), sub.dtype
        return self.buffer_var(tensor_array(x), x.dtype), x.dtype

    def args(self, row, operands, params, resolve) -> tuple:
        """Argument Exprs and dtypes of one op: ``resolve(i, tensor)`` handles tensors,
        scalars become variables (or constants, see operand_scalar), params variables."""
        arg_exprs, arg_dtypes = [], []
        for i, x in enumerate(operands):
            e, dt = resolve(i, x) if isinstance(x, Tensor) else self.operand_scalar(row, i, x)
            arg_exprs.append(e)
            arg_dtypes.append(dt)
        for p in params:
            e, dt = self.scalar_var(p)
            arg_exprs.append(e)
            arg_dtypes.append(dt)
        return arg_exprs, arg_dtypes


def _check_versions(op: LazyOp) -> None:
    for x, v in zip(op.operands, op.versions):
        if isinstance(x, Tensor) and x._version[0] != v:
            raise RuntimeError(
                f"numgrad fusion: an input of a pending {op.row.name} (shape {list(x.shape)}) was modified in "
                "place after the op was recorded and before its value was computed; this modification "
                "bypassed numgrad's in-place API. Call .numpy() on the input only after computing results, "
                "or run with NUMGRAD_FUSION=0."
            )


# region structure key -> the region's Expr over its input variables (see region_expr)
_region_plans: dict = {}


def _region_signature(root: LazyOp):
    """(structure key, inputs) of the region rooted at ``root``, walked exactly as ``lazy_expr`` walks it.

    The key holds everything ``op_expr`` looks at (rows, dtypes, which operand
    is which input or sub-op, scalar dtypes, the constant exponents ``x ** 2``
    turns into), so two regions with equal keys have the same Expr; ``inputs``
    is in the order ``RegionBuilder`` would list them.  Also checks versions (``region_ops``).
    """
    index: dict = {}  # id(op) -> position in post-order
    parts = []
    inputs, slots = [], {}
    for op in region_ops(root):
        row = op.row
        args = []
        for i, x in enumerate(op.operands):
            if isinstance(x, Tensor):
                sub = pending_op(x)
                if sub is not None:
                    args.append(index[id(sub)])
                    continue
                arr = tensor_array(x)
                slot = slots.get(id(arr))
                if slot is None:
                    slot = slots[id(arr)] = len(inputs)
                    inputs.append(arr)
                args.append(("t", slot, x.dtype))
            else:
                if not is_special_exponent(row, i, x):
                    inputs.append(x)
                args.append(scalar_operand_key(row, i, x))
        for p in op.params:
            inputs.append(p)
            args.append(("p", type(p)))
        index[id(op)] = len(parts)
        parts.append((row.name, op.compute, op.dtype, tuple(args)))
    return tuple(parts), inputs


def region_expr(root: LazyOp) -> tuple:
    """(Expr, inputs) of the region rooted at ``root``; the Expr is reused for every region of the same structure.

    Building the Expr op by op is most of the Python cost of realizing a
    region; a chain realized every 32 ops, or a training step's regions, repeat
    the same structure every time.  A new structure is built by
    ``RegionBuilder`` and remembered only when its inputs are exactly the ones
    the signature walk listed (so the cached Expr's variables mean the same).
    """
    key, inputs = _region_signature(root)
    expr = _region_plans.get(key)
    if expr is not None:
        return expr, inputs
    builder = RegionBuilder()
    expr = builder.lazy_expr(root)
    if len(builder.inputs) == len(inputs) and all(a is b for a, b in zip(builder.inputs, inputs)):
        _region_plans[key] = expr
    return expr, builder.inputs


def realize_region(root: LazyOp) -> np.ndarray:
    if _profiler._ACTIVE and _profiler._outer(root):  # numgrad.profiler hook (off: one attribute check)
        return _profiler._op("FusedRegion", None, realize_region, (root,), {}, root)
    expr, inputs = region_expr(root)
    (out,) = run_map((expr,), inputs, (root.dtype.np,), root.shape, root.dtype.name, ("",) * len(inputs))
    return out


def record(row, operands, params, shape, out_dtype, compute, device):
    """A lazy tensor for ``row(operands)``; computes operands first when the region is full."""
    size = 1
    for x in operands:
        if isinstance(x, Tensor) and x._buf is None:
            lazy = x._lazy
            if type(lazy) is not LazyOp:
                x._data  # noqa: B018 - a deferred reduction is computed, not inlined
            elif lazy.result is None:
                size += lazy.size
    if size > state.MAX_REGION:
        size = 1
        for x in operands:
            if isinstance(x, Tensor) and x._buf is None:
                x._data  # noqa: B018 - computes the full operand region now
    op = LazyOp(row, operands, params, shape, out_dtype, compute, size, device)
    if op.reads_escaped:
        op.realize()  # it reads memory NumPy may write behind numgrad's back: its value is the one of now
    return Tensor._from_lazy(op)


def reduce_lazy(t, reducer: str, acc_dtype):
    """Reduce a lazy tensor over all its elements in the same kernel that computes it.

    Returns a 0-d array, or None when the region cannot be reduced in one pass
    (the caller then computes the region and reduces the result).
    """
    op = pending_op(t)
    if op is None:
        return None
    expr, inputs = region_expr(op)
    if op.dtype is not acc_dtype:
        expr = ex.Expr(CAST_ROWS[acc_dtype.name], (expr,), acc_dtype.name)
    return run_reduce(expr, inputs, op.shape, reducer, acc_dtype.name)
