"""The op IR: the elementwise op table and the scalar expression DAG built from it.

The bottom layer of numgrad: it imports nothing else of numgrad, so kernels
(which render expressions into Numba code), fusion (which builds expressions
from recorded ops) and ops (which apply rows to tensors) can all import it.

>>> from numgrad.ir import forward_roots, ELEMENTWISE
>>> forward_roots(ELEMENTWISE["mul"])
(mul(v0, v1),)

Rows name math by meaning (``M.exp``); ``math_functions()`` lists the names
the table uses, which every device's renderer must map.
"""
from __future__ import annotations

from .expr import Expr, forward_roots
from .table import (CAST_ROWS, ELEMENTWISE, MissingMathError, Row, math_functions, register,
                    register_math_renderer)
from . import special  # noqa: F401,E402 - the special-function rows (lgamma, digamma, erfinv, ...) join the table

__all__ = ["CAST_ROWS", "ELEMENTWISE", "Expr", "MissingMathError", "Row", "forward_roots", "math_functions",
           "register", "register_math_renderer"]
