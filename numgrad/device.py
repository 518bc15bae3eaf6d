"""Devices.  Where a tensor's data lives decides which kernels run on it
(``numgrad.kernels.backend``); this module names devices and checks that one
can be used.
"""
from __future__ import annotations

import threading


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

    def __reduce__(self):
        # copies (copy.deepcopy of a module) and unpickled devices are the canonical objects below: the ops
        # compare a tensor's device by identity, so a fresh Device('cpu') would read as a second device
        return (_canonical, (self.type, self.index))


cpu = Device("cpu")
cuda0 = Device("cuda", 0)


def _canonical(kind: str, index) -> Device:
    """The module's own ``cpu`` / ``cuda0`` object for that device (others: a new ``Device``)."""
    if kind == "cpu":
        return cpu
    if kind == "cuda" and (index or 0) == 0:
        return cuda0
    return Device(kind, index)


def devices_differ(first, second, detail: str) -> RuntimeError:
    """PyTorch's error for an op given tensors on two devices; ``detail`` names the op, the tensors and the fix."""
    return RuntimeError(
        f"Expected all tensors to be on the same device, but found at least two devices, {first} and {second}! "
        f"({detail})"
    )


# Whether a device type can run is known to its kernels, which sit above this module: each backend
# registers a check that raises a clear error (numgrad.kernels.cuda registers "cuda" at import).
_usable_checks: dict = {}


def register_usable_check(device_type: str, check) -> None:
    """``check()`` raises when ``device_type`` cannot run kernels here (called by the kernel backends)."""
    _usable_checks[device_type] = check


def as_device(spec) -> Device:
    """A ``Device`` from a spec (``'cpu'``, ``'cuda'``, ``'cuda:0'``, a Device or None = CPU), checked for use."""
    if spec is None:
        return cpu
    dev = spec if isinstance(spec, Device) else Device(spec)
    if dev.type == "cuda":
        _usable_checks["cuda"]()  # a clear error when there is no GPU (or simulator) to run on
        if (dev.index or 0) != 0:
            raise RuntimeError(
                f"CUDA error: invalid device ordinal (numgrad uses one GPU, cuda:0; got {dev})"
            )
        return cuda0
    return dev


# the device of tensors made by factory functions given no ``device`` (per thread, as in PyTorch)
class _DefaultDevice(threading.local):
    device = cpu  # (a class attribute: read without a caught AttributeError in threads that never set one)


_default = _DefaultDevice()


def get_default_device() -> Device:
    """The device factory functions (``zeros``, ``randn``, ``arange``, ...) use when given no ``device``.

    >>> import numgrad as ng
    >>> ng.get_default_device()
    device(type='cpu')
    """
    return _default.device


def set_default_device(device) -> None:
    """Make factory functions given no ``device`` create tensors on ``device`` (None: back to the CPU), in
    this thread, as ``torch.set_default_device`` does. Tensors from data (``from_numpy``, a tensor's own
    device in ``tensor(t)``) keep theirs.

    >>> import numgrad as ng
    >>> ng.set_default_device("cpu"); ng.zeros(2).device
    device(type='cpu')
    """
    _default.device = cpu if device is None else as_device(device)
