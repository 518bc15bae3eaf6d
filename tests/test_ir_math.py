"""The op table names math by meaning (``M.exp``); each device's renderer spells every name or fails at import.

The table's math names (``numgrad.ir.math_functions``) must be mapped by the
CPU renderer (``kernels/cpu/elementwise.MATH``) and the CUDA one
(``kernels/cuda/devmath``), each checked when it is imported; a row added later
(a user op) is checked against the renderers already imported.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

import numgrad as ng  # noqa: F401  (imports the CPU renderer, as every user does)
from numgrad.ir import expr as ex
from numgrad.ir import table
from numgrad.ir.table import ELEMENTWISE, MissingMathError, Row
from numgrad.kernels.cpu import elementwise as cpu
from numgrad.kernels.cpu import fastmath

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_table_calls_math_by_meaning_only():
    # device spellings in a template would bypass the renderers' checks
    for row in ELEMENTWISE.values():
        assert "fm." not in row.scalar and "dm." not in row.scalar, row.name
    assert {"exp", "log", "tanh", "erf", "sigmoid", "pow", "floor", "rint", "sqrt"} <= table.math_functions()
    assert table.math_calls(ELEMENTWISE["softplus"].scalar) == {"exp", "log1p"}
    assert table.math_calls("np.float32({0})") == frozenset()  # casts are not math calls


def test_cpu_renderer_maps_every_math_name_to_a_function():
    assert table.math_functions() <= set(cpu.MATH)
    for name in table.math_functions():
        module, attr = cpu.MATH[name].split(".")
        assert callable(getattr({"fm": fastmath, "np": np, "math": math}[module], attr)), name


def test_cuda_renderer_maps_every_math_name_to_a_device_function():
    from numgrad.kernels.cuda import devmath

    assert table.math_functions() <= devmath.MATH
    for name in table.math_functions():
        for suffix in ("_f32", "_f64"):
            assert callable(getattr(devmath, name + suffix)), name + suffix
    assert table._MATH_RENDERERS["cuda"] == devmath.MATH


def test_each_device_spells_math_its_own_way():
    from numgrad.kernels.cuda import devmath

    roots = (ex.E.rsqrt(ex.var(0)), ex.E.tanh(ex.var(0)), ex.Expr("sigmoid", (ex.var(0),), "float64"))
    cpu_lines, _ = ex.render(roots, lambda i: f"v{i}", cpu._const_fmt, spell=cpu.spell_math)
    assert cpu_lines == ["t0 = (T(1) / np.sqrt(v0))", "t1 = fm.tanh(v0)", "t2 = fm.sigmoid(v0)"]
    cuda_lines, _ = ex.render(roots, lambda i: f"v{i}", cpu._const_fmt, spell=devmath.spell_for("float32"))
    # a node computing in its own dtype gets that dtype's device function
    assert cuda_lines == ["t0 = (T(1) / dm.sqrt_f32(v0))", "t1 = dm.tanh_f32(v0)", "t2 = dm.sigmoid_f64(v0)"]


def test_check_names_the_missing_math_functions_and_their_rows():
    with pytest.raises(MissingMathError, match=r"the gpu9 renderer has no code for math function erf "
                                               r"\(called by rows erf, gelu\)"):
        table.check_math_renderer("gpu9", set(cpu.MATH) - {"erf"})
    with pytest.raises(MissingMathError, match=r"math functions hypot \(called by row hyp\); "
                                               r"nextafter \(called by row nxt\)"):
        table.check_math_renderer("gpu9", cpu.MATH, rows=[Row("hyp", 2, "float", "M.hypot({0}, {1})", None),
                                                         Row("nxt", 2, "float", "M.nextafter({0}, {1})", None)])
    table.check_math_renderer("gpu9", cpu.MATH)  # the real table is covered


def test_registering_a_row_no_renderer_can_spell_fails_before_it_joins_the_table():
    with pytest.raises(MissingMathError, match=r"cpu renderer has no code for math function hypot "
                                               r"\(called by row hypot_demo\)"):
        table.register(Row("hypot_demo", 2, "float", "M.hypot({0}, {1})", None))
    assert "hypot_demo" not in ELEMENTWISE


def test_registering_a_renderer_that_misses_a_name_fails():
    with pytest.raises(MissingMathError, match="the toy renderer has no code for math functions"):
        table.register_math_renderer("toy", {"exp"})
    assert "toy" not in table._MATH_RENDERERS


_IMPORT_WITH_UNMAPPED_ROW = r"""
import importlib.util, sys
import numgrad
from numgrad.ir.table import ELEMENTWISE, MissingMathError, Row
# a row that bypasses register(): as if the table itself had gained a name no renderer spells yet
ELEMENTWISE["hyp"] = Row("hyp", 2, "float", "M.hypot({0}, {1})", None)
which = sys.argv[1]
try:
    if which == "cpu":
        # a fresh copy of the CPU renderer module, executed as an import would
        path = numgrad.kernels.cpu.elementwise.__file__
        spec = importlib.util.spec_from_file_location("numgrad.kernels.cpu._elementwise_again", path)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    else:
        import numgrad.kernels.cuda.devmath  # noqa: F401
except MissingMathError as exc:
    print(exc)
    sys.exit(3)
"""


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_importing_a_renderer_that_cannot_spell_a_table_name_fails(device):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-c", _IMPORT_WITH_UNMAPPED_ROW, device], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=300)
    assert res.returncode == 3, res.stdout + res.stderr
    assert f"the {device} renderer has no code for math function hypot (called by row hyp)" in res.stdout


def test_user_ops_join_the_table_through_register_and_still_fuse():
    def softclip2(x):
        return x / (2.0 + abs(x))

    def softclip2_grad(x, out, g):
        return 2.0 * g / ((2.0 + abs(x)) * (2.0 + abs(x)))

    op = ng.elementwise(softclip2, grad=softclip2_grad)
    assert op.row_name in ELEMENTWISE and ELEMENTWISE[op.row_name].preamble
    x = ng.tensor([1.0, -3.0], requires_grad=True)
    (ng.tanh(op(x * 2.0)).sum()).backward()
    xv = np.array([1.0, -3.0])
    u = 2 * xv
    expected = (1 - np.tanh(u / (2 + abs(u))) ** 2) * 2 * 2 / (2 + abs(u)) ** 2
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6)
