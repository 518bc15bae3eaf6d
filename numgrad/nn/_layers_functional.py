"""Layer ops of ``numgrad.nn.functional``: linear, conv2d, pooling, normalization, embedding, dropout.

Each op is a ``Function`` whose forward and backward call Numba kernels
through ``numgrad.kernels.backend``, picked by where the data lives: linear,
conv2d and the poolings the CPU kernels of ``kernels/cpu/conv.py`` or the CUDA
ones of ``kernels/cuda/conv.py``; batch norm, layer norm, embedding and dropout
those of the module ``backend.norm_kernels(data)`` returns (``kernels/cpu/conv.py``
or ``kernels/cuda/norm.py``, same names and contracts).  Linear ops (linear,
conv2d, the poolings, embedding) take their backward through further ``Function``s whose own
backward is again a kernel, so ``create_graph=True`` works through them; batch
and layer norm fall back to a tensor-op formula of the gradient when the
backward itself is being recorded.  Arguments are validated here, with
PyTorch's wording, before any kernel sees them.
"""
from __future__ import annotations

import numbers
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from .. import _dtypes
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..kernels import backend
from ..kernels.config import PARALLEL_THRESHOLD
from ..creation import default_generator
from ..ops.elementwise import apply as _ew
from ..ops.views import contiguous_array
from ..tensor import Tensor
from ..ops.linalg import matmul

__all__ = [
    "linear", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "dropout", "batch_norm",
    "layer_norm", "embedding",
]

IntPair = Union[int, Tuple[int, int]]


def _arr(t: Tensor) -> np.ndarray:
    return contiguous_array(t._data)


def _pair(value, name: str, op: str) -> Tuple[int, int]:
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool) for v in value):
        return int(value[0]), int(value[1])
    if isinstance(value, (tuple, list)) and len(value) == 1:
        return _pair(value[0], name, op)
    raise TypeError(f"{op}(): {name} must be an int or a tuple of two ints, got {value!r}")


def _check_tensor(x, name: str, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(x).__name__}")


def _check_float(x: Tensor, name: str, op: str) -> None:
    if x.dtype not in (_dtypes.float32, _dtypes.float64):
        raise RuntimeError(
            f"{op}(): expected a float32 or float64 {name}, got {x.dtype} (shape {list(x.shape)})"
        )


def _same_dtype(a: Tensor, b: Tensor, op: str, what: str) -> None:
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"{op}(): expected scalar type {_scalar_name(a.dtype)} but found {_scalar_name(b.dtype)} "
            f"({what}: {a.dtype} {list(a.shape)} vs {b.dtype} {list(b.shape)})"
        )


def _scalar_name(dtype) -> str:
    return {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int"}.get(dtype.name, dtype.name)


def _unbatched(x: Tensor, op: str, allowed=(3, 4), what: str = "3D (unbatched) or 4D (batched)") -> bool:
    if x.ndim not in allowed:
        raise RuntimeError(f"Expected {what} input to {op}, but got input of size: {list(x.shape)}")
    return x.ndim == 3


# ================================================================== linear
class _Linear(Function):
    node_name = "AddmmBackward0"

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.node_name = "AddmmBackward0" if b is not None else "MmBackward0"
        out = backend.linear_forward(_arr(x), _arr(w), _arr(b) if b is not None else None)
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        return Tensor(out)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if is_grad_enabled():
            # recorded backward (create_graph): the products are linear ops again
            gx = _Linear.apply(g, w.t(), None) if need_x else None
            gw = _Linear.apply(g.t(), x.t(), None) if need_w else None
            gb = g.sum(0) if need_b else None
            return gx, gw, gb
        grads = backend.linear_backward(_arr(g), _arr(x), _arr(w), need_x, need_w, need_b)
        return tuple(Tensor(a) if a is not None else None for a in grads)


def linear(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """``input @ weight.T + bias`` over the last dimension of ``input`` (one fused kernel).

    >>> import numgrad as ng
    >>> ng.nn.functional.linear(ng.ones(2, 3), ng.ones(4, 3), ng.zeros(4)).shape
    (2, 4)
    """
    _check_tensor(input, "input", "linear")
    _check_tensor(weight, "weight", "linear")
    if weight.ndim == 1:
        # PyTorch allows a vector weight (a dot product per row); that is plain matmul

        out = matmul(input, weight)
        return out + bias if bias is not None else out
    if weight.ndim != 2 or input.ndim < 1:
        raise RuntimeError(
            f"linear(): expected a 2-D weight and an input with at least 1 dimension, got input "
            f"{list(input.shape)} and weight {list(weight.shape)}"
        )
    _check_float(input, "input", "linear")
    if input.dtype != weight.dtype:
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {_dtypes.TORCH_CPP_NAMES[input.dtype.name]} "
            f"!= {_dtypes.TORCH_CPP_NAMES[weight.dtype.name]} "
            f"(linear: input {list(input.shape)}, weight {list(weight.shape)})"
        )
    in_features = input.shape[-1]
    if in_features != weight.shape[1]:
        rows = int(np.prod(input.shape[:-1], dtype=np.int64)) if input.ndim > 1 else 1
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{in_features} and "
            f"{weight.shape[1]}x{weight.shape[0]})"
        )
    if bias is not None:
        _check_tensor(bias, "bias", "linear")
        _same_dtype(input, bias, "linear", "input and bias")
        if bias.shape not in ((weight.shape[0],),):
            raise RuntimeError(
                f"linear(): bias of shape {list(bias.shape)} does not match out_features={weight.shape[0]}"
            )
    lead = input.shape[:-1]
    x2 = input.reshape(-1, in_features) if input.ndim != 2 else input
    out = _Linear.apply(x2, weight, bias)
    if input.ndim != 2:
        out = out.reshape(*lead, weight.shape[0])
    return out


# ================================================================== conv2d
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


# ================================================================== pooling
def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_args(input, kernel_size, stride, padding, dilation, op: str):
    _check_tensor(input, "input", op)
    if input.ndim not in (3, 4) or input.numel() == 0:
        raise RuntimeError(
            f"{op}(): non-empty 3D or 4D (batch mode) tensor expected for input, got size {list(input.shape)}"
        )
    _check_float(input, "input", op)
    kh, kw = _pair(kernel_size, "kernel_size", op)
    if kh <= 0 or kw <= 0:
        raise RuntimeError(f"{op}(): kernel_size must be greater than zero, but got {kernel_size}")
    sh, sw = (kh, kw) if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else _pair(
        stride, "stride", op)
    if sh <= 0 or sw <= 0:
        raise RuntimeError(f"{op}(): stride should be greater than zero, but got {stride}")
    ph, pw = _pair(padding, "padding", op)
    dh, dw = _pair(dilation, "dilation", op)
    if dh <= 0 or dw <= 0:
        raise RuntimeError(f"{op}(): dilation should be greater than zero, but got {dilation}")
    if ph < 0 or pw < 0 or ph > (dh * (kh - 1) + 1) // 2 or pw > (dw * (kw - 1) + 1) // 2:
        raise RuntimeError(
            f"pad should be at most half of effective kernel size, but got pad={max(ph, pw)}, "
            f"kernel_size={max(kh, kw)} and dilation={max(dh, dw)}"
        )
    return (kh, kw, sh, sw, ph, pw, dh, dw)


def _check_pool_output(x_shape, oh, ow, op) -> None:
    if oh <= 0 or ow <= 0:
        c, h, w = x_shape[-3:]
        raise RuntimeError(
            f"{op}(): Given input size: ({c}x{h}x{w}). Calculated output size: ({c}x{oh}x{ow}). "
            "Output size is too small"
        )


class _MaxPool2d(Function):
    node_name = "MaxPool2DWithIndicesBackward0"

    @staticmethod
    def forward(ctx, x, geo, out_hw):
        out, idx = backend.max_pool2d_forward(_arr(x), geo, out_hw)
        indices = Tensor(idx)
        ctx.mark_non_differentiable(indices)
        ctx.indices = indices
        ctx.x_shape, ctx.geo = x.shape, geo
        return Tensor(out), indices

    @staticmethod
    def backward(ctx, g, _g_indices):
        return _MaxPoolScatter.apply(g, ctx.indices, ctx.x_shape, ctx.geo), None, None


class _MaxPoolScatter(Function):
    """Routes each output gradient to the input element that was the maximum."""

    node_name = "MaxPool2DWithIndicesBackwardBackward0"

    @staticmethod
    def forward(ctx, g, indices, x_shape, geo):
        ctx.indices, ctx.geo = indices, geo
        return Tensor(backend.max_pool2d_backward(_arr(g), indices._data, x_shape, geo))

    @staticmethod
    def backward(ctx, ggx):
        return _MaxPoolGather.apply(ggx, ctx.indices, ctx.geo), None, None, None


class _MaxPoolGather(Function):
    node_name = "MaxPool2DWithIndicesBackwardBackward1"

    @staticmethod
    def forward(ctx, src, indices, geo):
        ctx.indices, ctx.src_shape, ctx.geo = indices, src.shape, geo
        return Tensor(backend.max_pool2d_gather(_arr(src), indices._data))

    @staticmethod
    def backward(ctx, g):
        return _MaxPoolScatter.apply(g, ctx.indices, ctx.src_shape, ctx.geo), None, None


def max_pool2d(input: Tensor, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
               dilation: IntPair = 1, ceil_mode: bool = False, return_indices: bool = False):
    """2-D max pooling; with ``return_indices`` also the flat index of each maximum within its plane.

    >>> import numgrad as ng
    >>> ng.nn.functional.max_pool2d(ng.arange(16.).reshape(1, 1, 4, 4), 2)
    tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """
    geo = _pool_args(input, kernel_size, stride, padding, dilation, "max_pool2d")
    kh, kw, sh, sw, ph, pw, dh, dw = geo
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    oh = _pool_out(x.shape[2], kh, sh, ph, dh, ceil_mode)
    ow = _pool_out(x.shape[3], kw, sw, pw, dw, ceil_mode)
    _check_pool_output(x.shape, oh, ow, "max_pool2d")
    out, idx = _MaxPool2d.apply(x, geo, (oh, ow))
    if unbatched:
        out, idx = out.squeeze(0), idx.squeeze(0)
    return (out, idx) if return_indices else out


class _AvgPool2d(Function):
    node_name = "AvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, geo, out_hw):
        ctx.geo, ctx.x_shape = geo, x.shape
        return Tensor(backend.avg_pool2d_forward(_arr(x), geo, out_hw))

    @staticmethod
    def backward(ctx, g):
        return _AvgPool2dAdjoint.apply(g, ctx.geo, ctx.x_shape), None, None


class _AvgPool2dAdjoint(Function):
    node_name = "AvgPool2DBackwardBackward0"

    @staticmethod
    def forward(ctx, g, geo, x_shape):
        ctx.geo, ctx.out_hw = geo, g.shape[2:]
        return Tensor(backend.avg_pool2d_backward(_arr(g), geo, x_shape))

    @staticmethod
    def backward(ctx, ggx):
        return _AvgPool2d.apply(ggx, ctx.geo, tuple(ctx.out_hw)), None, None


def avg_pool2d(input: Tensor, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: Optional[int] = None) -> Tensor:
    """2-D average pooling.

    >>> import numgrad as ng
    >>> ng.nn.functional.avg_pool2d(ng.ones(1, 1, 4, 4), 2).shape
    (1, 1, 2, 2)
    """
    kh, kw, sh, sw, ph, pw, _, _ = _pool_args(input, kernel_size, stride, padding, 1, "avg_pool2d")
    if divisor_override is not None and divisor_override <= 0:
        raise RuntimeError("divisor must be not zero")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    oh = _pool_out(x.shape[2], kh, sh, ph, 1, ceil_mode)
    ow = _pool_out(x.shape[3], kw, sw, pw, 1, ceil_mode)
    _check_pool_output(x.shape, oh, ow, "avg_pool2d")
    geo = (kh, kw, sh, sw, ph, pw, bool(count_include_pad), int(divisor_override or 0))
    out = _AvgPool2d.apply(x, geo, (oh, ow))
    return out.squeeze(0) if unbatched else out


class _AdaptiveAvgPool2d(Function):
    node_name = "AdaptiveAvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, out_hw):
        ctx.x_shape = x.shape
        return Tensor(backend.adaptive_avg_pool2d_forward(_arr(x), out_hw))

    @staticmethod
    def backward(ctx, g):
        return _AdaptiveAvgPool2dAdjoint.apply(g, ctx.x_shape), None


class _AdaptiveAvgPool2dAdjoint(Function):
    node_name = "AdaptiveAvgPool2DBackwardBackward0"

    @staticmethod
    def forward(ctx, g, x_shape):
        ctx.out_hw = tuple(g.shape[2:])
        return Tensor(backend.adaptive_avg_pool2d_backward(_arr(g), x_shape))

    @staticmethod
    def backward(ctx, ggx):
        return _AdaptiveAvgPool2d.apply(ggx, ctx.out_hw), None


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed output size (``None`` keeps that input size), with PyTorch's bins.

    >>> import numgrad as ng
    >>> ng.nn.functional.adaptive_avg_pool2d(ng.ones(2, 3, 7, 5), 1).shape
    (2, 3, 1, 1)
    """
    _check_tensor(input, "input", "adaptive_avg_pool2d")
    if input.ndim not in (3, 4):
        raise RuntimeError(f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {list(input.shape)}")
    _check_float(input, "input", "adaptive_avg_pool2d")
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"adaptive_avg_pool2d: output_size must be 2, got {len(output_size)}")
        sizes = list(output_size)
    else:
        sizes = [output_size, output_size]
    sizes = [input.shape[-2 + i] if s is None else int(s) for i, s in enumerate(sizes)]
    if any(s <= 0 for s in sizes):
        raise RuntimeError(f"adaptive_avg_pool2d(): output_size must be positive, got {output_size}")
    if any(n == 0 for n in input.shape[-2:]):
        raise RuntimeError(
            f"adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch dimensions, but input has "
            f"sizes {list(input.shape)}"
        )
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    out = _AdaptiveAvgPool2d.apply(x, tuple(sizes))
    return out.squeeze(0) if unbatched else out


# ================================================================== dropout
class _Dropout(Function):
    node_name = "MulBackward0"

    @staticmethod
    def forward(ctx, x, p):
        xa = _arr(x).reshape(-1)
        # drawn on the host from numgrad's generator on every device (on CUDA the kernel copies the draws to
        # the device in one transfer): the same random stream, so ng.manual_seed gives the same mask on both
        u = default_generator().random(xa.shape[0], dtype=np.float64 if xa.dtype == np.float64 else np.float32)
        empty = backend.empty_allocator(xa)
        out = empty(xa.shape, xa.dtype)
        mask = empty(xa.shape, xa.dtype)
        scale = 0.0 if p >= 1.0 else 1.0 / (1.0 - p)
        k = backend.norm_kernels(xa)
        (k.dropout_forward_par if xa.shape[0] >= PARALLEL_THRESHOLD else k.dropout_forward)(
            xa, u, p, scale, out, mask)
        ctx.mask = Tensor(mask.reshape(x.shape))
        return Tensor(out.reshape(x.shape))

    @staticmethod
    def backward(ctx, g):
        return _ew("mul", g, ctx.mask), None


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (training only).

    >>> import numgrad as ng
    >>> ng.nn.functional.dropout(ng.ones(4), p=0.0)
    tensor([1., 1., 1., 1.])
    """
    _check_tensor(input, "input", "dropout")
    if not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    _check_float(input, "input", "dropout")
    out = _Dropout.apply(input, float(p))
    if inplace:
        input.copy_(out)
        return input
    return out


# ================================================================== batch norm
class _BatchNorm(Function):
    node_name = "NativeBatchNormBackward0"

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        xa = _arr(x)
        k = backend.norm_kernels(xa)
        empty = backend.empty_allocator(xa)
        n, c = xa.shape[:2]
        x3 = xa.reshape(n, c, -1)
        count = x3.shape[0] * x3.shape[2]
        if training:
            mean = empty((c,), np.float64)
            var = empty((c,), np.float64)
            k.batch_norm_stats(x3, mean, var)
            if running_mean is not None:
                # in place, on the statistics' own device (batch_norm checked it is the input's)
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
            x3 = xa.reshape(n, c, -1)
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
    if not training and running_mean is None:
        raise RuntimeError("batch_norm(): running_mean and running_var are required when training=False")
    if training:
        count = input.numel() // c if c else 0
        if count <= 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size {list(input.shape)}"
            )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None:
            _same_dtype(input, t, "batch_norm", f"input and {name}")
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


# ================================================================== embedding
def _as_int64(idx):
    """``idx`` itself when int64, else an int64 copy (on its device)."""
    return idx if idx.dtype == np.int64 else backend.copy_as(idx, np.int64)


class _Embedding(Function):
    node_name = "EmbeddingBackward0"

    @staticmethod
    def forward(ctx, indices, weight, padding_idx):
        idx = _as_int64(_arr(indices).reshape(-1))
        wa = _arr(weight)
        out = backend.empty_allocator(wa)((idx.shape[0], wa.shape[1]), wa.dtype)
        backend.norm_kernels(wa).embedding_forward(wa, idx, out)
        ctx.idx, ctx.num, ctx.padding_idx = idx, wa.shape[0], padding_idx
        ctx.indices = indices
        return Tensor(out.reshape(tuple(indices.shape) + (wa.shape[1],)))

    @staticmethod
    def backward(ctx, g):
        return None, _EmbeddingDenseGrad.apply(g, ctx.indices, ctx.idx, ctx.num, ctx.padding_idx), None


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


def embedding(input: Tensor, weight: Tensor, padding_idx: Optional[int] = None) -> Tensor:
    """Look up rows of ``weight`` by integer ``input``; the ``padding_idx`` row gets no gradient.

    >>> import numgrad as ng
    >>> ng.nn.functional.embedding(ng.tensor([[0, 2]]), ng.eye(3)).shape
    (1, 2, 3)
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
    return _Embedding.apply(input, weight, padding_idx)
