"""Helpers the layer modules share: PyTorch's ``_pair`` (``torch.nn.modules.utils``), the default float
dtype and an uninitialised ``Parameter`` for a layer's ``reset_parameters`` to fill."""
from __future__ import annotations

from typing import Tuple

from ... import _dtypes
from ... import creation
from ..parameter import Parameter


def _float_dtype(dtype):
    return _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.get_default_dtype()


def _empty(*shape, dtype=None) -> Parameter:
    return Parameter(creation.empty(*shape, dtype=_float_dtype(dtype)))


def _pair(v) -> Tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _triple(v) -> Tuple[int, int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v, v)
