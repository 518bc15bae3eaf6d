"""``Parameter``: a leaf tensor that a ``Module`` registers as learnable."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import creation
from ..tensor import Size, Tensor


class Parameter(Tensor):
    """A tensor that is a learnable parameter of a ``Module`` (requires grad by default).

    Assigning a ``Parameter`` as a module attribute registers it, so it shows up
    in ``parameters()`` and ``state_dict()``.

    >>> import numgrad as ng
    >>> p = ng.nn.Parameter(ng.zeros(2))
    >>> p.requires_grad, isinstance(p, ng.Tensor)
    (True, True)
    """

    def __init__(self, data: Optional[Tensor] = None, requires_grad: bool = True):
        if data is None:
            arr = np.empty((0,), dtype=np.float32)
            version = None
        elif isinstance(data, Tensor):
            arr = data._data
            version = data._version
        elif isinstance(data, np.ndarray):
            arr = data
            version = None
        else:
            raise TypeError(f"Parameter(): expected a Tensor, got {type(data).__name__}")
        super().__init__(arr, requires_grad=requires_grad, _version=version)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Buffer(Tensor):
    """A tensor that a ``Module`` registers as a buffer when assigned as an attribute (``torch.nn.Buffer``).

    ``Buffer(t)`` shares ``t``'s data, cut from the graph (``requires_grad`` as ``t``'s); ``persistent=False``
    keeps it out of ``state_dict``.

    >>> import numgrad as ng
    >>> m = ng.nn.Module()
    >>> m.scale = ng.nn.Buffer(ng.ones(2)); m.tmp = ng.nn.Buffer(ng.zeros(1), persistent=False)
    >>> [n for n, _ in m.named_buffers()], list(m.state_dict())
    (['scale', 'tmp'], ['scale'])
    """

    __slots__ = ("persistent",)

    def __init__(self, data: Optional[Tensor] = None, *, persistent: bool = True):
        if data is None:
            arr, version, requires_grad = np.empty((0,), dtype=np.float32), None, False
        elif isinstance(data, Tensor):
            detached = data.detach()
            arr, version, requires_grad = detached._data, detached._version, data.requires_grad
        else:
            raise TypeError(f"Buffer(): expected a Tensor, got {type(data).__name__}")
        super().__init__(arr, requires_grad=requires_grad, _version=version)
        self.persistent = persistent


def _creation_empty(shape, dtype, device):
    """The array of a new uninitialized tensor (the default float dtype when ``dtype`` is None)."""
    return creation.empty(*shape, dtype=dtype, device=device)._data


UNINITIALIZED_SHAPE = (
    "Can't access the shape of an uninitialized parameter or buffer. This error usually happens in "
    "`load_state_dict` when trying to load an uninitialized parameter into an initialized one. Call "
    "`forward` to initialize the parameters before accessing their attributes.")
_UNINITIALIZED_USE = (
    "This error happens when you are using a `LazyModule` or explicitly manipulating "
    "`numgrad.nn.parameter.{name}` objects. When using LazyModules Call `forward` with a dummy batch to "
    "initialize the parameters before calling numgrad functions"
)


class UninitializedTensorMixin:
    """What ``UninitializedParameter`` and ``UninitializedBuffer`` share: no shape until ``materialize``.

    A lazy module (``nn.LazyLinear``, ...) holds these until its first forward; ``materialize(shape)`` gives the
    object data in place and turns it into its ``cls_to_become`` (so an optimizer that already holds it sees the
    materialized tensor).
    """

    __slots__ = ()
    cls_to_become: type = Tensor

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Give this tensor uninitialized data of ``shape`` (on this tensor's device and dtype unless given) and
        turn it into a ``Parameter`` (a buffer: a ``Buffer``), in place.

        >>> import numgrad as ng
        >>> p = ng.nn.UninitializedParameter()
        >>> p.materialize((2, 3)); type(p).__name__, p.shape
        ('Parameter', (2, 3))
        """
        self._data = _creation_empty(tuple(shape), self.dtype if dtype is None else dtype,
                                     self.device if device is None else device)
        self._version[0] += 1
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise RuntimeError(UNINITIALIZED_SHAPE)

    def size(self, dim: Optional[int] = None):
        """The placeholder's size, ``(0,)`` (as PyTorch's, whose uninitialized tensors are empty)."""
        shape = self._buf.shape
        return Size(shape) if dim is None else shape[dim]

    def numel(self) -> int:
        raise ValueError("Attempted to use an uninitialized parameter in numel(). "
                         + _UNINITIALIZED_USE.format(name=type(self).__name__))

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            memo[id(self)] = type(self)(self.requires_grad, self.device, self.dtype)
        return memo[id(self)]


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A parameter whose shape is not known yet: what a lazy module holds before its first forward.

    >>> import numgrad as ng
    >>> p = ng.nn.UninitializedParameter()
    >>> p, p.requires_grad
    (<UninitializedParameter>, True)
    """

    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        super().__init__(Tensor(_creation_empty((0,), dtype, device)), requires_grad=requires_grad)


class UninitializedBuffer(UninitializedTensorMixin, Buffer):
    """A buffer whose shape is not known yet (a lazy norm layer's running statistics before its first forward).

    >>> import numgrad as ng
    >>> b = ng.nn.UninitializedBuffer()
    >>> b.materialize((3,)); b.shape
    (3,)
    """

    __slots__ = ()
    cls_to_become = Buffer

    def __init__(self, requires_grad: bool = False, device=None, dtype=None, persistent: bool = True):
        Tensor.__init__(self, _creation_empty((0,), dtype, device), requires_grad=requires_grad)
        self.persistent = persistent


def is_lazy(param) -> bool:
    """Whether ``param`` is an ``UninitializedParameter`` or ``UninitializedBuffer`` (``torch.nn.parameter.is_lazy``).

    >>> import numgrad as ng
    >>> ng.nn.parameter.is_lazy(ng.nn.UninitializedParameter()), ng.nn.parameter.is_lazy(ng.zeros(1))
    (True, False)
    """
    return isinstance(param, UninitializedTensorMixin)
