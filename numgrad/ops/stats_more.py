"""``mode``, ``histogram``, ``histogramdd``, ``unravel_index`` and ``ger`` (PyTorch's old name of ``outer``);
``Tensor.is_shared`` (False: numgrad tensors never live in shared memory; ``is_pinned`` is in ``pinned_memory``).

``mode`` finds the indices on the host (a sort per row) and gathers the values, so its gradient reaches
the chosen element as PyTorch's does; ``histogram`` counts on the host like PyTorch's CPU-only kernel;
``unravel_index`` is ``remainder``/``floor_divide`` on the tensor.
"""
from __future__ import annotations

import collections
from typing import Optional, Sequence, Union

import numpy as np

from .. import _dtypes
from ..creation import _finish, zeros
from ..tensor import Tensor
from . import elementwise_functions as pw
from .indexing import gather
from .linalg import outer

mode_return_type = collections.namedtuple("mode", ("values", "indices"))
histogram_return_type = collections.namedtuple("histogram", ("hist", "bin_edges"))
histogramdd_return_type = collections.namedtuple("histogramdd", ("hist", "bin_edges"))
mode_return_type.__module__ = histogram_return_type.__module__ = "numgrad.return_types"
histogramdd_return_type.__module__ = "numgrad.return_types"
builtins_range = range  # histogram's keyword argument ``range`` shadows the builtin inside it


def _host(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def mode(input, dim: int = -1, keepdim: bool = False):
    """The most frequent value along ``dim`` (the smallest of equally frequent ones) and the index of its last
    occurrence, as ``torch.mode``. Returns ``(values, indices)``.

    >>> import numgrad as ng
    >>> ng.mode(ng.tensor([2, 1, 1, 2, 3]))
    mode(values=tensor(1), indices=tensor(2))
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"mode(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if input.ndim == 0:
        d = 0
        if dim not in (0, -1):
            raise IndexError(f"Dimension out of range (expected to be in range of [-1, 0], but got {dim})")
        idx = zeros((), dtype=_dtypes.int64, device=input.device)
        return mode_return_type(input.clone() if input.requires_grad else input.detach().clone(), idx)
    d = dim + input.ndim if dim < 0 else dim
    if not 0 <= d < input.ndim:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-input.ndim}, {input.ndim - 1}], "
                         f"but got {dim})")
    n = input.shape[d]
    if n == 0:
        raise IndexError(f"mode(): Expected reduction dim {d} to have non-zero size.")
    rows = np.moveaxis(_host(input), d, -1).reshape(-1, n)
    picks = np.empty(rows.shape[0], dtype=np.int64)
    for r, row in enumerate(rows):
        values, counts = np.unique(row, return_counts=True)  # sorted: argmax takes the smallest of the most common
        best = values[int(np.argmax(counts))]
        picks[r] = np.flatnonzero(row == best)[-1]
    shape = tuple(s for i, s in enumerate(input.shape) if i != d)
    indices = _finish(np.moveaxis(picks.reshape(shape + (1,)), -1, d), False, input.device)
    values = gather(input, d, indices)
    if not keepdim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return mode_return_type(values, indices)


def _edges(values: np.ndarray, bins, bounds, dtype, dim: int) -> np.ndarray:
    """Bin edges of one dimension, as PyTorch's histogramdd makes them (float64 here)."""
    if isinstance(bins, Tensor):
        if bins.ndim != 1 or bins.shape[0] < 1:
            raise RuntimeError("torch.histogramdd: bins tensor should have one dimension and at least 1 entry")
        edges = _host(bins).astype(np.float64)
        if np.any(np.diff(edges) < 0):
            raise RuntimeError("torch.histogramdd: bin edges should be monotonically increasing")
        return edges
    if int(bins) <= 0:
        raise RuntimeError(f"torch.histogramdd: bins must be > 0, but got {bins} for dimension {dim}")
    if bounds is not None:
        lo, hi = float(bounds[0]), float(bounds[1])
        if lo > hi:
            raise RuntimeError(f"torch.histogramdd: min should not exceed max, but got min {bounds[0]:g} max "
                               f"{bounds[1]:g} for dimension {dim}")
    elif values.size:
        lo, hi = float(values.min()), float(values.max())
    else:
        lo, hi = 0.0, 0.0
    if lo == hi:  # PyTorch (and NumPy) widen an empty range by 0.5 on each side
        lo, hi = lo - 0.5, hi + 0.5
    # the edges in the input's dtype, as PyTorch's linspace makes them
    np_dtype = dtype.np if dtype.name != "bfloat16" else np.float32
    return np.linspace(lo, hi, int(bins) + 1).astype(np_dtype).astype(np.float64)


def _check_float_input(input, op: str) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"\"histogramdd\" not implemented for '{_dtypes.torch_type_name(input.dtype)}'")


def _weights(weight, expected_shape, input) -> Optional[np.ndarray]:
    if weight is None:
        return None
    if tuple(weight.shape) != tuple(expected_shape):
        raise RuntimeError("torch.histogramdd: if weight tensor is provided it should have the same shape as the "
                           f"input tensor excluding its innermost dimension, but got input with shape "
                           f"{list(input.shape)} and weight with shape {list(weight.shape)}")
    return _host(weight).reshape(-1).astype(np.float64)


def _density(hist: np.ndarray, edges: list) -> np.ndarray:
    total = hist.sum()
    if not total:
        return hist * np.nan
    hist = hist / total
    for k, e in enumerate(edges):
        shape = [1] * hist.ndim
        shape[k] = -1
        hist = hist / np.diff(e).reshape(shape)
    return hist


def histogram(input, bins: Union[int, Tensor] = 100, *, range: Optional[Sequence[float]] = None,
              weight: Optional[Tensor] = None, density: bool = False):
    """Histogram of ``input``'s values: ``bins`` equal bins over ``range`` (the data's min and max by default)
    or the given bin edges (a 1-D increasing tensor). Each value counts ``weight`` (1 by default); the last
    bin includes its right edge. ``density=True`` divides by the total and the bin widths. Returns
    ``(hist, bin_edges)`` in ``input``'s dtype.

    >>> import numgrad as ng
    >>> ng.histogram(ng.tensor([1., 2., 1.]), bins=2, range=(0., 2.))
    histogram(hist=tensor([0., 3.]), bin_edges=tensor([0., 1., 2.]))
    """
    _check_float_input(input, "histogram")
    values = _host(input).reshape(-1).astype(np.float64)
    w = _weights(weight, input.shape, input)
    edges = _edges(values, bins, range, input.dtype, 0)
    hist, _ = np.histogram(values, bins=edges, weights=w)
    hist = hist.astype(np.float64)
    if density:
        hist = _density(hist, [edges])
    return histogram_return_type(_finish(hist, False, input.device).to(input.dtype),
                                 _finish(edges, False, input.device).to(input.dtype))


def histogramdd(input, bins: Union[int, Sequence[int], Sequence[Tensor]] = 10, *,
                range: Optional[Sequence[float]] = None, weight: Optional[Tensor] = None, density: bool = False):
    """The ``D``-dimensional histogram of the points in the rows of ``input`` (shape ``(..., D)``): per dimension
    ``bins`` equal bins (an int, or one per dimension) or edges (a list of 1-D tensors); ``range`` is
    ``[min_0, max_0, min_1, max_1, ...]``. Returns ``(hist, bin_edges)`` with one edge tensor per dimension.

    >>> import numgrad as ng
    >>> ng.histogramdd(ng.tensor([[0., 1.], [1., 0.]]), bins=2).hist
    tensor([[0., 1.],
            [1., 0.]])
    """
    _check_float_input(input, "histogramdd")
    if input.ndim < 1:
        raise RuntimeError("torch.histogramdd: input should have at least 1 dimension")
    D = input.shape[-1]
    points = _host(input).reshape(-1, D).astype(np.float64)
    per_dim = list(bins) if isinstance(bins, (list, tuple)) else [bins] * D
    if len(per_dim) != D:
        raise RuntimeError("histogramdd: The size of bins must be equal to the innermost dimension of the input.")
    if range is not None and len(range) != 2 * D:
        raise RuntimeError(f"torch.histogramdd: for a {D}-dimensional histogram range should have {2 * D} "
                           f"elements, but got {len(range)}")
    edges = [_edges(points[:, k], per_dim[k], None if range is None else range[2 * k:2 * k + 2], input.dtype, k)
             for k in builtins_range(D)]
    w = _weights(weight, input.shape[:-1], input)
    hist, _ = np.histogramdd(points, bins=edges, weights=w)
    if density:
        hist = _density(hist, edges)
    return histogramdd_return_type(_finish(hist, False, input.device).to(input.dtype),
                                   tuple(_finish(e, False, input.device).to(input.dtype) for e in edges))


def unravel_index(indices, shape) -> tuple:
    """The coordinates in an array of ``shape`` of flat (C-order) ``indices``: a tuple of one int64 tensor per
    dimension, each of ``indices``' shape. Indices outside ``[0, numel)`` wrap around, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.unravel_index(ng.tensor([4, 1]), (2, 3))
    (tensor([1, 0]), tensor([1, 1]))
    """
    if not isinstance(indices, Tensor):
        raise TypeError(f"unravel_index(): argument 'indices' must be Tensor, not {type(indices).__name__}")
    if indices.dtype.is_floating_point or indices.dtype.name == "bool":
        raise TypeError(f"expected 'indices' to be integer dtype, but got {indices.dtype}")
    dims = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if any(s < 0 for s in dims):
        raise RuntimeError(f"'shape' cannot have negative values, but got {tuple(dims)}")
    rest = indices.to(_dtypes.int64)
    coords = []
    for size in reversed(dims):
        if size == 0:
            coords.append(pw.mul(rest, 0))
            continue
        coords.append(pw.remainder(rest, size))
        rest = pw.floor_divide(rest, size)
    return tuple(reversed(coords))


def ger(input, vec2) -> Tensor:
    """The outer product of two 1-D tensors (PyTorch's deprecated name of ``outer``).

    >>> import numgrad as ng
    >>> ng.ger(ng.tensor([1., 2.]), ng.tensor([3., 4.]))
    tensor([[3., 4.],
            [6., 8.]])
    """
    return outer(input, vec2)


def _is_shared(self) -> bool:
    """False: numgrad tensors never live in shared memory."""
    return False


def _mode_method(self, dim: int = -1, keepdim: bool = False):
    """``mode`` along ``dim``."""
    return mode(self, dim, keepdim)


TENSOR_METHODS = {"mode": _mode_method, "histogram": histogram, "ger": ger, "is_shared": _is_shared}
PUBLIC = ("mode", "histogram", "histogramdd", "unravel_index", "ger")
