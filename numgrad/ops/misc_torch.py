"""More of PyTorch's top-level functions and Tensor methods: ``poisson``, ``gradient``, ``nonzero_static``,
``empty_permuted``, ``frombuffer``, ``as_strided_scatter``, ``unsafe_chunk``/``unsafe_split``, the in-place
shifts, ``dim_order``, ``is_set_to``, ``const_data_ptr``, ``set_flush_denormal``.

All are compositions of numgrad's ops (slices, cat, copy_ into a view), so gradients and devices come from
those; ``poisson`` samples from numgrad's generator.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from .. import _dtypes
from ..creation import _finish, empty, from_numpy, full, sampling_generator
from ..tensor import Tensor
from .indexing import _first_out_of_bounds, _wrap_dim, nonzero
from .scatter import scatter_reduce
from .shape import cat
from .tensor_storage import _storage_offset, as_strided, data_ptr


def poisson(input, generator=None) -> Tensor:
    """Poisson samples with the rates in ``input`` (same shape and dtype). Not differentiable (PyTorch's
    gradient is zero).

    >>> import numgrad as ng
    >>> ng.poisson(ng.zeros(3))
    tensor([0., 0., 0.])
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"poisson(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    rates = input.detach().cpu().numpy().astype(np.float64)
    if np.any(rates < 0) or np.any(np.isnan(rates)):
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    gen = sampling_generator(generator)
    return _finish(gen.poisson(rates).astype(np.float64), False, input.device).to(input.dtype)


def _spacings(spacing, dims: Sequence[int]) -> list:
    if isinstance(spacing, (int, float)):
        return [float(spacing)] * len(dims)
    spacing = list(spacing)
    if len(spacing) == 1 and len(dims) > 1 and isinstance(spacing[0], (int, float)):
        return [float(spacing[0])] * len(dims)
    if len(spacing) != len(dims):
        raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar or it's spacing and dim "
                           f"arguments to have the same length, but got a spacing argument of length {len(spacing)} "
                           f"and a dim argument of length {len(dims)}.")
    for s in spacing:
        if isinstance(s, Tensor):
            raise NotImplementedError("gradient: spacing given as coordinate tensors (non-uniform grids) is not "
                                      "supported by numgrad; pass scalar spacings")
    return [float(s) for s in spacing]


def gradient(input, *, spacing: Union[float, Sequence[float]] = 1, dim: Union[int, Sequence[int], None] = None,
             edge_order: int = 1) -> tuple:
    """Estimate the derivative of ``input`` along each dimension in ``dim`` (all by default) with central
    differences inside and one-sided differences of order ``edge_order`` (1 or 2) at the edges, with uniform
    ``spacing`` (a number, or one per dimension). Returns one tensor per dimension; differentiable.

    >>> import numgrad as ng
    >>> ng.gradient(ng.tensor([1., 4., 9., 16.]))
    (tensor([3., 4., 6., 7.]),)
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"gradient(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if edge_order not in (1, 2):
        raise RuntimeError("torch.gradient only supports edge_order=1 and edge_order=2.")
    dims = list(range(input.ndim)) if dim is None else ([dim] if isinstance(dim, int) else list(dim))
    dims = [d + input.ndim if d < 0 else d for d in dims]
    hs = _spacings(spacing, dims)
    x = input if input.dtype.is_floating_point else input.to(_dtypes.get_default_dtype())
    results = []
    for d, h in zip(dims, hs):
        n = x.shape[d]
        if n < edge_order + 1:
            raise RuntimeError("torch.gradient expected each dimension size to be at least edge_order+1")
        part = x.narrow
        interior = (part(d, 2, n - 2) - part(d, 0, n - 2)) / (2.0 * h)
        if edge_order == 1:
            first = (part(d, 1, 1) - part(d, 0, 1)) / h
            last = (part(d, n - 1, 1) - part(d, n - 2, 1)) / h
        else:
            first = (-1.5 * part(d, 0, 1) + 2.0 * part(d, 1, 1) - 0.5 * part(d, 2, 1)) / h
            last = (0.5 * part(d, n - 3, 1) - 2.0 * part(d, n - 2, 1) + 1.5 * part(d, n - 1, 1)) / h
        results.append(cat([first, interior, last], d))
    return tuple(results)


def nonzero_static(input, *, size: int, fill_value: int = -1) -> Tensor:
    """``nonzero(input)`` with exactly ``size`` rows: truncated, or padded with ``fill_value``.

    >>> import numgrad as ng
    >>> ng.nonzero_static(ng.tensor([0, 1, 1, 0, 1]), size=2)
    tensor([[1],
            [2]])
    """
    if size < 0:
        raise RuntimeError(f"nonzero_static: 'size' must be an non-negative integer, but got {size}")
    found = nonzero(input)
    if found.shape[0] >= size:
        return found[:size]
    pad = full((size - found.shape[0], found.shape[1]), fill_value, dtype=_dtypes.int64, device=input.device)
    return cat([found, pad], 0)


def empty_permuted(size: Sequence[int], physical_layout: Sequence[int], *, dtype=None, layout=None, device=None,
                   requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """An uninitialized tensor of logical shape ``size`` whose memory holds the dimensions in the order
    ``physical_layout`` (outermost first): ``empty_permuted((N, C, H, W), (0, 2, 3, 1))`` is channels-last.

    >>> import numgrad as ng
    >>> ng.empty_permuted((2, 3, 4), (0, 2, 1)).stride()
    (12, 1, 3)
    """
    size = tuple(int(s) for s in size)
    layout_dims = tuple(int(p) for p in physical_layout)
    if sorted(layout_dims) != list(range(len(size))):
        raise RuntimeError(f"empty_permuted: physical_layout {list(layout_dims)} is not a permutation of the "
                           f"{len(size)} dimensions")
    physical = empty(*[size[p] for p in layout_dims], dtype=dtype, device=device, pin_memory=pin_memory)
    inverse = [0] * len(size)
    for i, p in enumerate(layout_dims):
        inverse[p] = i
    out = physical.permute(*inverse).detach()
    if requires_grad:
        out.requires_grad_(True)
    return out


def frombuffer(buffer, *, dtype, count: int = -1, offset: int = 0, requires_grad: bool = False) -> Tensor:
    """A 1-D tensor over the memory of a Python buffer (``bytes``, ``bytearray``, ``array``, ``memoryview``):
    shared, not copied, as in PyTorch; ``count`` elements (all by default) from byte ``offset``.

    >>> import numgrad as ng
    >>> ng.frombuffer(bytearray(b"\\x01\\x02\\x03"), dtype=ng.uint8)
    tensor([1, 2, 3], dtype=numgrad.uint8)
    """
    dt = _dtypes.as_dtype(dtype)
    if dt is _dtypes.bfloat16:
        raise TypeError("frombuffer: bfloat16 buffers are not supported by numgrad; read float32 and convert")
    arr = np.frombuffer(buffer, dtype=dt.np, count=count, offset=offset)
    out = from_numpy(arr)
    if requires_grad:
        out.requires_grad_(True)
    return out


def as_strided_scatter(input, src, size: Sequence[int], stride: Sequence[int],
                       storage_offset: Optional[int] = None) -> Tensor:
    """A copy of ``input`` with ``src`` written into the view ``as_strided(size, stride, storage_offset)`` of it;
    gradients flow to both, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.as_strided_scatter(ng.zeros(6), ng.ones(2, 2), (2, 2), (1, 2), 1)
    tensor([0., 1., 1., 1., 1., 0.])
    """
    out = input.contiguous().clone()
    offset = _storage_offset(input) if storage_offset is None else storage_offset
    as_strided(out, size, stride, offset).copy_(src)
    return out


def index_reduce(input, dim: int, index, source, reduce: str, *, include_self: bool = True) -> Tensor:
    """Reduce the slices of ``source`` along ``dim`` into a copy of ``input`` at the positions ``index`` names:
    ``reduce='prod'``, ``'mean'``, ``'amax'`` or ``'amin'`` (``include_self=False`` leaves the old values out).
    Differentiable like ``scatter_reduce``, with PyTorch's gradients.

    >>> import numgrad as ng
    >>> ng.index_reduce(ng.zeros(2, 2), 0, ng.tensor([1, 1]), ng.tensor([[1., 2.], [3., 4.]]), "amax")
    tensor([[0., 0.],
            [3., 4.]])
    >>> ng.index_reduce(ng.full((2, 2), 2.), 0, ng.tensor([1, 1]), ng.tensor([[1., 2.], [3., 4.]]), "prod")
    tensor([[ 2.,  2.],
            [ 6., 16.]])
    """
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.")
    for name, arg in (("index", index), ("source", source)):
        if not isinstance(arg, Tensor):
            raise TypeError(f"index_reduce(): argument '{name}' must be Tensor, not {type(arg).__name__}")
    if index.dtype.name not in ("int32", "int64"):
        raise RuntimeError(f"index_reduce_(): Expected dtype int32/int64 for index but got: "
                           f"{_dtypes.torch_type_name(index.dtype)}")
    if index.ndim > 1:
        raise IndexError(f"index_reduce_(): Index is supposed to be a vector, but got dim: {index.ndim} with type: "
                         f"{_dtypes.torch_type_name(index.dtype)} and size: {list(index.shape)}")
    d = _wrap_dim(dim, input.ndim, "index_reduce")
    n = index.numel()
    if source.ndim == 0:
        if n != 1:
            raise IndexError(f"index_reduce_(): Dimension specified as {dim} but tensor has no dimensions (source is "
                             f"0-d, so index must hold one position; got {n})")
    elif d >= source.ndim:
        raise RuntimeError(f"index_reduce_(): Indexing dim {dim} is out of bounds of the source tensor with dim "
                           f"{source.ndim} (source shape {list(source.shape)}, self shape {list(input.shape)})")
    elif source.shape[d] != n:
        raise RuntimeError(f"index_reduce_(): Number of indices ({n}) should be equal to source.size(dim): "
                           f"({source.shape[d]}), for dim: {dim}")
    if source.ndim != input.ndim or any(k != d and a != b for k, (a, b) in enumerate(zip(source.shape, input.shape))):
        raise RuntimeError(f"index_reduce_(): source tensor shape must match self tensor shape, excluding the "
                           f"specified dimension. Got self.shape = {list(input.shape)} source.shape = "
                           f"{list(source.shape)} (source needs self's shape with size len(index) = {n} at dim {d})")
    if source.dtype != input.dtype:
        raise RuntimeError(f"index_reduce_(): self ({_dtypes.torch_type_name(input.dtype)}) and source "
                           f"({_dtypes.torch_type_name(source.dtype)}) must have the same scalar type (convert "
                           "source with .to(self.dtype))")
    if input.dtype == _dtypes.bool_:
        raise NotImplementedError(f"\"index_reduce_\" not implemented for 'Bool' (self shape {list(input.shape)}; "
                                  "PyTorch has no bool index_reduce: convert with .to(numgrad.uint8) first)")
    if _first_out_of_bounds(index, input.shape[d] if input.ndim else 1) is not None:
        raise IndexError(f"index out of range in self (index_reduce_: index values must lie in [0, "
                         f"{input.shape[d] if input.ndim else 1}) for dim {d} of self shape {list(input.shape)})")
    if source.ndim == 0:
        positions = index.to(_dtypes.int64).reshape(())
    else:  # scatter_reduce's index: index[i] along dim, broadcast over the other dimensions of source
        shape = [1] * source.ndim
        shape[d] = n
        positions = index.to(_dtypes.int64).reshape(shape).expand(*source.shape)
    return scatter_reduce(input, d, positions, source, reduce, include_self=include_self)


def _index_reduce_(self, dim: int, index, source, reduce: str, *, include_self: bool = True) -> Tensor:
    """In-place ``index_reduce``."""
    return self.copy_(index_reduce(self, dim, index, source, reduce, include_self=include_self))


def unsafe_chunk(input, chunks: int, dim: int = 0) -> tuple:
    """``chunk`` (PyTorch's variant without view checks; numgrad's views are always checked).

    >>> import numgrad as ng
    >>> [c.shape for c in ng.unsafe_chunk(ng.zeros(4, 2), 2)]
    [(2, 2), (2, 2)]
    """
    return input.chunk(chunks, dim)


def unsafe_split(input, split_size_or_sections, dim: int = 0) -> tuple:
    """``split`` (PyTorch's variant without view checks; numgrad's views are always checked).

    >>> import numgrad as ng
    >>> [c.shape for c in ng.unsafe_split(ng.zeros(5), 2)]
    [(2,), (2,), (1,)]
    """
    return input.split(split_size_or_sections, dim)


def _bitwise_left_shift_(self, other) -> Tensor:
    """In-place ``bitwise_left_shift``."""
    return self.copy_(self.bitwise_left_shift(other))


def _bitwise_right_shift_(self, other) -> Tensor:
    """In-place ``bitwise_right_shift``."""
    return self.copy_(self.bitwise_right_shift(other))


def _dim_order(self, *, ambiguity_check: bool = False) -> tuple:
    """The dimensions from outermost to innermost in memory (by decreasing stride), as ``Tensor.dim_order``."""
    strides = self.stride()
    return tuple(sorted(range(self.ndim), key=lambda d: (-strides[d], d)))


def _is_set_to(self, tensor: Tensor) -> bool:
    """True when both tensors view the same memory with the same offset, shape and strides."""
    return (data_ptr(self) == data_ptr(tensor) and self.shape == tensor.shape and self.stride() == tensor.stride()
            and self.dtype == tensor.dtype)


TENSOR_METHODS = {
    "unsafe_chunk": unsafe_chunk, "unsafe_split": unsafe_split, "bitwise_left_shift_": _bitwise_left_shift_,
    "bitwise_right_shift_": _bitwise_right_shift_, "dim_order": _dim_order, "is_set_to": _is_set_to,
    "const_data_ptr": data_ptr, "as_strided_scatter": as_strided_scatter, "index_reduce": index_reduce,
    "index_reduce_": _index_reduce_, "nonzero_static": nonzero_static,
}
PUBLIC = ("poisson", "gradient", "nonzero_static", "empty_permuted", "frombuffer", "as_strided_scatter",
          "unsafe_chunk", "unsafe_split", "index_reduce")
