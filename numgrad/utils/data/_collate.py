"""Turning a list of samples into a batch (``default_collate``) and converting one sample (``default_convert``),
with PyTorch's rules: tensors, NumPy arrays and numbers are stacked into tensors (Python floats as float64,
ints as int64), strings stay a list, and mappings, namedtuples and sequences are collated field by field
(a tuple sample gives a list, as in PyTorch).

>>> import numgrad as ng
>>> default_collate([(ng.ones(2), 1), (ng.zeros(2), 0)])
[tensor([[1., 1.],
        [0., 0.]]), tensor([1, 0])]
"""
from __future__ import annotations

import collections.abc
import copy
import numbers
from typing import Any, List

import numpy as np

from ...creation import as_tensor, tensor
from ...ops.shape import stack
from ...tensor import Tensor

__all__ = ["default_collate", "default_convert"]

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}")


def _is_numpy_value(x) -> bool:
    return type(x).__module__ == "numpy" and not isinstance(x, (np.str_, np.bytes_))


def default_collate(batch: List[Any]):
    """Stack a list of samples into a batch, recursing into dicts, namedtuples, tuples and lists.

    >>> default_collate([{"x": 1.5, "name": "a"}, {"x": 2.5, "name": "b"}])
    {'x': tensor([1.5000, 2.5000], dtype=numgrad.float64), 'name': ['a', 'b']}
    """
    elem = batch[0]
    elem_type = type(elem)
    if isinstance(elem, Tensor):
        return stack(list(batch), 0)
    if _is_numpy_value(elem):
        if isinstance(elem, np.ndarray):
            if elem.dtype.kind in "SaUO":
                raise TypeError(_ERR.format(elem.dtype))
            return stack([as_tensor(b) for b in batch], 0)
        if elem.shape == ():  # a NumPy scalar
            return as_tensor(np.asarray(batch))
    if isinstance(elem, float):
        return tensor(list(batch), dtype=np.float64)
    if isinstance(elem, numbers.Integral) and not isinstance(elem, np.integer):
        return tensor(list(batch))  # bools give a bool tensor, ints int64
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(collated)
            return clone
        try:
            return elem_type(collated)
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(b) != size for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))  # tuples: a column of strings stays a tuple, as in PyTorch
        if isinstance(elem, tuple):
            return [default_collate(samples) for samples in transposed]
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            for i, samples in enumerate(transposed):
                clone[i] = default_collate(samples)
            return clone
        try:
            return elem_type([default_collate(samples) for samples in transposed])
        except TypeError:
            return [default_collate(samples) for samples in transposed]
    raise TypeError(_ERR.format(elem_type))


def default_convert(data):
    """One sample made of NumPy arrays/scalars converted to tensors, structure kept (``batch_size=None``).

    >>> import numpy as np
    >>> default_convert({"x": np.arange(2)})
    {'x': tensor([0, 1])}
    """
    if isinstance(data, Tensor):
        return data
    if _is_numpy_value(data):
        if isinstance(data, np.ndarray) and data.dtype.kind in "SaUO":
            return data
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        converted = {key: default_convert(data[key]) for key in data}
        if isinstance(data, collections.abc.MutableMapping):
            clone = copy.copy(data)
            clone.update(converted)
            return clone
        return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        if isinstance(data, collections.abc.MutableSequence):
            clone = copy.copy(data)
            for i, d in enumerate(data):
                clone[i] = default_convert(d)
            return clone
        return [default_convert(d) for d in data]
    return data
