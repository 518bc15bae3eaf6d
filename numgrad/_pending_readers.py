"""Who still has to read a buffer: deferred computations registered against the memory they read.

A lazy fused op (``numgrad.fusion.lazy.LazyOp``) reads its input buffers only
when it is computed.  Before anything writes one of those buffers in place,
the writer calls ``flush_readers(array)``, which computes every pending reader
of that memory first, so the deferred value is the one it would have had when
it was recorded.  The table lives here, below ``numgrad.tensor``, because the
writers sit at every layer (``Tensor.numpy()``, autograd's in-place check,
ops, optimizers).

A reader is any object with ``realize()`` (computes it), ``result`` (None
until computed) and ``operands`` (None once it no longer needs its inputs).

>>> import numpy as np
>>> class Reader:
...     result, operands = None, ()
...     def realize(self):
...         self.result = "done"
>>> buf, r = np.zeros(3), Reader()
>>> register([key_of(buf)], r)
>>> flush_readers(buf); r.result
'done'
"""
from __future__ import annotations

import threading
import weakref

import numpy as np

# owner array id (or a pending reader's id, for readers of a not-yet-computed value)
#   -> weak references to pending readers of that memory
_pending: dict = {}
_pending_entries = [0, 4096]  # entries now, size that triggers the next clean-up
# Threads record independent graphs at once: every change to the table holds this lock (uncontended it
# costs tens of nanoseconds); computing a reader happens outside it, since that records and flushes too.
_lock = threading.Lock()


# Memory that NumPy or another framework can also write (handed out by .numpy(), np.asarray, DLPack, or
# adopted by from_numpy): the barrier cannot see those writes, so an op reading it is computed when it is
# recorded.  owner id -> weak reference whose callback drops the entry when the owner is freed.
_escaped: dict = {}


def mark_escaped(arr) -> None:
    """``arr``'s memory can be written behind numgrad's back from now on.

    >>> import numpy as np
    >>> a = np.zeros(3); mark_escaped(a[1:]); key_of(a) in _escaped
    True
    """
    own = owner(arr)
    key = id(own)
    if key not in _escaped:
        try:
            _escaped[key] = weakref.ref(own, lambda _ref, key=key: _escaped.pop(key, None))
        except TypeError:  # an allocation without weak references (device memory): CPU NumPy cannot alias it
            pass


def owner(arr):
    """The allocation behind ``arr``: every view of one buffer has the same owner."""
    if type(arr) is not np.ndarray:
        return arr.storage  # a DeviceArray: every view of one allocation shares its storage
    while arr.base is not None and isinstance(arr.base, np.ndarray):
        arr = arr.base
    return arr


def key_of(arr) -> int:
    """The table key of the memory ``arr`` views."""
    return id(owner(arr))


def register(keys, reader) -> None:
    """``reader`` will read the memory behind each of ``keys`` when it is computed.

    ``LazyOp.__init__`` does the same inline (recording an op is a hot path);
    a change to the table's layout changes both."""
    ref = weakref.ref(reader)
    with _lock:
        for key in keys:
            readers = _pending.get(key)
            if readers is None:
                _pending[key] = [ref]
            else:
                readers.append(ref)
        _pending_entries[0] += len(keys)
        if _pending_entries[0] > _pending_entries[1]:
            _compact()


def move(old_key: int, new_key: int) -> None:
    """Readers waiting on a value (``old_key``) now read the buffer it was computed into."""
    with _lock:
        readers = _pending.pop(old_key, None)
        if readers:
            _pending.setdefault(new_key, []).extend(readers)


def _is_pending(ref) -> bool:
    reader = ref()
    return reader is not None and reader.result is None and reader.operands is not None


def _compact() -> None:
    """Drop the entries of readers that are computed or gone (the caller holds ``_lock``)."""
    total = 0
    for key in list(_pending):
        live = [r for r in _pending[key] if _is_pending(r)]
        if live:
            _pending[key] = live
            total += len(live)
        else:
            del _pending[key]
    _pending_entries[0] = total
    # amortized: the next clean-up waits until the table has doubled
    _pending_entries[1] = max(4096, 2 * total)


def flush_readers(target) -> None:
    """Compute every pending reader of ``target``'s memory, before it is modified in place."""
    key = id(owner(target))
    with _lock:
        refs = _pending.pop(key, None)
        if refs is None:
            return
        _pending_entries[0] -= len(refs)
    for ref in refs:
        if _is_pending(ref):
            ref().realize()


def flush_all() -> None:
    """Compute every pending reader (fusion is being switched off)."""
    with _lock:
        refs = [ref for readers in _pending.values() for ref in readers]
        _pending.clear()
        _pending_entries[0] = 0
    for ref in refs:
        if _is_pending(ref):
            ref().realize()
