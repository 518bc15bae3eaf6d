"""Numba's CUDA simulator, made race-free, and faster for the kernels that need no thread per CUDA thread.

These changes apply only under ``NUMBA_ENABLE_CUDASIM=1`` (how CI and CPU-only
machines run numgrad's CUDA code); on a GPU nothing here runs.

1. ``cuda.shared.array`` under a lock.  numba-cuda's simulator (0.30) creates
   a block's shared array the first time a thread asks for it, with an
   unlocked check-then-insert: two threads of one block could each make their
   own array and then reduce or multiply through different "shared" memory (a
   wrong result now and then, seen in numgrad's tree reductions and tiled
   matmul).

2. Blocks of a kernel that cannot tell its threads apart from sequential ones
   run their threads one after another, in the launching thread.  The
   simulator starts one Python thread per CUDA thread of every block (about
   0.25 ms each) and polls them until all have finished: for numgrad's
   grid-stride elementwise kernels that is most of a launch's time (a conv3d
   check started 52 000 threads in 27 s, 13 s of it in ``Thread.start``).  A
   kernel whose code, and the code of every device function it calls, never
   names a barrier, shared memory, a warp primitive or cooperative groups has
   no way to observe the order its threads run in (a CUDA program may not rely
   on threads of a block running in lockstep without them), so running them
   one at a time gives what running them concurrently may give.

3. A kernel whose only synchronization is ``cuda.syncthreads()`` statements
   in its own body (numgrad's tiled matmul and tree reductions) runs in
   phases: its body is recompiled once with each such statement turned into a
   ``yield``, every thread of a block becomes a generator, and each phase runs
   every live thread to its next barrier before any goes past it (the
   simulator's barrier: every thread still running has arrived).  Shared
   arrays keep the simulator's key (file and line of the allocation).

Every other kernel (barriers inside device functions, warp primitives,
cooperative groups, ``debug=True``) runs as the simulator runs it.
"""
from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import threading
import types

import numpy as np
from numba.core import types as nb_types
from numba.np import numpy_support

# names whose presence in a kernel's code (attribute or global) makes its threads able to observe each other
_SYNCHRONIZING_NAMES = frozenset({
    "syncthreads", "syncthreads_count", "syncthreads_and", "syncthreads_or", "syncwarp", "shared", "cg",
    "this_grid", "laneid", "activemask", "lanemask_lt", "all_sync", "any_sync", "eq_sync", "ballot_sync",
    "match_any_sync", "match_all_sync", "shfl_sync", "shfl_up_sync", "shfl_down_sync", "shfl_xor_sync",
})


def install() -> None:
    """Apply the changes to numba-cuda's simulator (once; a simulator of another layout is left as it is).
    Imports ``numba.cuda``: call it only once the simulator is in use."""
    from numba.cuda.simulator import kernel, kernelapi  # numba.cuda loads only when CUDA is used (module docstring)

    _lock_shared_arrays(kernelapi)
    _run_blocks_in_the_launching_thread(kernel, kernelapi)


def _lock_shared_arrays(kernelapi) -> None:
    shared_cls = kernelapi.FakeCUDAShared
    if getattr(shared_cls, "_numgrad_locked", False):
        return
    lock = threading.Lock()
    dynamic = shared_cls.array

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:
            return dynamic(self, shape, dtype, alignment)  # one buffer for all, or the simulator's own error
        if isinstance(dtype, nb_types.Type):
            dtype = numpy_support.as_dtype(dtype)
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)  # the simulator's own key
        with lock:
            res = self._allocations.get(key)
            if res is None:
                res = self._allocations[key] = np.empty(shape, dtype)
        return res

    shared_cls.array = array
    shared_cls._numgrad_locked = True


def threads_can_observe_each_other(fn, ignore_own_barriers: bool = False) -> bool:
    """Whether simulated kernel ``fn`` (a Python function), or a function it calls, names a barrier, shared
    memory, a warp primitive or cooperative groups (``_SYNCHRONIZING_NAMES``).  With ``ignore_own_barriers``,
    ``fn``'s own ``syncthreads`` and ``shared`` do not count (what phases handle).

    >>> def scale(out, x, a):
    ...     for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
    ...         out[i] = a * x[i]
    >>> def tree_sum(out, x):
    ...     cuda.syncthreads()
    >>> threads_can_observe_each_other(scale), threads_can_observe_each_other(tree_sum)
    (False, True)
    >>> threads_can_observe_each_other(tree_sum, ignore_own_barriers=True)
    False
    """
    seen: set = set()
    todo = [(fn.__code__, fn.__globals__, ignore_own_barriers)]
    while todo:
        code, globals_, own = todo.pop()
        if id(code) in seen:
            continue
        seen.add(id(code))
        names = set(code.co_names) - ({"syncthreads", "shared"} if own else set())
        if not _SYNCHRONIZING_NAMES.isdisjoint(names):
            return True
        todo.extend((c, globals_, own) for c in code.co_consts if isinstance(c, types.CodeType))
        for name in code.co_names:
            called = globals_.get(name)
            called = getattr(called, "fn", called)  # a simulated device function wraps its Python function
            if isinstance(called, types.FunctionType):
                todo.append((called.__code__, called.__globals__, False))
    return False


class _BarriersToYields(ast.NodeTransformer):
    """``cuda.syncthreads()`` statements become ``yield``; ``unhandled`` counts any other use of the name."""

    def __init__(self):
        self.unhandled = 0

    def visit_Expr(self, node):
        call = node.value
        if isinstance(call, ast.Call) and not call.args and not call.keywords \
                and isinstance(call.func, ast.Attribute) and call.func.attr == "syncthreads" \
                and isinstance(call.func.value, ast.Name) and call.func.value.id == "cuda":
            return ast.copy_location(ast.Expr(ast.Yield(None)), node)
        return self.generic_visit(node)

    def visit_Attribute(self, node):
        self.unhandled += node.attr == "syncthreads"
        return self.generic_visit(node)


def phased(fn):
    """``fn`` recompiled as a generator function that yields where ``fn`` calls ``cuda.syncthreads()``, or None
    when it cannot be (no source, a closure, another use of ``syncthreads``).  Same file, lines and globals.

    >>> import numpy as np
    >>> def kernel(out):
    ...     out[0] += 1
    ...     cuda.syncthreads()
    ...     out[1] += 1
    >>> out = np.zeros(2)
    >>> steps = phased(kernel)(out)
    >>> next(steps); out.tolist()
    [1.0, 0.0]
    """
    if fn.__code__.co_freevars:
        return None
    try:
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return None
    tree = ast.parse(textwrap.dedent("".join(lines)))  # a nested definition is indented
    (definition,) = tree.body
    if not isinstance(definition, ast.FunctionDef):
        return None
    definition.decorator_list = []
    rewrite = _BarriersToYields()
    tree = rewrite.visit(tree)
    if rewrite.unhandled:
        return None
    ast.increment_lineno(tree, first - 1)
    module = compile(ast.fix_missing_locations(tree), fn.__code__.co_filename, "exec")
    code = next(c for c in module.co_consts if isinstance(c, types.CodeType) and c.co_name == fn.__name__)
    return types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__)


_THREADS, _IN_TURN, _PHASES = "threads", "in turn", "phases"
_PLAN_ATTRIBUTE = "_numgrad_simulated_as"


def _plan(fn) -> tuple:
    """How to run a block of ``fn``: (``_IN_TURN``, None), (``_PHASES``, its generator function) or
    (``_THREADS``, None)."""
    if not threads_can_observe_each_other(fn):
        return _IN_TURN, None
    if not threads_can_observe_each_other(fn, ignore_own_barriers=True):
        steps = phased(fn)
        if steps is not None:
            return _PHASES, steps
    return _THREADS, None


def _run_blocks_in_the_launching_thread(kernel, kernelapi) -> None:
    """``BlockManager.run`` by ``_plan``: in turn, in phases, or the simulator's own threads."""
    manager_cls = kernel.BlockManager
    if getattr(manager_cls, "_numgrad_in_turn", False) or not hasattr(manager_cls, "run"):
        return
    threaded_run = manager_cls.run
    Dim3 = kernelapi.Dim3

    def run(self, grid_point, *args):
        fn = self._f
        if not isinstance(fn, types.FunctionType) or self._debug:
            return threaded_run(self, grid_point, *args)
        # kept on the function: equal code objects (a kernel's float32 and float64 modules) have other globals
        plan = fn.__dict__.get(_PLAN_ATTRIBUTE)
        if plan is None:
            plan = fn.__dict__[_PLAN_ATTRIBUTE] = _plan(fn)
        how, steps = plan
        if how is _THREADS:
            return threaded_run(self, grid_point, *args)
        _run_in_turn(self, fn if how is _IN_TURN else steps, grid_point, args, Dim3, how is _PHASES)

    manager_cls.run = run
    manager_cls._numgrad_in_turn = True


_MISSING = object()
_THREAD_SLOTS = ("threadIdx", "blockIdx", "thread_id")


def _run_in_turn(manager, fn, grid_point, args, Dim3, phases: bool) -> None:
    """Run every thread of one block in the calling thread, which plays each simulated thread in turn (the
    simulator's ``cuda.threadIdx``, ``blockIdx`` and ``laneid`` read the current thread's attributes).  With
    ``phases``, ``fn`` is a generator function: each pass runs every live thread to its next barrier."""
    host = threading.current_thread()
    saved = [getattr(host, slot, _MISSING) for slot in _THREAD_SLOTS]
    block_dim = Dim3(*manager._block_dim)
    host.blockIdx = Dim3(*grid_point)
    threads = []
    for point in np.ndindex(*manager._block_dim):
        idx = Dim3(*point)
        threads.append((idx, idx.x + block_dim.x * (idx.y + block_dim.y * idx.z), None))
    try:
        while threads:
            waiting = []
            for idx, thread_id, steps in threads:
                host.threadIdx, host.thread_id = idx, thread_id
                try:
                    if not phases:
                        fn(*args)
                        continue
                    if steps is None:
                        steps = fn(*args)
                    next(steps)
                    waiting.append((idx, thread_id, steps))
                except StopIteration:
                    pass
                except Exception as exc:
                    # as the simulator reports a thread's exception: which thread, which block
                    message = f"tid={list(idx)} ctaid={list(host.blockIdx)}"
                    if str(exc):
                        message += f": {exc}"
                    raise type(exc)(message).with_traceback(exc.__traceback__) from None
            threads = waiting
    finally:
        for slot, value in zip(_THREAD_SLOTS, saved):
            if value is _MISSING:
                try:
                    delattr(host, slot)
                except AttributeError:
                    pass
            else:
                setattr(host, slot, value)
