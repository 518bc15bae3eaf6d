"""BLAS candidates for numgrad's matrix products, timed side by side in alternating rounds.

Every (candidate, threads) pair runs in its own process (two BLAS libraries or
two thread pools in one process disturb each other), once per round, the
candidates in a rotated order each round; the table is the median over rounds.
Products are called from Python the way numgrad's ops call them
(``blas.matmul_into``: one gemm, or one per thread block), except the conv
shapes, which numgrad calls per image from inside a jitted kernel (timed in a
jitted loop for numgrad's candidates).

Candidates (those not installed are skipped):

* ``ng-openblas``: numgrad's gemm on SciPy's OpenBLAS (single-threaded; a
  second thread is numgrad's split over Numba's threads).
* ``ng-mkl``: the same gemm on the ``mkl`` wheel, sequential MKL.
* ``ng-mkl-own-threads``: one gemm call, MKL's GNU-OpenMP threading with
  ``MKL_Set_Num_Threads(threads)`` (no numgrad split).
* ``ng-openblas-new``: the same gemm on the ``scipy-openblas32`` wheel.
* ``blis``: BLIS from the ``blis`` wheel (general strides, called through
  ctypes from Python: ~2-4 us more per call).
* ``torch``: ``torch.mm(a, b, out=c)`` with ``torch.set_num_threads(threads)``.

Run: ``python -m benchmarks.bench_blas --rounds 5`` (a few minutes).
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

# (group, name, m, k, n, a_transposed, b_transposed): op(a) (m, k) @ op(b) (k, n)
SHAPES = []
for _batch in (128, 1024):
    for _i, (_fan_in, _fan_out) in enumerate([(784, 512), (512, 256), (256, 10)]):
        SHAPES.append((f"mlp{_batch}", f"L{_i + 1} fwd x@W.T", _batch, _fan_in, _fan_out, False, True))
        if _i:
            SHAPES.append((f"mlp{_batch}", f"L{_i + 1} bwd g@W", _batch, _fan_out, _fan_in, False, False))
        SHAPES.append((f"mlp{_batch}", f"L{_i + 1} bwd g.T@x", _fan_out, _batch, _fan_in, True, False))
SHAPES += [
    ("gpt", "qkv fwd", 512, 128, 384, False, True),
    ("gpt", "ff1 fwd", 512, 128, 512, False, True),
    ("gpt", "ff2 fwd", 512, 512, 128, False, True),
    ("gpt", "ff1 bwd g.T@x", 512, 512, 128, True, False),
    ("gpt", "head fwd", 512, 128, 65, False, True),
    ("lstm", "recurrent h@W_hh.T", 16, 128, 512, False, True),
    ("lstm", "input x@W_ih.T", 512, 128, 512, False, True),
    ("lstm", "bwd dg@W_hh", 16, 512, 128, False, False),
    ("lstm", "head fwd", 512, 128, 1000, False, True),
    # digits CNN (channels 16, 8x8 images): per-image im2col products
    ("conv", "conv1 fwd W@cols", 16, 9, 64, False, False),
    ("conv", "conv2 fwd W@cols", 32, 144, 16, False, False),
    ("conv", "conv2 bwd W.T@g", 144, 32, 16, True, False),
    ("conv", "conv2 bwd g@cols.T", 32, 16, 144, False, True),
]


def _operands(m, k, n, ta, tb, dtype, rng):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return (a.T if ta else a), (b.T if tb else b), np.zeros((m, n), dtype)


def _time(fn, target_s=0.004, samples=3):
    """Median seconds per call of ``fn(reps)`` over ``samples`` batches sized to about ``target_s``."""
    fn(2)
    t0 = time.perf_counter()
    fn(5)
    per = max((time.perf_counter() - t0) / 5, 1e-7)
    reps = max(1, int(target_s / per))
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        fn(reps)
        times.append((time.perf_counter() - t0) / reps)
    return statistics.median(times)


def _rebind(s_addr, d_addr):
    """Point numgrad's gemm symbols at another Fortran-interface library (before any gemm kernel is linked)."""
    from llvmlite import binding as llvm

    from numgrad.kernels.cpu.blas_library import SYMBOLS

    llvm.add_symbol(SYMBOLS["s"], s_addr)
    llvm.add_symbol(SYMBOLS["d"], d_addr)


def _site(package):
    """The site-packages folder holding ``package`` (found by pip's metadata), else None."""
    import importlib.metadata

    try:
        return importlib.metadata.distribution(package).locate_file("")
    except importlib.metadata.PackageNotFoundError:
        return None


def worker(candidate: str, threads: int) -> dict:
    """ms per product for every shape and dtype, for one candidate and thread count."""
    os.environ["NUMGRAD_BLAS"] = "mkl" if candidate == "ng-mkl" else "openblas"
    rng = np.random.default_rng(0)
    results = {}
    if candidate == "torch":
        import torch

        torch.set_num_threads(threads)
        for group, name, m, k, n, ta, tb in SHAPES:
            for dtype in (np.float32, np.float64):
                a, b, c = (torch.from_numpy(x) for x in _operands(m, k, n, ta, tb, dtype, rng))

                def run(reps, a=a, b=b, c=c):
                    for _ in range(reps):
                        torch.mm(a, b, out=c)
                results[f"{group}|{name}|{np.dtype(dtype).name}"] = _time(run) * 1e3
        return results
    import numba

    from numgrad.kernels.cpu import blas  # imports numgrad: its thread and BLAS settings, as a user gets them

    numba.set_num_threads(threads)
    own_threads = False
    if candidate == "ng-mkl-own-threads":
        from numgrad.kernels.cpu.blas_library import mkl_library_path

        lib = ctypes.CDLL(mkl_library_path())
        lib.MKL_Set_Threading_Layer(3)  # GNU OpenMP: the runtime Numba's threads already use
        lib.MKL_Set_Interface_Layer(0)
        lib.MKL_CBWR_Set(2)
        lib.MKL_Set_Num_Threads(threads)
        _rebind(*(ctypes.cast(getattr(lib, f), ctypes.c_void_p).value for f in ("sgemm_", "dgemm_")))
        own_threads = True
    elif candidate == "ng-openblas-new":
        import scipy_openblas32

        lib = ctypes.CDLL(os.path.join(scipy_openblas32.get_lib_dir(), "lib" + scipy_openblas32.get_library() + ".so"))
        lib.scipy_openblas_set_num_threads(1)
        _rebind(*(ctypes.cast(getattr(lib, f), ctypes.c_void_p).value for f in ("scipy_sgemm_", "scipy_dgemm_")))
    elif candidate == "blis":
        import blis.cy  # noqa: F401

        lib = ctypes.CDLL(blis.cy.__file__)
        if threads > 1:
            return {}
    from numba import njit

    @njit(cache=False)
    def jitted_gemms(a, b, c, reps):
        for _ in range(reps):
            blas.gemm(a, b, c, 1.0, 0.0)

    for group, name, m, k, n, ta, tb in SHAPES:
        for dtype in (np.float32, np.float64):
            a, b, c = _operands(m, k, n, ta, tb, dtype, rng)
            if candidate == "blis":
                fn = lib.bli_sgemm if dtype == np.float32 else lib.bli_dgemm
                scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
                one, zero = scalar(1), scalar(0)
                size = a.itemsize
                args = (ctypes.c_uint32(0), ctypes.c_uint32(0), ctypes.c_int64(m), ctypes.c_int64(n),
                        ctypes.c_int64(k), ctypes.byref(one), ctypes.c_void_p(a.ctypes.data),
                        ctypes.c_int64(a.strides[0] // size), ctypes.c_int64(a.strides[1] // size),
                        ctypes.c_void_p(b.ctypes.data), ctypes.c_int64(b.strides[0] // size),
                        ctypes.c_int64(b.strides[1] // size), ctypes.byref(zero), ctypes.c_void_p(c.ctypes.data),
                        ctypes.c_int64(n), ctypes.c_int64(1))

                def run(reps, fn=fn, args=args):
                    for _ in range(reps):
                        fn(*args)
            elif group == "conv":
                def run(reps, a=a, b=b, c=c):
                    jitted_gemms(a, b, c, reps)
            elif own_threads:
                def run(reps, a=a, b=b, c=c):
                    for _ in range(reps):
                        blas.gemm_parallel(a, b, c, 1.0, 0.0, 1)
            else:
                def run(reps, a=a, b=b, c=c):
                    for _ in range(reps):
                        blas.matmul_into(a, b, c)
            results[f"{group}|{name}|{np.dtype(dtype).name}"] = _time(run) * 1e3
            if candidate == "blis":  # check the call: BLIS's argument order is not BLAS's
                np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-3, atol=1e-3)
    return results


CANDIDATES = ["ng-openblas", "ng-mkl", "ng-mkl-own-threads", "ng-openblas-new", "blis", "torch"]


def _installed(candidate: str) -> bool:
    need = {"ng-mkl": "mkl", "ng-mkl-own-threads": "mkl", "ng-openblas-new": "scipy-openblas32", "blis": "blis",
            "torch": "torch"}.get(candidate)
    return need is None or _site(need) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--candidates", nargs="+", default=CANDIDATES)
    parser.add_argument("--worker", nargs=2, metavar=("CANDIDATE", "THREADS"))
    parser.add_argument("--json", help="write the medians here")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]))))
        return
    runs = [(c, t) for t in args.threads for c in args.candidates if _installed(c) and not (c == "blis" and t > 1)]
    samples: dict = {}
    for r in range(args.rounds):
        order = runs[r % len(runs):] + runs[:r % len(runs)]
        for candidate, threads in order:
            out = subprocess.run([sys.executable, "-m", "benchmarks.bench_blas", "--worker", candidate, str(threads)],
                                 capture_output=True, text=True, check=True)
            for key, ms in json.loads(out.stdout.strip().splitlines()[-1]).items():
                samples.setdefault((candidate, threads), {}).setdefault(key, []).append(ms)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    medians = {f"{c}|{t}": {k: statistics.median(v) for k, v in d.items()} for (c, t), d in samples.items()}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(medians, f, indent=1)
    cols = list(medians)
    keys = list(next(iter(medians.values())))
    print("| shape | dtype | " + " | ".join(c.replace("|", " t") for c in cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for key in keys:
        group, name, dtype = key.split("|")
        cells = [f"{medians[c][key]:.4f}" if key in medians[c] else "-" for c in cols]
        print(f"| {group} {name} | {dtype} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
