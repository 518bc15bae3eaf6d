"""``numgrad.amp``: PyTorch's ``torch.amp`` (``GradScaler``, ``autocast``: automatic mixed precision).

>>> import numgrad as ng
>>> ng.amp.GradScaler("cpu", enabled=False).scale(ng.tensor(2.0))
tensor(2.)
"""
from __future__ import annotations

from .autocast_mode import autocast, is_autocast_available
from .autocast_mode import (  # PyTorch's deprecated per-device names, with its warnings
    get_autocast_cpu_dtype, get_autocast_gpu_dtype, is_autocast_cpu_enabled, set_autocast_cpu_dtype,
    set_autocast_cpu_enabled, set_autocast_gpu_dtype)
from .grad_scaler import GradScaler
from ..ops.autocast_policy import (  # PyTorch's torch.* autocast state functions (per thread)
    autocast_decrement_nesting, autocast_increment_nesting, clear_autocast_cache, get_autocast_dtype,
    is_autocast_cache_enabled, is_autocast_enabled, set_autocast_cache_enabled, set_autocast_dtype,
    set_autocast_enabled)

__all__ = ["GradScaler", "autocast", "is_autocast_available", "autocast_decrement_nesting",
           "autocast_increment_nesting", "clear_autocast_cache", "get_autocast_dtype", "is_autocast_cache_enabled",
           "is_autocast_enabled", "set_autocast_cache_enabled", "set_autocast_dtype", "set_autocast_enabled",
           "get_autocast_cpu_dtype", "get_autocast_gpu_dtype", "is_autocast_cpu_enabled", "set_autocast_cpu_dtype",
           "set_autocast_cpu_enabled", "set_autocast_gpu_dtype"]
