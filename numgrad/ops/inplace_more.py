"""In-place forms PyTorch has and the op modules did not: ``cumsum_``, ``true_divide_``, ``bitwise_not_``,
``ldexp_``, the sampling fills ``random_``/``cauchy_``/``log_normal_``/``geometric_`` (numgrad's generator, so
``manual_seed`` makes them repeat), and the Python-callable maps ``apply_``/``map_`` (CPU only, as PyTorch's).

Each writes through ``copy_``, so the write barrier, version counter and PyTorch's in-place autograd rules
apply.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

from .. import _dtypes
from ..creation import _finish, sampling_generator
from ..tensor import Tensor
from . import elementwise_functions as pw
from .misc import bitwise_not, ldexp
from .reductions import cumsum


def _gen(generator) -> np.random.Generator:
    return sampling_generator(generator)


def cumsum_(self, dim: int, *, dtype=None) -> Tensor:
    """In-place ``cumsum`` along ``dim``.

    >>> import numgrad as ng
    >>> ng.tensor([1., 2., 3.]).cumsum_(0)
    tensor([1., 3., 6.])
    """
    return self.copy_(cumsum(self, dim, dtype=dtype))


def true_divide_(self, other) -> Tensor:
    """In-place true division (``div_``); integer tensors cannot hold the float result, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.tensor([1., 3.]).true_divide_(2)
    tensor([0.5000, 1.5000])
    """
    if not self.dtype.is_floating_point:
        raise RuntimeError("result type Float can't be cast to the desired output type "
                           f"{_dtypes.torch_type_name(self.dtype)}")
    return self.copy_(pw.true_divide(self, other))


def bitwise_not_(self) -> Tensor:
    """In-place ``bitwise_not`` (logical not for bool tensors).

    >>> import numgrad as ng
    >>> ng.tensor([0, 5]).bitwise_not_()
    tensor([-1, -6])
    """
    return self.copy_(bitwise_not(self))


def ldexp_(self, other) -> Tensor:
    """In-place ``ldexp``: ``self * 2 ** other``.

    >>> import numgrad as ng
    >>> ng.tensor([1., 3.]).ldexp_(ng.tensor([2, 1]))
    tensor([4., 6.])
    """
    if not self.dtype.is_floating_point:
        raise RuntimeError(f"ldexp can't be cast to the desired output type "
                           f"{_dtypes.torch_type_name(self.dtype)}")
    return self.copy_(ldexp(self, other))


def _fill_with(self, samples: np.ndarray) -> Tensor:
    return self.copy_(_finish(np.asarray(samples), False, self.device))


def random_(self, from_: int = 0, to: Optional[int] = None, *, generator=None) -> Tensor:
    """Fill with integers drawn uniformly from ``[from_, to)``. ``random_(to)`` draws from ``[0, to)``;
    ``random_()`` from ``[0, 2**mantissa]`` for floats (every integer the dtype holds exactly) and
    ``[0, max]`` for integers, as in PyTorch.

    >>> import numgrad as ng
    >>> bool(((ng.zeros(20).random_(3) >= 0) & (ng.zeros(20).random_(3) < 3)).all())
    True
    """
    if to is None and from_ != 0:
        from_, to = 0, from_  # random_(to)
    dt = self.dtype
    if to is None:
        if dt.is_floating_point:
            digits = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}[dt.name]
            high = 2 ** digits + 1
        elif dt.name == "bool":
            high = 2
        else:
            high = int(np.iinfo(dt.np).max) + 1
    else:
        high = int(to)
    low = int(from_)
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    if high > 2 ** 63 or low < -2 ** 63:
        raise RuntimeError(f"random_: the range [{low}, {high}) does not fit in int64")
    samples = _gen(generator).integers(low, high, size=self.shape, dtype=np.int64)
    return _fill_with(self, samples.astype(np.float64) if dt.is_floating_point else samples)


def _check_float(self, name: str) -> None:
    if not self.dtype.is_floating_point:
        raise RuntimeError(f"{name} distribution is a continuous probability distribution. dtype must be a floating "
                           f"point but you specified {self.dtype}")


def cauchy_(self, median: float = 0.0, sigma: float = 1.0, *, generator=None) -> Tensor:
    """Fill with Cauchy samples ``median + sigma * tan(pi * (u - 1/2))``.

    >>> import numgrad as ng
    >>> ng.zeros(3).cauchy_().shape
    (3,)
    """
    _check_float(self, "Cauchy")
    if sigma <= 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
    u = _gen(generator).random(self.shape)
    return _fill_with(self, median + sigma * np.tan(math.pi * (u - 0.5)))


def log_normal_(self, mean: float = 1.0, std: float = 2.0, *, generator=None) -> Tensor:
    """Fill with samples whose logarithm is normal with ``mean`` and ``std``.

    >>> import numgrad as ng
    >>> bool((ng.zeros(5).log_normal_() > 0).all())
    True
    """
    _check_float(self, "LogNormal")
    if std <= 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    return _fill_with(self, np.exp(mean + std * _gen(generator).standard_normal(self.shape)))


def geometric_(self, p: float, *, generator=None) -> Tensor:
    """Fill with the number of Bernoulli(``p``) trials up to the first success (1, 2, ...).

    >>> import numgrad as ng
    >>> bool((ng.zeros(5).geometric_(0.5) >= 1).all())
    True
    """
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    return _fill_with(self, _gen(generator).geometric(p, self.shape))


def _check_cpu(self, op: str) -> None:
    if self.device.type != "cpu":
        raise TypeError(f"{op} is only implemented on CPU tensors")


def apply_(self, callable: Callable) -> Tensor:
    """Replace every element ``x`` by ``callable(x)`` (a Python function, element by element: slow, CPU only).

    >>> import numgrad as ng
    >>> ng.tensor([1., 2.]).apply_(lambda v: v * 10)
    tensor([10., 20.])
    """
    _check_cpu(self, "apply_")
    values = self._data
    out = np.array([callable(v) for v in values.reshape(-1).tolist()], dtype=values.dtype).reshape(values.shape)
    return _fill_with(self, out)


def map_(self, tensor: Tensor, callable: Callable) -> Tensor:
    """Replace every element ``x`` by ``callable(x, y)`` with ``y`` the element of ``tensor`` (broadcast to this
    tensor's shape) at the same position; CPU only, element by element.

    >>> import numgrad as ng
    >>> ng.tensor([1., 2.]).map_(ng.tensor([3., 4.]), lambda a, b: a * b)
    tensor([3., 8.])
    """
    _check_cpu(self, "map_")
    _check_cpu(tensor, "map_")
    values = self._data
    others = np.broadcast_to(tensor._data, values.shape)
    out = np.array([callable(a, b) for a, b in zip(values.reshape(-1).tolist(), others.reshape(-1).tolist())],
                   dtype=values.dtype).reshape(values.shape)
    return _fill_with(self, out)


TENSOR_METHODS = {
    "cumsum_": cumsum_, "true_divide_": true_divide_, "bitwise_not_": bitwise_not_, "ldexp_": ldexp_,
    "random_": random_, "cauchy_": cauchy_, "log_normal_": log_normal_, "geometric_": geometric_,
    "apply_": apply_, "map_": map_,
}
