"""``numgrad.amp``: PyTorch's ``torch.amp`` (``GradScaler``, ``autocast``).

>>> import numgrad as ng
>>> ng.amp.GradScaler("cpu", enabled=False).scale(ng.tensor(2.0))
tensor(2.)
"""
from __future__ import annotations

from .autocast_mode import autocast, is_autocast_available
from .grad_scaler import GradScaler

__all__ = ["GradScaler", "autocast", "is_autocast_available"]
