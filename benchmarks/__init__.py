"""numgrad's benchmark suite (``python -m benchmarks``; see ``benchmarks/__main__.py``)."""
import os

# The environment as the benchmark was launched, taken before any benchmark module imports numgrad (whose
# import sets its thread defaults in os.environ: GOMP_SPINCOUNT, OPENBLAS_NUM_THREADS).  The peer worker
# processes (benchmarks/peer_processes.py) start from it, so that PyTorch's, JAX's and NumPy's workers do not
# inherit numgrad's settings.
LAUNCH_ENVIRON = dict(os.environ)
