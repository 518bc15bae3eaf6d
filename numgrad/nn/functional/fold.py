"""``unfold`` (im2col) and ``fold`` (col2im) of ``numgrad.nn.functional``, composed of differentiable views and
tensor ops so autograd needs no new rule: ``unfold`` stacks one strided slice of the (padded) input per kernel
offset; ``fold`` is its adjoint, spreading each offset's values onto a stride grid (interleaving zeros), padding
them into place and summing, then cropping the padding. Both cost one op per kernel offset."""
from __future__ import annotations

from typing import Tuple

from ...creation import zeros_like
from ...ops.shape import pad, stack
from ...tensor import Tensor
from ._arguments import _as_tensor

__all__ = ["unfold", "fold"]


def _pair(v, name: str, op: str) -> Tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {tuple(v)}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _blocks(size, kernel, dilation, padding, stride) -> Tuple[int, int]:
    return tuple((size[i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(2))


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sliding local blocks of a ``(N, C, H, W)`` (or ``(C, H, W)``) input as columns:
    ``(N, C * kh * kw, L)`` with ``L`` the number of block positions (PyTorch's im2col layout).

    >>> import numgrad as ng
    >>> ng.nn.functional.unfold(ng.arange(9.).reshape(1, 1, 3, 3), 2)
    tensor([[[0., 1., 3., 4.],
             [1., 2., 4., 5.],
             [3., 4., 6., 7.],
             [4., 5., 7., 8.]]])
    """
    x = _as_tensor(input)
    if x.ndim not in (3, 4):
        raise RuntimeError(f"Input Error: Only 3D or 4D input Tensors are supported (got {x.ndim}D)")
    k, d = _pair(kernel_size, "kernel_size", "unfold"), _pair(dilation, "dilation", "unfold")
    p, s = _pair(padding, "padding", "unfold"), _pair(stride, "stride", "unfold")
    oh, ow = _blocks(x.shape[-2:], k, d, p, s)
    if oh < 1 or ow < 1:
        raise RuntimeError(
            f"Given input with spatial size {tuple(x.shape[-2:])}, kernel_size={k}, dilation={d}, padding={p}, "
            f"calculated shape of the array of sliding blocks as ({oh}, {ow}), but its components must be at least one."
        )
    if p != (0, 0):
        x = pad(x, (p[1], p[1], p[0], p[0]))
    cols = []
    for ki in range(k[0]):
        for kj in range(k[1]):
            r0, c0 = ki * d[0], kj * d[1]
            cols.append(x[..., r0:r0 + s[0] * (oh - 1) + 1:s[0], c0:c0 + s[1] * (ow - 1) + 1:s[1]])
    out = stack(cols, -3)  # (..., C, kh * kw, oh, ow): channel-major rows, as PyTorch lays them out
    return out.reshape(x.shape[:-3] + (x.shape[-3] * k[0] * k[1], oh * ow))


def _spread_last(v: Tensor, step: int) -> Tensor:
    """``v`` along its last dimension with ``step - 1`` zeros between neighbours."""
    if step == 1:
        return v
    n = v.shape[-1]
    zero = zeros_like(v)
    spread = stack([v] + [zero] * (step - 1), -1).reshape(v.shape[:-1] + (n * step,))
    return spread[..., :step * (n - 1) + 1]


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sum columns of sliding blocks ``(N, C * kh * kw, L)`` (or unbatched) back into an image of
    ``output_size``; overlapping blocks add up (the adjoint of ``unfold``).

    >>> import numgrad as ng
    >>> ng.nn.functional.fold(ng.ones(1, 4, 4), (3, 3), 2)
    tensor([[[[1., 2., 1.],
              [2., 4., 2.],
              [1., 2., 1.]]]])
    """
    y = _as_tensor(input)
    if y.ndim not in (2, 3):
        raise RuntimeError(f"Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported (got {y.ndim}D)")
    size, k = _pair(output_size, "output_size", "fold"), _pair(kernel_size, "kernel_size", "fold")
    d, p, s = _pair(dilation, "dilation", "fold"), _pair(padding, "padding", "fold"), _pair(stride, "stride", "fold")
    rows, blocks = y.shape[-2], y.shape[-1]
    if rows % (k[0] * k[1]):
        raise RuntimeError(
            f"Expected size of input's dimension {y.ndim - 2} to be divisible by the product of kernel_size, but got "
            f"input.size({y.ndim - 2})={rows} and kernel_size={k}."
        )
    oh, ow = _blocks(size, k, d, p, s)
    if oh * ow != blocks:
        raise RuntimeError(
            f"Given output_size={size}, kernel_size={k}, dilation={d}, padding={p}, stride={s}, expected size of "
            f"input's dimension {y.ndim - 1} to match the calculated number of sliding blocks {oh} * {ow} = "
            f"{oh * ow}, but got input.size({y.ndim - 1})={blocks}."
        )
    if oh < 1 or ow < 1:
        raise RuntimeError(
            f"Given output_size={size}, kernel_size={k}, dilation={d}, padding={p}, stride={s}, calculated shape of "
            f"the array of sliding blocks as ({oh}, {ow}), but its components must be at least one."
        )
    channels = rows // (k[0] * k[1])
    cols = y.reshape(y.shape[:-2] + (channels, k[0], k[1], oh, ow))
    hp, wp = size[0] + 2 * p[0], size[1] + 2 * p[1]
    total = None
    for ki in range(k[0]):
        for kj in range(k[1]):
            v = _spread_last(cols[..., ki, kj, :, :], s[1])
            v = _spread_last(v.transpose(-1, -2), s[0]).transpose(-1, -2)
            r0, c0 = ki * d[0], kj * d[1]
            v = pad(v, (c0, wp - c0 - v.shape[-1], r0, hp - r0 - v.shape[-2]))
            total = v if total is None else total + v
    return total[..., p[0]:p[0] + size[0], p[1]:p[1] + size[1]]
