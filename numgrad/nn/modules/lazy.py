"""Lazy layers (PyTorch's ``LazyModuleMixin`` and its ``Lazy*`` classes): ``in_features`` / ``in_channels`` /
``num_features`` are read from the first input.

A lazy layer is built from its concrete class (``LazyLinear`` is a ``Linear``) with zero input size and
``UninitializedParameter`` / ``UninitializedBuffer`` placeholders.  Its first call materializes them in place
(so an optimizer built before that call holds the materialized parameters), runs the concrete class's
``reset_parameters`` and turns the module into that class (``type(m) is nn.Linear`` afterwards), as PyTorch does.
``load_state_dict`` materializes placeholders from the checkpoint's shapes; ``state_dict`` of an uninitialized
layer holds the placeholders themselves.

The 3-D classes (``LazyConv3d``, ``LazyConvTranspose3d``, ``LazyBatchNorm3d``, ``LazyInstanceNorm3d``) exist where
their concrete classes do (``Conv3d`` ... in ``conv``, ``batchnorm``, ``instancenorm``).

>>> import numgrad as ng
>>> m = ng.nn.LazyLinear(2)
>>> m
LazyLinear(in_features=0, out_features=2, bias=True)
>>> m(ng.ones(3, 5)).shape, m
((3, 2), Linear(in_features=5, out_features=2, bias=True))
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from ... import _dtypes, creation
from ...tensor import Tensor
from ..parameter import UninitializedBuffer, UninitializedParameter, is_lazy
from . import batchnorm, conv, instancenorm
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .batchnorm import BatchNorm1d, BatchNorm2d
from .instancenorm import InstanceNorm1d, InstanceNorm2d
from .linear import Linear

__all__ = ["LazyModuleMixin", "LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConvTranspose1d",
           "LazyConvTranspose2d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyInstanceNorm1d", "LazyInstanceNorm2d"]


class LazyModuleMixin:
    """Infers a layer's parameter shapes from its first input (PyTorch's ``torch.nn.modules.lazy``).

    A subclass sets ``cls_to_become`` and implements ``initialize_parameters(*args, **kwargs)``, which
    materializes every placeholder from the forward arguments.

    >>> import numgrad as ng
    >>> m = ng.nn.LazyLinear(4)
    >>> m.has_uninitialized_params()
    True
    """

    cls_to_become: Optional[type] = None

    def has_uninitialized_params(self) -> bool:
        """Whether any parameter or buffer of this module (not its children) is still a placeholder."""
        for t in list(self._parameters.values()) + list(self._buffers.values()):
            if is_lazy(t):
                return True
        return False

    def initialize_parameters(self, *args, **kwargs) -> None:
        """Materialize the placeholders from the forward arguments (each lazy class implements it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement initialize_parameters")

    def __call__(self, *args, **kwargs):
        # the class is a lazy one only until the first call has inferred the shapes (it then becomes
        # cls_to_become, whose __call__ is Module's): PyTorch's forward pre-hook
        self._infer_parameters(args, kwargs)
        if isinstance(self, LazyModuleMixin):  # no cls_to_become: the module stays of its lazy class
            return super().__call__(*args, **kwargs)  # Module's: its hooks around forward
        return self(*args, **kwargs)  # the concrete class's __call__, whatever it runs around forward

    def _infer_parameters(self, args, kwargs) -> None:
        """PyTorch's forward pre-hook: initialize, check, become the concrete class."""
        self.initialize_parameters(*args, **kwargs)
        if self.has_uninitialized_params():
            raise RuntimeError(f"module {self._get_name()} has not been fully initialized")
        if self.cls_to_become is not None:
            self.__class__ = self.cls_to_become

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        """As ``Module``'s, with placeholders saved as themselves (they cannot be detached)."""
        super()._save_to_state_dict(destination, prefix, keep_vars)
        for name, t in list(self._parameters.items()) + list(self._buffers.items()):
            if is_lazy(t) and name not in self._non_persistent_buffers:
                destination[prefix + name] = t

    def _before_load_state_dict(self, state_dict: Mapping[str, Any], prefix: str) -> None:
        # PyTorch's _lazy_load_hook: a placeholder takes the shape of the tensor about to be copied into it
        for name, t in list(self._parameters.items()) + list(self._buffers.items()):
            key = prefix + name
            if key in state_dict and is_lazy(t) and not is_lazy(state_dict[key]):
                t.materialize(tuple(state_dict[key].shape))
        self._after_lazy_load()

    def _after_lazy_load(self) -> None:
        """Set the inferred size from loaded parameters (PyTorch leaves it 0 until the first forward)."""

    def _replicate_for_data_parallel(self):
        raise RuntimeError("Modules with uninitialized parameters can't be used with `DataParallel`. Run a dummy "
                           "forward pass to correctly initialize the modules")


class LazyLinear(LazyModuleMixin, Linear):
    """A ``Linear`` whose ``in_features`` is the last dimension of its first input.

    >>> import numgrad as ng
    >>> m = ng.nn.LazyLinear(3); _ = m(ng.ones(2, 7)); m.weight.shape
    (3, 7)
    """

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(0, 0, False, dtype=dtype)
        self.weight = UninitializedParameter(**factory_kwargs)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(**factory_kwargs)

    def reset_parameters(self) -> None:
        """``Linear``'s initialisation, once the shapes are known."""
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input: Tensor) -> None:
        """``in_features = input.shape[-1]``; materialize and initialise weight and bias."""
        if self.has_uninitialized_params():
            self.in_features = input.shape[-1]
            self.weight.materialize((self.out_features, self.in_features))
            if self.bias is not None:
                self.bias.materialize((self.out_features,))
            self.reset_parameters()
        if self.in_features == 0:  # parameters loaded from a state_dict
            if input.shape[-1] != self.weight.shape[-1]:
                raise AssertionError(f"The in_features inferred from input: {input.shape[-1]} is not equal to "
                                     f"in_features from self.weight: {self.weight.shape[-1]}")
            self.in_features = input.shape[-1]


class _LazyConvXdMixin(LazyModuleMixin):
    """What the lazy convolutions share: ``in_channels`` from the input's channel dimension."""

    _spatial_dims = 1

    def _make_placeholders(self, out_channels: int, bias: bool, device, dtype) -> None:
        factory_kwargs = {"device": device, "dtype": dtype}
        self.weight = UninitializedParameter(**factory_kwargs)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(**factory_kwargs)

    def reset_parameters(self) -> None:
        """The concrete convolution's initialisation, once the shapes are known."""
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def initialize_parameters(self, input: Tensor, *args, **kwargs) -> None:
        """``in_channels`` from ``input``; materialize and initialise weight and bias."""
        if self.has_uninitialized_params():
            self.in_channels = self._get_in_channels(input)
            if self.in_channels % self.groups != 0:
                raise ValueError("in_channels must be divisible by groups")
            if getattr(self, "transposed", False):  # Conv2d has no such attribute here
                self.weight.materialize((self.in_channels, self.out_channels // self.groups, *self.kernel_size))
            else:
                self.weight.materialize((self.out_channels, self.in_channels // self.groups, *self.kernel_size))
            if self.bias is not None:
                self.bias.materialize((self.out_channels,))
            self.reset_parameters()
        elif self.in_channels == 0:  # parameters loaded from a state_dict
            self._after_lazy_load()

    def _after_lazy_load(self) -> None:
        if not is_lazy(self.weight):
            w = self.weight.shape
            self.in_channels = w[0] if getattr(self, "transposed", False) else w[1] * self.groups

    def _get_in_channels(self, input: Tensor) -> int:
        no_batch = self._spatial_dims + 1
        if input.ndim not in (no_batch, no_batch + 1):
            raise RuntimeError(f"Expected {no_batch}D (unbatched) or {no_batch + 1}D (batched) input to "
                               f"{type(self).__name__}, but got input of size: {list(input.shape)}")
        return input.shape[1] if input.ndim == no_batch + 1 else input.shape[0]


def _lazy_conv(name: str, concrete: type, spatial_dims: int) -> type:
    """The lazy class of convolution ``concrete`` (PyTorch's ``LazyConv{1,2,3}d``): same arguments without
    ``in_channels``."""

    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, dilation=1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None) -> None:
        concrete.__init__(self, 0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode,
                          dtype=dtype)
        self._make_placeholders(out_channels, bias, device, dtype)

    doc = (f"A ``{concrete.__name__}`` whose ``in_channels`` is the channel dimension of its first input.\n\n"
           f"    >>> import numgrad as ng\n"
           f"    >>> m = ng.nn.{name}(4, 3); _ = m(ng.ones((1, 2) + (5,) * {spatial_dims})); m.weight.shape[:2]\n"
           f"    (4, 2)\n    ")
    return type(name, (_LazyConvXdMixin, concrete), {
        "__init__": __init__, "__doc__": doc, "cls_to_become": concrete, "_spatial_dims": spatial_dims,
        "__module__": __name__})


def _lazy_conv_transpose(name: str, concrete: type, spatial_dims: int) -> type:
    """The lazy class of transposed convolution ``concrete`` (PyTorch's ``LazyConvTranspose{1,2,3}d``)."""

    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0, groups: int = 1,
                 bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None, dtype=None) -> None:
        concrete.__init__(self, 0, 0, kernel_size, stride, padding, output_padding, groups, False, dilation,
                          padding_mode, dtype=dtype)
        self._make_placeholders(out_channels, bias, device, dtype)

    doc = (f"A ``{concrete.__name__}`` whose ``in_channels`` is the channel dimension of its first input.\n\n"
           f"    >>> import numgrad as ng\n"
           f"    >>> m = ng.nn.{name}(4, 3); _ = m(ng.ones((1, 2) + (5,) * {spatial_dims})); m.weight.shape[:2]\n"
           f"    (2, 4)\n    ")
    return type(name, (_LazyConvXdMixin, concrete), {
        "__init__": __init__, "__doc__": doc, "cls_to_become": concrete, "_spatial_dims": spatial_dims,
        "__module__": __name__})


class _LazyNormBase(LazyModuleMixin):
    """What the lazy batch and instance norms share: ``num_features = input.shape[1]``."""

    def _make_placeholders(self, affine: bool, track_running_stats: bool, bias: bool, device, dtype) -> None:
        factory_kwargs = {"device": device, "dtype": dtype}
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = UninitializedParameter(**factory_kwargs)
            if bias:
                self.bias = UninitializedParameter(**factory_kwargs)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            self.running_var = UninitializedBuffer(device=device, dtype=dtype)
            self.register_buffer("num_batches_tracked", _batches_tracked(device))

    def reset_parameters(self) -> None:
        """The concrete norm's reset (running statistics, weight 1, bias 0), once the shapes are known."""
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input: Tensor) -> None:
        """``num_features = input.shape[1]``; materialize weight, bias and running statistics."""
        if self.has_uninitialized_params():
            self.num_features = input.shape[1]
            for name in ("weight", "bias", "running_mean", "running_var"):
                t = getattr(self, name)
                if t is not None:
                    t.materialize((self.num_features,))
            self.reset_parameters()
        elif self.num_features == 0:  # parameters loaded from a state_dict
            self._after_lazy_load()

    def _after_lazy_load(self) -> None:
        for name in ("weight", "running_mean"):
            t = getattr(self, name)
            if t is not None and not is_lazy(t):
                self.num_features = t.shape[0]
                return

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


def _batches_tracked(device) -> Tensor:
    return creation.tensor(0, dtype=_dtypes.int64, device=device)


def _lazy_norm(name: str, concrete: type) -> type:
    """The lazy class of norm layer ``concrete`` (PyTorch's ``LazyBatchNorm{1,2,3}d`` / ``LazyInstanceNorm*``)."""

    def __init__(self, eps: float = 1e-5, momentum: Optional[float] = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True) -> None:
        concrete.__init__(self, 0, eps, momentum, False, False, dtype=dtype)
        self._make_placeholders(affine, track_running_stats, bias, device, dtype)

    dims = {"1d": "(2, 3, 4)", "2d": "(2, 3, 4, 4)", "3d": "(2, 3, 2, 2, 2)"}[name[-2:]]
    doc = (f"A ``{concrete.__name__}`` whose ``num_features`` is the channel dimension of its first input.\n\n"
           f"    >>> import numgrad as ng\n"
           f"    >>> ng.nn.{name}()(ng.randn{dims}).shape[1]\n"
           f"    3\n    ")
    return type(name, (_LazyNormBase, concrete), {
        "__init__": __init__, "__doc__": doc, "cls_to_become": concrete, "__module__": __name__})


LazyConv1d = _lazy_conv("LazyConv1d", Conv1d, 1)
LazyConv2d = _lazy_conv("LazyConv2d", Conv2d, 2)
LazyConvTranspose1d = _lazy_conv_transpose("LazyConvTranspose1d", ConvTranspose1d, 1)
LazyConvTranspose2d = _lazy_conv_transpose("LazyConvTranspose2d", ConvTranspose2d, 2)
LazyBatchNorm1d = _lazy_norm("LazyBatchNorm1d", BatchNorm1d)
LazyBatchNorm2d = _lazy_norm("LazyBatchNorm2d", BatchNorm2d)
LazyInstanceNorm1d = _lazy_norm("LazyInstanceNorm1d", InstanceNorm1d)
LazyInstanceNorm2d = _lazy_norm("LazyInstanceNorm2d", InstanceNorm2d)

# The 3-D layers: defined where their concrete classes exist in this build (looked up by PyTorch's names).
_LAZY_3D = (("LazyConv3d", conv, "Conv3d", _lazy_conv), ("LazyConvTranspose3d", conv, "ConvTranspose3d",
            _lazy_conv_transpose), ("LazyBatchNorm3d", batchnorm, "BatchNorm3d", None),
            ("LazyInstanceNorm3d", instancenorm, "InstanceNorm3d", None))
for _name, _family, _concrete_name, _factory in _LAZY_3D:
    _concrete = getattr(_family, _concrete_name, None)
    if _concrete is not None:
        globals()[_name] = _factory(_name, _concrete, 3) if _factory else _lazy_norm(_name, _concrete)
        __all__.append(_name)
