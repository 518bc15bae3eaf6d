"""ng.compile on CUDA, on a real GPU: are compiled steps bit-identical to eager there, and how much faster?

One short run for a machine with an NVIDIA GPU (device time is scarce), from the repository root:
    NUMBA_ENABLE_CUDASIM=0 python -m benchmarks.gpu_compile_check [--out r.json]
For each MLP (Linear-ReLU-...-Linear, cross entropy) and optimizer (SGD with momentum, Adam) it
1. trains ``--steps`` steps eagerly and the same steps through ``ng.compile`` (and again with CUDA graphs,
   ``NUMGRAD_CUDA_GRAPHS=1``), and compares losses and parameters bit for bit (the simulator tests check the
   launch loop only; the graph path is checked here first);
2. times one step of each (medians of interleaved rounds, the device synchronized before the clock stops),
   with PyTorch eager CUDA beside them when torch has CUDA.
``--quick`` runs tiny sizes (also on the simulator, ``NUMBA_ENABLE_CUDASIM=1``, to prove the script runs; its
timings mean nothing there).
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

import numgrad as ng

from .common import interleaved_medians, table

FULL = [((784, 512, 256, 10), 128), ((784, 512, 256, 10), 1024), ((64, 64, 10), 32)]
QUICK = [((4, 8, 3), 5)]


def _make(sizes, opt_name: str):
    ng.manual_seed(0)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [ng.nn.Linear(a, b), ng.nn.ReLU()]
    model = ng.nn.Sequential(*layers[:-1]).to("cuda")
    if opt_name == "sgd":
        opt = ng.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        opt = ng.optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        opt.zero_grad()
        loss = ng.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, step


def _compiled(step, graphs: bool):
    """``ng.compile(step)``; ``NUMGRAD_CUDA_GRAPHS`` is read when the plan is built (the third call)."""
    os.environ["NUMGRAD_CUDA_GRAPHS"] = "1" if graphs else "0"
    return ng.compile(step)


def _batches(sizes, batch: int, count: int) -> list:
    rng = np.random.default_rng(1)
    return [(ng.tensor(rng.standard_normal((batch, sizes[0])).astype(np.float32), device="cuda"),
             ng.tensor(rng.integers(0, sizes[-1], batch), device="cuda")) for _ in range(count)]


def _params(model) -> list:
    return [p.detach().cpu().numpy().tobytes() for p in model.parameters()]


def check(sizes, batch: int, opt_name: str, steps: int) -> dict:
    """Bitwise comparison of eager, compiled and compiled-with-graphs training over ``steps`` steps."""
    data = _batches(sizes, batch, steps)
    runs = {}
    for name in ("eager", "compiled", "graphs"):
        model, step = _make(sizes, opt_name)
        fn = step if name == "eager" else _compiled(step, name == "graphs")
        losses = [fn(x, y).item() for x, y in data]
        runs[name] = (np.array(losses).tobytes(), _params(model), fn)
    out = {}
    for name in ("compiled", "graphs"):
        fn = runs[name][2]
        plan = next((v.plan for v in fn._variants.values() if v.plan is not None), None)
        out[name] = {
            "bitwise_equal": runs[name][0] == runs["eager"][0] and runs[name][1] == runs["eager"][1],
            "replays": fn.replays, "fallback_reason": fn.fallback_reason,
            "launches": None if plan is None else len(plan.kernel_names),
            "graph_calls": None if plan is None or plan.graph_steps is None else len(plan.graph_steps),
        }
    return out


def _torch_step(sizes, batch: int, opt_name: str):
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
    opt = (torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if opt_name == "sgd"
           else torch.optim.Adam(model.parameters(), lr=1e-3))
    x = torch.randn(batch, sizes[0], device="cuda")
    y = torch.randint(0, sizes[-1], (batch,), device="cuda")

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        torch.cuda.synchronize()

    return step


def timing(sizes, batch: int, opt_name: str, rounds: int) -> dict:
    """Median seconds per step: eager, compiled (launch loop), compiled with CUDA graphs, torch eager CUDA."""
    (x, y), = _batches(sizes, batch, 1)
    steps = {}
    for name in ("eager", "compiled", "graphs"):
        _, step = _make(sizes, opt_name)
        fn = step if name == "eager" else _compiled(step, name == "graphs")
        for _ in range(4):  # warm-up, two recordings, a first replay
            fn(x, y)

        def run(fn=fn):
            fn(x, y)
            ng.cuda.synchronize()

        steps[name] = run
    steps["torch_eager"] = _torch_step(sizes, batch, opt_name)
    return interleaved_medians(steps, rounds=rounds, repeats=5, warmup=2)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (runs on the simulator too)")
    parser.add_argument("--steps", type=int, default=6, help="steps of the bitwise check")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    if not ng.cuda.is_available():
        raise SystemExit("no GPU (and no CUDA simulator): nothing to check")
    sim = ng.cuda.simulator_enabled()
    print(f"device: {ng.cuda.get_device_name()}{' (SIMULATOR: timings are meaningless)' if sim else ''}")
    results = {"device": ng.cuda.get_device_name(), "simulator": sim, "cases": []}
    rows = []
    for sizes, batch in QUICK if args.quick else FULL:
        for opt_name in ("sgd", "adam"):
            label = f"MLP {'-'.join(map(str, sizes))} b{batch} {opt_name}"
            try:
                checked = check(sizes, batch, opt_name, args.steps)
                times = timing(sizes, batch, opt_name, rounds=2 if args.quick else 5)
            except Exception as exc:  # noqa: BLE001 - report and go on to the next case (device time is scarce)
                print(f"{label}: {type(exc).__name__}: {exc}")
                results["cases"].append({"case": label, "error": f"{type(exc).__name__}: {exc}"})
                continue
            results["cases"].append({"case": label, "check": checked, "seconds": times})
            ms = {k: (None if v is None else v * 1e3) for k, v in times.items()}
            rows.append([label, f"{ms['eager']:.3f}", f"{ms['compiled']:.3f}", f"{ms['graphs']:.3f}",
                         "-" if ms["torch_eager"] is None else f"{ms['torch_eager']:.3f}",
                         f"{times['eager'] / times['compiled']:.2f}x",
                         "yes" if checked["compiled"]["bitwise_equal"] else "NO",
                         "yes" if checked["graphs"]["bitwise_equal"] else "NO"])
            for name in ("compiled", "graphs"):
                if checked[name]["fallback_reason"]:
                    print(f"{label} {name}: runs eagerly: {checked[name]['fallback_reason']}")
    if rows:
        print(table(rows, ["case", "eager ms", "compiled ms", "graphs ms", "torch ms", "eager/compiled",
                           "bitwise", "graphs bitwise"]))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1, default=str)
    return results


if __name__ == "__main__":
    main()
