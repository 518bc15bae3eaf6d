"""``ng.save`` / ``ng.load``: checkpoints that never execute code on load (unless asked to).

Formats (``load`` recognises each from the file's content):

* numgrad's own ``.npz`` (``native``): arrays plus a JSON structure;
* PyTorch's ``.pt``/``.pth`` (``torch_format``): a zip of a pickle and raw
  storages, or the legacy non-zip pickle stream; read by a restricted
  unpickler with PyTorch's ``weights_only`` rules and no torch needed;
* safetensors (``safetensors_format``), through the ``safetensors`` package.
"""
from __future__ import annotations

import os
from typing import Any, Optional

from . import native
from ._common import source_name
from .native import PathLike


def save(obj: Any, f: PathLike, compress: bool = True, format: Optional[str] = None) -> None:
    """Save tensors and nested containers (e.g. a ``state_dict``) to ``f``.

    >>> import numgrad as ng, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "lin.npz")
    >>> ng.save(ng.nn.Linear(2, 3).state_dict(), path)
    >>> sorted(ng.load(path))
    ['bias', 'weight']
    """
    native.save(obj, f, compress=compress)


def load(f: PathLike, map_location=None, weights_only: bool = True) -> Any:
    """Load a checkpoint written by :func:`save`; never executes code from the file.

    >>> import numgrad as ng, io
    >>> buf = io.BytesIO(); ng.save({"step": 3, "w": ng.ones(2)}, buf); _ = buf.seek(0)
    >>> ng.load(buf)["w"]
    tensor([1., 1.])
    """
    if not hasattr(f, "read") and not os.path.exists(os.fspath(f)):
        raise FileNotFoundError(f"numgrad.load: no such file: {source_name(f)}")
    return native.load(f, map_location=map_location)
