"""``conv2d`` of ``numgrad.nn.functional``.

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
from ...tensor import Tensor
from ._arguments import IntPair, _arr, _check_float, _check_tensor, _pair, _same_dtype


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
        return dx, dg, None, None


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
    if isinstance(padding, str):
        if padding == "valid":
            ph = pw = 0
        elif padding == "same":
            if (sh, sw) != (1, 1):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            total_h, total_w = dh * (kh - 1), dw * (kw - 1)
            if total_h % 2 or total_w % 2:
                raise RuntimeError(
                    f"conv2d(): padding='same' needs an even total padding (kernel {kh}x{kw}, dilation "
                    f"{dh}x{dw}); numgrad pads symmetrically only"
                )
            ph, pw = total_h // 2, total_w // 2
        else:
            raise ValueError(f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
    else:
        ph, pw = _pair(padding, "padding", "conv2d")
    if ph < 0 or pw < 0:
        raise RuntimeError("negative padding is not supported")
    x = input.unsqueeze(0) if unbatched else input
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
