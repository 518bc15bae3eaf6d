"""numgrad.distributed benchmarks (not part of ``python -m benchmarks``: they need MPI ranks).

    mpiexec -n 2 python -m benchmarks.bench_distributed [--quick] [--out r.json]

1. All-reduce bus bandwidth, 1 KB to 64 MB of float32: ``dist.all_reduce`` on a numgrad tensor against
   mpi4py's ``Allreduce`` on a NumPy array (the MPI library's own figure), in the same run.  Bus bandwidth
   is NCCL's convention: bytes x 2 (n - 1) / n / time, what a ring all-reduce moves per rank.
2. The overlap bucketing buys: the backward of an MLP (8 layers of 1024 x 1024, 32 MB of gradients) alone,
   with DDP's buckets started from the gradient hooks (25 MB and 4 MB buckets), and with one all-reduce of
   every gradient after backward (no overlap: backward under ``no_sync``, then one flat all-reduce).
3. A compiled DDP training step (``ng.compile`` of zero_grad, forward, backward with DDP's bucketed all-reduces,
   SGD step) against the same step run eagerly, on a small MLP where per-op Python dominates.

Each timed repetition starts after a barrier; rank 0 reports the median (the backward cases take turns,
round after round).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import numgrad as ng
import numgrad.distributed as dist
import numgrad.nn.functional as F
from numgrad import nn
from numgrad.nn.parallel import DistributedDataParallel

from .common import table


def timed(fn, comm, repeats: int, warmup: int = 2) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs, each started together on every rank."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        comm.Barrier()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def allreduce_rows(comm, MPI, quick: bool) -> list:
    world = comm.Get_size()
    sizes = [1 << 10, 1 << 14, 1 << 17, 1 << 20, 1 << 23, 1 << 26]  # 1 KB .. 64 MB
    if quick:
        sizes = sizes[:3]
    rows = []
    for nbytes in sizes:
        n = nbytes // 4
        arr = np.ones(n, dtype=np.float32)
        t = ng.ones(n)
        repeats = 50 if nbytes <= 1 << 17 else (10 if nbytes <= 1 << 23 else 5)
        t_mpi = timed(lambda: comm.Allreduce(MPI.IN_PLACE, arr, op=MPI.SUM), comm, repeats)
        t_ng = timed(lambda: dist.all_reduce(t), comm, repeats)
        bus = nbytes * 2 * (world - 1) / world
        rows.append({"bytes": nbytes, "mpi4py_s": t_mpi, "numgrad_s": t_ng,
                     "mpi4py_busbw_GBs": bus / t_mpi / 1e9, "numgrad_busbw_GBs": bus / t_ng / 1e9})
    return rows


def mlp(width: int, depth: int) -> nn.Module:
    ng.manual_seed(0)
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers)


def overlap_rows(comm, quick: bool) -> list:
    width, depth, batch = (256, 4, 16) if quick else (1024, 8, 64)
    x = ng.randn(batch, width)
    y = ng.randn(batch, width)
    repeats = 2 if quick else 5

    plain = mlp(width, depth)
    steps = {"forward alone": lambda: F.mse_loss(plain(x), y)}

    def step_plain():
        plain.zero_grad()
        F.mse_loss(plain(x), y).backward()
    steps["forward + backward, no communication"] = step_plain

    for cap in (25, 4):
        ddp = DistributedDataParallel(mlp(width, depth), bucket_cap_mb=cap)

        def step_ddp(ddp=ddp):
            ddp.zero_grad()
            F.mse_loss(ddp(x), y).backward()
        steps[f"DDP, {cap} MB buckets from the hooks ({len(ddp._buckets)} buckets)"] = step_ddp

    after = DistributedDataParallel(mlp(width, depth))
    params = list(after.parameters())
    flat = ng.zeros(sum(p.numel() for p in params))

    def step_after():
        after.zero_grad()
        with after.no_sync():
            F.mse_loss(after(x), y).backward()
        # no overlap: every gradient, packed into one buffer, all-reduced once backward is done
        buf = flat.numpy()
        start = 0
        for p in params:
            buf[start:start + p.numel()] = p.grad.numpy().reshape(-1)
            start += p.numel()
        dist.all_reduce(flat, op=dist.ReduceOp.AVG)
        start = 0
        for p in params:
            p.grad.numpy().reshape(-1)[:] = buf[start:start + p.numel()]
            start += p.numel()
    steps["one all-reduce after backward (no overlap)"] = step_after
    # the cases take turns, round after round: the machine's drift falls on all of them alike
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            times[name].append(timed(fn, comm, 3, warmup=1))
    rows = [(name, float(np.median(t))) for name, t in times.items()]
    return [{"case": name, "seconds": s, "width": width, "depth": depth, "batch": batch} for name, s in rows]


def compiled_rows(comm, quick: bool) -> list:
    width, depth, batch = (64, 2, 16) if quick else (128, 4, 32)
    rank = comm.Get_rank()
    rng = np.random.default_rng(rank)  # each rank its own data, as in training
    x = ng.tensor(rng.standard_normal((batch, width)).astype(np.float32))
    y = ng.tensor(rng.standard_normal((batch, width)).astype(np.float32))
    repeats = 3 if quick else 7
    steps, compiled = {}, None
    for name in ("eager", "compiled"):
        model = DistributedDataParallel(mlp(width, depth))
        opt = ng.optim.SGD(model.parameters(), lr=1e-3)

        def step(x, y, model=model, opt=opt):
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            return loss
        if name == "compiled":
            step = compiled = ng.compile(step)
        steps[f"DDP training step, {name}"] = lambda step=step: step(x, y)
    for fn in steps.values():  # warm-up and capture (three calls) outside the timing
        for _ in range(4):
            fn()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            times[name].append(timed(fn, comm, 20, warmup=1))
    if compiled.replays == 0:
        raise RuntimeError(f"the compiled DDP step never replayed: {compiled.fallback_reason}")
    return [{"case": name, "seconds": float(np.median(t)), "width": width, "depth": depth, "batch": batch}
            for name, t in times.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script runs")
    parser.add_argument("--out", help="also write the numbers as JSON")
    args = parser.parse_args()
    dist.init_process_group("mpi")
    pg = dist.group.WORLD
    comm, MPI = pg.comm, pg.mpi
    rank, world = dist.get_rank(), dist.get_world_size()
    reduce_rows = allreduce_rows(comm, MPI, args.quick)
    backward_rows = overlap_rows(comm, args.quick)
    compile_rows = compiled_rows(comm, args.quick)
    if rank != 0:
        return
    print(f"all-reduce, float32, {world} ranks ({MPI.Get_library_version().splitlines()[0].strip()}), "
          f"NUMGRAD_DISTRIBUTED_CHECK={os.environ.get('NUMGRAD_DISTRIBUTED_CHECK', '1')}")
    print(table([(f"{r['bytes'] / 1024:.0f} KB", f"{r['mpi4py_s'] * 1e6:.1f} us", f"{r['numgrad_s'] * 1e6:.1f} us",
                  f"{r['mpi4py_busbw_GBs']:.2f}", f"{r['numgrad_busbw_GBs']:.2f}") for r in reduce_rows],
                ["size", "mpi4py", "numgrad", "mpi4py GB/s", "numgrad GB/s"]))
    b = backward_rows[0]
    print(f"\nforward + backward step of an MLP ({b['depth']} x Linear({b['width']}, {b['width']}), batch "
          f"{b['batch']}), {world} ranks")
    print(table([(r["case"], f"{r['seconds'] * 1e3:.1f} ms") for r in backward_rows], ["case", "median"]))
    c = compile_rows[0]
    print(f"\ntraining step of a small MLP ({c['depth']} x Linear({c['width']}, {c['width']}), batch {c['batch']}, "
          f"SGD), {world} ranks")
    print(table([(r["case"], f"{r['seconds'] * 1e6:.0f} us") for r in compile_rows]
                + [("compiled / eager", f"{compile_rows[1]['seconds'] / compile_rows[0]['seconds']:.2f}x")],
                ["case", "median"]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"world": world, "allreduce": reduce_rows, "backward": backward_rows,
                       "compiled_step": compile_rows}, f, indent=1)


if __name__ == "__main__":
    main()
