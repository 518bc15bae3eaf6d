"""PyTorch-style ``repr`` of tensors."""
from __future__ import annotations

import numpy as np

_DEFAULT_DTYPES = ("float32", "int64", "bool")


def _float_formatter(arr: np.ndarray):
    finite = arr[np.isfinite(arr)] if arr.size else arr
    if finite.size == 0:
        return lambda v: _special(v) or f"{v:.4f}"
    absmax = float(np.max(np.abs(finite))) if finite.size else 0.0
    nonzero = np.abs(finite[finite != 0])
    absmin = float(np.min(nonzero)) if nonzero.size else 0.0
    ints = bool(np.all(finite == np.round(finite)))
    if ints and absmax < 1e8:
        return lambda v: _special(v) or f"{v:.0f}."
    if absmax >= 1e8 or (absmin and absmin < 1e-4) or (absmin and absmax / absmin > 1e3 and absmax > 1e3):
        return lambda v: _special(v) or f"{v:.4e}"
    return lambda v: _special(v) or f"{v:.4f}"


def _special(v):
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def format_tensor(t) -> str:
    arr = t._data
    if arr.dtype.kind == "f":
        fmt = _float_formatter(arr)
        formatter = {"float_kind": fmt}
    else:
        formatter = None
    prefix = "tensor("
    if arr.size == 0:
        body = "[]" if arr.ndim == 1 else f"[], size={tuple(arr.shape)}"
    else:
        body = np.array2string(
            arr, separator=", ", prefix=prefix, formatter=formatter, threshold=1000, edgeitems=3,
            max_line_width=80,
        )
        if arr.dtype == np.bool_:
            body = body.replace("True", "True").replace("False", "False")
    extras = []
    if t.dtype.name not in _DEFAULT_DTYPES and not (t.dtype.name == "float64" and False):
        extras.append(f"dtype={t.dtype!r}")
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return prefix + body + "".join(", " + e for e in extras) + ")"
