"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad`` and state dicts.

Subclasses implement ``_update(group, param, grad, state)`` by calling one
fused Numba kernel on the flat arrays of the parameter, its gradient and its
state buffers (see ``numgrad.kernels.cpu.optim``; ``numgrad.kernels.cuda.optim``
for CUDA parameters, picked by ``backend.optimizer_kernels``).  State buffers
live on their parameter's device; ``load_state_dict`` moves loaded state there,
as PyTorch does.
"""
from __future__ import annotations

import copy
import functools
from collections import defaultdict
from typing import Any, Callable, Dict, Iterable, List, Optional

import numpy as np

from ..autograd.grad_mode import no_grad
from .. import _dtypes
from ..kernels.backend import copy_as, device_of, to_device
from ..kernels.config import PARALLEL_THRESHOLD
from ..creation import _filled
from ..ops.elementwise import copy_into
from ..ops.views import contiguous_array
from ..tensor import Tensor
from ..autograd.grad_mode import enable_grad
from ..autograd.tensor_methods import RemovableHandle
from ..kernels.backend import optimizer_kernels


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


def _kernels(param=None):
    """The fused step kernels for the flat parameter array ``param`` (on its device; the CPU's by default)."""
    return optimizer_kernels(param)


def _check_implementation_flags(foreach: Optional[bool] = None, fused: Optional[bool] = None,
                                differentiable: bool = False) -> None:
    """PyTorch's ``foreach``/``fused``/``capturable`` pick among implementations with the same results; numgrad
    has one (a fused kernel per parameter) and accepts them.  ``differentiable=True`` records the update in the
    autograd graph, which numgrad's kernels do not do."""
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise NotImplementedError("differentiable=True is not supported: numgrad's optimizer steps are fused kernels "
                                  "that autograd does not record; differentiate through an update written with "
                                  "tensor operations instead")


# the per-optimizer hook lists (functions of the running program: not saved with the optimizer, as in PyTorch)
_HOOK_LISTS = ("_step_pre_hooks", "_step_post_hooks", "_state_dict_pre_hooks", "_state_dict_post_hooks",
               "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks")

_global_step_pre_hooks: List[Callable] = []
_global_step_post_hooks: List[Callable] = []


def register_optimizer_step_pre_hook(hook: Callable) -> RemovableHandle:
    """Run ``hook(optimizer, args, kwargs)`` before every optimizer's ``step``; it may return new ``(args, kwargs)``.

    >>> import numgrad as ng
    >>> calls = []
    >>> handle = ng.optim.optimizer.register_optimizer_step_pre_hook(lambda opt, a, kw: calls.append(type(opt)))
    >>> ng.optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=0.1).step(); handle.remove(); calls
    [<class 'numgrad.optim.sgd.SGD'>]
    """
    _global_step_pre_hooks.append(hook)
    return RemovableHandle(_global_step_pre_hooks, hook)


def register_optimizer_step_post_hook(hook: Callable) -> RemovableHandle:
    """Run ``hook(optimizer, args, kwargs)`` after every optimizer's ``step``.

    >>> import numgrad as ng
    >>> calls = []
    >>> handle = ng.optim.optimizer.register_optimizer_step_post_hook(lambda opt, a, kw: calls.append("after"))
    >>> ng.optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=0.1).step(); handle.remove(); calls
    ['after']
    """
    _global_step_post_hooks.append(hook)
    return RemovableHandle(_global_step_post_hooks, hook)


def _with_step_hooks(func: Callable) -> Callable:
    """``func`` (an optimizer's ``step``) running the global and the optimizer's own step hooks around it."""

    @functools.wraps(func)
    def step(self, *args, **kwargs):
        if self.__dict__.get("_in_step_hooks"):  # a subclass's step calling its parent's: hooks run once
            return func(self, *args, **kwargs)
        self._in_step_hooks = True
        try:
            for hook in (*_global_step_pre_hooks, *self.__dict__.get("_step_pre_hooks", ())):
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(f"{func} must return None or a tuple of (new_args, new_kwargs), but got "
                                           f"{result}.")
                    args, kwargs = result
            out = func(self, *args, **kwargs)
            for hook in (*self.__dict__.get("_step_post_hooks", ()), *_global_step_post_hooks):  # PyTorch's order
                hook(self, args, kwargs)
            return out
        finally:
            self._in_step_hooks = False

    step._with_step_hooks = True
    return step


def _lerp_(start: Tensor, end: Tensor, weight: float) -> None:
    """``start`` moved toward ``end`` by ``weight`` in place, with the two formulas of PyTorch's ``lerp``."""
    if weight < 0.5:
        start.copy_(start + weight * (end - start))
    else:
        start.copy_(end - (end - start) * (1 - weight))


def _snapshot(value):
    """A copy of a state value that later steps cannot change (tensors cloned, LBFGS's lists of them copied)."""
    if isinstance(value, Tensor):
        return value.clone()
    if isinstance(value, list):
        return [_snapshot(v) for v in value]
    return value


class Optimizer:
    """Base class of optimizers.

    ``params`` is an iterable of tensors, or of dicts (parameter groups) with a
    ``"params"`` entry and per-group hyper-parameters overriding ``defaults``.

    >>> import numgrad as ng
    >>> w = ng.nn.Parameter(ng.ones(2))
    >>> opt = ng.optim.SGD([w], lr=0.5)
    >>> (w * w).sum().backward(); opt.step(); w
    Parameter containing:
    tensor([0., 0.], requires_grad=True)
    """

    # per-parameter state entries that are numbers, not tensors of the parameter's shape
    _scalar_state = ("step",)
    # state tensors that are not of their parameter's shape (LBFGS's flat vectors over all parameters)
    _flat_state: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("step")
        if own is not None and not getattr(own, "_with_step_hooks", False):
            cls.step = _with_step_hooks(own)

    def __init__(self, params: Iterable, defaults: Dict[str, Any]):
        self.defaults = defaults
        self._init_hooks()
        # a defaultdict, as in PyTorch: `opt.state[p]` of a parameter not yet stepped is an empty dict
        self.state: Dict[Tensor, Dict[str, Any]] = defaultdict(dict)
        self.param_groups: List[Dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                + params._type_name()
            )
        groups = list(params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __getstate__(self) -> Dict[str, Any]:
        # a scheduler wraps `step` on the instance, bound to this optimizer by a weak reference: a copy or an
        # unpickled optimizer gets its class's own step, as in PyTorch
        # hooks are functions of the running program: they are not part of a saved optimizer (as in PyTorch)
        return {k: v for k, v in self.__dict__.items()
                if k not in ("step", "_opt_called", "_in_step_hooks") + _HOOK_LISTS}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_hooks()

    def _init_hooks(self) -> None:
        for name in _HOOK_LISTS:
            setattr(self, name, [])

    @staticmethod
    def _add_hook(hooks: List[Callable], hook: Callable, prepend: bool) -> RemovableHandle:
        hooks.insert(0, hook) if prepend else hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def register_state_dict_pre_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Run ``hook(optimizer)`` at the start of :meth:`state_dict` (first among the others if ``prepend``).

        >>> import numgrad as ng
        >>> opt = ng.optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=0.1)
        >>> _ = opt.register_state_dict_pre_hook(lambda o: print("saving")); _ = opt.state_dict()
        saving
        """
        return self._add_hook(self._state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Run ``hook(optimizer, state_dict)`` at the end of :meth:`state_dict`; a returned dict replaces it.

        >>> import numgrad as ng
        >>> opt = ng.optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=0.1)
        >>> _ = opt.register_state_dict_post_hook(lambda o, sd: {**sd, "note": "v2"}); opt.state_dict()["note"]
        'v2'
        """
        return self._add_hook(self._state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Run ``hook(optimizer, state_dict)`` before :meth:`load_state_dict` reads it; a returned dict is loaded
        instead.

        >>> import numgrad as ng
        >>> opt = ng.optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=0.1)
        >>> _ = opt.register_load_state_dict_pre_hook(lambda o, sd: print(sorted(sd)))
        >>> opt.load_state_dict(opt.state_dict())
        ['param_groups', 'state']
        """
        return self._add_hook(self._load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Run ``hook(optimizer)`` after :meth:`load_state_dict` has loaded the state.

        >>> import numgrad as ng
        >>> opt = ng.optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=0.1)
        >>> _ = opt.register_load_state_dict_post_hook(lambda o: print("loaded"))
        >>> opt.load_state_dict(opt.state_dict())
        loaded
        """
        return self._add_hook(self._load_state_dict_post_hooks, hook, prepend)

    def register_step_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Run ``hook(optimizer, args, kwargs)`` before this optimizer's ``step``; it may return new ``(args, kwargs)``.

        >>> import numgrad as ng
        >>> opt = ng.optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=0.1)
        >>> handle = opt.register_step_pre_hook(lambda o, args, kwargs: print("stepping"))
        >>> opt.step()
        stepping
        >>> handle.remove(); opt.step()
        """
        self._step_pre_hooks.append(hook)
        return RemovableHandle(self._step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable) -> RemovableHandle:
        """Run ``hook(optimizer, args, kwargs)`` after this optimizer's ``step``.

        >>> import numgrad as ng
        >>> opt = ng.optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=0.1)
        >>> handle = opt.register_step_post_hook(lambda o, args, kwargs: print("stepped"))
        >>> opt.step()
        stepped
        """
        self._step_post_hooks.append(hook)
        return RemovableHandle(self._step_post_hooks, hook)

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (e.g. a new layer to fine-tune).

        >>> import numgrad as ng
        >>> opt = ng.optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=0.1)
        >>> opt.add_param_group({"params": [ng.nn.Parameter(ng.ones(1))], "lr": 0.01})
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.01]
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        # named parameters, as model.named_parameters() gives them: the names are kept in "param_names"
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names and len(names) != len(params):
            raise ValueError("all optimizer params should be with/without names. Some param names are missing")
        for other in self.param_groups:
            if bool(names) != ("param_names" in other):
                raise ValueError("all optimizer param groups should be with/without names. cannot add param group "
                                 + ("with names" if names else "without names") + " to the optimizer")
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + type(p).__name__)
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            if not p.dtype.is_floating_point or p.dtype.name not in ("float32", "float64"):
                raise TypeError(f"{type(self).__name__} can only optimize float32/float64 tensors, got {p.dtype}")
        group = dict(param_group)
        group["params"] = params
        if names:
            group["param_names"] = names
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(
                    f"parameter group didn't specify a value of required optimization parameter {name}"
                )
            group.setdefault(name, default)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized parameters (to ``None`` by default).

        >>> import numgrad as ng
        >>> w = ng.nn.Parameter(ng.ones(2)); opt = ng.optim.SGD([w], lr=0.1)
        >>> w.sum().backward(); opt.zero_grad(); w.grad is None
        True
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad = p.grad.detach()
                    p.grad.zero_()

    # ------------------------------------------------------------ stepping
    def step(self, closure: Optional[Callable[[], Any]] = None):
        """Update every parameter that has a gradient; returns ``closure()`` when given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._prepare_group(group)
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    self._step_param(group, p)
        return loss

    def _prepare_group(self, group: Dict[str, Any]) -> None:
        """Hook for per-group work before the parameters are updated."""

    def _step_param(self, group, p: Tensor) -> None:
        grad = p.grad
        if grad.shape != p.shape:
            raise RuntimeError(
                f"{type(self).__name__}.step(): gradient of shape {list(grad.shape)} does not match its "
                f"parameter of shape {list(p.shape)}"
            )
        g = grad._data
        data = p._data
        if grad.device != p.device:
            raise RuntimeError(
                f"{type(self).__name__}.step(): the gradient is on {grad.device} but its parameter of shape "
                f"{list(p.shape)} is on {p.device}; a parameter's .grad must live on the parameter's device"
            )
        if g.dtype != data.dtype:
            g = copy_as(g, data.dtype)
        g = contiguous_array(g).reshape(-1)
        direct = data.flags.c_contiguous and data.flags.writeable
        if direct:
            flat = data.reshape(-1)
        else:
            flat = contiguous_array(data)
            if flat is data:  # contiguous but read-only: update a copy
                flat = copy_as(data, data.dtype)
            flat = flat.reshape(-1)
        p._before_write()  # a pending fused op reading the parameter (the loss, say) reads it first
        state = self.state.setdefault(p, {})
        self._param_shape = p.shape
        self._update(group, flat, g, state, flat.shape[0] >= PARALLEL_THRESHOLD)
        if not direct:
            copy_into(p, flat.reshape(data.shape))
        else:
            p._bump_version()

    def _update(self, group, p: np.ndarray, g: np.ndarray, state: Dict[str, Any], parallel: bool) -> None:
        raise NotImplementedError

    def _buffer(self, state: Dict[str, Any], name: str, like: np.ndarray, fill: float = 0) -> np.ndarray:
        """The flat array of state tensor ``name`` (created filled with ``fill``, in the parameter's shape, on first use)."""
        t = state.get(name)
        if t is None:
            # created where the parameter lives: its state never crosses devices
            t = _filled(self._param_shape, fill, _dtypes.as_dtype(like.dtype), False, device_of(like))
            state[name] = t
        elif t.device != device_of(like):
            t = state[name] = Tensor(to_device(t._data, device_of(like)))
        arr = t._data
        if arr.dtype != like.dtype or not arr.flags.c_contiguous or arr.size != like.size:
            raise RuntimeError(
                f"optimizer state '{name}' has shape {list(arr.shape)} and dtype {arr.dtype}, expected "
                f"{like.size} elements of dtype {like.dtype} (was the state dict loaded for other parameters?)"
            )
        return arr.reshape(-1)

    # ------------------------------------------------------------ state dict
    def state_dict(self) -> Dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}`` as in PyTorch.

        >>> import numgrad as ng
        >>> opt = ng.optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=0.1, momentum=0.9)
        >>> opt.state_dict()["param_groups"][0]["params"]
        [0]
        """
        for hook in self.__dict__.get("_state_dict_pre_hooks", ()):
            hook(self)
        index: Dict[int, int] = {}
        groups = []
        start = 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                if id(p) not in index:
                    index[id(p)] = start
                    start += 1
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state and self.state[p]:
                    state[index[id(p)]] = {k: _snapshot(v) for k, v in self.state[p].items()}
        result = {"state": state, "param_groups": groups}
        for hook in self.__dict__.get("_state_dict_post_hooks", ()):
            returned = hook(self, result)
            if returned is not None:
                result = returned
        return result

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore hyper-parameters and per-parameter state saved by :meth:`state_dict`.

        >>> import numgrad as ng
        >>> w = ng.nn.Parameter(ng.ones(1))
        >>> a = ng.optim.Adam([w], lr=0.1); b = ng.optim.Adam([w], lr=0.5)
        >>> b.load_state_dict(a.state_dict()); b.param_groups[0]["lr"]
        0.1
        """
        for hook in self.__dict__.get("_load_state_dict_pre_hooks", ()):
            returned = hook(self, dict(state_dict))
            if returned is not None:
                state_dict = returned
        if "param_groups" not in state_dict or "state" not in state_dict:
            raise ValueError("optimizer state dict must have 'state' and 'param_groups' entries")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for mine, saved in zip(self.param_groups, saved_groups):
            if len(mine["params"]) != len(saved["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
                )
        id_map = {}
        for mine, saved in zip(self.param_groups, saved_groups):
            for p, idx in zip(mine["params"], saved["params"]):
                id_map[int(idx)] = p
        new_state: Dict[Tensor, Dict[str, Any]] = defaultdict(dict)
        for key, values in state_dict["state"].items():
            p = id_map.get(int(key))
            if p is None:
                continue
            entry = {}
            for name, value in values.items():
                if name in self._scalar_state and isinstance(value, (Tensor, np.ndarray)):
                    # PyTorch keeps "step" (and NAdam's "mu_product") in scalar tensors; here they are numbers
                    number = value.item()
                    entry[name] = int(number) if name == "step" else float(number)
                elif isinstance(value, Tensor) or isinstance(value, np.ndarray):
                    arr = value._data if isinstance(value, Tensor) else value
                    if name in self._flat_state:
                        entry[name] = Tensor(copy_as(to_device(arr, p.device), p._data.dtype))
                        continue
                    if arr.size != p.numel():
                        raise ValueError(
                            f"optimizer state '{name}' for parameter {key} has {arr.size} elements, but the "
                            f"parameter has shape {list(p.shape)}"
                        )
                    # as PyTorch: state follows its parameter's device and dtype
                    arr = copy_as(to_device(arr, p.device), p._data.dtype).reshape(p.shape)
                    entry[name] = Tensor(arr)
                else:
                    entry[name] = copy.deepcopy(value)
            new_state[p] = entry
        self.state = new_state
        for mine, saved in zip(self.param_groups, saved_groups):
            for k, v in saved.items():
                if k != "params":
                    mine[k] = v
        for hook in self.__dict__.get("_load_state_dict_post_hooks", ()):
            hook(self)


Optimizer.step = _with_step_hooks(Optimizer.step)
