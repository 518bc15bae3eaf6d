"""Deferred losses: ``sum``/``mean`` of a fused region computed by the backward kernel when possible.

``loss = f(x, w, b).sum(); loss.backward()`` would run the region twice: a
forward map-reduce kernel for ``loss``, then the fused backward kernel, which
recomputes every intermediate of the region anyway.  When a full ``sum`` or
``mean`` of a lazy region is recorded for autograd, its value is deferred
(``PendingReduce``, a lazy value like ``LazyOp``).  If the first thing that
happens to it is ``backward()``, the engine (``joint_backward``) asks the
fused backward region for the sum of its root's forward value as well: ONE
kernel reads the inputs once, writes every gradient and returns the loss.

Anything that needs the value first (``.item()``, printing, another op, an
in-place write) computes it exactly as before, and the backward then runs as
before; so values, errors and ``grad_fn`` behave as without deferral.
"""
from __future__ import annotations

from .. import _pending_readers as _readers
from .. import _profiler_hooks as _profiler  # hook in PendingReduce.realize
from ..ir.expr import forward_roots
from ..ir.table import ELEMENTWISE
from ..kernels.backend import reduce_array, run_map
from ..tensor import Tensor
from . import state
from .lazy import LazyOp, pending_op, reduce_lazy


class PendingReduce:
    """The not-yet-computed full ``sum`` (``count is None``) or ``mean`` of lazy region ``op``.

    It is a pending reader of the region's value (``numgrad._pending_readers``):
    an in-place write into that memory, once the region is computed, computes
    the reduction first, so it sees the value as of its recording.
    """

    __slots__ = ("op", "count", "dtype", "shape", "device", "result", "__weakref__")

    def __init__(self, op: LazyOp, count, dtype):
        self.op = op
        self.count = count
        self.dtype = dtype
        self.shape = ()
        self.device = op.device
        self.result = None
        # readers waiting on a LazyOp move to the buffer it is computed into (LazyOp.realize)
        _readers.register([id(op)], self)

    @property
    def operands(self):
        """What it still reads (the pending-readers protocol): its region, None once computed."""
        return self.op

    def realize(self):
        if self.result is None:
            if _profiler._ACTIVE and _profiler._outer(self):  # numgrad.profiler hook: the kernel runs in "Sum"
                return _profiler._op("Sum" if self.count is None else "Mean", None, self.realize, (), {}, self)
            self.finish(reduce_lazy_or_array(self.op, self.dtype))
        return self.result

    def finish(self, total) -> None:
        """Store the value from the region's ``total`` (a 0-d array of the region's dtype)."""
        self.result = total if self.count is None else mean_of_total(total, self.count)
        self.op = None


def reduce_lazy_or_array(op: LazyOp, dtype):
    """The full sum of the region ``op`` as a 0-d array (in one kernel while it is still pending)."""
    if op.result is None:
        t = Tensor._from_lazy(op)
        total = reduce_lazy(t, "sum", dtype)
        if total is not None:
            return total
    arr = op.realize()
    return reduce_array(arr, tuple(range(arr.ndim)), "sum", dtype.np)


def mean_of_total(total, count: int):
    """``total / count`` as ``mean`` computes it (``nan`` for an empty input), in the total's dtype and shape."""
    dtype = total.dtype.name
    row, operand = (ELEMENTWISE["div"], count) if count else (ELEMENTWISE["mul"], float("nan"))
    (out,) = run_map(forward_roots(row), [total, operand], [total.dtype], total.shape, dtype, [dtype, dtype])
    return out


def defer_full_reduction(ctx, x, dims, keepdim: bool, acc, count=None):
    """A lazy 0-d tensor for the full sum (or mean, with ``count``) of ``x``, or None to compute it now.

    Deferred only where the joint kernel can run: a recorded op, fusion on, a
    full reduction without keepdim of a pending region (CPU or CUDA) whose
    dtype is the accumulation dtype (float32/float64).
    """
    if not getattr(ctx, "recording", False) or not state._enabled or keepdim or len(dims) != x.ndim:
        return None
    op = pending_op(x)
    if op is None or op.dtype is not acc or op.compute is not acc \
            or not acc.is_floating_point or acc.name not in ("float32", "float64"):
        return None
    pending = PendingReduce(op, count, acc)
    ctx.deferred = pending
    return Tensor._from_lazy(pending)


def joint_backward(node, grads, fuse, in_degree, blocked, deps):
    """For the backward node of a still-deferred loss: (region, its incoming gradient, the PendingReduce),
    for the engine to run with ``with_forward_sum``; None when ``node`` should run as usual.

    The loss's node applies its own backward here (the broadcast gradient); the
    region below it must be an elementwise node that only the loss consumes.
    """
    pending = getattr(node.ctx, "deferred", None)
    if pending is None or pending.result is not None or pending.op is None or pending.op.result is not None:
        return None
    g = grads[0]
    edge = node._next[0]
    if g is None or edge is None:
        return None
    region_root = edge[0]
    if not region_root.fusable_elementwise or deps.get(region_root) != 1 or region_root in blocked \
            or region_root._pre_hooks or region_root._retain or not region_root.fusable():
        return None
    (g_region,) = node.apply([g], False)[:1]
    region = fuse.collect(region_root, in_degree, blocked)
    return region, g_region, pending
