"""PyTorch's checkpoint format (``torch.save``/``torch.load``), read and written without torch.

A ``.pt`` file is a zip archive: ``<name>/data.pkl`` (a pickle, protocol 2),
``<name>/data/<key>`` (the raw bytes of each storage), ``<name>/byteorder``
and a few version records.  In the pickle a tensor is
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
requires_grad, hooks)`` and a storage is a persistent id
``('storage', torch.FloatStorage, key, location, numel)``; views of one
tensor share one storage.  Files from before PyTorch 1.6 are one pickle
stream: a magic number, the protocol version, system info, the pickle, the
storage keys, then each storage's element count and bytes.

Reading: with ``weights_only=True`` (the default, as in PyTorch 2.6+) the
pickle runs in ``unpickler.Unpickler`` with PyTorch's allow-list mapped to
numgrad objects (``_allowed``), so no code from the file executes; with
``weights_only=False`` Python's pickle runs it, with torch's names mapped to
numgrad's.  Storages become NumPy arrays and tensors are strided views of them
(in the machine's byte order), so sharing is kept as torch keeps it.

Writing: ``save`` pickles any object as ``torch.save`` does (protocol 2,
tensors through the same rebuild functions and storages), so
``torch.load(f, weights_only=True)`` reads tensors and containers of them;
other objects (a whole ``nn.Module``) are pickled by reference to their
class and load only with ``weights_only=False``, in torch and in numgrad.
"""
from __future__ import annotations

import importlib
import io
import pickle
import struct
import sys
import zipfile
from collections import OrderedDict
from typing import Any, Dict, Optional

import numpy as np

from .. import _dtypes
from ..device import Device, as_device
from ..kernels.backend import to_device
from ..nn.parameter import Parameter
from ..tensor import Tensor
from ._common import parse_device, target_device
from .unpickler import UNSAFE_MESSAGE, Unpickler, base_allowed, build_ordered_dict

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch storage class -> numgrad dtype name; the ones numgrad has no dtype for are refused by name
_STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16", "LongStorage": "int64",
    "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "UntypedStorage": "uint8",
}
_UNSUPPORTED_STORAGES = {
    "BFloat16Storage": "bfloat16", "ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128",
    "ComplexHalfStorage": "complex32", "QInt8Storage": "qint8", "QUInt8Storage": "quint8",
    "QInt32Storage": "qint32", "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4",
}
_STORAGE_OF_DTYPE = {v: k for k, v in _STORAGE_DTYPES.items() if k != "UntypedStorage"}


class StorageType:
    """Stands for ``torch.FloatStorage`` & co. in a pickle: the element type of a storage."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str, dtype: Optional[str]):
        self.name = name
        self.dtype = dtype  # numgrad dtype name, None when numgrad has no such dtype

    def __repr__(self) -> str:
        return f"torch.{self.name}"


_STORAGE_TYPES = {name: StorageType(name, dt) for name, dt in _STORAGE_DTYPES.items()}
_STORAGE_TYPES.update({name: StorageType(name, None) for name in _UNSUPPORTED_STORAGES})


class LoadedStorage:
    """One storage of a checkpoint: its elements as a 1-D NumPy array and where it was saved."""

    __slots__ = ("array", "location", "dtype_name")

    def __init__(self, array: np.ndarray, location: str, dtype_name: str):
        self.array = array
        self.location = location
        self.dtype_name = dtype_name


def _fail(name: str, why: str) -> RuntimeError:
    return RuntimeError(f"numgrad.load: {name} is not a valid PyTorch checkpoint: {why}")


class _Reader:
    """The storages of one checkpoint and the functions its pickle calls to rebuild tensors."""

    def __init__(self, name: str, map_location, fetch, little_endian: bool):
        self.name = name
        self.map_location = map_location
        self.fetch = fetch  # (key, nbytes) -> bytes, or None to allocate (legacy files fill storages later)
        self.little_endian = little_endian
        self.storages: Dict[str, LoadedStorage] = {}
        self.order: list = []
        self.defer_placement = False  # legacy files: tensors stay on the CPU until the storages are filled
        self.max_bytes = 0  # legacy files: the size of the file, which bounds every storage

    # ------------------------------------------------------------ storages
    def persistent_load(self, pid):
        if type(pid) is not tuple or len(pid) not in (5, 6):
            raise pickle.UnpicklingError(f"persistent_load id must be a storage tuple, but got {type(pid).__name__}")
        typename = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if typename != "storage":
            raise pickle.UnpicklingError(f"Only persistent_load of storage is allowed, but got {typename!r}")
        storage_type, key, location, numel = pid[1:5]
        if not isinstance(storage_type, StorageType):
            raise pickle.UnpicklingError(f"a storage's type is {storage_type!r}, not a torch storage class")
        if storage_type.dtype is None:
            raise RuntimeError(
                f"numgrad.load: {self.name} holds {_UNSUPPORTED_STORAGES[storage_type.name]} tensors "
                f"(torch.{storage_type.name}), a dtype numgrad does not have; convert them in PyTorch first "
                "(e.g. state_dict values .float())")
        if isinstance(location, bytes):
            location = location.decode("ascii", "replace")
        key = str(key)
        if type(numel) is not int or numel < 0 or "/" in key or "\\" in key:
            raise pickle.UnpicklingError(f"bad storage entry (key {key!r}, size {numel!r})")
        try:
            parse_device(location, "storage location")
        except ValueError as exc:
            raise _fail(self.name, str(exc)) from None
        storage = self.storages.get(key)
        if storage is None:
            storage = self._read_storage(key, storage_type.dtype, numel, location)
        if len(pid) == 6 and pid[5] is not None:  # legacy files: a view of a root storage
            view = pid[5]
            if type(view) is not tuple or len(view) != 3:
                raise pickle.UnpicklingError("bad storage view entry")
            view_key, offset, size = view
            if type(offset) is not int or type(size) is not int or offset < 0 or size < 0 or \
                    offset + size > storage.array.size:
                raise _fail(self.name, f"storage view {view_key!r} lies outside storage {key!r}")
            return LoadedStorage(storage.array[offset:offset + size], storage.location, storage.dtype_name)
        return storage

    def _read_storage(self, key: str, dtype_name: str, numel: int, location: str) -> LoadedStorage:
        np_dtype = _dtypes.as_dtype(dtype_name).np
        nbytes = numel * np_dtype.itemsize
        if self.fetch is None:
            if nbytes > self.max_bytes:  # its bytes must follow in the file: never allocate more than that
                raise _fail(self.name, f"storage {key!r} claims {nbytes} bytes, more than the file holds")
            array = np.zeros(numel, dtype=np_dtype)
        else:
            data = self.fetch(key, nbytes)
            stored = np_dtype.newbyteorder("<" if self.little_endian else ">")
            array = np.frombuffer(bytearray(data), dtype=stored)
            if not stored.isnative:
                array = array.astype(np_dtype)
        storage = LoadedStorage(array, location, dtype_name)
        self.storages[key] = storage
        self.order.append(key)
        return storage

    # ------------------------------------------------------------ tensors
    def tensor(self, storage, offset, size, stride, requires_grad=False, dtype=None) -> Tensor:
        if not isinstance(storage, LoadedStorage):
            raise pickle.UnpicklingError(f"a tensor's storage is {type(storage).__name__}, not a storage")
        size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
        if type(offset) is not int or offset < 0 or len(size) != len(stride) or min(stride, default=0) < 0:
            raise _fail(self.name, f"bad tensor layout (offset {offset!r}, size {size}, stride {stride})")
        array = storage.array
        if dtype is not None:  # _rebuild_tensor_v3: an untyped (byte) storage read as ``dtype``
            if array.dtype != np.uint8 or not isinstance(dtype, _dtypes.DType):
                raise _fail(self.name, "a typed tensor over a typed storage")
            if array.size % dtype.itemsize:
                raise _fail(self.name, f"a storage of {array.size} bytes holds no whole {dtype.name} elements")
            array = array.view(dtype.np) if array.size else np.zeros(0, dtype.np)
        if 0 not in size:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= array.size:
                raise _fail(self.name, f"a tensor of size {size}, stride {stride}, offset {offset} reads past the "
                                       f"end of its storage ({array.size} elements)")
        view = np.lib.stride_tricks.as_strided(array[offset:] if offset <= array.size else array[:0], shape=size,
                                               strides=[s * array.itemsize for s in stride])
        if not self.defer_placement:
            device = target_device(storage.location, self.map_location, self.name)
            if device.type != "cpu":
                view = to_device(np.ascontiguousarray(view), as_device(device))
        t = Tensor(view)
        if requires_grad:
            if type(requires_grad) is not bool or view.dtype.kind != "f":
                raise _fail(self.name, f"a {view.dtype} tensor requires grad")
            t.requires_grad = True
        return t

    def rebuild_tensor(self, storage, storage_offset, size, stride):
        return self.tensor(storage, storage_offset, size, stride)

    def rebuild_tensor_v2(self, storage, storage_offset, size, stride, requires_grad, backward_hooks,
                          metadata=None):
        if metadata:
            raise _fail(self.name, f"tensor metadata {metadata!r} (conjugate or negative bits) is not supported")
        return self.tensor(storage, storage_offset, size, stride, requires_grad)

    def rebuild_tensor_v3(self, storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                          metadata=None):
        if metadata:
            raise _fail(self.name, f"tensor metadata {metadata!r} (conjugate or negative bits) is not supported")
        return self.tensor(storage, storage_offset, size, stride, requires_grad, dtype)

    def rebuild_parameter(self, data, requires_grad, backward_hooks):
        if not isinstance(data, Tensor) or type(requires_grad) is not bool:
            raise pickle.UnpicklingError("a Parameter needs a tensor and a bool")
        return Parameter(data, requires_grad=requires_grad)

    def rebuild_parameter_with_state(self, data, requires_grad, backward_hooks, state):
        if state:
            raise _fail(self.name, "a Parameter with Python attributes is not supported")
        return self.rebuild_parameter(data, requires_grad, backward_hooks)

    def rebuild_from_type_v2(self, func, new_type, args, state):
        if func not in (self.rebuild_tensor, self.rebuild_tensor_v2, self.rebuild_tensor_v3,
                        self.rebuild_parameter) or type(args) is not tuple:
            raise pickle.UnpicklingError(f"_rebuild_from_type_v2 with an unexpected function {func!r}")
        if new_type not in (Tensor, Parameter):
            raise _fail(self.name, f"a tensor subclass {new_type!r} is not supported")
        if state:
            raise _fail(self.name, "a tensor with Python attributes is not supported")
        return func(*args)

    def parameter(self, data=None, requires_grad=True):
        if data is not None and not isinstance(data, Tensor) or type(requires_grad) is not bool:
            raise pickle.UnpicklingError("a Parameter needs a tensor and a bool")
        return Parameter(data, requires_grad=requires_grad)

    # ------------------------------------------------------------ the allow-list
    def allowed(self) -> Dict[str, Any]:
        """PyTorch's ``weights_only`` allow-list, each name mapped to what numgrad makes of it."""
        rc = base_allowed()
        rc.update({
            "torch._utils._rebuild_tensor": self.rebuild_tensor,
            "torch._utils._rebuild_tensor_v2": self.rebuild_tensor_v2,
            "torch._utils._rebuild_tensor_v3": self.rebuild_tensor_v3,
            "torch._utils._rebuild_parameter": self.rebuild_parameter,
            "torch._utils._rebuild_parameter_with_state": self.rebuild_parameter_with_state,
            "torch._tensor._rebuild_from_type_v2": self.rebuild_from_type_v2,
            "torch.nn.parameter.Parameter": Parameter,
            "torch.Tensor": Tensor,
            "torch.Size": _size,
            "torch.device": _device,
        })
        for kind in ("qtensor", "sparse_tensor", "meta_tensor_no_storage", "nested_tensor", "wrapper_subclass",
                     "device_tensor_from_numpy", "device_tensor_from_cpu_tensor"):
            rc[f"torch._utils._rebuild_{kind}"] = _unsupported(self.name, kind.replace("_", " "))
        rc["torch.serialization._get_layout"] = _unsupported(self.name, "sparse (a non-strided layout)")
        for name, storage_type in _STORAGE_TYPES.items():
            rc[f"torch.{name}"] = storage_type
            rc[f"torch.storage.{name}"] = storage_type
        for dt in _dtypes.ALL_DTYPES:
            rc[f"torch.{dt.name}"] = dt
        return rc

    def unpickler(self, file) -> Unpickler:
        allowed = self.allowed()
        reducible = {k: v for k, v in allowed.items() if not isinstance(v, (StorageType, _dtypes.DType))
                     and v not in (Tensor, Parameter)}
        return Unpickler(file, allowed, persistent_load=self.persistent_load,
                         constructors={Parameter: self.parameter}, builders={OrderedDict: build_ordered_dict},
                         reducible=reducible)


def _int_tuple(value, what: str) -> tuple:
    if type(value) not in (tuple, list) or not all(type(v) is int for v in value) or len(value) > 64:
        raise pickle.UnpicklingError(f"a tensor's {what} is {value!r}, not a tuple of ints")
    return tuple(value)


def _size(dims=()) -> tuple:
    """``torch.Size``: numgrad's sizes are tuples."""
    return _int_tuple(tuple(dims) if type(dims) in (tuple, list) else dims, "Size")


def _device(spec, index=None) -> Device:
    """``torch.device``, validated (a file may hold 'cuda:abc')."""
    try:
        device = parse_device(spec if index is None else f"{spec}:{index}", "torch.device")
    except ValueError as exc:
        raise pickle.UnpicklingError(str(exc)) from None
    return device


def _unsupported(name: str, kind: str):
    def refuse(*args):
        raise RuntimeError(f"numgrad.load: {name} holds a {kind} tensor, which numgrad does not support")

    return refuse


# ------------------------------------------------------------------ reading
def is_torch_zip(names) -> bool:
    """True for the member names of a PyTorch zip checkpoint."""
    return any(n.endswith("/data.pkl") and n.count("/") == 1 for n in names)


def load_zip(archive: zipfile.ZipFile, name: str, map_location, weights_only: bool) -> Any:
    names = archive.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    prefix = pickles[0][: -len("data.pkl")]
    if prefix + "constants.pkl" in names:
        raise RuntimeError(f"numgrad.load: {name} is a TorchScript archive (torch.jit.save); numgrad reads "
                           "checkpoints written by torch.save")
    little = True
    if prefix + "byteorder" in names:
        order = archive.read(prefix + "byteorder")
        if order not in (b"little", b"big"):
            raise _fail(name, f"unknown byte order {order[:20]!r}")
        little = order == b"little"

    def fetch(key: str, nbytes: int) -> bytes:
        member = f"{prefix}data/{key}"
        try:
            info = archive.getinfo(member)
        except KeyError:
            raise _fail(name, f"storage {key!r} is missing from the archive") from None
        if info.file_size != nbytes:
            raise _fail(name, f"storage {key!r} holds {info.file_size} bytes, its tensors need {nbytes}")
        with archive.open(info) as handle:
            data = handle.read(nbytes + 1)
        if len(data) != nbytes:
            raise _fail(name, f"storage {key!r} is truncated")
        return data

    reader = _Reader(name, map_location, fetch, little)
    data = io.BytesIO(archive.read(pickles[0]))
    return _run(reader, data, weights_only)


def _run(reader: _Reader, data, weights_only: bool):
    if weights_only:
        try:
            return reader.unpickler(data).load()
        except pickle.UnpicklingError as exc:
            raise pickle.UnpicklingError(f"numgrad.load: {reader.name}: {exc}") from None
    return _FullUnpickler(data, reader).load()


def load_legacy(raw: bytes, name: str, map_location, weights_only: bool) -> Any:
    """A checkpoint from ``torch.save(..., _use_new_zipfile_serialization=False)`` (one pickle stream)."""
    f = io.BytesIO(raw)
    try:
        plain = Unpickler(f, {})
        magic = plain.load()
        if magic != MAGIC_NUMBER:
            raise _fail(name, "invalid magic number")
        version = Unpickler(f, {}).load()
        if version != PROTOCOL_VERSION:
            raise _fail(name, f"invalid protocol version {version!r}")
        info = Unpickler(f, {}).load()
    except pickle.UnpicklingError as exc:
        raise _fail(name, f"its header is malformed ({exc})") from None
    little = info.get("little_endian", True) if isinstance(info, dict) else True
    start = f.tell()
    # first pass: learn the storages (allocated, filled below) and where the pickle ends
    reader = _Reader(name, map_location, None, bool(little))
    reader.defer_placement = True
    reader.max_bytes = len(raw)
    if weights_only:
        _run(reader, f, True)
    else:
        if target_device("cpu", map_location, name).type != "cpu":
            raise RuntimeError(f"numgrad.load: {name} is in PyTorch's legacy format, which numgrad loads with "
                               "weights_only=False on the CPU only; pass map_location='cpu'")
        result = _FullUnpickler(f, reader).load()
    try:
        keys = Unpickler(f, {}).load()
    except pickle.UnpicklingError as exc:
        raise _fail(name, f"its storage list is malformed ({exc})") from None
    if type(keys) is not list or sorted(map(str, keys)) != sorted(reader.storages):
        raise _fail(name, "its storage list does not match the storages its pickle uses")
    for key in keys:
        storage = reader.storages[str(key)]
        header = f.read(8)
        if len(header) != 8:
            raise _fail(name, f"storage {key!r} is truncated")
        (numel,) = struct.unpack("<q" if little else ">q", header)
        expected = storage.array.size
        if numel != expected:
            raise _fail(name, f"storage {key!r} holds {numel} elements, its tensors need {expected}")
        nbytes = numel * storage.array.itemsize
        data = f.read(nbytes)
        if len(data) != nbytes:
            raise _fail(name, f"storage {key!r} is truncated")
        stored = storage.array.dtype.newbyteorder("<" if little else ">")
        storage.array[...] = np.frombuffer(data, dtype=stored)
    if not weights_only:
        return result
    # second pass: the same pickle over the filled storages, tensors placed where they belong
    f.seek(start)
    filled = _Reader(name, map_location, None, bool(little))
    filled.storages = reader.storages
    return _run(filled, f, True)


class _FullUnpickler(pickle.Unpickler):
    """``weights_only=False``: Python's pickle (it runs code from the file), torch's names mapped to numgrad's."""

    def __init__(self, file, reader: _Reader):
        super().__init__(file, encoding="utf-8")
        self.reader = reader
        self.mapped = reader.allowed()

    def persistent_load(self, pid):
        return self.reader.persistent_load(pid)

    def find_class(self, module: str, name: str):
        full = f"{module}.{name}"
        if full in self.mapped:
            return self.mapped[full]
        if module == "torch" or module.startswith("torch."):
            # torch.nn.modules.linear.Linear -> numgrad.nn.modules.linear.Linear (numgrad keeps torch's paths)
            try:
                return getattr(importlib.import_module("numgrad" + module[len("torch"):]), name)
            except (ImportError, AttributeError):
                raise pickle.UnpicklingError(
                    f"numgrad.load: {self.reader.name} pickles {full}, which numgrad has no counterpart of"
                ) from None
        return super().find_class(module, name)


# ------------------------------------------------------------------ writing
# what the pickle spells for numgrad's objects: torch's names
_REBUILD_TENSOR_V2 = ("torch._utils", "_rebuild_tensor_v2")
_REBUILD_PARAMETER = ("torch._utils", "_rebuild_parameter")


class _Global:
    """A name written as a pickle ``GLOBAL`` (torch's rebuild functions, storage classes, dtypes, torch.device)."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle's save_reduce wants a callable; the call happens in the reader
        raise TypeError(f"{self.module}.{self.name} is a name for the pickle, not a function")


_GLOBALS = {key: _Global(*key) for key in (_REBUILD_TENSOR_V2, _REBUILD_PARAMETER, ("torch", "device"),
                                           ("collections", "OrderedDict"))}
_STORAGE_GLOBALS = {dt: _Global("torch", storage) for dt, storage in _STORAGE_OF_DTYPE.items()}
_DTYPE_GLOBALS = {dt.name: _Global("torch", dt.name) for dt in _dtypes.ALL_DTYPES}


class _StorageRef:
    __slots__ = ("key", "dtype_name", "location", "numel")

    def __init__(self, key, dtype_name, location, numel):
        self.key, self.dtype_name, self.location, self.numel = key, dtype_name, location, numel


class _PlainTensor:
    """A Parameter's data, pickled as a plain tensor inside ``_rebuild_parameter``."""

    __slots__ = ("tensor",)

    def __init__(self, tensor):
        self.tensor = tensor


class _TorchPickler(pickle._Pickler):
    """``torch.save``'s pickle: protocol 2, tensors as rebuild calls over persistent storages."""

    def __init__(self, file):
        super().__init__(file, protocol=2)
        self.storages: Dict[str, np.ndarray] = {}
        self._by_root: Dict[tuple, _StorageRef] = {}
        self._keep: list = []  # the roots, alive until written (their ids key _by_root)

    def persistent_id(self, obj):
        if type(obj) is _StorageRef:
            return ("storage", _STORAGE_GLOBALS[obj.dtype_name], obj.key, obj.location, obj.numel)
        return None

    def reducer_override(self, obj):
        kind = type(obj)
        if kind is _Global:
            return f"{obj.module}.{obj.name}"
        if kind is _dtypes.DType:
            return (_Identity, (_DTYPE_GLOBALS[obj.name],))
        if kind is Device:
            return (_GLOBALS[("torch", "device")], (str(obj),))
        if isinstance(obj, Parameter):
            return (_GLOBALS[_REBUILD_PARAMETER], (_PlainTensor(obj), obj.requires_grad, OrderedDict()))
        if kind is _PlainTensor or isinstance(obj, Tensor):
            t = obj.tensor if kind is _PlainTensor else obj
            storage, offset, size, stride = self._storage_of(t)
            return (_GLOBALS[_REBUILD_TENSOR_V2], (storage, offset, size, stride, bool(t.requires_grad),
                                                    OrderedDict()))
        return NotImplemented

    def save_global(self, obj, name=None):
        if type(obj) is _Global:
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("utf-8"))
            self.memoize(obj)
            return
        super().save_global(obj, name)

    def save_reduce(self, func, args, *rest, **kwargs):
        if func is _Identity:  # a bare GLOBAL (a dtype), not a call
            self.save(args[0])
            return
        super().save_reduce(func, args, *rest, **kwargs)

    def _storage_of(self, t: Tensor):
        arr = t._host()
        if t.dtype.name not in _STORAGE_OF_DTYPE:
            raise TypeError(f"numgrad.save: format='torch' cannot store a tensor of dtype {t.dtype.name}")
        location = str(t.device) if t.device.type != "cpu" else "cpu"
        if location == "cuda":
            location = "cuda:0"
        item = arr.itemsize
        root = arr
        while isinstance(root.base, np.ndarray) and root.base.dtype == arr.dtype and root.base.flags.c_contiguous:
            root = root.base
        start = arr.__array_interface__["data"][0] - root.__array_interface__["data"][0]
        shares = (root.flags.c_contiguous and arr.dtype.isnative and start >= 0 and start % item == 0
                  and all(s >= 0 and s % item == 0 for s in arr.strides))
        if not shares:
            root = np.ascontiguousarray(arr) if arr.ndim else arr.copy()
            if not root.dtype.isnative:
                root = root.astype(root.dtype.newbyteorder("="))
            start = 0
        stride = tuple(s // item for s in arr.strides) if shares else _contiguous_stride(arr.shape)
        ref_key = (id(root), arr.dtype.str, location)
        ref = self._by_root.get(ref_key)
        if ref is None:
            ref = _StorageRef(str(len(self.storages)), t.dtype.name, location, int(root.size))
            self._by_root[ref_key] = ref
            self.storages[ref.key] = root
            self._keep.append(root)
        return ref, start // item, tuple(int(n) for n in arr.shape), stride


def _Identity(value):  # noqa: N802 - a marker, never called
    return value


def _contiguous_stride(shape) -> tuple:
    stride, acc = [], 1
    for n in reversed(shape):
        stride.append(acc)
        acc *= max(int(n), 1)
    return tuple(reversed(stride))


def save(obj: Any, handle) -> None:
    """Write ``obj`` to the binary file ``handle`` as ``torch.save`` does (zip, protocol-2 pickle).

    >>> import io, numgrad as ng
    >>> buf = io.BytesIO(); save({"w": ng.ones(2)}, buf); buf.getvalue()[:2]
    b'PK'
    """
    data = io.BytesIO()
    pickler = _TorchPickler(data)
    pickler.dump(obj)
    prefix = "archive/"
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(prefix + "data.pkl", data.getvalue())
        archive.writestr(prefix + ".format_version", b"1")
        archive.writestr(prefix + ".storage_alignment", b"64")
        archive.writestr(prefix + "byteorder", sys.byteorder.encode())
        for key, root in pickler.storages.items():
            archive.writestr(f"{prefix}data/{key}", np.ascontiguousarray(root).tobytes() if root.ndim else
                             root.tobytes())
        archive.writestr(prefix + "version", b"3\n")
        archive.writestr(prefix + ".data/serialization_id", b"%040d" % (id(pickler) % 10 ** 40))


__all__ = ["UNSAFE_MESSAGE", "is_torch_zip", "load_zip", "load_legacy", "save"]
