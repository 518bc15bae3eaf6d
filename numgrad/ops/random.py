"""Random sampling ops: multinomial, bernoulli, normal, randperm, and the in-place fills
``bernoulli_``, ``normal_``, ``uniform_``, ``exponential_``.

Random numbers come from numgrad's generator (``numgrad.manual_seed``) or the NumPy
``Generator`` passed as ``generator``; the same seed gives the same draws (not PyTorch's: the
streams differ). Samples carry no gradient, as in PyTorch (no reparameterisation).
The in-place fills write through ``copy_``, so they follow its autograd and version rules.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _dtypes
from ..tensor import Tensor
from ..autograd.grad_mode import no_grad
from ..creation import _drawn_as, _finish, _shape, sampling_generator
from ..device import as_device
from ..kernels import backend as _backend
from ..kernels.backend import sampling_kernels
from . import elementwise_functions as pw
from .elementwise import broadcast_shapes


def _gen(generator) -> np.random.Generator:
    return sampling_generator(generator)


def _uniform_like(t, generator) -> Tensor:
    """Uniform [0, 1) samples of ``t``'s shape, float64, on ``t``'s device."""
    return _finish(_gen(generator).random(t.shape), False, t.device)


def multinomial(input, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
    """Draw ``num_samples`` category indices from each row of non-negative weights ``input`` (1-D or 2-D);
    without replacement a category is drawn at most once per row.

    >>> import numgrad as ng
    >>> ng.multinomial(ng.tensor([0., 1., 0.]), 2, replacement=True)
    tensor([1, 1])
    """
    if not isinstance(input, Tensor) or input.ndim not in (1, 2):
        raise RuntimeError(f"multinomial(): prob_dist must be 1 or 2 dim (got {getattr(input, 'ndim', '?')})")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {input.dtype.name}")
    if not isinstance(num_samples, numbers.Integral) or num_samples <= 0:
        raise RuntimeError(f"multinomial(): cannot sample n_sample <= 0 samples (got {num_samples})")
    k = input.shape[-1]
    if k == 0:
        raise RuntimeError("multinomial(): number of categories cannot be zero")
    if not replacement and num_samples > k:
        raise RuntimeError("multinomial(): cannot sample n_sample > prob_dist.size(-1) samples without replacement "
                           f"(n_sample={num_samples}, categories={k})")
    K = sampling_kernels(input._data, "multinomial")
    weights = _backend.copy_as(input.detach().reshape(-1, k)._data, np.float64)
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    positive = (weights > 0).sum(axis=1)
    if (positive == 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement and (positive < num_samples).any():
        raise RuntimeError("invalid multinomial distribution (with replacement=False, not enough non-negative "
                           "category to sample)")
    uniforms = _gen(generator).random((weights.shape[0], num_samples))
    out = K.multinomial_rows(np.ascontiguousarray(weights), uniforms, bool(replacement))
    return Tensor(out.reshape(input.shape[:-1] + (num_samples,)))


def bernoulli(input, p=None, *, generator=None) -> Tensor:
    """1 with probability ``input`` (or ``p`` when given), else 0, in ``input``'s floating dtype.

    >>> import numgrad as ng
    >>> ng.bernoulli(ng.tensor([0., 1.]))
    tensor([0., 1.])
    """
    probs = input if p is None else p
    if isinstance(probs, Tensor):
        _check_probabilities(probs, "bernoulli")
    elif not 0 <= probs <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={probs}")
    dtype = input.dtype if input.dtype.is_floating_point else _dtypes.get_default_dtype()
    with no_grad():
        draws = pw.lt(_uniform_like(input, generator), probs.detach() if isinstance(probs, Tensor) else probs)
        return draws.to(dtype)


def _check_probabilities(probs, op: str) -> None:
    with no_grad():
        bad = pw.logical_or(pw.lt(probs, 0), pw.gt(probs, 1))
        if bool(bad.any()) or bool(pw.isnan(probs).any()):
            raise RuntimeError(f"{op}: Expected p_in >= 0 && p_in <= 1 to be true, but got false. (probabilities "
                               "must lie in [0, 1])")


def bernoulli_(self, p=0.5, *, generator=None) -> Tensor:
    """Fill with 1 (probability ``p``, a number or a tensor broadcast to this shape) or 0, in place.

    >>> import numgrad as ng
    >>> ng.zeros(3).bernoulli_(1.0)
    tensor([1., 1., 1.])
    """
    if isinstance(p, Tensor):
        p = p.expand(*self.shape)
    return self.copy_(bernoulli(self, p, generator=generator))


def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    """Fill with normal samples of ``mean`` and ``std``, in place.

    >>> import numgrad as ng
    >>> ng.zeros(2).normal_(std=0.0)
    tensor([0., 0.])
    """
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    return self.copy_(_scaled(_gen(generator).standard_normal(self.shape), std, mean, self.device))


def uniform_(self, from_: float = 0.0, to: float = 1.0, *, generator=None, **kwargs) -> Tensor:
    """Fill with uniform samples in ``[from, to)``, in place (``from`` may be passed by name).

    >>> import numgrad as ng
    >>> bool((ng.zeros(100).uniform_(-1, 1).abs() <= 1).all())
    True
    """
    from_ = kwargs.pop("from", from_)
    if kwargs:
        raise TypeError(f"uniform_() got unexpected keyword arguments {sorted(kwargs)}")
    if from_ > to:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={from_} > to={to}")
    samples = _gen(generator).uniform(from_, to, self.shape)
    return self.copy_(_finish(samples, False, self.device))


def exponential_(self, lambd: float = 1.0, *, generator=None) -> Tensor:
    """Fill with exponential samples of rate ``lambd``, in place.

    >>> import numgrad as ng
    >>> bool((ng.zeros(10).exponential_() >= 0).all())
    True
    """
    if lambd <= 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    samples = _gen(generator).exponential(1.0 / lambd, self.shape)
    return self.copy_(_finish(samples, False, self.device))


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None) -> Tensor:
    """Normal samples: ``mean`` and ``std`` are numbers (give ``size``) or tensors (broadcast together).

    >>> import numgrad as ng
    >>> ng.normal(2.0, 0.0, size=(2,))
    tensor([2., 2.])
    """
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        shapes = [t.shape for t in (mean, std) if isinstance(t, Tensor)]
        shape = broadcast_shapes(*shapes)
        like = mean if isinstance(mean, Tensor) else std
        with no_grad():
            if isinstance(std, Tensor) and bool(pw.lt(std, 0).any()):
                raise RuntimeError("normal expects all elements of std >= 0.0")
            noise = _finish(_gen(generator).standard_normal(shape), False, like.device).to(like.dtype)
            m = mean.detach() if isinstance(mean, Tensor) else mean
            s = std.detach() if isinstance(std, Tensor) else std
            return noise * s + m
    if size is None:
        raise TypeError("normal(): with a number mean and std, give the size")
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    dt = _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.get_default_dtype()
    draws = _gen(generator).standard_normal(_shape((size,)))
    return _scaled(draws, std, mean, as_device(device) if device is not None else None).to(dt)


def _scaled(draws: np.ndarray, std: float, mean: float, device) -> Tensor:
    """``draws * std + mean`` (float64) by numgrad's kernels: a step that ``ng.compile`` replays scales its new
    draws again (NumPy arithmetic would be invisible to the recording)."""
    with no_grad():
        return _finish(draws, False, device) * std + mean


def randperm(n: int, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A random permutation of ``0..n-1``.

    >>> import numgrad as ng
    >>> sorted(ng.randperm(4).tolist())
    [0, 1, 2, 3]
    """
    if n < 0:
        raise RuntimeError(f"randperm(): n must be non-negative, got {n}")
    dt = _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.int64
    perm = _drawn_as(_gen(generator).permutation(int(n)), dt)
    return _finish(perm, requires_grad, as_device(device) if device is not None else None)


TENSOR_METHODS = {
    "multinomial": multinomial, "bernoulli": bernoulli, "bernoulli_": bernoulli_, "normal_": normal_,
    "uniform_": uniform_, "exponential_": exponential_,
}
PUBLIC = ("multinomial", "bernoulli", "normal", "randperm")
