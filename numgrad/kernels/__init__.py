"""Numba kernels (CPU ``@njit``, CUDA ``@cuda.jit``) and their persistent cache.

Importing this package first sets Numba's environment (threading layer, OpenMP
spin, OpenBLAS threads, vector width: ``config.configure_numba``), before
anything imports numba, which reads some of it only once.

>>> import numgrad as ng
>>> info = ng.kernels.cache_info()
>>> {"compiled", "disk_hits", "memory_hits"} <= set(info)
True
"""
from .config import configure_numba as _configure_numba

_configure_numba()

from .cache import cache_dir, cache_info, clear_cache  # noqa: E402,F401
