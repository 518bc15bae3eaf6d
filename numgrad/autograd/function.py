"""Graph nodes and ``Function``: the one mechanism every differentiable op uses.

Built-in ops and users' custom functions are both ``Function`` subclasses: a
static ``forward(ctx, *args)`` that computes outputs (grad mode off) and a
static ``backward(ctx, *grads)`` that returns one gradient per input, written
with tensor operations so that it is itself differentiable when the backward
pass runs with ``create_graph=True``.
"""
from __future__ import annotations

import itertools
import weakref

from .. import _profiler_hooks as _profiler  # hooks in Function.apply / FunctionNode.apply
from ..creation import tensor, zeros
from ..tensor import VIEW_DEFAULT, VIEW_IN_NO_GRAD, VIEW_OF_MULTIPLE, Tensor, is_inference_mode_enabled, version_of
from .grad_mode import _set, is_grad_enabled

_sequence = itertools.count()

# Observers of recorded nodes (numgrad.onnx's tracer registers here): while the list is not empty, each is
# called as ``hook(node, args, kwargs)`` for every FunctionNode that Function.apply records, so a tracer can
# read the call's arguments (shapes, dims, constant tensors) that the node itself does not keep.
RECORD_HOOKS: list = []

FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward."
)


class Node:
    """A node of the backward graph (what ``tensor.grad_fn`` returns)."""

    __slots__ = ("_next", "_seq", "_pre_hooks", "_retain", "__weakref__")
    # True on the nodes of elementwise ops, which a fused backward may run together (engine.register_region_backward)
    fusable_elementwise = False

    def __init__(self, next_functions):
        # one (node, output_nr) per input, None where no gradient flows; the engine's view
        self._next = next_functions
        self._seq = next(_sequence)
        self._pre_hooks = None  # output_nr -> list of hooks on the gradient of that output
        self._retain = None  # output_nr -> weak reference to a tensor that retains its grad

    def name(self) -> str:
        return type(self).__name__

    @property
    def next_functions(self) -> tuple:
        """PyTorch's view of the edges: ``(node, output_nr)`` per input, ``(None, 0)`` where no gradient flows."""
        return tuple((None, 0) if e is None else e for e in self._public_edges())

    def _public_edges(self):
        return self._next

    def __repr__(self):
        return f"<{self.name()} object at {hex(id(self))}>"

    def apply(self, grads: list, create_graph: bool):  # pragma: no cover - interface
        raise NotImplementedError

    def release(self) -> None:
        pass


class AccumulateGrad(Node):
    """Terminal node of a leaf tensor: its incoming gradient lands in ``leaf.grad``."""

    __slots__ = ("variable",)

    def __init__(self, variable):
        super().__init__(())
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"


class SavedTensor:
    """A tensor saved for backward, with the version it had when saved."""

    __slots__ = ("tensor", "version")

    def __init__(self, tensor):
        self.tensor = tensor
        self.version = version_of(tensor._version)

    def unpack(self, node: "FunctionNode", index: int):
        t = self.tensor
        if version_of(t._version) != self.version:
            raise modified_in_place(t, self.version, index, node)
        return t


def modified_in_place(t, expected_version: int, index: int, node) -> RuntimeError:
    """PyTorch's error for a tensor saved for backward that was modified in place afterwards."""
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: [{t._type_name()} {list(t.shape)}], which is output {index} of "
        f"{node.name()}, is at version {version_of(t._version)}; expected version {expected_version} instead. "
        "Hint: the operation that modified it came after it was used; clone() the tensor "
        "before modifying it, or do the in-place change out of place."
    )


INFERENCE_SAVED_MSG = ("Inference tensors cannot be saved for backward. Please do not use Tensors created in inference "
                       "mode in computation tracked by autograd. To work around this, you can make a clone to get a "
                       "normal tensor and use it in autograd, or use `torch.no_grad()` instead of "
                       "`torch.inference_mode()`.")


def check_not_inference(tensors) -> None:
    """PyTorch's rule: a recorded op may not keep an inference tensor (made under ``inference_mode``) for its
    backward, since inference tensors have no version counter to catch later in-place writes."""
    if not is_inference_mode_enabled():
        for t in tensors:
            if t is not None and getattr(t, "_inference", False):
                raise RuntimeError(INFERENCE_SAVED_MSG)


class Context:
    """The ``ctx`` passed to ``Function.forward`` and ``Function.backward``."""

    def __init__(self):
        self._saved = ()
        self._freed = False
        self.needs_input_grad = ()
        self._non_differentiable = ()
        self._node = None
        self._materialize_grads = True

    def set_materialize_grads(self, value: bool) -> None:
        """Whether ``backward`` gets zeros (the default) or ``None`` for outputs no gradient reached (PyTorch's).

        >>> import numgrad as ng
        >>> class Pair(ng.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.set_materialize_grads(False)
        ...         return x * 1, x * 2
        ...     @staticmethod
        ...     def backward(ctx, ga, gb):
        ...         return ga if gb is None else ga + 2 * gb
        >>> x = ng.ones(2, requires_grad=True)
        >>> Pair.apply(x)[0].sum().backward(); x.grad
        tensor([1., 1.])
        """
        self._materialize_grads = bool(value)

    def save_for_backward(self, *tensors) -> None:
        """Keep tensors for backward; modifying them in place afterwards is detected."""
        if getattr(self, "recording", False):
            check_not_inference(tensors)
        self._saved = tuple(None if t is None else SavedTensor(t) for t in tensors)

    @property
    def saved_tensors(self) -> tuple:
        if self._freed:
            raise RuntimeError(FREED_MSG)
        node = self._node
        return tuple(None if s is None else s.unpack(node, i) for i, s in enumerate(self._saved))

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_differentiable = tuple(id(t) for t in tensors)


class FunctionNode(Node):
    """A node created by ``Function.apply``; ``name()`` is e.g. ``MulBackward0``."""

    __slots__ = ("ctx", "fn", "n_outputs", "_name", "input_meta")

    def __init__(self, fn, ctx, next_functions, n_outputs, name, input_meta):
        super().__init__(next_functions)
        self.fn = fn
        self.ctx = ctx
        self.n_outputs = n_outputs
        self._name = name
        self.input_meta = input_meta  # (shape, dtype) per input, for zero-filling missing grads

    def name(self) -> str:
        return self._name

    def _public_edges(self):
        # like PyTorch: entries for tensor arguments only
        return [e for e, meta in zip(self._next, self.input_meta) if meta is not None]

    def apply(self, grads: list, create_graph: bool):
        if _profiler._ACTIVE and _profiler._outer(self):  # numgrad.profiler hook (off: one attribute check)
            return _profiler._op(self.name(), "backward", self.apply, (grads, create_graph), {}, self)
        if self.ctx._freed:
            raise RuntimeError(FREED_MSG)
        filled = []
        materialize = self.ctx._materialize_grads
        for g, meta in zip(grads, self.ctx._out_meta):
            if g is None and materialize:
                g = zeros(meta[0], dtype=meta[1], device=meta[2])
            filled.append(g)
        prev = is_grad_enabled()
        _set(create_graph)
        try:
            result = self.fn.backward(self.ctx, *filled)
        finally:
            _set(prev)
        if not isinstance(result, tuple):
            result = (result,)
        n_in = len(self._next)
        if len(result) < n_in:
            result = result + (None,) * (n_in - len(result))
        elif len(result) > n_in:
            if any(r is not None for r in result[n_in:]):
                raise RuntimeError(
                    f"function {self.name()} returned an incorrect number of gradients "
                    f"(expected {n_in}, got {len(result)})"
                )
            result = result[:n_in]
        out = []
        for r, meta in zip(result, self.input_meta):
            if r is not None and not isinstance(r, Tensor):
                r = tensor(r, dtype=meta[1]) if meta is not None else tensor(r)
            out.append(r)
        return out

    def release(self) -> None:
        # a backward that needs only shapes and flags can run again, as in PyTorch (views, sums)
        if self.fn.backward_reads_saved(self.ctx):
            self.ctx._freed = True
        self.ctx._saved = ()


class _FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        if "node_name" not in attrs:
            cls.node_name = f"{name}Backward"
        # checked on every apply: only functions that can return views pay for asking output_is_view
        cls._may_return_views = bool(attrs.get("returns_views")) or "output_is_view" in attrs or any(
            getattr(b, "_may_return_views", False) for b in bases)


class Function(metaclass=_FunctionMeta):
    """Base class of differentiable operations with a hand-written backward.

    Subclass it with static ``forward`` and ``backward`` and call ``.apply``.
    ``forward`` runs with grad mode off and may call your own ``@njit`` kernels
    on ``tensor.numpy()`` arrays.

    >>> import numgrad as ng
    >>> class Cube(ng.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x * x
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return 3 * x * x * g
    >>> x = ng.tensor(2.0, requires_grad=True)
    >>> Cube.apply(x).backward(); x.grad
    tensor(12.)
    """

    # Ops whose outputs share memory with their first input (views) say so: a recorded in-place
    # write into such an output must not rebase only the view's history.
    returns_views = False

    @classmethod
    def output_is_view(cls, ctx) -> bool:
        """Whether this call's outputs are views of its input (``ctx`` is the call's context)."""
        return cls.returns_views

    # Ops whose backward reads only shapes and flags from ctx (sums, views) say so: once the graph is
    # released, a second backward through them still works, as in PyTorch; other nodes raise then.
    saves_only_metadata = False

    @classmethod
    def backward_reads_saved(cls, ctx) -> bool:
        """Whether backward reads values kept from the forward pass (freed when the graph is released)."""
        return not (cls.saves_only_metadata or cls.output_is_view(ctx))

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("Function subclasses must implement a static forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("Function subclasses must implement a static backward(ctx, ...)")

    @classmethod
    def apply(cls, *args, **kwargs):
        if _profiler._ACTIVE and _profiler._outer(cls):  # numgrad.profiler hook (off: one attribute check)
            return _profiler._op(cls.__name__.lstrip("_"), None, cls.apply, args, kwargs, cls)
        ctx = Context()
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        record = is_grad_enabled() and any(needs)
        ctx.needs_input_grad = needs
        ctx.recording = record  # forward runs with grad mode off; this says whether a node will be made
        prev = is_grad_enabled()
        _set(False)
        try:
            outputs = cls.forward(ctx, *args, **kwargs)
        finally:
            _set(prev)
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        if not all(isinstance(o, Tensor) or o is None for o in outs):
            outs = tuple(o if isinstance(o, Tensor) or o is None else tensor(o) for o in outs)
        if record:
            edges = tuple(_edge(a) if n else None for a, n in zip(args, needs))
            meta = tuple((a.shape, a.dtype) if isinstance(a, Tensor) else None for a in args)
            name = getattr(ctx, "node_name", None) or cls.node_name
            node = FunctionNode(cls, ctx, edges, len(outs), name, meta)
            ctx._node = node
            ctx._out_meta = tuple((o.shape, o.dtype, o._device) if o is not None else ((), None, None) for o in outs)
            nondiff = ctx._non_differentiable
            fresh = []
            for i, o in enumerate(outs):
                if o is None or id(o) in nondiff or not o.dtype.is_floating_point:
                    fresh.append(o)
                    continue
                if o.requires_grad or o._grad_fn is not None or any(o is a for a in args):
                    o = o.detach()
                o._attach(node, i)
                fresh.append(o)
            outs = tuple(fresh)
            if RECORD_HOOKS:  # empty unless a tracer runs: one truthiness check per recorded op
                for hook in tuple(RECORD_HOOKS):
                    hook(node, args, kwargs)
        if cls._may_return_views and isinstance(args[0], Tensor) and cls.output_is_view(ctx):
            _mark_views(cls, args, kwargs, outs, prev)
        elif single:  # a view made inside forward (of a temporary) is not a view of anything the user has
            o = outs[0]
            if o is not None and o._view is not None:
                o._view = None
        else:
            for o in outs:
                if o is not None and o._view is not None:
                    o._view = None
        return outs[0] if single else outs


def _mark_views(cls, args, kwargs, outs, grad_mode: bool) -> None:
    """Remember how each output was viewed from its base (``Tensor._view``), so an in-place write into the view
    (or the base) can rebase the base's history (CopySlices) and retake the views' histories (``autograd.views``)."""
    parent = args[0]
    for o in outs:  # a view made under inference_mode of a normal tensor is a normal tensor, as in PyTorch
        if o is not None:
            o._inference = parent._inference
    info = parent._view
    if info is None:
        base, replay, creation = parent, (), VIEW_DEFAULT
    else:
        base, replay, creation = info
    if not grad_mode:
        creation = VIEW_IN_NO_GRAD
    elif len(outs) > 1 and creation == VIEW_DEFAULT:
        creation = VIEW_OF_MULTIPLE
    views = base._views
    if views is None:
        views = base._views = []
    elif len(views) >= 64 and not len(views) & (len(views) - 1):  # at powers of two: drop dead views
        views[:] = [r for r in views if r() is not None]
    rest = args[1:]
    if len(outs) == 1:
        o = outs[0]
        o._view = (base, replay + ((cls, rest, kwargs, 0),), creation)
        views.append(weakref.ref(o))
        return
    for i, o in enumerate(outs):
        if o is not None:
            o._view = (base, replay + ((cls, rest, kwargs, i),), creation)
            views.append(weakref.ref(o))


def replay_view(base: Tensor, replay: tuple) -> Tensor:
    """Take a view of ``base`` again the way ``replay`` (see ``Tensor._view``) took it, as recorded ops."""
    t = base
    for cls, rest, kwargs, index in replay:
        r = cls.apply(t, *rest, **kwargs)
        t = r[index] if isinstance(r, tuple) else r
    return t


def _edge(t):
    """The (node, output_nr) a gradient for tensor ``t`` flows into."""
    if t._grad_fn is not None:
        return (t._grad_fn, t._output_nr)
    return (t._accumulator(), 0)
