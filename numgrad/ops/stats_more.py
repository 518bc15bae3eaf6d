"""``mode``, ``histogram``, ``unravel_index`` and ``ger`` (PyTorch's old name of ``outer``).

``mode`` finds the indices on the host (a sort per row) and gathers the values, so its gradient reaches
the chosen element as PyTorch's does; ``histogram`` counts on the host like PyTorch's CPU-only kernel;
``unravel_index`` is ``remainder``/``floor_divide`` on the tensor.
"""
from __future__ import annotations

import collections
from typing import Optional, Sequence, Union

import numpy as np

from .. import _dtypes
from ..creation import _finish
from ..tensor import Tensor
from . import elementwise_functions as pw
from .indexing import gather
from .linalg import outer

mode_return_type = collections.namedtuple("mode", ("values", "indices"))
histogram_return_type = collections.namedtuple("histogram", ("hist", "bin_edges"))
mode_return_type.__module__ = histogram_return_type.__module__ = "numgrad.return_types"


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
        idx = _finish(np.zeros((), dtype=np.int64), False, input.device)
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
    if not isinstance(input, Tensor):
        raise TypeError(f"histogram(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"\"histogramdd\" not implemented for '{_dtypes.torch_type_name(input.dtype)}'")
    values = _host(input).reshape(-1).astype(np.float64)
    w = None
    if weight is not None:
        if tuple(weight.shape) != tuple(input.shape):
            raise RuntimeError("torch.histogramdd: if weight tensor is provided it should have the same shape as "
                               f"the input tensor excluding its innermost dimension, but got input with shape "
                               f"{list(input.shape)} and weight with shape {list(weight.shape)}")
        w = _host(weight).reshape(-1).astype(np.float64)
    if isinstance(bins, Tensor):
        if bins.ndim != 1 or bins.shape[0] < 1:
            raise RuntimeError("torch.histogramdd: bins tensor should have one dimension and at least 1 entry")
        edges = _host(bins).astype(np.float64)
        if np.any(np.diff(edges) < 0):
            raise RuntimeError("torch.histogramdd: bin edges should be monotonically increasing")
    else:
        if int(bins) <= 0:
            raise RuntimeError(f"torch.histogramdd: bins must be > 0, but got {bins} for dimension 0")
        if range is not None:
            lo, hi = float(range[0]), float(range[1])
            if lo > hi:
                raise RuntimeError(f"torch.histogramdd: min should not exceed max, but got min {range[0]:g} max "
                                   f"{range[1]:g} for dimension 0")
        elif values.size:
            lo, hi = float(values.min()), float(values.max())
        else:
            lo, hi = 0.0, 0.0
        if lo == hi:  # PyTorch (and NumPy) widen an empty range by 0.5 on each side
            lo, hi = lo - 0.5, hi + 0.5
        # the edges in the input's dtype, as PyTorch's linspace makes them
        edges = np.linspace(lo, hi, int(bins) + 1).astype(input.dtype.np if input.dtype.name != "bfloat16"
                                                          else np.float32).astype(np.float64)
    hist, _ = np.histogram(values, bins=edges, weights=w)
    hist = hist.astype(np.float64)
    if density:
        total = hist.sum()
        hist = hist / (total * np.diff(edges)) if total else hist * np.nan
    hist_t = _finish(hist, False, input.device).to(input.dtype)
    edges_t = _finish(edges, False, input.device).to(input.dtype)
    return histogram_return_type(hist_t, edges_t)


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


def _mode_method(self, dim: int = -1, keepdim: bool = False):
    """``mode`` along ``dim``."""
    return mode(self, dim, keepdim)


TENSOR_METHODS = {"mode": _mode_method, "histogram": histogram, "ger": ger}
PUBLIC = ("mode", "histogram", "unravel_index", "ger")
