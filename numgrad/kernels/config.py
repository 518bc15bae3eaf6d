"""Compile policy for every Numba kernel numgrad builds.

One place owns the flags so that no kernel can fall into the traps measured in
DESIGN.md: ``fastmath=True`` would drop NaN/Inf handling, so only the safe flag
subset is used; threads are the OpenMP layer with a bounded spin (see
``configure_numba``) unless the user chose otherwise.
"""
from __future__ import annotations

import os

# fastmath without "nnan"/"ninf": NaN and inf propagate exactly as in NumPy.
# a set (numba rejects a frozenset for fastmath=)
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
# generated source must be byte-identical across processes (it is content-hashed),
# and a set's repr depends on string-hash randomization
FASTMATH_LITERAL = "{" + ", ".join(repr(f) for f in sorted(FASTMATH)) + "}"

# Below this many elements the serial variant wins.  Measured with W1
# (tanh(x*w+b)*sigmoid(x)**2, fwd+bwd) on the 2-vCPU build machine with the
# OpenMP layer (launch 2-60 us): at 1.3e5 elements 0.76-0.84 ms with 2^16
# against 0.88 ms serial, at 2.6e5 1.12-1.19 against 1.35-1.42 ms; 2^14 lost
# at 3e4.  (With the workqueue layer a launch cost 130-180 us and the
# threshold had to be 2^18.)
PARALLEL_THRESHOLD = int(os.environ.get("NUMGRAD_PARALLEL_THRESHOLD", 65536))

NJIT_OPTIONS = dict(cache=True, nogil=True, error_model="numpy")


# How long (in GNU OpenMP "pause" iterations, roughly 10-50 us here) an idle
# worker thread spins before it sleeps.  Measured on the 2-vCPU build machine:
# waking a sleeping thread costs 60-180 us there (a virtual CPU leaves HLT),
# and workqueue's every launch paid it (an empty prange: 130-180 us; OpenMP
# with this bound: 2 us back-to-back, 20-60 us after 1 ms idle).  Libgomp's
# default spin (about a millisecond) made an MLP step 2.8x slower while another
# process kept the second core busy; 3 000-10 000 showed no such loss.
# Re-measured on an Intel host (2 vCPUs): alone, libgomp's default 300 000 ran
# 10-25% faster (the thread stays awake across a training step's Python: W1 at
# 1e5 0.27 against 0.33-0.37 ms, MLP b128 2.4-2.6 against 2.5-3.1 ms), but two
# numgrad processes side by side then took 72 ms per MLP step against 6.8 ms
# with 10 000, and 30 000-100 000 were the worst of both.  A user who runs one
# process on an otherwise idle machine may set GOMP_SPINCOUNT=300000 itself.
# Measured again (2026-12, Intel host): with 10 000, a 2-thread MLP b128 step run in bursts of 5 steps after
# 50 ms idle took 5.0-5.5 ms instead of 1.5 (every step of the burst, for 15 bursts in a row), while after
# bursts of 40 steps the next bursts ran at 1.5 from their second step: the thread sleeps between the step's
# parallel kernels, and how fast a sleeping virtual CPU wakes depends on the hypervisor's halt polling, which
# long idle gaps shrink.  With 300 000 the same 5-step bursts ran at 1.5-1.8 ms (the first step 2.2-2.6).
GOMP_SPINCOUNT_DEFAULT = "10000"


def configure_numba() -> None:
    """Threading defaults that neither spin for long nor sleep between every kernel (set before numba loads).

    * Numba's OpenMP layer first, workqueue where OpenMP cannot load
      (``NUMBA_THREADING_LAYER_PRIORITY``); a user's ``NUMBA_THREADING_LAYER``
      or priority wins.
    * ``GOMP_SPINCOUNT`` bounded (``GOMP_SPINCOUNT_DEFAULT``) unless set.  It is
      read once, by the first GNU OpenMP runtime the process loads, which other
      libraries share (PyTorch's intra-op threads among them when numgrad is
      imported first); importing such a library first keeps its setting.
    * OpenBLAS single-threaded: its idle threads busy-wait and, measured here,
      made one small ``np.dot`` inside a kernel 300x slower while numba's own
      threads were busy.  Large products are split over numba's threads instead
      (``kernels/cpu/blas.py``).
    """
    _prefer_wide_vectors()
    os.environ.setdefault("NUMBA_THREADING_LAYER_PRIORITY", "omp workqueue tbb")
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_serial_after_fork)
    os.environ.setdefault("GOMP_SPINCOUNT", GOMP_SPINCOUNT_DEFAULT)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _serial_after_fork() -> None:
    """In a child forked after numgrad ran parallel kernels on GNU OpenMP: serial kernels from now on.

    GNU OpenMP cannot start a parallel region in a forked child; numba then
    terminates the child ("fork() called from a process already using GNU
    OpenMP, this is unsafe"), which hangs a ``multiprocessing`` pool.  Every
    serial/parallel choice in numgrad compares a size with one of these
    module-level thresholds, so raising them in the child keeps it on the
    serial variants (``tests/test_blas.py`` forks and checks).  A child forked
    before any parallel kernel ran, or under another layer, keeps its threads.
    """
    import sys

    numba = sys.modules.get("numba")
    if numba is None:
        return
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel ran in the parent: the child starts its own threads
        return
    if layer != "omp":
        return
    for name, module in list(sys.modules.items()):
        if module is not None and (name == "numgrad" or name.startswith("numgrad.")):
            for attr in ("PARALLEL_THRESHOLD", "PARALLEL_MIN_MACS"):
                if isinstance(getattr(module, attr, None), int):
                    setattr(module, attr, sys.maxsize)


def _prefer_wide_vectors() -> None:
    """Let LLVM use 512-bit vectors on AVX-512 CPUs whose tuning asks for 256 (Intel's, by default).

    Measured on the 2-vCPU build machine (an Intel Rocket Lake with AVX-512):
    LLVM's default "prefer-256-bit" tuning kept every generated loop at
    ``<8 x float>``; without it the loops are ``<16 x float>`` and fastmath's
    tanh/exp/sigmoid ran 1.9-2.1x faster (benchmarks/bench_fastmath.py).
    Numba reads ``NUMBA_CPU_FEATURES`` once, at import, for the whole process
    (so the user's own ``@njit`` code gets the same code generation), and keys
    its on-disk cache by the feature string, so nothing compiled with other
    features is ever loaded.  A user's ``NUMBA_CPU_FEATURES``/``NUMBA_CPU_NAME``
    wins; ``NUMGRAD_WIDE_VECTORS=0`` keeps LLVM's default.
    """
    if os.environ.get("NUMGRAD_WIDE_VECTORS", "1") == "0":
        return
    if "NUMBA_CPU_FEATURES" in os.environ or "NUMBA_CPU_NAME" in os.environ:
        return
    try:
        from llvmlite import binding as llvm

        features = llvm.get_host_cpu_features().flatten()
    except Exception:  # no host feature query on this platform: keep the defaults
        return
    if "+avx512f" in features.split(","):
        os.environ["NUMBA_CPU_FEATURES"] = features + ",-prefer-256-bit"


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
