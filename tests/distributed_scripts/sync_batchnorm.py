"""Run by tests/test_sync_batchnorm.py under ``mpiexec -n 2``: nn.SyncBatchNorm on each rank's share of a global
batch equals one BatchNorm over the whole batch (float64): outputs, running statistics, input/weight/bias
gradients; 1-d and 2-d inputs, momentum=None, affine=False, no running statistics, uneven and empty shares, a
subgroup-free process_group; a DDP model converted with convert_sync_batchnorm trains like a single process on
the global batch; a compiled DDP step with SyncBatchNorm replays bit for bit like the eager one."""
import numpy as np

import numgrad as ng
import numgrad.distributed as dist
import numgrad.nn.functional as F
from numgrad import nn
from numgrad.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("mpi")
rank, size = dist.get_rank(), dist.get_world_size()
comm = dist.group.WORLD.comm
ng.set_default_dtype(ng.float64)
TIGHT = dict(rtol=1e-12, atol=1e-12)


def summed(t):
    """The sum over the ranks of a per-rank gradient (SyncBatchNorm's weight/bias gradients are local sums)."""
    a = t.detach().numpy().copy()
    comm.Allreduce(dist.group.WORLD.mpi.IN_PLACE, a)
    return a


def close(a, b, what):
    a = a.detach().numpy() if isinstance(a, ng.Tensor) else a
    b = b.detach().numpy() if isinstance(b, ng.Tensor) else b
    np.testing.assert_allclose(a, b, **TIGHT, err_msg=f"rank {rank}: {what}")


def check(shape, shares, steps=2, **options):
    """SyncBatchNorm over this rank's rows of a global batch of ``shape`` (rows split by ``shares``) vs one
    BatchNorm over all rows, ``steps`` training steps then one eval step."""
    what = f"{shape} shares={shares} {options}"
    rng = np.random.default_rng(7)
    channels = shape[1]
    ref = nn.BatchNorm1d(channels, **options) if len(shape) < 4 else nn.BatchNorm2d(channels, **options)
    sync = nn.SyncBatchNorm(channels, **options)
    if ref.affine:  # something other than the ones/zeros start, the same on every rank
        with ng.no_grad():
            for p in ref.parameters():
                p.copy_(ng.tensor(rng.standard_normal(p.shape)))
        sync.load_state_dict(ref.state_dict())
    start = sum(shares[:rank])
    for step in range(steps):
        x = rng.standard_normal(shape) * 3 + 1.5
        upstream = rng.standard_normal(shape)  # the gradient of a loss that is not symmetric in the rows
        x_ref = ng.tensor(x, requires_grad=True)
        y_ref = ref(x_ref)
        (y_ref * ng.tensor(upstream)).sum().backward()
        x_mine = ng.tensor(x[start:start + shares[rank]], requires_grad=True)
        y_mine = sync(x_mine)
        (y_mine * ng.tensor(upstream[start:start + shares[rank]])).sum().backward()
        close(y_mine, y_ref[start:start + shares[rank]], f"{what} step {step} output")
        close(x_mine.grad, x_ref.grad[start:start + shares[rank]], f"{what} step {step} input grad")
        for name, p in sync.named_parameters():
            close(summed(p.grad), dict(ref.named_parameters())[name].grad, f"{what} step {step} {name} grad")
            p.grad = None
        ref.zero_grad()
        for (name, b), b_ref in zip(sync.named_buffers(), ref.buffers()):
            close(b, b_ref, f"{what} step {step} {name}")
    if not sync.track_running_stats:  # eval uses each rank's own batch statistics then (PyTorch's): no sync
        return sync
    sync.eval(), ref.eval()
    x = rng.standard_normal(shape)
    close(sync(ng.tensor(x[start:start + shares[rank]])), ref(ng.tensor(x))[start:start + shares[rank]],
          f"{what} eval")
    return sync


assert size == 2, "written for 2 ranks"
# 1. SyncBatchNorm == one BatchNorm over the concatenated batch
check((8, 3), (4, 4))
check((6, 4, 3, 5), (3, 3))
check((7, 3), (5, 2), momentum=None)  # cumulative average; uneven shares
check((6, 2, 4, 4), (2, 4), affine=False)
check((9, 3), (8, 1), track_running_stats=False)  # one row on rank 1: fine, 9 rows in all
check((5, 3, 2, 2), (5, 0))  # rank 1 holds an empty batch: it still joins both collectives
# float32: statistics in float64 as BatchNorm's, so the two agree to float32 rounding
ref32, sync32 = nn.BatchNorm2d(3, dtype=ng.float32), nn.SyncBatchNorm(3, dtype=ng.float32)
x32 = ng.tensor(np.random.default_rng(3).standard_normal((6, 3, 4, 4)).astype(np.float32) * 4 + 2)
for _ in range(2):
    np.testing.assert_allclose(sync32(x32[rank * 3:rank * 3 + 3]).detach().numpy(),
                               ref32(x32)[rank * 3:rank * 3 + 3].detach().numpy(),
                               rtol=1e-5, atol=1e-5, err_msg=f"rank {rank}: float32 output")
for b, b_ref in zip(sync32.buffers(), ref32.buffers()):
    np.testing.assert_allclose(b.numpy(), b_ref.numpy(), rtol=1e-6, atol=1e-6, err_msg=f"rank {rank}: float32 stats")
sync = nn.SyncBatchNorm(3, bias=False)
check_bias_free = sync(ng.randn(4, 3, requires_grad=True))
check_bias_free.sum().backward()
assert sync.bias is None and sync.weight.grad is not None
# an input that needs no gradient (the first layer): backward skips the all-reduce on every rank, as PyTorch's
frozen_input = nn.SyncBatchNorm(3)
rows = ng.tensor(np.arange(12.0).reshape(4, 3) + 12 * rank)
(frozen_input(rows) ** 2).sum().backward()
assert frozen_input.weight.grad is not None and frozen_input.bias.grad is not None
# double backward through the synchronized statistics is not supported: a clear error on every rank
x = ng.randn(4, 3, requires_grad=True)
try:
    ng.autograd.grad(nn.SyncBatchNorm(3)(x).pow(3).sum(), x, create_graph=True)
    raise AssertionError("create_graph=True through SyncBatchNorm should raise")
except RuntimeError as e:
    assert "SyncBatchNorm's backward is not differentiable" in str(e), e

# 2. the process_group argument: the world given explicitly; a rank outside a group never syncs
check((4, 2), (2, 2), steps=1)
explicit = nn.SyncBatchNorm(2, process_group=dist.group.WORLD)
ones_or_twos = ng.full((2, 2), float(rank + 1))
explicit(ones_or_twos)
close(explicit.running_mean, np.full(2, 0.1 * 1.5), "process_group=WORLD running mean over both ranks")
solo = dist.new_group([0])
alone = nn.SyncBatchNorm(2, process_group=solo)  # a group of 1 (rank 0), a non-member elsewhere: plain batch norm
alone(ones_or_twos + ng.tensor([[0.0, 0.0], [1.0, 1.0]]))
close(alone.running_mean, np.full(2, 0.1 * (rank + 1.5)), "a one-rank group does not synchronize")

# 3. DDP over a model converted with convert_sync_batchnorm: 2 SGD steps == one process on the global batch
LOCAL = 4


def make():
    ng.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 5 * 5, 8), nn.BatchNorm1d(8, momentum=None), nn.Tanh(), nn.Linear(8, 3))


def batch(step):
    rng = np.random.default_rng(50 + step)
    return ng.tensor(rng.standard_normal((LOCAL * size, 2, 5, 5))), ng.tensor(rng.standard_normal((LOCAL * size, 3)))


def mine(t):
    return t[rank * LOCAL:(rank + 1) * LOCAL].contiguous()


ref = make()
ref_opt = ng.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
model = DDP(nn.SyncBatchNorm.convert_sync_batchnorm(make()))
assert sum(isinstance(m, nn.SyncBatchNorm) for m in model.modules()) == 2
opt = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for step in range(2):
    x, y = batch(step)
    ref_opt.zero_grad()
    F.mse_loss(ref(x), y).backward()
    ref_opt.step()
    opt.zero_grad()
    F.mse_loss(model(mine(x)), mine(y)).backward()  # DDP averages: the mean over the global batch
    opt.step()
    for (name, p), q in zip(model.module.state_dict().items(), ref.state_dict().values()):
        close(p, q, f"DDP + SyncBatchNorm step {step}: {name}")

# 4. a compiled DDP step with SyncBatchNorm: its all-gathers and all-reduces are captured and replay bit for bit
#    like the eager step
models = [DDP(nn.SyncBatchNorm.convert_sync_batchnorm(make())) for _ in range(2)]
opts = [ng.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in models]


def trainer(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


# momentum=None reads num_batches_tracked in Python (as BatchNorm does): the compiled model uses momentum 0.1
for m in models:
    for bn in m.modules():
        if isinstance(bn, nn.SyncBatchNorm):
            bn.momentum = 0.1
eager, compiled = trainer(models[0], opts[0]), ng.compile(trainer(models[1], opts[1]))
for step in range(5):
    x, y = batch(10 + step)
    le, lc = eager(mine(x), mine(y)), compiled(mine(x), mine(y))
    assert le.item() == lc.item(), f"rank {rank}: compiled step {step} loss differs"
    for (name, p), q in zip(models[0].state_dict().items(), models[1].state_dict().values()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy()), f"rank {rank}: compiled step {step}: {name}"
assert compiled.replays >= 2, (compiled.replays, compiled.fallback_reason)
text = compiled.explain()
assert "all_gather_into_tensor (MPI)" in text and "all_reduce (MPI)" in text, text
print(f"rank {rank}: sync batchnorm ok")
