"""More activations of ``numgrad.nn.functional`` (PyTorch's names, defaults and errors), each a composition of
op-table elementwise functions so they fuse forward and backward like the built-in ones:
selu, celu, mish, hardswish, hardsigmoid, softsign, softshrink, hardshrink, tanhshrink, threshold, glu,
prelu, rrelu, the in-place variants selu_, celu_, threshold_, rrelu_ (relu_, leaky_relu_, elu_, hardtanh_ are in
``activation``),
and the similarity helpers normalize, cosine_similarity, pairwise_distance.

In-place variants of table ops write through ``inplace_update`` (autograd-aware, like ``Tensor.relu_``); the
composed ones compute on a clone of the old value and ``copy_`` the result back, so the saved inputs of the
composition stay valid and ``input`` takes over the new history (PyTorch's semantics for ``F.elu_`` and kin).
"""
from __future__ import annotations

from typing import Callable

from ...ops.elementwise_functions import abs as _abs
from ...ops.elementwise_functions import clamp_min, elu, hardtanh, leaky_relu, sigmoid, softplus, tanh, where
from ...creation import empty_like, rand_like, zeros_like
from ...tensor import Tensor
from ._arguments import _as_tensor, _float_only
from .activation import softmax
from ...ops.autocast_policy import autocast_op

__all__ = [
    "selu", "selu_", "celu", "celu_", "mish", "hardswish", "hardsigmoid", "softsign", "softshrink", "hardshrink",
    "tanhshrink", "threshold", "threshold_", "glu", "prelu", "rrelu", "rrelu_", "normalize", "cosine_similarity", "pairwise_distance", "channel_shuffle", "native_channel_shuffle",
    "gumbel_softmax",
]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _in_place(input: Tensor, fn: Callable[[Tensor], Tensor]) -> Tensor:
    """``input = fn(input)`` in ``input``'s memory, with the history of ``fn``'s graph (see the module docstring)."""
    x = _as_tensor(input)
    return x.copy_(fn(x.clone()))


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """``scale * elu(x, alpha)`` with the self-normalising constants (alpha ~ 1.6733, scale ~ 1.0507).

    >>> import numgrad as ng
    >>> ng.nn.functional.selu(ng.tensor([0.0, 1.0]))
    tensor([0.0000, 1.0507])
    """
    if inplace:
        return selu_(input)
    return elu(_as_tensor(input), _SELU_ALPHA) * _SELU_SCALE


def selu_(input: Tensor) -> Tensor:
    """In-place ``selu``.

    >>> import numgrad as ng
    >>> ng.nn.functional.selu_(ng.tensor([0.0]))
    tensor([0.])
    """
    return _in_place(input, selu)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``.

    >>> import numgrad as ng
    >>> ng.nn.functional.celu(ng.tensor([0.0, 1.0]))
    tensor([0., 1.])
    """
    if inplace:
        return celu_(input, alpha)
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError")
    return elu(_as_tensor(input) / alpha, 1.0) * alpha


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place ``celu``.

    >>> import numgrad as ng
    >>> ng.nn.functional.celu_(ng.tensor([0.0]))
    tensor([0.])
    """
    return _in_place(input, lambda x: celu(x, alpha))


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * tanh(softplus(x))``.

    >>> import numgrad as ng
    >>> ng.nn.functional.mish(ng.tensor([0.0]))
    tensor([0.])
    """
    if inplace:
        return _in_place(input, mish)
    x = _as_tensor(input)
    return x * tanh(softplus(x))


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """``relu6(x + 3) / 6``.

    >>> import numgrad as ng
    >>> ng.nn.functional.hardsigmoid(ng.tensor([0.0, 4.0]))
    tensor([0.5000, 1.0000])
    """
    if inplace:
        return _in_place(input, hardsigmoid)
    # hardtanh, not clamp: no gradient at the bounds, as PyTorch's hardsigmoid_backward
    return hardtanh(_as_tensor(input) + 3.0, 0.0, 6.0) / 6.0


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * relu6(x + 3) / 6``.

    >>> import numgrad as ng
    >>> ng.nn.functional.hardswish(ng.tensor([0.0, 4.0]))
    tensor([0., 4.])
    """
    if inplace:
        return _in_place(input, hardswish)
    x = _as_tensor(input)
    return x * hardtanh(x + 3.0, 0.0, 6.0) / 6.0  # the gradient at -3 and 3 is PyTorch's (0 and 1)


def softsign(input: Tensor) -> Tensor:
    """``x / (1 + |x|)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.softsign(ng.tensor([1.0]))
    tensor([0.5000])
    """
    x = _as_tensor(input)
    return x / (_abs(x) + 1.0)


def _check_lambd(lambd: float, name: str) -> None:
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0.

    >>> import numgrad as ng
    >>> ng.nn.functional.softshrink(ng.tensor([-1.0, 0.2, 1.0]))
    tensor([-0.5000,  0.0000,  0.5000])
    """
    _check_lambd(lambd, "softshrink")
    x = _as_tensor(input)
    return where(x > lambd, x - lambd, where(x < -lambd, x + lambd, 0.0))


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x`` where ``|x| > lambd``, else 0.

    >>> import numgrad as ng
    >>> ng.nn.functional.hardshrink(ng.tensor([-1.0, 0.2, 1.0]))
    tensor([-1.,  0.,  1.])
    """
    x = _as_tensor(input)
    return where((x > lambd) | (x < -lambd), x, 0.0)


def tanhshrink(input: Tensor) -> Tensor:
    """``x - tanh(x)``.

    >>> import numgrad as ng
    >>> ng.nn.functional.tanhshrink(ng.tensor([0.0]))
    tensor([0.])
    """
    x = _as_tensor(input)
    return x - tanh(x)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``x`` where ``x > threshold``, else ``value``.

    >>> import numgrad as ng
    >>> ng.nn.functional.threshold(ng.tensor([0.5, 2.0]), 1.0, -1.0)
    tensor([-1.,  2.])
    """
    if inplace:
        return threshold_(input, threshold, value)
    x = _as_tensor(input)
    return where(x > threshold, x, value)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """In-place ``threshold``.

    >>> import numgrad as ng
    >>> ng.nn.functional.threshold_(ng.tensor([0.5, 2.0]), 1.0, 0.0)
    tensor([0., 2.])
    """
    return _in_place(input, lambda x: where(x > threshold, x, value))


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: the first half of ``dim`` times the sigmoid of the second half.

    >>> import numgrad as ng
    >>> ng.nn.functional.glu(ng.tensor([2.0, 0.0]))
    tensor([1.])
    """
    x = _as_tensor(input)
    if x.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    n = x.shape[dim]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim % x.ndim} is size {n}")
    a, b = x.chunk(2, dim)
    return a * sigmoid(b)


@autocast_op
def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``x`` where positive, else ``weight * x``; ``weight`` has 1 element or one per channel (dim 1).

    >>> import numgrad as ng
    >>> ng.nn.functional.prelu(ng.tensor([-1.0, 2.0]), ng.tensor([0.25]))
    tensor([-0.2500,  2.0000])
    """
    x, w = _as_tensor(input), _as_tensor(weight)
    if w.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {w.ndim}")
    if w.numel() != 1:
        channels = x.shape[1] if x.ndim >= 2 else 1
        if x.ndim == 0 or w.numel() != channels:
            raise RuntimeError(
                f"Mismatch of parameter numbers and input channel size. Found parameter numbers = {w.numel()} and "
                f"channel size = {channels}."
            )
        w = w.reshape((channels,) + (1,) * (x.ndim - 2))
    return where(x > 0, x, w * x)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU: in training each negative element gets a slope drawn from ``U(lower, upper)``
    (numgrad's generator); in evaluation the slope is ``(lower + upper) / 2``.

    >>> import numgrad as ng
    >>> ng.nn.functional.rrelu(ng.tensor([-1.0, 2.0]), 0.1, 0.3)
    tensor([-0.2000,  2.0000])
    """
    if inplace:
        return rrelu_(input, lower, upper, training)
    x = _as_tensor(input)
    _float_only(x, "rrelu")
    if not training:
        return leaky_relu(x, (lower + upper) / 2)
    slopes = rand_like(x) * (upper - lower) + lower
    return where(x >= 0, x, x * slopes)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    """In-place ``rrelu``.

    >>> import numgrad as ng
    >>> ng.nn.functional.rrelu_(ng.tensor([2.0]))
    tensor([2.])
    """
    return _in_place(input, lambda x: rrelu(x, lower, upper, training))


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim``.

    >>> import numgrad as ng
    >>> ng.nn.functional.normalize(ng.tensor([[3.0, 4.0]]))
    tensor([[0.6000, 0.8000]])
    """
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported by numgrad; use the returned tensor")
    x = _as_tensor(input)
    return x / clamp_min(x.norm(p, dim, keepdim=True), eps)


@autocast_op
def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Cosine of the angle between ``x1`` and ``x2`` along ``dim`` (they broadcast); each norm is clamped to
    ``eps`` from below.

    >>> import numgrad as ng
    >>> ng.nn.functional.cosine_similarity(ng.tensor([[1.0, 0.0]]), ng.tensor([[1.0, 1.0]]))
    tensor([0.7071])
    """
    a, b = _as_tensor(x1), _as_tensor(x2)
    a_unit = a / clamp_min(a.norm(2, dim, keepdim=True), eps)
    b_unit = b / clamp_min(b.norm(2, dim, keepdim=True), eps)
    return (a_unit * b_unit).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """``||x1 - x2 + eps||_p`` along the last dimension.

    >>> import numgrad as ng
    >>> ng.nn.functional.pairwise_distance(ng.tensor([[3.0, 4.0]]), ng.zeros(1, 2), eps=0.0)
    tensor([5.])
    """
    a, b = _as_tensor(x1), _as_tensor(x2)
    return (a - b + eps).norm(p, -1, keepdim=keepdim)



def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """Interleave the channels (dim 1) of ``groups`` groups: ``(N, g, C/g, *) -> (N, C/g, g, *)`` flattened back.

    >>> import numgrad as ng
    >>> ng.nn.functional.channel_shuffle(ng.arange(4.).reshape(1, 4, 1), 2).flatten()
    tensor([0., 2., 1., 3.])
    """
    x = _as_tensor(input)
    if x.ndim < 3:
        raise RuntimeError(f"channel_shuffle expects input to have at least 3 dimensions, but got input with sizes "
                           f"{list(x.shape)}")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{groups}")
    c = x.shape[1]
    if c % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups.")
    shuffled = x.reshape((x.shape[0], groups, c // groups) + x.shape[2:]).transpose(1, 2)
    return shuffled.reshape(x.shape)


native_channel_shuffle = channel_shuffle


def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1) -> Tensor:
    """A sample from the Gumbel-softmax distribution over ``dim`` (noise from numgrad's generator); with
    ``hard`` the one-hot of its argmax, whose gradient is the soft sample's (straight-through).

    >>> import numgrad as ng
    >>> ng.nn.functional.gumbel_softmax(ng.zeros(2, 3), hard=True).sum(-1)
    tensor([1., 1.])
    """
    x = _as_tensor(logits)
    gumbels = -empty_like(x).exponential_().log()
    y_soft = softmax((x + gumbels) / tau, dim)
    if not hard:
        return y_soft
    index = y_soft.detach().argmax(dim, keepdim=True)
    y_hard = zeros_like(x).scatter_(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft
