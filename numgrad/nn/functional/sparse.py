"""Sparse functions of ``numgrad.nn.functional`` (PyTorch's grouping): embedding and one_hot.

``embedding`` gathers rows of the weight with a kernel of
``backend.norm_kernels(data)``; its backward scatters them back with a
``Function`` whose own backward is the gather, so ``create_graph=True`` works.
``one_hot`` is ``numgrad.ops.indexing.one_hot``.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ... import _dtypes
from ...autograd.function import Function
from ...autograd.grad_mode import no_grad
from ...kernels import backend
from ...ops.elementwise import apply as _ew
from ...ops.indexing import one_hot as _one_hot
from ...ops.misc import bincount
from ...tensor import Tensor
from ._arguments import _arr, _check_float, _check_tensor
from ...ops.autocast_policy import autocast_op


def renorm_rows_(weight: Tensor, idx, max_norm: float, norm_type: float, op: str) -> None:
    """PyTorch's ``embedding_renorm_``: each row of ``weight`` that ``idx`` (int64, on the host) names and whose
    ``norm_type``-norm exceeds ``max_norm`` is rescaled to it, in place, outside autograd (``embedding`` and
    ``embedding_bag`` with ``max_norm``)."""
    with no_grad():
        weight._before_write()
        backend.embedding_bag_kernels(weight._data, op).embedding_renorm(weight._data, idx, float(max_norm),
                                                                        float(norm_type))
        weight._bump_version()


def _as_int64(idx):
    """``idx`` itself when int64, else an int64 copy (on its device)."""
    return idx if idx.dtype == np.int64 else backend.copy_as(idx, np.int64)


class _Embedding(Function):
    node_name = "EmbeddingBackward0"

    @staticmethod
    def forward(ctx, indices, weight, padding_idx, scale_grad_by_freq=False):
        idx = _as_int64(_arr(indices).reshape(-1))
        wa = _arr(weight)
        out = backend.empty_allocator(wa)((idx.shape[0], wa.shape[1]), wa.dtype)
        backend.norm_kernels(wa).embedding_forward(wa, idx, out)
        ctx.idx, ctx.num, ctx.padding_idx = idx, wa.shape[0], padding_idx
        ctx.indices, ctx.scale_grad_by_freq = indices, scale_grad_by_freq
        return Tensor(out.reshape(tuple(indices.shape) + (wa.shape[1],)))

    @staticmethod
    def backward(ctx, g):
        if ctx.scale_grad_by_freq:  # each row's gradient over the number of times the batch looks it up
            frequency = bincount(ctx.indices.reshape(-1), minlength=ctx.num)[ctx.indices]
            g = _ew("div", g, frequency.to(g.dtype).unsqueeze(-1))
        return None, _EmbeddingDenseGrad.apply(g, ctx.indices, ctx.idx, ctx.num, ctx.padding_idx), None, None


class _EmbeddingDenseGrad(Function):
    node_name = "EmbeddingBackwardBackward0"

    @staticmethod
    def forward(ctx, g, indices, idx, num, padding_idx):
        ga = _arr(g)
        d = ga.shape[-1]
        gw = backend.empty_allocator(ga)((num, d), ga.dtype)
        pad = -1 if padding_idx is None else padding_idx
        backend.norm_kernels(ga).embedding_backward(ga.reshape(-1, d), idx, pad, gw)
        ctx.indices, ctx.padding_idx = indices, padding_idx
        return Tensor(gw)

    @staticmethod
    def backward(ctx, ggw):
        rows = _Embedding.apply(ctx.indices, ggw, ctx.padding_idx)
        if ctx.padding_idx is not None:
            rows = _ew("mul", rows, _ew("ne", ctx.indices, ctx.padding_idx).unsqueeze(-1))
        return rows, None, None, None, None


@autocast_op
def embedding(input: Tensor, weight: Tensor, padding_idx: Optional[int] = None, max_norm: Optional[float] = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of ``weight`` by integer ``input``; the ``padding_idx`` row gets no gradient.

    ``max_norm``: first rescale, in place, each looked-up row whose ``norm_type``-norm exceeds it (PyTorch's
    ``embedding_renorm_``); ``scale_grad_by_freq``: divide each row's gradient by how often the batch looks it up.

    >>> import numgrad as ng
    >>> ng.nn.functional.embedding(ng.tensor([[0, 2]]), ng.eye(3)).shape
    (1, 2, 3)
    >>> w = ng.full((2, 2), 3.0)
    >>> _ = ng.nn.functional.embedding(ng.tensor([1]), w, max_norm=1.0)
    >>> w.norm(dim=1)
    tensor([4.2426, 1.0000])
    """
    _check_tensor(input, "input", "embedding")
    _check_tensor(weight, "weight", "embedding")
    if input.dtype not in (_dtypes.int64, _dtypes.int32):
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; "
            f"but got {input._type_name()} instead (while checking arguments for embedding)"
        )
    if weight.ndim != 2:
        raise RuntimeError(f"embedding(): 'weight' must be 2-D, got shape {list(weight.shape)}")
    _check_float(weight, "weight", "embedding")
    if sparse:
        raise NotImplementedError("embedding(sparse=True): numgrad has no sparse gradients; use sparse=False (the "
                                  "dense weight gradient holds the same values)")
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx = padding_idx + num if padding_idx < 0 else padding_idx
    flat = _as_int64(_arr(input).reshape(-1))
    backend.check_same_device("embedding", "indices", flat, weight._data)
    bad = int(backend.norm_kernels(flat).first_bad_index(flat, num)) if flat.size else -1
    if bad >= 0:
        raise IndexError(
            f"index out of range in self (embedding: index {flat[bad].item()} with num_embeddings={num}, "
            f"input shape {list(input.shape)})"
        )
    if max_norm is not None:
        renorm_rows_(weight, np.ascontiguousarray(flat), max_norm, norm_type, "embedding(max_norm=...)")
    return _Embedding.apply(input, weight, padding_idx, bool(scale_grad_by_freq))


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """One-hot encoding of an int64 tensor (re-exported from ``numgrad.ops.indexing``).

    >>> import numgrad as ng
    >>> ng.nn.functional.one_hot(ng.tensor([0, 2]), 3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    return _one_hot(tensor, num_classes)
