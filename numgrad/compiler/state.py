"""The state a compiled step can see besides its arguments: modules, optimizers and tensors it reaches.

``ng.compile`` replays a step against buffers that outlive one call (parameters, their ``.grad``,
optimizer state, BatchNorm statistics, module buffers).  They are found the way TorchDynamo finds
what to guard: from the function's closure cells, the globals its code names, a bound method's
``self``, its defaults and the call's non-tensor arguments, walking into modules, optimizers,
containers and plain objects' attributes (a few levels deep).

>>> import numgrad as ng
>>> lin = ng.nn.Linear(2, 1)
>>> found = reachable_state(lambda x: lin(x), (), {})
>>> len(found.tensors), len(found.modules)
(2, 1)
"""
from __future__ import annotations

import types
from typing import Any, Callable

from ..nn.modules.module import Module
from ..optim.optimizer import Optimizer
from ..tensor import Tensor

_MAX_DEPTH = 4
# objects whose attributes never hold a step's state (and can be huge to walk)
_OPAQUE = (type, types.ModuleType, types.BuiltinFunctionType, str, bytes, int, float, complex, bool, type(None))


class ReachableState:
    """Tensors (by id), modules and optimizers reachable from a step, in discovery order."""

    __slots__ = ("tensors", "modules", "optimizers", "module_slots")

    def __init__(self):
        self.tensors: dict = {}
        self.modules: list = []
        self.optimizers: list = []
        # (registry dict, key, tensor): a module's parameters and buffers, guarded by identity
        self.module_slots: list = []


def _code_names(code: types.CodeType, out: set) -> None:
    out.update(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code_names(const, out)


def _function_roots(fn: Callable) -> list:
    roots: list = []
    if isinstance(fn, types.MethodType):
        roots.append(fn.__self__)
        fn = fn.__func__
    if isinstance(fn, Module):
        roots.append(fn)
        return roots
    code = getattr(fn, "__code__", None)
    if code is None:
        roots.append(fn)
        return roots
    for cell in fn.__closure__ or ():
        try:
            roots.append(cell.cell_contents)
        except ValueError:  # an empty cell
            pass
    names: set = set()
    _code_names(code, names)
    g = getattr(fn, "__globals__", {})
    roots.extend(g[n] for n in sorted(names) if n in g)
    roots.extend(fn.__defaults__ or ())
    roots.extend((fn.__kwdefaults__ or {}).values())
    return roots


def reachable_state(fn: Callable, args: tuple, kwargs: dict) -> ReachableState:
    """Everything ``fn(*args, **kwargs)`` can reach that outlives the call (see the module docstring).

    Tensor arguments are inputs, not state; other arguments (a model or an optimizer passed in)
    are walked like the closure.
    """
    found = ReachableState()
    seen: set = set()
    roots = _function_roots(fn)
    roots.extend(a for a in args if not isinstance(a, Tensor))
    roots.extend(v for v in kwargs.values() if not isinstance(v, Tensor))
    for r in roots:
        _walk(r, found, seen, 0)
    return found


def _add_tensor(t: Tensor, found: ReachableState, seen: set, depth: int) -> None:
    if id(t) in seen:
        return
    seen.add(id(t))
    found.tensors[id(t)] = t
    if t.grad is not None:
        _add_tensor(t.grad, found, seen, depth)


def _walk(obj: Any, found: ReachableState, seen: set, depth: int) -> None:
    if isinstance(obj, Tensor):
        _add_tensor(obj, found, seen, depth)
        return
    if depth > _MAX_DEPTH or isinstance(obj, _OPAQUE) or id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, Module):
        found.modules.append(obj)
        for registry in (obj._parameters, obj._buffers):
            for key, t in registry.items():
                found.module_slots.append((registry, key, t))
                if t is not None:
                    _add_tensor(t, found, seen, depth)
        for sub in obj._modules.values():
            if sub is not None:
                _walk(sub, found, seen, depth)  # a module tree is walked whole, however deep
        for key, value in obj.__dict__.items():
            if key not in ("_parameters", "_buffers", "_modules"):
                _walk(value, found, seen, depth + 1)
        return
    if isinstance(obj, Optimizer):
        found.optimizers.append(obj)
        for group in obj.param_groups:
            for p in group["params"]:
                _add_tensor(p, found, seen, depth)
        for per_param in obj.state.values():
            if isinstance(per_param, dict):
                for v in per_param.values():
                    _walk(v, found, seen, depth + 1)
        return
    if isinstance(obj, dict):
        for v in list(obj.values()):
            _walk(v, found, seen, depth + 1)
        return
    if isinstance(obj, (list, tuple, set, frozenset)):
        for v in list(obj):
            _walk(v, found, seen, depth + 1)
        return
    if isinstance(obj, types.FunctionType):
        for r in _function_roots(obj):
            _walk(r, found, seen, depth + 1)
        return
    if isinstance(obj, types.MethodType):
        _walk(obj.__self__, found, seen, depth + 1)
        _walk(obj.__func__, found, seen, depth + 1)
        return
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        for v in list(attrs.values()):
            _walk(v, found, seen, depth + 1)
