"""Op-table rows of the special functions: lgamma, digamma, polygamma, erfinv, i0/i1, igamma/igammac, and the
integer/bit rows gcd, lcm, nextafter.

Their scalar code is one preamble of plain-Python functions (``_sp_*``) that every generated kernel using a
row inlines: ``@njit`` device functions on the CPU, rewritten to ``@cuda.jit(device=True)`` ones for CUDA
(see ``kernels/cuda/elementwise.py``), so the rows fuse like any other. They compute in float64 whatever the
tensor dtype (float32 results are rounded once on store) and follow PyTorch's CPU algorithms
(``aten/src/ATen/native/Math.h``: Cephes' digamma, trigamma, Hurwitz zeta and incomplete gamma, the
rational erfinv start with two Newton steps), so special values match: ``digamma(0) = -inf``,
``digamma(-1) = nan``, ``erfinv(1) = inf``, ``igamma(0, x > 0) = 1``. ``i0``/``i1`` sum their power series
below 30 and the asymptotic series above; ``i0(±inf)`` is ``inf`` (as NumPy's and SciPy's; PyTorch's
Chebyshev form gives NaN there).

Derivatives are the ones of PyTorch's ``derivatives.yaml``; ``igamma``/``igammac`` have none for ``input``
(``a``), as in PyTorch; gcd, lcm and nextafter none at all.

>>> from numgrad.ir.table import ELEMENTWISE
>>> ELEMENTWISE["digamma"].scalar
'_sp_digamma({0})'
"""
from __future__ import annotations

from .table import Row, register

_FN = "@njit(inline='always', cache=True, nogil=True, error_model='numpy')"

SPECIAL_SOURCE = '''
{fn}
def _sp_digamma(x):
    x = float(x)
    if x == 0.0:
        return math.copysign(math.inf, -x)
    result = 0.0
    if x < 0.0:
        if x == math.floor(x):
            return math.nan
        r = x - math.trunc(x)
        result = -math.pi / math.tan(math.pi * r)
        x = 1.0 - x
    if x != x or x == math.inf:
        return x + result
    while x < 10.0:
        result -= 1.0 / x
        x += 1.0
    if x == 10.0:
        return result + 2.25175258906672110764
    y = 0.0
    if x < 1.0e17:
        z = 1.0 / (x * x)
        p = 8.33333333333333333333E-2
        p = p * z - 2.10927960927960927961E-2
        p = p * z + 7.57575757575757575758E-3
        p = p * z - 4.16666666666666666667E-3
        p = p * z + 3.96825396825396825397E-3
        p = p * z - 8.33333333333333333333E-3
        p = p * z + 8.33333333333333333333E-2
        y = z * p
    return result + math.log(x) - 0.5 / x - y


{fn}
def _sp_trigamma(x):
    x = float(x)
    sign = 1.0
    result = 0.0
    if x < 0.5:
        sign = -1.0
        s = math.sin(math.pi * x)
        result -= (math.pi * math.pi) / (s * s)
        x = 1.0 - x
    for _ in range(6):
        result += 1.0 / (x * x)
        x += 1.0
    ixx = 1.0 / (x * x)
    result += (1.0 + 1.0 / (2.0 * x) + ixx * (1.0 / 6.0 - ixx * (1.0 / 30.0 - ixx * (1.0 / 42.0)))) / x
    return sign * result


{fn}
def _sp_zeta(x, q):
    machep = 1.11022302462515654042E-16
    if x == 1.0:
        return math.inf
    if x < 1.0:
        return math.nan
    if q <= 0.0:
        if q == math.floor(q):
            return math.inf
        if x != math.floor(x):
            return math.nan
    s = math.pow(q, -x)
    a = q
    i = 0
    b = 0.0
    while i < 9 or a <= 9.0:
        i += 1
        a += 1.0
        b = math.pow(a, -x)
        s += b
        if -machep * s < b and b < machep * s:
            return s
    w = a
    s += b * w / (x - 1.0)
    s -= 0.5 * b
    a = 1.0
    k = 0.0
    for j in range(12):
        if j == 0:
            c = 12.0
        elif j == 1:
            c = -720.0
        elif j == 2:
            c = 30240.0
        elif j == 3:
            c = -1209600.0
        elif j == 4:
            c = 47900160.0
        elif j == 5:
            c = -1.8924375803183791606e9
        elif j == 6:
            c = 7.47242496e10
        elif j == 7:
            c = -2.950130727918164224e12
        elif j == 8:
            c = 1.1646782814350067249e14
        elif j == 9:
            c = -4.5979787224074726105e15
        elif j == 10:
            c = 1.8152105401943546773e17
        else:
            c = -7.1661652561756670113e18
        a *= x + k
        b /= w
        t = a * b / c
        s = s + t
        if abs(t / s) < machep:
            return s
        k += 1.0
        a *= x + k
        b /= w
        k += 1.0
    return s


{fn}
def _sp_polygamma(n, x):
    n = int(n)
    x = float(x)
    if n == 0:
        return _sp_digamma(x)
    if n == 1:
        return _sp_trigamma(x)
    sign = 1.0 if n % 2 == 1 else -1.0
    return sign * math.exp(math.lgamma(n + 1.0)) * _sp_zeta(n + 1.0, x)


{fn}
def _sp_lgamma(x):
    x = float(x)
    if x <= 0.0 and x == math.floor(x):
        return math.inf
    return math.lgamma(x)


{fn}
def _sp_erfinv(y):
    y = float(y)
    y_abs = abs(y)
    if y_abs > 1.0 or y != y:
        return math.nan
    if y_abs == 1.0:
        return math.copysign(math.inf, y)
    if y_abs <= 0.7:
        z = y * y
        num = ((-0.140543331 * z + 0.914624893) * z - 1.645349621) * z + 0.886226899
        dem = (((0.012229801 * z - 0.329097515) * z + 1.442710462) * z - 2.118377725) * z + 1.0
        x = y * num / dem
    else:
        z = math.sqrt(-math.log((1.0 - y_abs) / 2.0))
        num = ((1.641345311 * z + 3.429567803) * z - 1.624906493) * z - 1.970840454
        dem = (1.637067800 * z + 3.543889200) * z + 1.0
        x = math.copysign(num, y) / dem
    two_over_sqrt_pi = 1.1283791670955126
    x = x - (math.erf(x) - y) / (two_over_sqrt_pi * math.exp(-x * x))
    x = x - (math.erf(x) - y) / (two_over_sqrt_pi * math.exp(-x * x))
    return x


{fn}
def _sp_bessel_i(nu, x):
    # I_nu(x) for nu = 0 or 1: power series below 30, asymptotic series (with its sign for odd nu) above
    x = float(x)
    ax = abs(x)
    if ax != ax:
        return x
    if ax <= 30.0:
        h = 0.5 * ax
        term = 1.0 if nu == 0 else h
        total = term
        k = 0.0
        while True:
            k += 1.0
            term *= h * h / (k * (k + nu))
            total += term
            if term <= total * 1.0e-17:
                break
    elif ax == math.inf:
        total = math.inf
    else:
        mu = 4.0 * nu * nu
        term = 1.0
        total = 1.0
        for j in range(1, 30):
            term *= -(mu - (2.0 * j - 1.0) * (2.0 * j - 1.0)) / (j * 8.0 * ax)
            total += term
            if abs(term) <= abs(total) * 1.0e-17:
                break
        e = math.exp(0.5 * ax)  # e^x in two halves: the product overflows only where the result does
        total = e * (total / math.sqrt(2.0 * math.pi * ax)) * e
    if nu == 1 and x < 0.0:
        return -total
    return total


{fn}
def _sp_i0(x):
    return _sp_bessel_i(0, x)


{fn}
def _sp_i1(x):
    return _sp_bessel_i(1, x)


{fn}
def _sp_igam_series(a, x):
    machep = 1.11022302462515654042E-16
    ax = a * math.log(x) - x - math.lgamma(a)
    if ax < -709.78271289338399:
        return 0.0
    ax = math.exp(ax)
    r = a
    c = 1.0
    ans = 1.0
    for _ in range(2000):
        r += 1.0
        c *= x / r
        ans += c
        if c <= machep * ans:
            break
    return ans * ax / a


{fn}
def _sp_igamc_fraction(a, x):
    machep = 1.11022302462515654042E-16
    big = 4.503599627370496e15
    biginv = 2.22044604925031308085e-16
    ax = a * math.log(x) - x - math.lgamma(a)
    if ax < -709.78271289338399:
        return 0.0
    ax = math.exp(ax)
    y = 1.0 - a
    z = x + y + 1.0
    c = 0.0
    pkm2 = 1.0
    qkm2 = x
    pkm1 = x + 1.0
    qkm1 = z * x
    ans = pkm1 / qkm1
    for _ in range(2000):
        c += 1.0
        y += 1.0
        z += 2.0
        yc = y * c
        pk = pkm1 * z - pkm2 * yc
        qk = qkm1 * z - qkm2 * yc
        t = 1.0
        if qk != 0.0:
            r = pk / qk
            t = abs((ans - r) / r)
            ans = r
        pkm2 = pkm1
        pkm1 = pk
        qkm2 = qkm1
        qkm1 = qk
        if abs(pk) > big:
            pkm2 *= biginv
            pkm1 *= biginv
            qkm2 *= biginv
            qkm1 *= biginv
        if t <= machep:
            break
    return ans * ax


{fn}
def _sp_igamma(a, x):
    a = float(a)
    x = float(x)
    if x < 0.0 or a < 0.0 or a != a or x != x:
        return math.nan
    if a == 0.0:
        return 1.0 if x > 0.0 else math.nan
    if x == 0.0:
        return 0.0
    if a == math.inf:
        return math.nan if x == math.inf else 0.0
    if x == math.inf:
        return 1.0
    if x > 1.0 and x > a:
        return 1.0 - _sp_igamc_fraction(a, x)
    return _sp_igam_series(a, x)


{fn}
def _sp_igammac(a, x):
    a = float(a)
    x = float(x)
    if x < 0.0 or a < 0.0 or a != a or x != x:
        return math.nan
    if a == 0.0:
        return 0.0 if x > 0.0 else math.nan
    if x == 0.0:
        return 1.0
    if a == math.inf:
        return math.nan if x == math.inf else 1.0
    if x == math.inf:
        return 0.0
    if x < 1.0 or x < a:
        return 1.0 - _sp_igam_series(a, x)
    return _sp_igamc_fraction(a, x)


{fn}
def _sp_nextafter(x, y):
    # the next value of the kernel's dtype T after x towards y, from frexp/ldexp (which CUDA has, unlike
    # np.nextafter); T(2**24 + 1) rounds to 2**24 only in single precision
    if T(16777217.0) == T(16777216.0):
        digits = 24
        min_exp = -125
        max_exp = 128
    else:
        digits = 53
        min_exp = -1021
        max_exp = 1024
    if x != x or y != y:
        return x + y
    if x == y:
        return y
    if x == 0.0:
        return math.copysign(math.ldexp(1.0, min_exp - digits), y)
    if x == math.inf or x == -math.inf:
        return math.copysign(math.ldexp(2.0 - math.ldexp(1.0, 1 - digits), max_exp - 1), x)
    m, e = math.frexp(x)
    if e < min_exp:
        e = min_exp  # subnormals: one fixed spacing
    toward_zero = (y > x) != (x > 0.0)
    if toward_zero and abs(m) == 0.5 and e > min_exp:
        e -= 1  # just below a power of two the spacing halves
    step = math.ldexp(1.0, e - digits)
    if y > x:
        return x + step
    return x - step


{fn}
def _sp_gcd(a, b):
    a = abs(a)
    b = abs(b)
    while b != 0:
        a, b = b, a % b
    return a


{fn}
def _sp_lcm(a, b):
    g = _sp_gcd(a, b)
    if g == 0:
        return g
    return abs(a // g * b)
'''.replace("{fn}", _FN)


def _special(name, arity, kind, scalar, grad=None, node=None, domain="any"):
    node_name = node or "".join(p.capitalize() for p in name.split("_")) + "Backward0"
    register(Row(name, arity, kind, scalar, grad, (), node_name, domain, SPECIAL_SOURCE))


_special("lgamma", 1, "float", "_sp_lgamma({0})", lambda F, x, out, g: (g * F.digamma(x[0]),), domain="positive")
_special("digamma", 1, "float", "_sp_digamma({0})", lambda F, x, out, g: (g * F.polygamma(x[0], 1.0),),
         domain="positive")
# polygamma(x, n): the order n is the second operand (a number), so its derivative is polygamma(x, n + 1)
_special("polygamma", 2, "float", "_sp_polygamma({1}, {0})",
         lambda F, x, out, g: (g * F.polygamma(x[0], x[1] + 1.0), None))
_special("erfinv", 1, "float", "_sp_erfinv({0})",
         lambda F, x, out, g: (g * (0.5 * 1.7724538509055159) * F.exp(out * out),), domain="open_unit")
_special("i1", 1, "float", "_sp_i1({0})",
         lambda F, x, out, g: (g * F.where(F.eq(x[0], 0.0), 0.5, F.i0(x[0]) - out / x[0]),), node="SpecialI1Backward0")
_special("i0", 1, "float", "_sp_i0({0})", lambda F, x, out, g: (g * F.i1(x[0]),))
# d/dx P(a, x) = x^(a-1) e^-x / Gamma(a); none for a, as in PyTorch
_special("igamma", 2, "float", "_sp_igamma({0}, {1})",
         lambda F, x, out, g: (None, g * F.exp((x[0] - 1.0) * F.log(x[1]) - x[1] - F.lgamma(x[0]))))
_special("igammac", 2, "float", "_sp_igammac({0}, {1})",
         lambda F, x, out, g: (None, -g * F.exp((x[0] - 1.0) * F.log(x[1]) - x[1] - F.lgamma(x[0]))))
_special("gcd", 2, "arith", "_sp_gcd({0}, {1})")
_special("lcm", 2, "arith", "_sp_lcm({0}, {1})")
_special("nextafter", 2, "arith", "_sp_nextafter({0}, {1})")
