"""``autocast``: PyTorch's automatic mixed precision context, as far as numgrad has one.

numgrad does not autocast: ops run in the dtypes of their inputs.  ``autocast(..., enabled=False)`` (how
scripts switch AMP off, ``enabled=args.amp``) runs its code unchanged, which is PyTorch's result too;
``enabled=True`` raises ``NotImplementedError`` instead of silently computing in float32 what the script asked to
compute in half precision.  Cast the model and inputs (``model.to(ng.bfloat16)``) for half-precision math.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Optional

__all__ = ["autocast", "is_autocast_available"]


def is_autocast_available(device_type: str) -> bool:
    """Whether ``autocast`` can be enabled on ``device_type``: never in numgrad.

    >>> import numgrad as ng
    >>> ng.amp.is_autocast_available("cpu")
    False
    """
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    return False


class autocast:
    """PyTorch's ``torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None)`` context manager and
    decorator; only ``enabled=False`` is supported (see the module docstring).

    >>> import numgrad as ng
    >>> with ng.autocast("cpu", dtype=ng.bfloat16, enabled=False):
    ...     (ng.ones(2, 2) @ ng.ones(2, 2)).dtype
    numgrad.float32
    """

    def __init__(self, device_type: str, dtype: Optional[Any] = None, enabled: bool = True,
                 cache_enabled: Optional[bool] = None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        self.device, self.fast_dtype, self._enabled = device_type, dtype, bool(enabled)
        if self._enabled:
            raise NotImplementedError(
                f"autocast(device_type={device_type!r}, enabled=True): numgrad has no automatic mixed precision (its "
                "ops compute in their inputs' dtypes). Pass enabled=False to run in full precision, or cast the "
                "model and inputs, model.to(ng.bfloat16)")

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> bool:
        return False

    def __call__(self, func: Callable) -> Callable:
        @functools.wraps(func)
        def decorated(*args, **kwargs):
            with self:
                return func(*args, **kwargs)
        return decorated
