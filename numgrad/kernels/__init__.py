"""Numba kernels (CPU ``@njit`` now; CUDA later) and their persistent cache.

>>> import numgrad as ng
>>> info = ng.kernels.cache_info()
>>> {"compiled", "disk_hits", "memory_hits"} <= set(info)
True
"""
from .cache import cache_dir, cache_info, clear_cache  # noqa: F401
