"""Run by tests/test_distributed.py under ``mpiexec -n 2``/``-n 3``: every collective against NumPy."""
import numpy as np

import numgrad as ng
import numgrad.distributed as dist

dist.init_process_group("mpi")
rank, size = dist.get_rank(), dist.get_world_size()
assert dist.is_initialized() and dist.get_backend() == "mpi"


def data(r, shape=(3, 4), dtype=np.float32):
    return (np.arange(np.prod(shape)).reshape(shape) + 10 * r + 1).astype(dtype)


everyone = [data(r) for r in range(size)]
for op, ref in [(dist.ReduceOp.SUM, np.sum), (dist.ReduceOp.MAX, np.max), (dist.ReduceOp.MIN, np.min),
                (dist.ReduceOp.PRODUCT, np.prod), (dist.ReduceOp.AVG, np.mean)]:
    t = ng.tensor(data(rank))
    v0 = t._version
    version = t._version[0]
    assert dist.all_reduce(t, op=op) is None
    np.testing.assert_allclose(t.numpy(), ref(np.stack(everyone), axis=0), rtol=1e-6)
    assert t._version is v0 and t._version[0] > version, "the write bumps the version"

# integer all_reduce, async
t = ng.tensor(data(rank, (5,), np.int64))
work = dist.all_reduce(t, async_op=True)
assert work.wait() and work.is_completed()
np.testing.assert_array_equal(t.numpy(), np.sum([data(r, (5,), np.int64) for r in range(size)], axis=0))

# bool: SUM/MAX are a logical or, MIN/PRODUCT a logical and (MPI reduces C booleans with logical ops)
flags = ng.tensor([rank == 0, False, True])
dist.all_reduce(flags)
assert flags.tolist() == [True, False, True]
flags = ng.tensor([rank == 0, False, True])
dist.all_reduce(flags, op=dist.ReduceOp.MIN)
assert flags.tolist() == [size == 1, False, True]

# the tensor's own memory: a deferred (fused) value computes first, a view's base sees the result
x = ng.tensor(data(rank))
y = x * 2 + 1  # lazy
dist.all_reduce(y)
np.testing.assert_allclose(y.numpy(), np.sum([d * 2 + 1 for d in everyone], axis=0), rtol=1e-6)
base = ng.zeros(2, 3)
dist.all_reduce(base[1].fill_(rank + 1.0))
assert base.tolist() == [[0.0] * 3, [size * (size + 1) / 2] * 3]

# a pending reader of the tensor reads the old value (write barrier)
t = ng.tensor(data(rank))
z = t * 3  # deferred: reads t
dist.all_reduce(t)
np.testing.assert_allclose(z.numpy(), data(rank) * 3)

# broadcast from the last rank
t = ng.tensor(data(rank))
dist.broadcast(t, src=size - 1)
np.testing.assert_array_equal(t.numpy(), data(size - 1))
t = ng.tensor(data(rank))
dist.broadcast(t, src=0, async_op=True).wait()
np.testing.assert_array_equal(t.numpy(), data(0))

# all_gather (list) and all_gather_into_tensor
outs = [ng.zeros(3, 4) for _ in range(size)]
dist.all_gather(outs, ng.tensor(data(rank)))
for r in range(size):
    np.testing.assert_array_equal(outs[r].numpy(), data(r))
out = ng.zeros(size * 3, 4)
dist.all_gather_into_tensor(out, ng.tensor(data(rank)), async_op=True).wait()
np.testing.assert_array_equal(out.numpy(), np.concatenate(everyone))

# reduce_scatter (list) and reduce_scatter_tensor
inputs = [ng.tensor(data(rank * size + j, (2,))) for j in range(size)]
out = ng.zeros(2)
dist.reduce_scatter(out, inputs)
np.testing.assert_allclose(out.numpy(), sum(data(r * size + rank, (2,)) for r in range(size)))
full = ng.tensor(data(rank, (size * 2,)))
out = ng.zeros(2)
dist.reduce_scatter_tensor(out, full, op=dist.ReduceOp.AVG)
np.testing.assert_allclose(out.numpy(), np.mean([data(r, (size * 2,)) for r in range(size)], axis=0)[2 * rank:2 * rank + 2],
                           rtol=1e-6)

# send / recv around a ring, blocking and non-blocking
nxt, prev = (rank + 1) % size, (rank - 1) % size
t = ng.zeros(3, 4)
if rank % 2 == 0:
    dist.send(ng.tensor(data(rank)), dst=nxt)
    assert dist.recv(t, src=prev) == prev
else:
    assert dist.recv(t) == prev  # from any source
    dist.send(ng.tensor(data(rank)), dst=nxt)
np.testing.assert_array_equal(t.numpy(), data(prev))
t = ng.zeros(3, 4)
recv_work = dist.irecv(t, src=prev)
send_work = dist.isend(ng.tensor(data(rank)), dst=nxt)
send_work.wait()
recv_work.wait()
assert recv_work.source_rank() == prev
np.testing.assert_array_equal(t.numpy(), data(prev))

dist.barrier()
dist.destroy_process_group()
assert not dist.is_initialized()
dist.init_process_group("mpi")  # again, after destroy
assert dist.get_world_size() == size
if rank == 0:
    print("collectives ok")
