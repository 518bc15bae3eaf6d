"""The backward engine: iterative, dependency-counted, no recursion.

1. Discover the graph from the roots with an explicit stack and count, for
   every node, how many edges point at it.
2. Optionally prune nodes that cannot reach a requested input.
3. Run nodes from a heap ordered by creation (newest first, like PyTorch), a
   node becoming ready when every edge into it has delivered its gradient.
   A leaf's ``AccumulateGrad`` runs as soon as it is ready, before any other
   node, as in PyTorch: its creation time says nothing (it lives as long as
   something references it, so it may be an old one or one made in this
   forward pass, depending on when the garbage collector ran), and ordering
   by it would make the kernels a backward launches depend on that.

A 100 000-node chain needs no Python recursion at all.
"""
from __future__ import annotations

import heapq
import itertools
from typing import Optional, Sequence

from .. import _profiler_hooks
from ..kernels.cpu import buffer_pool as _pool
from . import anomaly_mode as _anomaly
from .function import AccumulateGrad, FunctionNode, _edge
from .grad_mode import _set, is_grad_enabled


def _discover(root_nodes):
    deps: dict = {}
    order = []  # discovery order, used for pruning
    seen = set()
    stack = list(root_nodes)
    for n in root_nodes:
        seen.add(n)
    while stack:
        node = stack.pop()
        order.append(node)
        for edge in node._next:
            if edge is None:
                continue
            nxt = edge[0]
            deps[nxt] = deps.get(nxt, 0) + 1
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return deps, order


def _needed(order, target_nodes):
    """Nodes from which a target node can be reached (targets included)."""
    needed = set(target_nodes)
    changed = True
    # order is a DFS discovery order; walking it backwards visits most children first,
    # and repeating until nothing changes handles diamonds without recursion.
    while changed:
        changed = False
        for node in reversed(order):
            if node in needed:
                continue
            for edge in node._next:
                if edge is not None and edge[0] in needed:
                    needed.add(node)
                    changed = True
                    break
    return needed


def _accumulate(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


# one entry per running backward pass: whether it is a plain ``backward()`` (every leaf's ``.grad`` accumulates),
# not ``autograd.grad`` or ``backward(inputs=...)``; a checkpoint's backward may only run inside a plain one
_plain_backwards: list = []


def is_checkpoint_valid() -> bool:
    """Whether a backward run from inside a node's backward (a reentrant checkpoint recomputing its forward) may
    accumulate into ``.grad``: the running backward pass is a plain ``backward()`` (PyTorch's
    ``torch.autograd._is_checkpoint_valid``).

    >>> is_checkpoint_valid()
    True
    """
    return not _plain_backwards or _plain_backwards[-1]


def run_backward(
    roots: Sequence,
    grad_roots: Sequence,
    retain_graph: bool,
    create_graph: bool,
    inputs: Optional[Sequence] = None,
    accumulate_into_grad: bool = True,
):
    """Run the backward pass; return gradients for ``inputs`` when given."""
    root_edges = [_edge(r) for r in roots]
    targets: dict = {}
    if inputs is not None:
        for i, t in enumerate(inputs):
            targets.setdefault(_edge(t), []).append(i)
    root_nodes = []
    buffers: dict = {}
    for (node, nr), g in zip(root_edges, grad_roots):
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = [None] * _n_outputs(node)
            root_nodes.append(node)
        buf[nr] = _accumulate(buf[nr], g)
    deps, order = _discover(root_nodes)
    needed = _needed(order, {n for n, _ in targets}) if inputs is not None else None
    captured: list = [None] * (len(inputs) if inputs is not None else 0)
    assigned_ids = {id(g._data) for g in grad_roots if g is not None}

    anomaly = _anomaly.is_anomaly_enabled()
    fuse = None if anomaly else _fusion_backward(create_graph)  # (anomaly mode checks node by node)
    if fuse is not None:
        in_degree = dict(deps)
        blocked = {n for n, _ in targets}
        if needed is not None:
            blocked |= {n for n in order if n not in needed}
    heap = _ReadyQueue()
    for n in root_nodes:
        if deps.get(n, 0) == 0:
            heap.push(n)
    prev_mode = is_grad_enabled()
    _set(create_graph)
    _profiler_hooks.backward_started()
    _final_callbacks.append([])
    _plain_backwards.append(inputs is None and accumulate_into_grad)
    try:
        while heap:
            node = heap.pop()
            grads = buffers.pop(node, None) or [None] * _n_outputs(node)
            if node._pre_hooks:
                for nr, hooks in node._pre_hooks.items():
                    for hook in hooks:
                        if grads[nr] is not None:
                            res = hook(grads[nr])
                            if res is not None:
                                grads[nr] = res
            if node._retain:
                for nr, ref in node._retain.items():
                    t = ref()
                    if t is not None and grads[nr] is not None:
                        t.grad = _grad_value(t.grad, grads[nr], create_graph, assigned_ids)
            for nr, g in enumerate(grads):
                for idx in targets.get((node, nr), ()):
                    captured[idx] = _accumulate(captured[idx], g)
            if isinstance(node, AccumulateGrad):
                leaf = node.variable
                if accumulate_into_grad and grads[0] is not None and (inputs is None or (node, 0) in targets):
                    leaf.grad = _grad_value(leaf.grad, grads[0], create_graph, assigned_ids)
                    if leaf._post_acc_hooks:
                        for hook in tuple(leaf._post_acc_hooks):
                            hook(leaf)
                continue
            if fuse is not None and inputs is None and type(node) is FunctionNode:
                joint = fuse.joint_backward(node, grads, fuse, in_degree, blocked, deps)
                if joint is not None:
                    region, g_region, pending = joint
                    if not retain_graph:
                        node.release()
                    _run_region(fuse, region, g_region, buffers, deps, heap, retain_graph, accumulate_into_grad,
                                pending)
                    continue
            if fuse is not None and node.fusable_elementwise and grads[0] is not None and node.fusable():
                region = fuse.collect(node, in_degree, blocked)
                if len(region) > 1:
                    _run_region(fuse, region, grads[0], buffers, deps, heap, retain_graph,
                                accumulate_into_grad and inputs is None)
                    continue
            if needed is not None and node not in needed:
                outs = [None] * len(node._next)
            elif all(g is None for g in grads):
                outs = [None] * len(node._next)
            else:
                outs = node.apply(grads, create_graph) if not anomaly else _anomaly.checked_apply(node, grads,
                                                                                                   create_graph)
                if not retain_graph:
                    node.release()
            for edge, g in zip(node._next, outs):
                if edge is not None:
                    _deliver(edge, g, buffers, deps, heap)
    finally:
        _plain_backwards.pop()
        callbacks = _final_callbacks.pop()
        _profiler_hooks.backward_finished()
        _set(prev_mode)
    # queued during this backward (DistributedDataParallel waits for its gradient all-reduces here); a
    # callback may queue another, which runs in the same pass, as in PyTorch
    while callbacks:
        callbacks.pop(0)()
    if inputs is not None and accumulate_into_grad:
        # backward(inputs=[non_leaf]) puts the gradient in non_leaf.grad
        for t, g in zip(inputs, captured):
            if t._grad_fn is not None and g is not None:
                t.grad = _grad_value(t.grad, g, create_graph, assigned_ids)
    return captured


# one list of final callbacks per running backward (a hook may run a nested backward)
_final_callbacks: list = []


def queue_callback(callback) -> None:
    """Run ``callback()`` once the backward pass now running has finished (PyTorch's
    ``Variable._execution_engine.queue_callback``); only callable from inside a backward (a hook).

    >>> import numgrad as ng
    >>> from numgrad.autograd import engine
    >>> x = ng.tensor([1.0], requires_grad=True)
    >>> done = []
    >>> h = x.register_hook(lambda g: engine.queue_callback(lambda: done.append(x.grad.item())))
    >>> (x * 2).sum().backward(); done
    [2.0]
    """
    if not _final_callbacks:
        raise RuntimeError("Final callbacks can only be installed during backward pass.")
    _final_callbacks[-1].append(callback)


def _fusion_backward(create_graph):
    """The registered region backward when it is on (with create_graph the backward is recorded op
    by op, and its forward-lazy regions fuse instead)."""
    fuse = _region_backward
    if fuse is None or create_graph or not fuse.enabled():
        return None
    return fuse


# numgrad.fusion sits above autograd: it registers its fused region backward here at import
# (JAX's registry pattern); without it every node runs on its own.
_region_backward = None


def register_region_backward(impl) -> None:
    """Install the fused backward of elementwise regions.

    ``impl`` provides ``enabled() -> bool``; ``collect(node, in_degree, blocked)``
    -> the region (a list of nodes) that starts at ``node``;
    ``run(region, grad, into_leaves, with_forward_sum=False)`` -> the
    gradients leaving the region as ``(edge, tensor)`` pairs (and the forward
    total with ``with_forward_sum``); ``joint_backward(node, grads, impl,
    in_degree, blocked, deps)`` -> ``(region, grad, pending)`` when ``node``
    is the backward of a still-deferred loss, else None.  Nodes that can join
    a region say so with a true ``fusable_elementwise`` class attribute and a
    ``fusable()`` method.

    >>> from numgrad.autograd import engine
    >>> engine._region_backward is not None  # numgrad.fusion registered itself
    True
    """
    global _region_backward
    _region_backward = impl


def _run_region(fuse, region, grad, buffers, deps, heap, retain_graph, into_leaves, pending=None) -> None:
    """Run a fused backward region and hand its gradients to the nodes outside it.

    ``pending``: a deferred loss over the region's root, computed by the same kernel where possible.
    """
    members = set(region)
    if pending is None:
        results = dict(fuse.run(region, grad, into_leaves))
    else:
        results, total = fuse.run(region, grad, into_leaves, with_forward_sum=True)
        results = dict(results)
        if total is not None:
            pending.finish(total)
    for node in region:
        for edge in node._next:
            if edge is None or edge[0] in members:
                continue
            _deliver(edge, results.pop(edge, None), buffers, deps, heap)
        if not retain_graph:
            node.release()


def _deliver(edge, g, buffers, deps, heap) -> None:
    """Add gradient ``g`` (may be None) to the node behind ``edge``; queue it once complete."""
    nxt, nr = edge
    if g is not None:
        buf = buffers.get(nxt)
        if buf is None:
            buf = buffers[nxt] = [None] * _n_outputs(nxt)
        buf[nr] = _accumulate(buf[nr], g)
    deps[nxt] -= 1
    if deps[nxt] == 0:
        heap.push(nxt)


_ACCUMULATE_FIRST = float("-inf")  # below every -node._seq


class _ReadyQueue:
    """The nodes whose gradients are complete: leaves' ``AccumulateGrad`` first, in the order they became ready,
    then the newest node first (PyTorch's ready queue, where ``AccumulateGrad``'s sequence number is the largest)."""

    __slots__ = ("_heap", "_accumulators")

    def __init__(self):
        self._heap: list = []
        self._accumulators = itertools.count()

    def __bool__(self) -> bool:
        return bool(self._heap)

    def push(self, node) -> None:
        if type(node) is AccumulateGrad:
            heapq.heappush(self._heap, (_ACCUMULATE_FIRST, next(self._accumulators), node))
        else:
            heapq.heappush(self._heap, (-node._seq, node._seq, node))

    def pop(self):
        return heapq.heappop(self._heap)[2]


def _n_outputs(node) -> int:
    return getattr(node, "n_outputs", 1)


def writable(g):
    """``g``, or a copy when its memory cannot be written (a broadcast view from a sum's or mean's backward).

    Gradients handed to users are tensors they may write in place, as PyTorch's are.
    """
    buf = g._buf
    if buf is not None and not buf.flags.writeable:
        return g.clone()
    return g


def _grad_value(current, g, create_graph, assigned_arrays):
    """New value of a ``.grad`` slot after adding ``g`` (in place when safe).

    A gradient buffer may be shared (``x + y`` hands the same gradient to both,
    a view's backward returns a view, the user passed ``gradient=``); the first
    time a slot is filled it only takes ownership of arrays nobody else holds.
    """
    if create_graph:
        return writable(g) if current is None else current + g
    g = g.detach()
    if current is None:
        arr = g._data
        if (arr.base is not None and not _pool.is_sole_view(arr)) or id(arr) in assigned_arrays \
                or not arr.flags.writeable:
            g = g.clone()
        assigned_arrays.add(id(g._data))
        return g
    if current.requires_grad:
        return current + g
    current._accumulate_(g)
    return current
