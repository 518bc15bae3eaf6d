"""``numgrad.backends.cudnn``: numgrad does not use cuDNN (its GPU kernels are its own numba-cuda code).

``enabled``, ``benchmark``, ``deterministic`` and ``allow_tf32`` keep PyTorch's defaults and may be set, so
scripts that set them run; they change nothing in numgrad.

>>> is_available(), version()
(False, None)
"""
from __future__ import annotations

from typing import Optional

enabled: bool = True
benchmark: bool = False
deterministic: bool = False
allow_tf32: bool = True

__all__ = ["is_available", "version", "enabled", "benchmark", "deterministic", "allow_tf32"]


def is_available() -> bool:
    """False: numgrad never calls cuDNN.

    >>> is_available()
    False
    """
    return False


def version() -> Optional[int]:
    """None: no cuDNN is used.

    >>> version() is None
    True
    """
    return None
