"""Python's cyclic garbage collector and recorded graphs.

Every recorded op leaves about 14 small GC-tracked objects alive (its Tensor,
its lazy op, its graph node, their lists and tuples) until backward frees
them.  Under CPython's default threshold (a young collection every 700
allocations) those objects survive two young collections while the forward
pass runs, reach the oldest generation, and soon trigger full collections,
each of which walks the whole heap (every module a notebook has imported).

Measured on a 2-vCPU AMD EPYC with torch and jax imported (about 285 000
tracked objects): a 1 000-op chain ``y = y * 1.0001`` plus backward, 40 times,

=====================  ===========  ========  ===========  ================
gen-0 threshold        total        in gc     collections  full collections
=====================  ===========  ========  ===========  ================
700 (CPython default)  99 us/op     54 us/op  642          4 (0.3 s each)
10 000                 69 us/op     27 us/op  40           1
50 000                 54 us/op     10 us/op  5            0
200 000                49 us/op     6.5 us/op 1            0
=====================  ===========  ========  ===========  ================

So numgrad raises the young-generation threshold at import, only while it
still holds one of CPython's defaults: a threshold the program set itself is
kept.  Cyclic garbage is still collected, a little later.  ``NUMGRAD_GC_THRESHOLD=0``
leaves the collector alone; ``NUMGRAD_GC_THRESHOLD=<n>`` sets the threshold.
"""
from __future__ import annotations

import gc
import os

GEN0_THRESHOLD = 50_000
# gc.get_threshold()[0] as CPython ships it: 700 up to 3.12, 2000 from 3.13
_CPYTHON_DEFAULTS = (700, 2000)


def configure_gc() -> None:
    """Raise the young-generation threshold (see the module docstring), honouring ``NUMGRAD_GC_THRESHOLD``.

    Runs once, when numgrad is imported; to keep Python's own setting::

        NUMGRAD_GC_THRESHOLD=0 python train.py
    """
    current = gc.get_threshold()
    setting = os.environ.get("NUMGRAD_GC_THRESHOLD")
    if setting is None:
        if current[0] in _CPYTHON_DEFAULTS:
            gc.set_threshold(GEN0_THRESHOLD, *current[1:])
        return
    try:
        wanted = int(setting)
    except ValueError:
        raise ValueError(
            f"NUMGRAD_GC_THRESHOLD must be an integer (0 leaves Python's garbage collector as it is), "
            f"got {setting!r}"
        ) from None
    if wanted > 0:
        gc.set_threshold(wanted, *current[1:])
