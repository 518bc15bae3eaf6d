"""Argument conversion and checks shared by the families of ``numgrad.nn.functional``.

Each check raises PyTorch's error type with its wording (or, where PyTorch has
none, one that names the op, the argument and its shape), before any kernel
sees the data.
"""
from __future__ import annotations

import numbers
from typing import Tuple, Union

import numpy as np

from ... import _dtypes
from ...creation import tensor
from ...ops.views import contiguous_array
from ...tensor import Tensor

# PyTorch's ScalarType names, as its loss dtype errors print them
_SCALAR_NAMES = _dtypes.TORCH_SCALAR_NAMES

IntPair = Union[int, Tuple[int, int]]


def _as_tensor(x) -> Tensor:
    if isinstance(x, Tensor):
        return x

    return tensor(x)


def _float_only(x: Tensor, op: str) -> None:
    if not x.dtype.is_floating_point:
        raise NotImplementedError(
            f"\"{op}\" not implemented for '{_SCALAR_NAMES[x.dtype.name]}' (input of shape {list(x.shape)}); "
            "convert the input with .float()"
        )


def _arr(t: Tensor) -> np.ndarray:
    return contiguous_array(t._data)


def _pair(value, name: str, op: str) -> Tuple[int, int]:
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool) for v in value):
        return int(value[0]), int(value[1])
    if isinstance(value, (tuple, list)) and len(value) == 1:
        return _pair(value[0], name, op)
    raise TypeError(f"{op}(): {name} must be an int or a tuple of two ints, got {value!r}")


def _check_tensor(x, name: str, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(x).__name__}")


def _check_float(x: Tensor, name: str, op: str) -> None:
    if x.dtype not in (_dtypes.float32, _dtypes.float64):
        raise RuntimeError(
            f"{op}(): expected a float32 or float64 {name}, got {x.dtype} (shape {list(x.shape)})"
            + ("; numgrad's layer kernels have no 16-bit path: convert with .float()" if x.dtype.is_16bit_float else "")
        )


def _same_dtype(a: Tensor, b: Tensor, op: str, what: str) -> None:
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"{op}(): expected scalar type {_scalar_name(a.dtype)} but found {_scalar_name(b.dtype)} "
            f"({what}: {a.dtype} {list(a.shape)} vs {b.dtype} {list(b.shape)})"
        )


def _scalar_name(dtype) -> str:
    return {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int"}.get(dtype.name, dtype.name)
