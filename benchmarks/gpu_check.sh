#!/usr/bin/env bash
# The GPU checks of issue #6, as one short run for a machine with an NVIDIA GPU (device time is scarce):
# the CUDA tests on the real device, then the GPU benchmarks.  Usage, from the repository root:
#   bash benchmarks/gpu_check.sh [OUTDIR]
# The device machine's python already has numba, numba-cuda, torch (CUDA) and scipy; nothing is installed.
set -uo pipefail
out="${1:-${OUT:-/tmp/numgrad-gpu}}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 NUMBA_ENABLE_CUDASIM=0
export NUMGRAD_CACHE_DIR="$out/kernel-cache"
python3 -c "import numgrad as ng; print('GPU:', ng.cuda.is_available() and ng.cuda.get_device_name())" || exit 1
# -p no:cacheprovider: the working tree may be read-only there; -x: a broken kernel should not eat the lease.
# pyproject's addopts ask for pytest-xdist's workers (-n auto); without xdist there, one process runs the tests
xdist=()
python3 -c "import xdist" 2>/dev/null || xdist=(-o "addopts=-ra --durations=15")
timeout 420 python3 -m pytest -q -p no:cacheprovider "${xdist[@]}" -x -m gpu tests 2>&1 | tee "$out/gpu-tests.log"
timeout 240 python3 -m benchmarks.bench_cuda --out "$out/bench_cuda.json" 2>&1 | tee "$out/bench_cuda.log"
# ng.compile on CUDA (issue #17): compiled vs eager steps bit for bit, then timed (launch loop and CUDA graphs)
timeout 240 python3 -m benchmarks.gpu_compile_check --out "$out/gpu_compile.json" 2>&1 | tee "$out/gpu_compile.log"
