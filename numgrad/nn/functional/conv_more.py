"""3-D convolutions of ``numgrad.nn.functional``: ``conv3d`` and ``conv_transpose3d``.

Both run on conv2d's kernels (``conv.py``: im2col + gemm, CPU and CUDA) with the depth axis moved into the
channels:

- ``conv3d``: the ``kD`` depth taps of each output depth are gathered into the channel axis,
  ``(N * OD, C * kD, H, W)`` (vol2col along depth), and the weight is viewed as ``(OC, C/groups * kD, kH, kW)``:
  one conv2d over ``N * OD`` images computes every output plane. Channel ``c * kD + i`` of the gathered input
  meets weight channel ``c * kD + i``, and the channel blocks stay group-contiguous, so ``groups`` carries over.
- ``conv_transpose3d`` is its adjoint: ``conv_transpose2d`` of each input plane with the weight viewed as
  ``(C_in, C_out/groups * kD, kH, kW)``, then each tap's plane is added at its output depth (col2im along depth).

The depth gather is itself a conv2d over ``(N * C, 1, D, H * W)`` with a one-hot ``(kD, 1, kD, 1)`` weight
(stride, padding and dilation along depth), and the depth scatter its conv_transpose2d (output_padding
included), so they run on the same gemm kernels: on (4, 16, 8, 1024) blocks the scatter took 24 ms as ``fold``
(per-tap stacks and pads) and a few ms as a transposed convolution. Every step is a differentiable op, so
gradients, double backward and the CUDA path come from the pieces.
"""
from __future__ import annotations

import numbers
from typing import Optional, Tuple, Union

import numpy as np

from ...creation import tensor
from ...ops.shape import pad
from ...tensor import Tensor
from ._arguments import _check_float, _check_tensor, _same_dtype
from .conv import _unbatched, conv2d, conv_transpose2d
from ...ops.autocast_policy import autocast_op

__all__ = ["conv3d", "conv_transpose3d"]

IntTriple = Union[int, Tuple[int, int, int]]


def _triple(value, name: str, op: str) -> Tuple[int, int, int]:
    """An int or a sequence of three (or one) ints, as PyTorch's ``_triple`` accepts them."""
    def is_int(v):
        return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool)
    if is_int(value):
        return (int(value),) * 3
    if isinstance(value, (tuple, list)) and len(value) == 1 and is_int(value[0]):
        return (int(value[0]),) * 3
    if isinstance(value, (tuple, list)) and len(value) == 3 and all(is_int(v) for v in value):
        return tuple(int(v) for v in value)
    raise RuntimeError(f"expected {name} to be a single integer value or a list of 3 values to match the "
                       f"convolution dimensions, but got {name}={value!r} ({op})")


def _check_groups(groups) -> int:
    if not isinstance(groups, (numbers.Integral, np.integer)) or groups < 1:
        raise RuntimeError("non-positive groups is not supported")
    return int(groups)


def _check_common(input, weight, bias, op: str) -> None:
    _check_tensor(input, "input", op)
    _check_tensor(weight, "weight", op)
    _check_float(input, "input", op)
    _same_dtype(weight, input, op, "weight and input")
    if bias is not None:
        _check_tensor(bias, "bias", op)
        _same_dtype(weight, bias, op, "weight and bias")


def _one_hot_taps(kd: int, like: Tensor) -> Tensor:
    """The ``(kD, 1, kD, 1)`` conv2d weight whose output channel ``i`` reads depth tap ``i``: convolving with it
    gathers the taps (vol2col along depth); its transposed convolution adds them back (col2im)."""
    return tensor(np.eye(kd).reshape(kd, 1, kd, 1), dtype=like.dtype, device=like.device)


def _depth_taps(x: Tensor, kd: int, sd: int, pd: int, dd: int) -> Tensor:
    """(N, C, D, H, W) -> (N * OD, C * kD, H, W): the kD depth taps of each output depth in the channel axis."""
    n, c, d, h, w = x.shape
    if (kd, sd, pd) == (1, 1, 0):
        return x.permute(0, 2, 1, 3, 4).reshape(n * d, c, h, w)
    taps = conv2d(x.reshape(n * c, 1, d, h * w), _one_hot_taps(kd, x), None, (sd, 1), (pd, 0), (dd, 1))
    od = taps.shape[2]
    return taps.reshape(n, c * kd, od, h, w).permute(0, 2, 1, 3, 4).reshape(n * od, c * kd, h, w)


def _add_depth_taps(y: Tensor, n: int, depth: int, kd: int, sd: int, pd: int, opd: int, dd: int) -> Tensor:
    """(N * D, C * kD, OH, OW) planes of each input depth's kD taps -> (N, C, OD, OH, OW), each tap added at
    its output depth: the adjoint of ``_depth_taps``."""
    c = y.shape[1] // kd
    oh, ow = y.shape[2], y.shape[3]
    if (kd, sd, pd, opd) == (1, 1, 0, 0):
        return y.reshape(n, depth, c, oh, ow).permute(0, 2, 1, 3, 4)
    cols = y.reshape(n, depth, c, kd, oh * ow).permute(0, 2, 3, 1, 4).reshape(n * c, kd, depth, oh * ow)
    out = conv_transpose2d(cols, _one_hot_taps(kd, y), None, (sd, 1), (pd, 0), (opd, 0), 1, (dd, 1))
    return out.reshape(n, c, out.shape[2], oh, ow)


def _same_padding(x: Tensor, kernel, dilation) -> Tuple[Tensor, Tuple[int, int, int]]:
    """PyTorch's padding='same': total ``d * (k - 1)`` per dimension, the odd element on the far side."""
    totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
    left = tuple(t // 2 for t in totals)
    extra = [t - 2 * lo for t, lo in zip(totals, left)]
    if any(extra):
        x = pad(x, (0, extra[2], 0, extra[1], 0, extra[0]))
    return x, left


@autocast_op
def conv3d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: IntTriple = 1,
           padding: Union[IntTriple, str] = 0, dilation: IntTriple = 1, groups: int = 1) -> Tensor:
    """3-D convolution (cross-correlation, as in PyTorch) over ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input with
    weight ``(out_channels, in_channels/groups, kD, kH, kW)``; ``padding`` may be ``'same'`` or ``'valid'``.

    >>> import numgrad as ng
    >>> ng.nn.functional.conv3d(ng.ones(1, 2, 4, 5, 5), ng.ones(3, 2, 3, 3, 3), padding=1).shape
    (1, 3, 4, 5, 5)
    """
    op = "conv3d"
    _check_common(input, weight, bias, op)
    _unbatched(input, op, (4, 5), "4D (unbatched) or 5D (batched)")
    unbatched = input.ndim == 4
    if weight.ndim != 5:
        raise RuntimeError(f"{op}(): expected a 5-D weight (out_channels, in_channels/groups, kD, kH, kW), got "
                           f"{list(weight.shape)}")
    groups = _check_groups(groups)
    stride, dilation = _triple(stride, "stride", op), _triple(dilation, "dilation", op)
    if min(stride) <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if min(dilation) <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got {list(dilation)}")
    x = input.unsqueeze(0) if unbatched else input
    oc, cg = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    if x.shape[1] != cg * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected input{list(x.shape)} to have "
            f"{cg * groups} channels, but got {x.shape[1]} channels instead")
    if oc % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size {list(weight.shape)} instead")
    if bias is not None and bias.shape != (oc,):
        raise RuntimeError(f"Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional with {oc} "
                           f"elements, but got bias of size {list(bias.shape)} instead")
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0, 0)
        elif padding == "same":
            if stride != (1, 1, 1):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            x, padding = _same_padding(x, kernel, dilation)
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    else:
        padding = _triple(padding, "padding", op)
    if min(padding) < 0:
        raise RuntimeError("negative padding is not supported")
    padded = [x.shape[2 + i] + 2 * padding[i] for i in range(3)]
    reach = [dilation[i] * (kernel[i] - 1) + 1 for i in range(3)]
    if any(p < r for p, r in zip(padded, reach)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). Kernel size: "
            f"({' x '.join(map(str, reach))}). Kernel size can't be greater than actual input size")
    (kd, kh, kw), (sd, sh, sw), (pd, ph, pw), (dd, dh, dw) = kernel, stride, padding, dilation
    n = x.shape[0]
    od = (padded[0] - reach[0]) // sd + 1
    planes = _depth_taps(x, kd, sd, pd, dd)
    w2 = weight.reshape(oc, cg * kd, kh, kw)
    y = conv2d(planes, w2, bias, (sh, sw), (ph, pw), (dh, dw), groups)  # (N * OD, OC, OH, OW)
    out = y.reshape((n, od) + tuple(y.shape[1:])).permute(0, 2, 1, 3, 4)
    return out.squeeze(0) if unbatched else out


@autocast_op
def conv_transpose3d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: IntTriple = 1,
                     padding: IntTriple = 0, output_padding: IntTriple = 0, groups: int = 1,
                     dilation: IntTriple = 1) -> Tensor:
    """3-D transposed convolution of ``(N, C_in, D, H, W)`` or ``(C_in, D, H, W)`` input with weight
    ``(C_in, C_out/groups, kD, kH, kW)``: the gradient of ``conv3d`` in its input.

    Output size per dimension: ``(in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1``.

    >>> import numgrad as ng
    >>> ng.nn.functional.conv_transpose3d(ng.ones(1, 2, 2, 3, 3), ng.ones(2, 4, 3, 3, 3), stride=2).shape
    (1, 4, 5, 7, 7)
    """
    op = "conv_transpose3d"
    _check_common(input, weight, bias, op)
    _unbatched(input, op, (4, 5), "4D (unbatched) or 5D (batched)")
    unbatched = input.ndim == 4
    if weight.ndim != 5:
        raise RuntimeError(f"{op}(): expected a 5-D weight (in_channels, out_channels/groups, kD, kH, kW), got "
                           f"{list(weight.shape)}")
    groups = _check_groups(groups)
    stride, padding = _triple(stride, "stride", op), _triple(padding, "padding", op)
    output_padding, dilation = _triple(output_padding, "output_padding", op), _triple(dilation, "dilation", op)
    if min(stride) <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if min(dilation) <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got {list(dilation)}")
    if min(padding) < 0:
        raise RuntimeError("negative padding is not supported")
    if min(output_padding) < 0 or any(o >= s and o >= d for o, s, d in zip(output_padding, stride, dilation)):
        names = ("depth", "height", "width")
        raise RuntimeError(
            "output padding must be smaller than either stride or dilation, but got "
            + " ".join(f"output_padding_{nm}: {v}" for nm, v in zip(names, output_padding)) + " "
            + " ".join(f"stride_{nm}: {v}" for nm, v in zip(names, stride)) + " "
            + " ".join(f"dilation_{nm}: {v}" for nm, v in zip(names, dilation)))
    x = input.unsqueeze(0) if unbatched else input
    cin, cout_g = weight.shape[:2]
    kd, kh, kw = weight.shape[2:]
    if x.shape[1] != cin:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected input{list(x.shape)} to have {cin} "
            f"channels, but got {x.shape[1]} channels instead")
    if cin % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size {list(weight.shape)} instead")
    cout = cout_g * groups
    if bias is not None and bias.shape != (cout,):
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected bias to be 1-dimensional with "
            f"{cout} elements, but got bias of size {list(bias.shape)} instead")
    in_size = x.shape[2:]
    out_size = [(in_size[i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (weight.shape[2 + i] - 1)
                + output_padding[i] + 1 for i in range(3)]
    if min(out_size) <= 0:
        raise RuntimeError(f"Given input size per channel: ({' x '.join(map(str, in_size))}). Calculated output size "
                           f"per channel: ({' x '.join(map(str, out_size))}). Output size is too small")
    (sd, sh, sw), (pd, ph, pw), (_, oph, opw), (dd, dh, dw) = stride, padding, output_padding, dilation
    n, depth = x.shape[0], x.shape[2]
    planes = x.permute(0, 2, 1, 3, 4).reshape(n * depth, cin, x.shape[3], x.shape[4])
    w2 = weight.reshape(cin, cout_g * kd, kh, kw)
    y = conv_transpose2d(planes, w2, None, (sh, sw), (ph, pw), (oph, opw), groups, (dh, dw))
    out = _add_depth_taps(y, n, depth, kd, sd, pd, output_padding[0], dd)
    if bias is not None:
        out = out + bias.reshape(1, cout, 1, 1, 1)
    return out.squeeze(0) if unbatched else out
