"""Parameter containers (PyTorch's ``nn.ParameterList`` and ``nn.ParameterDict``): each entry is registered as a
parameter of the container (named ``0``, ``1``... or by its key), so ``parameters()``, ``state_dict()``,
``to()`` and the optimizers see it; a plain tensor is wrapped in a ``Parameter``, as in PyTorch."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable, Iterator, Mapping, Optional, Tuple, Union

from ...tensor import Tensor
from ..parameter import Parameter
from .module import Module

__all__ = ["ParameterList", "ParameterDict"]


def _as_parameter(value: Any) -> Any:
    return Parameter(value) if isinstance(value, Tensor) and not isinstance(value, Parameter) else value


def _describe(p: Any, type_name: str) -> str:
    if not isinstance(p, Tensor):
        return f"Object of type: {type(p).__name__}"
    size = "x".join(str(s) for s in p.shape)
    device = f" ({p.device})" if p.device.type == "cuda" else ""
    kind = "Parameter" if isinstance(p, Parameter) else "Tensor"
    return f"{kind} containing: [{type_name} of size {size}{device}]"


def _assign(container: Module, name: str, value: Any) -> None:
    """Set entry ``name``; a parameter replacing a parameter keeps its place in ``state_dict`` order."""
    if not isinstance(value, Parameter):
        # Module.__setattr__ refuses a non-Parameter over a registered parameter: unregister it first
        container._parameters.pop(name, None)
    setattr(container, name, value)


class ParameterList(Module):
    """A list of parameters, indexed like a Python list.

    >>> import numgrad as ng
    >>> params = ng.nn.ParameterList([ng.nn.Parameter(ng.zeros(2)), ng.ones(3)])
    >>> [tuple(p.shape) for p in params], len(list(params.parameters()))
    ([(2,), (3,)], 2)
    """

    def __init__(self, values: Optional[Iterable[Any]] = None):
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def _get_abs_string_index(self, idx: int) -> str:
        idx = int(idx)
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} is out of range")
        return str(idx % len(self))

    def __getitem__(self, idx: Union[int, slice]) -> Any:
        if isinstance(idx, slice):
            return ParameterList(self[i] for i in range(*idx.indices(len(self))))
        return getattr(self, self._get_abs_string_index(idx))

    def __setitem__(self, idx: int, param: Any) -> None:
        _assign(self, self._get_abs_string_index(idx), _as_parameter(param))

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Any]:
        return iter(self[i] for i in range(len(self)))

    def __iadd__(self, parameters: Iterable[Any]) -> "ParameterList":
        return self.extend(parameters)

    def __dir__(self):
        return [k for k in super().__dir__() if not k.isdigit()]

    def append(self, value: Any) -> "ParameterList":
        """Add ``value`` at the end.

        >>> import numgrad as ng
        >>> len(ng.nn.ParameterList().append(ng.zeros(1)))
        1
        """
        self._size += 1
        self[len(self) - 1] = value
        return self

    def extend(self, values: Iterable[Any]) -> "ParameterList":
        """Append every value of ``values``.

        >>> import numgrad as ng
        >>> len(ng.nn.ParameterList().extend([ng.zeros(1), ng.zeros(2)]))
        2
        """
        if isinstance(values, (str, bytes, Tensor)) or not hasattr(values, "__iter__"):
            raise TypeError("ParameterList.extend should be called with an iterable, but got " + type(values).__name__)
        for value in values:
            self.append(value)
        return self

    def extra_repr(self) -> str:
        return "\n".join(f"({k}): " + _describe(p, f"numgrad.{p.dtype.name}" if isinstance(p, Tensor) else "")
                         for k, p in enumerate(self))

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterList should not be called.")


class ParameterDict(Module):
    """An ordered dictionary of parameters keyed by strings.

    >>> import numgrad as ng
    >>> params = ng.nn.ParameterDict({"scale": ng.ones(2)})
    >>> list(params.state_dict()), isinstance(params["scale"], ng.nn.Parameter)
    (['scale'], True)
    """

    def __init__(self, parameters: Any = None):
        super().__init__()
        self._keys: "OrderedDict[str, None]" = OrderedDict()
        if parameters is not None:
            self.update(parameters)

    def _key(self, key: Any) -> str:
        if not isinstance(key, str):
            raise TypeError(f"ParameterDict keys must be strings, got {type(key).__name__}")
        return key

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        key = self._key(key)
        self._keys[key] = None
        _assign(self, key, _as_parameter(value))

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __reversed__(self) -> Iterator[str]:
        return reversed(list(self._keys))

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def keys(self):
        """The keys, in insertion order."""
        return self._keys.keys()

    def items(self) -> Iterable[Tuple[str, Any]]:
        """``(key, parameter)`` pairs, in insertion order."""
        return [(k, self[k]) for k in self._keys]

    def values(self) -> Iterable[Any]:
        """The parameters, in insertion order."""
        return [self[k] for k in self._keys]

    def get(self, key: str, default: Any = None) -> Any:
        """``self[key]`` if present, else ``default``."""
        return self[key] if key in self else default

    def setdefault(self, key: str, default: Any = None) -> Any:
        """``self[key]``, first setting it to ``default`` when absent."""
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key: str) -> Any:
        """Remove ``key`` and return its parameter."""
        value = self[key]
        del self[key]
        return value

    def popitem(self) -> Tuple[str, Any]:
        """Remove and return the last inserted ``(key, parameter)``."""
        key = next(reversed(self._keys))
        return key, self.pop(key)

    def clear(self) -> None:
        """Remove every entry."""
        for key in list(self._keys):
            del self[key]

    def copy(self) -> "ParameterDict":
        """A new ParameterDict holding the same parameters."""
        return ParameterDict(OrderedDict(self.items()))

    def update(self, parameters: Any) -> None:
        """Add (or replace) entries from a mapping, a ParameterDict or an iterable of ``(key, value)`` pairs.

        >>> import numgrad as ng
        >>> d = ng.nn.ParameterDict(); d.update([("a", ng.zeros(1))]); list(d)
        ['a']
        """
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            pairs = list(parameters.items())
        elif isinstance(parameters, Mapping):
            pairs = sorted(parameters.items())
        else:
            if not hasattr(parameters, "__iter__"):
                raise TypeError("ParametersDict.update should be called with an iterable of key/value pairs, but "
                                "got " + type(parameters).__name__)
            pairs = []
            for j, p in enumerate(parameters):
                if not hasattr(p, "__iter__") or isinstance(p, (str, Tensor)):
                    raise TypeError(f"ParameterDict update sequence element #{j} should be Iterable; is "
                                    + type(p).__name__)
                p = tuple(p)
                if len(p) != 2:
                    raise ValueError(f"ParameterDict update sequence element #{j} has length {len(p)}; 2 is required")
                pairs.append(p)
        for key, value in pairs:
            self[key] = value

    def extra_repr(self) -> str:
        return "\n".join(f"({k}): " + _describe(p, p._type_name() if isinstance(p, Tensor) else "")
                         for k, p in self.items())

    def __call__(self, input=None):
        raise RuntimeError("ParameterDict should not be called.")
