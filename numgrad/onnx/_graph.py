"""Assembling an ONNX graph: value names, nodes, initializers and the opset-dependent spellings.

The ``onnx`` package is an optional extra, imported on the first export
(``require_onnx``, which tells the user how to install it when it is missing).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

MIN_OPSET = 17  # LayerNormalization
DEFAULT_OPSET = 18  # torch.onnx.export's default

_loaded: dict = {}


def require_onnx():
    """The ``onnx`` package, imported on first use, or a clear error when the optional extra is missing.

    Imported here and not at the top: ``import onnx`` takes about a second, which ``import numgrad`` should not
    pay for users who never export.
    """
    mod = _loaded.get("onnx")
    if mod is None:
        try:
            import onnx
            import onnx.numpy_helper  # noqa: F401 - a submodule `import onnx` does not load
        except ImportError:
            raise ModuleNotFoundError(
                "numgrad.onnx.export needs the 'onnx' package, an optional dependency of numgrad: install it with "
                "`pip install onnx` (or numgrad's `onnx` extra)"
            ) from None
        mod = _loaded["onnx"] = onnx
    return mod


def max_opset() -> int:
    return require_onnx().defs.onnx_opset_version()


class GraphBuilder:
    """Nodes and initializers of one ONNX graph, with a dtype and shape known for every value name."""

    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list = []
        self.initializers: dict = {}  # name -> TensorProto
        self.dtypes: dict = {}  # value name -> np.dtype
        self.shapes: dict = {}  # value name -> tuple (shape seen while tracing)
        # value name -> (source value, k): its dim 0 is source's leading k dims flattened (see _functions._reshape)
        self.lead: dict = {}
        self._used: set = set()
        self._counts: dict = {}

    # ------------------------------------------------------------------ names
    def reserve(self, name: str) -> str:
        if name in self._used:
            raise ValueError(f"numgrad.onnx.export: the name {name!r} is used twice in the graph")
        self._used.add(name)
        return name

    def fresh(self, hint: str) -> str:
        n = self._counts.get(hint, 0)
        while True:
            name = f"{hint}_{n}" if n else hint
            n += 1
            if name not in self._used:
                self._counts[hint] = n
                self._used.add(name)
                return name

    def typed(self, name: str, dtype, shape) -> str:
        self.dtypes[name] = np.dtype(dtype)
        self.shapes[name] = tuple(shape)
        return name

    # ------------------------------------------------------------------ constants
    def initializer(self, name: str, array: np.ndarray) -> str:
        """A named initializer (a parameter, a buffer or a constant) holding ``array``."""
        array = np.asarray(array)
        if not array.flags.c_contiguous:
            array = array.copy()  # (np.ascontiguousarray would make a 0-d array 1-d)
        self.initializers[name] = require_onnx().numpy_helper.from_array(array, name)
        return self.typed(name, array.dtype, array.shape)

    def const(self, value, dtype, hint: str = "const") -> str:
        """An anonymous constant initializer of ``value`` as ``dtype``."""
        array = np.asarray(value, dtype=dtype)
        return self.initializer(self.fresh(hint), array)

    def ints(self, values: Sequence[int], hint: str = "shape") -> str:
        return self.const(list(values), np.int64, hint)

    # ------------------------------------------------------------------ nodes
    def op(self, op_type: str, inputs: Sequence[str], dtype, shape, *, hint: Optional[str] = None,
           n_outputs: int = 1, **attrs) -> str:
        """Append one node; returns its (first) output's name, typed ``dtype``/``shape``."""
        outs = [self.fresh(hint or op_type) for _ in range(n_outputs)]
        self.nodes.append(require_onnx().helper.make_node(op_type, list(inputs), outs,
                                                          name=self.fresh(f"/{op_type}"), **attrs))
        return self.typed(outs[0], dtype, shape)

    def multi(self, op_type: str, inputs: Sequence[str], dtype, shapes: Sequence[tuple], **attrs) -> list:
        """Append one node with ``len(shapes)`` outputs; returns their names."""
        outs = [self.typed(self.fresh(op_type), dtype, s) for s in shapes]
        self.nodes.append(require_onnx().helper.make_node(op_type, list(inputs), outs,
                                                          name=self.fresh(f"/{op_type}"), **attrs))
        return outs

    def cast(self, name: str, dtype) -> str:
        dtype = np.dtype(dtype)
        if self.dtypes.get(name) == dtype:
            return name
        to = require_onnx().helper.np_dtype_to_tensor_dtype(dtype)
        return self.op("Cast", [name], dtype, self.shapes.get(name, ()), to=to)

    def reduce(self, op_type: str, x: str, axes: Sequence[int], keepdims: bool, dtype, shape) -> str:
        """ReduceSum/Mean/Max/Min over ``axes``: axes are an input from opset 18 (13 for ReduceSum)."""
        axes = [int(a) for a in axes]
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, [x, self.ints(axes, "axes")], dtype, shape, keepdims=int(keepdims))
        return self.op(op_type, [x], dtype, shape, axes=axes, keepdims=int(keepdims))

    def model(self, inputs: list, outputs: list, name: str, doc: str = ""):
        helper = require_onnx().helper
        graph = helper.make_graph(self.nodes, name, inputs, outputs, list(self.initializers.values()))
        if doc:
            graph.doc_string = doc
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                                  producer_name="numgrad")
        return model


def value_info(name: str, dtype, shape: Sequence) -> object:
    """A graph input/output declaration; ``shape`` entries are ints or strings (dynamic axes)."""
    helper = require_onnx().helper
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), list(shape))
