"""Devices.  The device of a tensor decides which backend runs its kernels.

Only the CPU backend exists so far; the CUDA backend plugs in here.
"""
from __future__ import annotations


class Device:
    """Where a tensor's data lives, e.g. ``numgrad.device('cpu')``."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index=None):
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        text = str(spec)
        kind, _, idx = text.partition(":")
        if kind not in ("cpu", "cuda"):
            raise RuntimeError(
                f"Expected one of cpu, cuda device type at start of device string: {text}"
            )
        self.type = kind
        self.index = int(idx) if idx else index

    def __repr__(self):
        return f"device(type='{self.type}'" + (f", index={self.index})" if self.index is not None else ")")

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            other = Device(other)
        return isinstance(other, Device) and self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self):
        return hash((self.type, self.index or 0))


cpu = Device("cpu")


def as_device(spec) -> Device:
    if spec is None:
        return cpu
    dev = spec if isinstance(spec, Device) else Device(spec)
    if dev.type == "cuda":
        raise RuntimeError(
            "numgrad was built without CUDA support in this version: device='cuda' is not available yet. "
            "Use device='cpu'."
        )
    return dev
