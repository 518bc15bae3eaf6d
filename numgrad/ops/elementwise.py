"""Applying op-table rows to tensors: forward kernel, graph node, backward kernel.

``apply(name, *operands)`` is the single entry point for every elementwise op.
Forward and backward kernels are generated from the row (see ``table.py``);
with ``create_graph=True`` the same derivative rule is evaluated on tensors,
so the backward pass is itself differentiable.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _dtypes
from ..autograd.function import FREED_MSG, Node, SavedTensor, check_not_inference, modified_in_place
from ..autograd.grad_mode import is_grad_enabled
from ..creation import full_like, tensor
from ..device import cpu, devices_differ
from ..fusion import state as fusion_state
from ..fusion.lazy import record as record_lazy
from ..ir import expr as ex
from ..ir.expr import forward_roots
from ..ir.table import ELEMENTWISE
from ..kernels.backend import reduce_array, run_map
from ..kernels.broadcast import sum_to_array
from ..tensor import VERSION_MASK, Tensor, result_type, version_of
from .sum_mean import sum_to
from ..autograd.views import check_view_inplace
from ..kernels.backend import copy


def broadcast_shapes(*shapes) -> tuple:
    """The broadcast of several shapes, with PyTorch's error when they clash.

    >>> broadcast_shapes((3, 1), (4,))
    (3, 4)
    """
    nd = max((len(s) for s in shapes), default=0)
    out = [1] * nd
    for s in shapes:
        off = nd - len(s)
        for i, n in enumerate(s):
            cur = out[off + i]
            if cur == 1:
                out[off + i] = n
            elif n != 1 and n != cur:
                listed = " and ".join(str(list(t)) for t in shapes)
                raise RuntimeError(
                    f"The size of tensor a ({cur}) must match the size of tensor b ({n}) at non-singleton "
                    f"dimension {off + i} (shapes {listed} cannot be broadcast together)"
                )
    return tuple(out)


def _to_operand(x, op: str):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (bool, numbers.Number, np.bool_)) and not isinstance(x, complex):
        return x
    if isinstance(x, np.ndarray):
        return tensor(x)
    raise TypeError(
        f"{op}(): expected Tensor or number operands, got {type(x).__name__}"
    )


def _dtypes_for(row, operands):
    """(compute dtype, output dtype, promoted operands dtype) for a row."""
    if row.name == "where":
        promoted = result_type(*operands[1:])
    else:
        promoted = result_type(*operands)
    kind = row.kind
    if kind == "float":
        compute = promoted if promoted.is_floating_point else _dtypes.get_default_dtype()
        return compute, compute
    if kind == "compare":
        return promoted, _dtypes.bool_
    if kind == "logical":
        return _dtypes.bool_, _dtypes.bool_
    if row.name in ("bitwise_and", "bitwise_or", "bitwise_xor") and promoted.is_floating_point:
        raise RuntimeError(f'"{row.name}" not implemented for \'{promoted.name}\' (integer or bool tensors only)')
    return promoted, promoted


def _casts(row, operands, compute):
    casts = []
    for i, op in enumerate(operands):
        if row.kind == "logical" or (row.name == "where" and i == 0):
            casts.append("")
        else:
            casts.append(compute.name)
    return casts


def _raw(x):
    return x._data if isinstance(x, Tensor) else x


_plans: dict = {}
_INT_DIVISIONS = ("floor_divide", "remainder")
_PLAIN_NUMBERS = (float, int, bool)


# rounding an integer gives the integer (M.rint would go through a double, losing int64's top bits)
_INTEGER_ROUNDINGS = ("floor", "ceil", "round", "trunc")
_INTEGER_SPECIAL = frozenset(_INT_DIVISIONS + _INTEGER_ROUNDINGS + ("pow",))


def _integer_row(row, operands):
    """The row that computes ``row`` on integer operands as PyTorch does, or PyTorch's error."""
    if row.name in _INT_DIVISIONS:
        _check_int_divisor(row.name, _raw(operands[1]))
    elif row.name == "pow":
        exponent = operands[1]
        if isinstance(exponent, int) and not isinstance(exponent, bool) and exponent < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
    else:
        return ELEMENTWISE["identity"]
    return row


def _check_int_divisor(name, divisor) -> None:
    """Integer division by zero: PyTorch raises instead of returning garbage."""
    if isinstance(divisor, np.ndarray):
        (is_zero,) = run_map(forward_roots(ELEMENTWISE["eq"]), [divisor, 0], (np.dtype(np.bool_),), divisor.shape,
                             divisor.dtype.name, (divisor.dtype.name, divisor.dtype.name))
        zero = bool(reduce_array(is_zero, range(is_zero.ndim), "any", np.bool_))
    else:
        zero = divisor == 0
    if zero:
        raise RuntimeError(f"ZeroDivisionError (integer {name} by zero)")


def _common_device(name, device, x, operands):
    """The device of an op whose operands live on ``device`` and ``x.device``; a 0-d CPU tensor that needs no
    gradient counts as a number next to CUDA tensors, as in PyTorch; anything else is PyTorch's error."""
    if device.type == "cpu" and all(t.ndim == 0 and not t._requires_grad for t in operands
                                    if isinstance(t, Tensor) and t._device is device):
        return x._device
    if x._device.type == "cpu" and x.ndim == 0 and not x._requires_grad:
        return device
    shapes = [list(t.shape) for t in operands if isinstance(t, Tensor)]
    raise devices_differ(device, x._device, f"{name} of shapes {shapes}; move them with .to(device)")


def _refuse_bool_arithmetic(name: str, operands) -> None:
    """PyTorch's refusals of ``-`` on bool tensors (a mask is inverted with ``~``, two compared with ``^``)."""
    bools = [isinstance(x, Tensor) and x.dtype is _dtypes.bool_ for x in operands]
    if not any(bools):
        return
    if name == "neg":
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert "
                           "a mask, use the `~` or `logical_not()` operator instead.")
    if all(b or type(x) is bool for b, x in zip(bools, operands)):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
                           "`logical_xor()` operator instead.")
    raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to "
                       "invert a mask, use the `~` or `logical_not()` operator instead.")


def _plan(row, operands, n_params):
    """(compute dtype, output dtype, casts) for this row and operand dtypes, cached."""
    key = [row.name, n_params]
    for x in operands:
        if isinstance(x, Tensor):
            # 0-d tensors promote like numbers: they get their own key
            key.append(x.dtype if x.shape else (x.dtype, 0))
        else:
            key.append(type(x))
    key = tuple(key)
    plan = _plans.get(key)
    if plan is None:
        if row.name in ("sub", "neg"):
            _refuse_bool_arithmetic(row.name, operands)
        compute, out_dtype = _dtypes_for(row, operands)
        if compute.is_16bit_float:
            # float16/bfloat16 are stored in 16 bits and computed in float32 (as PyTorch's CPU kernels do):
            # the kernel converts on load and rounds the result on store
            compute = _dtypes.float32
        casts = tuple(_casts(row, operands, compute)) + (compute.name,) * n_params
        plan = _plans[key] = (compute, out_dtype, casts)
    return plan


def apply(name: str, *operands, params: tuple = ()):
    """Run elementwise op ``name`` on tensors / numbers, recording the graph when needed."""
    row = ELEMENTWISE[name]
    shape = None
    same_shape = True
    needs_grad = False
    inference = False  # an inference tensor among the operands (see _check_inference_operands)
    generic = False
    device = None
    for x in operands:
        if isinstance(x, Tensor):
            if x._device is not device:
                device = x._device if device is None else _common_device(name, device, x, operands)
            xs = x.shape
            if shape is None:
                shape = xs
            elif xs != shape:
                same_shape = False
            needs_grad = needs_grad or x._requires_grad
            inference = inference or x._inference
        elif type(x) not in _PLAIN_NUMBERS:
            generic = True
            break
    if generic:
        operands = tuple(_to_operand(x, name) for x in operands)
        shape = broadcast_shapes(*(x.shape for x in operands if isinstance(x, Tensor)))
        needs_grad = any(isinstance(x, Tensor) and x._requires_grad for x in operands)
        inference = any(isinstance(x, Tensor) and x._inference for x in operands)
        device = None
        for x in operands:
            if isinstance(x, Tensor) and x._device is not device:
                device = x._device if device is None else _common_device(name, device, x, operands)
    elif shape is None:
        shape = ()
    elif not same_shape:
        shape = broadcast_shapes(*(x.shape for x in operands if isinstance(x, Tensor)))
    if device is None:
        device = cpu
    compute, out_dtype, casts = _plan(row, operands, len(params))
    if row.name in _INTEGER_SPECIAL and not compute.is_floating_point:
        row = _integer_row(row, operands)
    versions = None
    if fusion_state._enabled:
        out = record_lazy(row, operands, params, shape, out_dtype, compute, device)
        versions = out._lazy.versions
    else:
        raw = [x._data if isinstance(x, Tensor) else x for x in operands]
        if params:
            raw.extend(params)
        (out_arr,) = run_map(forward_roots(row), raw, (out_dtype.np,), shape, compute.name, casts)
        out = Tensor(out_arr)
    if needs_grad and row.grad is not None and out_dtype.is_floating_point and is_grad_enabled():
        if inference:
            _check_inference_operands(row, operands)
        node = ElementwiseNode(row, operands, params, out, compute, shape, out_dtype, versions)
        out._attach(node, 0)
    return out


_rule_cache: dict = {}


def _check_inference_operands(row, operands) -> None:
    """PyTorch refuses to save an inference tensor for backward: an operand the row's derivative rule reads
    (``x * w`` keeps ``x``; ``x + w`` keeps nothing and is allowed)."""
    needs = tuple(isinstance(x, Tensor) and x._requires_grad for x in operands[:row.arity])
    _, used = _symbolic_grads(row, needs)
    check_not_inference([x for i, x in enumerate(operands) if i in used and isinstance(x, Tensor)])


def _symbolic_grads(row, needs: tuple):
    """Expression roots of the needed input gradients and the vars they read."""
    key = (row.name, needs)
    hit = _rule_cache.get(key)
    if hit is None:
        n = row.arity + len(row.params)
        xs = tuple(ex.var(i) for i in range(n))
        grads = row.grad(ex.E, xs, ex.var(n), ex.var(n + 1))
        roots = tuple(ex._lift(grads[i]) for i in range(row.arity) if needs[i])
        used = {node.arg for node in ex.postorder(roots) if node.op == "var"}
        hit = _rule_cache[key] = (roots, used)
    return hit


class ElementwiseNode(Node):
    """Backward node of one elementwise op; ``name()`` follows PyTorch (``MulBackward0``).

    Besides the version-checked tensors its derivative rule needs, it keeps
    references to all operands so that a fused backward region can recompute
    intermediate values instead of storing them.
    """

    __slots__ = ("row", "saved_out", "meta", "compute", "_freed", "_name", "params", "operands",
                 "versions", "out_shape", "out_dtype", "_region_args", "out_version", "out_version_at")
    n_outputs = 1
    fusable_elementwise = True  # the fused backward (numgrad.fusion.backward) may run it in a region

    def __init__(self, row, operands, params, out, compute, out_shape, out_dtype, versions=None):
        # one pass over the operands builds edges and metadata (this runs once per recorded op, so
        # it avoids generator expressions and helper calls); ``versions``: the operands' versions
        # when the caller has them already (the LazyOp recorded for ``out`` lists the same)
        needs, edges, meta = [], [], []
        if versions is None:
            versions = [x._version[0] if isinstance(x, Tensor) else None for x in operands]
        for x in operands:
            if isinstance(x, Tensor):
                need = x._requires_grad
                if need:
                    edges.append((x._grad_fn, x._output_nr) if x._grad_fn is not None else (x._accumulator(), 0))
                else:
                    edges.append(None)
                meta.append((x.shape, x.dtype))
            else:
                need = False
                edges.append(None)
                meta.append(None)
            needs.append(need)
        super().__init__(tuple(edges))
        self.row = row
        self.params = params
        self.compute = compute
        _, used = _symbolic_grads(row, tuple(needs))
        # operands (and their versions) are kept for recomputation anyway; only the output needs saving
        self.saved_out = SavedTensor(out.detach()) if row.arity + len(row.params) in used else None
        self.meta = meta
        self.operands = operands
        self.versions = versions
        self.out_shape = out_shape
        self.out_dtype = out_dtype
        self._freed = False
        # a region recomputes this node's output from its inputs: not once the output was written in place
        self.out_version = out._version
        self.out_version_at = out._version[0]  # the whole counter: writes through .data count too
        self._name = None

    def name(self) -> str:
        if self._name is None:
            self._name = _node_name(self.row, self.operands) if self.operands else self.row.node_name
        return self._name

    def _public_edges(self):
        # PyTorch lists no entry for where's boolean condition
        return self._next[1:] if self.row.name == "where" else self._next

    def fusable(self) -> bool:
        """False when an operand or the output changed in place since the forward pass (a fused region would
        recompute a value that is no longer the one in memory)."""
        if self._freed or self.out_version[0] != self.out_version_at:
            return False
        for x, v in zip(self.operands, self.versions):
            if v is not None and x._version[0] != v:
                return False
        return True

    def operand_values(self) -> tuple:
        return self.operands

    def release(self) -> None:
        self.name()  # keep the PyTorch name available after the operands are dropped
        self._freed = True
        self.saved_out = None
        self.operands = ()

    def _operand(self, i):
        x = self.operands[i]
        if isinstance(x, Tensor) and version_of(x._version) != self.versions[i] & VERSION_MASK:
            raise modified_in_place(x, self.versions[i] & VERSION_MASK, i, self)
        return x

    def apply(self, grads, create_graph):
        g = grads[0]
        needs = tuple(e is not None for e in self._next)
        if self._freed:
            # as PyTorch: a derivative that reads no operand and not the output (add, sub, neg, and
            # parameters like leaky_relu's slope) runs again; one that does needs retain_graph=True
            _, used = _symbolic_grads(self.row, needs)
            if any(i < self.row.arity for i in used) or self.row.arity + len(self.row.params) in used:
                raise RuntimeError(FREED_MSG)
        if create_graph:
            return self._apply_graph(g, needs)
        roots, used = _symbolic_grads(self.row, needs)
        row = self.row
        n = row.arity + len(row.params)
        values = [self._operand(i) if i in used else 0 for i in range(row.arity)]
        values += [p if row.arity + j in used else 0 for j, p in enumerate(self.params)]
        values.append(self._out().detach() if n in used else 0)
        values.append(g)
        compute = self.compute
        casts = []
        for i in range(row.arity):
            casts.append("" if row.name == "where" and i == 0 else compute.name)
        casts += [compute.name] * len(self.params) + ["", compute.name]
        arrays = [_raw(v) for v in values]
        arrays[n] = arrays[n] if n in used else 0
        shape = g.shape
        results = run_map(roots, arrays, [compute.np] * len(roots), shape, compute.name, casts)
        it = iter(results)
        out = []
        for i, need in enumerate(needs):
            if not need:
                out.append(None)
                continue
            arr = next(it)
            shape_i, dtype_i = self.meta[i]
            arr = sum_to_array(arr, shape_i)
            if arr.dtype != dtype_i.np:
                arr = _cast_array(arr, dtype_i)
            out.append(Tensor(arr))
        return out

    def _out(self):
        out = self.saved_out.unpack(self, 0)
        return out

    def _apply_graph(self, g, needs):
        """Evaluate the derivative DAG on tensors so that the backward is differentiable."""
        row = self.row
        roots, used = _symbolic_grads(row, needs)
        n = row.arity + len(row.params)
        values = [self._operand(i) if i in used else None for i in range(row.arity)] + list(self.params)
        out = None
        if n in used:
            base = self._out()
            out = Tensor(base._data, _version=base._version)
            out._attach(self, 0)
        values += [out, g]
        grads = iter(ex.evaluate(roots, values, apply))
        result = []
        for i, need in enumerate(needs):
            if not need:
                result.append(None)
                continue
            gi = next(grads)
            shape_i, dtype_i = self.meta[i]
            if not isinstance(gi, Tensor):
                gi = full_like(g, gi)
            gi = sum_to(gi, shape_i)
            if gi.dtype != dtype_i:
                gi = gi.to(dtype_i)
            result.append(gi)
        return result


def _cast_array(arr, dtype):
    return copy(arr, dtype.np)


def _node_name(row, operands) -> str:
    if row.name == "pow" and isinstance(operands[1], Tensor):
        return "PowBackward1"
    if row.name == "sub" and not isinstance(operands[0], Tensor):
        return "RsubBackward1"
    if row.name in ("clamp_min", "clamp_max") and not isinstance(operands[1], Tensor):
        return row.node_name[:-1] + "0"
    return row.node_name


def inplace_update(t, name: str, *others, params: tuple = ()):
    """``t = name(t, *others)`` writing into ``t``'s memory; autograd-aware.

    Under grad mode with a graph involved, the op is recorded out of place on a
    clone of the old value and ``t`` takes over the new history (so saved
    values stay valid); otherwise the kernel writes straight into ``t``.
    """
    row = ELEMENTWISE[name]
    others = tuple(_to_operand(x, name + "_") for x in others)
    t._check_inplace(name)
    check_no_partial_overlap(t, others)
    compute, out_dtype = _dtypes_for(row, (t,) + others)
    if (out_dtype._category > t.dtype._category if out_dtype.is_16bit_float or t.dtype.is_16bit_float
            else not np.can_cast(out_dtype.np, t.dtype.np, casting="same_kind")):  # bfloat16's storage is uint16
        raise RuntimeError(
            f"result type {out_dtype.name} can't be cast to the desired output type {t.dtype.name} "
            f"in {name}_ (tensor of shape {list(t.shape)})"
        )
    shape = broadcast_shapes(t.shape, *(x.shape for x in others if isinstance(x, Tensor)))
    if shape != t.shape:
        raise RuntimeError(
            f"output with shape {list(t.shape)} doesn't match the broadcast shape {list(shape)} in {name}_"
        )
    record = is_grad_enabled() and (t._requires_grad or any(isinstance(x, Tensor) and x._requires_grad for x in others))
    if record:
        # rebasing only the view would leave its base's gradient silently wrong
        check_view_inplace(t, name + "_")
        result = apply(name, t.clone(), *others, params=params)
        copy_into(t, result)
        node = result._grad_fn
        if isinstance(node, ElementwiseNode):
            # the node's output now lives in t's memory: a later write there must stop a fused backward
            # from recomputing it, and a derivative that reads the output (sigmoid_, tanh_) must raise
            # PyTorch's modified-in-place error instead of reading the copy
            node.out_version = t._version
            node.out_version_at = t._version[0]
            if node.saved_out is not None:
                node.saved_out = SavedTensor(t.detach())
        t._rebase_history(node, 0)
        return t
    casts = _casts(row, (t,) + others, compute) + [compute.name] * len(params)
    t._before_write()
    run_map(forward_roots(row), [_raw(x) for x in (t,) + others + tuple(params)], [t.dtype.np], shape,
            compute.name, casts, outs=[t._data])
    t._bump_version()
    return t


OVERLAP_MSG = ("unsupported operation: some elements of the input tensor and the written-to tensor refer to a "
               "single memory location. Please clone() the tensor before performing the operation.")


def memory_overlap(out, arr) -> str:
    """How two arrays' memory relates, as PyTorch sees it: "none", "full" (same start, shape, strides) or "partial"."""
    if type(out) is not np.ndarray or type(arr) is not np.ndarray or not np.may_share_memory(out, arr):
        return "none"
    if arr.shape != out.shape:
        try:
            arr = np.broadcast_to(arr, out.shape)  # PyTorch compares the operand as broadcast to the output
        except ValueError:
            pass
    if not _dense(out) or not _dense(arr):
        return "none"  # PyTorch does not look into strided memory ("too hard") and lets the op run
    if (arr.__array_interface__["data"][0] == out.__array_interface__["data"][0] and arr.shape == out.shape
            and arr.strides == out.strides):
        return "full"
    return "partial" if np.shares_memory(out, arr) else "none"


def _dense(arr) -> bool:
    return arr.flags.c_contiguous or arr.flags.f_contiguous


def check_no_partial_overlap(t, operands) -> None:
    """PyTorch's refusal of an in-place op whose operand shares some, not all, of the written memory.

    An operand that is exactly the written memory is fine: each element reads itself. Lazy operands have
    fresh memory of their own.
    """
    out = t._buf
    if out is None:
        return
    for x in operands:
        if isinstance(x, Tensor) and memory_overlap(out, x._buf) == "partial":
            raise RuntimeError(OVERLAP_MSG)


def copy_into(dst, src) -> None:
    """Write ``src``'s values into ``dst``'s memory (broadcasting, casting); no graph."""
    src_arr = _raw(src)  # computes a pending src before pending readers of dst are flushed
    dst._before_write()
    run_map(forward_roots(ELEMENTWISE["identity"]), [src_arr], [dst.dtype.np], dst.shape,
            dst.dtype.name, [dst.dtype.name], outs=[dst._data])
    dst._bump_version()
