"""Activations of ``numgrad.nn.functional``: softmax, log_softmax, softmin, logsigmoid, and the
elementwise activations of ``numgrad.ops.elementwise_functions`` (relu, gelu, sigmoid, ...) re-exported.

Softmax and log-softmax run one fused Numba kernel each way (see
``numgrad.kernels.cpu.nnfunc``); their backward switches to the same formula
written with tensor ops when the backward pass itself is being recorded
(``create_graph=True``), so gradients of gradients work.
"""
from __future__ import annotations

import warnings
from typing import Optional

import numpy as np

from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled
from ...kernels.backend import empty_for, softmax_kernels
from ...ops import elementwise_functions as _ops
from ...ops.elementwise import inplace_update
from ...ops.elementwise_functions import gelu, sigmoid, softplus, tanh
from ...ops.sum_mean import sum as _sum
from ...ops.views import contiguous_array
from ...tensor import Tensor
from ._arguments import _as_tensor, _float_only
from ...ops.autocast_policy import autocast_op

__all__ = [
    "softmax", "log_softmax", "softmin", "logsigmoid",
    "elu", "hardtanh", "leaky_relu", "relu", "relu6", "silu", "relu_", "leaky_relu_", "elu_", "hardtanh_",
    # numgrad.ops.elementwise_functions
    "gelu", "sigmoid", "softplus", "tanh",
]


# ------------------------------------------------------------------ activations with PyTorch's inplace=
# In-place forms of op-table rows write through ``inplace_update`` (autograd-aware, like ``Tensor.relu_``):
# the same kernel, the old value saved where the derivative needs it, PyTorch's refusals (a leaf that
# requires grad, a view of one, memory another tensor still needs).
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(x, 0)``; ``inplace=True`` writes into ``input`` and returns it.

    >>> import numgrad as ng
    >>> x = ng.tensor([-1.0, 2.0])
    >>> ng.nn.functional.relu(x, inplace=True) is x, x
    (True, tensor([0., 2.]))
    """
    return relu_(input) if inplace else _ops.relu(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x if x > 0 else negative_slope * x``.

    >>> import numgrad as ng
    >>> ng.nn.functional.leaky_relu(ng.tensor([-1.0, 2.0]), 0.1)
    tensor([-0.1000,  2.0000])
    """
    return leaky_relu_(input, negative_slope) if inplace else _ops.leaky_relu(input, negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x if x > 0 else alpha * (exp(x) - 1)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.elu(ng.tensor([0.0, 1.0]))
    tensor([0., 1.])
    """
    return elu_(input, alpha) if inplace else _ops.elu(input, alpha)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * sigmoid(x)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.silu(ng.tensor([0.0]))
    tensor([0.])
    """
    if inplace:
        x = _as_tensor(input)
        inplace_update(x, "silu")
        return x
    return _ops.silu(input)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """``clamp(x, min_val, max_val)``; the gradient is 0 at the bounds (PyTorch's, unlike clamp's).

    >>> import numgrad as ng
    >>> ng.nn.functional.hardtanh(ng.tensor([-3.0, 0.5]))
    tensor([-1.0000,  0.5000])
    """
    return hardtanh_(input, min_val, max_val) if inplace else _ops.hardtanh(input, min_val, max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(x, 0), 6)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.relu6(ng.tensor([-1.0, 7.0]))
    tensor([0., 6.])
    """
    return hardtanh_(input, 0.0, 6.0) if inplace else _ops.relu6(input)


def relu_(input: Tensor) -> Tensor:
    """In-place ``relu``.

    >>> import numgrad as ng
    >>> ng.nn.functional.relu_(ng.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    return _as_tensor(input).relu_()


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """In-place ``leaky_relu``.

    >>> import numgrad as ng
    >>> ng.nn.functional.leaky_relu_(ng.tensor([-1.0, 2.0]), 0.5)
    tensor([-0.5000,  2.0000])
    """
    x = _as_tensor(input)
    inplace_update(x, "leaky_relu", params=(float(negative_slope),))
    return x


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place ``elu``.

    >>> import numgrad as ng
    >>> ng.nn.functional.elu_(ng.tensor([0.0, 1.0]))
    tensor([0., 1.])
    """
    x = _as_tensor(input)
    inplace_update(x, "elu", params=(float(alpha),))
    return x


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In-place ``hardtanh``.

    >>> import numgrad as ng
    >>> ng.nn.functional.hardtanh_(ng.tensor([-3.0, 0.5]))
    tensor([-1.0000,  0.5000])
    """
    x = _as_tensor(input)
    inplace_update(x, "hardtanh", params=(float(min_val), float(max_val)))
    return x


def _wrap_dim(dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim + n if dim < 0 else dim


def _slabs(arr: np.ndarray, dim: int) -> np.ndarray:
    """``arr`` as a C-contiguous (A, R, C) array whose middle axis is ``dim``."""
    arr = contiguous_array(arr)
    shape = arr.shape
    if not shape:
        return arr.reshape(1, 1, 1)
    before = int(np.prod(shape[:dim], dtype=np.int64))
    after = int(np.prod(shape[dim + 1:], dtype=np.int64))
    return arr.reshape(before, shape[dim], after)


class _Softmax(Function):
    node_name = "SoftmaxBackward0"

    @staticmethod
    def forward(ctx, x, dim, log):
        ctx.node_name = "LogSoftmaxBackward0" if log else "SoftmaxBackward0"
        ctx.dim, ctx.log = dim, log
        slabs = _slabs(x._data, dim)
        out = empty_for((slabs,), slabs.shape, slabs.dtype)
        if out.size:
            forward_kernel, _ = softmax_kernels(slabs)
            forward_kernel(slabs, out, log)
        y = Tensor(out.reshape(x.shape))
        # the saved output is this node's own output: under create_graph the backward formula's
        # dependence on y flows back through this node (how PyTorch differentiates softmax twice)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        dim, log = ctx.dim, ctx.log
        if is_grad_enabled():
            # create_graph=True: the same formula, recorded
            if log:
                return g - y.exp() * _sum(g, dim, keepdim=True), None, None
            return y * (g - _sum(g * y, dim, keepdim=True)), None, None
        ys = _slabs(y._data, dim)
        gs = _slabs(g._data, dim)
        out = empty_for((ys,), ys.shape, ys.dtype)
        if out.size:
            _, backward_kernel = softmax_kernels(ys)
            backward_kernel(ys, gs, out, log)
        return Tensor(out.reshape(y.shape)), None, None


def _softmax_dim(ndim: int) -> int:
    return 0 if ndim in (0, 1, 3) else 1


def _softmax_impl(input, dim, dtype, log: bool, name: str) -> Tensor:
    x = _as_tensor(input)
    if dim is None:
        warnings.warn(
            f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an "
            "argument.", UserWarning, stacklevel=3,
        )
        dim = _softmax_dim(x.ndim)
    if dtype is not None:
        x = x.to(dtype)
    _float_only(x, name)
    return _Softmax.apply(x, _wrap_dim(int(dim), x.ndim), log)


@autocast_op
def softmax(input, dim: Optional[int] = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim`` (one fused, max-shifted Numba pass).

    >>> import numgrad as ng
    >>> ng.nn.functional.softmax(ng.tensor([0.0, 0.0]), dim=0)
    tensor([0.5000, 0.5000])
    """
    return _softmax_impl(input, dim, dtype, False, "softmax")


@autocast_op
def log_softmax(input, dim: Optional[int] = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """``x - logsumexp(x)`` along ``dim``, computed stably in one fused Numba pass.

    >>> import numgrad as ng
    >>> ng.nn.functional.log_softmax(ng.tensor([0.0, 0.0]), dim=0)
    tensor([-0.6931, -0.6931])
    """
    return _softmax_impl(input, dim, dtype, True, "log_softmax")


def softmin(input, dim: Optional[int] = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """``softmax(-x)`` along ``dim``.

    >>> import numgrad as ng
    >>> ng.nn.functional.softmin(ng.tensor([0.0, 0.0]), dim=0)
    tensor([0.5000, 0.5000])
    """
    x = _as_tensor(input)
    if dtype is not None:
        x = x.to(dtype)
    return _softmax_impl(-x, dim, None, False, "softmin")


def logsigmoid(input) -> Tensor:
    """``log(sigmoid(x)) = -softplus(-x)`` (stable for large ``|x|``).

    >>> import numgrad as ng
    >>> ng.nn.functional.logsigmoid(ng.tensor([0.0]))
    tensor([-0.6931])
    """
    return -softplus(-_as_tensor(input))
