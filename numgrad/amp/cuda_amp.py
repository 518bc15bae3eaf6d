"""``numgrad.cuda.amp``: PyTorch's deprecated ``torch.cuda.amp`` names, with its deprecation warnings.

>>> import warnings, numgrad as ng
>>> with warnings.catch_warnings(record=True):
...     warnings.simplefilter("always")
...     ng.cuda.amp.GradScaler(enabled=False).is_enabled()
False
"""
from __future__ import annotations

import warnings
from typing import Any

from . import autocast_mode, grad_scaler

__all__ = ["GradScaler", "autocast"]


def GradScaler(init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
               growth_interval: int = 2000, enabled: bool = True) -> grad_scaler.GradScaler:
    """``torch.cuda.amp.GradScaler(...)``: ``numgrad.amp.GradScaler("cuda", ...)``, with PyTorch's warning."""
    warnings.warn("`torch.cuda.amp.GradScaler(args...)` is deprecated. Please use `torch.amp.GradScaler('cuda', "
                  "args...)` instead.", FutureWarning, stacklevel=2)
    return grad_scaler.GradScaler("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


def autocast(enabled: bool = True, dtype: Any = None, cache_enabled: bool = True) -> autocast_mode.autocast:
    """``torch.cuda.amp.autocast(...)``: ``numgrad.amp.autocast("cuda", ...)``, with PyTorch's warning."""
    warnings.warn("`torch.cuda.amp.autocast(args...)` is deprecated. Please use `torch.amp.autocast('cuda', "
                  "args...)` instead.", FutureWarning, stacklevel=2)
    return autocast_mode.autocast("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)
