"""``SyncBatchNorm``'s autograd function (PyTorch's ``torch.nn.modules._functions.SyncBatchNorm``): batch
normalization whose statistics cover every rank's batch, over numgrad.distributed's MPI collectives (CPU).

Forward: each rank computes its batch's per-channel mean, biased variance and count (a kernel), the ranks
all-gather those rows (one ``all_gather_into_tensor`` of ``world size x (2C + 1)`` float64), and a kernel merges
them into the global mean and inverse standard deviation (and updates the running statistics with the global
unbiased variance); the input is normalized with them.  PyTorch gathers (mean, invstd, count); numgrad gathers
the variance itself instead of ``invstd``, which spares the ``1 / invstd^2 - eps`` round trip.

Backward: each rank reduces ``sum(dy)`` and ``sum(dy * (x - mean))`` over its batch, one ``all_reduce`` sums
them over the ranks, and the input gradient is the one of a single batch norm over the concatenated global
batch.  The weight and bias gradients are this rank's own sums, as PyTorch's: ``DistributedDataParallel``
averages them with the other gradients.  A rank whose batch is empty gets zero weight and bias gradients
(PyTorch leaves them ``None``), so DDP finds a gradient for every parameter on every rank.

Every step is a Numba kernel or a recorded collective, so ``ng.compile`` captures and replays it.

>>> SyncBatchNorm.node_name
'SyncBatchNormBackward'
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled
from ...distributed import all_gather_into_tensor, all_reduce
from ...distributed import kernels as sync_kernels
from ...kernels import backend
from ...tensor import Tensor
from ..functional._arguments import _arr

__all__ = ["SyncBatchNorm"]


def _as_ncl(arr: np.ndarray) -> np.ndarray:
    """``(N, C, *)`` as ``(N, C, L)``; spelled out because ``reshape(n, c, -1)`` fails on an empty batch."""
    n, c = arr.shape[:2]
    return arr.reshape(n, c, math.prod(arr.shape[2:]))


class SyncBatchNorm(Function):
    """``apply(input, weight, bias, running_mean, running_var, eps, momentum, process_group, world_size)``:
    training-mode batch norm over the batches of every rank of ``process_group`` (``nn.SyncBatchNorm`` calls it
    when it needs to synchronize); the running statistics, when given, are updated in place with ``momentum``.

    >>> import numgrad as ng, numgrad.distributed as dist
    >>> dist.init_process_group("mpi")                                   # doctest: +SKIP
    >>> y = SyncBatchNorm.apply(ng.randn(4, 3), None, None, None, None, 1e-5, 0.1, dist.group.WORLD,
    ...                         dist.get_world_size())                   # doctest: +SKIP
    """

    @staticmethod
    def forward(ctx: Any, input: Tensor, weight: Optional[Tensor], bias: Optional[Tensor],
                running_mean: Optional[Tensor], running_var: Optional[Tensor], eps: float, momentum: float,
                process_group: Any, world_size: int) -> Tensor:
        xa = _arr(input)
        x3 = _as_ncl(xa)
        channels = x3.shape[1]
        empty = backend.empty_allocator(xa)
        local = empty((2 * channels + 1,), np.float64)
        sync_kernels.sync_bn_local_stats(x3, local)
        # all-gather, not all-reduce: the ranks' counts may differ (an empty batch on one rank counts 0)
        gathered = empty((world_size, 2 * channels + 1), np.float64)
        all_gather_into_tensor(Tensor(gathered), Tensor(local), group=process_group)
        mean = empty((channels,), np.float64)
        invstd = empty((channels,), np.float64)
        unbiased_var = empty((channels,), np.float64)
        total = empty((1,), np.float64)
        sync_kernels.sync_bn_combine(gathered, float(eps), mean, invstd, unbiased_var, total)
        if running_mean is not None:
            running_mean._before_write()  # pending readers of the old statistics compute first
            running_var._before_write()
            sync_kernels.sync_bn_update_running(running_mean._data, running_var._data, mean, unbiased_var,
                                                float(momentum))
            running_mean._bump_version()
            running_var._bump_version()
        w = _arr(weight) if weight is not None else backend.full_for((xa,), (channels,), xa.dtype, 1)
        b = _arr(bias) if bias is not None else backend.full_for((xa,), (channels,), xa.dtype, 0)
        out = empty(xa.shape, xa.dtype)
        backend.norm_kernels(xa).batch_norm_apply(x3, mean, invstd, w, b, _as_ncl(out))
        ctx.save_for_backward(input, weight)
        ctx.mean, ctx.invstd, ctx.total, ctx.process_group = mean, invstd, total, process_group
        return Tensor(out)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple:
        if is_grad_enabled():
            raise RuntimeError("SyncBatchNorm's backward is not differentiable: backward(create_graph=True) and "
                               "autograd.grad(create_graph=True) through an nn.SyncBatchNorm that synchronizes "
                               "are not supported (convert it back to BatchNorm for higher-order gradients)")
        saved_input, weight = ctx.saved_tensors
        need_input, need_weight, need_bias = ctx.needs_input_grad[:3]
        xa = _arr(saved_input)
        x3 = _as_ncl(xa)
        g3 = _as_ncl(_arr(grad_output))
        channels = x3.shape[1]
        empty = backend.empty_allocator(xa)
        sums = empty((2 * channels,), np.float64)
        grad_weight = empty((channels,), xa.dtype)
        grad_bias = empty((channels,), xa.dtype)
        sync_kernels.sync_bn_backward_reduce(g3, x3, ctx.mean, ctx.invstd, sums, grad_weight, grad_bias)
        grad_input = None
        # as PyTorch: the sums are exchanged only when the input needs a gradient (every rank's input does or
        # none does: the ranks run the same model), and a rank with an empty batch still takes part with zeros
        if need_input:
            all_reduce(Tensor(sums), group=ctx.process_group)
            w = _arr(weight) if weight is not None else backend.full_for((xa,), (channels,), xa.dtype, 1)
            grad_input = empty(xa.shape, xa.dtype)
            sync_kernels.sync_bn_backward_elemt(g3, x3, ctx.mean, ctx.invstd, w, sums, ctx.total,
                                                _as_ncl(grad_input))
            grad_input = Tensor(grad_input)
        return (grad_input,
                Tensor(grad_weight) if need_weight and weight is not None else None,
                Tensor(grad_bias) if need_bias else None,
                None, None, None, None, None, None)
