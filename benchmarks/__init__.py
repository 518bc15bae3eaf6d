"""numgrad's benchmark suite (``python -m benchmarks``; see ``benchmarks/__main__.py``)."""
import os
import sys

# The environment as the benchmark was launched, taken before any benchmark module imports numgrad (whose
# import sets its thread defaults in os.environ).  The peer worker processes (benchmarks/peer_processes.py)
# start from it, so that PyTorch's, JAX's and NumPy's workers do not inherit numgrad's settings.
LAUNCH_ENVIRON = dict(os.environ)

_numgrad_config = sys.modules.get("numgrad.kernels.config")
if _numgrad_config is not None:
    # numgrad was imported first (a test session, a script): drop the values its import sets where unset
    # (``configure_numba``); a launcher's own identical value is dropped too, and the peer then runs its default
    for _name, _value in (("GOMP_SPINCOUNT", _numgrad_config.GOMP_SPINCOUNT_DEFAULT), ("OPENBLAS_NUM_THREADS", "1"),
                          ("NUMBA_THREADING_LAYER_PRIORITY", "omp workqueue tbb")):
        if LAUNCH_ENVIRON.get(_name) == _value:
            del LAUNCH_ENVIRON[_name]
