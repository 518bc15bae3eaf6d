"""PyTorch-style ``repr`` of tensors (the algorithm of torch/_tensor_str.py)."""
from __future__ import annotations

import math

import numpy as np
from ._dtypes import bool_, get_default_dtype, int64

LINEWIDTH = 80
EDGEITEMS = 3
THRESHOLD = 1000


class _Formatter:
    """Chooses one number format for all shown values and pads them to one width."""

    def __init__(self, values: np.ndarray):
        self.kind = values.dtype.kind
        self.fmt = "{}"
        self.int_mode = False
        if self.kind == "f":
            finite = values[np.isfinite(values)]
            nonzero = np.abs(finite[finite != 0]).astype(np.float64)
            self.int_mode = bool(np.all(finite == np.ceil(finite))) if finite.size else True
            if nonzero.size:
                lo, hi = float(nonzero.min()), float(nonzero.max())
                sci = hi / lo > 1000.0 or hi > 1.0e8 or (not self.int_mode and lo < 1.0e-4)
            else:
                sci = False
            if sci:
                self.fmt = "{:.4e}"
            elif self.int_mode:
                self.fmt = "{:.0f}."
            else:
                self.fmt = "{:.4f}"
        if self.kind == "f":
            # like PyTorch, only non-zero finite values set the width
            flat = values.reshape(-1)
            sized = flat[np.isfinite(flat) & (flat != 0)]
        else:
            sized = values.reshape(-1)
        self.width = max((len(self._raw(v)) for v in sized.tolist()), default=1)

    def _raw(self, value) -> str:
        if self.kind == "f":
            if math.isnan(value) or math.isinf(value):
                return str(value)
            return self.fmt.format(value)
        return str(value)

    def format(self, value) -> str:
        text = self._raw(value)
        return " " * (self.width - len(text)) + text


def _shown(arr: np.ndarray, summarize: bool) -> np.ndarray:
    """The values that will be printed (edges only when summarizing)."""
    if not summarize or arr.ndim == 0:
        return arr.reshape(-1)
    if arr.shape[0] > 2 * EDGEITEMS:
        parts = [_shown(arr[i], summarize) for i in list(range(EDGEITEMS)) + list(range(-EDGEITEMS, 0))]
    else:
        parts = [_shown(arr[i], summarize) for i in range(arr.shape[0])]
    return np.concatenate(parts) if parts else arr.reshape(-1)


def _vector(arr, indent, summarize, fmt) -> str:
    element_length = fmt.width + 2
    per_line = max(1, int(math.floor((LINEWIDTH - indent) / element_length)))
    if summarize and arr.shape[0] > 2 * EDGEITEMS:
        data = ([fmt.format(v) for v in arr[:EDGEITEMS].tolist()] + [" ..."]
                + [fmt.format(v) for v in arr[-EDGEITEMS:].tolist()])
    else:
        data = [fmt.format(v) for v in arr.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _body(arr, indent, summarize, fmt) -> str:
    if arr.ndim == 0:
        return fmt.format(arr.item())
    if arr.ndim == 1:
        return _vector(arr, indent, summarize, fmt)
    if summarize and arr.shape[0] > 2 * EDGEITEMS:
        slices = ([_body(arr[i], indent + 1, summarize, fmt) for i in range(EDGEITEMS)] + ["..."]
                  + [_body(arr[i], indent + 1, summarize, fmt) for i in range(arr.shape[0] - EDGEITEMS, arr.shape[0])])
    else:
        slices = [_body(arr[i], indent + 1, summarize, fmt) for i in range(arr.shape[0])]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def format_tensor(t) -> str:
    arr = t._host_values()
    prefix = "tensor("
    if arr.size == 0:
        body = "[]" if arr.ndim == 1 else f"[], size={tuple(arr.shape)}"
    else:
        summarize = arr.size > THRESHOLD
        fmt = _Formatter(_shown(arr, summarize))
        body = _body(arr, len(prefix), summarize, fmt)
    extras = []
    if t.dtype not in (get_default_dtype(), _int64(), _bool()):
        extras.append(f"dtype={t.dtype!r}")
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return prefix + body + "".join(", " + e for e in extras) + ")"


def _int64():
    return int64


def _bool():
    return bool_
