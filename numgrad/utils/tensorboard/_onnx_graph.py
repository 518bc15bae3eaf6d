"""An ONNX model's graph as a TensorBoard ``GraphDef`` (PyTorch's ``torch.utils.tensorboard._onnx_graph``)."""
from __future__ import annotations

import itertools
from typing import Any

from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.compat.proto.versions_pb2 import VersionDef


def _require_onnx() -> Any:
    try:
        import onnx
    except ImportError as error:
        raise ImportError("add_onnx_graph and add_graph need the onnx package: pip install onnx "
                          "(or numgrad-engine[onnx])") from error
    return onnx


def load_onnx_graph(fname: Any) -> GraphDef:
    """The graph of the ONNX file ``fname`` (a path or a file object) as a ``GraphDef``."""
    return parse(_require_onnx().load(fname).graph)


def parse(graph: Any) -> GraphDef:
    """An ``onnx.GraphProto`` as a ``GraphDef``: inputs and outputs as Variable nodes, then one node per ONNX node
    named by its first output, its attributes in a "parameters" string."""
    nodes = []
    for node in itertools.chain(graph.input, graph.output):
        shape = TensorShapeProto(dim=[TensorShapeProto.Dim(size=d.dim_value)
                                      for d in node.type.tensor_type.shape.dim])
        nodes.append(NodeDef(name=node.name.encode(encoding="utf_8"), op="Variable", input=[],
                             attr={"dtype": AttrValue(type=node.type.tensor_type.elem_type),
                                   "shape": AttrValue(shape=shape)}))
    for node in graph.node:
        attributes = ", ".join(" = ".join(str(field[1]) for field in attribute.ListFields())
                               for attribute in node.attribute)
        nodes.append(NodeDef(name=node.output[0].encode(encoding="utf_8"), op=node.op_type, input=node.input,
                             attr={"parameters": AttrValue(s=attributes.encode(encoding="utf_8"))}))
    return GraphDef(node=nodes, versions=VersionDef(producer=22))
