"""``Parameter``: a leaf tensor that a ``Module`` registers as learnable."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..tensor import Tensor


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
