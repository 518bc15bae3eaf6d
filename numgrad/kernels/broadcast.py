"""The array side of broadcasting's gradient: summing a broadcast result back to an operand's shape.

>>> import numpy as np
>>> sum_to_array(np.ones((4, 3), np.float32), (1, 3))
array([[4., 4., 4.]], dtype=float32)
"""
from __future__ import annotations

from .backend import reduce_array


def sum_to_array(arr, shape: tuple):
    """Sum ``arr`` (a broadcast of ``shape``) back down to ``shape``; no graph, any device."""
    shape = tuple(shape)
    if arr.shape == shape:
        return arr
    lead = arr.ndim - len(shape)
    axes = list(range(lead))
    axes += [lead + i for i, n in enumerate(shape) if n == 1 and arr.shape[lead + i] != 1]
    out = reduce_array(arr, axes, "sum", arr.dtype)
    return out.reshape(shape)
