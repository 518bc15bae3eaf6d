"""CUDA kernels (``@cuda.jit``) and device memory, from the ``numba-cuda`` package.

Nothing here imports ``numba.cuda`` until a CUDA tensor is made or
``numgrad.cuda.is_available()`` is asked, so CPU-only users pay nothing.
``NUMBA_ENABLE_CUDASIM=1`` runs every kernel on Numba's CUDA simulator
(correct, and much faster than a thread per CUDA thread where a kernel allows:
``simulator``): that is how CI tests this code.
"""
from __future__ import annotations

from ...device import register_usable_check
from ..cache import install_cuda_cache_locator
from . import simulator as _simulator

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
        _simulator.install()
    _state["cuda"] = cuda
    return cuda


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
    # kernels launched through numba.cuda directly (not via numba_cuda()) must see the changes too
    _simulator.install()


register_usable_check("cuda", numba_cuda)
