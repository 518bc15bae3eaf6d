"""``ng.save`` / ``ng.load``: checkpoints in numgrad's, PyTorch's or the safetensors format.

``load`` recognises the format from the file's content:

* numgrad's own ``.npz`` (``native``): arrays plus a JSON structure;
* PyTorch's ``.pt``/``.pth`` (``torch_format``): a zip of a pickle and raw
  storages, or the legacy non-zip stream; read with PyTorch's
  ``weights_only`` rules by an unpickler that never executes code
  (``unpickler``), with no torch installed;
* safetensors (``safetensors_format``), through the ``safetensors`` package.

None of them executes code from the file unless ``weights_only=False`` is
passed for a PyTorch file, exactly as in PyTorch 2.6+.
"""
from __future__ import annotations

import io
import os
import zipfile
from typing import Any, Dict, Optional

from ..nn.modules.module import Module
from . import native, safetensors_format, torch_format
from ._common import source_name
from .native import PathLike, atomic_write

FORMATS = ("numgrad", "torch", "safetensors")
_TORCH_SUFFIXES = (".pt", ".pth", ".ckpt")


def _choose_format(obj, f, format: Optional[str]) -> str:
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"numgrad.save: unknown format {format!r}; expected one of {', '.join(FORMATS)}")
        return format
    if not hasattr(f, "write"):
        suffix = os.path.splitext(os.fspath(f))[1].lower()
        if suffix == ".safetensors":
            return "safetensors"
        if suffix in _TORCH_SUFFIXES:
            return "torch"
    blocker = native.first_unencodable(obj)
    if blocker is None:
        return "numgrad"
    if isinstance(blocker, Module):
        return "torch"  # torch.save(model): the whole module, pickled
    native.save(obj, io.BytesIO())  # raises the error naming what cannot be stored
    raise AssertionError("unreachable")


def save(obj: Any, f: PathLike, compress: bool = True, format: Optional[str] = None,
         metadata: Optional[Dict[str, str]] = None) -> None:
    """Save ``obj`` to ``f`` (a path or a binary file object), written atomically to a path.

    ``format``:

    * ``"numgrad"``: a ``.npz`` of tensors, arrays, numbers, strings, None and
      dicts/lists/tuples of those (``compress`` applies);
    * ``"torch"``: PyTorch's zip format, as ``torch.save`` writes it:
      ``torch.load(f)`` (``weights_only=True``) reads tensors and containers;
      any other object (a whole ``nn.Module``) is pickled by reference to its
      class and loads only with ``weights_only=False``, as in PyTorch 2.6+;
    * ``"safetensors"``: a flat ``{str: tensor}`` dict, with optional
      ``metadata`` (``{str: str}``); needs the ``safetensors`` package.

    By default the path's suffix decides (``.pt``/``.pth``/``.ckpt``: torch,
    ``.safetensors``), else ``"numgrad"``, or ``"torch"`` when ``obj`` holds
    an ``nn.Module`` (as ``torch.save(model)`` pickles the whole module).

    >>> import numgrad as ng, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "lin.pt")
    >>> ng.save(ng.nn.Linear(2, 3).state_dict(), path)
    >>> sorted(ng.load(path))
    ['bias', 'weight']
    """
    fmt = _choose_format(obj, f, format)
    if metadata is not None and fmt != "safetensors":
        raise ValueError("numgrad.save: metadata= is for format='safetensors'")
    if fmt == "numgrad":
        native.save(obj, f, compress=compress)
    elif fmt == "torch":
        atomic_write(f, lambda handle: torch_format.save(obj, handle))
    else:
        atomic_write(f, lambda handle: safetensors_format.save(obj, handle, metadata))


def load(f: PathLike, map_location=None, weights_only: bool = True) -> Any:
    """Load a checkpoint saved by numgrad, by ``torch.save``, or in the safetensors format.

    Tensors load on the device they were saved from, or on ``map_location``
    (``'cpu'``, ``'cuda'``, a ``numgrad.device``, or a dict ``{saved: target}``
    as in ``torch.load``).  With ``weights_only=True`` (the default) nothing in
    the file can execute code: a PyTorch pickle may name only tensors,
    storages, dtypes, devices, sizes and plain containers; pass
    ``weights_only=False`` only for a file from a trusted source (e.g. a whole
    module saved with ``ng.save(model)``).  numgrad and safetensors files hold
    data only.

    >>> import numgrad as ng, io
    >>> buf = io.BytesIO(); ng.save({"step": 3, "w": ng.ones(2)}, buf); _ = buf.seek(0)
    >>> ng.load(buf)["w"]
    tensor([1., 1.])
    """
    name = source_name(f)
    if hasattr(f, "read"):
        data = f.read()
    else:
        path = os.fspath(f)
        if not os.path.exists(path):
            raise FileNotFoundError(f"numgrad.load: no such file: {name}")
        with open(path, "rb") as handle:
            data = handle.read()
    if not isinstance(data, bytes):
        raise TypeError(f"numgrad.load: {name} must be opened in binary mode ('rb')")
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            names = archive.namelist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise RuntimeError(f"numgrad.load: {name} is not a valid numgrad checkpoint or PyTorch checkpoint: "
                               f"a damaged zip archive ({exc}); the file may be truncated or corrupted") from None
        if torch_format.is_torch_zip(names) and not native.is_native(names):
            with archive:
                try:
                    return torch_format.load_zip(archive, name, map_location, weights_only)
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    raise RuntimeError(f"numgrad.load: {name} is a damaged PyTorch checkpoint ({exc})") from None
        return native.load(io.BytesIO(data), map_location=map_location)
    if data[:2] == b"\x80\x02":
        return torch_format.load_legacy(data, name, map_location, weights_only)
    if safetensors_format.looks_like_safetensors(data[:16], len(data)):
        return safetensors_format.load(data, name, map_location)
    if len(data) > 262 and data[257:262] == b"ustar":
        raise RuntimeError(f"numgrad.load: {name} is a PyTorch checkpoint in the tar format of PyTorch < 0.4, "
                           "which numgrad does not read; load and save it again with a recent PyTorch")
    raise RuntimeError(
        f"numgrad.load: {name} is not a valid numgrad checkpoint, PyTorch checkpoint (.pt/.pth) or safetensors "
        "file; it may be truncated, corrupted, or of another format"
    )
