"""Memory formats: how a tensor's elements are laid out in memory, as ``torch.memory_format``.

A 4-D tensor is ``(N, C, H, W)`` whatever its format; in ``channels_last`` its memory is ordered as NHWC
(strides ``(H*W*C, 1, W*C, C)``), in ``channels_last_3d`` a 5-D ``(N, C, D, H, W)`` tensor's memory is
ordered as NDHWC. Values never depend on the format; ``Tensor.contiguous(memory_format=...)``,
``Tensor.to(memory_format=...)`` and ``Module.to(memory_format=...)`` choose it, and
``Tensor.is_contiguous(memory_format=...)`` tells it.

>>> import numgrad as ng
>>> x = ng.zeros(2, 3, 4, 5).contiguous(memory_format=ng.channels_last)
>>> x.shape, x.stride(), x.is_contiguous(memory_format=ng.channels_last)
((2, 3, 4, 5), (60, 1, 15, 3), True)
"""
from __future__ import annotations


class memory_format:  # noqa: N801 - PyTorch's name
    """One of numgrad's memory formats (``contiguous_format``, ``channels_last``, ``channels_last_3d``,
    ``preserve_format``); see the module docstring.

    >>> import numgrad as ng
    >>> ng.channels_last
    numgrad.channels_last
    """

    __slots__ = ("name", "rank")

    def __init__(self, name: str, rank: int | None = None):
        self.name = name
        self.rank = rank  # the rank a tensor must have for the format (None: any)

    def __repr__(self) -> str:
        return f"numgrad.{self.name}"

    def __reduce__(self):
        return self.name  # pickles as the module-level instance


contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last", 4)
channels_last_3d = memory_format("channels_last_3d", 5)
preserve_format = memory_format("preserve_format")


def dense_strides(shape: tuple, fmt: memory_format) -> tuple:
    """The element strides of a tensor of ``shape`` laid out densely in ``fmt`` (``contiguous_format``,
    ``channels_last`` or ``channels_last_3d``: the channel dimension, 1, varies fastest).

    >>> dense_strides((2, 3, 4, 5), channels_last)
    (60, 1, 15, 3)
    """
    order = list(range(len(shape)))  # dimensions from the slowest-varying to the fastest
    if fmt is channels_last or fmt is channels_last_3d:
        order = [0] + order[2:] + [1]
    strides = [0] * len(shape)
    step = 1
    for d in reversed(order):
        strides[d] = step
        step *= max(shape[d], 1)
    return tuple(strides)


def check_rank(ndim: int, fmt: memory_format) -> None:
    """PyTorch's error for a format that needs another rank."""
    if fmt.rank is not None and ndim != fmt.rank:
        raise RuntimeError(f"required rank {fmt.rank} tensor to use {fmt.name} format")


def is_dense_in(shape: tuple, strides: tuple, fmt: memory_format) -> bool:
    """Whether element ``strides`` lay ``shape`` out densely in ``fmt`` (dimensions of size 1 may have any stride,
    as in PyTorch)."""
    if fmt.rank is not None and len(shape) != fmt.rank:
        return False
    want = dense_strides(shape, fmt)
    return all(n == 1 or s == w for n, s, w in zip(shape, strides, want))
