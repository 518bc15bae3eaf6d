"""Losses of ``numgrad.nn.functional``: nll_loss, cross_entropy, mse, l1, smooth_l1, huber and binary cross entropy.

``nll_loss`` gathers ``-weight[t] * input[n, t]`` with a kernel whose adjoint
(a scatter) is its backward, and vice versa; class-index ``cross_entropy`` of
(N, C) logits runs one fused kernel each way where the backend has one.  The
remaining losses are compositions of differentiable tensor ops with PyTorch's
formulas, reductions and errors.
"""
from __future__ import annotations

import warnings
from typing import Optional

import numpy as np

from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled
from ...kernels import backend as _backend
from ...kernels.backend import empty_for
from ...ops import elementwise_functions as _pw
from ...ops.elementwise import broadcast_shapes
from ...ops.elementwise_functions import softplus
from ...ops.sum_mean import sum as _sum
from ...ops.views import contiguous_array
from ...tensor import Tensor, result_type
from ._arguments import _SCALAR_NAMES, _as_tensor, _float_only
from .activation import log_softmax, softmax
from ...ops.autocast_policy import autocast_op

_REDUCTIONS = ("none", "mean", "sum")


def _reduction(reduction: str, size_average=None, reduce=None) -> str:
    """PyTorch's reduction argument, including the legacy ``size_average``/``reduce`` flags (with PyTorch's
    deprecation warning)."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        legacy = "none" if not reduce else ("mean" if size_average else "sum")
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{legacy}' instead.",
                      UserWarning, stacklevel=3)
        return legacy
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _not_differentiable(t, function: str, argument: str) -> None:
    """PyTorch's error for an argument its derivative formulas do not cover (loss weights)."""
    if isinstance(t, Tensor) and t.requires_grad and is_grad_enabled():
        raise RuntimeError(
            f"The function '{function}' is not differentiable with respect to argument '{argument}'. "
            "This input cannot have requires_grad True."
        )


# ---------------------------------------------------------------- nll_loss

def _nll_layout(logp: Tensor, target_arr: np.ndarray):
    """(logp as (N, C, D), target as (N, D)) for the gather/scatter kernels."""
    shape = logp.shape
    if logp.ndim == 1:
        return logp._data.reshape(1, shape[0], 1), target_arr.reshape(1, 1)
    n, c = shape[:2]
    d = int(np.prod(shape[2:], dtype=np.int64))
    try:
        arr = np.reshape(logp._data, (n, c, d), copy=False)
    except ValueError:
        arr = contiguous_array(logp._data).reshape(n, c, d)
    return arr, target_arr.reshape(n, d)


class _NllGather(Function):
    """Per-element ``-weight[t] * logp[n, t, ...]`` and the total weight of the counted targets."""

    node_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx, logp, target_arr, weight_arr, ignore_index, out_shape):
        arr, targets = _nll_layout(logp, target_arr)
        out = empty_for((arr,), targets.shape, arr.dtype)
        # the total weight is a 0-d array on logp's device (no host sync on CUDA but the range check's)
        total, bad = _backend.nll_gather(arr, targets, weight_arr, ignore_index, out)
        if bad >= 0:
            raise IndexError(f"Target {int(targets.reshape(-1)[bad].item())} is out of bounds.")
        ctx.target_arr, ctx.weight_arr, ctx.ignore_index = target_arr, weight_arr, ignore_index
        ctx.logp_shape, ctx.out_shape = logp.shape, out_shape
        total_weight = Tensor(total)
        ctx.mark_non_differentiable(total_weight)
        return Tensor(out.reshape(out_shape)), total_weight

    @staticmethod
    def backward(ctx, g, _g_total):
        grad = _NllScatter.apply(g, ctx.target_arr, ctx.weight_arr, ctx.ignore_index, ctx.logp_shape)
        return grad, None, None, None, None


class _NllScatter(Function):
    """The adjoint of ``_NllGather``: ``grad[n, t, ...] = -weight[t] * g[n, ...]``, zero elsewhere."""

    node_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx, g, target_arr, weight_arr, ignore_index, logp_shape):
        ctx.target_arr, ctx.weight_arr, ctx.ignore_index = target_arr, weight_arr, ignore_index
        ctx.g_shape = g.shape
        g_data = g._data
        # the scatter kernel writes every element (zeros off the targets): no fill outside a kernel
        out = empty_for((g_data,), logp_shape, g.dtype.np)
        holder = Tensor(out)
        out3, targets = _nll_layout(holder, target_arr)
        g_arr = contiguous_array(np.broadcast_to(g_data, g.shape)).reshape(targets.shape)
        _backend.nll_scatter(g_arr, targets, weight_arr, ignore_index, out3)
        return holder

    @staticmethod
    def backward(ctx, gg):
        grad_g, _ = _NllGather.apply(gg, ctx.target_arr, ctx.weight_arr, ctx.ignore_index, ctx.g_shape)
        return grad_g, None, None, None, None


class _CrossEntropy(Function):
    """Class-index cross entropy of (N, C) logits in one pass forward and one backward.

    Same values as ``log_softmax`` + ``nll_loss`` (the composite path, which
    class weights, label smoothing, probability targets and extra dimensions
    take), but 2 kernels instead of about 10 ops and their graph nodes: the
    forward keeps only each row's log-sum-exp.
    """

    node_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx, x, target_arr, ignore_index, reduction):
        arr = contiguous_array(x._data)
        losses, lse, row_weight, total, bad = _backend.cross_entropy_forward(arr, target_arr, ignore_index,
                                                                             reduction == "mean")
        if bad >= 0:
            raise IndexError(f"Target {int(target_arr[bad])} is out of bounds.")
        ctx.save_for_backward(x)
        ctx.target_arr, ctx.ignore_index, ctx.lse, ctx.reduction = target_arr, ignore_index, lse, reduction
        # d loss / d loss_n: 1/count on counted rows for the mean, 1 for the sum and 'none', 0 on ignored rows
        ctx.row_weight = row_weight
        if reduction == "none":
            return Tensor(losses)
        return Tensor(total.reshape(()))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        row_weight = ctx.row_weight
        if is_grad_enabled():
            # create_graph: the same gradient written with differentiable ops (in x and in g), all of them
            # kernels: softmax(x) * s - onehot(t) * s with s = row_weight * g (0 on ignored rows), the one-hot
            # term being nll_loss's scatter (its own backward is the gather)
            scale = Tensor(row_weight[:, None])
            g_rows = g.reshape(-1, 1) if ctx.reduction == "none" else g
            s = scale * g_rows  # (N, 1)
            ones = _backend.full_for((x._data,), (x.shape[1],), x.dtype.np, 1)
            onehot_term = _NllScatter.apply(s, ctx.target_arr.reshape(-1, 1), ones, ctx.ignore_index,
                                            (x.shape[0], x.shape[1], 1))
            return softmax(x, 1) * s + onehot_term.reshape(x.shape), None, None, None
        g_arr = contiguous_array(g._data).reshape(-1)
        if g_arr.dtype != x.dtype.np:
            g_arr = g_arr.astype(x.dtype.np)
        gx = _backend.cross_entropy_backward(contiguous_array(x._data), ctx.target_arr, ctx.ignore_index, ctx.lse,
                                             ctx.row_weight, g_arr)
        return Tensor(gx), None, None, None


def _check_target_dtype(target: Tensor) -> None:
    if target.dtype.name not in ("int64", "uint8"):
        raise RuntimeError(
            f"expected target dtype to be Long or Byte, but got {_SCALAR_NAMES[target.dtype.name]} "
            f"(class-index target of shape {list(target.shape)}; use .long())"
        )


def _check_nll_shapes(input: Tensor, target: Tensor, op: str) -> tuple:
    """PyTorch's input/target checks of nll_loss and cross_entropy; returns the per-element loss shape."""
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    _float_only(input, op)
    _check_target_dtype(target)
    if input.ndim == 1:
        if target.ndim > 1 or target.numel() != 1:
            raise RuntimeError(
                f"0D or 1D target tensor expected, multi-target not supported (input of shape "
                f"{list(input.shape)}, target of shape {list(target.shape)})"
            )
        out_shape = ()
    else:
        if target.ndim == 0 or input.shape[0] != target.shape[0]:
            got = target.shape[0] if target.ndim else 0
            raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size ({got}).")
        out_shape = (input.shape[0],) + input.shape[2:]
        if input.ndim == 2 and target.ndim != 1:
            raise RuntimeError(
                f"0D or 1D target tensor expected, multi-target not supported (input of shape "
                f"{list(input.shape)}, target of shape {list(target.shape)})"
            )
        if target.shape != out_shape:
            raise RuntimeError(f"Expected target size {list(out_shape)}, got {list(target.shape)}")
    _backend.check_same_device(op, "target", target._data, input._data)
    return out_shape


def _nll(input: Tensor, target: Tensor, weight, ignore_index: int, op: str):
    """(per-element losses, total weight) after PyTorch's shape, dtype and weight checks."""
    out_shape = _check_nll_shapes(input, target, op)
    classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    data = input._data
    if weight is None:
        weight_arr = _backend.full_for((data,), (classes,), input.dtype.np, 1)
    else:
        weight = _as_tensor(weight)
        if weight.shape != (classes,):
            raise RuntimeError(
                f"weight tensor should be defined either for all {classes} classes or no classes but got weight "
                f"tensor of shape: {list(weight.shape)}"
            )
        _not_differentiable(weight, "nll_loss_forward", "weight")
        if weight.dtype != input.dtype:
            raise RuntimeError(
                f"expected scalar type {_SCALAR_NAMES[input.dtype.name]} but found "
                f"{_SCALAR_NAMES[weight.dtype.name]} ({op} weight of shape {list(weight.shape)}; convert it with "
                f".to({input.dtype}))"
            )
        _backend.check_same_device(op, "weight", weight._data, data)
        weight_arr = contiguous_array(weight._data)
    target_arr = contiguous_array(target._data)
    return _NllGather.apply(input, target_arr, weight_arr, int(ignore_index), out_shape)


@autocast_op
def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class-index targets given log-probabilities.

    ``input`` is (C,), (N, C) or (N, C, d1, ...); ``target`` holds class indices
    of shape (), (N,) or (N, d1, ...).  ``mean`` divides by the total weight of
    the targets that are not ``ignore_index``.

    >>> import numgrad as ng
    >>> logp = ng.tensor([[-0.1, -2.0], [-3.0, -0.05]])
    >>> ng.nn.functional.nll_loss(logp, ng.tensor([0, 1]), reduction="sum")
    tensor(0.1500)
    """
    reduction = _reduction(reduction, size_average, reduce)
    x, t = _as_tensor(input), _as_tensor(target)
    losses, total_weight = _nll(x, t, weight, ignore_index, "nll_loss")
    if reduction == "mean":
        return losses.sum() / total_weight
    return _reduce(losses, reduction)


# ---------------------------------------------------------------- cross_entropy

def _class_weight_view(weight: Tensor, ndim: int, class_dim: int) -> Tensor:
    shape = [1] * ndim
    shape[class_dim] = weight.shape[0]
    return weight.reshape(shape)


@autocast_op
def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy between logits ``input`` and class-index or class-probability targets.

    Class indices: ``target`` as in :func:`nll_loss`.  Probabilities: ``target``
    of the input's shape.  ``label_smoothing`` mixes the target with the uniform
    distribution, as in PyTorch.

    >>> import numgrad as ng
    >>> logits = ng.tensor([[2.0, 0.0], [0.0, 2.0]])
    >>> ng.nn.functional.cross_entropy(logits, ng.tensor([0, 1]))
    tensor(0.1269)
    """
    reduction = _reduction(reduction, size_average, reduce)
    x, t = _as_tensor(input), _as_tensor(target)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if x.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {x.ndim})")
    _float_only(x, "cross_entropy")
    class_dim = 1 if x.ndim >= 2 else 0
    classes = x.shape[class_dim]
    if weight is not None:
        weight = _as_tensor(weight)
        if weight.shape != (classes,):
            raise RuntimeError(
                f"weight tensor should be defined either for all {classes} classes or no classes but got weight "
                f"tensor of shape: {list(weight.shape)}"
            )
    if (not t.dtype.is_floating_point and x.ndim == 2 and weight is None and label_smoothing <= 0
            and _backend.has_fused_cross_entropy(x._data)):
        _check_nll_shapes(x, t, "cross_entropy")
        return _CrossEntropy.apply(x, contiguous_array(t._data), int(ignore_index), reduction)
    logp = log_softmax(x, class_dim)
    if t.dtype.is_floating_point:
        if t.shape != x.shape:
            raise RuntimeError(
                f"cross_entropy: a floating-point target holds class probabilities and must have the input's "
                f"shape {list(x.shape)}, but got {list(t.shape)}; class-index targets must be int64"
            )
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        if label_smoothing > 0:
            t = t * (1 - label_smoothing) + label_smoothing / classes
        if weight is not None:
            logp = logp * _class_weight_view(weight, x.ndim, class_dim)
        loss = -_sum(logp * t, class_dim)
        if reduction == "mean":
            # PyTorch averages over the positions (numel / classes), whatever the weights
            return loss.sum() / (x.numel() / classes if classes else 0.0)
        return _reduce(loss, reduction)
    losses, total_weight = _nll(logp, t, weight, ignore_index, "cross_entropy")
    nll = losses.sum() / total_weight if reduction == "mean" else _reduce(losses, reduction)
    if label_smoothing <= 0:
        return nll
    weighted = logp * _class_weight_view(weight, x.ndim, class_dim) if weight is not None else logp
    smooth = -_sum(weighted, class_dim)
    smooth = _pw.where(t == ignore_index, 0.0, smooth)
    if reduction == "mean":
        smooth = smooth.sum() / total_weight
    else:
        smooth = _reduce(smooth, reduction)
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / classes)


# ---------------------------------------------------------------- regression losses

def _pair(input, target, op: str, warn: bool = True):
    x, t = _as_tensor(input), _as_tensor(target)
    if warn and x.shape != t.shape:
        warnings.warn(
            f"Using a target size ({list(t.shape)}) that is different to the input size ({list(x.shape)}). "
            "This will likely lead to incorrect results due to broadcasting. Please ensure they have the same "
            "size.", UserWarning, stacklevel=3,
        )
    dtype = result_type(x, t)
    if not dtype.is_floating_point:
        raise NotImplementedError(
            f"\"{op}\" not implemented for '{_SCALAR_NAMES[dtype.name]}' (input {list(x.shape)}, target "
            f"{list(t.shape)}); convert with .float()"
        )
    return x, t


@autocast_op
def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
             weight: Optional[Tensor] = None) -> Tensor:
    """Mean squared error ``(input - target)**2`` with ``reduction``; ``weight`` (the input's size) weighs each
    element, and its mean is then the weighted sum over the sum of the weights (PyTorch's).

    >>> import numgrad as ng
    >>> ng.nn.functional.mse_loss(ng.tensor([1.0, 2.0]), ng.tensor([1.0, 4.0]))
    tensor(2.)
    >>> ng.nn.functional.mse_loss(ng.tensor([1.0, 2.0]), ng.tensor([1.0, 4.0]), weight=ng.tensor([1.0, 3.0]))
    tensor(3.)
    """
    reduction = _reduction(reduction, size_average, reduce)
    x, t = _pair(input, target, "mse_loss")
    diff = x - t
    return _weighted_reduce(diff * diff, reduction, weight, input)


@autocast_op
def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
            weight: Optional[Tensor] = None) -> Tensor:
    """Mean absolute error ``|input - target|`` with ``reduction``; ``weight`` as in :func:`mse_loss`.

    >>> import numgrad as ng
    >>> ng.nn.functional.l1_loss(ng.tensor([1.0, 2.0]), ng.tensor([1.0, 4.0]))
    tensor(1.)
    """
    reduction = _reduction(reduction, size_average, reduce)
    x, t = _pair(input, target, "l1_loss")
    return _weighted_reduce((x - t).abs(), reduction, weight, input)


def _weighted_reduce(errors: Tensor, reduction: str, weight: Optional[Tensor], input: Tensor) -> Tensor:
    """``errors`` reduced, each first multiplied by its ``weight`` (then ``'mean'`` divides by the weights' sum)."""
    if weight is None:
        return _reduce(errors, reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    weighted = errors * weight
    if reduction == "mean":
        return weighted.sum() / weight.sum()
    return _reduce(weighted, reduction)


@autocast_op
def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """``0.5 * d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 * beta`` (``d = input - target``).

    >>> import numgrad as ng
    >>> ng.nn.functional.smooth_l1_loss(ng.tensor([0.0, 3.0]), ng.tensor([0.5, 0.0]), reduction="none")
    tensor([0.1250, 2.5000])
    """
    reduction = _reduction(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta (got {beta}).")
    x, t = _pair(input, target, "smooth_l1_loss")
    diff = (x - t).abs()
    if beta == 0:
        return _reduce(diff, reduction)
    loss = _pw.where(diff < beta, diff * diff * (0.5 / beta), diff - 0.5 * beta)
    return _reduce(loss, reduction)


@autocast_op
def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None) -> Tensor:
    """``0.5 * d**2`` where ``|d| < delta``, else ``delta * (|d| - 0.5 * delta)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.huber_loss(ng.tensor([0.0, 3.0]), ng.tensor([0.5, 0.0]), reduction="none", delta=2.0)
    tensor([0.1250, 4.0000])
    """
    reduction = _reduction(reduction)
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta (got {delta}).")
    x, t = _pair(input, target, "huber_loss")
    diff = (x - t).abs()
    loss = _pw.where(diff < delta, diff * diff * 0.5, (diff - 0.5 * delta) * delta)
    if weight is not None:
        weight = _as_tensor(weight)
        if weight.shape != x.shape:
            raise ValueError(
                f"Weights and input must have the same size. (huber_loss weight {list(weight.shape)}, input "
                f"{list(x.shape)})"
            )
        loss = loss * weight
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- binary cross entropy

class _BinaryCrossEntropy(Function):
    """Elementwise BCE with PyTorch's clamped logs and its explicit gradient formulas."""

    node_name = "BinaryCrossEntropyBackward0"

    @staticmethod
    def forward(ctx, x, t, weight):
        ctx.save_for_backward(x, t, weight)
        # log is clamped at -100 (as in PyTorch) so that x == 0 or 1 gives a finite loss
        log_x = _pw.clamp_min(_pw.log(x), -100.0)
        log_1mx = _pw.clamp_min(_pw.log(1.0 - x), -100.0)
        loss = -(t * log_x + (1.0 - t) * log_1mx)
        return loss * weight if weight is not None else loss

    @staticmethod
    def backward(ctx, g):
        x, t, weight = ctx.saved_tensors
        grad_x = grad_t = None
        if weight is not None:
            g = g * weight
        if ctx.needs_input_grad[0]:
            # PyTorch's formula: the product is clamped at 1e-12 so x == 0 or 1 stays finite
            grad_x = g * (x - t) / _pw.clamp_min((1.0 - x) * x, 1e-12)
        if ctx.needs_input_grad[1]:
            grad_t = g * (_pw.log(1.0 - x) - _pw.log(x))
        return grad_x, grad_t, None


@autocast_op
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """``-(t * log(x) + (1 - t) * log(1 - x))`` for probabilities ``x`` (logs clamped at -100).

    >>> import numgrad as ng
    >>> ng.nn.functional.binary_cross_entropy(ng.tensor([0.5, 0.5]), ng.tensor([1.0, 0.0]))
    tensor(0.6931)
    """
    reduction = _reduction(reduction, size_average, reduce)
    x, t = _as_tensor(input), _as_tensor(target)
    if x.shape != t.shape:
        raise ValueError(
            f"Using a target size ({list(t.shape)}) that is different to the input size ({list(x.shape)}) is "
            "deprecated. Please ensure they have the same size."
        )
    _float_only(x, "binary_cross_entropy")
    if t.dtype != x.dtype:
        raise RuntimeError(
            f"Found dtype {_SCALAR_NAMES[t.dtype.name]} but expected {_SCALAR_NAMES[x.dtype.name]} "
            f"(binary_cross_entropy target of shape {list(t.shape)})"
        )
    if weight is not None:
        weight = _as_tensor(weight)
        _not_differentiable(weight, "binary_cross_entropy", "weight")

        if broadcast_shapes(weight.shape, x.shape) != x.shape:
            raise RuntimeError(
                f"binary_cross_entropy: weight of shape {list(weight.shape)} does not broadcast to the input "
                f"shape {list(x.shape)}"
            )
    if x.numel() and not _backend.all_in_unit_interval(contiguous_array(x._data).reshape(-1)):
        raise RuntimeError("all elements of input should be between 0 and 1")
    return _reduce(_BinaryCrossEntropy.apply(x, t, weight), reduction)


@autocast_op
def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction: str = "mean", pos_weight=None) -> Tensor:
    """BCE on logits, stable for any ``|x|``: ``(1 - t) x + (1 + (pos_weight - 1) t) softplus(-x)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.binary_cross_entropy_with_logits(ng.tensor([0.0]), ng.tensor([1.0]))
    tensor(0.6931)
    """
    reduction = _reduction(reduction, size_average, reduce)
    x, t = _as_tensor(input), _as_tensor(target)
    if x.shape != t.shape:
        raise ValueError(f"Target size ({list(t.shape)}) must be the same as input size ({list(x.shape)})")
    _float_only(x, "binary_cross_entropy_with_logits")
    _not_differentiable(weight, "binary_cross_entropy_with_logits", "weight")
    _not_differentiable(pos_weight, "binary_cross_entropy_with_logits", "pos_weight")
    # softplus(-x) = log(1 + exp(-x)) without overflow; linear beyond its threshold
    log_sigmoid_neg = softplus(-x)
    if pos_weight is not None:
        log_weight = (_as_tensor(pos_weight) - 1.0) * t + 1.0
        loss = (1.0 - t) * x + log_weight * log_sigmoid_neg
    else:
        loss = (1.0 - t) * x + log_sigmoid_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)
