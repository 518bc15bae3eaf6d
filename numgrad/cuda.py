"""``numgrad.cuda``: is a GPU there, and waiting for it.

CUDA tensors (``device='cuda'``, ``.cuda()``, ``.to('cuda')``) run kernels
generated from the same op table as the CPU ones, compiled by numba-cuda
(``pip install 'numgrad[cuda]'``).  ``NUMBA_ENABLE_CUDASIM=1`` runs them on
Numba's CUDA simulator instead of a GPU (slow, but correct: the test suite
uses it).

>>> import numgrad as ng
>>> device = "cuda" if ng.cuda.is_available() else "cpu"
>>> ng.ones(2, device=device).device.type == device
True
"""
from __future__ import annotations

from .kernels.cuda import is_available, numba_cuda, simulator_enabled

__all__ = ["is_available", "device_count", "synchronize", "get_device_name", "simulator_enabled"]


def device_count() -> int:
    """How many GPUs numgrad can see (0 without a driver; 1 on the simulator)."""
    if not is_available():
        return 0
    return len(numba_cuda().gpus)


def synchronize() -> None:
    """Wait until every kernel launched so far has finished (kernels run asynchronously on a GPU)."""
    numba_cuda().synchronize()


def get_device_name(device=None) -> str:
    """The GPU's name, e.g. ``'NVIDIA H200'``."""
    dev = numba_cuda().get_current_device()
    name = getattr(dev, "name", "CUDA simulator")
    return name.decode() if isinstance(name, bytes) else str(name)
