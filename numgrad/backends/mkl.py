"""``numgrad.backends.mkl``: whether the BLAS numgrad's matmuls call is Intel MKL.

numgrad's CPU matmul calls the BLAS that Numba finds through SciPy (usually OpenBLAS).

>>> isinstance(is_available(), bool)
True
"""
from __future__ import annotations

__all__ = ["is_available"]


def is_available() -> bool:
    """True only when SciPy's BLAS, which numgrad's matmul kernels call, is MKL.

    >>> isinstance(is_available(), bool)
    True
    """
    try:
        import scipy  # numba's BLAS bindings come from SciPy: its build config names the library
        blas = scipy.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # noqa: BLE001 - no SciPy or no build info: then no MKL is known to be in use
        return False
    return "mkl" in str(blas.get("name", "")).lower()
