"""Tensor methods and functions about tensors themselves: the ``new_*`` family, ``__format__``, ``numel``,
``is_tensor``, ``is_floating_point``, ``is_nonzero``, ``nelement``/``ndimension``.

``t.new_zeros(...)`` and friends make a tensor with ``t``'s dtype and device unless told otherwise,
as PyTorch's do; they are creation functions, not ops on ``t`` (no gradient flows from them to ``t``).
"""
from __future__ import annotations

from ..tensor import Tensor
from ..creation import empty, full, ones, tensor, zeros


def _size(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(size)


def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False,
              pin_memory: bool = False) -> Tensor:
    """Zeros of ``size`` with this tensor's dtype and device (unless given).

    >>> import numgrad as ng
    >>> ng.tensor([1, 2]).new_zeros(2, 3).dtype
    numgrad.int64
    """
    return zeros(_size(size), dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad,
                 pin_memory=pin_memory)


def new_ones(self, *size, dtype=None, device=None, requires_grad: bool = False,
             pin_memory: bool = False) -> Tensor:
    """Ones of ``size`` with this tensor's dtype and device (unless given).

    >>> import numgrad as ng
    >>> ng.zeros(1).new_ones((2,))
    tensor([1., 1.])
    """
    return ones(_size(size), dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad,
                pin_memory=pin_memory)


def new_empty(self, *size, dtype=None, device=None, requires_grad: bool = False,
              pin_memory: bool = False) -> Tensor:
    """Uninitialised memory of ``size`` with this tensor's dtype and device (unless given).

    >>> import numgrad as ng
    >>> ng.zeros(1).new_empty(2, 2).shape
    (2, 2)
    """
    return empty(_size(size), dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad,
                 pin_memory=pin_memory)


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad: bool = False,
             pin_memory: bool = False) -> Tensor:
    """``size`` filled with ``fill_value``, with this tensor's dtype and device (unless given).

    >>> import numgrad as ng
    >>> ng.zeros(1).new_full((2,), 7)
    tensor([7., 7.])
    """
    return full(tuple(size), fill_value, dtype=dtype or self.dtype, device=device or self.device,
                requires_grad=requires_grad, pin_memory=pin_memory)


def new_tensor(self, data, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor from ``data`` (copied), with this tensor's dtype and device unless given.

    >>> import numgrad as ng
    >>> ng.zeros(1, dtype=ng.float64).new_tensor([1, 2])
    tensor([1., 2.], dtype=numgrad.float64)
    """
    return tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)


def _format(self, format_spec: str) -> str:
    """``format(t, spec)``: a 0-d tensor formats as its Python number (``f"{loss:.4f}"``); other tensors
    accept only the empty spec (their ``str``), as in PyTorch."""
    if self.ndim == 0:
        return format(self.item(), format_spec)
    if format_spec == "":
        return str(self)
    raise TypeError(f"unsupported format string passed to Tensor.__format__ (tensor of shape {list(self.shape)}; "
                    "format one element with t.item() or a 0-d tensor)")


def numel(input) -> int:
    """The number of elements of ``input``.

    >>> import numgrad as ng
    >>> ng.numel(ng.zeros(2, 3))
    6
    """
    return input.numel()


def is_tensor(obj) -> bool:
    """Whether ``obj`` is a numgrad Tensor.

    >>> import numgrad as ng
    >>> ng.is_tensor(ng.zeros(1)), ng.is_tensor([1])
    (True, False)
    """
    return isinstance(obj, Tensor)


def is_floating_point(input) -> bool:
    """Whether ``input``'s dtype is a floating-point one.

    >>> import numgrad as ng
    >>> ng.is_floating_point(ng.zeros(1))
    True
    """
    return input.is_floating_point()


def is_nonzero(input) -> bool:
    """The truth value of a one-element tensor (PyTorch's errors otherwise).

    >>> import numgrad as ng
    >>> ng.is_nonzero(ng.tensor([0.5]))
    True
    """
    n = input.numel()
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(input.reshape(()).item())


def _nelement(self) -> int:
    """The number of elements (``numel``)."""
    return self.numel()


def _ndimension(self) -> int:
    """The number of dims (``dim()``)."""
    return self.ndim


def _get_device(self) -> int:
    """The CUDA device index, or -1 for a CPU tensor (PyTorch's convention)."""
    return -1 if self.device.type == "cpu" else (self.device.index or 0)


def _is_signed(self) -> bool:
    """Whether the dtype can hold negative numbers (False for bool and uint8)."""
    return self.dtype.name not in ("bool", "uint8")


TENSOR_METHODS = {
    "new_zeros": new_zeros, "new_ones": new_ones, "new_empty": new_empty, "new_full": new_full,
    "new_tensor": new_tensor, "__format__": _format, "nelement": _nelement, "ndimension": _ndimension,
    "is_nonzero": is_nonzero, "get_device": _get_device, "is_signed": _is_signed,
    "is_cpu": property(lambda self: self.device.type == "cpu", doc="Whether the tensor lives on the CPU."),
    "itemsize": property(lambda self: self.dtype.itemsize, doc="Bytes per element."),
    "nbytes": property(lambda self: self.dtype.itemsize * self.numel(), doc="Bytes of the elements (numel*itemsize)."),
}
# device-kind flags that programs test before a multi-device branch (``input.is_cuda or input.is_xpu``); numgrad's
# devices are the CPU and CUDA, so these read the device type and are False on every tensor numgrad can make
TENSOR_METHODS.update({
    f"is_{kind}": property(lambda self, kind=kind: self.device.type == kind,
                           doc=f"Whether the tensor lives on a {kind} device (PyTorch's flag; numgrad has none).")
    for kind in ("xpu", "mps", "meta")})
TENSOR_METHODS.update({
    f"is_{layout}": property(lambda self: False, doc=f"False: numgrad tensors are dense and strided, never {layout}.")
    for layout in ("sparse", "quantized", "mkldnn", "nested")})
PUBLIC = ("numel", "is_tensor", "is_floating_point", "is_nonzero")
