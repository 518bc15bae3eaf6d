"""Parametrizations (PyTorch's ``torch.nn.utils.parametrize``): a parameter or buffer computed by a module.

``register_parametrization(module, "weight", P())`` moves ``module.weight`` into
``module.parametrizations.weight.original`` (or ``original0``, ``original1``... when ``P.right_inverse``
returns a tuple) and makes ``module.weight`` a property that returns ``P(original)`` on every access.
The optimizer keeps updating the original tensor (the same ``Parameter`` object, so an optimizer built
before the registration still holds it); gradients reach it through ``P``, which is written with numgrad's
differentiable ops, so autograd needs nothing special.

As in PyTorch the module's class is swapped for a generated subclass (``ParametrizedLinear``) that holds
one property per parametrized name: attribute lookup finds the property before ``Module.__getattr__``
looks in the registries, and assigning ``module.weight = X`` runs the property's setter, which stores
``right_inverse(X)`` in the originals.  The state-dict keys are PyTorch's
(``parametrizations.weight.original``), so checkpoints move between the two libraries.

>>> import numgrad as ng
>>> from numgrad.nn.utils import parametrize
>>> class Symmetric(ng.nn.Module):
...     def forward(self, X):
...         return X.triu() + X.triu(1).mT
>>> lin = parametrize.register_parametrization(ng.nn.Linear(3, 3), "weight", Symmetric())
>>> bool((lin.weight == lin.weight.mT).all()), type(lin).__name__
(True, 'ParametrizedLinear')
>>> sorted(lin.state_dict())
['bias', 'parametrizations.weight.original']
"""
from __future__ import annotations

import collections.abc
import copyreg
from contextlib import contextmanager
from copy import deepcopy
from typing import Dict, Iterator, Optional, Sequence, Tuple, Union

from ...autograd.grad_mode import no_grad
from ...tensor import Tensor
from ..modules.container import ModuleDict, ModuleList
from ..modules.module import Module
from ..parameter import Parameter

__all__ = ["cached", "ParametrizationList", "register_parametrization", "is_parametrized",
           "remove_parametrizations", "type_before_parametrizations", "transfer_parametrizations_and_params"]

_cache_enabled = 0
_cache: Dict[Tuple[int, str], Optional[Tensor]] = {}


@contextmanager
def cached() -> Iterator[None]:
    """Compute each parametrized tensor once inside the block and reuse it (PyTorch's ``parametrize.cached``).

    Useful when a parametrized weight is read several times in one forward pass (a recurrent cell in a loop,
    tied weights); the cached values are dropped when the outermost ``cached()`` block exits.

    >>> import numgrad as ng
    >>> from numgrad.nn.utils.parametrizations import weight_norm
    >>> from numgrad.nn.utils import parametrize
    >>> lin = weight_norm(ng.nn.Linear(2, 2))
    >>> with parametrize.cached():
    ...     lin.weight is lin.weight
    True
    >>> lin.weight is lin.weight
    False
    """
    global _cache, _cache_enabled
    _cache_enabled += 1
    try:
        yield
    finally:
        _cache_enabled -= 1
        if not _cache_enabled:
            _cache = {}


def _register_parameter_or_buffer(module: Module, name: str, X: Tensor) -> None:
    if isinstance(X, Parameter):
        module.register_parameter(name, X)
    else:
        module.register_buffer(name, X)


def _maybe_set(dest: Tensor, src: Tensor) -> None:
    """PyTorch's ``dest.set_(src)``: ``dest`` (the same object, so optimizers keep it) takes ``src``'s memory.

    The old memory is not written, so pending computations that read it stay valid; the version counter
    moves as ``set_`` moves PyTorch's."""
    dest.data = src
    dest._bump_version()


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor of a module, and the original tensor(s) they are applied to.

    ``module.parametrizations[tensor_name]`` is one.  It holds the original tensor as ``original`` when the
    first parametrization has no ``right_inverse`` or its ``right_inverse`` returns one tensor, and as
    ``original0``, ``original1``... when it returns a sequence.  ``unsafe=True`` skips the checks that the
    parametrization keeps the tensor's shape and dtype.  Made by ``register_parametrization``; not meant to be
    built by hand.

    >>> import numgrad as ng
    >>> from numgrad.nn.utils.parametrizations import weight_norm
    >>> lin = weight_norm(ng.nn.Linear(2, 3))
    >>> plist = lin.parametrizations.weight
    >>> type(plist).__name__, plist.original0.shape, plist.original1.shape
    ('ParametrizationList', (3, 1), (3, 2))
    """

    original: Tensor
    unsafe: bool

    def __init__(self, modules: Sequence[Module], original: Union[Tensor, Parameter], unsafe: bool = False) -> None:
        if len(modules) == 0:
            raise ValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        self.unsafe = unsafe

        original_shape = original.shape
        original_dtype = original.dtype

        # new = right_inverse(original) through the parametrizations in reverse (the identity where a module has
        # no right_inverse or its right_inverse raises NotImplementedError)
        with no_grad():
            new = original
            for module in reversed(self):
                if hasattr(module, "right_inverse"):
                    try:
                        new = module.right_inverse(new)
                    except NotImplementedError:
                        pass

        if not isinstance(new, Tensor) and not isinstance(new, collections.abc.Sequence):
            raise ValueError("'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                             f"Got {type(new).__name__}")

        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)

        if self.is_tensor:
            if original.dtype != new.dtype:
                raise ValueError("When `right_inverse` outputs one tensor, it may not change the dtype.\n"
                                 f"original.dtype: {original.dtype}\n"
                                 f"right_inverse(original).dtype: {new.dtype}")
            if original.device != new.device:
                raise ValueError("When `right_inverse` outputs one tensor, it may not change the device.\n"
                                 f"original.device: {original.device}\n"
                                 f"right_inverse(original).device: {new.device}")
            # the original object takes the new value, so an optimizer that holds it needs no update
            with no_grad():
                _maybe_set(original, new)
            _register_parameter_or_buffer(self, "original", original)
        else:
            for i, originali in enumerate(new):
                if not isinstance(originali, Tensor):
                    raise ValueError("'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                                     f"Got element {i} of the sequence with type {type(originali).__name__}.")
                # a Parameter original gives Parameters (the caller adds them to its optimizer, as in PyTorch)
                if isinstance(original, Parameter):
                    originali = Parameter(originali, original.requires_grad)
                originali.requires_grad_(original.requires_grad)
                _register_parameter_or_buffer(self, f"original{i}", originali)

        if not self.unsafe:
            # forward(right_inverse(original)) must be a tensor of the original's dtype and shape
            Z = self()
            if not isinstance(Z, Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got {type(Z).__name__}.")
            if Z.dtype != original_dtype:
                raise ValueError("Registering a parametrization may not change the dtype of the tensor, unless "
                                 "`unsafe` flag is enabled.\n"
                                 f"unparametrized dtype: {original_dtype}\n"
                                 f"parametrized dtype: {Z.dtype}")
            if Z.shape != original_shape:
                raise ValueError("Registering a parametrization may not change the shape of the tensor, unless "
                                 "`unsafe` flag is enabled.\n"
                                 f"unparametrized shape: {_size(original_shape)}\n"
                                 f"parametrized shape: {_size(Z.shape)}")

    def right_inverse(self, value: Tensor) -> None:
        """Run the parametrizations' ``right_inverse`` in reverse registration order on ``value`` and store the
        result in ``original`` (or ``original0``, ``original1``...): what ``module.weight = value`` calls.

        >>> import numgrad as ng
        >>> from numgrad.nn.utils.parametrizations import weight_norm
        >>> lin = weight_norm(ng.nn.Linear(2, 1))
        >>> lin.weight = ng.tensor([[3.0, 4.0]])
        >>> lin.parametrizations.weight.original0
        Parameter containing:
        tensor([[5.]], requires_grad=True)
        """
        with no_grad():
            for module in reversed(self):
                if hasattr(module, "right_inverse"):
                    value = module.right_inverse(value)
                else:
                    raise RuntimeError(f"parametrization {type(module).__name__} does not implement right_inverse.")
            if self.is_tensor:
                if not isinstance(value, Tensor):
                    raise ValueError(f"`right_inverse` should return a tensor. Got {type(value).__name__}")
                if value.dtype != self.original.dtype:
                    raise ValueError(f"The tensor returned by `right_inverse` has dtype {value.dtype} "
                                     f"while `original` has dtype {self.original.dtype}")
                _maybe_set(self.original, value)
            else:
                if not isinstance(value, collections.abc.Sequence):
                    raise ValueError(f"'right_inverse' must return a sequence of tensors. Got {type(value).__name__}.")
                if len(value) != self.ntensors:
                    raise ValueError(f"'right_inverse' must return a sequence of tensors of length {self.ntensors}. "
                                     f"Got a sequence of length {len(value)}.")
                for i, tensor in enumerate(value):
                    original_i = getattr(self, f"original{i}")
                    if not isinstance(tensor, Tensor):
                        raise ValueError("'right_inverse' must return a sequence of tensors "
                                         f"or reference-type opaques. Got element {i} of type {type(tensor).__name__}.")
                    if original_i.dtype != tensor.dtype:
                        raise ValueError(f"Tensor {i} returned by `right_inverse` has dtype {tensor.dtype} "
                                         f"while `original{i}` has dtype {original_i.dtype}")
                    _maybe_set(original_i, tensor)

    def forward(self) -> Tensor:
        # the originals go into the first parametrization, its output through the others in order
        if self.is_tensor:
            x = self[0](self.original)
        else:
            x = self[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        curr_idx = 1
        while str(curr_idx) in self._modules:
            x = self[curr_idx](x)
            curr_idx += 1
        return x


def _size(shape) -> str:
    return f"numgrad.Size({list(shape)})"


def _inject_new_class(module: Module) -> None:
    """Swap ``module``'s class for a new subclass ``Parametrized<Name>`` that can hold the properties."""
    cls = module.__class__

    def default_deepcopy(self, memo):
        # a standard deepcopy (__getstate__ refuses); the copy gets its own parametrized class, so removing a
        # parametrization from one of the two does not take the property away from the other
        obj = memo.get(id(self), None)
        if obj is not None:
            return obj
        own = type(self)
        namespace = {k: v for k, v in own.__dict__.items() if k not in ("__dict__", "__weakref__")}
        replica = self.__new__(type(own.__name__, own.__bases__, namespace))
        memo[id(self)] = replica
        replica.__dict__ = deepcopy(self.__dict__, memo)
        for slot in copyreg._slotnames(self.__class__):
            if hasattr(self, slot):
                setattr(replica, slot, deepcopy(getattr(self, slot), memo))
        return replica

    def getstate(self):
        raise RuntimeError(
            "Serialization of parametrized modules is only "
            "supported through state_dict(). See:\n"
            "https://pytorch.org/tutorials/beginner/saving_loading_models.html"
            "#saving-loading-a-general-checkpoint-for-inference-and-or-resuming-training"
        )

    dct = {"__getstate__": getstate}
    if not hasattr(cls, "__deepcopy__"):
        dct["__deepcopy__"] = default_deepcopy
    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), dct)


def _inject_property(module: Module, tensor_name: str) -> None:
    """Give ``module``'s (parametrized) class the property ``tensor_name``: get runs the parametrizations,
    set runs their ``right_inverse``."""
    if hasattr(module, tensor_name):
        raise AssertionError(f"Module already has an attribute named '{tensor_name}'")

    def get_parametrized(self) -> Tensor:
        parametrization = self.parametrizations[tensor_name]
        if _cache_enabled:
            key = (id(self), tensor_name)
            tensor = _cache.get(key)
            if tensor is None:
                tensor = parametrization()
                _cache[key] = tensor
            return tensor
        return parametrization()

    def set_original(self, value: Tensor) -> None:
        self.parametrizations[tensor_name].right_inverse(value)

    setattr(module.__class__, tensor_name, property(get_parametrized, set_original))


def register_parametrization(module: Module, tensor_name: str, parametrization: Module, *,
                             unsafe: bool = False) -> Module:
    """Make ``module.<tensor_name>`` the output of ``parametrization`` applied to the original tensor.

    The original parameter or buffer moves to ``module.parametrizations[tensor_name].original`` (keeping its
    identity: an optimizer built before still updates it); reading ``module.<tensor_name>`` returns
    ``parametrization(original)`` (computed on every access unless inside ``cached()``), and gradients flow
    to the original through it.  If ``parametrization`` has a ``right_inverse(X)``, it is used to initialise
    the original from the current value and on every ``module.<tensor_name> = X``; one that returns a
    sequence of tensors makes the originals ``original0``, ``original1``...  Registering on an already
    parametrized tensor appends to its list: the parametrizations run in registration order.  Unless
    ``unsafe``, the parametrization must keep the tensor's shape and dtype.

    >>> import numgrad as ng
    >>> from numgrad.nn.utils import parametrize
    >>> class Positive(ng.nn.Module):
    ...     def forward(self, X):
    ...         return X.exp()
    ...     def right_inverse(self, Y):
    ...         return Y.log()
    >>> m = ng.nn.Module(); m.register_buffer("scale", ng.tensor([1.0, 2.0]))
    >>> _ = parametrize.register_parametrization(m, "scale", Positive())
    >>> m.scale, m.parametrizations.scale.original
    (tensor([1., 2.]), tensor([0.0000, 0.6931]))
    """
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        # the new parametrization must map the tensor's space (shape, dtype) to itself
        if not unsafe:
            Y = getattr(module, tensor_name)
            X = parametrization(Y)
            if not isinstance(X, Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got {type(X).__name__}.")
            if X.dtype != Y.dtype:
                raise ValueError("Registering a parametrization may not change the dtype of the tensor, unless the "
                                 "`unsafe` flag is enabled.\n"
                                 f"module.{tensor_name}.dtype: {Y.dtype}\n"
                                 f"parametrization(module.{tensor_name}).dtype: {X.dtype}")
            if X.shape != Y.shape:
                raise ValueError("Registering a parametrization may not change the shape of the tensor, unless the "
                                 "`unsafe` flag is enabled.\n"
                                 f"module.{tensor_name}.shape: {_size(Y.shape)}\n"
                                 f"parametrization(module.{tensor_name}).shape: {_size(X.shape)}")
            if hasattr(parametrization, "right_inverse"):
                try:
                    Z = parametrization.right_inverse(X)
                except NotImplementedError:
                    pass
                else:
                    if not isinstance(Z, Tensor):
                        raise ValueError(
                            f"parametrization.right_inverse must return a tensor. Got: {type(Z).__name__}")
                    if Z.dtype != Y.dtype:
                        raise ValueError(
                            "The tensor returned by parametrization.right_inverse must have the same dtype "
                            f"as module.{tensor_name}, unless the `unsafe` flag is enabled.\n"
                            f"module.{tensor_name}.dtype: {Y.dtype}\n"
                            f"returned dtype: {Z.dtype}")
                    if Z.shape != Y.shape:
                        raise ValueError(
                            "The tensor returned by parametrization.right_inverse must have the same shape "
                            f"as module.{tensor_name}, unless the `unsafe` flag is enabled.\n"
                            f"module.{tensor_name}.shape: {_size(Y.shape)}\n"
                            f"returned shape: {_size(Z.shape)}")
        plist = module.parametrizations[tensor_name]
        plist.append(parametrization)
        plist.unsafe |= unsafe  # once unsafe, always unsafe
    elif tensor_name in module._buffers or tensor_name in module._parameters:
        original = getattr(module, tensor_name)
        # built first: its checks run before the module is changed
        parametrizations = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            _inject_new_class(module)
            module.parametrizations = ModuleDict()
        _inject_property(module, tensor_name)
        module.parametrizations[tensor_name] = parametrizations
    else:
        raise ValueError(f"Module '{module}' does not have a parameter, a buffer, or a "
                         f"parametrized element with name '{tensor_name}'")
    return module


def is_parametrized(module: Module, tensor_name: Optional[str] = None) -> bool:
    """Whether ``module`` has a parametrization on ``tensor_name`` (on any tensor when it is None).

    >>> import numgrad as ng
    >>> from numgrad.nn.utils.parametrizations import weight_norm
    >>> lin = weight_norm(ng.nn.Linear(2, 2))
    >>> from numgrad.nn.utils.parametrize import is_parametrized
    >>> is_parametrized(lin), is_parametrized(lin, "weight"), is_parametrized(lin, "bias")
    (True, True, False)
    """
    parametrizations = module._modules.get("parametrizations") if "_modules" in module.__dict__ else None
    if parametrizations is None or not isinstance(parametrizations, ModuleDict):
        return False
    if tensor_name is None:
        return len(parametrizations) > 0
    return tensor_name in parametrizations


def remove_parametrizations(module: Module, tensor_name: str, leave_parametrized: bool = True) -> Module:
    """Remove the parametrizations on ``module.<tensor_name>``, leaving a plain parameter or buffer.

    With ``leave_parametrized`` (default) the tensor keeps its current parametrized value (the original
    object takes it, so optimizers keep working); otherwise it goes back to the unparametrized original,
    which is only possible when there is one original tensor.  When the last parametrization of the
    module goes, the module gets its own class back.

    >>> import numgrad as ng
    >>> from numgrad.nn.utils.parametrizations import weight_norm
    >>> from numgrad.nn.utils import parametrize
    >>> lin = weight_norm(ng.nn.Linear(2, 2))
    >>> lin = parametrize.remove_parametrizations(lin, "weight")
    >>> type(lin).__name__, sorted(lin.state_dict())
    ('Linear', ['bias', 'weight'])
    """
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    parametrizations = module.parametrizations[tensor_name]
    if parametrizations.is_tensor:
        original = parametrizations.original
        if leave_parametrized:
            with no_grad():
                t = getattr(module, tensor_name)
                _maybe_set(original, t)
    else:
        if leave_parametrized:
            # with grad: whether any original requires grad decides Parameter or buffer
            t = getattr(module, tensor_name)
            original = Parameter(t) if t.requires_grad else t.detach()
        else:
            raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor "
                             "that is parametrized in terms of a sequence of tensors.")

    delattr(module.__class__, tensor_name)
    del module.parametrizations[tensor_name]
    _register_parameter_or_buffer(module, tensor_name, original)

    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = module.__class__.__bases__[0]
    return module


def type_before_parametrizations(module: Module) -> type:
    """The module's class before parametrizations were registered (its class if it has none).

    >>> import numgrad as ng
    >>> from numgrad.nn.utils.parametrizations import weight_norm
    >>> from numgrad.nn.utils.parametrize import type_before_parametrizations
    >>> type_before_parametrizations(weight_norm(ng.nn.Linear(2, 2)))
    <class 'numgrad.nn.modules.linear.Linear'>
    """
    if is_parametrized(module):
        return module.__class__.__bases__[0]
    return type(module)


def transfer_parametrizations_and_params(from_module: Module, to_module: Module,
                                         tensor_name: Optional[str] = None) -> Module:
    """Register ``from_module``'s parametrizations (all, or those of ``tensor_name``) on ``to_module`` and
    make ``to_module``'s originals the same tensors as ``from_module``'s; a tensor ``to_module`` lacks is
    created first (as a ``Parameter`` of the parametrized value).  Nothing happens if ``from_module`` is not
    parametrized.

    >>> import numgrad as ng
    >>> from numgrad.nn.utils.parametrizations import weight_norm
    >>> from numgrad.nn.utils import parametrize
    >>> src = weight_norm(ng.nn.Linear(2, 2))
    >>> dst = parametrize.transfer_parametrizations_and_params(src, ng.nn.Linear(2, 2))
    >>> dst.parametrizations.weight.original1 is src.parametrizations.weight.original1
    True
    """
    if is_parametrized(from_module):
        names = list(from_module.parametrizations) if tensor_name is None else [tensor_name]
        for parameter_name in names:
            if not hasattr(to_module, parameter_name):
                setattr(to_module, parameter_name, Parameter(getattr(from_module, parameter_name)))
            for param_func in from_module.parametrizations[parameter_name]:
                register_parametrization(to_module, parameter_name, param_func)
            src = from_module.parametrizations[parameter_name]
            dst = to_module.parametrizations[parameter_name]
            if hasattr(src, "original"):
                dst.original = src.original
            else:
                num = 0
                while hasattr(src, f"original{num}"):
                    setattr(dst, f"original{num}", getattr(src, f"original{num}"))
                    num += 1
    return to_module
