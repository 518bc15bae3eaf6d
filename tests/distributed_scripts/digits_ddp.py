"""Run by tests/test_distributed.py under ``mpiexec -n 2``: a short ``--ddp`` run of the main job keeps the
replicas equal, and rank 0 saves the plain module's weights."""
import sys

import numpy as np

import numgrad as ng
import numgrad.distributed as dist
from numgrad.examples import digits
from numgrad.serialization import load

out = sys.argv[1]
result = digits.train(epochs=2, max_batches=4, out=out, quiet=True, ddp=True, channels=4, hidden=8)
rank = dist.get_rank()
flat = ng.cat([p.detach().reshape(-1) for p in result["model"].parameters()])
copies = [ng.zeros(flat.shape) for _ in range(dist.get_world_size())]
dist.all_gather(copies, flat)
for c in copies[1:]:
    np.testing.assert_array_equal(c.numpy(), copies[0].numpy())  # identical replicas after training
assert len(result["losses"]) == 2 and 0.0 <= result["accuracy"] <= 1.0
dist.barrier()
if rank == 0:
    model = digits.DigitsCNN(4, 8)
    model.load_state_dict(load(out))  # the plain module's keys (no "module." prefix)
    print("digits ddp ok")
