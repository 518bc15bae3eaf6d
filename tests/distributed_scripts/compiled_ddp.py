"""Run by tests/test_distributed.py under ``mpiexec -n 2``: training steps with DistributedDataParallel compiled by
``ng.compile`` replay their all-reduces (bitwise equal to the eager DDP step, equal to single-process training on
the global batch); no_sync, a graph break on one rank only and a user-level all_reduce in a compiled step."""
import collections

import numpy as np

import numgrad as ng
import numgrad.distributed as dist
import numgrad.nn.functional as F
from numgrad import nn
from numgrad.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("mpi")
rank, size = dist.get_rank(), dist.get_world_size()
comm = dist.group.WORLD.comm
LOCAL = 4
GLOBAL = LOCAL * size


def make(seed, bn=False):
    ng.manual_seed(seed)
    layers = [nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 16)]
    layers += [nn.BatchNorm1d(16)] if bn else []
    return nn.Sequential(*layers, nn.ReLU(), nn.Linear(16, 3))


def batch(step):
    """The global batch of a step; each rank trains on its own rows (different data per rank)."""
    rng = np.random.default_rng(100 + step)
    return (ng.tensor(rng.standard_normal((GLOBAL, 5)).astype(np.float32)),
            ng.tensor(rng.standard_normal((GLOBAL, 3)).astype(np.float32)))


def mine(t):
    return t[rank * LOCAL:(rank + 1) * LOCAL].contiguous()


def bits(t):
    return t.detach().numpy().reshape(-1).view(np.uint8).copy()


def assert_same_bits(a_model, b_model, what):
    for (name, p), q in zip(a_model.state_dict().items(), b_model.state_dict().values()):
        assert np.array_equal(bits(p), bits(q)), f"rank {rank}: {what}: {name} differs"


def assert_synced(model, what):
    for name, p in model.state_dict().items():
        if name.endswith("num_batches_tracked") or "running" in name:
            continue
        mine_ = p.detach().numpy().astype(np.float64).reshape(-1)
        every = np.empty((size, mine_.size))
        comm.Allgather(mine_, every)
        assert (every == every[0]).all(), f"rank {rank}: {what}: {name} differs between ranks"


def trainer(model, opt, compiled):
    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return ng.compile(step) if compiled else step


# 1. a compiled DDP step == the eager DDP step, bit for bit, on every rank; == single-process training on the
#    global batch within float32 rounding.  Small buckets: several all-reduces start during backward.  With
#    BatchNorm, forward broadcasts rank 0's buffers (captured too).
for bn in (False, True):
    # rank 0's initial values: equal; with BatchNorm the .grad tensors are views of the buckets too
    models = [DDP(make(rank, bn), bucket_cap_mb=1e-3, gradient_as_bucket_view=bn) for _ in range(2)]
    assert len(models[0]._buckets) > 1
    opts = [ng.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in models]
    eager, compiled = trainer(models[0], opts[0], False), trainer(models[1], opts[1], True)
    ref = make(0, bn)
    ref_opt = ng.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    for step in range(6):
        x, y = batch(step)
        le, lc = eager(mine(x), mine(y)), compiled(mine(x), mine(y))
        assert np.array_equal(bits(le), bits(lc)), f"rank {rank}: step {step} loss differs (bn={bn})"
        assert_same_bits(models[0], models[1], f"step {step} compiled vs eager (bn={bn})")
        if not bn:
            ref_opt.zero_grad()
            F.mse_loss(ref(x), y).backward()
            ref_opt.step()
            for p, q in zip(models[1].module.parameters(), ref.parameters()):
                np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=2e-5, atol=2e-6)
    assert compiled.replays >= 2, (compiled.replays, compiled.fallback_reason)
    assert_synced(models[1], f"compiled training on different data per rank (bn={bn})")
    text = compiled.explain()
    assert "all_reduce (MPI)" in text and "inside no_sync()" in text, text
    assert ("broadcast (MPI)" in text) == bn, text

# 2. gradient accumulation with no_sync() inside the compiled step is captured; calling a step captured outside
#    no_sync() from inside it runs eagerly (the guard), so it does not communicate
models = [DDP(make(0)) for _ in range(2)]
opts = [ng.optim.SGD(m.parameters(), lr=0.05) for m in models]


def accumulate(model, opt):
    def step(x1, y1, x2, y2):
        opt.zero_grad()
        with model.no_sync():
            F.mse_loss(model(x1), y1).backward()
        F.mse_loss(model(x2), y2).backward()
        opt.step()
    return step


eager, compiled = accumulate(*zip(models, opts).__next__()), ng.compile(accumulate(models[1], opts[1]))
for step in range(5):
    (x1, y1), (x2, y2) = batch(10 + step), batch(20 + step)
    args = (mine(x1), mine(y1), mine(x2), mine(y2))
    eager(*args)
    compiled(*args)
    assert_same_bits(models[0], models[1], f"no_sync accumulation step {step}")
assert compiled.replays >= 2, (compiled.replays, compiled.fallback_reason)
assert_synced(models[1], "no_sync accumulation")

models = [DDP(make(0)) for _ in range(2)]
opts = [ng.optim.SGD(m.parameters(), lr=0.05) for m in models]
eager, compiled = trainer(models[0], opts[0], False), trainer(models[1], opts[1], True)
for step in range(4):
    x, y = batch(30 + step)
    eager(mine(x), mine(y))
    compiled(mine(x), mine(y))
replays, eager_calls = compiled.replays, compiled.eager_calls
assert replays >= 1
x, y = batch(40)
with models[0].no_sync():
    eager(mine(x), mine(y))
with models[1].no_sync():
    compiled(mine(x), mine(y))  # would all-reduce if it replayed the plan captured outside no_sync()
assert compiled.replays == replays and compiled.eager_calls == eager_calls + 1
assert_same_bits(models[0], models[1], "a compiled step called inside no_sync()")
if size > 1:
    w = models[1].module[0].weight.detach().numpy().reshape(-1).astype(np.float64)
    every = np.empty((size, w.size))
    comm.Allgather(w, every)
    assert not (every == every[0]).all(), "inside no_sync() the replicas train on their own gradients"
for step in range(4):  # outside again: the eager call rebound the .grad tensors, so the step is captured again
    x, y = batch(41 + step)
    eager(mine(x), mine(y))
    compiled(mine(x), mine(y))
assert compiled.replays > replays
assert_same_bits(models[0], models[1], "compiled steps after one inside no_sync()")

# 3. a graph break on one rank only: rank 0 reads the loss in Python and runs eagerly, the others replay; the
#    eager rank and the replaying ranks exchange the same messages, so nobody hangs and results stay equal
models = [DDP(make(0)) for _ in range(2)]
opts = [ng.optim.SGD(m.parameters(), lr=0.1) for m in models]
eager = trainer(models[0], opts[0], False)
inner = trainer(models[1], opts[1], False)
seen = []


def breaking(x, y):
    loss = inner(x, y)
    if rank == 0:
        seen.append(loss.item())
    return loss


compiled = ng.compile(breaking)
for step in range(6):
    x, y = batch(50 + step)
    eager(mine(x), mine(y))
    compiled(mine(x), mine(y))
    assert_same_bits(models[0], models[1], f"graph break on rank 0, step {step}")
if rank == 0:
    # it appends to a global list (a Python side effect, found at the warm-up call) after reading the loss
    assert compiled.replays == 0 and "changes Python state (the length of a list)" in compiled.fallback_reason
else:
    assert compiled.replays >= 2, (compiled.replays, compiled.fallback_reason)
assert_synced(models[1], "graph break on one rank")

# 4. a user's all_reduce (AVG) and broadcast of the loss inside the step are captured: every rank returns the
#    mean loss and rank 1's loss (which changes from call to call: what rank 0 receives differs each time)
models = [DDP(make(0)) for _ in range(2)]
opts = [ng.optim.SGD(m.parameters(), lr=0.1) for m in models]


def logged(model, opt):
    def step(x, y):
        loss = trainer(model, opt, False)(x, y)
        mean = loss.detach().clone()
        dist.all_reduce(mean, op=dist.ReduceOp.AVG)
        last = loss.detach().clone()
        dist.broadcast(last, src=size - 1)
        return mean, last
    return step


eager, compiled = logged(models[0], opts[0]), ng.compile(logged(models[1], opts[1]))
for step in range(5):
    x, y = batch(60 + step)
    (a, a_last), (b, b_last) = eager(mine(x), mine(y)), compiled(mine(x), mine(y))
    assert np.array_equal(bits(a), bits(b)), f"rank {rank}: all_reduce(AVG) of the loss, step {step}"
    assert np.array_equal(bits(a_last), bits(b_last)), f"rank {rank}: broadcast of the loss, step {step}"
    for value in (b, b_last):
        every = np.empty(size)
        comm.Allgather(np.array([float(value)]), every)
        assert (every == every[0]).all()
assert compiled.replays >= 2, compiled.fallback_reason
assert "all_reduce (MPI)" in compiled.explain() and "broadcast (MPI)" in compiled.explain()

# 5. verification fails on rank 0 only (its step also writes a parameter's memory through NumPy, which the capture
#    cannot see): rank 0 runs eagerly, the others replay, nobody waits on anybody's verification
models = [DDP(make(0)) for _ in range(2)]
opts = [ng.optim.SGD(m.parameters(), lr=0.1) for m in models]
# the parameters' own memory, each held in a deque: the guards do not look into one (a NumPy array they reach is
# guarded by its bytes, and writing into it would make the step run eagerly before any verification)
raw = [collections.deque([m.module[0].bias.detach().numpy()]) for m in models]


def sneaky(k):
    step = trainer(models[k], opts[k], False)

    def run(x, y):
        loss = step(x, y)
        if rank == 0:
            raw[k][0] += np.float32(1e-3)  # NumPy behind numgrad's back: only the eager step does it
        return loss
    return run


eager, compiled = sneaky(0), ng.compile(sneaky(1))
for step in range(6):
    x, y = batch(70 + step)
    eager(mine(x), mine(y))
    compiled(mine(x), mine(y))
    assert_same_bits(models[0], models[1], f"verification failing on rank 0 only, step {step}")
if rank == 0:
    assert compiled.replays == 0 and "does not reproduce" in compiled.fallback_reason, compiled.fallback_reason
else:
    assert compiled.replays >= 2, (compiled.replays, compiled.fallback_reason)

# 6. what a replay could not repeat runs eagerly, with the reason: find_unused_parameters=True, send/recv
models = [DDP(make(0), find_unused_parameters=True) for _ in range(2)]
opts = [ng.optim.SGD(m.parameters(), lr=0.1) for m in models]
eager, compiled = trainer(models[0], opts[0], False), trainer(models[1], opts[1], True)
for step in range(4):
    x, y = batch(80 + step)
    eager(mine(x), mine(y))
    compiled(mine(x), mine(y))
    assert_same_bits(models[0], models[1], f"find_unused_parameters step {step}")
assert compiled.replays == 0 and "find_unused_parameters=True" in compiled.fallback_reason, compiled.fallback_reason


def exchange(t):
    out = ng.zeros(2)
    peer = (rank + 1) % size
    work = dist.isend(t * 2, dst=peer)
    dist.recv(out, src=(rank - 1) % size)
    work.wait()
    return out


compiled = ng.compile(exchange)
for step in range(4):
    assert compiled(ng.full((2,), float(step + rank))).tolist() == [2.0 * (step + (rank - 1) % size)] * 2
assert compiled.replays == 0 and "point-to-point" in compiled.fallback_reason, compiled.fallback_reason

# an all-reduce started before the step and waited for in it: the replay would not wait
pending = {}


def finish_outside_work(x):
    pending["work"].wait()
    pending["work"].wait()  # a second wait() is nothing new
    return pending["t"] * x


compiled = ng.compile(finish_outside_work)
for step in range(4):
    pending["t"] = ng.full((2,), float(step + rank))
    pending["work"] = dist.all_reduce(pending["t"], async_op=True)
    assert compiled(ng.ones(2)).tolist() == [float(sum(step + r for r in range(size)))] * 2
assert compiled.replays == 0 and "started outside the step" in compiled.fallback_reason, compiled.fallback_reason

dist.barrier()
if rank == 0:
    print("compiled ddp ok")
