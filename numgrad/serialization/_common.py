"""What every checkpoint format shares: device placement, byte order, names in error messages."""
from __future__ import annotations

import os
import re

import numpy as np

from ..device import Device, as_device
from ..kernels.backend import to_device
from ..kernels.cuda import is_available

# Deeper containers than this are refused on save and on load (a hostile file
# could otherwise exhaust the interpreter's stack).
MAX_DEPTH = 200

_DEVICE_RE = re.compile(r"(cpu|cuda)(:[0-9]{1,4})?")


def source_name(f) -> str:
    """How error messages name a checkpoint: its path, or the file object."""
    return repr(f) if hasattr(f, "read") or hasattr(f, "write") else repr(os.fspath(f))


def native_byte_order(arr: np.ndarray) -> np.ndarray:
    """``arr`` in the machine's byte order (a big-endian array would fail in the first kernel that reads it)."""
    if arr.dtype.byteorder not in ("=", "|") and not arr.dtype.isnative:
        return arr.astype(arr.dtype.newbyteorder("="))
    return arr


def parse_device(text, what: str = "device") -> Device:
    """A ``Device`` from a location string stored in a checkpoint; ValueError naming it when malformed."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    if not isinstance(text, str) or _DEVICE_RE.fullmatch(text) is None:
        shown = repr(text) if len(repr(text)) < 60 else repr(text)[:60] + "..."
        raise ValueError(f"bad {what} {shown} (expected 'cpu', 'cuda' or 'cuda:<index>')")
    return Device(text)


def target_device(saved, map_location, name: str) -> Device:
    """Where a tensor saved on ``saved`` loads: ``map_location`` (a device, a string or a dict as in
    ``torch.load``), else where it was saved."""
    saved_device = parse_device(saved, "device entry")
    target = map_location
    if isinstance(map_location, dict):
        target = map_location.get(str(saved_device), map_location.get(str(saved), str(saved_device)))
    elif callable(map_location) and not isinstance(map_location, Device):
        raise TypeError("numgrad.load: map_location as a function is not supported; pass a device, a device "
                        "string, or a dict {saved location: target location}")
    if target is None:
        target = saved_device
    try:
        device = Device(target) if isinstance(target, Device) else parse_device(str(target), "map_location")
    except ValueError as exc:  # the caller's argument, not the file: PyTorch's error type for a bad device
        raise RuntimeError(f"numgrad.load: {exc}") from None
    if device.type == "cuda" and not is_available():
        raise RuntimeError(
            f"numgrad.load: {name} would load tensors on {device} (saved on {saved_device}), but CUDA is not "
            "available here. "
            "On a CPU-only machine use numgrad.load(..., map_location='cpu') to load them on the CPU."
        )
    return device


def place_on_device(arr: np.ndarray, saved, map_location, name: str):
    """``arr`` (host memory) on the device it loads to (see ``target_device``)."""
    return to_device(arr, as_device(target_device(saved, map_location, name)))
