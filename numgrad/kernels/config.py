"""Compile policy for every Numba kernel numgrad builds.

One place owns the flags so that no kernel can fall into the traps measured in
DESIGN.md: ``fastmath=True`` would drop NaN/Inf handling, so only the safe flag
subset is used; the OpenMP threading layer spin-waits on small machines, so the
workqueue layer is selected unless the user chose one.
"""
from __future__ import annotations

import os

# fastmath without "nnan"/"ninf": NaN and inf propagate exactly as in NumPy.
# a set (numba rejects a frozenset for fastmath=)
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
# generated source must be byte-identical across processes (it is content-hashed),
# and a set's repr depends on string-hash randomization
FASTMATH_LITERAL = "{" + ", ".join(repr(f) for f in sorted(FASTMATH)) + "}"

# Below this many elements the serial variant wins.  Measured for a fused
# tanh(x*w+b) map on this 2-core machine (workqueue layer): a parallel launch
# costs 60-120 us, serial runs ~0.8 ns/element, and parallel only pulled ahead
# between 2.6e5 and 1e6 elements (benchmarks/bench_fusion.py shows the sizes).
PARALLEL_THRESHOLD = int(os.environ.get("NUMGRAD_PARALLEL_THRESHOLD", 262144))

NJIT_OPTIONS = dict(cache=True, nogil=True, error_model="numpy")


def configure_numba() -> None:
    """Threading defaults that do not spin-wait on small machines (set before numba/SciPy load).

    The OpenMP layer busy-waits between parallel regions; so do OpenBLAS's idle
    threads, which made one small ``np.dot`` inside a kernel 300x slower while
    numba's own threads were busy.  Users who set these variables keep theirs.
    """
    os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


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
