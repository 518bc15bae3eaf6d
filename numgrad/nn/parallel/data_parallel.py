"""``DataParallel``: PyTorch's single-process multi-GPU wrapper, on the one device numgrad uses.

PyTorch splits each batch over ``device_ids`` and runs a replica of the module on each GPU.  numgrad runs
on one device (the CPU, or ``cuda:0``), where PyTorch's ``DataParallel`` also just calls the module: with
CUDA it moves the inputs to ``cuda:0`` first; without CUDA it calls the module as it is.  The wrapped module
is ``.module``, and ``state_dict`` keys carry the ``module.`` prefix, so checkpoints match PyTorch's.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from ... import cuda
from ...device import Device
from ...tensor import Tensor
from ..modules.module import Module

__all__ = ["DataParallel"]


def _as_index(device) -> int:
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    dev = Device(device)
    if dev.type != "cuda":
        raise ValueError(f"DataParallel: expected CUDA device ids, got {dev}")
    return dev.index or 0


def _to_device(obj: Any, device: str) -> Any:
    """``obj`` with every tensor in it (through tuples, lists and dicts) moved to ``device``."""
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_to_device(o, device) for o in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj


class DataParallel(Module):
    """Wraps ``module``; calling it calls ``module`` (on ``cuda:0`` when CUDA is available, as PyTorch's does
    with one GPU).  ``device_ids`` may only name GPU 0: numgrad uses one GPU.

    >>> import numgrad as ng
    >>> inner = ng.nn.Linear(3, 2)
    >>> net = DataParallel(inner)
    >>> net.module is inner, net(ng.ones(4, 3)).shape
    (True, (4, 2))
    """

    def __init__(self, module: Module, device_ids: Optional[Sequence] = None, output_device=None, dim: int = 0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel expects an nn.Module, got {type(module).__name__}")
        self.module = module
        self.dim = dim
        if not cuda.is_available():
            self.device_ids = []
            self.output_device = None
            self.src_device_obj = Device("cpu")
            return
        ids = [0] if device_ids is None else [_as_index(d) for d in device_ids]
        if any(i != 0 for i in ids):
            raise RuntimeError(f"DataParallel: numgrad uses one GPU (cuda:0); got device_ids={list(device_ids)}")
        self.device_ids = ids[:1]
        self.output_device = _as_index(output_device) if output_device is not None else self.device_ids[0]
        if self.output_device != 0:
            raise RuntimeError(f"DataParallel: numgrad uses one GPU (cuda:0); got output_device={output_device}")
        self.src_device_obj = Device("cuda", 0)

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        for t in list(self.module.parameters()) + list(self.module.buffers()):
            if t.device != self.src_device_obj:
                raise RuntimeError(f"module must have its parameters and buffers on device {self.src_device_obj} "
                                   f"(device_ids[0]) but found one of them on device: {t.device}")
        return self.module(*_to_device(inputs, "cuda"), **_to_device(kwargs, "cuda"))
