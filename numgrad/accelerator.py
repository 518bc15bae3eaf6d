"""``numgrad.accelerator``: PyTorch's device-agnostic accelerator API (``torch.accelerator``).

numgrad's one accelerator is CUDA (one GPU, ``cuda:0``, through numba-cuda; Numba's CUDA simulator counts
as one when ``NUMBA_ENABLE_CUDASIM=1``).  Without it, the functions answer as PyTorch's do on a CPU-only
build: ``is_available()`` is False, ``current_accelerator()`` is None, and the ones that need a device raise.

>>> import numgrad as ng
>>> device = ng.accelerator.current_accelerator(check_available=True) or ng.device("cpu")
>>> ng.ones(2, device=device).device.type == device.type
True
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional, Union

from . import cuda as _cuda
from .device import Device

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index", "current_device_idx",
           "set_device_index", "set_device_idx", "device_index", "synchronize"]

_NONE = "Cannot access accelerator device when none is available."


def is_available() -> bool:
    """Whether an accelerator (a CUDA GPU or the CUDA simulator) can run numgrad's kernels now.

    >>> isinstance(is_available(), bool)
    True
    """
    return _cuda.is_available()


def current_accelerator(check_available: bool = False) -> Optional[Device]:
    """``device(type='cuda')`` when numgrad can run CUDA kernels here, else None.

    PyTorch answers from its build; numgrad's CUDA support exists exactly when a device (or the simulator) is
    reachable, so ``check_available`` changes nothing.

    >>> current_accelerator() in (None, Device("cuda"))
    True
    """
    return Device("cuda") if _cuda.is_available() else None


def device_count() -> int:
    """How many accelerator devices numgrad can use (0 or 1: numgrad runs on one GPU).

    >>> device_count() in (0, 1)
    True
    """
    return min(_cuda.device_count(), 1)


def _require() -> None:
    if not _cuda.is_available():
        raise RuntimeError(_NONE)


def _index_of(device: Union[Device, str, int, None]) -> int:
    if device is None:
        return 0
    if isinstance(device, int) and not isinstance(device, bool):
        index = device
    else:
        dev = Device(device)
        if dev.type != "cuda":
            raise ValueError(f"{dev} doesn't match the current accelerator cuda.")
        index = dev.index or 0
    if index != 0:
        raise RuntimeError(f"CUDA error: invalid device ordinal (numgrad uses one GPU, index 0; got {index})")
    return index


def current_device_index() -> int:
    """The index of the current accelerator device: 0, numgrad's one GPU.

    >>> current_device_index() if is_available() else 0
    0
    """
    _require()
    return 0


def set_device_index(device: Union[Device, str, int]) -> None:
    """Make ``device`` the current accelerator device; numgrad has one, so only index 0 is accepted.

    >>> set_device_index(0) if is_available() else None
    """
    _require()
    _index_of(device)


current_device_idx = current_device_index
set_device_idx = set_device_index


@contextmanager
def device_index(device: Optional[int]) -> Iterator[None]:
    """Context manager that makes ``device`` current inside its block (None: no change).

    >>> with device_index(None):
    ...     pass
    """
    if device is not None:
        set_device_index(device)
    yield


def synchronize(device: Union[Device, str, int, None] = None) -> None:
    """Wait until every kernel launched on the accelerator has finished.

    >>> synchronize() if is_available() else None
    """
    _require()
    _index_of(device)
    _cuda.synchronize()
