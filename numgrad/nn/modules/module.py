"""``Module``: the base class of layers and models, with PyTorch's bookkeeping.

Parameters, buffers and submodules are registered by attribute assignment and
kept in ordered dicts, so ``named_parameters()`` and ``state_dict()`` keys come
out in definition order with PyTorch's dotted names (``0.weight``,
``features.1.running_mean``): weights move between numgrad and PyTorch by
converting the values of a state dict.
"""
from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple

import numpy as np

from ... import _dtypes
from ...autograd.grad_mode import no_grad
from ...creation import empty_like
from ...device import Device, as_device
from ...ops.elementwise import copy_into
from ...tensor import Tensor
from ..parameter import UNINITIALIZED_SHAPE, Buffer, Parameter, is_lazy
from . import module_hooks
from .module_hooks import (  # the global hooks: PyTorch's names in torch.nn.modules.module (``__all__``)
    CALL_HOOK_DICTS, STATE_HOOK_DICTS, ModuleHooks, _global_backward_hooks, _global_backward_pre_hooks,
    _global_forward_hooks, _global_forward_hooks_always_called, _global_forward_hooks_with_kwargs,
    _global_forward_pre_hooks,
    plain_attribute_writes, register_module_forward_hook, register_module_forward_pre_hook,
    register_module_backward_hook, register_module_full_backward_hook, register_module_full_backward_pre_hook)

_EXTRA_STATE_KEY_SUFFIX = "_extra_state"


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


# the copies a running ``load_state_dict`` collects (per thread): made once every module's keys checked out
_pending_loads = threading.local()


class Module(ModuleHooks):
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
    _version: int = 1  # saved in ``state_dict()._metadata`` (PyTorch's per-class format version)

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        self._init_hooks()

    # ------------------------------------------------------------ calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args, **kwargs):
        # hooks, compile() or global hooks (module_hooks): without any anywhere, forward after one global's check
        if module_hooks.any_call_hooks and self._slow_call:
            return self._wrapped_call_impl(*args, **kwargs)
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
        if (name in self.__dict__ or _is_property(self, name)) and name not in self._parameters:
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
        if ((name in self.__dict__ or name in self._parameters or name in self._modules or _is_property(self, name))
                and name not in self._buffers):
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

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at dotted path ``target``.

        >>> import numgrad as ng
        >>> ng.nn.Sequential(ng.nn.BatchNorm1d(2)).get_buffer("0.running_var")
        tensor([1., 1.])
        """
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if not hasattr(module, name):
            raise AttributeError(module._get_name() + " has no attribute `" + name + "`")
        buffer = getattr(module, name)
        if name not in module._buffers:
            raise AttributeError("`" + name + "` is not a buffer")
        return buffer

    def set_submodule(self, target: str, module: "Module", strict: bool = False) -> None:
        """Put ``module`` at dotted path ``target`` (its parent must exist; with ``strict`` the attribute too).

        >>> import numgrad as ng
        >>> seq = ng.nn.Sequential(ng.nn.Linear(2, 2))
        >>> seq.set_submodule("0", ng.nn.ReLU()); seq
        Sequential(
          (0): ReLU()
        )
        """
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        atoms = target.split(".")
        if not isinstance(module, Module):
            raise ValueError("`module` is not an nn.Module, found " + str(type(module)))
        parent = self if len(atoms) == 1 else self.get_submodule(".".join(atoms[:-1]))
        if strict and not hasattr(parent, atoms[-1]):
            raise AttributeError(parent._get_name() + " has no attribute `" + atoms[-1] + "`")
        if hasattr(parent, atoms[-1]) and not isinstance(getattr(parent, atoms[-1]), Module):
            raise AttributeError("`" + atoms[-1] + "` is not an nn.Module")
        setattr(parent, atoms[-1], module)

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
        # channels_last (channels_last_3d) lays out the 4-D (5-D) parameters and buffers, as PyTorch's does
        layout = kwargs.pop("memory_format", None)
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
        if dtype is None and device is None and layout is None:
            return self

        def converted(t: Tensor) -> Optional[Tensor]:
            """``t`` on ``device`` with ``dtype`` (floating point only) and the layout, or None when it already is."""
            want = dtype if dtype is not None and t.dtype.is_floating_point and t.dtype != dtype else None
            move = device if device is not None and t.device != device else None
            lay = layout if layout is not None and t.ndim in (4, 5) else None
            if want is None and move is None and (lay is None or t.is_contiguous(memory_format=lay)):
                return None
            return t.detach().to(device=move, dtype=want, memory_format=lay)

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

    def half(self) -> "Module":
        """Cast floating-point parameters and buffers to float16 (stored in 16 bits, computed in float32).

        >>> import numgrad as ng
        >>> ng.nn.Linear(1, 1).half().weight.dtype
        numgrad.float16
        """
        return self.to(_dtypes.float16)

    def bfloat16(self) -> "Module":
        """Cast floating-point parameters and buffers to bfloat16.

        >>> import numgrad as ng
        >>> ng.nn.Linear(1, 1).bfloat16().weight.dtype
        numgrad.bfloat16
        """
        return self.to(_dtypes.bfloat16)

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> "Module":
        """``fn`` on every parameter (and its ``.grad``) and buffer (PyTorch's private ``_apply``, which some
        libraries call): parameters keep their identity (their data is replaced, as PyTorch's
        ``param.data = fn(param)``), buffers are replaced."""
        with no_grad():
            for m in (self.modules() if recurse else (self,)):
                for p in m._parameters.values():
                    if p is None:
                        continue
                    p._data = fn(p)._data
                    if p.grad is not None:
                        p.grad._data = fn(p.grad)._data
                for name, b in m._buffers.items():
                    if b is not None:
                        m._buffers[name] = fn(b)
        return self

    def type(self, dst_type) -> "Module":
        """Cast every parameter and buffer (integer ones included, as PyTorch's) to ``dst_type``.

        >>> import numgrad as ng
        >>> ng.nn.Linear(1, 1).type(ng.float64).weight.dtype
        numgrad.float64
        """
        return self._apply(lambda t: t.type(dst_type))

    def to_empty(self, *, device, recurse: bool = True) -> "Module":
        """Give every parameter and buffer new, uninitialized memory on ``device`` (same shapes and dtypes).

        >>> import numgrad as ng
        >>> ng.nn.Linear(2, 1).to_empty(device="cpu").weight.shape
        (1, 2)
        """
        return self._apply(lambda t: empty_like(t, device=device), recurse)

    def share_memory(self) -> "Module":
        """Not supported: PyTorch moves the parameters and buffers into shared memory for other processes
        (``Tensor.share_memory_``); numgrad tensors live in process-private NumPy (or CUDA) memory
        (``Tensor.is_shared()`` is False), so processes would silently train copies.

        >>> import numgrad as ng
        >>> ng.nn.Linear(1, 1).share_memory()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        NotImplementedError: Module.share_memory: numgrad tensors cannot be moved to shared memory ...
        """
        raise NotImplementedError("Module.share_memory: numgrad tensors cannot be moved to shared memory (they live in "
                                  "process-private NumPy or CUDA memory), so other processes would update copies; "
                                  "share parameters between processes by sending their values (state_dict) instead")

    # ------------------------------------------------------------ state dict
    def get_extra_state(self) -> Any:
        """Override (with ``set_extra_state``) to save non-tensor state in ``state_dict`` under ``_extra_state``.

        >>> import numgrad as ng
        >>> class Counter(ng.nn.Module):
        ...     def __init__(self):
        ...         super().__init__(); self.calls = 3
        ...     def get_extra_state(self):
        ...         return {"calls": self.calls}
        ...     def set_extra_state(self, state):
        ...         self.calls = state["calls"]
        >>> dict(Counter().state_dict())
        {'_extra_state': {'calls': 3}}
        """
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be called: a module "
                           "that saves extra state overrides get_extra_state and set_extra_state")

    def set_extra_state(self, state: Any) -> None:
        """Restore what ``get_extra_state`` returned (``load_state_dict`` calls it with the ``_extra_state`` value)."""
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be called: a module "
                           "that saves extra state overrides get_extra_state and set_extra_state")

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        """This module's own entries (not its submodules'): parameters, persistent buffers, extra state."""
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = b if keep_vars else b.detach()
        if getattr(type(self), "get_extra_state", Module.get_extra_state) is not Module.get_extra_state:
            destination[prefix + _EXTRA_STATE_KEY_SUFFIX] = self.get_extra_state()

    def state_dict(self, *args, destination: Optional[dict] = None, prefix: str = "",
                   keep_vars: bool = False) -> Dict[str, Any]:
        """Parameters, persistent buffers and extra state by dotted name (PyTorch's keys and shapes).

        Values share memory with the module (detached unless ``keep_vars``).  State-dict pre-hooks run before a
        module is saved, post-hooks after it and its submodules were; the returned ``OrderedDict`` has
        PyTorch's ``_metadata`` (each module's ``version``).

        >>> import numgrad as ng
        >>> {k: v.shape for k, v in ng.nn.Linear(2, 3).state_dict().items()}
        {'weight': (3, 2), 'bias': (3,)}
        """
        if args:
            warnings.warn("Positional args are being deprecated, use kwargs instead. Refer to "
                          "https://pytorch.org/docs/main/generated/torch.nn.Module.html#torch.nn.Module.state_dict"
                          " for details.", FutureWarning, stacklevel=2)
            if destination is None:
                destination = args[0]
            if len(args) > 1 and prefix == "":
                prefix = args[1]
            if len(args) > 2 and keep_vars is False:
                keep_vars = args[2]
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        local_metadata = dict(version=self._version)
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = local_metadata
        for hook in self._state_dict_pre_hooks.values():
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        for hook in self._state_dict_hooks.values():
            result = hook(self, destination, prefix, local_metadata)
            if not getattr(hook, "_from_public_api", False):
                if result is not None:
                    destination = result
            elif result is not None:
                raise RuntimeError("state_dict post-hook must return None")
        return destination

    def _load_from_state_dict(self, state_dict: dict, prefix: str, local_metadata: dict, strict: bool,
                              missing_keys: list, unexpected_keys: list, error_msgs: list) -> None:
        """Load this module's own entries (PyTorch's signature, which subclasses override to convert old keys).

        Under ``load_state_dict`` the copies are collected and made only once every key checked out (a size
        mismatch anywhere leaves the whole model as it was); called directly, they are made here.
        """
        self._before_load_state_dict(state_dict, prefix)
        for hook in self._load_state_dict_pre_hooks.values():
            hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
        local_state = {k: v for k, v in self._parameters.items() if v is not None}
        local_state.update((k, v) for k, v in self._buffers.items()
                           if v is not None and k not in self._non_persistent_buffers)
        pending = getattr(_pending_loads, "plan", None)
        copies = [] if pending is None else pending[0]
        assign = local_metadata.get("assign_to_params_buffers", False)
        for name, target in local_state.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            if is_lazy(target):  # a placeholder still lazy: loaded from one, as PyTorch
                continue
            if is_lazy(state_dict[key]):
                raise RuntimeError(UNINITIALIZED_SHAPE)
            arr = _as_array(state_dict[key], key, type(self).__name__)
            if tuple(arr.shape) != tuple(target.shape):
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {_size(arr.shape)} from checkpoint, "
                    f"the shape in current model is {_size(target.shape)}."
                )
                continue
            if arr.dtype.kind not in "biuf":
                error_msgs.append(f"value of {key} has unsupported dtype {arr.dtype}")
                continue
            copies.append((self, name, target, state_dict[key] if assign else arr, assign))
        extra_key = prefix + _EXTRA_STATE_KEY_SUFFIX
        if getattr(type(self), "set_extra_state", Module.set_extra_state) is not Module.set_extra_state:
            if extra_key in state_dict:
                if pending is None:
                    self.set_extra_state(state_dict[extra_key])
                else:
                    pending[1].append((self, state_dict[extra_key]))
            elif strict:
                missing_keys.append(extra_key)
        elif strict and extra_key in state_dict:
            unexpected_keys.append(extra_key)
        if strict:
            for key in state_dict:
                if key.startswith(prefix) and key != extra_key:
                    head = key[len(prefix):].split(".", 1)
                    if len(head) > 1:
                        if head[0] not in self._modules:
                            unexpected_keys.append(key)
                    elif head[0] not in local_state:
                        unexpected_keys.append(key)
        if pending is None:
            _load_values(copies)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        """Copy parameters, buffers and extra state from ``state_dict`` (numgrad tensors, NumPy arrays or torch
        tensors).

        Returns ``(missing_keys, unexpected_keys)``.  A size mismatch (or an unusable value) raises PyTorch's
        error before anything is modified; with ``strict`` (default) a missing or unexpected key raises it after
        the matching entries were loaded and the load post-hooks ran (they may clear the key lists in place), as
        PyTorch does.  With ``assign`` the checkpoint's tensors take the places of the parameters and buffers
        (their dtype and memory; a parameter keeps its ``requires_grad``) instead of being copied into them.

        >>> import numgrad as ng
        >>> a, b = ng.nn.Linear(2, 3), ng.nn.Linear(2, 3)
        >>> b.load_state_dict(a.state_dict())
        <All keys matched successfully>
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing: list = []
        unexpected: list = []
        errors: list = []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)  # the pre-hooks may change it: a copy
        if metadata is not None:
            state_dict._metadata = metadata
        post_order: list = []

        def load(module: "Module", local: dict, prefix: str) -> None:
            local_metadata = {} if metadata is None else dict(metadata.get(prefix[:-1], {}))
            if assign:
                local_metadata["assign_to_params_buffers"] = assign
            module._load_from_state_dict(local, prefix, local_metadata, True, missing, unexpected, errors)
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    load(child, {k: v for k, v in local.items() if k.startswith(child_prefix)}, child_prefix)
            post_order.append(module)

        outer = getattr(_pending_loads, "plan", None)
        _pending_loads.plan = pending = ([], [])
        try:
            load(self, state_dict, "")
        finally:
            _pending_loads.plan = outer
        if not errors:
            _load_values(pending[0])
            for module, extra in pending[1]:
                module.set_extra_state(extra)
        keys = _IncompatibleKeys(missing, unexpected)
        for module in post_order:
            for hook in module._load_state_dict_post_hooks.values():
                if hook(module, keys) is not None:
                    raise AssertionError("Hooks registered with ``register_load_state_dict_post_hook`` are not "
                                         "expected to return new values, if incompatible_keys need to be modified, "
                                         "it should be done inplace.")
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors)
            )
        return keys

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
        state = self.__dict__.copy()
        state.pop("_compiled_call_impl", None)  # a compiled call is not pickled (as PyTorch's)
        state.pop("_slow_call", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        for name in CALL_HOOK_DICTS + STATE_HOOK_DICTS:
            if name not in self.__dict__:  # pickled before these existed
                self.__dict__[name] = OrderedDict()
        self.__dict__.setdefault("_compiled_call_impl", None)
        self._hooks_changed()


def _load_values(copies: list) -> None:
    """Copy each checked value into its parameter or buffer, or (``load_state_dict(assign=True)``, as PyTorch) put the
    checkpoint's tensor in its place: a parameter stays a ``Parameter`` with the module's ``requires_grad``."""
    with no_grad():
        for module, name, target, value, assign in copies:
            if not assign:
                copy_into(target, value)
                continue
            if not isinstance(value, Tensor):
                value = Tensor(_as_array(value, name, type(module).__name__))
            if isinstance(target, Parameter):
                if isinstance(value, Parameter):
                    value.requires_grad_(target.requires_grad)
                else:
                    value = Parameter(value, requires_grad=target.requires_grad)
            setattr(module, name, value)


def _size(shape) -> str:
    return f"numgrad.Size({list(shape)})"


def _is_property(module: Module, name: str) -> bool:
    """Whether ``name`` is a property of the module's class (a parametrized tensor's, ``nn.utils.parametrize``):
    registering a parameter or buffer under it would be hidden by the property (PyTorch refuses it too)."""
    return isinstance(getattr(type(module), name, None), property)


__all__ = ["Module", "register_module_forward_pre_hook", "register_module_forward_hook",
           "register_module_full_backward_pre_hook", "register_module_full_backward_hook",
           "register_module_backward_hook",
           "_global_backward_hooks", "_global_backward_pre_hooks", "_global_forward_hooks",
           "_global_forward_hooks_always_called", "_global_forward_hooks_with_kwargs", "_global_forward_pre_hooks",
           "plain_attribute_writes"]
