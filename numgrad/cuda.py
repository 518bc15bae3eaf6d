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
from collections import namedtuple

from .device import as_device
from .kernels import cuda as _kernels_cuda
from .kernels.cuda import is_available, numba_cuda, simulator_enabled
from .kernels.cuda.array import memory_counters

__all__ = ["is_available", "device_count", "synchronize", "get_device_name", "simulator_enabled", "amp",
           "manual_seed", "manual_seed_all", "initial_seed", "is_initialized", "current_device", "set_device",
           "get_device_properties", "get_device_capability", "is_bf16_supported", "mem_get_info",
           "memory_allocated", "max_memory_allocated", "memory_reserved", "max_memory_reserved",
           "reset_peak_memory_stats", "reset_max_memory_allocated", "empty_cache"]


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


def _no_gpu() -> AssertionError:
    # PyTorch's CPU-only build raises AssertionError ("Torch not compiled with CUDA enabled") for these
    return AssertionError("numgrad.cuda: no GPU is usable (numba-cuda finds no CUDA device): install "
                          "'numgrad[cuda]' and an NVIDIA driver, or set NUMBA_ENABLE_CUDASIM=1 for the simulator")


def _check_device(device) -> None:
    if device is None:
        return
    as_device(f"cuda:{device}" if isinstance(device, int) else device)  # PyTorch's invalid-ordinal error
    if device_count() == 0:
        raise _no_gpu()


def is_initialized() -> bool:
    """Whether numgrad has started CUDA (a CUDA tensor was made, or a GPU was asked for).

    >>> import numgrad as ng
    >>> isinstance(ng.cuda.is_initialized(), bool)
    True
    """
    return _kernels_cuda._state["cuda"] is not None


def current_device() -> int:
    """The index of the GPU CUDA tensors go to: 0 (numgrad uses one GPU); raises without a GPU, as PyTorch."""
    if device_count() == 0:
        raise _no_gpu()
    return 0


def set_device(device) -> None:
    """Choose the GPU: only ``0`` / ``'cuda:0'`` (numgrad uses one GPU)."""
    _check_device(device)


_DeviceProperties = namedtuple("_CudaDeviceProperties", "name major minor total_memory multi_processor_count")


def get_device_properties(device=None):
    """The GPU's name, compute capability (``major``, ``minor``), ``total_memory`` in bytes and
    ``multi_processor_count``, as ``torch.cuda.get_device_properties``."""
    _check_device(device)
    if device_count() == 0:
        raise _no_gpu()
    dev = numba_cuda().get_current_device()
    major, minor = getattr(dev, "compute_capability", (0, 0))
    try:
        total = int(numba_cuda().current_context().get_memory_info()[1])
    except Exception:  # noqa: BLE001 - the simulator has no memory to report
        total = 0
    return _DeviceProperties(get_device_name(), int(major), int(minor), total,
                             int(getattr(dev, "MULTIPROCESSOR_COUNT", 0)))


def get_device_capability(device=None) -> tuple:
    """The GPU's compute capability, ``(major, minor)``."""
    props = get_device_properties(device)
    return props.major, props.minor


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """False: numgrad's CUDA kernels have no bfloat16 (use float16 on the GPU, bfloat16 on the CPU)."""
    return False


def mem_get_info(device=None) -> tuple:
    """(free, total) bytes of the GPU's memory, from the driver."""
    _check_device(device)
    if device_count() == 0:
        raise _no_gpu()
    free, total = numba_cuda().current_context().get_memory_info()
    return int(free), int(total)


def memory_allocated(device=None) -> int:
    """Bytes of GPU memory held by numgrad's tensors now (0 without a GPU, as PyTorch).

    numgrad counts each tensor storage's own bytes (PyTorch rounds blocks up to 512 bytes).

    >>> import numgrad as ng
    >>> ng.cuda.memory_allocated() >= 0
    True
    """
    return memory_counters["allocated"]


def max_memory_allocated(device=None) -> int:
    """The most bytes ``memory_allocated`` reported since the start or the last ``reset_peak_memory_stats``."""
    return memory_counters["peak"]


def memory_reserved(device=None) -> int:
    """Bytes of GPU memory numgrad's allocator holds: the same as ``memory_allocated`` (numba-cuda frees memory
    instead of caching it for reuse)."""
    return memory_counters["allocated"]


def max_memory_reserved(device=None) -> int:
    """The peak of ``memory_reserved`` (see ``max_memory_allocated``)."""
    return memory_counters["peak"]


def reset_peak_memory_stats(device=None) -> None:
    """Start the peaks of ``max_memory_allocated`` / ``max_memory_reserved`` again from what is allocated now."""
    memory_counters["peak"] = memory_counters["allocated"]


reset_max_memory_allocated = reset_peak_memory_stats


def empty_cache() -> None:
    """Release GPU memory freed by tensors that numba-cuda has not handed back yet (its deferred deallocations);
    nothing without a GPU, as PyTorch."""
    if is_initialized():
        pending = getattr(numba_cuda().current_context(), "deallocations", None)  # (none on the simulator)
        if pending is not None:
            pending.clear()
