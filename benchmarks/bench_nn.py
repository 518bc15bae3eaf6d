"""nn benchmarks: numgrad vs PyTorch eager in one run; prints medians and ratios (no assertions).

    python -m benchmarks.bench_nn [--repeats 30]

1. MLP 784-512-256-10, ReLU, cross-entropy, SGD step (zero_grad, forward,
   backward, step), float32, batch 128 and 1024; and the step's 8 matrix
   products alone, through numgrad's BLAS and through PyTorch's (the floor
   each engine's step cannot go below).
2. conv2d 32x3x32x32 -> 16 channels, k=3, padding 1, forward + backward.
3. conv2d forward only: numgrad's im2col + gemm kernel vs a direct Numba loop
   nest (the measurement behind the choice of im2col in kernels/cpu/conv.py).
"""
from __future__ import annotations

import argparse

import numpy as np

import numgrad as ng  # before numba: numgrad's threading and vector-width defaults apply at numba's import
import numgrad.nn as nn
import numgrad.nn.functional as F
import numgrad.optim as optim
from numba import njit, prange  # noqa: E402

from benchmarks.common import interleaved_medians
from benchmarks.peer_numpy import _mlp_products

try:
    import torch

    from benchmarks.peer_torch import mlp_gemm_floor_torch
except ImportError:  # the benchmark still reports numgrad's own times
    torch = None


def mlp_step_numgrad(batch: int):
    ng.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = optim.SGD(model.parameters(), lr=0.01)
    x = ng.randn(batch, 784)
    y = ng.randint(0, 10, (batch,))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def mlp_step_torch(batch: int):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                                torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, 784)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def mlp_gemm_floor_numgrad(batch: int):
    """The MLP step's matrix products alone, through numgrad's BLAS path (``blas.matmul_into``).

    No engine built on this BLAS can take a step in less time: it bounds what
    numgrad's MLP step can reach on this machine.
    """
    from numgrad.kernels.cpu.blas import matmul_into

    rng = np.random.default_rng(0)
    operands = [(rng.standard_normal((m, k), np.float32), rng.standard_normal((k, n), np.float32),
                 np.empty((m, n), np.float32)) for m, k, n in _mlp_products(batch)]

    def products():
        for a, b, out in operands:
            matmul_into(a, b, out)
    return products


def conv_numgrad():
    x = ng.randn(32, 3, 32, 32, requires_grad=True)
    w = ng.randn(16, 3, 3, 3, requires_grad=True)
    b = ng.randn(16, requires_grad=True)

    def run():
        x.grad = w.grad = b.grad = None
        F.conv2d(x, w, b, padding=1).sum().backward()
    return run


def conv_torch():
    x = torch.randn(32, 3, 32, 32, requires_grad=True)
    w = torch.randn(16, 3, 3, 3, requires_grad=True)
    b = torch.randn(16, requires_grad=True)

    def run():
        x.grad = w.grad = b.grad = None
        torch.nn.functional.conv2d(x, w, b, padding=1).sum().backward()
    return run


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _direct_conv(x, w, b, pad, out):
    """A direct loop nest: output rows are the vectorized inner loop (stride 1)."""
    n_img, c_in, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    oh, ow = out.shape[2], out.shape[3]
    for job in prange(n_img * c_out):
        n = job // c_out
        o = job % c_out
        for i in range(oh):
            for j in range(ow):
                out[n, o, i, j] = b[o]
        for c in range(c_in):
            for ki in range(kh):
                for i in range(oh):
                    ih = i - pad + ki
                    if ih < 0 or ih >= h:
                        continue
                    for kj in range(kw):
                        wv = w[o, c, ki, kj]
                        lo = max(0, pad - kj)
                        hi = min(ow, wd + pad - kj)
                        for j in range(lo, hi):
                            out[n, o, i, j] += wv * x[n, c, ih, j - pad + kj]


def _timed_ms(steps: dict, repeats: int) -> dict:
    """Median ms of each step, the steps timed in alternating rounds (this host's speed drifts within a
    minute: timed one after another, conv2d in torch measured 3.4 ms in one run and 8.6 ms a minute later)."""
    rounds = 5
    times = interleaved_medians(steps, rounds=rounds, repeats=max(1, repeats // rounds), warmup=3)
    return {k: None if t is None else 1e3 * t for k, t in times.items()}


def run(quick: bool = False, repeats: int = 30, mlp_peers=None) -> dict:
    """MLP step and conv2d fwd+bwd medians in ms, numgrad and PyTorch eager (used by ``python -m benchmarks``).

    ``mlp_peers(batch)``: more MLP steps ``{name: step or None}`` (NumPy, torch.compile) timed in the same rounds.
    """
    results: dict = {}
    for batch in ((128,) if quick else (128, 1024)):
        steps = {"numgrad": mlp_step_numgrad(batch), "torch_eager": mlp_step_torch(batch) if torch else None,
                 "gemm_only_numgrad": mlp_gemm_floor_numgrad(batch),
                 "gemm_only_torch": mlp_gemm_floor_torch(batch) if torch else None}
        if mlp_peers is not None:
            steps.update(mlp_peers(batch))
        results[f"mlp_b{batch}"] = _timed_ms(steps, repeats)
    results["conv2d"] = _timed_ms({"numgrad": conv_numgrad(), "torch_eager": conv_torch() if torch else None},
                                  repeats)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    results = run(repeats=args.repeats)
    rows = []
    for batch in (128, 1024):
        r = results[f"mlp_b{batch}"]
        rows.append((f"MLP 784-512-256-10 SGD step, batch {batch}", r["numgrad"], r["torch_eager"] or float("nan")))
        rows.append(("  its 8 matrix products alone", r["gemm_only_numgrad"], r["gemm_only_torch"] or float("nan")))
    r = results["conv2d"]
    rows.append(("conv2d 32x3x32x32->16 k3 p1 fwd+bwd", r["numgrad"], r["torch_eager"] or float("nan")))

    print(f"{'workload':44s} {'numgrad ms':>11s} {'torch ms':>9s} {'numgrad/torch':>14s}")
    for name, ours, theirs in rows:
        print(f"{name:44s} {ours:11.3f} {theirs:9.3f} {ours / theirs:14.2f}")

    x = np.random.default_rng(0).standard_normal((32, 3, 32, 32)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((16, 3, 3, 3)).astype(np.float32)
    b = np.zeros(16, np.float32)
    direct_out = np.empty((32, 16, 32, 32), np.float32)
    xt, wt, bt = ng.tensor(x), ng.tensor(w), ng.tensor(b)
    both = _timed_ms({"im2col": lambda: F.conv2d(xt, wt, bt, padding=1),
                      "direct": lambda: _direct_conv(x, w, b, 1, direct_out)}, args.repeats)
    im2col, direct = both["im2col"], both["direct"]
    np.testing.assert_allclose(direct_out, F.conv2d(xt, wt, bt, padding=1).numpy(), rtol=1e-4, atol=1e-4)
    print(f"\nconv2d forward only: im2col+gemm {im2col:.3f} ms, direct loop nest {direct:.3f} ms "
          f"(direct/im2col = {direct / im2col:.2f})")


if __name__ == "__main__":
    main()
