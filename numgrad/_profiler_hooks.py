"""Profiler hooks: the events numgrad's core reports, and nothing else.

The bottom of the profiler: kernels (``kernels.cache._GuardedKernel``, the
map/reduce launchers), the autograd engine and ``Function.apply``, and fusion
call these hooks; the reports built on the recorded events (``profile``,
``compare``, bandwidth) live in ``numgrad.profiler`` on top of everything.
This module imports nothing of numgrad but the op IR (for the op names a
fused kernel computes).

With profiling off every hook costs one attribute check: callers write
``if _hooks._ACTIVE and _hooks._outer(key): return _hooks._op(...)``.

>>> import numgrad._profiler_hooks as hooks
>>> hooks._ACTIVE
False
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

import numpy as np

from .ir import expr as ex

# ng.compile's capture (numgrad.compiler.recorder): while a step is recorded, a function called with each array
# the backend fills with a constant in NumPy (no kernel to record), so replay refills it; None otherwise
_capture_fill: Optional[Callable] = None
# ... and one called with (array, shape_constant) for each tensor a factory builds from Python data (``tensor``,
# ``arange``, ``from_numpy``, ...): replay cannot build it again, so verification checks that the captured step
# never reads what it held; ``shape_constant``: numgrad's own table computed from shapes and arguments only (an
# interpolation's taps, a causal mask), which the guards cover, so the plan keeps it
_capture_python_data: Optional[Callable] = None
# ... and one called with each scalar a map kernel gets read out of an array (a 0-d result, a broadcast
# gradient), so replay reads it from that memory again instead of baking in this step's value
_capture_scalar: Optional[Callable] = None
# ... and one called with the 0-d array a reduction kernel's returned number was put in (replay writes it there)
_capture_result: Optional[Callable] = None
# ... and one called with each collective numgrad.distributed runs on arrays (``name, key, start, arrays, work``:
# ``start(*arrays)`` runs it again, returning (MPI request or None, finish or None); ``work`` is the Work of an
# async call), and one called with such a Work when ``wait()`` completes it: replay communicates at those points
_capture_collective: Optional[Callable] = None
_capture_collective_wait: Optional[Callable] = None
# ... and one called with (key, probe, value, description): replay only while ``probe()`` still returns ``value``
# (DDP's ``require_backward_grad_sync`` as the step found it: inside ``no_sync()`` or not); the first per key counts
_capture_guard: Optional[Callable] = None
# ... and one called with a reason when numgrad code does something a replay could not repeat (a point-to-point
# message, NumPy arithmetic on a non-contiguous gradient): the step runs eagerly, or raises under fullgraph=True
_capture_break: Optional[Callable] = None
_ACTIVE = False  # read by the hooks in cache.py, function.py, lazy.py, backward.py, elementwise.py, deferred.py
_bypass: Any = None  # the object whose next hooked call is the profiler's own re-call

_perf = time.perf_counter
_events: list = []  # events of every open profile (nested profiles slice it)
_stack: list = []  # open op scopes (innermost last)
_open_profiles = [0]
_annotation: Any = None  # what the next map/reduce launch computes (set by run_map / run_reduce)
_bw_depth = [0]  # open backward scopes: the engine's run_backward and backward op scopes
_kernel_names: dict = {}
_op_names: dict = {}


def _outer(key) -> bool:
    """False exactly once after the profiler re-calls a hooked function for ``key``."""
    global _bypass
    if _bypass is key:
        _bypass = None
        return False
    return True


def _annotate(roots, n_out: int, shape, reducer: Optional[str] = None) -> None:
    """run_map/run_reduce: the expression, number of outputs and shape of the next launch."""
    global _annotation
    _annotation = (roots, n_out, shape, reducer)


class _Event:
    __slots__ = ("kind", "name", "variant", "ops", "op", "phase", "start", "total", "compile", "compile_kind",
                 "shapes", "dtypes", "bytes_read", "bytes_written", "parent", "out_shape", "child_time",
                 "exact_bytes")

    def __init__(self, kind, name, phase, parent):
        self.kind = kind
        self.name = name
        self.variant = ""
        self.ops = ()
        self.op = parent.name if parent is not None else ""
        self.phase = phase
        self.start = 0.0
        self.total = 0.0
        self.compile = 0.0
        self.compile_kind = ""
        self.shapes = ()
        self.dtypes = ()
        self.bytes_read = 0
        self.bytes_written = 0
        self.parent = parent
        self.out_shape = None
        self.child_time = 0.0
        self.exact_bytes = False


def _in_backward() -> bool:
    return _bw_depth[0] > 0


def backward_started() -> None:
    """The autograd engine entered ``run_backward``: events from now on are ``backward`` ones.

    Called on every backward pass, profiling or not (one list update is cheaper than asking).

    >>> backward_started(); _in_backward()
    True
    >>> backward_finished(); _in_backward()
    False
    """
    _bw_depth[0] += 1


def backward_finished() -> None:
    """The matching end of ``backward_started`` (the engine calls it in a ``finally``)."""
    _bw_depth[0] -= 1


def open_scope(name: str, phase: Optional[str] = None, ops=None) -> _Event:
    """Start a timed op scope (an op, or a user's ``record_function`` range); ``close_scope`` ends it."""
    parent = _stack[-1] if _stack else None
    backward = phase == "backward"
    if not backward:
        backward = parent.phase == "backward" if parent is not None else _in_backward()
    ev = _Event("op", name, "backward" if backward else "forward", parent)
    if ops:
        ev.ops = tuple(ops)
    _events.append(ev)
    _stack.append(ev)
    if backward:
        _bw_depth[0] += 1
    ev.start = _perf()
    return ev


def close_scope(ev: _Event) -> None:
    """End the scope ``open_scope`` started (the innermost open one)."""
    ev.total = _perf() - ev.start
    if ev.phase == "backward":
        _bw_depth[0] -= 1
    _stack.pop()
    if ev.parent is not None:
        ev.parent.child_time += ev.total


def _op(name: str, phase: Optional[str], fn: Callable, args: tuple, kwargs: dict, key, ops=None):
    """Run ``fn(*args, **kwargs)`` (a hooked function, re-called past its hook) as a timed op scope."""
    global _bypass
    ev = open_scope(name, phase, ops)
    _bypass = key
    try:
        return fn(*args, **kwargs)
    finally:
        if _bypass is key:
            _bypass = None
        close_scope(ev)


def _kernel_name(dispatcher) -> tuple:
    key = id(dispatcher)
    hit = _kernel_names.get(key)
    if hit is None or hit[0] is not dispatcher:
        py = getattr(dispatcher, "py_func", None)
        module = getattr(py, "__module__", "") or ""
        short = module.rsplit(".", 1)[-1]
        prefix, _, digest = short.partition("_")
        func = getattr(py, "__name__", "kernel")
        parallel = bool(getattr(dispatcher, "targetoptions", {}).get("parallel"))
        name = f"{prefix}_{digest[:8]}.{func}" if digest else f"{short}.{func}"
        hit = _kernel_names[key] = (dispatcher, name, "parallel" if parallel else "serial")
    return hit[1], hit[2]


def _op_names_of(roots, reducer) -> tuple:
    key = (roots, reducer)
    names = _op_names.get(key)
    if names is None:
        names = [n.op for n in ex.postorder(list(roots)) if n.op not in ("var", "const")
                 and not n.op.startswith("cast_")]
        if reducer:
            names.append(reducer)
        names = _op_names[key] = tuple(names)
    return names


_type_names: dict = {}


def _type_name(d) -> str:
    name = _type_names.get(d)
    if name is None:
        name = _type_names[d] = d.__name__ if isinstance(d, type) else d.name
    return name


def _touched(a) -> int:
    """Bytes of memory an array view covers (broadcast dims, stride 0, count once)."""
    strides = a.strides
    if 0 not in strides:
        return a.nbytes
    n = a.itemsize
    for size, stride in zip(a.shape, strides):
        if stride:
            n *= size
    return n


def _launch(kernel, args: tuple):
    """Time one generated-kernel launch, splitting compile / cache-load time from run time."""
    global _bypass, _annotation
    ann = _annotation
    _annotation = None
    dispatcher = kernel.dispatcher
    parent = _stack[-1] if _stack else None
    ev = _Event("kernel", "", parent.phase if parent is not None else
                "backward" if _in_backward() else "forward", parent)
    ev.name, ev.variant = _kernel_name(dispatcher)
    shapes, dtypes, arrays = [], [], []
    for a in args:
        if type(a) is np.ndarray or isinstance(a, np.ndarray):
            shapes.append(a.shape)
            dtypes.append(a.dtype)  # the dtype object: `.name` costs microseconds, resolved in to_records
            arrays.append(_touched(a))
        else:
            shapes.append(())
            dtypes.append(type(a))
    ev.shapes, ev.dtypes = tuple(shapes), tuple(dtypes)
    if ann is not None:
        roots, n_out, shape, reducer = ann
        ev.ops = _op_names_of(tuple(roots), reducer)
        ev.out_shape = tuple(shape)
        ev.bytes_written = sum(arrays[:n_out])
        ev.bytes_read = sum(arrays[n_out:])
        ev.exact_bytes = True
    else:
        ev.bytes_read = sum(arrays)
    # compile / disk-load happen inside dispatcher.compile, which Numba's dispatch calls through the
    # instance attribute: time it with a per-call wrapper and classify with the cache hit/miss counters
    box = [0.0, ""]
    original = dispatcher.compile

    def timed_compile(sig):
        hits = sum(getattr(dispatcher, "_cache_hits", {}).values())
        misses = sum(getattr(dispatcher, "_cache_misses", {}).values())
        t = _perf()
        try:
            return original(sig)
        finally:
            box[0] += _perf() - t
            if sum(getattr(dispatcher, "_cache_misses", {}).values()) > misses:
                box[1] = "compile"
            elif sum(getattr(dispatcher, "_cache_hits", {}).values()) > hits and box[1] != "compile":
                box[1] = "load"

    dispatcher.compile = timed_compile
    _bypass = kernel
    t0 = _perf()
    try:
        result = kernel(*args)
    finally:
        t1 = _perf()
        try:
            del dispatcher.compile
        except AttributeError:
            pass
        if _bypass is kernel:
            _bypass = None
    if isinstance(result, np.ndarray):
        ev.bytes_written += _touched(result)
    ev.start = t0
    ev.total = t1 - t0
    ev.compile = box[0]
    ev.compile_kind = box[1] if box[0] else ""
    if parent is not None:
        parent.child_time += ev.total
    _events.append(ev)
    return result


# --------------------------------------------------------------------------- open / close a profile
def _start_profiling() -> int:
    global _ACTIVE
    _open_profiles[0] += 1
    _ACTIVE = True
    return len(_events)


def _stop_profiling(start: int) -> list:
    global _ACTIVE, _annotation
    events = _events[start:]
    _open_profiles[0] -= 1
    if _open_profiles[0] == 0:
        _ACTIVE = False
        _annotation = None
        _events.clear()
        _stack.clear()
    return events
