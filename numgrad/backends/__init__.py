"""``numgrad.backends``: PyTorch's ``torch.backends`` flags, answered truthfully for numgrad.

numgrad's kernels are its own Numba functions: it never calls cuDNN, oneDNN or Metal, so those report
unavailable; ``mkl.is_available()`` says whether its matrix products call Intel MKL (the ``mkl`` wheel) rather
than OpenBLAS; ``cuda.is_built()`` says whether numba-cuda (numgrad's CUDA support) is installed, and
``openmp.is_available()`` whether Numba's OpenMP threading layer can load.  The settable flags
(``cudnn.benchmark``, ``cudnn.deterministic``, ``cuda.matmul.allow_tf32``, ...) keep PyTorch's defaults and
accept assignment, so scripts that set them run; they change nothing in numgrad, whose kernels use no
cuDNN and no TF32.

>>> import numgrad as ng
>>> ng.backends.mps.is_available(), ng.backends.cudnn.is_available()
(False, False)
>>> ng.backends.cudnn.benchmark = True  # accepted; numgrad has no cuDNN algorithms to pick from
"""
from __future__ import annotations

from . import cpu, cuda, cudnn, mkl, mkldnn, mps, openmp  # noqa: F401

__all__ = ["cpu", "cuda", "cudnn", "mkl", "mkldnn", "mps", "openmp"]
