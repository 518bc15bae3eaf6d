"""PyTorch-style ``repr`` of tensors (the algorithm of torch/_tensor_str.py)."""
from __future__ import annotations

import math

import numpy as np
from ._dtypes import bool_, get_default_dtype, int64



class _PrintOptions:
    """``numgrad.set_printoptions``' state (PyTorch's ``PRINT_OPTS``): read at every ``repr``."""

    precision = 4
    threshold = 1000
    edgeitems = 3
    linewidth = 80
    sci_mode = None  # None: chosen from the values; True/False: forced


PRINT_OPTS = _PrintOptions()
_PROFILES = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80), "full": (4, math.inf, 3, 80)}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None,
                     sci_mode=None) -> None:
    """How tensors print, as ``torch.set_printoptions``: ``precision`` (digits after the point), ``threshold``
    (more elements than this are summarized), ``edgeitems`` (items shown at each end when summarized),
    ``linewidth`` (characters per line), ``profile`` (``"default"``, ``"short"`` or ``"full"``: sets the four
    first) and ``sci_mode`` (True/False forces scientific notation on/off, None chooses).

    >>> import numgrad as ng
    >>> ng.set_printoptions(precision=2); r = repr(ng.tensor([1.23456])); ng.set_printoptions(profile="default")
    >>> r
    'tensor([1.23])'
    """
    if profile in _PROFILES:  # another name changes nothing, as in PyTorch
        (PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems, PRINT_OPTS.linewidth) = _PROFILES[profile]
    if precision is not None:
        PRINT_OPTS.precision = int(precision)
    if threshold is not None:
        PRINT_OPTS.threshold = threshold
    if edgeitems is not None:
        PRINT_OPTS.edgeitems = int(edgeitems)
    if linewidth is not None:
        PRINT_OPTS.linewidth = int(linewidth)
    PRINT_OPTS.sci_mode = None if sci_mode is None else bool(sci_mode)


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
            if PRINT_OPTS.sci_mode is not None:
                sci = PRINT_OPTS.sci_mode
            if sci:
                self.fmt = "{:.%de}" % PRINT_OPTS.precision
            elif self.int_mode:
                self.fmt = "{:.0f}."
            else:
                self.fmt = "{:.%df}" % PRINT_OPTS.precision
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
    edge = PRINT_OPTS.edgeitems
    if arr.shape[0] > 2 * edge:
        parts = [_shown(arr[i], summarize) for i in list(range(edge)) + list(range(-edge, 0))]
    else:
        parts = [_shown(arr[i], summarize) for i in range(arr.shape[0])]
    return np.concatenate(parts) if parts else arr.reshape(-1)


def _vector(arr, indent, summarize, fmt) -> str:
    element_length = fmt.width + 2
    per_line = max(1, int(math.floor((PRINT_OPTS.linewidth - indent) / element_length)))
    edge = PRINT_OPTS.edgeitems
    if summarize and arr.shape[0] > 2 * edge:
        data = ([fmt.format(v) for v in arr[:edge].tolist()] + [" ..."]
                + [fmt.format(v) for v in arr[-edge:].tolist()])
    else:
        data = [fmt.format(v) for v in arr.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _body(arr, indent, summarize, fmt) -> str:
    if arr.ndim == 0:
        return fmt.format(arr.item())
    if arr.ndim == 1:
        return _vector(arr, indent, summarize, fmt)
    edge = PRINT_OPTS.edgeitems
    if summarize and arr.shape[0] > 2 * edge:
        slices = ([_body(arr[i], indent + 1, summarize, fmt) for i in range(edge)] + ["..."]
                  + [_body(arr[i], indent + 1, summarize, fmt) for i in range(arr.shape[0] - edge, arr.shape[0])])
    else:
        slices = [_body(arr[i], indent + 1, summarize, fmt) for i in range(arr.shape[0])]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def format_tensor(t) -> str:
    arr = t._host_values()
    prefix = "tensor("
    if arr.size == 0:
        body = "[]" if arr.ndim == 1 else f"[], size={tuple(arr.shape)}"
    else:
        summarize = arr.size > PRINT_OPTS.threshold
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
