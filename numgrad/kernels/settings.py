"""Process-wide settings PyTorch scripts set at their top: determinism, float32 matmul precision, warn-always.

They live at the kernels layer because the kernels that would break a promise (the CUDA atomic
scatter-adds) must read them; the public functions (``numgrad.use_deterministic_algorithms``...) are in
``numgrad.ops.torch_globals``.

What "deterministic" means in numgrad: every CPU kernel gives the same bits for the same inputs and the
same thread count (reductions sum per-thread partials in a fixed order, never with races). The
exceptions are CUDA kernels that accumulate with atomic adds in floating point (``index_put_`` with
``accumulate=True``, ``scatter_add``/``index_add`` style scatters, embedding backward): the order in which
duplicate indices are added varies from run to run. With ``use_deterministic_algorithms(True)`` those raise
(or warn, with ``warn_only=True``) as PyTorch's nondeterministic ops do.

>>> alert_not_deterministic("demo")  # nothing happens while the flag is off
"""
from __future__ import annotations

import warnings

_DETERMINISTIC = {"enabled": False, "warn_only": False}
_MATMUL_PRECISION = ["highest"]
_WARN_ALWAYS = [False]


def set_deterministic(mode: bool, warn_only: bool) -> None:
    _DETERMINISTIC["enabled"] = bool(mode)
    _DETERMINISTIC["warn_only"] = bool(warn_only) and bool(mode)


def deterministic_enabled() -> bool:
    return _DETERMINISTIC["enabled"]


def deterministic_warn_only() -> bool:
    return _DETERMINISTIC["warn_only"]


def alert_not_deterministic(caller: str) -> None:
    """Raise (or warn under ``warn_only``) when determinism was asked for and ``caller`` cannot give it.

    The text is PyTorch's (``at::globalContext().alertNotDeterministic``).
    """
    if not _DETERMINISTIC["enabled"]:
        return
    msg = (f"{caller} does not have a deterministic implementation, but you set "
           "'torch.use_deterministic_algorithms(True)'. You can turn off determinism just for this operation, "
           "or you can use the 'warn_only=True' option, if that's acceptable for your application. "
           "(numgrad: this kernel adds duplicate indices with CUDA atomics, whose order varies between runs; "
           "the CPU implementation is deterministic.)")
    if _DETERMINISTIC["warn_only"]:
        warnings.warn(msg, UserWarning, stacklevel=3)
    else:
        raise RuntimeError(msg)


def set_matmul_precision(precision: str) -> None:
    _MATMUL_PRECISION[0] = precision


def matmul_precision() -> str:
    return _MATMUL_PRECISION[0]


def set_warn_always(flag: bool) -> None:
    _WARN_ALWAYS[0] = bool(flag)


def warn_always() -> bool:
    return _WARN_ALWAYS[0]
