"""``DeviceArray``: an n-d view (shape, byte strides, byte offset, dtype) of CUDA device memory.

It plays for CUDA tensors the part NumPy arrays play for CPU ones: a tensor's
``_data``.  Views (reshape, transpose, expand, basic slicing) are metadata:
they are computed by applying the same NumPy view function to a *shadow* - a
NumPy array with the same shape and strides over one element of host memory,
which a view function never reads - so CUDA views follow NumPy's rules
exactly, and a reshape that would need a copy raises instead of copying.

Kernels never see a ``DeviceArray``: ``kernel_arg()`` gives the numba device
array (``DeviceNDArray`` on a GPU, ``FakeCUDAArray`` on the simulator) to launch
with.  Device memory is allocated as bytes so that any dtype view of it, at any
offset, is one object.
"""
from __future__ import annotations

import numbers
import weakref

import numpy as np

from . import numba_cuda, simulator_enabled


class _Flags:
    __slots__ = ("c_contiguous", "f_contiguous", "writeable")

    def __init__(self, c, f):
        self.c_contiguous = c
        self.f_contiguous = f
        self.writeable = True


def _is_c_contiguous(shape, strides, itemsize) -> bool:
    expected = itemsize
    for n, st in zip(reversed(shape), reversed(strides)):
        if n == 1:
            continue
        if st != expected:
            return False
        expected *= n
    return True


class DeviceArray:
    """A strided view of CUDA memory; see the module docstring."""

    __slots__ = ("storage", "offset", "shape", "strides", "dtype", "_arg", "_is_view")

    def __init__(self, storage, offset: int, shape: tuple, strides: tuple, dtype, is_view: bool = False):
        self.storage = storage  # a 1-D uint8 numba device array: the allocation
        self._is_view = is_view  # like NumPy's ``base``: made from another array, sharing its memory
        self.offset = int(offset)
        self.shape = tuple(int(n) for n in shape)
        self.strides = tuple(int(s) for s in strides)
        self.dtype = np.dtype(dtype)
        self._arg = None

    # ------------------------------------------------------------ NumPy-like metadata
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    @property
    def flags(self) -> _Flags:
        c = _is_c_contiguous(self.shape, self.strides, self.itemsize)
        f = _is_c_contiguous(self.shape[::-1], self.strides[::-1], self.itemsize)
        return _Flags(c, f)

    @property
    def base(self):
        """None for the array an allocation was made for, else the allocation (NumPy's ``base`` rule)."""
        return self.storage if self._is_view else None

    @property
    def T(self) -> "DeviceArray":
        return self.transpose()

    def item(self):
        """The value of a one-element array as a Python number (waits for the GPU, like PyTorch's ``.item()``)."""
        if self.size != 1:
            raise ValueError(f"can only convert an array of size 1 to a Python scalar (shape {self.shape})")
        return self.to_host().reshape(-1)[0].item()

    def __bool__(self) -> bool:
        return bool(self.item())

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"DeviceArray(shape={self.shape}, dtype={self.dtype}, strides={self.strides})"

    # ------------------------------------------------------------ views
    def _shadow(self) -> np.ndarray:
        one = np.zeros(1, dtype=self.dtype)
        return np.lib.stride_tricks.as_strided(one, self.shape, self.strides)

    def _from_shadow(self, shadow: np.ndarray, result: np.ndarray) -> "DeviceArray":
        delta = result.__array_interface__["data"][0] - shadow.__array_interface__["data"][0]
        return DeviceArray(self.storage, self.offset + delta, result.shape, result.strides, result.dtype, True)

    def _view_by(self, fn, *args, **kwargs) -> "DeviceArray":
        shadow = self._shadow()
        return self._from_shadow(shadow, fn(shadow, *args, **kwargs))

    def reshape(self, *shape, copy=False) -> "DeviceArray":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        # copy=False: NumPy raises instead of copying (a copy would read the shadow's memory)
        return self._view_by(np.reshape, shape, copy=False)

    def transpose(self, *axes) -> "DeviceArray":
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return self._view_by(np.transpose, axes or None)

    def squeeze(self, axis=None) -> "DeviceArray":
        return self._view_by(np.squeeze, axis)

    def as_strided(self, shape: tuple, strides: tuple) -> "DeviceArray":
        """The same memory seen with other ``shape`` and byte ``strides`` (no checks: callers own it)."""
        return DeviceArray(self.storage, self.offset, shape, strides, self.dtype, True)

    def view(self, dtype) -> "DeviceArray":
        dtype = np.dtype(dtype)
        if dtype.itemsize != self.itemsize:
            raise ValueError(f"DeviceArray.view: cannot view {self.dtype} as {dtype} (different item sizes)")
        return DeviceArray(self.storage, self.offset, self.shape, self.strides, dtype, True)

    def __getitem__(self, index) -> "DeviceArray":
        if not isinstance(index, tuple):
            index = (index,)
        for part in index:
            if not (part is None or part is Ellipsis or isinstance(part, (slice, numbers.Integral))) \
                    or isinstance(part, bool):
                raise NotImplementedError(
                    "indexing a CUDA tensor with tensors, lists or masks is not implemented yet "
                    "(basic indexing - integers, slices, None, ... - works); index a .cpu() copy"
                )
        if not any(part is Ellipsis for part in index):
            index = index + (Ellipsis,)  # a 0-d view, never a scalar read from the shadow
        return self._view_by(lambda a: a[index])

    # ------------------------------------------------------------ kernels and transfers
    def kernel_arg(self):
        """The numba device array for launching a kernel on this view."""
        arg = self._arg
        if arg is None:
            arg = self._arg = _kernel_view(self.storage, self.offset, self.shape, self.strides, self.dtype)
        return arg

    def to_host(self) -> np.ndarray:
        """A C-contiguous NumPy copy of the data."""
        if self.size == 0:
            return np.empty(self.shape, dtype=self.dtype)
        low = high = 0
        for n, st in zip(self.shape, self.strides):
            if st > 0:
                high += (n - 1) * st
            else:
                low += (n - 1) * st
        start, stop = self.offset + low, self.offset + high + self.itemsize
        raw = self.storage[start:stop].copy_to_host()
        host = np.ndarray(self.shape, dtype=self.dtype, buffer=raw, offset=-low, strides=self.strides)
        return host.copy()  # C order; np.ascontiguousarray would make a 0-d array 1-d

    @property
    def __cuda_array_interface__(self) -> dict:
        if simulator_enabled():
            raise AttributeError("the CUDA simulator's arrays have no __cuda_array_interface__")
        return self.kernel_arg().__cuda_array_interface__

    # ------------------------------------------------------------ NumPy protocols
    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host "
            "memory first."
        )

    def __array_function__(self, func, types, args, kwargs):
        handler = _ARRAY_FUNCTIONS.get(func)
        if handler is None:
            raise NotImplementedError(
                f"numpy.{func.__name__} on CUDA data: this operation is not implemented for CUDA tensors yet; "
                "move the tensor to the CPU with .cpu() first"
            )
        return handler(*args, **kwargs)


def _broadcast_to(arr: DeviceArray, shape, subok=False):
    return arr._view_by(np.broadcast_to, tuple(shape))


_ARRAY_FUNCTIONS = {
    np.reshape: lambda a, shape, order="C", copy=None: a.reshape(shape),
    np.transpose: lambda a, axes=None: a.transpose(*(axes or ())),
    np.broadcast_to: _broadcast_to,
    np.squeeze: lambda a, axis=None: a.squeeze(axis),
    np.expand_dims: lambda a, axis: a._view_by(np.expand_dims, axis),
    np.swapaxes: lambda a, axis1, axis2: a._view_by(np.swapaxes, axis1, axis2),
    np.moveaxis: lambda a, source, destination: a._view_by(np.moveaxis, source, destination),
    np.shape: lambda a: a.shape,
    np.ndim: lambda a: a.ndim,
    np.size: lambda a, axis=None: a.size if axis is None else a.shape[axis],
}


def _kernel_view(storage, offset, shape, strides, dtype):
    if simulator_enabled():
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        host = storage._ary  # the simulator's "device" memory is a NumPy array
        return FakeCUDAArray(np.ndarray(shape, dtype=dtype, buffer=host, offset=offset, strides=strides))
    from numba.cuda.cudadrv.devicearray import DeviceNDArray

    return DeviceNDArray(shape, strides, dtype, gpu_data=storage.gpu_data.view(offset))


def _nbytes(shape, dtype) -> int:
    n = np.dtype(dtype).itemsize
    for d in shape:
        n *= int(d)
    return n


def _refuse_bfloat16(dtype: np.dtype) -> None:
    if dtype.metadata is not None and dtype.metadata.get("numgrad") == "bfloat16":
        # bfloat16 memory is 16-bit words that only the CPU kernels convert (kernels/cpu/half.py)
        raise TypeError("bfloat16 tensors are CPU-only in numgrad (its CUDA kernels do not convert bfloat16); "
                        "use .float() (or float16) on the GPU")


# bytes of device memory held by numgrad's tensor storages now, and the most since the last reset
# (``numgrad.cuda.memory_allocated`` / ``max_memory_allocated``); a storage's bytes leave when it is freed
memory_counters = {"allocated": 0, "peak": 0}


def _count_storage(storage) -> None:
    nbytes = int(storage.nbytes)
    memory_counters["allocated"] += nbytes
    memory_counters["peak"] = max(memory_counters["peak"], memory_counters["allocated"])
    weakref.finalize(storage, _uncount, nbytes)


def _uncount(nbytes: int) -> None:
    memory_counters["allocated"] -= nbytes


def empty(shape, dtype) -> DeviceArray:
    """Uninitialised C-contiguous device memory."""
    cuda = numba_cuda()
    dtype = np.dtype(dtype)
    _refuse_bfloat16(dtype)
    shape = tuple(int(n) for n in shape)
    storage = cuda.device_array(max(_nbytes(shape, dtype), 1), dtype=np.uint8)
    _count_storage(storage)
    strides = _c_strides(shape, dtype.itemsize)
    return DeviceArray(storage, 0, shape, strides, dtype)


def _c_strides(shape, itemsize) -> tuple:
    strides = []
    acc = itemsize
    for n in reversed(shape):
        strides.append(acc)
        acc *= max(n, 1)
    return tuple(reversed(strides))


def from_host(arr: np.ndarray) -> DeviceArray:
    """Copy a NumPy array to the device (one transfer)."""
    _refuse_bfloat16(arr.dtype)
    cuda = numba_cuda()
    host = np.array(arr, order="C", copy=None)  # np.ascontiguousarray would make a 0-d array 1-d
    raw = host.reshape(-1).view(np.uint8) if host.size else np.zeros(1, dtype=np.uint8)
    storage = cuda.to_device(raw)
    _count_storage(storage)
    return DeviceArray(storage, 0, host.shape, _c_strides(host.shape, host.itemsize), host.dtype)


def from_cuda_array(obj) -> DeviceArray:
    """A view (no copy) of an object with ``__cuda_array_interface__`` (a numba, CuPy or PyTorch array)."""
    cuda = numba_cuda()
    dev = cuda.as_cuda_array(obj)  # keeps a reference to ``obj``: the memory stays alive
    dtype = np.dtype(dev.dtype)
    shape, strides = tuple(dev.shape), tuple(dev.strides)
    if any(st < 0 for st in strides):
        raise NotImplementedError(
            f"from_dlpack(): arrays with negative strides {strides} are not supported; pass a contiguous copy"
        )
    extent = dtype.itemsize + sum((n - 1) * st for n, st in zip(shape, strides)) if dev.size else 1
    from numba.cuda.cudadrv.devicearray import DeviceNDArray

    storage = DeviceNDArray((extent,), (1,), np.uint8, gpu_data=dev.gpu_data)
    storage._owner = dev  # the byte view must keep the imported array (and its owner) alive
    return DeviceArray(storage, 0, shape, strides, dtype, True)  # memory someone else owns


def _refuse_in_cpu_kernels(arr: DeviceArray, context):
    """Numba's type of a DeviceArray passed to an ``@njit`` (CPU) kernel: a clear error, never a TypingError."""
    raise NotImplementedError(
        f"this numgrad op has no CUDA kernel yet: a CPU kernel was called with CUDA data ({arr!r}). "
        "Move the tensor to the CPU with .cpu() for this op (README.md, 'GPU (CUDA)', lists what runs on CUDA)."
    )


def _register_numba_typeof() -> None:
    from numba.extending import typeof_impl

    typeof_impl.register(DeviceArray)(_refuse_in_cpu_kernels)


_register_numba_typeof()
