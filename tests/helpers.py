"""Shared test helpers: conversions and comparisons against PyTorch."""
from __future__ import annotations

import numpy as np

import numgrad as ng


def to_numpy(x):
    if isinstance(x, ng.Tensor):
        return x.detach().numpy()
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def assert_close(actual, expected, rtol=1e-6, atol=1e-7, msg=""):
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"{msg}: shape {a.shape} != {e.shape}"
    np.testing.assert_allclose(a.astype(np.float64) if a.dtype != bool else a,
                               e.astype(np.float64) if e.dtype != bool else e,
                               rtol=rtol, atol=atol, err_msg=msg, equal_nan=True)


def tols(dtype: str):
    return (1e-4, 1e-5) if dtype == "float32" else (1e-9, 1e-10)


def noncontiguous(arr: np.ndarray) -> np.ndarray:
    """Same values, non-contiguous memory (a strided view into a bigger buffer)."""
    if arr.ndim == 0:
        return arr
    big = np.empty(arr.shape[:-1] + (arr.shape[-1] * 2,), dtype=arr.dtype)
    view = big[..., ::2]
    view[...] = arr
    return view
