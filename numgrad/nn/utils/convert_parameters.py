"""Parameters to one flat vector and back (PyTorch's ``torch.nn.utils.convert_parameters``)."""
from __future__ import annotations

from typing import Iterable

from ...ops.shape import cat
from ...tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_device(param: Tensor, first) -> object:
    if first is None:
        return param.device
    if param.device != first:
        raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return first


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All ``parameters`` flattened and concatenated into one 1-D tensor (differentiable).

    >>> import numgrad as ng
    >>> ng.nn.utils.parameters_to_vector([ng.ones(2, 2), ng.zeros(1)])
    tensor([1., 1., 1., 1., 0.])
    """
    device = None
    flat = []
    for p in parameters:
        device = _check_device(p, device)
        flat.append(p.reshape(-1))
    return cat(flat)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Set the ``.data`` of each of ``parameters`` to the next slice of ``vec``, in order.

    >>> import numgrad as ng
    >>> a, b = ng.zeros(2), ng.zeros(1)
    >>> ng.nn.utils.vector_to_parameters(ng.tensor([1.0, 2.0, 3.0]), [a, b])
    >>> a, b
    (tensor([1., 2.]), tensor([3.]))
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__module__}.{type(vec).__qualname__}")
    device = None
    pointer = 0
    for p in parameters:
        device = _check_device(p, device)
        n = p.numel()
        p.data = vec[pointer:pointer + n].view_as(p).data
        pointer += n
