"""``Tensor``: an n-dimensional array that records the operations applied to it.

Data lives in a NumPy array (any strides; views share it), or for CUDA tensors
in a ``numgrad.kernels.cuda.array.DeviceArray`` (the same, in GPU memory).  Every computation
on the data runs in a Numba kernel from ``numgrad.kernels``; this module only
holds metadata, the autograd hooks and the Python operator protocol, and
forwards every operation to ``numgrad.ops``.
"""
from __future__ import annotations

import threading
from typing import Optional

import numpy as np

from . import _dtypes
from . import memory_format as _memory_format
from . import _pending_readers
from ._format import format_tensor
from .device import Device, cpu, cuda0
from .kernels.cuda.array import DeviceArray

# inference mode's thread-local switch ("on"), set by numgrad.autograd.grad_mode.inference_mode; read when a
# tensor is made, so tensors made under it are inference tensors, as in PyTorch
_INFERENCE = threading.local()


def is_inference_mode_enabled() -> bool:
    """True inside ``numgrad.inference_mode()`` (on this thread), as ``torch.is_inference_mode_enabled``.

    >>> import numgrad as ng
    >>> with ng.inference_mode():
    ...     ng.is_inference_mode_enabled()
    True
    """
    return _INFERENCE.__dict__.get("on", False)


_NO_DATA = object()


def _legacy_constructor_array(data, sizes: tuple, dtype=None) -> np.ndarray:
    """The array of PyTorch's legacy constructor ``torch.Tensor(...)`` (default float dtype, CPU):
    ``Tensor()`` is empty, ``Tensor(2, 3)`` has that shape (zero-filled), ``Tensor(seq)`` copies the
    numbers of ``seq``, ``Tensor(t)`` shares ``t``'s data. ``dtype`` (a NumPy dtype) replaces the default
    (``FloatTensor``/``LongTensor``/... in ``numgrad/creation.py``).

    >>> _legacy_constructor_array([1, 2], ()).dtype
    dtype('float32')
    """
    if isinstance(data, np.ndarray):  # an ndarray subclass (np.memmap, ...): used as given, as before
        return data
    dt = dtype if dtype is not None else _dtypes.get_default_dtype().np
    if data is _NO_DATA:
        return np.empty((0,), dtype=dt)
    if isinstance(data, Tensor):
        if sizes:
            raise TypeError("Tensor(): a tensor argument takes no sizes")
        if dtype is not None and data.dtype.np != dtype:
            raise TypeError(f"expected {np.dtype(dtype).name} tensor (got {data.dtype.name} tensor)")
        return data._data
    dims = (data,) + sizes
    if all(isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) for n in dims):
        if sizes or not isinstance(data, np.generic):
            if any(n < 0 for n in dims):
                raise RuntimeError(f"Trying to create tensor with negative dimension {min(dims)}: {list(dims)}")
            return np.zeros(tuple(int(n) for n in dims), dtype=dt)
    if sizes:
        raise TypeError(f"Tensor(): new() received an invalid combination of arguments - got "
                        f"({', '.join(type(a).__name__ for a in dims)}); pass a sequence of numbers or the sizes as "
                        "ints")
    if isinstance(data, np.generic):
        return np.asarray(data)
    if isinstance(data, (float, complex, bool)):
        raise TypeError(f"new(): data must be a sequence (got {type(data).__name__})")
    return np.array(data, dtype=dt)


# A view remembers how it was taken from its base, so autograd can take it again (PyTorch's view replay):
# ``tensor._view`` is ``(base, replay, creation)`` (a plain tuple: views are made often). ``base`` is the tensor
# that owns the memory (never itself a view); ``replay`` is the chain of view ops, each
# ``(function, extra_args, kwargs, output_index)``, that turns the base into this view; ``creation`` says why
# in-place writes into the view may be refused (``VIEW_*`` below).
VIEW_DEFAULT = 0
VIEW_IN_NO_GRAD = 1  # taken while grad mode was off: recorded in-place writes into it are refused, as in PyTorch
VIEW_OF_MULTIPLE = 2  # one of several views returned by one call (unbind, split): same


class Size(tuple):
    """A shape as ``Tensor.size()`` gives it: a tuple that prints, slices and concatenates as ``torch.Size``.

    >>> import numgrad as ng
    >>> ng.zeros(2, 3).size()
    numgrad.Size([2, 3])
    >>> ng.zeros(2, 3).size()[1:].numel()
    3
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"numgrad.Size({list(self)})"

    __str__ = __repr__

    def __getitem__(self, index):
        item = tuple.__getitem__(self, index)
        return Size(item) if isinstance(index, slice) else item

    def __add__(self, other):
        return Size(tuple.__add__(self, other))

    def __radd__(self, other):
        return Size(tuple.__add__(other, self))

    def numel(self) -> int:
        """The number of elements a tensor of this shape holds."""
        n = 1
        for d in self:
            n *= d
        return n


class Tensor:
    """A multi-dimensional array with automatic differentiation.

    Build one with :func:`numgrad.tensor` or a creation function.

    >>> import numgrad as ng
    >>> x = ng.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4.])
    """

    __slots__ = (
        "_buf", "_lazy", "_requires_grad", "_grad", "_grad_fn", "_output_nr", "_version",
        "_acc", "_hooks", "_retains_grad", "_device", "_view", "_views", "__weakref__",
        "_post_acc_hooks",  # register_post_accumulate_grad_hook's hooks (numgrad.autograd)
        "_inference",  # made under inference_mode (numgrad.autograd.grad_mode): PyTorch's inference tensors
    )
    __array_priority__ = 1000  # numpy_array * tensor -> Tensor.__rmul__

    def __init__(self, data=_NO_DATA, *sizes, requires_grad: bool = False, _version=None):
        if type(data) is not np.ndarray and type(data) is not DeviceArray:
            data = _legacy_constructor_array(data, sizes)  # torch.Tensor([1., 2.]) / torch.Tensor(2, 3)
        elif sizes:
            raise TypeError(f"Tensor(): got an array and extra positional arguments {sizes}")
        self._buf = data
        self._lazy = None
        self._requires_grad = False
        self._grad: Optional[Tensor] = None
        self._grad_fn = None
        self._output_nr = 0
        self._version = _version if _version is not None else [0]  # see _bump_version
        self._acc = None
        self._hooks = None
        self._post_acc_hooks = None
        self._retains_grad = False
        self._view: Optional[tuple] = None  # (base, replay, creation) when a view (numgrad.autograd.function)
        self._views = None  # on a base: weak references to the views taken of it
        # where the data lives is the device: one source of truth
        self._device = cuda0 if type(data) is DeviceArray else cpu
        self._inference = _INFERENCE.__dict__.get("on", False)
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _from_lazy(cls, lazy, _version=None) -> "Tensor":
        """A tensor whose value is a not-yet-computed fused expression (see numgrad.fusion)."""
        return cls._new(None, lazy, lazy.device, _version if _version is not None else [0])

    @classmethod
    def _new(cls, buf, lazy, device, version: list) -> "Tensor":
        """A tensor of ``buf`` (an array of ``device``) or ``lazy``, without ``__init__``'s argument checks (a
        compiled step's replay returns its loss through it: ``compiler.api.CompiledFunction._run_plan``)."""
        t = cls.__new__(cls)
        t._buf = buf
        t._lazy = lazy
        t._requires_grad = False
        t._grad = None
        t._grad_fn = None
        t._output_nr = 0
        t._version = version
        t._acc = None
        t._hooks = None
        t._post_acc_hooks = None
        t._retains_grad = False
        t._view = None
        t._views = None
        t._device = device
        t._inference = _INFERENCE.__dict__.get("on", False)
        return t

    # The array behind the tensor.  A lazy tensor computes it (runs its fused
    # region's kernel) the first time anything needs the data.
    @property
    def _data(self) -> np.ndarray:
        buf = self._buf
        if buf is None:
            buf = self._lazy.realize()
            self._buf = buf
            self._lazy = None
        return buf

    @_data.setter
    def _data(self, value: np.ndarray) -> None:
        self._buf = value
        self._lazy = None
        self._device = cuda0 if type(value) is DeviceArray else cpu

    @property
    def _is_lazy(self) -> bool:
        return self._buf is None

    # ------------------------------------------------------------ metadata
    @property
    def shape(self) -> tuple:
        buf = self._buf
        return buf.shape if buf is not None else self._lazy.shape

    @property
    def dtype(self) -> _dtypes.DType:
        buf = self._buf
        return _dtypes.from_numpy_dtype(buf.dtype) if buf is not None else self._lazy.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def device(self) -> Device:
        return self._device

    @property
    def is_cuda(self) -> bool:
        return self._device.type == "cuda"

    def _host(self) -> np.ndarray:
        """The data as a NumPy array: the array itself on the CPU, a copy from a GPU."""
        arr = self._data
        return arr.to_host() if type(arr) is DeviceArray else arr

    def _host_values(self) -> np.ndarray:
        """Like ``_host``, with a bfloat16 tensor's 16-bit words read as float32 values (for printing, item)."""
        arr = self._host()
        if arr.itemsize == 2 and _dtypes.is_bfloat16_array_dtype(arr.dtype):
            return _dtypes.bfloat16_words_to_float32(arr)
        return arr

    def _refuse_bfloat16_numpy(self) -> None:
        if self._buf is not None and self._buf.itemsize != 2:
            return
        if self.dtype is _dtypes.bfloat16:
            # NumPy has no bfloat16: numgrad's array holds 16-bit words, which would read as integers
            raise TypeError("Got unsupported ScalarType BFloat16 (NumPy has no bfloat16; convert with "
                            ".float() first)")

    def size(self, dim: Optional[int] = None):
        """The shape as a ``numgrad.Size``, or the length of dimension ``dim``."""
        if dim is None:
            return Size(self.shape)
        return self.shape[_wrap_dim(dim, self.ndim, "size")]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def element_size(self) -> int:
        return self.dtype.itemsize

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def is_contiguous(self, memory_format: _memory_format.memory_format = _memory_format.contiguous_format) -> bool:
        """Whether the memory is laid out densely in ``memory_format`` (row-major by default; see
        ``numgrad.memory_format``).

        >>> import numgrad as ng
        >>> ng.zeros(2, 3).t().is_contiguous(), ng.zeros(1, 3, 2, 2).is_contiguous(memory_format=ng.channels_last)
        (False, False)
        """
        if memory_format is _memory_format.preserve_format:
            raise RuntimeError("is_contiguous(): preserve_format is not a memory format a tensor can be laid out in")
        if memory_format is _memory_format.contiguous_format:
            # a lazy tensor will be computed into fresh contiguous memory
            return self._buf is None or bool(self._buf.flags.c_contiguous)
        return self._buf is not None and _memory_format.is_dense_in(self.shape, self.stride(), memory_format)

    def stride(self, dim: Optional[int] = None):
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[_wrap_dim(dim, self.ndim, "stride")]

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # ------------------------------------------------------------ autograd
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = bool(value)
        if value and not self.dtype.is_floating_point:
            raise RuntimeError(
                f"only Tensors of floating point dtype can require gradients (got {self.dtype}); "
                "convert with .to(numgrad.float32) first"
            )
        if value and self._inference and not _INFERENCE.__dict__.get("on", False):
            raise RuntimeError("Setting requires_grad=True on inference tensor outside InferenceMode is not allowed.")
        if not value and self._grad_fn is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        self._requires_grad = value

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set ``requires_grad`` in place and return ``self``."""
        self.requires_grad = requires_grad
        return self

    @property
    def grad(self) -> Optional["Tensor"]:
        """The gradient accumulated by ``backward`` (None until one reaches this tensor)."""
        return self._grad

    @grad.setter
    def grad(self, value: Optional["Tensor"]) -> None:
        # PyTorch's checks: a gradient is a tensor of this tensor's size, or None
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got grad of type {type(value).__name__}")
            if value.shape != self.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor of size "
                    f"'{list(self.shape)}'. Please ensure that the gradient and the tensor are the same size")
        self._grad = value

    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def _attach(self, node, output_nr: int) -> None:
        self._grad_fn = node
        self._output_nr = output_nr
        self._requires_grad = True

    def detach(self) -> "Tensor":
        """A new tensor sharing this one's data, cut from the graph."""
        if self._buf is None:
            return Tensor._from_lazy(self._lazy, _version=self._version)
        return Tensor(self._buf, _version=self._version)

    def detach_(self) -> "Tensor":
        """Cut this tensor from the graph in place (not allowed on a view, as in PyTorch)."""
        if self._view is not None:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self._grad_fn = None
        self._requires_grad = False
        return self

    @property
    def data(self) -> "Tensor":
        """The same memory, cut from the graph, with a version counter of its own (as PyTorch's ``.data``).

        Writes through it are invisible to autograd's modified-in-place checks, as in PyTorch; they still
        run pending readers of the memory first, and stop fused backward regions from recomputing a value
        that now differs from memory (``_bump_version``).
        """
        version = _DataVersion([0])
        version.shadow = self._version
        if self._buf is None:
            return Tensor._from_lazy(self._lazy, _version=version)
        return Tensor(self._buf, _version=version)

    @data.setter
    def data(self, value: "Tensor") -> None:
        self._data = value._data

    # ------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shares memory)."""
        if self._requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
            )
        if self._device.type != "cpu":
            raise TypeError(
                f"can't convert {self._device} device type tensor to numpy. Use Tensor.cpu() to copy the tensor "
                "to host memory first."
            )
        self._refuse_bfloat16_numpy()
        self._before_write()  # the caller may write into the array
        arr = self._data
        _pending_readers.mark_escaped(arr)
        return arr

    def __array__(self, dtype=None, copy=None):
        if self._device.type != "cpu":
            raise TypeError(
                f"can't convert {self._device} device type tensor to numpy. Use Tensor.cpu() to copy the tensor "
                "to host memory first."
            )
        self._refuse_bfloat16_numpy()
        self._before_write()  # np.asarray(t) may be written into, as t.numpy() may
        arr = self._data
        _pending_readers.mark_escaped(arr)
        if dtype is not None:
            arr = arr.astype(dtype)
        return arr

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.numel() != 1:
            raise RuntimeError(
                f"a Tensor with {self.numel()} elements cannot be converted to Scalar"
            )
        return self._host_values().reshape(-1)[0].item()

    def tolist(self):
        return self._host_values().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.is_floating_point or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(
                "Boolean value of Tensor with more than one value is ambiguous"
                if self.numel() > 1 else "Boolean value of Tensor with no values is ambiguous"
            )
        return bool(self.item())

    def __hash__(self):
        return id(self)

    def __repr__(self) -> str:
        return format_tensor(self)

    def _type_name(self) -> str:
        names = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
                 "int32": "IntTensor", "bool": "BoolTensor", "float16": "HalfTensor", "bfloat16": "BFloat16Tensor",
                 "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor"}
        return "numgrad." + names.get(self.dtype.name, self.dtype.name)

    # ------------------------------------------------------------ in-place helpers
    def _before_write(self) -> None:
        """The write barrier: every pending computation that reads this tensor's memory runs now.

        Whatever writes a tensor's buffer in place calls it first (in-place ops, setitem, fill_/copy_,
        optimizer steps, normalization statistics, memory handed to NumPy) and bumps the version after.
        """
        if _pending_readers._pending:
            _pending_readers.flush_readers(self._data)

    def _bump_version(self) -> None:
        # A version counter counts writes in its low 32 bits (PyTorch's _version, what autograd's
        # modified-in-place checks read: version_of) and writes through .data above them, so that a fused
        # backward region, which compares whole counters, never recomputes a value from written memory.
        version = self._version
        version[0] += 1
        if type(version) is _DataVersion:
            version.shadow[0] += DATA_WRITE

    # numpy interop: np.add(array, tensor) and friends defer to the tensor
    __array_ufunc__ = None


DATA_WRITE = 1 << 32  # one write through .data, in the version counter of the tensor it came from
VERSION_MASK = DATA_WRITE - 1  # the bits that count the writes PyTorch's _version counts


def version_of(counter: list) -> int:
    """The writes PyTorch's ``_version`` counts (not those through ``.data``) in a version counter."""
    return counter[0] & VERSION_MASK


class _DataVersion(list):
    """The version counter of a ``.data`` tensor: its writes also count in the original's second slot."""

    __slots__ = ("shadow",)


def _wrap_dim(dim: int, ndim: int, op: str = "") -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})"
        )
    return dim + n if dim < 0 else dim


def result_type(*operands) -> _dtypes.DType:
    """PyTorch's promotion: dimensioned tensors > zero-dim tensors > Python scalars.

    A lower-priority operand only matters when its category (bool < int < float)
    is higher than everything above it; a Python float then gives the default
    float dtype and a Python int gives int64.

    >>> import numgrad as ng
    >>> result_type(ng.tensor([1, 2]), 2.5), result_type(ng.tensor([1.0]), ng.tensor(2.0, dtype=ng.float64))
    (numgrad.float32, numgrad.float32)
    """
    dims = zero_dims = None
    scalar_cat = -1
    for op in operands:
        if isinstance(op, Tensor):
            if op.ndim > 0:
                dims = op.dtype if dims is None else _dtypes.promote_pair(dims, op.dtype)
            else:
                zero_dims = op.dtype if zero_dims is None else _dtypes.promote_pair(zero_dims, op.dtype)
        elif isinstance(op, (bool, np.bool_)):
            scalar_cat = max(scalar_cat, 0)
        elif isinstance(op, (int, np.integer)):
            scalar_cat = max(scalar_cat, 1)
        elif isinstance(op, (float, np.floating)):
            scalar_cat = max(scalar_cat, 2)
        else:
            raise TypeError(f"unsupported operand type {type(op).__name__}")
    result = dims
    if zero_dims is not None:
        if result is None:
            result = zero_dims
        elif zero_dims._category > result._category:
            result = zero_dims
    if scalar_cat >= 0:
        if result is None:
            result = (_dtypes.bool_, _dtypes.int64, _dtypes.get_default_dtype())[scalar_cat]
        elif scalar_cat > result._category:
            result = (_dtypes.bool_, _dtypes.int64, _dtypes.get_default_dtype())[scalar_cat]
    return result
