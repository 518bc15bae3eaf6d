"""``numgrad.backends.mkldnn``: oneDNN, which numgrad does not use (its CPU kernels are Numba functions).

>>> is_available()
False
"""
from __future__ import annotations

enabled: bool = True

__all__ = ["is_available", "enabled"]


def is_available() -> bool:
    """False: numgrad never calls oneDNN.

    >>> is_available()
    False
    """
    return False
