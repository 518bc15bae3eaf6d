"""Numba kernel for ``scatter_reduce`` with ``prod``/``amax``/``amin``: a running product or extreme per target
position.

The loop is serial: duplicate target positions collide, and a ``prange`` over them would race
(DESIGN.md: prange scatter-adds race). NaN wins an extreme, as ``torch.maximum`` does; a product follows
IEEE arithmetic (``0 * inf`` is NaN), and an integer product wraps around in the array's dtype, as in PyTorch.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_OPTS = dict(cache=True, nogil=True)

# the ``op`` argument of scatter_combine
MAX, MIN, PROD = 0, 1, 2


@njit(**_OPTS)
def scatter_combine(out, targets, values, op, include_self):
    """``out[targets[i]] = out[targets[i]] (op) values[i]`` for every i, in order, where ``op`` is ``MAX``,
    ``MIN`` or ``PROD``; without ``include_self`` the first value written to a position replaces what was
    there. ``targets`` must lie in ``[0, out.shape[0])`` (the caller checks the index)."""
    touched = np.zeros(out.shape[0], dtype=np.bool_)
    for i in range(targets.shape[0]):
        t = targets[i]
        v = values[i]
        if not include_self and not touched[t]:
            out[t] = v
            touched[t] = True
            continue
        cur = out[t]
        if op == PROD:
            out[t] = cur * v
            continue
        if cur != cur:
            continue
        if v != v or (v > cur if op == MAX else v < cur):
            out[t] = v
