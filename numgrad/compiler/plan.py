"""A captured step as a replayable plan: kernel launches with their buffers bound once.

``build_plan`` turns two recordings of consecutive eager calls (``recorder.Recording``) into a
``Plan``:
- the two recordings must launch the same kernels with the same scalars and the same shapes
  (else something in Python - a step counter, a random seed, data - changes the launches);
- an argument array is *persistent* (parameters, gradients, optimizer and module state: its
  memory existed before the call and is reached from the step), an *input* (memory of a tensor
  argument: replay copies the new argument into a private staging buffer the launches read),
  or a *temporary* (created during the call: the plan keeps it, so later replays reuse it and
  the buffer pool never hands it to anyone else);
- the arrays a kernel returns are copied into the recorded ones on replay (later launches read
  those); numbers a kernel returns are checked on replay (an out-of-range target, a count that
  Python used), and a different value abandons the replay, so the call runs eagerly instead: a
  check that comes after the step wrote persistent memory (batch norm's running statistics in
  the forward, before the loss checks its targets) has that memory (at most ``_MAX_UNDO_BYTES``)
  and the generator's state saved at the start of each replay and put back before it abandons;
- draws from numgrad's default generator are drawn again on replay, and an optimizer's update
  is called again (its scalars follow Python state);
- ``verify`` replays the plan from the state before a recorded call (``api`` does it for both
  recordings), with every float temporary filled with NaN, and requires bit-identical state,
  outputs and gradients: a computation outside numgrad's kernels (NumPy in an op, Python
  arithmetic on data) shows up as a difference there, and the step is not compiled.

>>> import numgrad as ng
>>> Plan.__name__
'Plan'
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..tensor import Tensor
from .. import _pending_readers, creation
from .recorder import Fill, KernelLaunch, RandomDraw, leaves


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
        else:
            if a.optimizer is not b.optimizer or a.args[0] is not b.args[0] or a.args[3] is not b.args[3] \
                    or not all(_same_leaf(x, y) for x, y in zip(a.args[1:3], b.args[1:3])) \
                    or a.args[4] != b.args[4]:
                return f"optimizer update {i} ({a.name}) works on different state on consecutive calls"
    return None


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
    """Private memory for bytes [lo, hi) of ``own``'s allocation (overlapping regions merge)."""
    regions = mapping.setdefault(id(own), [])
    for region in list(regions):
        if region[0] < hi and lo < region[1]:
            regions.remove(region)
            lo, hi = min(lo, region[0]), max(hi, region[1])
    regions.append((lo, hi, np.empty(hi - lo, dtype=np.uint8)))


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


class _CheckedLaunch:
    """A launch whose result Python used: its numbers must come back the same, its arrays are copied back."""

    __slots__ = ("dispatcher", "numbers", "array_targets", "name")

    def __init__(self, dispatcher, result, name):
        self.dispatcher = dispatcher
        self.name = name
        self.numbers = [(i, v) for i, v in enumerate(_result_leaves(result)) if not isinstance(v, np.ndarray)]
        self.array_targets = [(i, v) for i, v in enumerate(_result_leaves(result)) if isinstance(v, np.ndarray)]

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

    __slots__ = ("fn", "template", "sources")

    def __init__(self, fn, template, sources):
        self.fn, self.template, self.sources = fn, template, sources

    def __call__(self):
        args = list(self.template)
        for position, src in self.sources:
            args[position] = src.reshape(-1)[0]
        return self.fn(*args)


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


class Plan:
    """The replayable form of one captured step (see the module docstring)."""

    def __init__(self):
        self.steps: list = []  # (callable, args)
        self.staging: list = []  # (input position, staging view): the new input is copied in
        self.outputs: Any = None  # the returned structure, with ("__out__", k) for tensors
        self.output_arrays: list = []
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

    def run(self, input_arrays: list) -> None:
        for position, stage in self.staging:
            np.copyto(stage, input_arrays[position])
        if self.undo or self.undo_rng:
            self._run_undoable()
        else:
            for fn, args in self.steps:
                fn(*args)
        for t, g in self.end_grads:
            if t.grad is not g:
                t.grad = g

    def _run_undoable(self) -> None:
        """Run the steps; if a check abandons the replay, put back what the steps before it wrote."""
        for own, copy in self.undo:
            np.copyto(copy, own)
        rng_state = creation._rng.bit_generator.state if self.undo_rng else None
        try:
            for fn, args in self.steps:
                fn(*args)
        except AbandonReplay:
            for own, copy in self.undo:
                np.copyto(own, copy)
            if rng_state is not None:
                creation._rng.bit_generator.state = rng_state
            raise

    def describe(self) -> str:
        lines = [f"captured step: {len(self.kernel_names)} launches, {len(self.staging)} staged inputs, "
                 f"{len(self.output_arrays)} outputs"]
        for i, name in enumerate(self.kernel_names):
            lines.append(f"  {i:3d} {name}")
        if self.sources:
            lines.append(f"replayed as {len(self.steps)} calls; generated functions:")
            lines.extend(self.sources)
        return "\n".join(lines)


def _param_of(flat: np.ndarray, tensors: list):
    own = owner(flat)
    for t in tensors:
        if t._buf is not None and owner(t._buf) is own:
            return t
    return None


def build_plan(launches: list, derived: dict, input_arrays: list, outputs_structure, output_tensors: list,
               end_grads: list, persistent_owner_ids: set, params: list) -> Plan:
    """The plan of recorded ``launches`` (the second recording); see the module docstring."""
    plan = Plan()
    mapping: dict = {}
    # inputs: one private staging buffer each, laid out like the recorded argument's memory
    for arr in input_arrays:
        own = owner(arr)
        if id(own) in persistent_owner_ids:
            raise NotCapturable("a tensor argument shares memory with the step's persistent state (a parameter "
                                "or buffer passed as an argument): pass it through the closure instead")
        _add_region(mapping, own, *_span(arr))  # only the argument's own bytes: not the dataset it slices
    for position, arr in enumerate(input_arrays):
        plan.staging.append((position, _rebased(arr, mapping)))
    input_owner_ids = set(mapping)
    # outputs: private memory too, so replaying never changes a tensor the caller got from the recorded call
    for t in output_tensors:
        own = owner(t._buf)
        if id(own) not in mapping and id(own) not in persistent_owner_ids:
            _add_region(mapping, own, *_span(own))
    plan.output_arrays = [_rebased(t._buf, mapping) for t in output_tensors]
    plan.outputs = outputs_structure
    seen_persistent: dict = {}
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
    plan.persistent_arrays = list(seen_persistent.values())
    plan.persistent_keys = [(_pending_readers.key_of(a), a) for a in plan.persistent_arrays]
    # every array the plan touches that lies in an argument's memory must have been moved to staging
    input_spans = [_span(a) for a in input_arrays]
    for fn, args in plan.steps:
        for a in _step_arrays(fn, args):
            if _overlaps(a, input_spans):
                raise NotCapturable("a kernel reads a tensor argument's memory through a view the capture cannot "
                                    "follow")
    for t, g in end_grads:
        if g is not None and id(owner(g._buf)) in mapping:
            g = Tensor(_rebased(g._buf, mapping))
        plan.end_grads.append((t, g))
    return plan


def _first_write_index(plan: Plan, mutated: dict, poisoned: set) -> tuple:
    """(index of the first step that writes persistent memory, a description of the first step that reads a
    poisoned buffer no earlier step wrote, or None); runs the plan's steps: call from ``verify``."""
    first = len(plan.steps)
    suspect = None
    for i, (fn, args) in enumerate(plan.steps):
        if isinstance(fn, _UpdateCall):
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
                       "captured launch wrote")
        if first == len(plan.steps) and any(not _bits_equal(o, b) for o, b in zip(touched, before)):
            first = i
    return first, suspect


def _step_arrays(fn, args) -> list:
    """The arrays a plan step passes to its kernel."""
    if isinstance(fn, _ScalarsFromMemory):
        args = fn.template
    return [a for a in leaves(tuple(args)) if isinstance(a, np.ndarray)]


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(np.array_equal(np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8)))


_PYTHON_NUMBERS = (bool, int, float, complex, str, type(None), tuple)


def verify(plan: Plan, before: dict, after: dict, input_arrays: list, expected_outputs: list,
           expected_grads: list, persistent_owner_ids: set, python_state: list,
           rng_states: tuple = (None, None)) -> Optional[str]:
    """Replay ``plan`` from the state ``before`` (owner id -> copy) with NaN temporaries and compare with ``after``.

    ``python_state`` holds (dict, values before, values after) of optimizer state dicts: their Python numbers
    (Adam's step count) are reset too, since replay runs the optimizer's update again.
    Returns why the replay differs, or None; in both cases the persistent state ends as ``after``.
    """
    for d, old, _ in python_state:
        d.update({k: v for k, v in old.items() if isinstance(v, _PYTHON_NUMBERS)})
    if rng_states[0] is not None:  # the replay draws what the recorded call drew
        creation._rng.bit_generator.state = rng_states[0]
    for key, (own, copy) in before.items():
        if own.flags.writeable:
            np.copyto(own, copy)
    # every float temporary the plan reads is filled with NaN first
    keep = [_span(own) for own, _ in before.values()] + [_span(a) for a in input_arrays]
    poisoned: set = set()
    for fn, args in plan.steps:
        for a in _step_arrays(fn, args):
            if a.dtype.kind in "fc" and id(owner(a)) not in persistent_owner_ids and not _overlaps(a, keep) \
                    and a.flags.writeable:
                _poison_view(a)
                poisoned.add(id(a))
    for arr in plan.output_arrays:
        if arr.dtype.kind in "fc":
            _poison_view(arr)
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
    if reason is None:
        for key, (own, copy) in after.items():
            if not _bits_equal(own, copy):
                reason = ("replaying the captured kernels does not reproduce the eager step's state (a computation "
                          f"outside numgrad's kernels, such as NumPy in a custom op): buffer {own.shape} "
                          f"{own.dtype} differs")
                break
    if reason is None:
        for d, _, new in python_state:
            for k, v in new.items():
                if isinstance(v, _PYTHON_NUMBERS) and not _same_leaf(d.get(k), v):
                    reason = f"replaying the optimizer update leaves its state '{k}' at {d.get(k)!r}, not {v!r}"
    if reason is None:
        for k, (arr, want) in enumerate(zip(plan.output_arrays, expected_outputs)):
            if not _bits_equal(arr, want):
                reason = f"replaying the captured kernels does not reproduce output {k} of the eager step"
                break
    if reason is None:
        for (t, g), want in zip(plan.end_grads, expected_grads):
            if g is not None and want is not None and not _bits_equal(g._buf, want):
                reason = (f"replaying the captured kernels does not reproduce the gradient of a tensor of shape "
                          f"{tuple(t.shape)}")
                break
    if rng_states[1] is not None:
        if reason is None and creation._rng.bit_generator.state != rng_states[1]:
            reason = "replaying the captured step draws a different amount of random numbers than the eager step"
        creation._rng.bit_generator.state = rng_states[1]
    if reason is not None:
        if suspect is not None:
            reason += f"; first suspect: {suspect}"
        for d, _, new in python_state:
            d.update({k: v for k, v in new.items() if isinstance(v, _PYTHON_NUMBERS)})
        for key, (own, copy) in after.items():
            if own.flags.writeable:
                np.copyto(own, copy)
        for (t, g), want in zip(plan.end_grads, expected_grads):
            if g is not None and want is not None and g._buf.flags.writeable:
                np.copyto(g._buf, want)
    return reason


def _poison_view(a: np.ndarray) -> None:
    if a.flags.writeable:
        a[...] = np.nan


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
        if isinstance(fn, _UpdateCall):  # its Python state (Adam's step count) is not put back
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
