"""PyTorch eager's side of bench_compile's workloads, built in PyTorch's own worker process.

Imports PyTorch and NumPy only (``benchmarks/peer_processes.py`` runs it), so PyTorch keeps its own OpenMP
settings (libgomp's default spin, not numgrad's ``GOMP_SPINCOUNT``) and its thread count is the worker's.
Each ``build`` gets the same input arrays as the other peers.
"""
from __future__ import annotations

import math
import os

import torch

from benchmarks.peer_numpy import _mlp_products


def configure(threads: int | None) -> str:
    """``torch.set_num_threads(threads)`` (None: PyTorch's default)."""
    if threads is not None:
        torch.set_num_threads(threads)
    n = torch.get_num_threads()
    spin = os.environ.get("GOMP_SPINCOUNT")
    return (f"torch {torch.__version__} eager, {n} intra-op thread{'s' if n > 1 else ''}, "
            f"{'GOMP_SPINCOUNT=' + spin if spin else 'libgomp default spin'}")


def w1(inputs: dict) -> dict:
    tx, tw, tb = (torch.tensor(inputs[k], requires_grad=True) for k in ("x", "w", "b"))

    def step():
        tx.grad = tw.grad = tb.grad = None
        loss = (torch.tanh(tx * tw + tb) * torch.sigmoid(tx) ** 2).sum()
        loss.backward()
        return loss

    return {"torch eager": step}


def polynomial(inputs: dict) -> dict:
    """The PyTorch tutorial's cubic fit of sin on 2000 points: 4 scalar parameters, manual SGD under no_grad."""
    torch.manual_seed(0)
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)
    a, b, c, d = (torch.randn((), requires_grad=True) for _ in range(4))

    def step():
        loss = (a + b * x + c * x ** 2 + d * x ** 3 - y).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            for p in (a, b, c, d):
                p.sub_(1e-6 * p.grad)
                p.grad = None
        return loss

    return {"torch eager": step}


def mlp_gemm_floor_torch(batch: int):
    """The MLP step's 8 matrix products in PyTorch (``torch.mm(out=)``): the part of torch's step that is its BLAS."""
    operands = [(torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)) for m, k, n in _mlp_products(batch)]

    def products():
        for a, b, out in operands:
            torch.mm(a, b, out=out)
    return products


def mlp(inputs: dict, batch: int) -> dict:
    torch.manual_seed(0)
    tnn = torch.nn
    model = tnn.Sequential(tnn.Linear(784, 512), tnn.ReLU(), tnn.Linear(512, 256), tnn.ReLU(), tnn.Linear(256, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = tnn.CrossEntropyLoss()
    tx, ty = torch.tensor(inputs["x"]), torch.tensor(inputs["y"])

    def step():
        opt.zero_grad()
        loss = loss_fn(model(tx), ty)
        loss.backward()
        opt.step()
        return loss

    return {"torch eager": step, "torch BLAS only": mlp_gemm_floor_torch(batch)}


def digits(inputs: dict, n_batches: int, fuse: bool = True) -> dict:
    """One epoch of the digits CNN's training step (``numgrad/examples/digits.py``'s model, in PyTorch)."""
    del fuse  # numgrad's option
    torch.manual_seed(0)
    tnn = torch.nn
    ch = 16
    model = tnn.Sequential(
        tnn.Conv2d(1, ch, 3, padding=1), tnn.BatchNorm2d(ch), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(ch, 2 * ch, 3, padding=1), tnn.BatchNorm2d(2 * ch), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(2 * ch * 2 * 2, 64), tnn.ReLU(), tnn.Dropout(0.1), tnn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    data = [(torch.tensor(inputs[f"x{k}"]), torch.tensor(inputs[f"y{k}"])) for k in range(n_batches)]

    def epoch():
        total = 0.0
        for xb, yb in data:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item()
        return total

    return {"torch eager": epoch}


def chain(inputs: dict, n_ops: int, generated: bool = False) -> dict:
    del generated  # numgrad's variant
    tw, tx = torch.tensor(inputs["w"]), torch.tensor(inputs["x"])

    def step():
        with torch.no_grad():
            y = tx
            for _ in range(n_ops):
                y = y @ tw
        return y

    return {"torch eager": step}


BUILDERS = {"w1": w1, "polynomial": polynomial, "mlp": mlp, "digits": digits, "chain": chain}


def build(workload: str, inputs: dict, **params) -> tuple:
    return BUILDERS[workload](inputs, **params), None

