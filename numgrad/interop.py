"""Zero-copy exchange with other array libraries: DLPack and ``__cuda_array_interface__``.

``ng.from_dlpack(x)`` views the memory of a PyTorch tensor, a NumPy array, a
CuPy array... without copying, on the CPU or the GPU; numgrad tensors export
``__dlpack__`` / ``__dlpack_device__`` (and ``__cuda_array_interface__`` on a
GPU) so that ``torch.from_dlpack(t)`` works the other way.

>>> import numpy as np, numgrad as ng
>>> a = np.arange(3.0)
>>> t = ng.from_dlpack(a); a[0] = 7.0
>>> t
tensor([7., 1., 2.], dtype=numgrad.float64)
"""
from __future__ import annotations

import numpy as np

from .kernels.cuda.array import DeviceArray
from .kernels.cuda.array import from_cuda_array
from . import _pending_readers
from .tensor import Tensor

# DLPack's device type codes
_DL_CPU, _DL_CUDA = 1, 2


def from_dlpack(obj):
    """A tensor sharing memory with ``obj`` (anything with ``__dlpack__``, or ``__cuda_array_interface__``).

    CPU data becomes a CPU tensor, GPU data a CUDA tensor; nothing is copied.
    """
    device_type = obj.__dlpack_device__()[0] if hasattr(obj, "__dlpack_device__") else None
    if device_type == _DL_CPU:
        try:
            arr = np.from_dlpack(obj)
        except RuntimeError as exc:
            if "Unsupported dtype" not in str(exc):
                raise
            raise TypeError(f"from_dlpack(): {type(obj).__name__} holds a dtype that NumPy, numgrad's CPU storage, "
                            "cannot import through DLPack (bfloat16 is one); convert it to float32 before "
                            "exporting") from None
        _pending_readers.mark_escaped(arr)  # the producer can still write it
        return Tensor(arr)
    if hasattr(obj, "__cuda_array_interface__"):
        return Tensor(from_cuda_array(obj))
    if device_type is None:
        raise TypeError(f"from_dlpack(): {type(obj).__name__} has neither __dlpack__ nor __cuda_array_interface__")
    raise NotImplementedError(
        f"from_dlpack(): {type(obj).__name__} lives on DLPack device type {device_type}; numgrad imports CPU "
        "data and CUDA data that also exposes __cuda_array_interface__ (PyTorch, CuPy and Numba arrays do)"
    )


def _dlpack(self, *, stream=None, max_version=None, dl_device=None, copy=None):
    """DLPack export: the consumer gets a view of this tensor's memory (see ``from_dlpack``)."""
    if self._requires_grad:
        raise RuntimeError(
            "Can't export tensors that require gradient, use tensor.detach() (DLPack shares the data only)"
        )
    if self.dtype.name == "bfloat16":
        # the memory holds bfloat16's 16-bit words, which NumPy's exporter would label uint16
        raise BufferError("numgrad cannot export bfloat16 tensors through DLPack (its NumPy storage would be "
                          "read as uint16); convert with .float() first")
    self._before_write()  # the consumer may write into it
    arr = self._data
    if type(arr) is not DeviceArray:
        _pending_readers.mark_escaped(arr)
    if type(arr) is DeviceArray:
        # numba-cuda's device arrays export DLPack through cuda.core's StridedMemoryView
        return arr.kernel_arg()._strided_memory_view_shim.__dlpack__(stream=stream)
    kwargs = {} if max_version is None else {"max_version": max_version}
    return arr.__dlpack__(stream=stream, **kwargs)


def _dlpack_device(self) -> tuple:
    return (_DL_CUDA, 0) if self._device.type == "cuda" else (_DL_CPU, 0)


def _cuda_array_interface(self) -> dict:
    arr = self._data
    if type(arr) is not DeviceArray:
        raise AttributeError("a CPU tensor has no __cuda_array_interface__ (use __array__ or __dlpack__)")
    if self._requires_grad:
        raise RuntimeError(
            "Can't get __cuda_array_interface__ on a tensor that requires grad; use tensor.detach() first"
        )
    return arr.__cuda_array_interface__


def install(tensor_cls) -> None:
    tensor_cls.__dlpack__ = _dlpack
    tensor_cls.__dlpack_device__ = _dlpack_device
    tensor_cls.__cuda_array_interface__ = property(_cuda_array_interface)
