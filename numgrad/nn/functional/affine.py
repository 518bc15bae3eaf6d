"""``linear`` of ``numgrad.nn.functional``: ``input @ weight.T + bias``.

One fused kernel each way through ``numgrad.kernels.backend`` (the CPU kernels
of ``kernels/cpu/conv.py`` or the CUDA ones of ``kernels/cuda/conv.py``); the
recorded backward (``create_graph=True``) is again made of ``linear`` calls.
The module is not called ``linear`` so that ``numgrad.nn.functional.linear``
names the function only.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ... import _dtypes
from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled
from ...kernels import backend
from ...ops.linalg import matmul
from ...tensor import Tensor
from ._arguments import _arr, _check_float, _check_tensor, _same_dtype
from ...ops.autocast_policy import autocast_op


class _Linear(Function):
    node_name = "AddmmBackward0"

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.node_name = "AddmmBackward0" if b is not None else "MmBackward0"
        out = backend.linear_forward(_arr(x), _arr(w), _arr(b) if b is not None else None)
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        return Tensor(out)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if is_grad_enabled():
            # recorded backward (create_graph): the products are linear ops again
            gx = _Linear.apply(g, w.t(), None) if need_x else None
            gw = _Linear.apply(g.t(), x.t(), None) if need_w else None
            gb = g.sum(0) if need_b else None
            return gx, gw, gb
        grads = backend.linear_backward(_arr(g), _arr(x), _arr(w), need_x, need_w, need_b)
        return tuple(Tensor(a) if a is not None else None for a in grads)


@autocast_op
def linear(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """``input @ weight.T + bias`` over the last dimension of ``input`` (one fused kernel).

    >>> import numgrad as ng
    >>> ng.nn.functional.linear(ng.ones(2, 3), ng.ones(4, 3), ng.zeros(4)).shape
    (2, 4)
    """
    _check_tensor(input, "input", "linear")
    _check_tensor(weight, "weight", "linear")
    if weight.ndim == 1:
        # PyTorch allows a vector weight (a dot product per row); that is plain matmul

        out = matmul(input, weight)
        return out + bias if bias is not None else out
    if weight.ndim != 2 or input.ndim < 1:
        raise RuntimeError(
            f"linear(): expected a 2-D weight and an input with at least 1 dimension, got input "
            f"{list(input.shape)} and weight {list(weight.shape)}"
        )
    _check_float(input, "input", "linear")
    if input.dtype != weight.dtype:
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {_dtypes.TORCH_CPP_NAMES[input.dtype.name]} "
            f"!= {_dtypes.TORCH_CPP_NAMES[weight.dtype.name]} "
            f"(linear: input {list(input.shape)}, weight {list(weight.shape)})"
        )
    in_features = input.shape[-1]
    if in_features != weight.shape[1]:
        rows = int(np.prod(input.shape[:-1], dtype=np.int64)) if input.ndim > 1 else 1
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{in_features} and "
            f"{weight.shape[1]}x{weight.shape[0]})"
        )
    if bias is not None:
        _check_tensor(bias, "bias", "linear")
        _same_dtype(input, bias, "linear", "input and bias")
        if bias.shape not in ((weight.shape[0],),):
            raise RuntimeError(
                f"linear(): bias of shape {list(bias.shape)} does not match out_features={weight.shape[0]}"
            )
    lead = input.shape[:-1]
    x2 = input.reshape(-1, in_features) if input.ndim != 2 else input
    out = _Linear.apply(x2, weight, bias)
    if input.ndim != 2:
        out = out.reshape(*lead, weight.shape[0])
    return out
