"""Collectives and point-to-point messages on tensors, in place, as ``torch.distributed``'s.

MPI reads and writes the tensors' own NumPy arrays (no staging copies, except ``all_gather``'s list of
outputs and ``reduce_scatter``'s list of inputs, which MPI needs as one buffer).  A tensor MPI writes into
goes through numgrad's write barrier first (pending fused computations reading it run) and has its version
bumped when the write completes, as every in-place op does.

A collective called inside a step that ``ng.compile`` captures is recorded with the arrays it reads and
writes (``_profiler_hooks._capture_collective``): the replay runs this module's code again on the same memory,
checks included, so a rank that replays and a rank that runs the step eagerly exchange the same messages in the
same order.  Point-to-point messages end the capture.

Before a collective the ranks exchange a few integers describing their tensors (operation, dtype, shape), so
a mismatch raises an error naming each rank's shape on every rank, instead of hanging or corrupting memory.
``NUMGRAD_DISTRIBUTED_CHECK=0`` (read by ``init_process_group``) skips that exchange.

>>> import numgrad as ng, numgrad.distributed as dist
>>> dist.init_process_group("mpi")                  # doctest: +SKIP
>>> t = ng.tensor([1.0, 2.0]) * (dist.get_rank() + 1)  # doctest: +SKIP
>>> dist.all_reduce(t); t                           # doctest: +SKIP
tensor([3., 6.])
"""
from __future__ import annotations

import enum
import warnings
from typing import Any, Callable, List, Optional, Sequence

import numpy as np

from .. import _profiler_hooks
from ..tensor import Tensor
from .process_group import ProcessGroup, _world, not_member

__all__ = [
    "ReduceOp", "Work", "all_gather", "all_gather_into_tensor", "all_reduce", "barrier", "broadcast", "irecv",
    "isend", "recv", "reduce_scatter", "reduce_scatter_tensor", "send",
]


class ReduceOp(enum.Enum):
    """How ``all_reduce`` and ``reduce_scatter`` combine the ranks' values.

    >>> ReduceOp.SUM, ReduceOp.AVG
    (<ReduceOp.SUM: 'sum'>, <ReduceOp.AVG: 'avg'>)
    """

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


_OP_CODES = {"all_reduce": 1, "broadcast": 2, "all_gather": 3, "reduce_scatter": 4, "all_gather_into_tensor": 5,
             "reduce_scatter_tensor": 6}
_DTYPE_CODES = {np.dtype(n): i for i, n in enumerate(
    ("float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"), start=1)}
_MAX_DIMS = 8


_TYPE_NAMES = {np.dtype(n): m for n, m in (
    ("float32", "FLOAT"), ("float64", "DOUBLE"), ("int8", "INT8_T"), ("int16", "INT16_T"), ("int32", "INT32_T"),
    ("int64", "INT64_T"), ("uint8", "UINT8_T"), ("bool", "C_BOOL"))}
_OP_NAMES = {ReduceOp.SUM: "SUM", ReduceOp.AVG: "SUM", ReduceOp.PRODUCT: "PROD", ReduceOp.MIN: "MIN",
             ReduceOp.MAX: "MAX"}
_mpi_tables: dict = {}  # id(MPI module) -> (dtype -> MPI datatype, ReduceOp -> MPI op), looked up on every call


def _tables(MPI) -> tuple:
    tables = _mpi_tables.get(id(MPI))
    if tables is None:
        tables = _mpi_tables[id(MPI)] = ({d: getattr(MPI, m) for d, m in _TYPE_NAMES.items()},
                                         {op: getattr(MPI, m) for op, m in _OP_NAMES.items()})
    return tables


def _mpi_type(MPI, arr: np.ndarray, op: str):
    dtype = arr.dtype
    mpi_type = _tables(MPI)[0].get(dtype) if dtype.metadata is None else None
    if mpi_type is None:
        kind = "bfloat16" if dtype.metadata else dtype.name
        raise TypeError(f"{op}: {kind} tensors cannot be sent over MPI by numgrad; convert them (.float()) first")
    return mpi_type


def _mpi_op(MPI, op: ReduceOp, arr: np.ndarray, name: str):
    mpi_op = _tables(MPI)[1].get(op) if isinstance(op, ReduceOp) else None
    if mpi_op is None:
        raise TypeError(f"{name}: op must be a numgrad.distributed.ReduceOp, got {op!r}")
    kind = arr.dtype.kind
    if kind == "b":  # MPI reduces C booleans with the logical ops only
        return MPI.LOR if op in (ReduceOp.SUM, ReduceOp.MAX) else MPI.LAND
    if op is ReduceOp.AVG and kind != "f":
        raise TypeError(f"{name}: ReduceOp.AVG needs a floating-point tensor, got {arr.dtype}")
    return mpi_op


def _array(t: Tensor, op: str, arg: str = "tensor") -> np.ndarray:
    """The tensor's own contiguous CPU array, which MPI reads or writes directly."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {arg} must be a numgrad Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"{op}: numgrad's MPI backend communicates CPU tensors; {arg} is on {t.device} "
                         "(move it with .cpu() first)")
    arr = t._data
    if not arr.flags.c_contiguous:
        raise ValueError(f"{op}: Tensors must be contiguous ({arg} has shape {tuple(t.shape)} and strides "
                         f"{t.stride()}; call .contiguous() first)")
    return arr


def _writable(t: Tensor, op: str, arg: str = "tensor") -> np.ndarray:
    arr = _array(t, op, arg)
    if not arr.flags.writeable:
        raise RuntimeError(f"{op}: {arg} is read-only memory (an expand()ed view?); clone() it first")
    t._before_write()  # pending fused ops that read the old values compute them before MPI overwrites them
    return arr


def _describe(row: np.ndarray) -> str:
    ndim = int(row[2])
    dtype = {v: k for k, v in _DTYPE_CODES.items()}.get(int(row[1]), "?")
    shape = tuple(int(s) for s in row[4:4 + min(ndim, _MAX_DIMS)])
    extra = f", root {int(row[3])}" if row[3] >= 0 else ""
    return f"shape {shape} {dtype}{extra}"


def check_same(pg: ProcessGroup, op: str, arr: np.ndarray, root: int = -1, what: str = "tensor") -> None:
    """Exchange (op, dtype, shape, root) with every rank; raise on every rank, naming them, if they differ."""
    if not pg.check or pg.size_ == 1:
        return
    row = np.full(4 + _MAX_DIMS, -1, dtype=np.int64)
    row[0] = _OP_CODES.get(op, 0)
    row[1] = _DTYPE_CODES.get(arr.dtype, 0)
    row[2] = arr.ndim
    row[3] = root
    row[4:4 + min(arr.ndim, _MAX_DIMS)] = arr.shape[:_MAX_DIMS]
    rows = np.empty((pg.comm.Get_size(), row.size), dtype=np.int64)
    pg.comm.Allgather(row, rows)
    if (rows == rows[0]).all():
        return
    names = {v: k for k, v in _OP_CODES.items()}
    if (rows[:, 0] != rows[0, 0]).any():
        calls = ", ".join(f"rank {r}: {names.get(int(c), '?')}" for r, c in enumerate(rows[:, 0]))
        raise RuntimeError(f"{op}: the ranks called different collectives ({calls})")
    ranks = "; ".join(f"rank {r}: {_describe(rw)}" for r, rw in enumerate(rows))
    raise RuntimeError(f"{op}: the ranks passed mismatched {what}s ({ranks}); every rank must pass the same "
                       "shape and dtype (and the same src)")


class Work:
    """The handle an ``async_op=True`` call returns: ``wait()`` blocks until the operation is done (and the
    output tensors hold the result); ``is_completed()`` asks without blocking.

    >>> w = dist.all_reduce(t, async_op=True)  # doctest: +SKIP
    >>> w.wait()                               # doctest: +SKIP
    True
    """

    def __init__(self, request: Any, finish: Optional[Callable[[], Any]] = None, result: Any = None):
        self._request = request
        self._finish = finish
        self._done = False
        self._result = result

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            out = self._finish()
            self._finish = None
            if out is not None:
                self._result = out

    def wait(self, timeout: Any = None) -> bool:
        if not self._done:
            if self._request is not None:
                self._request.Wait()
            self._complete()
        if _profiler_hooks._capture_collective_wait is not None:  # a captured step replays the wait here
            _profiler_hooks._capture_collective_wait(self)
        return True

    def is_completed(self) -> bool:
        if not self._done and (self._request is None or self._request.Test()):
            self._complete()
        return self._done

    def is_success(self) -> bool:
        return self.is_completed()

    def result(self) -> Any:
        """The source rank for a ``recv``/``irecv`` once complete (as torch's ``Work.source_rank``)."""
        self.wait()
        return self._result

    def source_rank(self) -> int:
        return self.result()


def collective(pg: ProcessGroup, op: str, key: tuple, start: Callable, arrays: tuple, reads: tuple,
               tensors: Sequence[Tensor] = (), async_op: bool = True) -> Optional[Work]:
    """Run ``start(*arrays)`` -> (MPI request or None when it completed, finish or None) and return its ``Work``
    (``None`` after waiting when not ``async_op``); ``tensors`` get their version bumped when it completes.

    A step being captured by ``ng.compile`` records it (``reads``: positions of the arrays whose data are sent)
    and replays ``start`` on the same arrays, so ``start`` must do all the call's communication and arithmetic."""
    work = Work(None, None)
    if _profiler_hooks._capture_collective is not None:
        _profiler_hooks._capture_guard(("process group", id(pg)), lambda: pg.comm, pg.comm,
                                       "the process group's communicator")
        _profiler_hooks._capture_collective(op, key + (pg.comm.Get_size(),), start, arrays, reads, work)
    request, finish = start(*arrays)

    def done() -> None:
        if finish is not None:
            finish()
        for t in tensors:
            t._bump_version()
    work._request, work._finish = request, done
    if async_op:
        return work
    work.wait()
    return None


def not_captured(what: str) -> None:
    """A step ``ng.compile`` is capturing does something its replay could not repeat: it runs eagerly."""
    if _profiler_hooks._capture_break is not None:
        _profiler_hooks._capture_break(what)


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: Optional[ProcessGroup] = None,
               async_op: bool = False) -> Optional[Work]:
    """Combine ``tensor`` across ranks with ``op``; every rank's ``tensor`` holds the result (in place).

    >>> t = ng.ones(3) * (dist.get_rank() + 1)  # doctest: +SKIP
    >>> dist.all_reduce(t, op=dist.ReduceOp.MAX); t  # doctest: +SKIP
    tensor([2., 2., 2.])
    """
    if not_member(group):
        return _not_in_group("all_reduce", None)
    pg = _world(group)
    MPI = pg.mpi
    arr = _writable(tensor, "all_reduce")
    mpi_op = _mpi_op(MPI, op, arr, "all_reduce")

    def start(a: np.ndarray):
        check_same(pg, "all_reduce", a)
        return allreduce_array(pg, a, op, mpi_op, None, blocking=not async_op)
    return collective(pg, "all_reduce", ("all_reduce", op, async_op), start, (arr,), (0,), (tensor,), async_op)


def allreduce_array(pg: ProcessGroup, arr: np.ndarray, op: ReduceOp, mpi_op: Any, tensor: Optional[Tensor],
                    blocking: bool = False):
    """Start an in-place all-reduce of ``arr``: (request, finish), no checks (DDP checks its buckets once).
    ``blocking``: run MPI's blocking all-reduce now (its small-message algorithms are the faster ones) and
    return no request."""
    MPI = pg.mpi
    buffer = [arr, _mpi_type(MPI, arr, "all_reduce")]
    if blocking:
        pg.comm.Allreduce(MPI.IN_PLACE, buffer, mpi_op)
        request = None
    else:
        request = pg.comm.Iallreduce(MPI.IN_PLACE, buffer, mpi_op)
    size = pg.comm.Get_size()

    def finish() -> None:
        if op is ReduceOp.AVG:
            np.divide(arr, size, out=arr)
        if tensor is not None:
            tensor._bump_version()
    return request, finish


def broadcast(tensor: Tensor, src: int = 0, group: Optional[ProcessGroup] = None, async_op: bool = False,
              group_src: Optional[int] = None) -> Optional[Work]:
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor`` (in place).

    >>> t = ng.full((2,), float(dist.get_rank()))  # doctest: +SKIP
    >>> dist.broadcast(t, src=1); t                # doctest: +SKIP
    tensor([1., 1.])
    """
    if not_member(group):
        return _not_in_group("broadcast", None)
    pg = _world(group)
    src = _peer(pg, src, group_src, "broadcast", "src")
    arr = _writable(tensor, "broadcast")
    _mpi_type(pg.mpi, arr, "broadcast")

    def start(a: np.ndarray):
        check_same(pg, "broadcast", a, root=src)
        return broadcast_array(pg, a, src, blocking=not async_op), None
    reads = (0,) if pg.comm.Get_rank() == src else ()
    return collective(pg, "broadcast", ("broadcast", src, async_op), start, (arr,), reads, (tensor,), async_op)


def broadcast_array(pg: ProcessGroup, arr: np.ndarray, src: int, blocking: bool = False) -> Any:
    """Start broadcasting rank ``src``'s ``arr`` into every rank's (no checks): the MPI request, or None when
    ``blocking`` (done)."""
    buffer = [arr, _mpi_type(pg.mpi, arr, "broadcast")]
    if blocking:
        pg.comm.Bcast(buffer, root=src)
        return None
    return pg.comm.Ibcast(buffer, root=src)


def _check_rank(pg: ProcessGroup, rank: Any, op: str, arg: str) -> None:
    size = pg.comm.Get_size()
    if not isinstance(rank, int) or not 0 <= rank < size:
        where = "the world" if pg.ranks is None else f"the group {pg}"
        raise ValueError(f"{op}: {arg}={rank!r} is not a rank of {where} (0 .. {size - 1})")


def _peer(pg: ProcessGroup, global_rank: Any, group_rank: Optional[int], op: str, arg: str) -> int:
    """The group rank a call addresses: ``group_rank`` as given, else the world's ``global_rank`` in ``pg``."""
    if group_rank is not None or pg.ranks is None:
        rank = global_rank if group_rank is None else group_rank
        _check_rank(pg, rank, op, arg if group_rank is None else f"group_{arg}")
        return rank
    if global_rank not in pg.ranks:
        raise ValueError(f"{op}: Global rank {global_rank} is not part of group {pg} ({arg} is a global rank; "
                         f"group_{arg} takes a rank within the group)")
    return pg.ranks.index(global_rank)


def _global(pg: ProcessGroup, group_rank: int) -> int:
    return group_rank if pg.ranks is None else pg.ranks[group_rank]


def _not_in_group(op: str, result: Any) -> Any:
    """What a collective does on a rank outside its group: warn (as PyTorch) and do nothing."""
    world = _world()
    warnings.warn(f"Running {op} on global rank {world.comm.Get_rank()} which does not belong to the given group.",
                  stacklevel=3)
    return result


def all_gather(tensor_list: List[Tensor], tensor: Tensor, group: Optional[ProcessGroup] = None,
               async_op: bool = False) -> Optional[Work]:
    """Every rank's ``tensor``, in rank order, into ``tensor_list`` (one tensor per rank, each of
    ``tensor``'s shape).

    >>> out = [ng.zeros(2) for _ in range(dist.get_world_size())]  # doctest: +SKIP
    >>> dist.all_gather(out, ng.full((2,), float(dist.get_rank()))); out  # doctest: +SKIP
    [tensor([0., 0.]), tensor([1., 1.])]
    """
    if not_member(group):
        return _not_in_group("all_gather", None)
    pg = _world(group)
    size = pg.comm.Get_size()
    arr = _array(tensor, "all_gather")
    if len(tensor_list) != size:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors; it needs one per rank ({size})")
    outs = [_writable(t, "all_gather", f"tensor_list[{i}]") for i, t in enumerate(tensor_list)]
    for i, o in enumerate(outs):
        if o.shape != arr.shape or o.dtype != arr.dtype:
            raise ValueError(f"all_gather: tensor_list[{i}] has shape {o.shape} {o.dtype}, but the input tensor "
                             f"has shape {arr.shape} {arr.dtype}; each output must match the input")
    staging = np.empty((size,) + arr.shape, dtype=arr.dtype)  # MPI gathers into one buffer

    def start(a: np.ndarray, *parts: np.ndarray):
        check_same(pg, "all_gather", a)
        request = pg.comm.Iallgather([a, _mpi_type(pg.mpi, a, "all_gather")], staging)

        def finish() -> None:
            for o, part in zip(parts, staging):
                np.copyto(o, part)
        return request, finish
    return collective(pg, "all_gather", ("all_gather",), start, (arr, *outs), (0,), tensor_list, async_op)


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor, group: Optional[ProcessGroup] = None,
                           async_op: bool = False) -> Optional[Work]:
    """Every rank's ``input_tensor`` concatenated along dim 0 (or stacked) into ``output_tensor``, whose
    size is world size times the input's.

    >>> out = ng.zeros(2 * dist.get_world_size())  # doctest: +SKIP
    >>> dist.all_gather_into_tensor(out, ng.full((2,), float(dist.get_rank()))); out  # doctest: +SKIP
    tensor([0., 0., 1., 1.])
    """
    if not_member(group):
        return _not_in_group("all_gather_into_tensor", None)
    pg = _world(group)
    size = pg.comm.Get_size()
    arr = _array(input_tensor, "all_gather_into_tensor", "input_tensor")
    out = _writable(output_tensor, "all_gather_into_tensor", "output_tensor")
    if out.size != arr.size * size or out.dtype != arr.dtype:
        raise ValueError(f"all_gather_into_tensor: output_tensor has shape {out.shape} {out.dtype}; it must hold "
                         f"world size ({size}) x the input's {arr.size} elements of {arr.dtype}")
    _mpi_type(pg.mpi, arr, "all_gather_into_tensor")

    def start(a: np.ndarray, o: np.ndarray):
        check_same(pg, "all_gather_into_tensor", a, what="input_tensor")
        return pg.comm.Iallgather([a, _mpi_type(pg.mpi, a, "all_gather_into_tensor")], o), None
    return collective(pg, "all_gather_into_tensor", ("all_gather_into_tensor",), start, (arr, out), (0,),
                      (output_tensor,), async_op)


def reduce_scatter_tensor(output: Tensor, input: Tensor, op: ReduceOp = ReduceOp.SUM,
                          group: Optional[ProcessGroup] = None, async_op: bool = False) -> Optional[Work]:
    """Reduce ``input`` (world size x ``output``'s elements) across ranks and give rank ``r`` the ``r``-th
    block of the result, in ``output``.

    >>> out = ng.zeros(1)  # doctest: +SKIP
    >>> dist.reduce_scatter_tensor(out, ng.tensor([1.0, 2.0])); out  # on rank 1 of 2  # doctest: +SKIP
    tensor([4.])
    """
    if not_member(group):
        return _not_in_group("reduce_scatter_tensor", None)
    pg = _world(group)
    size = pg.comm.Get_size()
    arr = _array(input, "reduce_scatter_tensor", "input")
    out = _writable(output, "reduce_scatter_tensor", "output")
    if arr.size != out.size * size or out.dtype != arr.dtype:
        raise ValueError(f"reduce_scatter_tensor: input has shape {arr.shape} {arr.dtype}; it must hold world size "
                         f"({size}) x output's {out.size} elements of {out.dtype}")
    mpi_op = _mpi_op(pg.mpi, op, arr, "reduce_scatter_tensor")

    def start(a: np.ndarray, o: np.ndarray):
        check_same(pg, "reduce_scatter_tensor", a, what="input")
        return _reduce_scatter(pg, a, o, op, mpi_op)
    return collective(pg, "reduce_scatter_tensor", ("reduce_scatter_tensor", op), start, (arr, out), (0,),
                      (output,), async_op)


def _reduce_scatter(pg, arr, out, op, mpi_op):
    request = pg.comm.Ireduce_scatter_block([arr, _mpi_type(pg.mpi, arr, "reduce_scatter")], out, mpi_op)
    size = pg.comm.Get_size()

    def finish() -> None:
        if op is ReduceOp.AVG:
            np.divide(out, size, out=out)
    return request, finish


def reduce_scatter(output: Tensor, input_list: Sequence[Tensor], op: ReduceOp = ReduceOp.SUM,
                   group: Optional[ProcessGroup] = None, async_op: bool = False) -> Optional[Work]:
    """Reduce ``input_list`` (one tensor per rank, each ``output``'s shape) across ranks; rank ``r`` gets
    the reduction of everyone's ``input_list[r]`` in ``output``.

    >>> out = ng.zeros(2)  # doctest: +SKIP
    >>> dist.reduce_scatter(out, [ng.ones(2), ng.ones(2) * 2]); out  # on rank 1 of 2  # doctest: +SKIP
    tensor([4., 4.])
    """
    if not_member(group):
        return _not_in_group("reduce_scatter", None)
    pg = _world(group)
    size = pg.comm.Get_size()
    out = _writable(output, "reduce_scatter", "output")
    if len(input_list) != size:
        raise ValueError(f"reduce_scatter: input_list has {len(input_list)} tensors; it needs one per rank ({size})")
    ins = [_array(t, "reduce_scatter", f"input_list[{i}]") for i, t in enumerate(input_list)]
    for i, a in enumerate(ins):
        if a.shape != out.shape or a.dtype != out.dtype:
            raise ValueError(f"reduce_scatter: input_list[{i}] has shape {a.shape} {a.dtype}, but output has "
                             f"shape {out.shape} {out.dtype}; each input must match the output")
    mpi_op = _mpi_op(pg.mpi, op, out, "reduce_scatter")
    staging = np.empty((size,) + out.shape, out.dtype)  # MPI reduces one send buffer

    def start(o: np.ndarray, *parts: np.ndarray):
        check_same(pg, "reduce_scatter", o, what="output")
        for part, a in zip(staging, parts):
            np.copyto(part, a)
        return _reduce_scatter(pg, staging, o, op, mpi_op)
    return collective(pg, "reduce_scatter", ("reduce_scatter", op), start, (out, *ins),
                      tuple(range(1, size + 1)), (output,), async_op)


def barrier(group: Optional[ProcessGroup] = None, async_op: bool = False, device_ids: Any = None) -> Optional[Work]:
    """Wait until every rank has reached the barrier.

    >>> dist.barrier()  # doctest: +SKIP
    """
    if not_member(group):
        return _not_in_group("barrier", None)
    pg = _world(group)

    def start():
        if not async_op:
            pg.comm.Barrier()
            return None, None
        return pg.comm.Ibarrier(), None
    return collective(pg, "barrier", ("barrier", async_op), start, (), (), (), async_op)


def _p2p_check(pg: ProcessGroup, peer: Any, op: str, arg: str) -> None:
    _check_rank(pg, peer, op, arg)
    if peer == pg.comm.Get_rank():
        raise ValueError(f"{op}: {arg}={peer} is this process's own rank; a rank cannot message itself")


def send(tensor: Tensor, dst: Optional[int] = None, group: Optional[ProcessGroup] = None, tag: int = 0,
         group_dst: Optional[int] = None) -> None:
    """Send ``tensor`` to rank ``dst`` (which receives it with ``recv``), blocking until it is sent.

    >>> dist.send(ng.ones(2), dst=1)  # on rank 0  # doctest: +SKIP
    """
    if not_member(group):
        return _not_in_group("send", None)
    isend(tensor, dst, group, tag, group_dst).wait()


def isend(tensor: Tensor, dst: Optional[int] = None, group: Optional[ProcessGroup] = None, tag: int = 0,
          group_dst: Optional[int] = None) -> Work:
    """``send`` without waiting: returns a ``Work``; ``tensor`` must not be written until it completes.

    >>> w = dist.isend(ng.ones(2), dst=1); w.wait()  # doctest: +SKIP
    True
    """
    if not_member(group):
        return _not_in_group("isend", None)
    pg = _world(group)
    dst = _peer(pg, dst, group_dst, "send", "dst")
    _p2p_check(pg, dst, "send", "dst")
    arr = _array(tensor, "send")
    not_captured("a point-to-point message (send/isend) is not captured by ng.compile")
    return Work(pg.comm.Isend([arr, _mpi_type(pg.mpi, arr, "send")], dest=dst, tag=tag))


def recv(tensor: Tensor, src: Optional[int] = None, group: Optional[ProcessGroup] = None, tag: int = 0,
         group_src: Optional[int] = None) -> int:
    """Receive into ``tensor`` (in place) what rank ``src`` sends (from any rank when ``src`` is None);
    returns the sender's rank.  A message of another size raises, naming both sizes.

    >>> t = ng.zeros(2); dist.recv(t, src=0)  # on rank 1  # doctest: +SKIP
    0
    """
    if not_member(group):
        return _not_in_group("recv", -1)
    pg = _world(group)
    MPI = pg.mpi
    if src is not None or group_src is not None:
        src = _peer(pg, src, group_src, "recv", "src")
        _p2p_check(pg, src, "recv", "src")
    arr = _writable(tensor, "recv")
    not_captured("a point-to-point message (recv) is not captured by ng.compile")
    status = MPI.Status()
    # probe first: the message's size is checked before it touches the tensor
    pg.comm.Probe(source=MPI.ANY_SOURCE if src is None else src, tag=tag, status=status)
    _check_count(status, arr, "recv", pg)
    pg.comm.Recv([arr, _mpi_type(MPI, arr, "recv")], source=status.Get_source(), tag=tag)
    tensor._bump_version()
    return _global(pg, status.Get_source())


def irecv(tensor: Tensor, src: Optional[int] = None, group: Optional[ProcessGroup] = None, tag: int = 0,
          group_src: Optional[int] = None) -> Work:
    """``recv`` without waiting: returns a ``Work`` whose ``wait()`` completes the receive (checking the
    message's size) and whose ``source_rank()`` is the sender.

    >>> t = ng.zeros(2); w = dist.irecv(t, src=0); w.wait()  # on rank 1  # doctest: +SKIP
    True
    """
    if not_member(group):
        return _not_in_group("irecv", None)
    pg = _world(group)
    MPI = pg.mpi
    if src is not None or group_src is not None:
        src = _peer(pg, src, group_src, "irecv", "src")
        _p2p_check(pg, src, "irecv", "src")
    arr = _writable(tensor, "irecv")
    not_captured("a point-to-point message (irecv) is not captured by ng.compile")
    status = MPI.Status()
    mtype = _mpi_type(MPI, arr, "irecv")
    request = pg.comm.Irecv([arr, mtype], source=MPI.ANY_SOURCE if src is None else src, tag=tag)

    class _Request:  # Wait/Test that keep the status, to check the size and report the source
        @staticmethod
        def Wait() -> None:
            try:
                request.Wait(status)
            except MPI.Exception as exc:  # a message longer than the tensor (MPI_ERR_TRUNCATE)
                raise RuntimeError(f"irecv: rank {pg.comm.Get_rank()} received a message longer than its tensor "
                                   f"of shape {arr.shape} {arr.dtype} ({arr.nbytes} bytes); send and recv must use "
                                   f"tensors of the same size and dtype ({exc})") from None

        @staticmethod
        def Test() -> bool:
            return request.Test(status)

    def finish() -> int:
        _check_count(status, arr, "irecv", pg)
        tensor._bump_version()
        return _global(pg, status.Get_source())
    return Work(_Request, finish)


def _check_count(status: Any, arr: np.ndarray, op: str, pg: ProcessGroup) -> None:
    got = status.Get_count(pg.mpi.BYTE)
    if got != arr.nbytes:
        raise RuntimeError(f"{op}: rank {pg.comm.Get_rank()} received a message of {got} bytes from rank "
                           f"{status.Get_source()}, but its tensor of shape {arr.shape} {arr.dtype} holds "
                           f"{arr.nbytes} bytes; send and recv must use tensors of the same size and dtype")
