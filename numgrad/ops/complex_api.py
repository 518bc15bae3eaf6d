"""PyTorch's complex-number API on numgrad's real tensors.

numgrad has no complex dtypes. For a real tensor PyTorch's answers are simple and numgrad gives the same:
``conj``/``resolve_conj``/``resolve_neg``/``real`` return the tensor itself, ``conj_physical`` too,
``is_conj``/``is_neg`` are False, ``angle`` is 0 (π for negative values, NaN for NaN) with a zero
gradient, ``adjoint``/``mH``/``H`` transpose the last two dimensions. What needs a complex result
(``imag``, ``view_as_real``, ``view_as_complex``, ``polar``, ``complex``, ``cfloat()``...) raises and says so.
"""
from __future__ import annotations

import math

from .. import _dtypes
from ..autograd.function import Function
from ..creation import zeros_like
from ..tensor import Tensor
from . import elementwise_functions as pw
from .views import transpose


def _complex_unsupported(what: str) -> TypeError:
    return TypeError(f"{what} needs a complex dtype, and numgrad has no complex dtypes (its dtypes are bool, uint8, "
                     "int8, int16, int32, int64, float16, bfloat16, float32 and float64); keep real and imaginary "
                     "parts in two real tensors")


def _check_tensor(x, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")
    return x


def conj(input) -> Tensor:
    """The complex conjugate: for numgrad's real tensors, the tensor itself (as PyTorch's ``conj`` of a real one).

    >>> import numgrad as ng
    >>> x = ng.ones(2)
    >>> ng.conj(x) is x
    True
    """
    return _check_tensor(input, "conj")


def conj_physical(input) -> Tensor:
    """``conj`` materialized: for a real tensor the tensor itself, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.conj_physical(ng.tensor([1., -2.]))
    tensor([ 1., -2.])
    """
    return _check_tensor(input, "conj_physical")


def resolve_conj(input) -> Tensor:
    """Materialize a lazy conjugation: real tensors have none, so the tensor itself.

    >>> import numgrad as ng
    >>> x = ng.ones(2)
    >>> ng.resolve_conj(x) is x
    True
    """
    return _check_tensor(input, "resolve_conj")


def resolve_neg(input) -> Tensor:
    """Materialize a lazy negation bit: numgrad has none, so the tensor itself.

    >>> import numgrad as ng
    >>> x = ng.ones(2)
    >>> ng.resolve_neg(x) is x
    True
    """
    return _check_tensor(input, "resolve_neg")


def is_conj(input) -> bool:
    """False: numgrad tensors never carry a lazy conjugation.

    >>> import numgrad as ng
    >>> ng.is_conj(ng.ones(1))
    False
    """
    _check_tensor(input, "is_conj")
    return False


def is_neg(self) -> bool:
    """False: numgrad tensors never carry a lazy negation."""
    return False


def real(input) -> Tensor:
    """The real part: a real tensor itself, as in PyTorch.

    >>> import numgrad as ng
    >>> x = ng.tensor([1., -2.])
    >>> ng.real(x) is x
    True
    """
    return _check_tensor(input, "real")


def imag(input) -> Tensor:
    """The imaginary part, which a real tensor does not have: raises PyTorch's error.

    >>> import numgrad as ng
    >>> ng.imag(ng.ones(1))
    Traceback (most recent call last):
    RuntimeError: imag is not implemented for tensors with non-complex dtypes.
    """
    _check_tensor(input, "imag")
    raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")


class _Angle(Function):
    node_name = "AngleBackward0"
    saves_only_metadata = True

    @staticmethod
    def forward(ctx, x):
        out = pw.where(pw.lt(x, 0), math.pi, 0.0)
        return pw.where(pw.isnan(x), x, out)

    @staticmethod
    def backward(ctx, g):
        return zeros_like(g)  # PyTorch: the angle of a real number is piecewise constant


def angle(input) -> Tensor:
    """The argument of each element: 0 for non-negative values, π for negative ones, NaN for NaN (integers give
    the default float dtype). The gradient is 0, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.angle(ng.tensor([1., -2.]))
    tensor([0.0000, 3.1416])
    """
    _check_tensor(input, "angle")
    if not input.dtype.is_floating_point:
        input = input.to(_dtypes.get_default_dtype())
    return _Angle.apply(input)


def adjoint(input) -> Tensor:
    """The conjugate transpose of the last two dimensions: their transpose for real tensors (a view).

    >>> import numgrad as ng
    >>> ng.adjoint(ng.zeros(4, 2, 3)).shape
    (4, 3, 2)
    """
    _check_tensor(input, "adjoint")
    if input.ndim < 2:
        raise RuntimeError(f"tensor.adjoint() is only supported on matrices or batches of matrices. Got "
                           f"{input.ndim}-D tensor.")
    return transpose(input, -2, -1)


def _mH(self) -> Tensor:
    if self.ndim < 2:
        raise RuntimeError(f"tensor.mH is only supported on matrices or batches of matrices. Got {self.ndim}-D tensor.")
    return transpose(self, -2, -1)


def _H(self) -> Tensor:
    if self.ndim > 2:
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {self.ndim}-D tensor. For "
                           "batches of matrices, consider using tensor.mH")
    return transpose(self, 0, 1) if self.ndim == 2 else self


def view_as_real(input) -> Tensor:
    """PyTorch's real view of a complex tensor; numgrad tensors are real, so this raises PyTorch's error."""
    _check_tensor(input, "view_as_real")
    raise RuntimeError("view_as_real is only supported for complex tensors")


def view_as_complex(input) -> Tensor:
    """A complex view of a ``(..., 2)`` real tensor: numgrad has no complex dtypes, so this raises."""
    raise _complex_unsupported("view_as_complex")


def polar(abs, angle) -> Tensor:
    """``abs * exp(i angle)``, a complex tensor: numgrad has no complex dtypes, so this raises."""
    raise _complex_unsupported("polar")


def complex(real, imag) -> Tensor:
    """A complex tensor from real and imaginary parts: numgrad has no complex dtypes, so this raises."""
    raise _complex_unsupported("complex")


def _to_complex(name: str):
    def method(self, memory_format=None):
        raise _complex_unsupported(f"Tensor.{name}()")

    method.__name__ = name
    method.__doc__ = f"Conversion to a complex dtype: numgrad has none, so ``{name}()`` raises."
    return method


def _conj_physical_(self) -> Tensor:
    """In-place ``conj_physical``: nothing to do for a real tensor."""
    return self


TENSOR_METHODS = {
    "conj": conj, "conj_physical": conj_physical, "conj_physical_": _conj_physical_, "resolve_conj": resolve_conj,
    "resolve_neg": resolve_neg, "is_conj": is_conj, "is_neg": is_neg, "angle": angle, "adjoint": adjoint,
    "real": property(real, doc="The real part: the tensor itself (numgrad tensors are real)."),
    "imag": property(imag, doc="The imaginary part: raises, numgrad tensors are real."),
    "mH": property(_mH, doc="The conjugate transpose of the last two dimensions (their transpose here)."),
    "H": property(_H, doc="The conjugate transpose of a matrix (its transpose here)."),
    "cfloat": _to_complex("cfloat"), "cdouble": _to_complex("cdouble"), "chalf": _to_complex("chalf"),
}
PUBLIC = ("conj", "conj_physical", "resolve_conj", "resolve_neg", "is_conj", "real", "imag", "angle", "adjoint",
          "view_as_real", "view_as_complex", "polar", "complex")
