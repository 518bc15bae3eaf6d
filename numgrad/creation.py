"""Creation functions: ``tensor``, ``zeros``, ``arange``, random tensors, ``*_like``.

Creation only allocates or fills fresh memory; it is not a hot path and uses
NumPy directly.  Random numbers come from one seedable PCG64 generator.
"""
from __future__ import annotations

import json
import numbers
from typing import Optional

import numpy as np

from . import _dtypes
from . import _pending_readers
from . import _profiler_hooks as _hooks
from .tensor import _NO_DATA, Tensor, _legacy_constructor_array
from .device import as_device, cpu, get_default_device
from .kernels import backend as _backend
from .kernels import settings as _settings
from .kernels.cuda.pinned import NO_PINNED_ALLOCATOR, pinned_copy, pinned_memory_available

_rng = np.random.default_rng()


def manual_seed(seed: int):
    """Seed numgrad's random number generator (rand, randn, randint, dropout, init).

    >>> import numgrad as ng
    >>> _ = ng.manual_seed(0); a = ng.rand(2)
    >>> _ = ng.manual_seed(0); bool((a == ng.rand(2)).all())
    True
    """
    global _rng, _initial_seed
    _rng = np.random.default_rng(int(seed))
    _initial_seed = int(seed)
    return _rng


def default_generator() -> np.random.Generator:
    return _rng


_initial_seed = None  # the last manual_seed; a fresh seed is drawn from OS entropy the first time it is asked for


def seed() -> int:
    """Seed numgrad's generator from OS entropy and return the seed.

    >>> import numgrad as ng
    >>> s = ng.seed(); ng.initial_seed() == s
    True
    """
    s = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
    manual_seed(s)
    return s


def initial_seed() -> int:
    """The seed numgrad's generator was last seeded with (drawn now if it never was).

    >>> import numgrad as ng
    >>> _ = ng.manual_seed(7); ng.initial_seed()
    7
    """
    return seed() if _initial_seed is None else _initial_seed


def _state_tensor(gen: np.random.Generator) -> Tensor:
    return Tensor(np.frombuffer(json.dumps(gen.bit_generator.state).encode(), dtype=np.uint8).copy())


def _load_state(gen: np.random.Generator, state) -> None:
    if not isinstance(state, Tensor) or state.dtype != _dtypes.uint8 or state.ndim != 1:
        raise TypeError("set_rng_state(): expected a 1-D uint8 tensor from get_rng_state()")
    try:
        gen.bit_generator.state = json.loads(bytes(state.numpy()).decode())
    except (ValueError, TypeError, KeyError) as exc:
        raise RuntimeError(f"set_rng_state(): not a state returned by get_rng_state() ({exc})") from None


def get_rng_state() -> Tensor:
    """The state of numgrad's generator as a uint8 tensor (for :func:`set_rng_state`; not PyTorch's format).

    >>> import numgrad as ng
    >>> s = ng.get_rng_state(); a = ng.rand(2); ng.set_rng_state(s); bool((a == ng.rand(2)).all())
    True
    """
    return _state_tensor(_rng)


def set_rng_state(new_state) -> None:
    """Restore numgrad's generator to a state from :func:`get_rng_state`."""
    _load_state(_rng, new_state)


class Generator:
    """A random number generator to pass as ``generator=`` (rand, randn, randint, multinomial, init, data).

    It wraps a NumPy ``Generator`` (PCG64): the same seed gives the same numbers in numgrad, not
    PyTorch's numbers.

    >>> import numgrad as ng
    >>> g = ng.Generator().manual_seed(42)
    >>> a = ng.rand(2, generator=g); _ = g.manual_seed(42); bool((a == ng.rand(2, generator=g)).all())
    True
    """

    def __init__(self, device="cpu"):
        self.device = as_device(device)
        self._np = np.random.default_rng()
        self._initial_seed = None

    def manual_seed(self, seed: int) -> "Generator":
        self._np = np.random.default_rng(int(seed))
        self._initial_seed = int(seed)
        return self

    def seed(self) -> int:
        s = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self.seed() if self._initial_seed is None else self._initial_seed

    def get_state(self) -> Tensor:
        return _state_tensor(self._np)

    def set_state(self, new_state) -> "Generator":
        _load_state(self._np, new_state)
        return self

    def __getattr__(self, name):
        # random(), standard_normal(), integers(), permutation()...: the NumPy generator's own methods, which is
        # what numgrad's samplers call on any generator they are given
        if name.startswith("__") or name == "_np":
            raise AttributeError(name)
        return getattr(self._np, name)


def _infer_dtype(arr: np.ndarray, data) -> _dtypes.DType:
    if arr.dtype.kind == "f" and not isinstance(data, np.ndarray) and not isinstance(data, np.floating):
        return _dtypes.get_default_dtype()
    if arr.dtype.kind in "iu" and not isinstance(data, np.ndarray):
        return _dtypes.int64
    return _dtypes.from_numpy_dtype(arr.dtype)


def _astype(arr: np.ndarray, dt: _dtypes.DType) -> np.ndarray:
    """``arr`` as ``dt``: NumPy's conversion, except into bfloat16, which NumPy lacks (the cast kernel rounds the
    values to bfloat16 words)."""
    if dt is _dtypes.bfloat16:
        return _backend.copy(arr, dt.np)
    return arr.astype(dt.np)


def sampling_generator(generator):
    """The generator a sampler draws from: ``generator`` when one is given, else numgrad's default one.

    A step that ``ng.compile`` records runs eagerly when it draws from a given generator: a replay draws again
    only from the default generator (``ng.manual_seed``'s), so it would reuse the recorded draws.

    >>> sampling_generator(None) is default_generator()
    True
    """
    if generator is None:
        return _rng
    if _hooks._capture_break is not None:
        _hooks._capture_break("the step draws from a generator passed as generator= (a replay draws again only from "
                              "numgrad's default generator, the one ng.manual_seed seeds): draw from the default "
                              "generator in the step, or draw outside it and pass the tensor in")
    return generator


def _drawn_as(arr: np.ndarray, dt: _dtypes.DType) -> np.ndarray:
    """A draw (float64 or int64) as ``dt``.  While ``ng.compile`` records, the cast is numgrad's copy kernel
    (``backend.copy_as``), so a replay casts the new draw; NumPy's cast would be invisible to it."""
    if dt is _dtypes.bfloat16:
        return _backend.copy(arr, dt.np)
    return _backend.copy_as(arr, dt.np)


def _target(device):
    """The device a factory function puts its tensor on: the one asked for, else the default device."""
    return as_device(device) if device is not None else get_default_device()


def _finish(arr: np.ndarray, requires_grad: bool, device=None, shape_constant: bool = False):
    """A tensor of Python data ``arr`` on ``device`` (ng.compile's recorder is told: replay cannot rebuild it).

    ``shape_constant``: ``arr`` follows from Python numbers only (``arange``'s, ``linspace``'s, ``eye``'s
    arguments), which a compiled step's guards cover as they cover the numbers in ``x * k``: a replay keeps it."""
    out = Tensor(_backend.to_device(arr, _target(device)), requires_grad=requires_grad)
    if _hooks._capture_python_data is not None:
        _hooks._capture_python_data(out._buf, shape_constant)
    return out


def _filled(shape: tuple, value, dtype, requires_grad: bool, device):
    """A tensor of ``value`` everywhere, written by a fill kernel where the memory lives (no host copy)."""
    return Tensor(_backend.full(shape, dtype.np, value, _target(device)), requires_grad=requires_grad)


def _pinned(made: Tensor) -> Tensor:
    """``made`` (a factory's new tensor) copied into page-locked host memory: the factories' ``pin_memory=True``.

    PyTorch's error where no pinned allocator exists (no GPU, no CUDA simulator); a tensor made on a GPU cannot be
    pinned (pinning is for host memory that is copied to a GPU)."""
    if not pinned_memory_available():
        raise RuntimeError(NO_PINNED_ALLOCATOR)
    if made.device.type != "cpu":
        raise RuntimeError(f"Only dense CPU tensors can be pinned (pin_memory=True with device='{made.device}'); "
                           "make the tensor on the CPU, pinned, and copy it with .to(device, non_blocking=True)")
    out = Tensor(pinned_copy(made._data), requires_grad=made.requires_grad)
    if _hooks._capture_python_data is not None:  # a copy ng.compile's replay would not repeat: the step runs eagerly
        _hooks._capture_python_data(out._buf, False)
    return out


def tensor(data, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False):
    """Build a tensor from Python numbers, nested lists or a NumPy array (copies the data).

    Python floats become float32 (the default dtype), ints int64, bools bool.

    >>> import numgrad as ng
    >>> ng.tensor([[1, 2], [3, 4]]).dtype
    numgrad.int64
    >>> ng.tensor(2.0, requires_grad=True)
    tensor(2., requires_grad=True)
    """
    result = _tensor(data, dtype, device, requires_grad, False)
    return _pinned(result) if pin_memory else result


def shape_constant(data, dtype=None, device=None) -> Tensor:
    """``tensor(data)`` for numgrad's own tables computed from shapes and Python arguments only (an
    interpolation's taps, a causal mask): a step ng.compile captures keeps it, since the guards (shapes,
    argument values) cover everything it depends on, where a tensor built from other Python data makes the
    step run eagerly.

    >>> import numpy as np, numgrad as ng
    >>> from numgrad.creation import shape_constant
    >>> shape_constant(np.tril(np.ones((2, 2), dtype=bool)))
    tensor([[ True, False],
            [ True,  True]])
    """
    return _tensor(data, dtype, device, False, True)


def _tensor(data, dtype, device, requires_grad: bool, shape_constant: bool) -> Tensor:
    if isinstance(data, Tensor):
        arr = np.array(data._host(), copy=True)
        if device is None:
            device = data.device
    else:
        try:
            arr = np.array(data, copy=True)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"tensor(): could not build a tensor from {type(data).__name__}: {exc}") from None
        if arr.dtype.kind == "c":
            _dtypes.as_dtype(arr.dtype)  # numgrad's clear error: no complex dtypes
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            raise TypeError(
                f"tensor(): could not infer a numeric dtype from {type(data).__name__} "
                f"(NumPy made dtype {arr.dtype}); pass numbers or nested lists of numbers"
            )
    dt = _dtypes.as_dtype(dtype) if dtype is not None else (
        data.dtype if isinstance(data, Tensor) else _infer_dtype(arr, data)
    )
    if isinstance(data, Tensor):
        if data.dtype is not dt:
            arr = _backend.copy(arr, dt.np)  # the cast kernel (it reads bfloat16 words as values)
    elif arr.dtype != dt.np or dt is _dtypes.bfloat16:
        arr = _astype(arr, dt)
    return _finish(arr, requires_grad, device, shape_constant)


def scalar_tensor(s, *, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A 0-d tensor holding the number ``s`` (of the default dtype unless ``dtype`` is given), as PyTorch's.

    Written by the backend's fill kernel, not copied from a NumPy array: a step ``ng.compile`` captures keeps
    the number as a number (compared between the recorded calls, guarded where the step reads it), the way it
    keeps the scalar of ``x * 0.25``.  numgrad's ops turn the numbers users give them (``masked_fill(m, 2.0)``,
    ``t[i] = 0.5``, ``index_fill``, ``scatter(..., value=...)``) into tensors with it; a tensor the user builds
    from Python data (``tensor``, ``new_tensor``, ``from_numpy``) stays Python data.

    >>> import numgrad as ng
    >>> ng.scalar_tensor(3)
    tensor(3.)
    >>> ng.scalar_tensor(True, dtype=ng.int64)
    tensor(1)
    """
    if not isinstance(s, (numbers.Number, np.bool_)) or isinstance(s, (complex, np.complexfloating)):
        raise TypeError(f"scalar_tensor(): argument 's' (position 1) must be a real number, not {type(s).__name__}")
    dt = _dt(dtype)
    arr = np.array(s)
    if arr.dtype == object:  # an int beyond 64 bits
        raise RuntimeError(f"value cannot be converted to type {dt.name} without overflow: {s}")
    # the value converted as ``tensor(s, dtype=dt)`` converts it (wrapping integers, rounding floats), as a Python
    # number of that dtype, which the fill writes unchanged; bfloat16's fill rounds the float64 value to its word
    value = float(arr) if dt is _dtypes.bfloat16 else arr.astype(dt.np).item()
    result = _filled((), value, dt, requires_grad, device)
    return _pinned(result) if pin_memory else result


def as_tensor(data, dtype=None, device=None):
    """Like :func:`tensor` but without copying when ``data`` already is a matching tensor or array."""
    if isinstance(data, Tensor) and (dtype is None or _dtypes.as_dtype(dtype) == data.dtype):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or _dtypes.as_dtype(dtype).np == data.dtype):
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def asarray(obj, *, dtype=None, device=None, copy: Optional[bool] = None, requires_grad: bool = False):
    """``obj`` as a tensor, sharing memory with a tensor or NumPy array when dtype and device allow
    (``copy=True`` always copies, ``copy=False`` refuses to).

    >>> import numgrad as ng
    >>> ng.asarray([1, 2]).dtype
    numgrad.int64
    """
    if copy:
        out = tensor(obj.detach() if isinstance(obj, Tensor) else obj, dtype=dtype, device=device)
    else:
        out = as_tensor(obj, dtype=dtype, device=device)
        if device is not None and out.device != as_device(device):
            out = out.to(as_device(device))
        shares = out is obj or (isinstance(obj, np.ndarray) and np.shares_memory(out._data, obj))
        if copy is False and not shares and isinstance(obj, (Tensor, np.ndarray)):
            raise ValueError("asarray(): copy=False but the data cannot be shared (dtype or device differ)")
    if requires_grad:
        out = out.detach().requires_grad_(True) if out is obj else out.requires_grad_(True)
    return out


def inclusive_range(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad: bool = False,
                    pin_memory: bool = False):
    """Values from ``start`` to ``end`` INCLUSIVE by ``step``, float by default (deprecated in PyTorch in favour
    of :func:`arange`, kept for old scripts).

    >>> import numgrad as ng
    >>> ng.range(1, 3)
    tensor([1., 2., 3.])
    """
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("range(): step must be nonzero")
    # exported as numgrad.range (named otherwise here so that this module keeps the builtin range)
    count = int(np.floor((end - start) / step)) + 1
    dt = _dt(dtype)
    values = start + step * np.arange(max(count, 0), dtype=np.float64)
    result = _finish(values.astype(dt.np), requires_grad, device, shape_constant=True)
    return _pinned(result) if pin_memory else result


def from_numpy(array: np.ndarray):
    """A tensor that shares memory with ``array``.

    >>> import numpy as np, numgrad as ng
    >>> a = np.zeros(2, dtype=np.float32); t = ng.from_numpy(a); a[0] = 5
    >>> t
    tensor([5., 0.])
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    _dtypes.from_numpy_dtype(array.dtype)
    _pending_readers.mark_escaped(array)  # the caller keeps writing access through ``array``
    return _finish(array, False, cpu)  # NumPy's memory: always the CPU


def _shape(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if len(size) == 1 and hasattr(size[0], "__len__") and not isinstance(size[0], (int, np.integer)):
        size = tuple(size[0])
    out = []
    for n in size:
        if not isinstance(n, (numbers.Integral, np.integer)) or isinstance(n, bool):
            raise TypeError(f"size must contain ints, got {type(n).__name__} ({n!r})")
        if n < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {n}: {list(size)}")
        out.append(int(n))
    return tuple(out)


def _dt(dtype, default=None):
    if dtype is None:
        return default or _dtypes.get_default_dtype()
    return _dtypes.as_dtype(dtype)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False):
    """A tensor of zeros.

    >>> import numgrad as ng
    >>> ng.zeros(2, 3).shape
    (2, 3)
    """
    result = _filled(_shape(size), 0, _dt(dtype), requires_grad, device)
    return _pinned(result) if pin_memory else result


def ones(*size, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False):
    """A tensor of ones.

    >>> import numgrad as ng
    >>> ng.ones(2)
    tensor([1., 1.])
    """
    result = _filled(_shape(size), 1, _dt(dtype), requires_grad, device)
    return _pinned(result) if pin_memory else result


def empty(*size, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False):
    """An uninitialized tensor.

    >>> import numgrad as ng
    >>> ng.empty(3).shape
    (3,)
    """
    if _settings.deterministic_enabled():
        # PyTorch's fill_uninitialized_memory under use_deterministic_algorithms: NaN, or the largest integer
        dt = _dt(dtype)
        result = _filled(_shape(size), uninitialized_fill(dt), dt, requires_grad, device)
        return _pinned(result) if pin_memory else result
    result = Tensor(_backend.empty(_shape(size), _dt(dtype).np, _target(device)), requires_grad=requires_grad)
    return _pinned(result) if pin_memory else result


def uninitialized_fill(dtype):
    """What ``empty`` memory holds under ``use_deterministic_algorithms(True)``, as in PyTorch: NaN for floats,
    True for bool, the largest value for integers.

    >>> uninitialized_fill(_dtypes.int32), uninitialized_fill(_dtypes.bool_)
    (2147483647, True)
    """
    if dtype.is_floating_point:
        return float("nan")
    if dtype is _dtypes.bool_:
        return True
    return int(np.iinfo(dtype.np).max)


def _fill_dtype(value, dtype):
    if dtype is not None:
        return _dtypes.as_dtype(dtype)
    if isinstance(value, (bool, np.bool_)):
        return _dtypes.bool_
    if isinstance(value, (numbers.Integral, np.integer)):
        return _dtypes.int64
    return _dtypes.get_default_dtype()


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False):
    """A tensor filled with ``fill_value`` (its dtype follows the value, as in PyTorch).

    >>> import numgrad as ng
    >>> ng.full((2,), 7)
    tensor([7, 7])
    """
    dt = _fill_dtype(fill_value, dtype)
    result = _filled(_shape((size,)), fill_value, dt, requires_grad, device)
    return _pinned(result) if pin_memory else result


def _like(t, dtype):
    return t.dtype if dtype is None else _dtypes.as_dtype(dtype)


def _like_device(t, device):
    return t.device if device is None else device


# the *_like functions take the shape from a tensor, which needs no validation (backward's implicit
# ones_like(loss) runs every step)
def zeros_like(input, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False):
    """Zeros with the shape (and dtype) of ``input``."""
    result = _filled(input.shape, 0, _like(input, dtype), requires_grad, _like_device(input, device))
    return _pinned(result) if pin_memory else result


def ones_like(input, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False):
    """Ones with the shape (and dtype) of ``input``."""
    result = _filled(input.shape, 1, _like(input, dtype), requires_grad, _like_device(input, device))
    return _pinned(result) if pin_memory else result


def empty_like(input, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False):
    """Uninitialized memory with the shape (and dtype) of ``input``."""
    result = empty(input.shape, dtype=_like(input, dtype), device=_like_device(input, device),
                   requires_grad=requires_grad)
    return _pinned(result) if pin_memory else result


def full_like(input, fill_value, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False):
    """``fill_value`` everywhere, with the shape (and dtype) of ``input``."""
    result = full(input.shape, fill_value, dtype=_like(input, dtype), device=_like_device(input, device),
                  requires_grad=requires_grad)
    return _pinned(result) if pin_memory else result


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False):
    """Values from ``start`` to ``end`` (exclusive) by ``step``.

    >>> import numgrad as ng
    >>> ng.arange(3)
    tensor([0, 1, 2])
    """
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("arange(): step must be nonzero")
    if dtype is None:
        is_float = any(isinstance(v, (float, np.floating)) for v in (start, end, step))
        dt = _dtypes.get_default_dtype() if is_float else _dtypes.int64
    else:
        dt = _dtypes.as_dtype(dtype)
    result = _finish(_astype(np.arange(start, end, step), dt), requires_grad, device, shape_constant=True)
    return _pinned(result) if pin_memory else result


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False,
             pin_memory: bool = False):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive.

    >>> import numgrad as ng
    >>> ng.linspace(0, 1, 3)
    tensor([0.0000, 0.5000, 1.0000])
    """
    result = _finish(_astype(np.linspace(start, end, int(steps)), _dt(dtype)), requires_grad, device,
                     shape_constant=True)
    return _pinned(result) if pin_memory else result


def eye(n: int, m: Optional[int] = None, dtype=None, device=None, requires_grad: bool = False,
        pin_memory: bool = False):
    """Identity matrix of shape (n, m).

    >>> import numgrad as ng
    >>> ng.eye(2)
    tensor([[1., 0.],
            [0., 1.]])
    """
    result = _finish(_astype(np.eye(n, m), _dt(dtype)), requires_grad, device, shape_constant=True)
    return _pinned(result) if pin_memory else result


def rand(*size, dtype=None, device=None, requires_grad: bool = False, generator=None, pin_memory: bool = False):
    """Uniform samples in [0, 1).

    >>> import numgrad as ng
    >>> ng.rand(2, 2).shape
    (2, 2)
    """
    g = sampling_generator(generator)
    dt = _dt(dtype)
    result = _finish(_drawn_as(g.random(_shape(size), dtype=np.float64), dt), requires_grad, device)
    return _pinned(result) if pin_memory else result


def randn(*size, dtype=None, device=None, requires_grad: bool = False, generator=None, pin_memory: bool = False):
    """Standard normal samples.

    >>> import numgrad as ng
    >>> ng.randn(3).shape
    (3,)
    """
    g = sampling_generator(generator)
    dt = _dt(dtype)
    result = _finish(_drawn_as(g.standard_normal(_shape(size)), dt), requires_grad, device)
    return _pinned(result) if pin_memory else result


def randint(low=0, high=None, size=None, dtype=None, device=None, requires_grad: bool = False, generator=None,
            pin_memory: bool = False):
    """Random integers in [low, high): ``randint(high, size)`` or ``randint(low, high, size)``, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.randint(0, 10, (3,)).dtype
    numgrad.int64
    >>> ng.randint(5, (2, 2)).shape
    (2, 2)
    """
    if size is None and isinstance(high, (tuple, list)):
        # randint(high, size): the second positional argument is the size
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint(): argument 'size' must be tuple of ints, not {type(size).__name__}")
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    g = sampling_generator(generator)
    dt = _dt(dtype, _dtypes.int64)
    result = _finish(_drawn_as(g.integers(low, high, size=_shape((size,))), dt), requires_grad, device)
    return _pinned(result) if pin_memory else result


def rand_like(input, dtype=None, requires_grad: bool = False, pin_memory: bool = False):
    """Uniform samples with the shape of ``input``."""
    result = rand(input.shape, dtype=_like(input, dtype), requires_grad=requires_grad)
    return _pinned(result) if pin_memory else result


def randn_like(input, dtype=None, requires_grad: bool = False, pin_memory: bool = False):
    """Normal samples with the shape of ``input``."""
    result = randn(input.shape, dtype=_like(input, dtype), requires_grad=requires_grad)
    return _pinned(result) if pin_memory else result


def randint_like(input, low, high=None, dtype=None, pin_memory: bool = False):
    """Random integers with the shape of ``input``: ``randint_like(x, high)`` or ``randint_like(x, low, high)``."""
    if high is None:
        low, high = 0, low
    result = randint(low, high, tuple(input.shape), dtype=_like(input, dtype))
    return _pinned(result) if pin_memory else result


class _LegacyTensorType(type):
    """The metaclass of ``FloatTensor``, ``LongTensor``, ...: calling one builds a CPU tensor of its dtype
    the way ``torch.Tensor(...)`` does; ``isinstance(t, FloatTensor)`` checks a tensor's dtype and device."""

    def __call__(cls, *args, device=None):
        if device is not None and as_device(device).type != "cpu":
            raise TypeError(f"{cls.__name__}: type {cls.__name__} is a CPU tensor type; build it on the CPU and "
                            "move it with .to(device)")
        return Tensor(_legacy_constructor_array(args[0] if args else _NO_DATA, args[1:], cls.dtype.np))

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype and obj.device.type == "cpu"


def _legacy_type(name: str, dtype: _dtypes.DType):
    doc = (f"``{name}(data)`` / ``{name}(*sizes)``: a CPU tensor of dtype ``{dtype.name}`` (PyTorch's legacy "
           f"constructor); ``isinstance(t, {name})`` is True for such tensors.\n\n"
           f"    >>> import numgrad as ng\n    >>> ng.{name}([1, 2]).dtype\n    numgrad.{dtype.name}\n")
    return _LegacyTensorType(name, (), {"dtype": dtype, "__doc__": doc, "__module__": "numgrad"})


FloatTensor = _legacy_type("FloatTensor", _dtypes.float32)
DoubleTensor = _legacy_type("DoubleTensor", _dtypes.float64)
HalfTensor = _legacy_type("HalfTensor", _dtypes.float16)
LongTensor = _legacy_type("LongTensor", _dtypes.int64)
IntTensor = _legacy_type("IntTensor", _dtypes.int32)
ShortTensor = _legacy_type("ShortTensor", _dtypes.int16)
CharTensor = _legacy_type("CharTensor", _dtypes.int8)
ByteTensor = _legacy_type("ByteTensor", _dtypes.uint8)
BoolTensor = _legacy_type("BoolTensor", _dtypes.bool_)
