"""Fusion benchmarks (issue #3): W1 chain, peak memory, per-op overhead, compile cost.

W1: y = (tanh(x*w + b) * sigmoid(x)**2).sum(), forward + backward (grads of x, w, b),
float32.  Every number is a median of repeats in THIS run, and ratios compare
runs made side by side; the bandwidth floor is 24 bytes/element (read x, w, b;
write three gradients) over the bandwidth of a triad kernel measured now.

Run: python -m benchmarks.bench_fusion [--quick] [--compile]
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc

import numpy as np

import numgrad as ng
from numgrad.kernels import config as ng_config
from numgrad.kernels.backend import empty_for
from benchmarks.common import interleaved_medians, median_time, table


def triad_bandwidth(n: int) -> float:
    """Bytes/second of a[i] = b[i] + s*c[i] in float32 (parallel Numba kernel)."""
    from numba import njit, prange

    @njit(parallel=True, cache=False)
    def triad(a, b, c, s):
        for i in prange(a.shape[0]):
            a[i] = b[i] + s * c[i]

    a = np.empty(n, np.float32)
    b = np.ones(n, np.float32)
    c = np.ones(n, np.float32)
    t = median_time(lambda: triad(a, b, c, np.float32(0.5)), repeats=9)
    return 12 * n / t


def _w1_leaves(n: int) -> tuple:
    """W1's inputs x, w, b in numgrad: the same seeded values for every numgrad variant."""
    ng.manual_seed(0)
    return tuple(ng.randn(n, requires_grad=True) for _ in range(3))


def w1_numgrad(n: int, fused: bool = True):
    """A W1 step (forward, backward, fresh gradients) in numgrad; ``fused=False`` runs it op by op."""
    x, w, b = _w1_leaves(n)

    def step():
        x.grad = w.grad = b.grad = None
        y = (ng.tanh(x * w + b) * ng.sigmoid(x) ** 2).sum()
        y.backward()

    if fused:
        return step

    def unfused_step():
        ng.set_fusion(False)
        try:
            step()
        finally:
            ng.set_fusion(True)
    return unfused_step


def w1_numpy(n: int):
    """W1 forward + hand-derived gradients in NumPy (float32)."""
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(n, dtype=np.float32) for _ in range(3))

    def step():
        t = np.tanh(x * w + b)
        s = 1.0 / (1.0 + np.exp(-x))
        s2 = s * s
        _ = (t * s2).sum()
        dz = s2 * (1.0 - t * t)
        gx = dz * w + t * 2.0 * s2 * (1.0 - s)
        gw = dz * x
        return gx, gw, dz
    return step


@functools.lru_cache(maxsize=None)
def _w1_hand_fused_kernels():
    """W1's forward and backward written by hand as one Numba kernel (numgrad's math functions and flags),
    compiled serial and parallel.

    The reference a user would write without numgrad: preallocated outputs, no
    graph, no Python per op.
    """
    from numba import njit, prange

    from numgrad.kernels.config import FASTMATH
    from numgrad.kernels.cpu import fastmath as fm

    def kernel(x, w, b, gx, gw, gb):
        total = np.float32(0)
        for i in prange(x.shape[0]):
            t = fm.tanh(x[i] * w[i] + b[i])
            s = fm.sigmoid(x[i])
            s2 = s * s
            du = s2 * (np.float32(1) - t * t)  # d loss / d (x*w + b)
            gx[i] = du * w[i] + np.float32(2) * t * s2 * (np.float32(1) - s)
            gw[i] = du * x[i]
            gb[i] = du
            total += t * s2
        return total
    flags = dict(cache=False, nogil=True, error_model="numpy", fastmath=FASTMATH)
    return njit(parallel=False, **flags)(kernel), njit(parallel=True, **flags)(kernel)


def _w1_hand_fused_kernel(n: int):
    """The hand-fused kernel numgrad's own size rule would run at ``n`` elements.

    Below numgrad's parallel threshold the threads would sleep between steps
    and waking them costs more than the work (about 0.1 ms measured at 1e4 on
    a 2-vCPU host), so small sizes run serial, as numgrad's kernels do.
    """
    serial, parallel = _w1_hand_fused_kernels()
    return parallel if n >= ng_config.PARALLEL_THRESHOLD else serial


def w1_hand_fused(n: int):
    """A W1 step (loss and the three gradients) of the hand-written kernel, into preallocated outputs."""
    kernel = _w1_hand_fused_kernel(n)
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(n, dtype=np.float32) for _ in range(3))
    gx, gw, gb = (np.empty(n, np.float32) for _ in range(3))
    return lambda: kernel(x, w, b, gx, gw, gb)


class _W1AsOneOp(ng.autograd.Function):
    """W1 as ONE differentiable op: the hand-fused kernel inside a custom ``Function``.

    Forward runs the kernel (loss and all three gradients); backward hands the
    gradients on.  A numgrad graph cannot have fewer than one op, so a step of
    this op is the least numgrad's engine costs for W1 (recording a node,
    ``backward()``, three leaf ``.grad`` slots) plus the kernel: the floor for
    the target "no slower than jax.jit at 1e4".
    """

    @staticmethod
    def forward(ctx, x, w, b, kernel):
        xs = [t.detach().numpy() for t in (x, w, b)]
        grads = [empty_for(xs, a.shape, a.dtype) for a in xs]  # numgrad's buffer pool, as its kernels use
        total = kernel(*xs, *grads)
        ctx.grads = grads
        return ng.tensor(total)

    @staticmethod
    def backward(ctx, g):
        scale = g.item()
        grads, ctx.grads = ctx.grads, None  # the leaves' .grad may then own the buffers (no copy)
        return tuple(ng.from_numpy(a if scale == 1.0 else a * np.float32(scale)) for a in grads) + (None,)


def w1_one_op(n: int):
    """A numgrad W1 step with the whole of W1 as one custom op (``_W1AsOneOp``)."""
    x, w, b = _w1_leaves(n)
    kernel = _w1_hand_fused_kernel(n)  # chosen once, like the kernels of numgrad's own plans

    def step():
        x.grad = w.grad = b.grad = None
        _W1AsOneOp.apply(x, w, b, kernel).backward()
    return step


def w1_compute_rate(n: int = 1 << 16) -> float:
    """Elements per second of the hand-fused W1 kernel on arrays that fit in the L2 cache.

    There memory costs next to nothing, so ``N / rate`` is the time W1's
    arithmetic alone needs at size N on this machine (the compute floor,
    beside the bandwidth floor ``24 N / triad``).
    """
    return n / median_time(w1_hand_fused(n), repeats=51)


def w1_torch(n: int, compiled: bool = False):
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    x, w, b = (torch.randn(n, requires_grad=True) for _ in range(3))

    def f(x, w, b):
        return (torch.tanh(x * w + b) * torch.sigmoid(x) ** 2).sum()

    fn = torch.compile(f) if compiled else f

    def step():
        x.grad = w.grad = b.grad = None
        fn(x, w, b).backward()

    try:
        step()  # compile outside the timing
    except Exception as exc:  # noqa: BLE001 - torch.compile needs a C compiler; report, don't fail
        print(f"  torch.compile unavailable: {type(exc).__name__}: {str(exc)[:80]}")
        return None
    return step


def w1_jax(n: int):
    try:
        from benchmarks.peer_jax import w1_step
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    return w1_step(*(rng.standard_normal(n, dtype=np.float32) for _ in range(3)))


def w1_peak_memory(n: int) -> dict:
    """Peak traced memory of one W1 step beyond the inputs, vs inputs + gradients."""
    x, w, b = _w1_leaves(n)
    (ng.tanh(x * w + b) * ng.sigmoid(x) ** 2).sum().backward()  # compile first
    x.grad = w.grad = b.grad = None
    # the buffer pool would hand the old gradients' memory back untraced: count every byte the step needs
    from numgrad.kernels.cpu import buffer_pool as pool

    pool.release_all()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    (ng.tanh(x * w + b) * ng.sigmoid(x) ** 2).sum().backward()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    inputs = 3 * n * 4
    grads = 3 * n * 4
    total_peak = inputs + (peak - base)
    return {"inputs_MB": inputs / 1e6, "grads_MB": grads / 1e6, "peak_MB": total_peak / 1e6,
            "peak_over_inputs_plus_grads": total_peak / (inputs + grads)}


def per_op_overhead(steps: int = 1000, lib=ng) -> float:
    """Seconds per op for `x = x * 1.0001` on a (4,) tensor, forward + backward (``lib``: numgrad or torch)."""
    leaf = lib.ones(4, requires_grad=True)

    def run():
        y = leaf
        for _ in range(steps):
            y = y * 1.0001
        leaf.grad = None
        y.sum().backward()

    return median_time(run, repeats=5) / steps


def per_op_torch(steps: int = 1000) -> float | None:
    """The same chain in PyTorch eager (None without torch)."""
    try:
        import torch
    except ImportError:
        return None
    return per_op_overhead(steps, lib=torch)


class _Scalar:
    """micrograd's ``Value`` for one op (mul): the least a Python define-by-run graph does per op.

    One object and one backward closure per op, its inputs kept, and a
    topological walk in backward: no arrays, dtypes, shapes, version counters
    or kernels.  What this costs per op on the machine bounds from below what
    any engine whose ops are Python calls can reach (the per-op target).
    """

    __slots__ = ("data", "grad", "_backward", "_prev")

    def __init__(self, data, children=()):
        self.data = data
        self.grad = 0.0
        self._backward = None
        self._prev = children

    def __mul__(self, other):
        other = other if isinstance(other, _Scalar) else _Scalar(other)
        out = _Scalar(self.data * other.data, (self, other))

        def backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = backward
        return out

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:  # iterative: a 1000-op chain is deeper than the recursion limit allows comfortably
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
        self.grad = 1.0
        for node in reversed(order):
            if node._backward is not None:
                node._backward()


def per_op_python_floor(steps: int = 1000) -> float:
    """Seconds per op of the same chain on micrograd-style Python scalars (``_Scalar``), forward + backward."""
    def run():
        y = _Scalar(1.0)
        for _ in range(steps):
            y = y * 1.0001
        y.backward()

    return median_time(run, repeats=5) / steps


_COMPILE_SCRIPT = textwrap.dedent("""
    import json, time, sys
    t0 = time.perf_counter()
    import numgrad as ng
    x = ng.randn(1000, requires_grad=True); w = ng.randn(1000, requires_grad=True)
    # Numba's one-time start-up (LLVM target, runtime) and the first import of numgrad's
    # backward machinery are paid by any first step; pay them on an unrelated graph so
    # the timing below is the W1 kernels' own cost
    (ng.ones(3, requires_grad=True) * 3.0).sum().backward()
    before = ng.kernels.cache_info()
    t1 = time.perf_counter()
    y = (ng.tanh(x * w + {c}) * ng.sigmoid(x) ** 2 + ng.exp(-x * {c})).sum()
    y.backward()
    t2 = time.perf_counter()
    info = ng.kernels.cache_info()
    print(json.dumps({{"import_s": t1 - t0, "first_step_s": t2 - t1,
                      "compiled": info["compiled"] - before["compiled"],
                      "disk_hits": info["disk_hits"] - before["disk_hits"]}}))
""")


# Numba's own cost for the same work: the hand-fused W1 kernel (serial, as numgrad runs 1 000 elements)
# compiled in a new process after the same warm-up, with numgrad's math functions from Numba's cache
_HAND_COMPILE_SCRIPT = textwrap.dedent("""
    import json, time
    import numpy as np
    import numgrad as ng
    from benchmarks.bench_fusion import _w1_hand_fused_kernels
    (ng.ones(3, requires_grad=True) * 3.0).sum().backward()
    x, w, b, gx, gw, gb = (np.ones(1000, np.float32) for _ in range(6))
    serial, _ = _w1_hand_fused_kernels()
    t0 = time.perf_counter()
    serial(x, w, b, gx, gw, gb)
    print(json.dumps({"compile_s": time.perf_counter() - t0}))
""")


def compile_costs() -> dict:
    """A new fused kernel cold (fresh cache dir) and from the disk cache (second process), and Numba's
    time to compile the hand-written W1 kernel (the floor under the per-kernel figure)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMGRAD_CACHE_DIR=cache)
        script = _COMPILE_SCRIPT.format(c=0.25)
        runs = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        out = subprocess.run([sys.executable, "-c", _HAND_COMPILE_SCRIPT], env=env, capture_output=True, text=True,
                             check=True)
        hand = json.loads(out.stdout.strip().splitlines()[-1])
    cold, warm = runs
    return {
        "hand_fused_compile_s": hand["compile_s"],
        "cold_first_step_s": cold["first_step_s"], "cold_kernels_compiled": cold["compiled"],
        "per_kernel_compile_s": cold["first_step_s"] / max(cold["compiled"], 1),
        "warm_first_step_s": warm["first_step_s"], "warm_kernels_compiled": warm["compiled"],
        "warm_disk_hits": warm["disk_hits"],
        "per_kernel_disk_hit_s": warm["first_step_s"] / max(warm["disk_hits"], 1),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (proves the suite runs)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    args = parser.parse_args(argv)
    return run(quick=args.quick, compile=args.compile)


def run(quick: bool = False, compile: bool = False, sizes=None) -> dict:
    """Run the fusion benchmarks, print their tables and return the numbers (used by ``python -m benchmarks``)."""
    args = argparse.Namespace(quick=quick, compile=compile)
    if sizes is None:
        sizes = [10**4, 10**5] if args.quick else [10**4, 10**6, 10**7]
    bw = triad_bandwidth(10**6 if args.quick else 10**7)
    print(f"triad bandwidth: {bw / 1e9:.1f} GB/s  (numba threads: {ng.get_num_threads()})")
    rate = w1_compute_rate()
    print(f"W1 hand-fused into one Numba kernel, on in-cache arrays: {rate / 1e6:.0f} M elements/s (the compute "
          f"floor at 1e7: {1e10 / rate:.1f} ms; the bandwidth floor: {24e7 / bw * 1e3:.1f} ms)")
    results = {"bandwidth_GBps": bw / 1e9, "w1_compute_elements_per_s": rate, "w1": {}}
    rows = []
    for n in sizes:
        floor = 24 * n / bw
        steps = {"numgrad": w1_numgrad(n), "numgrad_unfused": w1_numgrad(n, fused=False),
                 "hand_fused": w1_hand_fused(n), "one_op": w1_one_op(n), "numpy": w1_numpy(n), "torch_eager": w1_torch(n),
                 "torch_compile": w1_torch(n, compiled=True) if args.compile else None, "jax_jit": w1_jax(n)}
        big = n >= 10**6
        times = interleaved_medians(steps, rounds=5 if big else 7, repeats=1 if big else 15)
        r = {"floor": floor, "compute_floor": n / rate, **times}
        results["w1"][n] = r
        ratio = lambda k: f"{r[k] / r['numgrad']:.1f}x" if r.get(k) else "-"  # noqa: E731
        rows.append([f"{n:.0e}", f"{r['numgrad'] * 1e3:.3f}", f"{r['numgrad'] / floor:.2f}",
                     f"{r['numgrad'] / r['compute_floor']:.2f}", ratio("numgrad_unfused"), ratio("hand_fused"),
                     ratio("one_op"), ratio("torch_eager"), ratio("torch_compile"), ratio("jax_jit")])
    print("\nW1 fwd+bwd (float32): numgrad time, its ratio to the bandwidth and compute floors, and how many "
          "times slower each peer is (one op: W1 as a single custom numgrad op around the hand-fused kernel, "
          "the least a numgrad graph can cost)")
    print(table(rows, ["N", "numgrad ms", "x floor", "x compute", "unfused", "hand-fused", "one op",
                       "torch eager", "torch.compile", "jax.jit"]))
    mem = w1_peak_memory(10**5 if args.quick else 10**7)
    results["memory"] = mem
    print(f"\nW1 peak memory: {mem['peak_MB']:.1f} MB = {mem['peak_over_inputs_plus_grads']:.2f} x "
          f"(inputs + gradients = {mem['inputs_MB'] + mem['grads_MB']:.1f} MB); target <= 1.25")
    chain = 200 if args.quick else 1000
    overhead = per_op_overhead(chain)
    results["per_op_us"] = overhead * 1e6
    torch_overhead = per_op_torch(chain)
    results["per_op_torch_us"] = torch_overhead * 1e6 if torch_overhead else None
    floor = per_op_python_floor(chain)
    results["per_op_python_floor_us"] = floor * 1e6
    torch_note = f"PyTorch eager {torch_overhead * 1e6:.2f} us/op in this run; " if torch_overhead else ""
    print(f"per-op overhead (x = x * 1.0001 on (4,), fwd+bwd): {overhead * 1e6:.2f} us/op "
          f"({torch_note}micrograd-style Python scalars {floor * 1e6:.2f} us/op; target <= 2.5)")
    if not args.quick:
        cc = compile_costs()
        results["compile"] = cc
        print(f"compile: cold first step {cc['cold_first_step_s']:.2f} s for {cc['cold_kernels_compiled']} kernels "
              f"({cc['per_kernel_compile_s']:.3f} s each; Numba compiles the hand-written W1 kernel in "
              f"{cc['hand_fused_compile_s']:.3f} s); second process: {cc['warm_kernels_compiled']} compiled, "
              f"{cc['warm_disk_hits']} disk hits, {cc['per_kernel_disk_hit_s'] * 1e3:.1f} ms per hit")
    return results


if __name__ == "__main__":
    main()
