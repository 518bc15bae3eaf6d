"""``numgrad.distributed``: data-parallel training over MPI, with ``torch.distributed``'s API.

Start the ranks with MPI's launcher (``mpiexec -n 2 python train.py``; ``mpirun`` and ``srun`` work too),
call ``init_process_group("mpi")``, and use the collectives on CPU tensors, in place.  The transport is
MPI through ``mpi4py`` (install the ``distributed`` extra: ``pip install "numgrad[distributed]"``, which also
brings the MPICH wheels and their ``mpiexec``).  ``nn.parallel.DistributedDataParallel`` and
``utils.data.distributed.DistributedSampler`` build on it.

>>> import numgrad.distributed as dist
>>> dist.is_initialized()
False
>>> dist.get_rank()
Traceback (most recent call last):
...
ValueError: Default process group has not been initialized, please make sure to call init_process_group.
"""
from __future__ import annotations

from .collectives import (
    ReduceOp, Work, all_gather, all_gather_into_tensor, all_reduce, barrier, broadcast, irecv, isend, recv,
    reduce_scatter, reduce_scatter_tensor, send,
)
from .process_group import (
    Backend, GroupMember, ProcessGroup, destroy_process_group, get_backend, get_global_rank, get_group_rank,
    get_process_group_ranks, get_rank, get_world_size, group, init_process_group, is_available, is_initialized,
    is_mpi_available, new_group,
)

__all__ = [
    "Backend", "GroupMember", "ProcessGroup", "ReduceOp", "Work", "all_gather", "all_gather_into_tensor",
    "all_reduce", "barrier", "broadcast", "destroy_process_group", "get_backend", "get_rank", "get_world_size",
    "group", "init_process_group", "irecv", "is_available", "is_initialized", "is_mpi_available", "isend",
    "recv", "reduce_scatter", "reduce_scatter_tensor", "send",
]
__all__ += ["get_global_rank", "get_group_rank", "get_process_group_ranks", "new_group"]
