"""Fused backward: one kernel for a region of elementwise graph nodes.

The engine calls ``collect`` when it is about to run an elementwise node.  The
region grows through operands produced by other elementwise nodes whose every
consumer is already in the region (so their gradient is complete inside it),
that carry no hooks, retain no grad and are not requested as outputs.

``run`` then rebuilds the region's forward expression from the saved inputs
(intermediates are recomputed, not stored), applies each node's derivative
rule from the op table symbolically in reverse order, and renders every input
gradient into ONE map kernel.  Inputs that were broadcast get their gradient
summed back to their shape afterwards.
"""
from __future__ import annotations

import numpy as np

from ..kernels.cpu.elementwise import run_map
from ..ops import expr as ex
from ..ops.reduce import sum_to_array
from .. import profiler as _profiler  # hook in run
from . import state
from .lazy import RegionBuilder, op_expr, pending_op, tensor_array


def _elementwise_node_cls():
    from ..ops.elementwise import ElementwiseNode

    return ElementwiseNode


def collect(root, in_degree: dict, blocked) -> list:
    """Nodes of the fusable region that starts at ``root`` (root first)."""
    Node = _elementwise_node_cls()
    region = [root]
    members = {root}
    edges_in: dict = {}
    frontier = [root]
    while frontier and len(region) < state.MAX_REGION:
        node = frontier.pop()
        for edge in node.next_functions:
            if edge is None:
                continue
            child = edge[0]
            if type(child) is not Node or child in members or child in blocked or child._freed:
                continue
            if child._pre_hooks or child._retain:
                continue
            edges_in[child] = edges_in.get(child, 0) + 1
            if edges_in[child] == in_degree.get(child, 0) and child.fusable():
                members.add(child)
                region.append(child)
                frontier.append(child)
                if len(region) >= state.MAX_REGION:
                    break
    return region


def run(region: list, grad):
    """Compute the region's input gradients with one kernel.

    Returns a list of ``(edge, gradient Tensor)`` for every edge leaving the
    region (several edges may carry the same tensor's gradient: it is summed
    once and reported on each of them with ``None`` after the first).
    """
    if _profiler._ACTIVE and _profiler._outer(region):  # numgrad.profiler hook (off: one attribute check)
        return _profiler._op("FusedBackward", "backward", run, (region, grad), {}, region,
                             [n.name() for n in region])
    from ..tensor import Tensor

    members = set(region)
    builder = RegionBuilder()
    values: dict = {}  # node -> forward Expr (recomputed)
    external: dict = {}  # edge -> (var Expr, shape, dtype)
    order = _topological(region, members)  # producers before consumers
    for node in reversed(order):
        def resolve(i, x, node=node):
            edge = node.next_functions[i]
            if edge is not None and edge[0] in members:
                return values[edge[0]], edge[0].out_dtype
            e, dt = builder.tensor_var(x)
            if edge is not None and edge not in external:
                external[edge] = (e, x.shape, x.dtype)
            return e, x.dtype

        arg_exprs, arg_dtypes = builder.args(node.row, node.operand_values(), node.params, resolve)
        node._region_args = (arg_exprs, arg_dtypes)
        values[node] = op_expr(node.row, arg_exprs, arg_dtypes, node.compute, node.out_dtype)
    compute = region[0].compute
    g_arr = grad._data
    g_var = builder.buffer_var(g_arr, grad.dtype)
    grads: dict = {region[0]: g_var}
    ext_grads: dict = {}
    for node in order:  # consumers before producers
        g = grads.pop(node, None)
        if g is None:
            continue
        arg_exprs, _ = node._region_args
        del node._region_args
        node_grads = node.row.grad(ex.E, tuple(arg_exprs), values[node], g)
        for i, edge in enumerate(node.next_functions):
            if edge is None or node_grads[i] is None:
                continue
            gi = ex._lift(node_grads[i])
            if edge[0] in members:
                grads[edge[0]] = gi if edge[0] not in grads else ex.E.add(grads[edge[0]], gi)
            else:
                ext_grads[edge] = gi if edge not in ext_grads else ex.E.add(ext_grads[edge], gi)
    edges = [e for e in external if e in ext_grads]
    roots = tuple(ext_grads[e] for e in edges)
    shape = region[0].out_shape
    outs = run_map(roots, builder.inputs, [compute.np] * len(roots), shape, compute.name,
                   ("",) * len(builder.inputs)) if roots else []
    result = []
    for edge, arr in zip(edges, outs):
        _, in_shape, in_dtype = external[edge]
        arr = sum_to_array(arr, in_shape)
        if arr.dtype != in_dtype.np:
            from ..ops.elementwise import _cast_array

            arr = _cast_array(arr, in_dtype)
        result.append((edge, Tensor(arr)))
    return result


def _topological(region: list, members: set) -> list:
    """Region nodes, each after every region node that consumes it (root first)."""
    consumers: dict = {n: 0 for n in region}
    for n in region:
        for edge in n.next_functions:
            if edge is not None and edge[0] in members:
                consumers[edge[0]] += 1
    ready = [region[0]]
    order = []
    while ready:
        n = ready.pop()
        order.append(n)
        for edge in n.next_functions:
            if edge is not None and edge[0] in members:
                consumers[edge[0]] -= 1
                if consumers[edge[0]] == 0:
                    ready.append(edge[0])
    return order
