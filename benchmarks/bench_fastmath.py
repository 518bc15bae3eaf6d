"""fastmath vs libm-in-njit vs NumPy ufuncs: ns/element and vectorization proof.

For each function: ``out[i] = f(x[i])`` over N float32 elements (default
1e7), serial ``range`` and ``prange`` loops, median of repeats after warm-up:

  fm      numgrad.kernels.cpu.fastmath (vectorizable)
  libm    math.<f> / np.<f> inside the same njit loop (scalar libm calls)
  numpy   the NumPy ufunc (NumPy's own SIMD code where it has one)

It also greps the LLVM IR / assembly of the serial fm loops for vector types
(``<16 x float>``) and zmm registers.

    python benchmarks/bench_fastmath.py [N] [repeats]
"""
from __future__ import annotations

import math
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
# numgrad first: its threading and vector-width defaults must be set before numba loads
import numgrad  # noqa: E402,F401
from numgrad.kernels.config import FASTMATH  # noqa: E402
from numgrad.kernels.cpu import fastmath as fm  # noqa: E402

import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402

FM = set(FASTMATH)

# Every loop is written out: functions passed as arguments would be fine for
# numba, but explicit bodies are exactly what generated kernels look like.
SRC = '''
@njit(fastmath=FM)
def s_{name}_{kind}(x, out):
    for i in range(x.size):
        out[i] = {expr}

@njit(fastmath=FM, parallel=True)
def p_{name}_{kind}(x, out):
    for i in prange(x.size):
        out[i] = {expr}
'''

FUNCS = {
    # name: (fm expr, libm expr, numpy callable)
    "exp": ("fm.exp(x[i])", "math.exp(x[i])", np.exp),
    "log": ("fm.log(x[i])", "math.log(x[i])", np.log),
    "log1p": ("fm.log1p(x[i])", "math.log1p(x[i])", np.log1p),
    "expm1": ("fm.expm1(x[i])", "math.expm1(x[i])", np.expm1),
    "tanh": ("fm.tanh(x[i])", "math.tanh(x[i])", np.tanh),
    "sigmoid": ("fm.sigmoid(x[i])", "np.float32(1) / (np.float32(1) + math.exp(-x[i]))",
                lambda x, out: np.divide(1, 1 + np.exp(-x, out=out), out=out)),
    "sin": ("fm.sin(x[i])", "math.sin(x[i])", np.sin),
    "cos": ("fm.cos(x[i])", "math.cos(x[i])", np.cos),
    "erf": ("fm.erf(x[i])", "math.erf(x[i])", None),
    "pow": ("fm.pow(x[i], np.float32(1.7))", "x[i] ** np.float32(1.7)",
            lambda x, out: np.power(x, np.float32(1.7), out=out)),
}

DOMAIN = {"log": (0.01, 100.0), "log1p": (-0.9, 100.0), "pow": (0.01, 100.0)}


def build():
    ns = {"njit": njit, "prange": prange, "fm": fm, "math": math, "np": np, "FM": FM}
    for name, (fexpr, lexpr, _) in FUNCS.items():
        exec(SRC.format(name=name, kind="fm", expr=fexpr), ns)
        exec(SRC.format(name=name, kind="libm", expr=lexpr), ns)
    return ns


def timeit(f, *args, repeats=7):
    f(*args)  # warm-up (compile, page faults)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        f(*args)
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main():
    n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10_000_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    rng = np.random.default_rng(0)
    ns = build()
    print(f"N = {n:.0e} float32, median of {repeats}; ns/element (ratio libm/fm, numpy/fm)")
    hdr = f"{'func':8s} {'fm ser':>7s} {'fm par':>7s} {'libm ser':>8s} {'libm par':>8s} {'numpy':>7s}" \
          f"   {'libm/fm ser':>11s} {'libm/fm par':>11s} {'numpy/fm par':>12s}  vectorized"
    print(hdr)
    out = np.empty(n, np.float32)
    for name, (_, _, npf) in FUNCS.items():
        lo, hi = DOMAIN.get(name, (-10.0, 10.0))
        x = rng.uniform(lo, hi, n).astype(np.float32)
        r = {}
        for kind in ("fm", "libm"):
            r[kind, "s"] = timeit(ns[f"s_{name}_{kind}"], x, out, repeats=repeats) / n * 1e9
            r[kind, "p"] = timeit(ns[f"p_{name}_{kind}"], x, out, repeats=repeats) / n * 1e9
        if npf is None:
            tnp = float("nan")
        else:
            tnp = timeit(lambda a, o: npf(a, out=o) if npf in (np.exp, np.log, np.log1p, np.expm1,
                                                               np.tanh, np.sin, np.cos) else npf(a, o),
                         x, out, repeats=repeats) / n * 1e9
        sf = ns[f"s_{name}_fm"]
        sig = sf.signatures[0]
        llvm = sf.inspect_llvm(sig)
        asm = sf.inspect_asm(sig)
        vec = re.findall(r"<(\d+) x float>", llvm)
        width = max((int(v) for v in vec), default=1)
        zmm = len(re.findall(r"zmm", asm))
        calls = sorted(set(re.findall(r"@(expf|logf|tanhf|sinf|cosf|erff|powf|log1pf|expm1f|exp|log|pow)\(", llvm)))
        print(f"{name:8s} {r['fm', 's']:7.2f} {r['fm', 'p']:7.2f} {r['libm', 's']:8.2f} {r['libm', 'p']:8.2f} "
              f"{tnp:7.2f}   {r['libm', 's'] / r['fm', 's']:11.1f} {r['libm', 'p'] / r['fm', 'p']:11.1f} "
              f"{tnp / r['fm', 'p']:12.1f}  <{width} x float>, {zmm} zmm refs"
              + (f", libm calls {calls}" if calls else ""))
    # memory-bandwidth reference: a copy-scale loop
    x = rng.uniform(-1, 1, n).astype(np.float32)
    ns2 = {"njit": njit, "prange": prange, "np": np, "FM": FM}
    exec(SRC.format(name="scale", kind="ref", expr="x[i] * np.float32(1.5)"), ns2)
    print(f"{'x*1.5':8s} {timeit(ns2['s_scale_ref'], x, out) / n * 1e9:7.2f} "
          f"{timeit(ns2['p_scale_ref'], x, out) / n * 1e9:7.2f}   (memory-bound floor: 8 bytes/element)")


if __name__ == "__main__":
    main()
