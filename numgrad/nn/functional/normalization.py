"""Normalizations of ``numgrad.nn.functional``: batch_norm, layer_norm, and group_norm / instance_norm
(both over layer_norm's kernels).

Kernels of the module ``backend.norm_kernels(data)`` returns
(``kernels/cpu/norm.py`` or ``kernels/cuda/norm.py``, same names and
contracts); the backward falls back to a tensor-op formula of the gradient
when the backward itself is being recorded (``create_graph=True``).
"""
from __future__ import annotations

import math
import numbers
from typing import Optional

import numpy as np

from ... import _dtypes
from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled, no_grad
from ...kernels import backend
from ...kernels.config import PARALLEL_THRESHOLD
from ...tensor import Tensor
from ._arguments import _arr, _check_float, _check_tensor, _same_dtype
from ...ops.autocast_policy import autocast_op


# ================================================================== batch norm
class _BatchNorm(Function):
    node_name = "NativeBatchNormBackward0"

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        xa = _arr(x)
        k = backend.norm_kernels(xa)
        empty = backend.empty_allocator(xa)
        n, c = xa.shape[:2]
        x3 = xa.reshape(n, c, math.prod(xa.shape[2:]))  # spelled out: -1 fails on an empty batch
        count = x3.shape[0] * x3.shape[2]
        if training:
            mean = empty((c,), np.float64)
            var = empty((c,), np.float64)
            k.batch_norm_stats(x3, mean, var)
            if running_mean is not None:
                # in place, on the statistics' own device (batch_norm checked it is the input's)
                running_mean._before_write()
                running_var._before_write()
                k.batch_norm_update_running(running_mean._data, running_var._data, mean, var, count, momentum)
                running_mean._bump_version()
                running_var._bump_version()
        else:
            mean = backend.copy_as(running_mean._data, np.float64)
            var = backend.copy_as(running_var._data, np.float64)
        invstd = empty((c,), np.float64)
        k.rsqrt_eps(var, eps, invstd)
        w = _arr(weight) if weight is not None else backend.full_for((xa,), (c,), xa.dtype, 1)
        b = _arr(bias) if bias is not None else backend.full_for((xa,), (c,), xa.dtype, 0)
        out = empty(xa.shape, xa.dtype)
        k.batch_norm_apply(x3, mean, invstd, w, b, out.reshape(x3.shape))
        ctx.save_for_backward(x, weight)
        ctx.mean, ctx.invstd, ctx.training, ctx.eps = mean, invstd, training, eps
        return Tensor(out)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if is_grad_enabled():
            gx, gw, gb = _batch_norm_backward_graph(ctx, g, x, weight)
        else:
            xa = _arr(x)
            k = backend.norm_kernels(xa)
            empty = backend.empty_allocator(xa)
            n, c = xa.shape[:2]
            x3 = xa.reshape(n, c, math.prod(xa.shape[2:]))
            w = _arr(weight) if weight is not None else backend.full_for((xa,), (c,), xa.dtype, 1)
            gx = empty(xa.shape, xa.dtype)
            gw = empty((c,), xa.dtype)
            gb = empty((c,), xa.dtype)
            k.batch_norm_backward(_arr(g).reshape(x3.shape), x3, ctx.mean, ctx.invstd, w, ctx.training,
                                  gx.reshape(x3.shape), gw, gb)
            gx, gw, gb = Tensor(gx), Tensor(gw), Tensor(gb)
        return (gx if need_x else None, gw if need_w else None, gb if need_b else None,
                None, None, None, None, None)


def _batch_norm_backward_graph(ctx, g, x, weight):
    """The batch-norm gradient written with tensor ops, so that it can be differentiated again."""
    n, c = x.shape[:2]
    x3 = x.reshape(n, c, -1)
    g3 = g.reshape(n, c, -1)
    if ctx.training:
        mean = x3.mean((0, 2), keepdim=True)
        centered = x3 - mean
        invstd = ((centered * centered).mean((0, 2), keepdim=True) + ctx.eps) ** -0.5
    else:
        mean = Tensor(backend.copy_as(ctx.mean.reshape(1, c, 1), x.dtype.np))
        invstd = Tensor(backend.copy_as(ctx.invstd.reshape(1, c, 1), x.dtype.np))
        centered = x3 - mean
    xhat = centered * invstd
    gxhat = g3 * weight.reshape(1, c, 1) if weight is not None else g3
    if ctx.training:
        gx = invstd * (gxhat - gxhat.mean((0, 2), keepdim=True) - xhat * (gxhat * xhat).mean((0, 2), keepdim=True))
    else:
        gx = gxhat * invstd
    return gx.reshape(x.shape), (g3 * xhat).sum((0, 2)), g3.sum((0, 2))


def check_batch_norm_arguments(input: Tensor, running_mean: Optional[Tensor], running_var: Optional[Tensor],
                               weight: Optional[Tensor], bias: Optional[Tensor]) -> None:
    """``batch_norm``'s checks of its tensors (also ``nn.SyncBatchNorm``'s, whose kernels index the per-channel
    tensors by channel): a float input of at least 2 dims, and per-channel tensors of ``C`` elements on its
    device, weight and bias of its dtype.

    >>> import numgrad as ng
    >>> check_batch_norm_arguments(ng.randn(4, 3), None, None, ng.ones(2), None)
    Traceback (most recent call last):
    ...
    RuntimeError: weight should contain 3 elements not 2
    """
    _check_tensor(input, "input", "batch_norm")
    if input.ndim < 2:
        raise ValueError(f"batch_norm(): expected 2D or higher input (N, C, *), got input of size {list(input.shape)}")
    _check_float(input, "input", "batch_norm")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is None:
            continue
        _check_tensor(t, name, "batch_norm")
        backend.check_same_device("batch_norm", name, t._data, input._data)
        if t.numel() != c:
            raise RuntimeError(f"{name} should contain {c} elements not {t.numel()}")
        if t.dtype not in (_dtypes.float32, _dtypes.float64):
            raise RuntimeError(f"batch_norm(): {name} must be float32 or float64, got {t.dtype}")
    if (running_mean is None) != (running_var is None):
        raise RuntimeError("batch_norm(): running_mean and running_var must be given together")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None:
            _same_dtype(input, t, "batch_norm", f"input and {name}")


@autocast_op
def batch_norm(input: Tensor, running_mean: Optional[Tensor], running_var: Optional[Tensor],
               weight: Optional[Tensor] = None, bias: Optional[Tensor] = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalization over dim 1 of ``(N, C, *)`` input.

    In training the batch statistics normalize and the running statistics (when
    given) are updated in place with ``momentum``; in eval the running ones are used.

    >>> import numgrad as ng
    >>> x = ng.randn(8, 3)
    >>> y = ng.nn.functional.batch_norm(x, ng.zeros(3), ng.ones(3), training=True)
    >>> y.shape
    (8, 3)
    """
    check_batch_norm_arguments(input, running_mean, running_var, weight, bias)
    c = input.shape[1]
    if not training and running_mean is None:
        raise RuntimeError("batch_norm(): running_mean and running_var are required when training=False")
    if training:
        count = input.numel() // c if c else 0
        if count <= 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size {list(input.shape)}"
            )
    momentum = 0.0 if momentum is None else float(momentum)
    return _BatchNorm.apply(input, weight, bias, running_mean, running_var, bool(training), momentum, float(eps))


# ================================================================== layer norm
class _LayerNorm(Function):
    node_name = "NativeLayerNormBackward0"

    @staticmethod
    def forward(ctx, x, weight, bias, d, eps):
        xa = _arr(x)
        k = backend.norm_kernels(xa)
        empty = backend.empty_allocator(xa)
        x2 = xa.reshape(-1, d)
        w = _arr(weight).reshape(-1) if weight is not None else backend.full_for((xa,), (d,), xa.dtype, 1)
        b = _arr(bias).reshape(-1) if bias is not None else backend.full_for((xa,), (d,), xa.dtype, 0)
        out = empty(x2.shape, xa.dtype)
        mean = empty((x2.shape[0],), np.float64)
        rstd = empty((x2.shape[0],), np.float64)
        (k.layer_norm_forward_par if xa.size >= PARALLEL_THRESHOLD else k.layer_norm_forward)(
            x2, w, b, eps, out, mean, rstd)
        ctx.save_for_backward(x, weight)
        ctx.mean, ctx.rstd, ctx.d, ctx.eps = mean, rstd, d, eps
        return Tensor(out.reshape(xa.shape))

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        d = ctx.d
        if is_grad_enabled():
            x2 = x.reshape(-1, d)
            g2 = g.reshape(-1, d)
            mean = x2.mean(1, keepdim=True)
            centered = x2 - mean
            rstd = ((centered * centered).mean(1, keepdim=True) + ctx.eps) ** -0.5
            xhat = centered * rstd
            gxhat = g2 * weight.reshape(1, d) if weight is not None else g2
            gx = rstd * (gxhat - gxhat.mean(1, keepdim=True) - xhat * (gxhat * xhat).mean(1, keepdim=True))
            gx = gx.reshape(x.shape)
            gw = (g2 * xhat).sum(0)
            gb = g2.sum(0)
        else:
            xa = _arr(x)
            empty = backend.empty_allocator(xa)
            x2 = xa.reshape(-1, d)
            w = _arr(weight).reshape(-1) if weight is not None else backend.full_for((xa,), (d,), xa.dtype, 1)
            gx = empty(x2.shape, xa.dtype)
            gw = empty((d,), xa.dtype)
            gb = empty((d,), xa.dtype)
            backend.norm_kernels(xa).layer_norm_backward(_arr(g).reshape(x2.shape), x2, ctx.mean, ctx.rstd, w, gx,
                                                         gw, gb)
            gx, gw, gb = Tensor(gx.reshape(xa.shape)), Tensor(gw), Tensor(gb)
        wshape = weight.shape if weight is not None else None
        return (gx if need_x else None,
                gw.reshape(wshape) if need_w else None,
                gb.reshape(wshape) if need_b else None, None, None)


@autocast_op
def layer_norm(input: Tensor, normalized_shape, weight: Optional[Tensor] = None, bias: Optional[Tensor] = None,
               eps: float = 1e-5) -> Tensor:
    """Normalize over the trailing ``normalized_shape`` dimensions, then scale and shift.

    >>> import numgrad as ng
    >>> ng.nn.functional.layer_norm(ng.randn(2, 4), (4,)).shape
    (2, 4)
    """
    _check_tensor(input, "input", "layer_norm")
    if isinstance(normalized_shape, (numbers.Integral, np.integer)):
        normalized_shape = (int(normalized_shape),)
    normalized_shape = tuple(int(s) for s in normalized_shape)
    nd = len(normalized_shape)
    if nd == 0 or input.ndim < nd or tuple(input.shape[input.ndim - nd:]) != normalized_shape:
        raise RuntimeError(
            f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
            f"[*, {', '.join(str(s) for s in normalized_shape)}], but got input of size{list(input.shape)}"
        )
    _check_float(input, "input", "layer_norm")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None:
            _check_tensor(t, name, "layer_norm")
            backend.check_same_device("layer_norm", name, t._data, input._data)
            if tuple(t.shape) != normalized_shape:
                raise RuntimeError(
                    f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
                    f"{list(t.shape)} and normalized_shape = {list(normalized_shape)}"
                )
            _same_dtype(input, t, "layer_norm", f"input and {name}")
    d = int(np.prod(normalized_shape, dtype=np.int64))
    return _LayerNorm.apply(input, weight, bias, d, float(eps))


# ================================================================== group and instance norm (over layer_norm's kernels)
def _channel_affine(y: Tensor, weight: Optional[Tensor], bias: Optional[Tensor]) -> Tensor:
    """``y * weight + bias`` with per-channel (dim 1) parameters broadcast over the other dims (one fused op)."""
    shape = (1, y.shape[1]) + (1,) * (y.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def _check_channel_param(t: Optional[Tensor], name: str, channels: int, input: Tensor, op: str) -> None:
    if t is None:
        return
    _check_tensor(t, name, op)
    backend.check_same_device(op, name, t._data, input._data)
    if t.numel() != channels:
        raise RuntimeError(f"{op}(): expected {name} to have {channels} elements (one per channel of input "
                           f"{list(input.shape)}), but got {name} of size {list(t.shape)}")
    _same_dtype(input, t, op, f"input and {name}")


@autocast_op
def group_norm(input: Tensor, num_groups: int, weight: Optional[Tensor] = None, bias: Optional[Tensor] = None,
               eps: float = 1e-5) -> Tensor:
    """Normalize each group of ``C / num_groups`` channels of every sample of ``(N, C, *)`` input over the
    group's channels and positions, then scale and shift per channel (layer_norm's fused kernels on a
    ``(N, num_groups, -1)`` view).

    >>> import numgrad as ng
    >>> ng.nn.functional.group_norm(ng.randn(2, 4, 3), 2).shape
    (2, 4, 3)
    """
    op = "group_norm"
    _check_tensor(input, "input", op)
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    n, c = input.shape[:2]
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input of "
                           f"shape {list(input.shape)} and num_groups={num_groups}")
    _check_float(input, "input", op)
    _check_channel_param(weight, "weight", c, input, op)
    _check_channel_param(bias, "bias", c, input, op)
    grouped = input.reshape(n, num_groups, -1)
    y = layer_norm(grouped, (grouped.shape[-1],), eps=eps).reshape(input.shape)
    return _channel_affine(y, weight, bias)


@autocast_op
def instance_norm(input: Tensor, running_mean: Optional[Tensor] = None, running_var: Optional[Tensor] = None,
                  weight: Optional[Tensor] = None, bias: Optional[Tensor] = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize every channel of every sample of ``(N, C, *)`` input over its positions (layer_norm's fused
    kernels on a ``(N, C, -1)`` view); with running statistics, update them from the batch (the mean over
    samples of each instance's mean and unbiased variance, as PyTorch) or, without ``use_input_stats``,
    normalize with them.

    >>> import numgrad as ng
    >>> ng.nn.functional.instance_norm(ng.randn(2, 3, 5)).shape
    (2, 3, 5)
    """
    op = "instance_norm"
    _check_tensor(input, "input", op)
    if input.ndim < 3:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {list(input.shape)}")
    n, c = input.shape[:2]
    _check_float(input, "input", op)
    _check_channel_param(weight, "weight", c, input, op)
    _check_channel_param(bias, "bias", c, input, op)
    shape = (1, c) + (1,) * (input.ndim - 2)
    if use_input_stats:
        flat = input.reshape(n, c, -1)
        if flat.shape[-1] <= 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input size "
                             f"{list(input.shape)}")
        y = layer_norm(flat, (flat.shape[-1],), eps=eps).reshape(input.shape)
        if running_mean is not None or running_var is not None:
            with no_grad():
                stats = flat.detach()
                if running_mean is not None:
                    running_mean.copy_(running_mean * (1 - momentum) + stats.mean(-1).mean(0) * momentum)
                if running_var is not None:
                    running_var.copy_(running_var * (1 - momentum) + stats.var(-1).mean(0) * momentum)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("Expected running_mean and running_var to be defined when use_input_stats is false")
        y = (input - running_mean.reshape(shape)) * (running_var.reshape(shape) + eps).rsqrt()
    return _channel_affine(y, weight, bias)
