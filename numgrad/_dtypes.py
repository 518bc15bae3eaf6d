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

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_category", "is_16bit_float")

    def __init__(self, name: str, np_dtype, category: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = category == 2
        self.is_signed = category == 2 or self.np.kind == "i"
        self.itemsize = self.np.itemsize
        self._category = category  # 0 bool, 1 integer, 2 floating
        # float16 and bfloat16: stored in 16 bits, computed in float32 by the kernels
        self.is_16bit_float = category == 2 and self.itemsize == 2

    @property
    def is_complex(self) -> bool:
        """False: numgrad has no complex dtypes."""
        return False

    def to_real(self) -> "DType":
        """The dtype itself (numgrad's dtypes are all real)."""
        return self

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
# NumPy has no bfloat16: its arrays hold the 16-bit words, marked by the dtype's metadata (a NumPy dtype
# with metadata compares equal to plain uint16 but keeps the mark through views, slices, copies and pickles);
# kernels convert the words to float32 on load and back on store (numgrad.kernels.cpu.half)
BFLOAT16_NP = np.dtype(np.uint16, metadata={"numgrad": "bfloat16"})
bfloat16 = DType("bfloat16", BFLOAT16_NP, 2)

ALL_DTYPES = (bool_, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
_BY_NP = {d.np: d for d in ALL_DTYPES if d is not bfloat16}
_BY_NAME = {d.name: d for d in ALL_DTYPES}
# PyTorch's other names for the same dtypes (torch.float, torch.half, torch.long, ...)
ALIASES = {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32, "short": int16}
_BY_NAME.update(ALIASES)
# the complex dtypes PyTorch has and numgrad does not
COMPLEX_NAMES = ("complex32", "complex64", "complex128", "chalf", "cfloat", "cdouble")


def _complex_error(what) -> TypeError:
    return TypeError(f"numgrad does not support complex dtypes (got {what}); numgrad's dtypes are bool, uint8, "
                     "int8, int16, int32, int64, float16, bfloat16, float32 and float64")


def bfloat16_words_to_float32(words: np.ndarray) -> np.ndarray:
    """The float32 values of an array of bfloat16 words (exact: a bfloat16 is a float32's top half).

    >>> bfloat16_words_to_float32(np.array([0x3F80, 0xC000], dtype=np.uint16))
    array([ 1., -2.], dtype=float32)
    """
    return (np.asarray(words).astype(np.uint32) << 16).view(np.float32)


def is_bfloat16_array_dtype(npd) -> bool:
    """Whether NumPy dtype ``npd`` is numgrad's bfloat16 storage (uint16 words marked as bfloat16)."""
    meta = npd.metadata
    return meta is not None and meta.get("numgrad") == "bfloat16"

_default_float = float32

# How PyTorch prints dtypes in its error messages (numgrad repeats its wording):
# ScalarType names ("expected scalar type Float") and C++ names ("float != double").
TORCH_SCALAR_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
                      "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool", "bfloat16": "BFloat16"}
TORCH_CPP_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int",
                   "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
                   "bool": "bool", "bfloat16": "c10::BFloat16"}


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
    if isinstance(dtype, str):
        name = dtype[len("torch."):] if dtype.startswith("torch.") else dtype
        if name in _BY_NAME:
            return _BY_NAME[name]
        if name in COMPLEX_NAMES:
            raise _complex_error(dtype)
    if dtype is float:
        return _default_float
    if dtype is int:
        return int64
    if dtype is bool:
        return bool_
    if dtype is complex:
        raise _complex_error(dtype)
    if isinstance(dtype, np.dtype) and is_bfloat16_array_dtype(dtype):
        return bfloat16
    try:
        npd = np.dtype(dtype)
    except TypeError:
        npd = None
    if npd is not None and npd in _BY_NP:
        return _BY_NP[npd]
    if npd is not None and npd.kind == "c":
        raise _complex_error(dtype)
    raise TypeError(f"numgrad does not support dtype {dtype!r}; use one of float32, float64, float16, bfloat16, "
                    "int64, int32, int16, int8, uint8, bool")


def from_numpy_dtype(npd) -> DType:
    found = _BY_NP.get(npd)  # an array's dtype: one lookup (every Tensor.dtype comes here)
    if found is not None:
        return found
    npd = np.dtype(npd)
    if is_bfloat16_array_dtype(npd):
        return bfloat16
    if npd in _BY_NP:
        return _BY_NP[npd]
    if npd.kind == "c":
        raise _complex_error(f"np.ndarray of type {npd}")
    raise TypeError(
        f"can't convert np.ndarray of type {npd}. The only supported types are: "
        "float64, float32, float16, int64, int32, int16, int8, uint8, and bool."
    )


class finfo:
    """Numerical limits of a floating dtype, as ``torch.finfo`` (default: the default float dtype).

    >>> import numgrad as ng
    >>> ng.finfo(ng.bfloat16).eps, ng.finfo(ng.float16).max
    (0.0078125, 65504.0)
    """

    _BITS = {"float16": (16, 10, 15), "bfloat16": (16, 7, 127), "float32": (32, 23, 127), "float64": (64, 52, 1023)}

    def __init__(self, type=None):
        d = get_default_dtype() if type is None else as_dtype(type)
        if not d.is_floating_point:
            raise TypeError("numgrad.finfo() requires a floating point input type. Use numgrad.iinfo to handle "
                            f"'{d}'")
        bits, mant, bias = self._BITS[d.name]
        self.dtype = d.name
        self.bits = bits
        self.eps = 2.0 ** -mant
        self.max = (2.0 - 2.0 ** -mant) * 2.0 ** bias
        self.min = -self.max
        self.smallest_normal = self.tiny = 2.0 ** (1 - bias)
        self.resolution = 10.0 ** -int(np.floor(mant * np.log10(2)))

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """Limits of an integer (or bool) dtype, as ``torch.iinfo``.

    >>> import numgrad as ng
    >>> ng.iinfo(ng.int8).min, ng.iinfo(ng.uint8).max
    (-128, 255)
    """

    def __init__(self, type):
        d = as_dtype(type)
        if d.is_floating_point:
            raise TypeError("numgrad.iinfo() requires an integer input type. Use numgrad.finfo to handle "
                            f"'{d}'")
        info = np.iinfo(np.uint8) if d is bool_ else np.iinfo(d.np)
        self.dtype = d.name
        self.bits = 8 if d is bool_ else int(info.bits)
        self.min, self.max = (0, 1) if d is bool_ else (int(info.min), int(info.max))

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


def promote_pair(a: DType, b: DType) -> DType:
    # across categories the higher category wins as is (float32 + int64 -> float32);
    # within one, the wider type (NumPy agrees with PyTorch there)
    if a._category != b._category:
        return a if a._category > b._category else b
    if a is b:
        return a
    if a.is_16bit_float or b.is_16bit_float:
        # float16 with bfloat16 gives float32, as in PyTorch; either with a wider float, the wider
        return float32 if a.itemsize == b.itemsize else (a if a.itemsize > b.itemsize else b)
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
