"""More losses of ``numgrad.nn.functional`` (PyTorch's names, defaults, reductions and errors): kl_div,
poisson_nll_loss, gaussian_nll_loss, margin_ranking_loss, hinge_embedding_loss, cosine_embedding_loss,
soft_margin_loss, multilabel_soft_margin_loss, multi_margin_loss, triplet_margin_loss.

Each is a composition of differentiable tensor ops (elementwise table ops, reductions, gather), so the
elementwise parts fuse forward and backward and every input, target and weight that requires grad gets a
gradient, as in PyTorch.  Input checks and target masks are kernels that return their answer (never tensor
data read in Python), so a training step with any of these losses replays under ``ng.compile``.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Optional, Union

from ...ops.elementwise_functions import clamp_min, exp, log, minimum, softplus, sqrt, where
from ...ops.pointwise import xlogy
from ...creation import full_like
from ...kernels import backend as _backend
from ...kernels.backend import empty_for
from ...ops.views import contiguous_array
from ...tensor import Tensor
from ._arguments import _as_tensor
from .activation_more import pairwise_distance
from .loss import _reduce, _reduction
from .sparse import one_hot
from ...ops.autocast_policy import autocast_op

__all__ = [
    "kl_div", "poisson_nll_loss", "gaussian_nll_loss", "margin_ranking_loss", "hinge_embedding_loss",
    "cosine_embedding_loss", "soft_margin_loss", "multilabel_soft_margin_loss", "multi_margin_loss",
    "triplet_margin_loss", "triplet_margin_with_distance_loss", "multilabel_margin_loss",
]


@autocast_op
def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence of ``target`` from log-probabilities ``input``: ``target * (log(target) -
    input)`` pointwise (``exp(target) * (target - input)`` with ``log_target``); ``reduction='batchmean'``
    divides the sum by the batch size (the mathematical KL divergence).

    >>> import numgrad as ng
    >>> ng.nn.functional.kl_div(ng.tensor([[-0.5, -1.0]]), ng.tensor([[0.5, 0.5]]), reduction="batchmean")
    tensor(0.0569)
    """
    if size_average is not None or reduce is not None:
        reduction = _reduction(reduction, size_average, reduce)
    elif reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support size."
            "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
            "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
            UserWarning, stacklevel=2,
        )
    if reduction not in ("none", "mean", "sum", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    x, t = _as_tensor(input), _as_tensor(target)
    pointwise = exp(t) * (t - x) if log_target else xlogy(t, t) - t * x
    if reduction == "batchmean":
        total = pointwise.sum()
        return total / x.shape[0] if x.ndim else total
    return _reduce(pointwise, reduction)


@autocast_op
def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False, size_average=None,
                     eps: float = 1e-8, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of ``target ~ Poisson(rate)``: ``exp(input) - target * input`` when ``input`` is
    the log-rate, else ``input - target * log(input + eps)``; ``full`` adds Stirling's term for targets > 1.

    >>> import numgrad as ng
    >>> ng.nn.functional.poisson_nll_loss(ng.tensor([0.0]), ng.tensor([2.0]))
    tensor(1.)
    """
    reduction = _reduction(reduction, size_average, reduce)
    x, t = _as_tensor(input), _as_tensor(target)
    loss = exp(x) - t * x if log_input else x - t * log(x + eps)
    if full:
        stirling = t * log(t) - t + 0.5 * log(2 * math.pi * t)
        loss = loss + where(t > 1, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Union[Tensor, float], full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of ``target ~ N(input, var)``: ``0.5 * (log(var) + (input - target)**2 / var)``
    (+ ``0.5 * log(2 pi)`` with ``full``). ``var`` has ``input``'s shape, or lacks (or has size 1 in) its last
    dimension (one variance per sample), or is a float; it is clamped to ``eps`` from below without cutting its
    gradient, as PyTorch does.

    >>> import numgrad as ng
    >>> ng.nn.functional.gaussian_nll_loss(ng.tensor([1.0]), ng.tensor([3.0]), ng.tensor([2.0]))
    tensor(1.3466)
    """
    x, t = _as_tensor(input), _as_tensor(target)
    v = var if isinstance(var, Tensor) else full_like(x, float(var))
    if v.shape != x.shape:
        if x.shape[:-1] == v.shape:
            v = v.unsqueeze(-1)
        elif not (x.shape[:-1] == v.shape[:-1] and v.ndim and v.shape[-1] == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    # one kernel returns the answer (a tensor read in Python would end an ng.compile capture)
    if v.numel() and _backend.any_below(contiguous_array(v._data).reshape(-1), 0.0):
        raise ValueError("var has negative entry/entries")
    # PyTorch clamps a clone of var under no_grad: the value is clamped, the gradient passes through unchanged
    v = v + (clamp_min(v.detach(), eps) - v.detach())
    loss = 0.5 * (log(v) + (x - t) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


@autocast_op
def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """``max(0, -target * (input1 - input2) + margin)`` with ``target`` in {1, -1}.

    >>> import numgrad as ng
    >>> ng.nn.functional.margin_ranking_loss(ng.tensor([1.0]), ng.tensor([2.0]), ng.tensor([1.0]))
    tensor(1.)
    """
    reduction = _reduction(reduction, size_average, reduce)
    a, b, y = _as_tensor(input1), _as_tensor(input2), _as_tensor(target)
    if not a.ndim == b.ndim == y.ndim:
        raise RuntimeError(
            f"margin_ranking_loss : All input tensors should have same dimension but got sizes: input1: "
            f"{list(a.shape)}, input2: {list(b.shape)}, target: {list(y.shape)} "
        )
    return _reduce(clamp_min(-y * (a - b) + margin, 0.0), reduction)


@autocast_op
def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """``input`` where ``target == 1``, ``max(0, margin - input)`` where ``target == -1``.

    >>> import numgrad as ng
    >>> ng.nn.functional.hinge_embedding_loss(ng.tensor([0.3, 2.0]), ng.tensor([-1.0, 1.0]), reduction="none")
    tensor([0.7000, 2.0000])
    """
    reduction = _reduction(reduction, size_average, reduce)
    x, y = _as_tensor(input), _as_tensor(target)
    loss = where(y != 1, clamp_min(margin - x, 0.0), 0.0) + where(y != -1, x, 0.0)
    return _reduce(loss, reduction)


@autocast_op
def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """Two-class logistic loss ``log(1 + exp(-target * input))`` (computed as a stable softplus).

    >>> import numgrad as ng
    >>> ng.nn.functional.soft_margin_loss(ng.tensor([0.0]), ng.tensor([1.0]))
    tensor(0.6931)
    """
    reduction = _reduction(reduction, size_average, reduce)
    x, y = _as_tensor(input), _as_tensor(target)
    return _reduce(softplus(-y * x), reduction)


@autocast_op
def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0, size_average=None,
                          reduce=None, reduction: str = "mean") -> Tensor:
    """``1 - cos(x1, x2)`` where ``target == 1``, ``max(0, cos(x1, x2) - margin)`` where ``target == -1``;
    the cosine is taken over the last dimension.

    >>> import numgrad as ng
    >>> ng.nn.functional.cosine_embedding_loss(ng.tensor([[1.0, 0.0]]), ng.tensor([[0.0, 1.0]]), ng.tensor([1.0]))
    tensor(1.)
    """
    reduction = _reduction(reduction, size_average, reduce)
    a, b, y = _as_tensor(input1), _as_tensor(input2), _as_tensor(target)
    if y.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if a.shape != b.shape:
        raise RuntimeError(
            f"cosine_embedding_loss: input1 and input2 should have the same shape, but got {list(a.shape)} and "
            f"{list(b.shape)}"
        )
    dim = a.ndim - 1
    eps = 1e-12  # PyTorch's EPSILON: keeps a zero vector from dividing by zero
    cos = (a * b).sum(dim) / sqrt(((a * a).sum(dim) + eps) * ((b * b).sum(dim) + eps))
    loss = where(y == 1, 1.0 - cos, 0.0) + where(y == -1, clamp_min(cos - margin, 0.0), 0.0)
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Optional[Tensor] = None, size_average=None,
                                reduce=None, reduction: str = "mean") -> Tensor:
    """One-vs-all logistic loss averaged over the classes (last dimension); ``target`` holds 0/1 per class.

    >>> import numgrad as ng
    >>> ng.nn.functional.multilabel_soft_margin_loss(ng.zeros(1, 2), ng.tensor([[1.0, 0.0]]))
    tensor(0.6931)
    """
    reduction = _reduction(reduction, size_average, reduce)
    x, t = _as_tensor(input), _as_tensor(target)
    loss = t * softplus(-x) + (1.0 - t) * softplus(x)
    if weight is not None:
        loss = loss * _as_tensor(weight)
    class_dim = x.ndim - 1
    loss = loss.sum(class_dim) / x.shape[class_dim]
    return _reduce(loss, reduction)


@autocast_op
def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0, weight: Optional[Tensor] = None,
                      size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss: for each sample, ``sum_{j != y} max(0, margin - x[y] + x[j])**p / C`` (times
    ``weight[y]``), with ``input`` ``(N, C)`` or ``(C,)`` and class indices ``target``.

    >>> import numgrad as ng
    >>> ng.nn.functional.multi_margin_loss(ng.tensor([[0.1, 0.2, 0.4]]), ng.tensor([2]))
    tensor(0.5000)
    """
    reduction = _reduction(reduction, size_average, reduce)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    x, y = _as_tensor(input), _as_tensor(target)
    if x.ndim > 2 or y.ndim > 1:
        raise RuntimeError(
            f"multi_margin_loss: expected input of 0 to 2 dimensions and a 0D or 1D target, got input "
            f"{list(x.shape)} and target {list(y.shape)}"
        )
    single = x.ndim < 2
    x2 = x.reshape(1, -1) if single else x
    n, c = x2.shape
    y1 = y.reshape(-1)
    if y1.shape[0] != n:
        raise RuntimeError(f"inconsistent target size, expected {n} but got {list(y.shape)}")
    flat = contiguous_array(y1._data)
    if flat.size and _backend.indexing_kernels(flat).check_bounds(flat, c) >= 0:
        raise RuntimeError("target out of range")
    at_target = x2.gather(1, y1.reshape(-1, 1))
    hinge = clamp_min(margin - at_target + x2, 0.0)
    if p == 2:
        hinge = hinge * hinge
    if weight is not None:
        w = _as_tensor(weight)
        hinge = hinge * w[y1].reshape(-1, 1)
    hinge = where(one_hot(y1, c) == 1, 0.0, hinge)
    loss = hinge.sum(1) / c
    if single:
        loss = loss.reshape(y.shape)
    return _reduce(loss, reduction)


@autocast_op
def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean") -> Tensor:
    """``max(0, d(anchor, positive) - d(anchor, negative) + margin)`` with ``d`` the ``p``-norm pairwise
    distance; ``swap`` uses the smaller of ``d(anchor, negative)`` and ``d(positive, negative)``.

    >>> import numgrad as ng
    >>> a = ng.zeros(1, 2)
    >>> ng.nn.functional.triplet_margin_loss(a, a, ng.ones(1, 2), eps=0.0)
    tensor(0.)
    """
    reduction = _reduction(reduction, size_average, reduce)
    a, pos, neg = _as_tensor(anchor), _as_tensor(positive), _as_tensor(negative)
    if not a.ndim == pos.ndim == neg.ndim:
        raise RuntimeError(
            f"The anchor, positive, and negative tensors are expected to have the same number of dimensions, but "
            f"got: anchor {a.ndim}D, positive {pos.ndim}D, and negative {neg.ndim}D inputs"
        )
    d_pos = pairwise_distance(a, pos, p, eps)
    d_neg = pairwise_distance(a, neg, p, eps)
    if swap:
        d_neg = minimum(d_neg, pairwise_distance(pos, neg, p, eps))
    return _reduce(clamp_min(margin + d_pos - d_neg, 0.0), reduction)


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function: Optional[Callable[[Tensor, Tensor], Tensor]] = None,
                                      margin: float = 1.0, swap: bool = False, reduction: str = "mean") -> Tensor:
    """``max(0, d(anchor, positive) - d(anchor, negative) + margin)`` with any distance function ``d``
    (default ``pairwise_distance``).

    >>> import numgrad as ng
    >>> a = ng.zeros(1, 2)
    >>> ng.nn.functional.triplet_margin_with_distance_loss(a, a, ng.ones(1, 2))
    tensor(0.)
    """
    if margin <= 0:
        raise ValueError(f"triplet_margin_with_distance_loss: expected margin to be greater than 0, got {margin} instead")
    reduction = _reduction(reduction)
    a, pos, neg = _as_tensor(anchor), _as_tensor(positive), _as_tensor(negative)
    if not a.ndim == pos.ndim == neg.ndim:
        raise RuntimeError(
            f"The anchor, positive, and negative tensors are expected to have the same number of dimensions, but "
            f"got: anchor {a.ndim}D, positive {pos.ndim}D, and negative {neg.ndim}D inputs"
        )
    distance = distance_function if distance_function is not None else pairwise_distance
    d_pos, d_neg = distance(a, pos), distance(a, neg)
    if swap:
        d_neg = minimum(d_neg, distance(pos, neg))
    return _reduce(clamp_min(margin + d_pos - d_neg, 0.0), reduction)


@autocast_op
def multilabel_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                           reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss: ``target`` lists each sample's classes, ended by the first -1; each sample's loss is
    ``sum over its classes j and the other classes k of max(0, 1 - (x[j] - x[k])) / C``.

    >>> import numgrad as ng
    >>> ng.nn.functional.multilabel_margin_loss(ng.tensor([[0.1, 0.2, 0.4, 0.8]]), ng.tensor([[3, 0, -1, 1]]))
    tensor(0.8500)
    """
    reduction = _reduction(reduction, size_average, reduce)
    x, y = _as_tensor(input), _as_tensor(target)
    if x.ndim > 2 or x.shape != y.shape:
        raise RuntimeError(
            f"multilabel_margin_loss: expected input of 0 to 2 dimensions and a target of the same shape, got input "
            f"{list(x.shape)} and target {list(y.shape)}"
        )
    single = x.ndim < 2
    x2 = x.reshape(1, -1) if single else x
    c = x2.shape[1]
    _backend.check_same_device("multilabel_margin_loss", "target", y._data, x._data)
    labels = contiguous_array(y._data).reshape(x2.shape)
    # which classes are targets: the entries before each row's first -1, marked by one kernel
    is_target = empty_for((labels,), x2.shape, x2.dtype.np)
    if labels.size and not _backend.multilabel_target_mask(labels, is_target):
        raise RuntimeError("multilabel_margin_loss: target out of range")
    mask = Tensor(is_target)
    pair_mask = mask.unsqueeze(2) * (1.0 - mask.unsqueeze(1))
    hinge = clamp_min(1.0 - (x2.unsqueeze(2) - x2.unsqueeze(1)), 0.0) * pair_mask
    loss = hinge.sum((1, 2)) / c
    if single:
        loss = loss.reshape(())
    return _reduce(loss, reduction)
