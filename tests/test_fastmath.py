"""Accuracy of numgrad.kernels.cpu.fastmath against NumPy, in ulps.

References: float32 results are compared with NumPy's float64 result (or
``math.erf``) rounded by the ulp of the float32 value; float64 results with
NumPy's ``longdouble`` (x87 80-bit) functions.  Inputs: dense log-spaced
grids of both signs from the smallest subnormal to the largest finite value,
uniform grids where the functions are interesting, and inf/NaN/±0.

Measured max error (ulp) on this machine, asserted with the bounds below:

==========  =======  =======
function    float32  float64
==========  =======  =======
exp         0.99     0.96
expm1       1.32     1.62
log         0.78     0.73
log1p       2.12     2.26
tanh        1.07     1.17
sigmoid     2.17     2.29
sin         0.50     libm
cos         0.50     libm
pow         0.50     libm
erf         0.50     libm
==========  =======  =======

Run ``python tests/test_fastmath.py`` to print the current figures.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
from numba import njit, prange

from numgrad.kernels.cpu import fastmath as fm

LD = np.longdouble

# asserted bounds in ulp (the measured figures are in the module docstring)
ULP_BOUNDS = {
    "exp": (1.5, 1.5), "expm1": (2.0, 2.0), "log": (1.0, 1.0), "log1p": (2.5, 2.5),
    "tanh": (2.0, 2.0), "sigmoid": (2.5, 2.5), "sin": (1.0, 1.0), "cos": (1.0, 1.0),
    "pow": (1.0, 1.0), "erf": (1.0, 1.0),
}


@njit(cache=True)
def _map1(f, x, out):
    for i in range(x.size):
        out[i] = f(x[i])


@njit(cache=True)
def _map2(f, x, y, out):
    for i in range(x.size):
        out[i] = f(x[i], y[i])


def _ref_erf64(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _sigmoid_ref(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


# name -> (reference on float64 inputs, reference on longdouble inputs or None)
REFS = {
    "exp": (np.exp, np.exp),
    "expm1": (np.expm1, np.expm1),
    "log": (np.log, np.log),
    "log1p": (np.log1p, np.log1p),
    "tanh": (np.tanh, np.tanh),
    "sigmoid": (_sigmoid_ref, _sigmoid_ref),
    "sin": (np.sin, None),
    "cos": (np.cos, None),
    "erf": (_ref_erf64, None),
}


def _grid(dtype, n=20000):
    fi = np.finfo(dtype)
    tiny = float(fi.smallest_subnormal)
    with np.errstate(all="ignore"):
        mags = np.geomspace(tiny, float(fi.max), n).astype(dtype)
    mags = mags[np.isfinite(mags)]
    mid = np.linspace(-30, 30, n).astype(dtype)
    near = np.geomspace(1e-8, 2.0, n // 4).astype(dtype)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, fi.max, -fi.max,
                         fi.tiny, -fi.tiny, tiny, -tiny, 0.5, 2.0], dtype=dtype)
    return np.concatenate([mags, -mags, mid, near, -near, 1 + near, 1 - near / 2, specials])


def _domain(name, x):
    return x


def _ulp_err(got, ref, dtype):
    """Max ulp error; non-finite and zero results must match exactly."""
    got = np.asarray(got)
    with np.errstate(all="ignore"):
        return _ulp_err_inner(got, ref, dtype)


def _ulp_err_inner(got, ref, dtype):
    wide = np.float64 if dtype == np.float32 else LD
    ref_r = np.asarray(ref).astype(dtype)  # correctly rounded (up to the reference's own error)
    both_nan = np.isnan(got) & np.isnan(ref_r)
    exact = (got == ref_r) | both_nan
    nonfin = ~np.isfinite(ref_r) | ~np.isfinite(got)
    bad = nonfin & ~exact
    assert not bad.any(), (got[bad][:5], ref_r[bad][:5])
    sel = ~nonfin
    if not sel.any():
        return 0.0
    err = np.abs(got[sel].astype(wide) - np.asarray(ref)[sel].astype(wide))
    sp = np.spacing(np.abs(ref_r[sel])).astype(wide)
    return float(np.max(err / sp))


def _measure(name, dtype):
    x = _domain(name, _grid(dtype))
    out = np.empty_like(x)
    f = getattr(fm, f"{name}_{'f32' if dtype == np.float32 else 'f64'}")
    with np.errstate(all="ignore"):
        _map1(f, x, out)
        r64, rld = REFS[name]
        if dtype == np.float32:
            ref = r64(x.astype(np.float64))
        elif rld is not None:
            ref = rld(x.astype(LD))
        else:  # float64 falls back to libm: compare with NumPy/math directly
            ref = r64(x)
    return x, out, ref, _ulp_err(out, ref, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(REFS))
def test_unary_ulp(name, dtype):
    x, out, ref, err = _measure(name, dtype)
    bound = ULP_BOUNDS[name][0 if dtype == np.float32 else 1]
    assert err <= bound, (name, dtype, err)
    assert out.dtype == dtype


def _pow_inputs(dtype, n=300):
    xs = np.concatenate([np.geomspace(1e-30, 1e30, n), [0.5, 1.0, 2.0, 3.0, 10.0]]).astype(dtype)
    xs = np.concatenate([xs, -xs, [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0]]).astype(dtype)
    ys = np.concatenate([np.linspace(-40, 40, 161), np.geomspace(1e-3, 300, 60),
                         -np.geomspace(1e-3, 300, 60),
                         [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.0, 3.0, -3.0, np.inf, -np.inf, np.nan,
                          2.0 ** 24, 2.0 ** 24 + 2]]).astype(dtype)
    X, Y = np.meshgrid(xs, ys)
    return X.ravel(), Y.ravel()


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_pow_ulp(dtype):
    x, y = _pow_inputs(dtype)
    out = np.empty_like(x)
    f = fm.pow_f32 if dtype == np.float32 else fm.pow_f64
    with np.errstate(all="ignore"):
        _map2(f, x, y, out)
        if dtype == np.float32:
            ref = np.power(x.astype(np.float64), y.astype(np.float64))
        else:
            ref = np.power(x.astype(LD), y.astype(LD))
        npref = np.power(x, y)
    err = _ulp_err(out, ref, dtype)
    assert err <= ULP_BOUNDS["pow"][0 if dtype == np.float32 else 1], err
    # the special cases agree bit for bit with NumPy (signed zeros included)
    fin = ~np.isfinite(npref) | (npref == 0) | (npref == 1)
    np.testing.assert_array_equal(out[fin], npref[fin])
    num = fin & ~np.isnan(npref)
    np.testing.assert_array_equal(np.signbit(out[num]), np.signbit(npref[num]))


SPECIALS = {
    "exp": [(np.inf, np.inf), (-np.inf, 0.0), (0.0, 1.0), (-0.0, 1.0), (1000, np.inf), (-1000, 0.0)],
    "expm1": [(np.inf, np.inf), (-np.inf, -1.0), (0.0, 0.0), (-0.0, -0.0), (1000, np.inf), (-1000, -1.0)],
    "log": [(0.0, -np.inf), (-0.0, -np.inf), (-1.0, np.nan), (np.inf, np.inf), (-np.inf, np.nan), (1.0, 0.0)],
    "log1p": [(-1.0, -np.inf), (-2.0, np.nan), (np.inf, np.inf), (0.0, 0.0), (-0.0, -0.0), (-np.inf, np.nan)],
    "tanh": [(np.inf, 1.0), (-np.inf, -1.0), (0.0, 0.0), (-0.0, -0.0), (50.0, 1.0), (-50.0, -1.0)],
    "sigmoid": [(np.inf, 1.0), (-np.inf, 0.0), (0.0, 0.5), (-0.0, 0.5), (200.0, 1.0), (-1000.0, 0.0)],
    "sin": [(0.0, 0.0), (-0.0, -0.0), (np.inf, np.nan), (-np.inf, np.nan)],
    "cos": [(0.0, 1.0), (-0.0, 1.0), (np.inf, np.nan), (-np.inf, np.nan)],
    "erf": [(0.0, 0.0), (-0.0, -0.0), (np.inf, 1.0), (-np.inf, -1.0), (10.0, 1.0), (-10.0, -1.0)],
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(SPECIALS))
def test_special_values(name, dtype):
    cases = SPECIALS[name] + [(np.nan, np.nan)]
    x = np.array([c[0] for c in cases], dtype=dtype)
    want = np.array([c[1] for c in cases], dtype=dtype)
    out = np.empty_like(x)
    _map1(getattr(fm, f"{name}_{'f32' if dtype == np.float32 else 'f64'}"), x, out)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(np.signbit(out[~np.isnan(want)]), np.signbit(want[~np.isnan(want)]))


@njit(cache=True)
def _generic_all(x):
    # the calling convention generated kernels use: fm.<name>(scalar)
    return (fm.exp(x), fm.log(x), fm.log1p(x), fm.expm1(x), fm.tanh(x), fm.sigmoid(x),
            fm.sin(x), fm.cos(x), fm.erf(x), fm.pow(x, x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_generic_dispatch_keeps_dtype(dtype):
    x = dtype(0.75)
    res = _generic_all(x)
    ret = _generic_all.nopython_signatures[-1].return_type
    nbt = {np.float32: "float32", np.float64: "float64"}[dtype]
    assert all(str(t) == nbt for t in ret), ret
    want = [np.exp(x), np.log(x), np.log1p(x), np.expm1(x), np.tanh(x), 1 / (1 + np.exp(-x)),
            np.sin(x), np.cos(x), math.erf(x), x ** x]
    np.testing.assert_allclose(np.array(res, dtype=np.float64), np.array(want, dtype=np.float64),
                               rtol=4 * np.finfo(dtype).eps)


def test_generic_dispatch_ints():
    @njit
    def f(a, b):
        return fm.exp(a), fm.pow(a, b), fm.pow(a, 0.5)

    e, p, q = f(2, 3)
    assert e == pytest.approx(math.exp(2)) and p == 8 and isinstance(p, int)
    assert q == pytest.approx(math.sqrt(2))


def test_python_level_fallback():
    x = np.array([-1.0, 0.0, 2.0], dtype=np.float32)
    np.testing.assert_allclose(fm.sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-6)
    np.testing.assert_allclose(fm.erf(x), [math.erf(v) for v in x], rtol=1e-6)
    assert fm.exp(np.float32(1)).dtype == np.float32


@njit(cache=False, fastmath={"nsz", "arcp", "contract", "afn", "reassoc"})  # IR needs a real compile
def _vec_probe(x, out):
    for i in range(x.size):
        out[i] = fm.tanh(x[i]) * fm.sigmoid(x[i]) + fm.exp(x[i]) + fm.log1p(x[i])


def test_float32_loop_vectorizes():
    x = np.linspace(-0.9, 2, 64, dtype=np.float32)
    out = np.empty_like(x)
    _vec_probe(x, out)
    ir_text = _vec_probe.inspect_llvm(_vec_probe.signatures[0])
    assert re.search(r"<(4|8|16) x float>", ir_text), "float32 fastmath loop did not vectorize"
    assert not re.search(r"@(expf|tanhf|logf|log1pf|exp|tanh)\(", ir_text)  # no libm calls
    # flags of the caller (reassoc) must not break the inlined code
    np.testing.assert_allclose(out, np.tanh(x) / (1 + np.exp(-x)) + np.exp(x) + np.log1p(x),
                               rtol=1e-5, equal_nan=True)


def test_cache_from_generated_module(tmp_path):
    """A kernel module written to disk that calls fm.* caches across processes."""
    import subprocess
    import sys
    import textwrap

    mod = tmp_path / "ng_fm_probe_mod.py"
    mod.write_text(textwrap.dedent("""
        from numba import njit
        from numgrad.kernels.cpu import fastmath as fm

        @njit(cache=True)
        def k(x, out):
            for i in range(x.size):
                out[i] = fm.tanh(x[i]) + fm.exp(x[i])
    """))
    script = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {str(tmp_path)!r})
        import ng_fm_probe_mod as m
        x = np.linspace(-1, 1, 10, dtype=np.float32); out = np.empty_like(x)
        m.k(x, out)
        assert np.allclose(out, np.tanh(x) + np.exp(x), rtol=1e-6)
        print(sum(len(v) for v in [m.k.stats.cache_hits.values()]) and sum(m.k.stats.cache_hits.values()))
    """)
    env = dict(__import__("os").environ, NUMBA_CACHE_DIR=str(tmp_path / "nbcache"))
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
            for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    assert runs[0].stdout.strip() == "0" and runs[1].stdout.strip() == "1", [r.stdout for r in runs]


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    for name in sorted(REFS):
        print(f"{name:8s}", "  ".join(f"{_measure(name, d)[3]:6.2f}" for d in (np.float32, np.float64)))
    for d in (np.float32, np.float64):
        x, y = _pow_inputs(d)
        out = np.empty_like(x)
        with np.errstate(all="ignore"):
            _map2(fm.pow_f32 if d == np.float32 else fm.pow_f64, x, y, out)
            ref = np.power(x.astype(np.float64 if d == np.float32 else LD), y.astype(np.float64 if d == np.float32 else LD))
        print("pow", d.__name__, f"{_ulp_err(out, ref, d):.2f}")


@njit(cache=False, parallel=True, fastmath={"contract"})
def _tanh_mismatches_f32(first, count, step):
    """How many of the float32 bit patterns ``first + k * step`` (k < count) get other bits from ``tanh_f32``
    than from the formula it specializes, ``copysign(1 - 2/(exp_f32(2|x|) + 1), x)`` at |x| >= 0.625 (NaN: any
    NaN)."""
    chunk = 1 << 14
    total = 0
    for c in prange((count + chunk - 1) // chunk):
        m = min(chunk, count - c * chunk)
        bits = np.empty(m, np.uint32)
        for k in range(m):
            bits[k] = np.uint32(first + (c * chunk + k) * step)
        x = bits.view(np.float32)
        got = np.empty(m, np.float32)
        want = np.empty(m, np.float32)
        for k in range(m):
            got[k] = fm.tanh_f32(x[k])
            ax = abs(x[k])
            large = np.float32(1.0) - np.float32(2.0) / (fm.exp_f32(ax + ax) + np.float32(1.0))
            want[k] = np.copysign(large, x[k]) if ax >= np.float32(0.625) else got[k]
        same = got.view(np.uint32) == want.view(np.uint32)
        for k in range(m):
            if not same[k] and not (got[k] != got[k] and want[k] != want[k]):
                total += 1
    return total


def _f32_bits(v: float) -> int:
    return int(np.array(v, np.float32).view(np.uint32))


@pytest.mark.parametrize("sign", [0, 1 << 31], ids=["+", "-"])
def test_tanh_large_branch_is_the_exp_formula_for_float32(sign):
    """``tanh_f32`` evaluates its large branch with an exp specialized to 2|x| <= 44 (one scale factor, no NaN
    fix-up); it must give the general exp formula's bits: every float32 of [0.625, 22] (where the argument is
    not clamped), and every 4099th bit pattern above (where both round to +-1; inf and NaN included)."""
    lo, hi, top = _f32_bits(0.625), _f32_bits(22.0), 0x7FFFFFFF
    assert _tanh_mismatches_f32(sign + lo, hi - lo + 1, 1) == 0
    assert _tanh_mismatches_f32(sign + hi, (top - hi) // 4099 + 1, 4099) == 0
    assert _tanh_mismatches_f32(sign + 0x7F800000, 2, 1) == 0  # inf and the first NaN


def test_tanh_large_branch_is_the_exp_formula_in_float64():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(0.625, 25.0, 200_000), np.geomspace(0.625, 1e300, 20_000),
                        np.nextafter(0.625, [0.0, 1.0]), np.nextafter(22.0, [0.0, 50.0]), [22.0, np.inf, np.nan]])
    x = np.concatenate([x, -x])
    got, exp_2ax = np.empty_like(x), np.empty_like(x)
    _map1(fm.tanh_f64, x, got)
    _map1(fm.exp_f64, 2.0 * np.abs(x), exp_2ax)
    with np.errstate(over="ignore"):
        want = np.copysign(1.0 - 2.0 / (exp_2ax + 1.0), x)
    large = ~(np.abs(x) < 0.625)  # (NaN included)
    assert large.sum() > 400_000
    np.testing.assert_array_equal(got[large], want[large])
