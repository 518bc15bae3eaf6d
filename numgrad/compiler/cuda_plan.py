"""A captured CUDA step: the recorded ``@cuda.jit`` launches replayed on device memory bound once.

The CUDA twin of ``plan.py``, built from the same recordings (``recorder.CudaLaunch``,
``HostToDevice``, ``DeviceToHost``, optimizer updates, draws, guards):
- every device array a launch touches is located by address: in the step's persistent state
  (parameters, gradients, optimizer state: kept where it is), in a tensor argument (moved to a
  private staging buffer the new argument is copied into on each replay, one device-to-device
  copy), in memory allocated during the step (``numba.cuda.device_array``/``to_device``: moved
  into ONE private device arena of the plan, so no allocation happens on replay and nothing the
  caller got back from the recorded call is overwritten), or elsewhere (memory from before the
  step that is not state, such as a cached constant: left where it is);
- a replay is one loop over prepared (launcher, arguments) pairs: on a GPU the launcher is
  numba-cuda's configured launch (``kernel[griddim, blockdim]``, made once), on the simulator
  the simulated kernel; host-to-device copies made in the step are made again (a range check's
  flag preset, a dropout mask drawn on the host; a CPU tensor argument the step moves to the GPU is
  copied from the new argument), device reads by numgrad's own code are read
  again and a different value abandons the replay (the call runs eagerly: it raises the eager
  error), optimizer updates and random draws are called again as in ``plan.py``;
- with ``NUMGRAD_CUDA_GRAPHS=1`` on a real GPU (not the simulator, and only when numba-cuda's
  ``cuda.core`` has ``GraphBuilder``), each run of plain launches between Python steps is
  captured once as a CUDA graph and replayed with one graph launch (``_GraphRun``); any failure
  to build one falls back to the launch loop.  This path is not covered by the tests (they run on
  the simulator);
- ``verify`` replays the plan from the state before a recorded call with the arena poisoned
  (every byte 0xFF: NaN for floats) and requires bit-identical state, outputs and gradients.

>>> CudaPlan.__name__
'CudaPlan'
"""
from __future__ import annotations

import bisect
import logging
import os
import sys
from sys import getrefcount
from typing import Optional

import numpy as np

from .. import creation
from ..kernels.cuda import numba_cuda, simulator_enabled
from ..kernels.cuda.array import DeviceArray, empty as device_empty
from ..tensor import Tensor
from .plan import (_PYTHON_STATE_STEPS, AbandonReplay, NotCapturable, _bits_equal, _Draw,
                   _SchedulerCall, _UpdateCall, keep_earlier_grads, results_reason, scheduler_steps_differ)
from .recorder import (Collective, CollectiveWait, CudaLaunch, DeviceToHost, Fill, Guard, HostToDevice, KernelLaunch,
                       OptimizerUpdate, RandomDraw, SchedulerStep, leaves)

_log = logging.getLogger("numgrad")
_ALIGN = 256  # every arena slot starts where cudaMalloc would start an allocation
_MAX_UNDO_BYTES = 1 << 26


# ------------------------------------------------------------------ device memory by address
def _is_device_array(value) -> bool:
    """A numba device array (``DeviceNDArray`` on a GPU, ``FakeCUDAArray`` on the simulator)."""
    return not isinstance(value, np.ndarray) and getattr(type(value), "__cuda_ndarray__", False) is True


def _address(dev) -> int:
    ary = getattr(dev, "_ary", None)  # the simulator's device memory is a NumPy array
    if isinstance(ary, np.ndarray):
        return ary.__array_interface__["data"][0]
    return dev.__cuda_array_interface__["data"][0] or 0


def _extent(shape, strides, itemsize) -> tuple:
    """(lowest, one past the highest) byte offset a strided view reaches from its first element."""
    if any(n == 0 for n in shape):
        return 0, 0
    lo = hi = 0
    for n, st in zip(shape, strides):
        if st < 0:
            lo += (n - 1) * st
        else:
            hi += (n - 1) * st
    return lo, hi + itemsize


def _view_of(value):
    """(address of element 0, shape, byte strides, dtype) of a numba device array or a ``DeviceArray``."""
    if type(value) is DeviceArray:
        return _address(value.storage) + value.offset, value.shape, value.strides, value.dtype
    return _address(value), tuple(value.shape), tuple(value.strides), np.dtype(value.dtype)


def span_bytes(arr: DeviceArray):
    """The bytes ``arr`` reaches, as a 1-D uint8 numba device array (a view of its storage)."""
    lo, hi = _extent(arr.shape, arr.strides, arr.itemsize)
    return arr.storage[arr.offset + lo:arr.offset + hi]


def host_copy(dev) -> np.ndarray:
    """A host copy of a numba device array (verification snapshots)."""
    return dev.copy_to_host()


def input_snapshot(arr) -> np.ndarray:
    """What verification stages for a tensor argument: the bytes of a CUDA one, a copy of a CPU one (which the
    step copies to the GPU itself)."""
    return arr.copy() if isinstance(arr, np.ndarray) else host_copy(span_bytes(arr))


def _input_position(source, inputs: list) -> Optional[int]:
    """The CPU tensor argument whose memory the host array ``source`` is (copied to the GPU in the step), or None;
    a copy of part of one cannot be followed."""
    if not isinstance(source, np.ndarray):
        return None
    for k, arr in enumerate(inputs):
        if isinstance(arr, np.ndarray) and np.shares_memory(source, arr):
            if source.__array_interface__["data"][0] == arr.__array_interface__["data"][0] \
                    and source.nbytes == arr.nbytes and arr.flags.c_contiguous:
                return k
            raise NotCapturable("the step copies part of a CPU tensor argument to the GPU (a slice or a "
                                "non-contiguous one): pass the whole, contiguous tensor, or move it before the call")
    return None


class _Memory:
    """Where each device view of a recording lives, and its new place in the plan's arena."""

    def __init__(self, allocations: list, inputs: list, persistent: dict):
        slots = []  # [lo, hi, kind, input position, arena offset] of memory moved into the arena
        seen: set = set()
        for k, arr in enumerate(inputs):
            if type(arr) is not DeviceArray:  # a CPU argument: its copy to the GPU is a step of its own
                continue
            lo, hi = _extent(arr.shape, arr.strides, arr.itemsize)
            base = _address(arr.storage) + arr.offset
            slots.append([base + lo, base + hi, "input", k, None])
        for dev in allocations:  # alive (the recording holds them): their address ranges are disjoint
            start = _address(dev)
            if start in seen or dev.nbytes == 0:
                continue
            seen.add(start)
            slots.append([start, start + dev.nbytes, "temporary", None, None])
        slots.sort(key=lambda slot: slot[0])
        if any(a[1] > b[0] for a, b in zip(slots, slots[1:])):
            raise NotCapturable("two tensor arguments share memory (the same tensor passed twice, or views of one "
                                "tensor): replay stages each argument on its own")
        self.slots = slots
        self._starts = [slot[0] for slot in slots]
        state = sorted((_address(s), _address(s) + s.nbytes, key) for key, s in persistent.items())
        self._state = state
        self._state_starts = [start for start, _, _ in state]
        self.used: set = set()
        self.persistent_used: dict = {}  # key -> True for persistent memory a step touches
        self.arena: Optional[DeviceArray] = None

    def locate(self, lo: int, hi: int):
        """The slot holding bytes [lo, hi), or None (memory left where it is); a view straddling a slot's edge
        cannot be followed."""
        i = bisect.bisect_right(self._starts, lo) - 1
        for j in (i, i + 1):
            if 0 <= j < len(self.slots):
                slot = self.slots[j]
                if slot[0] <= lo and hi <= slot[1]:
                    self.used.add(j)
                    return slot
                if slot[0] < hi and lo < slot[1]:
                    raise NotCapturable("a kernel reads memory next to a tensor argument's data (outside the "
                                        "argument's own view), which replay cannot follow")
        k = bisect.bisect_right(self._state_starts, lo) - 1
        if k >= 0 and hi <= self._state[k][1]:
            self.persistent_used[self._state[k][2]] = True
        return None

    def note(self, value) -> None:
        """First pass: mark the slots ``value`` (a view, or a tuple of them) touches."""
        if type(value) is tuple:
            for v in value:
                self.note(v)
        elif type(value) is DeviceArray or _is_device_array(value):
            ptr, shape, strides, dtype = _view_of(value)
            lo, hi = _extent(shape, strides, dtype.itemsize)
            if hi > lo:
                self.locate(ptr + lo, ptr + hi)

    def place(self) -> None:
        """Give every used slot its bytes in one device arena."""
        total = 0
        for i in sorted(self.used):
            slot = self.slots[i]
            slot[4] = total
            total += -(-(slot[1] - slot[0]) // _ALIGN) * _ALIGN
        self.arena = device_empty((max(total, 1),), np.uint8)

    def rebase(self, value):
        """``value`` with every view of moved memory rebuilt on the arena (same shape, strides and dtype)."""
        if type(value) is tuple:
            return tuple(self.rebase(v) for v in value)
        is_device = type(value) is DeviceArray
        if not is_device and not _is_device_array(value):
            return value
        ptr, shape, strides, dtype = _view_of(value)
        lo, hi = _extent(shape, strides, dtype.itemsize)
        if hi <= lo:
            return value
        slot = self.locate(ptr + lo, ptr + hi)
        if slot is None:
            return value
        view = DeviceArray(self.arena.storage, slot[4] + ptr - slot[0], shape, strides, dtype, True)
        return view if is_device else view.kernel_arg()

    def staging(self, k: int):
        """The arena bytes the ``k``-th tensor argument is copied into (a 1-D uint8 numba device array)."""
        for slot in self.slots:
            if slot[2] == "input" and slot[3] == k and slot[4] is not None:
                return self.arena.storage[slot[4]:slot[4] + slot[1] - slot[0]]
        return None


# ------------------------------------------------------------------ replay steps
class _SimulatedLaunch:
    """``kernel[griddim, blockdim, 0, sharedmem](*args)`` on the simulator (its kernels keep one configuration)."""

    __slots__ = ("kernel", "config")

    def __init__(self, kernel, griddim, blockdim, sharedmem):
        self.kernel, self.config = kernel, (griddim, blockdim, 0, sharedmem)

    def __call__(self, *args):
        self.kernel[self.config](*args)


class _Upload:
    """A host-to-device copy made again: recorded bytes (a constant), or a host array a replayed draw refilled."""

    __slots__ = ("host",)

    def __init__(self, host: np.ndarray):
        self.host = host

    def __call__(self, target) -> None:
        target.copy_to_device(self.host)


class _UploadInput:
    """A CPU tensor argument copied to the GPU inside the step: replay copies the new argument's bytes."""

    __slots__ = ("bound", "position", "dtype", "shape")

    def __init__(self, bound: list, position: int, data: np.ndarray):
        self.bound, self.position, self.dtype, self.shape = bound, position, data.dtype, data.shape

    def __call__(self, target) -> None:
        host = self.bound[0][self.position]
        target.copy_to_device(host.reshape(-1).view(self.dtype).reshape(self.shape))


class _CheckRead:
    """A device read of numgrad's own code (a range check's flag): the same value, or the call runs eagerly."""

    __slots__ = ("value", "what")

    def __init__(self, value: np.ndarray, what: str):
        self.value, self.what = value, what

    def __call__(self, array: DeviceArray) -> None:
        got = array.to_host()
        if not _bits_equal(got, self.value):
            raise AbandonReplay(f"{self.what} returned {got.reshape(-1)[:4]} where the captured step read "
                                f"{self.value.reshape(-1)[:4]}")


class _GraphRun:
    """A run of plain GPU launches replayed as one CUDA graph (``NUMGRAD_CUDA_GRAPHS=1``; see the module docstring).

    Built on its first call by stream capture on a stream that synchronises with the default stream (numba's
    ``cuda.stream()``), so the graph runs after the copies and launches before it and before those after it."""

    __slots__ = ("launches", "graph", "stream", "numba_stream", "failed")

    def __init__(self, launches: list):
        self.launches = launches  # (numba-cuda launch configuration, args)
        self.graph = self.stream = self.numba_stream = None
        self.failed = False

    def __call__(self) -> None:
        if self.graph is None and not self.failed:
            self._build()
        if self.graph is not None:
            self.graph.launch(self.stream)
            return
        for config, args in self.launches:
            config(*args)

    def _build(self) -> None:
        try:
            driver = sys.modules["numba.cuda.cudadrv.driver"]  # loaded: ``graphs_wanted`` checked
            numba_stream = numba_cuda().stream()  # kept: the cuda.core view below does not own the CUDA stream
            stream = driver._to_core_stream(numba_stream)
            builder = stream.create_graph_builder()
            builder.begin_building()
            for config, args in self.launches:
                config.dispatcher.configure(config.griddim, config.blockdim, builder, config.sharedmem)(*args)
            builder.end_building()
            self.graph, self.stream, self.numba_stream = builder.complete(), stream, numba_stream
        except Exception as exc:  # noqa: BLE001 - any failure: the launch loop, which is what was verified
            _log.debug("ng.compile: CUDA graph capture failed (%s: %s); replaying launch by launch",
                       type(exc).__name__, exc)
            self.failed = True


def graphs_wanted() -> bool:
    """Whether replays use CUDA graphs: opted in with ``NUMGRAD_CUDA_GRAPHS=1``, on a real GPU whose numba-cuda
    has ``cuda.core``'s ``GraphBuilder``."""
    if os.environ.get("NUMGRAD_CUDA_GRAPHS", "0") != "1" or simulator_enabled():
        return False
    driver = sys.modules.get("numba.cuda.cudadrv.driver")
    return driver is not None and hasattr(driver, "GraphBuilder")


class CudaPlan:
    """The replayable form of one captured CUDA step (see the module docstring)."""

    def __init__(self):
        self.steps: list = []  # (callable, args)
        self.staging: list = []  # (input position, arena bytes): the new argument's bytes are copied in
        self.outputs = None
        self.output_arrays: list = []  # DeviceArrays on the arena (or persistent memory)
        self.live_outputs: dict = {}  # as ``plan.Plan``'s
        self.argument_views: dict = {}  # (``plan.Plan``'s; on CUDA an output in an argument's memory is a copy)
        self.end_grads: list = []
        self.arena_grads: list = []  # as ``plan.Plan``'s
        self.persistent_arrays: list = []  # one DeviceArray per persistent storage the steps touch
        self.persistent_keys: list = []
        self.persistent_ids: set = set()  # ids of those storages
        self.guards: list = []
        self.kernel_names: list = []
        self.sources: list = []
        self.fast_steps = None
        self.arena: Optional[DeviceArray] = None
        self.checks: list = []  # indices of steps that read device data back
        self.touched: list = []  # per step: the persistent storages its arguments lie in
        self.undo: list = []  # (persistent storage, device copy) saved before each replay, put back on abandon
        self.graph_steps: Optional[list] = None
        self.own_references: Optional[tuple] = None  # (``prepare_fast``)
        self.bound: list = [None]  # the call's argument arrays while a replay runs (``_UploadInput``)

    def prepare_fast(self) -> None:
        """Group runs of plain GPU launches into CUDA graphs when they are wanted (``graphs_wanted``); note which
        ``.grad`` tensors live in the arena (``keep_earlier_grads``)."""
        storage = self.arena.storage if self.arena is not None else None
        self.arena_grads = [k for k, (_, g) in enumerate(self.end_grads)
                            if g is not None and type(g._buf) is DeviceArray and g._buf.storage is storage]
        del storage  # (a reference the count in ``_note_own_references`` must not see)
        if graphs_wanted():
            self._group_graphs()
        self._note_own_references()

    def _note_own_references(self) -> None:
        # as ``plan.Plan.own_references``: more references at the start of a replay mean the caller kept an array
        # or a view of a .grad in the arena, which the replay would overwrite (a CUDA plan is not moved: that call
        # runs eagerly)
        self.own_references = self._arena_references() if self.arena is not None else None

    def _group_graphs(self) -> None:
        grouped, run = [], []
        for fn, args in self.steps:
            if hasattr(fn, "dispatcher") and hasattr(fn, "griddim"):  # numba-cuda's configured launch
                run.append((fn, args))
                continue
            if run:
                grouped.append((_GraphRun(run), ()))
                run = []
            grouped.append((fn, args))
        if run:
            grouped.append((_GraphRun(run), ()))
        self.graph_steps = grouped

    def _arena_references(self) -> tuple:
        end_grads = self.end_grads
        return (getrefcount(self.arena.storage),) + tuple([getrefcount(end_grads[k][1]._buf)
                                                           for k in self.arena_grads])

    def run(self, input_arrays: list) -> None:
        for probe, value, description in self.guards:
            if probe() is not value:
                raise AbandonReplay(f"{description} is not as it was when the step was captured")
        if self.arena_grads:
            keep_earlier_grads(self.end_grads, self.arena_grads)
        if self.own_references is not None and self._arena_references() != self.own_references:
            raise AbandonReplay("the caller holds an array or a view of a .grad an earlier replay made (a replay "
                                "would write it again; eager code makes a new .grad each call)")
        for position, stage in self.staging:
            stage.copy_to_device(span_bytes(input_arrays[position]))
        self.bound[0] = input_arrays
        steps = self.graph_steps if self.graph_steps is not None else self.steps
        try:
            if self.undo:
                for own, copy in self.undo:
                    copy.copy_to_device(own)
                try:
                    for fn, args in steps:
                        fn(*args)
                except AbandonReplay:
                    for own, copy in self.undo:
                        own.copy_to_device(copy)
                    raise
            else:
                for fn, args in steps:
                    fn(*args)
        finally:
            self.bound[0] = None  # the call's arguments are not kept alive
        for t, g in self.end_grads:
            if t.grad is not g:
                t.grad = g

    def describe(self) -> str:
        arena = 0 if self.arena is None else self.arena.nbytes
        lines = [f"captured CUDA step: {len(self.kernel_names)} launches, {len(self.staging)} staged inputs, "
                 f"{len(self.output_arrays)} outputs, {arena} bytes of temporaries (one device arena)"]
        lines.extend(f"  {i:3d} {name}" for i, name in enumerate(self.kernel_names))
        lines.extend(f"  replayed only while {description} is as captured" for _, _, description in self.guards)
        if self.graph_steps is not None:
            lines.append(f"replayed as {len(self.graph_steps)} calls (runs of launches as CUDA graphs)")
        return "\n".join(lines)


# ------------------------------------------------------------------ recordings -> plan
def _same_view(a, b) -> bool:
    if type(a) is DeviceArray or _is_device_array(a):
        return (type(b) is type(a) and tuple(a.shape) == tuple(b.shape) and tuple(a.strides) == tuple(b.strides)
                and np.dtype(a.dtype) == np.dtype(b.dtype))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and a.strides == b.strides)
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b) or (a != a and b != b)
    except Exception:  # noqa: BLE001 - no usable ==: identity
        return a is b


def _drawn(source, draws: list) -> Optional[np.ndarray]:
    """The recorded draw whose memory ``source`` (a host array copied to the device) is, if any."""
    if not isinstance(source, np.ndarray):
        return None
    ptr = source.__array_interface__["data"][0]
    for arr in draws:
        if arr.__array_interface__["data"][0] == ptr and arr.nbytes == source.nbytes:
            return arr
    return None


def compare_recordings(first: list, second: list, first_inputs: list = (), second_inputs: list = ()) -> Optional[str]:
    """Why two recordings of consecutive calls of a CUDA step differ (None when they do the same things); the
    ``*_inputs`` are the calls' argument arrays (a CPU one copied to the GPU may carry other bytes)."""
    if len(first) != len(second):
        return (f"consecutive calls launched {len(first)} and {len(second)} kernels: the step's Python takes "
                "different paths from call to call")
    draws_a = [x.array for x in first if isinstance(x, RandomDraw)]
    draws_b = [x.array for x in second if isinstance(x, RandomDraw)]
    for i, (a, b) in enumerate(zip(first, second)):
        if type(a) is not type(b):
            return f"launch {i} differs between consecutive calls ({a.name} vs {b.name})"
        if isinstance(a, CudaLaunch):
            if a.kernel is not b.kernel or tuple(a.griddim) != tuple(b.griddim) \
                    or tuple(a.blockdim) != tuple(b.blockdim) or a.sharedmem != b.sharedmem:
                return f"launch {i} differs between consecutive calls ({a.name} vs {b.name})"
            la, lb = list(leaves(a.args)), list(leaves(b.args))
            if len(la) != len(lb) or not all(_same_view(x, y) for x, y in zip(la, lb)):
                return (f"the arguments of launch {i} ({a.name}) change between consecutive calls: a value "
                        "computed in Python each step (a random seed, a counter) is not capturable yet")
        elif isinstance(a, HostToDevice):
            from_draw = _drawn(a.source, draws_a) is not None and _drawn(b.source, draws_b) is not None
            try:
                position = _input_position(a.source, list(first_inputs))
                from_input = position is not None and position == _input_position(b.source, list(second_inputs))
            except NotCapturable as exc:
                return str(exc)
            if not (_same_view(a.data, b.data) and (from_draw or from_input or _bits_equal(a.data, b.data))):
                return (f"launch {i} ({a.name}) copies other host data on consecutive calls (a value computed on "
                        "the host each step)")
        elif isinstance(a, DeviceToHost):
            if not _bits_equal(a.value, b.value):
                return f"launch {i} ({a.name}) reads another value on consecutive calls"
        elif isinstance(a, RandomDraw):
            if a.method != b.method or not _same_view(a.array, b.array) or repr(a.args) != repr(b.args) \
                    or repr(a.kwargs) != repr(b.kwargs):
                return f"launch {i} ({a.name}) differs between consecutive calls"
        elif isinstance(a, Guard):
            if a.key != b.key or a.value is not b.value:
                return f"{a.name} differs between consecutive calls"
        elif isinstance(a, SchedulerStep):
            reason = scheduler_steps_differ(i, a, b)
            if reason is not None:
                return reason
        elif isinstance(a, OptimizerUpdate):
            if a.optimizer is not b.optimizer or a.args[0] is not b.args[0] or a.args[3] is not b.args[3] \
                    or not all(_same_view(x, y) for x, y in zip(a.args[1:3], b.args[1:3])) \
                    or a.args[4] != b.args[4]:
                return f"optimizer update {i} ({a.name}) works on different state on consecutive calls"
    return None


def build_plan(rec, input_arrays: list, outputs_structure, output_tensors: list, end_grads: list,
               persistent: dict, params: list) -> CudaPlan:
    """The plan of a CUDA step's second recording ``rec``; ``persistent`` maps the id of each storage of the step's
    state to a ``DeviceArray`` on it, ``params`` are the leaf tensors whose ``.grad`` the step may set."""
    launches = rec.launches
    state_arrays = persistent
    persistent = {key: arr.storage for key, arr in state_arrays.items()}
    for launch in launches:
        if isinstance(launch, (KernelLaunch, Fill)):
            raise NotCapturable(f"the CUDA step also runs a CPU kernel ({launch.name}): steps that mix CPU and "
                                "CUDA kernels are not captured (keep the step's tensors on one device)")
        if isinstance(launch, (Collective, CollectiveWait)):
            raise NotCapturable("collectives of numgrad.distributed in a CUDA step are not captured")
    for arr in input_arrays:
        if type(arr) is DeviceArray and id(arr.storage) in persistent:
            raise NotCapturable("a tensor argument shares memory with the step's persistent state (a parameter "
                                "or buffer passed as an argument): pass it through the closure instead")
    memory = _Memory(rec.device_allocations, input_arrays, persistent)
    # first pass: which memory the plan touches (the arena holds only that)
    for launch in launches:
        if isinstance(launch, CudaLaunch):
            memory.note(launch.args)
        elif isinstance(launch, HostToDevice):
            memory.note(launch.target)
        elif isinstance(launch, DeviceToHost):
            memory.note(launch.array)
        elif isinstance(launch, OptimizerUpdate):
            memory.note((launch.args[1], launch.args[2]))
    for t in output_tensors:
        memory.note(t._buf)
    for _, g in end_grads:
        if g is not None:
            memory.note(g._buf)
    memory.place()
    plan = CudaPlan()
    plan.arena = memory.arena
    for k in range(len(input_arrays)):
        stage = memory.staging(k)
        if stage is not None:
            plan.staging.append((k, stage))
    draws = [x.array for x in launches if isinstance(x, RandomDraw)]
    for launch in launches:
        memory.persistent_used = {}
        if isinstance(launch, CudaLaunch):
            args = memory.rebase(launch.args)
            if launch.config is not None:
                fn = launch.config  # numba-cuda's configured launch: calling it launches
            else:
                fn = _SimulatedLaunch(launch.kernel, launch.griddim, launch.blockdim, launch.sharedmem)
            plan.steps.append((fn, args))
        elif isinstance(launch, HostToDevice):
            drawn = _drawn(launch.source, draws)
            position = _input_position(launch.source, input_arrays)
            if drawn is None and launch.source is not None and any(
                    _overlaps_host(launch.source, x) for x in draws):
                raise NotCapturable("a random draw is changed on the host before it is copied to the GPU")
            if position is not None:
                fn = _UploadInput(plan.bound, position, launch.data)
            else:
                fn = _Upload(launch.data if drawn is None else drawn.view(launch.data.dtype).reshape(launch.data.shape))
            plan.steps.append((fn, (memory.rebase(launch.target),)))
            if position is not None:
                plan.kernel_names.append(f"copy tensor argument {position} to the GPU (each call's)")
                plan.touched.append(list(memory.persistent_used))
                continue
        elif isinstance(launch, DeviceToHost):
            plan.steps.append((_CheckRead(launch.value, launch.name), (memory.rebase(launch.array),)))
            plan.checks.append(len(plan.steps) - 1)
        elif isinstance(launch, RandomDraw):
            plan.steps.append((_Draw(launch.method, launch.args, launch.kwargs), (launch.array,)))
        elif isinstance(launch, Guard):
            plan.guards.append((launch.probe, launch.value, launch.description))
            continue
        elif isinstance(launch, SchedulerStep):
            plan.steps.append((_SchedulerCall(launch.method, launch.args, launch.kwargs), ()))
        elif isinstance(launch, OptimizerUpdate):
            group, flat, g, state, parallel = launch.args
            param = next((t for t in params if type(t._buf) is DeviceArray and t._buf.storage is flat.storage), None)
            fn = _UpdateCall(launch.optimizer, launch.method, launch.param_shape, param)
            plan.steps.append((fn, (group, memory.rebase(flat), memory.rebase(g), state, parallel)))
        plan.kernel_names.append(launch.name)
        plan.touched.append(list(memory.persistent_used))
    if any(isinstance(fn, _PYTHON_STATE_STEPS) for fn, _ in plan.steps[:max(plan.checks, default=-1)]):
        raise NotCapturable("numgrad reads a value back from the GPU after an optimizer update or a scheduler step in "
                            "the step (a replay could not be abandoned safely)")
    used = {key for keys in plan.touched for key in keys}
    plan.persistent_ids = used
    plan.persistent_arrays = [persistent[key] for key in used]
    plan.persistent_keys = [(key, state_arrays[key]) for key in used if key in state_arrays]
    plan.outputs = outputs_structure
    plan.output_arrays = [memory.rebase(t._buf) for t in output_tensors]
    for k, t in enumerate(output_tensors):
        if type(t._buf) is DeviceArray and id(t._buf.storage) in persistent:
            plan.live_outputs[k] = t if t._grad_fn is None else None
    for t, g in end_grads:
        if g is not None:
            moved = memory.rebase(g._buf)
            if moved is not g._buf:
                g = Tensor(moved)
        plan.end_grads.append((t, g))
    return plan


def _overlaps_host(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.shares_memory(a, b))


# ------------------------------------------------------------------ verification
def verify(plan: CudaPlan, before: dict, after: dict, inputs_before: list, expected_outputs: list,
           expected_grads: list, eager_grads: list, python_state, rng_states: tuple) -> Optional[str]:
    """Replay ``plan`` from the state ``before`` (id -> (storage, host copy)) with a poisoned arena and compare with
    ``after``; returns why the replay differs, or None.  Either way the state ends as ``after``.  Also finds the
    persistent memory written before the last device read (``plan.undo``: saved and put back around an abandoned
    replay).  ``eager_grads`` are the (tensor, .grad) pairs the eager call left: put back when the replay differs."""
    python_state.put_back(after=False)
    if rng_states[0] is not None:
        creation._rng.bit_generator.state = rng_states[0]
    for own, copy in before.values():
        own.copy_to_device(copy)
    plan.arena.storage.copy_to_device(np.full(plan.arena.nbytes, 0xFF, dtype=np.uint8))  # NaN for every float
    reason = None
    last_check = max(plan.checks, default=-1)
    written: dict = {}
    try:
        for position, stage in plan.staging:
            stage.copy_to_device(inputs_before[position])
        plan.bound[0] = inputs_before
        for i, (fn, args) in enumerate(plan.steps):
            watched = [(key, before[key][0], host_copy(before[key][0])) for key in plan.touched[i]
                       if i < last_check and key in before]
            fn(*args)
            for key, own, copy in watched:
                if not _bits_equal(host_copy(own), copy):
                    written[key] = own
        for t, g in plan.end_grads:
            t.grad = g
    except AbandonReplay as exc:
        reason = f"replaying the captured step failed: {exc}"
    finally:
        plan.bound[0] = None
    if reason is None and sum(o.nbytes for o in written.values()) > _MAX_UNDO_BYTES:
        reason = (f"numgrad reads a value back from the GPU after the step wrote more than {_MAX_UNDO_BYTES >> 20} "
                  "MiB of persistent state (a replay could not be abandoned cheaply)")
    if reason is None:
        for own, copy in after.values():
            if not _bits_equal(host_copy(own), copy):
                reason = ("replaying the captured kernels does not reproduce the eager step's state (a computation "
                          f"outside numgrad's kernels): a buffer of {own.nbytes} bytes differs")
                break
    if reason is None:
        reason = python_state.difference()
    reason = results_reason(reason, plan, expected_outputs, expected_grads, rng_states, DeviceArray.to_host)
    if reason is not None:
        python_state.put_back(after=True)
        for own, copy in after.values():
            own.copy_to_device(copy)
        for t, g in eager_grads:
            t.grad = g
    else:
        plan.undo = [(own, _device_copy_like(own)) for own in written.values()]
    return reason


def undo_unverified(plan: CudaPlan) -> Optional[str]:
    """Without a verification to say which persistent memory the steps before the last device read write, save
    all they touch (``plan.undo``); returns why that cannot be done cheaply, or None."""
    last_check = max(plan.checks, default=-1)
    touched = {key for keys in plan.touched[:last_check] for key in keys}
    owners = [own for own in plan.persistent_arrays if id(own) in touched]
    if sum(o.nbytes for o in owners) > _MAX_UNDO_BYTES:
        return (f"numgrad reads a value back from the GPU after steps that touch more than {_MAX_UNDO_BYTES >> 20} "
                "MiB of persistent state (verify=False cannot tell which of it they write)")
    plan.undo = [(own, _device_copy_like(own)) for own in owners]
    return None


def _device_copy_like(own):
    """Device memory of ``own``'s size for the undo copy."""
    return device_empty((own.nbytes,), np.uint8).storage

