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
from typing import Any, Optional

__all__ = [
    "Backend", "GroupMember", "ProcessGroup", "destroy_process_group", "get_backend", "get_rank", "get_world_size",
    "group", "init_process_group", "is_available", "is_initialized", "is_mpi_available",
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
    """A group of processes that collectives run over: numgrad has the world (``group.WORLD``).

    >>> isinstance(group.WORLD, ProcessGroup)
    True
    """

    def __init__(self) -> None:
        self.comm: Any = None  # the mpi4py communicator while initialized
        self.mpi: Any = None  # the mpi4py.MPI module
        self.size_ = 0  # the world's size, read once
        self.check = True  # compare the ranks' tensors before each collective (NUMGRAD_DISTRIBUTED_CHECK)

    def rank(self) -> int:
        return _world().comm.Get_rank()

    def size(self) -> int:
        return _world().comm.Get_size()

    def __repr__(self) -> str:
        return "<numgrad.distributed.ProcessGroup WORLD>"


class group:
    """``torch.distributed.group``: ``group.WORLD`` is the default (and only) process group.

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
    os.environ.setdefault("RANK", str(comm.Get_rank()))  # as torchrun sets them, for scripts that read them
    os.environ.setdefault("WORLD_SIZE", str(comm.Get_size()))


def is_initialized() -> bool:
    """Whether ``init_process_group`` has run (and ``destroy_process_group`` not since).

    >>> is_initialized()
    False
    """
    return group.WORLD.comm is not None


def _world(pg: Optional[ProcessGroup] = None) -> ProcessGroup:
    """The initialized process group a call runs over (the world)."""
    if pg is not None and pg is not group.WORLD:
        raise ValueError(f"numgrad.distributed has one process group, group.WORLD; got {pg!r}")
    if group.WORLD.comm is None:
        raise ValueError(NOT_INITIALIZED)
    return group.WORLD


def get_rank(group: Optional[ProcessGroup] = None) -> int:
    """This process's rank in the world (0 .. world size - 1).

    >>> get_rank()  # doctest: +SKIP
    0
    """
    return _world(group).comm.Get_rank()


def get_world_size(group: Optional[ProcessGroup] = None) -> int:
    """The number of processes in the world.

    >>> get_world_size()  # doctest: +SKIP
    2
    """
    return _world(group).comm.Get_size()


def get_backend(group: Optional[ProcessGroup] = None) -> str:
    """The backend's name: ``"mpi"``.

    >>> get_backend()  # doctest: +SKIP
    'mpi'
    """
    _world(group)
    return Backend.MPI


def destroy_process_group(group: Optional[ProcessGroup] = None) -> None:
    """Leave the process group; ``init_process_group`` may run again.  MPI itself stays initialized until the
    program exits (mpi4py finalizes it then), since MPI cannot be initialized twice in one process.

    >>> destroy_process_group()  # doctest: +SKIP
    """
    pg = _world(group)
    pg.comm.Free()
    pg.comm = None
    pg.mpi = None
