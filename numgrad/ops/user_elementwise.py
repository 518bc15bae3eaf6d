"""User-defined elementwise ops that fuse: ``@ng.elementwise``.

A scalar Python function that Numba can compile, plus its derivative, becomes
a row of the op table.  Its source is placed (renamed, inlined) into every
generated kernel that uses it, so it fuses with built-in ops forward and
backward, and the kernels are disk-cached like any other (the source is part
of the content hash).
"""
from __future__ import annotations

import hashlib
import inspect
import textwrap
from typing import Callable, Optional

from ..ir.table import Row, register
from .elementwise import apply


def _function_source(fn: Callable, new_name: str) -> str:
    try:
        src = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise TypeError(
            f"elementwise: cannot read the source of {fn!r} ({exc}); define it with `def` in a file or "
            "notebook cell (lambdas and built-ins cannot be inlined into kernels)"
        ) from None
    lines = src.splitlines()
    while lines and not lines[0].lstrip().startswith("def "):
        lines.pop(0)  # decorators
    if not lines:
        raise TypeError(f"elementwise: {fn!r} must be defined with `def`")
    head = lines[0]
    if f"def {fn.__name__}(" not in head:
        raise TypeError(f"elementwise: {fn.__name__!r} must be a function defined with `def` (not a lambda)")
    lines[0] = head.replace(f"def {fn.__name__}(", f"def {new_name}(", 1)
    return ("@njit(inline='always', cache=True, nogil=True, error_model='numpy')\n" + "\n".join(lines))


def _rule_for(grad_rows: tuple):
    """The op-table derivative rule of a user op: one derivative row per input."""
    def rule(F, x, out, g):
        return tuple(getattr(F, r)(*x, out, g) for r in grad_rows)

    return rule


class ElementwiseOp:
    """A user elementwise op: call it on tensors (or numbers) like a built-in.

    Made by :func:`elementwise`.
    """

    def __init__(self, fn: Callable, grad: Optional[Callable], arity: int, name: str):
        self.fn = fn
        self.name = name
        self.arity = arity
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        fwd_src = _function_source(fn, "_F_")
        grad_src = _function_source(grad, "_G_") if grad is not None else ""
        key = hashlib.sha256((fwd_src + grad_src).encode()).hexdigest()[:12]
        self.row_name = f"user_{name}_{key}"
        fwd_name = f"_u_{name}_{key}"
        preamble = fwd_src.replace("def _F_(", f"def {fwd_name}(", 1)
        args = ", ".join(f"{{{i}}}" for i in range(arity))
        grad_rows = []
        if grad is not None:
            grad_name = f"_ud_{name}_{key}"
            preamble += "\n\n" + grad_src.replace("def _G_(", f"def {grad_name}(", 1)
            # one row per input gradient: the user's derivative returns one value per input
            grad_args = ", ".join(f"{{{i}}}" for i in range(arity + 2))
            for i in range(arity):
                pick = f"[{i}]" if arity > 1 else ""
                gname = f"{self.row_name}_d{i}"
                register(Row(gname, arity + 2, "float", f"{grad_name}({grad_args}){pick}", None,
                             node_name=f"{fn.__name__.capitalize()}GradBackward0", preamble=preamble))
                grad_rows.append(gname)
        rule = _rule_for(tuple(grad_rows)) if grad is not None else None

        register(Row(self.row_name, arity, "float", f"{fwd_name}({args})", rule,
                     node_name=f"{fn.__name__.capitalize()}Backward0", preamble=preamble))

    def __call__(self, *operands):
        if len(operands) != self.arity:
            raise TypeError(f"{self.name}() takes {self.arity} tensor argument(s) ({len(operands)} given)")
        return apply(self.row_name, *operands)

    def __repr__(self) -> str:
        return f"<numgrad elementwise op {self.name}/{self.arity}>"


def elementwise(fn: Optional[Callable] = None, *, grad: Optional[Callable] = None, name: Optional[str] = None):
    """Turn a scalar function into a tensor op that fuses with numgrad's built-in ops.

    ``fn(x1, ..., xn)`` is scalar code Numba can compile (``math``/``np`` calls
    allowed, no closures).  ``grad(x1, ..., xn, out, g)`` returns the gradient
    for each input (a tuple when n > 1); without it the op is not differentiable.

    >>> import numgrad as ng
    >>> def softclip(x):
    ...     return x / (1.0 + abs(x))
    >>> def softclip_grad(x, out, g):
    ...     return g / ((1.0 + abs(x)) * (1.0 + abs(x)))
    >>> softclip = ng.elementwise(softclip, grad=softclip_grad)
    >>> x = ng.tensor([1.0, -3.0], requires_grad=True)
    >>> y = softclip(x * 2).sum(); y.backward(); x.grad
    tensor([0.2222, 0.0408])
    """
    def wrap(f):
        arity = len(inspect.signature(f).parameters)
        if grad is not None and len(inspect.signature(grad).parameters) != arity + 2:
            raise TypeError(f"elementwise: grad of {f.__name__} must take {arity + 2} arguments "
                            f"(the {arity} inputs, out, g)")
        return ElementwiseOp(f, grad, arity, name or f.__name__)

    return wrap(fn) if fn is not None else wrap


__all__ = ["elementwise", "ElementwiseOp"]
