"""safetensors files (a JSON header, then raw little-endian tensors), through the ``safetensors`` package.

A safetensors file holds a flat ``{name: tensor}`` dict (plus an optional
``{str: str}`` metadata dict) and nothing that could execute code.  numgrad
reads and writes it with ``safetensors.numpy``; the package is an optional
extra (``pip install 'numgrad[safetensors]'``).
"""
from __future__ import annotations

import importlib
import json
import struct
from typing import Any, Dict, Optional

import numpy as np

from ..tensor import Tensor
from ._common import native_byte_order, place_on_device

EXTRA_HINT = "pip install safetensors (or the numgrad extra: pip install 'numgrad[safetensors]')"


def _package(what: str):
    try:
        return importlib.import_module("safetensors.numpy")
    except ImportError:
        raise RuntimeError(f"numgrad: {what} a safetensors file needs the safetensors package: {EXTRA_HINT}") from None


def looks_like_safetensors(head: bytes, size: int) -> bool:
    """True when ``head`` (the file's first bytes) starts a safetensors header: a length, then a JSON object."""
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 0 < n <= size - 8 and head[8:9] == b"{"


def save(obj: Any, handle, metadata: Optional[Dict[str, str]] = None) -> None:
    """Write a flat ``{str: Tensor}`` dict to ``handle`` in the safetensors format.

    >>> import io, numgrad as ng
    >>> buf = io.BytesIO(); save({"w": ng.ones(2)}, buf); len(buf.getvalue()) > 8
    True
    """
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise TypeError(f"numgrad.save: format='safetensors' stores a dict of str -> tensor, got "
                        f"{type(obj).__name__}")
    arrays = {}
    for key, value in obj.items():
        if isinstance(value, Tensor):
            value = value._host()
        if not isinstance(value, np.ndarray):
            raise TypeError(f"numgrad.save: format='safetensors' stores only tensors; {key!r} is a "
                            f"{type(value).__name__}")
        arrays[key] = np.ascontiguousarray(native_byte_order(value))
    if metadata is not None and not (isinstance(metadata, dict) and
                                     all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise TypeError("numgrad.save: safetensors metadata must be a dict of str -> str")
    handle.write(_package("writing").save(arrays, metadata=metadata))


def load(data: bytes, name: str, map_location=None) -> Dict[str, Tensor]:
    """The tensors of a safetensors file (its bytes), on ``map_location`` (default: the CPU)."""
    package = _package("reading")
    try:
        arrays = package.load(data)
    except Exception as exc:  # noqa: BLE001 - the package raises its own (Rust) error types
        raise RuntimeError(f"numgrad.load: {name} is not a valid safetensors file: {exc}") from None
    try:
        header = json.loads(data[8:8 + struct.unpack("<Q", data[:8])[0]])
    except ValueError:
        header = {}
    order = [k for k in header if k != "__metadata__"] if isinstance(header, dict) else []
    keys = [k for k in order if k in arrays] + [k for k in arrays if k not in order]
    out = {}
    for key in keys:
        arr = native_byte_order(arrays[key])
        if arr.dtype.kind not in "biuf":
            raise RuntimeError(f"numgrad.load: {name}: tensor {key!r} has dtype {arr.dtype}, which numgrad lacks")
        out[key] = Tensor(place_on_device(np.array(arr), "cpu", map_location, name))
    return out
