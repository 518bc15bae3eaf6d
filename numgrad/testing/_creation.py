"""``make_tensor``: a tensor of random test values, as ``torch.testing.make_tensor`` draws them.

>>> import numgrad as ng
>>> t = make_tensor(2, 3, dtype=ng.float32, device="cpu", low=0, high=1)
>>> t.shape, bool(((t >= 0) & (t < 1)).all())
((2, 3), True)
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .. import _dtypes
from ..creation import default_generator, tensor

__all__ = ["make_tensor"]


def _shape(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def make_tensor(*shape, dtype, device=None, low: Optional[float] = None, high: Optional[float] = None,
                requires_grad: bool = False, noncontiguous: bool = False, exclude_zero: bool = False):
    """A tensor of ``shape`` with values drawn uniformly from ``[low, high)`` (defaults: floats [-9, 9),
    signed integers [-9, 10), unsigned [0, 10)); bool tensors are random True/False.  Draws from numgrad's
    global generator (``numgrad.manual_seed``).

    >>> import numgrad as ng
    >>> make_tensor((4,), dtype=ng.int64, device="cpu", low=0, high=3).dtype
    numgrad.int64
    """
    dt = _dtypes.as_dtype(dtype)
    shape = _shape(shape)
    rng = default_generator()
    if dt is _dtypes.bool_:
        values = rng.integers(0, 2, size=shape).astype(np.bool_)
    elif not dt.is_floating_point:
        info = np.iinfo(dt.np)
        lo = 0 if info.min == 0 else -9
        lo = max(info.min, math.ceil(low)) if low is not None else lo
        hi = min(info.max + 1, math.ceil(high)) if high is not None else 10
        if lo >= hi:
            raise ValueError(f"make_tensor: `low` must be less than `high`, but got {lo} >= {hi}")
        values = rng.integers(lo, hi, size=shape, dtype=np.int64)
    else:
        lo = -9.0 if low is None else float(low)
        hi = 9.0 if high is None else float(high)
        if math.isnan(lo) or math.isnan(hi):
            raise ValueError(f"make_tensor: `low` and `high` cannot be NaN, but got low={low} and high={high}")
        if lo > hi:
            raise ValueError(f"make_tensor: `low` must be less than or equal to `high`, but got {lo} > {hi}")
        values = rng.uniform(lo, hi, size=shape)
    if exclude_zero:
        tiny = 1 if not dt.is_floating_point else float(_dtypes.finfo(dt).tiny)
        values = np.where(values == 0, tiny, values)
    out = tensor(values, dtype=dt, device=device)
    if noncontiguous and out.numel() > 1:
        # every other element of a buffer twice as long along the last dimension: same values, not contiguous
        wide = out.unsqueeze(-1).expand(*out.shape, 2).reshape(*out.shape[:-1], out.shape[-1] * 2)
        out = wide[..., ::2]
    if requires_grad:
        out.requires_grad_(True)
    return out
