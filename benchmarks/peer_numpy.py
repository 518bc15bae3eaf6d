"""NumPy by hand: the MLP step written out in NumPy, the reference peer with no autograd engine at all.

Imports NumPy only, so that its worker process (``benchmarks/peer_processes.py``) runs NumPy's OpenBLAS with
the thread count the coordinator set in ``OPENBLAS_NUM_THREADS`` (numgrad, imported first, would set one).
``bench_nn`` times ``mlp_numpy`` in its own process beside numgrad (``python -m benchmarks``).
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np


def _openblas():
    """NumPy's bundled OpenBLAS (``scipy_openblas64_``), or None where NumPy was built against another BLAS."""
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "libscipy_openblas64_*.so"))
    try:
        lib = ctypes.CDLL(libs[0])
        return lib.scipy_openblas_get_num_threads64_, lib.scipy_openblas_set_num_threads64_
    except (IndexError, OSError, AttributeError):
        return None


def configure(threads: int | None) -> str:
    """NumPy's OpenBLAS on ``threads`` threads (the worker also starts with ``OPENBLAS_NUM_THREADS`` set)."""
    blas = _openblas()
    if blas is None:
        return f"NumPy {np.__version__} (its BLAS is not the bundled OpenBLAS: threads as its defaults)"
    get, set_ = blas
    if threads is not None:
        set_(threads)
    return f"NumPy {np.__version__}, its OpenBLAS on {get()} thread{'s' if get() > 1 else ''}"


def _mlp_products(batch: int) -> list:
    """(M, K, N) of every matrix product one MLP step makes: 3 forward, 3 weight grads, 2 input grads."""
    dims = [784, 512, 256, 10]
    forward = [(batch, k, n) for k, n in zip(dims, dims[1:])]
    weight_grads = [(n, batch, k) for k, n in zip(dims, dims[1:])]
    input_grads = [(batch, n, k) for k, n in zip(dims[1:-1], dims[2:])]
    return forward + weight_grads + input_grads


def mlp_numpy(batch: int, x: np.ndarray | None = None, y: np.ndarray | None = None):
    """MLP 784-512-256-10 SGD step (cross entropy, lr 0.01) by hand in NumPy (float32).

    ``x`` (batch, 784) float32 and ``y`` (batch,) labels: the inputs (random ones where not given).
    """
    rng = np.random.default_rng(0)
    ws = [(rng.standard_normal((i, o), dtype=np.float32) * np.float32(1 / np.sqrt(i)), np.zeros(o, np.float32))
          for i, o in ((784, 512), (512, 256), (256, 10))]
    if x is None:
        x = rng.standard_normal((batch, 784), dtype=np.float32)
        y = rng.integers(0, 10, batch)

    def step():
        acts = [x]
        h = x
        for k, (w, b) in enumerate(ws):
            h = h @ w + b
            if k < 2:
                h = np.maximum(h, 0)
            acts.append(h)
        m = h.max(1, keepdims=True)
        e = np.exp(h - m)
        p = e / e.sum(1, keepdims=True)
        loss = -np.log(p[np.arange(batch), y]).mean()
        g = p
        g[np.arange(batch), y] -= 1
        g /= batch
        for k in (2, 1, 0):
            w, b = ws[k]
            gw = acts[k].T @ g
            gb = g.sum(0)
            if k:
                g = (g @ w.T) * (acts[k] > 0)
            w -= 0.01 * gw
            b -= 0.01 * gb
        return float(loss)

    return step


def build(workload: str, inputs: dict, **params) -> tuple:
    """bench_compile's steps for NumPy by hand: the MLP step only (the other workloads have no NumPy peer)."""
    if workload != "mlp":
        return {}, None
    return {"NumPy by hand": mlp_numpy(params["batch"], inputs["x"], inputs["y"])}, None
