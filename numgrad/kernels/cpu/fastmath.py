"""Vectorizable math functions for generated Numba kernels.

pip's llvmlite has no SVML, so ``math.exp``/``np.tanh``... inside a jitted loop
stay scalar libm calls (~20 ns/element in a fused chain).  The functions here
are written with mul/add/fma/div, selects and integer bit views only, so LLVM
inlines them into the caller's loop and vectorizes it (``<16 x float>`` /
zmm on AVX-512).  ``benchmarks/bench_fastmath.py`` measures it.

Calling convention
------------------
Inside ``@njit`` code call the generic names; the float32 or float64
implementation is picked at typing time from the argument type::

    from numgrad.kernels.cpu import fastmath as fm

    @njit(cache=True)
    def kernel(x, out):
        for i in range(x.size):
            out[i] = fm.tanh(x[i])          # float32 in -> float32 code

Generic names: ``exp log log1p expm1 tanh sigmoid sin cos erf`` (one
argument) and ``pow(x, y)``.  float32 arguments give float32 results,
float64 give float64, integers/bools are computed as float64.  ``pow`` of two
integers keeps Python/Numba integer ``**`` semantics; a float32/float32 pair
uses ``pow_f32``, anything else float64.  The typed implementations are also
importable directly (``exp_f32``, ``exp_f64``...).  Called from plain Python
the generic names fall back to NumPy (handy for tests and the REPL).

The generic names are ``numba.extending.overload`` stubs, not closures:
kernels that call them are disk-cacheable (``cache=True``) and a new process
loads them without recompiling.

Flags: the implementations are compiled with ``fastmath={"contract"}`` only
(a subset of ``config.FASTMATH``).  They keep their own flags when LLVM
inlines them into a caller compiled with ``FASTMATH``.  ``reassoc``/``nsz``
are left out on purpose: ``reassoc`` lets LLVM fold the Cody-Waite and
two-sum corrections away (``(x - n*C1) - n*C2`` -> ``x - n*(C1+C2)``) and
``nsz`` loses ``tanh(-0.0) == -0.0``.  NaN and inf propagate as in NumPy.

Accuracy (max error vs a correctly rounded reference, measured by
``tests/test_fastmath.py`` over dense log-spaced grids of both signs
including subnormals, plus inf/NaN/±0):

==========  ==================  ==================================
function    float32 (max ulp)   float64 (max ulp)
==========  ==================  ==================================
exp         0.99                0.96
expm1       1.32                1.62
log         0.78                0.73
log1p       2.12                2.26
tanh        1.07                1.17
sigmoid     2.17                2.29
sin, cos    0.50 (|x| < 2**50)* libm (``math.sin``/``math.cos``)
pow         0.50 (in float64)   libm (``x ** y``)
erf         0.50 (in float64)   libm (``math.erf``)
==========  ==================  ==================================

(``python tests/test_fastmath.py`` prints the current figures; the tests
assert bounds slightly above them.)

* float32 sin/cos reduce the argument in float64 with a three-part pi/2;
  that is exact for |x| < 2**50.  Larger float32 inputs (where sin/cos are
  pure rounding noise) are reduced through a 2**k mod 2*pi table, see
  ``_sincos_reduce_f32``.

float64 fallbacks (libm, not vectorized): sin, cos (argument reduction of
|x| up to 1e308 needs Payne-Hanek with ~1100 bits of 2/pi), pow (needs a
double-double log/exp to reach a few ulp), erf (needs several piecewise
rational fits; gelu in float64 is rare).  Their float32 versions vectorize.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core.extending import intrinsic, overload

from numgrad.kernels.config import FASTMATH

# only FMA contraction: see the module docstring
_FLAGS = frozenset(f for f in FASTMATH if f == "contract")
# forceinline: LLVM alwaysinline, so big bodies (erf, pow) still inline into
# serial loops and vectorize; the inlined code keeps its own flags
_JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath=set(_FLAGS), forceinline=True)

F32 = np.float32
F64 = np.float64


# --------------------------------------------------------------- intrinsics
def _float_ir(ty):
    return ir.FloatType() if ty == types.float32 else ir.DoubleType()


def _check_float(*tys):
    for t in tys:
        if t not in (types.float32, types.float64):
            raise TypeError("fastmath intrinsic needs float32/float64, got %s" % t)


def _llvm_call(builder, name, args):
    ty = args[0].type
    fnty = ir.FunctionType(ty, [ty] * len(args))
    fn = builder.module.declare_intrinsic(name, [ty], fnty)
    return builder.call(fn, args)


@intrinsic
def _fma(typingctx, a, b, c):
    """Fused multiply-add a*b + c with one rounding (llvm.fma)."""
    _check_float(a)
    if not (a == b == c):
        return None

    def codegen(context, builder, sig, args):
        return _llvm_call(builder, "llvm.fma", list(args))

    return a(a, a, a), codegen


def _unary_intrinsic(llvm_name):
    def typer(typingctx, a):
        _check_float(a)

        def codegen(context, builder, sig, args):
            return _llvm_call(builder, llvm_name, [args[0]])

        return a(a), codegen

    return typer


# These intrinsic definitions are module level objects, not closures called
# at run time: numba stores their code inside the caller.
_rint = intrinsic(_unary_intrinsic("llvm.rint"))
_floor = intrinsic(_unary_intrinsic("llvm.floor"))
_fabs = intrinsic(_unary_intrinsic("llvm.fabs"))


@intrinsic
def _copysign(typingctx, a, b):
    """Magnitude of a with the sign of b."""
    _check_float(a)
    if a != b:
        return None

    def codegen(context, builder, sig, args):
        return _llvm_call(builder, "llvm.copysign", list(args))

    return a(a, a), codegen


@intrinsic
def _sel(typingctx, c, a, b):
    """Branch-free ``a if c else b`` (an LLVM select)."""
    if c != types.boolean or a != b:
        return None

    def codegen(context, builder, sig, args):
        return builder.select(args[0], args[1], args[2])

    return a(c, a, b), codegen


def _layout(ty):
    # (int bits, mantissa bits, exponent bias, exponent mask)
    return (32, 23, 127, 0xFF) if ty == types.float32 else (64, 52, 1023, 0x7FF)


@intrinsic
def _pow2(typingctx, n):
    """2**n for an integer-valued float n inside the normal exponent range."""
    _check_float(n)
    nbits, mbits, bias, _ = _layout(n)

    def codegen(context, builder, sig, args):
        ity = ir.IntType(nbits)
        k = builder.fptosi(args[0], ity)
        k = builder.add(k, ir.Constant(ity, bias))
        k = builder.shl(k, ir.Constant(ity, mbits))
        return builder.bitcast(k, _float_ir(n))

    return n(n), codegen


@intrinsic
def _exponent(typingctx, x):
    """Unbiased exponent field of a normal float, as a float."""
    _check_float(x)
    nbits, mbits, bias, emask = _layout(x)

    def codegen(context, builder, sig, args):
        ity = ir.IntType(nbits)
        b = builder.bitcast(args[0], ity)
        e = builder.lshr(b, ir.Constant(ity, mbits))
        e = builder.and_(e, ir.Constant(ity, emask))
        e = builder.sub(e, ir.Constant(ity, bias))
        return builder.sitofp(e, _float_ir(x))

    return x(x), codegen


@intrinsic
def _mantissa(typingctx, x):
    """Significand of a normal float, scaled into [1, 2)."""
    _check_float(x)
    nbits, mbits, bias, _ = _layout(x)

    def codegen(context, builder, sig, args):
        ity = ir.IntType(nbits)
        b = builder.bitcast(args[0], ity)
        b = builder.and_(b, ir.Constant(ity, (1 << mbits) - 1))
        b = builder.or_(b, ir.Constant(ity, bias << mbits))
        return builder.bitcast(b, _float_ir(x))

    return x(x), codegen


@intrinsic
def _signbit(typingctx, x):
    """True when the sign bit is set (also for -0.0 and negative NaN)."""
    _check_float(x)
    nbits = _layout(x)[0]

    def codegen(context, builder, sig, args):
        ity = ir.IntType(nbits)
        b = builder.bitcast(args[0], ity)
        return builder.icmp_signed("<", b, ir.Constant(ity, 0))

    return types.boolean(x), codegen


# ------------------------------------------------------------------ constants
INF32, NAN32 = F32(np.inf), F32(np.nan)
INF64, NAN64 = F64(np.inf), F64(np.nan)
LOG2E_32, LOG2E_64 = F32(1.4426950408889634), F64(1.4426950408889634)
LN2HI_32, LN2LO_32 = F32(0.6931471824645996), F32(-1.9046542121259336e-09)
LN2HI_64, LN2LO_64 = F64(0.6931471805599453), F64(2.3190468138462996e-17)

# Cephes expf: (exp(r) - 1 - r) / r**2 on |r| <= ln2/2
EXP_P32 = tuple(F32(c) for c in (
    1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
    4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1))
# Taylor 1/k!, k = 13..2 (truncation error r**14/14! < 1e-17 on |r| <= ln2/2)
EXP_P64 = tuple(F64(1.0 / math.factorial(k)) for k in range(13, 1, -1))


# ------------------------------------------------------------------ exp, expm1
@njit(**_JIT)
def _expm1_reduced_f32(xc):
    """n and expm1(r) with xc = n*ln2 + r, |r| <= ln2/2 (xc finite)."""
    n = _rint(xc * LOG2E_32)
    r = _fma(-n, LN2HI_32, xc)  # exact: the product is exact and the result small
    r = _fma(-n, LN2LO_32, r)
    p = EXP_P32[0]
    p = p * r + EXP_P32[1]
    p = p * r + EXP_P32[2]
    p = p * r + EXP_P32[3]
    p = p * r + EXP_P32[4]
    p = p * r + EXP_P32[5]
    return n, _fma(r * r, p, r)


@njit(**_JIT)
def _expm1_reduced_f64(xc):
    n = _rint(xc * LOG2E_64)
    r = _fma(-n, LN2HI_64, xc)
    r = _fma(-n, LN2LO_64, r)
    p = EXP_P64[0]
    p = p * r + EXP_P64[1]
    p = p * r + EXP_P64[2]
    p = p * r + EXP_P64[3]
    p = p * r + EXP_P64[4]
    p = p * r + EXP_P64[5]
    p = p * r + EXP_P64[6]
    p = p * r + EXP_P64[7]
    p = p * r + EXP_P64[8]
    p = p * r + EXP_P64[9]
    p = p * r + EXP_P64[10]
    p = p * r + EXP_P64[11]
    return n, _fma(r * r, p, r)


@njit(**_JIT)
def exp_f32(x):
    # clamping maps NaN to the low bound (finite), fixed up at the end
    xc = _sel(x > F32(-104.0), x, F32(-104.0))
    xc = _sel(xc < F32(89.0), xc, F32(89.0))
    n, e1 = _expm1_reduced_f32(xc)
    h = _floor(n * F32(0.5))
    # two scale factors: n spans [-150, 128], beyond one normal power of two;
    # the first product is exact, the second rounds once (subnormal results)
    res = ((e1 + F32(1.0)) * _pow2(h)) * _pow2(n - h)
    return _sel(x != x, x, res)


@njit(**_JIT)
def exp_f64(x):
    xc = _sel(x > F64(-746.0), x, F64(-746.0))
    xc = _sel(xc < F64(710.0), xc, F64(710.0))
    n, e1 = _expm1_reduced_f64(xc)
    h = _floor(n * F64(0.5))
    res = ((e1 + F64(1.0)) * _pow2(h)) * _pow2(n - h)
    return _sel(x != x, x, res)


@njit(**_JIT)
def expm1_f32(x):
    xc = _sel(x > F32(-40.0), x, F32(-40.0))
    xc = _sel(xc < F32(89.0), xc, F32(89.0))
    n, e1 = _expm1_reduced_f32(xc)
    t = _pow2(n - F32(1.0))  # 2**n * (e1 + 1) - 1 == 2 * (t*e1 + (t - 0.5))
    res = F32(2.0) * _fma(t, e1, t - F32(0.5))
    # tiny |x| (and +-0, subnormals): expm1(x) rounds to x
    res = _sel(_fabs(x) < F32(2.0 ** -25), x, res)
    return _sel(x != x, x, res)


@njit(**_JIT)
def expm1_f64(x):
    xc = _sel(x > F64(-60.0), x, F64(-60.0))
    xc = _sel(xc < F64(710.0), xc, F64(710.0))
    n, e1 = _expm1_reduced_f64(xc)
    t = _pow2(n - F64(1.0))
    res = F64(2.0) * _fma(t, e1, t - F64(0.5))
    res = _sel(_fabs(x) < F64(2.0 ** -54), x, res)
    return _sel(x != x, x, res)


# ------------------------------------------------------------------------ log
SQRT2_32, SQRT2_64 = F32(1.4142135623730951), F64(1.4142135623730951)
# Cephes logf
LOG_P32 = tuple(F32(c) for c in (
    7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
    1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
    3.3333331174e-1))
LOG_C1_32, LOG_C2_32 = F32(0.693359375), F32(-2.12194440e-4)
# fdlibm e_log.c
LG = tuple(F64(c) for c in (
    6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
    2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
    1.479819860511658591e-01))
LN2_HI_FD, LN2_LO_FD = F64(6.93147180369123816490e-01), F64(1.90821492927058770002e-10)


@njit(**_JIT)
def log_f32(x):
    small = x < F32(1.1754943508222875e-38)  # subnormal: scale into the normal range
    xs = _sel(small, x * F32(8388608.0), x)
    e = _exponent(xs) - _sel(small, F32(23.0), F32(0.0))
    m = _mantissa(xs)
    big = m > SQRT2_32
    m = _sel(big, m * F32(0.5), m)
    e = _sel(big, e + F32(1.0), e)
    f = m - F32(1.0)
    z = f * f
    p = LOG_P32[0]
    p = p * f + LOG_P32[1]
    p = p * f + LOG_P32[2]
    p = p * f + LOG_P32[3]
    p = p * f + LOG_P32[4]
    p = p * f + LOG_P32[5]
    p = p * f + LOG_P32[6]
    p = p * f + LOG_P32[7]
    p = p * f + LOG_P32[8]
    y = p * f * z
    y = y + e * LOG_C2_32
    y = y - F32(0.5) * z
    res = f + y
    res = res + e * LOG_C1_32
    res = _sel(x == INF32, x, res)
    res = _sel(x == F32(0.0), -INF32, res)
    res = _sel(x < F32(0.0), NAN32, res)
    return _sel(x != x, x, res)


@njit(**_JIT)
def log_f64(x):
    small = x < F64(2.2250738585072014e-308)
    xs = _sel(small, x * F64(4503599627370496.0), x)  # 2**52
    e = _exponent(xs) - _sel(small, F64(52.0), F64(0.0))
    m = _mantissa(xs)
    big = m > SQRT2_64
    m = _sel(big, m * F64(0.5), m)
    e = _sel(big, e + F64(1.0), e)
    f = m - F64(1.0)
    s = f / (F64(2.0) + f)
    z = s * s
    w = z * z
    t1 = w * (LG[1] + w * (LG[3] + w * LG[5]))
    t2 = z * (LG[0] + w * (LG[2] + w * (LG[4] + w * LG[6])))
    r = t2 + t1
    hfsq = F64(0.5) * f * f
    res = e * LN2_HI_FD - ((hfsq - (s * (hfsq + r) + e * LN2_LO_FD)) - f)
    res = _sel(x == INF64, x, res)
    res = _sel(x == F64(0.0), -INF64, res)
    res = _sel(x < F64(0.0), NAN64, res)
    return _sel(x != x, x, res)


@njit(**_JIT)
def log1p_f32(x):
    # Goldberg: log1p(x) = log(u) * x / (u - 1) with u = 1 + x
    u = x + F32(1.0)
    res = log_f32(u) * (x / (u - F32(1.0)))
    res = _sel(u == F32(1.0), x, res)  # tiny x, +-0, subnormals
    res = _sel(x == INF32, x, res)
    return _sel(x != x, x, res)


@njit(**_JIT)
def log1p_f64(x):
    u = x + F64(1.0)
    res = log_f64(u) * (x / (u - F64(1.0)))
    res = _sel(u == F64(1.0), x, res)
    res = _sel(x == INF64, x, res)
    return _sel(x != x, x, res)


# ----------------------------------------------------------------------- tanh
# Cephes tanhf, |x| < 0.625
TANH_P32 = tuple(F32(c) for c in (
    -5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2,
    1.33314422036e-1, -3.33332819422e-1))
# Cephes tanh, |x| < 0.625: x + x*z*P(z)/Q(z)
TANH_P64 = tuple(F64(c) for c in (
    -9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3))
TANH_Q64 = tuple(F64(c) for c in (
    1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3))


@njit(**_JIT)
def tanh_f32(x):
    ax = _fabs(x)
    z = ax * ax
    p = TANH_P32[0]
    p = p * z + TANH_P32[1]
    p = p * z + TANH_P32[2]
    p = p * z + TANH_P32[3]
    p = p * z + TANH_P32[4]
    small = _fma(p * z, ax, ax)
    large = F32(1.0) - F32(2.0) / (exp_f32(ax + ax) + F32(1.0))  # inf -> 1
    res = _sel(ax < F32(0.625), small, large)
    return _copysign(res, x)  # keeps tanh(-0.0) == -0.0; NaN stays NaN


@njit(**_JIT)
def tanh_f64(x):
    ax = _fabs(x)
    z = ax * ax
    p = (TANH_P64[0] * z + TANH_P64[1]) * z + TANH_P64[2]
    q = ((z + TANH_Q64[0]) * z + TANH_Q64[1]) * z + TANH_Q64[2]
    small = _fma(z * (p / q), ax, ax)
    large = F64(1.0) - F64(2.0) / (exp_f64(ax + ax) + F64(1.0))
    res = _sel(ax < F64(0.625), small, large)
    return _copysign(res, x)


# -------------------------------------------------------------------- sigmoid
@njit(**_JIT)
def sigmoid_f32(x):
    # e = exp(-|x|) never overflows; x < 0 uses e/(1+e) so tiny results
    # (down to subnormals) keep their relative accuracy
    e = exp_f32(-_fabs(x))
    r = F32(1.0) / (F32(1.0) + e)
    return _sel(x >= F32(0.0), r, e * r)


@njit(**_JIT)
def sigmoid_f64(x):
    e = exp_f64(-_fabs(x))
    r = F64(1.0) / (F64(1.0) + e)
    return _sel(x >= F64(0.0), r, e * r)


# ------------------------------------------------------------------- sin, cos
TWO_OVER_PI = F64(0.6366197723675814)
PIO2_1, PIO2_2, PIO2_3 = F64(1.5707963267948966), F64(6.123233995736766e-17), F64(-1.4973849048591698e-33)
SIN_C = tuple(F64((-1) ** k / math.factorial(2 * k + 1)) for k in range(1, 6))  # -1/3! .. 1/11!
COS_C = tuple(F64((-1) ** k / math.factorial(2 * k)) for k in range(2, 6))  # 1/4! .. -1/10!


@njit(**_JIT)
def _sincos_reduce_f32(x):
    """(r, q): float32 x = r + (4k + q) * pi/2 in float64, |r| <= pi/4 (about).

    Three-part Cody-Waite with FMA: the first step is exact while j < 2**52
    (|x| < 2**52), so the reduced argument carries ~53 good bits.  Larger
    |x| give j's that are not exact integers; they are clamped to 0 (result:
    sin/cos of the unreduced argument would be wrong) - see sin_f32.
    """
    xd = F64(x)
    j = _rint(xd * TWO_OVER_PI)
    r = _fma(-j, PIO2_1, xd)
    r = _fma(-j, PIO2_2, r)
    r = _fma(-j, PIO2_3, r)
    q = j - F64(4.0) * _floor(j * F64(0.25))
    return r, q


@njit(**_JIT)
def _sin_poly(r):
    z = r * r
    p = SIN_C[4]
    p = p * z + SIN_C[3]
    p = p * z + SIN_C[2]
    p = p * z + SIN_C[1]
    p = p * z + SIN_C[0]
    return _fma(r * z, p, r)


@njit(**_JIT)
def _cos_poly(r):
    z = r * r
    p = COS_C[3]
    p = p * z + COS_C[2]
    p = p * z + COS_C[1]
    p = p * z + COS_C[0]
    return _fma(z * z, p, F64(1.0) - F64(0.5) * z)


@njit(**_JIT)
def sin_f32(x):
    r, q = _sincos_reduce_f32(x)
    s = _sin_poly(r)
    c = _cos_poly(r)
    res = _sel(q == F64(0.0), s, _sel(q == F64(1.0), c, _sel(q == F64(2.0), -s, -c)))
    res32 = F32(res)
    res32 = _sel(x == F32(0.0), x, res32)  # sin(-0.0) == -0.0
    res32 = _sel(_fabs(x) == INF32, NAN32, res32)
    return _sel(x != x, x, res32)


@njit(**_JIT)
def cos_f32(x):
    r, q = _sincos_reduce_f32(x)
    s = _sin_poly(r)
    c = _cos_poly(r)
    res = _sel(q == F64(0.0), c, _sel(q == F64(1.0), -s, _sel(q == F64(2.0), -c, s)))
    res32 = F32(res)
    res32 = _sel(_fabs(x) == INF32, NAN32, res32)
    return _sel(x != x, x, res32)


@njit(**_JIT)
def sin_f64(x):
    return math.sin(x)


@njit(**_JIT)
def cos_f64(x):
    return math.cos(x)


# ------------------------------------------------------------------------ pow
@njit(**_JIT)
def pow_f32(x, y):
    """x**y for float32, computed as exp(y*log|x|) in float64 (vectorizable)."""
    xd = F64(x)
    yd = F64(y)
    ax = _fabs(xd)
    r = exp_f64(yd * log_f64(ax))
    fy = _floor(yd)
    yint = fy == yd
    yodd = yint & (yd - F64(2.0) * _floor(yd * F64(0.5)) == F64(1.0))
    r = _sel(_signbit(xd) & yodd, -r, r)
    r = _sel((xd < F64(0.0)) & (xd > -INF64) & (fy != yd), NAN64, r)  # also y NaN
    one = (yd == F64(0.0)) | (xd == F64(1.0)) | ((ax == F64(1.0)) & (_fabs(yd) == INF64))
    r = _sel(one, F64(1.0), r)
    return F32(r)


@njit(**_JIT)
def pow_f64(x, y):
    return x ** y


# ------------------------------------------------------------------------ erf
# least-squares fits (relative error: A 3.7e-11 on [0, 1], B 1.1e-9 on [1, 4])
# erf(x) = x * A(x*x)               for |x| < 1
# erf(x) = 1 - exp(-x*x) * B(|x|)    for 1 <= |x| <= 4 (float32 erf is 1 beyond)
ERF_A = tuple(F64(c) for c in (
    1.128379167080104, -0.37612638552827093, 0.1128378344388075, -0.026865475514831753,
    0.005221138696009825, -0.0008485438915559669, 0.00011274737928552234,
    -9.689741053276452e-06))
ERF_B = tuple(F64(c) for c in (
    0.9987932802036634, -1.1194278166609943, 0.9692642599347273, -0.6871447128134786,
    0.404191071579824, -0.1961223971183093, 0.07741671360867083, -0.0244264803320724,
    0.006031873190201337, -0.0011346280542684538, 0.0001564315382453703,
    -1.4864096715640142e-05, 8.68175305994989e-07, -2.345919097168941e-08))


@njit(**_JIT)
def erf_f32(x):
    xd = F64(x)
    ax = _fabs(xd)
    z = xd * xd
    a = ERF_A[7]
    a = a * z + ERF_A[6]
    a = a * z + ERF_A[5]
    a = a * z + ERF_A[4]
    a = a * z + ERF_A[3]
    a = a * z + ERF_A[2]
    a = a * z + ERF_A[1]
    a = a * z + ERF_A[0]
    small = xd * a  # keeps erf(-0.0) == -0.0
    t = _sel(ax > F64(1.0), ax, F64(1.0))
    t = _sel(t < F64(4.0), t, F64(4.0))
    b = ERF_B[13]
    b = b * t + ERF_B[12]
    b = b * t + ERF_B[11]
    b = b * t + ERF_B[10]
    b = b * t + ERF_B[9]
    b = b * t + ERF_B[8]
    b = b * t + ERF_B[7]
    b = b * t + ERF_B[6]
    b = b * t + ERF_B[5]
    b = b * t + ERF_B[4]
    b = b * t + ERF_B[3]
    b = b * t + ERF_B[2]
    b = b * t + ERF_B[1]
    b = b * t + ERF_B[0]
    large = F64(1.0) - exp_f64(-(t * t)) * b  # t*t is exact for float32 inputs
    res = _sel(ax < F64(1.0), small, _copysign(large, xd))
    res32 = F32(res)
    return _sel(x != x, x, res32)


@njit(**_JIT)
def erf_f64(x):
    return math.erf(x)


# --------------------------------------------------------------- generic API
def _pick1(x, f32, f64):
    if x == types.float32:
        return lambda x: f32(x)
    if x == types.float64:
        return lambda x: f64(x)
    if isinstance(x, (types.Integer, types.Boolean)):
        return lambda x: f64(F64(x))
    return None


def exp(x):
    """exp(x); vectorizable inside njit code (NumPy when called from Python)."""
    return np.exp(x)


def log(x):
    """log(x); vectorizable inside njit code."""
    return np.log(x)


def log1p(x):
    """log1p(x); vectorizable inside njit code."""
    return np.log1p(x)


def expm1(x):
    """expm1(x); vectorizable inside njit code."""
    return np.expm1(x)


def tanh(x):
    """tanh(x); vectorizable inside njit code."""
    return np.tanh(x)


def sigmoid(x):
    """1 / (1 + exp(-x)); vectorizable inside njit code."""
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))[()]


def sin(x):
    """sin(x); vectorizable for float32 inside njit code (float64: libm)."""
    return np.sin(x)


def cos(x):
    """cos(x); vectorizable for float32 inside njit code (float64: libm)."""
    return np.cos(x)


def erf(x):
    """erf(x); vectorizable for float32 inside njit code (float64: libm)."""
    x = np.asarray(x)
    return np.vectorize(math.erf, otypes=[x.dtype if x.dtype.kind == "f" else np.float64])(x)[()]


def pow(x, y):  # noqa: A001 - the public name mirrors the op
    """x ** y; vectorizable for float32 inside njit code (float64: libm)."""
    return np.power(x, y)


_OL = dict(jit_options=dict(fastmath=set(_FLAGS), error_model="numpy", forceinline=True))


@overload(exp, **_OL)
def _ol_exp(x):
    return _pick1(x, exp_f32, exp_f64)


@overload(log, **_OL)
def _ol_log(x):
    return _pick1(x, log_f32, log_f64)


@overload(log1p, **_OL)
def _ol_log1p(x):
    return _pick1(x, log1p_f32, log1p_f64)


@overload(expm1, **_OL)
def _ol_expm1(x):
    return _pick1(x, expm1_f32, expm1_f64)


@overload(tanh, **_OL)
def _ol_tanh(x):
    return _pick1(x, tanh_f32, tanh_f64)


@overload(sigmoid, **_OL)
def _ol_sigmoid(x):
    return _pick1(x, sigmoid_f32, sigmoid_f64)


@overload(sin, **_OL)
def _ol_sin(x):
    return _pick1(x, sin_f32, sin_f64)


@overload(cos, **_OL)
def _ol_cos(x):
    return _pick1(x, cos_f32, cos_f64)


@overload(erf, **_OL)
def _ol_erf(x):
    return _pick1(x, erf_f32, erf_f64)


@overload(pow, **_OL)
def _ol_pow(x, y):
    num = (types.Integer, types.Boolean, types.Float)
    if not (isinstance(x, num) and isinstance(y, num)):
        return None
    if isinstance(x, (types.Integer, types.Boolean)) and isinstance(y, (types.Integer, types.Boolean)):
        return lambda x, y: x ** y
    if x == types.float32 and y == types.float32:
        return lambda x, y: pow_f32(x, y)
    return lambda x, y: pow_f64(F64(x), F64(y))


__all__ = [
    "exp", "log", "log1p", "expm1", "tanh", "sigmoid", "sin", "cos", "erf", "pow",
    "exp_f32", "exp_f64", "log_f32", "log_f64", "log1p_f32", "log1p_f64",
    "expm1_f32", "expm1_f64", "tanh_f32", "tanh_f64", "sigmoid_f32", "sigmoid_f64",
    "sin_f32", "sin_f64", "cos_f32", "cos_f64", "erf_f32", "erf_f64", "pow_f32", "pow_f64",
]
