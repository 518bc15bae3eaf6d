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

import collections
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
from ..optim.optimizer import _HOOK_LISTS, Optimizer
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


# a larger NumPy array the step reaches is guarded by identity only: reading its bytes would cost every call
_MAX_GUARDED_ARRAY_BYTES = 1 << 16


class _ArrayValue(PythonValue):
    """A slot holding a NumPy array the step may read numbers from (``x * float(scale[0])``: the number is baked
    into a kernel's scalar).  ``read()`` gives the array's identity and, up to ``_MAX_GUARDED_ARRAY_BYTES``, its
    shape, dtype and bytes: an array rebound or written into between calls is another variant (before, both
    replayed the old number).  Read on every call, a module's attribute too (writing into an array does not go
    through ``Module.__setattr__``).

    >>> scale = {"s": np.array([0.5])}
    >>> slot = _ArrayValue(scale, "s", "scale['s']", plain=False)
    >>> before = slot.read(); scale["s"][0] = 2.0; slot.read() == before
    False
    """

    __slots__ = ()

    def read(self):
        value = self._get()
        if isinstance(value, np.ndarray) and value.nbytes <= _MAX_GUARDED_ARRAY_BYTES:
            return id(value), value.shape, value.dtype.str, value.tobytes()
        return id(value)


def _array_identity(read) -> int:
    """The id in what ``_ArrayValue.read`` gave."""
    return read[0] if type(read) is tuple else read


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


def _first_change(slots: list, before: tuple) -> Optional[tuple]:
    """(slot, value before, value now) of the first slot whose value differs from ``before``
    (``read_python_values``), or None.  The same object is no change (a NaN a slot holds is not one)."""
    for slot, old in zip(slots, before):
        new = slot.read()
        if new is not old and (type(new) is not type(old) or new != old):
            return slot, old, new
    return None


def changed_python_value(slots: list, before: tuple) -> Optional[str]:
    """The description of the first slot whose value differs from ``before`` (``read_python_values``), or None."""
    change = _first_change(slots, before)
    return None if change is None else change[0].description


def _note_value(found: ReachableState, container, key, value, description: str, walked: bool,
                in_module: bool = False) -> None:
    """Guard a slot holding a plain value (by equality), a NumPy array (``_ArrayValue``), or a tensor or a
    container the walk goes into (by identity: a plan binds the memory of the tensor the slot held, so a slot
    rebound to another tensor, a new mask or a carried hidden state, is another variant, and a step that rebinds
    it runs eagerly)."""
    if _is_plain(value):
        found.python_values.append(PythonValue(container, key, description, True, in_module))
    elif isinstance(value, np.ndarray):
        found.python_values.append(_ArrayValue(container, key, description, False))
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


# ------------------------------------------------------------------ an optimizer's Python state in a recorded call
# attributes numgrad itself sets on an optimizer while it steps, or that other machinery owns: ``step`` and
# ``_opt_called`` (a learning-rate scheduler's wrapper of ``step``), ``_in_step_hooks`` (the step hooks' wrapper),
# ``_param_shape`` (``Optimizer._step_param``, Adagrad, and each replayed update), ``_update`` (the recorder's
# wrapper), ``_numel_cache`` (LBFGS), the hook lists; ``state`` and ``param_groups`` are watched entry by entry, and
# ``defaults`` only fills the groups ``add_param_group`` adds
_OPTIMIZER_BOOKKEEPING = frozenset(("step", "_opt_called", "_in_step_hooks", "_param_shape", "_update",
                                    "_numel_cache", "state", "param_groups", "defaults") + tuple(_HOOK_LISTS))
_WATCH_DEPTH = 2  # containers and plain objects held by an optimizer are watched this many levels down


class _AttributeNames(PythonValue):
    """The names of an object's attributes (``container`` is its ``__dict__``), numgrad's bookkeeping left out:
    an attribute set for the first time is a change.  ``description`` names the object."""

    __slots__ = ()

    def _get(self):
        return tuple([k for k in self.container if k not in _OPTIMIZER_BOOKKEEPING])


def _key_text(key, labels: Optional[dict] = None) -> str:
    """How a key of an optimizer's ``state`` (a parameter, by its place in ``param_groups``: ``labels``) or of a
    container reads in a description."""
    if isinstance(key, Tensor):
        return (labels or {}).get(id(key)) or f"<a tensor of shape {tuple(key.shape)}>"
    text = repr(key)
    return text if len(text) <= 40 else text[:37] + "..."


def _watch_value(out: list, container, key, value, description: str, depth: int) -> None:
    """The slots (``PythonValue``s) watching an optimizer's Python value: a plain value by equality, anything
    else by identity; a NumPy array also by its bytes (up to ``_MAX_GUARDED_ARRAY_BYTES``), a list, dict, set or
    deque by its length and (up to ``_MAX_ITEMS``) a list's or dict's items, a plain object of the user's by its
    attributes, down to ``_WATCH_DEPTH`` levels."""
    if isinstance(value, np.ndarray):  # a count kept in an array changes in place
        out.append(_ArrayValue(container, key, description, False))
        return
    plain = _is_plain(value)
    out.append(PythonValue(container, key, description, plain))
    if plain or depth >= _WATCH_DEPTH or isinstance(value, Tensor):
        return
    if isinstance(value, (list, dict, set, collections.deque)):
        out.append(PythonValue(value, _LENGTH, f"the length of {description}", True))
        if len(value) > _MAX_ITEMS:
            return
        if isinstance(value, dict):
            for k, v in list(value.items()):
                _watch_value(out, value, k, v, f"{description}[{_key_text(k)}]", depth + 1)
        elif isinstance(value, list):
            for i, v in enumerate(list(value)):
                _watch_value(out, value, i, v, f"{description}[{i}]", depth + 1)
    elif _is_user_object(value) and isinstance(getattr(value, "__dict__", None), dict):
        attrs = vars(value)
        out.append(_AttributeNames(attrs, None, description, True))
        for k, v in list(attrs.items()):
            _watch_value(out, attrs, k, v, f"{description}.{k}", depth + 1)


def _state_dict_slots(per_param: dict, description: str) -> list:
    """The slots watching one parameter's state dict (``optimizer.state[p]``): its length and its entries."""
    slots = [PythonValue(per_param, _LENGTH, f"the number of entries of {description}", True)]
    for k, v in list(per_param.items()):
        _watch_value(slots, per_param, k, v, f"{description}[{_key_text(k)}]", 1)
    return slots


def _change_text(slot: PythonValue, old, new) -> str:
    """What changed in ``slot`` (``_first_change``), for a fallback reason."""
    if type(slot) is _AttributeNames:
        added = [k for k in new if k not in old]
        if added:
            return f"{slot.description}.{added[0]} (an attribute it did not have)"
        return f"{slot.description}.{[k for k in old if k not in new][0]} (an attribute deleted)"
    if slot.key is _LENGTH:
        return f"{slot.description}, from {old} to {new}"
    if type(slot) is _ArrayValue and _array_identity(old) == _array_identity(new):
        return f"the contents of {slot.description} (changed in place)"
    if slot.plain:
        before, now = repr(old), repr(new)
        if len(before) + len(now) > 60:
            return slot.description
        return f"{slot.description}, from {before} to {now}"
    return f"{slot.description} (set to another object, or removed)"


class OptimizerStateWatch:
    """What the step changes in its optimizers' Python state (the values that are not tensors: attributes of the
    optimizer object, the entries of ``optimizer.state`` and of each parameter's state dict, the entries of the
    parameter groups, and the lengths and items of the containers they hold) outside the calls a replay repeats.

    A replay runs the captured kernels and calls each recorded ``Optimizer._update`` (and each learning-rate
    scheduler's ``step``) again, so what those calls change (Adam's step count, SGD's momentum buffer created on
    its first update, the learning rate a scheduler sets) changes on replay too.  A change made anywhere else (an
    optimizer subclass's own ``step()`` appending to a list or counting its calls, a hook, the step's own code)
    would not be made again.  The recorder (``recorder.Recording``) calls ``enter_update`` and ``leave_update``
    around each ``_update`` call and ``enter_scheduler``/``leave_scheduler`` around each scheduler step: at each
    entry the state that call may touch (the optimizer's attributes, its ``state`` dict, the parameter's group and
    state dict) must be as the last call left it; ``finish`` checks everything after the step.  The first such
    change is kept in ``change`` as (optimizer, what changed).

    >>> import numgrad as ng
    >>> w = ng.nn.Parameter(ng.ones(2)); opt = ng.optim.SGD([w], lr=0.1)
    >>> watch = OptimizerStateWatch([opt])
    >>> opt.calls = 1
    >>> watch.finish()
    'SGD.calls (an attribute it did not have)'
    """

    def __init__(self, optimizers):
        # key -> (optimizer, slots, their values as last checked): ("attributes", id(opt)), ("state", id(opt)),
        # id(group) and id(state dict of one parameter)
        self._parts: dict = {}
        self._labels: dict = {}  # id(parameter) -> where it is in its optimizer's param_groups
        self._new: dict = {}  # id(state dict) -> its description, while its parameter's first update runs
        self.change: Optional[tuple] = None
        for opt in optimizers:
            if ("attributes", id(opt)) not in self._parts:
                self._watch_optimizer(opt)

    def _watch_optimizer(self, opt) -> None:
        name = type(opt).__name__
        attrs = opt.__dict__
        slots = [_AttributeNames(attrs, None, name, True),
                 PythonValue(opt.param_groups, _LENGTH, f"the number of {name}.param_groups", True)]
        for k, v in list(attrs.items()):
            if k not in _OPTIMIZER_BOOKKEEPING:
                _watch_value(slots, attrs, k, v, f"{name}.{k}", 0)
        self._add(("attributes", id(opt)), opt, slots)
        labels = self._labels
        for i, group in enumerate(opt.param_groups):
            slots = [PythonValue(group, _LENGTH, f"the number of entries of {name}.param_groups[{i}]", True)]
            for k, v in list(group.items()):
                if k != "params":  # its length is part of the guard key; the tensors are the plan's
                    _watch_value(slots, group, k, v, f"{name}.param_groups[{i}][{k!r}]", 1)
            self._add(id(group), opt, slots)
            for j, p in enumerate(group["params"]):
                labels[id(p)] = f"param_groups[{i}]['params'][{j}]"
        state = opt.state
        # the number of entries first (``_new_state_dict`` counts on that)
        slots = [PythonValue(state, _LENGTH, f"the number of entries of {name}.state", True)]
        for key, per_param in list(state.items()):
            description = f"{name}.state[{_key_text(key, labels)}]"
            if isinstance(per_param, dict):  # watched as its own part (an update touches one parameter's)
                self._add(id(per_param), opt, [PythonValue(state, key, description, False)] +
                          _state_dict_slots(per_param, description))
            else:
                _watch_value(slots, state, key, per_param, description, 0)
        self._add(("state", id(opt)), opt, slots)

    def _add(self, key, opt, slots: list) -> None:
        self._parts[key] = (opt, slots, read_python_values(slots))

    def _check(self, key) -> None:
        part = self._parts.get(key)
        if part is None or self.change is not None:
            return
        opt, slots, before = part
        change = _first_change(slots, before)
        if change is not None:
            self.change = (opt, _change_text(*change))

    def _refresh(self, key) -> None:
        part = self._parts.get(key)
        if part is not None:
            self._parts[key] = (part[0], part[1], read_python_values(part[1]))

    def _update_keys(self, opt, args: tuple) -> list:
        keys = [("attributes", id(opt)), ("state", id(opt))]
        if len(args) > 3:  # ``_update(group, param, grad, state, parallel)``
            keys += [id(args[0]), id(args[3])]
        return keys

    def enter_update(self, opt, args: tuple) -> None:
        """Before ``opt._update(*args)``: what it may touch is as the last replayed call (or the start) left it."""
        if len(args) > 3 and isinstance(args[3], dict) and id(args[3]) not in self._parts:
            self._new_state_dict(opt, args[3])
        for key in self._update_keys(opt, args):
            self._check(key)

    def _new_state_dict(self, opt, per_param: dict) -> None:
        """A parameter's first update (in this call): ``Optimizer._step_param`` has just put its empty state dict
        into ``opt.state`` (that entry is numgrad's doing, not the step's); what ``_update`` puts in it is watched
        from ``leave_update`` on."""
        name = type(opt).__name__
        key = next((k for k, v in list(opt.state.items()) if v is per_param), None)
        description = f"{name}.state[{_key_text(key, self._labels)}]"
        if per_param and self.change is None:
            self.change = (opt, f"{description}[{_key_text(next(iter(per_param)))}] (set before the "
                           "parameter's first update)")
        part = self._parts.get(("state", id(opt)))
        if key is not None and part is not None:  # one entry more, made by numgrad
            before = part[2]
            self._parts[("state", id(opt))] = (part[0], part[1], (before[0] + 1,) + before[1:])
        self._new[id(per_param)] = description

    def leave_update(self, opt, args: tuple) -> None:
        """After ``opt._update(*args)``: what it changed is what a replay changes."""
        if len(args) > 3 and isinstance(args[3], dict):
            per_param = args[3]
            description = self._new.pop(id(per_param), None)
            if description is not None:  # its entries are known now
                self._add(id(per_param), opt, _state_dict_slots(per_param, description))
        for key in self._update_keys(opt, args):
            self._refresh(key)

    def enter_scheduler(self) -> None:
        """Before a learning-rate scheduler's ``step()`` (replayed): nothing changed since the last replayed call."""
        for key in list(self._parts):
            self._check(key)

    def leave_scheduler(self) -> None:
        for key in list(self._parts):
            self._refresh(key)

    def finish(self) -> Optional[str]:
        """After the step: the first change a replay would not make (see the class docstring), or None."""
        for key in list(self._parts):
            self._check(key)
        return None if self.change is None else self.change[1]
