"""Strides, storage and in-place shape changes: ``as_strided`` (+ ``_``), ``storage_offset``, ``data_ptr``,
``empty_strided``/``new_empty_strided``, ``resize_``/``resize_as_``, the in-place view ops (``unsqueeze_``,
``squeeze_``, ``t_``, ``transpose_``, ``swapaxes_``, ``swapdims_``) and ``fill_diagonal_``.

numgrad's "storage" of a tensor is the memory its array views: the outermost NumPy array of its ``.base``
chain on the CPU, a ``DeviceArray``'s allocation on CUDA. Offsets and strides count elements of the
tensor's dtype in that memory, as PyTorch's do. numgrad has no ``Storage`` objects: ``untyped_storage()``
and ``storage()`` raise and say what to use instead.

An in-place view op computes the out-of-place view (recorded as usual) and moves this tensor onto it: its
array, history and view-of-base information become the view's, as in PyTorch.
"""
from __future__ import annotations

import weakref
from typing import Optional, Sequence

import numpy as np

from .. import _dtypes
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..creation import empty, tensor, zeros
from ..kernels import backend as _backend
from ..kernels.cuda.array import DeviceArray
from ..tensor import Tensor, is_inference_mode_enabled
from . import views as _views
from .indexing import index_put


# --------------------------------------------------------------------------------------- storage geometry
def _root(arr):
    """(memory the array views, the array's offset in it in elements, the memory's size in elements)."""
    item = arr.itemsize
    if type(arr) is DeviceArray:
        return arr.storage, arr.offset // item, _device_storage_elements(arr)
    root = arr
    while isinstance(root.base, np.ndarray):
        root = root.base
    if root.itemsize != item or not root.flags.c_contiguous:
        # e.g. an array NumPy made by viewing other memory with another dtype: offsets in elements of
        # this dtype would not be well defined, so treat the array itself as the memory
        root = arr if arr.flags.c_contiguous else None
        if root is None:
            raise RuntimeError("as_strided: this tensor's memory is a view with another element size that "
                               "numgrad cannot address by element offsets; call .contiguous() first")
    offset = (arr.__array_interface__["data"][0] - root.__array_interface__["data"][0]) // item
    return root, offset, root.size


def _device_storage_elements(arr: DeviceArray) -> int:
    nbytes = getattr(arr.storage, "nbytes", None)
    if nbytes is None:
        nbytes = getattr(getattr(arr.storage, "gpu_data", None), "size", None)
    if nbytes is None:
        raise RuntimeError("as_strided: numgrad cannot tell the size of this CUDA allocation")
    return int(nbytes) // arr.itemsize


def _storage_offset(self) -> int:
    """This tensor's first element's offset, in elements, in the memory it views.

    >>> import numgrad as ng
    >>> ng.arange(6).reshape(2, 3)[1, 1:].storage_offset()
    4
    """
    return _root(self._data)[1]


def data_ptr(self) -> int:
    """The address of this tensor's first element (host memory on the CPU, device memory on CUDA).

    >>> import numgrad as ng
    >>> x = ng.arange(4.)
    >>> x[1:].data_ptr() - x.data_ptr()
    4
    """
    arr = self._data
    if type(arr) is DeviceArray:
        try:
            return int(arr.__cuda_array_interface__["data"][0])
        except Exception as exc:  # the CUDA simulator has no device pointers
            raise RuntimeError(f"data_ptr(): this CUDA array has no device address ({exc})") from None
    return int(arr.__array_interface__["data"][0])


def _no_storage(self, *args, **kwargs):
    raise NotImplementedError(
        "numgrad tensors have no Storage objects (untyped_storage()/storage()): a tensor is an array with "
        "shape and strides over memory. Use data_ptr(), storage_offset(), stride() and numpy() for what a "
        "storage would tell you, or as_strided() for another view of the same memory.")


def _required_elements(size, stride, offset: int) -> int:
    if any(s == 0 for s in size):
        return offset
    return offset + 1 + sum((n - 1) * st for n, st in zip(size, stride))


def _non_overlapping(size, stride) -> bool:
    """True when no two elements of the view share memory (then it may be written)."""
    span = 1  # elements covered by the dims with smaller strides
    for st, n in sorted((st, n) for n, st in zip(size, stride) if n > 1):
        if st < span:
            return False
        span += (n - 1) * st
    return True


def _strided_array(arr, size: tuple, stride: tuple, offset: int):
    """A view of ``arr``'s memory with ``size``/``stride`` (elements) from element ``offset`` of it."""
    root, _, n = _root(arr)
    need = _required_elements(size, stride, offset)
    if need > n:
        raise RuntimeError(
            f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset {offset}, and itemsize "
            f"{arr.itemsize} requiring a storage size of {need * arr.itemsize} are out of bounds for storage of "
            f"size {n * arr.itemsize}")
    item = arr.itemsize
    if type(arr) is DeviceArray:
        return DeviceArray(root, offset * item, size, tuple(s * item for s in stride), arr.dtype, True)
    flat = root.reshape(-1).view(arr.dtype)
    out = np.lib.stride_tricks.as_strided(flat[offset:] if offset < flat.size else flat[:0], size,
                                          tuple(s * item for s in stride),
                                          writeable=_non_overlapping(size, stride))
    return out.view(arr.dtype)


def _element_indices(size, stride, offset: int) -> np.ndarray:
    """The memory index of every element of a strided view, in the view's (C) order."""
    idx = np.full((), offset, dtype=np.int64)
    for n, st in zip(size, stride):
        idx = idx[..., None] + np.arange(n, dtype=np.int64) * st
    return idx.reshape(-1)


def _check_size_stride(size, stride, op: str) -> tuple:
    size = tuple(int(s) for s in size)
    stride = tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise RuntimeError(f"mismatch in length of strides and shape (op {op}: size has {len(size)} "
                           f"dimensions, stride {len(stride)})")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"{op}: Negative strides are not supported at the moment, got strides: {list(stride)}")
    if any(s < 0 for s in size):
        raise RuntimeError(f"{op}: negative size in {list(size)}")
    return size, stride


class AsStrided(Function):
    """A view with any sizes and strides over the input's memory; the gradient is added back element by element
    in memory (PyTorch's AsStridedBackward0)."""

    node_name = "AsStridedBackward0"
    returns_views = True

    @staticmethod
    def forward(ctx, x, size, stride, offset):
        arr = x._data
        _, in_offset, n = _root(arr)
        ctx.geometry = (x.shape, x.stride(), in_offset, size, stride, offset, n)
        return Tensor(_strided_array(arr, size, stride, offset), _version=x._version)

    @staticmethod
    def backward(ctx, g):
        in_shape, in_stride, in_offset, size, stride, offset, n = ctx.geometry
        # the gradient of the memory: every output element's gradient added where it lives
        out_idx = tensor(_element_indices(size, stride, offset), device=g.device)
        g_memory = index_put(zeros(n, dtype=g.dtype, device=g.device), (out_idx,), g.reshape(-1), accumulate=True)
        in_idx = tensor(_element_indices(in_shape, in_stride, in_offset), device=g.device)
        return g_memory[in_idx].reshape(in_shape), None, None, None


def as_strided(input, size: Sequence[int], stride: Sequence[int], storage_offset: Optional[int] = None) -> Tensor:
    """A view of ``input``'s memory with the given ``size`` and ``stride`` (in elements), starting at element
    ``storage_offset`` of the memory (``input.storage_offset()`` by default). Differentiable.

    >>> import numgrad as ng
    >>> ng.as_strided(ng.arange(6.), (2, 2), (1, 2), 1)
    tensor([[1., 3.],
            [2., 4.]])
    """
    size, stride = _check_size_stride(size, stride, "as_strided")
    offset = _storage_offset(input) if storage_offset is None else int(storage_offset)
    if offset < 0:
        raise RuntimeError(f"Tensor: invalid storage offset {offset}")
    return AsStrided.apply(input, size, stride, offset)


def _check_inplace_view(self, op: str) -> None:
    """PyTorch's checks before an in-place view op (metadata only, so expanded memory is fine)."""
    if self._inference and not is_inference_mode_enabled():
        raise RuntimeError("Inplace update to inference tensor outside InferenceMode is not allowed.You can make a "
                           "clone to get a normal tensor before doing inplace update.See "
                           "https://github.com/pytorch/rfcs/pull/17 for more details.")
    if self._requires_grad and self._grad_fn is None and is_grad_enabled():
        raise RuntimeError(f"a leaf Variable that requires grad is being used in an in-place operation ({op}).")


def _become(self, out: Tensor) -> Tensor:
    """Move ``self`` onto ``out``, a view of it: its array, history and view information."""
    self._data = out._data
    if out._grad_fn is not None:
        self._grad_fn = out._grad_fn
        self._output_nr = out._output_nr
    info = self._view
    if info is not None and out._view is not None:
        # self was a view of a base: it stays one, with the new geometry's replay
        self._view = out._view
        base = out._view[0]
        if base._views is not None:
            base._views.append(weakref.ref(self))
    return self


def _inplace_view(op: str, make):
    def method(self, *args, **kwargs):
        _check_inplace_view(self, op)
        return _become(self, make(self, *args, **kwargs))

    method.__name__ = op
    method.__doc__ = (f"In-place ``{op[:-1]}``: this tensor becomes the view (same memory, new shape/strides) and "
                      "is returned.")
    return method


def _swap(self, dim0, dim1):
    return _views.transpose(self, dim0, dim1)


unsqueeze_ = _inplace_view("unsqueeze_", _views.unsqueeze)
squeeze_ = _inplace_view("squeeze_", _views.squeeze)
t_ = _inplace_view("t_", _views.t)
transpose_ = _inplace_view("transpose_", _views.transpose)
swapaxes_ = _inplace_view("swapaxes_", _swap)
swapdims_ = _inplace_view("swapdims_", _swap)
as_strided_ = _inplace_view("as_strided_", as_strided)


def resize_(self, *sizes, memory_format=None) -> Tensor:
    """Give this tensor the shape ``sizes`` in place. Its first elements (in C order) are kept when it shrinks
    or keeps its size; growing allocates new memory with the old elements first and zeros after (PyTorch
    leaves the new elements uninitialized, and other views of the old memory do not see the new memory in
    numgrad). Tensors that require grad cannot be resized, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.arange(6).resize_(2, 2)
    tensor([[0, 1],
            [2, 3]])
    """
    size = _views._size_arg(sizes)
    if any(s < 0 for s in size):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(size)}: {list(size)}")
    if self._requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    self._check_inplace("resize")
    numel = int(np.prod(size, dtype=np.int64))
    arr = self._data
    if numel <= arr.size and arr.flags.c_contiguous:
        self._data = arr.reshape(-1)[:numel].reshape(size)
    else:
        old = (arr.to_host() if type(arr) is DeviceArray else arr).reshape(-1)  # a copy when not contiguous
        host = np.zeros(numel, dtype=arr.dtype)
        keep = min(numel, old.size)
        host[:keep] = old[:keep]
        self._data = _backend.to_device(host.reshape(size), self.device)
    self._bump_version()
    return self


def resize_as_(self, the_template: Tensor, memory_format=None) -> Tensor:
    """``resize_`` to ``the_template``'s shape.

    >>> import numgrad as ng
    >>> ng.zeros(4).resize_as_(ng.ones(2, 2)).shape
    (2, 2)
    """
    return resize_(self, *the_template.shape)


def empty_strided(size: Sequence[int], stride: Sequence[int], *, dtype=None, layout=None, device=None,
                  requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """An uninitialized tensor with the given ``size`` and ``stride`` (elements), over fresh memory just large
    enough for them.

    >>> import numgrad as ng
    >>> ng.empty_strided((2, 3), (1, 2)).stride()
    (1, 2)
    """
    size, stride = _check_size_stride(size, stride, "empty_strided")
    dt = _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.get_default_dtype()
    memory = empty(max(_required_elements(size, stride, 0), 1), dtype=dt, device=device, pin_memory=pin_memory)._data
    return Tensor(_strided_array(memory, size, stride, 0), requires_grad=requires_grad)


def new_empty_strided(self, size: Sequence[int], stride: Sequence[int], *, dtype=None, layout=None, device=None,
                      requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """``empty_strided`` with this tensor's dtype and device unless given.

    >>> import numgrad as ng
    >>> ng.ones(2, dtype=ng.float64).new_empty_strided((2, 2), (2, 1)).dtype
    numgrad.float64
    """
    return empty_strided(size, stride, dtype=dtype or self.dtype, device=device or self.device,
                         requires_grad=requires_grad, pin_memory=pin_memory)


def fill_diagonal_(self, fill_value, wrap: bool = False) -> Tensor:
    """Write ``fill_value`` on the main diagonal in place (2-D of any shape, or all sizes equal); ``wrap``
    continues down a tall matrix after every ``ncols + 1`` rows, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.zeros(2, 3).fill_diagonal_(1.)
    tensor([[1., 0., 0.],
            [0., 1., 0.]])
    """
    if self.ndim < 2:
        raise RuntimeError("dimensions must larger than 1")
    if self.ndim > 2 and len(set(self.shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    if self.ndim == 2:
        rows, cols = self.shape
        n = min(rows, cols)
        if wrap and rows > cols:
            flat = np.arange(0, rows * cols, cols + 1, dtype=np.int64)
        else:
            flat = np.arange(n, dtype=np.int64) * (cols + 1)
        index = (flat // cols, flat % cols)
    else:
        diag = np.arange(self.shape[0], dtype=np.int64)
        index = (diag,) * self.ndim
    index = tuple(tensor(i, device=self.device) for i in index)
    self[index] = fill_value
    return self


TENSOR_METHODS = {
    "as_strided": as_strided, "as_strided_": as_strided_, "storage_offset": _storage_offset, "data_ptr": data_ptr,
    "untyped_storage": _no_storage, "storage": _no_storage,
    "storage_type": _no_storage, "unsqueeze_": unsqueeze_, "squeeze_": squeeze_,
    "t_": t_, "transpose_": transpose_, "swapaxes_": swapaxes_, "swapdims_": swapdims_, "resize_": resize_,
    "resize_as_": resize_as_, "new_empty_strided": new_empty_strided, "fill_diagonal_": fill_diagonal_,
}
PUBLIC = ("as_strided", "empty_strided")
