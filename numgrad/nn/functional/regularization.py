"""``dropout`` of ``numgrad.nn.functional``.

The mask is drawn on the host from numgrad's generator on every device, so
``ng.manual_seed`` gives the same mask on the CPU and on CUDA; the kernels are
those of ``backend.norm_kernels(data)``.  The module is not called ``dropout``
so that ``numgrad.nn.functional.dropout`` names the function only.
"""
from __future__ import annotations

import numbers

import numpy as np

from ...autograd.function import Function
from ...creation import default_generator
from ...kernels import backend
from ...kernels.config import PARALLEL_THRESHOLD
from ...ops.elementwise import apply as _ew
from ...tensor import Tensor
from ._arguments import _arr, _check_float, _check_tensor


class _Dropout(Function):
    node_name = "MulBackward0"

    @staticmethod
    def forward(ctx, x, p):
        xa = _arr(x).reshape(-1)
        # drawn on the host from numgrad's generator on every device (on CUDA the kernel copies the draws to
        # the device in one transfer): the same random stream, so ng.manual_seed gives the same mask on both
        u = default_generator().random(xa.shape[0], dtype=np.float64 if xa.dtype == np.float64 else np.float32)
        empty = backend.empty_allocator(xa)
        out = empty(xa.shape, xa.dtype)
        mask = empty(xa.shape, xa.dtype)
        scale = 0.0 if p >= 1.0 else 1.0 / (1.0 - p)
        k = backend.norm_kernels(xa)
        (k.dropout_forward_par if xa.shape[0] >= PARALLEL_THRESHOLD else k.dropout_forward)(
            xa, u, p, scale, out, mask)
        ctx.mask = Tensor(mask.reshape(x.shape))
        return Tensor(out.reshape(x.shape))

    @staticmethod
    def backward(ctx, g):
        return _ew("mul", g, ctx.mask), None


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (training only).

    >>> import numgrad as ng
    >>> ng.nn.functional.dropout(ng.ones(4), p=0.0)
    tensor([1., 1., 1., 1.])
    """
    _check_tensor(input, "input", "dropout")
    if not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    _check_float(input, "input", "dropout")
    out = _Dropout.apply(input, float(p))
    if inplace:
        input.copy_(out)
        return input
    return out
