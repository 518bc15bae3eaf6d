"""``ctc_loss`` of ``numgrad.nn.functional`` (PyTorch's ``F.ctc_loss``): the Connectionist Temporal
Classification loss.

The per-sample negative log-likelihoods come from the log-space alpha recursion of ``kernels/cpu/ctc.py``
(through ``backend.ctc_kernels``); the backward is its beta recursion.  The reductions are differentiable tensor
ops on top, as in PyTorch (``'mean'`` divides each loss by its target length, then averages).
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from ...autograd.function import Function
from ...creation import tensor
from ...kernels import backend
from ...tensor import Tensor
from ._arguments import _SCALAR_NAMES, _arr, _check_tensor
from ...ops.autocast_policy import autocast_op

__all__ = ["ctc_loss"]

_REDUCTIONS = ("none", "mean", "sum")
_WHERE = "(while checking arguments for ctc_loss_allocate_outputs)"


class _CTCLoss(Function):
    node_name = "CtcLossBackward0"

    @staticmethod
    def forward(ctx, log_probs, targets, tstart, input_lengths, target_lengths, blank, zero_infinity):
        lp = _arr(log_probs)
        K = backend.ctc_kernels(lp, "ctc_loss")
        batch = lp.shape[1]
        width = 2 * int(target_lengths.max(initial=0)) + 1
        log_alpha = np.empty((batch, lp.shape[0], width), lp.dtype)
        nll = np.empty(batch, lp.dtype)
        K.ctc_forward(lp, targets, tstart, input_lengths, target_lengths, blank, log_alpha, nll)
        ctx.saved = (K, lp, targets, tstart, input_lengths, target_lengths, blank, log_alpha, nll, zero_infinity)
        if zero_infinity:
            nll = np.where(np.isinf(nll), np.zeros((), lp.dtype), nll)
        return Tensor(nll)

    @staticmethod
    def backward(ctx, g):
        K, lp, targets, tstart, input_lengths, target_lengths, blank, log_alpha, nll, zero_infinity = ctx.saved
        grad = np.empty_like(lp)
        K.ctc_backward(np.ascontiguousarray(_arr(g), dtype=lp.dtype), lp, targets, tstart, input_lengths,
                       target_lengths, blank, log_alpha, nll, bool(zero_infinity), grad)
        return Tensor(grad), None, None, None, None, None, None


def _lengths(value, name: str, batch: int) -> np.ndarray:
    """Lengths given as a tensor, a sequence or (unbatched) an int, as int64 host values."""
    if isinstance(value, Tensor):
        if value.dtype.is_floating_point:
            raise RuntimeError(f"ctc_loss: {name} must hold integers, got {value.dtype}")
        arr = value._host().reshape(-1).astype(np.int64)
    else:
        arr = np.asarray(value, dtype=np.int64).reshape(-1)
    if arr.shape[0] != batch:
        raise RuntimeError(f"{name} must be of size batch_size")
    bad = np.flatnonzero(arr < 0)
    if bad.size:
        raise RuntimeError(f"Expected {name} to have value at least 0, but got value {arr[bad[0]]} {_WHERE}")
    return arr


@autocast_op
def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths: Union[Tensor, Sequence[int]],
             target_lengths: Union[Tensor, Sequence[int]], blank: int = 0, reduction: str = "mean",
             zero_infinity: bool = False) -> Tensor:
    """The CTC loss of ``log_probs`` ``(T, N, C)`` (or ``(T, C)`` unbatched; log-softmax outputs) against
    ``targets`` ``(N, S)`` padded or 1-D concatenated (``sum(target_lengths)``).

    ``reduction``: ``'mean'`` (each loss over its target length, then the batch mean), ``'sum'`` or
    ``'none'``; ``zero_infinity`` replaces infinite losses (an impossible alignment) and their gradients by 0.
    The gradient is PyTorch's: exact for the logits of the ``log_softmax`` that made ``log_probs``.

    >>> import numgrad as ng
    >>> lp = ng.full((2, 1, 2), 0.5).log()
    >>> ng.nn.functional.ctc_loss(lp, ng.tensor([[1]]), [2], [1], reduction="sum").exp()  # 1 / 0.75
    tensor(1.3333)
    """
    _check_tensor(log_probs, "log_probs", "ctc_loss")
    _check_tensor(targets, "targets", "ctc_loss")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if not log_probs.dtype.is_floating_point or log_probs.dtype.name not in ("float32", "float64"):
        raise NotImplementedError(f"\"ctc_loss_cpu\" not implemented for '{_SCALAR_NAMES[log_probs.dtype.name]}' "
                                  f"(log_probs of shape {list(log_probs.shape)}); pass float32 or float64 "
                                  "log-probabilities")
    unbatched = log_probs.ndim == 2
    if log_probs.ndim not in (2, 3):
        raise RuntimeError(f"ctc_loss: log_probs must be (T, N, C) or unbatched (T, C), got shape "
                           f"{list(log_probs.shape)}")
    lp = log_probs.unsqueeze(1) if unbatched else log_probs
    T, batch, C = lp.shape
    backend.ctc_kernels(lp._data, "ctc_loss")  # the CUDA refusal, before any host work
    if not 0 <= blank < C:
        raise RuntimeError("blank must be in label range")
    in_len = _lengths(input_lengths, "input_lengths", batch)
    tg_len = _lengths(target_lengths, "target_lengths", batch)
    big = np.flatnonzero(in_len > T)
    if big.size:
        raise RuntimeError(f"Expected input_lengths to have value at most {T}, but got value {in_len[big[0]]} "
                           f"{_WHERE}")
    tg = targets._host()
    if unbatched:
        tg = tg.reshape(1, -1)
    tg = tg.astype(np.int64)
    if tg.ndim == 1:
        if tg.shape[0] != int(tg_len.sum()):
            raise RuntimeError(f"Expected tensor to have size {int(tg_len.sum())} at dimension 0, but got size "
                               f"{tg.shape[0]} for argument #2 'targets' {_WHERE}")
        flat = np.ascontiguousarray(tg)
        tstart = np.concatenate([np.zeros(1, np.int64), np.cumsum(tg_len)[:-1]]).astype(np.int64)
    elif tg.ndim == 2:
        if tg.shape[0] != batch:
            raise RuntimeError(f"ctc_loss: targets must have the batch size {batch} in dimension 0, got shape "
                               f"{list(targets.shape)}")
        longest = int(tg_len.max(initial=0))
        if tg.shape[1] < longest:
            raise RuntimeError(f"Expected tensor to have size at least {longest} at dimension 1, but got size "
                               f"{tg.shape[1]} for argument #2 'targets' {_WHERE}")
        flat = np.ascontiguousarray(tg).reshape(-1)
        tstart = np.arange(batch, dtype=np.int64) * tg.shape[1]
    else:
        raise RuntimeError(f"ctc_loss: targets must be 1-D (concatenated) or 2-D (padded), got shape "
                           f"{list(targets.shape)}")
    for n in range(batch):
        used = flat[tstart[n]:tstart[n] + tg_len[n]]
        if used.size and (used.min() < 0 or used.max() >= C):
            bad = used[(used < 0) | (used >= C)][0]
            raise IndexError(f"ctc_loss: target {bad} of sample {n} is out of range for {C} classes")
    nll = _CTCLoss.apply(lp, flat, tstart, in_len, tg_len, int(blank), bool(zero_infinity))
    if reduction == "sum":
        return nll.sum()
    if reduction == "mean":
        lengths = tensor(np.maximum(tg_len, 1).astype(_arr(lp).dtype))
        return (nll / lengths).mean()
    return nll.squeeze(0) if unbatched else nll
