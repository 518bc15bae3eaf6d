"""Values handed to the writer (numgrad tensors, NumPy arrays, Python numbers) as NumPy arrays."""
from __future__ import annotations

from typing import Any

import numpy as np

from ... import _dtypes
from ...tensor import Tensor

__all__ = ["make_np"]


def make_np(x: Any) -> np.ndarray:
    """``x`` as a NumPy array: arrays as they are, a number as a one-element array, a tensor detached on the CPU.

    >>> import numgrad as ng
    >>> make_np(ng.tensor([1.0, 2.0])), make_np(3)
    (array([1., 2.], dtype=float32), array([3]))
    """
    if isinstance(x, np.ndarray):
        return x
    if np.isscalar(x):
        return np.array([x])
    if isinstance(x, Tensor):
        # NumPy has no bfloat16: PyTorch's writer logs it as float16 too
        if x.dtype == _dtypes.bfloat16:
            x = x.to(_dtypes.float16)
        return x.detach().cpu().numpy()
    raise NotImplementedError(
        f"Got {type(x)}, but numpy array or numgrad tensor are expected (convert other values with numpy.asarray).")
