"""``DistributedDataParallel``: data-parallel training over ``numgrad.distributed`` (MPI).

Every rank holds a replica of the module and trains on its own share of each batch.  At construction the
replicas start equal (rank 0's parameters and buffers are broadcast).  During backward each parameter's
gradient, once accumulated, is copied into a bucket (a flat buffer of about ``bucket_cap_mb`` megabytes;
parameters go into buckets in reverse order, the order backward tends to produce their gradients); a full
bucket starts its all-reduce at once, asynchronously, so communication overlaps the rest of backward.  When
the backward pass ends the reducer waits for every bucket and writes the averaged gradients back into
``.grad``: after ``loss.backward()`` every rank holds the gradient of the mean over all ranks' batches, so
the optimizer steps keep the replicas equal.

A training step with a DDP model can be compiled (``ng.compile``): the gradient copies are kernels and the
all-reduces are recorded collectives, so the replay communicates as the eager step does (same buckets, same
order, overlapping backward), and replays only while the model is inside ``no_sync()`` exactly when it was
captured.  ``find_unused_parameters=True`` decides in Python which gradients to write back: such steps run
eagerly.

>>> import numgrad as ng, numgrad.distributed as dist
>>> dist.init_process_group("mpi")                          # doctest: +SKIP
>>> model = ng.nn.parallel.DistributedDataParallel(ng.nn.Linear(4, 2))  # doctest: +SKIP
>>> model(ng.randn(8, 4)).sum().backward()                  # gradients averaged over the ranks  # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import zlib
from typing import Any, Dict, Iterator, List, Optional

import numpy as np

from ... import distributed as dist
from ... import _profiler_hooks
from ...autograd import engine
from ...distributed import kernels
from ...distributed.collectives import allreduce_array, broadcast_array, collective, not_captured
from ...distributed.process_group import _world
from ...tensor import Tensor
from ..modules.module import Module

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1024 * 1024  # PyTorch's: a small first bucket starts communicating early


class _Bucket:
    """A flat buffer holding the gradients of some parameters (one dtype), all-reduced as one message."""

    def __init__(self, params: List[Any], dtype: np.dtype):
        self.params = params
        self.offsets = []
        start = 0
        for p in params:
            self.offsets.append(start)
            start += p.numel()
        self.buffer = np.zeros(start, dtype=dtype)
        self.flat_views = [self.buffer[o:o + p.numel()] for o, p in zip(self.offsets, params)]
        self.views = [v.reshape(tuple(p.shape)) for v, p in zip(self.flat_views, params)]
        self.ready = [False] * len(params)
        self.n_ready = 0
        self.work: Optional[dist.Work] = None

    def reset(self) -> None:
        self.ready = [False] * len(self.params)
        self.n_ready = 0
        self.work = None


def _assign_buckets(params: List[Any], cap_bytes: int) -> List[List[int]]:
    """Parameter indices grouped into buckets: reverse registration order, one dtype per bucket, the first
    bucket capped at 1 MB (or ``cap_bytes`` when smaller) and the others at ``cap_bytes``."""
    buckets: List[List[int]] = []
    open_by_dtype: Dict[Any, List[int]] = {}
    sizes: Dict[Any, int] = {}
    for i in reversed(range(len(params))):
        p = params[i]
        key = p.dtype
        cap = min(_FIRST_BUCKET_BYTES, cap_bytes) if not buckets else cap_bytes
        current = open_by_dtype.get(key)
        if current is None:
            current = open_by_dtype[key] = []
            sizes[key] = 0
            buckets.append(current)
        current.append(i)
        sizes[key] += p.numel() * p.element_size()
        if sizes[key] >= cap:
            del open_by_dtype[key]
    return buckets


class DistributedDataParallel(Module):
    """Wraps ``module`` for data-parallel training over the ranks of ``numgrad.distributed`` (MPI, CPU).

    ``broadcast_buffers``: rank 0's buffers (BatchNorm statistics) are copied to every rank before each
    forward.  ``bucket_cap_mb``: the size of the gradient buckets (25 MB, as PyTorch's).
    ``find_unused_parameters``: parameters that get no gradient in a backward pass count as zero on this rank
    (without it such a parameter raises an error naming it, after the other buckets are reduced).
    ``gradient_as_bucket_view``: ``.grad`` tensors become views of the buckets after the first step (one copy
    less per step).  ``no_sync()`` skips the all-reduce for gradient accumulation.  ``.module`` is the wrapped
    module; ``state_dict`` keys carry the ``module.`` prefix, as PyTorch's.

    >>> ddp = DistributedDataParallel(ng.nn.Linear(3, 1))  # doctest: +SKIP
    >>> list(ddp.state_dict())                             # doctest: +SKIP
    ['module.weight', 'module.bias']
    """

    def __init__(self, module: Module, device_ids: Optional[List[Any]] = None, output_device: Any = None, dim: int = 0,
                 broadcast_buffers: bool = True, init_sync: bool = True, process_group: Any = None,
                 bucket_cap_mb: Optional[float] = None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False, static_graph: bool = False,
                 delay_all_reduce_named_params: Any = None, param_to_hook_all_reduce: Any = None,
                 mixed_precision: Any = None, device_mesh: Any = None):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel expects an nn.Module, got {type(module).__name__}")
        for name, value in (("delay_all_reduce_named_params", delay_all_reduce_named_params),
                            ("param_to_hook_all_reduce", param_to_hook_all_reduce),
                            ("mixed_precision", mixed_precision), ("device_mesh", device_mesh)):
            if value is not None:
                raise NotImplementedError(f"DistributedDataParallel: {name} is not supported by numgrad")
        self.process_group = _world(process_group)
        tensors = list(module.parameters()) + list(module.buffers())
        if any(t.device.type != "cpu" for t in tensors):
            raise ValueError("DistributedDataParallel: numgrad communicates over MPI from CPU memory; the module "
                             "has parameters or buffers on another device (move it with .cpu())")
        if device_ids is not None or output_device is not None:
            raise ValueError("DistributedDataParallel device_ids and output_device arguments only work with "
                             f"single-device/multiple-device GPU modules, but got device_ids {device_ids}, "
                             f"output_device {output_device}, and module parameters on cpu.")
        self.module = module
        self.dim = dim
        self.device_ids = None
        self.output_device = None
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._param_names = [n for n, _ in named]
        self._params = [p for _, p in named]
        self._check_same_model()
        if init_sync:
            self._broadcast_from_rank0(tensors)
        assignment = _assign_buckets(self._params, self.bucket_bytes_cap)
        self._buckets = [_Bucket([self._params[i] for i in idx], self._params[idx[0]]._data.dtype)
                         for idx in assignment]
        self._slot = {}  # parameter index -> (bucket, position)
        for bucket, idx in zip(self._buckets, assignment):
            for pos, i in enumerate(idx):
                self._slot[i] = (bucket, pos)
        self._finalize_queued = False
        self._next_bucket = 0  # the next bucket to start reducing (they start in order)
        self._flat_buffers: Dict[Any, np.ndarray] = {}  # dtype -> the flat array buffers are broadcast through
        self._hook_handles = [p.register_post_accumulate_grad_hook(self._make_hook(i))
                              for i, p in enumerate(self._params)]

    # ------------------------------------------------------------------ construction
    def _check_same_model(self) -> None:
        """Every rank must wrap the same architecture: compare a short signature first (no hang on a mismatch)."""
        pg = self.process_group
        desc = ";".join(f"{n}:{tuple(p.shape)}:{p.dtype}" for n, p in zip(self._param_names, self._params))
        sig = np.array([len(self._params), sum(p.numel() for p in self._params), zlib.crc32(desc.encode())],
                       dtype=np.int64)
        rows = np.empty((pg.comm.Get_size(), 3), dtype=np.int64)
        pg.comm.Allgather(sig, rows)
        if not (rows == rows[0]).all():
            ranks = "; ".join(f"rank {r}: {int(row[0])} parameters, {int(row[1])} elements"
                              for r, row in enumerate(rows))
            raise RuntimeError("DistributedDataParallel: DDP expects same model across all ranks, but the ranks' "
                               f"parameters differ in number, shape or dtype ({ranks})")

    def _broadcast_from_rank0(self, tensors: List[Tensor], keep: bool = False) -> None:
        """Rank 0's values into every rank's tensors, one message per dtype.  ``keep``: pack them into a flat
        array kept for the next call (forward's buffer broadcast: a compiled step replays into the same array)."""
        if not tensors or self.process_group.comm.Get_size() == 1:
            return
        by_dtype: Dict[Any, List[Tensor]] = {}
        for t in tensors:
            by_dtype.setdefault(t._data.dtype, []).append(t)
        for dtype, group in by_dtype.items():
            n_total = sum(t.numel() for t in group)
            flat = self._flat_buffers.get(dtype) if keep else None
            if flat is None or flat.size != n_total:
                flat = np.empty(n_total, dtype=dtype)
                if keep:
                    self._flat_buffers[dtype] = flat
            pieces = []
            start = 0
            for t in group:
                n = t.numel()
                pieces.append((t, _flat_view(t), flat[start:start + n]))
                start += n
            for t, src, dst in pieces:
                kernels.copy_into(src, dst)
            # no shape exchange first: _check_same_model compared the ranks' models at construction
            pg = self.process_group
            collective(pg, "broadcast", ("DDP broadcast",), lambda a: (broadcast_array(pg, a, 0, blocking=True),
                                                                          None), (flat,), (0,), (), async_op=False)
            for t, dst, src in pieces:
                t._before_write()
                kernels.copy_into(src, dst)
                t._bump_version()

    # ------------------------------------------------------------------ forward
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        if self._finalize_queued:  # the last backward stopped early (it raised): settle its all-reduces
            for bucket in self._buckets:
                if bucket.work is not None:
                    bucket.work.wait()
                bucket.reset()
            self._finalize_queued = False
        self._guard_sync_flag()
        if self.broadcast_buffers and self.require_forward_param_sync:
            buffers = list(self.module.buffers())
            if buffers:
                self._broadcast_from_rank0(buffers, keep=True)
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Within this context backward accumulates gradients locally, without all-reducing them; the first
        backward after it all-reduces the accumulated total.

        >>> with ddp.no_sync():            # doctest: +SKIP
        ...     ddp(x1).sum().backward()   # local only
        >>> ddp(x2).sum().backward()       # all-reduces the sum of both  # doctest: +SKIP
        """
        self._guard_sync_flag()
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def _guard_sync_flag(self) -> None:
        """A step being compiled replays only while ``no_sync()`` is as it was when the step began."""
        if _profiler_hooks._capture_guard is not None:
            _profiler_hooks._capture_guard(("DDP no_sync", id(self)), lambda: self.require_backward_grad_sync,
                                           self.require_backward_grad_sync,
                                           "whether DistributedDataParallel is inside no_sync()")

    # ------------------------------------------------------------------ the reducer
    def _make_hook(self, index: int):
        def hook(param: Tensor) -> None:
            self._guard_sync_flag()
            if self.require_backward_grad_sync:
                self._mark_ready(index)
        return hook

    def _mark_ready(self, index: int) -> None:
        if not self._finalize_queued:  # the first gradient of this backward pass
            for bucket in self._buckets:
                bucket.reset()
            engine.queue_callback(self._finalize)
            self._finalize_queued = True
            self._next_bucket = 0
        bucket, pos = self._slot[index]
        if bucket.ready[pos]:
            raise RuntimeError(f"DistributedDataParallel: Expected to mark a variable ready only once; parameter "
                               f"{self._param_names[index]} got its gradient twice in one backward pass")
        grad = self._params[index].grad
        view = bucket.views[pos]
        world = self.process_group.comm.Get_size()
        flat_view = bucket.flat_views[pos]
        factor = view.dtype.type(1.0 / world)  # NumPy's float32 product of the old np.multiply, bit for bit
        if _is_view(grad, view, bucket.buffer):
            grad._before_write()  # the all-reduce writes this .grad in place
            if world > 1:
                kernels.scale_into(flat_view, factor, flat_view)
        elif world > 1:  # the average's division folded into the copy: the all-reduce then sums
            kernels.scale_into(_flat_view(grad), factor, flat_view)
        else:
            kernels.copy_into(_flat_view(grad), flat_view)
        bucket.ready[pos] = True
        bucket.n_ready += 1
        self._launch_ready()
        for other in self._buckets:  # let MPI progress the all-reduces already started
            if other.work is not None:
                other.work.is_completed()

    def _launch_ready(self) -> None:
        """Start the all-reduces of the full buckets in bucket order (as PyTorch's reducer): every rank starts
        the same collectives in the same order, even where gradients arrive in another order on another rank
        (a parameter unused on one rank only)."""
        while self._next_bucket < len(self._buckets):
            bucket = self._buckets[self._next_bucket]
            if bucket.n_ready < len(bucket.params):
                return
            self._launch(bucket)
            self._next_bucket += 1

    def _launch(self, bucket: _Bucket) -> None:
        pg = self.process_group
        bucket.work = collective(pg, "all_reduce", ("DDP bucket",),
                                 lambda a: allreduce_array(pg, a, dist.ReduceOp.SUM, pg.mpi.SUM, None),
                                 (bucket.buffer,), (0,))

    def _finalize(self) -> None:
        """At the end of backward: reduce the buckets still waiting, wait for all, write the averages back."""
        self._finalize_queued = False
        missing = []
        used = np.ones(len(self._params), dtype=np.int32)
        for i, p in enumerate(self._params):
            bucket, pos = self._slot[i]
            if not bucket.ready[pos]:
                missing.append(i)
                used[i] = 0
                kernels.fill_zero(bucket.flat_views[pos])  # no gradient on this rank: it contributes zero
                bucket.ready[pos] = True
                bucket.n_ready += 1
        self._launch_ready()
        if self.find_unused_parameters and self.process_group.comm.Get_size() > 1:
            not_captured("DistributedDataParallel(find_unused_parameters=True) decides in Python which gradients "
                         "to write back, from which parameters each rank used")
            # a parameter no rank used keeps its .grad untouched, as PyTorch's
            self.process_group.comm.Allreduce(self.process_group.mpi.IN_PLACE, used, self.process_group.mpi.MAX)
        for bucket in self._buckets:
            bucket.work.wait()
        if missing and not self.find_unused_parameters:
            names = ", ".join(self._param_names[i] for i in missing)
            raise RuntimeError(
                "DistributedDataParallel: parameters received no gradient in this backward pass on rank "
                f"{self.process_group.comm.Get_rank()}: {names}. This error indicates that your module has "
                "parameters that were not used in producing loss. Enable unused parameter detection by passing "
                "the keyword argument `find_unused_parameters=True` to DistributedDataParallel")
        for i, p in enumerate(self._params):
            if not used[i]:
                continue
            bucket, pos = self._slot[i]
            view = bucket.views[pos]
            grad = p.grad
            if _is_view(grad, view, bucket.buffer):
                grad._bump_version()
            elif self.gradient_as_bucket_view or grad is None:
                if self.gradient_as_bucket_view:
                    p.grad = Tensor(view)
                else:
                    p.grad = Tensor(np.empty_like(view))
                    kernels.copy_into(bucket.flat_views[pos], p.grad._buf.reshape(-1))
            else:
                grad._before_write()
                kernels.copy_into(bucket.flat_views[pos], _flat_view(grad))
                grad._bump_version()


def _flat_view(t: Tensor) -> np.ndarray:
    """``t``'s memory as a 1-D array (a view: the kernels write through it).  A non-contiguous tensor is copied,
    which a compiled step could not replay (the copy would be stale): the capture ends there."""
    arr = t._data
    if not arr.flags.c_contiguous:
        not_captured(f"DistributedDataParallel reads a non-contiguous gradient or buffer of shape {arr.shape}")
    return arr.reshape(-1)


def _is_view(grad: Optional[Tensor], view: np.ndarray, buffer: np.ndarray) -> bool:
    """Whether ``grad``'s memory is ``view``, a slice of the bucket ``buffer`` (a ``gradient_as_bucket_view``
    gradient)."""
    if grad is None or type(grad._buf) is not np.ndarray:
        return False
    arr = grad._buf
    if arr is view:
        return True
    return arr.base is buffer and arr.shape == view.shape and \
        arr.__array_interface__["data"][0] == view.__array_interface__["data"][0]
