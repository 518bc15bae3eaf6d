"""``ng.explain(tensor)``: what was fused and the generated kernel source."""
from __future__ import annotations
from ..ir import expr as ex
from ..kernels.backend import map_kernel_source
from ..kernels.cpu.elementwise import half_kind
from .lazy import RegionBuilder, pending_op


class Explanation:
    """Text report of a tensor's pending fused region (shown as-is in notebooks)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


_EXPLAINERS: list = []  # (type, function giving its report): higher layers register theirs (``ng.compile``'s)


def register_explainer(kind: type, describe) -> None:
    """``ng.explain(obj)`` of an instance of ``kind`` shows ``describe(obj)`` (a str)."""
    _EXPLAINERS.append((kind, describe))


def explain(t) -> Explanation:
    """Describe how ``t`` is (or will be) computed: its fused region and kernel source (for a tensor), or the
    captured plans and generated source (for what ``ng.compile`` returns).

    >>> import numgrad as ng
    >>> x = ng.ones(3)
    >>> "tanh" in str(ng.explain(ng.tanh(x * 2 + 1)))
    True
    """
    for kind, describe in _EXPLAINERS:
        if isinstance(t, kind):
            return Explanation(describe(t))
    op = pending_op(t)
    if op is None:
        lines = [f"tensor of shape {list(t.shape)}, dtype {t.dtype}: already computed (no pending region)."]
        if t.grad_fn is not None:
            lines.append(f"grad_fn: {t.grad_fn.name()}")
        return Explanation("\n".join(lines))
    builder = RegionBuilder()
    expr = builder.lazy_expr(op)
    n_ops = sum(1 for node in ex.postorder([expr]) if node.op not in ("var", "const") and
                not node.op.startswith("cast_"))
    lines = [f"fused region: {n_ops} ops -> 1 kernel on {op.device}, output shape {list(op.shape)}, dtype {op.dtype}",
             f"expression: {expr!r}", "inputs:"]
    for i, (inp, dt) in enumerate(zip(builder.inputs, builder.dtypes)):
        desc = f"array shape {list(inp.shape)}" if hasattr(inp, "shape") and getattr(inp, "ndim", 0) else \
            f"scalar {inp!r}"
        lines.append(f"  v{i}: {desc}, {dt}")
    # on the CPU, float16/bfloat16 arrays are read as 16-bit words and converted on load ("h"/"b")
    kinds = tuple(((op.device.type == "cpu" and type(inp).__module__ == "numpy" and half_kind(inp)) or "a")
                  if hasattr(inp, "ndim") and inp.ndim > 0 else "s" for inp in builder.inputs)
    src = map_kernel_source(op.device, (expr,), kinds, ("",) * len(kinds), 1, max(1, len(op.shape)), op.dtype.name)
    lines.append("generated kernel source (before dimension collapsing):")
    lines.append(src)
    return Explanation("\n".join(lines))
