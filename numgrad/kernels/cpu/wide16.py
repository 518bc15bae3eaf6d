"""float16/bfloat16 data through numgrad's float32 kernels: reductions along dims, softmax and nll.

These kernel families have no 16-bit loads of their own.  Each function here has the signature and
contract of the one it stands for (``map_reduce.py``, ``nnfunc.py``): it widens its 16-bit inputs to float32
with the cast kernel, runs the float32 kernel, and rounds what it returns or writes back to 16 bits once, as
PyTorch's CPU kernels compute 16-bit floats in float32.  Integer results (argmax indices, counts) are
returned as they are.

>>> import numpy as np
>>> x3 = np.array([[[1.0], [3.5], [2.0]]], dtype=np.float16)
>>> values, indices = arg_reduce(x3, "max")
>>> values.dtype, float(values[0, 0]), int(indices[0, 0])
(dtype('float16'), 3.5, 1)
"""
from __future__ import annotations

import numpy as np

from ... import _dtypes
from . import map_reduce as _reduce
from . import nnfunc as _nn
from .elementwise import copy

__all__ = ["prepare", "map_reduce", "arg_reduce", "scan_sum", "softmax_forward", "softmax_backward",
           "nll_gather", "nll_scatter"]

_F32 = np.dtype(np.float32)


def is_16bit_float(dtype) -> bool:
    """Whether NumPy dtype ``dtype`` is numgrad's float16 or bfloat16 storage."""
    dtype = np.dtype(dtype)
    return dtype.char == "e" or _dtypes.is_bfloat16_array_dtype(dtype)


def _wide(arr):
    """``arr`` as float32 when it holds 16-bit floats, else itself."""
    return copy(arr, _F32) if arr is not None and is_16bit_float(arr.dtype) else arr


def _narrow(arr: np.ndarray, dtype) -> np.ndarray:
    """float32 ``arr`` rounded to the 16-bit ``dtype`` (a 0-d array stays 0-d)."""
    return copy(arr, np.dtype(dtype))


# ------------------------------------------------------------------ reductions along dims (map_reduce.py)
prepare = _reduce.prepare  # views and one contiguous copy: the copy kernel handles 16-bit data


def map_reduce(x3: np.ndarray, *, init: str, transform: str, combine: str, final: str = "acc",
               acc_dtype, load_dtype=None, shift: np.ndarray = None, p: float = 0.0) -> np.ndarray:
    """``map_reduce.map_reduce`` with 16-bit values loaded as float32 and a 16-bit accumulator widened to
    float32 (the result is rounded back to it)."""
    acc = np.dtype(acc_dtype)
    wide_acc = _F32 if is_16bit_float(acc) else acc
    load = None if load_dtype is None else (_F32 if is_16bit_float(load_dtype) else load_dtype)
    out = _reduce.map_reduce(_wide(x3), init=init, transform=transform, combine=combine, final=final,
                             acc_dtype=wide_acc, load_dtype=load, shift=_wide(shift), p=p)
    return _narrow(out, acc) if wide_acc is not acc else out


def arg_reduce(x3: np.ndarray, kind: str) -> tuple:
    """``map_reduce.arg_reduce``: the extreme values (exact in 16 bits) and their int64 indices."""
    values, indices = _reduce.arg_reduce(_wide(x3), kind)
    return _narrow(values, x3.dtype), indices


def scan_sum(x3: np.ndarray, acc_dtype, reverse: bool = False) -> np.ndarray:
    """``map_reduce.scan_sum`` accumulated in float32, each partial sum rounded to the 16-bit ``acc_dtype``."""
    acc = np.dtype(acc_dtype)
    wide_acc = _F32 if is_16bit_float(acc) else acc
    out = _reduce.scan_sum(_wide(x3), wide_acc, reverse=reverse)
    return _narrow(out, acc) if wide_acc is not acc else out


# ------------------------------------------------------------------ softmax and nll (nnfunc.py)
def _softmax(kernel):
    def forward(x, out, log):
        wide = np.empty(x.shape, dtype=_F32)
        kernel(_wide(x), wide, log)
        copy(wide, out=out)
    return forward


def _softmax_grad(kernel):
    def backward(y, g, out, log):
        wide = np.empty(y.shape, dtype=_F32)
        kernel(_wide(y), _wide(g), wide, log)
        copy(wide, out=out)
    return backward


softmax_forward = _softmax(_nn.softmax_forward)
softmax_forward_par = _softmax(_nn.softmax_forward_par)
softmax_backward = _softmax_grad(_nn.softmax_backward)
softmax_backward_par = _softmax_grad(_nn.softmax_backward_par)


def nll_gather(logp, target, weight, ignore_index: int, out, total):
    """``nnfunc.nll_gather`` in float32: ``out`` (16-bit) gets the rounded losses, ``total`` (float64 (1,))
    the weight total; returns the first bad position or -1."""
    wide = np.empty(out.shape, dtype=_F32)
    bad = _nn.nll_gather(_wide(logp), target, _wide(weight), ignore_index, wide, total)
    copy(wide, out=out)
    return bad


def nll_scatter(g, target, weight, ignore_index: int, out) -> None:
    """``nnfunc.nll_scatter`` in float32, rounded into every element of the 16-bit ``out``."""
    wide = np.empty(out.shape, dtype=_F32)
    _nn.nll_scatter(_wide(g), target, _wide(weight), ignore_index, wide)
    copy(wide, out=out)
