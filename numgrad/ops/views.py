"""View ops: reshape, view, expand, permute, transpose, squeeze, unsqueeze, flatten.

Views are metadata: they return NumPy views that share memory and the version
counter with their input, and never run a kernel (``contiguous`` and a
``reshape`` that cannot be a view copy through the identity kernel).
"""
from __future__ import annotations

import numpy as np

from .. import _dtypes
from .. import memory_format as _memory_format
from ..tensor import Tensor
from ..autograd.function import Function
from ..kernels import backend as _backend
from .sum_mean import sum_to


def _view_of(x, arr):
    return Tensor(arr, _version=x._version)


def _wrap(dim, ndim, op):
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"{op}(): Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})"
        )
    return dim + n if dim < 0 else dim


def _size_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def infer_shape(shape: tuple, numel: int, op: str, in_shape: tuple) -> tuple:
    """Resolve one -1 in ``shape`` and check the element count."""
    if shape.count(-1) > 1:
        raise RuntimeError(f"{op}(): only one dimension can be inferred")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"{op}(): invalid shape dimension {s}")
            known *= s
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(
            f"shape '{list(shape)}' is invalid for input of size {numel} (input shape {list(in_shape)})"
        )
    return shape


def contiguous_array(arr: np.ndarray) -> np.ndarray:
    """``arr`` itself when C-contiguous, else a C-contiguous copy on its device (``kernels.backend.contiguous``).

    >>> import numpy as np
    >>> contiguous_array(np.ones((2, 3)).T).flags.c_contiguous
    True
    """
    if arr.flags.c_contiguous:  # the common case: no call into the backend
        return arr
    return _backend.contiguous(arr)


class Reshape(Function):
    node_name = "ViewBackward0"

    @classmethod
    def output_is_view(cls, ctx) -> bool:
        return ctx.node_name == "ViewBackward0"  # a reshape that had to copy is not a view

    @staticmethod
    def forward(ctx, x, shape, must_view):
        ctx.in_shape = x.shape
        ctx.node_name = "ViewBackward0"
        try:
            arr = np.reshape(x._data, shape, copy=False)
            return _view_of(x, arr)
        except ValueError:
            if must_view:
                raise RuntimeError(
                    f"view size is not compatible with input tensor's size and stride (at least one dimension "
                    f"spans across two contiguous subspaces); input shape {list(x.shape)}, requested "
                    f"{list(shape)}. Use .reshape(...) instead."
                ) from None
        ctx.node_name = "ReshapeAliasBackward0"
        return Tensor(contiguous_array(x._data).reshape(shape))

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.in_shape), None, None


def reshape(input, *shape):
    """The same data with a new shape (a view when possible, else a copy).

    >>> import numgrad as ng
    >>> ng.arange(6).reshape(2, -1).shape
    (2, 3)
    """
    shape = infer_shape(_size_arg(shape), input.numel(), "reshape", input.shape)
    return Reshape.apply(input, shape, False)


def view(input, *shape):
    """A view with a new shape; raises if the strides do not allow one (use reshape).  ``view(dtype)``
    reinterprets the memory's bits as another dtype, as PyTorch's does (not differentiable).

    >>> import numgrad as ng
    >>> ng.zeros(4).view(2, 2).shape
    (2, 2)
    >>> ng.tensor([1.0]).view(ng.int32)
    tensor([1065353216], dtype=numgrad.int32)
    """
    if len(shape) == 1 and isinstance(shape[0], _dtypes.DType):
        return _view_as_dtype(input, shape[0])
    shape = infer_shape(_size_arg(shape), input.numel(), "view", input.shape)
    return Reshape.apply(input, shape, True)


def _view_as_dtype(input, dtype: "_dtypes.DType") -> Tensor:
    """``input``'s memory seen as ``dtype`` (PyTorch's ``Tensor.view(dtype)``: shares memory and the version
    counter, needs no grad; with another element size the last dim, of stride 1, scales)."""
    arr = input._data
    old, new = input.dtype, dtype
    if new.itemsize != old.itemsize:
        names = f"{_dtypes.torch_type_name(old)} as {_dtypes.torch_type_name(new)} (different element sizes)"
        if input.ndim == 0:
            raise RuntimeError(f"self.dim() cannot be 0 to view {names}")
        if input.stride(-1) != 1:
            raise RuntimeError(f"self.stride(-1) must be 1 to view {names}, but got {input.stride(-1)}")
        if new.itemsize > old.itemsize:
            ratio = new.itemsize // old.itemsize
            if input.shape[-1] % ratio:
                raise RuntimeError(f"self.size(-1) must be divisible by {ratio} to view {names}, but got "
                                   f"{input.shape[-1]}")
            for d in range(input.ndim - 1):
                if input.stride(d) % ratio:
                    raise RuntimeError(f"self.stride({d}) must be divisible by {ratio} to view {names}, but got "
                                       f"{input.stride(d)}")
            if input.storage_offset() % ratio:
                raise RuntimeError(f"self.storage_offset() must be divisible by {ratio} to view {names}, but got "
                                   f"{input.storage_offset()}")
        if type(arr) is not np.ndarray:
            raise NotImplementedError(f"view({new.name}) of a {old.name} tensor on {input.device}: numgrad views "
                                      "device memory as a dtype of the same element size only; call .cpu() first")
    return Tensor(arr.view(new.np), _version=input._version)


def flatten(input, start_dim: int = 0, end_dim: int = -1):
    """Merge dims ``start_dim..end_dim`` into one.

    >>> import numgrad as ng
    >>> ng.zeros(2, 3, 4).flatten(1).shape
    (2, 12)
    """
    if input.ndim == 0:
        return reshape(input, 1)
    if input.ndim == 1:
        _wrap(start_dim, 1, "flatten")
        _wrap(end_dim, 1, "flatten")
        return input  # PyTorch returns the tensor itself
    s = _wrap(start_dim, input.ndim, "flatten")
    e = _wrap(end_dim, input.ndim, "flatten")
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shp = input.shape
    n = 1
    for d in shp[s:e + 1]:
        n *= d
    return reshape(input, shp[:s] + (n,) + shp[e + 1:])


class Expand(Function):
    node_name = "ExpandBackward0"
    returns_views = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return _view_of(x, np.broadcast_to(x._data, shape))

    @staticmethod
    def backward(ctx, g):
        return sum_to(g, ctx.in_shape), None


def expand(input, *sizes):
    """Broadcast to a larger shape without copying (-1 keeps a dim).

    >>> import numgrad as ng
    >>> ng.tensor([1, 2]).expand(3, 2).shape
    (3, 2)
    """
    sizes = _size_arg(sizes)
    nd = len(sizes)
    if nd < input.ndim:
        raise RuntimeError(
            f"expand(): the number of sizes provided ({nd}) must be greater or equal to the number of "
            f"dimensions in the tensor ({input.ndim})"
        )
    off = nd - input.ndim
    shape = []
    for i, s in enumerate(sizes):
        cur = input.shape[i - off] if i >= off else None
        if s == -1:
            if cur is None:
                raise RuntimeError("expand(): -1 is not allowed in a leading, non-existing dimension")
            s = cur
        if cur is not None and cur != 1 and cur != s:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({cur}) at non-singleton "
                f"dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: {list(input.shape)}"
            )
        shape.append(s)
    shape = tuple(shape)
    if shape == input.shape:
        return input if not input.requires_grad else Expand.apply(input, shape)
    return Expand.apply(input, shape)


def broadcast_to(input, shape):
    """Same as ``expand(shape)``."""
    return expand(input, *shape)


def expand_as(input, other):
    return expand(input, *other.shape)


class Permute(Function):
    node_name = "PermuteBackward0"
    returns_views = True

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return _view_of(x, np.transpose(x._data, dims))

    @staticmethod
    def backward(ctx, g):
        inv = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inv[d] = i
        return g.permute(*inv), None


def permute(input, *dims):
    """Reorder dimensions (a view).

    >>> import numgrad as ng
    >>> ng.zeros(2, 3, 4).permute(2, 0, 1).shape
    (4, 2, 3)
    """
    dims = _size_arg(dims)
    if len(dims) != input.ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the length of the "
            f"desired ordering of dimensions i.e. input.dim() = {input.ndim} is not equal to len(dims) = {len(dims)}"
        )
    dims = tuple(_wrap(d, input.ndim, "permute") for d in dims)
    if len(set(dims)) != len(dims):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return Permute.apply(input, dims)


def transpose(input, dim0: int, dim1: int):
    """Swap two dimensions (a view).

    >>> import numgrad as ng
    >>> ng.zeros(2, 3).transpose(0, 1).shape
    (3, 2)
    """
    if input.ndim == 0:
        _wrap(dim0, 0, "transpose")  # a 0-d tensor takes dims -1 and 0 (PyTorch's IndexError otherwise)
        _wrap(dim1, 0, "transpose")
        return input
    d0 = _wrap(dim0, input.ndim, "transpose")
    d1 = _wrap(dim1, input.ndim, "transpose")
    dims = list(range(input.ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    out = Permute.apply(input, tuple(dims))
    if out.grad_fn is not None:
        out.grad_fn._name = "TransposeBackward0"
    return out


def t(input):
    """Transpose a tensor of at most 2 dimensions."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return transpose(input, 0, 1) if input.ndim == 2 else input


def squeeze(input, dim=None):
    """Remove dimensions of size 1 (all of them, or the given ones).

    >>> import numgrad as ng
    >>> ng.zeros(1, 3, 1).squeeze().shape
    (3,)
    """
    if dim is None:
        shape = tuple(s for s in input.shape if s != 1)
    else:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        dims = {_wrap(d, input.ndim, "squeeze") for d in dims} if input.ndim else set()
        shape = tuple(s for i, s in enumerate(input.shape) if not (i in dims and s == 1))
    out = Reshape.apply(input, shape, True)
    if out.grad_fn is not None:
        out.grad_fn._name = "SqueezeBackward0" if dim is None else "SqueezeBackward1"
    return out


def unsqueeze(input, dim: int):
    """Insert a dimension of size 1 at ``dim``.

    >>> import numgrad as ng
    >>> ng.zeros(3).unsqueeze(0).shape
    (1, 3)
    """
    d = _wrap(dim, input.ndim + 1, "unsqueeze")
    shape = input.shape[:d] + (1,) + input.shape[d:]
    out = Reshape.apply(input, shape, True)
    if out.grad_fn is not None:
        out.grad_fn._name = "UnsqueezeBackward0"
    return out


class Contiguous(Function):
    node_name = "CloneBackward0"

    @staticmethod
    def forward(ctx, x, fmt):
        if fmt is _memory_format.contiguous_format:
            return Tensor(contiguous_array(x._data))
        return Tensor(_laid_out(x._data, fmt))

    @staticmethod
    def backward(ctx, g):
        return g, None


def _laid_out(arr: np.ndarray, fmt) -> np.ndarray:
    """A copy of ``arr`` whose memory is laid out densely in ``fmt`` (channels last: NHWC / NDHWC order)."""
    order = (0,) + tuple(range(2, arr.ndim)) + (1,)  # the dimensions in memory order
    dense = np.empty(tuple(arr.shape[d] for d in order), dtype=arr.dtype)
    out = dense.transpose(np.argsort(order))
    out[...] = arr
    return out


def contiguous(input, memory_format=_memory_format.contiguous_format):
    """A tensor with the same values laid out densely in ``memory_format`` (row-major by default; see
    ``numgrad.memory_format``): ``input`` itself if it already is.

    >>> import numgrad as ng
    >>> ng.zeros(3, 2).t().contiguous().stride(), ng.zeros(1, 2, 3, 3).contiguous(memory_format=ng.channels_last).stride()
    ((3, 1), (18, 1, 6, 2))
    """
    if memory_format is _memory_format.preserve_format:
        raise RuntimeError("preserve memory format is unsupported by the contiguous operator")
    if not isinstance(memory_format, _memory_format.memory_format):
        raise TypeError(f"contiguous(): argument 'memory_format' must be numgrad.memory_format, not "
                        f"{type(memory_format).__name__}")
    _memory_format.check_rank(input.ndim, memory_format)
    if input.is_contiguous(memory_format=memory_format):
        return input
    return Contiguous.apply(input, memory_format)


def _T(self):
    """Reverse the dimensions (``x.T``)."""
    return permute(self, *reversed(range(self.ndim)))


def view_as(input, other):
    return view(input, *other.shape)


def reshape_as(input, other):
    return reshape(input, *other.shape)


TENSOR_METHODS = {
    "reshape": reshape, "view": view, "flatten": flatten, "expand": expand, "expand_as": expand_as,
    "broadcast_to": broadcast_to, "permute": permute, "transpose": transpose, "t": t, "squeeze": squeeze,
    "unsqueeze": unsqueeze, "contiguous": contiguous, "T": property(_T), "mT": property(
        lambda self: transpose(self, -2, -1)), "view_as": view_as, "reshape_as": reshape_as,
}
PUBLIC = ("reshape", "view", "flatten", "expand", "broadcast_to", "permute", "transpose", "t", "squeeze",
          "unsqueeze", "contiguous")
