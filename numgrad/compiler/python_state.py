"""The Python side of the optimizers' and schedulers' state around one recorded call.

A capture checks its plan by replaying it against the recorded calls (``plan.verify``), and a replay calls each
recorded ``Optimizer._update`` and learning-rate scheduler ``step()`` again.  Whatever those calls change in
Python must therefore start each verifying replay as the recorded call found it, and end as that call left it
(as if the check never ran):

- what the optimizers' per-parameter state dicts, parameter groups and attributes, and the schedulers'
  attributes, are bound to (Adam's step count, an ``_update`` override counting its calls or rebinding a list,
  a scheduler's epoch); tensors are the plan's, and rebinding one is refused before (``api._rebinding``);
- the contents of the lists, dicts, sets, deques and NumPy arrays they hold, and the attributes of plain objects
  they hold (an ``_update`` override appending to a history, counting into an array).

The replay must end with that state as the recorded call left it, compared by value (``_structure``: a list
rebound to an equal one is the same).  Before, a verifying replay left such a history longer (and such a count
higher) than eager code did.

>>> import numgrad as ng
>>> w = ng.nn.Parameter(ng.ones(2)); opt = ng.optim.SGD([w], lr=0.1)
>>> opt.history = [1]
>>> python = OptimizerPythonState([opt], [])
>>> opt.history.append(2); python.finish()
>>> opt.history.append(3); python.put_back(after=False); opt.history
[1]
>>> python.put_back(after=True); opt.history
[1, 2]
"""
from __future__ import annotations

import collections
import itertools
from typing import Optional

import numpy as np

from ..tensor import Tensor
from .state import _OPTIMIZER_BOOKKEEPING, _is_plain, _is_user_object

# containers and plain objects held by the state are copied this many levels down; the items of a longer one are
# copied but not walked into (each recorded call copies them twice)
_CONTENTS_DEPTH = 3
_MAX_WALKED_ITEMS = 1024
_MISSING = object()


def _holds_contents(value) -> bool:
    return isinstance(value, (list, dict, set, collections.deque, np.ndarray)) or _is_user_object(value)


def _copy_of(value):
    """What ``value`` holds, copied (a plain object's attribute dict, for ``_is_user_object`` values)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, set):
        return set(value)
    if isinstance(value, (list, collections.deque)):
        return list(value)
    return dict(vars(value)) if isinstance(getattr(value, "__dict__", None), dict) else None


def _put_back(value, copy) -> None:
    if isinstance(value, np.ndarray):
        if value.flags.writeable and value.shape == copy.shape:
            np.copyto(value, copy)
    elif isinstance(value, list):
        value[:] = copy
    elif isinstance(value, (dict, set)):
        value.clear()
        value.update(copy)
    elif isinstance(value, collections.deque):
        value.clear()
        value.extend(copy)
    else:
        attributes = vars(value)
        attributes.clear()
        attributes.update(copy)


def _structure(value, depth: int = 0):
    """A comparable description of ``value``: plain values and the bytes of arrays and NumPy scalars, the items of
    containers and the attributes of plain objects (down to ``_CONTENTS_DEPTH`` levels, ``_MAX_WALKED_ITEMS`` items
    each, and the length), anything else by identity.  A container rebound to an equal one is the same (an
    ``_update`` override may build a new list each call, ``self.seen = self.seen + [n]``)."""
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return type(value).__name__, value
    if isinstance(value, (float, complex)):
        return type(value).__name__, repr(value)  # NaN is itself, and 0.0 is not -0.0
    if isinstance(value, np.generic):
        return "scalar", value.dtype.str, value.tobytes()
    if isinstance(value, np.ndarray):
        return "array", value.shape, value.dtype.str, value.tobytes()
    if depth >= _CONTENTS_DEPTH:
        return "id", id(value)
    if isinstance(value, (list, tuple, collections.deque)):
        items = itertools.islice(value, _MAX_WALKED_ITEMS)
        return type(value).__name__, len(value), tuple([_structure(v, depth + 1) for v in items])
    if isinstance(value, dict):
        items = itertools.islice(value.items(), _MAX_WALKED_ITEMS)
        return "dict", len(value), tuple([(_key(k), _structure(v, depth + 1)) for k, v in items])
    if isinstance(value, set):
        return "set", frozenset(_key(k) for k in value)
    if _is_user_object(value) and isinstance(getattr(value, "__dict__", None), dict):
        return "object", id(value), _structure(vars(value), depth + 1)
    return "id", id(value)


def _key(key):
    """A dict key or set item as ``_structure`` compares it: a plain value itself, anything else (a tensor: its
    ``==`` is elementwise) by identity."""
    return key if _is_plain(key) else ("id", id(key))


def _contents(roots: list) -> list:
    """(object, a copy of what it holds) for every container, NumPy array and plain object reachable from
    ``roots`` (values), each once, down to ``_CONTENTS_DEPTH`` levels; tensors are the plan's, not walked."""
    out, seen = [], set()
    stack = [(value, 0) for value in roots]
    while stack:
        value, depth = stack.pop()
        if depth > _CONTENTS_DEPTH or id(value) in seen or not _holds_contents(value):
            continue
        seen.add(id(value))
        copy = _copy_of(value)
        if copy is None:  # a slotted object: its attributes are not walked
            continue
        out.append((value, copy))
        if isinstance(value, np.ndarray):
            continue
        items = copy.values() if isinstance(copy, dict) else copy
        for k, item in enumerate(items):
            if k >= _MAX_WALKED_ITEMS:
                break
            stack.append((item, depth + 1))
    return out


class OptimizerPythonState:
    """The optimizers' and schedulers' Python state before one recorded call (made then) and after it
    (``finish``): what a verifying replay starts from (``put_back(after=False)``) and must end with
    (``difference``), or is reset to when it does not (``put_back(after=True)``).  See the module docstring."""

    def __init__(self, optimizers, schedulers):
        dicts = [d for opt in optimizers for d in list(opt.state.values()) + list(opt.param_groups)
                 if isinstance(d, dict)]
        dicts += [vars(opt) for opt in optimizers] + [vars(s) for s in schedulers]
        # ``_rebinding`` checks the tensors of these dicts against this
        self.dicts_before = [(d, dict(d)) for d in dicts]
        # an optimizer's ``state`` and ``param_groups`` are numgrad's (their dicts are above); its hook lists and
        # the wrappers of its ``step`` and ``_update`` are not state an update changes
        own = {id(vars(opt)) for opt in optimizers}
        self._roots = [(d, id(d) in own) for d in dicts]
        self._before = self._snapshot()
        self._after: tuple = ([], [])
        self._after_described: list = []

    def _snapshot(self) -> tuple:
        """(each dict's values that are put back: not tensors, which the plan binds, nor numgrad's bookkeeping;
        a copy of what each container, array and plain object reachable from them holds)."""
        bindings = [(d, {k: v for k, v in d.items() if not (isinstance(v, Tensor) or
                                                            (is_optimizer and k in _OPTIMIZER_BOOKKEEPING))})
                    for d, is_optimizer in self._roots]
        return bindings, _contents([v for _, values in bindings for v in values.values()])

    def _described(self) -> list:
        """``_structure`` of each value the recorded call left bound, as it is now."""
        return [(d, {k: _structure(d.get(k, _MISSING)) for k in values}) for d, values in self._after[0]]

    def finish(self) -> None:
        """After the recorded call: what it left."""
        self._after = self._snapshot()
        self._after_described = self._described()

    def put_back(self, after: bool) -> None:
        """Set the state as the recorded call found it (or, ``after``, left it): each value bound again, and what
        each container, array and plain object held."""
        bindings, contents = self._after if after else self._before
        for d, values in bindings:
            d.update(values)
        for value, copy in contents:
            _put_back(value, copy)

    def difference(self) -> Optional[str]:
        """Why the state is not as the recorded call left it (a replay's optimizer updates changed it otherwise),
        or None."""
        for (d, now), (_, then), (_, values) in zip(self._described(), self._after_described, self._after[0]):
            for k, structure in then.items():
                if now[k] == structure:
                    continue
                got, want = d.get(k, _MISSING), values[k]
                if _is_plain(got) and _is_plain(want):
                    return f"replaying the optimizer update leaves its state '{k}' at {got!r}, not {want!r}"
                return (f"replaying the optimizer update leaves its state '{k}' (a {type(want).__name__}) other "
                        "than the eager step did")
        return None
