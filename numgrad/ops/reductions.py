"""Reductions beyond sum/mean: prod, amax/amin, max/min, argmax/argmin, var/std,
logsumexp, norm, cumsum, all/any, count_nonzero.

Forward passes run the kernels of ``kernels/cpu/map_reduce.py`` or
``kernels/cuda/map_reduce.py`` (picked by ``backend.reduction_kernels`` from
where the data lives), or ``backend.reduce_array``; backward formulas are
written with tensor ops so that they are differentiable again
(``create_graph=True``).  Semantics, result dtypes, gradient conventions (ties
split evenly for amax/amin, the selected index for max/min with ``dim``) and
error messages follow PyTorch.
"""
from __future__ import annotations

import builtins
import collections
import math
import numbers
import warnings
from typing import Optional, Sequence, Union

import numpy as np

from ..tensor import Tensor
from .. import _dtypes
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..kernels.backend import empty_for, reduce_array
from ..kernels.backend import reduction_kernels as _kernels
from .sum_mean import _reduce
from . import elementwise_functions as pw
from .sum_mean import kept_shape, normalize_dims
from .sum_mean import mean as _mean
from .sum_mean import sum as _sum
from ..creation import arange
from .elementwise import _cast_array
from .autocast_policy import autocast_op

Dims = Union[int, Sequence[int], None]

# PyTorch's scalar type names, used in its error messages ("Got Long")
max_return_type = collections.namedtuple("max", ("values", "indices"))
min_return_type = collections.namedtuple("min", ("values", "indices"))
max_return_type.__module__ = min_return_type.__module__ = "numgrad.return_types"


def _is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def _share(t):
    """A second handle on ``t``'s memory and version counter, with no history.

    Saving this instead of the output itself avoids a reference cycle
    output -> node -> ctx -> output.
    """
    return Tensor(t._data, _version=t._version)


def _graph_output(ctx, saved, index: int = 0):
    """The saved output as a tensor that, under ``create_graph``, leads back to this node.

    Backward formulas that use the op's own output (``exp(x - logsumexp)``,
    ``x / norm``) must differentiate through it for double backward to be right.
    """
    out = _share(saved)
    if is_grad_enabled() and ctx._node is not None:
        out._attach(ctx._node, index)
    return out


def _all_dims_if_empty(dim: Dims, ndim: int, op: str) -> tuple:
    """``None`` and ``()`` both mean every dim (PyTorch's amax/var/norm convention)."""
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    return normalize_dims(dim, ndim, op)


def _single_dim(dim, ndim: int, op: str) -> tuple:
    """One int dim, checked; returns ``(dim,)`` (``()`` for a 0-d input)."""
    if isinstance(dim, bool) or not isinstance(dim, (numbers.Integral, np.integer)):
        raise TypeError(f"{op}(): argument 'dim' must be int, not {type(dim).__name__}")
    return normalize_dims(int(dim), ndim, op)


def _out_shape(in_shape: tuple, dims: tuple, keepdim: bool) -> tuple:
    if keepdim:
        return kept_shape(in_shape, dims)
    return tuple(n for i, n in enumerate(in_shape) if i not in dims)


def _keep(g, ctx):
    """``g`` reshaped to the keepdim=True shape so it broadcasts against the input."""
    if ctx.keepdim:
        return g
    return g.reshape(kept_shape(ctx.in_shape, ctx.dims))


def _check_nonempty(x, dims: tuple, dim_given: bool, op: str) -> None:
    """PyTorch refuses max-like reductions over nothing: they have no identity."""
    if x.numel() != 0:
        return
    if not dim_given:
        raise RuntimeError(
            f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
            "Specify the reduction dim with the 'dim' argument."
        )
    for d in dims:
        if x.shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")


def _require_float(x, op: str, message: str) -> None:
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"{message}{_dtypes.torch_type_name(x.dtype)}"
                           f" (in {op}, input shape {list(x.shape)})")


def _float_input(x):
    """Integer and bool inputs become the default float dtype (PyTorch's logsumexp rule)."""
    return x if x.dtype.is_floating_point else x.to(_dtypes.get_default_dtype())


# ------------------------------------------------------------------ amax / amin
class _Extreme(Function):
    """amax/amin, and max()/min() without ``dim``: ties share the gradient evenly."""

    @staticmethod
    def forward(ctx, x, dims, keepdim, reducer, node_name):
        ctx.node_name = node_name
        ctx.in_shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        # a full reduction of a lazy region runs inside the region's kernel
        arr = _reduce(x, dims, reducer, x.dtype)
        out = Tensor(arr.reshape(_out_shape(x.shape, dims, keepdim)))
        ctx.save_for_backward(x, _share(out))
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        out = _keep(out, ctx)
        hit = pw.eq(x, out)
        if ctx.node_name.endswith("Backward1"):
            # max()/min() of everything: PyTorch sends the gradient to the NaNs when the result is NaN
            hit = pw.where(pw.isnan(out), pw.isnan(x), hit)
        # counted straight into g's dtype: the division then needs no int64 -> float cast
        count = _sum(hit, ctx.dims, keepdim=True, dtype=g.dtype)
        # PyTorch's (g / count) * hit: a slice whose maximum is NaN matches nothing, so 0 * inf = NaN there
        return (_keep(g, ctx) / count) * hit, None, None, None, None


def amax(input, dim: Dims = (), keepdim: bool = False):
    """Maximum over ``dim`` (all dims by default); NaN propagates.

    The gradient is split evenly between tied maxima.

    >>> import numgrad as ng
    >>> ng.amax(ng.tensor([[1., 5.], [3., 2.]]), dim=0)
    tensor([3., 5.])
    """
    dims = _all_dims_if_empty(dim, input.ndim, "amax")
    _check_nonempty(input, dims, not (dim is None or dim == () or dim == []), "amax")
    return _Extreme.apply(input, dims, keepdim, "amax", "AmaxBackward0")


def amin(input, dim: Dims = (), keepdim: bool = False):
    """Minimum over ``dim`` (all dims by default); NaN propagates.

    >>> import numgrad as ng
    >>> ng.amin(ng.tensor([[1., 5.], [3., 2.]]), dim=1)
    tensor([1., 2.])
    """
    dims = _all_dims_if_empty(dim, input.ndim, "amin")
    _check_nonempty(input, dims, not (dim is None or dim == () or dim == []), "amin")
    return _Extreme.apply(input, dims, keepdim, "amin", "AminBackward0")


# -------------------------------------------------------------------- max / min
class _ExtremeWithIndex(Function):
    """max/min along one dim: values and the index of the first extreme (first NaN)."""

    @staticmethod
    def forward(ctx, x, dims, keepdim, kind):
        ctx.node_name = "MaxBackward0" if kind == "max" else "MinBackward0"
        ctx.in_shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        ctx.device = x.device
        K = _kernels(x._data)
        x3, _ = K.prepare(x._data, dims)
        values, indices = K.arg_reduce(x3, kind)
        shape = _out_shape(x.shape, dims, keepdim)
        indices = Tensor(indices.reshape(shape))
        ctx.indices = indices
        return Tensor(values.reshape(shape)), indices

    @staticmethod
    def backward(ctx, g, _g_indices):
        # the gradient goes to the selected index only: compare each position
        # along dim with the chosen index (a broadcast mask, no scatter needed)
        in_shape = ctx.in_shape
        positions_shape = [1] * len(in_shape)
        length = 1
        for d in ctx.dims:
            positions_shape[d] = length = in_shape[d]
        positions = arange(length, device=ctx.device).reshape(tuple(positions_shape))
        chosen = pw.eq(positions, _keep(ctx.indices, ctx))
        return pw.where(chosen, _keep(g, ctx), 0.0), None, None, None


def _max_min(input, dim, keepdim, other, kind: str):
    if other is not None:
        if dim is not None:
            raise TypeError(f"{kind}() received both a dim and a tensor to compare with")
        return pw.maximum(input, other) if kind == "max" else pw.minimum(input, other)
    if _is_tensor(dim):
        return pw.maximum(input, dim) if kind == "max" else pw.minimum(input, dim)
    if dim is None:
        if keepdim:
            raise TypeError(f"{kind}(): keepdim=True needs a dim (use amax/amin to keep every dim)")
        dims = tuple(range(input.ndim))
        _check_nonempty(input, dims, False, kind)
        node = "MaxBackward1" if kind == "max" else "MinBackward1"
        return _Extreme.apply(input, dims, False, "a" + kind, node)
    dims = _single_dim(dim, input.ndim, kind)
    _check_nonempty(input, dims, True, kind)
    if input.numel() == 0:
        shape = _out_shape(input.shape, dims, keepdim)
        values = Tensor(empty_for([input._data], shape, input.dtype.np))
        indices = Tensor(empty_for([input._data], shape, np.int64))
        result = (values, indices)
    else:
        result = _ExtremeWithIndex.apply(input, dims, keepdim, kind)
    return (max_return_type if kind == "max" else min_return_type)(*result)


def max(input, dim=None, keepdim: bool = False, *, other=None):
    """Maximum: of all elements (no ``dim``), along ``dim`` as ``(values, indices)``,
    or elementwise against a tensor (``max(a, b)`` is ``maximum``).

    NaN propagates; indices point at the first maximum (the first NaN if any).

    >>> import numgrad as ng
    >>> x = ng.tensor([[1., 5.], [3., 2.]])
    >>> ng.max(x)
    tensor(5.)
    >>> ng.max(x, dim=1).indices
    tensor([1, 0])
    """
    return _max_min(input, dim, keepdim, other, "max")


def min(input, dim=None, keepdim: bool = False, *, other=None):
    """Minimum: of all elements, along ``dim`` as ``(values, indices)``, or elementwise.

    >>> import numgrad as ng
    >>> ng.min(ng.tensor([[1., 5.], [3., 2.]]), dim=0).values
    tensor([1., 2.])
    """
    return _max_min(input, dim, keepdim, other, "min")


def _arg(input, dim, keepdim: bool, kind: str):
    op = "arg" + kind
    if input.dtype.name == "bool":
        raise RuntimeError(f"{op}(): does not support bool input (input shape {list(input.shape)})")
    if dim is None:
        if input.numel() == 0:
            raise IndexError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
        K = _kernels(input._data)
        # every dim reduced: the flattened tensor as one (1, numel, 1) row
        x3 = K.prepare(input._data, tuple(range(input.ndim)))[0]
        _, indices = K.arg_reduce(x3, kind)
        shape = (1,) * input.ndim if keepdim else ()
        return Tensor(indices.reshape(shape))
    dims = _single_dim(dim, input.ndim, op)
    _check_nonempty(input, dims, True, op)
    shape = _out_shape(input.shape, dims, keepdim)
    if input.numel() == 0:
        return Tensor(empty_for([input._data], shape, np.int64))
    K = _kernels(input._data)
    x3, _ = K.prepare(input._data, dims)
    _, indices = K.arg_reduce(x3, kind)
    return Tensor(indices.reshape(shape))


def argmax(input, dim: Optional[int] = None, keepdim: bool = False):
    """Index (int64) of the first maximum along ``dim``, or in the flattened tensor.

    >>> import numgrad as ng
    >>> ng.argmax(ng.tensor([[1., 5.], [3., 2.]]), dim=1)
    tensor([1, 0])
    """
    return _arg(input, dim, keepdim, "max")


def argmin(input, dim: Optional[int] = None, keepdim: bool = False):
    """Index (int64) of the first minimum along ``dim``, or in the flattened tensor.

    >>> import numgrad as ng
    >>> ng.argmin(ng.tensor([3., 1., 2.]))
    tensor(1)
    """
    return _arg(input, dim, keepdim, "min")


# ------------------------------------------------------------------------- prod
class Prod(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim, acc):
        ctx.node_name = "ProdBackward0" if len(dims) == x.ndim else "ProdBackward1"
        ctx.in_shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        arr = _reduce(x, dims, "prod", acc)
        out = Tensor(arr.reshape(_out_shape(x.shape, dims, keepdim)))
        ctx.save_for_backward(x, _share(out))
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        g = _keep(g, ctx)
        is_zero = pw.eq(x, 0)
        if not reduce_array(is_zero._data, tuple(range(x.ndim)), "any", np.bool_):
            return g * _keep(_graph_output(ctx, out), ctx) / x, None, None, None
        # With zeros, out / x is 0/0.  The product of the other elements is the
        # product of the non-zero ones when x is the only zero of its slice,
        # prod(nonzero) / x when the slice has no zero, and 0 otherwise.
        zeros_in_slice = _sum(is_zero, ctx.dims, keepdim=True)
        nonzero_x = pw.where(is_zero, 1.0, x)
        prod_nonzero = _prod_dims(nonzero_x, ctx.dims)
        others = pw.where(
            pw.eq(zeros_in_slice, 0), prod_nonzero / nonzero_x,
            pw.where(pw.logical_and(is_zero, pw.eq(zeros_in_slice, 1)), prod_nonzero, 0.0),
        )
        return g * others, None, None, None


def _prod_dims(x, dims: tuple):
    """Differentiable product over several dims, keepdim=True (internal: torch's prod takes one dim)."""
    return Prod.apply(x, dims, True, x.dtype)


@autocast_op
def prod(input, dim: Optional[int] = None, keepdim: bool = False, *, dtype=None):
    """Product of elements (over one ``dim``, or all); integers and bools give int64.

    >>> import numgrad as ng
    >>> ng.prod(ng.tensor([[1., 2.], [3., 4.]]), dim=1)
    tensor([ 2., 12.])
    """
    if dtype is not None:
        dtype = _dtypes.as_dtype(dtype)
        if dtype != input.dtype:
            input = input.to(dtype)
    acc = input.dtype if input.dtype.is_floating_point else _dtypes.int64
    if dim is None:
        return Prod.apply(input, tuple(range(input.ndim)), False, acc)
    return Prod.apply(input, _single_dim(dim, input.ndim, "prod"), keepdim, acc)


# --------------------------------------------------------------------- var / std
_MEAN = dict(init="T(0)", transform="v", combine="acc + t", final="acc / p")


class _VarStd(Function):
    @staticmethod
    def forward(ctx, x, dims, correction, keepdim, take_sqrt):
        op = "std" if take_sqrt else "var"
        ctx.node_name = "StdBackward0" if take_sqrt else "VarBackward0"
        ctx.in_shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        K = _kernels(x._data)
        x3, _ = K.prepare(x._data, dims)
        count = x3.shape[1]
        dof = builtins.max(0.0, count - correction)
        if dof <= 0:
            warnings.warn(
                f"{op}(): degrees of freedom is <= 0. Correction should be strictly less than the "
                "reduction factor (input numel divided by output numel).", UserWarning, stacklevel=5)
        ctx.dof = dof
        dt = x.dtype.np
        mean = K.map_reduce(x3, acc_dtype=dt, p=count, **_MEAN)
        res = K.map_reduce(x3, init="T(0)", transform="(v - sh) * (v - sh)", combine="acc + t",
                           final="np.sqrt(acc / p)" if take_sqrt else "acc / p", acc_dtype=dt, shift=mean,
                           p=dof)
        out = Tensor(res.reshape(_out_shape(x.shape, dims, keepdim)))
        ctx.take_sqrt = take_sqrt
        ctx.save_for_backward(x, _share(out) if take_sqrt else None)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        centered = x - _mean(x, ctx.dims, keepdim=True)
        g = _keep(g, ctx)
        if ctx.take_sqrt:
            std = _keep(_graph_output(ctx, out), ctx)
            # 0 where the deviation is 0 (constant data), as PyTorch's std_backward masks it
            grad = pw.where(pw.eq(std, 0), 0.0, g / (std * ctx.dof))
            return grad * centered, None, None, None, None
        scale = 2.0 / ctx.dof if ctx.dof else math.inf
        return g * centered * scale, None, None, None, None


def _var_std(input, dim, unbiased, keepdim, correction, take_sqrt: bool):
    op = "std" if take_sqrt else "var"
    if isinstance(dim, bool):  # legacy positional form var(input, unbiased)
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}(): pass either 'unbiased' or 'correction', not both")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            f"std and var only support floating point and complex dtypes (got {input.dtype.name} in {op}, "
            f"input shape {list(input.shape)})"
        )
    dims = _all_dims_if_empty(dim, input.ndim, op)
    return _VarStd.apply(input, dims, float(correction), keepdim, take_sqrt)


def var(input, dim: Dims = None, unbiased: Optional[bool] = None, keepdim: bool = False, *,
        correction: Optional[float] = None):
    """Variance over ``dim`` with Bessel's ``correction`` (default 1; ``unbiased=False`` means 0).

    >>> import numgrad as ng
    >>> ng.var(ng.tensor([1., 2., 3., 4.]))
    tensor(1.6667)
    """
    return _var_std(input, dim, unbiased, keepdim, correction, False)


def std(input, dim: Dims = None, unbiased: Optional[bool] = None, keepdim: bool = False, *,
        correction: Optional[float] = None):
    """Standard deviation over ``dim`` (``sqrt`` of :func:`var`, same arguments).

    >>> import numgrad as ng
    >>> ng.std(ng.tensor([1., 2., 3., 4.]), correction=0)
    tensor(1.1180)
    """
    return _var_std(input, dim, unbiased, keepdim, correction, True)


# -------------------------------------------------------------------- logsumexp
class LogSumExp(Function):
    node_name = "LogsumexpBackward0"

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.in_shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        K = _kernels(x._data)
        x3, _ = K.prepare(x._data, dims)
        dt = x.dtype.np
        # shift by the max for stability; an infinite max shifts by 0 so that
        # inf - inf never appears (all -inf gives -inf, any +inf gives +inf)
        shift = K.map_reduce(x3, init="T(-np.inf)", transform="v", combine="t if (t > acc or t != t) else acc",
                             final="T(0) if (acc == np.inf or acc == -np.inf) else acc", acc_dtype=dt)
        # fm.exp is the vectorizable exp of kernels/cpu/fastmath.py (libm's exp stays scalar)
        res = K.map_reduce(x3, init="T(0)", transform="fm.exp(v - sh)", combine="acc + t",
                           final="np.log(acc) + sh", acc_dtype=dt, shift=shift)
        out = Tensor(res.reshape(_out_shape(x.shape, dims, keepdim)))
        ctx.save_for_backward(x, _share(out))
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        softmax = pw.exp(x - _keep(_graph_output(ctx, out), ctx))
        return _keep(g, ctx) * softmax, None, None


@autocast_op
def logsumexp(input, dim: Dims, keepdim: bool = False):
    """``log(sum(exp(input)))`` over ``dim``, computed without overflow.

    >>> import numgrad as ng
    >>> ng.logsumexp(ng.tensor([[0., 0.], [500., 500.]]), dim=1)
    tensor([  0.6931, 500.6931])
    """
    input = _float_input(input)
    return LogSumExp.apply(input, _all_dims_if_empty(dim, input.ndim, "logsumexp"), keepdim)


# ------------------------------------------------------------------------- norm
_NORM_KERNELS = {
    # p: (init, transform, combine, final)
    2.0: ("T(0)", "v * v", "acc + t", "np.sqrt(acc)"),
    1.0: ("T(0)", "abs(v)", "acc + t", "acc"),
    0.0: ("T(0)", "T(1) if v != 0 else T(0)", "acc + t", "acc"),
    math.inf: ("T(0)", "abs(v)", "t if (t > acc or t != t) else acc", "acc"),
    -math.inf: ("T(np.inf)", "abs(v)", "t if (t < acc or t != t) else acc", "acc"),
}
_GENERAL_NORM = ("T(0)", "abs(v) ** p", "acc + t", "acc ** (T(1) / p)")


class Norm(Function):
    node_name = "LinalgVectorNormBackward0"

    @staticmethod
    def forward(ctx, x, dims, keepdim, p):
        ctx.in_shape, ctx.dims, ctx.keepdim, ctx.p = x.shape, dims, keepdim, p
        K = _kernels(x._data)
        x3, _ = K.prepare(x._data, dims)
        init, transform, combine, final = _NORM_KERNELS.get(p, _GENERAL_NORM)
        res = K.map_reduce(x3, init=init, transform=transform, combine=combine, final=final,
                           acc_dtype=x.dtype.np, p=p)
        out = Tensor(res.reshape(_out_shape(x.shape, dims, keepdim)))
        ctx.save_for_backward(x, _share(out))
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        p = ctx.p
        none = (None, None, None)
        if p == 0.0:
            return (None,) + none
        g = _keep(g, ctx)
        if p == 1.0:
            return (g * pw.sign(x),) + none
        if math.isinf(p):
            # like amax/amin of |x|: ties share the gradient
            hit = pw.eq(pw.abs(x), _keep(out, ctx))
            count = _sum(hit, ctx.dims, keepdim=True, dtype=g.dtype)
            return (pw.where(hit, g * pw.sign(x) / count, 0.0),) + none
        norm = _keep(_graph_output(ctx, out), ctx)
        # a zero norm means x == 0 in the whole slice: dividing by 1 there gives
        # PyTorch's zero gradient with no NaN in the double backward
        safe_norm = pw.where(pw.eq(norm, 0.0), 1.0, norm)
        if p == 2.0:
            return (g * x / safe_norm,) + none
        grad = g * pw.sign(x) * pw.pow(pw.abs(x), p - 1.0) / pw.pow(safe_norm, p - 1.0)
        if p < 1.0:
            grad = pw.where(pw.eq(x, 0.0), 0.0, grad)  # |0| ** (p - 1) is inf
        return (grad,) + none


def norm(input, p: Union[float, str, None] = "fro", dim: Dims = None, keepdim: bool = False, dtype=None):
    """Vector p-norm over ``dim`` (all elements by default): p = 2 ('fro'), 1, inf, -inf, 0 or any float.

    The gradient at a zero vector is 0, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.norm(ng.tensor([[3., 4.], [0., 0.]]), dim=1)
    tensor([5., 0.])
    """
    if p is None:
        p = "fro"
    if isinstance(p, str):
        if p == "fro":
            if isinstance(dim, (tuple, list)) and len(dim) > 2:
                raise RuntimeError(
                    f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(str(d) for d in dim)}")
            p = 2.0
        elif p == "nuc":
            raise RuntimeError("norm(): the nuclear norm (p='nuc') needs an SVD, which numgrad does not provide")
        else:
            raise RuntimeError(f"linalg.matrix_norm: Order {p} not supported.")
    if dtype is not None:
        input = input.to(dtype)
    _require_float(input, "norm", "linalg.vector_norm: Expected a floating point or complex tensor as input. Got ")
    p = float(p)
    dims = _all_dims_if_empty(dim, input.ndim, "norm")
    if math.isinf(p) and builtins.any(input.shape[d] == 0 for d in dims):
        raise RuntimeError(
            f"linalg.vector_norm cannot compute the {p} norm on an empty tensor because the operation does "
            f"not have an identity (input shape {list(input.shape)})"
        )
    return Norm.apply(input, dims, keepdim, p)


# ----------------------------------------------------------------------- cumsum
class Cumsum(Function):
    node_name = "CumsumBackward0"

    @staticmethod
    def forward(ctx, x, dims, acc, reverse):
        ctx.dims, ctx.in_dtype, ctx.reverse = dims, x.dtype, reverse
        if reverse:
            ctx.node_name = "ReverseCumsumBackward0"
        K = _kernels(x._data)
        x3, _ = K.prepare(x._data, dims)
        return Tensor(K.scan_sum(x3, acc.np, reverse=reverse).reshape(x.shape))

    @staticmethod
    def backward(ctx, g):
        # d(cumsum)/dx is the cumsum taken from the other end
        grad = Cumsum.apply(g, ctx.dims, g.dtype, not ctx.reverse)
        if grad.dtype != ctx.in_dtype:
            grad = grad.to(ctx.in_dtype)
        return grad, None, None, None


def cumsum(input, dim: int, *, dtype=None):
    """Inclusive cumulative sum along ``dim``; integers and bools give int64.

    >>> import numgrad as ng
    >>> ng.cumsum(ng.tensor([1., 2., 3.]), dim=0)
    tensor([1., 3., 6.])
    """
    dims = _single_dim(dim, input.ndim, "cumsum")
    if dtype is not None:
        acc = _dtypes.as_dtype(dtype)
    else:
        acc = input.dtype if input.dtype.is_floating_point else _dtypes.int64
    return Cumsum.apply(input, dims, acc, False)


# ----------------------------------------------------- all / any / count_nonzero
def _logical(input, dim, keepdim: bool, reducer: str):
    dims = normalize_dims(dim, input.ndim, reducer)
    arr = reduce_array(input._data, dims, reducer, np.bool_)
    if input.dtype.name == "uint8":  # PyTorch keeps uint8 for uint8 inputs

        arr = _cast_array(arr, _dtypes.uint8)
    return Tensor(arr.reshape(_out_shape(input.shape, dims, keepdim)))


def all(input, dim: Dims = None, keepdim: bool = False):
    """True where every element over ``dim`` is non-zero (bool result).

    >>> import numgrad as ng
    >>> ng.all(ng.tensor([[1., 0.], [2., 3.]]), dim=1)
    tensor([False,  True])
    """
    return _logical(input, dim, keepdim, "all")


def any(input, dim: Dims = None, keepdim: bool = False):
    """True where some element over ``dim`` is non-zero (bool result).

    >>> import numgrad as ng
    >>> ng.any(ng.tensor([[0., 0.], [2., 0.]]), dim=1)
    tensor([False,  True])
    """
    return _logical(input, dim, keepdim, "any")


def count_nonzero(input, dim: Dims = None):
    """Number of non-zero elements over ``dim`` (all by default), as int64.

    >>> import numgrad as ng
    >>> ng.count_nonzero(ng.tensor([[1., 0.], [2., 3.]]), dim=0)
    tensor([2, 1])
    """
    dims = _all_dims_if_empty(dim, input.ndim, "count_nonzero")
    K = _kernels(input._data)
    x3, out_shape = K.prepare(input._data, dims)
    res = K.map_reduce(x3, init="T(0)", transform="T(1) if v != 0 else T(0)", combine="acc + t",
                       acc_dtype=np.int64, load_dtype=input.dtype.np)
    return Tensor(res.reshape(out_shape))


TENSOR_METHODS = {
    "amax": amax, "amin": amin, "max": max, "min": min, "argmax": argmax, "argmin": argmin, "prod": prod,
    "var": var, "std": std, "logsumexp": logsumexp, "norm": norm, "cumsum": cumsum, "all": all, "any": any,
    "count_nonzero": count_nonzero,
}
PUBLIC = ("amax", "amin", "max", "min", "argmax", "argmin", "prod", "var", "std", "logsumexp", "norm", "cumsum",
          "all", "any", "count_nonzero")
