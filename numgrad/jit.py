"""``torch.jit`` for code that uses it in passing: numgrad has no TorchScript, so its functions run as Python.

Scripts and libraries call ``torch.jit.script(model)`` or ``torch.jit.trace(fn, example)`` for speed or for a
deployable archive, and mark methods with ``@torch.jit.ignore`` / ``@torch.jit.export`` or branch on
``torch.jit.is_scripting()``. Here ``script`` and ``trace`` give back what they are given (it computes what the
scripted or traced object would: numgrad runs it as ordinary Python, warning once; ``numgrad.compile`` is what
captures a step as compiled code), the decorators leave functions as they are, ``is_scripting()`` and
``is_tracing()`` are False, and what needs a TorchScript archive (``save``, ``load``, ``freeze``) raises.

>>> import numgrad as ng
>>> lin = ng.nn.Linear(2, 2)
>>> ng.jit.is_scripting(), ng.jit.ignore(lin.forward) == lin.forward
(False, True)
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

_warned = [False]


def _runs_as_python(what: str) -> None:
    if not _warned[0]:
        _warned[0] = True
        warnings.warn(f"numgrad.jit.{what}: numgrad has no TorchScript; the object is returned as it is and runs as "
                      "Python (use numgrad.compile to capture a training or inference step as compiled code)",
                      stacklevel=3)


def script(obj: Any, optimize: Any = None, _frames_up: int = 0, _rcb: Any = None, example_inputs: Any = None) -> Any:
    """``torch.jit.script``: returns ``obj`` (a module, function or class) unchanged, run as Python (warns once).

    >>> import numgrad as ng, warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     f = ng.jit.script(lambda x: x * 2)
    >>> f(ng.ones(1))
    tensor([2.])
    """
    _runs_as_python("script")
    return obj


def trace(func: Any, example_inputs: Any = None, *args: Any, **kwargs: Any) -> Any:
    """``torch.jit.trace``: returns ``func`` unchanged, run as Python (warns once). A traced function replays the
    traced path; ``func`` itself follows every path, which gives the same results on the inputs the trace was
    valid for."""
    _runs_as_python("trace")
    return func


def trace_module(mod: Any, inputs: Any = None, *args: Any, **kwargs: Any) -> Any:
    """``torch.jit.trace_module``: returns ``mod`` unchanged, run as Python (warns once)."""
    _runs_as_python("trace_module")
    return mod


def ignore(drop: Any = False, **kwargs: Any) -> Any:
    """``@torch.jit.ignore`` / ``@torch.jit.ignore(drop=True)``: the function as it is (nothing is compiled)."""
    if callable(drop):
        return drop
    return lambda fn: fn


def unused(fn: Callable) -> Callable:
    """``@torch.jit.unused``: the function as it is."""
    return fn


def export(fn: Callable) -> Callable:
    """``@torch.jit.export``: the function as it is."""
    return fn


def script_if_tracing(fn: Callable) -> Callable:
    """``@torch.jit.script_if_tracing``: the function as it is (numgrad never traces)."""
    return fn


def is_scripting() -> bool:
    """False: numgrad code never runs as TorchScript (``torch.jit.is_scripting()`` is False in eager PyTorch too)."""
    return False


def is_tracing() -> bool:
    """False: numgrad never traces."""
    return False


def annotate(the_type: Any, the_value: Any) -> Any:
    """``torch.jit.annotate``: the value (the type is for the TorchScript compiler)."""
    return the_value


def Attribute(value: Any, type: Any) -> Any:  # noqa: N802,A002 - PyTorch's names
    """``torch.jit.Attribute``: the value, as in eager PyTorch."""
    return value


class Final:
    """``torch.jit.Final[T]``: a type annotation marking a constant module attribute (no effect here)."""

    def __class_getitem__(cls, item: Any) -> Any:
        return item


class Future:
    """What ``fork`` returns: the already computed result of the forked call."""

    def __init__(self, value: Any):
        self._value = value

    def wait(self) -> Any:
        return self._value

    def value(self) -> Any:
        return self._value

    def done(self) -> bool:
        return True


def fork(func: Callable, *args: Any, **kwargs: Any) -> Future:
    """``torch.jit.fork``: runs ``func(*args, **kwargs)`` now (as eager PyTorch does) and returns its future."""
    return Future(func(*args, **kwargs))


def wait(future: Future) -> Any:
    """``torch.jit.wait``: the forked call's result."""
    return future.wait()


def _no_archives(what: str) -> NotImplementedError:
    return NotImplementedError(f"numgrad.jit.{what}: numgrad has no TorchScript archives; save the model's "
                               "state_dict with numgrad.save and load it into the model's class with numgrad.load")


def save(m: Any, f: Any, _extra_files: Any = None) -> None:
    """``torch.jit.save``: not supported (raises NotImplementedError; see ``numgrad.save``)."""
    raise _no_archives("save")


def load(f: Any, map_location: Any = None, _extra_files: Any = None, _restore_shapes: bool = False) -> Any:
    """``torch.jit.load``: not supported (raises NotImplementedError; see ``numgrad.load``)."""
    raise _no_archives("load")


def freeze(mod: Any, preserved_attrs: Any = None, optimize_numerics: bool = True) -> Any:
    """``torch.jit.freeze``: not supported (it works on TorchScript modules, which numgrad does not make)."""
    raise _no_archives("freeze")


def optimize_for_inference(mod: Any, other_methods: Any = None) -> Any:
    """``torch.jit.optimize_for_inference``: not supported (it works on TorchScript modules)."""
    raise _no_archives("optimize_for_inference")
