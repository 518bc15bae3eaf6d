"""``numgrad.backends.openmp``: whether numgrad's parallel kernels can run on OpenMP.

numgrad's ``parallel=True`` kernels run on Numba's threading layer, OpenMP first (``kernels/config.py``).

>>> isinstance(is_available(), bool)
True
"""
from __future__ import annotations

import importlib

__all__ = ["is_available"]


def is_available() -> bool:
    """Whether Numba's OpenMP threading layer can load in this process.

    >>> isinstance(is_available(), bool)
    True
    """
    try:
        importlib.import_module("numba.np.ufunc.omppool")
    except ImportError:
        return False
    return True
