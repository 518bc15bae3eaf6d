"""More activation modules (PyTorch's ``torch.nn.modules.activation``): thin layers over
``numgrad.nn.functional.activation_more`` with PyTorch's arguments, defaults and ``repr``."""
from __future__ import annotations

import warnings

from typing import Optional

from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..functional import activation_more as A
from .module import Module
from .utils import _empty

__all__ = [
    "Hardtanh", "ReLU6", "PReLU", "SELU", "CELU", "Mish", "Hardswish", "Hardsigmoid", "LogSigmoid", "Softsign",
    "Softshrink", "Hardshrink", "Tanhshrink", "Threshold", "Softmin", "GLU", "RReLU", "CosineSimilarity",
    "PairwiseDistance", "Softmax2d", "ChannelShuffle",
]


def _inplace_repr(inplace: bool) -> str:
    return "inplace=True" if inplace else ""


class Hardtanh(Module):
    """``clamp(x, min_val, max_val)``.

    >>> import numgrad as ng
    >>> ng.nn.Hardtanh()(ng.tensor([-2.0, 0.5]))
    tensor([-1.0000,  0.5000])
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: Optional[float] = None, max_value: Optional[float] = None):
        super().__init__()
        if min_value is not None:  # PyTorch's deprecated names
            warnings.warn("keyword argument `min_value` is deprecated and renamed to `min_val`", FutureWarning,
                          stacklevel=2)
            min_val = min_value
        if max_value is not None:
            warnings.warn("keyword argument `max_value` is deprecated and renamed to `max_val`", FutureWarning,
                          stacklevel=2)
            max_val = max_value
        if max_val <= min_val:
            raise AssertionError(f"max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val, inplace=self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """``min(max(x, 0), 6)``.

    >>> import numgrad as ng
    >>> ng.nn.ReLU6()(ng.tensor([-1.0, 7.0]))
    tensor([0., 6.])
    """

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class PReLU(Module):
    """Leaky ReLU with a learnt slope: ``num_parameters`` is 1 or the number of channels (dim 1), each slope
    starts at ``init``.

    >>> import numgrad as ng
    >>> ng.nn.PReLU()(ng.tensor([-1.0, 2.0]))
    tensor([-0.2500,  2.0000], grad_fn=<WhereBackward0>)
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = _empty(num_parameters, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        return A.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class _InplaceActivation(Module):
    _function = None
    _inplace_function = None

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._function(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class SELU(_InplaceActivation):
    """Scaled ELU with the self-normalising constants.

    >>> import numgrad as ng
    >>> ng.nn.SELU()(ng.zeros(1))
    tensor([0.])
    """

    _function = staticmethod(A.selu)


class Mish(_InplaceActivation):
    """``x * tanh(softplus(x))``.

    >>> import numgrad as ng
    >>> ng.nn.Mish()(ng.zeros(1))
    tensor([0.])
    """

    _function = staticmethod(A.mish)


class Hardswish(_InplaceActivation):
    """``x * relu6(x + 3) / 6``.

    >>> import numgrad as ng
    >>> ng.nn.Hardswish()(ng.zeros(1))
    tensor([0.])
    """

    _function = staticmethod(A.hardswish)

    def extra_repr(self) -> str:  # PyTorch's repr does not show inplace here
        return ""


class Hardsigmoid(_InplaceActivation):
    """``relu6(x + 3) / 6``.

    >>> import numgrad as ng
    >>> ng.nn.Hardsigmoid()(ng.zeros(1))
    tensor([0.5000])
    """

    _function = staticmethod(A.hardsigmoid)

    def extra_repr(self) -> str:  # PyTorch's repr does not show inplace here
        return ""


class CELU(Module):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``.

    >>> import numgrad as ng
    >>> ng.nn.CELU()(ng.zeros(1))
    tensor([0.])
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input: Tensor) -> Tensor:
        return A.celu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class LogSigmoid(Module):
    """``log(sigmoid(x))``.

    >>> import numgrad as ng
    >>> ng.nn.LogSigmoid()(ng.zeros(1))
    tensor([-0.6931])
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.logsigmoid(input)


class Softsign(Module):
    """``x / (1 + |x|)``.

    >>> import numgrad as ng
    >>> ng.nn.Softsign()(ng.ones(1))
    tensor([0.5000])
    """

    def forward(self, input: Tensor) -> Tensor:
        return A.softsign(input)


class Tanhshrink(Module):
    """``x - tanh(x)``.

    >>> import numgrad as ng
    >>> ng.nn.Tanhshrink()(ng.zeros(1))
    tensor([0.])
    """

    def forward(self, input: Tensor) -> Tensor:
        return A.tanhshrink(input)


class Softshrink(Module):
    """Soft thresholding by ``lambd``.

    >>> import numgrad as ng
    >>> ng.nn.Softshrink()(ng.tensor([1.0]))
    tensor([0.5000])
    """

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:
        return A.softshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Hardshrink(Module):
    """``x`` where ``|x| > lambd``, else 0.

    >>> import numgrad as ng
    >>> ng.nn.Hardshrink()(ng.tensor([0.2, 1.0]))
    tensor([0., 1.])
    """

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:
        return A.hardshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Threshold(Module):
    """``x`` where ``x > threshold``, else ``value``.

    >>> import numgrad as ng
    >>> ng.nn.Threshold(0.5, -1.0)(ng.tensor([0.2, 1.0]))
    tensor([-1.,  1.])
    """

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input: Tensor) -> Tensor:
        return A.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")


class Softmin(Module):
    """Softmin along ``dim``.

    >>> import numgrad as ng
    >>> ng.nn.Softmin(dim=0)(ng.zeros(2))
    tensor([0.5000, 0.5000])
    """

    def __init__(self, dim: Optional[int] = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmin(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class GLU(Module):
    """Gated linear unit over ``dim``.

    >>> import numgrad as ng
    >>> ng.nn.GLU()(ng.tensor([2.0, 0.0]))
    tensor([1.])
    """

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return A.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class RReLU(Module):
    """Randomized leaky ReLU (random slopes in ``[lower, upper]`` in training, their mean in evaluation).

    >>> import numgrad as ng
    >>> ng.nn.RReLU(0.1, 0.3).eval()(ng.tensor([-1.0]))
    tensor([-0.2000])
    """

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input: Tensor) -> Tensor:
        return A.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")


class CosineSimilarity(Module):
    """Cosine similarity along ``dim``.

    >>> import numgrad as ng
    >>> ng.nn.CosineSimilarity()(ng.ones(1, 2), ng.ones(1, 2))
    tensor([1.0000])
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return A.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """p-norm distance between rows of ``x1`` and ``x2``.

    >>> import numgrad as ng
    >>> ng.nn.PairwiseDistance(eps=0.0)(ng.tensor([[3.0, 4.0]]), ng.zeros(1, 2))
    tensor([5.])
    """

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return A.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class Softmax2d(Module):
    """Softmax over the channels (dim -3) of a ``(N, C, H, W)`` or ``(C, H, W)`` input.

    >>> import numgrad as ng
    >>> ng.nn.Softmax2d()(ng.zeros(1, 2, 1, 1)).flatten()
    tensor([0.5000, 0.5000])
    """

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D instead")
        return F.softmax(input, -3)


class ChannelShuffle(Module):
    """Interleave the channels of ``groups`` groups (ShuffleNet).

    >>> import numgrad as ng
    >>> ng.nn.ChannelShuffle(2)(ng.arange(4.).reshape(1, 4, 1)).flatten()
    tensor([0., 2., 1., 3.])
    """

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, input: Tensor) -> Tensor:
        return A.channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
