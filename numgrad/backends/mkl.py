"""``numgrad.backends.mkl``: whether numgrad's matrix products call Intel MKL.

numgrad's CPU gemm calls MKL when the ``mkl`` wheel is installed
(``pip install 'numgrad-engine[mkl]'``) and OpenBLAS (SciPy's) otherwise;
``NUMGRAD_BLAS=mkl|openblas|auto`` chooses before ``import numgrad``.

>>> isinstance(is_available(), bool)
True
"""
from __future__ import annotations

from ..kernels.cpu.blas_library import active_blas, blas_version

__all__ = ["is_available", "blas_library", "blas_version"]


def is_available() -> bool:
    """True when numgrad's matmul, linear, conv and RNN products run on Intel MKL in this process.

    >>> isinstance(is_available(), bool)
    True
    """
    return active_blas() == "mkl"


def blas_library() -> str:
    """``'mkl'`` or ``'openblas'``: the BLAS numgrad's matrix products call (``blas_version()`` has its version).

    >>> blas_library() in ("mkl", "openblas")
    True
    """
    return active_blas()
