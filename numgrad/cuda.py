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

from .amp import cuda_amp as amp
from .creation import initial_seed as _initial_seed, manual_seed as _manual_seed
from .kernels.cuda import is_available, numba_cuda, simulator_enabled

__all__ = ["is_available", "device_count", "synchronize", "get_device_name", "simulator_enabled", "amp",
           "manual_seed", "manual_seed_all", "initial_seed"]


def manual_seed(seed: int) -> None:
    """Seed the generator CUDA tensors draw from: numgrad's one default generator (random CUDA tensors are drawn by
    it and copied to the GPU), so this is ``ng.manual_seed(seed)`` (it also reseeds the CPU's draws, which PyTorch's
    separate CUDA generator would not).

    >>> import numgrad as ng
    >>> ng.cuda.manual_seed(0); a = ng.rand(2); ng.cuda.manual_seed(0); bool((a == ng.rand(2)).all())
    True
    """
    _manual_seed(seed)


def manual_seed_all(seed: int) -> None:
    """``manual_seed`` for every GPU: numgrad's GPUs share its one default generator."""
    _manual_seed(seed)


def initial_seed() -> int:
    """The seed of the generator CUDA tensors draw from (numgrad's default generator)."""
    return _initial_seed()


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
