"""Whether fusion is on (``NUMGRAD_FUSION``, ``set_fusion``) and region limits."""
from __future__ import annotations

import os

from .._pending_readers import flush_all

_enabled = os.environ.get("NUMGRAD_FUSION", "1") != "0"

# Regions larger than this are computed before growing further: a loop of
# `x = x * 1.0001` then runs one cached 32-op kernel per block instead of one
# ever-growing kernel.
MAX_REGION = int(os.environ.get("NUMGRAD_MAX_REGION", 32))


def is_fusion_enabled() -> bool:
    """True when elementwise ops are fused (the default).

    >>> import numgrad as ng
    >>> ng.is_fusion_enabled() in (True, False)
    True
    """
    return _enabled


def set_fusion(enabled: bool) -> None:
    """Turn fusion on or off (off: every op runs as its own kernel, same results).

    >>> import numgrad as ng
    >>> ng.set_fusion(False); ng.set_fusion(True)
    """
    global _enabled
    if not enabled:
        flush_all()
    _enabled = bool(enabled)
