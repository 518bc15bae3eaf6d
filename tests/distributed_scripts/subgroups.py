"""Run by tests/test_distributed.py under ``mpiexec -n 3``: ``new_group`` subgroups with PyTorch's semantics
(global src/dst, group ranks, non-members warned and left alone), DDP over a subgroup, compiled too."""
import warnings

import numpy as np

import numgrad as ng
import numgrad.distributed as dist
import numgrad.nn.functional as F
from numgrad import nn
from numgrad.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("mpi")
rank, size = dist.get_rank(), dist.get_world_size()
assert size == 3
g = dist.new_group([2, 0])  # every rank calls it; group ranks follow the sorted global ranks
member = rank in (0, 2)


def raises(exc, text, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc as e:
        assert text in str(e), str(e)
        return
    raise AssertionError(f"{fn.__name__} did not raise {exc.__name__}")


if member:
    assert isinstance(g, dist.ProcessGroup) and repr(g) == "<numgrad.distributed.ProcessGroup ranks=[0, 2]>"
    assert dist.get_rank(g) == (0 if rank == 0 else 1) and dist.get_world_size(g) == 2 and g.size() == 2
    assert dist.get_process_group_ranks(g) == [0, 2]
    assert dist.get_group_rank(g, 2) == 1 and dist.get_global_rank(g, 1) == 2
    raises(ValueError, "Global rank 1 is not part of group", dist.get_group_rank, g, 1)
    raises(ValueError, "Group rank 2 is not part of group", dist.get_global_rank, g, 2)
else:
    assert g == dist.GroupMember.NON_GROUP_MEMBER
    assert dist.get_rank(g) == -1 and dist.get_world_size(g) == -1

# all_reduce over the group: ranks 0 and 2 sum; rank 1 is warned and keeps its tensor
t = ng.full((3,), float(rank + 1))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert dist.all_reduce(t, group=g) is None
if member:
    assert t.tolist() == [4.0] * 3 and not caught
else:
    assert t.tolist() == [2.0] * 3
    assert "Running all_reduce on global rank 1 which does not belong to the given group." in str(caught[0].message)

# broadcast: src is a global rank, group_src a group rank; a global rank outside the group raises
for kwargs in ({"src": 2}, {"group_src": 1}):
    t = ng.full((2,), float(rank))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dist.broadcast(t, group=g, **kwargs)
    assert t.tolist() == ([2.0, 2.0] if member else [1.0, 1.0]), (kwargs, t.tolist())
if member:
    raises(ValueError, "Global rank 1 is not part of group", dist.broadcast, ng.zeros(2), src=1, group=g)
    raises(ValueError, "group_src=2 is not a rank of the group", dist.broadcast, ng.zeros(2), group=g, group_src=2)

    # all_gather in group order, point-to-point with global ranks
    out = [ng.zeros(1) for _ in range(2)]
    dist.all_gather(out, ng.full((1,), float(rank)), group=g)
    assert [o.item() for o in out] == [0.0, 2.0]
    if rank == 0:
        dist.send(ng.full((2,), 7.0), dst=2, group=g)
    else:
        r = ng.zeros(2)
        assert dist.recv(r, src=0, group=g) == 0 and r.tolist() == [7.0, 7.0]
        r = ng.zeros(2)
        assert dist.recv(r, group=g) == 0  # from any rank of the group: the sender's global rank
    if rank == 0:
        dist.send(ng.full((2,), 8.0), dst=2, group=g)

# a second group over all ranks and one of rank 1 alone: collectives on different groups do not mix
solo = dist.new_group([1])
everyone = dist.new_group()
t = ng.ones(1)
dist.all_reduce(t, group=everyone)
assert t.item() == 3.0
if rank == 1:
    t = ng.ones(1)
    dist.all_reduce(t, group=solo)
    assert t.item() == 1.0

raises(ValueError, "ranks list must not contain duplicate entries", dist.new_group, [0, 0])
raises(ValueError, "Rank 3 is out of range. Valid ranks are 0 to 2", dist.new_group, [0, 3])
raises(ValueError, "use_local_synchronization=True", dist.new_group, [0], use_local_synchronization=True)

# DDP over the group (eager and compiled): ranks 0 and 2 average their gradients, rank 1 is not involved
if member:
    def make():
        ng.manual_seed(0)
        return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    models = [DDP(make(), process_group=g, bucket_cap_mb=1e-4) for _ in range(2)]
    ref = make()
    opts = [ng.optim.SGD(m.parameters(), lr=0.1) for m in models + [ref]]

    def trainer(model, opt):
        def step(x, y):
            opt.zero_grad()
            F.mse_loss(model(x), y).backward()
            opt.step()
        return step
    eager, compiled = trainer(models[0], opts[0]), ng.compile(trainer(models[1], opts[1]))
    me = dist.get_rank(g)
    for step in range(5):
        rng = np.random.default_rng(step)
        x = ng.tensor(rng.standard_normal((8, 4)).astype(np.float32))
        y = ng.tensor(rng.standard_normal((8, 2)).astype(np.float32))
        mx, my = x[me * 4:(me + 1) * 4].contiguous(), y[me * 4:(me + 1) * 4].contiguous()
        eager(mx, my)
        compiled(mx, my)
        trainer(ref, opts[2])(x, y)
        for p, q, r in zip(models[0].parameters(), models[1].parameters(), ref.parameters()):
            assert np.array_equal(p.detach().numpy(), q.detach().numpy()), f"step {step}"
            np.testing.assert_allclose(p.detach().numpy(), r.detach().numpy(), rtol=2e-5, atol=2e-6)
    assert compiled.replays >= 2, compiled.fallback_reason
else:
    raises(ValueError, "this rank is not a member of the group", DDP, nn.Linear(2, 2), process_group=g)

if member:
    dist.destroy_process_group(g)
    raises(ValueError, "has been destroyed", dist.all_reduce, ng.ones(1), group=g)
dist.barrier()
dist.destroy_process_group()
assert solo is dist.GroupMember.NON_GROUP_MEMBER or solo.comm is None
if rank == 0:
    print("subgroups ok")
