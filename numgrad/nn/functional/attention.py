"""Attention of ``numgrad.nn.functional``: ``scaled_dot_product_attention`` and
``multi_head_attention_forward`` (what ``nn.MultiheadAttention`` calls).

The scores ``q @ k^T`` and the weighted sum ``p @ v`` are batched matrix
products (``ops.linalg.matmul``, batch dims broadcast); between them one
Numba kernel each way computes the masked, scaled softmax
(``kernels/cpu/attention.py``): the boolean or additive mask and the causal
triangle are applied while the row is read, never materialised as a
``(B, L, S)`` tensor.  Where a device has no such kernel (CUDA) and when the
backward is itself recorded (``create_graph=True``), the same math is written
with tensor ops.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional, Tuple

import numpy as np

from ... import _dtypes, creation
from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled
from ...kernels import backend
from ...ops.shape import cat, pad
from ...ops.sum_mean import sum as _sum
from ...tensor import Tensor
from ._arguments import _arr, _check_tensor, _scalar_name
from .activation import softmax
from .affine import linear
from .regularization import dropout
from ...ops.autocast_policy import autocast_op

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward", "multi_head_attention"]

_NO_MASK = np.ones((1, 1, 1), dtype=np.bool_)


class _MaskedSoftmax(Function):
    """p = softmax(scale * scores + mask) over the last axis; scores (*batch, L, S); the float mask a tensor
    input (so a mask that requires grad gets one), the boolean mask a constant."""

    node_name = "SoftmaxBackward0"

    @staticmethod
    def forward(ctx, scores, fmask, bmask, slab, scale, causal):
        s = _arr(scores)
        batch = s.shape[:-2]
        s3 = s.reshape((-1,) + s.shape[-2:])
        kernels = backend.attention_softmax_kernels(s3)
        if kernels is None:
            raise RuntimeError("internal: _MaskedSoftmax without kernels")  # callers check first
        if fmask is not None:
            fm, kind = _arr(fmask), 2
            fm = fm.reshape((-1,) + fm.shape[-2:])
            bm = _NO_MASK
        elif bmask is not None:
            fm, kind = np.zeros((1, 1, 1), dtype=s.dtype), 1
            bm = bmask.reshape((-1,) + bmask.shape[-2:])
        else:
            fm, bm, kind = np.zeros((1, 1, 1), dtype=s.dtype), _NO_MASK, 0
        out = backend.empty_for((s3,), s3.shape, s3.dtype)
        if out.size:
            kernels[0](s3, s3.dtype.type(scale), bm, fm, kind, slab, causal, out)
        p = Tensor(out.reshape(batch + s3.shape[1:]))
        ctx.save_for_backward(p)
        ctx.scale, ctx.fmask_shape = scale, None if fmask is None else fmask.shape
        return p

    @staticmethod
    def backward(ctx, g):
        (p,) = ctx.saved_tensors
        need_s, need_m = ctx.needs_input_grad[:2]
        scale = ctx.scale
        if is_grad_enabled():
            # create_graph=True: the same formula, recorded (p is this node's output, as for softmax)
            dlogits = p * (g - _sum(g * p, -1, keepdim=True))
            gs = dlogits * scale if need_s else None
        else:
            pa = _arr(p)
            p3 = pa.reshape((-1,) + pa.shape[-2:])
            g3 = _arr(g).reshape(p3.shape)
            backward_kernel = backend.attention_softmax_kernels(p3)[1]
            gs = None
            if need_s:
                out = backend.empty_for((p3,), p3.shape, p3.dtype)
                if out.size:
                    backward_kernel(p3, g3, p3.dtype.type(scale), out)
                gs = Tensor(out.reshape(pa.shape))
            if need_m:
                out = backend.empty_for((p3,), p3.shape, p3.dtype)
                if out.size:
                    backward_kernel(p3, g3, p3.dtype.type(1), out)
                dlogits = Tensor(out.reshape(pa.shape))
        gm = dlogits.sum_to_size(*ctx.fmask_shape) if need_m else None
        return gs, gm, None, None, None, None


def _mask_slabs(mask_shape, batch) -> np.ndarray:
    """For each flattened batch index of ``batch``, the flattened leading index of the mask it reads."""
    mbatch = tuple(mask_shape[:-2])
    count = int(np.prod(mbatch, dtype=np.int64))
    ids = np.arange(count, dtype=np.int64).reshape(mbatch) if mbatch else np.zeros((), dtype=np.int64)
    return np.ascontiguousarray(np.broadcast_to(ids, batch).reshape(-1))


def _causal_bool(n_q: int, n_k: int, like: Tensor) -> Tensor:
    keep = np.tril(np.ones((n_q, n_k), dtype=np.bool_))
    return creation.shape_constant(keep, device=like.device)


def _composed_softmax(scores: Tensor, fmask, bmask, scale: float, causal: bool) -> Tensor:
    """The masked softmax with tensor ops (devices without the fused kernel)."""
    logits = scores * scale
    if fmask is not None:
        logits = logits + fmask
    keep = bmask
    if causal:
        tri = _causal_bool(scores.shape[-2], scores.shape[-1], scores)
        keep = tri if keep is None else keep.logical_and(tri)
    if keep is not None:
        logits = logits.masked_fill(keep.logical_not(), -math.inf)
    if keep is None and fmask is None:
        return softmax(logits, dim=-1)
    # a row whose every key is masked gives zeros (PyTorch's safe softmax, the fused kernel's rule); the -inf
    # entries become the most negative finite value first, whose exp is 0 as well, so that no softmax kernel
    # sees a row of -inf
    dead = logits.amax(-1, keepdim=True) == -math.inf
    logits = logits.clamp_min(float(np.finfo(logits.dtype.name).min))
    return softmax(logits, dim=-1).masked_fill(dead, 0.0)


def _attention_probs(query: Tensor, key: Tensor, attn_mask: Optional[Tensor], is_causal: bool,
                     scale: float) -> Tensor:
    """softmax(scale * q @ k^T + mask) with PyTorch's SDPA mask conventions (boolean: keep where True)."""
    scores = query.matmul(key.transpose(-2, -1))
    fmask = bmask = None
    if attn_mask is not None:
        shape = tuple(scores.shape)
        try:
            full = np.broadcast_shapes(tuple(attn_mask.shape), shape)
        except ValueError:
            full = None
        if full != shape:
            raise RuntimeError(
                f"scaled_dot_product_attention(): attn_mask of shape {list(attn_mask.shape)} does not broadcast "
                f"to the attention scores' shape {list(shape)} (batch..., L, S)"
            )
        if attn_mask.dtype == _dtypes.bool_:
            bmask = attn_mask
        else:
            fmask = attn_mask if attn_mask.dtype == scores.dtype else attn_mask.to(scores.dtype)
    if backend.attention_softmax_kernels(scores._data) is None:
        return _composed_softmax(scores, fmask, bmask, scale, is_causal)
    batch = tuple(scores.shape[:-2])
    mask = fmask if fmask is not None else bmask
    if mask is not None:
        mshape = (1,) * (scores.ndim - mask.ndim) + tuple(mask.shape)
        mask = mask.reshape(mshape)
        if fmask is not None:
            fmask = mask
        slab = _mask_slabs(mshape, batch)
    else:
        slab = np.zeros(max(int(np.prod(batch, dtype=np.int64)), 1), dtype=np.int64)
    bm = None if bmask is None else _arr(mask).reshape(
        (-1,) + tuple(mask.shape[-2:]))
    return _MaskedSoftmax.apply(scores, fmask, bm, slab, float(scale), bool(is_causal))


def _check_qkv(query, key, value, op: str) -> None:
    for name, t in (("query", query), ("key", key), ("value", value)):
        _check_tensor(t, name, op)
        if t.ndim < 2:
            raise RuntimeError(f"{op}(): expected {name} to have at least 2 dimensions (..., seq, features), "
                               f"but got {name} of size {list(t.shape)}")
    if not (query.dtype == key.dtype == value.dtype):
        raise RuntimeError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{_scalar_name(query.dtype).lower()} key.dtype: {_scalar_name(key.dtype).lower()} and value.dtype: "
            f"{_scalar_name(value.dtype).lower()} instead."
        )
    if query.dtype not in (_dtypes.float32, _dtypes.float64):
        raise RuntimeError(f"{op}(): expected float32 or float64 query, key and value, got {query.dtype}")
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(f"{op}(): query and key must have the same embedding size (last dim), but got query "
                           f"of size {list(query.shape)} and key of size {list(key.shape)}")
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"{op}(): key and value must have the same sequence length (dim -2), but got key of "
                           f"size {list(key.shape)} and value of size {list(value.shape)}")


def _repeat_heads(t: Tensor, repeats: int) -> Tensor:
    """``t.repeat_interleave(repeats, dim=-3)`` as views and one copy."""
    shape = tuple(t.shape)
    expanded = t.unsqueeze(-3).expand(*shape[:-2], repeats, *shape[-2:])
    return expanded.reshape(*shape[:-3], shape[-3] * repeats, *shape[-2:])


@autocast_op
def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Optional[Tensor] = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: Optional[float] = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(q @ k^T * scale + mask) @ v`` over query ``(..., L, E)``, key ``(..., S, E)``, value ``(..., S, Ev)``.

    ``attn_mask``: boolean (True = take part) or float (added to the scores), broadcast to ``(..., L, S)``;
    ``is_causal``: query ``i`` sees keys ``0..i``; ``scale`` defaults to ``1 / sqrt(E)``; ``dropout_p`` drops
    attention weights (always, as in PyTorch: pass 0.0 in evaluation); ``enable_gqa`` repeats key/value heads
    (dim -3) to the query's head count.  The masked, scaled softmax is one fused kernel each way.

    >>> import numgrad as ng
    >>> q = ng.ones(2, 4, 8)
    >>> ng.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True).shape
    (2, 4, 8)
    """
    op = "scaled_dot_product_attention"
    _check_qkv(query, key, value, op)
    if attn_mask is not None:
        _check_tensor(attn_mask, "attn_mask", op)
        if is_causal:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when "
                               "is_causal=True")
        if attn_mask.dtype != _dtypes.bool_ and not attn_mask.dtype.is_floating_point:
            raise RuntimeError(f"Expected attn_mask dtype to be bool or float or to match query dtype, but got "
                               f"attn_mask.dtype: {attn_mask.dtype} and query.dtype: {query.dtype} instead.")
    if not isinstance(dropout_p, numbers.Real) or not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")
    if enable_gqa and query.ndim >= 3 and key.ndim >= 3 and query.shape[-3] != key.shape[-3]:
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hq % hk or hq % hv:
            raise RuntimeError(f"scaled_dot_product_attention(): enable_gqa needs the number of query heads "
                               f"({hq}) to be a multiple of the key ({hk}) and value ({hv}) heads")
        key, value = _repeat_heads(key, hq // hk), _repeat_heads(value, hq // hv)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    p = _attention_probs(query, key, attn_mask, bool(is_causal), scale)
    if dropout_p > 0.0:
        p = dropout(p, dropout_p, True)
    return p.matmul(value)


# ------------------------------------------------------------------ multi-head attention (nn.MultiheadAttention)
def _canonical_mask(mask: Optional[Tensor], name: str, like: Tensor) -> Optional[Tensor]:
    """PyTorch's MHA mask convention (boolean: True = do NOT attend) as an additive float mask."""
    if mask is None:
        return None
    _check_tensor(mask, name, "multi_head_attention_forward")
    if mask.dtype == _dtypes.bool_:
        return creation.zeros(*mask.shape, dtype=like.dtype, device=like.device).masked_fill(mask, -math.inf)
    if not mask.dtype.is_floating_point:
        raise AssertionError(f"only bool and floating types of {name} are supported")
    return mask if mask.dtype == like.dtype else mask.to(like.dtype)


def _to_heads(t: Tensor, batch_first: bool, bsz: int, num_heads: int, head_dim: int) -> Tensor:
    """A projected ``(N, S, E)`` (batch first) or ``(S, N, E)`` tensor as a contiguous ``(N, H, S, head_dim)`` stack:
    one copy, which the batched products then read without another."""
    if batch_first:
        return t.reshape(bsz, t.shape[1], num_heads, head_dim).permute(0, 2, 1, 3).contiguous()
    return t.reshape(t.shape[0], bsz, num_heads, head_dim).permute(1, 2, 0, 3).contiguous()


def _project_heads(query, key, value, num_heads, head_dim, batch_first, in_proj_weight, in_proj_bias,
                   use_separate_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight, bias_k, bias_v):
    """The input projections as ``(N, H, S, head_dim)`` stacks (bias_k / bias_v appended to the key/value
    sequence before the split, as PyTorch)."""
    e = query.shape[-1]
    bsz = query.shape[0 if batch_first else 1]
    seq_dim = 1 if batch_first else 0
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        if query is key and key is value and bias_k is None:
            # self-attention: one product for q, k and v, and one copy into (3, N, H, S, head_dim)
            proj = linear(query, in_proj_weight, in_proj_bias)
            if batch_first:
                qkv = proj.reshape(bsz, proj.shape[1], 3, num_heads, head_dim).permute(2, 0, 3, 1, 4)
            else:
                qkv = proj.reshape(proj.shape[0], bsz, 3, num_heads, head_dim).permute(2, 1, 3, 0, 4)
            q, k, v = qkv.contiguous().unbind(0)
            return q, k, v
        w_q, w_k, w_v = in_proj_weight.chunk(3)
    else:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is True but q_proj_weight, k_proj_weight or "
                                 "v_proj_weight is None")
        w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
    b_q = b_k = b_v = None
    if in_proj_bias is not None:
        b_q, b_k, b_v = in_proj_bias.chunk(3)
    for name, w, t in (("query", w_q, query), ("key", w_k, key), ("value", w_v, value)):
        if tuple(w.shape) != (e, t.shape[-1]):
            raise AssertionError(f"expecting {name} weights shape of {(e, t.shape[-1])}, but got {tuple(w.shape)}")
    q, k, v = linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)
    if bias_k is not None:
        shape = (bsz, 1, e) if batch_first else (1, bsz, e)
        k = cat([k, bias_k.reshape(1, 1, e).expand(*shape)], dim=seq_dim)
        v = cat([v, bias_v.reshape(1, 1, e).expand(*shape)], dim=seq_dim)
    return tuple(_to_heads(t, batch_first, bsz, num_heads, head_dim) for t in (q, k, v))


def multi_head_attention_forward(
        query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int,
        in_proj_weight: Optional[Tensor], in_proj_bias: Optional[Tensor], bias_k: Optional[Tensor],
        bias_v: Optional[Tensor], add_zero_attn: bool, dropout_p: float, out_proj_weight: Tensor,
        out_proj_bias: Optional[Tensor], training: bool = True, key_padding_mask: Optional[Tensor] = None,
        need_weights: bool = True, attn_mask: Optional[Tensor] = None, use_separate_proj_weight: bool = False,
        q_proj_weight: Optional[Tensor] = None, k_proj_weight: Optional[Tensor] = None,
        v_proj_weight: Optional[Tensor] = None, static_k: Optional[Tensor] = None,
        static_v: Optional[Tensor] = None, average_attn_weights: bool = True,
        is_causal: bool = False) -> Tuple[Tensor, Optional[Tensor]]:
    """PyTorch's ``F.multi_head_attention_forward``: sequence-first ``(L, N, E)`` (or unbatched ``(L, E)``) query,
    key ``(S, N, kdim)``, value ``(S, N, vdim)``; returns ``(attn_output, attn_weights or None)``.

    Masks follow ``nn.MultiheadAttention``: boolean True means *not* attended; float masks are added.

    >>> import numgrad as ng
    >>> x = ng.ones(3, 2, 4)
    >>> w, b = ng.ones(12, 4) * 0.1, ng.zeros(12)
    >>> out, weights = ng.nn.functional.multi_head_attention_forward(
    ...     x, x, x, 4, 2, w, b, None, None, False, 0.0, ng.ones(4, 4), None)
    >>> out.shape, weights.shape
    ((3, 2, 4), (2, 3, 3))
    """
    return multi_head_attention(
        query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v,
        add_zero_attn, dropout_p, out_proj_weight, out_proj_bias, training, key_padding_mask, need_weights,
        attn_mask, use_separate_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight, static_k, static_v,
        average_attn_weights, is_causal, batch_first=False)


def multi_head_attention(
        query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int,
        in_proj_weight: Optional[Tensor], in_proj_bias: Optional[Tensor], bias_k: Optional[Tensor],
        bias_v: Optional[Tensor], add_zero_attn: bool, dropout_p: float, out_proj_weight: Tensor,
        out_proj_bias: Optional[Tensor], training: bool = True, key_padding_mask: Optional[Tensor] = None,
        need_weights: bool = True, attn_mask: Optional[Tensor] = None, use_separate_proj_weight: bool = False,
        q_proj_weight: Optional[Tensor] = None, k_proj_weight: Optional[Tensor] = None,
        v_proj_weight: Optional[Tensor] = None, static_k: Optional[Tensor] = None,
        static_v: Optional[Tensor] = None, average_attn_weights: bool = True, is_causal: bool = False, *,
        batch_first: bool = False) -> Tuple[Tensor, Optional[Tensor]]:
    """``multi_head_attention_forward`` that also takes batch-first ``(N, L, E)`` input (``batch_first=True``,
    what ``nn.MultiheadAttention(batch_first=True)`` calls): the heads are split out of either layout with one
    copy, so batch-first input is never transposed to sequence-first and back.

    >>> import numgrad as ng
    >>> x = ng.ones(2, 3, 4)
    >>> out, _ = ng.nn.functional.attention.multi_head_attention(
    ...     x, x, x, 4, 2, ng.ones(12, 4), None, None, None, False, 0.0, ng.ones(4, 4), None, batch_first=True)
    >>> out.shape
    (2, 3, 4)
    """
    op = "multi_head_attention_forward"
    for name, t in (("query", query), ("key", key), ("value", value)):
        _check_tensor(t, name, op)
    batched = query.ndim == 3
    if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
        raise AssertionError(
            f"query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D query tensor"
            if query.ndim not in (2, 3) else
            f"For {'batched' if batched else 'unbatched'} ({query.ndim}-D) `query`, expected `key` and `value` "
            f"to be {query.ndim}-D but found {key.ndim}-D and {value.ndim}-D tensors respectively"
        )
    if key_padding_mask is not None:
        want = 2 if batched else 1
        if key_padding_mask.ndim != want:
            raise AssertionError(
                f"For {'batched' if batched else 'unbatched'} ({query.ndim}-D) `query`, expected "
                f"`key_padding_mask` to be `None` or {want}-D but found {key_padding_mask.ndim}-D tensor instead")
    if not batched:
        # keep q is k is v (one fused projection) through the unsqueeze
        same_kv = key is value
        same_qk = query is key
        query = query.unsqueeze(1)
        key = query if same_qk else key.unsqueeze(1)
        value = key if same_kv else value.unsqueeze(1)
        batch_first = False
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    if batch_first:
        bsz, tgt_len, embed_dim = query.shape
        src_len = key.shape[1]
    else:
        tgt_len, bsz, embed_dim = query.shape
        src_len = key.shape[0]
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if key.shape[:2] != value.shape[:2]:
        raise AssertionError(f"key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)}")

    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    attn_mask = _canonical_mask(attn_mask, "attn_mask", query)
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", query)
    if is_causal and key_padding_mask is None and not need_weights:
        # the mask is the causal triangle (the caller's promise): the kernel draws it instead
        attn_mask = None
    else:
        is_causal = False
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, but should be "
                                   f"{(tgt_len, src_len)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, but should be "
                                   f"{(bsz * num_heads, tgt_len, src_len)}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")
    if (bias_k is None) != (bias_v is None):
        raise AssertionError("bias_k and bias_v must both be given or both be None")
    if bias_k is not None and (static_k is not None or static_v is not None):
        raise AssertionError("bias cannot be added to static key/value.")

    q, k, v = _project_heads(query, key, value, num_heads, head_dim, batch_first, in_proj_weight, in_proj_bias,
                             use_separate_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight, bias_k, bias_v)
    if bias_k is not None:
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))
    # static keys/values come as (N * H, S, head_dim), PyTorch's layout; a 3-D attn_mask indexes N * H the same way
    for name, static in (("static_k", static_k), ("static_v", static_v)):
        if static is not None and (static.ndim != 3 or static.shape[0] != bsz * num_heads
                                   or static.shape[2] != head_dim):
            raise AssertionError(f"expecting {name} of shape ({bsz * num_heads}, S, {head_dim}), but got "
                                 f"{tuple(static.shape)}")
    if static_k is not None:
        k = static_k.reshape(bsz, num_heads, static_k.shape[1], head_dim)
    if static_v is not None:
        v = static_v.reshape(bsz, num_heads, static_v.shape[1], head_dim)
    if add_zero_attn:
        zeros = creation.zeros(bsz, num_heads, 1, head_dim, dtype=q.dtype, device=q.device)
        k, v = cat([k, zeros], dim=2), cat([v, zeros], dim=2)
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))
    src_len = k.shape[2]
    if key_padding_mask is not None and tuple(key_padding_mask.shape) != (bsz, src_len):
        raise AssertionError(f"expecting key_padding_mask shape of {(bsz, src_len)}, but got "
                             f"{tuple(key_padding_mask.shape)}")

    # masks as (N or 1, H or 1, L or 1, S): a (1, L, S) mask and an (N, S) padding mask broadcast, not copy
    mask = None
    if attn_mask is not None:
        mask = attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1 else attn_mask.reshape(
            bsz, num_heads, tgt_len, src_len)
    if key_padding_mask is not None:
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len)
        mask = kpm if mask is None else mask + kpm
    if not training:
        dropout_p = 0.0
    p = _attention_probs(q, k, mask, bool(is_causal), 1.0 / math.sqrt(head_dim))
    if dropout_p > 0.0:
        p = dropout(p, dropout_p, True)
    out = p.matmul(v)  # (N, H, L, head_dim)
    if batch_first:
        out = out.permute(0, 2, 1, 3).reshape(bsz * tgt_len, embed_dim)
        out = linear(out, out_proj_weight, out_proj_bias).reshape(bsz, tgt_len, embed_dim)
    else:
        out = out.permute(2, 0, 1, 3).reshape(tgt_len * bsz, embed_dim)
        out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
    weights = None
    if need_weights:
        weights = p.mean(1) if average_attn_weights else p
    if not batched:
        out = out.squeeze(1)
        if weights is not None:
            weights = weights.squeeze(0)
    return out, weights
