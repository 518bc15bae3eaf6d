"""``Tensor.pin_memory()`` and ``Tensor.is_pinned()``: copies in page-locked host memory
(``kernels/cuda/pinned.py``), which a GPU reads by DMA, so ``.to('cuda', non_blocking=True)`` can overlap work.

Without a GPU (and without Numba's CUDA simulator) ``pin_memory()`` raises PyTorch's RuntimeError and
``is_pinned()`` is False, as PyTorch's CPU build does.

>>> import numgrad as ng
>>> ng.ones(2).is_pinned()
False
"""
from __future__ import annotations

from typing import Optional

from ..autograd.function import Function
from ..kernels.cuda.pinned import NO_ACCELERATOR_FOR_PIN_MEMORY, is_pinned_array, pinned_copy, pinned_memory_available
from ..tensor import Tensor

__all__ = ["pin_memory", "is_pinned"]


class _PinMemory(Function):
    """The copy into pinned memory; its gradient passes through unchanged (PyTorch's ``_pin_memory``: grad)."""

    node_name = "PinMemoryBackward0"
    saves_only_metadata = True

    @staticmethod
    def forward(ctx, x):
        return Tensor(pinned_copy(x._data))

    @staticmethod
    def backward(ctx, g):
        return g


def pin_memory(self: Tensor, device: Optional[object] = None) -> Tensor:
    """A copy of this CPU tensor in page-locked host memory (this tensor itself when it is pinned already).

    ``device`` is accepted for old code, as PyTorch's deprecated argument.  Raises ``RuntimeError`` without a
    GPU, as PyTorch's CPU build does, and for a tensor that is not on the CPU.

    >>> import numgrad as ng
    >>> x = ng.ones(3)
    >>> pinned = x.pin_memory() if ng.cuda.is_available() else x
    >>> pinned.is_pinned() == ng.cuda.is_available()
    True
    """
    if not pinned_memory_available():
        raise RuntimeError(NO_ACCELERATOR_FOR_PIN_MEMORY)
    if self.device.type != "cpu":
        raise RuntimeError(f"cannot pin '{self._type_name().replace('numgrad.', 'numgrad.cuda.')}' only dense CPU "
                           "tensors can be pinned")
    if is_pinned(self):
        return self
    return _PinMemory.apply(self)


def is_pinned(self: Tensor, device: Optional[object] = None) -> bool:
    """Whether this tensor's memory is page-locked host memory (from ``pin_memory()`` or ``pin_memory=True``);
    a view of a pinned tensor is pinned too.  ``device`` is PyTorch's deprecated argument, accepted and unused.

    >>> import numgrad as ng
    >>> ng.zeros(2).is_pinned()
    False
    """
    buf = self._buf  # a lazy value (None here) is not memory yet: not pinned, and asking must not compute it
    return buf is not None and is_pinned_array(buf)


TENSOR_METHODS = {"pin_memory": pin_memory, "is_pinned": is_pinned}
