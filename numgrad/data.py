"""``numgrad.data``: the older name of ``numgrad.utils.data`` (``torch.utils.data``); the same objects.

>>> import numgrad.data, numgrad.utils.data
>>> numgrad.data.DataLoader is numgrad.utils.data.DataLoader
True
"""
from __future__ import annotations

from .utils.data import *  # noqa: F401,F403
from .utils.data import __all__  # noqa: F401
