"""Run by tests/test_distributed.py under ``mpiexec -n 2``: misuse raises clear errors on every rank, no hang."""
import numgrad as ng
import numgrad.distributed as dist


def raises(exc, text, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc as e:
        assert text in str(e), (text, str(e))
        return str(e)
    raise AssertionError(f"{fn.__name__} did not raise {exc.__name__}")


raises(ValueError, "Default process group has not been initialized, please make sure to call init_process_group.",
       dist.all_reduce, ng.ones(2))
raises(ValueError, "backend 'nccl' is not available", dist.init_process_group, "nccl")
dist.init_process_group("mpi")
rank, size = dist.get_rank(), dist.get_world_size()
raises(ValueError, "initialize the default process group twice", dist.init_process_group, "mpi")

# shapes that differ across ranks: every rank raises, naming each rank's shape
msg = raises(RuntimeError, "mismatched tensors", dist.all_reduce, ng.ones(2 + rank))
assert "rank 0: shape (2,) float32" in msg and "rank 1: shape (3,) float32" in msg, msg
msg = raises(RuntimeError, "mismatched", dist.all_reduce, ng.ones(2, dtype=ng.float64 if rank else ng.float32))
assert "float64" in msg, msg
raises(RuntimeError, "mismatched", dist.broadcast, ng.ones(2), src=rank)
raises(RuntimeError, "different collectives", dist.broadcast if rank else dist.all_reduce, ng.ones(2))
# a recv whose tensor does not fit the message
if rank == 0:
    dist.send(ng.ones(3), dst=1)
    dist.send(ng.ones(3), dst=1)
    dist.send(ng.ones(3), dst=1)
elif rank == 1:
    raises(RuntimeError, "received a message of 12 bytes from rank 0", dist.recv, ng.zeros(5), src=0)
    dist.recv(ng.zeros(3), src=0)  # the message stays queued: a right-sized recv gets it
    raises(RuntimeError, "received a message of 12 bytes", dist.irecv(ng.zeros(5), src=0).wait)
# local misuse
raises(ValueError, "Tensors must be contiguous", dist.all_reduce, ng.ones(3, 2).t())
raises(ValueError, "src=7 is not a rank", dist.broadcast, ng.ones(2), src=7)
raises(ValueError, "one per rank", dist.all_gather, [ng.zeros(2)] * (size + 1), ng.ones(2))
raises(TypeError, "ReduceOp.AVG needs a floating-point tensor", dist.all_reduce, ng.ones(2, dtype=ng.int64),
       op=dist.ReduceOp.AVG)
raises(TypeError, "bfloat16 tensors cannot be sent", dist.all_reduce, ng.ones(2, dtype=ng.bfloat16))
raises(ValueError, "own rank", dist.send, ng.ones(2), dst=rank)
dist.barrier()
if rank == 0:
    print("errors ok")
