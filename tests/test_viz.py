"""numgrad.viz.draw: backward graph rendering with fused regions (matplotlib fallback forced)."""
from __future__ import annotations

import pytest

import numgrad as ng
from numgrad import viz


def _w1():
    x, w, b = (ng.randn(16, requires_grad=True) for _ in range(3))
    return (ng.tanh(x * w + b) * ng.sigmoid(x) ** 2).sum()


def test_regions_follow_the_fused_backward_rule():
    g = viz.build_graph(_w1())
    assert g.n_regions == 1
    assert len([n for n in g.regions]) == 6  # mul, add, tanh, sigmoid, pow, mul
    labels = [label for label, kind in g.nodes.values()]
    assert any(lab.startswith("SumBackward0") for lab in labels)
    assert sum(1 for _, kind in g.nodes.values() if kind == "leaf") == 3


def test_no_regions_when_fusion_is_off():
    y = _w1()
    ng.set_fusion(False)
    try:
        assert viz.build_graph(y).n_regions == 0
    finally:
        ng.set_fusion(True)


def test_matplotlib_fallback_returns_png_and_svg(tmp_path):
    pytest.importorskip("matplotlib")
    img = ng.viz.draw(_w1(), backend="matplotlib")
    png = img._repr_png_()
    assert png.startswith(b"\x89PNG") and "<svg" in img._repr_svg_()
    assert img.save(str(tmp_path / "g.png")).endswith("g.png")
    assert (tmp_path / "g.png").read_bytes() == png
    with pytest.raises(ValueError, match=".svg or .png"):
        img.save(str(tmp_path / "g.pdf"))


def test_svg_backend_needs_nothing_and_marks_regions(tmp_path):
    img = ng.viz.draw(_w1(), backend="svg")
    svg = img._repr_svg_()
    assert "TanhBackward0" in svg and "[fused 0]" in svg and img._repr_png_() is None
    with pytest.raises(ValueError, match="save as .svg"):
        img.save(str(tmp_path / "g.png"))


def test_deep_chain_is_walked_iteratively_and_truncated():
    x = ng.randn(2, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0001
    g = viz.build_graph(y.sum(), max_nodes=500)
    assert len(g.nodes) == 501 and g.truncated > 0
    assert "more nodes not drawn" in viz._title(g)


def test_errors():
    with pytest.raises(TypeError, match="numgrad Tensor"):
        ng.viz.draw([1, 2])
    with pytest.raises(ValueError, match="backend must be"):
        ng.viz.draw(ng.ones(2, requires_grad=True).sum(), backend="tikz")
    if not viz._graphviz_available():
        with pytest.raises(ImportError, match="pip install graphviz"):
            ng.viz.draw(ng.ones(2, requires_grad=True).sum(), backend="graphviz")


def test_leaf_without_graph():
    img = ng.viz.draw(ng.ones(3), backend="svg")
    assert img.graph.nodes and not img.graph.edges
