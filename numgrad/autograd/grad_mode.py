"""Grad mode: whether operations record the graph.  Thread-local, as in PyTorch."""
from __future__ import annotations

import functools
import threading

from ..tensor import _INFERENCE, is_inference_mode_enabled

class _GradMode(threading.local):
    # the default as a class attribute: a thread that never set it reads it without the AttributeError that
    # ``getattr(local, name, default)`` raises and catches inside (340 ns against 40, on every op)
    enabled = True


_state = _GradMode()


def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad record the graph."""
    return _state.enabled


def _set(enabled: bool) -> None:
    _state.enabled = bool(enabled)


class _GradModeContext:
    _target: bool = True

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set(self._target)
        return self

    def __exit__(self, *exc):
        _set(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):
    """Context manager and decorator that turns graph recording off.

    >>> import numgrad as ng
    >>> x = ng.ones(2, requires_grad=True)
    >>> with ng.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    _target = False


class enable_grad(_GradModeContext):
    """Context manager and decorator that turns graph recording on (inside ``no_grad``).

    >>> import numgrad as ng
    >>> with ng.no_grad(), ng.enable_grad():
    ...     ng.is_grad_enabled()
    True
    """

    _target = True


class set_grad_enabled:
    """Turn graph recording on or off; works as a function, context manager or decorator.

    >>> import numgrad as ng
    >>> with ng.set_grad_enabled(False):
    ...     ng.is_grad_enabled()
    False
    """

    def __init__(self, mode: bool):
        self._prev = is_grad_enabled()
        self._mode = bool(mode)
        _set(self._mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set(self._prev)
        return False

    def __call__(self, fn):
        mode = self._mode
        _set(self._prev)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


class inference_mode:
    """Context manager and decorator for inference: like ``no_grad``, and the tensors made inside are
    *inference tensors* (``Tensor.is_inference()``), as in PyTorch. Outside the mode an inference tensor
    cannot be written in place, cannot be given ``requires_grad=True`` and cannot be saved for backward by a
    recorded op (PyTorch's errors); ``clone()`` it to get a normal tensor. ``inference_mode(False)`` turns
    inference mode off and grad mode on inside it, as PyTorch's guard does.

    >>> import numgrad as ng
    >>> with ng.inference_mode():
    ...     y = ng.ones(2) * 2
    >>> y.is_inference(), y.requires_grad
    (True, False)
    """

    def __new__(cls, mode=True):
        if not isinstance(mode, bool) and callable(mode):  # bare @inference_mode
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)

    def __enter__(self):
        self._prev = (is_grad_enabled(), is_inference_mode_enabled())
        # PyTorch's InferenceMode guard: grad mode is the opposite of the inference flag
        _set(not self.mode)
        _INFERENCE.on = self.mode
        return self

    def __exit__(self, *exc):
        _set(self._prev[0])
        _INFERENCE.on = self._prev[1]
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)

        return wrapper

    def clone(self) -> "inference_mode":
        return self.__class__(self.mode)
