"""Reuse of large CPU buffers whose arrays are gone (the idea of PyTorch's caching allocator).

A fresh 40 MB NumPy array costs ~2 ms of page faults the first time it is
written (the kernel hands out zeroed pages), more than the fused kernel that
fills it: W1's backward at 1e7 spent half its time there when every step set
``x.grad = None``.  Buffers handed out here are views of a byte array the pool
owns; NumPy makes every view of a view refer to that owner, so the owner's
reference count says exactly whether anything - the tensor, a user's
``.numpy()``, a DLPack capsule, a memoryview - still sees the memory.  Only
then is it handed out again.

Only arrays of at least ``MIN_BYTES`` are pooled, and the pool keeps at most
``MAX_BYTES`` of owners (idle ones are dropped first), so memory held beyond
what the program uses stays bounded.  ``release_all()`` drops the idle ones.
"""
from __future__ import annotations

import os
import sys
import threading

import numpy as np

MIN_BYTES = 1 << 20
MAX_BYTES = int(os.environ.get("NUMGRAD_POOL_MAX_BYTES", 512 << 20))
_owners: list = []  # byte arrays; each entry is the pool's own reference
# Seeing an owner idle and handing out a view of it is one step: two threads must not both take it.
_lock = threading.Lock()


def _idle_at(i: int) -> bool:
    # always the same expression, so the count is the calibrated one: the list entry + the argument
    return sys.getrefcount(_owners[i]) <= _IDLE_REFS


_probe = [np.empty(1, dtype=np.uint8)]
_IDLE_REFS = sys.getrefcount(_probe[0])
del _probe


def empty(shape, dtype) -> np.ndarray:
    """Like ``np.empty(shape, dtype)``; large requests reuse an idle pooled buffer of the same size."""
    dtype = np.dtype(dtype)
    nbytes = dtype.itemsize
    for n in shape:
        nbytes *= n
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    with _lock:
        for i in range(len(_owners)):
            if _owners[i].size == nbytes and _idle_at(i):
                return _owners[i].view(dtype).reshape(shape)
        owner = np.empty(nbytes, dtype=np.uint8)
        if _make_room(nbytes):
            _owners.append(owner)
        return owner.view(dtype).reshape(shape)


def _make_room(nbytes: int) -> bool:
    """Drop idle owners (oldest first) until ``nbytes`` more fit under MAX_BYTES; whether they fit (the caller
    holds ``_lock``)."""
    total = sum(o.size for o in _owners) + nbytes
    i = 0
    while total > MAX_BYTES and i < len(_owners):
        if _idle_at(i):
            total -= _owners.pop(i).size
        else:
            i += 1
    return total <= MAX_BYTES


def _base_refs(arr) -> int:
    owner = arr.base
    return sys.getrefcount(owner)


def is_sole_view(arr: np.ndarray) -> bool:
    """True when ``arr`` is a pooled buffer that no other array, tensor or export sees.

    The autograd engine takes ownership of a fresh gradient array instead of copying it; a pooled one is a
    view of the pool's owner, and is just as fresh when it is that owner's only view.  Views an
    ``ng.compile`` recording keeps of kernel arguments (``recorded_view``) do not count: a step decides
    the same while it is recorded as it does eagerly.
    """
    refs = _base_refs(arr)  # before naming the owner here, which would add a reference
    owner = arr.base
    if refs - _recorded_refs.get(id(owner), 0) > _SOLE_REFS:
        return False
    return any(o is owner for o in _owners)


# id(owner) -> how many views of it ng.compile's recorder holds (each view adds one reference to its owner);
# the recorder releases them (``release_recorded``) when its recording ends
_recorded_refs: dict = {}


def recorded_view(arr: np.ndarray) -> np.ndarray:
    """``arr``, or when it views a pooled buffer a new view of it (same memory, shape, strides, dtype) that
    ``is_sole_view`` does not count; a recorder keeps it so the memory is not handed out during the step.

    >>> a = np.ones(3)
    >>> recorded_view(a) is a
    True
    """
    owner = arr.base
    if owner is None or not any(o is owner for o in _owners):
        return arr
    view = arr.view()
    _recorded_refs[id(owner)] = _recorded_refs.get(id(owner), 0) + 1
    return view


def release_recorded(arrays: list) -> None:
    """Count the views from ``recorded_view`` among ``arrays`` again (the recording that holds them ended)."""
    for arr in arrays:
        key = id(arr.base)
        left = _recorded_refs.get(key, 0) - 1
        if left > 0:
            _recorded_refs[key] = left
        else:
            _recorded_refs.pop(key, None)


def _calibrate_sole() -> int:
    _owners.append(np.empty(1, dtype=np.uint8))
    view = _owners[-1].view(np.uint8)
    refs = _base_refs(view)  # the list entry, the view's base, the local name and the argument
    del view
    _owners.pop()
    return refs


_SOLE_REFS = _calibrate_sole()


def release_all() -> None:
    """Give idle pooled buffers back to the system."""
    with _lock:
        for i in reversed(range(len(_owners))):
            if _idle_at(i):
                del _owners[i]


def pooled_bytes() -> int:
    return sum(o.size for o in _owners)
