"""``torch.func``: composable function transforms (``grad``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd``,
``hessian``, ``vmap``, ``functional_call``, ``stack_module_state``) with PyTorch's signatures, results and errors.

How they are computed, since numgrad has neither functorch's levels nor batching rules nor forward-mode AD:

- ``grad``, ``vjp``, ``jacrev``: reverse mode on numgrad's autograd graph.  The differentiated inputs become fresh
  leaves (or views of themselves when an outer transform or the caller already tracks them, so ``grad(grad(f))``
  differentiates through the inner result); results are detached unless their graph reaches a tensor outside the
  transform, which is what PyTorch's unwrapping of a level gives.
- ``jvp``, ``jacfwd``, ``hessian``: also reverse mode (``jvp`` by the double-vjp trick, as
  ``torch.autograd.functional.jvp`` does; ``jacfwd`` one backward per output element): same values as PyTorch's
  forward mode, at reverse-mode cost.
- ``vmap``: its definition, a Python loop.  The mapped inputs are sliced (views) along their ``in_dims``, ``func``
  runs once per example, and the outputs are stacked along ``out_dims``.  No batching rules, so it is as fast as a
  loop, not as a batched kernel.

>>> import numgrad as ng
>>> from numgrad.func import grad, vmap
>>> x = ng.tensor([[1., 2.], [3., 4.]])
>>> vmap(grad(lambda row: (row ** 2).sum()))(x)
tensor([[2., 4.],
        [6., 8.]])
"""
from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from .tensor import Tensor
from .creation import default_generator, zeros_like
from .ops.shape import stack
from .ops.shape_more import select
from .autograd.grad_mode import enable_grad, is_grad_enabled
from .autograd.function import AccumulateGrad
from .autograd.functional import _grads, jacobian as _autograd_jacobian
from .nn.modules.module import Module
from .nn.modules.batchnorm import _BatchNorm

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "vmap", "functional_call",
           "stack_module_state", "linearize", "functionalize", "debug_unwrap", "replace_all_batch_norm_modules_",
           "rearrange"]

_ArgNums = Union[int, tuple]


# ----------------------------------------------------------------------------------------------------- pytrees
# The containers PyTorch's pytree walks by default: tuples (named ones too), lists, dicts, OrderedDicts.  Anything
# else (a Tensor, a number, None) is a leaf.

class _TreeSpec:
    """The structure of a pytree: its container type, the keys or field names, and the children's structures."""

    __slots__ = ("kind", "context", "children")

    def __init__(self, kind, context, children: tuple):
        self.kind, self.context, self.children = kind, context, children

    @property
    def num_leaves(self) -> int:
        return 1 if self.kind is None else sum(c.num_leaves for c in self.children)

    def __eq__(self, other) -> bool:
        return (isinstance(other, _TreeSpec) and self.kind is other.kind and self.context == other.context
                and self.children == other.children)

    def __hash__(self):
        return hash((self.kind, len(self.children)))

    def __repr__(self) -> str:
        if self.kind is None:
            return "*"
        return f"TreeSpec({self.kind.__name__}, {self.context}, [{', '.join(map(repr, self.children))}])"


_LEAF = _TreeSpec(None, None, ())


def _is_namedtuple(tree) -> bool:
    return isinstance(tree, tuple) and hasattr(type(tree), "_fields")


def _children(tree):
    """(kind, context, children) of a container, or None for a leaf."""
    if isinstance(tree, (tuple, list)):
        return type(tree), None, tuple(tree)
    if isinstance(tree, dict):
        keys = list(tree)
        return type(tree), keys, tuple(tree[k] for k in keys)
    return None


def _tree_flatten(tree) -> tuple:
    """``(leaves, spec)`` of a pytree of tuples, lists and dicts, as ``torch.utils._pytree._tree_flatten``.

    >>> _tree_flatten((1, [2, {"a": 3}]))[0]
    [1, 2, 3]
    """
    leaves: list = []

    def walk(node) -> _TreeSpec:
        parts = _children(node)
        if parts is None:
            leaves.append(node)
            return _LEAF
        kind, context, children = parts
        return _TreeSpec(kind, context, tuple(walk(c) for c in children))

    spec = walk(tree)
    return leaves, spec


def _tree_unflatten(leaves: Sequence, spec: _TreeSpec):
    """The pytree of ``spec``'s structure holding ``leaves`` (the inverse of :func:`_tree_flatten`).

    >>> leaves, spec = _tree_flatten({"a": (1, 2)}); _tree_unflatten([5, 6], spec)
    {'a': (5, 6)}
    """
    it = iter(leaves)

    def build(s: _TreeSpec):
        if s.kind is None:
            return next(it)
        children = [build(c) for c in s.children]
        if issubclass(s.kind, dict):
            return s.kind(zip(s.context, children))
        if issubclass(s.kind, tuple) and hasattr(s.kind, "_fields"):
            return s.kind(*children)
        return s.kind(children)

    return build(spec)


def _tree_map(fn: Callable, tree):
    leaves, spec = _tree_flatten(tree)
    return _tree_unflatten([fn(leaf) for leaf in leaves], spec)


def _broadcast_to_and_flatten(prefix, spec: _TreeSpec) -> Optional[list]:
    """``prefix``'s leaves repeated over the leaves of ``spec`` they stand for (``in_dims=(0, None)`` against
    ``(x, (y, z))``: ``[0, None, None]``), or None when ``prefix`` is not a prefix of ``spec``'s structure."""
    out: list = []

    def walk(p, s: _TreeSpec) -> bool:
        parts = _children(p)
        if parts is None:
            out.extend([p] * s.num_leaves)
            return True
        kind, context, children = parts
        if s.kind is None or kind is not s.kind and not (_is_namedtuple(p) or issubclass(s.kind, kind)):
            return False
        if len(children) != len(s.children):
            return False
        if context is not None and set(context) != set(s.context):
            return False
        if context is not None:
            children = tuple(p[k] for k in s.context)
        return all(walk(c, cs) for c, cs in zip(children, s.children))

    return out if walk(prefix, spec) else None


# ------------------------------------------------------------------------------------ argnums and inputs

def _validate_and_wrap_argnum(argnum, num_args: int) -> int:
    if not isinstance(argnum, int):
        raise RuntimeError(f"argnum must be int, got: {type(argnum)}")
    if 0 <= argnum < num_args:
        return argnum
    if -num_args <= argnum < 0:
        return argnum + num_args
    raise RuntimeError(f"Got argnum={argnum}, but only {num_args} positional inputs")


def _slice_argnums(args: tuple, argnums: _ArgNums, as_tuple: bool = True):
    """The arguments ``argnums`` names (``(arg,)`` for an int when ``as_tuple``), with PyTorch's errors."""
    if not isinstance(argnums, (int, tuple)):
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    if isinstance(argnums, int):
        argnums = _validate_and_wrap_argnum(argnums, len(args))
        return (args[argnums],) if as_tuple else args[argnums]
    argnums = tuple(_validate_and_wrap_argnum(a, len(args)) for a in argnums)
    if len(argnums) == 0:
        raise RuntimeError("argnums must be non-empty")
    if len(set(argnums)) != len(argnums):
        raise RuntimeError(f"argnums elements must be unique, got {argnums}")
    return tuple(args[i] for i in argnums)


def _replace_args(args: tuple, new_args, argnums: _ArgNums) -> tuple:
    """``args`` with the ones ``argnums`` names replaced by ``new_args`` (one value for an int argnums)."""
    if isinstance(argnums, int):
        index = argnums % len(args)
        return tuple(new_args if i == index else a for i, a in enumerate(args))
    positions = {a % len(args): k for k, a in enumerate(argnums)}
    return tuple(new_args[positions[i]] if i in positions else a for i, a in enumerate(args))


def _differentiable(x, outer_grad_enabled: bool) -> Tensor:
    """The tensor a transform differentiates with respect to, in place of ``x``: a view of ``x`` when ``x`` is
    already tracked (by the caller or an outer transform, whose derivative must flow through), else a new leaf.
    ``outer_grad_enabled``: grad mode where the transform was called (under the caller's no_grad nothing outside
    tracks ``x``; inside an outer transform grad mode is on)."""
    if not isinstance(x, Tensor):
        raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
    if x.requires_grad and outer_grad_enabled:
        return x.view_as(x)
    return x.detach().requires_grad_()


def _reaches_outside(t: Tensor, local_leaves: set) -> bool:
    """Whether ``t``'s graph reaches a leaf other than the transform's own (``local_leaves``, by id): then an
    outer transform or the caller differentiates through ``t`` and it keeps its graph."""
    seen = set()
    stack_ = [t.grad_fn]
    while stack_:
        node = stack_.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, AccumulateGrad):
            if id(node.variable) not in local_leaves:
                return True
            continue
        stack_.extend(edge[0] for edge in node.next_functions)
    return False


def _release(tree, local_leaves: set):
    """``tree`` with each tensor detached unless its graph reaches outside the transform (PyTorch unwrapping a
    level: what the transform's own leaves recorded is dropped, what the caller tracks is kept)."""
    def release(x):
        if isinstance(x, Tensor) and x.grad_fn is not None and not _reaches_outside(x, local_leaves):
            return x.detach()
        if isinstance(x, Tensor) and x.grad_fn is None and x.requires_grad and id(x) in local_leaves:
            return x.detach()
        return x
    return _tree_map(release, tree)


def _local_leaf_ids(tensors) -> set:
    return {id(t) for t in tensors if t.grad_fn is None}


def _zeros_for_unused(grads: Sequence, inputs: Sequence) -> list:
    # PyTorch's transforms give zeros for an input the output does not depend on
    return [zeros_like(x) if g is None else g for g, x in zip(grads, inputs)]


def _check_outputs_are_tensors(flat_output: list, api: str, what: str = "f(*primals)") -> None:
    if (len(flat_output) == 1 and flat_output[0] is None) or len(flat_output) < 1:
        raise RuntimeError(f"{api}: Expected f to be a function that has non-empty output (got output = "
                           f"{flat_output})")
    for out in flat_output:
        if not isinstance(out, Tensor):
            raise RuntimeError(f"{api}: expected {what} to return only tensors, got unsupported type {type(out)}")


def _split_aux(output, has_aux: bool, api: str):
    if not has_aux:
        return output, None
    if not (isinstance(output, tuple) and len(output) == 2):
        raise RuntimeError(f"{api}: output of function f should be a tuple: (output, aux) if has_aux is True")
    return output


def _check_aux(aux) -> None:
    # PyTorch unwraps aux leaf by leaf and accepts only tensors there
    for leaf in _tree_flatten(aux)[0]:
        if not isinstance(leaf, Tensor):
            raise RuntimeError(f"Expected tensors, got unsupported type {type(leaf)}")


# ----------------------------------------------------------------------------------------------- grad

def grad_and_value(func: Callable, argnums: _ArgNums = 0, has_aux: bool = False) -> Callable:
    """``torch.func.grad_and_value``: a function returning ``(gradient, value)`` of scalar ``func`` with respect
    to the argument(s) ``argnums`` (each may be a pytree of tensors: the gradient has its structure); with
    ``has_aux``, ``func`` returns ``(value, aux)`` and the result is ``(gradient, (value, aux))``.

    >>> import numgrad as ng
    >>> g, value = grad_and_value(lambda x: (x ** 2).sum())(ng.tensor([1., 2.]))
    >>> g, value
    (tensor([2., 4.]), tensor(5.))
    """
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        api = "grad_and_value(f)(*args)"
        outer = is_grad_enabled()
        with enable_grad():
            diff_args = _slice_argnums(args, argnums, as_tuple=False)
            flat_diff, diff_spec = _tree_flatten(diff_args)
            local = [_differentiable(x, outer) for x in flat_diff]
            local_ids = _local_leaf_ids(local)
            output = func(*_replace_args(args, _tree_unflatten(local, diff_spec), argnums), **kwargs)
            output, aux = _split_aux(output, has_aux, api)
            if not isinstance(output, Tensor):
                raise RuntimeError(f"{api}: Expected f(*args) to return a Tensor, got {type(output)}")
            if output.dim() != 0:
                raise RuntimeError(f"{api}: Expected f(*args) to return a scalar Tensor, got tensor with "
                                   f"{output.dim()} dims. Maybe you wanted to use the vjp or jacrev APIs instead?")
            # record the backward (create_graph) only when an outer transform or the caller tracks something the
            # output depends on: else nothing can differentiate the gradient again, and a plain backward is cheaper
            tracked_outside = output.grad_fn is not None and _reaches_outside(output, local_ids)
            grads = _grads((output,), local, create_graph=tracked_outside, retain_graph=True)
            grads = _zeros_for_unused(grads, local)
        if has_aux:
            _check_aux(aux)
        if tracked_outside:
            grads_tree, value = _release((_tree_unflatten(grads, diff_spec), output), local_ids)
        else:  # the gradients were not recorded and the value's graph is the transform's own: no walk needed
            grads_tree, value = _tree_unflatten(grads, diff_spec), output.detach()
        aux = _release(aux, local_ids)
        return (grads_tree, (value, aux)) if has_aux else (grads_tree, value)

    return wrapper


def grad(func: Callable, argnums: _ArgNums = 0, has_aux: bool = False) -> Callable:
    """``torch.func.grad``: a function returning the gradient of scalar ``func`` with respect to the argument(s)
    ``argnums`` (an int or a tuple of ints; each argument may be a pytree of tensors).  With ``has_aux``,
    ``func`` returns ``(value, aux)`` and the result is ``(gradient, aux)``.  Composes: ``grad(grad(f))``.

    >>> import numgrad as ng
    >>> grad(lambda x: x.sin())(ng.tensor(0.))
    tensor(1.)
    >>> grad(grad(lambda x: x ** 3))(ng.tensor(2.))
    tensor(12.)
    """
    value_and_grad = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        gradient, rest = value_and_grad(*args, **kwargs)
        return (gradient, rest[1]) if has_aux else gradient

    return wrapper


# --------------------------------------------------------------------------------------------- vjp / jvp

def _vjp_with_argnums(func: Callable, *primals, argnums: Optional[_ArgNums] = None, has_aux: bool = False,
                      api: str = "vjp(f, *primals)"):
    outer = is_grad_enabled()
    with enable_grad():
        if argnums is None:
            diff_primals = primals
        else:
            diff_primals = _slice_argnums(primals, argnums, as_tuple=False)
        flat_diff, diff_spec = _tree_flatten(diff_primals)
        local = [_differentiable(x, outer) for x in flat_diff]
        local_ids = _local_leaf_ids(local)
        new_diff = _tree_unflatten(local, diff_spec)
        call_args = new_diff if argnums is None else _replace_args(primals, new_diff, argnums)
        output = func(*call_args)
        output, aux = _split_aux(output, has_aux, "vjp(f, *primals)")
        flat_out, out_spec = _tree_flatten(output)
        _check_outputs_are_tensors(flat_out, api)
        for out in flat_out:
            if not out.is_floating_point():
                raise RuntimeError(f"vjp(f, ...): All outputs of f must be floating-point or complex Tensors, got "
                                   f"Tensor with dtype {out.dtype}")
    if has_aux:
        _check_aux(aux)
        aux = _release(aux, local_ids)

    outputs_tracked_outside = any(out.grad_fn is not None and _reaches_outside(out, local_ids) for out in flat_out)

    def vjp_fn(cotangents, retain_graph: bool = True, create_graph: Optional[bool] = None):
        flat_cotangents, cotangents_spec = _tree_flatten(cotangents)
        if create_graph is None:
            # PyTorch's default is is_grad_enabled(); a graph nothing outside the transform can use is not recorded
            create_graph = is_grad_enabled() and (outputs_tracked_outside or any(
                isinstance(c, Tensor) and c.requires_grad for c in flat_cotangents))
        if cotangents_spec != out_spec:
            raise RuntimeError("Expected pytree structure of cotangents to be the same as pytree structure of "
                               f"outputs to the function. cotangents: {cotangents_spec}, primal output: {out_spec}")
        with enable_grad():
            grads = _grads(tuple(flat_out), tuple(local), tuple(flat_cotangents), create_graph=create_graph,
                           retain_graph=retain_graph)
        grads = _zeros_for_unused(grads, local)
        return _release(_tree_unflatten(grads, diff_spec), local_ids)

    results = _release(output, local_ids)
    return (results, vjp_fn, aux) if has_aux else (results, vjp_fn)


def vjp(func: Callable, *primals, has_aux: bool = False):
    """``torch.func.vjp``: ``(func(*primals), vjp_fn)``, where ``vjp_fn(cotangents)`` returns the
    vector-Jacobian products, a tuple with one entry per primal (each shaped as its primal; cotangents have the
    structure of ``func``'s output).  With ``has_aux``: ``(output, vjp_fn, aux)``.

    >>> import numgrad as ng
    >>> out, vjp_fn = vjp(lambda x: x ** 2, ng.tensor([1., 2.]))
    >>> vjp_fn(ng.tensor([1., 1.]))
    (tensor([2., 4.]),)
    """
    return _vjp_with_argnums(func, *primals, has_aux=has_aux)


_JVP = "jvp(f, primals, tangents)"


def _check_flat_tensors(items: list, argname: str) -> None:
    if len(items) == 0:
        raise RuntimeError(f"{_JVP}: Expected {argname} to contain at least one Tensor.")
    for item in items:
        if not isinstance(item, Tensor):
            raise RuntimeError(f"{_JVP}: Expected {argname} to only contain Tensors, got {type(item)}")


def jvp(func: Callable, primals: tuple, tangents, *, strict: bool = False, has_aux: bool = False):
    """``torch.func.jvp``: ``(func(*primals), J @ tangents)``, the Jacobian-vector product (``tangents`` has the
    structure and shapes of ``primals``).  With ``has_aux``: ``(output, jvp_out, aux)``.

    numgrad has no forward-mode AD: this is the double-vjp trick (``torch.autograd.functional.jvp``'s): with
    ``u`` a dummy cotangent, ``g(u) = J^T u`` is linear in ``u`` and its vjp with ``tangents`` is ``J tangents``.
    Same values as PyTorch's forward mode; it needs ``func`` twice differentiable in numgrad's autograd.

    >>> import numgrad as ng
    >>> jvp(lambda x: x ** 2, (ng.tensor([1., 2.]),), (ng.tensor([1., 0.]),))
    (tensor([1., 4.]), tensor([2., 0.]))
    """
    if not isinstance(primals, tuple):
        raise RuntimeError(f"{_JVP}: Expected primals to be a tuple. E.g. it should be valid to call f(*primals).")
    flat_primals, primals_spec = _tree_flatten(primals)
    flat_tangents, tangents_spec = _tree_flatten(tangents)
    if primals_spec != tangents_spec:
        raise RuntimeError(f"{_JVP}: Expected primals and tangents to have the same python structure. For example, "
                           f"if primals is a tuple of 3 tensors, tangents also must be. Got primals with structure "
                           f"{primals_spec} and tangents with structure {tangents_spec}")
    _check_flat_tensors(flat_primals, "primals")
    _check_flat_tensors(flat_tangents, "tangents")
    for p, t in zip(flat_primals, flat_tangents):
        if p.shape != t.shape:
            raise RuntimeError("Trying to set a forward gradient that has a different size than that of the original "
                               f"Tensor, this is not supported. Tensor is of size {list(p.shape)} while the given "
                               f"forward gradient is of size {list(t.shape)}.")
    outer = is_grad_enabled()
    with enable_grad():
        local = [_differentiable(x, outer) for x in flat_primals]
        local_ids = _local_leaf_ids(local)
        output = func(*_tree_unflatten(local, primals_spec))
        output, aux = _split_aux(output, has_aux, _JVP)
        flat_out, out_spec = _tree_flatten(output)
        _check_outputs_are_tensors(flat_out, _JVP)
        dummies = [zeros_like(out, requires_grad=True) for out in flat_out]
        transposed = _grads(tuple(flat_out), tuple(local), tuple(dummies), create_graph=True)
        for g in transposed:
            if g is not None and not g.requires_grad:
                # J^T u must be recorded as a function of u, or the second vjp would silently give zeros
                raise RuntimeError(f"{_JVP}: numgrad computes jvp by differentiating a vjp (the double-vjp trick), "
                                   "but the backward of an op in f was not recorded for differentiation (it does "
                                   "not support create_graph=True); use vjp or jacrev instead")
        pairs = [(g, t) for g, t in zip(transposed, flat_tangents) if g is not None]
        products = _grads(tuple(g for g, _ in pairs), tuple(dummies), tuple(t for _, t in pairs),
                          create_graph=True) if pairs else (None,) * len(dummies)
    if strict and any(p is None for p in products):
        raise RuntimeError("jvp(f, primals, tangents, strict=True): The output of f is independent of the inputs. "
                           "This is not allowed with strict=True.")
    products = _zeros_for_unused(products, flat_out)
    if has_aux:
        _check_aux(aux)
        aux = _release(aux, local_ids)
    out_tree, jvp_tree = _release((_tree_unflatten(flat_out, out_spec), _tree_unflatten(products, out_spec)),
                                  local_ids | {id(d) for d in dummies})
    return (out_tree, jvp_tree, aux) if has_aux else (out_tree, jvp_tree)


def linearize(func: Callable, *primals) -> tuple:
    """``torch.func.linearize``: ``(func(*primals), jvp_fn)``, where ``jvp_fn(*tangents)`` is the Jacobian-vector
    product at ``primals`` (tangents structured and shaped as ``primals``).

    PyTorch traces the linearized function once; numgrad has no tracer, so each ``jvp_fn`` call runs :func:`jvp`
    at the saved primals again (``func`` runs again: a ``func`` that draws random numbers draws again).

    >>> import numgrad as ng
    >>> out, jvp_fn = linearize(lambda x: x ** 2, ng.tensor([1., 3.]))
    >>> jvp_fn(ng.tensor([1., 1.]))
    tensor([2., 6.])
    """
    output = func(*primals)
    _, output_spec = _tree_flatten(output)
    flat_primals, primals_spec = _tree_flatten(primals)
    saved = [p.detach() for p in flat_primals]

    def jvp_fn(*tangents):
        flat_tangents, tangents_spec = _tree_flatten(tangents)
        if tangents_spec != primals_spec:
            raise RuntimeError(f"Expected the tangents {tangents_spec} to have the same argspec as the primals "
                               f"{primals_spec}")
        for idx, (t, p) in enumerate(zip(flat_tangents, saved)):
            for what in ("shape", "device", "dtype"):
                if getattr(t, what) != getattr(p, what):
                    raise RuntimeError(f"tangent:{idx} with {what} {getattr(t, what)} in flattened pytree doesn't "
                                       f"match the {what} {getattr(p, what)} of the corresponding primal.")
        tangent_out = jvp(func, _tree_unflatten(saved, primals_spec), _tree_unflatten(flat_tangents, primals_spec))[1]
        flat_out, _ = _tree_flatten(tangent_out)
        return _tree_unflatten(flat_out, output_spec)

    return output, jvp_fn


# ----------------------------------------------------------------------------------------------- Jacobians

def _jacobian_transform(func: Callable, argnums: _ArgNums, has_aux: bool, api: str, outputs_api: str,
                        output_what: str) -> Callable:
    """The shared body of ``jacrev`` and ``jacfwd``: one backward per output element (numgrad's reverse mode),
    results shaped ``output.shape + input.shape`` and nested as PyTorch nests them (output structure outside,
    the structure of the ``argnums`` arguments inside)."""
    @functools.wraps(func)
    def wrapper(*args):
        primals = _slice_argnums(args, argnums)  # a tuple: one entry per argnum (the one argument for an int)
        flat_primals, primals_spec = _tree_flatten(primals)
        outer = is_grad_enabled()
        with enable_grad():
            local = [_differentiable(x, outer) for x in flat_primals]
            local_ids = _local_leaf_ids(local)
        found = {}

        def flat_func(*flat_inputs):
            inputs = _tree_unflatten(list(flat_inputs), primals_spec)
            call_args = _replace_args(args, inputs[0] if isinstance(argnums, int) else inputs, argnums)
            output, aux = _split_aux(func(*call_args), has_aux, api)
            flat_out, out_spec = _tree_flatten(output)
            _check_outputs_are_tensors(flat_out, outputs_api, output_what)
            found.update(spec=out_spec, aux=aux, outputs=flat_out)
            return tuple(flat_out)

        # create_graph: jacrev(jacrev(f)) and hessian differentiate the result again
        per_output = _autograd_jacobian(flat_func, tuple(local), create_graph=True)
        out_spec = found["spec"]
        for out in found["outputs"]:
            if not out.is_floating_point():
                raise RuntimeError(f"{outputs_api.split('(')[0]}(f, ...): All outputs of f must be floating-point "
                                   f"or complex Tensors, got Tensor with dtype {out.dtype}")
        nested = []
        for row in per_output:
            by_input = _tree_unflatten(list(row), primals_spec)
            nested.append(by_input[0] if isinstance(argnums, int) else by_input)
        result = _release(_tree_unflatten(nested, out_spec), local_ids)
        if has_aux:
            _check_aux(found["aux"])
            return result, _release(found["aux"], local_ids)
        return result

    return wrapper


def jacrev(func: Callable, argnums: _ArgNums = 0, *, has_aux: bool = False, chunk_size: Optional[int] = None,
           _preallocate_and_copy: bool = False) -> Callable:
    """``torch.func.jacrev``: a function returning the Jacobian of ``func`` with respect to the argument(s)
    ``argnums``, by reverse mode (one backward per output element).  ``chunk_size`` is validated as PyTorch does;
    the rows are computed one at a time whatever its value (numgrad has no vmap batching), with equal results.

    >>> import numgrad as ng
    >>> jacrev(lambda x: x ** 2)(ng.tensor([1., 2.]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")
    return _jacobian_transform(func, argnums, has_aux, "vjp(f, *primals)", "vjp(f, *primals)", "f(*primals)")


def jacfwd(func: Callable, argnums: _ArgNums = 0, has_aux: bool = False, *, randomness: str = "error") -> Callable:
    """``torch.func.jacfwd``: the Jacobian of ``func`` with respect to the argument(s) ``argnums``.

    numgrad has no forward-mode AD: the Jacobian is computed by reverse mode (one backward per output element),
    with the same values and nesting as PyTorch's.  ``func`` runs once; ``randomness="error"`` raises, as
    PyTorch's vmap over the basis does, when ``func`` draws random numbers.

    >>> import numgrad as ng
    >>> jacfwd(lambda x, y: x * y, argnums=(0, 1))(ng.tensor([2.]), ng.tensor([3.]))
    (tensor([[3.]]), tensor([[2.]]))
    """
    _check_randomness_arg(randomness)
    inner = _jacobian_transform(func, argnums, has_aux, _JVP, _JVP, "f(*primals)")

    @functools.wraps(func)
    def wrapper(*args):
        state = _generator_state() if randomness == "error" else None
        result = inner(*args)
        if state is not None and _generator_state() != state:
            raise RuntimeError(_RANDOMNESS_ERROR)
        return result

    return wrapper


def hessian(func: Callable, argnums: _ArgNums = 0) -> Callable:
    """``torch.func.hessian``: ``jacfwd(jacrev(func, argnums), argnums)`` (both by reverse mode in numgrad).

    >>> import numgrad as ng
    >>> hessian(lambda x: (x ** 3).sum())(ng.tensor([1., 2.]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    return jacfwd(jacrev(func, argnums), argnums)


# ----------------------------------------------------------------------------------------------------- vmap

_RANDOMNESS_ERROR = ("vmap: called random operation while in randomness error mode. Please either use the 'same' or "
                     "'different' randomness flags on vmap or perform the randomness operation out of vmap")


def _generator_state() -> dict:
    return default_generator().bit_generator.state


def _set_generator_state(state: dict) -> None:
    default_generator().bit_generator.state = state


def _check_randomness_arg(randomness: str) -> None:
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")


def _get_name(func) -> str:
    return getattr(func, "__name__", repr(func))


def _check_out_dims_is_int_or_int_pytree(out_dims, func) -> None:
    for leaf in _tree_flatten(out_dims)[0]:
        if leaf is not None and not isinstance(leaf, int):
            raise ValueError(f"vmap({_get_name(func)}, ..., out_dims={out_dims}): `out_dims` must be an int, None or "
                             "a python collection of ints representing where in the outputs the vmapped dimension "
                             "should appear.")


def _process_batched_inputs(in_dims, args: tuple, func) -> tuple:
    name = _get_name(func)
    if not isinstance(in_dims, (int, tuple)):
        raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): expected `in_dims` to be int or a "
                         f"(potentially nested) tuple matching the structure of inputs, got: {type(in_dims)}.")
    if len(args) == 0:
        raise ValueError(f"vmap({name})(<inputs>): got no inputs. Maybe you forgot to add inputs, or you are trying "
                         "to vmap over a function with no inputs. The latter is unsupported.")
    flat_args, args_spec = _tree_flatten(args)
    flat_in_dims = _broadcast_to_and_flatten(in_dims, args_spec)
    if flat_in_dims is None:
        raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with the "
                         f"structure of `inputs`. in_dims has structure {_tree_flatten(in_dims)[1]} but inputs has "
                         f"structure {args_spec}.")
    for i, (arg, in_dim) in enumerate(zip(flat_args, flat_in_dims)):
        if in_dim is not None and not isinstance(in_dim, int):
            raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={in_dim} for an input but "
                             "in_dim must be either an integer dimension or None.")
        if in_dim is not None and not isinstance(arg, Tensor):
            raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={in_dim} for an input but "
                             f"the input is of type {type(arg)}. We cannot vmap over non-Tensor arguments, please "
                             "use None as the respective in_dim")
        if in_dim is not None and not -arg.dim() <= in_dim < arg.dim():
            raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={in_dim} for some input, "
                             f"but that input is a Tensor of dimensionality {arg.dim()} so expected in_dim to "
                             f"satisfy -{arg.dim()} <= in_dim < {arg.dim()}.")
        if in_dim is not None and in_dim < 0:
            flat_in_dims[i] = in_dim % arg.dim()
    batch_sizes = [arg.shape[d] for arg, d in zip(flat_args, flat_in_dims) if d is not None]
    if not batch_sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over")
    if any(size != batch_sizes[0] for size in batch_sizes):
        raise ValueError("vmap: Expected all tensors to have the same size in the mapped dimension, got sizes "
                         f"{batch_sizes} for the mapped dimension")
    return batch_sizes[0], flat_in_dims, flat_args, args_spec


def _flat_out_dims(out_dims, outputs, output_spec: _TreeSpec, func) -> list:
    def incompatible():
        return ValueError(f"vmap({_get_name(func)}, ..., out_dims={out_dims})(<inputs>): out_dims is not compatible "
                          f"with the structure of `outputs`. out_dims has structure {_tree_flatten(out_dims)[1]} but "
                          f"outputs has structure {output_spec}.")
    if isinstance(outputs, Tensor):
        if isinstance(out_dims, int) or out_dims is None:
            return [out_dims]
        if isinstance(out_dims, tuple) and len(out_dims) == 1:
            return list(out_dims)
        raise incompatible()
    flat = _broadcast_to_and_flatten(out_dims, output_spec)
    if flat is None:
        raise incompatible()
    return flat


def _run_examples(func, flat_args: list, flat_in_dims: list, args_spec: _TreeSpec, indices: range, randomness: str,
                  kwargs: dict) -> list:
    """``func`` on each example in ``indices``: ``[(flat outputs, output spec, output)]``."""
    name = _get_name(func)
    unmapped = [(i, a) for i, (a, d) in enumerate(zip(flat_args, flat_in_dims)) if d is None and isinstance(a, Tensor)]
    same_state = _generator_state() if randomness == "same" else None
    results = []
    for index in indices:
        example = [a if d is None else select(a, d, index) for a, d in zip(flat_args, flat_in_dims)]
        versions = [a._version[0] for _, a in unmapped]
        if same_state is not None:
            _set_generator_state(same_state)  # 'same': every example draws what the first one drew
        state_before = _generator_state() if randomness == "error" else None
        output = func(*_tree_unflatten(example, args_spec), **kwargs)
        if state_before is not None and _generator_state() != state_before:
            raise RuntimeError(_RANDOMNESS_ERROR)
        for (position, arg), version in zip(unmapped, versions):
            if arg._version[0] != version:
                raise RuntimeError(
                    f"vmap({name}): `{name}` modified an unmapped input in place (flattened input {position}, shape "
                    f"{list(arg.shape)}). numgrad's vmap runs `{name}` once per example, so the write would happen "
                    "once per example (PyTorch raises for an in-place write of a batched value into an unbatched "
                    "tensor). Use the out-of-place op, or clone() the input inside the function.")
        flat_out, out_spec = _tree_flatten(output)
        results.append((flat_out, out_spec, output))
    return results


def _stack_outputs(results: list, out_dims, func):
    name = _get_name(func)
    flat_first, spec, first = results[0]
    for flat_out, out_spec, _ in results[1:]:
        if out_spec != spec:
            raise ValueError(f"vmap({name}, ...): `{name}` returned outputs of different structure for different "
                             f"examples ({spec} and {out_spec}); every example must return the same structure")
    flat_dims = _flat_out_dims(out_dims, first, spec, func)
    stacked = []
    for k, out_dim in enumerate(flat_dims):
        values = [flat_out[k] for flat_out, _, _ in results]
        if out_dim is None:
            if isinstance(values[0], Tensor) and any(
                    v is not values[0] and not np.array_equal(v.detach().numpy(), values[0].detach().numpy(),
                                                              equal_nan=v.is_floating_point())
                    for v in values[1:]):
                raise ValueError(f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim is None")
            stacked.append(values[0])
            continue
        if not isinstance(values[0], Tensor):
            raise ValueError(f"vmap({name}, ...): `{name}` must only return Tensors, got type {type(values[0])}. "
                             "Did you mean to set out_dims= to None for output?")
        stacked.append(stack(values, dim=out_dim))
    return _tree_unflatten(stacked, spec)


def vmap(func: Callable, in_dims: Union[int, tuple] = 0, out_dims: Any = 0, randomness: str = "error", *,
         chunk_size: Optional[int] = None) -> Callable:
    """``torch.vmap`` / ``torch.func.vmap``: ``func`` mapped over a dimension of its inputs.

    ``in_dims`` (an int, or a pytree prefix of the arguments with ints and ``None`` for unmapped ones) says which
    dimension of each input is mapped; ``out_dims`` (likewise for the outputs) where the mapped dimension goes.

    numgrad has no batching rules: this is vmap by its definition, a Python loop.  Each mapped input is sliced
    (a view) along its in_dim, ``func`` runs once per example, and the outputs are stacked, so results equal
    PyTorch's and anything ``func`` can do on one example works (``grad`` inside: per-sample gradients), at the
    speed of a loop.  ``randomness``: ``"error"`` raises when ``func`` draws from numgrad's default generator,
    ``"different"`` draws anew per example, ``"same"`` gives every example the same draws.  ``chunk_size`` is
    validated as PyTorch does; examples run one at a time whatever its value, so results are equal.  An
    in-place write to an unmapped input inside ``func`` raises (it would repeat once per example).

    >>> import numgrad as ng
    >>> vmap(lambda row, w: (row * w).sum(), in_dims=(0, None))(ng.tensor([[1., 2.], [3., 4.]]), ng.tensor([1., 10.]))
    tensor([21., 43.])
    """
    _check_randomness_arg(randomness)
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        _check_out_dims_is_int_or_int_pytree(out_dims, func)
        batch_size, flat_in_dims, flat_args, args_spec = _process_batched_inputs(in_dims, args, func)
        if batch_size == 0:
            raise NotImplementedError(
                f"vmap({_get_name(func)}): the mapped dimension has size 0; numgrad's vmap calls the function once "
                "per example, so it cannot tell the shape of an empty result. Skip the call for an empty batch.")
        results = _run_examples(func, flat_args, flat_in_dims, args_spec, range(batch_size), randomness, kwargs)
        return _stack_outputs(results, out_dims, func)

    return wrapped


# ----------------------------------------------------------------------------------------- functional_call

_MISSING = object()


def _submodule(module: Module, path: str, memo: dict) -> Module:
    if not path:
        return module
    if path in memo:
        return memo[path]
    prefix, _, attr = path.rpartition(".")
    parent = _submodule(module, prefix, memo)
    try:
        sub = getattr(parent, attr)
    except AttributeError:
        raise AttributeError(f"{parent._get_name()} has no attribute `{attr}`") from None
    if not isinstance(sub, Module):
        raise TypeError(f"submodule `{path}`: {sub} is not an instance of numgrad.nn.Module")
    memo[path] = sub
    return sub


def _swap_tensor(module: Module, name: str, tensor) -> Any:
    """Put ``tensor`` (or remove it, for ``_MISSING``) where ``module.name`` lives (its parameters, its buffers,
    or a plain attribute) and return what was there, as PyTorch's ``swap_tensor`` does."""
    if tensor is not _MISSING and tensor is not None and not isinstance(tensor, Tensor):
        raise TypeError(f"{tensor} is not an instance of numgrad.Tensor")
    for registry in (module._parameters, module._buffers):
        if name in registry:
            original = registry[name]
            if tensor is _MISSING:
                del registry[name]
            else:
                registry[name] = tensor  # a plain tensor may stand in a parameter's slot, as in PyTorch
            return original
    if isinstance(getattr(type(module), name, None), property):
        raise NotImplementedError(
            f"functional_call: `{name}` of {module._get_name()} is a property (a parametrized tensor?); numgrad "
            f"cannot substitute it. Pass the tensor it is computed from instead, for a parametrization "
            f"'parametrizations.{name}.original'.")
    original = module.__dict__.get(name, _MISSING)
    if original is not _MISSING and original is not None and not isinstance(original, Tensor):
        raise TypeError(f"attribute `{name}`: {original} is not an instance of numgrad.Tensor")
    if tensor is not _MISSING:
        object.__setattr__(module, name, tensor)  # a plain attribute, as PyTorch's setattr makes it
    elif name in module.__dict__:
        del module.__dict__[name]
    return original




def _untie(module: Module, parameters_and_buffers: dict) -> dict:
    """The given values extended to every name of a tied tensor (PyTorch's ``_untie_named_tensors_map``)."""
    names_of: dict = {}
    for name, tensor in list(module.named_parameters(remove_duplicate=False)) + list(
            module.named_buffers(remove_duplicate=False)):
        names_of.setdefault(id(tensor), set()).add(name)
    tied = {name: names for names in names_of.values() if len(names) > 1 for name in names}
    given_tied = [name for name in parameters_and_buffers if name in tied]
    for name in given_tied:
        given_for_group = [n for n in tied[name] if n in parameters_and_buffers]
        if len(given_for_group) > 1 and len({id(parameters_and_buffers[n]) for n in given_for_group}) != 1:
            raise ValueError(f"functional_call got multiple values for keys {sorted(tied[name])}, which are tied. "
                             "Consider using tie_weights=False")
    untied = dict(parameters_and_buffers)
    for name in given_tied:
        for tied_name in tied[name]:
            untied[tied_name] = parameters_and_buffers[name]
    return untied


def functional_call(module: Module, parameter_and_buffer_dicts, args: Any = None, kwargs: Optional[dict] = None, *,
                    tie_weights: bool = True, strict: bool = False):
    """``torch.func.functional_call``: ``module(*args, **kwargs)`` with the given tensors standing in for its
    parameters and buffers (keys as in ``named_parameters()``/``named_buffers()``; a dict or a sequence of dicts),
    so gradients flow to the given tensors.  The module's own tensors are put back afterwards, also when the call
    raises.  ``tie_weights``: a value given for one name of a tied tensor is used for all its names; ``strict``:
    the keys must be exactly the module's.

    >>> import numgrad as ng
    >>> lin = ng.nn.Linear(2, 1)
    >>> params = {"weight": ng.tensor([[1., 2.]]), "bias": ng.tensor([0.5])}
    >>> functional_call(lin, params, (ng.tensor([[1., 1.]]),))
    tensor([[3.5000]])
    """
    if isinstance(parameter_and_buffer_dicts, dict):
        parameters_and_buffers = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, (list, tuple)):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError("Expected all elements of parameter_and_buffer_dicts to be dictionaries")
        counts: dict = {}
        for d in parameter_and_buffer_dicts:
            for k in d:
                counts[k] = counts.get(k, 0) + 1
        repeated = [k for k, n in counts.items() if n > 1]
        if repeated:
            raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of functional call is ambiguous")
        parameters_and_buffers = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise ValueError("Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but got "
                         f"{type(parameter_and_buffer_dicts)}")
    if tie_weights:
        parameters_and_buffers = _untie(module, parameters_and_buffers)
    if strict:
        valid = {n for n, _ in module.named_parameters(remove_duplicate=False)}
        valid |= {n for n, _ in module.named_buffers(remove_duplicate=False)}
        missing = sorted(valid - set(parameters_and_buffers))
        unexpected = sorted(set(parameters_and_buffers) - valid)
        messages = []
        if unexpected:
            messages.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
        if missing:
            messages.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
        if messages:
            raise RuntimeError("Error(s) in reparametrizing for {}:\n\t{}".format(module._get_name(),
                                                                                "\n\t".join(messages)))
    if kwargs is None:
        kwargs = {}
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    memo: dict = {}
    originals: "OrderedDict[str, Any]" = OrderedDict()
    try:
        for name, tensor in parameters_and_buffers.items():
            prefix, _, attr = name.rpartition(".")
            originals[name] = _swap_tensor(_submodule(module, prefix, memo), attr, tensor)
        return module(*args, **kwargs)
    finally:
        # put the module's own tensors back, last swapped first (a name given twice through ties restores once)
        for name, original in reversed(originals.items()):
            prefix, _, attr = name.rpartition(".")
            _swap_tensor(_submodule(module, prefix, memo), attr, original)


def stack_module_state(models: Sequence[Module]) -> tuple:
    """``torch.func.stack_module_state``: ``(params, buffers)``, dicts mapping each name to the stack of that
    tensor over ``models`` (same class, same training mode), for ``vmap`` over an ensemble with
    ``functional_call``.  Stacked parameters are new leaves that require grad.

    >>> import numgrad as ng
    >>> params, buffers = stack_module_state([ng.nn.Linear(3, 2) for _ in range(4)])
    >>> tuple(params["weight"].shape)
    (4, 2, 3)
    """
    models = list(models)
    if len(models) == 0:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or all(not m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    if not all(type(m) is type(models[0]) for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")

    def stacked(tensors: list, name: str) -> Tensor:
        all_require = all(t.requires_grad for t in tensors)
        if not all_require and any(t.requires_grad for t in tensors):
            raise RuntimeError(f"Expected {name} from each model to have the same .requires_grad")
        result = stack([t.detach() for t in tensors])
        return result.requires_grad_() if all_require else result

    all_params = [dict(m.named_parameters()) for m in models]
    all_buffers = [dict(m.named_buffers()) for m in models]
    params = {k: stacked([p[k] for p in all_params], k) for k in all_params[0]}
    buffers = {k: stacked([b[k] for b in all_buffers], k) for k in all_buffers[0]}
    return params, buffers



# ---------------------------------------------------------------------------------------- the other names

def functionalize(func: Callable, *, remove: str = "mutations") -> Callable:
    """``torch.func.functionalize``: ``func`` with the same semantics.  In PyTorch it rewrites in-place ops into
    out-of-place ones for tracing (``make_fx``); numgrad has no tracer to hand the program to, so the function
    returned calls ``func`` as is (the results, and mutations of the inputs, are the same).

    >>> import numgrad as ng
    >>> functionalize(lambda x: x.clone().add_(1))(ng.tensor([1.]))
    tensor([2.])
    """
    if remove not in ("mutations", "mutations_and_views"):
        raise RuntimeError(
            f"functionalize(f, remove='mutations'): received invalid argument for remove={remove}. Valid options "
            "are:\n     remove='mutations': all inplace and out= operators will be removed from the program, and "
            "replaced with their out-of-place equivalents.\n     remove='mutations_and_views': In addition to the "
            "above, all aliasing operators {view} will be replaced with their non-aliasing counterparts, "
            "{view}_copy.\n")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def debug_unwrap(tensor: Tensor, *, recurse: bool = True) -> Tensor:
    """``torch.func.debug_unwrap``: the tensor under a transform's wrapper.  numgrad's transforms do not wrap
    tensors (vmap passes real slices, grad real tensors), so this returns ``tensor`` itself.

    >>> import numgrad as ng
    >>> t = ng.ones(2); debug_unwrap(t) is t
    True
    """
    return tensor


def replace_all_batch_norm_modules_(root: Module) -> Module:
    """``torch.func.replace_all_batch_norm_modules_``: in place, every BatchNorm module under ``root`` stops
    tracking running statistics (``running_mean``/``running_var``/``num_batches_tracked`` set to None), so it
    normalises with the batch's statistics under ``vmap``; returns ``root``.

    >>> import numgrad as ng
    >>> bn = replace_all_batch_norm_modules_(ng.nn.BatchNorm1d(3))
    >>> bn.running_mean is None, bn.track_running_stats
    (True, False)
    """
    for module in root.modules():
        if isinstance(module, _BatchNorm) and module.track_running_stats:
            module.running_mean = None
            module.running_var = None
            module.num_batches_tracked = None
            module.track_running_stats = False
    return root


def rearrange(tensor, pattern: str, **axes_lengths: int) -> Tensor:
    """``torch.func.rearrange`` (einops' ``rearrange`` through vmap): not supported in numgrad.

    >>> import numgrad as ng
    >>> try:
    ...     rearrange(ng.ones(2, 3), "a b -> b a")
    ... except NotImplementedError as error:
    ...     print(str(error)[:57])
    numgrad.func.rearrange (einops patterns) is not supported
    """
    raise NotImplementedError("numgrad.func.rearrange (einops patterns) is not supported: write the pattern with "
                              "permute/reshape/flatten/unflatten (for \"a b -> b a\": tensor.permute(1, 0))")
