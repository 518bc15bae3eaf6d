"""BLAS libraries timed in ONE process, called through function pointers from the same jitted code.

The fairest comparison this 2-vCPU shared machine allows: every candidate's
gemm is called by the same Numba loop (numgrad's layout logic, one library
function pointer per candidate), in alternating rounds within one process, so
the machine's drift hits all candidates alike; the min over rounds is the
uncontended speed, the median what a loaded machine gives.  With 2 threads,
numgrad's split (one sequential gemm per column/row block in a ``prange``)
runs for each library.  Also timed: numgrad's own ``blas.matmul_into`` from
Python (OpenBLAS here: ``NUMGRAD_BLAS=openblas`` is set before import) and
``torch.mm(out=)``.  Needs the ``mkl`` and ``scipy-openblas32`` wheels and torch.
``CBWR=1`` in the environment runs MKL with its reproducibility mode off
(numgrad sets 2, ``MKL_CBWR_AUTO``).

Run: ``python -m benchmarks.bench_blas_paired --threads 1 --rounds 15 --json out.json``
"""
import argparse
import ctypes
import json
import os
import statistics
import sys
import time

os.environ["NUMGRAD_BLAS"] = "openblas"
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic
import numba
from numgrad.kernels.cpu import blas, blas_library
from benchmarks.bench_blas import SHAPES, _operands
import torch

_VOIDP = ir.IntType(8).as_pointer()

@intrinsic
def _fpgemm(typingctx, fp, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    dtype = c.dtype
    sig = types.void(fp, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    def codegen(context, builder, signature, args):
        (fp_, ta, tb, m_, n_, k_, alpha_, a_, lda_, b_, ldb_, beta_, c_, ldc_) = args
        at = signature.args[1:]
        fnty = ir.FunctionType(ir.VoidType(), [_VOIDP] * 13)
        fn = builder.inttoptr(fp_, fnty.as_pointer())
        def slot(v, ty, to):
            return builder.bitcast(cgutils.alloca_once_value(builder, context.cast(builder, v, ty, to)), _VOIDP)
        def islot(v, ty, bits=32):
            w = context.cast(builder, v, ty, types.intp)
            return builder.bitcast(cgutils.alloca_once_value(builder, builder.trunc(w, ir.IntType(bits))), _VOIDP)
        def data(v, ty):
            return builder.bitcast(context.make_array(ty)(context, builder, v).data, _VOIDP)
        builder.call(fn, (islot(ta, at[0], 8), islot(tb, at[1], 8), islot(m_, at[2]), islot(n_, at[3]), islot(k_, at[4]),
                          slot(alpha_, at[5], dtype), data(a_, at[6]), islot(lda_, at[7]), data(b_, at[8]), islot(ldb_, at[9]),
                          slot(beta_, at[10], dtype), data(c_, at[11]), islot(ldc_, at[12])))
        return context.get_dummy_value()
    return sig, codegen

@njit
def gemm_fp(fp, a, b, c):
    m, k = a.shape
    n = b.shape[1]
    a_row, lda = blas._storage(a)
    b_row, ldb = blas._storage(b)
    ldc = c.strides[0] // c.itemsize if m > 1 else max(n, 1)
    _fpgemm(fp, ord("n") if b_row else ord("t"), ord("n") if a_row else ord("t"), n, m, k, 1.0, b, ldb, a, lda, 0.0, c, ldc)

@njit
def loop(fp, a, b, c, reps):
    for _ in range(reps):
        gemm_fp(fp, a, b, c)

@njit(parallel=True)
def split(fp, a, b, c, parts, block, by_cols):
    for p in prange(parts):
        lo = p * block
        if by_cols:
            hi = min(c.shape[1], lo + block)
            if lo < hi:
                gemm_fp(fp, a, b[:, lo:hi], c[:, lo:hi])
        else:
            hi = min(c.shape[0], lo + block)
            if lo < hi:
                gemm_fp(fp, a[lo:hi], b, c[lo:hi])

@njit
def loop_split(fp, a, b, c, reps, parts, block, by_cols):
    for _ in range(reps):
        split(fp, a, b, c, parts, block, by_cols)

def addr(lib, name):
    return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value

def _libraries():
    """name -> (sgemm address, dgemm address) of each installed library, each single-threaded."""
    libs = {}
    _, s, d = blas_library._scipy_openblas()
    libs["openblas-0.3.30(scipy)"] = (s, d)
    mkl = ctypes.CDLL(blas_library.mkl_library_path())
    mkl.MKL_Set_Threading_Layer(1); mkl.MKL_Set_Interface_Layer(0); mkl.MKL_CBWR_Set(int(os.environ.get("CBWR", "2")))
    libs["mkl(seq)"] = (addr(mkl, "sgemm_"), addr(mkl, "dgemm_"))
    import scipy_openblas32
    ob = ctypes.CDLL(os.path.join(scipy_openblas32.get_lib_dir(), "lib" + scipy_openblas32.get_library() + ".so"))
    ob.scipy_openblas_set_num_threads(1)
    libs["openblas-0.3.34(scipy-openblas32)"] = (addr(ob, "scipy_sgemm_"), addr(ob, "scipy_dgemm_"))
    return libs, (mkl, ob)


def measure(threads, rounds):
    """{shape|dtype: {candidate: (min ms, median ms)}}."""
    libs, keep = _libraries()
    numba.set_num_threads(threads); torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    out = {}
    for group, name, m, k, n, ta, tb in SHAPES:
        for dtype in (np.float32, np.float64):
            a, b, c = _operands(m, k, n, ta, tb, dtype, rng)
            ta_, tb_, tc = (torch.from_numpy(x) for x in (a, b, c))
            parts = blas.gemm_parts(m, n, k) if threads > 1 else 1
            by_cols = m <= n
            block = blas._blocks(n if by_cols else m, parts) if parts > 1 else 0
            if parts > 1:
                parts = ((n if by_cols else m) + block - 1) // block
            fns = {}
            for lib, (s, d) in libs.items():
                fp = s if dtype == np.float32 else d
                if parts > 1:
                    fns["ng-split " + lib] = (lambda r, fp=fp: loop_split(fp, a, b, c, r, parts, block, by_cols))
                else:
                    fns[lib] = (lambda r, fp=fp: loop(fp, a, b, c, r))
            fns["numgrad matmul_into (py)"] = lambda r: [blas.matmul_into(a, b, c) for _ in range(r)]
            fns["torch.mm (py)"] = lambda r: [torch.mm(ta_, tb_, out=tc) for _ in range(r)]
            reps = {}
            for key, f in fns.items():
                f(2); t0 = time.perf_counter(); f(3); per = (time.perf_counter() - t0) / 3
                reps[key] = max(1, int(0.002 / max(per, 1e-7)))
            samples = {key: [] for key in fns}
            keys = list(fns)
            for r in range(rounds):
                for key in keys[r % len(keys):] + keys[:r % len(keys)]:
                    t0 = time.perf_counter(); fns[key](reps[key]); samples[key].append((time.perf_counter() - t0) / reps[key] * 1e3)
            out[f"{group}|{name}|{np.dtype(dtype).name}"] = {k: (min(v), statistics.median(v)) for k, v in samples.items()}
            ref = a.astype(np.float64) @ b
            assert np.allclose(c, ref, rtol=1e-3, atol=1e-3)
        print(group, name, file=sys.stderr, flush=True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    with open(args.json, "w") as f:
        json.dump(measure(args.threads, args.rounds), f, indent=1)


if __name__ == "__main__":
    main()
