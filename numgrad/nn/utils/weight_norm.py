"""Weight normalization by a forward pre-hook (PyTorch's deprecated ``torch.nn.utils.weight_norm``).

``weight_norm(module)`` replaces the parameter ``weight`` by ``weight_g`` (the norm of each output slice)
and ``weight_v`` (the direction) and recomputes ``module.weight = weight_v * weight_g / ||weight_v||``
(a plain attribute) before every forward.  Old checkpoints and code use these names; new code should use
``numgrad.nn.utils.parametrizations.weight_norm``, whose ``load_state_dict`` also accepts them.

``_norm_except_dim`` and ``_weight_norm`` are ATen's ``norm_except_dim`` and ``_weight_norm`` (shared with
the parametrization), including their convention that ``dim=-1`` (what ``dim=None`` becomes) means the
norm of the whole tensor, not of its last dimension.

>>> import numgrad as ng
>>> from numgrad.nn.utils.weight_norm import remove_weight_norm, weight_norm
>>> import warnings
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore", FutureWarning)
...     lin = weight_norm(ng.nn.Linear(3, 2))
>>> sorted(lin.state_dict()), lin.weight_g.shape
(['bias', 'weight_g', 'weight_v'], (2, 1))
"""
from __future__ import annotations

import warnings
from typing import Any, Optional, TypeVar

from ...tensor import Tensor
from ..modules.module import Module
from ..parameter import Parameter, UninitializedParameter

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm"]


def _norm_except_dim(v: Tensor, pow: float, dim: int) -> Tensor:
    """The ``pow``-norm of ``v`` over every dimension but ``dim`` (the result has size 1 in those), or of the
    whole tensor (a 0-d tensor) when ``dim == -1`` (ATen's ``norm_except_dim``).

    >>> import numgrad as ng
    >>> _norm_except_dim(ng.tensor([[3.0, 4.0], [0.0, 1.0]]), 2, 0)
    tensor([[5.],
            [1.]])
    """
    if dim == -1:
        return v.norm(pow)
    if dim == 0:
        return v.reshape(v.shape[0], -1).norm(pow, 1).reshape(v.shape[0], *([1] * (v.ndim - 1)))
    if dim == v.ndim - 1:
        return v.reshape(-1, v.shape[-1]).norm(pow, 0).reshape(*([1] * (v.ndim - 1)), v.shape[-1])
    return _norm_except_dim(v.transpose(0, dim), pow, 0).transpose(0, dim)


def _weight_norm(v: Tensor, g: Tensor, dim: int = 0) -> Tensor:
    """``v * (g / ||v||)`` with the norm taken over every dimension but ``dim`` (ATen's ``_weight_norm``).

    >>> import numgrad as ng
    >>> _weight_norm(ng.tensor([[3.0, 4.0]]), ng.tensor([[10.0]]), 0)
    tensor([[6., 8.]])
    """
    return v * (g / _norm_except_dim(v, 2, dim))


class WeightNorm:
    """The forward pre-hook that ``weight_norm`` registers: recomputes ``module.<name>`` from ``<name>_g`` and
    ``<name>_v``."""

    name: str
    dim: int

    def __init__(self, name: str, dim: Optional[int]) -> None:
        if dim is None:
            dim = -1
        self.name = name
        self.dim = dim

    def compute_weight(self, module: Module) -> Any:
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return _weight_norm(v, g, self.dim)

    @staticmethod
    def apply(module: Module, name: str, dim: Optional[int]) -> "WeightNorm":
        warnings.warn("`numgrad.nn.utils.weight_norm` is deprecated in favor of "
                      "`numgrad.nn.utils.parametrizations.weight_norm`.", FutureWarning, stacklevel=3)
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        if dim is None:
            dim = -1
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        if isinstance(weight, UninitializedParameter):
            raise ValueError("The module passed to `WeightNorm` can't have uninitialized parameters. "
                             "Make sure to run the dummy forward before applying weight normalization")
        del module._parameters[name]
        module.register_parameter(name + "_g", Parameter(_norm_except_dim(weight, 2, dim).data))
        module.register_parameter(name + "_v", Parameter(weight.data))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module: Module) -> None:
        weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.data))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module))


T_module = TypeVar("T_module", bound=Module)


def weight_norm(module: T_module, name: str = "weight", dim: Optional[int] = 0) -> T_module:
    """Split parameter ``name`` into a magnitude ``<name>_g`` and a direction ``<name>_v``, recombined by a
    forward pre-hook: ``w = g * v / ||v||``, the norm over every dimension but ``dim`` (over all of them for
    ``dim=None``).  Deprecated, as in PyTorch: use ``numgrad.nn.utils.parametrizations.weight_norm``.

    >>> import numgrad as ng
    >>> from numgrad.nn.utils.weight_norm import remove_weight_norm, weight_norm
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", FutureWarning)
    ...     m = weight_norm(ng.nn.Linear(4, 3), dim=None)
    >>> m.weight_g.shape, m.weight_v.shape
    ((), (3, 4))
    """
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module: T_module, name: str = "weight") -> T_module:
    """Undo ``weight_norm``: ``name`` becomes a plain parameter again, with the current normalized value.

    >>> import numgrad as ng
    >>> from numgrad.nn.utils.weight_norm import remove_weight_norm, weight_norm
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", FutureWarning)
    ...     m = weight_norm(ng.nn.Linear(4, 3))
    >>> sorted(remove_weight_norm(m).state_dict())
    ['bias', 'weight']
    """
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, WeightNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            module._hooks_changed()  # numgrad's fast call path comes back once no hook is left
            return module
    raise ValueError(f"weight_norm of '{name}' not found in {module}")
