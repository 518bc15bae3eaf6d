"""Recording one eager run of a step: every kernel launch, every optimizer update, every data read.

Every numgrad kernel is a Numba CPU dispatcher, called from Python either directly (the
hand-written kernels of ``kernels/cpu``) or through a generated module's guard
(``kernels.cache._GuardedKernel``).  While a recording is open, ``CPUDispatcher.__call__`` is
replaced at class level by one that notes (dispatcher, arguments, result) and calls the real
one; when no recording is open the class is untouched, so eager code pays nothing.

More things are noted:
- an optimizer's per-parameter update (``Optimizer._update``) is kept as one Python call: its
  scalars (Adam's bias correction, a scheduler's learning rate) come from Python state that
  changes every step, so replay calls it again instead of baking them in;
- a learning-rate scheduler's ``step()`` (``SchedulerStep``) is kept as one Python call too: it changes the
  scheduler's counters and the optimizer's learning rates, which the updates after it read;
- a collective of ``numgrad.distributed`` is noted where it starts and where it completes (through
  ``_profiler_hooks._capture_collective``/``_capture_collective_wait``), with the Python state the step's
  launches depend on (``_capture_guard``); what a replay could not repeat ends the capture (``_capture_break``);
- Python reading tensor data (``.item()``, ``.tolist()``, ``.numpy()``, ``bool(t)``,
  ``np.asarray(t)``) ends the capture: what the step does next may depend on the value;
- a CPU array the backend fills with a number (``backend.full``: ``zeros``, ``full``, ``scalar_tensor``, the
  number of ``masked_fill(m, 2.0)`` or ``t[i] = 0.5``) is a ``Fill`` of the element it wrote, which replay
  writes again; the two recordings compare it like a kernel's scalar;
- on the CUDA backend, every configured launch of a ``@cuda.jit`` kernel (numba-cuda's
  ``CUDADispatcher.call`` on a GPU, the simulator's ``FakeCUDAKernel.__call__``, patched at class
  level like the CPU dispatcher) with its grid and block, every device allocation
  (``numba.cuda.device_array``/``to_device``), every host-to-device copy (``to_device``) and every
  read back of device data by numgrad's own code (``DeviceArray.to_host``: a range check's flag).

>>> import numpy as np, numgrad as ng
>>> x = ng.ones(3)
>>> with Recording(optimizers=()) as rec:
...     y = (x * 2).sum()
...     _ = y._data
>>> len(rec.launches) >= 1, rec.data_reads
(True, [])
"""
from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import Any

import numpy as np
from numba import _dispatcher
from numba.core.registry import CPUDispatcher

from .. import _pending_readers, _profiler_hooks, creation
from ..kernels.cpu import buffer_pool
from ..kernels.cuda import simulator_enabled
from ..kernels.cuda.array import DeviceArray
from ..tensor import Tensor

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_base_call = _dispatcher.Dispatcher.__call__
_active: list = []  # the open Recording (one at a time)
_NOT_SET = object()  # an instance attribute ``Recording`` sets and, on exit, removes again
_lock = threading.Lock()


class GraphBreak(RuntimeError):
    """What ``ng.compile(fn, fullgraph=True)`` raises when ``fn`` cannot be captured whole, with the reason.

    >>> import numgrad as ng
    >>> step = ng.compile(lambda x: x.sum().item(), fullgraph=True)
    >>> _ = step(ng.ones(2))  # the first call runs eagerly (kernels compile)
    >>> try:
    ...     step(ng.ones(2))
    ... except GraphBreak as e:
    ...     print(str(e)[:40])
    tensor data is read in Python (.item()/.
    """


class KernelLaunch:
    """One call of a Numba dispatcher from Python."""

    __slots__ = ("dispatcher", "args", "result", "result_array")

    def __init__(self, dispatcher, args, result):
        self.dispatcher = dispatcher
        self.args = args
        self.result = result
        self.result_array = None  # the 0-d array the returned number was put in (``elementwise._result_array``)

    @property
    def name(self) -> str:
        py = getattr(self.dispatcher, "py_func", None)
        return f"{getattr(py, '__module__', '?')}.{getattr(py, '__name__', 'kernel')}"


class CudaLaunch:
    """One configured launch of a ``@cuda.jit`` kernel from Python: ``kernel[griddim, blockdim, 0, sharedmem](*args)``.

    ``config`` is numba-cuda's ``_LaunchConfiguration`` on a GPU (calling it launches again), None on the simulator.
    """

    __slots__ = ("kernel", "griddim", "blockdim", "sharedmem", "args", "config")

    def __init__(self, kernel, griddim, blockdim, sharedmem, args, config=None):
        self.kernel, self.griddim, self.blockdim, self.sharedmem = kernel, griddim, blockdim, sharedmem
        self.args, self.config = args, config

    @property
    def name(self) -> str:
        py = getattr(self.kernel, "py_func", None)
        return (f"{getattr(py, '__module__', '?')}.{getattr(py, '__name__', 'kernel')}"
                f"[{_dims(self.griddim)}, {_dims(self.blockdim)}] (CUDA)")


def _dims(d) -> str:
    d = tuple(d)
    while len(d) > 1 and d[-1] == 1:
        d = d[:-1]
    return "x".join(map(str, d))


class HostToDevice:
    """A copy of host memory to a fresh device allocation (``numba.cuda.to_device``): ``source`` is the host array
    it read, ``data`` its bytes then, ``target`` the device array made; replay copies again."""

    __slots__ = ("source", "data", "target")

    def __init__(self, source, data, target):
        self.source, self.data, self.target = source, data, target

    @property
    def name(self) -> str:
        return f"copy {self.data.shape} {self.data.dtype} to the GPU"


class DeviceToHost:
    """numgrad's own code reading device data back (``DeviceArray.to_host``: a range check's flag): replay reads it
    again and runs the call eagerly when it differs from ``value``."""

    __slots__ = ("array", "value")

    def __init__(self, array, value):
        self.array, self.value = array, value

    @property
    def name(self) -> str:
        return f"read {self.array.shape} {self.array.dtype} back from the GPU"


class OptimizerUpdate:
    """One ``Optimizer._update(group, flat_param, flat_grad, state, parallel)`` call, replayed as Python."""

    __slots__ = ("optimizer", "method", "args", "param_shape")

    def __init__(self, optimizer, method, args, param_shape):
        self.optimizer = optimizer
        self.method = method
        self.args = args
        self.param_shape = param_shape

    @property
    def name(self) -> str:
        return f"{type(self.optimizer).__name__}._update"


class SchedulerStep:
    """One ``step()`` call of a learning-rate scheduler the step reaches, replayed as Python with the same arguments
    (only the outermost: ``SequentialLR``'s own calls of its schedulers are part of its step)."""

    __slots__ = ("scheduler", "method", "args", "kwargs")

    def __init__(self, scheduler, method, args: tuple, kwargs: dict):
        self.scheduler, self.method, self.args, self.kwargs = scheduler, method, args, kwargs

    @property
    def name(self) -> str:
        return f"{type(self.scheduler).__name__}.step"


class Fill:
    """A fresh array the backend filled with a constant in NumPy (``backend.full``): replay fills it again."""

    __slots__ = ("array", "value")

    def __init__(self, array, value):
        self.array = array
        self.value = value

    @property
    def name(self) -> str:
        value = self.value.item() if isinstance(self.value, np.generic) else self.value
        return f"fill {self.array.shape} {self.array.dtype} with {value!r}"


class RandomDraw:
    """An array drawn from numgrad's default generator (``creation._rng``: dropout masks, ``randn`` in a step).

    Replay draws again, from whatever the default generator is then, so the random stream advances exactly
    as eager's would (``ng.manual_seed`` gives the same masks compiled or not)."""

    __slots__ = ("method", "args", "kwargs", "array")

    def __init__(self, method, args, kwargs, array):
        self.method, self.args, self.kwargs, self.array = method, args, kwargs, array

    @property
    def name(self) -> str:
        return f"random {self.method}{self.array.shape} {self.array.dtype}"


class Collective:
    """A collective ``numgrad.distributed`` started (an all-reduce of a DDP gradient bucket, a broadcast): replay
    starts it again on the same memory at the same point, with the same op, root and communicator.

    ``sent`` holds the bits of the arrays it reads as this call sent them and ``received`` (set when it completes)
    what MPI left in all its arrays: verification replays the step without communicating, checking what the
    replay would send against ``sent`` and using ``received`` as the answer (so a rank that verifies never
    waits on ranks that do not).  ``earlier`` is the same collective of the previous recording (linked by
    ``plan.compare_recordings``): a replay verified against that call uses its data."""

    __slots__ = ("op", "key", "start", "arrays", "reads", "sent", "received", "earlier")

    def __init__(self, op, key, start, arrays, reads):
        self.op, self.key, self.start, self.arrays, self.reads = op, key, start, arrays, reads
        self.sent = [arrays[i].copy() for i in reads]
        self.received = None
        self.earlier = None

    @property
    def name(self) -> str:
        return f"{self.op} (MPI)"


class CollectiveWait:
    """The point where a collective started earlier (``Collective`` at ``start_index``) completes (``Work.wait()``,
    or at once for a blocking call): replay waits there and finishes it (``ReduceOp.AVG``'s division)."""

    __slots__ = ("start_index", "collective")

    def __init__(self, start_index, collective):
        self.start_index, self.collective = start_index, collective

    @property
    def name(self) -> str:
        return f"wait for {self.collective.op} (MPI)"


class Guard:
    """Python state the step's launches depend on (DDP inside ``no_sync()`` or not, the communicator): replay
    runs only while ``probe()`` is still ``value``; else that call runs eagerly."""

    __slots__ = ("key", "probe", "value", "description")

    def __init__(self, key, probe, value, description):
        self.key, self.probe, self.value, self.description = key, probe, value, description

    @property
    def name(self) -> str:
        return f"guard: {self.description}"


class _RecordingGenerator:
    """Stands in for numgrad's default generator while a step is recorded: array draws are noted."""

    _DRAWS = ("random", "standard_normal", "normal", "uniform", "integers", "bernoulli", "exponential", "permutation")

    def __init__(self, real, rec: "Recording"):
        self._real = real
        self._rec = rec

    def __getattr__(self, name):
        value = getattr(self._real, name)
        if name not in self._DRAWS:
            return value

        def draw(*args, **kwargs):
            result = value(*args, **kwargs)
            self._rec._on_draw(name, args, kwargs, result)
            return result

        return draw


def _user_location() -> str:
    """``file:line`` of the innermost frame outside numgrad (where the user's code read the data)."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE_DIR + os.sep):
            return f"{frame.filename}:{frame.lineno}"
    return "inside numgrad"


# the functions a user calls to build a tensor from Python data: ``creation`` and ``Tensor.new_tensor``, and
# the ``out=`` wrapper around the namespace's functions (``_out_arguments``), which only passes the call on
_CREATION_FILES = (os.path.join(_PACKAGE_DIR, "creation.py"), os.path.join(_PACKAGE_DIR, "ops", "tensor_api.py"),
                   os.path.join(_PACKAGE_DIR, "_out_arguments.py"))


def _called_from_user_code() -> bool:
    """Whether the code that called into ``numgrad.creation`` (the innermost frame outside it and
    ``Tensor.new_tensor``'s module) lies outside the numgrad package."""
    frame = sys._getframe(2)
    while frame is not None and os.path.abspath(frame.f_code.co_filename) in _CREATION_FILES:
        frame = frame.f_back
    return frame is not None and not os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR + os.sep)


class Recording:
    """A context manager that records the kernel launches of the code it runs (see the module docstring).

    ``fullgraph=True`` raises ``GraphBreak`` at the first data read instead of noting it.
    """

    def __init__(self, optimizers=(), fullgraph: bool = False, schedulers=(), watch=None):
        self.launches: list = []
        self.data_reads: list = []
        self.device_arrays = False  # a CUDA launch, allocation or transfer was noted
        self.device_allocations: list = []  # numba device arrays allocated during the step (``cuda_plan``)
        self.backward_calls = 0
        self._optimizers = list(optimizers)
        self._schedulers = list(schedulers)
        self._scheduler_depth = 0  # > 0 inside a scheduler's step (a SequentialLR stepping its schedulers)
        # told when each optimizer update and scheduler step (the Python calls a replay repeats) starts and ends
        # (``state.OptimizerStateWatch``: what the step changes in the optimizers' Python state outside them)
        self._watch = watch
        self._fullgraph = fullgraph
        self._thread = threading.get_ident()
        self._depth = 0  # > 0 inside an optimizer update: its kernels belong to the update
        self._saved: list = []
        self._recorded_views: list = []  # views of pooled buffers this recording keeps (``_kept``)
        self.derived: dict = {}  # id(scalar) -> (scalar, array it was read from): kept alive, so ids stay unique
        # id(allocation) -> allocation of each one-element array a Fill wrote that no launch has touched since: a
        # number read out of it is the fill's number (``_on_scalar``)
        self._constant_fills: dict = {}
        self._works: dict = {}  # id(Work) -> (Work, index of its Collective) until it is waited for
        self._waited: dict = {}  # id(Work) -> Work of those waited for already (a second wait() is no event)
        self._guard_keys: set = set()
        # (array, shape_constant) of each tensor built from Python data during the step (``creation._finish``)
        self.python_data: list = []
        self._in_cuda = False
        self._cuda_loaded = False

    # ------------------------------------------------------------ what is noted
    def _on_kernel(self, dispatcher, args, kwargs):
        if self._depth or threading.get_ident() != self._thread:
            return _base_call(dispatcher, *args, **kwargs)
        if kwargs:
            self._break(f"kernel {dispatcher.py_func.__name__} called with keyword arguments")
        result = _base_call(dispatcher, *args)
        self.launches.append(KernelLaunch(dispatcher, self._kept(args), result))
        if self._constant_fills:
            self._touched(leaves(args))
        return result

    def _touched(self, arrays) -> None:
        """A launch or collective passed ``arrays``: a fill among them may hold something else from now on."""
        for a in arrays:
            if isinstance(a, np.ndarray):
                self._constant_fills.pop(id(_pending_readers.owner(a)), None)

    def _on_python_data(self, array, shape_constant: bool) -> None:
        """Note a tensor built from Python data when the user's code asked for it (``ng.tensor``, ``ng.arange``,
        ``ng.rand(generator=g)`` in the step) or numgrad built it from shapes (``shape_constant``); one numgrad
        built for itself otherwise (an index grid) is an ordinary temporary of the plan."""
        if threading.get_ident() != self._thread or not isinstance(array, np.ndarray):
            return
        if shape_constant or _called_from_user_code():
            self.python_data.append((array, shape_constant))

    def _kept(self, args: tuple) -> tuple:
        """``args`` with each view of a pooled buffer replaced by a view only this recording holds
        (``buffer_pool.recorded_view``): the engine's ownership checks then see what they see eagerly (else
        every pooled gradient was copied while recorded, and the plan replayed those copies)."""
        out = []
        for a in args:
            if type(a) is tuple:
                a = self._kept(a)
            elif type(a) is np.ndarray:
                kept = buffer_pool.recorded_view(a)
                if kept is not a:
                    self._recorded_views.append(kept)
                a = kept
            out.append(a)
        return tuple(out)

    def _on_cuda_launch(self, kernel, griddim, blockdim, sharedmem, args, config, launch):
        if self._depth or self._in_cuda or threading.get_ident() != self._thread:
            return launch()
        self._in_cuda = True  # numba-cuda may re-enter its launch path (another dispatcher for this config)
        try:
            launch()
        finally:
            self._in_cuda = False
        self.device_arrays = True
        self.launches.append(CudaLaunch(kernel, griddim, blockdim, sharedmem, tuple(args), config))

    def _on_device_alloc(self, array, source=None):
        if threading.get_ident() != self._thread:
            return
        self.device_arrays = True
        self.device_allocations.append(array)
        if source is not None and not self._depth:
            host = np.array(source, copy=True)
            self.launches.append(HostToDevice(source, host, array))

    def _on_device_read(self, array, value):
        if self._depth or threading.get_ident() != self._thread:
            return
        self.device_arrays = True
        self.launches.append(DeviceToHost(array, np.array(value, copy=True)))

    def _on_update(self, optimizer, method, args):
        if self._depth or threading.get_ident() != self._thread:
            return method(*args)
        self.launches.append(OptimizerUpdate(optimizer, method, args, getattr(optimizer, "_param_shape", None)))
        watch = self._watch
        if watch is not None:
            watch.enter_update(optimizer, args)
        self._depth += 1
        try:
            return method(*args)
        finally:
            self._depth -= 1
            if watch is not None:
                watch.leave_update(optimizer, args)

    def _on_fill(self, array, value):
        if self._depth or threading.get_ident() != self._thread:
            return
        if type(array) is DeviceArray:  # filled by a CUDA kernel, which is recorded
            return
        kept = buffer_pool.recorded_view(array)
        if kept is not array:
            self._recorded_views.append(kept)
        if array.size:
            # the element written, not the number asked for: replay's copy then writes the same bits (a float
            # into an integer array, a bfloat16 word, -0.0) without converting anything again
            value = array.reshape(-1)[0]
        if array.size == 1:
            own = _pending_readers.owner(array)
            self._constant_fills[id(own)] = own
        self.launches.append(Fill(kept, value))

    def _on_scalar(self, value, array):
        if self._depth or threading.get_ident() != self._thread:
            return
        if isinstance(value, np.bool_):  # NumPy's booleans are two shared objects: the value cannot be traced
            if id(_pending_readers.owner(array)) in self._constant_fills:
                # ... but one a recorded fill wrote (``masked_fill(mask, False)``) is that fill's number, which the
                # two recordings compare and the guards cover, like a Python scalar: the kernel keeps it
                return
            self._break("a boolean read from a tensor is passed to a kernel as a scalar")
            return
        self.derived[id(value)] = (value, array)

    def _on_result(self, array):
        if self._depth or threading.get_ident() != self._thread:
            return
        last = self.launches[-1] if self.launches else None
        if isinstance(last, KernelLaunch) and last.result_array is None and not isinstance(last.result, tuple):
            last.result_array = array

    def _on_draw(self, method, args, kwargs, result):
        if self._depth or threading.get_ident() != self._thread:
            return
        if isinstance(result, np.ndarray):
            self.launches.append(RandomDraw(method, args, kwargs, result))
        else:
            self._break(f"a Python number is drawn from numgrad's generator ({method})")

    def _on_scheduler_step(self, scheduler, method, args: tuple, kwargs: dict):
        if self._scheduler_depth or threading.get_ident() != self._thread:
            return method(*args, **kwargs)
        if any(isinstance(a, Tensor) for a in list(args) + list(kwargs.values())):
            # (ReduceLROnPlateau's metric): its value decides the learning rate, so Python reads the tensor
            self._break(f"{type(scheduler).__name__}.step is given a tensor (pass a Python number, or step the "
                        "scheduler outside the compiled step)")
        self.launches.append(SchedulerStep(scheduler, method, args, dict(kwargs)))
        watch = self._watch
        if watch is not None:
            watch.enter_scheduler()
        self._scheduler_depth += 1
        try:
            return method(*args, **kwargs)
        finally:
            self._scheduler_depth -= 1
            if watch is not None:
                watch.leave_scheduler()

    def _on_collective(self, op, key, start, arrays, reads, work):
        if self._depth or threading.get_ident() != self._thread:
            return
        self._works[id(work)] = (work, len(self.launches))
        self.launches.append(Collective(op, key, start, tuple(arrays), tuple(reads)))
        self._touched(arrays)

    def _on_collective_wait(self, work):
        if self._depth or threading.get_ident() != self._thread:
            return
        entry = self._works.pop(id(work), None)
        if entry is None:
            if id(work) not in self._waited:  # a replay would not wait for it: it may still be writing memory
                self._break("a collective started outside the step is waited for inside it (start it in the step)")
            return
        self._waited[id(work)] = work
        collective = self.launches[entry[1]]
        collective.received = [a.copy() for a in collective.arrays]
        self.launches.append(CollectiveWait(entry[1], collective))

    def _on_guard(self, key, probe, value, description):
        if threading.get_ident() != self._thread or key in self._guard_keys:
            return
        self._guard_keys.add(key)  # the first value the step saw: what it was when the step began
        self.launches.append(Guard(key, probe, value, description))

    def _break(self, reason: str) -> None:
        if threading.get_ident() != self._thread:
            return
        if self._fullgraph:
            raise GraphBreak(reason)
        if not self.data_reads:
            self.data_reads.append(reason)

    # ------------------------------------------------------------ opening and closing
    def __enter__(self) -> "Recording":
        with _lock:
            if _active:
                raise RuntimeError("ng.compile: a step is already being captured (nested compiled calls are run "
                                   "eagerly; a second thread cannot capture at the same time)")
            _active.append(self)
        rec = self

        def recording_call(dispatcher, *args, **kwargs):
            return rec._on_kernel(dispatcher, args, kwargs)

        CPUDispatcher.__call__ = recording_call
        self._cuda_loaded = _install_cuda_hooks(self)
        for name in ("_host", "numpy", "__array__"):
            original = Tensor.__dict__[name]
            self._saved.append((Tensor, name, original))
            setattr(Tensor, name, _reading(original, name, self))
        original_bw = _profiler_hooks.backward_started
        self._saved.append((_profiler_hooks, "backward_started", original_bw))

        def backward_started():
            if threading.get_ident() == rec._thread:
                rec.backward_calls += 1
            original_bw()

        _profiler_hooks.backward_started = backward_started
        self._saved.append((_profiler_hooks, "_capture_fill", None))
        _profiler_hooks._capture_fill = self._on_fill
        self._saved.append((_profiler_hooks, "_capture_python_data", None))
        _profiler_hooks._capture_python_data = self._on_python_data
        self._saved.append((_profiler_hooks, "_capture_scalar", None))
        _profiler_hooks._capture_scalar = self._on_scalar
        self._saved.append((_profiler_hooks, "_capture_result", None))
        _profiler_hooks._capture_result = self._on_result
        for name, handler in (("_capture_collective", self._on_collective),
                              ("_capture_collective_wait", self._on_collective_wait),
                              ("_capture_guard", self._on_guard), ("_capture_break", self._break)):
            self._saved.append((_profiler_hooks, name, None))
            setattr(_profiler_hooks, name, handler)
        self._proxy = _RecordingGenerator(creation._rng, self)
        creation._rng = self._proxy
        for opt in self._optimizers:
            method = opt._update  # bound: the subclass's update

            def update(*args, _opt=opt, _method=method):
                return rec._on_update(_opt, _method, args)

            opt.__dict__["_update"] = update
        for sched in self._schedulers:
            method = sched.step  # bound: the subclass's step (or one set on the instance, put back on exit)
            self._saved.append((sched, "step", sched.__dict__.get("step", _NOT_SET)))

            def scheduler_step(*args, _sched=sched, _method=method, **kwargs):
                return rec._on_scheduler_step(_sched, _method, args, kwargs)

            sched.__dict__["step"] = scheduler_step
        return self

    def __exit__(self, *exc) -> None:
        if creation._rng is self._proxy:
            creation._rng = self._proxy._real
        else:  # ng.manual_seed inside the step: keep the user's generator
            self._break("ng.manual_seed is called inside the step")
        try:
            del CPUDispatcher.__call__
        except AttributeError:
            pass
        for owner, name, original in reversed(self._saved):
            if original is _NOT_SET:
                owner.__dict__.pop(name, None)
            else:
                setattr(owner, name, original)
        self._saved.clear()
        for opt in self._optimizers:
            opt.__dict__.pop("_update", None)
        if not self._cuda_loaded and _cuda_module() is not None:  # its launches were not watched
            self._break("CUDA is first used inside the step (call it once eagerly first)")
        buffer_pool.release_recorded(self._recorded_views)
        self._recorded_views = []
        if self._works:  # replay could not know when this rank may touch the memory again
            work, index = next(iter(self._works.values()))
            self._works.clear()
            self._break(f"an asynchronous {self.launches[index].op} started in the step is not waited for "
                        "(call work.wait() inside the step)")
        with _lock:
            _active.remove(self)


def _cuda_module():
    """``numba.cuda`` when numgrad has loaded it (``kernels.cuda.numba_cuda``), else None: CPU-only steps never
    import it."""
    if "numgrad.kernels.cuda" not in sys.modules:
        return None
    return sys.modules["numgrad.kernels.cuda"]._state["cuda"]


def _install_cuda_hooks(rec: Recording) -> bool:
    """Patch numba-cuda's launch path, its allocation functions and ``DeviceArray.to_host`` (restored by
    ``Recording.__exit__`` through ``rec._saved``); False when CUDA is not loaded."""
    cuda = _cuda_module()
    if cuda is None:
        return False
    sim = sys.modules.get("numba.cuda.simulator.kernel") if simulator_enabled() else None
    if sim is not None:
        fake = sim.FakeCUDAKernel
        original = fake.__dict__["__call__"]

        def simulated_call(kernel, *args):
            if kernel._device or sim._kernel_context is not None:  # a device function, or inside a kernel
                return original(kernel, *args)
            grid, block, shared = kernel.grid_dim, kernel.block_dim, kernel.dynshared_size
            return rec._on_cuda_launch(kernel, grid, block, shared, args, None, lambda: original(kernel, *args))

        rec._saved.append((fake, "__call__", original))
        fake.__call__ = simulated_call
    dispatcher_module = None if simulator_enabled() else sys.modules.get("numba.cuda.dispatcher")
    if dispatcher_module is not None:
        cls = dispatcher_module.CUDADispatcher
        original_call = cls.__dict__["call"]

        def gpu_call(dispatcher, args, launch_config):
            return rec._on_cuda_launch(dispatcher, launch_config.griddim, launch_config.blockdim,
                                       launch_config.sharedmem, args, launch_config,
                                       lambda: original_call(dispatcher, args, launch_config))

        rec._saved.append((cls, "call", original_call))
        cls.call = gpu_call
    device_array, to_device = cuda.device_array, cuda.to_device

    def recorded_device_array(*args, **kwargs):
        out = device_array(*args, **kwargs)
        rec._on_device_alloc(out)
        return out

    def recorded_to_device(obj, *args, **kwargs):
        out = to_device(obj, *args, **kwargs)
        if kwargs.get("to") is None and (len(args) < 3 or args[2] is None):
            rec._on_device_alloc(out, obj)
        return out

    rec._saved.extend([(cuda, "device_array", device_array), (cuda, "to_device", to_device)])
    cuda.device_array, cuda.to_device = recorded_device_array, recorded_to_device
    original_to_host = DeviceArray.__dict__["to_host"]

    def to_host(arr):
        value = original_to_host(arr)
        rec._on_device_read(arr, value)
        return value

    rec._saved.append((DeviceArray, "to_host", original_to_host))
    DeviceArray.to_host = to_host
    return True


def _reading(original, name: str, rec: Recording):
    label = {"_host": ".item()/.tolist()", "numpy": ".numpy()", "__array__": "np.asarray(tensor)"}[name]

    def read(self, *args, **kwargs):
        if type(self._buf) is DeviceArray:
            rec.device_arrays = True
        rec._break(f"tensor data is read in Python ({label}, or bool()/float()/int() of a tensor) at "
                   f"{_user_location()}: the rest of the step may depend on the value (to log a loss, return the "
                   "tensor and call .item() outside the compiled step)")
        return original(self, *args, **kwargs)

    read.__name__ = name
    return read


def leaves(value: Any):
    """The non-tuple leaves of a kernel argument (tuples of arrays and numbers are walked)."""
    if type(value) is tuple:
        for v in value:
            yield from leaves(v)
    else:
        yield value
