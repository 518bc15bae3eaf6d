"""The process group: the MPI world that ``init_process_group`` joins (through ``mpi4py``).

mpi4py is imported only when a group is initialized: importing ``mpi4py.MPI`` initializes MPI, which a
program that never trains data-parallel should not pay for (nor need MPI installed for).

>>> import numgrad.distributed as dist
>>> dist.is_initialized()
False
"""
from __future__ import annotations

import importlib.util
import os
from datetime import timedelta
from typing import Any, List, Optional, Sequence

__all__ = [
    "Backend", "GroupMember", "ProcessGroup", "destroy_process_group", "get_backend", "get_global_rank",
    "get_group_rank", "get_process_group_ranks", "get_rank", "get_world_size", "group", "init_process_group",
    "is_available", "is_initialized", "is_mpi_available", "new_group",
]

NOT_INITIALIZED = ("Default process group has not been initialized, please make sure to call "
                   "init_process_group.")
MISSING_MPI = ("numgrad.distributed needs mpi4py and an MPI library: install the `distributed` extra "
               "(pip install \"numgrad[distributed]\", which brings mpi4py and the mpich wheels), then start "
               "the program with `mpiexec -n N python ...`")


class Backend(str):
    """Backend names, as ``torch.distributed.Backend``: numgrad has one, ``"mpi"``.

    >>> Backend("MPI")
    'mpi'
    """

    MPI = "mpi"
    GLOO = "gloo"
    NCCL = "nccl"

    def __new__(cls, name: str) -> "Backend":
        return str.__new__(cls, name.lower())


class ProcessGroup:
    """A group of processes that collectives run over: the world (``group.WORLD``) or a subgroup made by
    ``new_group(ranks)``, with its own MPI communicator (group ranks follow the sorted global ranks).

    >>> isinstance(group.WORLD, ProcessGroup)
    True
    """

    def __init__(self, ranks: Optional[List[int]] = None) -> None:
        self.comm: Any = None  # the mpi4py communicator while initialized
        self.mpi: Any = None  # the mpi4py.MPI module
        self.size_ = 0  # the group's size, read once
        self.check = True  # compare the ranks' tensors before each collective (NUMGRAD_DISTRIBUTED_CHECK)
        self.ranks = ranks  # a subgroup's global ranks, by group rank; None for the world

    def rank(self) -> int:
        return _world(self).comm.Get_rank()

    def size(self) -> int:
        return _world(self).comm.Get_size()

    def __repr__(self) -> str:
        if self.ranks is None:
            return "<numgrad.distributed.ProcessGroup WORLD>"
        return f"<numgrad.distributed.ProcessGroup ranks={self.ranks}>"


class group:
    """``torch.distributed.group``: ``group.WORLD`` is the default process group (the world).

    >>> group.WORLD
    <numgrad.distributed.ProcessGroup WORLD>
    """

    WORLD = ProcessGroup()


class GroupMember:
    """``torch.distributed.GroupMember``: ``GroupMember.WORLD`` is ``group.WORLD``.

    >>> GroupMember.WORLD is group.WORLD
    True
    """

    WORLD = group.WORLD
    NON_GROUP_MEMBER = -100


def is_available() -> bool:
    """True when the MPI transport (``mpi4py``) is installed.

    >>> isinstance(is_available(), bool)
    True
    """
    return importlib.util.find_spec("mpi4py") is not None


def is_mpi_available() -> bool:
    """True when the ``"mpi"`` backend can be used (mpi4py installed), as ``torch.distributed.is_mpi_available``.

    >>> is_mpi_available() == is_available()
    True
    """
    return is_available()


def init_process_group(backend: Optional[str] = "mpi", init_method: Optional[str] = None, timeout: Optional[timedelta] = None,
                       world_size: int = -1, rank: int = -1, store: Any = None, group_name: str = "",
                       pg_options: Any = None, device_id: Any = None) -> None:
    """Join the MPI world: the processes ``mpiexec``/``mpirun``/``srun`` started (one process started
    without a launcher is a world of 1).  Rank and world size come from MPI; ``rank``/``world_size``, when
    given, must agree with it.  ``init_method``, ``store`` and ``timeout`` are accepted and unused: MPI's
    launcher does the rendezvous.

    >>> import numgrad.distributed as dist
    >>> dist.init_process_group("mpi")          # doctest: +SKIP
    >>> dist.get_rank(), dist.get_world_size()  # doctest: +SKIP
    (0, 1)
    """
    name = Backend(backend or "mpi")
    if name != Backend.MPI:
        raise ValueError(
            f"init_process_group: backend {backend!r} is not available in numgrad; it communicates over MPI: "
            "use backend='mpi' and start the ranks with `mpiexec -n N python script.py` (rank and world size "
            "come from the launcher)")
    if group.WORLD.comm is not None:
        raise ValueError("trying to initialize the default process group twice!")
    if not is_available():
        raise RuntimeError(MISSING_MPI)
    from mpi4py import MPI  # initializes MPI: only here, when the user asks for it

    comm = MPI.COMM_WORLD.Dup()  # our own context: user MPI traffic on COMM_WORLD never matches ours
    comm.Set_errhandler(MPI.ERRORS_RETURN)  # MPI errors become Python exceptions, not an abort
    if world_size not in (-1, None) and world_size != comm.Get_size():
        comm.Free()
        raise ValueError(f"init_process_group: world_size={world_size}, but MPI started {comm.Get_size()} "
                         "processes (mpiexec -n decides the world size)")
    if rank not in (-1, None) and rank != comm.Get_rank():
        comm.Free()
        raise ValueError(f"init_process_group: rank={rank}, but MPI gave this process rank {comm.Get_rank()}")
    group.WORLD.comm = comm
    group.WORLD.mpi = MPI
    group.WORLD.size_ = comm.Get_size()
    group.WORLD.check = os.environ.get("NUMGRAD_DISTRIBUTED_CHECK", "1") not in ("0", "off", "OFF", "false")
    _subgroups.clear()
    os.environ.setdefault("RANK", str(comm.Get_rank()))  # as torchrun sets them, for scripts that read them
    os.environ.setdefault("WORLD_SIZE", str(comm.Get_size()))


def is_initialized() -> bool:
    """Whether ``init_process_group`` has run (and ``destroy_process_group`` not since).

    >>> is_initialized()
    False
    """
    return group.WORLD.comm is not None


_subgroups: List[ProcessGroup] = []  # the groups new_group made (destroyed with the world)


def not_member(pg: Any) -> bool:
    """Whether ``pg`` is what ``new_group`` gave a rank outside the group (``GroupMember.NON_GROUP_MEMBER``)."""
    return type(pg) is int and pg == GroupMember.NON_GROUP_MEMBER


def _world(pg: Optional[ProcessGroup] = None) -> ProcessGroup:
    """The initialized process group a call runs over (the world when ``pg`` is None)."""
    if group.WORLD.comm is None:
        raise ValueError(NOT_INITIALIZED)
    if pg is None or pg is group.WORLD:
        return group.WORLD
    if not_member(pg):
        raise ValueError("this rank is not a member of the group (new_group returned GroupMember.NON_GROUP_MEMBER "
                         "here): only the group's ranks may use it")
    if not isinstance(pg, ProcessGroup):
        raise TypeError(f"group must be a ProcessGroup (group.WORLD or one new_group returned), got {pg!r}")
    if pg.comm is None:
        raise ValueError(f"the process group {pg!r} has been destroyed (destroy_process_group)")
    return pg


def new_group(ranks: Optional[Sequence[int]] = None, timeout: Any = None, backend: Optional[str] = None,
              pg_options: Any = None, use_local_synchronization: bool = False, group_desc: Optional[str] = None,
              device_id: Any = None) -> Any:
    """A process group of the world's ``ranks`` (all of them when None), as ``torch.distributed.new_group``:
    every rank of the world must call it, with the same ``ranks``; the members get the group (its ranks
    numbered by sorted global rank), the others ``GroupMember.NON_GROUP_MEMBER``.  Collectives take it as
    ``group=``; ``src``/``dst`` stay global ranks (``group_src``/``group_dst`` are group ranks).

    >>> g = new_group([0, 2])                  # doctest: +SKIP
    >>> get_rank(g), get_world_size(g)         # on global rank 2  # doctest: +SKIP
    (1, 2)
    """
    world = _world()
    if use_local_synchronization:
        raise ValueError("MPI backend doesn't support use_local_synchronization=True")
    if backend is not None and Backend(backend) != Backend.MPI:
        raise ValueError(f"new_group: backend {backend!r} is not available in numgrad; its groups communicate "
                         "over MPI (backend='mpi' or None)")
    size = world.comm.Get_size()
    if ranks is None:
        ranks = list(range(size))
    else:
        ranks = sorted(ranks)
        if len(set(ranks)) != len(ranks):
            raise ValueError(f"ranks list must not contain duplicate entries, got {ranks}")
        for r in ranks:
            if not isinstance(r, int) or not 0 <= r < size:
                raise ValueError(f"Rank {r} is out of range. Valid ranks are 0 to {size - 1} (world_size={size})")
    me = world.comm.Get_rank()
    member = me in ranks
    # collective over the world: each rank learns the group's communicator, or COMM_NULL outside it
    comm = world.comm.Split(0 if member else world.mpi.UNDEFINED, me)
    if not member:
        return GroupMember.NON_GROUP_MEMBER
    comm.Set_errhandler(world.mpi.ERRORS_RETURN)
    pg = ProcessGroup(list(ranks))
    pg.comm, pg.mpi, pg.size_, pg.check = comm, world.mpi, comm.Get_size(), world.check
    _subgroups.append(pg)
    return pg


def get_group_rank(group: ProcessGroup, global_rank: int) -> int:
    """The rank in ``group`` of the world's ``global_rank`` (raises if it is not in the group).

    >>> get_group_rank(new_group([0, 2]), 2)  # doctest: +SKIP
    1
    """
    pg = _world(group)
    if pg.ranks is None:
        return global_rank
    if global_rank not in pg.ranks:
        raise ValueError(f"Global rank {global_rank} is not part of group {pg}")
    return pg.ranks.index(global_rank)


def get_global_rank(group: ProcessGroup, group_rank: int) -> int:
    """The world's rank of ``group``'s rank ``group_rank``.

    >>> get_global_rank(new_group([0, 2]), 1)  # doctest: +SKIP
    2
    """
    pg = _world(group)
    if pg.ranks is None:
        return group_rank
    if not isinstance(group_rank, int) or not 0 <= group_rank < len(pg.ranks):
        raise ValueError(f"Group rank {group_rank} is not part of group {pg}")
    return pg.ranks[group_rank]


def get_process_group_ranks(group: Optional[ProcessGroup]) -> List[int]:
    """The world's ranks in ``group`` (the default group when None), ordered by group rank.

    >>> get_process_group_ranks(new_group([2, 0]))  # doctest: +SKIP
    [0, 2]
    """
    pg = _world(group)
    return list(range(pg.comm.Get_size())) if pg.ranks is None else list(pg.ranks)


def get_rank(group: Optional[ProcessGroup] = None) -> int:
    """This process's rank in ``group`` (the world by default): 0 .. size - 1, or -1 outside the group.

    >>> get_rank()  # doctest: +SKIP
    0
    """
    if not_member(group):
        return -1
    return _world(group).comm.Get_rank()


def get_world_size(group: Optional[ProcessGroup] = None) -> int:
    """The number of processes in ``group`` (the world by default), or -1 outside the group.

    >>> get_world_size()  # doctest: +SKIP
    2
    """
    if not_member(group):
        return -1
    return _world(group).comm.Get_size()


def get_backend(group: Optional[ProcessGroup] = None) -> str:
    """The backend's name: ``"mpi"``.

    >>> get_backend()  # doctest: +SKIP
    'mpi'
    """
    _world(group)
    return Backend.MPI


def destroy_process_group(group: Optional[ProcessGroup] = None) -> None:
    """Leave ``group``; without one, leave the world and every group made from it (``init_process_group``
    may run again).  MPI itself stays initialized until the program exits (mpi4py finalizes it then), since
    MPI cannot be initialized twice in one process.

    >>> destroy_process_group()  # doctest: +SKIP
    """
    pg = _world(group)
    doomed = [pg] if pg.ranks is not None else _subgroups + [pg]
    for g in doomed:
        if g.comm is not None:
            g.comm.Free()
        g.comm = None
        g.mpi = None
        if g in _subgroups:
            _subgroups.remove(g)
