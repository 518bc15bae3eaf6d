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
sin, cos    0.50                libm (``math.sin``/``math.cos``)
pow         0.50 (in float64)   libm (``x ** y``)
erf         0.50 (in float64)   libm (``math.erf``)
==========  ==================  ==================================

(``python tests/test_fastmath.py`` prints the current figures; the tests
assert bounds slightly above them.)

float32 sin/cos reduce the argument in float64 (three-part pi/2 with FMA),
and for |x| >= 2**24 through a table of 2**k mod 2*pi, so the whole float32
range is accurate (``_sincos_reduce_f32``).

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


# tanh's large branch needs exp(2|x|) only where 1 - 2/(e + 1) does not round to 1: below 2|x| = 44 in both
# precisions (e**44 > 2**63), so the argument is clamped there and needs neither exp's lower clamp, its NaN fix-up
# (the small branch carries NaN) nor its second scale factor (n <= 64).  The same bits as 1 - 2/(exp(2|x|) + 1)
# (``tests/test_fastmath.py``); W1's fused kernel (a tanh and a sigmoid per element) ran 6-11% faster.
TANH_EXP_CLAMP = 44.0


@njit(**_JIT)
def _tanh_large_f32(ax):
    n, e1 = _expm1_reduced_f32(_sel(ax < F32(TANH_EXP_CLAMP / 2), ax + ax, F32(TANH_EXP_CLAMP)))
    return F32(1.0) - F32(2.0) / ((e1 + F32(1.0)) * _pow2(n) + F32(1.0))


@njit(**_JIT)
def _tanh_large_f64(ax):
    n, e1 = _expm1_reduced_f64(_sel(ax < F64(TANH_EXP_CLAMP / 2), ax + ax, F64(TANH_EXP_CLAMP)))
    return F64(1.0) - F64(2.0) / ((e1 + F64(1.0)) * _pow2(n) + F64(1.0))


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
    res = _sel(ax >= F32(0.625), _tanh_large_f32(ax), small)  # NaN fails the test: the small branch's NaN
    return _copysign(res, x)  # keeps tanh(-0.0) == -0.0; NaN stays NaN


@njit(**_JIT)
def tanh_f64(x):
    ax = _fabs(x)
    z = ax * ax
    p = (TANH_P64[0] * z + TANH_P64[1]) * z + TANH_P64[2]
    q = ((z + TANH_Q64[0]) * z + TANH_Q64[1]) * z + TANH_Q64[2]
    small = _fma(z * (p / q), ax, ax)
    res = _sel(ax >= F64(0.625), _tanh_large_f64(ax), small)
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


# 2**k mod 2*pi for k = 0..104, split into 26 + 26 + 53 significant bits
# (so m * T1 and m * T2 are exact for a 24-bit integer m)
_MOD2PI = np.array([
    (1.0, 0.0, 0.0),
    (2.0, 0.0, 0.0),
    (4.0, 0.0, 0.0),
    (1.7168146669864655, 2.58339478698133e-08, 1.9915985002059197e-16),
    (3.433629333972931, 5.16678957396266e-08, 3.9831970004118395e-16),
    (0.5840734541416168, 9.960450686463673e-09, 1.0762083040283467e-16),
    (1.1681469082832336, 1.9920901372927347e-08, 2.1524166080566933e-16),
    (2.3362938165664673, 3.984180274585469e-08, 4.3048332161133866e-16),
    (4.672587633132935, 7.968360549170939e-08, 8.609666432226773e-16),
    (3.0619900822639465, 3.618954824702314e-08, 5.888255069157588e-16),
    (6.123980164527893, 7.237909649404628e-08, 1.1776510138315177e-15),
    (5.964775085449219, 8.118517591526597e-08, 3.3401582843331437e-16),
    (5.64636492729187, 9.879733298134852e-08, 4.2310229703715814e-16),
    (5.009544730186462, 1.4812358006821569e-08, 1.5718602439478305e-16),
    (3.7359041571617126, 2.5656341939850336e-08, 6.944268896009545e-17),
    (1.1886230409145355, 1.7541986974123347e-08, 3.380452279407829e-16),
    (2.377246081829071, 3.5083973948246694e-08, 6.760904558815658e-16),
    (4.754492163658142, 7.016794789649339e-08, 1.3521809117631316e-15),
    (3.2257991433143616, 1.7158234388858773e-08, 2.3898641444647925e-16),
    (0.16841301321983337, 5.457725382740364e-10, 1.0998864138456587e-17),
    (0.33682602643966675, 1.0915450765480728e-09, 2.1997728276913175e-17),
    (0.6736520528793335, 2.1830901530961455e-09, 4.399545655382635e-17),
    (1.347304105758667, 4.366180306192291e-09, 8.79909131076527e-17),
    (2.694608211517334, 8.732360612384582e-09, 1.759818262153054e-16),
    (5.389216423034668, 1.7464721224769164e-08, 3.519636524306108e-16),
    (4.495247483253479, 9.056571315113615e-08, 4.58997945031751e-16),
    (2.7073097825050354, 5.795376267769825e-08, 6.730665302340313e-16),
    (5.414619565010071, 1.159075253553965e-07, 1.3461330604680626e-15),
    (4.546054005622864, 4.9032744087185165e-08, 6.709799217064041e-16),
    (2.80892276763916, 3.449247021336532e-08, 2.0885206388321233e-16),
    (5.61784553527832, 6.898494042673065e-08, 4.1770412776642467e-16),
    (4.952505826950073, 7.439686200427786e-08, 5.904788957033786e-16),
    (3.621826469898224, 2.5616061272160096e-08, 4.7850011877161456e-17),
    (0.9604676812887192, 2.5602647224509667e-09, 1.7304117618625757e-17),
    (1.9209353625774384, 5.120529444901933e-09, 3.4608235237251514e-17),
    (3.8418707251548767, 1.0241058889803867e-08, 6.921647047450303e-17),
    (1.4005561470985413, 1.6513743261725722e-08, 3.3759279096959803e-16),
    (2.8011122941970825, 3.3027486523451444e-08, 6.751855819391961e-16),
    (5.602224588394165, 6.605497304690289e-08, 1.3503711638783921e-15),
    (4.921263933181763, 6.853692902097919e-08, 6.794561285270632e-16),
    (3.559342682361603, 1.3896195527607347e-08, 3.7598725994992215e-18),
    (0.8355000764131546, 8.922855343485026e-09, 2.0667959521959041e-16),
    (1.6710001528263092, 1.784571068697005e-08, 4.1335919043918083e-16),
    (3.3420003056526184, 3.56914213739401e-08, 8.267183808783617e-16),
    (0.40081537514925003, 3.5924470342951764e-10, 6.8508333379926285e-18),
    (0.8016307502985001, 7.184894068590353e-10, 1.3701666675985257e-17),
    (1.6032615005970001, 1.4369788137180706e-09, 2.7403333351970514e-17),
    (3.2065230011940002, 2.873957627436141e-09, 5.480666670394103e-17),
    (0.12986069917678833, 1.7795410423016023e-09, 3.4618516565559846e-18),
    (0.25972139835357666, 3.5590820846032045e-09, 6.923703313111969e-18),
    (0.5194427967071533, 7.118164169206409e-09, 1.3847406626223939e-17),
    (1.0388855934143066, 1.4236328338412818e-08, 2.7694813252447877e-17),
    (2.0777711868286133, 2.8472656676825636e-08, 5.5389626504895754e-17),
    (4.155542373657227, 5.694531335365127e-08, 1.1077925300979151e-16),
    (2.0278995037078857, 5.03176069699407e-08, 8.648075658902376e-16),
    (4.0557990074157715, 1.006352139398814e-07, 1.7296151317804752e-15),
    (1.8284128904342651, 1.8488122588422584e-08, 1.0567643478104146e-16),
    (3.6568257808685303, 3.697624517684517e-08, 2.1135286956208292e-16),
    (1.0304663181304932, 1.037947150450691e-08, 1.7777637929469518e-16),
    (2.0609326362609863, 2.075894300901382e-08, 3.5555275858939036e-16),
    (4.121865272521973, 4.151788601802764e-08, 7.111055171787807e-16),
    (1.960545301437378, 1.946275407505027e-08, 2.891032548279656e-16),
    (3.921090602874756, 3.892550815010054e-08, 5.782065096559312e-16),
    (1.5589959621429443, 1.4277998339196074e-08, 2.3305239782266665e-17),
    (3.1179919242858887, 2.8555996678392148e-08, 4.661047956453333e-17),
    (6.235983848571777, 5.7111993356784296e-08, 9.322095912906666e-17),
    (6.188782453536987, 5.0650966976206746e-08, 8.296909781287879e-16),
    (6.094379663467407, 3.7728915991408485e-08, 5.2627417672798e-16),
    (5.905574083328247, 1.1884813799767358e-08, 1.4148517885139539e-16),
    (5.527962803840637, 7.940589696886491e-08, 1.370308627423508e-15),
    (4.772740364074707, 9.523877686490323e-08, 7.193310556172949e-16),
    (3.2622956037521362, 7.695246440064807e-09, 8.350972677996254e-17),
    (0.2414059154689312, 2.462478276843427e-10, 5.356820577341173e-18),
    (0.4828118309378624, 4.924956553686854e-10, 1.0713641154682347e-17),
    (0.9656236618757248, 9.849913107373709e-10, 2.1427282309364693e-17),
    (1.9312473237514496, 1.9699826214747418e-09, 4.2854564618729387e-17),
    (3.862494647502899, 3.9399652429494836e-09, 8.570912923745877e-17),
    (1.4418039917945862, 3.911556301083863e-09, 3.751120110796257e-17),
    (2.8836079835891724, 7.823112602167726e-09, 7.502240221592514e-17),
    (5.767215967178345, 1.564622520433545e-08, 1.500448044318503e-16),
    (5.2512465715408325, 8.69287202220903e-08, 9.433386687343552e-16),
    (4.219307899475098, 1.1028442159499718e-07, 1.6417479776392397e-15),
    (2.1554306745529175, 3.778653745456495e-08, 3.740313363486331e-16),
    (4.310861349105835, 7.55730749091299e-08, 7.480626726972662e-16),
    (2.3385375142097473, 2.796848708186417e-08, 3.6301756586493656e-16),
    (4.677075028419495, 5.593697416372834e-08, 7.260351317298731e-16),
    (3.070964813232422, 4.8300930366451666e-08, 3.1896248393015025e-16),
    (6.141929626464844, 9.660186073290333e-08, 6.379249678603005e-16),
    (6.00067412853241, 1.0421413954020409e-08, 1.4274215619100522e-16),
    (5.718162894248962, 7.647909860963864e-08, 4.055495255253981e-17),
    (5.153140544891357, 8.938517659373701e-08, 1.6125373846758595e-15),
    (4.0230958461761475, 1.1519733611464744e-07, 1.2037885701219978e-15),
    (1.7630065977573395, 1.7810043217991733e-08, 3.862909410142745e-16),
    (3.526013195514679, 3.562008643598347e-08, 7.72581882028549e-16),
    (0.7688411474227905, 7.667155133006531e-09, 1.9001137960247088e-16),
    (1.537682294845581, 1.5334310266013063e-08, 3.8002275920494176e-16),
    (3.075364589691162, 3.0668620532026125e-08, 7.600455184098835e-16),
    (6.150729179382324, 6.133724106405225e-08, 1.520091036819767e-15),
    (6.018273115158081, 5.910146594345633e-08, 1.3071745470968757e-16),
    (5.753360986709595, 5.462991303772924e-08, 1.650554958990453e-17),
    (5.223536729812622, 4.568680633809663e-08, 6.762601590504636e-16),
    (4.163888216018677, 2.7800594715188254e-08, 2.1941253857133145e-16),
    (2.0445911288261414, 5.1632815356583706e-08, 1.9389571731319223e-16),
    (4.089182257652283, 1.0326563071316741e-07, 3.8779143462638446e-16),
    (1.8951793909072876, 2.3748953470459355e-08, 8.656429957323569e-17),
], dtype=np.float64)
MOD2PI_1 = np.ascontiguousarray(_MOD2PI[:, 0])
MOD2PI_2 = np.ascontiguousarray(_MOD2PI[:, 1])
MOD2PI_3 = np.ascontiguousarray(_MOD2PI[:, 2])


@njit(**_JIT)
def _sincos_reduce_f32(x):
    """(r, q): float32 x == r + (4k + q) * pi/2 (mod 2*pi), in float64, |r| <~ pi/4.

    |x| < 2**24: three-part Cody-Waite with FMA in float64 (the first step is
    exact).  |x| >= 2**24: x = m * 2**k with an integer m < 2**24, so
    x == m * (2**k mod 2*pi) (mod 2*pi); the table holds 2**k mod 2*pi in
    three pieces, the two big products are exact, and a two-sum keeps the
    rounding error of the reduction far below a float32 ulp of the result.
    Everything is selects and table gathers: the loop still vectorizes.
    """
    xd = F64(x)
    big = _fabs(x) >= F32(16777216.0)
    k = _exponent(x) - F32(23.0)
    ki = np.int64(_sel(big & (k <= F32(104.0)), k, F32(0.0)))
    m = F64(_mantissa(x) * F32(8388608.0)) * _copysign(F64(1.0), xd)
    yh = _sel(big, m * MOD2PI_1[ki], xd)
    ym = _sel(big, m * MOD2PI_2[ki], F64(0.0))
    yl = _sel(big, m * MOD2PI_3[ki], F64(0.0))
    j = _rint((yh + ym) * TWO_OVER_PI)
    r1 = _fma(-j, PIO2_1, yh)
    s = r1 + ym  # two-sum: s + e == r1 + ym exactly
    bb = s - r1
    e = (r1 - (s - bb)) + (ym - bb)
    s = _fma(-j, PIO2_2, s)
    s = s + (e + yl)
    s = _fma(-j, PIO2_3, s)
    q = j - F64(4.0) * _floor(j * F64(0.25))
    return s, q


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
