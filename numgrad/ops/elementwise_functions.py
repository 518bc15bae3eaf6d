"""Public elementwise functions, one per op-table row (``ng.exp``, ``ng.maximum``...).

Functions without extra arguments are generated from the table; the few with
PyTorch keyword arguments (``add(alpha=)``, ``clamp(min, max)``, ``gelu(approximate=)``)
are written out.
"""
from __future__ import annotations

import warnings

from .. import _dtypes
from .. import memory_format as _memory_format
from ..autograd.grad_mode import is_grad_enabled, no_grad
from .elementwise import _refuse_bool_arithmetic, apply
from ..ir.table import ELEMENTWISE
from ..creation import tensor
from ..kernels.backend import reduce_array
from ..tensor import Tensor
from .views import Contiguous

_EXAMPLE_INPUT = {"any": "[0.5, -1.0]", "positive": "[0.5, 2.0]", "unit": "[0.5, -0.25]", "nonzero": "[0.5, 2.0]",
                  "open_unit": "[0.5, -0.25]", "above_one": "[1.5, 2.0]"}


def _kind(dtype) -> int:
    return 2 if dtype.is_floating_point else (0 if dtype is _dtypes.bool_ else 1)


def write_out(name: str, result: Tensor, out, inputs) -> Tensor:
    """``out=``: ``result`` written into ``out`` with PyTorch's rules, and ``out`` returned: no autograd through
    it, a result dtype that casts to out's without changing kind, out's device, and out resized to the result's
    shape (with PyTorch's deprecation warning when it had elements).

    >>> import numgrad as ng
    >>> out = ng.empty(0)
    >>> ng.add(ng.ones(2), 1, out=out) is out, out
    (True, tensor([2., 2.]))
    """
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in inputs):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic differentiation, "
                           "but one of the arguments requires grad.")
    if _kind(result.dtype) > _kind(out.dtype):
        raise RuntimeError(f"result type {_dtypes.torch_type_name(result.dtype)} can't be cast to the desired "
                           f"output type {_dtypes.torch_type_name(out.dtype)}")
    if out.device != result.device:
        raise RuntimeError(f"{name}(): Expected out tensor to have device {result.device}, but got {out.device} "
                           "instead")
    if tuple(out.shape) != tuple(result.shape):
        if out.numel() != 0:
            warnings.warn(f"An output with one or more elements was resized since it had shape {list(out.shape)}, "
                          f"which does not match the required output shape {list(result.shape)}. This behavior is "
                          "deprecated, and in a future PyTorch release outputs will not be resized unless they have "
                          "zero elements. You can explicitly reuse an out tensor t by resizing it, inplace, to zero "
                          "elements with t.resize_(0).", UserWarning, stacklevel=3)
        out.resize_(*result.shape)
    with no_grad():
        out.copy_(result)
    return out


def _generated(name: str, arity: int):
    row = ELEMENTWISE[name]
    if arity == 1:
        def fn(input, *, out=None):
            result = apply(name, input)
            return result if out is None else write_out(name, result, out, (input,))
        sig = "input"
    elif arity == 2:
        def fn(input, other, *, out=None):
            result = apply(name, input, other)
            return result if out is None else write_out(name, result, out, (input, other))
        sig = "input, other"
    else:
        def fn(*operands):
            return apply(name, *operands)
        sig = "*operands"
    fn.__name__ = fn.__qualname__ = name
    # bitwise rows take integer or bool tensors only
    example = "[5, -2]" if name.startswith("bitwise_") else _EXAMPLE_INPUT[row.domain]
    call = f"ng.{name}(x)" if arity == 1 else f"ng.{name}(x, x)"
    fn.__doc__ = (
        f"Elementwise ``{name}({sig})`` (Numba kernel generated from the op table; broadcasts).\n\n"
        f"    >>> import numgrad as ng\n"
        f"    >>> x = ng.tensor({example})\n"
        f"    >>> {call}.shape\n"
        f"    (2,)\n"
    )
    return fn


_SPECIAL = {"isclose", "add", "sub", "clamp", "clamp_min", "clamp_max", "leaky_relu", "hardtanh", "gelu", "gelu_tanh",
            "softplus",
            "elu", "round", "identity", "where"}
_SPECIAL |= {"polygamma", "igamma", "igammac", "gcd", "lcm", "nextafter", "i1"}  # written out in ops/special_math.py
for _name, _row in ELEMENTWISE.items():
    if _name not in _SPECIAL and not _name.startswith("cast_"):
        globals()[_name] = _generated(_name, _row.arity)


def add(input, other, *, alpha=1, out=None):
    """``input + alpha * other`` (into ``out`` when given).

    >>> import numgrad as ng
    >>> ng.add(ng.tensor([1.0]), ng.tensor([2.0]), alpha=3)
    tensor([7.])
    """
    scaled = apply("mul", other, alpha) if alpha != 1 else other
    result = apply("add", input, scaled)
    return result if out is None else write_out("add", result, out, (input, other))


def sub(input, other, *, alpha=1, out=None):
    """``input - alpha * other`` (into ``out`` when given).

    >>> import numgrad as ng
    >>> ng.sub(ng.tensor([1.0]), 2)
    tensor([-1.])
    """
    if alpha != 1:  # (the scaled operand is no longer bool: PyTorch refuses the bool one all the same)
        _refuse_bool_arithmetic("sub", (input, other))
    scaled = apply("mul", other, alpha) if alpha != 1 else other
    result = apply("sub", input, scaled)
    return result if out is None else write_out("sub", result, out, (input, other))


def rsub(input, other, *, alpha=1):
    """``other - alpha * input``."""
    return sub(other, input, alpha=alpha)


def where(condition, input, other):
    """``input`` where ``condition`` is true, else ``other``.

    >>> import numgrad as ng
    >>> ng.where(ng.tensor([True, False]), 1.0, 0.0)
    tensor([1., 0.])
    """
    if not isinstance(condition, Tensor):
        condition = tensor(condition)
    if condition.dtype.name != "bool":
        condition = apply("ne", condition, 0)
    return apply("where", condition, input, other)


def clamp(input, min=None, max=None):
    """Limit values to ``[min, max]`` (either bound may be None or a tensor).

    >>> import numgrad as ng
    >>> ng.clamp(ng.tensor([-2.0, 0.5, 3.0]), -1, 1)
    tensor([-1.0000,  0.5000,  1.0000])
    """
    if min is None and max is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    if max is None:
        return apply("clamp_min", input, min)
    if min is None:
        return apply("clamp_max", input, max)
    return apply("clamp", input, min, max)


clip = clamp


def clamp_min(input, min):
    """``max(input, min)`` elementwise (gradient to ``input`` where it is not clamped)."""
    return apply("clamp_min", input, min)


def clamp_max(input, max):
    """``min(input, max)`` elementwise."""
    return apply("clamp_max", input, max)


def leaky_relu(input, negative_slope: float = 0.01):
    """``x if x > 0 else negative_slope * x``.

    >>> import numgrad as ng
    >>> ng.leaky_relu(ng.tensor([-1.0, 2.0]), 0.1)
    tensor([-0.1000,  2.0000])
    """
    return apply("leaky_relu", input, params=(float(negative_slope),))


def gelu(input, approximate: str = "none"):
    """Gaussian error linear unit; ``approximate='tanh'`` for the tanh formula.

    >>> import numgrad as ng
    >>> ng.gelu(ng.tensor([0.0]))
    tensor([0.])
    """
    if approximate == "none":
        return apply("gelu", input)
    if approximate == "tanh":
        return apply("gelu_tanh", input)
    raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    """``log(1 + exp(beta * x)) / beta``, linear above ``threshold``.

    >>> import numgrad as ng
    >>> ng.softplus(ng.tensor([0.0]))
    tensor([0.6931])
    """
    return apply("softplus", input, params=(float(beta), float(threshold)))


def elu(input, alpha: float = 1.0):
    """``x if x > 0 else alpha * (exp(x) - 1)``.

    >>> import numgrad as ng
    >>> ng.elu(ng.tensor([0.0, 1.0]))
    tensor([0., 1.])
    """
    return apply("elu", input, params=(float(alpha),))


def round(input, decimals: int = 0):
    """Round half to even, optionally to ``decimals`` places.

    >>> import numgrad as ng
    >>> ng.round(ng.tensor([0.5, 1.5, 2.6]))
    tensor([0., 2., 3.])
    """
    if decimals == 0:
        return apply("round", input)
    scale = 10.0 ** decimals
    return apply("div", apply("round", apply("mul", input, scale)), scale)


def clone(input, *, memory_format=_memory_format.preserve_format):
    """A copy of ``input`` with its own memory (differentiable); ``memory_format=ng.channels_last`` (or
    ``channels_last_3d``) lays the copy out channels last (see ``numgrad.memory_format``).

    >>> import numgrad as ng
    >>> ng.clone(ng.tensor([1.0]))
    tensor([1.])
    """
    if memory_format is _memory_format.channels_last or memory_format is _memory_format.channels_last_3d:
        _memory_format.check_rank(input.ndim, memory_format)
        return Contiguous.apply(input, memory_format)
    return apply("identity", input)


def true_divide(input, other):
    return apply("div", input, other)


def relu6(input):
    """``min(max(x, 0), 6)``; its gradient is 0 at 0 and 6 (PyTorch's hardtanh's)."""
    return hardtanh(input, 0.0, 6.0)


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0):
    """``clamp(x, min_val, max_val)``, with PyTorch's gradient: 1 strictly between the bounds, 0 at them."""
    return apply("hardtanh", input, params=(float(min_val), float(max_val)))


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
    """Elementwise ``|input - other| <= atol + rtol * |other|`` (bool tensor).

    >>> import numgrad as ng
    >>> ng.isclose(ng.tensor([1.0, 2.0]), ng.tensor([1.0, 2.1]))
    tensor([ True, False])
    """
    return apply("isclose", input, other, params=(float(rtol), float(atol), float(bool(equal_nan))))


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """True when every element is close (see :func:`isclose`).

    >>> import numgrad as ng
    >>> ng.allclose(ng.tensor([1.0]), ng.tensor([1.0 + 1e-9]))
    True
    """
    close = isclose(input, other, rtol, atol, equal_nan)
    return bool(reduce_array(close._data, range(close.ndim), "all", close._data.dtype))
