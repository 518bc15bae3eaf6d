"""Pinning a batch for ``DataLoader(pin_memory=True)``, as ``torch.utils.data._utils.pin_memory.pin_memory``:
every tensor (anything with a ``pin_memory()`` method) inside mappings, namedtuples, tuples and sequences is
replaced by its page-locked copy; strings and other objects pass through."""
from __future__ import annotations

import collections.abc
import copy
from typing import Any

__all__ = ["pin_memory"]


def pin_memory(data: Any) -> Any:
    """``data`` with every tensor in it pinned (the containers rebuilt with the same types).

    >>> pin_memory(("label", 3))
    ('label', 3)
    """
    if hasattr(data, "pin_memory"):
        return data.pin_memory()
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        try:
            if isinstance(data, collections.abc.MutableMapping):
                # a copy keeps whatever else the mapping type holds; then its values are replaced
                clone = copy.copy(data)
                clone.update({k: pin_memory(sample) for k, sample in data.items()})
                return clone
            return type(data)({k: pin_memory(sample) for k, sample in data.items()})
        except TypeError:  # a mapping type that cannot be copied or rebuilt from a dict
            return {k: pin_memory(sample) for k, sample in data.items()}
    if isinstance(data, tuple):
        if hasattr(data, "_fields"):  # namedtuple
            return type(data)(*(pin_memory(sample) for sample in data))
        return type(data)(pin_memory(sample) for sample in data)
    if isinstance(data, collections.abc.Sequence):
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone = copy.copy(data)
                for i, item in enumerate(data):
                    clone[i] = pin_memory(item)
                return clone
            return type(data)([pin_memory(sample) for sample in data])
        except TypeError:
            return [pin_memory(sample) for sample in data]
    return data
