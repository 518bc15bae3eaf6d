"""Symbolic scalar expressions: the common language of kernels and derivatives.

Derivative rules in the op table are written against a namespace ``F`` and
ordinary operators.  Given ``F = ExprNamespace`` and ``Expr`` leaves they build
an expression DAG that is rendered into Numba scalar code (one backward kernel
per op, or one per fused region); given the Tensor namespace and Tensors they
build a differentiable graph, which is how ``create_graph=True`` works.

Expressions are hash-consed (structurally equal nodes are the same object), so
common subexpressions are shared automatically and a structural key of a DAG
is cheap to compute.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

from .table import ELEMENTWISE, Row, spell_math_calls


class Expr:
    """A node of a scalar expression DAG.

    ``op`` is ``"var"`` (an input, ``arg`` is its index), ``"const"`` (``arg`` is
    a Python number) or the name of an op-table row applied to ``args``; for
    rows, ``arg`` may name the dtype the node computes in (None: the kernel's T).
    """

    __slots__ = ("op", "args", "arg", "_hash", "__weakref__")
    _interned: dict = {}

    def __new__(cls, op: str, args: tuple = (), arg=None):
        key = (op, args, arg if op != "const" else (type(arg), arg))
        node = cls._interned.get(key)
        if node is None:
            node = object.__new__(cls)
            node.op, node.args, node.arg = op, args, arg
            node._hash = hash(key)
            cls._interned[key] = node
        return node

    def __hash__(self):
        return self._hash

    # Identity equality: interning makes structural equality identity.
    def __eq__(self, other):
        return self is other

    def __repr__(self):
        if self.op == "var":
            return f"v{self.arg}"
        if self.op == "const":
            return repr(self.arg)
        return f"{self.op}({', '.join(map(repr, self.args))})"

    # arithmetic builds nodes through the simplifying constructors below
    def __add__(self, o):
        return E.add(self, o)

    def __radd__(self, o):
        return E.add(o, self)

    def __sub__(self, o):
        return E.sub(self, o)

    def __rsub__(self, o):
        return E.sub(o, self)

    def __mul__(self, o):
        return E.mul(self, o)

    def __rmul__(self, o):
        return E.mul(o, self)

    def __truediv__(self, o):
        return E.div(self, o)

    def __rtruediv__(self, o):
        return E.div(o, self)

    def __pow__(self, o):
        return E.pow(self, o)

    def __neg__(self):
        return E.neg(self)


def var(i: int) -> Expr:
    return Expr("var", (), i)


def const(v) -> Expr:
    if isinstance(v, bool):
        return Expr("const", (), v)
    return Expr("const", (), float(v))


def _lift(x) -> Expr:
    return x if isinstance(x, Expr) else const(x)


def _is_const(x: Expr, value=None) -> bool:
    return x.op == "const" and (value is None or x.arg == value)


class _ExprNamespace:
    """``F`` for symbolic evaluation: every op-table row is a method here.

    A few algebraic identities are applied on construction (x*1, x+0, x*0 for
    gradients, double negation, constant folding of pure numbers) so that
    generated derivative code stays small.  ``x*0 -> 0`` is only used where it is
    safe for gradients: it would turn NaN into 0, so it is applied only when
    one side is the literal 0 produced by a zero-gradient rule.
    """

    def __getattr__(self, name):
        if name not in ELEMENTWISE:
            raise AttributeError(name)

        def build(*args):
            return Expr(name, tuple(_lift(a) for a in args))

        return build

    def add(self, a, b):
        a, b = _lift(a), _lift(b)
        if _is_const(a, 0.0):
            return b
        if _is_const(b, 0.0):
            return a
        if _is_const(a) and _is_const(b):
            return const(a.arg + b.arg)
        return Expr("add", (a, b))

    def sub(self, a, b):
        a, b = _lift(a), _lift(b)
        if _is_const(b, 0.0):
            return a
        if _is_const(a, 0.0):
            return self.neg(b)
        if _is_const(a) and _is_const(b):
            return const(a.arg - b.arg)
        return Expr("sub", (a, b))

    def mul(self, a, b):
        a, b = _lift(a), _lift(b)
        if _is_const(a, 1.0):
            return b
        if _is_const(b, 1.0):
            return a
        if _is_const(a) and _is_const(b):
            return const(a.arg * b.arg)
        return Expr("mul", (a, b))

    def div(self, a, b):
        a, b = _lift(a), _lift(b)
        if _is_const(b, 1.0):
            return a
        return Expr("div", (a, b))

    def neg(self, a):
        a = _lift(a)
        if a.op == "neg":
            return a.args[0]
        if _is_const(a):
            return const(-a.arg)
        return Expr("neg", (a,))

    def pow(self, a, b):
        a, b = _lift(a), _lift(b)
        if _is_const(b, 1.0):
            return a
        return Expr("pow", (a, b))

    def zeros_like(self, a):
        return const(0.0)

    # comparisons of constants and selects on a constant condition fold away, so a
    # rule like pow's `where(exponent == 0, 0, ...)` costs nothing for x ** 2
    def _compare(self, name, a, b, fn):
        a, b = _lift(a), _lift(b)
        if _is_const(a) and _is_const(b):
            return const(bool(fn(a.arg, b.arg)))
        return Expr(name, (a, b))

    def eq(self, a, b):
        return self._compare("eq", a, b, lambda u, v: u == v)

    def ne(self, a, b):
        return self._compare("ne", a, b, lambda u, v: u != v)

    def lt(self, a, b):
        return self._compare("lt", a, b, lambda u, v: u < v)

    def le(self, a, b):
        return self._compare("le", a, b, lambda u, v: u <= v)

    def gt(self, a, b):
        return self._compare("gt", a, b, lambda u, v: u > v)

    def ge(self, a, b):
        return self._compare("ge", a, b, lambda u, v: u >= v)

    def logical_and(self, a, b):
        a, b = _lift(a), _lift(b)
        for x, y in ((a, b), (b, a)):
            if _is_const(x):
                return y if x.arg else const(False)
        return Expr("logical_and", (a, b))

    def where(self, cond, a, b):
        cond, a, b = _lift(cond), _lift(a), _lift(b)
        if _is_const(cond):
            return a if cond.arg else b
        return Expr("where", (cond, a, b))


E = _ExprNamespace()


def postorder(roots) -> list:
    """Nodes reachable from ``roots`` with every node after its arguments.

    Iterative, so very deep expressions do not hit the recursion limit.
    """
    seen, order = set(), []
    stack = [(r, False) for r in reversed(roots)]
    while stack:
        node, expanded = stack.pop()
        if node in seen:
            continue
        if expanded:
            seen.add(node)
            order.append(node)
        else:
            stack.append((node, True))
            stack.extend((a, False) for a in reversed(node.args) if a not in seen)
    return order


def render(roots, var_names: Callable[[int], str], const_fmt: Callable[[float], str], temp_prefix: str = "t", *,
           spell: Callable[[str, Optional[str]], str]):
    """Render ``roots`` as straight-line scalar code.

    Returns ``(lines, names)``: assignment statements for every interior node
    (each computed once) and the expression string for each root.
    ``spell(name, dtype)`` is the target device's code for the op table's
    ``M.<name>`` calls (the CPU's ``kernels/cpu/elementwise.spell_math``, CUDA's
    ``kernels/cuda/devmath.spell_for``); ``dtype`` is the node's own dtype name,
    or None when it computes in the kernel's dtype ``T``.

    >>> render([E.tanh(var(0)) * 2.0], lambda i: f"x{i}", lambda v: f"T({v!r})",
    ...        spell=lambda name, dtype: "fm." + name)
    (['t0 = fm.tanh(x0)', 't1 = (t0 * T(2.0))'], ['t1'])
    """
    names: dict = {}
    lines = []
    for node in postorder(roots):
        if node.op == "var":
            names[node] = var_names(node.arg)
        elif node.op == "const":
            names[node] = const_fmt(node.arg)
        else:
            row = ELEMENTWISE[node.op]
            # spelled before the arguments go in, so nothing but the row's own calls is rewritten
            code = spell_math_calls(row.scalar, lambda name, dtype=node.arg: spell(name, dtype))
            code = code.format(*(names[a] for a in node.args))
            if node.arg is not None:
                # the node computes in its own dtype (fused regions mix dtypes)
                code = code.replace("T(", f"np.{'bool_' if node.arg == 'bool' else node.arg}(")
            tmp = f"{temp_prefix}{len(lines)}"
            lines.append(f"{tmp} = {code}")
            names[node] = tmp
    return lines, [names[r] for r in roots]


def invariant_lines(roots, invariant_var: Callable[[int], bool]) -> list:
    """For each line ``render(roots, ...)`` returns, in order: whether its value depends only on constants and
    on variables ``invariant_var`` accepts (a kernel's scalar inputs: the value is the same for every element).

    >>> invariant_lines([(var(0) * 2.0) + var(1)], lambda i: i == 0)
    [True, False]
    """
    invariant: dict = {}
    flags = []
    for node in postorder(roots):
        if node.op == "var":
            invariant[node] = invariant_var(node.arg)
        elif node.op == "const":
            invariant[node] = True
        else:
            invariant[node] = all(invariant[a] for a in node.args)
            flags.append(invariant[node])
    return flags


def structural_key(roots) -> str:
    """A string that identifies the DAG's structure (used as a kernel cache key)."""
    ids: dict = {}
    parts = []
    for node in postorder(roots):
        if node.op == "var":
            s = f"v{node.arg}"
        elif node.op == "const":
            s = repr(node.arg) if not (isinstance(node.arg, float) and math.isnan(node.arg)) else "nan"
        else:
            s = f"{node.op}{'' if node.arg is None else ':' + node.arg}(" + ",".join(f"%{ids[a]}" for a in node.args) + ")"
        ids[node] = len(parts)
        parts.append(s)
    return ";".join(parts) + "|" + ",".join(f"%{ids[r]}" for r in roots)


def evaluate(roots, values, call):
    """Evaluate the DAG with ``values[i]`` for ``var(i)`` and ``call(op, *args)`` for op nodes.

    Used to run a derivative DAG on tensors (double backward): only the
    needed gradients are built, each shared subexpression once.
    """
    env: dict = {}
    for node in postorder(roots):
        if node.op == "var":
            env[node] = values[node.arg]
        elif node.op == "const":
            env[node] = node.arg
        else:
            env[node] = call(node.op, *(env[a] for a in node.args))
    return [env[r] for r in roots]


_roots_cache: dict = {}


def forward_roots(row: Row) -> tuple:
    """The expression of one row applied to its inputs ``v0, v1, ...``: what a one-op kernel computes.

    >>> forward_roots(ELEMENTWISE["mul"])
    (mul(v0, v1),)
    """
    roots = _roots_cache.get(row.name)
    if roots is None:
        n = row.arity + len(row.params)
        roots = _roots_cache[row.name] = (Expr(row.name, tuple(var(i) for i in range(n))),)
    return roots
