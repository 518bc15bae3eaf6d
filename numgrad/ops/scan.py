"""Cumulative ops beyond ``cumsum``: ``cumprod`` and ``logcumsumexp``.

Forward values come from the scan kernels of the data's device (``numgrad/kernels/cpu/scan.py``,
through ``kernels.backend.scan_kernels``); the backward passes are written with tensor ops, so
they are differentiable again (``create_graph=True``) and run wherever those ops run.
"""
from __future__ import annotations


from .. import _dtypes
from ..tensor import Tensor
from ..autograd.function import Function
from ..kernels.backend import empty_for, scan_kernels
from ..kernels.backend import reduction_kernels as _reduce_kernels
from . import elementwise_functions as pw
from .reductions import _single_dim, cumsum
from .shape import flip


def _scan(x, dims: tuple, kernel: str, op: str) -> Tensor:
    K = scan_kernels(x._data, op)
    x3, _ = _reduce_kernels(x._data).prepare(x._data, dims)
    out = empty_for((x3,), x3.shape, x3.dtype)
    if out.size:
        getattr(K, kernel)(x3, out)
    return Tensor(out.reshape(x.shape))


def _reverse_cumsum(t, d: int):
    return flip(cumsum(flip(t, (d,)), d), (d,))


class Cumprod(Function):
    node_name = "CumprodBackward0"

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        out = _scan(x, dims, "cumprod3", "cumprod")
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        if not ctx.dims:  # a 0-d input: cumprod is the identity
            return g, None
        d = ctx.dims[0]
        is_zero = pw.eq(x, 0)
        if not bool(is_zero.any()):
            # d out_j / d x_i = out_j / x_i for j >= i
            return _reverse_cumsum(g * out, d) / x, None
        # PyTorch's rule with zeros: before the first zero of a row the formula above holds; at the first
        # zero the gradient is sum_{j>=z} g_j prod_{k<=j, k!=z} x_k; after it every product has a zero factor
        zeros_seen = cumsum(is_zero.to(x.dtype), d)
        before = pw.eq(zeros_seen, 0)
        first = pw.logical_and(is_zero, pw.eq(zeros_seen, 1))
        safe_x = pw.where(before, x, 1.0)
        out_without_first = Cumprod.apply(pw.where(first, 1.0, x), ctx.dims)
        grad_before = _reverse_cumsum(pw.where(before, g * out, 0.0), d) / safe_x
        grad_first = _reverse_cumsum(g * out_without_first, d)
        return pw.where(before, grad_before, pw.where(first, grad_first, 0.0)), None


def _float_or_int64(input, dtype, op: str):
    if dtype is not None:
        return input.to(_dtypes.as_dtype(dtype))
    if not input.dtype.is_floating_point:
        return input.to(_dtypes.int64)
    return input


def cumprod(input, dim: int, *, dtype=None) -> Tensor:
    """Cumulative product along ``dim``; integers and bools give int64. Gradients follow PyTorch's rule,
    zeros included.

    >>> import numgrad as ng
    >>> ng.cumprod(ng.tensor([1., 2., 3.]), dim=0)
    tensor([1., 2., 6.])
    """
    dims = _single_dim(dim, input.ndim, "cumprod")
    return Cumprod.apply(_float_or_int64(input, dtype, "cumprod"), dims)


def _cumprod_(self, dim: int, *, dtype=None):
    """In-place :func:`cumprod`."""
    result = cumprod(self, dim, dtype=dtype)
    return self.copy_(result)


class LogCumSumExp(Function):
    node_name = "LogcumsumexpBackward0"

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        out = _scan(x, dims, "logcumsumexp3", "logcumsumexp")
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        if not ctx.dims:
            return g, None
        d = ctx.dims[0]
        # grad_i = sum_{j>=i} g_j exp(x_i - out_j), summed in log space over the positive and the
        # negative parts of g separately so that nothing overflows (TensorFlow's and PyTorch's scheme)
        def part(gp):
            rev = flip(LogCumSumExp.apply(flip(pw.log(gp) - out, (d,)), ctx.dims), (d,))
            return pw.exp(rev + x)

        return part(pw.clamp_min(g, 0.0)) - part(pw.clamp_min(-g, 0.0)), None


def logcumsumexp(input, dim: int) -> Tensor:
    """``log(cumsum(exp(input), dim))`` computed without overflow.

    >>> import numgrad as ng
    >>> ng.logcumsumexp(ng.tensor([0., 0.]), dim=0)
    tensor([0.0000, 0.6931])
    """
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"logcumsumexp(): expected a floating point input, got {input.dtype.name} (convert with "
                           ".float())")
    return LogCumSumExp.apply(input, _single_dim(dim, input.ndim, "logcumsumexp"))


TENSOR_METHODS = {"cumprod": cumprod, "cumprod_": _cumprod_, "logcumsumexp": logcumsumexp}
PUBLIC = ("cumprod", "logcumsumexp")
