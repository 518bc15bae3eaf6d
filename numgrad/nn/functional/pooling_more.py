"""1-D pooling and adaptive max pooling of ``numgrad.nn.functional``: max_pool1d, avg_pool1d,
adaptive_avg_pool1d, adaptive_max_pool1d, adaptive_max_pool2d (and their ``_with_indices`` forms).

The 1-D poolings run the 2-D Numba kernels on a length-1 height (``(N, C, L) -> (N, C, 1, L)``), so they share
their forward and backward kernels. Adaptive max pooling uses ``max_pool2d`` when every bin has the same size
(the input size is a multiple of the output size) and otherwise gathers each of PyTorch's bins
(``floor(i * n / out)`` to ``ceil((i + 1) * n / out)``) and takes its maximum (``_windows.max_over_windows``).
Power-average pooling (``lp_pool1d/2d``) is PyTorch's composition over average pooling.
"""
from __future__ import annotations

from ...ops.elementwise_functions import abs as _abs
from ...ops.elementwise_functions import relu, sign
from ...tensor import Tensor
from ._arguments import _as_tensor, _check_float
from ._windows import adaptive_bins, max_over_windows
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from ...ops.autocast_policy import autocast_op

__all__ = [
    "max_pool1d", "max_pool1d_with_indices", "avg_pool1d", "adaptive_avg_pool1d", "adaptive_max_pool1d",
    "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices", "lp_pool1d",
    "lp_pool2d", "max_pool2d_with_indices",
]


def _single(v, name: str, op: str) -> int:
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise RuntimeError(f"{op}: {name} must be a single int or a tuple of one int, got {tuple(v)}")
        v = v[0]
    return int(v)


def _as_planes(input, op: str) -> Tensor:
    x = _as_tensor(input)
    if x.ndim not in (2, 3):
        raise RuntimeError(f"{op}() Expected 2D or 3D input tensor, but got {list(x.shape)}")
    return x.unsqueeze(-2)


@autocast_op
def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """1-D max pooling over the last dimension of an ``(N, C, L)`` or ``(C, L)`` input.

    >>> import numgrad as ng
    >>> ng.nn.functional.max_pool1d(ng.tensor([[1.0, 3.0, 2.0, 0.0]]), 2)
    tensor([[3., 2.]])
    """
    op = "max_pool1d"
    k = _single(kernel_size, "kernel_size", op)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else _single(stride, "stride", op)
    geo = dict(kernel_size=(1, k), stride=(1, s), padding=(0, _single(padding, "padding", op)),
               dilation=(1, _single(dilation, "dilation", op)), ceil_mode=ceil_mode)
    out = max_pool2d(_as_planes(input, op), return_indices=return_indices, **geo)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def max_pool1d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = True):
    """``max_pool1d`` returning ``(values, indices)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.max_pool1d_with_indices(ng.tensor([[1.0, 3.0]]), 2)[1]
    tensor([[1]])
    """
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


@autocast_op
def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling over the last dimension of an ``(N, C, L)`` or ``(C, L)`` input.

    >>> import numgrad as ng
    >>> ng.nn.functional.avg_pool1d(ng.tensor([[1.0, 3.0, 2.0, 0.0]]), 2)
    tensor([[2., 1.]])
    """
    op = "avg_pool1d"
    k = _single(kernel_size, "kernel_size", op)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else _single(stride, "stride", op)
    out = avg_pool2d(_as_planes(input, op), (1, k), (1, s), (0, _single(padding, "padding", op)), ceil_mode,
                     count_include_pad)
    return out.squeeze(-2)


@autocast_op
def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Average pooling of the last dimension to ``output_size`` bins (PyTorch's bins).

    >>> import numgrad as ng
    >>> ng.nn.functional.adaptive_avg_pool1d(ng.tensor([[1.0, 3.0, 2.0, 0.0]]), 1)
    tensor([[1.5000]])
    """
    size = _single(output_size, "output_size", "adaptive_avg_pool1d")
    return adaptive_avg_pool2d(_as_planes(input, "adaptive_avg_pool1d"), (1, size)).squeeze(-2)


def _adaptive_max_2d(x: Tensor, sizes, return_indices: bool, op: str):
    h, w = x.shape[-2], x.shape[-1]
    oh, ow = sizes
    if h % oh == 0 and w % ow == 0:
        # equal bins: one max_pool2d kernel (with the plane-flat indices PyTorch returns)
        kernel = (h // oh, w // ow)
        return max_pool2d(x, kernel, kernel, return_indices=return_indices)
    unbatched = x.ndim == 3
    planes = x.unsqueeze(0) if unbatched else x
    (h0, hn, hk), (w0, wn, wk) = adaptive_bins(h, oh), adaptive_bins(w, ow)
    out, idx = max_over_windows(planes, (h0, w0), (hn, wn), (hk, wk))
    if unbatched:
        out, idx = out.squeeze(0), idx.squeeze(0)
    return (out, idx) if return_indices else out


def _adaptive_sizes(output_size, x: Tensor, n: int, op: str):
    sizes = list(output_size) if isinstance(output_size, (tuple, list)) else [output_size] * n
    if len(sizes) != n:
        raise ValueError(f"{op}: output_size must be {n}, got {len(sizes)}")
    sizes = [x.shape[x.ndim - n + i] if s is None else int(s) for i, s in enumerate(sizes)]
    if any(s <= 0 for s in sizes):
        raise RuntimeError(f"{op}(): output_size must be positive, got {output_size}")
    if any(d == 0 for d in x.shape[x.ndim - n:]):
        raise RuntimeError(
            f"{op}(): Expected input to have non-zero size for non-batch dimensions, but input has sizes "
            f"{list(x.shape)}"
        )
    return sizes


@autocast_op
def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling of the last two dimensions to ``output_size`` bins (``None`` keeps that size).

    >>> import numgrad as ng
    >>> ng.nn.functional.adaptive_max_pool2d(ng.arange(16.).reshape(1, 4, 4), 1)
    tensor([[[15.]]])
    """
    op = "adaptive_max_pool2d"
    x = _as_tensor(input)
    if x.ndim not in (3, 4):
        raise RuntimeError(f"{op}(): Expected 3D or 4D tensor, but got {list(x.shape)}")
    _check_float(x, "input", op)
    return _adaptive_max_2d(x, _adaptive_sizes(output_size, x, 2, op), return_indices, op)


def adaptive_max_pool2d_with_indices(input: Tensor, output_size, return_indices: bool = True):
    """``adaptive_max_pool2d`` returning ``(values, indices)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.adaptive_max_pool2d_with_indices(ng.arange(4.).reshape(1, 2, 2), 1)[1]
    tensor([[[3]]])
    """
    return adaptive_max_pool2d(input, output_size, True)


@autocast_op
def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling of the last dimension to ``output_size`` bins.

    >>> import numgrad as ng
    >>> ng.nn.functional.adaptive_max_pool1d(ng.tensor([[1.0, 3.0, 2.0, 0.0]]), 2)
    tensor([[3., 2.]])
    """
    op = "adaptive_max_pool1d"
    x = _as_planes(input, op)
    _check_float(x, "input", op)
    size = _single(output_size, "output_size", op)
    out = _adaptive_max_2d(x, _adaptive_sizes((1, size), x, 2, op), return_indices, op)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def adaptive_max_pool1d_with_indices(input: Tensor, output_size, return_indices: bool = True):
    """``adaptive_max_pool1d`` returning ``(values, indices)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.adaptive_max_pool1d_with_indices(ng.tensor([[1.0, 3.0]]), 1)[1]
    tensor([[1]])
    """
    return adaptive_max_pool1d(input, output_size, True)




def _lp_finish(out: Tensor, window: int, norm_type: float) -> Tensor:
    # PyTorch's formula: sign(out) * relu(|out|) keeps the gradient zero where a window's power sum is zero
    return ((sign(out) * relu(_abs(out))) * window) ** (1.0 / norm_type)


@autocast_op
def lp_pool1d(input: Tensor, norm_type: float, kernel_size: int, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling ``(sum over the window of x**p)**(1/p)`` over the last dimension.

    >>> import numgrad as ng
    >>> ng.nn.functional.lp_pool1d(ng.tensor([[3.0, 4.0]]), 2, 2)
    tensor([[5.]])
    """
    x = _as_tensor(input)
    k = _single(kernel_size, "kernel_size", "lp_pool1d")
    if norm_type == float("inf"):
        return max_pool1d(_abs(x), k, stride, 0, 1, ceil_mode)
    if norm_type == -float("inf"):
        return -max_pool1d(-_abs(x), k, stride, 0, 1, ceil_mode)
    return _lp_finish(avg_pool1d(x ** norm_type, k, stride, 0, ceil_mode), k, norm_type)


@autocast_op
def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling ``(sum over the window of x**p)**(1/p)`` over the last two dimensions.

    >>> import numgrad as ng
    >>> ng.nn.functional.lp_pool2d(ng.full((1, 2, 2), 2.0), 1, 2)
    tensor([[[8.]]])
    """
    x = _as_tensor(input)
    kh, kw = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
    if norm_type == float("inf"):
        return max_pool2d(_abs(x), kernel_size, stride, 0, 1, ceil_mode)
    if norm_type == -float("inf"):
        return -max_pool2d(-_abs(x), kernel_size, stride, 0, 1, ceil_mode)
    out = avg_pool2d(x ** norm_type, kernel_size, stride if stride is not None else kernel_size, 0, ceil_mode)
    return _lp_finish(out, kh * kw, norm_type)


def max_pool2d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
                            return_indices: bool = True):
    """``max_pool2d`` returning ``(values, indices)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.max_pool2d_with_indices(ng.arange(4.).reshape(1, 2, 2), 2)[1]
    tensor([[[3]]])
    """
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)
