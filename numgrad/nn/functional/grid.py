"""``grid_sample`` and ``affine_grid`` of ``numgrad.nn.functional`` (PyTorch's spatial transformer pair).

``grid_sample`` (4-D and 5-D input: bilinear/trilinear, nearest or (4-D) bicubic; zeros/border/reflection padding) runs the Numba kernels of
``kernels/cpu/grid_sample.py`` through ``backend.grid_sample_kernels``; the input and the grid get gradients.
``affine_grid`` (2-D and 3-D) is a product of a constant base grid with ``theta`` (a differentiable matmul).
"""
from __future__ import annotations

import warnings
from typing import List, Optional

import numpy as np

from ...autograd.function import Function
from ...creation import tensor
from ...kernels import backend
from ...ops.linalg import matmul
from ...tensor import Tensor
from ._arguments import _arr, _check_float, _check_tensor
from ...ops.autocast_policy import autocast_op

__all__ = ["affine_grid", "grid_sample"]

_MODES = {"bilinear": 0, "nearest": 1, "bicubic": 2}
_PADDINGS = {"zeros": 0, "border": 1, "reflection": 2}
_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. "
                  "Please specify align_corners=True if the old behavior is desired. See the documentation of "
                  "grid_sample for details.")


class _GridSample(Function):
    node_name = "GridSampler2DBackward0"

    @staticmethod
    def forward(ctx, input, grid, mode, padding, align_corners):
        xa, ga = _arr(input), _arr(grid)
        K = backend.grid_sample_kernels(xa, "grid_sample")
        out = np.empty(xa.shape[:2] + ga.shape[1:-1], xa.dtype)
        if mode == 2:
            K.grid_sample_bicubic_forward(xa, ga, padding, align_corners, out)
        else:
            (K.grid_sample3d_forward if xa.ndim == 5 else K.grid_sample_forward)(xa, ga, mode, padding,
                                                                                   align_corners, out)
        ctx.saved = (K, xa, ga, mode, padding, align_corners)
        return Tensor(out)

    @staticmethod
    def backward(ctx, g):
        K, xa, ga, mode, padding, align_corners = ctx.saved
        need_input, need_grid = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gx = np.empty(xa.shape if need_input else (0,) * xa.ndim, xa.dtype)
        ggrid = np.empty(ga.shape if need_grid else (0,) * ga.ndim, ga.dtype)
        go = np.ascontiguousarray(_arr(g), dtype=xa.dtype)
        if mode == 2:
            K.grid_sample_bicubic_backward(go, xa, ga, padding, align_corners, need_input, need_grid, gx, ggrid)
        else:
            (K.grid_sample3d_backward if xa.ndim == 5 else K.grid_sample_backward)(
                go, xa, ga, mode, padding, align_corners, need_input, need_grid, gx, ggrid)
        return (Tensor(gx) if need_input else None), (Tensor(ggrid) if need_grid else None), None, None, None


class _GridSample3d(_GridSample):
    node_name = "GridSampler3DBackward0"


@autocast_op
def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: Optional[bool] = None) -> Tensor:
    """Sample ``input`` ``(N, C, H, W)`` at the normalized ``(x, y)`` locations of ``grid`` ``(N, Ho, Wo, 2)``
    (-1 and 1 are the edges: the outer pixel edges, or with ``align_corners`` the outer pixel centres), or
    ``(N, C, D, H, W)`` input at the ``(x, y, z)`` of ``grid`` ``(N, Do, Ho, Wo, 3)`` (trilinear).

    ``mode``: ``'bilinear'``, ``'nearest'`` or (4-D only) ``'bicubic'``; ``padding_mode`` for locations outside:
    ``'zeros'``, ``'border'`` or ``'reflection'``.

    >>> import numgrad as ng
    >>> x = ng.arange(4.0).reshape(1, 1, 2, 2)
    >>> ng.nn.functional.grid_sample(x, ng.zeros(1, 1, 1, 2), align_corners=True)
    tensor([[[[1.5000]]]])
    """
    _check_tensor(input, "input", "grid_sample")
    _check_tensor(grid, "grid", "grid_sample")
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError("nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', but "
                         f"got: '{mode}'")
    if padding_mode not in _PADDINGS:
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise RuntimeError("grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, but "
                           f"got input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}")
    if input.shape[0] != grid.shape[0]:
        raise RuntimeError("grid_sampler(): expected grid and input to have same batch size, but got input with "
                           f"sizes {list(input.shape)} and grid with sizes {list(grid.shape)}")
    if grid.shape[-1] != input.ndim - 2:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {input.ndim - 2} in last dimension, but "
                           f"got grid with sizes {list(grid.shape)}")
    if input.dtype != grid.dtype:
        raise RuntimeError(f"grid_sampler(): expected input and grid to have same dtype, but input has "
                           f"{input._type_name()} and grid has {grid._type_name()}")
    _check_float(input, "input", "grid_sample")
    if mode == "bicubic" and input.ndim == 5:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    if any(s == 0 for s in input.shape[2:]):
        raise RuntimeError(f"grid_sampler(): expected input to have non-empty spatial dimensions, but input has "
                           f"sizes {list(input.shape)} with dimension {2 + list(input.shape[2:]).index(0)} being "
                           "empty")
    backend.check_same_device("grid_sample", "grid", grid._data, input._data)
    op = _GridSample3d if input.ndim == 5 else _GridSample
    return op.apply(input, grid, _MODES[mode], _PADDINGS[padding_mode], bool(align_corners))


def _base_coords(size: int, align_corners: bool) -> np.ndarray:
    """The normalized centres of ``size`` pixels: PyTorch's ``linspace_from_neg_one``."""
    if size <= 1:
        return np.zeros(size)
    coords = np.linspace(-1.0, 1.0, size)
    return coords if align_corners else coords * (size - 1) / size


def affine_grid(theta: Tensor, size: List[int], align_corners: Optional[bool] = None) -> Tensor:
    """The sampling grid of a batch of affine maps ``theta`` (``(N, 2, 3)`` for ``size`` ``(N, C, H, W)``,
    ``(N, 3, 4)`` for ``(N, C, D, H, W)``), for ``grid_sample``.

    >>> import numgrad as ng
    >>> theta = ng.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    >>> ng.nn.functional.affine_grid(theta, [1, 1, 2, 2], align_corners=True)[0, :, :, 0]
    tensor([[-1.,  1.],
            [-1.,  1.]])
    """
    _check_tensor(theta, "theta", "affine_grid")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if not theta.dtype.is_floating_point:
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = [int(s) for s in size]
    if len(size) == 4:
        if theta.ndim != 3 or theta.shape[-2] != 2 or theta.shape[-1] != 3:
            raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. Got "
                             f"{theta.size()}.")
        spatial = size[-2:]
    elif len(size) == 5:
        if theta.ndim != 3 or theta.shape[-2] != 3 or theta.shape[-1] != 4:
            raise ValueError(f"Expected a batch of 3D affine matrices of shape Nx3x4 for size {size}. Got "
                             f"{theta.size()}.")
        spatial = size[-3:]
    else:
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {size}.")
    if theta.shape[0] != size[0]:
        raise RuntimeError(f"affine_grid: theta holds {theta.shape[0]} affine matrices but size[0] asks for a batch "
                           f"of {size[0]} (size {size})")
    if align_corners and min(spatial) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. See the documentation "
                      "of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    # base[..., :] = (x, y[, z], 1) at every output location, x varying fastest (PyTorch's layout)
    axes = [_base_coords(s, align_corners) for s in reversed(spatial)]  # x, y[, z]
    mesh = list(np.meshgrid(*axes[::-1], indexing="ij"))[::-1]  # arrays of shape spatial, in x, y[, z] order
    base = np.stack(mesh + [np.ones(tuple(spatial))], axis=-1).reshape(1, -1, len(spatial) + 1)
    base_t = tensor(base.astype(_arr(theta).dtype), device=theta.device)
    grid = matmul(base_t, theta.transpose(1, 2))  # (N, prod(spatial), dims)
    return grid.reshape(size[0], *spatial, len(spatial))
