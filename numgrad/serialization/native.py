"""numgrad's own checkpoint format: ``.npz`` files that never execute code on load.

A checkpoint is a (compressed) NumPy ``.npz`` archive: one array per tensor
plus a JSON document, stored under ``__numgrad__``, that records the nested
structure (dicts, lists, tuples, numbers, strings, None) and points to the
arrays by name.  Loading uses ``np.load(..., allow_pickle=False)`` and
``json``, so a file from an untrusted source can at worst fail to load; it
cannot run code.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import Any, BinaryIO, Dict, Union

import numpy as np

from ..tensor import Tensor
from ..nn.parameter import Parameter
from ._common import MAX_DEPTH, native_byte_order, place_on_device, source_name

FORMAT = "numgrad-checkpoint"
VERSION = 1
_STRUCTURE_KEY = "__numgrad__"

PathLike = Union[str, os.PathLike, BinaryIO]


class _Encoder:
    def __init__(self):
        self.arrays: Dict[str, np.ndarray] = {}
        self.blocker = None  # what could not be encoded

    def _array(self, arr: np.ndarray) -> str:
        name = f"a{len(self.arrays)}"
        # (np.ascontiguousarray would turn a 0-d array into a 1-d one)
        self.arrays[name] = arr if arr.flags.c_contiguous else arr.copy(order="C")
        return name

    def encode(self, obj, where: str, depth: int = 0):
        if depth > MAX_DEPTH:
            raise ValueError(f"numgrad.save: containers nested deeper than {MAX_DEPTH} levels at {where}")
        depth += 1
        if isinstance(obj, Tensor):
            entry = {"__tensor__": self._array(obj._host()), "requires_grad": bool(obj.requires_grad),
                     "parameter": isinstance(obj, Parameter)}
            if obj.device.type != "cpu":
                entry["device"] = str(obj.device)
            return entry
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind not in "biuf":
                raise TypeError(f"numgrad.save: cannot store a NumPy array of dtype {obj.dtype} at {where}")
            return {"__ndarray__": self._array(obj)}
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, np.integer)):
            return int(obj)
        if isinstance(obj, (float, np.floating)):
            value = float(obj)
            if value != value or value in (float("inf"), float("-inf")):
                return {"__float__": repr(value)}
            return value
        if isinstance(obj, dict):
            items = []
            for k, v in obj.items():
                if not isinstance(k, (str, int, bool, float)) and k is not None:
                    raise TypeError(f"numgrad.save: dict keys must be str, int, float, bool or None; got "
                                    f"{type(k).__name__} at {where}")
                items.append([k, self.encode(v, f"{where}[{k!r}]", depth)])
            return {"__dict__": items}
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, f"{where}[{i}]", depth) for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, f"{where}[{i}]", depth) for i, v in enumerate(obj)]
        self.blocker = obj
        raise NotEncodable(
            f"numgrad.save: cannot store an object of type {type(obj).__name__} at {where} in a numgrad checkpoint; "
            "it holds tensors, NumPy arrays, numbers, strings, None and dicts/lists/tuples of those "
            "(format='torch' pickles any object, as torch.save does)"
        )


class NotEncodable(TypeError):
    """An object the ``.npz`` format cannot hold (``save`` then pickles it in PyTorch's format)."""


def first_unencodable(obj):
    """The first object in ``obj`` that a numgrad checkpoint cannot store, or None."""
    encoder = _Encoder()
    try:
        encoder.encode(obj, "root")
    except NotEncodable:
        return encoder.blocker
    return None


def save(obj: Any, f: PathLike, compress: bool = True) -> None:
    """Save tensors and nested containers (e.g. a ``state_dict``) to a ``.npz`` checkpoint.

    >>> import numgrad as ng, io
    >>> buf = io.BytesIO(); save({"w": ng.ones(2)}, buf); buf.getvalue()[:2]
    b'PK'
    """
    enc = _Encoder()
    structure = {"format": FORMAT, "version": VERSION, "root": enc.encode(obj, "root")}
    payload = dict(enc.arrays)
    payload[_STRUCTURE_KEY] = np.frombuffer(json.dumps(structure).encode("utf-8"), dtype=np.uint8)
    writer = np.savez_compressed if compress else np.savez
    atomic_write(f, lambda handle: writer(handle, **payload))


def atomic_write(f: PathLike, write) -> None:
    """Call ``write(handle)`` on ``f``: a file object as is, a path through a temporary file renamed into place.

    An interrupted save never leaves a half-written checkpoint at the path.
    """
    if hasattr(f, "write"):
        write(f)
        return
    path = os.fspath(f)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".numgrad-save-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


_KEY_TYPES = (str, int, float, bool, type(None))


class _Decoder:
    def __init__(self, archive, name: str, map_location=None):
        self.archive = archive
        self.name = name
        self.map_location = map_location

    def _fail(self, why: str):
        raise RuntimeError(f"numgrad.load: {self.name} is not a valid numgrad checkpoint: {why}")

    def _array(self, key, structure: bool = False) -> np.ndarray:
        if not isinstance(key, str) or key not in self.archive.files or (key == _STRUCTURE_KEY) != structure:
            self._fail(f"it refers to a missing array {key!r}")
        try:
            arr = self.archive[key]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            self._fail(f"array {key!r} cannot be read ({exc}); the file may be truncated or corrupted")
        # a big-endian array would load and then fail in the first kernel that reads it
        return native_byte_order(arr)

    def decode(self, node, depth: int = 0):
        if depth > MAX_DEPTH:
            self._fail(f"its structure is nested deeper than {MAX_DEPTH} levels")
        depth += 1
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v, depth) for v in node]
        if not isinstance(node, dict) or len(node) == 0:
            self._fail(f"unexpected structure entry {_short(node)}")
        if "__tensor__" in node:
            arr = self._array(node["__tensor__"])
            if arr.dtype.kind not in "biuf":
                self._fail(f"tensor array has unsupported dtype {arr.dtype}")
            arr = self._on_device(arr, node.get("device", "cpu"))
            if node.get("parameter"):
                return Parameter(Tensor(arr), requires_grad=bool(node.get("requires_grad", True)))
            t = Tensor(arr)
            if node.get("requires_grad") and arr.dtype.kind == "f":
                t.requires_grad_(True)
            return t
        if "__ndarray__" in node:
            return self._array(node["__ndarray__"])
        if "__float__" in node:
            text = node["__float__"]
            if text not in ("nan", "inf", "-inf"):
                self._fail(f"bad float entry {_short(text)}")
            return float(text)
        if "__tuple__" in node:
            items = node["__tuple__"]
            if not isinstance(items, list):
                self._fail(f"a tuple entry holds {type(items).__name__}, not a list")
            return tuple(self.decode(v, depth) for v in items)
        if "__dict__" in node:
            pairs = node["__dict__"]
            if not isinstance(pairs, list):
                self._fail(f"a dict entry holds {type(pairs).__name__}, not a list of pairs")
            out = {}
            for pair in pairs:
                if not isinstance(pair, list) or len(pair) != 2:
                    self._fail("bad dict entry (not a [key, value] pair)")
                if not isinstance(pair[0], _KEY_TYPES):
                    self._fail(f"a dict key is a {type(pair[0]).__name__}; keys are str, int, float, bool or None")
                out[pair[0]] = self.decode(pair[1], depth)
            return out
        self._fail(f"unknown structure entry with keys {_short(sorted(map(str, node)))}")

    def _on_device(self, arr: np.ndarray, saved):
        """The array on ``map_location``, or on the device it was saved from (as PyTorch does)."""
        try:
            return place_on_device(arr, saved, self.map_location, self.name)
        except ValueError as exc:
            self._fail(str(exc))


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def is_native(names) -> bool:
    """True for the member names of a numgrad ``.npz`` checkpoint."""
    return _STRUCTURE_KEY + ".npy" in names


def load(f: PathLike, map_location=None) -> Any:
    """Load a checkpoint written by :func:`save`; never executes code from the file.

    >>> import numgrad as ng, io
    >>> buf = io.BytesIO(); save({"step": 3, "w": ng.ones(2)}, buf); _ = buf.seek(0)
    >>> load(buf)["w"]
    tensor([1., 1.])
    """
    name = source_name(f)
    try:
        archive = np.load(f, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise RuntimeError(
            f"numgrad.load: {name} is not a valid numgrad checkpoint (a .npz archive written by numgrad.save): "
            f"{exc}; the file may be truncated, corrupted, or of another format"
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise RuntimeError(f"numgrad.load: {name} holds a single NumPy array, not a numgrad checkpoint")
    with archive:
        decoder = _Decoder(archive, name, map_location)
        if _STRUCTURE_KEY not in archive.files:
            decoder._fail("it has no structure entry (was it written by numgrad.save?)")
        raw = decoder._array(_STRUCTURE_KEY, structure=True)
        try:
            structure = json.loads(raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            decoder._fail(f"its structure entry is not valid JSON ({exc})")
        except RecursionError:
            decoder._fail(f"its structure is nested deeper than {MAX_DEPTH} levels")
        if not isinstance(structure, dict) or structure.get("format") != FORMAT:
            decoder._fail("its structure entry has the wrong format tag")
        version = structure.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            decoder._fail(f"its format version is {_short(version)}, not a positive integer")
        if version > VERSION:
            decoder._fail(f"it was written by a newer numgrad (format version {version})")
        if "root" not in structure:
            decoder._fail("its structure entry has no root")
        return decoder.decode(structure["root"])
