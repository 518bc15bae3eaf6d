"""The import graph of ``numgrad/`` is a DAG that reads as its architecture (see README, "Layout").

Every ``import`` counts, module-level and inside functions: an import inside a
function that points back up the stack is still a cycle, only a hidden one.
Importing ``a.b.c`` also runs ``a/__init__.py`` and ``a/b/__init__.py``, so an
edge to a module is an edge to each package above it too (except packages the
importer itself lives in, which are already loading, and the ``numgrad`` root).
"""
from __future__ import annotations

import ast
import os
from collections import defaultdict

import pytest

import numgrad

ROOT = os.path.dirname(numgrad.__file__)

# Layers from the bottom up: a module may import its own layer and the ones before it.
LAYERS = [
    ("base", ["numgrad._version", "numgrad._dtypes", "numgrad.device", "numgrad.ir", "numgrad._profiler_hooks",
              "numgrad._gc", "numgrad.memory_format", "numgrad.version"]),
    ("kernels", ["numgrad.kernels"]),
    ("tensor", ["numgrad._pending_readers", "numgrad._format", "numgrad.tensor", "numgrad.creation"]),
    ("autograd", ["numgrad.autograd"]),
    ("fusion", ["numgrad.fusion"]),
    ("ops", ["numgrad.ops"]),
    ("top", ["numgrad.nn", "numgrad.optim", "numgrad.profiler", "numgrad.viz", "numgrad.data",
             "numgrad.serialization", "numgrad.interop", "numgrad.cuda", "numgrad.demo", "numgrad.examples",
             "numgrad.utils", "numgrad.accelerator", "numgrad.backends", "numgrad.testing",
             "numgrad.onnx", "numgrad.distributed", "numgrad.amp", "numgrad.distributions", "numgrad.jit"]),
    # torch.linalg/special/autograd.functional namespaces: ops, above the top layer
    ("linalg", ["numgrad.linalg", "numgrad.special", "numgrad.autograd.functional",
                "numgrad.func"]),
    ("compile", ["numgrad.compiler"]),
    ("binding", ["numgrad._tensor_methods", "numgrad._out_arguments"]),
    ("package", ["numgrad", "numgrad.coverage"]),  # coverage inspects the finished namespace
]


def _modules() -> dict:
    mods = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
                mods[rel[:-9] if rel.endswith(".__init__") else rel] = path
    return mods


def _targets(module: str, is_package: bool, node, mods: dict) -> list:
    """The numgrad modules an import statement loads (the innermost existing module of each name)."""
    def existing(name: str):
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    if isinstance(node, ast.Import):
        return [m for m in (existing(a.name) for a in node.names) if m]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module
    out = []
    for alias in node.names:
        name = f"{prefix}.{alias.name}"
        out.append(name if name in mods else existing(prefix))
    return [m for m in out if m]


def import_graph() -> dict:
    """module -> the numgrad modules it imports (packages run on the way included)."""
    mods = _modules()
    graph = defaultdict(set)
    for module, path in mods.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        own_packages = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 2)}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _targets(module, path.endswith("__init__.py"), node, mods):
                if not target.startswith("numgrad"):
                    continue
                parts = target.split(".")
                for i in range(2, len(parts) + 1):  # the packages above the target run first
                    name = ".".join(parts[:i])
                    if name in mods and name not in own_packages and name != module:
                        graph[module].add(name)
        graph.setdefault(module, set())
    return graph


def find_cycle(graph: dict):
    """One cycle as a list of modules (first == last), or None. Iterative DFS: no recursion limit."""
    color = dict.fromkeys(graph, 0)  # 0 new, 1 on the stack, 2 done
    for start in sorted(graph):
        if color[start]:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        color[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                color[node] = 2
                stack.pop()
                path.pop()
            elif color.get(child, 0) == 1:
                return path[path.index(child):] + [child]
            elif color.get(child, 0) == 0:
                color[child] = 1
                stack.append((child, iter(sorted(graph.get(child, ())))))
                path.append(child)
    return None


def _layer_of(module: str) -> int:
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = i, len(p)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")
    return best


def test_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_import_points_down_the_layers():
    upward = []
    for module, targets in sorted(import_graph().items()):
        for target in sorted(targets):
            if _layer_of(target) > _layer_of(module):
                upward.append(f"{module} ({LAYERS[_layer_of(module)][0]}) imports {target} "
                              f"({LAYERS[_layer_of(target)][0]})")
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def test_cycle_finder_reports_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


@pytest.mark.parametrize("module", ["numgrad.ir", "numgrad.ir.table", "numgrad.ir.expr", "numgrad._profiler_hooks"])
def test_the_bottom_layer_imports_nothing_above_it(module):
    graph = import_graph()
    assert all(_layer_of(t) == 0 for t in graph[module]), sorted(graph[module])
