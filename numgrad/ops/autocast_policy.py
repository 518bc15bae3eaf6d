"""Automatic mixed precision: autocast's thread-local state, its op table, and the op-entry decorator.

PyTorch's autocast (``torch.autocast``) intercepts some ops at their entry and casts their floating-point
arguments first: matrix products and convolutions run in a lower precision (``lower_precision_fp``: bfloat16 on
the CPU, float16 on CUDA by default), losses and ops that need range run in float32 (``fp32``), ops that combine
several tensors run in the widest of their dtypes (``promote``).  Every other op runs on whatever dtypes reach it.
This module is that mechanism for numgrad:

- ``POLICY_LISTS``: THE table, per device type and policy, in PyTorch's terms (``aten/src/ATen/autocast_mode.cpp``:
  ``KERNEL_CPU``/``KERNEL_CUDA`` registrations), under numgrad's function names.  ``tests/test_autocast.py`` runs
  every entry under numgrad's and torch's autocast and compares the output dtypes, so the two cannot drift apart.
- ``float32_math``: numgrad's one policy of its own, for ops that PyTorch runs on whatever dtype autocast hands
  them but whose numgrad kernels have no 16-bit path (a bfloat16 activation reaching ``batch_norm``,
  ``max_pool2d``, ``dropout``): 16-bit inputs are computed in float32 and the result is rounded back to their
  dtype, which is what PyTorch's CPU kernels do inside; and for ops PyTorch runs as one kernel that numgrad
  composes from listed ops (``mv``, ``dot``, ``bilinear``), whose outputs would otherwise come out 16-bit.
- ``autocast_op``: the decorator each listed op's definition carries.  With autocast off everywhere it costs one
  check of a module global; on, it applies the op's policy for the device its tensors live on.  As in PyTorch
  (whose wrappers exclude the autocast dispatch key while the op runs), the ops a listed op calls internally are
  not cast again.
- The state (``set_autocast_enabled``, ``get_autocast_dtype``, the cast cache) is per thread, as PyTorch's.

numgrad's 16-bit tensors are stored in 16 bits and computed in float32 by the kernels, and its layer kernels
(linear, convolutions) have no 16-bit path.  A ``lower_precision_fp`` op therefore rounds its float inputs to the
autocast dtype, computes in float32 from those exact values and rounds its output to the autocast dtype: what
PyTorch's CPU bfloat16 GEMMs and convolutions do (float32 accumulation, one rounding of the result).  The casts
are ordinary differentiable ``to`` calls (``ToCopyBackward0``), so float32 parameters receive float32 gradients.

>>> import numgrad as ng
>>> ng.is_autocast_enabled("cpu"), ng.get_autocast_dtype("cpu")
(False, numgrad.bfloat16)
"""
from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Dict, Optional, Tuple

from .. import _dtypes
from .._dtypes import DType
from ..tensor import Tensor

__all__ = ["POLICY_LISTS", "POLICIES", "autocast_op", "is_autocast_enabled", "set_autocast_enabled",
           "get_autocast_dtype", "set_autocast_dtype", "is_autocast_cache_enabled", "set_autocast_cache_enabled",
           "clear_autocast_cache", "autocast_increment_nesting", "autocast_decrement_nesting", "autocast_state_key",
           "is_any_autocast_enabled"]

DEVICE_TYPES = ("cpu", "cuda")
DEFAULT_DTYPES = {"cpu": _dtypes.bfloat16, "cuda": _dtypes.float16}

LOWER_PRECISION_FP, FP32, FP32_SET_OPT_DTYPE, PROMOTE, BANNED = (
    "lower_precision_fp", "fp32", "fp32_set_opt_dtype", "promote", "banned")
# numgrad's own policy, not one of PyTorch's: the op is not cast, but 16-bit inputs are computed in float32 and
# float32 results rounded back to the input's 16-bit dtype (what PyTorch's CPU kernels do inside), and the ops it
# calls are not cast.  For ops PyTorch runs on whatever dtype autocast hands them (a bfloat16 activation reaching
# batch_norm, max_pool2d or dropout) but whose numgrad kernels have no 16-bit path, and for ops PyTorch runs as
# one kernel that numgrad composes from listed ops (mv, dot and bilinear would otherwise come out in bfloat16).
FLOAT32_MATH = "float32_math"

# THE op table.  Names are numgrad's (``cross_entropy`` is PyTorch's ``cross_entropy_loss``; ``linalg.<name>`` is
# ``numgrad.linalg.<name>``); only ops numgrad has are listed.  Where PyTorch registers an op that decomposes
# into listed ops (cross_entropy on CUDA: log_softmax + nll_loss), numgrad lists the op itself with the policy its
# pieces give, because numgrad's implementation may not call the same pieces.
_MATRIX_PRODUCTS_AND_CONVOLUTIONS = (
    "linear", "matmul", "mm", "bmm", "addmm", "addbmm", "baddbmm", "linalg.vecdot", "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "prelu", "scaled_dot_product_attention")
_LOSSES = (
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "kl_div", "poisson_nll_loss",
    "cosine_embedding_loss", "hinge_embedding_loss", "margin_ranking_loss", "soft_margin_loss", "triplet_margin_loss",
    "multi_margin_loss", "multilabel_margin_loss", "binary_cross_entropy_with_logits")
_NO_16_BIT_KERNEL = (
    "batch_norm", "instance_norm", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d", "lp_pool1d", "lp_pool2d", "dropout",
    "dropout1d", "dropout2d", "dropout3d", "embedding", "embedding_bag", "interpolate", "recurrent_layer")
_RNN_CELLS = ("lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell")
POLICY_LISTS: Dict[str, Dict[str, Tuple[str, ...]]] = {
    "cpu": {
        # (the RNN cells: PyTorch's CPU composes them from linear, so their outputs come out in the lower precision)
        LOWER_PRECISION_FP: _MATRIX_PRODUCTS_AND_CONVOLUTIONS + ("rnn_tanh_cell", "rnn_relu_cell"),
        FP32: _LOSSES + (
            "cross_entropy", "binary_cross_entropy", "ctc_loss", "prod", "quantile", "nanquantile", "cdist", "trace",
            "inverse", "pinverse", "cholesky", "cholesky_inverse", "cholesky_solve", "avg_pool3d", "max_pool3d",
            "adaptive_avg_pool3d", "adaptive_max_pool3d", "max_unpool2d", "max_unpool3d", "grid_sample",
            "linalg.cholesky", "linalg.solve", "linalg.svdvals", "linalg.eigvalsh", "linalg.eigh",
            "linalg.qr", "linalg.svd", "linalg.lstsq", "linalg.cond", "linalg.matrix_rank", "linalg.cholesky_ex",
            "linalg.householder_product", "fractional_max_pool2d", "fractional_max_pool3d", "lu_solve", "geqrf",
            "orgqr", "ormqr", "qr", "svd", "triangular_solve"),
        PROMOTE: ("cat", "stack", "index_copy"),
        FLOAT32_MATH: _NO_16_BIT_KERNEL + ("lstm_cell", "gru_cell", "layer_norm", "group_norm", "rms_norm", "mv",
                                           "dot", "vdot", "bilinear"),
    },
    "cuda": {
        LOWER_PRECISION_FP: _MATRIX_PRODUCTS_AND_CONVOLUTIONS + (
            "addmv", "addr", "einsum", "mv", "chain_matmul", "linalg.multi_dot") + _RNN_CELLS,
        FP32: _LOSSES + (
            "cross_entropy", "layer_norm", "group_norm", "rms_norm", "cosine_similarity", "cdist", "pdist", "dist",
            "renorm", "logsumexp"),
        FP32_SET_OPT_DTYPE: ("softmax", "log_softmax", "prod", "linalg.vector_norm", "linalg.matrix_norm"),
        PROMOTE: ("addcdiv", "addcmul", "bilinear", "cross", "dot", "vdot", "tensordot", "grid_sample"),
        BANNED: ("binary_cross_entropy",),
        FLOAT32_MATH: _NO_16_BIT_KERNEL,
    },
}


def _policies_by_op() -> Dict[str, Dict[str, str]]:
    by_op: Dict[str, Dict[str, str]] = {}
    for device_type, lists in POLICY_LISTS.items():
        for policy, names in lists.items():
            for name in names:
                if device_type in by_op.setdefault(name, {}):
                    raise AssertionError(f"autocast table: {name} is listed twice for {device_type}")
                by_op[name][device_type] = policy
    return by_op


# op name -> {device type: policy}: what ``autocast_op`` looks its op up in
POLICIES: Dict[str, Dict[str, str]] = _policies_by_op()

_BANNED_MESSAGES = {
    "binary_cross_entropy": (
        "torch.nn.functional.binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast.\n"
        "Many models use a sigmoid layer right before the binary cross entropy layer.\n"
        "In this case, combine the two layers using torch.nn.functional.binary_cross_entropy_with_logits\n"
        "or torch.nn.BCEWithLogitsLoss.  binary_cross_entropy_with_logits and BCEWithLogits are\n"
        "safe to autocast."),
}


# --------------------------------------------------------------------------- the per-thread state
class _ThreadState(threading.local):
    def __init__(self):
        self.enabled = dict.fromkeys(DEVICE_TYPES, False)
        self.dtype = dict(DEFAULT_DTYPES)
        self.cache_enabled = True
        self.nesting = 0
        self.inside_listed_op = 0  # >0 while a listed op runs: what it calls is not cast again (PyTorch's rule)
        self.cache: Dict[int, tuple] = {}  # id(float32 leaf) -> (leaf, its version, lowered, lowered as float32)
        self.key = _state_key(self)  # ``autocast_state_key``'s value, made again by the two setters


def _state_key(state: "_ThreadState") -> tuple:
    enabled, dtype = state.enabled, state.dtype
    return (enabled["cpu"], dtype["cpu"], enabled["cuda"], dtype["cuda"])


_state = _ThreadState()
_lock = threading.Lock()
# How many (thread, device type) pairs have autocast on: zero is the fast path of every listed op
_enabled_count = [0]


def _check_device_type(device_type: Any, function: str) -> str:
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if device_type not in DEVICE_TYPES:
        raise RuntimeError(f"{function}: numgrad's autocast supports the device types 'cpu' and 'cuda', got "
                           f"{device_type!r}")
    return device_type


def is_autocast_enabled(device_type: Optional[str] = None) -> bool:
    """Whether autocast is on in this thread for ``device_type`` (``"cuda"`` when not given, as PyTorch's).

    >>> import numgrad as ng
    >>> with ng.autocast("cpu"):
    ...     ng.is_autocast_enabled("cpu"), ng.is_autocast_enabled("cuda")
    (True, False)
    """
    if device_type is None:
        device_type = "cuda"
    return _state.enabled[_check_device_type(device_type, "is_autocast_enabled")]


def is_any_autocast_enabled() -> bool:
    """Whether autocast is on in this thread for any device type (PyTorch's ``torch._C._is_any_autocast_enabled``).

    >>> import numgrad as ng
    >>> ng.ops.autocast_policy.is_any_autocast_enabled()
    False
    """
    return _enabled_count[0] > 0 and any(_state.enabled.values())


def set_autocast_enabled(device_type: str, enabled: bool) -> None:
    """Switch autocast on or off for ``device_type`` in this thread (what ``autocast`` does on entry and exit).

    >>> import numgrad as ng
    >>> ng.set_autocast_enabled("cpu", True); ng.is_autocast_enabled("cpu")
    True
    >>> ng.set_autocast_enabled("cpu", False); ng.is_autocast_enabled("cpu")
    False
    """
    device_type = _check_device_type(device_type, "set_autocast_enabled")
    enabled = bool(enabled)
    was = _state.enabled[device_type]
    if was != enabled:
        _state.enabled[device_type] = enabled
        _state.key = _state_key(_state)
        with _lock:
            _enabled_count[0] += 1 if enabled else -1


def get_autocast_dtype(device_type: str) -> DType:
    """The dtype ``lower_precision_fp`` ops run in for ``device_type`` in this thread (bfloat16 on the CPU and
    float16 on CUDA unless an ``autocast`` chose another).

    >>> import numgrad as ng
    >>> ng.get_autocast_dtype("cpu"), ng.get_autocast_dtype("cuda")
    (numgrad.bfloat16, numgrad.float16)
    """
    return _state.dtype[_check_device_type(device_type, "get_autocast_dtype")]


def set_autocast_dtype(device_type: str, dtype: Any) -> None:
    """Set the dtype ``lower_precision_fp`` ops run in for ``device_type`` in this thread.

    >>> import numgrad as ng
    >>> ng.set_autocast_dtype("cpu", ng.float16); ng.get_autocast_dtype("cpu")
    numgrad.float16
    >>> ng.set_autocast_dtype("cpu", ng.bfloat16)
    """
    _state.dtype[_check_device_type(device_type, "set_autocast_dtype")] = _dtypes.as_dtype(dtype)
    _state.key = _state_key(_state)


def is_autocast_cache_enabled() -> bool:
    """Whether lowered casts of float32 leaf tensors (weights) are kept for reuse inside the outermost ``autocast``.

    >>> import numgrad as ng
    >>> ng.is_autocast_cache_enabled()
    True
    """
    return _state.cache_enabled


def set_autocast_cache_enabled(enabled: bool) -> None:
    """Keep (True) or do not keep lowered casts of float32 leaf tensors inside ``autocast`` (this thread).

    >>> import numgrad as ng
    >>> ng.set_autocast_cache_enabled(False); ng.is_autocast_cache_enabled()
    False
    >>> ng.set_autocast_cache_enabled(True)
    """
    _state.cache_enabled = bool(enabled)


def clear_autocast_cache() -> None:
    """Drop the kept casts (``autocast`` does it when its outermost context exits).

    >>> import numgrad as ng
    >>> ng.clear_autocast_cache()
    """
    _state.cache.clear()


def autocast_increment_nesting() -> int:
    """One more open ``autocast`` context in this thread; returns the new depth.

    >>> import numgrad as ng
    >>> ng.autocast_increment_nesting(), ng.autocast_decrement_nesting()
    (1, 0)
    """
    _state.nesting += 1
    return _state.nesting


def autocast_decrement_nesting() -> int:
    """One fewer open ``autocast`` context in this thread; returns the new depth (0: the cache may be cleared)."""
    _state.nesting -= 1
    return _state.nesting


def autocast_state_key() -> tuple:
    """This thread's autocast settings as a hashable value (``ng.compile`` keys its captured variants on it).

    >>> import numgrad as ng
    >>> ng.ops.autocast_policy.autocast_state_key()
    (False, numgrad.bfloat16, False, numgrad.float16)
    """
    return _state.key  # (kept by the setters: a replay reads it on every call)


# --------------------------------------------------------------------------- applying a policy
def _device_type_of(args: tuple, kwargs: dict) -> Optional[str]:
    """The device type of the op's first tensor argument (lists one level deep: ``cat``'s sequence)."""
    for a in args + tuple(kwargs.values()):
        if isinstance(a, Tensor):
            return a.device.type
        if isinstance(a, (list, tuple)):
            for t in a:
                if isinstance(t, Tensor):
                    return t.device.type
    return None


def _eligible(t: Any, device_type: str) -> bool:
    """PyTorch's ``is_eligible``: a floating-point tensor on the autocast device, float64 excepted."""
    return (isinstance(t, Tensor) and t.dtype.is_floating_point and t.dtype is not _dtypes.float64
            and t.device.type == device_type)


def _lowered(t: Tensor, dtype: DType) -> Tuple[Tensor, Tensor]:
    """``t`` rounded to 16-bit ``dtype`` and those values as float32 (what numgrad's kernels take); float32
    leaves that require grad (weights) are cached as PyTorch's ``cached_cast`` does, until their next write."""
    cacheable = (_state.cache_enabled and t.dtype is _dtypes.float32 and t._requires_grad and t._grad_fn is None
                 and t._view is None)
    if cacheable:
        hit = _state.cache.get(id(t))
        if hit is not None and hit[0] is t and hit[1] == t._version[0] and hit[2].dtype is dtype:
            return hit[2], hit[3]
    low = t if t.dtype is dtype else t.to(dtype)
    wide = low.to(_dtypes.float32)
    if cacheable:
        _state.cache[id(t)] = (t, t._version[0], low, wide)
    return low, wide


def _map_tensors(value: Any, fn: Callable) -> Any:
    if isinstance(value, Tensor):
        return fn(value)
    if isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in value):
        return type(value)(fn(v) if isinstance(v, Tensor) else v for v in value)
    return value


def _promote_type(args: tuple, kwargs: dict, device_type: str, name: str) -> DType:
    """PyTorch's ``promote_type``: float32 if any eligible argument is float32, else the autocast dtype."""
    lower = _state.dtype[device_type]
    current = lower
    for a in args + tuple(kwargs.values()):
        for t in (a if isinstance(a, (list, tuple)) else (a,)):
            if not isinstance(t, Tensor) or not t.dtype.is_floating_point or t.device.type != device_type:
                continue
            if t.dtype is _dtypes.float64:
                continue
            if current is _dtypes.float32 or t.dtype is _dtypes.float32:
                current = _dtypes.float32
            elif t.dtype is not lower:
                raise RuntimeError(f"{name}: autocast cannot promote {t.dtype} with the autocast dtype {lower} "
                                   "(Unexpected floating ScalarType in at::autocast::prioritize); cast the "
                                   "argument to float32 or to the autocast dtype first")
    return current


def _run_in_16_bits(fn: Callable, args: tuple, kwargs: dict, device_type: str, dtype: DType):
    """``fn`` on its eligible arguments rounded to 16-bit ``dtype``, computed in float32, its float32 results
    rounded to ``dtype``."""
    lowered = []

    def lower(t: Tensor) -> Tensor:
        if not _eligible(t, device_type):
            return t
        lowered.append(t)
        return _lowered(t, dtype)[1]

    result = fn(*[_map_tensors(a, lower) for a in args], **{k: _map_tensors(v, lower) for k, v in kwargs.items()})
    if not lowered:  # float64 or integer inputs only: the op ran as it would without autocast
        return result
    return _map_tensors(result, lambda t: t.to(dtype) if t.dtype is _dtypes.float32 else t)


def _run_16_bit_inputs_in_float32(fn: Callable, args: tuple, kwargs: dict, device_type: str):
    """``fn`` with its 16-bit floating inputs as float32; float32 results in the first such input's dtype."""
    found = []

    def widen(t: Tensor) -> Tensor:
        if _eligible(t, device_type) and t.dtype.is_16bit_float:
            found.append(t.dtype)
            return t.to(_dtypes.float32)
        return t

    args = tuple(_map_tensors(a, widen) for a in args)
    kwargs = {k: _map_tensors(v, widen) for k, v in kwargs.items()}
    result = fn(*args, **kwargs)
    if not found:
        return result
    return _map_tensors(result, lambda t: t.to(found[0]) if t.dtype is _dtypes.float32 else t)


def _apply_policy(name: str, policy: str, fn: Callable, args: tuple, kwargs: dict, device_type: str):
    if policy == BANNED:
        raise RuntimeError(_BANNED_MESSAGES[name])
    if policy == LOWER_PRECISION_FP:
        return _run_in_16_bits(fn, args, kwargs, device_type, _state.dtype[device_type])
    if policy == PROMOTE:
        target = _promote_type(args, kwargs, device_type, name)
        if target is not _dtypes.float32:
            return _run_in_16_bits(fn, args, kwargs, device_type, target)
    elif policy == FLOAT32_MATH:
        return _run_16_bit_inputs_in_float32(fn, args, kwargs, device_type)
    elif policy == FP32_SET_OPT_DTYPE:
        first = args[0] if args else next(iter(kwargs.values()), None)
        if _eligible(first, device_type) and kwargs.get("dtype") is None:
            kwargs = dict(kwargs, dtype=_dtypes.float32)
        return fn(*args, **kwargs)

    def widen(t: Tensor) -> Tensor:  # FP32, and PROMOTE to float32
        return t.to(_dtypes.float32) if _eligible(t, device_type) and t.dtype is not _dtypes.float32 else t

    return fn(*[_map_tensors(a, widen) for a in args], **{k: _map_tensors(v, widen) for k, v in kwargs.items()})


def autocast_op(fn: Optional[Callable] = None, *, name: Optional[str] = None) -> Callable:
    """Mark ``fn`` as an autocast entry point: its policy is ``POLICIES[name]`` (``name`` defaults to
    ``fn.__name__``; an op missing from the table is an error at import).

    >>> import numgrad as ng
    >>> with ng.autocast("cpu"):
    ...     ng.mm(ng.ones(2, 2), ng.ones(2, 2)).dtype
    numgrad.bfloat16
    """
    if fn is None:
        return functools.partial(autocast_op, name=name)
    op_name = name or fn.__name__
    if op_name not in POLICIES:
        raise KeyError(f"autocast_op: {op_name} is not in numgrad.ops.autocast_policy.POLICY_LISTS; add it to the "
                       "table under PyTorch's policy for each device type")
    policies = POLICIES[op_name]

    @functools.wraps(fn)
    def autocast_entry(*args, **kwargs):
        if not _enabled_count[0]:  # autocast is off in every thread: the only cost of this wrapper
            return fn(*args, **kwargs)
        state = _state
        if state.inside_listed_op:
            return fn(*args, **kwargs)
        device_type = _device_type_of(args, kwargs)
        policy = policies.get(device_type)
        if policy is None or not state.enabled.get(device_type, False):
            return fn(*args, **kwargs)
        state.inside_listed_op += 1
        try:
            return _apply_policy(op_name, policy, fn, args, kwargs, device_type)
        finally:
            state.inside_listed_op -= 1

    autocast_entry.autocast_name = op_name
    return autocast_entry
