"""GPU benchmarks: W1 fwd+bwd on device='cuda' vs PyTorch eager CUDA and the copy-bandwidth floor; MLP step.

Run on a machine with an NVIDIA GPU and numba-cuda:
    python -m benchmarks.bench_cuda              # W1 at 1e6, 1e7, 1e8 float32, MLP b128/b1024
    python -m benchmarks.bench_cuda --out r.json # also write the numbers
On Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) only ``--quick`` makes
sense: tiny sizes that prove the script runs; its timings mean nothing.

Timings synchronize the device before the clock stops (kernels are asynchronous).
The floor is ``W1 bytes / copy bandwidth``: W1 reads x, w, b and writes three
gradients (24 bytes per element in float32), and the bandwidth is measured in
the same run with a device-to-device copy counting bytes read + written.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

import numgrad as ng

from .common import median_time, table


def _sync():
    ng.cuda.synchronize()


def copy_bandwidth(n: int) -> tuple:
    """(bytes per second, how) of a device-to-device float32 copy, counting bytes read + written.

    PyTorch's copy when PyTorch has CUDA (the figure peers are quoted against), else numgrad's own
    generated copy kernel.
    """
    try:
        import torch

        if torch.cuda.is_available():
            src = torch.empty(n, device="cuda")
            dst = torch.empty_like(src)

            def run():
                dst.copy_(src)
                torch.cuda.synchronize()

            return 8 * n / median_time(run, repeats=9, warmup=2), "torch copy_"
    except ImportError:
        pass
    from numgrad.kernels.backend import empty, run_map
    from numgrad.ir import forward_roots as _forward_roots
    from numgrad.ir.table import ELEMENTWISE

    src = ng.zeros(n, device="cuda")._data
    dst = empty((n,), np.float32, ng.device("cuda"))
    roots = _forward_roots(ELEMENTWISE["identity"])

    def run_numgrad():
        run_map(roots, [src], None, (n,), "float32", [""], outs=[dst])
        _sync()

    return 8 * n / median_time(run_numgrad, repeats=9, warmup=2), "numgrad identity kernel"


def w1_numgrad_cuda(n: int) -> float:
    ng.manual_seed(0)
    x, w, b = (ng.randn(n, device="cuda", requires_grad=True) for _ in range(3))

    def step():
        x.grad = w.grad = b.grad = None
        (ng.tanh(x * w + b) * ng.sigmoid(x) ** 2).sum().backward()
        _sync()

    return median_time(step, repeats=7, warmup=2)


def w1_torch_cuda(n: int):
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    gen = torch.Generator(device="cuda").manual_seed(0)
    x, w, b = (torch.randn(n, device="cuda", generator=gen, requires_grad=True) for _ in range(3))

    def step():
        x.grad = w.grad = b.grad = None
        (torch.tanh(x * w + b) * torch.sigmoid(x) ** 2).sum().backward()
        torch.cuda.synchronize()

    return median_time(step, repeats=7, warmup=2)


def mlp_step_cuda(batch: int, sizes=(784, 512, 256, 10)) -> float:
    """One SGD step of an MLP with ReLU and cross-entropy on CUDA (every op must have a CUDA kernel)."""
    ng.manual_seed(0)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [ng.nn.Linear(a, b), ng.nn.ReLU()]
    model = ng.nn.Sequential(*layers[:-1]).to("cuda")
    opt = ng.optim.SGD(model.parameters(), lr=0.01)
    x = ng.randn(batch, sizes[0], device="cuda")
    y = ng.randint(0, sizes[-1], (batch,), device="cuda")

    def step():
        opt.zero_grad()
        ng.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        _sync()

    return median_time(step, repeats=7, warmup=2)


def mlp_torch_cuda(batch: int, sizes=(784, 512, 256, 10)):
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.manual_seed(0)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1]).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, sizes[0], device="cuda")
    y = torch.randint(0, sizes[-1], (batch,), device="cuda")

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        torch.cuda.synchronize()

    return median_time(step, repeats=7, warmup=2)


def _try(fn, *args):
    """A benchmark's time, or the reason it could not run (an op without a CUDA kernel, say)."""
    try:
        return fn(*args)
    except (NotImplementedError, RuntimeError, TypeError) as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"


def run(quick: bool = False) -> dict:
    """Run the GPU benchmarks, print their tables and return the numbers."""
    if not ng.cuda.is_available():
        raise SystemExit("no GPU (and no CUDA simulator): nothing to benchmark")
    sim = ng.cuda.simulator_enabled()
    sizes = [256] if quick else [10**6, 10**7, 10**8]
    bw, how = copy_bandwidth(1024 if quick else 10**8)
    print(f"device: {ng.cuda.get_device_name()}{' (SIMULATOR: timings are meaningless)' if sim else ''}")
    print(f"copy bandwidth: {bw / 1e9:.1f} GB/s ({how})")
    results = {"device": ng.cuda.get_device_name(), "simulator": sim, "copy_bandwidth_GBps": bw / 1e9,
               "bandwidth_from": how, "w1": {}, "mlp": {}}
    rows = []
    for n in sizes:
        floor = 24 * n / bw
        r = {"floor": floor, "numgrad": w1_numgrad_cuda(n), "torch_eager_cuda": w1_torch_cuda(n)}
        results["w1"][n] = r
        peer = f"{r['torch_eager_cuda'] / r['numgrad']:.2f}x" if r["torch_eager_cuda"] else "-"
        rows.append([f"{n:.0e}", f"{r['numgrad'] * 1e3:.3f}", f"{r['numgrad'] / floor:.2f}", peer])
    print("\nW1 fwd+bwd float32 on CUDA: numgrad time, its ratio to the copy-bandwidth floor, and how many times "
          "slower PyTorch eager CUDA is")
    print(table(rows, ["N", "numgrad ms", "x floor", "torch eager"]))
    mlp_rows = []
    for batch in [4] if quick else [128, 1024]:
        sizes_mlp = (16, 8, 8, 4) if quick else (784, 512, 256, 10)
        r = {"numgrad": _try(mlp_step_cuda, batch, sizes_mlp), "torch_eager_cuda": mlp_torch_cuda(batch, sizes_mlp)}
        results["mlp"][batch] = r
        shown = f"{r['numgrad'] * 1e3:.3f}" if isinstance(r["numgrad"], float) else r["numgrad"]
        peer = (f"{r['torch_eager_cuda'] / r['numgrad']:.2f}x"
                if isinstance(r["numgrad"], float) and r["torch_eager_cuda"] else "-")
        mlp_rows.append([batch, shown, peer])
    print("\nMLP 784-512-256-10 SGD step on CUDA")
    print(table(mlp_rows, ["batch", "numgrad ms", "torch eager"]))
    return results


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (proves the script runs; simulator)")
    parser.add_argument("--out", help="write the results as JSON to this file")
    args = parser.parse_args(argv)
    results = run(quick=args.quick)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2, default=str)
    return results


if __name__ == "__main__":
    main()
