"""``numgrad.backends.cpu``: the CPU's vector capability, as numgrad's kernels see it.

>>> get_cpu_capability() in ("AVX512", "AVX2", "DEFAULT")
True
"""
from __future__ import annotations

from llvmlite import binding  # numba's own LLVM: the features it compiles kernels with

__all__ = ["get_cpu_capability"]


def get_cpu_capability() -> str:
    """``'AVX512'``, ``'AVX2'`` or ``'DEFAULT'``: the widest vector instructions LLVM compiles numgrad's kernels
    for on this CPU (PyTorch's names).

    >>> isinstance(get_cpu_capability(), str)
    True
    """
    features = binding.get_host_cpu_features()
    if features.get("avx512f"):
        return "AVX512"
    if features.get("avx2"):
        return "AVX2"
    return "DEFAULT"
