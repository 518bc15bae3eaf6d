"""``numgrad.backends.cuda``: whether numgrad's CUDA support is installed, and PyTorch's CUDA matmul flags.

``is_built()`` is True when the numba-cuda package (numgrad's CUDA kernels compile with it) is installed;
``numgrad.cuda.is_available()`` says whether a GPU can be reached.  ``matmul.allow_tf32`` and friends keep
PyTorch's defaults and may be set; numgrad's matmul kernels never use TF32 or reduced-precision sums.

>>> isinstance(is_built(), bool), matmul.allow_tf32
(True, False)
"""
from __future__ import annotations

import importlib.util

__all__ = ["is_built", "matmul"]


def is_built() -> bool:
    """Whether numgrad can compile CUDA kernels here (the numba-cuda package is installed).

    >>> isinstance(is_built(), bool)
    True
    """
    return importlib.util.find_spec("numba_cuda") is not None


class _MatmulFlags:
    """``torch.backends.cuda.matmul``'s settable flags (no effect in numgrad: its matmuls are full float32)."""

    def __init__(self) -> None:
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()
