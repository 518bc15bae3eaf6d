"""PyTorch's global switches and dtype helpers, answered truthfully for numgrad: determinism, float32 matmul
precision, warn-always, inter-op threads, print options, inference mode, ``promote_types``, ``can_cast``,
``typename``, ``is_complex``.

numgrad has no complex dtypes, no TF32/bfloat16 matmul paths and no inter-op thread pool; the setters that
configure those record the value (so scripts that set them run and read back what they set) and the
docstrings say what it changes here: nothing, for those three.
"""
from __future__ import annotations

import warnings
from typing import Union

from .. import _dtypes
from .._format import set_printoptions  # noqa: F401 - re-exported (PUBLIC)
from ..autograd.grad_mode import inference_mode  # noqa: F401 - re-exported (PUBLIC)
from ..kernels import settings as _settings
from ..tensor import Tensor, is_inference_mode_enabled  # noqa: F401 - re-exported (PUBLIC)


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Ask for deterministic algorithms, as ``torch.use_deterministic_algorithms``.

    numgrad's CPU kernels are deterministic for a fixed thread count whatever the flag. Its CUDA kernels
    that add duplicate indices with floating-point atomics (``index_put_(accumulate=True)``, ``scatter_add``,
    embedding backward) are not: with the flag on they raise ``RuntimeError`` (a warning with
    ``warn_only=True``), as PyTorch's nondeterministic ops do. As in PyTorch, ``empty`` and its relatives
    then fill their memory (NaN for floats, the largest value for integers) so results never depend on
    what the memory held before.

    >>> import numgrad as ng
    >>> ng.use_deterministic_algorithms(True); ng.are_deterministic_algorithms_enabled()
    True
    >>> ng.use_deterministic_algorithms(False)
    """
    if not isinstance(mode, bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'mode' (position 1) must be bool, not "
                        f"{type(mode).__name__}")
    if not isinstance(warn_only, bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'warn_only' must be bool, not "
                        f"{type(warn_only).__name__}")
    _settings.set_deterministic(mode, warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    """Whether ``use_deterministic_algorithms(True)`` is in effect.

    >>> import numgrad as ng
    >>> ng.are_deterministic_algorithms_enabled()
    False
    """
    return _settings.deterministic_enabled()


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    """Whether determinism was asked for with ``warn_only=True`` (nondeterministic ops warn instead of raising).

    >>> import numgrad as ng
    >>> ng.is_deterministic_algorithms_warn_only_enabled()
    False
    """
    return _settings.deterministic_warn_only()


_DEBUG_MODES = {"default": 0, "warn": 1, "error": 2}


def set_deterministic_debug_mode(debug_mode: Union[str, int]) -> None:
    """``0``/``"default"``: determinism off; ``1``/``"warn"``: on, warn only; ``2``/``"error"``: on, raising.

    >>> import numgrad as ng
    >>> ng.set_deterministic_debug_mode("warn"); ng.get_deterministic_debug_mode()
    1
    >>> ng.set_deterministic_debug_mode(0)
    """
    if isinstance(debug_mode, str):
        if debug_mode not in _DEBUG_MODES:
            raise RuntimeError("invalid value of debug_mode, expected one of `default`, `warn`, `error`, but got "
                               f"{debug_mode}")
        debug_mode = _DEBUG_MODES[debug_mode]
    elif not isinstance(debug_mode, int) or isinstance(debug_mode, bool):
        raise TypeError(f"debug_mode must be str or int, but got {type(debug_mode)}")
    if debug_mode not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode, expected 0, 1, or 2, but got {debug_mode}")
    _settings.set_deterministic(debug_mode > 0, debug_mode == 1)


def get_deterministic_debug_mode() -> int:
    """The current deterministic debug mode: 0 (off), 1 (warn) or 2 (error).

    >>> import numgrad as ng
    >>> ng.get_deterministic_debug_mode()
    0
    """
    if not _settings.deterministic_enabled():
        return 0
    return 1 if _settings.deterministic_warn_only() else 2


def set_float32_matmul_precision(precision: str) -> None:
    """Record the float32 matmul precision (``"highest"``, ``"high"``, ``"medium"``), as PyTorch's setter.

    numgrad's float32 products always compute in full float32 (no TF32 or bfloat16 passes), which is what
    ``"highest"`` asks for; ``"high"``/``"medium"`` allow less and so are honoured too. Any other value
    warns and changes nothing, as in PyTorch.

    >>> import numgrad as ng
    >>> ng.set_float32_matmul_precision("high"); ng.get_float32_matmul_precision()
    'high'
    >>> ng.set_float32_matmul_precision("highest")
    """
    if precision not in ("highest", "high", "medium"):
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "setFloat32MatmulPrecision call has no effect.", UserWarning, stacklevel=2)
        return
    _settings.set_matmul_precision(precision)


def get_float32_matmul_precision() -> str:
    """The value last given to ``set_float32_matmul_precision`` (``"highest"`` at start).

    >>> import numgrad as ng
    >>> ng.get_float32_matmul_precision()
    'highest'
    """
    return _settings.matmul_precision()


def set_warn_always(b: bool) -> None:
    """PyTorch's switch for warnings that fire once per process; numgrad records it (``is_warn_always_enabled``).

    >>> import numgrad as ng
    >>> ng.set_warn_always(False); ng.is_warn_always_enabled()
    False
    """
    _settings.set_warn_always(b)


def is_warn_always_enabled() -> bool:
    """Whether ``set_warn_always(True)`` is in effect.

    >>> import numgrad as ng
    >>> ng.is_warn_always_enabled()
    False
    """
    return _settings.warn_always()


_INTEROP_THREADS = [1]


def set_num_interop_threads(num: int) -> None:
    """Record the inter-op thread count. numgrad runs each op in the calling thread (its kernels use
    ``set_num_threads`` threads inside), so there is no inter-op pool for this to size.

    >>> import numgrad as ng
    >>> ng.get_num_interop_threads()
    1
    """
    if not isinstance(num, int) or isinstance(num, bool) or num <= 0:
        raise RuntimeError("set_num_interop_threads expects a positive integer")
    _INTEROP_THREADS[0] = num


def get_num_interop_threads() -> int:
    """The inter-op thread count: 1 (numgrad runs ops in the calling thread) unless set.

    >>> import numgrad as ng
    >>> ng.get_num_interop_threads() >= 1
    True
    """
    return _INTEROP_THREADS[0]


def set_flush_denormal(mode: bool) -> bool:
    """PyTorch's switch for flushing denormal floats to zero on the CPU. numgrad's Numba kernels do not change
    the CPU's floating-point modes, so this returns False ("not supported here") and changes nothing, which is
    what ``torch.set_flush_denormal`` answers on CPUs without the feature.

    >>> import numgrad as ng
    >>> ng.set_flush_denormal(True)
    False
    """
    return False


def is_inference(input: Tensor) -> bool:
    """Whether ``input`` was made under ``inference_mode`` (an inference tensor).

    >>> import numgrad as ng
    >>> with ng.inference_mode():
    ...     x = ng.ones(2)
    >>> ng.is_inference(x), ng.ones(2).is_inference()
    (True, False)
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"is_inference(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    return input._inference


def _as_dtype_arg(value, fn: str, arg: str, position: int) -> _dtypes.DType:
    if not isinstance(value, _dtypes.DType):
        raise TypeError(f"{fn}(): argument '{arg}' (position {position}) must be torch.dtype, not "
                        f"{type(value).__name__}")
    return value


def promote_types(type1: _dtypes.DType, type2: _dtypes.DType) -> _dtypes.DType:
    """The smallest dtype both can be converted to without losing category, PyTorch's promotion lattice.

    >>> import numgrad as ng
    >>> ng.promote_types(ng.uint8, ng.int8), ng.promote_types(ng.int64, ng.float16)
    (numgrad.int16, numgrad.float16)
    """
    return _dtypes.promote_pair(_as_dtype_arg(type1, "promote_types", "type1", 1),
                                _as_dtype_arg(type2, "promote_types", "type2", 2))


def can_cast(from_: _dtypes.DType, to: _dtypes.DType) -> bool:
    """Whether PyTorch's casting rules allow ``from_`` -> ``to`` in type promotion: never to a lower category
    (float to integer, integer to bool).

    >>> import numgrad as ng
    >>> ng.can_cast(ng.float64, ng.float32), ng.can_cast(ng.float32, ng.int32)
    (True, False)
    """
    a = _as_dtype_arg(from_, "can_cast", "from_", 1)
    b = _as_dtype_arg(to, "can_cast", "to", 2)
    return a._category <= b._category


def typename(obj) -> str:
    """A readable type name: a tensor's type string (``'numgrad.FloatTensor'``), else the class's module path.

    >>> import numgrad as ng
    >>> ng.typename(ng.ones(1)), ng.typename(1), ng.typename(ng.nn.Linear)
    ('numgrad.FloatTensor', 'int', 'numgrad.nn.modules.linear.Linear')
    """
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    qualname = ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module = obj.__class__.__module__ or ""
        qualname = obj.__class__.__qualname__
    if module in ("", "builtins"):
        return qualname
    return f"{module}.{qualname}"


def is_complex(input: Tensor) -> bool:
    """False: numgrad has no complex dtypes (asking for one raises ``TypeError``).

    >>> import numgrad as ng
    >>> ng.is_complex(ng.ones(2))
    False
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"is_complex(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    return False


def _tensor_is_inference(self) -> bool:
    """Whether this tensor was made under ``inference_mode``."""
    return self._inference


def _tensor_is_complex(self) -> bool:
    """False: numgrad has no complex dtypes."""
    return False


TENSOR_METHODS = {"is_inference": _tensor_is_inference, "is_complex": _tensor_is_complex}
__all__ = ["use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
          "is_deterministic_algorithms_warn_only_enabled", "set_deterministic_debug_mode",
          "get_deterministic_debug_mode", "set_float32_matmul_precision", "get_float32_matmul_precision",
          "set_printoptions", "set_warn_always", "is_warn_always_enabled", "get_num_interop_threads",
          "set_num_interop_threads", "inference_mode", "is_inference", "is_inference_mode_enabled",
          "promote_types", "can_cast", "typename", "is_complex", "set_flush_denormal"]
PUBLIC = tuple(__all__)
