"""``autocast``: PyTorch's automatic mixed precision context (``torch.autocast``, ``torch.amp.autocast``).

Inside ``with ng.autocast("cpu"):`` (bfloat16 by default; ``"cuda"``: float16) the ops of autocast's table run in
the dtype PyTorch's autocast gives them: matrix products, ``linear`` and convolutions in the lower precision,
losses and range-hungry ops in float32, ``cat``/``stack`` in the widest dtype of their inputs; every other op runs
on the dtypes that reach it.  The table and the casting live in ``numgrad.ops.autocast_policy`` (one table for
every op; ``POLICY_LISTS``).  The casts are differentiable: float32 parameters get float32 gradients.

The state is per thread; contexts nest (``enabled=False`` inside switches autocast off for its block), work as
decorators, and accept ``cache_enabled`` (the lowered copies of float32 weights are kept until the outermost
context exits).  As in PyTorch: CPU autocast supports bfloat16 and float16 (another dtype warns and disables it),
``"cuda"`` without a GPU warns and disables it, and the backward pass is best run outside the context.  With a
float16 model, pair it with ``GradScaler``.  ``ng.compile`` keys its captured variants on the autocast state, and
replays a step containing an ``autocast`` block like its eager run.

>>> import numgrad as ng
>>> with ng.autocast("cpu", dtype=ng.bfloat16):
...     (ng.ones(2, 2) @ ng.ones(2, 2)).dtype
numgrad.bfloat16
"""
from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, Optional

from .. import _dtypes
from ..kernels.cuda import is_available as _cuda_available
from ..ops import autocast_policy as _policy

__all__ = ["autocast", "is_autocast_available", "is_autocast_cpu_enabled", "set_autocast_cpu_enabled",
           "get_autocast_cpu_dtype", "set_autocast_cpu_dtype", "get_autocast_gpu_dtype", "set_autocast_gpu_dtype"]

_SUPPORTED_DTYPES = {"cpu": (_dtypes.bfloat16, _dtypes.float16), "cuda": (_dtypes.float16, _dtypes.bfloat16)}


def is_autocast_available(device_type: str) -> bool:
    """Whether ``autocast`` can be enabled on ``device_type``: ``"cpu"`` always, ``"cuda"`` with a GPU.

    >>> import numgrad as ng
    >>> ng.amp.is_autocast_available("cpu")
    True
    """
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if device_type == "cpu":
        return True
    return device_type == "cuda" and _cuda_available()


class autocast:
    """PyTorch's ``torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``: a context manager
    and decorator under which autocast's ops run in mixed precision (see the module docstring).

    >>> import numgrad as ng
    >>> import numgrad.nn.functional as F
    >>> x, w = ng.ones(2, 3), ng.ones(4, 3, requires_grad=True)
    >>> with ng.autocast("cpu"):
    ...     y = F.linear(x, w)
    ...     loss = F.mse_loss(y, ng.zeros(2, 4))
    >>> y.dtype, loss.dtype
    (numgrad.bfloat16, numgrad.float32)
    >>> loss.backward(); w.grad.dtype
    numgrad.float32
    """

    def __init__(self, device_type: str, dtype: Optional[Any] = None, enabled: bool = True,
                 cache_enabled: Optional[bool] = None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if device_type not in _SUPPORTED_DTYPES:
            raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}': numgrad's "
                               "autocast runs on 'cpu' and 'cuda'")
        self.device = device_type
        self.fast_dtype = _policy.get_autocast_dtype(device_type) if dtype is None else _dtypes.as_dtype(dtype)
        self._cache_enabled = _policy.is_autocast_cache_enabled() if cache_enabled is None else bool(cache_enabled)
        self._enabled = bool(enabled)
        if self._enabled and device_type == "cuda" and not _cuda_available():
            warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.", stacklevel=2)
            self._enabled = False
        if self._enabled and self.fast_dtype not in _SUPPORTED_DTYPES[device_type]:
            names = ", ".join(f"numgrad.{d.name}" for d in _SUPPORTED_DTYPES[device_type])
            label = device_type.upper()
            warnings.warn(f"In {label} autocast, but the target dtype is not supported. Disabling autocast.\n"
                          f"{label} Autocast only supports dtypes of {names} currently.", stacklevel=2)
            self._enabled = False

    def __enter__(self) -> "autocast":
        self.prev_cache_enabled = _policy.is_autocast_cache_enabled()
        self.prev = _policy.is_autocast_enabled(self.device)
        self.prev_fastdtype = _policy.get_autocast_dtype(self.device)
        _policy.set_autocast_enabled(self.device, self._enabled)
        _policy.set_autocast_dtype(self.device, self.fast_dtype)
        _policy.autocast_increment_nesting()
        _policy.set_autocast_cache_enabled(self._cache_enabled)
        return self

    def __exit__(self, *exc) -> bool:
        if _policy.autocast_decrement_nesting() == 0:
            _policy.clear_autocast_cache()
        _policy.set_autocast_enabled(self.device, self.prev)
        _policy.set_autocast_dtype(self.device, self.prev_fastdtype)
        _policy.set_autocast_cache_enabled(self.prev_cache_enabled)
        return False

    def __call__(self, func: Callable) -> Callable:
        @functools.wraps(func)
        def decorated(*args, **kwargs):
            with self:
                return func(*args, **kwargs)
        return decorated


# ---------------------------------------------------------------------------- PyTorch's deprecated per-device names
def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"torch.{old} is deprecated. Please use torch.{new} instead.", DeprecationWarning, stacklevel=3)


def is_autocast_cpu_enabled() -> bool:
    """Deprecated ``torch.is_autocast_cpu_enabled()``: ``is_autocast_enabled("cpu")``, with PyTorch's warning.

    >>> import warnings, numgrad as ng
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     ng.is_autocast_cpu_enabled()
    False
    """
    _deprecated("is_autocast_cpu_enabled()", "is_autocast_enabled('cpu')")
    return _policy.is_autocast_enabled("cpu")


def set_autocast_cpu_enabled(enabled: bool) -> None:
    """Deprecated ``torch.set_autocast_cpu_enabled(enabled)``: ``set_autocast_enabled("cpu", enabled)``."""
    _deprecated("set_autocast_cpu_enabled(enabled)", "set_autocast_enabled('cpu', enabled)")
    _policy.set_autocast_enabled("cpu", enabled)


def get_autocast_cpu_dtype() -> Any:
    """Deprecated ``torch.get_autocast_cpu_dtype()``: ``get_autocast_dtype("cpu")``."""
    _deprecated("get_autocast_cpu_dtype()", "get_autocast_dtype('cpu')")
    return _policy.get_autocast_dtype("cpu")


def set_autocast_cpu_dtype(dtype: Any) -> None:
    """Deprecated ``torch.set_autocast_cpu_dtype(dtype)``: ``set_autocast_dtype("cpu", dtype)``."""
    _deprecated("set_autocast_cpu_dtype(dtype)", "set_autocast_dtype('cpu', dtype)")
    _policy.set_autocast_dtype("cpu", dtype)


def get_autocast_gpu_dtype() -> Any:
    """Deprecated ``torch.get_autocast_gpu_dtype()``: ``get_autocast_dtype("cuda")``."""
    _deprecated("get_autocast_gpu_dtype()", "get_autocast_dtype('cuda')")
    return _policy.get_autocast_dtype("cuda")


def set_autocast_gpu_dtype(dtype: Any) -> None:
    """Deprecated ``torch.set_autocast_gpu_dtype(dtype)``: ``set_autocast_dtype("cuda", dtype)``."""
    _deprecated("set_autocast_gpu_dtype(dtype)", "set_autocast_dtype('cuda', dtype)")
    _policy.set_autocast_dtype("cuda", dtype)
