"""16-bit floats in Numba kernels: float16 and bfloat16 stored as 16-bit words, computed in float32.

Numba has no float16 arithmetic on the CPU and NumPy has no bfloat16, so kernels read both as ``uint16``
words and convert on load and store, as PyTorch's CPU kernels do (they too compute 16-bit floats in float32):

* ``half_to_float`` / ``float_to_half``: IEEE binary16, round to nearest even, subnormals, inf and NaN kept
  (F. Giesen's table-free conversions).
* ``bfloat16_to_float`` / ``float_to_bfloat16``: the top 16 bits of a float32, rounded to nearest even
  (a NaN stays a quiet NaN), exactly as ``c10::BFloat16``.

All are branch-light integer code on the bit pattern (an LLVM ``bitcast`` reinterprets it), so loops calling
them still vectorize.

>>> import numpy as np
>>> bits = np.array([0x3C00, 0xC000], dtype=np.uint16)   # 1.0 and -2.0 as float16
>>> [float(half_to_float(b)) for b in bits]
[1.0, -2.0]
>>> int(float_to_bfloat16(np.float32(1.0))) == 0x3F80
True
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["half_to_float", "float_to_half", "bfloat16_to_float", "float_to_bfloat16"]


@intrinsic
def _bits_as_float32(typingctx, bits):
    """The float32 whose bit pattern is the uint32 ``bits``."""
    if bits != types.uint32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.uint32), codegen


@intrinsic
def _float32_bits(typingctx, value):
    """The bit pattern of float32 ``value`` as a uint32."""
    if value != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return types.uint32(types.float32), codegen


_SHIFTED_EXP = 0x7C00 << 13          # a float16's exponent field, moved to a float32's
_MAGIC = 113 << 23                   # 2**-14 as float32 bits: renormalizes float16 subnormals
_F32_INF = 255 << 23
_F16_MAX = (127 + 16) << 23          # float32 bits of 2**16: from here on a float16 overflows
_DENORM_MAGIC = ((127 - 15) + (23 - 10) + 1) << 23


@njit(inline="always", cache=True, nogil=True)
def half_to_float(h):
    """float32 value of the float16 whose bits are ``h`` (exact)."""
    h = np.int64(h)
    o = (h & 0x7FFF) << 13
    exp = o & _SHIFTED_EXP
    o += (127 - 15) << 23
    if exp == _SHIFTED_EXP:                     # inf / NaN
        o += (128 - 16) << 23
    elif exp == 0:                              # zero / subnormal: let the FPU renormalize
        o += 1 << 23
        f = _bits_as_float32(np.uint32(o)) - _bits_as_float32(np.uint32(_MAGIC))
        o = np.int64(_float32_bits(f))
    o |= (h & 0x8000) << 16
    return _bits_as_float32(np.uint32(o))


@njit(inline="always", cache=True, nogil=True)
def float_to_half(value):
    """Bits (uint16) of float32 ``value`` rounded to the nearest float16 (ties to even)."""
    u = np.int64(_float32_bits(np.float32(value)))
    sign = u & 0x80000000
    u ^= sign
    if u >= _F16_MAX:                           # overflow -> inf; NaN -> quiet NaN
        o = 0x7E00 if u > _F32_INF else 0x7C00
    elif u < (113 << 23):                       # subnormal or zero: float addition does the rounding
        f = _bits_as_float32(np.uint32(u)) + _bits_as_float32(np.uint32(_DENORM_MAGIC))
        o = np.int64(_float32_bits(f)) - _DENORM_MAGIC
    else:
        mant_odd = (u >> 13) & 1
        u += ((15 - 127) << 23) + 0xFFF + mant_odd
        o = u >> 13
    return np.uint16(o | (sign >> 16))


@njit(inline="always", cache=True, nogil=True)
def bfloat16_to_float(b):
    """float32 value of the bfloat16 whose bits are ``b`` (exact)."""
    return _bits_as_float32(np.uint32(np.int64(b) << 16))


@njit(inline="always", cache=True, nogil=True)
def float_to_bfloat16(value):
    """Bits (uint16) of float32 ``value`` rounded to the nearest bfloat16 (ties to even; NaN stays NaN)."""
    u = np.int64(_float32_bits(np.float32(value)))
    if (u & 0x7FFFFFFF) > 0x7F800000:
        return np.uint16((u >> 16) | 0x40)
    return np.uint16((u + 0x7FFF + ((u >> 16) & 1)) >> 16)
