"""``numgrad.backends.mps``: Apple's Metal backend, which numgrad does not have.

>>> is_available(), is_built()
(False, False)
"""
from __future__ import annotations

__all__ = ["is_available", "is_built"]


def is_available() -> bool:
    """False: numgrad has no Metal (MPS) kernels.

    >>> is_available()
    False
    """
    return False


def is_built() -> bool:
    """False: numgrad has no Metal (MPS) kernels.

    >>> is_built()
    False
    """
    return False
