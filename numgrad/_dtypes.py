"""dtypes and PyTorch's type-promotion rules.

numgrad's dtypes are small objects (``ng.float32``) that wrap a NumPy dtype, so
that ``repr`` and comparisons read like PyTorch while kernels see NumPy types.
"""
from __future__ import annotations

import numpy as np


class DType:
    """A tensor element type, e.g. ``ng.float32``.

    >>> import numgrad as ng
    >>> ng.tensor([1.0]).dtype
    numgrad.float32
    """

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_category")

    def __init__(self, name: str, np_dtype, category: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = category == 2
        self.is_signed = category != 0
        self.itemsize = self.np.itemsize
        self._category = category  # 0 bool, 1 integer, 2 floating

    def __repr__(self) -> str:
        return f"numgrad.{self.name}"

    def __reduce__(self):
        return (as_dtype, (self.name,))


float32 = DType("float32", np.float32, 2)
float64 = DType("float64", np.float64, 2)
int32 = DType("int32", np.int32, 1)
int64 = DType("int64", np.int64, 1)
bool_ = DType("bool", np.bool_, 0)
# a few extra integer types appear when users hand us NumPy arrays
int8 = DType("int8", np.int8, 1)
int16 = DType("int16", np.int16, 1)
uint8 = DType("uint8", np.uint8, 1)
float16 = DType("float16", np.float16, 2)

ALL_DTYPES = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)
_BY_NP = {d.np: d for d in ALL_DTYPES}
_BY_NAME = {d.name: d for d in ALL_DTYPES}
_BY_NAME.update({"float": float32, "double": float64, "long": int64, "int": int32, "half": float16})

_default_float = float32

# How PyTorch prints dtypes in its error messages (numgrad repeats its wording):
# ScalarType names ("expected scalar type Float") and C++ names ("float != double").
TORCH_SCALAR_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
                      "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}
TORCH_CPP_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int",
                   "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
                   "bool": "bool"}


def get_default_dtype() -> DType:
    """The dtype of tensors built from Python floats (float32, as in PyTorch)."""
    return _default_float


def set_default_dtype(dtype) -> None:
    """Set the dtype used for Python floats (float32 or float64).

    >>> import numgrad as ng
    >>> ng.set_default_dtype(ng.float64); ng.set_default_dtype(ng.float32)
    """
    global _default_float
    d = as_dtype(dtype)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_float = d


def as_dtype(dtype) -> DType:
    """Turn ``ng.float32``, ``np.float32``, ``'float32'`` or a Python type into a DType."""
    if isinstance(dtype, DType):
        return dtype
    if isinstance(dtype, str) and dtype in _BY_NAME:
        return _BY_NAME[dtype]
    if dtype is float:
        return _default_float
    if dtype is int:
        return int64
    if dtype is bool:
        return bool_
    try:
        npd = np.dtype(dtype)
    except TypeError:
        npd = None
    if npd is not None and npd in _BY_NP:
        return _BY_NP[npd]
    raise TypeError(f"numgrad does not support dtype {dtype!r}; use one of float32, float64, int32, int64, bool")


def from_numpy_dtype(npd) -> DType:
    found = _BY_NP.get(npd)  # an array's dtype: one lookup (every Tensor.dtype comes here)
    if found is not None:
        return found
    npd = np.dtype(npd)
    if npd in _BY_NP:
        return _BY_NP[npd]
    raise TypeError(
        f"can't convert np.ndarray of type {npd}. The only supported types are: "
        "float64, float32, float16, int64, int32, int16, int8, uint8, and bool."
    )


def promote_pair(a: DType, b: DType) -> DType:
    # across categories the higher category wins as is (float32 + int64 -> float32);
    # within one, the wider type (NumPy agrees with PyTorch there)
    if a._category != b._category:
        return a if a._category > b._category else b
    return from_numpy_dtype(np.promote_types(a.np, b.np))


_TORCH_TYPE_NAMES = {
    "bool": "Bool", "uint8": "Byte", "int8": "Char", "int16": "Short", "int32": "Int", "int64": "Long",
    "float16": "Half", "bfloat16": "BFloat16", "float32": "Float", "float64": "Double",
}


def torch_type_name(dtype: "DType") -> str:
    """PyTorch's scalar-type name of ``dtype`` as its error messages spell it (``Float`` for float32).

    >>> torch_type_name(float32)
    'Float'
    """
    return _TORCH_TYPE_NAMES.get(dtype.name, dtype.name)
