"""numgrad's side of bench_compile's workloads, built in numgrad's own worker process.

Eager and compiled numgrad (one library, one process) and the floors that run in Numba beside it: the
hand-fused W1 kernel, the MLP's 8 matrix products alone through numgrad's BLAS, the 4x4 product's kernel in a
Numba loop.  ``benchmarks/peer_processes.py`` runs it with PyTorch and JAX blocked, so nothing but numgrad's
own defaults (OpenBLAS single-threaded, bounded OpenMP spin) holds in the process.  Each ``build`` gets the
same input arrays as the other peers and returns, as its report, the compiled step's counters.
"""
from __future__ import annotations

import math
import os

import numgrad as ng  # first: numgrad's thread defaults (OpenBLAS single-threaded, bounded spin) apply to NumPy too
import numpy as np
from numba import njit

from benchmarks import bench_fusion, bench_nn
from numgrad.examples import digits as digits_example
from numgrad.kernels.cpu.blas import gemm


def configure(threads: int | None) -> str:
    """``ng.set_num_threads(threads)`` (None: numgrad's default)."""
    if threads is not None:
        ng.set_num_threads(threads)
    n = ng.get_num_threads()
    return (f"numgrad {ng.__version__} (eager, compiled and the Numba-run floors), {n} Numba thread"
            f"{'s' if n > 1 else ''}, its defaults: OpenBLAS on 1 thread, GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT')}")


def _counters(compiled):
    return lambda: {"replays": compiled.replays, "recaptures": compiled.recaptures, "captures": compiled.captures,
                    "fallback": compiled.fallback_reason}


def w1(inputs: dict, hand_fused: bool = True) -> tuple:
    arrays = [inputs[k] for k in ("x", "w", "b")]

    def make_step():  # eager and compiled each get their own tensors (a guard watches the .grad slots)
        x, w, b = (ng.tensor(a, requires_grad=True) for a in arrays)

        def step():
            x.grad = w.grad = b.grad = None
            loss = (ng.tanh(x * w + b) * ng.sigmoid(x) ** 2).sum()
            loss.backward()
            return loss

        return step

    compiled = ng.compile(make_step())
    steps = {"numgrad eager": make_step(), "numgrad compiled": compiled}
    if hand_fused:
        steps["hand-fused"] = bench_fusion.w1_hand_fused(arrays[0].size)
    return steps, _counters(compiled)


def polynomial(inputs: dict) -> tuple:
    """The PyTorch tutorial's cubic fit of sin on 2000 points: 4 scalar parameters, manual SGD under no_grad."""
    def make():
        ng.manual_seed(0)
        x = ng.linspace(-math.pi, math.pi, 2000)
        y = ng.sin(x)
        a, b, c, d = (ng.randn((), requires_grad=True) for _ in range(4))

        def step():
            loss = (a + b * x + c * x ** 2 + d * x ** 3 - y).pow(2).sum()
            loss.backward()
            with ng.no_grad():
                for p in (a, b, c, d):
                    p.sub_(1e-6 * p.grad)
                    p.grad = None
            return loss

        return step

    compiled = ng.compile(make())
    return {"numgrad eager": make(), "numgrad compiled": compiled}, _counters(compiled)


def mlp(inputs: dict, batch: int) -> tuple:
    def make():
        ng.manual_seed(0)
        nn = ng.nn
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
        opt = ng.optim.SGD(model.parameters(), lr=0.01)
        loss_fn = nn.CrossEntropyLoss()

        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step

    x, y = ng.tensor(inputs["x"]), ng.tensor(inputs["y"])
    eager, compiled = make(), ng.compile(make())
    return ({"numgrad eager": lambda: eager(x, y), "numgrad compiled": lambda: compiled(x, y),
             "numgrad BLAS only": bench_nn.mlp_gemm_floor_numgrad(batch)}, _counters(compiled))


def digits(inputs: dict, n_batches: int, fuse: bool = True) -> tuple:
    """One epoch of the digits job's training step (batch 32, Adam, dropout; the last batch smaller)."""
    data = [(ng.tensor(inputs[f"x{k}"]), ng.tensor(inputs[f"y{k}"])) for k in range(n_batches)]

    def make(compiled: bool):
        ng.manual_seed(0)
        model = digits_example.DigitsCNN()
        opt = ng.optim.Adam(model.parameters(), lr=3e-3)

        def step(xb, yb):
            opt.zero_grad()
            loss = ng.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            return loss

        fn = ng.compile(step, options={"fuse": fuse}) if compiled else step

        def epoch():
            return sum(fn(xb, yb).item() for xb, yb in data)

        return epoch, fn

    eager, _ = make(False)
    compiled_epoch, compiled = make(True)
    return {"numgrad eager": eager, "numgrad compiled": compiled_epoch}, _counters(compiled)


@njit(cache=False, nogil=True)
def _kernel_loop(x, w, a, b, n):  # the same BLAS call numgrad's kernel makes, n times, in one native loop
    gemm(x, w, a, 1.0, 0.0)
    for _ in range(n // 2):
        gemm(a, w, b, 1.0, 0.0)
        gemm(b, w, a, 1.0, 0.0)
    return a


def chain(inputs: dict, n_ops: int, generated: bool) -> tuple:
    """``n_ops`` products of (4, 4) matrices under no_grad, eager, replayed, and the kernel in a Numba loop.

    ``numgrad compiled`` is ng.compile's default replay: one generated function for the whole chain (a loop over a
    table of launches, ``compiler/codegen.py``; it compiles like a 2-launch step). ``generated=False`` (--quick)
    replays the launch loop instead (``options={"fuse": False}``: no step function to compile in a fresh cache);
    with ``generated`` the launch loop is timed too, as ``numgrad compiled, launch loop``.
    """
    wa, xa = inputs["w"], inputs["x"]
    w, x = ng.tensor(wa), ng.tensor(xa)

    def product_chain(x):
        with ng.no_grad():
            for _ in range(n_ops):
                x = x @ w
        return x

    compiled = ng.compile(product_chain, options={"fuse": generated})
    bufs = [np.empty((4, 4), np.float32) for _ in range(2)]
    steps = {"numgrad eager": lambda: product_chain(x), "numgrad compiled": lambda: compiled(x),
             "kernel in a Numba loop": lambda: _kernel_loop(xa, wa, bufs[0], bufs[1], n_ops)}
    if generated:
        loop = ng.compile(product_chain, options={"fuse": False})
        steps["numgrad compiled, launch loop"] = lambda: loop(x)
    return steps, _counters(compiled)


BUILDERS = {"w1": w1, "polynomial": polynomial, "mlp": mlp, "digits": digits, "chain": chain}


def build(workload: str, inputs: dict, **params) -> tuple:
    return BUILDERS[workload](inputs, **params)
