"""Run by tests/test_distributed.py under ``mpiexec -n 2``/``-n 3``: DistributedDataParallel against
single-process training on the same global batch."""
import numpy as np

import numgrad as ng
import numgrad.distributed as dist
import numgrad.nn.functional as F
from numgrad import nn
from numgrad.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("mpi")
rank, size = dist.get_rank(), dist.get_world_size()
GLOBAL = 6 * size  # the global batch; each rank takes its own contiguous share


def make(seed, hidden=16):
    ng.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 3))


def batch(step):
    rng = np.random.default_rng(100 + step)
    return (ng.tensor(rng.standard_normal((GLOBAL, 5)).astype(np.float32)),
            ng.tensor(rng.standard_normal((GLOBAL, 3)).astype(np.float32)))


def mine(t):
    share = GLOBAL // size
    return t[rank * share:(rank + 1) * share]


def close(a, b, what):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=2e-5, atol=2e-6, err_msg=what)


for as_view in (False, True):
    ref = make(0)
    model = DDP(make(rank), bucket_cap_mb=1e-3, gradient_as_bucket_view=as_view)  # ~1 KB buckets: several
    assert len(model._buckets) > 1
    for p, q in zip(model.module.parameters(), ref.parameters()):
        close(p, q, "rank 0's parameters are broadcast at construction")
    launched_before_the_end = []
    finalize = model._finalize

    def watched_finalize(finalize=finalize, model=model):
        # every bucket was started from the gradient hooks, during backward, not at its end
        launched_before_the_end.append(all(b.work is not None for b in model._buckets))
        finalize()
    model._finalize = watched_finalize
    opt = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = ng.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    for step in range(3):
        x, y = batch(step)
        opt.zero_grad()
        F.mse_loss(model(mine(x)), mine(y)).backward()
        opt.step()
        ref_opt.zero_grad()
        F.mse_loss(ref(x), y).backward()
        ref_opt.step()
        for (name, p), q in zip(model.module.named_parameters(), ref.parameters()):
            close(p.grad, q.grad, f"step {step} grad of {name} (as_view={as_view})")
            close(p, q, f"step {step} {name} (as_view={as_view})")
    assert launched_before_the_end == [True] * 3, launched_before_the_end

# uneven local batches (rank r has r + 1 samples): as PyTorch's, the gradient is the mean over the ranks
# of each rank's mean-loss gradient, not the mean over all samples
ref = make(0)
model = DDP(make(0))
x, y = batch(20)
F.mse_loss(model(x[:rank + 1]), y[:rank + 1]).backward()
for r in range(size):
    (F.mse_loss(ref(x[:r + 1]), y[:r + 1]) / size).backward()
for p, q in zip(model.module.parameters(), ref.parameters()):
    close(p.grad, q.grad, "uneven batches")

# no_sync: two micro-batches accumulated locally, then one all-reduce of the sum
ref = make(0)
model = DDP(make(0))
(x1, y1), (x2, y2) = batch(10), batch(11)
with model.no_sync():
    F.mse_loss(model(mine(x1)), mine(y1)).backward()
local = [p.grad.clone() for p in model.parameters()]
F.mse_loss(model(mine(x2)), mine(y2)).backward()
(F.mse_loss(ref(x1), y1) + F.mse_loss(ref(x2), y2)).backward()
for p, q in zip(model.module.parameters(), ref.parameters()):
    close(p.grad, q.grad, "no_sync accumulation")
if size > 1:
    assert not np.allclose(local[0].numpy(), model.module[0].weight.grad.numpy()), "no_sync did not reduce"

# find_unused_parameters: a branch used on rank 0 only, and one used by no rank


class Branches(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 2)
        self.b = nn.Linear(4, 2)
        self.never = nn.Linear(4, 2)

    def forward(self, x):
        return self.a(x) + (self.b(x) if rank == 0 else 0)


for cap in (None, 1e-5):  # 1e-5 MB: a bucket per parameter; rank 0 fills b's buckets, the others do not
    ng.manual_seed(1)
    model = DDP(Branches(), find_unused_parameters=True, bucket_cap_mb=cap)
    model(ng.ones(3, 4)).sum().backward()  # the buckets start in the same order on every rank
    np.testing.assert_allclose(model.module.a.bias.grad.numpy(), [3.0, 3.0])
    np.testing.assert_allclose(model.module.b.bias.grad.numpy(), [3.0 / size] * 2)  # rank 0's, averaged
    assert model.module.never.weight.grad is None
model = DDP(Branches())
try:
    model(ng.ones(3, 4)).sum().backward()
    raise AssertionError("an unused parameter without find_unused_parameters must raise")
except RuntimeError as e:  # on every rank (after the buckets are reduced: nobody hangs), naming the parameters
    assert "never.weight, never.bias" in str(e) and "find_unused_parameters=True" in str(e), str(e)
    assert ("b.weight" in str(e)) == (rank != 0), str(e)

# state_dict, buffers broadcast from rank 0, a model that differs across ranks
ng.manual_seed(rank)
bn = nn.BatchNorm1d(3)
bn.running_mean.fill_(float(rank))
model = DDP(nn.Sequential(nn.Linear(2, 3), bn))
assert list(model.state_dict())[:2] == ["module.0.weight", "module.0.bias"]
assert model.module[1].running_mean.tolist() == [0.0] * 3
try:
    DDP(nn.Linear(2, 2 + rank))
    assert size == 1
except RuntimeError as e:
    assert "DDP expects same model across all ranks" in str(e) and "rank 0: 2 parameters, 6 elements" in str(e), str(e)
dist.barrier()
if rank == 0:
    print("ddp ok")
