"""Scalar math for generated CUDA kernels: the CUDA renderer's spelling of the op table's math names.

The op table names math by meaning (``M.tanh({0})``, see ``numgrad.ir.table``).
On the GPU each name ``<name>`` is spelled ``dm.<name>_<f32|f64>``, the device
function of this module for the node's dtype, so float32 stays in float32
arithmetic.  The CPU's spellings would not do: ``@njit`` functions (``fm.tanh``)
cannot be called from kernels, and numba-cuda has no lowering for NumPy's
``floor``/``rint``/``sqrt``/``exp2`` (``cuda.compile_ptx`` raises).

On a GPU the functions are CUDA's libdevice ones (``expf``, ``floorf``..., the
ones nvcc uses).  On Numba's simulator kernels are plain Python, where
libdevice is a stub returning None and ``math.exp`` raises OverflowError
instead of returning inf, so the same names are NumPy's ufuncs there: NaN and
inf propagate as on the device.

Importing this module registers the names it defines with the op IR, which
raises ``numgrad.ir.MissingMathError`` naming any math name of the table that
has no device function here.
"""
from __future__ import annotations

import math

import numpy as np

from ...ir import table as ir_table
from ..cpu.elementwise import MATH as _CPU_MATH
from . import simulator_enabled

# math names whose device functions are libdevice's own: ``<name>`` in double, ``<name>f`` in single
# precision (NumPy's ufunc of the same name on the simulator, but for the two special-cased there)
_LIBDEVICE = ("exp", "log", "log1p", "expm1", "sin", "cos", "tanh", "erf", "floor", "ceil", "rint", "trunc",
              "exp2", "log2", "sqrt", "tan", "pow", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
              "log10", "atan2", "erfc")


def spell_for(compute: str):
    """``ex.render``'s ``spell`` for a kernel whose own dtype ``T`` is ``compute``: a name -> its device function.

    >>> spell_for("float32")("tanh", None), spell_for("float32")("tanh", "float64")
    ('dm.tanh_f32', 'dm.tanh_f64')
    """
    def spell(name: str, dtype=None) -> str:
        # float32 nodes use the f-variants; integer inputs of a float function compute in double, as NumPy does
        return f"dm.{name}{'_f32' if (dtype or compute) == 'float32' else '_f64'}"

    return spell


def rewriter_for(compute: str):
    """A rewrite of template code spelled for the CPU (``fm.exp(``, ``np.sqrt(``) onto the device functions.

    For the map-reduce templates of ``ops/reductions.py`` (var, logsumexp,
    norms), which are written as CPU code rather than in the op table's ``M.``
    notation; the CPU spellings are read from the CPU renderer's table, so the
    two cannot drift apart.

    >>> rewriter_for("float32")("np.sqrt(acc / p)", None)
    'dm.sqrt_f32(acc / p)'
    """
    spell = spell_for(compute)

    def rewrite(code: str, dtype) -> str:
        if "(" not in code:
            return code
        for name, cpu in _CPU_MATH.items():
            if cpu + "(" in code:
                code = code.replace(cpu + "(", spell(name, dtype) + "(")
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


def _sim_atan2(y, x):
    return np.arctan2(y, x)


def _sim_erfc(x):
    return type(x)(math.erfc(float(x))) if x == x else x


def _sim_erf(x):
    # NumPy has no erf ufunc
    return type(x)(math.erf(float(x))) if x == x else x


def _sim_sigmoid(x):
    with np.errstate(all="ignore"):
        return type(x)(1) / (type(x)(1) + np.exp(-x))


if simulator_enabled():
    for _name in _LIBDEVICE:
        _fn = ({"erf": _sim_erf, "pow": _sim_pow, "atan2": _sim_atan2, "erfc": _sim_erfc}.get(_name)
               or _sim_unary(getattr(np, _name)))
        globals()[_name + "_f32"] = globals()[_name + "_f64"] = _fn
    sigmoid_f32 = sigmoid_f64 = _sim_sigmoid
else:
    from numba import cuda
    from numba.cuda import libdevice

    for _name in _LIBDEVICE:
        globals()[_name + "_f64"] = getattr(libdevice, _name)
        globals()[_name + "_f32"] = getattr(libdevice, _name + "f")

    @cuda.jit(device=True, inline=True)
    def sigmoid_f32(x):
        return np.float32(1) / (np.float32(1) + libdevice.expf(-x))

    @cuda.jit(device=True, inline=True)
    def sigmoid_f64(x):
        return 1.0 / (1.0 + libdevice.exp(-x))


# The names this module has a device function for in both precisions: what ``spell_for`` can spell.
MATH = frozenset(name[:-4] for name in list(globals())
                 if name.endswith("_f32") and not name.startswith("_") and name[:-4] + "_f64" in globals())
# fails here, at import, naming any math name of the table without a device function above
ir_table.register_math_renderer("cuda", MATH)
