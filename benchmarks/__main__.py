"""numgrad's benchmark suite: one entry point, ratios from one run.

    python -m benchmarks [--quick] [--out DIR] [--no-results-md]

Runs the fusion workloads (``bench_fusion``: W1 chain at three sizes, peak
memory, per-op overhead, compile cold and warm) and the nn workloads
(``bench_nn``: MLP SGD step, conv2d fwd+bwd; ``bench_gpt``: a small GPT step; ``bench_rnn``: an LSTM
language-model step, LSTM cell and layer steps) for numgrad and, when installed,
NumPy (hand-written forward + gradients), PyTorch eager, torch.compile (not in
--quick: it needs a C compiler and seconds per graph) and jax.jit; measures
the profiler's overhead; prints ratio tables; writes ``results.json`` and
``results.png`` (matplotlib, optional) to ``--out`` (default
``benchmarks/results/``) and, on a full run, ``benchmarks/RESULTS.md``.

``--quick`` proves the suite runs (small sizes, few repeats): its numbers are
not benchmarks. Every figure is a median of repeats in THIS run; compare
ratios, not absolute times, on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numgrad as ng  # before NumPy: numgrad's thread defaults (OpenBLAS single-threaded) then hold for NumPy too
import numpy as np
from benchmarks import bench_fusion, bench_nn
from benchmarks import bench_gpt
from benchmarks import bench_rnn
from benchmarks import bench_compile
from benchmarks.peer_numpy import mlp_numpy
from benchmarks.common import median_time, table

HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------------- extra peers
def mlp_torch_compiled(batch: int):
    try:
        import torch
    except ImportError:
        return None
    step = bench_nn.mlp_step_torch(batch)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                                torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    fwd = torch.compile(lambda xb, yb: torch.nn.functional.cross_entropy(model(xb), yb))
    xb, yb = torch.randn(batch, 784), torch.randint(0, 10, (batch,))
    del step

    def run():
        opt.zero_grad()
        loss = fwd(xb, yb)
        loss.backward()
        opt.step()
        return loss.item()

    try:
        run()
    except Exception as exc:  # noqa: BLE001 - torch.compile needs a working C compiler; report, don't fail
        print(f"  torch.compile MLP unavailable: {type(exc).__name__}: {str(exc)[:80]}")
        return None
    return run


def profiler_overhead(sizes, repeats: int) -> dict:
    """W1 fwd+bwd median with and without ``ng.profiler.profile()`` around each step (interleaved)."""
    out = {}
    for n in sizes:
        step = bench_fusion.w1_numgrad(n)

        def profiled(step=step):
            with ng.profiler.profile(bandwidth=False):
                step()

        for _ in range(2):
            step()
            profiled()
        plain, prof = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            step()
            plain.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            profiled()
            prof.append(time.perf_counter() - t0)
        p, q = statistics.median(plain), statistics.median(prof)
        out[n] = {"plain_s": p, "profiled_s": q, "overhead": q / p - 1.0,
                  "overhead_of_minimums": min(prof) / min(plain) - 1.0}
    return out


def profiler_cost_per_record(iters: int = 2000) -> float:
    """Seconds the profiler adds per record (a tiny fused op: one region record + one kernel record)."""
    a = ng.ones(16)

    def loop():
        for _ in range(iters):
            (a * 2.0).numpy()

    def profiled():
        with ng.profiler.profile(bandwidth=False):
            loop()

    def best(f):
        f()
        return min(median_time(f, repeats=1, warmup=0) for _ in range(5))

    return (best(profiled) - best(loop)) / (2 * iters)


# --------------------------------------------------------------------------- report
def machine() -> dict:
    import numba

    info = {"cpu": ng.profiler.cpu_model(), "cores": os.cpu_count(), "numba_threads": ng.get_num_threads(),
            "python": platform.python_version(), "numba": numba.__version__, "numpy": np.__version__,
            "numgrad": ng.__version__, "platform": platform.platform()}
    for mod in ("torch", "jax"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = None
    info["threading_layer"] = numba.threading_layer() if _parallel_ran() else None
    info["gomp_spincount"] = os.environ.get("GOMP_SPINCOUNT")
    features = os.environ.get("NUMBA_CPU_FEATURES", "")
    info["wide_vectors"] = "-prefer-256-bit" in features.split(",")
    return info


def _parallel_ran() -> bool:
    import numba

    try:
        numba.threading_layer()
        return True
    except ValueError:  # no parallel kernel has run in this process
        return False


def _ms(t):
    return f"{t * 1e3:.3f}" if t else "-"


def _ratio(t, ref):
    return f"{t / ref:.2f}x" if t and ref else "-"


def build_tables(res: dict) -> list:
    """(title, rows, headers) for every table of the report."""
    out = []
    w1 = res["w1"]
    rows = []
    for n, r in w1.items():
        ours = r["numgrad"]
        rows.append([f"{int(n):.0e}", _ms(ours), _ratio(ours, r["floor"]), _ratio(ours, r.get("compute_floor")),
                     _ratio(r.get("numgrad_unfused"), ours), _ratio(r.get("hand_fused"), ours),
                     _ratio(r.get("one_op"), ours), _ratio(r.get("numpy"), ours), _ratio(r.get("torch_eager"), ours),
                     _ratio(r.get("torch_compile"), ours), _ratio(r.get("jax_jit"), ours)])
    out.append(("W1 `(tanh(x*w+b)*sigmoid(x)**2).sum()` fwd+bwd, float32: numgrad ms, numgrad over the bandwidth "
                "floor and over the compute floor (its kernel's in-cache speed), and peer time / numgrad time "
                "(>1: numgrad faster); one op: W1 as a single custom numgrad op around the hand-fused kernel, "
                "the least a numgrad graph can cost", rows,
                ["N", "numgrad ms", "x floor", "x compute", "unfused", "hand-fused", "one op", "NumPy", "torch eager",
                 "torch.compile", "jax.jit"]))
    rows = []
    for name, r in res["nn"].items():
        ours = r["numgrad"]
        rows.append([name, _ms(ours / 1e3), _ratio(r.get("numpy") and r["numpy"], ours),
                     _ratio(r.get("torch_eager"), ours), _ratio(r.get("torch_compile"), ours)])
    out.append(("nn workloads (ms): numgrad and peer time / numgrad time", rows,
                ["workload", "numgrad ms", "NumPy", "torch eager", "torch.compile"]))
    rows = [[name, _ms(r["numgrad"] / 1e3), _ms(r["gemm_only_numgrad"] / 1e3),
             _ms(r["torch_eager"] / 1e3) if r.get("torch_eager") else "-",
             _ms(r["gemm_only_torch"] / 1e3) if r.get("gemm_only_torch") else "-",
             f"{r['gemm_only_numgrad'] / r['torch_eager']:.2f}" if r.get("torch_eager") else "-"]
            for name, r in res["nn"].items() if "gemm_only_numgrad" in r]
    out.append(("MLP step vs its 8 matrix products alone (ms); the target is numgrad <= 0.5 x torch eager, "
                "and the last column is numgrad's BLAS time alone over torch's whole step", rows,
                ["workload", "numgrad step", "numgrad BLAS only", "torch step", "torch BLAS only",
                 "numgrad BLAS / torch step"]))
    po = res["per_op"]
    rows = [["x = x * 1.0001 on (4,), fwd+bwd", f"{po['numgrad_us']:.2f}",
             f"{po['torch_eager_us']:.2f}" if po.get("torch_eager_us") else "-",
             f"{po['python_floor_us']:.2f}" if po.get("python_floor_us") else "-"]]
    out.append(("per-op overhead (us/op; the last column is micrograd-style Python scalars, the least a "
                "graph of Python-level ops does per op)", rows,
                ["workload", "numgrad", "torch eager", "Python floor"]))
    mem = res["memory"]
    rows = [[f"{mem['N']:.0e}", f"{mem['peak_MB']:.1f}", f"{mem['inputs_MB'] + mem['grads_MB']:.1f}",
             f"{mem['peak_over_inputs_plus_grads']:.2f}"]]
    out.append(("W1 peak memory", rows, ["N", "peak MB", "inputs+grads MB", "ratio (target <= 1.25)"]))
    if res.get("compile"):
        cc = res["compile"]
        rows = [["cold (fresh cache dir)", f"{cc['cold_first_step_s']:.2f}", str(cc["cold_kernels_compiled"]),
                 f"{cc['per_kernel_compile_s']:.3f}"],
                ["warm (second process)", f"{cc['warm_first_step_s']:.3f}", f"{cc['warm_kernels_compiled']} "
                 f"compiled, {cc['warm_disk_hits']} disk hits", f"{cc['per_kernel_disk_hit_s'] * 1e3:.1f} ms/hit"],
                ["Numba alone: the hand-written W1 kernel", f"{cc['hand_fused_compile_s']:.3f}", "1 (serial)",
                 f"{cc['hand_fused_compile_s']:.3f}"]]
        out.append(("compile: first W1-like step in a new process", rows, ["case", "first step s", "kernels",
                                                                           "per kernel"]))
    if res.get("ng_compile"):
        out.extend(bench_compile.report_tables(res["ng_compile"]))
    rows = [[f"{int(n):.0e}", _ms(r["plain_s"]), _ms(r["profiled_s"]), f"{100 * r['overhead']:+.1f}%",
             f"{100 * r['overhead_of_minimums']:+.1f}%"] for n, r in res["profiler_overhead"].items()]
    out.append((f"profiler overhead: W1 step with ng.profiler.profile() on (interleaved runs; added cost per "
                f"record measured on tiny ops: {res['profiler_us_per_record']:.1f} us)", rows,
                ["N", "plain ms (median)", "profiled ms (median)", "overhead of medians", "overhead of minimums"]))
    return out


def plot(res: dict, path: str) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    labels, series = [], {}
    peers = ["numgrad_unfused", "hand_fused", "one_op", "numpy", "torch_eager", "torch_compile", "jax_jit"]
    for n, r in res["w1"].items():
        labels.append(f"W1 {int(n):.0e}")
        for p in peers:
            series.setdefault(p, []).append(r.get(p) / r["numgrad"] if r.get(p) else 0.0)
    for name, r in res["nn"].items():
        labels.append(name)
        for p in peers:
            series.setdefault(p, []).append(r.get(p) / r["numgrad"] if r.get(p) else 0.0)
    peers = [p for p in peers if any(series[p])]
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(labels)), 4))
    width = 0.8 / max(len(peers), 1)
    for i, p in enumerate(peers):
        ax.bar([k + (i - (len(peers) - 1) / 2) * width for k in range(len(labels))], series[p], width, label=p)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("peer time / numgrad time (log; >1: numgrad faster)")
    ax.set_title("numgrad vs peers (one run, medians)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_results_md(res: dict, tables: list, path: str) -> None:
    m = res["machine"]
    lines = ["# Benchmark results", "",
             f"Latest full run of `python -m benchmarks` ({res['date']}, {res['duration_s']:.0f} s). "
             "Every number is a median of repeats in this one run; ratios compare runs made side by side.", "",
             "## Machine", "",
             f"- CPU: {m['cpu']}, {m['cores']} cores visible, {m['numba_threads']} Numba threads",
             f"- Python {m['python']}, numba {m['numba']}, numpy {m['numpy']}, torch {m['torch'] or 'not installed'}, "
             f"jax {m['jax'] or 'not installed'}, numgrad {m['numgrad']}",
             f"- {m['platform']}",
             f"- threads: Numba layer {m.get('threading_layer')}, GOMP_SPINCOUNT={m.get('gomp_spincount')} "
             "(numgrad's default; in the benchmarks that time the peers in numgrad's process, PyTorch's intra-op "
             "threads share the process's OpenMP runtime, so they ran with it too: a side-by-side here measured "
             "torch's MLP b128 step 2.01 ms with libgomp's default spin and 2.17 ms with 10000; the ng.compile "
             "tables time every peer in its own process, with its own settings)",
             f"- 512-bit vectors allowed (AVX-512 host): {m.get('wide_vectors')}",
             f"- memory bandwidth (float32 triad, measured in the run): {res['bandwidth_GBps']:.1f} GB/s",
             f"- W1 hand-fused into one Numba kernel, on in-cache arrays (2^16 elements): "
             f"{res['w1_compute_elements_per_s'] / 1e6:.0f} M elements/s; N over this is the compute floor",
             "- The machine is a shared 2-vCPU VM: other jobs ran at the same time, so absolute times "
             "are noisy (±20–30%); compare ratios.", ""]
    for title, rows, headers in tables:
        lines.append(f"## {title}")
        lines.append("")
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "---|" * len(headers))
        for r in rows:
            lines.append("| " + " | ".join(str(c) for c in r) + " |")
        lines.append("")
    lines.append("Raw numbers: `benchmarks/results/results.json`; chart: `benchmarks/results/results.png`.")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and repeats: proves the suite runs (CI)")
    parser.add_argument("--out", default=os.path.join(HERE, "results"), help="directory for results.json/.png")
    parser.add_argument("--no-results-md", action="store_true", help="do not rewrite benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    t_start = time.perf_counter()
    quick = args.quick
    os.makedirs(args.out, exist_ok=True)

    print("== fusion workloads (bench_fusion) ==")
    fus = bench_fusion.run(quick=quick, compile=not quick)
    res: dict = {"machine": machine(), "quick": quick, "date": time.strftime("%Y-%m-%d %H:%M"),
                 "bandwidth_GBps": fus["bandwidth_GBps"], "w1_compute_elements_per_s": fus["w1_compute_elements_per_s"],
                 "w1": {str(n): r for n, r in fus["w1"].items()}, "nn": {}}
    res["memory"] = dict(fus["memory"], N=10**5 if quick else 10**7)
    res["per_op"] = {"numgrad_us": fus["per_op_us"], "torch_eager_us": fus["per_op_torch_us"],
                     "python_floor_us": fus["per_op_python_floor_us"]}
    res["compile"] = fus.get("compile")

    print("\n== nn workloads (bench_nn) ==")
    repeats = 3 if quick else 30
    nn_res = bench_nn.run(quick=quick, repeats=repeats, mlp_peers=lambda batch: {
        "numpy": mlp_numpy(batch), "torch_compile": None if quick else mlp_torch_compiled(batch)})
    res["nn"].update(nn_res)
    res["nn"]["gpt_step_b8_t64_d128"] = bench_gpt.run(repeats=5 if quick else 20)
    for name, r in bench_rnn.run(repeats=5 if quick else 30).items():
        res["nn"][f"{name}_b{bench_rnn.BATCH}_h{bench_rnn.HIDDEN}"] = r
    print("\n== ng.compile: eager vs captured-and-replayed steps (bench_compile) ==")
    res["ng_compile"] = bench_compile.run(quick=quick)
    for name, r in res["nn"].items():
        print(f"  {name}: " + ", ".join(f"{k} {v:.3f} ms" for k, v in r.items() if v))

    print("\n== profiler overhead ==")
    res["profiler_overhead"] = {str(n): v for n, v in profiler_overhead(
        [10**5] if quick else [10**6, 10**7], 3 if quick else 21).items()}
    res["profiler_us_per_record"] = profiler_cost_per_record(200 if quick else 2000) * 1e6

    res["duration_s"] = time.perf_counter() - t_start
    tables = build_tables(res)
    print()
    for title, rows, headers in tables:
        print(title)
        print(table(rows, headers))
        print()
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1, default=float)
    png = plot(res, os.path.join(args.out, "results.png"))
    print(f"wrote {os.path.join(args.out, 'results.json')}" + (f" and {png}" if png else " (no matplotlib: no PNG)"))
    if not quick and not args.no_results_md:
        write_results_md(res, tables, os.path.join(HERE, "RESULTS.md"))
        print(f"wrote {os.path.join(HERE, 'RESULTS.md')}")
    print(f"done in {res['duration_s']:.1f} s")
    return res


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
