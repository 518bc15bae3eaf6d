"""A call's arguments and a step's outputs as trees: nested tuples, lists and dicts whose tensors are replaced
by numbered slots (``flatten``) and put back, or replaced by something else, later (``rebuild``).

>>> import numgrad as ng
>>> tensors = []
>>> structure = flatten((ng.ones(2), {"lr": 0.1, "y": ng.zeros(1)}), tensors)
>>> len(tensors), [type(v).__name__ for v in leaves(structure)]
(2, ['TensorSlot', 'float', 'TensorSlot'])
>>> rebuild(structure, lambda index: index)
(0, {'lr': 0.1, 'y': 1})
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

from ..tensor import Tensor


class TensorSlot:
    """Where the ``index``-th tensor of a flattened tree was."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


def flatten(value: Any, tensors: list) -> Any:
    """``value`` with every tensor replaced by a ``TensorSlot`` of its index in ``tensors`` (appended there)."""
    if isinstance(value, Tensor):
        tensors.append(value)
        return TensorSlot(len(tensors) - 1)
    if type(value) in (tuple, list):
        return type(value)(flatten(v, tensors) for v in value)
    if type(value) is dict:
        return {k: flatten(v, tensors) for k, v in value.items()}
    return value


def rebuild(structure: Any, leaf: Callable[[int], Any]) -> Any:
    """``structure`` (``flatten``'s) with each slot replaced by ``leaf(its index)``; other leaves kept."""
    if type(structure) is TensorSlot:
        return leaf(structure.index)
    if type(structure) in (tuple, list):
        return type(structure)(rebuild(v, leaf) for v in structure)
    if type(structure) is dict:
        return {k: rebuild(v, leaf) for k, v in structure.items()}
    return structure


def leaves(structure: Any) -> Iterator[Any]:
    """The leaves of a nested tuple/list/dict structure, slots included."""
    if type(structure) in (tuple, list):
        for v in structure:
            yield from leaves(v)
    elif type(structure) is dict:
        for v in structure.values():
            yield from leaves(v)
    else:
        yield structure
