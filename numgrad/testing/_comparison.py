"""``assert_close``: PyTorch's ``torch.testing.assert_close`` rules and messages, for numgrad tensors.

Tensors (and NumPy arrays, compared with each other) must match in shape, and by default in dtype and
device, and be close elementwise: ``|actual - expected| <= atol + rtol * |expected|``, with default
tolerances from the dtype (float32: rtol 1.3e-6, atol 1e-5; float64: 1e-7, 1e-7; float16: 1e-3, 1e-5;
bfloat16: 1.6e-2, 1e-5; integers and bool: exact).  Python numbers compare as float64/int64 scalars;
sequences and mappings are compared item by item.  A failure lists how many elements mismatch and the
greatest absolute and relative differences with their index.
"""
from __future__ import annotations

import collections.abc
import math
from typing import Any, Callable, Optional, Tuple, Union

import numpy as np

from .. import _dtypes
from ..tensor import Tensor

__all__ = ["assert_close"]

_PRECISIONS = {"float16": (0.001, 1e-5), "bfloat16": (0.016, 1e-5), "float32": (1.3e-6, 1e-5),
               "float64": (1e-7, 1e-7)}


class _Failure(Exception):
    """A mismatch found at some depth; ``path`` is where (``[0]['a']``)."""

    def __init__(self, exc_type, text: str, path: str = ""):
        super().__init__(text)
        self.exc_type, self.text, self.path = exc_type, text, path


def _tolerances(*dtypes, rtol, atol) -> Tuple[float, float]:
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no "
                         f"{'rtol' if rtol is None else 'atol'}.")
    if rtol is not None:
        return rtol, atol
    pairs = [_PRECISIONS.get(d.name, (0.0, 0.0)) for d in dtypes]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _is_number(x) -> bool:
    return isinstance(x, (bool, int, float, np.bool_, np.integer, np.floating)) and not isinstance(x, np.ndarray)


def _is_tensor_like(x) -> bool:
    return isinstance(x, (Tensor, np.ndarray))


def _host(t, dtype: _dtypes.DType) -> np.ndarray:
    """The values of tensor (or array) ``t`` as a NumPy array of ``dtype`` (16-bit floats read as float32)."""
    if isinstance(t, np.ndarray):
        return t.astype(dtype.np)
    t = t.detach()
    if t.dtype is not dtype:
        t = t.to(dtype)
    return np.array(t.cpu().numpy())


def _fmt(v) -> str:
    return repr(v.item() if hasattr(v, "item") else v)


def _scalar_message(actual, expected, rtol: float, atol: float) -> str:
    equality = rtol == 0 and atol == 0
    diff = abs(actual - expected)
    rel = diff / abs(expected) if expected != 0 else (math.inf if diff != 0 else 0.0)
    text = (f"Scalars are not {'equal' if equality else 'close'}!\n\nExpected {_fmt(expected)} but got "
            f"{_fmt(actual)}.\nAbsolute difference: {_fmt(diff)}")
    if not equality:
        text += f" (up to {atol} allowed)"
    text += f"\nRelative difference: {_fmt(rel)}"
    if not equality:
        text += f" (up to {rtol} allowed)"
    return text


def _compare_numbers(actual, expected, rtol, atol, equal_nan: bool, check_dtype: bool) -> None:
    def kind(x):
        return _dtypes.bool_ if isinstance(x, (bool, np.bool_)) else \
            _dtypes.int64 if isinstance(x, (int, np.integer)) else _dtypes.float64
    ka, ke = kind(actual), kind(expected)
    if check_dtype and ka is not ke:
        raise _Failure(AssertionError, f"The values for attribute 'dtype' do not match: {type(actual)} != "
                                       f"{type(expected)}.")
    rtol, atol = _tolerances(ka, ke, rtol=rtol, atol=atol)
    a, e = actual, expected
    if isinstance(a, (float, np.floating)) or isinstance(e, (float, np.floating)):
        a, e = float(a), float(e)
        if math.isnan(a) or math.isnan(e):
            if equal_nan and math.isnan(a) and math.isnan(e):
                return
        elif a == e or abs(a - e) <= atol + rtol * abs(e):
            return
    elif int(a) == int(e) or abs(int(a) - int(e)) <= atol + rtol * abs(int(e)):
        return
    raise _Failure(AssertionError, _scalar_message(a, e, rtol, atol))


def _compare_tensors(actual, expected, rtol, atol, equal_nan: bool, check_device: bool, check_dtype: bool,
                     check_stride: bool) -> None:
    a_dt = _dtypes.from_numpy_dtype(actual.dtype) if isinstance(actual, np.ndarray) else actual.dtype
    e_dt = _dtypes.from_numpy_dtype(expected.dtype) if isinstance(expected, np.ndarray) else expected.dtype
    if tuple(actual.shape) != tuple(expected.shape):
        raise _Failure(AssertionError, f"The values for attribute 'shape' do not match: {tuple(actual.shape)} != "
                                       f"{tuple(expected.shape)}.")
    if check_device and isinstance(actual, Tensor) and actual.device != expected.device:
        raise _Failure(AssertionError, f"The values for attribute 'device' do not match: {actual.device} != "
                                       f"{expected.device}.")
    if check_dtype and a_dt is not e_dt:
        raise _Failure(AssertionError, f"The values for attribute 'dtype' do not match: {a_dt} != {e_dt}.")
    if check_stride and isinstance(actual, Tensor) and actual.stride() != expected.stride():
        raise _Failure(AssertionError, f"The values for attribute 'stride()' do not match: {actual.stride()} != "
                                       f"{expected.stride()}.")
    rtol, atol = _tolerances(a_dt, e_dt, rtol=rtol, atol=atol)
    common = a_dt if a_dt is e_dt else _dtypes.promote_pair(a_dt, e_dt)
    if common.name in ("float16", "bfloat16"):
        common = _dtypes.float32  # differences of 16-bit floats are computed in float32
    if common is _dtypes.bool_:
        common = _dtypes.int64  # bools are compared as 0/1, as PyTorch does
    a, e = _host(actual, common), _host(expected, common)
    with np.errstate(invalid="ignore", over="ignore"):
        close = (a == e) | (np.abs(a - e) <= atol + rtol * np.abs(e))
        if common.is_floating_point and equal_nan:
            close |= np.isnan(a) & np.isnan(e)
    if close.all():
        return
    if a.ndim == 0:
        raise _Failure(AssertionError, _scalar_message(a.item(), e.item(), rtol, atol))
    raise _Failure(AssertionError, _tensor_message(a, e, close, rtol, atol))


def _tensor_message(a: np.ndarray, e: np.ndarray, close: np.ndarray, rtol: float, atol: float) -> str:
    equality = rtol == 0 and atol == 0
    total, bad = a.size, int((~close).sum())
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if a.dtype.kind == "f":
            abs_diff = np.abs(a - e)
            rel_diff = abs_diff / np.abs(e)
        else:  # integers: an integer difference, and a relative one in the default float dtype (as PyTorch)
            abs_diff = np.abs(a.astype(np.int64) - e.astype(np.int64))
            rel_diff = (abs_diff / np.abs(e)).astype(_dtypes.get_default_dtype().np)
    abs_diff = np.where(close, 0, abs_diff)
    rel_diff = np.where(close, 0, rel_diff)

    def greatest(diff):
        # NaN counts as the greatest difference (PyTorch's argmax does the same)
        flat = diff.reshape(-1)
        nan = np.flatnonzero(np.isnan(flat)) if flat.dtype.kind == "f" else []
        i = int(nan[0]) if len(nan) else int(np.argmax(flat))
        return flat[i].item(), tuple(int(j) for j in np.unravel_index(i, diff.shape))

    max_abs, abs_at = greatest(abs_diff)
    max_rel, rel_at = greatest(rel_diff)
    lines = [f"Tensor-likes are not {'equal' if equality else 'close'}!", "",
             f"Mismatched elements: {bad} / {total} ({bad / total:.1%})",
             f"Greatest absolute difference: {max_abs!r} at index {abs_at}"
             + ("" if equality else f" (up to {atol} allowed)"),
             f"Greatest relative difference: {max_rel!r} at index {rel_at}"
             + ("" if equality else f" (up to {rtol} allowed)")]
    return "\n".join(lines)


def _compare(actual, expected, path: str, options: dict) -> None:
    if _is_tensor_like(actual) and _is_tensor_like(expected) and \
            (isinstance(actual, Tensor) == isinstance(expected, Tensor)):
        _compare_tensors(actual, expected, **options)
        return
    if _is_number(actual) and _is_number(expected):
        _compare_numbers(actual, expected, options["rtol"], options["atol"], options["equal_nan"],
                         options["check_dtype"])
        return
    if isinstance(actual, str) or isinstance(expected, str):
        pass
    elif isinstance(actual, collections.abc.Sequence) and isinstance(expected, collections.abc.Sequence):
        if len(actual) != len(expected):
            raise _Failure(AssertionError, f"The length of the sequences mismatch: {len(actual)} != {len(expected)}",
                           path)
        for i, (a, e) in enumerate(zip(actual, expected)):
            _descend(a, e, f"{path}[{i}]", options)
        return
    elif isinstance(actual, collections.abc.Mapping) and isinstance(expected, collections.abc.Mapping):
        ka, ke = set(actual.keys()), set(expected.keys())
        if ka != ke:
            missing, extra = sorted(map(repr, ke - ka)), sorted(map(repr, ka - ke))
            raise _Failure(AssertionError, f"The keys of the mappings do not match:\nMissing keys in the actual "
                                           f"mapping: {missing}\nExtra keys in the actual mapping: {extra}", path)
        for k in expected.keys():
            _descend(actual[k], expected[k], f"{path}[{k!r}]", options)
        return
    raise _Failure(TypeError, f"No comparison pair was able to handle inputs of type {type(actual)} and "
                              f"{type(expected)}.", path)


def _descend(actual, expected, path: str, options: dict) -> None:
    try:
        _compare(actual, expected, path, options)
    except _Failure as failure:
        if not failure.path:
            failure.path = path
        raise


def assert_close(actual: Any, expected: Any, *, allow_subclasses: bool = True, rtol: Optional[float] = None,
                 atol: Optional[float] = None, equal_nan: bool = False, check_device: bool = True,
                 check_dtype: bool = True, check_layout: bool = True, check_stride: bool = False,
                 msg: Optional[Union[str, Callable[[str], str]]] = None) -> None:
    """Raise ``AssertionError`` unless ``actual`` and ``expected`` are close (PyTorch's rules and messages).

    >>> import numgrad as ng
    >>> assert_close(ng.tensor([1.0, 2.0]), ng.tensor([1.0, 2.5]))
    Traceback (most recent call last):
    ...
    AssertionError: Tensor-likes are not close!
    <BLANKLINE>
    Mismatched elements: 1 / 2 (50.0%)
    Greatest absolute difference: 0.5 at index (1,) (up to 1e-05 allowed)
    Greatest relative difference: 0.20000000298023224 at index (1,) (up to 1.3e-06 allowed)
    """
    if (rtol is None) != (atol is None):
        _tolerances(rtol=rtol, atol=atol)
    options = dict(rtol=rtol, atol=atol, equal_nan=equal_nan, check_device=check_device, check_dtype=check_dtype,
                   check_stride=check_stride)
    try:
        _compare(actual, expected, "", options)
    except _Failure as failure:
        text = failure.text
        if failure.exc_type is AssertionError and msg is not None:
            text = msg(text) if callable(msg) else msg
        elif failure.path:
            text += f"\n\nThe failure occurred for item {failure.path}"
        raise failure.exc_type(text) from None
