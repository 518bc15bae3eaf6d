"""The elementwise op table: every elementwise op is one row.

A row gives the op's scalar forward code (a Numba-compilable template over
``{0}``, ``{1}``...) and ONE derivative rule.  The rule is a function
``grad(F, x, out, g) -> tuple`` where ``x`` is the tuple of inputs (tensor
operands first, then scalar parameters), ``out`` the op's output and ``g`` the
incoming gradient; it returns one gradient per tensor operand (``None`` for
operands that have no derivative).  Rules only use operators and ``F.<row>``
calls with ``F`` the symbolic namespace of ``numgrad.ir.expr``: the result is
an expression DAG that is rendered into backward kernels (one op's, or a whole
fused region's), or evaluated op by op on tensors when the backward pass must
itself be differentiable (``create_graph=True``, see ``expr.evaluate``).

Everything elementwise in numgrad - forward kernels, backward kernels, fused
kernels - is generated from this table.

``kind`` decides the result dtype from the promoted operand dtype:
  arith    same dtype (int stays int)
  float    integers and bools become the default float dtype
  compare  bool result
  logical  bool result, operands read as bool

Templates may repeat ``{k}``: arguments are always names or constants.  ``T``
is the compute dtype in the generated module (``T(1)`` is a typed constant);
``np.<dtype>(...)`` is a cast and ``np.inf`` a constant, which every device
compiles as written.  Math is named by meaning, ``M.<name>(...)``
(``M.exp({0})``, ``M.pow({0}, {1})``): the table says *what* is computed and
each device's renderer says *how* - the CPU's vectorizable ``fm.exp``, CUDA's
``dm.exp_f32`` - the way tinygrad's ``code_for_op`` does.  A renderer registers
the names it maps with ``register_math_renderer`` when it is imported, which
fails there, naming what is missing, if any row calls a name it lacks; rows
registered later (user ops) are checked against every renderer already
registered.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Optional


SQRT1_2 = 0.7071067811865476
SQRT_2_OVER_PI = 0.7978845608028654
INV_SQRT_2PI = 0.3989422804014327
LN2 = 0.6931471805599453
LN10 = 2.302585092994046


@dataclass(frozen=True)
class Row:
    """One elementwise op: its scalar template, derivative rule and PyTorch-facing names.

    >>> ELEMENTWISE["tanh"].scalar
    'M.tanh({0})'
    """

    name: str
    arity: int  # tensor operands
    kind: str
    scalar: str  # scalar code over {0}, {1}...; math as M.<name>(...), spelled per device by its renderer
    grad: Optional[Callable]
    params: tuple = ()  # names of non-differentiable scalar parameters
    node_name: str = ""  # PyTorch's backward node name, e.g. "MulBackward0"
    domain: str = "any"  # sample-domain hint for tests: any, positive, unit, nonzero
    preamble: str = ""  # source a kernel using this row needs (user ops: their njit function)


ELEMENTWISE: dict = {}

# ``M.<name>(`` not preceded by a name character or a dot (``xM.f(`` and ``a.M.f(`` are other things)
_MATH_CALL = re.compile(r"(?<![\w.])M\.([A-Za-z_]\w*)\(")
# device -> the math names its renderer maps; filled by the renderers as they are imported
_MATH_RENDERERS: dict = {}


class MissingMathError(NotImplementedError):
    """A device's renderer has no code for a math function that op-table rows call.

    >>> check_math_renderer("toy", {"exp"}, rows=[ELEMENTWISE["tanh"]])
    Traceback (most recent call last):
    ...
    numgrad.ir.table.MissingMathError: the toy renderer has no code for math function tanh (called by row tanh)
    """


def math_calls(template: str) -> frozenset:
    """The math names a scalar template calls as ``M.<name>(...)``.

    >>> sorted(math_calls("({0} if {0} * {1} > {2} else M.log1p(M.exp({0} * {1})) / {1})"))
    ['exp', 'log1p']
    """
    return frozenset(_MATH_CALL.findall(template))


def math_functions(rows: Optional[Iterable[Row]] = None) -> frozenset:
    """Every math name the templates of ``rows`` call (default: every row in the table, user ops included).

    This is what a device's renderer must map.

    >>> {"exp", "tanh", "pow", "floor"} <= math_functions()
    True
    """
    names: set = set()
    for r in ELEMENTWISE.values() if rows is None else rows:
        names |= math_calls(r.scalar)
    return frozenset(names)


def spell_math_calls(code: str, spell: Callable[[str], str]) -> str:
    """``code`` with every ``M.<name>(`` call replaced by ``spell(name) + "("``: one device's spelling.

    >>> spell_math_calls("(T(1) / M.sqrt(v0))", lambda name: "np." + name)
    '(T(1) / np.sqrt(v0))'
    """
    if "M." not in code:
        return code
    return _MATH_CALL.sub(lambda m: spell(m.group(1)) + "(", code)


def check_math_renderer(device: str, names: Iterable[str], rows: Optional[Iterable[Row]] = None) -> None:
    """Raise ``MissingMathError``, naming them, if ``rows`` (default: the whole table) call math names
    that are not in ``names``, the names ``device``'s renderer maps.

    >>> check_math_renderer("toy", {"exp", "tanh"}, rows=[ELEMENTWISE["tanh"], ELEMENTWISE["add"]])
    """
    rows = list(ELEMENTWISE.values() if rows is None else rows)
    names = set(names)
    missing = sorted(math_functions(rows) - names)
    if missing:
        callers = "; ".join(
            f"{name} (called by row{'s' if len(users) > 1 else ''} {', '.join(users)})"
            for name in missing for users in [[r.name for r in rows if name in math_calls(r.scalar)]])
        raise MissingMathError(
            f"the {device} renderer has no code for math function{'s' if len(missing) > 1 else ''} {callers}")


def register_math_renderer(device: str, names: Iterable[str]) -> None:
    """Record the math names ``device``'s renderer maps, after checking that they cover the whole table.

    Called by each renderer at its import, so a missing mapping fails there
    rather than at a kernel's first launch; ``register`` checks later rows
    against it.

    >>> register_math_renderer("toy", math_functions())
    >>> _MATH_RENDERERS.pop("toy") == math_functions()
    True
    """
    names = frozenset(names)
    check_math_renderer(device, names)
    _MATH_RENDERERS[device] = names


def register(r: Row) -> Row:
    """Add row ``r`` to the table (how user-defined ops join it) and return it.

    Raises ``MissingMathError`` before adding it if a renderer already
    registered cannot render its math calls.

    >>> r = register(Row("halve_demo", 1, "float", "({0} * T(0.5))", None))
    >>> ELEMENTWISE.pop("halve_demo") is r
    True
    """
    for device, names in _MATH_RENDERERS.items():
        check_math_renderer(device, names, rows=[r])
    ELEMENTWISE[r.name] = r
    return r


def row(name, arity, kind, scalar, grad=None, *, params=(), node=None, domain="any"):
    node_name = node or "".join(p.capitalize() for p in name.split("_")) + "Backward0"
    register(Row(name, arity, kind, scalar, grad, tuple(params), node_name, domain))


def _zero(F, x, out, g):
    return tuple(F.zeros_like(g) for _ in range(len(x)))


# ---------------------------------------------------------------- arithmetic
row("add", 2, "arith", "({0} + {1})", lambda F, x, out, g: (g, g))
row("sub", 2, "arith", "({0} - {1})", lambda F, x, out, g: (g, -g))
row("mul", 2, "arith", "({0} * {1})", lambda F, x, out, g: (g * x[1], g * x[0]))
row("div", 2, "float", "({0} / {1})", lambda F, x, out, g: (g / x[1], -g * x[0] / (x[1] * x[1])))
row("neg", 1, "arith", "(-{0})", lambda F, x, out, g: (-g,))
row(
    "pow", 2, "arith", "M.pow({0}, {1})",
    # PyTorch masks the 0**0 and log(0) cases exactly like this
    lambda F, x, out, g: (
        F.where(F.eq(x[1], 0.0), 0.0, g * x[1] * F.pow(x[0], x[1] - 1.0)),
        F.where(F.logical_and(F.eq(x[0], 0.0), F.ge(x[1], 0.0)), 0.0, g * out * F.log(x[0])),
    ),
)
row("abs", 1, "arith", "abs({0})", lambda F, x, out, g: (g * F.sign(x[0]),))
# 0 for zeros (-0.0 too) and for NaN, as in PyTorch
row("sign", 1, "arith", "(T(1) if {0} > 0 else (T(-1) if {0} < 0 else T(0)))", _zero)
row("square", 1, "arith", "({0} * {0})", lambda F, x, out, g: (g * 2.0 * x[0],))
row("reciprocal", 1, "float", "(T(1) / {0})", lambda F, x, out, g: (-g * out * out,), domain="nonzero")
row(
    "remainder", 2, "arith", "({0} % {1})",
    lambda F, x, out, g: (g, -g * F.floor_divide(x[0], x[1])), domain="nonzero",
)
row("floor_divide", 2, "arith", "({0} // {1})", None, domain="nonzero")
row(
    "maximum", 2, "arith", "({0} if ({0} > {1} or {0} != {0}) else {1})",
    lambda F, x, out, g: (
        F.where(F.eq(x[0], x[1]), g / 2.0, F.where(F.lt(x[0], x[1]), 0.0, g)),
        F.where(F.eq(x[0], x[1]), g / 2.0, F.where(F.gt(x[0], x[1]), 0.0, g)),
    ),
)
row(
    "minimum", 2, "arith", "({0} if ({0} < {1} or {0} != {0}) else {1})",
    lambda F, x, out, g: (
        F.where(F.eq(x[0], x[1]), g / 2.0, F.where(F.gt(x[0], x[1]), 0.0, g)),
        F.where(F.eq(x[0], x[1]), g / 2.0, F.where(F.lt(x[0], x[1]), 0.0, g)),
    ),
)
row(
    "clamp", 3, "arith",
    "({2} if ({1} if {0} < {1} else {0}) > {2} else ({1} if {0} < {1} else {0}))",
    lambda F, x, out, g: (
        F.where(F.logical_and(F.ge(x[0], x[1]), F.le(x[0], x[2])), g, 0.0),
        F.where(F.logical_and(F.lt(x[0], x[1]), F.le(x[1], x[2])), g, 0.0),
        F.where(F.gt(F.maximum(x[0], x[1]), x[2]), g, 0.0),
    ),
    node="ClampBackward1",
)
# clamp's value with PyTorch's hardtanh gradient: 0 at the bounds too (clamp passes the gradient there),
# and passed through at NaN
row("hardtanh", 1, "arith", "({2} if {0} > {2} else ({1} if {0} < {1} else {0}))",
    lambda F, x, out, g: (F.where(F.logical_or(F.le(x[0], x[1]), F.ge(x[0], x[2])), 0.0, g),),
    params=("min_val", "max_val"), node="HardtanhBackward0")
row("clamp_min", 2, "arith", "({1} if {0} < {1} else {0})",
    lambda F, x, out, g: (F.where(F.ge(x[0], x[1]), g, 0.0), F.where(F.lt(x[0], x[1]), g, 0.0)),
    node="ClampMinBackward1")
row("clamp_max", 2, "arith", "({1} if {0} > {1} else {0})",
    lambda F, x, out, g: (F.where(F.le(x[0], x[1]), g, 0.0), F.where(F.gt(x[0], x[1]), g, 0.0)),
    node="ClampMaxBackward1")
row("where", 3, "arith", "({1} if {0} else {2})",
    lambda F, x, out, g: (None, F.where(x[0], g, 0.0), F.where(x[0], 0.0, g)),
    node="WhereBackward0")
row("floor", 1, "arith", "M.floor({0})", _zero)
row("ceil", 1, "arith", "M.ceil({0})", _zero)
row("round", 1, "arith", "M.rint({0})", _zero)
row("trunc", 1, "arith", "M.trunc({0})", _zero)
row("identity", 1, "arith", "{0}", lambda F, x, out, g: (g,), node="CloneBackward0")

# ------------------------------------------------------ transcendental (float)
row("exp", 1, "float", "M.exp({0})", lambda F, x, out, g: (g * out,))
row("exp2", 1, "float", "M.exp2({0})", lambda F, x, out, g: (g * out * LN2,))
row("log", 1, "float", "M.log({0})", lambda F, x, out, g: (g / x[0],), domain="positive")
row("log2", 1, "float", "M.log2({0})", lambda F, x, out, g: (g / (x[0] * LN2),), domain="positive")
row("log1p", 1, "float", "M.log1p({0})", lambda F, x, out, g: (g / (x[0] + 1.0),), domain="positive")
row("expm1", 1, "float", "M.expm1({0})", lambda F, x, out, g: (g * (out + 1.0),))
row("sqrt", 1, "float", "M.sqrt({0})", lambda F, x, out, g: (
    # at 0 PyTorch gives g/0 (inf); a kernel that recomputes out = sqrt(x) lets LLVM turn g/(2 sqrt x) into an
    # approximate rsqrt whose refinement step gives nan there, so at x == 0 the divisor is x*0 instead. One
    # division of a selected divisor: a select of two quotients would send 0*inf = nan into double backward
    g / F.where(F.eq(x[0], 0.0), x[0] * 0.0, out * 2.0),), domain="positive")
row("rsqrt", 1, "float", "(T(1) / M.sqrt({0}))", lambda F, x, out, g: (g * -0.5 * out * out * out,), domain="positive")
row("sin", 1, "float", "M.sin({0})", lambda F, x, out, g: (g * F.cos(x[0]),))
row("cos", 1, "float", "M.cos({0})", lambda F, x, out, g: (-g * F.sin(x[0]),))
row("tan", 1, "float", "M.tan({0})", lambda F, x, out, g: (g * (out * out + 1.0),), domain="unit")
row("tanh", 1, "float", "M.tanh({0})", lambda F, x, out, g: (g * (1.0 - out * out),))
row("erf", 1, "float", "M.erf({0})", lambda F, x, out, g: (g * (2.0 * INV_SQRT_2PI * 1.4142135623730951) * F.exp(-x[0] * x[0]),))
row("sigmoid", 1, "float", "M.sigmoid({0})", lambda F, x, out, g: (g * out * (1.0 - out),))

row("asin", 1, "float", "M.asin({0})", lambda F, x, out, g: (g / F.sqrt(1.0 - x[0] * x[0]),), domain="open_unit")
row("acos", 1, "float", "M.acos({0})", lambda F, x, out, g: (-g / F.sqrt(1.0 - x[0] * x[0]),), domain="open_unit")
row("atan", 1, "float", "M.atan({0})", lambda F, x, out, g: (g / (x[0] * x[0] + 1.0),))
row("sinh", 1, "float", "M.sinh({0})", lambda F, x, out, g: (g * F.cosh(x[0]),))
row("cosh", 1, "float", "M.cosh({0})", lambda F, x, out, g: (g * F.sinh(x[0]),))
row("asinh", 1, "float", "M.asinh({0})", lambda F, x, out, g: (g / F.sqrt(x[0] * x[0] + 1.0),))
row("acosh", 1, "float", "M.acosh({0})", lambda F, x, out, g: (g / F.sqrt(x[0] * x[0] - 1.0),), domain="above_one")
row("atanh", 1, "float", "M.atanh({0})", lambda F, x, out, g: (g / (1.0 - x[0] * x[0]),), domain="open_unit")
row("log10", 1, "float", "M.log10({0})", lambda F, x, out, g: (g / (x[0] * LN10),), domain="positive")
row("erfc", 1, "float", "M.erfc({0})",
    lambda F, x, out, g: (-g * (2.0 * INV_SQRT_2PI * 1.4142135623730951) * F.exp(-x[0] * x[0]),))
# 0 at the origin, as PyTorch's atan2_backward (x / (x*x + y*y) would be 0/0 there)
row("atan2", 2, "float", "M.atan2({0}, {1})",
    lambda F, x, out, g: (
        F.where(F.eq(x[0] * x[0] + x[1] * x[1], 0.0), 0.0, g * x[1] / (x[0] * x[0] + x[1] * x[1])),
        F.where(F.eq(x[0] * x[0] + x[1] * x[1], 0.0), 0.0, -g * x[0] / (x[0] * x[0] + x[1] * x[1])),
    ),
    domain="nonzero")

# ------------------------------------------------------------- activations
# the gradient passes where the output is not <= 0, NaN included, as PyTorch's threshold_backward does
row("relu", 1, "arith", "(T(0) if {0} <= 0 else {0})", lambda F, x, out, g: (F.where(F.le(out, 0.0), 0.0, g),),
    node="ReluBackward0")
row("leaky_relu", 1, "float", "({0} if {0} > 0 else {0} * {1})",
    lambda F, x, out, g: (F.where(F.gt(x[0], 0.0), g, g * x[1]),), params=("negative_slope",))
row("gelu", 1, "float", "(T(0.5) * {0} * (T(1) + M.erf({0} * T(%r))))" % SQRT1_2,
    lambda F, x, out, g: (g * (0.5 * (1.0 + F.erf(x[0] * SQRT1_2)) + x[0] * INV_SQRT_2PI * F.exp(-0.5 * x[0] * x[0])),))
row("gelu_tanh", 1, "float",
    "(T(0.5) * {0} * (T(1) + M.tanh(T(%r) * ({0} + T(0.044715) * {0} * {0} * {0}))))" % SQRT_2_OVER_PI,
    lambda F, x, out, g: _gelu_tanh_grad(F, x[0], g), node="GeluBackward0")
row("silu", 1, "float", "({0} / (T(1) + M.exp(-{0})))",
    lambda F, x, out, g: (g * F.sigmoid(x[0]) * (1.0 + x[0] * (1.0 - F.sigmoid(x[0]))),))
row("softplus", 1, "float", "({0} if {0} * {1} > {2} else M.log1p(M.exp({0} * {1})) / {1})",
    lambda F, x, out, g: (F.where(F.gt(x[0] * x[1], x[2]), g, g * F.sigmoid(x[0] * x[1])),),
    params=("beta", "threshold"))
row("elu", 1, "float", "({0} if {0} > 0 else {1} * M.expm1({0}))",
    lambda F, x, out, g: (F.where(F.gt(x[0], 0.0), g, g * (out + x[1])),), params=("alpha",))


def _gelu_tanh_grad(F, x, g):
    inner = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
    t = F.tanh(inner)
    d_inner = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x)
    return (g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d_inner),)


# ------------------------------------------------- comparisons and logic (bool)
for _name, _sym in (("eq", "=="), ("ne", "!="), ("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">=")):
    row(_name, 2, "compare", "({0} %s {1})" % _sym)
row("isnan", 1, "compare", "({0} != {0})")
row("isinf", 1, "compare", "({0} == np.inf or {0} == -np.inf)")
row("isfinite", 1, "compare", "({0} - {0} == 0)")
row("isclose", 2, "compare",
    "(({0} == {1}) or (abs({0} - {1}) <= {3} + {2} * abs({1})) or ({4} != 0 and {0} != {0} and {1} != {1}))",
    params=("rtol", "atol", "equal_nan"))
row("logical_and", 2, "logical", "(bool({0}) and bool({1}))")
row("logical_or", 2, "logical", "(bool({0}) or bool({1}))")
row("logical_xor", 2, "logical", "(bool({0}) != bool({1}))")
row("logical_not", 1, "logical", "(not bool({0}))")
row("bitwise_and", 2, "arith", "({0} & {1})")
row("bitwise_or", 2, "arith", "({0} | {1})")
row("bitwise_xor", 2, "arith", "({0} ^ {1})")


# ------------------------------------------------ casts (internal: fused regions)
# A fused region mixes dtypes (float32 x * int64 index, bool masks); explicit cast
# nodes keep every value in the dtype eager execution would give it.
CAST_ROWS = {}
for _dt in ("float32", "float64", "int32", "int64", "bool", "int8", "int16", "uint8", "float16"):
    _np_name = "bool_" if _dt == "bool" else _dt
    row(f"cast_{_dt}", 1, "arith", f"np.{_np_name}({{0}})", lambda F, x, out, g: (g,), node="ToCopyBackward0")
    CAST_ROWS[_dt] = f"cast_{_dt}"
