"""Scalar math for generated CUDA kernels, and the render table that maps op-table code to it.

The op table's scalar templates are written for the CPU: ``fm.tanh`` (numgrad's
vectorizable CPU math) and NumPy scalar functions (``np.floor``).  Neither
works in CUDA device code: ``@njit`` functions cannot be called from kernels,
and numba-cuda has no lowering for NumPy's ``floor``/``rint``/``sqrt``/``exp2``
(``cuda.compile_ptx`` raises).  ``rewriter_for(dtype)`` turns each template call into
``dm.<name>_<f32|f64>``, the device function for the node's dtype, so float32
stays in float32 arithmetic on the GPU.

On a GPU those names are CUDA's libdevice functions (``expf``, ``floorf``...,
the ones nvcc uses).  On Numba's simulator kernels are plain Python, where
libdevice is a stub returning None and ``math.exp`` raises OverflowError
instead of returning inf, so the same names are NumPy's ufuncs there: NaN and
inf propagate as on the device.
"""
from __future__ import annotations

import math

import numpy as np

from . import simulator_enabled

# template call -> device function stem (dtype suffix added by rewrite)
_CALLS = {
    "fm.exp(": "exp", "fm.log(": "log", "fm.log1p(": "log1p", "fm.expm1(": "expm1", "fm.sin(": "sin",
    "fm.cos(": "cos", "fm.tanh(": "tanh", "fm.erf(": "erf", "fm.pow(": "pow", "fm.sigmoid(": "sigmoid",
    "np.floor(": "floor", "np.ceil(": "ceil", "np.rint(": "rint", "np.trunc(": "trunc", "np.exp2(": "exp2",
    "np.log2(": "log2", "np.sqrt(": "sqrt", "np.tan(": "tan",
}
_UNARY = ("exp", "log", "log1p", "expm1", "sin", "cos", "tanh", "erf", "floor", "ceil", "rint", "trunc",
          "exp2", "log2", "sqrt", "tan")


def rewriter_for(compute: str):
    """The ``ex.render`` rewrite hook for a kernel whose own dtype ``T`` is ``compute``."""
    def rewrite(code: str, dtype) -> str:
        if "(" not in code:
            return code
        # float32 nodes use the f-variants; integer inputs of a float function compute in double,
        # as NumPy does
        suffix = "_f32" if (dtype or compute) == "float32" else "_f64"
        for call, stem in _CALLS.items():
            if call in code:
                code = code.replace(call, f"dm.{stem}{suffix}(")
        return code

    return rewrite


def _sim_unary(ufunc):
    def fn(x):
        with np.errstate(all="ignore"):
            return ufunc(x)

    return fn


def _sim_pow(x, y):
    with np.errstate(all="ignore"):
        return np.power(x, y)


def _sim_sigmoid(x):
    with np.errstate(all="ignore"):
        return type(x)(1) / (type(x)(1) + np.exp(-x))


if simulator_enabled():
    _NUMPY = {"exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sin": np.sin, "cos": np.cos,
              "tanh": np.tanh, "floor": np.floor, "ceil": np.ceil, "rint": np.rint, "trunc": np.trunc,
              "exp2": np.exp2, "log2": np.log2, "sqrt": np.sqrt, "tan": np.tan}

    def _sim_erf(x):
        return type(x)(math.erf(float(x))) if x == x else x

    for _stem in _UNARY:
        _fn = _sim_erf if _stem == "erf" else _sim_unary(_NUMPY[_stem])
        globals()[_stem + "_f32"] = globals()[_stem + "_f64"] = _fn
    pow_f32 = pow_f64 = _sim_pow
    sigmoid_f32 = sigmoid_f64 = _sim_sigmoid
else:
    from numba import cuda
    from numba.cuda import libdevice

    for _stem in _UNARY:
        globals()[_stem + "_f64"] = getattr(libdevice, _stem)
        globals()[_stem + "_f32"] = getattr(libdevice, _stem + "f")
    pow_f64 = libdevice.pow
    pow_f32 = libdevice.powf

    @cuda.jit(device=True, inline=True)
    def sigmoid_f32(x):
        return np.float32(1) / (np.float32(1) + libdevice.expf(-x))

    @cuda.jit(device=True, inline=True)
    def sigmoid_f64(x):
        return 1.0 / (1.0 + libdevice.exp(-x))
