"""ng.compile: eager numgrad vs compiled numgrad vs PyTorch eager, timed in alternating rounds.

    python -m benchmarks.bench_compile [--quick]

- W1 ``(tanh(x*w+b)*sigmoid(x)**2).sum()`` forward + backward at 1e4 float32 (x, w, b require grad;
  their grads are reset each step, as ``zero_grad`` would);
- MLP 784-512-256-10 SGD step at batch 128, with MSE loss on one-hot targets and with cross entropy
  (a compiled step that falls back to eager prints its reason);
- the PyTorch tutorial's polynomial fit (2000 points, 4 scalar parameters, manual SGD under no_grad);
- a chain of 100 (4, 4) matrix products under no_grad: what one op costs eager vs inside a replay.
Medians of alternating rounds in one run; compare ratios, not absolute times.
"""
from __future__ import annotations

import argparse
import math

import numpy as np

import numgrad as ng
from benchmarks.common import interleaved_medians, table

try:  # optional peer
    import torch
except ImportError:  # pragma: no cover
    torch = None


def w1_steps(n: int):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(n).astype(np.float32) for _ in range(3)]

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
    if torch is not None:
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in arrays)

        def torch_step():
            tx.grad = tw.grad = tb.grad = None
            loss = (torch.tanh(tx * tw + tb) * torch.sigmoid(tx) ** 2).sum()
            loss.backward()
            return loss

        steps["torch eager"] = torch_step
    return steps, compiled


def mlp_steps(batch: int, loss_name: str):
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((batch, 784)).astype(np.float32)
    labels = rng.integers(0, 10, batch)
    onehot = np.eye(10, dtype=np.float32)[labels]

    def numgrad_step_fn():
        ng.manual_seed(0)
        nn = ng.nn
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
        opt = ng.optim.SGD(model.parameters(), lr=0.01)
        loss_fn = nn.MSELoss() if loss_name == "mse" else nn.CrossEntropyLoss()

        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step

    x = ng.tensor(xs)
    y = ng.tensor(onehot) if loss_name == "mse" else ng.tensor(labels)
    eager, compiled = numgrad_step_fn(), ng.compile(numgrad_step_fn())
    steps = {"numgrad eager": lambda: eager(x, y), "numgrad compiled": lambda: compiled(x, y)}
    if torch is not None:
        torch.manual_seed(0)
        tnn = torch.nn
        model = tnn.Sequential(tnn.Linear(784, 512), tnn.ReLU(), tnn.Linear(512, 256), tnn.ReLU(),
                               tnn.Linear(256, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        loss_fn = tnn.MSELoss() if loss_name == "mse" else tnn.CrossEntropyLoss()
        tx = torch.tensor(xs)
        ty = torch.tensor(onehot) if loss_name == "mse" else torch.tensor(labels)

        def torch_step():
            opt.zero_grad()
            loss = loss_fn(model(tx), ty)
            loss.backward()
            opt.step()
            return loss

        steps["torch eager"] = torch_step
    return steps, compiled


def polynomial_steps():
    """The PyTorch tutorial's cubic fit of sin on 2000 points: 4 scalar parameters, manual SGD under no_grad."""
    def make(lib):
        lib.manual_seed(0)
        x = lib.linspace(-math.pi, math.pi, 2000)
        y = lib.sin(x)
        a, b, c, d = (lib.randn((), requires_grad=True) for _ in range(4))

        def step():
            loss = (a + b * x + c * x ** 2 + d * x ** 3 - y).pow(2).sum()
            loss.backward()
            with lib.no_grad():
                for p in (a, b, c, d):
                    p.sub_(1e-6 * p.grad)
                    p.grad = None
            return loss

        return step

    compiled = ng.compile(make(ng))
    steps = {"numgrad eager": make(ng), "numgrad compiled": compiled}
    if torch is not None:
        steps["torch eager"] = make(torch)
    return steps, compiled


def chain_steps(n_ops: int):
    """``n_ops`` products of (4, 4) matrices under no_grad: the per-op cost of eager vs a replayed step."""
    rng = np.random.default_rng(0)
    wa, xa = (rng.standard_normal((4, 4)).astype(np.float32) * 0.5 for _ in range(2))
    w, x = ng.tensor(wa), ng.tensor(xa)

    def chain(x):
        with ng.no_grad():
            for _ in range(n_ops):
                x = x @ w
        return x

    compiled = ng.compile(chain)
    steps = {"numgrad eager": lambda: chain(x), "numgrad compiled": lambda: compiled(x)}
    if torch is not None:
        tw, tx = torch.tensor(wa), torch.tensor(xa)

        def torch_chain():
            with torch.no_grad():
                y = tx
                for _ in range(n_ops):
                    y = y @ tw
            return y

        steps["torch eager"] = torch_chain
    return steps, compiled


def run(quick: bool = False) -> dict:
    rounds, repeats = (2, 2) if quick else (7, 5)
    results = {}
    rows = []
    for label, (steps, compiled) in (
            ("W1 fwd+bwd 1e4", w1_steps(10_000)),
            ("polynomial fit step", polynomial_steps()),
            ("MLP b128 SGD (MSE)", mlp_steps(128, "mse")),
            ("MLP b128 SGD (cross entropy)", mlp_steps(128, "ce")),
            ("100 matmuls 4x4, no_grad", chain_steps(100))):
        times = interleaved_medians(steps, rounds=rounds, repeats=repeats, warmup=4)
        results[label] = times
        eager, comp, tor = times["numgrad eager"], times["numgrad compiled"], times.get("torch eager")
        rows.append((label, f"{eager * 1e6:.0f}", f"{comp * 1e6:.0f}", f"{tor * 1e6:.0f}" if tor else "-",
                     f"{comp / eager:.2f}", f"{comp / tor:.2f}" if tor else "-",
                     f"{compiled.replays} replays, {compiled.recaptures} recaptures"
                     if compiled.fallback_reason is None else "eager fallback"))
        if compiled.fallback_reason is not None:
            print(f"{label}: compiled step runs eagerly: {compiled.fallback_reason}")
    print(table(rows, ("workload", "eager us", "compiled us", "torch us", "compiled/eager", "compiled/torch",
                       "compiled runs")))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)
