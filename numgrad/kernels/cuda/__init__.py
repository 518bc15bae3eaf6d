"""CUDA kernels (``@cuda.jit``) and device memory, from the ``numba-cuda`` package.

Nothing here imports ``numba.cuda`` until a CUDA tensor is made or
``numgrad.cuda.is_available()`` is asked, so CPU-only users pay nothing.
``NUMBA_ENABLE_CUDASIM=1`` runs every kernel on Numba's CUDA simulator
(correct, about 0.1 ms per simulated thread): that is how CI tests this code.
"""
from __future__ import annotations

import sys

from ...device import register_usable_check
from ..cache import install_cuda_cache_locator

_state = {"cuda": None}


def numba_cuda():
    """The ``numba.cuda`` module; a clear error when numba-cuda is missing or no GPU is usable."""
    mod = _state["cuda"]
    if mod is not None:
        return mod
    try:
        from numba import cuda
    except ImportError as exc:  # pragma: no cover - numba ships a stub package
        raise RuntimeError(
            "CUDA support needs the numba-cuda package: pip install 'numgrad[cuda]'"
        ) from exc
    install_cuda_cache_locator()  # a read-only install caches CUDA kernels in numgrad's cache dir too
    if not cuda.is_available():
        raise RuntimeError(
            "Found no NVIDIA driver on your system (numba-cuda reports no usable GPU). "
            "Use device='cpu', or set NUMBA_ENABLE_CUDASIM=1 to run CUDA kernels on Numba's simulator."
        )
    if simulator_enabled():
        _serialize_simulated_shared_arrays()
    _state["cuda"] = cuda
    return cuda


def _serialize_simulated_shared_arrays() -> None:
    """Make the simulator's ``cuda.shared.array`` race-free.

    numba-cuda's simulator (0.30) creates a block's shared array the first time a
    thread asks for it, with an unlocked check-then-insert: two threads of one
    block could each make their own array and then reduce or multiply through
    different "shared" memory - a wrong result now and then (seen in numgrad's
    tree reductions and tiled matmul).  This is the same lookup (allocations keyed
    by the calling line, as the simulator does) under a lock.
    """
    import threading

    import numpy as np
    from numba.core import types
    from numba.cuda.simulator import kernelapi
    from numba.np import numpy_support

    shared_cls = kernelapi.FakeCUDAShared
    if getattr(shared_cls, "_numgrad_locked", False):
        return
    lock = threading.Lock()
    dynamic = shared_cls.array

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:
            return dynamic(self, shape, dtype, alignment)  # one buffer for all, or the simulator's own error
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)
        with lock:
            res = self._allocations.get(key)
            if res is None:
                res = self._allocations[key] = np.empty(shape, dtype)
        return res

    shared_cls.array = array
    shared_cls._numgrad_locked = True


def is_available() -> bool:
    """True when CUDA kernels can run: a GPU with a driver, or Numba's CUDA simulator.

    >>> import numgrad as ng
    >>> isinstance(ng.cuda.is_available(), bool)
    True
    """
    try:
        numba_cuda()
    except Exception:  # noqa: BLE001 - any failure to reach a device means "not available"
        return False
    return True


def simulator_enabled() -> bool:
    """True when ``NUMBA_ENABLE_CUDASIM=1``: kernels run in Python on the CPU."""
    from numba.core import config

    # numba reads the variable once, at import: its config is the truth
    return bool(config.ENABLE_CUDASIM)


if simulator_enabled():
    # kernels launched through numba.cuda directly (not via numba_cuda()) must see the lock too
    _serialize_simulated_shared_arrays()


register_usable_check("cuda", numba_cuda)
