"""The maximum over arbitrary boxes of each ``(N, C)`` plane, with its flat index: the shared body of fractional
max pooling (per-plane pseudo-random windows) and adaptive max pooling with unequal bins.

Every box's positions are gathered into an ``(N, C, cells, window)`` tensor and reduced by ``max`` over the last
axis, so gradients route to each maximum through ``gather``'s and ``max``'s own rules, on any device. Boxes
shorter than ``window`` along a dimension repeat their last position: a repeat comes after the position it
copies, so the first maximum in row-major order (PyTorch's pick) is still the one ``max`` reports.
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np

from ...creation import tensor
from ...tensor import Tensor


def _along(a, dim: int, dims: int, window_axis: bool) -> np.ndarray:
    """``a`` (a scalar, ``(k,)`` or ``(N, C, k)``) reshaped to broadcast along output (or window) axis ``dim``."""
    a = np.asarray(a, dtype=np.int64)
    if a.ndim == 0:
        return a
    shape = list(a.shape[:-1] if a.ndim == 3 else (1, 1)) + [1] * (2 * dims)
    shape[2 + dims * window_axis + dim] = a.shape[-1]
    return a.reshape(shape)


def max_over_windows(x: Tensor, starts: Sequence, lengths: Sequence, window: Sequence[int]) -> Tuple[Tensor, Tensor]:
    """Max of ``x`` (N, C, *spatial) over the boxes ``[starts[i], starts[i] + lengths[i])`` of each spatial
    dimension ``i``; ``starts[i]`` is ``(out_i,)`` (the same for every plane) or ``(N, C, out_i)``, ``lengths[i]``
    an int or an array like it, at most ``window[i]``. Returns ``(values, indices)`` of shape ``(N, C, *outs)``,
    indices flat within each plane (``h * W + w`` in 2-D)."""
    n, c = x.shape[0], x.shape[1]
    spatial = tuple(x.shape[2:])
    dims = len(spatial)
    outs = tuple(np.shape(s)[-1] for s in starts)
    window = tuple(int(k) for k in window)
    flat = np.zeros([1] * (2 + 2 * dims), dtype=np.int64)
    for i in range(dims):
        offsets = _along(np.arange(window[i]), i, dims, True)
        position = _along(starts[i], i, dims, False) + np.minimum(offsets, _along(lengths[i], i, dims, False) - 1)
        flat = flat + position * math.prod(spatial[i + 1:])
    cells, size = math.prod(outs), math.prod(window)
    flat = np.broadcast_to(flat, (n, c) + outs + window).reshape(n, c, cells * size)
    positions = tensor(flat, device=x.device)
    boxes = x.reshape(n, c, math.prod(spatial)).gather(2, positions).reshape(n, c, cells, size)
    values, best = boxes.max(-1)
    indices = positions.reshape(n, c, cells, size).gather(3, best.unsqueeze(-1))
    return values.reshape((n, c) + outs), indices.reshape((n, c) + outs)


def adaptive_bins(size: int, out: int) -> Tuple[np.ndarray, np.ndarray, int]:
    """PyTorch's adaptive pooling bins of ``size`` into ``out``: starts ``floor(i * size / out)``, lengths up to
    ``ceil((i + 1) * size / out)``, and the longest length."""
    i = np.arange(out)
    starts = (i * size) // out
    lengths = -((-(i + 1) * size) // out) - starts
    return starts, lengths, int(lengths.max()) if out else 0
