"""Convolutions of ``numgrad.nn.functional``: ``conv1d``, ``conv2d``, ``conv_transpose1d``, ``conv_transpose2d``.

``conv1d`` runs on a height-1 view of conv2d; the transposed convolutions are conv2d's adjoint in its
input (``_ConvInputGrad``), so one set of kernels serves all four.

The forward and both adjoints (input and weight gradients) are kernels of
``numgrad.kernels.backend`` (``kernels/cpu/conv.py`` or ``kernels/cuda/conv.py``);
each adjoint is a ``Function`` whose own backward is again a convolution, so
``create_graph=True`` works through them.
"""
from __future__ import annotations

import numbers
from typing import Optional, Union

import numpy as np

from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled
from ...kernels import backend
from ...ops.shape import pad
from ...tensor import Tensor
from ._arguments import IntPair, _arr, _check_float, _check_tensor, _pair, _same_dtype
from ...ops.autocast_policy import autocast_op


def _unbatched(x: Tensor, op: str, allowed=(3, 4), what: str = "3D (unbatched) or 4D (batched)") -> bool:
    if x.ndim not in allowed:
        raise RuntimeError(f"Expected {what} input to {op}, but got input of size: {list(x.shape)}")
    return x.ndim == 3


class _Conv2d(Function):
    node_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, x, w, b, geo):
        ctx.save_for_backward(x, w)
        ctx.geo = geo
        return Tensor(backend.conv2d_forward(_arr(x), _arr(w), _arr(b) if b is not None else None, geo))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        geo = ctx.geo
        if not is_grad_enabled() and sum((need_x, need_w, need_b)) > 1:
            # the kernels read g contiguous: copy a strided or broadcast g once, not once per gradient
            g = Tensor(_arr(g))
        gx = _ConvInputGrad.apply(g, w, x.shape, geo) if need_x else None
        gw = _ConvWeightGrad.apply(x, g, w.shape, geo) if need_w else None
        gb = None
        if need_b:
            if is_grad_enabled():
                gb = g.sum((0, 2, 3))
            else:
                gb = Tensor(backend.conv2d_bias_grad(_arr(g)))
        return gx, gw, gb, None


class _ConvInputGrad(Function):
    """gx = conv2d's adjoint in x applied to g; linear in g and in w."""

    node_name = "ConvolutionBackwardBackward0"

    @staticmethod
    def forward(ctx, g, w, x_shape, geo):
        ctx.save_for_backward(g, w)
        ctx.geo, ctx.x_shape = geo, x_shape
        return Tensor(backend.conv2d_input_grad(_arr(g), _arr(w), x_shape, geo))

    @staticmethod
    def backward(ctx, ggx):
        g, w = ctx.saved_tensors
        need_g, need_w = ctx.needs_input_grad[:2]
        dg = _Conv2d.apply(ggx, w, None, ctx.geo) if need_g else None
        dw = _ConvWeightGrad.apply(ggx, g, w.shape, ctx.geo) if need_w else None
        return dg, dw, None, None


class _ConvWeightGrad(Function):
    """gw = conv2d's adjoint in w applied to g; linear in x and in g."""

    node_name = "ConvolutionBackwardBackward0"

    @staticmethod
    def forward(ctx, x, g, w_shape, geo):
        ctx.save_for_backward(x, g)
        ctx.geo, ctx.w_shape = geo, w_shape
        return Tensor(backend.conv2d_weight_grad(_arr(x), _arr(g), w_shape, geo))

    @staticmethod
    def backward(ctx, ggw):
        x, g = ctx.saved_tensors
        need_x, need_g = ctx.needs_input_grad[:2]
        dx = _ConvInputGrad.apply(g, ggw, x.shape, ctx.geo) if need_x else None
        dg = _Conv2d.apply(x, ggw, None, ctx.geo) if need_g else None
        if dg is not None and dg.shape != g.shape:
            # conv_transpose2d with output_padding >= stride: the rows/columns past g's belong to no element of g
            dg = dg[:, :, :g.shape[2], :g.shape[3]]
        return dx, dg, None, None


@autocast_op
def conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: IntPair = 1,
           padding: Union[IntPair, str] = 0, dilation: IntPair = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch) over ``(N, C, H, W)`` or ``(C, H, W)`` input.

    >>> import numgrad as ng
    >>> ng.nn.functional.conv2d(ng.ones(1, 2, 5, 5), ng.ones(3, 2, 3, 3), padding=1).shape
    (1, 3, 5, 5)
    """
    _check_tensor(input, "input", "conv2d")
    _check_tensor(weight, "weight", "conv2d")
    unbatched = _unbatched(input, "conv2d")
    _check_float(input, "input", "conv2d")
    _same_dtype(weight, input, "conv2d", "weight and input")
    if weight.ndim != 4:
        raise RuntimeError(
            f"conv2d(): expected a 4-D weight (out_channels, in_channels/groups, kH, kW), got {list(weight.shape)}"
        )
    if not isinstance(groups, (numbers.Integral, np.integer)) or groups < 1:
        raise RuntimeError("non-positive groups is not supported")
    groups = int(groups)
    sh, sw = _pair(stride, "stride", "conv2d")
    dh, dw = _pair(dilation, "dilation", "conv2d")
    if sh <= 0 or sw <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if dh <= 0 or dw <= 0:
        raise RuntimeError("dilation should be greater than zero")
    oc, cg, kh, kw = weight.shape
    same_extra = (0, 0)  # the far-side element of an odd 'same' padding
    if isinstance(padding, str):
        if padding == "valid":
            ph = pw = 0
        elif padding == "same":
            if (sh, sw) != (1, 1):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            # PyTorch's split: half on each side, the odd element on the far side (padded explicitly below)
            total_h, total_w = dh * (kh - 1), dw * (kw - 1)
            ph, pw = total_h // 2, total_w // 2
            same_extra = (total_h - 2 * ph, total_w - 2 * pw)
        else:
            raise ValueError(f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
    else:
        ph, pw = _pair(padding, "padding", "conv2d")
    if ph < 0 or pw < 0:
        raise RuntimeError("negative padding is not supported")
    x = input.unsqueeze(0) if unbatched else input
    if same_extra != (0, 0):
        x = pad(x, (0, same_extra[1], 0, same_extra[0]))
    if x.shape[1] != cg * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected input{list(x.shape)} to have "
            f"{cg * groups} channels, but got {x.shape[1]} channels instead"
        )
    if oc % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size {list(weight.shape)} instead")
    if bias is not None:
        _check_tensor(bias, "bias", "conv2d")
        _same_dtype(weight, bias, "conv2d", "weight and bias")
        if bias.shape != (oc,):
            raise RuntimeError(
                f"Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional with {oc} elements, "
                f"but got bias of size {list(bias.shape)} instead"
            )
    h_pad, w_pad = x.shape[2] + 2 * ph, x.shape[3] + 2 * pw
    if h_pad < dh * (kh - 1) + 1 or w_pad < dw * (kw - 1) + 1:
        raise RuntimeError(
            f"Calculated padded input size per channel: ({h_pad} x {w_pad}). Kernel size: "
            f"({dh * (kh - 1) + 1} x {dw * (kw - 1) + 1}). Kernel size can't be greater than actual input size"
        )
    out = _Conv2d.apply(x, weight, bias, (sh, sw, ph, pw, dh, dw, groups))
    return out.squeeze(0) if unbatched else out


# ------------------------------------------------------------------ conv1d and the transposed convolutions
def _single(value, name: str, op: str) -> int:
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, (numbers.Integral, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{op}(): {name} must be an int or a tuple of one int, got {value!r}")
    return int(value)


@autocast_op
def conv1d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1, padding: Union[int, str] = 0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-D convolution over ``(N, C, L)`` or ``(C, L)`` input; weight ``(out_channels, in_channels/groups, k)``.

    Runs conv2d's kernels on a height-1 view (no copy).

    >>> import numgrad as ng
    >>> ng.nn.functional.conv1d(ng.ones(1, 2, 5), ng.ones(3, 2, 3), padding=1).shape
    (1, 3, 5)
    """
    _check_tensor(input, "input", "conv1d")
    _check_tensor(weight, "weight", "conv1d")
    _unbatched(input, "conv1d", (2, 3), "2D (unbatched) or 3D (batched)")
    unbatched = input.ndim == 2
    if weight.ndim != 3:
        raise RuntimeError(
            f"conv1d(): expected a 3-D weight (out_channels, in_channels/groups, kernel_size), got "
            f"{list(weight.shape)}")
    x = input.unsqueeze(0) if unbatched else input
    if isinstance(groups, (numbers.Integral, np.integer)) and groups >= 1 and x.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected input{list(x.shape)} to have "
            f"{weight.shape[1] * groups} channels, but got {x.shape[1]} channels instead")
    pad2 = padding if isinstance(padding, str) else (0, _single(padding, "padding", "conv1d"))
    out = conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, _single(stride, "stride", "conv1d")), pad2,
                 (1, _single(dilation, "dilation", "conv1d")), groups).squeeze(2)
    return out.squeeze(0) if unbatched else out


class _ConvTranspose2d(_ConvInputGrad):
    """The transposed convolution is conv2d's adjoint in its input: the same kernels, forward and backward."""

    node_name = "ConvolutionBackward0"

    @staticmethod
    def backward(ctx, ggx):
        dg, dw, _, _ = _ConvInputGrad.backward(ctx, ggx)
        g = ctx.saved_tensors[0]
        if dg is not None and dg.shape != g.shape:
            # output_padding >= stride (allowed below the dilation) gives the forward conv extra rows/columns
            # past the input's: they belong to no input element
            dg = dg[:, :, :g.shape[2], :g.shape[3]]
        return dg, dw, None, None


@autocast_op
def conv_transpose2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: IntPair = 1,
                     padding: IntPair = 0, output_padding: IntPair = 0, groups: int = 1,
                     dilation: IntPair = 1) -> Tensor:
    """2-D transposed convolution ("deconvolution") of ``(N, C_in, H, W)`` or ``(C_in, H, W)`` input with weight
    ``(C_in, C_out/groups, kH, kW)``: the gradient of ``conv2d`` in its input, run by the same kernels.

    Output size: ``(H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1``.

    >>> import numgrad as ng
    >>> ng.nn.functional.conv_transpose2d(ng.ones(1, 2, 4, 4), ng.ones(2, 3, 3, 3), stride=2).shape
    (1, 3, 9, 9)
    """
    op = "conv_transpose2d"
    _check_tensor(input, "input", op)
    _check_tensor(weight, "weight", op)
    unbatched = _unbatched(input, op)
    _check_float(input, "input", op)
    _same_dtype(weight, input, op, "weight and input")
    if weight.ndim != 4:
        raise RuntimeError(f"{op}(): expected a 4-D weight (in_channels, out_channels/groups, kH, kW), got "
                           f"{list(weight.shape)}")
    if not isinstance(groups, (numbers.Integral, np.integer)) or groups < 1:
        raise RuntimeError("non-positive groups is not supported")
    groups = int(groups)
    sh, sw = _pair(stride, "stride", op)
    ph, pw = _pair(padding, "padding", op)
    oph, opw = _pair(output_padding, "output_padding", op)
    dh, dw = _pair(dilation, "dilation", op)
    if sh <= 0 or sw <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if dh <= 0 or dw <= 0:
        raise RuntimeError("dilation should be greater than zero")
    if ph < 0 or pw < 0:
        raise RuntimeError("negative padding is not supported")
    if oph < 0 or opw < 0 or (oph >= sh and oph >= dh) or (opw >= sw and opw >= dw):
        raise RuntimeError(
            f"output padding must be smaller than either stride or dilation, but got output_padding_height: {oph} "
            f"output_padding_width: {opw} stride_height: {sh} stride_width: {sw} dilation_height: {dh} "
            f"dilation_width: {dw}")
    x = input.unsqueeze(0) if unbatched else input
    cin, cout_g, kh, kw = weight.shape
    if x.shape[1] != cin:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected input{list(x.shape)} to have {cin} "
            f"channels, but got {x.shape[1]} channels instead")
    if cin % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size {list(weight.shape)} instead")
    cout = cout_g * groups
    if bias is not None:
        _check_tensor(bias, "bias", op)
        _same_dtype(weight, bias, op, "weight and bias")
        if bias.shape != (cout,):
            raise RuntimeError(
                f"Given transposed=1, weight of size {list(weight.shape)}, expected bias to be 1-dimensional with "
                f"{cout} elements, but got bias of size {list(bias.shape)} instead")
    out_h = (x.shape[2] - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    out_w = (x.shape[3] - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    if out_h <= 0 or out_w <= 0:
        raise RuntimeError(f"{op}(): the output size ({out_h} x {out_w}) of input {list(x.shape)}, kernel "
                           f"({kh} x {kw}), stride ({sh}, {sw}), padding ({ph}, {pw}) is not positive")
    out = _ConvTranspose2d.apply(x, weight, (x.shape[0], cout, out_h, out_w), (sh, sw, ph, pw, dh, dw, groups))
    if bias is not None:
        out = out + bias.reshape(1, cout, 1, 1)
    return out.squeeze(0) if unbatched else out


@autocast_op
def conv_transpose1d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution of ``(N, C_in, L)`` or ``(C_in, L)`` input with weight ``(C_in, C_out/groups, k)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.conv_transpose1d(ng.ones(1, 2, 4), ng.ones(2, 3, 3), stride=2).shape
    (1, 3, 9)
    """
    op = "conv_transpose1d"
    _check_tensor(input, "input", op)
    _check_tensor(weight, "weight", op)
    _unbatched(input, op, (2, 3), "2D (unbatched) or 3D (batched)")
    unbatched = input.ndim == 2
    if weight.ndim != 3:
        raise RuntimeError(f"{op}(): expected a 3-D weight (in_channels, out_channels/groups, kernel_size), got "
                           f"{list(weight.shape)}")
    x = input.unsqueeze(0) if unbatched else input
    if x.shape[1] != weight.shape[0]:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected input{list(x.shape)} to have "
            f"{weight.shape[0]} channels, but got {x.shape[1]} channels instead")
    out = conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, _single(stride, "stride", op)),
                           (0, _single(padding, "padding", op)), (0, _single(output_padding, "output_padding", op)),
                           groups, (1, _single(dilation, "dilation", op))).squeeze(2)
    return out.squeeze(0) if unbatched else out
