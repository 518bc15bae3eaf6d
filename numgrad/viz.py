"""``ng.viz.draw(tensor)``: the backward graph as an image, fused regions marked.

>>> import numgrad as ng
>>> x = ng.randn(3, requires_grad=True)
>>> g = ng.viz.draw((ng.tanh(x) * 2).sum(), backend="svg")
>>> "TanhBackward0" in g._repr_svg_()
True

Fused regions are computed with the fused backward's own rule
(``numgrad.fusion.backward.collect``, visiting nodes newest first like the
engine): a region is a set of elementwise nodes whose intermediate gradients
nobody outside needs; regions of two or more nodes run as ONE backward kernel
and are drawn as a shaded cluster. With fusion off nothing is marked.

Backends: ``graphviz`` (python package ``graphviz`` and the ``dot`` binary),
else ``matplotlib`` (a layered layout), else ``svg`` (hand-written SVG, no
dependencies; no PNG). ``backend="auto"`` picks the first that is installed.
"""
from __future__ import annotations

import html
import shutil
from typing import Optional
from .autograd.function import AccumulateGrad
from .fusion import state
from .fusion.backward import collect
from .ops.elementwise import ElementwiseNode
from .tensor import Tensor

_PALETTE = ["#cfe2ff", "#ffe0b3", "#d4f4d4", "#f8d0e0", "#e4d8f8", "#fff2a8", "#d0f0f0", "#f0dcc8"]


class _Graph:
    """Nodes (id -> label, kind), edges (parent id -> child id), regions (node id -> region index)."""

    def __init__(self):
        self.nodes: dict = {}
        self.edges: list = []
        self.regions: dict = {}
        self.n_regions = 0
        self.truncated = 0


def _label(node) -> str:
    name = node.name()
    var = getattr(node, "variable", None)
    if var is not None:
        return f"{name}\n{list(var.shape)} {var.dtype.name}"
    shape = getattr(node, "out_shape", None)
    if shape is None:
        meta = getattr(getattr(node, "ctx", None), "_out_meta", None)
        if meta:
            shape = meta[0][0]
    return f"{name}\n{list(shape)}" if shape is not None else name


def build_graph(tensor, max_nodes: int = 300) -> _Graph:
    """Walk ``tensor.grad_fn`` iteratively and group fusable elementwise nodes.

    >>> import numgrad as ng
    >>> x = ng.randn(3, requires_grad=True)
    >>> g = build_graph(ng.exp(ng.sin(x)).sum())
    >>> g.n_regions
    1
    """
    graph = _Graph()
    root = tensor.grad_fn
    graph.nodes["out"] = (f"tensor\n{list(tensor.shape)} {tensor.dtype.name}", "tensor")
    if root is None:
        return graph
    graph.edges.append(("out", id(root)))
    seen = {id(root): root}
    order = [root]
    stack = [root]
    in_degree: dict = {}
    while stack:
        node = stack.pop()
        for edge in node._next:
            if edge is None:
                continue
            child = edge[0]
            in_degree[child] = in_degree.get(child, 0) + 1
            graph.edges.append((id(node), id(child)))
            if id(child) not in seen:
                if len(seen) >= max_nodes:
                    graph.truncated += 1
                    graph.edges.pop()
                    continue
                seen[id(child)] = child
                order.append(child)
                stack.append(child)
    for node in order:
        kind = "leaf" if isinstance(node, AccumulateGrad) else "node"
        graph.nodes[id(node)] = (_label(node), kind)
    graph.edges = [(a, b) for a, b in graph.edges if a in graph.nodes and b in graph.nodes]
    _mark_regions(graph, order, in_degree)
    return graph


def _mark_regions(graph: _Graph, order: list, in_degree: dict) -> None:
    if not state._enabled:
        return
    claimed: set = set()
    for node in sorted(order, key=lambda n: -n._seq):  # the engine runs the newest node first
        if type(node) is not ElementwiseNode or node in claimed or node._freed or not node.fusable():
            continue
        region = collect(node, in_degree, claimed)
        if len(region) > 1:
            for member in region:
                graph.regions[id(member)] = graph.n_regions
            graph.n_regions += 1
        claimed.update(region)


def _layers(graph: _Graph) -> dict:
    """Longest-path depth from the output (iterative, Kahn order)."""
    children: dict = {}
    indeg = {n: 0 for n in graph.nodes}
    for a, b in graph.edges:
        children.setdefault(a, []).append(b)
        indeg[b] += 1
    depth = {n: 0 for n in graph.nodes}
    ready = [n for n, d in indeg.items() if d == 0]
    while ready:
        n = ready.pop()
        for c in children.get(n, ()):
            depth[c] = max(depth[c], depth[n] + 1)
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(c)
    return depth


def _positions(graph: _Graph) -> dict:
    depth = _layers(graph)
    rows: dict = {}
    for n in graph.nodes:
        rows.setdefault(depth[n], []).append(n)
    pos = {}
    for d, members in rows.items():
        # keep region members side by side
        members.sort(key=lambda n: (graph.regions.get(n, -1), str(n)))
        width = len(members)
        for i, n in enumerate(members):
            pos[n] = (i - (width - 1) / 2.0, -float(d))
    return pos


def _fill(graph: _Graph, n) -> str:
    r = graph.regions.get(n)
    if r is not None:
        return _PALETTE[r % len(_PALETTE)]
    kind = graph.nodes[n][1]
    return {"leaf": "#e8e8e8", "tensor": "#ffffff"}.get(kind, "#ffffff")


def _title(graph: _Graph) -> str:
    t = f"backward graph: {len(graph.nodes) - 1} nodes, {graph.n_regions} fused region(s)"
    if graph.truncated:
        t += f" ({graph.truncated} more nodes not drawn)"
    return t


class GraphImage:
    """A drawn graph: displays in Jupyter (``_repr_png_``/``_repr_svg_``), ``save(path)``."""

    def __init__(self, graph: _Graph, backend: str, svg: Optional[str] = None, png: Optional[bytes] = None,
                 source=None):
        self.graph = graph
        self.backend = backend
        self._svg = svg
        self._png = png
        self.source = source  # graphviz.Digraph or matplotlib Figure

    def _repr_svg_(self) -> Optional[str]:
        return self._svg

    def _repr_png_(self) -> Optional[bytes]:
        return self._png

    def save(self, path: str) -> str:
        """Write ``.svg`` or ``.png`` (by extension).

        >>> import numgrad as ng, os, tempfile
        >>> x = ng.randn(2, requires_grad=True)
        >>> p = ng.viz.draw(x.exp().sum(), backend="svg").save(os.path.join(tempfile.mkdtemp(), "g.svg"))
        >>> os.path.exists(p)
        True
        """
        if path.lower().endswith(".svg"):
            if self._svg is None:
                raise ValueError(f"the {self.backend} backend produced no SVG; save as .png")
            with open(path, "w", encoding="utf-8") as f:
                f.write(self._svg)
        elif path.lower().endswith(".png"):
            if self._png is None:
                raise ValueError(f"the {self.backend} backend cannot make PNG (install matplotlib or graphviz); "
                                 "save as .svg")
            with open(path, "wb") as f:
                f.write(self._png)
        else:
            raise ValueError(f"save() writes .svg or .png files; got {path!r}")
        return path

    def __repr__(self) -> str:
        return f"<GraphImage {self.backend}: {_title(self.graph)}>"


def _graphviz_available() -> bool:
    try:
        import graphviz  # noqa: F401
    except ImportError:
        return False
    return shutil.which("dot") is not None


def _matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _draw_graphviz(graph: _Graph) -> GraphImage:
    import graphviz

    dot = graphviz.Digraph(graph_attr={"rankdir": "TB", "label": _title(graph), "fontsize": "10"},
                           node_attr={"shape": "box", "style": "rounded,filled", "fontsize": "10",
                                      "fontname": "Helvetica"})
    clusters = {r: graphviz.Digraph(name=f"cluster_{r}", graph_attr={
        "label": f"fused backward kernel {r}", "style": "filled", "color": _PALETTE[r % len(_PALETTE)],
        "fontsize": "9"}) for r in range(graph.n_regions)}
    for n, (label, _) in graph.nodes.items():
        target = clusters.get(graph.regions.get(n), dot)
        target.node(str(n), label, fillcolor=_fill(graph, n))
    for c in clusters.values():
        dot.subgraph(c)
    for a, b in graph.edges:
        dot.edge(str(a), str(b))
    return GraphImage(graph, "graphviz", svg=dot.pipe(format="svg").decode(), png=dot.pipe(format="png"),
                      source=dot)


def _draw_matplotlib(graph: _Graph) -> GraphImage:
    import io

    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    del matplotlib
    pos = _positions(graph)
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    width = max(4.0, 1.9 * (max(xs) - min(xs) + 1))
    height = max(2.5, 1.0 * (max(ys) - min(ys) + 1) + 0.6)
    fig = Figure(figsize=(min(width, 40), min(height, 60)))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    bw, bh = 0.42, 0.28
    for a, b in graph.edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.annotate("", xy=(x1, y1 + bh), xytext=(x0, y0 - bh),
                    arrowprops={"arrowstyle": "->", "color": "#555", "lw": 0.8})
    for n, (label, kind) in graph.nodes.items():
        x, y = pos[n]
        region = graph.regions.get(n)
        edge = "#d62728" if region is not None else "#333"
        ax.add_patch(FancyBboxPatch((x - bw, y - bh), 2 * bw, 2 * bh, boxstyle="round,pad=0.02",
                                    facecolor=_fill(graph, n), edgecolor=edge,
                                    linewidth=1.6 if region is not None else 0.8))
        text = label if region is None else f"{label}\n[fused {region}]"
        ax.text(x, y, text, ha="center", va="center", fontsize=7)
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.5, max(ys) + 0.5)
    ax.set_title(_title(graph), fontsize=9)
    png, svg = io.BytesIO(), io.StringIO()
    fig.savefig(png, format="png", dpi=90, bbox_inches="tight")
    fig.savefig(svg, format="svg", bbox_inches="tight")
    return GraphImage(graph, "matplotlib", svg=svg.getvalue(), png=png.getvalue(), source=fig)


def _draw_svg(graph: _Graph) -> GraphImage:
    pos = _positions(graph)
    sx, sy, bw, bh = 170.0, 80.0, 150.0, 50.0
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    x0, y0 = min(xs), max(ys)

    def at(n):
        x, y = pos[n]
        return 20 + (x - x0) * sx + bw / 2, 40 + (y0 - y) * sy + bh / 2

    w = 40 + (max(xs) - x0) * sx + bw
    h = 60 + (y0 - min(ys)) * sy + bh
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" font-family="Helvetica" '
           f'font-size="11"><defs><marker id="a" markerWidth="8" markerHeight="8" refX="8" refY="4" '
           f'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>',
           f'<text x="20" y="20">{html.escape(_title(graph))}</text>']
    for a, b in graph.edges:
        (ax_, ay), (bx, by) = at(a), at(b)
        out.append(f'<line x1="{ax_:.1f}" y1="{ay + bh / 2:.1f}" x2="{bx:.1f}" y2="{by - bh / 2:.1f}" '
                   f'stroke="#555" marker-end="url(#a)"/>')
    for n, (label, _) in graph.nodes.items():
        cx, cy = at(n)
        region = graph.regions.get(n)
        stroke = "#d62728" if region is not None else "#333"
        out.append(f'<rect x="{cx - bw / 2:.1f}" y="{cy - bh / 2:.1f}" width="{bw}" height="{bh}" rx="6" '
                   f'fill="{_fill(graph, n)}" stroke="{stroke}" stroke-width="{2 if region is not None else 1}"/>')
        lines = label.split("\n") + ([f"[fused {region}]"] if region is not None else [])
        for i, line in enumerate(lines):
            ty = cy + (i - (len(lines) - 1) / 2) * 13 + 4
            out.append(f'<text x="{cx:.1f}" y="{ty:.1f}" text-anchor="middle">{html.escape(line)}</text>')
    out.append("</svg>")
    return GraphImage(graph, "svg", svg="".join(out))


def draw(tensor, backend: str = "auto", max_nodes: int = 300) -> GraphImage:
    """Render the backward graph of ``tensor`` with its fused backward regions marked.

    ``backend``: "auto" (graphviz, else matplotlib, else svg), "graphviz",
    "matplotlib" or "svg". Returns a :class:`GraphImage` that shows itself in
    Jupyter and has ``save(path)``; ``.graph`` holds nodes, edges and regions.

    >>> import numgrad as ng
    >>> w = ng.randn(4, requires_grad=True)
    >>> img = ng.viz.draw((w * ng.sigmoid(w)).sum(), backend="svg")
    >>> img.graph.n_regions
    1
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"draw() expects a numgrad Tensor, got {type(tensor).__name__}")
    graph = build_graph(tensor, max_nodes=max_nodes)
    if backend == "auto":
        backend = "graphviz" if _graphviz_available() else "matplotlib" if _matplotlib_available() else "svg"
    if backend == "graphviz":
        if not _graphviz_available():
            raise ImportError("backend='graphviz' needs the graphviz python package and the `dot` binary "
                              "(pip install graphviz; apt/brew install graphviz); or use backend='matplotlib'")
        return _draw_graphviz(graph)
    if backend == "matplotlib":
        if not _matplotlib_available():
            raise ImportError("backend='matplotlib' needs matplotlib (pip install matplotlib); backend='svg' "
                              "needs nothing")
        return _draw_matplotlib(graph)
    if backend == "svg":
        return _draw_svg(graph)
    raise ValueError(f"backend must be 'auto', 'graphviz', 'matplotlib' or 'svg'; got {backend!r}")


__all__ = ["draw", "GraphImage", "build_graph"]
