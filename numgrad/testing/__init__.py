"""``numgrad.testing``: ``assert_close`` and ``make_tensor``, as in ``torch.testing``.

>>> import numgrad as ng
>>> ng.testing.assert_close(ng.tensor([1.0, 2.0]), ng.tensor([1.0, 2.0 + 1e-7]))
"""
from __future__ import annotations

from ._comparison import assert_close
from ._creation import make_tensor

__all__ = ["assert_close", "make_tensor"]
