"""Run by tests/test_distributed.py under ``mpiexec -n 3``: DistributedSampler's defaults come from the
process group, and the ranks' shares of a dataset that does not split evenly cover it once per epoch."""
import numpy as np

import numgrad as ng
import numgrad.distributed as dist
from numgrad.utils.data import DataLoader, DistributedSampler, TensorDataset

dist.init_process_group("mpi")
rank, size = dist.get_rank(), dist.get_world_size()
n = 3 * size + 1  # uneven: the last batch of some ranks is padded
ds = TensorDataset(ng.arange(n))
sampler = DistributedSampler(ds, shuffle=True, seed=7)
assert (sampler.num_replicas, sampler.rank) == (size, rank)
orders = []
for epoch in range(2):
    sampler.set_epoch(epoch)
    loader = DataLoader(ds, batch_size=2, sampler=sampler)
    mine = ng.tensor(np.concatenate([b[0].numpy() for b in loader]))
    assert mine.shape == (len(sampler),)
    everyone = [ng.zeros(len(sampler), dtype=ng.int64) for _ in range(size)]
    dist.all_gather(everyone, mine)
    seen = np.concatenate([t.numpy() for t in everyone])
    assert sorted(set(seen.tolist())) == list(range(n)), seen  # every index, on some rank
    assert len(seen) - n == sampler.total_size - n  # only the padding repeats
    orders.append(seen)
assert not np.array_equal(orders[0], orders[1]), "set_epoch reshuffles"
dropping = DistributedSampler(ds, shuffle=True, seed=7, drop_last=True)
share = ng.tensor(list(dropping))
everyone = [ng.zeros(len(dropping), dtype=ng.int64) for _ in range(size)]
dist.all_gather(everyone, share)
seen = np.concatenate([t.numpy() for t in everyone])
assert len(set(seen.tolist())) == len(seen) == size * (n // size)  # drop_last: no index twice
if rank == 0:
    print("sampler ok")
