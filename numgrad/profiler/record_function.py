"""``record_function``: a named range of user code in the profile, as ``torch.profiler.record_function``."""
from __future__ import annotations

import functools
from typing import Any, Callable, Optional

from .. import _profiler_hooks as _hooks


class record_function:  # noqa: N801 - PyTorch's name
    """Time the block (or each call of the decorated function) as one record named ``name`` in the profile that
    is running; the ops and kernels inside are its children (its self time is what they leave). Does nothing when
    no profile runs.

    >>> import numgrad as ng
    >>> with ng.profiler.profile() as prof:
    ...     with ng.profiler.record_function("my_block"):
    ...         y = (ng.ones(1000) * 2).sum()
    >>> any(r["name"] == "my_block" for r in prof.to_records(bandwidth=False))
    True
    """

    def __init__(self, name: str, args: Optional[str] = None):
        if not isinstance(name, str):
            raise TypeError(f"record_function(): argument 'name' must be str, not {type(name).__name__}")
        self.name = name
        self.args = args  # (PyTorch attaches it to the event; numgrad's records have no field for it)
        self._scope = None

    def __enter__(self) -> "record_function":
        if _hooks._ACTIVE:
            self._scope = _hooks.open_scope(self.name)
        return self

    def __exit__(self, *exc) -> bool:
        if self._scope is not None:
            _hooks.close_scope(self._scope)
            self._scope = None
        return False

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with record_function(self.name, self.args):
                return fn(*args, **kwargs)
        return wrapper
