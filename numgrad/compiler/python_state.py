"""The Python side of the optimizers' and schedulers' state around one recorded call.

A capture checks its plan by replaying it against the recorded calls (``plan.verify``), and a replay calls each
recorded ``Optimizer._update`` and learning-rate scheduler ``step()`` again.  Whatever those calls change in
Python must therefore start each verifying replay as the recorded call found it, and end as that call left it
(as if the check never ran):

- the numbers in the optimizers' per-parameter state dicts, parameter groups and attributes, and in the
  schedulers' attributes (Adam's step count, an ``_update`` override counting its calls, a scheduler's epoch);
- the contents of the lists, dicts, sets, deques and NumPy arrays they hold, and the attributes of plain objects
  they hold (an ``_update`` override appending to a history, counting into an array).

Before, a verifying replay left such a history longer (and such a count higher) than eager code did.

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
from typing import Optional

import numpy as np

from .plan import _PYTHON_NUMBERS, _same_leaf
from .state import _OPTIMIZER_BOOKKEEPING, _is_user_object

# containers and plain objects held by the state are copied this many levels down; the items of a longer one are
# copied but not walked into (each recorded call copies them twice)
_CONTENTS_DEPTH = 3
_MAX_WALKED_ITEMS = 1024


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


def _same_item(a, b) -> bool:
    """Items of a container are the same: the same object, or equal plain values (tensors and other objects by
    identity; a NumPy array's contents are compared as its own entry)."""
    if a is b:
        return True
    if isinstance(a, _PYTHON_NUMBERS) and isinstance(b, _PYTHON_NUMBERS):
        return _same_leaf(a, b)
    return False


def _same_contents(value, copy) -> bool:
    if isinstance(value, np.ndarray):
        return (value.shape == copy.shape and value.dtype == copy.dtype
                and value.tobytes() == copy.tobytes())
    if isinstance(value, set):
        return value == copy
    if isinstance(value, (list, collections.deque)):
        return len(value) == len(copy) and all(_same_item(a, b) for a, b in zip(value, copy))
    now = value if isinstance(value, dict) else vars(value)
    return now.keys() == copy.keys() and all(_same_item(now[k], copy[k]) for k in copy)


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
        # the dicts whose numbers are put back; ``_rebinding`` also checks their tensors against ``numbers_before``
        dicts = [d for opt in optimizers for d in list(opt.state.values()) + list(opt.param_groups)
                 if isinstance(d, dict)]
        dicts += [vars(opt) for opt in optimizers] + [vars(s) for s in schedulers]
        self.numbers_before = [(d, dict(d)) for d in dicts]
        self.numbers_after: list = []
        # the containers they hold; an optimizer's ``state`` and ``param_groups`` are numgrad's (their dicts are
        # above), and its hook lists and wrappers are not state an update changes
        own = {id(vars(opt)) for opt in optimizers}
        self._roots = [(d, id(d) in own) for d in dicts]
        self._contents_before = _contents(self._values())
        self._contents_after: list = []

    def _values(self) -> list:
        return [v for d, is_optimizer in self._roots for k, v in d.items()
                if not (is_optimizer and k in _OPTIMIZER_BOOKKEEPING)]

    def finish(self) -> None:
        """After the recorded call: what it left."""
        self.numbers_after = [(d, dict(d)) for d, _ in self.numbers_before]
        self._contents_after = _contents(self._values())

    def put_back(self, after: bool) -> None:
        """Set the state as the recorded call found it (or, ``after``, left it)."""
        numbers = self.numbers_after if after else self.numbers_before
        for d, copy in numbers:
            d.update({k: v for k, v in copy.items() if isinstance(v, _PYTHON_NUMBERS)})
        for value, copy in (self._contents_after if after else self._contents_before):
            _put_back(value, copy)

    def difference(self) -> Optional[str]:
        """Why the state is not as the recorded call left it (a replay's optimizer updates changed it otherwise),
        or None."""
        for d, copy in self.numbers_after:
            for k, v in copy.items():
                if isinstance(v, _PYTHON_NUMBERS) and not _same_leaf(d.get(k), v):
                    return f"replaying the optimizer update leaves its state '{k}' at {d.get(k)!r}, not {v!r}"
        for value, copy in self._contents_after:
            if not _same_contents(value, copy):
                return (f"replaying the optimizer update leaves a {type(value).__name__} it holds other than the "
                        "eager step did")
        return None
