"""The state a compiled step can see besides its arguments: modules, optimizers and tensors it reaches.

``ng.compile`` replays a step against buffers that outlive one call (parameters, their ``.grad``,
optimizer state, BatchNorm statistics, module buffers).  They are found the way TorchDynamo finds
what to guard: from the function's closure cells, the globals its code names, a bound method's
``self``, its defaults and the call's non-tensor arguments, walking into modules, optimizers,
containers and plain objects' attributes (a few levels deep).  The hooks of the modules it reaches (and the
global module hooks) run inside the step: they are walked as the step's own functions, and which hooks each
module has is one guard (``_walk_hooks``).

>>> import numgrad as ng
>>> lin = ng.nn.Linear(2, 1)
>>> found = reachable_state(lambda x: lin(x), (), {})
>>> len(found.tensors), len(found.modules)
(2, 1)
"""
from __future__ import annotations

import dis
import functools
import os
import sys
import sysconfig
import types
from typing import Any, Callable, Optional

import numpy as np

from ..nn.modules.module import Module
from ..nn.modules.module_hooks import CALL_HOOK_DICTS, GLOBAL_CALL_HOOK_DICTS
from ..optim._scheduler_base import LRScheduler
from ..optim.optimizer import Optimizer
from ..tensor import Tensor

_MAX_DEPTH = 4
_NOT_WALKED_AS_ATTRIBUTES = frozenset(("_parameters", "_buffers", "_modules") + CALL_HOOK_DICTS)
# objects whose attributes never hold a step's state (and can be huge to walk)
_OPAQUE = (type, types.ModuleType, types.BuiltinFunctionType, str, bytes, int, float, complex, bool, type(None))


class ReachableState:
    """Tensors (by id), modules and optimizers reachable from a step, in discovery order."""

    __slots__ = ("tensors", "modules", "optimizers", "schedulers", "module_slots", "state_slots", "python_values",
                 "code_names")

    def __init__(self):
        self.tensors: dict = {}
        self.modules: list = []
        self.optimizers: list = []
        self.schedulers: list = []  # learning-rate schedulers: the recorder notes their step() calls
        self.code_names: set = set()  # the names (globals, attributes) the user functions walked use
        # (registry dict, key, tensor): a module's parameters and buffers, guarded by identity
        self.module_slots: list = []
        # (dict, key, object) guarded by identity too: a module's submodules, an optimizer's state tensors (a
        # replaced layer or a loaded optimizer state is other memory than the plan's)
        self.state_slots: list = []
        # the Python values a replay bakes in, as TorchDynamo guards them: ``PythonValue``s
        self.python_values: list = []


# plain values a step's Python may read and bake into its kernels' scalars (a global learning rate, a list item,
# a module's ``p`` or ``eps``): guarded by equality
_PLAIN = (bool, int, float, complex, str, bytes, type(None), np.generic)
_MAX_ITEMS = 64  # a longer list or dict is walked but its items are not guarded (reading them costs every call)
_MISSING = object()
_LENGTH = object()  # the key of a ``PythonValue`` guarding a list's or dict's length (an append is a change)
# the key of a ``PythonValue`` whose container is a list of hook dicts: it reads their keys, the ids of the handles
# that registered the hooks (never reused, unlike the id of a freed hook function)
_HOOK_KEYS = object()


class _Attribute(str):
    """The key of a ``PythonValue`` guarding an attribute held in a ``__slots__`` slot (read with getattr)."""

    __slots__ = ()


@functools.lru_cache(maxsize=None)
def _slot_names(cls: type) -> tuple:
    """The attributes ``cls``'s ``__slots__`` (its own and its bases') hold, private names mangled."""
    names = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name in ("__dict__", "__weakref__"):
                continue
            if name.startswith("__") and not name.endswith("__"):
                name = f"_{klass.__name__.lstrip('_')}{name}"
            names.append(name)
    return tuple(names)


def _is_plain(value, depth: int = 0) -> bool:
    if isinstance(value, _PLAIN):
        return True
    return (type(value) is tuple and depth < 2 and len(value) <= 16
            and all(_is_plain(v, depth + 1) for v in value))


class PythonValue:
    """One slot holding a value the step reads: a closure cell, a global, a list or dict item, an attribute.

    ``read()`` gives what it holds now: the value itself for a plain value (compared with ``==``), the
    object's id for a list, dict or plain object the walk went into (a rebinding is a different object; the
    object is kept alive, so its id stays unique).

    >>> scale = [0.5]
    >>> slot = PythonValue(scale, 0, "scale[0]", plain=True)
    >>> slot.read(), slot.description
    (0.5, 'scale[0]')
    """

    __slots__ = ("container", "key", "description", "plain", "held", "in_module")

    def __init__(self, container, key, description: str, plain: bool, in_module: bool = False):
        self.container, self.key, self.description, self.plain = container, key, description, plain
        # a module's attribute: only ``Module.__setattr__`` changes it (``module.plain_attribute_writes`` counts)
        self.in_module = in_module
        self.held = None if plain else self._get()  # keeps the object (and so its id) alive

    def _get(self):
        c = self.container
        if isinstance(c, types.CellType):
            try:
                return c.cell_contents
            except ValueError:
                return _MISSING
        if self.key is _LENGTH:
            return len(c)
        if self.key is _HOOK_KEYS:
            return tuple([tuple(hooks) for hooks in c])
        if type(self.key) is _Attribute:
            return getattr(c, self.key, _MISSING)
        if isinstance(c, dict):
            return c.get(self.key, _MISSING)
        return c[self.key] if self.key < len(c) else _MISSING

    def read(self):
        value = self._get()
        return value if self.plain else id(value)


def tensor_slot_guards(slots: list) -> tuple:
    """The slots holding tensors (``PythonValue``s whose value is a ``Tensor``) as identity guards of a captured
    variant, with the tensor each holds now: (dict slots as (dict, key, tensor): a global, a dict item, an object's
    or module's attribute; closure cells as (cell, tensor); the rest as (slot, tensor)).  They are checked on every
    replay (``ng.compile``'s ``_Variant.guards_hold``), not hashed into the guard key: a few identity tests cost
    less than reading them into the key."""
    in_dicts, cells, others = [], [], []
    for slot in slots:
        value = slot._get()
        if not isinstance(value, Tensor):
            continue
        c = slot.container
        if isinstance(c, types.CellType):
            cells.append((c, value))
        elif isinstance(c, dict) and type(slot.key) is not _Attribute and slot.key is not _LENGTH:
            in_dicts.append((c, slot.key, value))
        else:
            others.append((slot, value))
    return in_dicts, cells, others


def holds_tensor(slot: PythonValue) -> bool:
    """Whether ``slot`` was noted for the tensor it held (an identity guard of ``tensor_slot_guards``)."""
    return not slot.plain and isinstance(slot.held, Tensor)


def read_python_values(slots: list) -> tuple:
    """What every slot holds now (see ``PythonValue.read``), hashable: part of a compiled step's guard key."""
    return tuple([slot.read() for slot in slots])


def changed_python_value(slots: list, before: tuple) -> Optional[str]:
    """The description of the first slot whose value differs from ``before`` (``read_python_values``), or None."""
    for slot, old in zip(slots, before):
        new = slot.read()
        if type(new) is not type(old) or new != old:
            return slot.description
    return None


def _note_value(found: ReachableState, container, key, value, description: str, walked: bool,
                in_module: bool = False) -> None:
    """Guard a slot holding a plain value (by equality), or a tensor or a container the walk goes into (by
    identity: a plan binds the memory of the tensor the slot held, so a slot rebound to another tensor, a new
    mask or a carried hidden state, is another variant, and a step that rebinds it runs eagerly)."""
    if _is_plain(value):
        found.python_values.append(PythonValue(container, key, description, True, in_module))
    elif walked or isinstance(value, Tensor):
        found.python_values.append(PythonValue(container, key, description, False, in_module))


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


def _global_names(fn) -> list:
    """The globals ``fn``'s code (and the code nested in it) loads: ``co_names`` also holds attribute names
    (``opt.step`` names ``step``), which would make a script's loop variable ``step`` a guard."""
    names: set = set()
    _loaded_globals(fn.__code__, names)
    return sorted(names)


def _loaded_globals(code: types.CodeType, out: set) -> None:
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            out.add(ins.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _loaded_globals(const, out)


def _function_slots(fn: Callable, found: ReachableState, seen: set) -> None:
    """Guard the closure cells and globals of a function the step calls (the step itself, and the user functions
    it reaches), as TorchDynamo guards the values its trace read."""
    if isinstance(fn, types.MethodType):
        fn = fn.__func__
    code = getattr(fn, "__code__", None)
    if code is None or not isinstance(fn, types.FunctionType) or _is_numgrad(fn):
        return
    names: set = set()
    _code_names(code, names)
    found.code_names |= names
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        _note_value(found, cell, None, value, f"{fn.__name__}'s closure variable {name!r}",
                    isinstance(value, (list, dict)) or _is_user_object(value))
        if _is_namespace(value):  # a settings class (or module) made in an enclosing function
            _namespace_attributes(value, names, found, seen, 0)
    g = fn.__globals__
    for name in _global_names(fn):
        if name in g and not name.startswith("__"):
            value = g[name]
            _note_value(found, g, name, value, f"global {name!r} of {fn.__module__}",
                        isinstance(value, (list, dict)) or _is_user_object(value))
            if _is_namespace(value):
                _namespace_attributes(value, names, found, seen, 0)


def _namespace_attributes(space, names: set, found: ReachableState, seen: set, depth: int) -> None:
    """Guard the attributes of ``space`` (a global or closure variable of the step's code that is a module, such as
    a script's ``hparams``, or a user class used as a namespace, ``class CFG: lr = 1e-3``) whose names the code uses
    (``hparams.SCALE``, ``CFG.lr``), when they hold numbers or tensors (such a tensor is state of the step too); a
    module or class named too (``config.train.lr``) is looked into, one level down."""
    for name in sorted(names):
        if name.startswith("__"):
            continue
        value = _namespace_lookup(space, name)
        if value is _MISSING:
            continue
        if _is_namespace(value):
            if depth < 1:
                _namespace_attributes(value, names, found, seen, depth + 1)
        elif _is_plain(value) or isinstance(value, Tensor):
            container, key = (vars(space), name) if isinstance(space, types.ModuleType) else (space, _Attribute(name))
            _note_value(found, container, key, value, f"{space.__name__}.{name}", False)
            if isinstance(value, Tensor):
                _add_tensor(value, found, seen, depth)
        elif isinstance(value, types.FunctionType) and _is_user_code(value):
            # a function of the user's own module the step calls (``losses.focal(...)``): what it reads is guarded
            _walk(value, found, seen, depth + 1, True)


def _is_user_code(fn: types.FunctionType) -> bool:
    """Whether ``fn`` is the user's code, not an installed library's or the standard library's (whose globals are
    theirs: walking them would guard hundreds of values a step never changes)."""
    path = getattr(fn.__code__, "co_filename", "")
    if _is_numgrad(fn) or path.startswith("<frozen"):
        return False
    return not any(path.startswith(root) for root in _LIBRARY_ROOTS)


# where installed packages and the standard library live
_LIBRARY_ROOTS = tuple(sorted({os.path.join(p, "") for key, p in sysconfig.get_paths().items()
                               if key in ("stdlib", "platstdlib", "purelib", "platlib")} |
                              {os.path.join(p, "") for p in (sys.base_prefix, sys.base_exec_prefix)}))


def _is_user_class(klass: type) -> bool:
    """A class of the user's: not numgrad's, not a builtin (nor ``object``)."""
    return not _is_numgrad(klass) and klass.__module__ != "builtins"


def _is_namespace(value) -> bool:
    """A module, or a class of the user's (its attributes read through the class: ``CFG.lr``)."""
    return isinstance(value, types.ModuleType) or (isinstance(value, type) and _is_user_class(value))


def _namespace_lookup(space, name: str):
    """``getattr(space, name)`` without running a property or ``__getattr__`` (``_MISSING`` when absent)."""
    if isinstance(space, types.ModuleType):
        return vars(space).get(name, _MISSING)
    for klass in space.__mro__:
        if klass is not object and name in vars(klass):
            return vars(klass)[name]
    return _MISSING


def _is_numgrad(obj) -> bool:
    return (getattr(obj, "__module__", None) or "").partition(".")[0] == "numgrad"


def _is_user_object(value) -> bool:
    """A plain object of the user's (a config, a namespace, a slotted dataclass) whose attributes a step may
    read."""
    return (not isinstance(value, (_OPAQUE, types.FunctionType, types.MethodType, Tensor, Module, Optimizer)) and
            (isinstance(getattr(value, "__dict__", None), dict) or bool(_slot_names(type(value))))
            and not _is_numgrad(type(value)))


def reachable_state(fn: Callable, args: tuple, kwargs: dict) -> ReachableState:
    """Everything ``fn(*args, **kwargs)`` can reach that outlives the call (see the module docstring).

    Tensor arguments are inputs, not state; other arguments (a model or an optimizer passed in)
    are walked like the closure.
    """
    found = ReachableState()
    seen: set = set()
    _function_slots(fn, found, seen)
    roots = _function_roots(fn)
    roots.extend(a for a in args if not isinstance(a, Tensor))
    roots.extend(v for v in kwargs.values() if not isinstance(v, Tensor))
    for r in roots:
        _walk(r, found, seen, 0, True)
    if any(GLOBAL_CALL_HOOK_DICTS):  # ``register_module_forward_hook`` & co. run in every module call
        # guarded only while some exist: a step with no module then keeps its guard-free key (registering the first
        # global hook makes ng.compile walk again)
        _walk_hooks(list(GLOBAL_CALL_HOOK_DICTS), "the global module hooks", found, seen, 0)
    if found.code_names & _LEARNING_RATE_NAMES:
        _guard_learning_rates(found)
    return found


# names through which a step's own code may read an optimizer's learning rate (or a scheduler's counters) and bake
# it into a kernel's scalar; numgrad's optimizer updates read them on every replay, the step's code would not
_LEARNING_RATE_NAMES = frozenset(("param_groups", "get_last_lr", "_last_lr", "get_lr", "last_epoch", "base_lrs"))


def _guard_learning_rates(found: ReachableState) -> None:
    """Guard the numbers of every parameter group (``lr``, ``momentum``, ...) and every scheduler counter the step
    reaches: its own code names one of ``_LEARNING_RATE_NAMES``, so a number it computes from them may be baked in.
    A step that also steps a scheduler then changes what it reads on every call, and runs eagerly."""
    for opt in found.optimizers:
        for i, group in enumerate(opt.param_groups):
            for key, value in group.items():
                if _is_plain(value):
                    found.python_values.append(PythonValue(
                        group, key, f"{type(opt).__name__}.param_groups[{i}][{key!r}]", True))
    for sched in found.schedulers:
        for key, value in vars(sched).items():
            if _is_plain(value):
                found.python_values.append(PythonValue(sched.__dict__, key, f"{type(sched).__name__}.{key}", True))


def _walk_hooks(hook_dicts: list, description: str, found: ReachableState, seen: set, depth: int) -> None:
    """Dicts of module hooks (a module's, or the global ones): which hooks they hold is one guard (the handle ids
    in each dict: a hook registered, removed or moved to another dict or module is another variant), and each hook
    is walked as a user function (what it reads is guarded; what it changes makes the step run eagerly).  Only
    ``register_*`` and ``remove`` change these dicts, and they count in ``plain_attribute_writes``, so the guard is
    read with the modules' attributes."""
    found.python_values.append(PythonValue(hook_dicts, _HOOK_KEYS, description, True, True))
    for hooks in hook_dicts:
        for hook in list(hooks.values()):
            _walk(hook, found, seen, depth + 1, True)


def _class_values(obj, found: ReachableState) -> None:
    """Guard the numbers held as class attributes by the user's classes ``obj`` is an instance of (``SCALE = 0.5``
    in a user's module or config class): ``self.SCALE`` reads them, and ``Model.SCALE = 2.0`` changes them without
    touching the instance (read on every call: setting a class attribute is not counted)."""
    cls = type(obj)
    noted: set = set()
    for klass in cls.__mro__:
        if not _is_user_class(klass):
            continue
        for name, value in vars(klass).items():
            if name.startswith("__") or name in noted or not _is_plain(value):
                continue
            noted.add(name)
            found.python_values.append(PythonValue(cls, _Attribute(name), f"{cls.__name__}.{name} (a class attribute)",
                                                   True))


def _add_tensor(t: Tensor, found: ReachableState, seen: set, depth: int) -> None:
    if id(t) in seen:
        return
    seen.add(id(t))
    found.tensors[id(t)] = t
    if t.grad is not None:
        _add_tensor(t.grad, found, seen, depth)
    for hooks in (t._hooks, t._post_acc_hooks):  # the user's hooks run inside the step: what they read is guarded
        for hook in hooks or ():
            _walk(hook, found, seen, depth + 1, True)  # numgrad's own (DDP's) are not guarded: _function_slots


def _walk(obj: Any, found: ReachableState, seen: set, depth: int, guard: bool) -> None:
    """Add what ``obj`` holds to ``found``; ``guard``: its plain values are the user's to change (not reached
    through numgrad's own bookkeeping, such as DDP's bucket flags or an underscored attribute)."""
    if isinstance(obj, Tensor):
        _add_tensor(obj, found, seen, depth)
        return
    if depth > _MAX_DEPTH or isinstance(obj, _OPAQUE) or id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, Module):
        found.modules.append(obj)
        if guard and not _is_numgrad(type(obj)):
            _class_values(obj, found)
        forward = getattr(type(obj), "forward", None)
        if isinstance(forward, types.FunctionType) and not _is_numgrad(forward):
            # a user's forward: the globals and closure values it reads (a parameter it does not register, a
            # scale in a list) are state and guards, as the step's own
            _walk(forward, found, seen, depth + 1, guard)
        for registry in (obj._parameters, obj._buffers):
            for key, t in registry.items():
                found.module_slots.append((registry, key, t))
                if t is not None:
                    _add_tensor(t, found, seen, depth)
        for key, sub in obj._modules.items():
            found.state_slots.append((obj._modules, key, sub))
            if sub is not None:
                _walk(sub, found, seen, depth, guard)  # a module tree is walked whole, however deep
        hook_dicts = [obj.__dict__[name] for name in CALL_HOOK_DICTS if name in obj.__dict__]
        if hook_dicts:  # the module's hooks run inside its calls: user functions, walked as such
            _walk_hooks(hook_dicts, f"the hooks of a {type(obj).__name__}", found, seen, depth)
        for key, value in obj.__dict__.items():
            if key not in _NOT_WALKED_AS_ATTRIBUTES:
                public = guard and not key.startswith("_")
                if public and key != "training":  # training is in the key already
                    _note_value(found, obj.__dict__, key, value, f"{type(obj).__name__}.{key}", False, True)
                _walk(value, found, seen, depth + 1, public)
        return
    if isinstance(obj, Optimizer):
        found.optimizers.append(obj)
        for name in ("_step_pre_hooks", "_step_post_hooks"):  # called by step(): user functions
            for hook in obj.__dict__.get(name, ()):
                _walk(hook, found, seen, depth + 1, True)
        for group in obj.param_groups:
            for p in group["params"]:
                _add_tensor(p, found, seen, depth)
        found.state_slots.append((obj.__dict__, "state", obj.state))  # load_state_dict puts a new one there
        for p, per_param in list(obj.state.items()):
            found.state_slots.append((obj.state, p, per_param))  # load_state_dict puts new dicts there
            if isinstance(per_param, dict):
                found.state_slots.extend((per_param, k, v) for k, v in per_param.items() if isinstance(v, Tensor))
                for v in per_param.values():
                    _walk(v, found, seen, depth + 1, False)
        return
    if isinstance(obj, dict):
        items = guard and len(obj) <= _MAX_ITEMS
        if guard:
            found.python_values.append(PythonValue(obj, _LENGTH, "the length of a dict", True))
        for k, v in list(obj.items()):
            if items:
                _note_value(found, obj, k, v, f"item {k!r} of a dict", False)
            _walk(v, found, seen, depth + 1, guard)
        return
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = guard and type(obj) is list and len(obj) <= _MAX_ITEMS
        if guard and type(obj) is list:
            found.python_values.append(PythonValue(obj, _LENGTH, "the length of a list", True))
        for i, v in enumerate(list(obj)):
            if items:
                _note_value(found, obj, i, v, f"item {i} of a list", False)
            _walk(v, found, seen, depth + 1, guard)
        return
    if isinstance(obj, types.FunctionType):
        if guard:
            _function_slots(obj, found, seen)
        for r in _function_roots(obj):
            _walk(r, found, seen, depth + 1, guard and not _is_numgrad(obj))
        return
    if isinstance(obj, types.MethodType):
        _walk(obj.__self__, found, seen, depth + 1, guard)
        _walk(obj.__func__, found, seen, depth + 1, guard)
        return
    if isinstance(obj, LRScheduler):
        found.schedulers.append(obj)
    user = guard and _is_user_object(obj)
    if user:
        _class_values(obj, found)
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        for k, v in list(attrs.items()):
            if user:
                _note_value(found, attrs, k, v, f"{type(obj).__name__}.{k}", False)
            _walk(v, found, seen, depth + 1, user)
    for name in _slot_names(type(obj)):
        v = getattr(obj, name, _MISSING)
        if user:
            _note_value(found, obj, _Attribute(name), v, f"{type(obj).__name__}.{name}", False)
        if v is not _MISSING:
            _walk(v, found, seen, depth + 1, user)
