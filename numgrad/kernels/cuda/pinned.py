"""Page-locked ("pinned") host memory for ``Tensor.pin_memory()`` and factories' ``pin_memory=True``.

A pinned array is a NumPy array over memory that ``numba.cuda.pinned_array`` allocated: the driver can copy
it to and from a GPU by DMA, without staging it through pageable memory.  numgrad remembers which arrays it
allocated that way (a registry of the allocations, keyed weakly), so ``is_pinned`` holds for the copy and for
every view of it.  On Numba's CUDA simulator the allocation is ordinary memory that numgrad still marks pinned:
the simulator stands in for a GPU, and code written for one behaves the same.

Without a usable GPU there is no pinned allocator: ``Tensor.pin_memory()`` raises PyTorch's error for that case
and a factory's ``pin_memory=True`` PyTorch's other one.

>>> import numpy as np
>>> is_pinned_array(np.zeros(3))
False
"""
from __future__ import annotations

import threading
import weakref

import numpy as np

from . import is_available, numba_cuda

# PyTorch 2.13's texts on a machine without an accelerator
NO_ACCELERATOR_FOR_PIN_MEMORY = "Cannot access accelerator device when none is available."
NO_PINNED_ALLOCATOR = ("pin_memory=True requires a CUDA or other accelerator backend; no pinned memory allocator "
                       "is available on this system.")

# id of each pinned allocation (the array numba returned) -> (its first byte's address, one past its last, a weak
# reference to it); the reference's callback drops the entry when the allocation is freed, so memory reused later
# is never taken for pinned.  Addresses, not ``base`` chains, decide: ``as_strided`` views (``empty_strided``)
# hang off a NumPy helper object instead of the array they view
_pinned_allocations: dict = {}
_registry_lock = threading.Lock()  # DataLoader pinning and user threads may allocate at once


def pinned_memory_available() -> bool:
    """Whether page-locked host memory can be allocated here (a usable GPU, or Numba's CUDA simulator).

    >>> isinstance(pinned_memory_available(), bool)
    True
    """
    return is_available()


def _address(arr: np.ndarray) -> int:
    return arr.__array_interface__["data"][0]


def is_pinned_array(arr) -> bool:
    """Whether ``arr`` (any array) lies in page-locked host memory numgrad allocated.

    >>> is_pinned_array(np.ones(2))
    False
    """
    if type(arr) is not np.ndarray or not _pinned_allocations:  # device memory, or no pinned memory at all
        return False
    address = _address(arr)
    with _registry_lock:
        entries = list(_pinned_allocations.values())
    return any(start <= address < end and ref() is not None for start, end, ref in entries)


def _forget(key: int):
    def callback(_ref) -> None:
        with _registry_lock:
            _pinned_allocations.pop(key, None)
    return callback


def pinned_empty(shape: tuple, dtype: np.dtype) -> np.ndarray:
    """An uninitialized C-contiguous host array of ``shape`` and ``dtype`` in page-locked memory.

    Raises ``RuntimeError`` (PyTorch's text for a factory's ``pin_memory=True``) when no GPU is usable."""
    if not pinned_memory_available():
        raise RuntimeError(NO_PINNED_ALLOCATOR)
    dtype = np.dtype(dtype)
    # numba allocates bytes and views them; numgrad's bfloat16 is a uint16 dtype with metadata, which a view keeps
    raw = numba_cuda().pinned_array(max(int(np.prod(shape, dtype=np.int64)), 1) * dtype.itemsize, dtype=np.uint8)
    arr = raw[:int(np.prod(shape, dtype=np.int64)) * dtype.itemsize].view(dtype).reshape(shape)
    start = _address(raw)
    with _registry_lock:
        _pinned_allocations[id(raw)] = (start, start + raw.nbytes, weakref.ref(raw, _forget(id(raw))))
    return arr


def pinned_copy(arr: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of host array ``arr`` in page-locked memory."""
    out = pinned_empty(arr.shape, arr.dtype)
    np.copyto(out, arr, casting="no")
    return out
