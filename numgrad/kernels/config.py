"""Compile policy for every Numba kernel numgrad builds.

One place owns the flags so that no kernel can fall into the traps measured in
DESIGN.md: ``fastmath=True`` would drop NaN/Inf handling, so only the safe flag
subset is used; the OpenMP threading layer spin-waits on small machines, so the
workqueue layer is selected unless the user chose one.
"""
from __future__ import annotations

import os

# fastmath without "nnan"/"ninf": NaN and inf propagate exactly as in NumPy.
FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})
# generated source must be byte-identical across processes (it is content-hashed),
# and a set's repr depends on string-hash randomization
FASTMATH_LITERAL = "{" + ", ".join(repr(f) for f in sorted(FASTMATH)) + "}"

# Below this many elements the serial variant wins (prange launch costs tens of us).
PARALLEL_THRESHOLD = int(os.environ.get("NUMGRAD_PARALLEL_THRESHOLD", 131072))

NJIT_OPTIONS = dict(cache=True, nogil=True, error_model="numpy")


def configure_numba() -> None:
    """Choose a threading layer that does not spin-wait (called before numba is imported)."""
    os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")


def set_num_threads(n: int) -> None:
    """Number of threads used by numgrad's parallel kernels.

    >>> import numgrad as ng
    >>> ng.set_num_threads(1)
    """
    import numba

    numba.set_num_threads(int(n))


def get_num_threads() -> int:
    """Number of threads numgrad's parallel kernels use."""
    import numba

    return numba.get_num_threads()
