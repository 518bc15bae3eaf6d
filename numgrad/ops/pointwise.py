"""Elementwise ops composed of op-table rows: lerp, addcmul, addcdiv, nan_to_num, logaddexp, hypot, xlogy,
the in-place forms, ``equal``, the clamp variants, and PyTorch's alias names (multiply, divide, greater, ...).

Each is a few rows of ``numgrad/ir/table.py`` applied lazily, so a chain of them fuses into one
kernel forward and one backward with whatever surrounds it, and gradients come from the rows'
derivative rules. The in-place forms write through ``add_``/``copy_`` (the write barrier and
PyTorch's in-place autograd rules apply).
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..creation import scalar_tensor, zeros
from ..tensor import Tensor
from . import elementwise_functions as pw
from ..ir.table import ELEMENTWISE
from .elementwise import inplace_update
from .indexing import nonzero
from .reductions import all as _all
from .sum_mean import sum_to
from .autocast_policy import autocast_op


def lerp(input, end, weight) -> Tensor:
    """``input + weight * (end - input)``; ``weight`` is a number or a tensor (broadcast).

    Computed as PyTorch does, to the bit: ``input + weight * (end - input)`` where ``|weight| < 0.5``, else
    ``end - (end - input) * (1 - weight)`` (exact at ``weight == 1``).

    >>> import numgrad as ng
    >>> ng.lerp(ng.tensor([0., 10.]), ng.tensor([10., 20.]), 0.5)
    tensor([ 5., 15.])
    """
    diff = end - input
    if not isinstance(weight, Tensor):
        return input + weight * diff if abs(weight) < 0.5 else end - diff * (1 - weight)
    return where(weight.abs() < 0.5, input + weight * diff, end - diff * (1 - weight))


def lerp_(self, end, weight) -> Tensor:
    """In-place :func:`lerp`."""
    return self.copy_(lerp(self, end, weight))


@autocast_op
def addcmul(input, tensor1, tensor2, *, value=1) -> Tensor:
    """``input + value * tensor1 * tensor2`` (broadcast).

    >>> import numgrad as ng
    >>> ng.addcmul(ng.ones(2), ng.tensor([1., 2.]), ng.tensor([3., 4.]), value=0.5)
    tensor([2.5000, 5.0000])
    """
    product = tensor1 * tensor2
    return input + (product if value == 1 else product * value)


@autocast_op
def addcdiv(input, tensor1, tensor2, *, value=1) -> Tensor:
    """``input + value * tensor1 / tensor2`` (broadcast); integer division is refused as in PyTorch.

    >>> import numgrad as ng
    >>> ng.addcdiv(ng.ones(2), ng.tensor([1., 2.]), ng.tensor([2., 4.]), value=2)
    tensor([2., 2.])
    """
    for t in (tensor1, tensor2):
        if isinstance(t, Tensor) and not t.dtype.is_floating_point:
            raise RuntimeError("Integer division with addcdiv is no longer supported, and in a future release "
                               "addcdiv will perform a true division of tensor1 and tensor2. Convert them to a "
                               "floating dtype (.float()) first.")
    quotient = tensor1 / tensor2
    return input + (quotient if value == 1 else quotient * value)


def addcmul_(self, tensor1, tensor2, *, value=1) -> Tensor:
    """In-place :func:`addcmul` (the second-moment update of Adam-style optimizers).

    >>> import numgrad as ng
    >>> ng.zeros(2).addcmul_(ng.tensor([1., 2.]), ng.tensor([1., 2.]), value=0.1)
    tensor([0.1000, 0.4000])
    """
    product = tensor1 * tensor2
    return self.add_(product if value == 1 else product * value)


def addcdiv_(self, tensor1, tensor2, *, value=1) -> Tensor:
    """In-place :func:`addcdiv` (the parameter update of Adam-style optimizers).

    >>> import numgrad as ng
    >>> ng.ones(2).addcdiv_(ng.tensor([1., 2.]), ng.tensor([2., 2.]), value=-1)
    tensor([0.5000, 0.0000])
    """
    return self.add_(addcdiv(0, tensor1, tensor2, value=value))


def _finite_limits(dtype) -> tuple:
    info = np.finfo(dtype.np)
    return float(info.max), float(info.min)


def nan_to_num(input, nan: float = 0.0, posinf=None, neginf=None) -> Tensor:
    """NaN replaced by ``nan``, +inf by ``posinf`` and -inf by ``neginf`` (default: the dtype's largest and
    smallest finite values); the gradient is zero at the replaced entries.

    >>> import numgrad as ng
    >>> ng.nan_to_num(ng.tensor([float('nan'), float('inf'), 1.]), posinf=9.)
    tensor([0., 9., 1.])
    """
    if not input.dtype.is_floating_point:
        return input.clone()
    big, small = _finite_limits(input.dtype)
    posinf = big if posinf is None else posinf
    neginf = small if neginf is None else neginf
    out = pw.where(pw.isnan(input), nan, input)
    out = pw.where(pw.eq(input, float("inf")), posinf, out)
    return pw.where(pw.eq(input, float("-inf")), neginf, out)


def nan_to_num_(self, nan: float = 0.0, posinf=None, neginf=None) -> Tensor:
    """In-place :func:`nan_to_num`."""
    return self.copy_(nan_to_num(self, nan, posinf, neginf))


def equal(input, other) -> bool:
    """True when both tensors have the same shape and the same values (NaN is never equal).

    >>> import numgrad as ng
    >>> ng.equal(ng.tensor([1, 2]), ng.tensor([1, 2])), ng.equal(ng.ones(2), ng.ones(3))
    (True, False)
    """
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError("equal(): arguments must be Tensors")
    if input.shape != other.shape:
        return False
    return bool(_all(pw.eq(input, other)))


def logaddexp(input, other) -> Tensor:
    """``log(exp(input) + exp(other))`` without overflow.

    >>> import numgrad as ng
    >>> ng.logaddexp(ng.tensor([0.]), ng.tensor([0.]))
    tensor([0.6931])
    """
    big = pw.maximum(input, other)
    return big + pw.log1p(pw.exp(-pw.abs(input - other)))


def hypot(input, other) -> Tensor:
    """``sqrt(input**2 + other**2)``.

    >>> import numgrad as ng
    >>> ng.hypot(ng.tensor([3.]), ng.tensor([4.]))
    tensor([5.])
    """
    return pw.sqrt(input * input + other * other)


class _XLogY(Function):
    """``x * log(y)`` (``log1p`` for ``xlog1py``), 0 where ``x`` is 0 unless ``y`` is NaN, with PyTorch's
    derivatives: ``log(y)`` for ``x`` (0 where ``y`` is 0: the 0 at ``x == 0`` defines the value, not the slope, so
    it is not the derivative of a ``where``) and ``x / y`` for ``y`` (``x / (1 + y)``)."""

    node_name = "XlogyBackward0"

    @staticmethod
    def forward(ctx, x, y, log1p: bool):
        ctx.save_for_backward(x, y)
        ctx.log1p = log1p
        product = x * (pw.log1p(y) if log1p else pw.log(y))
        return pw.where(pw.logical_and(pw.eq(x, 0), pw.logical_not(pw.isnan(y))), 0.0, product)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        gx = gy = None
        if ctx.needs_input_grad[0]:
            if ctx.log1p:
                slope = pw.where(pw.ne(y, -1), pw.log1p(y), 0.0)
            else:
                slope = pw.where(pw.ne(y, 0), pw.log(y), 0.0)
            gx = sum_to(g * slope, x.shape)
        if ctx.needs_input_grad[1]:
            gy = sum_to(g * x / (y + 1 if ctx.log1p else y), y.shape)
        return gx, gy, None


def _xlogy(input, other, log1p: bool) -> Tensor:
    if not isinstance(input, Tensor):
        input = scalar_tensor(input, dtype=other.dtype if isinstance(other, Tensor) else None)
    if not isinstance(other, Tensor):
        other = scalar_tensor(other, dtype=input.dtype if input.dtype.is_floating_point else None)
    return _XLogY.apply(input, other, log1p)


def xlogy(input, other) -> Tensor:
    """``input * log(other)``, and 0 where ``input`` is 0 (unless ``other`` is NaN); PyTorch's derivatives.

    >>> import numgrad as ng
    >>> ng.xlogy(ng.tensor([0., 2.]), ng.tensor([0., 1.]))
    tensor([0., 0.])
    """
    return _xlogy(input, other, False)


def xlog1py(input, other) -> Tensor:
    """``input * log1p(other)``, and 0 where ``input`` is 0 (unless ``other`` is NaN); PyTorch's derivatives.

    >>> import numgrad as ng
    >>> ng.special.xlog1py(ng.tensor([0.0, 2.0]), ng.tensor([-1.0, 0.0]))
    tensor([0., 0.])
    """
    return _xlogy(input, other, True)


def divide(input, other, *, rounding_mode=None) -> Tensor:
    """``input / other``; ``rounding_mode='trunc'`` rounds toward zero, ``'floor'`` down (as ``torch.div``).

    >>> import numgrad as ng
    >>> ng.divide(ng.tensor([-7., 7.]), 2, rounding_mode='floor')
    tensor([-4.,  3.])
    """
    if rounding_mode is None:
        return pw.div(input, other)
    if rounding_mode == "trunc":
        return pw.trunc(pw.div(input, other)) if _is_float(input, other) else _int_trunc_div(input, other)
    if rounding_mode == "floor":
        return pw.floor_divide(input, other)
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")


def div(input, other, *, rounding_mode=None) -> Tensor:
    """``input / other`` (``torch.div``): true division, or rounded toward zero (``rounding_mode='trunc'``) or
    down (``'floor'``), which keeps an integer dtype.

    >>> import numgrad as ng
    >>> ng.div(ng.tensor([-7, 7]), 2, rounding_mode='trunc')
    tensor([-3,  3])
    """
    if rounding_mode is None:
        return pw.div(input, other)
    return divide(input, other, rounding_mode=rounding_mode)


def _is_float(*xs) -> bool:
    return any(isinstance(x, float) or (isinstance(x, Tensor) and x.dtype.is_floating_point) for x in xs)


def _int_trunc_div(input, other):
    q = pw.floor_divide(input, other)
    # floor and trunc differ where the signs differ and the division is not exact
    fix = pw.logical_and(pw.ne(pw.remainder(input, other), 0), pw.ne(pw.lt(input, 0), pw.lt(other, 0)))
    return pw.where(fix, q + 1, q)


def frac(input) -> Tensor:
    """The fractional part ``input - trunc(input)`` (sign of ``input``).

    >>> import numgrad as ng
    >>> ng.frac(ng.tensor([-2.5, 1.25]))
    tensor([-0.5000,  0.2500])
    """
    return input - pw.trunc(input)


def fmod(input, other) -> Tensor:
    """C's remainder: ``input - trunc(input / other) * other`` (the sign of ``input``, unlike ``remainder``).

    >>> import numgrad as ng
    >>> ng.fmod(ng.tensor([-7., 7.]), 3)
    tensor([-1.,  1.])
    """
    if _is_float(input, other):
        return input - pw.trunc(input / other) * other
    return input - _int_trunc_div(input, other) * other


def logit(input, eps=None) -> Tensor:
    """``log(p / (1 - p))``, with ``p`` clamped to ``[eps, 1 - eps]`` when ``eps`` is given.

    >>> import numgrad as ng
    >>> ng.logit(ng.tensor([0.5]))
    tensor([0.])
    """
    p = input if eps is None else pw.clamp(input, eps, 1.0 - eps)
    return pw.log(p / (1.0 - p))


def sinc(input) -> Tensor:
    """The normalised sinc ``sin(pi x) / (pi x)``, 1 at 0 (where its gradient is 0).

    >>> import numgrad as ng
    >>> ng.sinc(ng.tensor([0., 0.5]))
    tensor([1.0000, 0.6366])
    """
    at_zero = pw.eq(input, 0)
    safe = pw.where(at_zero, 1.0, input) * math.pi  # no 0/0 in the unused branch's gradient
    return pw.where(at_zero, 1.0, pw.sin(safe) / safe)


def heaviside(input, values) -> Tensor:
    """0 where ``input < 0``, ``values`` where it is 0, 1 where it is positive (not differentiable).

    >>> import numgrad as ng
    >>> ng.heaviside(ng.tensor([-1., 0., 2.]), ng.tensor(0.5))
    tensor([0.0000, 0.5000, 1.0000])
    """
    if isinstance(values, Tensor) and values.dtype != input.dtype:
        raise RuntimeError(f"heaviside is not yet implemented for tensors with different dtypes (got "
                           f"{input.dtype.name} and {values.dtype.name})")
    out = pw.where(pw.eq(input, 0), values, pw.gt(input, 0).to(input.dtype))
    return out.detach()


def float_power(input, exponent) -> Tensor:
    """``input ** exponent`` computed in float64.

    >>> import numgrad as ng
    >>> ng.float_power(ng.tensor([2]), 2)
    tensor([4.], dtype=numgrad.float64)
    """
    a = input.to("float64") if isinstance(input, Tensor) else float(input)
    b = exponent.to("float64") if isinstance(exponent, Tensor) else float(exponent)
    return pw.pow(a, b)


def signbit(input) -> Tensor:
    """True where the sign bit is set (negative numbers and -0.0).

    >>> import numgrad as ng
    >>> ng.signbit(ng.tensor([-1., -0., 0.]))
    tensor([ True,  True, False])
    """
    if not input.dtype.is_floating_point:
        return pw.lt(input, 0)
    return pw.logical_or(pw.lt(input, 0), pw.logical_and(pw.eq(input, 0), pw.lt(pw.reciprocal(input), 0)))


def copysign(input, other) -> Tensor:
    """``|input|`` with the sign of ``other`` (-0.0 counts as negative).

    >>> import numgrad as ng
    >>> ng.copysign(ng.tensor([1., -2.]), -1.)
    tensor([-1., -2.])
    """
    if isinstance(other, Tensor) and other.requires_grad and is_grad_enabled():
        return _CopySign.apply(input, other)  # PyTorch gives ``other`` a gradient of zeros
    return _copysign(input, other)


def _copysign(input, other) -> Tensor:
    negative = signbit(other) if isinstance(other, Tensor) else math.copysign(1.0, other) < 0
    magnitude = pw.abs(input if input.dtype.is_floating_point else input.to("float32"))
    if isinstance(negative, bool):
        return -magnitude if negative else magnitude
    return pw.where(negative, -magnitude, magnitude)


class _CopySign(Function):
    """``copysign`` with PyTorch's derivatives: ``result / input`` (0 where ``input`` is 0) for ``input``, zeros
    for ``other``."""

    node_name = "CopysignBackward0"

    @staticmethod
    def forward(ctx, input, other):
        out = _copysign(input, other)
        ctx.save_for_backward(input, out)
        ctx.other_shape, ctx.other_dtype = other.shape, other.dtype
        return out

    @staticmethod
    def backward(ctx, g):
        input, out = ctx.saved_tensors
        ratio = pw.where(pw.eq(input, 0), 0.0, out / input)
        g_input = sum_to(g * ratio, input.shape) if ctx.needs_input_grad[0] else None
        g_other = zeros(*ctx.other_shape, dtype=ctx.other_dtype, device=g.device) if ctx.needs_input_grad[1] else None
        return g_input, g_other


def deg2rad(input) -> Tensor:
    """Degrees to radians.

    >>> import numgrad as ng
    >>> ng.deg2rad(ng.tensor([180.]))
    tensor([3.1416])
    """
    return input * (math.pi / 180.0)


def rad2deg(input) -> Tensor:
    """Radians to degrees.

    >>> import numgrad as ng
    >>> ng.rad2deg(ng.tensor([3.141592653589793]))
    tensor([180.])
    """
    return input * (180.0 / math.pi)


def where(condition, input=None, other=None):
    """``input`` where ``condition`` is True, else ``other``; with the condition alone, the indices of its
    nonzero entries as a tuple of 1-D tensors (``nonzero(condition, as_tuple=True)``).

    >>> import numgrad as ng
    >>> ng.where(ng.tensor([True, False]), 1.0, 0.0)
    tensor([1., 0.])
    >>> ng.where(ng.tensor([0, 3, 5]))
    (tensor([1, 2]),)
    """
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where() takes the condition alone or the condition, input and other")
    return pw.where(condition, input, other)


def _where_method(self, condition, other) -> Tensor:
    """``x.where(condition, y)``: ``x`` where ``condition`` is True, else ``y`` (``where(condition, x, y)``).

    >>> import numgrad as ng
    >>> ng.tensor([1., 2.]).where(ng.tensor([True, False]), 0.0)
    tensor([1., 0.])
    """
    return pw.where(condition, self, other)


def _clamp_min_(self, min):
    """In-place :func:`clamp_min`."""
    inplace_update(self, "clamp_min", min)
    return self


def _clamp_max_(self, max):
    """In-place :func:`clamp_max`."""
    inplace_update(self, "clamp_max", max)
    return self


def _clip_(self, min=None, max=None):
    """In-place :func:`clip` (``clamp_``)."""
    return self.clamp_(min, max)


def _alias(name: str, fn):
    def alias(*args, **kwargs):
        return fn(*args, **kwargs)
    alias.__name__ = alias.__qualname__ = name
    alias.__doc__ = f"Alias of ``{fn.__name__}`` (PyTorch's name ``{name}``).\n\n    >>> import numgrad as ng\n" \
                    f"    >>> callable(ng.{name})\n    True\n"
    return alias


absolute = _alias("absolute", pw.abs)
negative = _alias("negative", pw.neg)
multiply = _alias("multiply", pw.mul)
subtract = _alias("subtract", pw.sub)
greater = _alias("greater", pw.gt)
greater_equal = _alias("greater_equal", pw.ge)
less = _alias("less", pw.lt)
less_equal = _alias("less_equal", pw.le)
not_equal = _alias("not_equal", pw.ne)
fix = _alias("fix", pw.trunc)
arcsin = _alias("arcsin", pw.asin)
arccos = _alias("arccos", pw.acos)
arctan = _alias("arctan", pw.atan)
arcsinh = _alias("arcsinh", pw.asinh)
arccosh = _alias("arccosh", pw.acosh)
arctanh = _alias("arctanh", pw.atanh)
arctan2 = _alias("arctan2", pw.atan2)
sgn = _alias("sgn", pw.sign)

def _row_inplace(name: str, arity: int):
    """``x.<name>_(...)`` for an op-table row: the row's kernel writes into ``x`` (``inplace_update``)."""
    if arity == 1:
        def method(self):
            inplace_update(self, name)
            return self
    else:
        def method(self, other):
            inplace_update(self, name, other)
            return self
    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"In-place ``{name}``: the op-table kernel writes into this tensor, which is returned."
    return method


def _composite_inplace(fn):
    """``x.<fn>_(...)`` for a composed op: ``x.copy_(fn(x, ...))`` (the write barrier and in-place rules of copy_)."""
    def method(self, *args, **kwargs):
        return self.copy_(fn(self, *args, **kwargs))
    method.__name__ = method.__qualname__ = fn.__name__ + "_"
    method.__doc__ = f"In-place ``{fn.__name__}``: the result is copied into this tensor, which is returned."
    return method


def _inplace_if_missing() -> dict:
    """In-place forms ``<name>_`` of the op-table rows and of this module's compositions and aliases; the
    binding installs each only where Tensor has no method of that name (add_, exp_, ... keep theirs)."""
    out = {}
    skip = {"where", "identity", "isclose", "clamp", "gelu", "gelu_tanh", "leaky_relu", "softplus", "elu"}
    for name, row in ELEMENTWISE.items():
        if name in skip or name.startswith(("cast_", "user_")) or row.arity > 2:
            continue
        out[name + "_"] = _row_inplace(name, row.arity)
    for fn in (frac, fmod, logit, sinc, heaviside, float_power, copysign, deg2rad, rad2deg, hypot, xlogy, divide,
               logaddexp, absolute, negative, multiply, subtract, greater, greater_equal, less, less_equal, not_equal,
               fix, arcsin, arccos, arctan, arcsinh, arccosh, arctanh, arctan2, sgn):
        out[fn.__name__ + "_"] = _composite_inplace(fn)
    return out


TENSOR_METHODS = {
    "lerp": lerp, "lerp_": lerp_, "addcmul": addcmul, "addcmul_": addcmul_, "addcdiv": addcdiv, "addcdiv_": addcdiv_,
    "nan_to_num": nan_to_num, "nan_to_num_": nan_to_num_, "equal": equal, "logaddexp": logaddexp, "hypot": hypot,
    "xlogy": xlogy, "divide": divide, "div": div, "where": _where_method, "clamp_min_": _clamp_min_, "clamp_max_": _clamp_max_,
    "clip_": _clip_,
    "absolute": absolute, "negative": negative, "multiply": multiply, "subtract": subtract, "greater": greater,
    "greater_equal": greater_equal, "less": less, "less_equal": less_equal, "not_equal": not_equal, "fix": fix,
    "arcsin": arcsin, "arccos": arccos, "arctan": arctan, "arcsinh": arcsinh, "arccosh": arccosh, "arctanh": arctanh,
    "arctan2": arctan2, "sgn": sgn, "frac": frac, "fmod": fmod, "logit": logit, "sinc": sinc, "heaviside": heaviside,
    "float_power": float_power, "signbit": signbit, "copysign": copysign, "deg2rad": deg2rad, "rad2deg": rad2deg,
}
PUBLIC = ("where", "lerp", "addcmul", "addcdiv", "nan_to_num", "equal", "logaddexp", "hypot", "xlogy", "divide", "div",
          "absolute", "negative", "multiply", "subtract", "greater", "greater_equal", "less", "less_equal", "not_equal",
          "fix",
          "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "arctan2", "sgn",
          "frac", "fmod", "logit", "sinc", "heaviside", "float_power", "signbit", "copysign", "deg2rad", "rad2deg")
INPLACE_IF_MISSING = _inplace_if_missing()
