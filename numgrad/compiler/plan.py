"""A captured step as a replayable plan: kernel launches with their buffers bound once.

``build_plan`` turns two recordings of consecutive eager calls (``recorder.Recording``) into a
``Plan``:
- the two recordings must launch the same kernels with the same scalars and the same shapes
  (else something in Python - a step counter, a random seed, data - changes the launches);
- an argument array is *persistent* (parameters, gradients, optimizer and module state: its
  memory existed before the call and is reached from the step), an *input* (memory of a tensor
  argument: replay copies the new argument into a private staging buffer the launches read),
  or a *temporary* (created during the call, or any other memory that is not persistent state);
  staging buffers, temporaries and outputs are moved into one private arena per plan (their
  bytes copied in), so the buffer pool never hands them to anyone else and a generated step
  function builds its views from the arena instead of taking one argument per buffer;
- the arrays a kernel returns are copied into the recorded ones on replay (later launches read
  those); numbers a kernel returns are checked on replay (an out-of-range target, a count that
  Python used), and a different value abandons the replay, so the call runs eagerly instead: a
  check that comes after the step wrote persistent memory (batch norm's running statistics in
  the forward, before the loss checks its targets) has that memory (at most ``_MAX_UNDO_BYTES``)
  and the generator's state saved at the start of each replay and put back before it abandons;
- draws from numgrad's default generator are drawn again on replay, and an optimizer's update
  is called again (its scalars follow Python state);
- a collective of ``numgrad.distributed`` (``recorder.Collective``, ``CollectiveWait``) is started and
  waited for again at the same points, by the same code, on the same buffers: replay and eager exchange the
  same messages, so ranks may differ in which one they run; ``verify`` answers it from what the recorded call
  exchanged instead of communicating (no rank ever waits on another's verification);
- ``recorder.Guard`` entries (the communicator, DDP inside ``no_sync()`` or not) are checked before each replay;
- ``verify`` replays the plan from the state before a recorded call (``api`` does it for both
  recordings), with every float temporary filled with NaN, and requires bit-identical state,
  outputs and gradients: a computation outside numgrad's kernels (NumPy in an op, Python
  arithmetic on data) shows up as a difference there, and the step is not compiled.

>>> import numgrad as ng
>>> Plan.__name__
'Plan'
"""
from __future__ import annotations

from sys import getrefcount
from typing import Any, Callable, Optional

import numpy as np
from numba.core.registry import CPUDispatcher

from ..kernels.backend import copy as _copy_array
from ..kernels.variants import computation_of
from ..tensor import Tensor
from .. import _pending_readers, _profiler_hooks, creation
from .recorder import (Collective, CollectiveWait, Fill, Guard, KernelLaunch, OptimizerUpdate, RandomDraw,
                       SchedulerStep, leaves)


def owner(arr: np.ndarray) -> np.ndarray:
    """The allocation behind ``arr`` (``_pending_readers.owner``, also through ``as_strided``'s DummyArray bases)."""
    while True:
        base = arr.base
        if not isinstance(base, np.ndarray):
            base = getattr(base, "base", None)
            if not isinstance(base, np.ndarray):
                return arr
        arr = base


def _overlaps(a: np.ndarray, spans: list) -> bool:
    lo, hi = _span(a)
    return any(start < hi and lo < end for start, end in spans)


class NotCapturable(Exception):
    """The step cannot be replayed; the message says why."""


class AbandonReplay(Exception):
    """A value a kernel returned differs from the recorded one: run this call eagerly."""


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array{value.shape} {value.dtype}"
    return repr(value)


def _same_leaf(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and a.strides == b.strides)
    if type(a) is not type(b):
        return False
    try:
        same = a == b
        return bool(same) or (a != a and b != b)  # NaN scalars
    except Exception:  # noqa: BLE001 - an object without a usable ==: compare identity
        return a is b


def compare_recordings(first: list, second: list, first_derived: dict, second_derived: dict) -> Optional[str]:
    """Why two recordings of consecutive calls differ (None when they launch the same things); scalars read
    from memory (``*_derived``) may differ."""
    if len(first) != len(second):
        return (f"consecutive calls launched {len(first)} and {len(second)} kernels: the step's Python takes "
                "different paths from call to call")
    for i, (a, b) in enumerate(zip(first, second)):
        if type(a) is not type(b):
            return f"launch {i} differs between consecutive calls ({a.name} vs {b.name})"
        if isinstance(a, KernelLaunch):
            if a.dispatcher is not b.dispatcher:
                return f"launch {i} differs between consecutive calls ({a.name} vs {b.name})"
            la, lb = list(leaves(a.args)), list(leaves(b.args))
            if len(la) != len(lb):
                return f"launch {i} ({a.name}) has different arguments on consecutive calls"
            for j, (x, y) in enumerate(zip(la, lb)):
                if id(x) in first_derived and id(y) in second_derived and type(x) is type(y):
                    continue
                if not _same_leaf(x, y):
                    return (f"argument {j} of launch {i} ({a.name}) changes between consecutive calls "
                            f"({_describe(x)} then {_describe(y)}): a value computed in Python each step (a "
                            "random seed, a counter) is not capturable yet")
        elif isinstance(a, RandomDraw):
            if a.method != b.method or not _same_leaf(a.array, b.array) or repr(a.args) != repr(b.args) \
                    or repr(a.kwargs) != repr(b.kwargs):
                return f"launch {i} ({a.name}) differs between consecutive calls"
        elif isinstance(a, Fill):
            if not (_same_leaf(a.array, b.array) and _same_leaf(a.value, b.value)):
                return f"launch {i} ({a.name}) differs between consecutive calls"
        elif isinstance(a, Collective):
            if a.key != b.key or len(a.arrays) != len(b.arrays) or a.reads != b.reads \
                    or not all(_same_leaf(x, y) for x, y in zip(a.arrays, b.arrays)):
                return f"launch {i} ({a.name}) differs between consecutive calls"
            b.earlier = a  # verifying the plan against the first call uses what that call exchanged
        elif isinstance(a, CollectiveWait):
            if a.start_index != b.start_index:
                return f"launch {i} ({a.name}) differs between consecutive calls"
        elif isinstance(a, Guard):
            if a.key != b.key or a.value is not b.value:
                return f"{a.name} differs between consecutive calls"
        elif isinstance(a, SchedulerStep):
            reason = scheduler_steps_differ(i, a, b)
            if reason is not None:
                return reason
        else:
            if a.optimizer is not b.optimizer or a.args[0] is not b.args[0] or a.args[3] is not b.args[3] \
                    or not all(_same_leaf(x, y) for x, y in zip(a.args[1:3], b.args[1:3])) \
                    or a.args[4] != b.args[4]:
                return f"optimizer update {i} ({a.name}) works on different state on consecutive calls"
    return None


def scheduler_steps_differ(i: int, a: SchedulerStep, b: SchedulerStep) -> Optional[str]:
    """Why launch ``i``, a scheduler's step in two recordings, cannot be replayed with the arguments it had."""
    if a.scheduler is not b.scheduler or repr(a.args) != repr(b.args) or repr(a.kwargs) != repr(b.kwargs):
        return (f"launch {i} ({a.name}) is called with other arguments on consecutive calls (an epoch number "
                "computed in the step): step the scheduler without arguments, or outside the compiled step")
    return None


def _leaf_kind(value) -> tuple:
    if isinstance(value, np.ndarray):
        return ("array", value.ndim, value.dtype.str, value.flags.c_contiguous, value.flags.f_contiguous)
    return (type(value).__name__,)


def launch_structure(launches: list) -> tuple:
    """What two recordings of different shapes must share for one to be captured like the other: the same
    kernels, draws, fills and optimizer updates in the same order, with arguments of the same kinds (array rank,
    dtype and order; number types).  Shapes and the numbers passed may differ, and so may the choice between a
    kernel's serial and parallel twin (``kernels.variants.computation_of``), which eager code makes by size."""
    out = []
    for launch in launches:
        if isinstance(launch, KernelLaunch):
            out.append((id(computation_of(launch.dispatcher)), tuple(map(_leaf_kind, leaves(launch.args))),
                        launch.result_array is not None))
        elif isinstance(launch, RandomDraw):
            out.append(("draw", launch.method, _leaf_kind(launch.array)))
        elif isinstance(launch, Fill):
            out.append(("fill", _leaf_kind(launch.array), _leaf_kind(launch.value)))
        elif isinstance(launch, OptimizerUpdate):
            out.append(("update", id(launch.optimizer), id(launch.args[0]), id(launch.args[3])))
        elif isinstance(launch, SchedulerStep):
            out.append(("scheduler", id(launch.scheduler), repr(launch.args), repr(launch.kwargs)))
        else:  # another kind of launch: never taken for another shape's
            out.append((type(launch).__name__, id(launch)))
    return tuple(out)


def _span(a: np.ndarray) -> tuple:
    """(first, one past the last) byte address ``a`` touches."""
    ptr = a.__array_interface__["data"][0]
    if a.size == 0:
        return ptr, ptr
    lo = hi = ptr
    for n, st in zip(a.shape, a.strides):
        if st < 0:
            lo += (n - 1) * st
        else:
            hi += (n - 1) * st
    return lo, hi + a.itemsize


def _add_region(mapping: dict, own: np.ndarray, lo: int, hi: int) -> None:
    """Private memory for bytes [lo, hi) of ``own``'s allocation (overlapping regions merge); the memory itself is
    carved from the plan's arena by ``_place_regions`` once every region is known."""
    regions = mapping.setdefault(id(own), [])
    for region in list(regions):
        if region[0] < hi and lo < region[1]:
            regions.remove(region)
            lo, hi = min(lo, region[0]), max(hi, region[1])
    regions.append((lo, hi, None))


_ALIGN = 64  # every region starts on a cache line, as a fresh NumPy allocation of that size would (nearly)


def _new_arena(nbytes: int) -> np.ndarray:
    """``nbytes`` of fresh memory starting on a cache line (a view of its allocation, which ``owner`` finds)."""
    raw = np.empty(nbytes + _ALIGN, dtype=np.uint8)
    skip = -raw.__array_interface__["data"][0] % _ALIGN
    return raw[skip:skip + nbytes]


def _place_regions(mapping: dict, owners: dict) -> np.ndarray:
    """Give every private region its bytes in ONE arena (what the region held is copied in) and return the arena.

    One allocation instead of one per temporary: a generated step function takes the arena and builds its
    views inside (``codegen``), so a replay passes a handful of arrays to Numba instead of one per buffer.
    """
    total = 0
    layout = []
    for key, regions in mapping.items():
        for lo, hi, _ in regions:
            layout.append((key, lo, hi, total))
            total += -(-(hi - lo) // _ALIGN) * _ALIGN
    arena = _new_arena(total)
    placed: dict = {}
    for key, lo, hi, offset in layout:
        region = arena[offset:offset + hi - lo]
        own = owners[key]
        base = own.__array_interface__["data"][0]
        # the bytes the recorded memory holds now: a buffer read before any launch writes it keeps its value
        if own.flags.c_contiguous:
            region[...] = own.reshape(-1).view(np.uint8)[lo - base:hi - base]
        placed.setdefault(key, []).append((lo, hi, region))
    mapping.clear()
    mapping.update(placed)
    return arena


def _rebased(value, mapping: dict):
    """``value`` (an array, a tuple of them, or anything else) with arrays in remapped memory rebuilt as views of
    the private copy (same offsets and strides)."""
    if type(value) is tuple:
        return tuple(_rebased(v, mapping) for v in value)
    if isinstance(value, np.ndarray):
        regions = mapping.get(id(owner(value)))
        if regions is None:
            return value
        lo, hi = _span(value)
        for start, end, new in regions:
            if start <= lo and hi <= end:
                ptr = value.__array_interface__["data"][0]
                view = np.ndarray(value.shape, value.dtype, buffer=new, offset=ptr - start, strides=value.strides)
                if not value.flags.writeable:
                    view.flags.writeable = False
                return view
        raise NotCapturable("a kernel reads memory next to a tensor argument's data (outside the argument's own "
                            "view), which replay cannot follow")
    return value


def _rebased_callable(fn, mapping: dict):
    """Plan step callable ``fn`` with the arrays it holds in remapped memory rebuilt as views of the new
    (``_rebased``)."""
    if isinstance(fn, _ScalarsFromMemory):
        return _ScalarsFromMemory(_rebased_callable(fn.fn, mapping), _rebased(tuple(fn.template), mapping),
                                  [(position, _rebased(src, mapping)) for position, src in fn.sources])
    if isinstance(fn, _ResultInto):
        return _ResultInto(fn.dispatcher, _rebased(fn.target, mapping))
    if isinstance(fn, _CheckedLaunch):
        return _CheckedLaunch(fn.dispatcher, None, fn.name, fn.numbers,
                              [(i, _rebased(target, mapping)) for i, target in fn.array_targets])
    if isinstance(fn, (_CollectiveStart, _CollectiveWait)):
        # their exchanges and in-flight requests hold the buffers; such a call runs eagerly instead
        raise AbandonReplay("the caller holds an array or a view of a .grad an earlier replay made, and a step "
                            "with collectives is not moved to new memory")
    return fn


class _CheckedLaunch:
    """A launch whose result Python used: its numbers must come back the same, its arrays are copied back."""

    __slots__ = ("dispatcher", "numbers", "array_targets", "name")

    def __init__(self, dispatcher, result, name, numbers=None, array_targets=None):
        self.dispatcher = dispatcher
        self.name = name
        if result is not None:
            numbers = [(i, v) for i, v in enumerate(_result_leaves(result)) if not isinstance(v, np.ndarray)]
            array_targets = [(i, v) for i, v in enumerate(_result_leaves(result)) if isinstance(v, np.ndarray)]
        self.numbers, self.array_targets = numbers, array_targets

    def __call__(self, *args):
        result = self.dispatcher(*args)
        got = _result_leaves(result)
        for i, v in self.numbers:
            if not _same_leaf(got[i], v):
                raise AbandonReplay(f"{self.name} returned {got[i]!r} where the captured step had {v!r}")
        for i, target in self.array_targets:
            np.copyto(target, got[i])
        return result


def _result_leaves(result) -> list:
    if type(result) is tuple:
        return [v for r in result for v in _result_leaves(r)]
    return [] if result is None else [result]


class _ResultInto:
    """A reduction launch whose returned number is written into the 0-d array the ops read it from."""

    __slots__ = ("dispatcher", "target")

    def __init__(self, dispatcher, target):
        self.dispatcher, self.target = dispatcher, target

    def __call__(self, *args):
        self.target[()] = self.dispatcher(*args)


class _Draw:
    """Draws into a captured array from numgrad's default generator as it is at replay time."""

    __slots__ = ("method", "args", "kwargs")

    def __init__(self, method, args, kwargs):
        self.method, self.args, self.kwargs = method, args, kwargs

    def __call__(self, target):
        np.copyto(target, getattr(creation._rng, self.method)(*self.args, **self.kwargs))


class _ScalarsFromMemory:
    """A launch whose scalar arguments are read from arrays (a 0-d result, a broadcast gradient) on each replay."""

    __slots__ = ("fn", "template", "sources", "reads")

    def __init__(self, fn, template, sources):
        self.fn, self.template, self.sources = fn, template, sources
        # the first element as a NumPy scalar of the array's dtype (``src.reshape(-1)[0]``), without a reshape
        self.reads = [(position, src, (0,) * src.ndim) for position, src in sources]

    def arguments(self) -> list:
        args = list(self.template)
        for position, src, index in self.reads:
            args[position] = src[index]
        return args

    def __call__(self):
        return self.fn(*self.arguments())


class _SchedulerCall:
    """A learning-rate scheduler's ``step()``, called again on replay with the recorded arguments (it changes the
    scheduler's counters and the learning rates the optimizer updates after it read)."""

    __slots__ = ("method", "args", "kwargs")

    def __init__(self, method, args: tuple, kwargs: dict):
        self.method, self.args, self.kwargs = method, args, kwargs

    def __call__(self):
        self.method(*self.args, **self.kwargs)


class _UpdateCall:
    """An optimizer's per-parameter update, called again on replay (its scalars come from Python state)."""

    __slots__ = ("optimizer", "method", "param_shape", "param")

    def __init__(self, optimizer, method, param_shape, param):
        self.optimizer, self.method, self.param_shape, self.param = optimizer, method, param_shape, param

    def __call__(self, *args):
        self.optimizer._param_shape = self.param_shape
        self.method(*args)
        if self.param is not None:
            self.param._bump_version()


# plan steps that write Python state (an optimizer's step count, a scheduler's epoch): verification runs them
# without comparing arrays, and a check after one cannot abandon a replay (the Python state is not put back)
_PYTHON_STATE_STEPS = (_UpdateCall, _SchedulerCall)

_verifying = [False]  # set while ``verify`` replays a plan: collectives then use what the eager call exchanged
_verified_call = [-1]  # which recorded call's exchanges they use: -1 the last, -2 the one before


class _PendingCollective:
    """What a started collective hands to its wait step (the MPI request and how to finish)."""

    __slots__ = ("request", "finish", "received")

    def __init__(self):
        self.request = self.finish = self.received = None


class _CollectiveStart:
    """Starts a captured collective on its arrays (``numgrad.distributed``'s own code, as eager ran it)."""

    __slots__ = ("start", "reads", "exchanges", "pending", "name", "in_flight")

    def __init__(self, collective, pending, in_flight):
        self.start, self.reads, self.pending, self.name = collective.start, collective.reads, pending, collective.name
        self.exchanges = [(c.sent, c.received) for c in (collective.earlier, collective) if c is not None]
        self.in_flight = in_flight  # the plan's started, unfinished collectives

    def __call__(self, *arrays):
        if not _verifying[0]:
            # the first replay: verification is over (api verifies while capturing), its copies can go
            self.exchanges = self.pending.received = None
            for other in self.in_flight:  # MPI advances the ones started earlier only inside MPI calls (as DDP's hooks)
                other.request.Test()
            self.pending.request, self.pending.finish = self.start(*arrays)
            if self.pending.request is not None and self.pending not in self.in_flight:
                self.in_flight.append(self.pending)
            return
        # verification communicates nothing: the replay must send what the eager call sent, and gets its answer
        if self.exchanges is None or -_verified_call[0] > len(self.exchanges):
            raise AbandonReplay(f"{self.name}: {_COLLECTIVE_MISMATCH} (not recorded)")
        sent, received = self.exchanges[_verified_call[0]]
        if not all(_bits_equal(arrays[i], want) for i, want in zip(self.reads, sent)):
            raise AbandonReplay(f"{self.name}: {_COLLECTIVE_MISMATCH}")
        self.pending.received = received


_COLLECTIVE_MISMATCH = "the data this rank sends differs from what the eager step sent"


class _CollectiveWait:
    """Completes a captured collective: waits for MPI and finishes it (``ReduceOp.AVG`` divides)."""

    __slots__ = ("pending", "in_flight")

    def __init__(self, pending, in_flight):
        self.pending, self.in_flight = pending, in_flight

    def __call__(self, *arrays):
        p = self.pending
        if _verifying[0]:
            for a, value in zip(arrays, p.received):
                np.copyto(a, value)
            return
        if p.request is not None:
            p.request.Wait()
            if p in self.in_flight:
                self.in_flight.remove(p)
        if p.finish is not None:
            p.finish()
        p.request = p.finish = None


class Plan:
    """The replayable form of one captured step (see the module docstring)."""

    def __init__(self):
        self.steps: list = []  # (callable, args)
        self.staging: list = []  # (input position, staging view): the new input is copied in
        self.outputs: Any = None  # the returned structure, with ("__out__", k) for tensors
        self.output_arrays: list = []
        # output index -> what a replay returns for an output in persistent memory (a parameter, a buffer, a view
        # of one): the recorded tensor itself when it is a leaf, else None (a new tensor on that same memory).
        # Eager returns those tensors, not copies: a caller keeping one sees later updates.
        self.live_outputs: dict = {}
        # output index -> how an output in a tensor argument's memory is that argument or a view of it
        # (``_view_of_argument``): a replay returns the call's own argument, or that view of it, as eager code does
        # (a caller writing into it writes into the argument)
        self.argument_views: dict = {}
        # end_grads positions whose .grad lives in the arena: a replay writes the same memory again, so a .grad a
        # caller kept from the previous call gets its own copy first (eager would have made a new tensor)
        self.arena_grads: list = []
        self.end_grads: list = []  # (tensor, grad tensor or None) to restore after a replay
        self.persistent_arrays: list = []  # arrays the step may write: pending readers are computed first
        self.persistent_keys: list = []  # (their key in the pending-readers table, array)
        self.first_write = 0
        # (persistent array, saved copy) put back when a check after the first persistent write abandons a
        # replay; None when that cannot be done (an optimizer update, or too many bytes, before such a check)
        self.undo: Optional[list] = []
        self.undo_rng = False  # the default generator's state is saved too (a draw comes before such a check)
        self.kernel_names: list = []
        self.sources: list = []  # generated step functions (compiler/codegen.py)
        # tensors the step built from Python data, in the arena: replay keeps what the recorded call put there,
        # so verification poisons them (every dtype) - unless numgrad built them from shapes only (``shape_constants``)
        self.python_data: list = []
        self.shape_constants: list = []
        self.guards: list = []  # (probe, value, description): replay only while probe() is value
        self.arena: Optional[np.ndarray] = None  # the memory of every temporary, output and staging buffer
        self.fast_steps: Optional[list] = None  # ``steps`` calling compiled entry points (``prepare_fast``)
        # index in ``steps`` of each generated function (``codegen.fuse_steps``) -> where its int64 table (its first
        # argument) holds array data addresses: a plan moved to new memory moves those
        self.table_addresses: dict = {}
        # the references to the arena's allocation and to each arena .grad's array that the plan itself holds
        # (``note_own_references``): more at the start of a replay means the caller kept an array or a view of
        # that memory, which the replay must not write again (``_move_to_new_memory``)
        self.own_references: Optional[int] = None
        self.arena_memory: Optional[np.ndarray] = None  # the arena's allocation (``owner``)
        self.arena_grad_arrays: list = []  # the arrays of the arena .grad tensors
        # the references to the arena's memory, its .grad arrays and tensors when the last replay ended (``_settle``):
        # a replay finding as many, and every ``end_grads`` tensor still holding its .grad, skips the checks for
        # memory the caller kept (``_separate_from_caller``); None: the next replay checks
        self.settled_references: Optional[int] = None
        self.watched: list = []

    def prepare_fast(self) -> None:
        """Resolve each kernel step's compiled overload once: a replay calls its entry point, skipping the
        dispatcher's typing of every argument (the argument types never change between replays)."""
        self.fast_steps = [(_fast(fn, args), args) for fn, args in self.steps]
        arena = owner(self.arena) if self.arena is not None else None
        self.arena_grads = [k for k, (_, g) in enumerate(self.end_grads)
                            if g is not None and arena is not None and owner(g._buf) is arena]
        self.arena_memory = arena
        del arena  # (a reference the count below must not see)
        self.note_own_references()

    def note_own_references(self) -> None:
        """Count the references the plan holds to its arena (call where no caller can hold any: when the plan is
        built or moved, from a frame that holds none of its arrays)."""
        self.settled_references, self.watched = None, []  # (first: the count must not see ``watched``)
        self.arena_grad_arrays = [self.end_grads[k][1]._buf for k in self.arena_grads]
        self.own_references = None if self.arena is None else self._arena_references()

    def _arena_references(self) -> int:
        # (one number: the plan's own references never go away, so a count above its own is never hidden by another
        # below its own)
        return getrefcount(self.arena_memory) + sum(map(getrefcount, self.arena_grad_arrays))

    def run(self, input_arrays: list) -> None:
        for probe, value, description in self.guards:
            if probe() is not value:
                raise AbandonReplay(f"{description} is not as it was when the step was captured")
        settled = self.settled_references
        if settled is not None and sum(map(getrefcount, self.watched)) != settled:
            settled = None  # the caller holds some of the plan's memory or .grad tensors
        elif settled is not None:
            for t, g in self.end_grads:
                if t._grad is not g:
                    settled = None
                    break
            t = g = None  # (these names must not hold a .grad while ``_settle`` counts references)
        if settled is None:
            self._separate_from_caller()
        for position, stage in self.staging:
            np.copyto(stage, input_arrays[position])
        # the profiler sees kernels through their guarded callables; otherwise the compiled entry points run
        steps = self.steps if _profiler_hooks._ACTIVE or self.fast_steps is None else self.fast_steps
        if self.undo or self.undo_rng:
            self._run_undoable(steps)
        else:
            for fn, args in steps:
                fn(*args)
        if settled is None:
            self._settle()

    def _separate_from_caller(self) -> None:
        """Before a replay that found the .grad slots or the references to its memory changed since the last one:
        give a .grad tensor or arena memory the caller kept from an earlier call memory of its own."""
        self.settled_references = None  # (until this replay ends: an abandoned one leaves the next to check)
        self.watched = []  # (the counts below expect only the plan's other references)
        if self.arena_grads:
            keep_earlier_grads(self.end_grads, self.arena_grads)
        if self.own_references is not None and self._arena_references() != self.own_references:
            self._move_to_new_memory()
            self.note_own_references()

    def _settle(self) -> None:
        """After a replay that checked: set the .grad tensors the step leaves and, when nothing outside the plan
        holds its memory or its .grad tensors (the tests of ``_separate_from_caller``), note the references that
        the next replay compares."""
        _set_grads(self.end_grads)
        if self.arena is not None and self.own_references is None:
            return  # (a replay verifying the plan before ``prepare_fast`` counted its references)
        if ((self.own_references is not None and self._arena_references() != self.own_references)
                or keep_earlier_grads(self.end_grads, self.arena_grads, separate=False)):
            return  # (something else holds them, as a step's optimizer keeping a .grad: each replay checks)
        self.watched = [] if self.arena is None else (
            [self.arena_memory] + self.arena_grad_arrays + [self.end_grads[k][1] for k in self.arena_grads])
        # (no local name holds a watched object here: ``_set_grads``' loop ran in its own frame)
        self.settled_references = sum(map(getrefcount, self.watched))

    def _move_to_new_memory(self) -> None:
        """Give the plan a new arena with the old one's bytes, and rebind every step, buffer and .grad tensor to it.

        Called when the caller holds an array or a view of the arena (``p.grad.detach()``, ``p.grad.numpy()``,
        ``p.grad[0]`` kept from an earlier call): eager code would have made a new ``.grad`` this call and left
        that memory alone, so the replay must too.  The old arena stays with whoever holds it."""
        old = self.arena
        new = _new_arena(old.nbytes)
        np.copyto(new, old)
        start = old.__array_interface__["data"][0]
        mapping = {id(owner(old)): [(start, start + old.nbytes, new)]}
        shift = new.__array_interface__["data"][0] - start
        steps, fast_steps = [], []
        for k, ((fn, args), (fast, _)) in enumerate(zip(self.steps, self.fast_steps)):
            addresses = self.table_addresses.get(k)
            if addresses is None:
                args = _rebased(args, mapping)
            else:
                table = args[0].copy()
                inside = addresses[(table[addresses] >= start) & (table[addresses] < start + old.nbytes)]
                table[inside] += shift
                table.flags.writeable = False  # (as ``codegen`` leaves its tables)
                # then number tables, and the owners of the memory the step reads (the arena's among them)
                args = (table,) + tuple(new if a is old else _rebased(a, mapping) for a in args[1:])
            # (the compiled entry points stay: the arguments' types are the same)
            steps.append((_rebased_callable(fn, mapping), args))
            fast_steps.append((_rebased_callable(fast, mapping), args))
        self.staging = [(position, _rebased(stage, mapping)) for position, stage in self.staging]
        self.output_arrays = [_rebased(a, mapping) for a in self.output_arrays]
        self.python_data = [_rebased(a, mapping) for a in self.python_data]
        self.shape_constants = [_rebased(a, mapping) for a in self.shape_constants]
        self.end_grads = [(t, g if g is None or k not in self.arena_grads else Tensor(_rebased(g._buf, mapping)))
                          for k, (t, g) in enumerate(self.end_grads)]
        self.arena, self.arena_memory = new, owner(new)
        self.steps, self.fast_steps = steps, fast_steps

    def _run_undoable(self, steps: list) -> None:
        """Run ``steps``; if a check abandons the replay, put back what the steps before it wrote."""
        for own, copy in self.undo:
            np.copyto(copy, own)
        rng_state = creation._rng.bit_generator.state if self.undo_rng else None
        try:
            for fn, args in steps:
                fn(*args)
        except AbandonReplay:
            for own, copy in self.undo:
                np.copyto(own, copy)
            if rng_state is not None:
                creation._rng.bit_generator.state = rng_state
            raise

    def describe(self) -> str:
        arena = 0 if self.arena is None else self.arena.nbytes
        lines = [f"captured step: {len(self.kernel_names)} launches, {len(self.staging)} staged inputs, "
                 f"{len(self.output_arrays)} outputs, {arena} bytes of temporaries (one arena)"]
        for i, name in enumerate(self.kernel_names):
            lines.append(f"  {i:3d} {name}")
        lines.extend(f"  replayed only while {description} is as captured" for _, _, description in self.guards)
        if self.sources:
            lines.append(f"replayed as {len(self.steps)} calls; generated functions:")
            lines.extend(self.sources)
        return "\n".join(lines)


def _set_grads(pairs: list) -> None:
    for t, g in pairs:
        if t._grad is not g:  # (the setter's checks passed when the recorded call set it)
            t._grad = g


def keep_earlier_grads(end_grads: list, arena_grads: list, separate: bool = True) -> bool:
    """Before a replay writes the arena's gradients again: a .grad tensor of the previous call that is still
    referenced outside the plan (``kept = p.grad``) gets that call's values in memory of its own, and the plan
    binds a new tensor to the arena (eager code gives every call's backward a new .grad tensor).  Returns whether
    some .grad was referenced outside the plan (``separate=False``: only that, changing nothing).

    ``arena_grads``: the positions in ``end_grads`` ((tensor, grad) pairs) whose grad lives in the arena."""
    held = False
    for k in arena_grads:
        t, g = end_grads[k]
        # references: the plan's pair, this frame's name, getrefcount's argument and, while still set, t._grad
        if getrefcount(g) > 3 + (t._grad is g):
            held = True
            if not separate:
                break
            arena_view = g._buf
            g._data = _copy_array(arena_view)
            end_grads[k] = (t, Tensor(arena_view))
            if t._grad is g:
                t._grad = None  # the replay sets the new tensor when it ends
    return held


def _fast(fn, args):
    """Plan step ``fn`` calling the compiled entry point its kernel runs for ``args`` (``Plan.prepare_fast``)."""
    if isinstance(fn, _ScalarsFromMemory):  # the scalars' types are their arrays' dtypes: they never change either
        inner = _fast(fn.fn, fn.arguments())
        return fn if inner is fn.fn else _ScalarsFromMemory(inner, fn.template, fn.sources)
    if isinstance(fn, (_ResultInto, _CheckedLaunch)):
        entry = _entry_point(fn.dispatcher, args)
        if entry is fn.dispatcher:
            return fn
        return _ResultInto(entry, fn.target) if isinstance(fn, _ResultInto) else \
            _CheckedLaunch(entry, None, fn.name, fn.numbers, fn.array_targets)
    return _entry_point(fn, args)


def _entry_point(fn, args):
    """The compiled function ``fn`` (a Numba dispatcher, or numgrad's guarded wrapper of one) runs for ``args``,
    or ``fn`` itself when there is none."""
    dispatcher = fn if isinstance(fn, CPUDispatcher) else getattr(fn, "__wrapped__", None)
    if not isinstance(dispatcher, CPUDispatcher):
        return fn
    try:
        signature = tuple(dispatcher.typeof_pyval(a) for a in args)
    except Exception:  # noqa: BLE001 - an argument Numba cannot type: keep the dispatcher
        return fn
    compiled = dispatcher.overloads.get(signature)
    return fn if compiled is None else compiled.entry_point


def _param_of(flat: np.ndarray, tensors: list):
    own = owner(flat)
    for t in tensors:
        if t._buf is not None and owner(t._buf) is own:
            return t
    return None


def build_plan(launches: list, derived: dict, input_arrays: list, outputs_structure, output_tensors: list,
               end_grads: list, persistent_owner_ids: set, params: list, python_data: list = ()) -> Plan:
    """The plan of recorded ``launches`` (the second recording); see the module docstring.

    ``python_data``: (array, shape_constant) of the tensors the step built from Python data (the recording's)."""
    plan = Plan()
    mapping: dict = {}
    owners: dict = {}
    # inputs: one private staging buffer each, laid out like the recorded argument's memory
    for arr in input_arrays:
        own = owner(arr)
        if id(own) in persistent_owner_ids:
            raise NotCapturable("a tensor argument shares memory with the step's persistent state (a parameter "
                                "or buffer passed as an argument): pass it through the closure instead")
        owners[id(own)] = own
        _add_region(mapping, own, *_span(arr))  # only the argument's own bytes: not the dataset it slices
    input_owner_ids = set(mapping)

    def claim(arr) -> None:
        """An output or a temporary: its whole allocation moves into the plan's arena."""
        if not isinstance(arr, np.ndarray):
            return
        own = owner(arr)
        if id(own) not in owners and id(own) not in persistent_owner_ids:
            owners[id(own)] = own
            _add_region(mapping, own, *_span(own))

    # outputs first (private memory too, so replaying never changes a tensor the caller got from the recorded
    # call), then every other buffer the launches touch that is not persistent state
    for t in output_tensors:
        claim(t._buf)
    for launch in launches:
        for arr in _launch_arrays(launch, derived):
            claim(arr)
    plan.arena = _place_regions(mapping, owners)
    for position, arr in enumerate(input_arrays):
        plan.staging.append((position, _rebased(arr, mapping)))
    plan.output_arrays = [_rebased(t._buf, mapping) for t in output_tensors]
    plan.outputs = outputs_structure
    for k, t in enumerate(output_tensors):
        if id(owner(t._buf)) in persistent_owner_ids:
            plan.live_outputs[k] = t if t._grad_fn is None else None
        elif id(owner(t._buf)) in input_owner_ids:
            view = _view_of_argument(t._buf, input_arrays)
            if view is not None:
                plan.argument_views[k] = view
    seen_persistent: dict = {}
    pending: dict = {}  # index of a Collective -> what its start step hands its wait step
    in_flight: list = []  # during a replay: the collectives started and not yet waited for
    for i, launch in enumerate(launches):
        if isinstance(launch, KernelLaunch):
            args = _rebased(launch.args, mapping)
            for leaf in leaves(launch.args):
                if isinstance(leaf, np.ndarray):
                    own = owner(leaf)
                    if id(own) in persistent_owner_ids:
                        seen_persistent[id(own)] = own
            result_leaves = _result_leaves(launch.result)
            if launch.result_array is not None:
                fn = _ResultInto(launch.dispatcher, _rebased(launch.result_array, mapping))
            elif result_leaves:
                fn = _CheckedLaunch(launch.dispatcher, _rebased(launch.result, mapping), launch.name)
            else:
                fn = launch.dispatcher
            sources = [(j, _rebased(derived[id(a)][1], mapping)) for j, a in enumerate(launch.args)
                       if id(a) in derived and derived[id(a)][0] is a]
            if any(id(a) in derived for a in leaves(launch.args)) and len(sources) != sum(
                    1 for a in leaves(launch.args) if id(a) in derived):
                raise NotCapturable(f"{launch.name} gets a value read from memory inside a tuple argument")
            if sources:
                fn, args = _ScalarsFromMemory(fn, args, sources), ()
            plan.steps.append((fn, args))
            plan.kernel_names.append(launch.name)
        elif isinstance(launch, RandomDraw):
            plan.steps.append((_Draw(launch.method, launch.args, launch.kwargs), (_rebased(launch.array, mapping),)))
            plan.kernel_names.append(launch.name + " (Python: the default generator draws)")
        elif isinstance(launch, Fill):
            plan.steps.append((np.copyto, (_rebased(launch.array, mapping), launch.value)))
            plan.kernel_names.append(launch.name)
        elif isinstance(launch, Collective):
            pending[i] = _PendingCollective()
            plan.steps.append((_CollectiveStart(launch, pending[i], in_flight), _rebased(launch.arrays, mapping)))
            plan.kernel_names.append(launch.name + " (Python: starts it again on the captured buffers)")
        elif isinstance(launch, CollectiveWait):
            plan.steps.append((_CollectiveWait(pending[launch.start_index], in_flight),
                               _rebased(launch.collective.arrays, mapping)))
            plan.kernel_names.append(launch.name)
        elif isinstance(launch, Guard):
            plan.guards.append((launch.probe, launch.value, launch.description))
        elif isinstance(launch, SchedulerStep):
            plan.steps.append((_SchedulerCall(launch.method, launch.args, launch.kwargs), ()))
            plan.kernel_names.append(launch.name + " (Python: the scheduler sets the learning rates again)")
        else:
            group, flat, g, state, parallel = launch.args
            for arr in (flat, g):
                if id(owner(arr)) in input_owner_ids:
                    raise NotCapturable("an optimizer updates memory of a tensor argument")
            own = owner(flat)
            if id(own) in persistent_owner_ids:
                seen_persistent[id(own)] = own
            fn = _UpdateCall(launch.optimizer, launch.method, launch.param_shape, _param_of(flat, params))
            plan.steps.append((fn, (group, _rebased(flat, mapping), _rebased(g, mapping), state, parallel)))
            plan.kernel_names.append(launch.name + " (Python: its scalars follow the optimizer's state)")
    first_collective = next((k for k, (fn, _) in enumerate(plan.steps) if isinstance(fn, _CollectiveStart)), None)
    if first_collective is not None and any(isinstance(fn, _CheckedLaunch) and fn.numbers
                                            for fn, _ in plan.steps[first_collective:]):
        # abandoning that replay for an eager call would communicate twice: the ranks would fall out of step
        raise NotCapturable("a kernel returns a number Python uses after a collective has started (a replay "
                            "could not be abandoned without communicating twice)")
    plan.persistent_arrays = list(seen_persistent.values())
    plan.persistent_keys = [(_pending_readers.key_of(a), a) for a in plan.persistent_arrays]
    # every array the plan touches that lies in an argument's memory must have been moved to staging
    input_spans = [_span(a) for a in input_arrays]
    for fn, args in plan.steps:
        for a in _step_arrays(fn, args):
            if _overlaps(a, input_spans):
                raise NotCapturable("a kernel reads a tensor argument's memory through a view the capture cannot "
                                    "follow")
    for arr, shape_constant in python_data:
        if id(owner(arr)) in mapping:
            (plan.shape_constants if shape_constant else plan.python_data).append(_rebased(arr, mapping))
    for t, g in end_grads:
        if g is not None and id(owner(g._buf)) in mapping:
            g = Tensor(_rebased(g._buf, mapping))
        plan.end_grads.append((t, g))
    return plan


def _view_of_argument(arr: np.ndarray, input_arrays: list) -> Optional[tuple]:
    """How output ``arr``, which lies in a tensor argument's memory, is that argument or a view of it:
    (argument position, None) when it is the argument's own array, else (position, shape, element strides,
    element offset from the argument's first element); None when it is not such a view (another dtype)."""
    lo, hi = _span(arr)
    for position, arg in enumerate(input_arrays):
        if arr is arg:
            return position, None
        arg_lo, arg_hi = _span(arg)
        if owner(arg) is not owner(arr) or not (arg_lo <= lo and hi <= arg_hi) or arg.dtype != arr.dtype:
            continue
        size = arr.itemsize
        delta = arr.__array_interface__["data"][0] - arg.__array_interface__["data"][0]
        if delta % size or any(st % size for st in arr.strides):
            return None
        return position, arr.shape, tuple(st // size for st in arr.strides), delta // size
    return None


def _launch_arrays(launch, derived: dict):
    """The arrays a recorded launch reads or writes (arguments, results, the arrays its scalars came from)."""
    if isinstance(launch, KernelLaunch):
        yield from leaves(launch.args)
        yield from _result_leaves(launch.result)
        yield launch.result_array
        for a in leaves(launch.args):
            if id(a) in derived and derived[id(a)][0] is a:
                yield derived[id(a)][1]
    elif isinstance(launch, (RandomDraw, Fill)):
        yield launch.array
    elif isinstance(launch, OptimizerUpdate):
        yield launch.args[1]
        yield launch.args[2]
    # another kind of launch keeps the memory it was recorded with (not moved into the arena)


def _first_write_index(plan: Plan, mutated: dict, poisoned: set) -> tuple:
    """(index of the first step that writes persistent memory, a description of the first step that reads a
    poisoned buffer no earlier step wrote, or None); runs the plan's steps: call from ``verify``."""
    first = len(plan.steps)
    suspect = None
    for i, (fn, args) in enumerate(plan.steps):
        if isinstance(fn, _PYTHON_STATE_STEPS):
            first = min(first, i)
            fn(*args)
            continue
        arrays = _step_arrays(fn, args)
        touched = [owner(a) for a in arrays if id(owner(a)) in mutated]
        before = [o.copy() for o in touched]
        unwritten = [a for a in arrays if suspect is None and id(a) in poisoned and a.size and np.isnan(a).all()]
        fn(*args)
        unwritten = [a for a in unwritten if np.isnan(a).all()]
        if unwritten and suspect is None:
            name = plan.kernel_names[i] if len(plan.kernel_names) == len(plan.steps) else f"generated step {i}"
            suspect = (f"launch {i} ({name}) reads a {unwritten[0].shape} {unwritten[0].dtype} buffer that no "
                       "captured launch wrote (a tensor built from Python data or by NumPy inside the step, which "
                       "replay cannot rebuild: create it once, outside the step)")
        if first == len(plan.steps) and any(not _bits_equal(o, b) for o, b in zip(touched, before)):
            first = i
    return first, suspect


def _step_arrays(fn, args) -> list:
    """The arrays a plan step passes to its kernel, and those it reads its scalar arguments from."""
    if isinstance(fn, _ScalarsFromMemory):
        # the sources too: verification must poison a number read from a buffer no captured launch writes (a
        # tensor built from Python data inside the step), or the replay would reuse the recorded number
        return [a for a in leaves(tuple(fn.template)) if isinstance(a, np.ndarray)] + [src for _, src in fn.sources]
    return [a for a in leaves(tuple(args)) if isinstance(a, np.ndarray)]


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(np.array_equal(np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8)))


_PYTHON_NUMBERS = (bool, int, float, complex, str, type(None), tuple)


def _as_is(arr):
    return arr


def results_reason(reason: Optional[str], plan: Plan, expected_outputs: list, expected_grads: list, rng_states: tuple,
                   host: Callable) -> Optional[str]:
    """``reason``, or (when None) why the replay's outputs, gradients or random draws differ from the recorded
    call's; the default generator is put back to its state after that call either way.  ``host``: an array of the
    plan as host memory (the CUDA plan's copy back; the CPU plan's arrays as they are)."""
    if reason is None:
        for k, (arr, want) in enumerate(zip(plan.output_arrays, expected_outputs)):
            if not _bits_equal(host(arr), want):
                reason = f"replaying the captured kernels does not reproduce output {k} of the eager step"
                break
    if reason is None:
        for (t, g), want in zip(plan.end_grads, expected_grads):
            if g is not None and want is not None and not _bits_equal(host(g._buf), want):
                reason = (f"replaying the captured kernels does not reproduce the gradient of a tensor of shape "
                          f"{tuple(t.shape)}")
                break
    if rng_states[1] is not None:
        if reason is None and creation._rng.bit_generator.state != rng_states[1]:
            reason = "replaying the captured step draws a different amount of random numbers than the eager step"
        creation._rng.bit_generator.state = rng_states[1]
    return reason


def verify(plan: Plan, *args, **kwargs) -> Optional[str]:
    """``_verify`` with collectives answered from the recorded calls (no rank waits on another's verification).

    Which recorded call is being verified decides the answers: the last one is tried first, then the one before
    (each try starts from the state before the call); the replay must match one of them throughout."""
    calls = max((len(fn.exchanges) for fn, _ in plan.steps if isinstance(fn, _CollectiveStart)), default=1)
    reasons = []
    _verifying[0] = True
    try:
        for call in range(-1, -calls - 1, -1):
            _verified_call[0] = call
            reason = _verify(plan, *args, **kwargs)
            if reason is None:
                return None
            reasons.append(reason)
    finally:
        _verifying[0] = False
        _verified_call[0] = -1
    return next((r for r in reasons if _COLLECTIVE_MISMATCH not in r), reasons[0])


def _verify(plan: Plan, before: dict, after: dict, input_arrays: list, expected_outputs: list,
            expected_grads: list, persistent_owner_ids: set, python_state,
            rng_states: tuple = (None, None)) -> Optional[str]:
    """Replay ``plan`` from the state ``before`` (owner id -> copy) with NaN temporaries and compare with ``after``.

    ``python_state`` (``python_state.OptimizerPythonState``) is the optimizers' Python state around the recorded
    call (Adam's step count, a list an ``_update`` override appends to): put back too, since replay runs the
    optimizer's updates again.
    Returns why the replay differs, or None; in both cases the persistent state ends as ``after``.
    """
    python_state.put_back(after=False)
    if rng_states[0] is not None:  # the replay draws what the recorded call drew
        creation._rng.bit_generator.state = rng_states[0]
    for key, (own, copy) in before.items():
        if own.flags.writeable:
            np.copyto(own, copy)
    # every float temporary the plan reads is filled with NaN first, and every tensor built from Python data
    # is changed (any dtype): a replay must not depend on what the recorded call put there
    keep = [_span(own) for own, _ in before.values()] + [_span(a) for a in input_arrays] + \
        [_span(a) for a in plan.shape_constants]
    # what the poisoned memory held is put back afterwards: a value no recorded output depended on (a fill
    # value under an all-False mask) must not stay poisoned for the replays
    held: list = []
    for a in plan.python_data:
        if a.flags.writeable:
            _poison(a, held)
    poisoned: set = set()
    for fn, args in plan.steps:
        for a in _step_arrays(fn, args):
            if a.dtype.kind in "fc" and id(owner(a)) not in persistent_owner_ids and not _overlaps(a, keep) \
                    and a.flags.writeable:
                _poison(a, held)
                poisoned.add(id(a))
    for arr in plan.output_arrays:
        # an output may be persistent memory itself (a step returning a parameter or a view of it): that is
        # state, not a temporary, and what ``held`` puts back afterwards would undo the replayed update
        if arr.dtype.kind in "fc" and id(owner(arr)) not in persistent_owner_ids and not _overlaps(arr, keep) \
                and arr.flags.writeable:
            _poison(arr, held)
    try:
        return _replay_and_compare(plan, before, after, input_arrays, expected_outputs, expected_grads,
                                   persistent_owner_ids, python_state, rng_states, poisoned)
    finally:
        for a, copy in reversed(held):  # in reverse: overlapping views end as the first copy saw them
            np.copyto(a, copy)


def _replay_and_compare(plan: Plan, before: dict, after: dict, input_arrays: list, expected_outputs: list,
                        expected_grads: list, persistent_owner_ids: set, python_state, rng_states: tuple,
                        poisoned: set) -> Optional[str]:
    """The rest of ``_verify``, once the temporaries are poisoned."""
    mutated = {k for k, (own, copy) in after.items() if not _bits_equal(before[k][1], copy)} if before else set()
    reason = suspect = None
    try:
        for position, stage in plan.staging:
            np.copyto(stage, input_arrays[position])
        plan.first_write, suspect = _first_write_index(plan, mutated, poisoned)
        plan.undo, plan.undo_rng = _undo_buffers(plan, persistent_owner_ids)
        for t, g in plan.end_grads:
            t.grad = g
    except AbandonReplay as exc:
        reason = f"replaying the captured step failed: {exc}"
    except Exception as exc:  # noqa: BLE001 - a kernel fed a poisoned buffer may raise; the step then runs eagerly
        reason = f"replaying the captured step raised {type(exc).__name__}: {exc}"
    if reason is None:
        for key, (own, copy) in after.items():
            if not _bits_equal(own, copy):
                reason = ("replaying the captured kernels does not reproduce the eager step's state (a computation "
                          f"outside numgrad's kernels, such as NumPy in a custom op): buffer {own.shape} "
                          f"{own.dtype} differs")
                break
    if reason is None:
        reason = python_state.difference()
    reason = results_reason(reason, plan, expected_outputs, expected_grads, rng_states, _as_is)
    if reason is not None:
        if suspect is not None:
            reason += f"; first suspect: {suspect}"
        elif plan.python_data:
            shapes = ", ".join(f"{a.shape} {a.dtype}" for a in plan.python_data[:3])
            reason += (f"; the step builds tensors from Python data ({shapes}: ng.tensor, arange, from_numpy, ...), "
                       "which replay cannot build again: create them once, outside the step")
        python_state.put_back(after=True)
        for key, (own, copy) in after.items():
            if own.flags.writeable:
                np.copyto(own, copy)
        for (t, g), want in zip(plan.end_grads, expected_grads):
            if g is not None and want is not None and g._buf.flags.writeable:
                np.copyto(g._buf, want)
    return reason


def _poison(a: np.ndarray, held: list) -> None:
    """Note what writeable ``a`` holds in ``held`` (put back after the check), then poison it: NaN in a float
    array, the most negative value in a signed integer one (no index: a kernel taking it as one reports it out of
    range), the largest in an unsigned one, every flag flipped in a bool one."""
    held.append((a, a.copy()))
    if a.dtype.kind in "fc":
        a[...] = np.nan
    elif a.dtype.kind == "i":
        a[...] = np.iinfo(a.dtype).min
    elif a.dtype.kind == "u":
        a[...] = np.iinfo(a.dtype).max
    else:
        np.logical_not(a, out=a)


_MAX_UNDO_BYTES = 1 << 22  # copied at the start of every replay: keep it small next to a step


def _undo_buffers(plan: Plan, persistent_owner_ids: set) -> tuple:
    """(persistent arrays with a copy each, whether the generator state is needed) to put back when a check
    after ``plan.first_write`` abandons a replay; ([], False) when no check comes after it, (None, False) when
    what comes before that check cannot be put back.

    Every persistent array the steps up to the last such check pass to a kernel is saved (a kernel's arguments
    do not say which it writes; parameters read by the forward are saved too, so they are kept under the cap).
    """
    last = max((i for i, (fn, _) in enumerate(plan.steps)
                if isinstance(fn, _CheckedLaunch) and fn.numbers and i > plan.first_write), default=-1)
    if last < 0:
        return [], False
    owners: dict = {}
    draws = False
    for fn, args in plan.steps[:last + 1]:
        if isinstance(fn, _PYTHON_STATE_STEPS):  # their Python state (Adam's step count) is not put back
            return None, False
        draws = draws or isinstance(fn, _Draw)
        for a in _step_arrays(fn, args):
            own = owner(a)
            if id(own) in persistent_owner_ids and own.flags.writeable:
                owners[id(own)] = own
    if sum(o.nbytes for o in owners.values()) > _MAX_UNDO_BYTES:
        return None, False
    return [(o, np.empty_like(o)) for o in owners.values()], draws


def checked_guard_positions(plan: Plan) -> Optional[str]:
    """Why the plan's checked launches cannot abandon a replay safely (one comes after a persistent write that
    cannot be put back), or None."""
    if plan.undo is not None:
        return None
    for i, (fn, args) in enumerate(plan.steps):
        if isinstance(fn, _CheckedLaunch) and fn.numbers and i > plan.first_write:
            return (f"{fn.name} returns a number Python uses after the step has already written persistent state "
                    "(a replay could not be abandoned safely: an optimizer update, or more than "
                    f"{_MAX_UNDO_BYTES >> 20} MiB of persistent memory to put back, comes before it)")
    return None
