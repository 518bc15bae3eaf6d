"""PyTorch's window functions for spectral analysis: ``hann_window``, ``hamming_window``, ``bartlett_window``,
``blackman_window``, ``kaiser_window``.

Each is computed in float64 from its closed form and rounded once to the requested dtype. ``periodic=True``
(the default) gives the first ``window_length`` points of the symmetric window of ``window_length + 1``
points, for use with ``stft``, as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from .. import _dtypes
from ..creation import _finish, _pinned
from ..tensor import Tensor


def _window(name: str, window_length: int, periodic: bool, dtype, device, requires_grad: bool, pin_memory: bool,
            formula) -> Tensor:
    if window_length < 0:
        raise RuntimeError(f"{name} requires non-negative window_length, got window_length={window_length}")
    dt = _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.get_default_dtype()
    if not dt.is_floating_point:
        raise RuntimeError(f"{name} expects floating point dtypes, got: {dt}")
    if window_length <= 1:
        values = np.ones(window_length)
    else:
        n = window_length + 1 if periodic else window_length
        values = formula(np.arange(n, dtype=np.float64), n)[:window_length]
    out = _finish(values, False, device, shape_constant=True).to(dt)
    if pin_memory:
        out = _pinned(out)
    if requires_grad:
        out.requires_grad_(True)
    return out


def hann_window(window_length: int, periodic: bool = True, *, dtype=None, layout=None, device=None,
                pin_memory: bool = False, requires_grad: bool = False) -> Tensor:
    """The Hann window ``0.5 - 0.5 cos(2 pi n / (N - 1))``.

    >>> import numgrad as ng
    >>> ng.hann_window(4)
    tensor([0.0000, 0.5000, 1.0000, 0.5000])
    """
    return _window("hann_window", window_length, periodic, dtype, device, requires_grad, pin_memory,
                   lambda n, N: 0.5 - 0.5 * np.cos(2 * np.pi * n / (N - 1)))


def hamming_window(window_length: int, periodic: bool = True, alpha: float = 0.54, beta: float = 0.46, *,
                   dtype=None, layout=None, device=None, pin_memory: bool = False,
                   requires_grad: bool = False) -> Tensor:
    """The generalized Hamming window ``alpha - beta cos(2 pi n / (N - 1))``.

    >>> import numgrad as ng
    >>> ng.hamming_window(3, periodic=False)
    tensor([0.0800, 1.0000, 0.0800])
    """
    return _window("hamming_window", window_length, periodic, dtype, device, requires_grad, pin_memory,
                   lambda n, N: alpha - beta * np.cos(2 * np.pi * n / (N - 1)))


def bartlett_window(window_length: int, periodic: bool = True, *, dtype=None, layout=None, device=None,
                    pin_memory: bool = False, requires_grad: bool = False) -> Tensor:
    """The triangular Bartlett window ``1 - |2n / (N - 1) - 1|``.

    >>> import numgrad as ng
    >>> ng.bartlett_window(5, periodic=False)
    tensor([0.0000, 0.5000, 1.0000, 0.5000, 0.0000])
    """
    return _window("bartlett_window", window_length, periodic, dtype, device, requires_grad, pin_memory,
                   lambda n, N: 1.0 - np.abs(2.0 * n / (N - 1) - 1.0))


def blackman_window(window_length: int, periodic: bool = True, *, dtype=None, layout=None, device=None,
                    pin_memory: bool = False, requires_grad: bool = False) -> Tensor:
    """The Blackman window ``0.42 - 0.5 cos(2 pi n / (N - 1)) + 0.08 cos(4 pi n / (N - 1))``.

    >>> import numgrad as ng
    >>> ng.blackman_window(3, periodic=False)[1]
    tensor(1.)
    """
    return _window("blackman_window", window_length, periodic, dtype, device, requires_grad, pin_memory,
                   lambda n, N: 0.42 - 0.5 * np.cos(2 * np.pi * n / (N - 1)) + 0.08 * np.cos(4 * np.pi * n / (N - 1)))


def kaiser_window(window_length: int, periodic: bool = True, beta: float = 12.0, *, dtype=None, layout=None,
                  device=None, pin_memory: bool = False, requires_grad: bool = False) -> Tensor:
    """The Kaiser window ``I0(beta sqrt(1 - (2n / (N - 1) - 1)^2)) / I0(beta)``.

    >>> import numgrad as ng
    >>> ng.kaiser_window(3, periodic=False, beta=0.0)
    tensor([1., 1., 1.])
    """
    return _window("kaiser_window", window_length, periodic, dtype, device, requires_grad, pin_memory,
                   lambda n, N: np.i0(beta * np.sqrt(np.clip(1.0 - (2.0 * n / (N - 1) - 1.0) ** 2, 0.0, None)))
                   / np.i0(beta))


PUBLIC = ("hann_window", "hamming_window", "bartlett_window", "blackman_window", "kaiser_window")
