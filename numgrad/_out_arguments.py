"""``out=`` for every ``numgrad`` function whose PyTorch counterpart takes it.

PyTorch's functions write into a given tensor with ``out=`` (``torch.cumsum(x, 0, out=buf)``,
``torch.max(x, 1, out=(values, indices))``).  Which ones do is read from PyTorch's ATen schemas by
``tools/gen_torch_names.py`` into ``_torch_names.json`` (``out_arguments``: name -> how many tensors ``out``
takes).  ``install`` wraps each such function of the ``numgrad`` namespace that has no ``out`` parameter of its
own: the function computes its result as usual, and ``write_out`` writes it into ``out`` with PyTorch's rules
(no autograd through ``out=``, a result dtype that casts to ``out``'s kind, ``out`` resized to the result's
shape with PyTorch's deprecation warning when it had elements) and returns ``out``.  A function with a
``dtype=`` (a factory such as ``zeros`` or ``arange``; ``sum``, ``cumsum``) takes ``out``'s, as PyTorch's do.

>>> import numgrad as ng
>>> buf = ng.empty(3)
>>> ng.cumsum(ng.tensor([1., 2., 3.]), 0, out=buf) is buf, buf
(True, tensor([1., 3., 6.]))
"""
from __future__ import annotations

import functools
import inspect
import json
import os
from typing import Callable

from .ops.elementwise_functions import write_out
from .tensor import Tensor

_NAMES_FILE = os.path.join(os.path.dirname(__file__), "_torch_names.json")


def _tensors_in(args: tuple, kwargs: dict) -> list:
    """The tensors among the arguments, one level into lists and tuples (``cat``'s sequence)."""
    found = []
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, Tensor):
            found.append(a)
        elif isinstance(a, (list, tuple)):
            found.extend(t for t in a if isinstance(t, Tensor))
    return found


def write_outs(name: str, result, out, inputs: list):
    """``result`` (a tensor, or a tuple of them: ``sort``'s values and indices) written into ``out``; returns
    ``out`` (as the result's named tuple type when it has one)."""
    if isinstance(result, Tensor):
        return write_out(name, result, out, inputs)
    if not isinstance(result, tuple):
        raise TypeError(f"{name}(): out= is not supported: it returns a {type(result).__name__}, not tensors")
    if not isinstance(out, (tuple, list)) or len(out) != len(result):
        raise TypeError(f"{name}(): argument 'out' must be a tuple of {len(result)} Tensors, not "
                        f"{type(out).__name__}" + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
    written = [write_out(name, r, o, inputs) for r, o in zip(result, out)]
    return type(result)(*written) if hasattr(result, "_fields") else tuple(written)


def with_out(fn: Callable, name: str) -> Callable:
    """``fn`` taking PyTorch's keyword ``out=`` as well (see the module docstring)."""
    params = inspect.signature(fn).parameters
    factory_keys = [k for k in ("dtype", "device") if k in params]

    @functools.wraps(fn)
    def wrapper(*args, out=None, **kwargs):
        if out is None:
            return fn(*args, **kwargs)
        if factory_keys and isinstance(out, Tensor):
            # as in PyTorch, out's dtype is the dtype= of a function that takes one (a factory's values, the
            # accumulation of sum and cumsum), and a factory makes its values on out's device
            for key in factory_keys:
                kwargs.setdefault(key, getattr(out, key))
        return write_outs(name, fn(*args, **kwargs), out, _tensors_in(args, kwargs))

    out_parameter = inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, default=None)
    wrapper.__signature__ = inspect.signature(fn).replace(parameters=list(params.values()) + [out_parameter])
    return wrapper


def _takes_out(fn) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # no Python signature: left as it is
        return True
    return "out" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def install(namespace: dict) -> None:
    """Give ``out=`` to the functions of ``namespace`` (``numgrad``'s) that PyTorch's take it with and that do not
    already (see the module docstring)."""
    with open(_NAMES_FILE, encoding="utf-8") as f:
        names = json.load(f)["out_arguments"]
    for name in names:
        fn = namespace.get(name)
        if fn is None or inspect.isclass(fn) or not callable(fn) or _takes_out(fn):
            continue
        namespace[name] = with_out(fn, name)
