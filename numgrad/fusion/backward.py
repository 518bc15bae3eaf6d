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

from .. import _profiler_hooks as _profiler  # hook in run
from .._pending_readers import flush_readers
from ..autograd import engine
from ..autograd.function import AccumulateGrad
from ..ir import expr as ex
from ..kernels.backend import copy_as, empty_for, run_map, run_map_sum
from ..kernels.broadcast import sum_to_array
from ..tensor import Tensor
from . import deferred, state
from .lazy import RegionBuilder, is_special_exponent, op_expr, scalar_operand_key


def collect(root, in_degree: dict, blocked) -> list:
    """Nodes of the fusable region that starts at ``root``, each after every region node that consumes it.

    A node joins only once all of its incoming edges (``in_degree``) came from
    members, so the list is already the order ``run`` needs: root first,
    consumers before producers.
    """
    region = [root]
    members = {root}
    edges_in: dict = {}
    frontier = [root]
    while frontier and len(region) < state.MAX_REGION:
        node = frontier.pop()
        for edge in node._next:
            if edge is None:
                continue
            child = edge[0]
            if not child.fusable_elementwise or child in members or child in blocked or child._freed:
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


def run(region: list, grad, accumulate_into_leaves: bool = False, with_forward_sum: bool = False):
    """Compute the region's input gradients with one kernel.

    Returns a list of ``(edge, gradient Tensor)`` for every edge leaving the
    region (several edges may carry the same tensor's gradient: it is summed
    once and reported on each of them with ``None`` after the first).  With
    ``accumulate_into_leaves``, a leaf whose ``.grad`` already holds a buffer of
    the region's shape gets ``grad + new`` written straight into that buffer
    by the same kernel (its edge then carries no tensor).

    ``with_forward_sum``: return ``(results, total)`` where ``total`` is the sum
    of the region root's forward value (recomputed in the same kernel, for a
    deferred ``sum``/``mean`` loss, see ``numgrad.fusion.deferred``) as a 0-d
    array, or None when no single kernel could do both.
    """
    if _profiler._ACTIVE and _profiler._outer(region):  # numgrad.profiler hook (off: one attribute check)
        return _profiler._op("FusedBackward", "backward", run, (region, grad, accumulate_into_leaves,
                                                                with_forward_sum), {}, region,
                             [n.name() for n in region])
    members = set(region)
    sig = _signature(region, members, grad)
    plan = _plans.get(sig[0])
    if plan is not None:
        _, inputs, externals = sig
        roots, edge_idx, forward_root = plan
        edges = [externals[j][0] for j in edge_idx]
        meta = {externals[j][0]: externals[j][1:] for j in edge_idx}
        result, total = _launch(region, edges, list(roots), list(inputs), meta, accumulate_into_leaves,
                                forward_root if with_forward_sum else None)
    else:
        result, total = _derive(region, members, grad, accumulate_into_leaves, sig, with_forward_sum)
    return (result, total) if with_forward_sum else result


# region signature -> (input-gradient roots, which external edges they belong to, the root's forward Expr)
_plans: dict = {}


def _signature(region, members, grad):
    """A key for the region's structure, plus its inputs in the order the Expr builder uses.

    An input that is still a lazy forward value is computed here.  A backward
    region need not start where a forward region was cut (a chain of 1 000 ops
    is realized every 32 ops forward, while backward regions are collected from
    the loss down), so an input can be an intermediate of a forward region
    that was never stored.  Inlining its forward expression would make the
    region's structure depend on how far back the last stored value lies, and
    no plan could be reused; one small forward kernel that stores it keeps
    every region's structure the same from step to step.
    """
    pos = {node: i for i, node in enumerate(region)}
    inputs, by_buffer, externals, seen = [], {}, [], set()
    parts = []

    def buffer_slot(arr):
        k = by_buffer.get(id(arr))
        if k is None:
            k = by_buffer[id(arr)] = len(inputs)
            inputs.append(arr)
        return k

    for node in reversed(region):
        ops = []
        for i, x in enumerate(node.operands):
            edge = node._next[i]
            if edge is not None and edge[0] in members:
                ops.append(pos[edge[0]])
            elif isinstance(x, Tensor):
                arr = x._buf
                if arr is None:
                    arr = x._lazy.result
                    if arr is None:
                        arr = x._lazy.realize()
                ops.append(("t", buffer_slot(arr), x.dtype))
                if edge is not None and edge not in seen:
                    seen.add(edge)
                    externals.append((edge, x.shape, x.dtype))
            else:
                if not is_special_exponent(node.row, i, x):
                    inputs.append(x)
                ops.append(scalar_operand_key(node.row, i, x))
        for p in node.params:
            inputs.append(p)
            ops.append(("p", type(p)))
        parts.append((node.row.name, node.compute, node.out_dtype, tuple(ops), tuple(e is not None for e in node._next)))
    parts.append(("g", buffer_slot(grad._data), grad.dtype))
    return tuple(parts), inputs, externals


def _derive(region, members, grad, accumulate_into_leaves, sig, with_forward_sum=False):
    """Build the region's gradient expressions (and remember them for this structure)."""
    builder = RegionBuilder()
    values: dict = {}  # node -> forward Expr (recomputed)
    external: dict = {}  # edge -> (var Expr, shape, dtype)
    for node in reversed(region):
        def resolve(i, x, node=node):
            edge = node._next[i]
            if edge is not None and edge[0] in members:
                return values[edge[0]], edge[0].out_dtype
            e, dt = builder.tensor_var(x)
            if edge is not None and edge not in external:
                external[edge] = (e, x.shape, x.dtype)
            return e, x.dtype

        arg_exprs, arg_dtypes = builder.args(node.row, node.operand_values(), node.params, resolve)
        node._region_args = (arg_exprs, arg_dtypes)
        values[node] = op_expr(node.row, arg_exprs, arg_dtypes, node.compute, node.out_dtype)
    g_var = builder.buffer_var(grad._data, grad.dtype)
    grads: dict = {region[0]: g_var}
    ext_grads: dict = {}
    for node in region:  # consumers before producers
        g = grads.pop(node, None)
        if g is None:
            continue
        arg_exprs, _ = node._region_args
        del node._region_args
        node_grads = node.row.grad(ex.E, tuple(arg_exprs), values[node], g)
        for i, edge in enumerate(node._next):
            if edge is None or node_grads[i] is None:
                continue
            gi = ex._lift(node_grads[i])
            if edge[0] in members:
                grads[edge[0]] = gi if edge[0] not in grads else ex.E.add(grads[edge[0]], gi)
            else:
                ext_grads[edge] = gi if edge not in ext_grads else ex.E.add(ext_grads[edge], gi)
    edges = [e for e in external if e in ext_grads]
    roots = [ext_grads[e] for e in edges]
    key, sig_inputs, externals = sig
    # cache only when the signature walk provably reproduces the builder's inputs
    if (len(sig_inputs) == len(builder.inputs) and all(a is b for a, b in zip(sig_inputs, builder.inputs))
            and [e for e, _, _ in externals] == list(external)):
        index = {e: j for j, (e, _, _) in enumerate(externals)}
        _plans[key] = (tuple(roots), [index[e] for e in edges], values[region[0]])
    meta = {e: external[e][1:] for e in edges}
    return _launch(region, edges, roots, builder.inputs, meta, accumulate_into_leaves,
                   values[region[0]] if with_forward_sum else None)


def _launch(region, edges, roots, inputs, meta, accumulate_into_leaves, forward_root=None):
    """Run the gradient kernel (adding into existing leaf grads where allowed) and wrap the results.

    Returns (results, total): ``total`` is the sum of ``forward_root`` computed by
    the same kernel (a 0-d array), or None when it was not asked for or the
    operands need a kernel that cannot also reduce.
    """
    compute = region[0].compute
    shape = region[0].out_shape
    outs, in_place = [], []
    for j, edge in enumerate(edges):
        target = _grad_buffer(edge, shape, compute) if accumulate_into_leaves else None
        if target is not None:
            flush_readers(target)  # pending fused ops that read the old .grad go first
            roots[j] = ex.E.add(ex.var(len(inputs)), roots[j])
            inputs.append(target)
        outs.append(target if target is not None else empty_for(inputs, shape, compute.np))
        in_place.append(target is not None)
    total = None
    if forward_root is not None:
        total = run_map_sum(tuple(roots), forward_root, inputs, shape, compute.name, compute.name, outs)
    if roots and total is None:
        run_map(tuple(roots), inputs, None, shape, compute.name, ("",) * len(inputs), outs=outs)
    result = []
    for edge, arr, done in zip(edges, outs, in_place):
        if done:
            edge[0].variable.grad._bump_version()
            result.append((edge, None))
            continue
        in_shape, in_dtype = meta[edge]
        arr = sum_to_array(arr, in_shape)
        if arr.dtype != in_dtype.np:
            arr = copy_as(arr, in_dtype.np)
        result.append((edge, Tensor(arr)))
    return result, total


def _grad_buffer(edge, shape: tuple, compute):
    """The existing ``.grad`` array of the leaf behind ``edge`` when the kernel may add into it."""
    node = edge[0]
    if type(node) is not AccumulateGrad or node._pre_hooks and node._pre_hooks.get(0):
        return None
    leaf = node.variable
    if leaf._post_acc_hooks:  # the engine delivers the gradient, and runs the hooks once .grad holds it
        return None
    g = leaf.grad
    if g is None or g._buf is None or g.requires_grad or g._grad_fn is not None:
        return None
    arr = g._buf
    if arr.shape != shape or arr.dtype != compute.np or not arr.flags.c_contiguous or not arr.flags.writeable:
        return None
    return arr


class _RegionBackward:
    """What the autograd engine calls to run elementwise regions fused (see ``engine.register_region_backward``)."""

    enabled = staticmethod(state.is_fusion_enabled)
    collect = staticmethod(collect)
    run = staticmethod(run)
    joint_backward = staticmethod(deferred.joint_backward)


engine.register_region_backward(_RegionBackward)
