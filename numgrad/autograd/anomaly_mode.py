"""Anomaly detection (``torch.autograd.detect_anomaly`` / ``set_detect_anomaly``): a debugging mode of backward.

While it is on, every backward node runs on its own (no fused backward regions), a node whose backward returns a
gradient containing NaN raises ``RuntimeError: Function 'MulBackward0' returned nan values in its 0th output.``
(with ``check_nan``), and an error raised by a node's backward is preceded by a warning that shows where its
forward op was called (the traceback recorded when the op ran, for ops recorded while the mode was on through
``Function.apply``: not yet for elementwise ops, whose nodes the fusion layer makes).

>>> import numgrad as ng
>>> x = ng.tensor([0.0], requires_grad=True)
>>> with ng.autograd.detect_anomaly():
...     try:
...         (x.sqrt() * 0).sum().backward()
...     except RuntimeError as e:
...         print(e)
Function 'SqrtBackward0' returned nan values in its 0th output.
"""
from __future__ import annotations

import traceback
import warnings
import weakref

from . import function as _function

_state = {"enabled": False, "check_nan": True}
_forward_traces: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # node -> its forward call's traceback


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on."""
    return _state["enabled"]


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly detection checks backward outputs for NaN."""
    return _state["check_nan"]


def _record_forward_trace(node, args, kwargs) -> None:
    _forward_traces[node] = "".join(traceback.format_stack()[:-2])  # (less this hook and Function.apply)


def _set_mode(enabled: bool, check_nan: bool) -> None:
    _state["enabled"], _state["check_nan"] = bool(enabled), bool(check_nan)
    hooks = _function.RECORD_HOOKS
    if enabled and _record_forward_trace not in hooks:
        hooks.append(_record_forward_trace)
    elif not enabled and _record_forward_trace in hooks:
        hooks.remove(_record_forward_trace)


class set_detect_anomaly:  # noqa: N801 - PyTorch's name
    """Turn anomaly detection on or off: called (``set_detect_anomaly(True)``) it sets the mode; used in a ``with``
    it sets it for the block and puts the previous one back.

    >>> import numgrad as ng
    >>> with ng.autograd.set_detect_anomaly(True):
    ...     ng.autograd.is_anomaly_enabled()
    True
    """

    def __init__(self, mode: bool, check_nan: bool = True):
        self.prev = (_state["enabled"], _state["check_nan"])
        _set_mode(mode, check_nan)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> bool:
        _set_mode(*self.prev)
        return False


class detect_anomaly:  # noqa: N801 - PyTorch's name
    """Anomaly detection on inside the block (or the decorated function); warns that it is a slow debugging mode, as
    PyTorch does."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime and should only be "
                      "enabled for debugging.", stacklevel=2)

    def __enter__(self) -> None:
        self.prev = (_state["enabled"], _state["check_nan"])
        _set_mode(True, self.check_nan)

    def __exit__(self, *exc) -> bool:
        _set_mode(*self.prev)
        return False

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            with self.__class__(self.check_nan):
                return fn(*args, **kwargs)
        return wrapper


def checked_apply(node, grads, create_graph: bool):
    """``node.apply`` in anomaly mode: the forward traceback warned before an error, NaN outputs refused."""
    try:
        outs = node.apply(grads, create_graph)
        if _state["check_nan"]:
            for i, g in enumerate(outs):
                if g is not None and g.dtype.is_floating_point and bool(g.isnan().any()):
                    raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th output.")
    except Exception:
        trace = _forward_traces.get(node)
        if trace is not None:
            warnings.warn(f"Error detected in {node.name()}. Traceback of forward call that caused the error:\n"
                          f"{trace}", stacklevel=2)
        raise
    return outs
