"""One kernel body, several compiled variants: serial and parallel CPU twins, CPU and CUDA copies.

A CPU kernel is written once with ``prange``; ``serial_and_parallel`` compiles
it twice, as a plain ``@njit`` (where Numba treats ``prange`` as ``range``) and
as ``@njit(parallel=True)``, with the same options.  This is numbagg's way of
building its ``cpu`` and ``parallel`` targets from one function.

Numba's on-disk cache (``cache=True``) names its files after the function's
``__qualname__`` and first line in its source file, and its index is keyed by
signature and target, not by ``parallel=``: two dispatchers built from the
same Python function would read and overwrite each other's cache entries, so
a process could load the serial machine code for the parallel variant.  The
parallel variant therefore compiles a copy of the function whose qualname
carries a suffix (``sgd_step`` -> ``sgd_step_par``), which gives it cache files
of its own.

Launches of either twin compute the same thing, bit for bit only where the body's iterations are
independent (a parallel sum adds in another order): ``register_twins`` notes each pair, and
``computation_of`` names the computation a dispatcher runs, so ``ng.compile`` can tell that a batch
size whose eager code picked the serial twin where another size picked the parallel one runs the
same step (``compiler.plan.launch_structure``).

``rebind`` makes the copies a device needs: the same code object with some of
its global names bound to other objects (the CUDA ``sqrt`` in place of
NumPy's, say), so one plain-Python element body compiles for the CPU with
``njit`` and for the GPU with ``cuda.jit(device=True)``.
"""
from __future__ import annotations

import types
from typing import Any, Callable, NamedTuple

from numba import njit


class Variants(NamedTuple):
    """The serial and parallel dispatchers compiled from one body."""

    serial: Any
    parallel: Any


def renamed_copy(fn: Callable, suffix: str) -> types.FunctionType:
    """A copy of ``fn`` (same code, globals, defaults) whose ``__name__`` and ``__qualname__`` end in ``suffix``.

    >>> def f(x):
    ...     return x + 1
    >>> g = renamed_copy(f, "_par")
    >>> g.__name__, g(1)
    ('f_par', 2)
    """
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + suffix
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__doc__ = fn.__doc__
    copy.__module__ = fn.__module__
    return copy


def rebind(fn: Callable, **names: Any) -> types.FunctionType:
    """A copy of ``fn`` whose global ``names`` are bound to other objects; ``fn`` itself is untouched.

    The copy reads a snapshot of ``fn``'s module globals taken now, which is
    what a jit compiler sees anyway (Numba freezes globals at compile time).

    >>> import math
    >>> def root(x):
    ...     return sqrt(x)
    >>> rebind(root, sqrt=math.sqrt)(4.0)
    2.0
    """
    missing = set(names) - set(fn.__code__.co_names)
    if missing:
        raise ValueError(f"{fn.__qualname__} does not use the global name(s) {sorted(missing)}")
    copy = types.FunctionType(fn.__code__, dict(fn.__globals__, **names), fn.__name__, fn.__defaults__,
                              fn.__closure__)
    copy.__qualname__ = fn.__qualname__
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__doc__ = fn.__doc__
    copy.__module__ = fn.__module__
    return copy


# id(parallel dispatcher) -> (parallel, serial): the dispatchers are kept alive, so an id is never reused
_SERIAL_TWIN: dict = {}


def register_twins(serial: Any, parallel: Any) -> None:
    """Note that ``parallel`` is the ``parallel=True`` twin of ``serial`` (the same body, another schedule)."""
    _SERIAL_TWIN[id(parallel)] = (parallel, serial)


def computation_of(dispatcher: Any) -> Any:
    """The serial twin of a parallel dispatcher registered with ``register_twins``; any other dispatcher itself.

    >>> def double(x, out):
    ...     for i in range(x.shape[0]):
    ...         out[i] = 2 * x[i]
    >>> double, double_par = serial_and_parallel(double)
    >>> computation_of(double_par) is double and computation_of(double) is double
    True
    """
    pair = _SERIAL_TWIN.get(id(dispatcher))
    return dispatcher if pair is None else pair[1]


def serial_and_parallel(fn: Callable, *, suffix: str = "_par", **options: Any) -> Variants:
    """Compile the ``prange`` body ``fn`` as a serial and a ``parallel=True`` Numba dispatcher.

    ``options`` go to both ``njit`` calls (``cache=True``, ``nogil``,
    ``error_model``, ``fastmath``...).  The parallel dispatcher's Python
    function is ``fn`` renamed with ``suffix``, so the two never share an
    on-disk cache entry.  Only a body whose ``prange`` iterations are
    independent (no shared writes, or Numba's scalar reductions) belongs here:
    the parallel variant runs them concurrently.

    >>> import numpy as np
    >>> from numba import prange
    >>> def double(x, out):
    ...     for i in prange(x.shape[0]):
    ...         out[i] = 2 * x[i]
    >>> double, double_par = serial_and_parallel(double)
    >>> out = np.empty(3)
    >>> double_par(np.arange(3.0), out); out
    array([0., 2., 4.])
    >>> double.py_func.__qualname__, double_par.py_func.__qualname__
    ('double', 'double_par')
    """
    if "parallel" in options:
        raise TypeError("serial_and_parallel sets parallel= itself")
    serial = njit(**options)(fn)
    parallel = njit(parallel=True, **options)(renamed_copy(fn, suffix))
    register_twins(serial, parallel)
    return Variants(serial, parallel)
