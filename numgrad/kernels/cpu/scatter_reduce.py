"""Numba kernel for ``scatter_reduce`` with ``amax``/``amin``: a running extreme per target position.

The loop is serial: duplicate target positions collide, and a ``prange`` over them would race
(DESIGN.md: prange scatter-adds race). NaN wins, as ``torch.maximum`` does.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_OPTS = dict(cache=True, nogil=True)


@njit(**_OPTS)
def scatter_extreme(out, targets, values, take_max, include_self):
    """``out[targets[i]] = max/min(out[targets[i]], values[i])`` for every i; without ``include_self`` the
    first value written to a position replaces what was there."""
    touched = np.zeros(out.shape[0], dtype=np.bool_)
    for i in range(targets.shape[0]):
        t = targets[i]
        v = values[i]
        if not include_self and not touched[t]:
            out[t] = v
            touched[t] = True
            continue
        cur = out[t]
        if cur != cur:
            continue
        if v != v or (v > cur if take_max else v < cur):
            out[t] = v
