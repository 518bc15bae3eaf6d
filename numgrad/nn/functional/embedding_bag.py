"""``embedding_bag`` of ``numgrad.nn.functional`` (PyTorch's ``F.embedding_bag``): sums, means or maxima of bags of
embedding rows without materializing the gathered rows.

Forward and backward are the Numba kernels of ``kernels/cpu/embedding_bag.py`` (through
``backend.embedding_bag_kernels``); the weight and the per-sample weights get gradients.  ``sparse=True`` is
refused (numgrad has no sparse gradients).
"""
from __future__ import annotations

import numbers
from typing import Optional

import numpy as np

from ... import _dtypes
from ...autograd.function import Function
from ...kernels import backend
from ...tensor import Tensor
from ._arguments import _arr, _check_float, _check_tensor
from .sparse import _as_int64, renorm_rows_
from ...ops.autocast_policy import autocast_op

__all__ = ["embedding_bag"]

_MODES = {"sum": 0, "mean": 1, "max": 2}


class _EmbeddingBag(Function):
    node_name = "EmbeddingBagBackward0"

    @staticmethod
    def forward(ctx, weight, per_sample_weights, idx, bounds, mode, padding_idx, scale_grad_by_freq):
        wa = _arr(weight)
        psw = _arr(per_sample_weights) if per_sample_weights is not None else np.empty(0, wa.dtype)
        bags = bounds.shape[0] - 1
        K = backend.embedding_bag_kernels(wa, "embedding_bag")
        out = np.empty((bags, wa.shape[1]), wa.dtype)
        counts = np.empty(bags, np.int64)
        argmax = np.empty((bags, wa.shape[1]), np.int64)
        K.bag_forward(wa, idx, bounds, psw, mode, padding_idx, out, counts, argmax)
        ctx.K, ctx.wa, ctx.psw, ctx.idx, ctx.bounds = K, wa, psw, idx, bounds
        ctx.mode, ctx.padding_idx, ctx.scale, ctx.counts, ctx.argmax = (mode, padding_idx, scale_grad_by_freq,
                                                                       counts, argmax)
        return Tensor(out)

    @staticmethod
    def backward(ctx, g):
        ga = _arr(g)
        gw = gpsw = None
        if ctx.needs_input_grad[0]:
            gw_arr = np.empty(ctx.wa.shape, ga.dtype)
            ctx.K.bag_weight_grad(ga, ctx.idx, ctx.bounds, ctx.psw, ctx.mode, ctx.padding_idx, ctx.scale,
                                  ctx.counts, ctx.argmax, gw_arr)
            gw = Tensor(gw_arr)
        if ctx.needs_input_grad[1]:
            gpsw_arr = np.empty(ctx.psw.shape, ga.dtype)
            ctx.K.bag_per_sample_weights_grad(ga, ctx.wa, ctx.idx, ctx.bounds, ctx.padding_idx, gpsw_arr)
            gpsw = Tensor(gpsw_arr)
        return gw, gpsw, None, None, None, None, None


def _check_indices(t: Tensor, name: str) -> None:
    if t.dtype not in (_dtypes.int64, _dtypes.int32):
        raise RuntimeError(
            f"Expected tensor for argument #1 '{name}' to have one of the following scalar types: Long, Int; but "
            f"got {t._type_name()} instead (while checking arguments for embedding_bag)")


def _host_int64(t: Tensor) -> np.ndarray:
    arr = t._data
    if not isinstance(arr, np.ndarray):
        raise NotImplementedError("embedding_bag: this numgrad op has no CUDA kernel yet; run it on the CPU "
                                  "(x.cpu()) and move the result back with .cuda()")
    return np.ascontiguousarray(_as_int64(arr.reshape(-1)))


@autocast_op
def embedding_bag(input: Tensor, weight: Tensor, offsets: Optional[Tensor] = None, max_norm: Optional[float] = None,
                  norm_type: float = 2, scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Optional[Tensor] = None, include_last_offset: bool = False,
                  padding_idx: Optional[int] = None) -> Tensor:
    """Sum, mean or max of bags of rows of ``weight``: a 2-D ``input`` is one bag per row; a 1-D ``input`` is cut
    into bags at ``offsets`` (with ``include_last_offset``, ``offsets`` also holds the end of the last bag).

    ``per_sample_weights`` (mode ``'sum'``) scales each row; ``padding_idx`` entries are skipped (and not
    counted by the mean); an empty bag gives zeros; ``max_norm`` renormalizes the rows used, in place.

    >>> import numgrad as ng
    >>> F = ng.nn.functional
    >>> F.embedding_bag(ng.tensor([0, 1, 2, 2]), ng.eye(3), ng.tensor([0, 2]), mode="sum")
    tensor([[1., 1., 0.],
            [0., 0., 2.]])
    """
    _check_tensor(input, "input", "embedding_bag")
    _check_tensor(weight, "weight", "embedding_bag")
    if per_sample_weights is not None and tuple(input.shape) != tuple(per_sample_weights.shape):
        raise ValueError(f"embedding_bag: If per_sample_weights ({per_sample_weights.size()}) is not None, then it "
                         f"must have the same shape as the input ({input.size()})")
    if weight.ndim != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             f"fixed length sequences. However, found offsets of type {type(offsets)}")
        bags, length = input.shape
        bounds = np.arange(0, bags * length + 1, max(length, 1), dtype=np.int64)[:bags + 1]
        if length == 0:
            bounds = np.zeros(bags + 1, np.int64)
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        _check_tensor(offsets, "offsets", "embedding_bag")
        if offsets.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        bounds = None
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    if mode not in _MODES:
        raise ValueError("mode has to be one of sum, mean or max")
    if mode == "max" and scale_grad_by_freq:
        raise ValueError("max mode does not support scaling the gradient by the frequency")
    if mode == "max" and sparse:
        raise ValueError("max mode does not support sparse weights")
    if sparse:
        raise NotImplementedError("embedding_bag(sparse=True): numgrad has no sparse gradients; use sparse=False "
                                  "(the dense weight gradient holds the same values)")
    _check_indices(input, "indices")
    _check_float(weight, "weight", "embedding_bag")
    num = weight.shape[0]
    if padding_idx is not None:
        if not isinstance(padding_idx, numbers.Integral) or not -num <= padding_idx < num:
            raise RuntimeError(f"padding_idx must be within the number of embeddings, {-num} through {num - 1}, "
                               f"but got {padding_idx}")
        padding_idx = int(padding_idx) + num if padding_idx < 0 else int(padding_idx)
    idx = _host_int64(input)
    backend.embedding_bag_kernels(weight._data, "embedding_bag")  # the CUDA refusal, before any work
    if bounds is None:
        _check_indices(offsets, "offsets")
        bounds = _host_int64(offsets)
        if not include_last_offset:
            bounds = np.append(bounds, np.int64(idx.shape[0]))
        elif bounds.shape[0] == 0:
            raise ValueError("embedding_bag: include_last_offset=True needs at least one offset (the end of the "
                             "last bag); got an empty offsets tensor")
        if bounds.shape[0] > 1:
            if bounds[0] != 0:
                raise RuntimeError("offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to "
                                   f"start from position 0. However, got {bounds[0]}")
            last = bounds[-1] if include_last_offset else bounds[-2]
            if last > idx.shape[0]:
                raise RuntimeError(f"offsets[-1] can not be greater than input's length {idx.shape[0]} but got "
                                   f"offsets[-1] of {last}")
        K = backend.embedding_bag_kernels(weight._data, "embedding_bag")
        bad = int(K.bad_bounds(bounds, idx.shape[0]))
        if bad >= 0:
            raise RuntimeError(f"embedding_bag: offsets must be non-decreasing, got {bounds[bad]} after "
                               f"{bounds[bad - 1]} at position {bad} (offsets {_host_int64(offsets).tolist()})")
    if idx.size:
        bad = int(backend.norm_kernels(idx).first_bad_index(idx, num))
        if bad >= 0:
            raise IndexError(f"index out of range in self (embedding_bag: index {idx[bad]} with "
                             f"num_embeddings={num}, input shape {list(input.shape)})")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError("embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                      f"supported for mode='sum' (got mode='{mode}'). Please open a feature "
                                      "request on GitHub.")
        if per_sample_weights.dtype != weight.dtype:
            raise RuntimeError(
                f"Expected tensor for argument #1 'weight' to have the same type as tensor for argument #1 "
                f"'per_sample_weights'; but type {weight._type_name()} does not equal "
                f"{per_sample_weights._type_name()} (while checking arguments for embedding_bag)")
    if max_norm is not None:
        renorm_rows_(weight, idx, max_norm, norm_type, "embedding_bag")
    return _EmbeddingBag.apply(weight, per_sample_weights, idx, bounds, _MODES[mode],
                               -1 if padding_idx is None else padding_idx, bool(scale_grad_by_freq))
