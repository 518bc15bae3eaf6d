"""``Module``: the base class of layers and models, with PyTorch's bookkeeping.

Parameters, buffers and submodules are registered by attribute assignment and
kept in ordered dicts, so ``named_parameters()`` and ``state_dict()`` keys come
out in definition order with PyTorch's dotted names (``0.weight``,
``features.1.running_mean``): weights move between numgrad and PyTorch by
converting the values of a state dict.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple

import numpy as np

from ... import _dtypes
from ...autograd.grad_mode import no_grad
from ...device import Device, as_device
from ...ops.elementwise import copy_into
from ...tensor import Tensor
from ..parameter import UNINITIALIZED_SHAPE, Buffer, Parameter, is_lazy


def _as_array(value, key: str, module_name: str) -> np.ndarray:
    """The array behind a state-dict value: a Tensor, a NumPy array or anything with ``__array__``."""
    if isinstance(value, Tensor):
        return value._data
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "__array__") or isinstance(value, (int, float, bool, list)):
        if hasattr(value, "detach"):  # a torch tensor that requires grad refuses __array__
            value = value.detach()
        return np.asarray(value)
    raise TypeError(
        f"While copying the parameter named \"{key}\" of {module_name}, expected a Tensor or array "
        f"in the state dict but got {type(value).__name__}"
    )


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class _IncompatibleKeys(tuple):
    """``(missing_keys, unexpected_keys)`` as returned by ``load_state_dict``."""

    def __new__(cls, missing_keys, unexpected_keys):
        self = super().__new__(cls, (missing_keys, unexpected_keys))
        return self

    @property
    def missing_keys(self) -> list:
        return self[0]

    @property
    def unexpected_keys(self) -> list:
        return self[1]

    def __repr__(self) -> str:
        if not self[0] and not self[1]:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self[0]}, unexpected_keys={self[1]})"


# how many plain attributes (not parameters, buffers or submodules) were set on any module so far: ng.compile
# reads the modules' plain attributes it guards (a dropout's p, an eps) again only when this number moved
plain_attribute_writes = [0]


class Module:
    """Base class for all neural-network modules.

    Subclasses call ``super().__init__()`` first, assign parameters, buffers
    and submodules as attributes, and define ``forward``.

    >>> import numgrad as ng
    >>> class Affine(ng.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = ng.nn.Parameter(ng.ones(3))
    ...     def forward(self, x):
    ...         return x * self.scale
    >>> m = Affine()
    >>> [name for name, _ in m.named_parameters()]
    ['scale']
    >>> m(ng.ones(3)).shape
    (3,)
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())

    # ------------------------------------------------------------ calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------ registration
    def _check_init(self) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign module attributes before Module.__init__() call")

    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        """Add a parameter (or ``None``) under ``name``.

        >>> import numgrad as ng
        >>> m = ng.nn.Module(); m.register_parameter("w", ng.nn.Parameter(ng.zeros(2)))
        >>> list(m.state_dict())
        ['w']
        """
        self._check_init()
        self._check_name(name, "parameter")
        if name in self.__dict__ and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{param._type_name() if isinstance(param, Tensor) else type(param).__name__}' "
                f"object to parameter '{name}' (numgrad.nn.Parameter or None required)"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Optional[Tensor], persistent: bool = True) -> None:
        """Add a buffer: state that is saved in ``state_dict`` but is not a parameter.

        >>> import numgrad as ng
        >>> m = ng.nn.Module(); m.register_buffer("running_mean", ng.zeros(3))
        >>> m.running_mean
        tensor([0., 0., 0.])
        """
        self._check_init()
        self._check_name(name, "buffer")
        if (name in self.__dict__ or name in self._parameters or name in self._modules) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (numgrad Tensor or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Optional["Module"]) -> None:
        """Add a child module under ``name``."""
        self._check_init()
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        if name in self.__dict__ and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    @staticmethod
    def _check_name(name, kind: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain "."')

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._remove_from(name, self.__dict__, self._buffers, self._modules)
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{value._type_name() if isinstance(value, Tensor) else type(value).__name__}' "
                    f"as parameter '{name}' (numgrad.nn.Parameter or None expected)"
                )
            params[name] = None
            return
        if isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._remove_from(name, self.__dict__, self._parameters, self._buffers)
            self._modules[name] = value
            return
        modules = self.__dict__.get("_modules")
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(numgrad.nn.Module or None expected)")
            modules[name] = None
            return
        buffers = self.__dict__.get("_buffers")
        if isinstance(value, Buffer):
            # nn.Buffer: assignment registers it, with its own persistence (as PyTorch's)
            self.register_buffer(name, value, value.persistent)
            return
        if buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(numgrad.nn.Buffer, numgrad Tensor or None expected)")
            buffers[name] = value
            return
        plain_attribute_writes[0] += 1
        object.__setattr__(self, name, value)

    @staticmethod
    def _remove_from(name, *dicts) -> None:
        for d in dicts:
            if name in d:
                del d[name]

    def __getattr__(self, name: str):
        # only called when normal lookup fails: look in the registries
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            reg = d.get(registry)
            if reg is not None and name in reg:
                return reg[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    # ------------------------------------------------------------ traversal
    def named_modules(self, memo: Optional[set] = None, prefix: str = "", remove_duplicate: bool = True
                      ) -> Iterator[Tuple[str, "Module"]]:
        """Every module of the tree (this one first) with its dotted name.

        >>> import numgrad as ng
        >>> [n for n, _ in ng.nn.Sequential(ng.nn.ReLU()).named_modules()]
        ['', '0']
        """
        if memo is None:
            memo = set()
        if self in memo and remove_duplicate:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        """Every module of the tree, this one first."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[Tuple[str, "Module"]]:
        """Direct submodules with their names."""
        seen = set()
        for name, module in self._modules.items():
            if module is not None and module not in seen:
                seen.add(module)
                yield name, module

    def children(self) -> Iterator["Module"]:
        """Direct submodules."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, get_members, prefix: str, recurse: bool, remove_duplicate: bool = True):
        memo = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in get_members(module):
                if value is None or (remove_duplicate and id(value) in memo):
                    continue
                if remove_duplicate:
                    memo.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
                         ) -> Iterator[Tuple[str, Parameter]]:
        """Parameters with their dotted names (shared parameters once).

        >>> import numgrad as ng
        >>> [n for n, _ in ng.nn.Linear(2, 3).named_parameters()]
        ['weight', 'bias']
        """
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters (what an optimizer updates).

        >>> import numgrad as ng
        >>> sum(p.numel() for p in ng.nn.Linear(2, 3).parameters())
        9
        """
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
                      ) -> Iterator[Tuple[str, Tensor]]:
        """Buffers with their dotted names."""
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """The buffers (running statistics and other non-learned state)."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> "Module":
        """The submodule at dotted path ``target``."""
        module = self
        if target == "":
            return module
        for item in target.split("."):
            if item not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no attribute `{item}`")
            module = module._modules[item]
        return module

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target``."""
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if name not in module._parameters:
            raise AttributeError(f"{type(module).__name__} has no parameter `{name}`")
        return module._parameters[name]

    # ------------------------------------------------------------ modes and utilities
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (dropout active, batch norm uses batch statistics).

        >>> import numgrad as ng
        >>> ng.nn.Dropout().train(False).training
        False
        """
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        plain_attribute_writes[0] += 1  # a compiled step's guard key holds the flags (``ng.compile``)
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        """Set evaluation mode; same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Set ``requires_grad`` on every parameter."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter (to ``None`` by default, as PyTorch does)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                if p.grad.grad_fn is not None:
                    p.grad = p.grad.detach()
                else:
                    p.grad.requires_grad_(False)
                p.grad.zero_()

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        """Call ``fn`` on every submodule (children first) and on this module.

        >>> import numgrad as ng
        >>> names = []
        >>> _ = ng.nn.Sequential(ng.nn.ReLU()).apply(lambda m: names.append(type(m).__name__))
        >>> names
        ['ReLU', 'Sequential']
        """
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def to(self, *args, **kwargs) -> "Module":
        """Move and/or cast parameters and buffers: ``m.to('cuda')``, ``m.to(ng.float64)``,
        ``m.to('cuda', ng.float64)``, ``m.to(device=..., dtype=...)`` or ``m.to(tensor)`` (its device and dtype).

        As in PyTorch, a dtype applies to floating-point parameters and buffers only,
        and parameters stay the same ``Parameter`` objects - their data (and ``.grad``)
        is replaced - so an optimizer made before the move keeps updating them.

        >>> import numgrad as ng
        >>> lin = ng.nn.Linear(2, 3)
        >>> w = lin.weight
        >>> lin.to(ng.float64).weight is w, w.dtype
        (True, numgrad.float64)
        """
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to() received an invalid combination of arguments - got unexpected keyword "
                            f"argument '{next(iter(kwargs))}'")
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, (str, Device)):
                device = a
            elif isinstance(a, bool):
                continue  # non_blocking: transfers are synchronous
            else:
                dtype = a
        if dtype is not None:
            dtype = _dtypes.as_dtype(dtype)
            if not dtype.is_floating_point:
                raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype}")
        if device is not None:
            device = as_device(device)
        if dtype is None and device is None:
            return self

        def converted(t: Tensor) -> Optional[Tensor]:
            """``t`` on ``device`` with ``dtype`` (floating point only), or None when it already is."""
            want = dtype if dtype is not None and t.dtype.is_floating_point and t.dtype != dtype else None
            move = device if device is not None and t.device != device else None
            if want is None and move is None:
                return None
            return t.detach().to(device=move, dtype=want)

        def swap_data(t: Tensor, new: Tensor) -> None:
            t._data = new._data  # what PyTorch's ``param.data = ...`` does: same object, new storage (and device)

        with no_grad():
            for m in self.modules():
                for p in m._parameters.values():
                    if p is None:
                        continue
                    new = converted(p)
                    if new is not None:
                        swap_data(p, new)
                    if p.grad is not None:
                        new = converted(p.grad)
                        if new is not None:
                            swap_data(p.grad, new)
                for name, b in m._buffers.items():
                    if b is not None:
                        new = converted(b)
                        if new is not None and is_lazy(b):
                            swap_data(b, new)  # a placeholder stays one, with the new dtype/device (as PyTorch)
                        elif new is not None:
                            m._buffers[name] = new
        return self

    def double(self) -> "Module":
        """Cast floating-point parameters and buffers to float64."""
        return self.to(_dtypes.float64)

    def float(self) -> "Module":
        """Cast floating-point parameters and buffers to float32."""
        return self.to(_dtypes.float32)

    def cpu(self) -> "Module":
        """Move parameters and buffers to the CPU (see ``to``)."""
        return self.to("cpu")

    def cuda(self, device=None) -> "Module":
        """Move parameters and buffers to the GPU (see ``to``); parameters keep their identity."""
        if device is None:
            device = "cuda"
        elif isinstance(device, int) and not isinstance(device, bool):
            device = f"cuda:{device}"
        return self.to(device)

    # ------------------------------------------------------------ state dict
    def state_dict(self, destination: Optional[dict] = None, prefix: str = "", keep_vars: bool = False) -> Dict[str, Tensor]:
        """Parameters and persistent buffers by dotted name (PyTorch's keys and shapes).

        Values share memory with the module (detached unless ``keep_vars``).

        >>> import numgrad as ng
        >>> {k: v.shape for k, v in ng.nn.Linear(2, 3).state_dict().items()}
        {'weight': (3, 2), 'bias': (3,)}
        """
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        """Copy parameters and buffers from ``state_dict`` (numgrad tensors, NumPy arrays or torch tensors).

        Returns ``(missing_keys, unexpected_keys)``; with ``strict`` (default)
        any missing key, unexpected key or shape mismatch raises PyTorch's error
        and nothing is modified.

        >>> import numgrad as ng
        >>> a, b = ng.nn.Linear(2, 3), ng.nn.Linear(2, 3)
        >>> b.load_state_dict(a.state_dict())
        <All keys matched successfully>
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        for name, module in self.named_modules():
            module._before_load_state_dict(state_dict, name + "." if name else "")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        plan = []
        for key, target in own.items():
            if key not in state_dict or is_lazy(target):  # a placeholder still lazy: loaded from one, as PyTorch
                continue
            if is_lazy(state_dict[key]):
                raise RuntimeError(UNINITIALIZED_SHAPE)
            arr = _as_array(state_dict[key], key, type(self).__name__)
            if tuple(arr.shape) != tuple(target.shape):
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {_size(arr.shape)} from checkpoint, "
                    f"the shape in current model is {_size(target.shape)}."
                )
                continue
            if arr.dtype.kind not in "biuf":
                errors.append(f"value of {key} has unsupported dtype {arr.dtype}")
                continue
            plan.append((key, target, arr))
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors)
            )

        with no_grad():
            for key, target, arr in plan:
                copy_into(target, arr)
        return _IncompatibleKeys(missing, unexpected)

    def _before_load_state_dict(self, state_dict: Mapping[str, Any], prefix: str) -> None:
        """Called on every submodule before ``load_state_dict`` compares shapes (PyTorch's load_state_dict pre-hook
        of lazy modules, which materialize their parameters here); nothing for an ordinary module."""

    # ------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        """The text between the parentheses of this module's repr (override in subclasses)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, module in self._modules.items():
            lines.append(f"({name}): " + _addindent(repr(module), 2))
        head = self._get_name() + "("
        if not lines:
            return head + ")"
        if len(lines) == 1 and not self._modules:
            return head + lines[0] + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"

    def __getstate__(self):
        return self.__dict__.copy()

    def __setstate__(self, state):
        self.__dict__.update(state)


def _size(shape) -> str:
    return f"numgrad.Size({list(shape)})"
