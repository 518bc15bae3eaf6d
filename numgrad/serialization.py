"""``ng.save`` / ``ng.load``: checkpoints as ``.npz`` files that never execute code on load.

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

from . import _dtypes
from .tensor import Tensor
from .device import Device, as_device
from .kernels.backend import to_device
from .kernels.cuda import is_available
from .nn.parameter import Parameter

FORMAT = "numgrad-checkpoint"
VERSION = 1
_STRUCTURE_KEY = "__numgrad__"

PathLike = Union[str, os.PathLike, BinaryIO]


class _Encoder:
    def __init__(self):
        self.arrays: Dict[str, np.ndarray] = {}

    def _array(self, arr: np.ndarray) -> str:
        name = f"a{len(self.arrays)}"
        # (np.ascontiguousarray would turn a 0-d array into a 1-d one)
        self.arrays[name] = arr if arr.flags.c_contiguous else arr.copy(order="C")
        return name

    def encode(self, obj, where: str):
        if isinstance(obj, Tensor):
            host = obj._host()
            if obj.dtype.name == "bfloat16":
                host = host.view(np.uint16)  # .npy keeps no dtype metadata: the words are marked in "dtype" below
            entry = {"__tensor__": self._array(host), "requires_grad": bool(obj.requires_grad),
                     "parameter": isinstance(obj, Parameter)}
            if obj.device.type != "cpu":
                entry["device"] = str(obj.device)
            if obj.dtype.name == "bfloat16":
                entry["dtype"] = "bfloat16"  # the array holds bfloat16's 16-bit words, which .npy stores as uint16
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
                items.append([k, self.encode(v, f"{where}[{k!r}]")])
            return {"__dict__": items}
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        raise TypeError(
            f"numgrad.save: cannot store an object of type {type(obj).__name__} at {where}; checkpoints hold "
            "tensors, NumPy arrays, numbers, strings, None and dicts/lists/tuples of those"
        )


def save(obj: Any, f: PathLike, compress: bool = True) -> None:
    """Save tensors and nested containers (e.g. a ``state_dict``) to a ``.npz`` checkpoint.

    The file is written atomically (a temporary file renamed into place), so an
    interrupted save never leaves a half-written checkpoint at ``f``.

    >>> import numgrad as ng, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "lin.npz")
    >>> ng.save(ng.nn.Linear(2, 3).state_dict(), path)
    >>> sorted(ng.load(path))
    ['bias', 'weight']
    """
    enc = _Encoder()
    structure = {"format": FORMAT, "version": VERSION, "root": enc.encode(obj, "root")}
    payload = dict(enc.arrays)
    payload[_STRUCTURE_KEY] = np.frombuffer(json.dumps(structure).encode("utf-8"), dtype=np.uint8)
    writer = np.savez_compressed if compress else np.savez
    if hasattr(f, "write"):
        writer(f, **payload)
        return
    path = os.fspath(f)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".numgrad-save-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            writer(handle, **payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
            return self.archive[key]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            self._fail(f"array {key!r} cannot be read ({exc}); the file may be truncated or corrupted")

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict) or len(node) == 0:
            self._fail(f"unexpected structure entry {node!r}")
        if "__tensor__" in node:
            arr = self._array(node["__tensor__"])
            if arr.dtype.kind not in "biuf":
                self._fail(f"tensor array has unsupported dtype {arr.dtype}")
            if node.get("dtype") == "bfloat16":
                if arr.dtype != np.uint16:
                    self._fail(f"a bfloat16 tensor's array must hold uint16 words, not {arr.dtype}")
                arr = arr.view(_dtypes.BFLOAT16_NP)
            arr = self._on_device(arr, node.get("device", "cpu"))
            if node.get("parameter"):
                return Parameter(Tensor(arr), requires_grad=bool(node.get("requires_grad", True)))
            t = Tensor(arr)
            if node.get("requires_grad") and t.dtype.is_floating_point:
                t.requires_grad_(True)
            return t
        if "__ndarray__" in node:
            return self._array(node["__ndarray__"])
        if "__float__" in node:
            text = node["__float__"]
            if text not in ("nan", "inf", "-inf"):
                self._fail(f"bad float entry {text!r}")
            return float(text)
        if "__tuple__" in node:
            return tuple(self.decode(v) for v in node["__tuple__"])
        if "__dict__" in node:
            out = {}
            for pair in node["__dict__"]:
                if not isinstance(pair, list) or len(pair) != 2:
                    self._fail("bad dict entry")
                out[pair[0]] = self.decode(pair[1])
            return out
        self._fail(f"unknown structure entry with keys {sorted(node)}")

    def _on_device(self, arr: np.ndarray, saved: str):
        """The array on ``map_location``, or on the device it was saved from (as PyTorch does)."""
        if not isinstance(saved, str) or saved.split(":")[0] not in ("cpu", "cuda"):
            self._fail(f"bad device entry {saved!r}")
        target = self.map_location if self.map_location is not None else saved
        device = Device(target)
        if device.type == "cuda" and not is_available():
            raise RuntimeError(
                f"numgrad.load: {self.name} would load tensors on {target} (saved on {saved}), but CUDA is not "
                "available here. "
                "On a CPU-only machine use numgrad.load(..., map_location='cpu') to load them on the CPU."
            )
        return to_device(arr, as_device(device))


def load(f: PathLike, map_location=None, weights_only: bool = True) -> Any:
    """Load a checkpoint written by :func:`save`; never executes code from the file.

    Tensors load on the device they were saved from, or on ``map_location``
    (``'cpu'``, ``'cuda'``); ``weights_only`` is accepted for PyTorch
    compatibility (numgrad checkpoints hold data only).

    >>> import numgrad as ng, io
    >>> buf = io.BytesIO(); ng.save({"step": 3, "w": ng.ones(2)}, buf); _ = buf.seek(0)
    >>> ng.load(buf)["w"]
    tensor([1., 1.])
    """
    name = repr(f) if hasattr(f, "read") else repr(os.fspath(f))
    if not hasattr(f, "read") and not os.path.exists(os.fspath(f)):
        raise FileNotFoundError(f"numgrad.load: no such file: {name}")
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
        if not isinstance(structure, dict) or structure.get("format") != FORMAT:
            decoder._fail("its structure entry has the wrong format tag")
        if structure.get("version", 0) > VERSION:
            decoder._fail(f"it was written by a newer numgrad (format version {structure.get('version')})")
        return decoder.decode(structure.get("root"))
