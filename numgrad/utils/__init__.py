"""``numgrad.utils``: PyTorch's ``torch.utils`` namespace (``numgrad.utils.data``, ``numgrad.utils.hooks``,
``numgrad.utils.checkpoint``; ``numgrad.utils.tensorboard`` when the ``tensorboard`` package is installed:
import it by name, as with PyTorch).

>>> import numgrad as ng
>>> from numgrad.utils.data import DataLoader, TensorDataset
>>> len(DataLoader(TensorDataset(ng.zeros(5, 2)), batch_size=2))
3
"""
from __future__ import annotations

from . import checkpoint  # noqa: F401
from . import data  # noqa: F401
from . import hooks  # noqa: F401

__all__ = ["checkpoint", "data", "hooks"]
