"""ONNX spellings of the ``Function`` ops a forward pass records (linear, conv, norms, pools, views, reductions).

A rule is called as ``rule(lowering, node, args)``: ``lowering.inp(i)`` is the
value name of the call's tensor argument ``i`` (``None`` for a missing optional
tensor), ``args`` the call's arguments as ``Function.apply`` received them, and
``node.ctx._out_meta`` the outputs' shapes and dtypes. It returns one value name
per output (``None`` for outputs that cannot be exported, such as max-pool
indices).
"""
from __future__ import annotations

import numpy as np

from ..nn.functional.activation import _Softmax
from ..nn.functional.attention import _MaskedSoftmax
from ..nn.functional.affine import _Linear
from ..nn.functional.conv import _Conv2d, _ConvTranspose2d
from ..nn.functional.normalization import _BatchNorm, _LayerNorm
from ..nn.functional.pooling import _AdaptiveAvgPool2d, _AvgPool2d, _MaxPool2d, _pool_out
from ..nn.functional.rnn import _RecurrentLayer
from ..nn.functional.sparse import _Embedding
from ..ops.indexing import Gather, Index
from ..ops.linalg import Matmul
from ..ops.reductions import Cumsum, LogSumExp, Norm, Prod, _Extreme, _ExtremeWithIndex, _VarStd
from ..ops.shape import Cat, ConstantPad, Flip, Repeat, Split, Unbind
from ..ops.sum_mean import Mean, Sum
from ..ops.views import Contiguous, Expand, Permute, Reshape


def _out(node, i: int = 0):
    shape, dtype, _ = node.ctx._out_meta[i]
    return dtype.np, shape


def _linear(lw, node, args):
    x, w, b = args
    dt, shape = _out(node)
    xi, wi = lw.inp(0), lw.inp(1)
    bi = lw.inp(2) if b is not None else None
    if x.ndim == 2:  # PyTorch's exporter writes Gemm for a 2-D linear
        return [lw.b.op("Gemm", [xi, wi] + ([bi] if bi else []), dt, shape, transB=1)]
    wt = lw.b.op("Transpose", [wi], dt, (w.shape[1], w.shape[0]), perm=[1, 0])
    y = lw.b.op("MatMul", [xi, wt], dt, shape)
    return [lw.b.op("Add", [y, bi], dt, shape) if bi else y]


def _matmul(lw, node, args):
    dt, shape = _out(node)
    return [lw.b.op("MatMul", [lw.inp(0), lw.inp(1)], dt, shape)]


def _conv(lw, node, args):
    x, w, b, geo = args
    sh, sw, ph, pw, dh, dw, groups = geo
    dt, shape = _out(node)
    ins = [lw.inp(0), lw.inp(1)] + ([lw.inp(2)] if b is not None else [])
    return [lw.b.op("Conv", ins, dt, shape, kernel_shape=list(w.shape[2:]), strides=[sh, sw],
                    pads=[ph, pw, ph, pw], dilations=[dh, dw], group=groups)]


def _conv_transpose(lw, node, args):
    x, w, out_shape, geo = args
    sh, sw, ph, pw, dh, dw, groups = geo
    kh, kw = w.shape[2:]
    # output_padding is what the output size has beyond the plain transposed-convolution size
    oph = out_shape[2] - ((x.shape[2] - 1) * sh - 2 * ph + dh * (kh - 1) + 1)
    opw = out_shape[3] - ((x.shape[3] - 1) * sw - 2 * pw + dw * (kw - 1) + 1)
    dt, shape = _out(node)
    return [lw.b.op("ConvTranspose", [lw.inp(0), lw.inp(1)], dt, shape, kernel_shape=[kh, kw], strides=[sh, sw],
                    pads=[ph, pw, ph, pw], dilations=[dh, dw], group=groups, output_padding=[oph, opw])]


def _batch_norm(lw, node, args):
    x, weight, bias, running_mean, running_var, training, momentum, eps = args
    if training:
        lw.unsupported(node, "batch normalization with batch statistics (training mode); export the module in "
                             "eval mode (the default, training=TrainingMode.EVAL) to use its running statistics")
    dt, shape = _out(node)
    c = x.shape[1]
    scale = lw.inp(1) if weight is not None else lw.b.const(np.ones(c), dt, "bn_scale")
    shift = lw.inp(2) if bias is not None else lw.b.const(np.zeros(c), dt, "bn_bias")
    return [lw.b.op("BatchNormalization", [lw.inp(0), scale, shift, lw.inp(3), lw.inp(4)], dt, shape,
                    epsilon=float(eps))]


def _layer_norm(lw, node, args):
    x, weight, bias, d, eps = args
    dt, shape = _out(node)
    if weight is not None:
        k = weight.ndim
    else:  # the fewest trailing dims holding d elements (trailing size-1 dims do not change the result)
        k, n = 0, 1
        while (n != d or k == 0) and k < x.ndim:
            k += 1
            n *= x.shape[-k]
    norm_shape = tuple(x.shape[-k:])
    scale = lw.inp(1) if weight is not None else lw.b.const(np.ones(norm_shape), dt, "ln_scale")
    ins = [lw.inp(0), scale] + ([lw.inp(2)] if bias is not None else [])
    return [lw.b.op("LayerNormalization", ins, dt, shape, axis=-k, epsilon=float(eps))]


def _max_pool(lw, node, args):
    x, geo, out_hw = args
    kh, kw, sh, sw, ph, pw, dh, dw = geo
    ceil = out_hw[0] != _pool_out(x.shape[2], kh, sh, ph, dh, False) or \
        out_hw[1] != _pool_out(x.shape[3], kw, sw, pw, dw, False)
    dt, shape = _out(node)
    y = lw.b.op("MaxPool", [lw.inp(0)], dt, shape, kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw],
                dilations=[dh, dw], ceil_mode=int(ceil))
    return [y, None]  # the indices output: see Lowering.output_value


def _avg_pool(lw, node, args):
    x, geo, out_hw = args
    kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override = geo
    if divisor_override:
        lw.unsupported(node, "avg_pool2d with divisor_override")
    ceil = out_hw[0] != _pool_out(x.shape[2], kh, sh, ph, 1, False) or \
        out_hw[1] != _pool_out(x.shape[3], kw, sw, pw, 1, False)
    dt, shape = _out(node)
    return [lw.b.op("AveragePool", [lw.inp(0)], dt, shape, kernel_shape=[kh, kw], strides=[sh, sw],
                    pads=[ph, pw, ph, pw], ceil_mode=int(ceil), count_include_pad=int(count_include_pad))]


def _adaptive_avg_pool(lw, node, args):
    x, out_hw = args
    dt, shape = _out(node)
    if tuple(out_hw) == (1, 1):
        return [lw.b.op("GlobalAveragePool", [lw.inp(0)], dt, shape)]
    h, w = x.shape[2:]
    oh, ow = out_hw
    if h % oh or w % ow:
        lw.unsupported(node, f"adaptive_avg_pool2d from {h}x{w} to {oh}x{ow} (only sizes that divide the input "
                             "have a fixed ONNX pooling window)")
    return [lw.b.op("AveragePool", [lw.inp(0)], dt, shape, kernel_shape=[h // oh, w // ow],
                    strides=[h // oh, w // ow])]


def _softmax(lw, node, args):
    x, dim, log = args
    dt, shape = _out(node)
    return [lw.b.op("LogSoftmax" if log else "Softmax", [lw.inp(0)], dt, shape, axis=int(dim))]


def _dims_of(b, value: str, start: int, end: int) -> str:
    """The runtime sizes of ``value``'s dims ``start:end`` (a 1-D int64 tensor)."""
    return b.op("Shape", [value], np.int64, (end - start,), start=start, end=end)


def _reshape(lw, node, args):
    x, target, _ = args
    dt, shape = _out(node)
    b = lw.b
    xi = lw.inp(0)
    target = tuple(target)
    # Flattening the leading dims and undoing it later (linear on N-D input, attention's batch x heads) take the
    # sizes from the tensors at runtime, so that any of those dims may be a dynamic axis.
    lead = b.lead.get(xi)
    if lead is not None and 0 not in target:
        src, k = lead
        if target[:k] == b.shapes[src][:k] and target[k:] == tuple(x.shape[1:]):
            parts = [_dims_of(b, src, 0, k)] + ([_dims_of(b, xi, 1, x.ndim)] if x.ndim > 1 else [])
            spec = b.op("Concat", parts, np.int64, (len(target),), axis=0) if len(parts) > 1 else parts[0]
            return [b.op("Reshape", [xi, spec], dt, shape)]
    groups = _merged_groups(tuple(x.shape), target)
    if groups is not None and any(j - i > 1 for i, j in groups):
        # each target dim is the product of consecutive input dims: multiply the runtime sizes
        parts = []
        for i, j in groups:
            dims = _dims_of(b, xi, i, j)
            parts.append(dims if j - i == 1 else b.reduce("ReduceProd", dims, [0], True, np.int64, (1,)))
        spec = b.op("Concat", parts, np.int64, (len(target),), axis=0) if len(parts) > 1 else parts[0]
        out = b.op("Reshape", [xi, spec], dt, shape)
        if groups[0][1] > 1:
            b.lead[out] = (xi, groups[0][1])  # its dim 0 is xi's leading dims: a later reshape may split them again
        return [out]
    ones = _size_one_moves(tuple(x.shape), target)
    if ones is not None:  # only size-1 dims come or go: Squeeze/Unsqueeze keep every other dim as it runs
        removed, inserted = ones
        value = xi
        if removed:
            kept = tuple(n for i, n in enumerate(x.shape) if i not in removed)
            value = b.op("Squeeze", [value, lw.constant(removed, np.int64, "axes")], dt, kept)
        if inserted:
            value = b.op("Unsqueeze", [value, lw.constant(inserted, np.int64, "axes")], dt, shape)
        return [value if value != xi else b.op("Identity", [xi], dt, shape)]
    return [_plain_reshape(lw, x, xi, target, dt, shape)]


def _size_one_moves(shape: tuple, target: tuple):
    """``(removed input dims, inserted target dims)`` when ``target`` is ``shape`` with size-1 dims removed and
    inserted, else None."""
    i = j = 0
    removed, inserted = [], []
    while i < len(shape) or j < len(target):
        if i < len(shape) and j < len(target) and shape[i] == target[j]:
            i, j = i + 1, j + 1
        elif j < len(target) and target[j] == 1:
            inserted.append(j)
            j += 1
        elif i < len(shape) and shape[i] == 1:
            removed.append(i)
            i += 1
        else:
            return None
    return removed, inserted


def _merged_groups(shape: tuple, target: tuple):
    """``[(start, end), ...]``, one run of consecutive dims of ``shape`` per dim of ``target`` whose product it
    is, or None when ``target`` is not such a merge (it splits a dim, or sizes are 0)."""
    if 0 in shape or not target:
        return None
    groups, i = [], 0
    for t in target:
        if i >= len(shape):
            return None
        j, p = i + 1, shape[i]
        while p < t and j < len(shape):
            p *= shape[j]
            j += 1
        if p != t:
            return None
        groups.append((i, j))
        i = j
    if any(n != 1 for n in shape[i:]):
        return None
    groups[-1] = (groups[-1][0], len(shape))  # trailing size-1 dims join the last group
    return groups


def _plain_reshape(lw, x, xi, target, dt, shape):
    # The target holds for any size of the input's leading dims (dynamic axes): dims equal to the input's
    # leading ones are 0 ("copy from the input"), and the first remaining dim is -1 (inferred) unless the tensor
    # is empty.
    spec = list(target)
    prefix = 0
    while prefix < min(len(target), x.ndim) and target[prefix] == x.shape[prefix]:
        spec[prefix] = 0
        prefix += 1
    if prefix < len(spec) and 0 not in target:
        spec[prefix] = -1
    return lw.b.op("Reshape", [xi, lw.constant(spec, np.int64, "shape")], dt, shape)


def _expand(lw, node, args):
    x, target = args
    dt, shape = _out(node)
    # 1 where the input already has the size: Expand then keeps the input's (possibly dynamic) size
    off = len(target) - x.ndim
    spec = [1 if i >= off and x.shape[i - off] == s else s for i, s in enumerate(target)]
    return [lw.b.op("Expand", [lw.inp(0), lw.constant(spec, np.int64, "shape")], dt, shape)]


def _permute(lw, node, args):
    dt, shape = _out(node)
    return [lw.b.op("Transpose", [lw.inp(0)], dt, shape, perm=[int(d) for d in args[1]])]


def _identity(lw, node, args):
    dt, shape = _out(node)
    return [lw.b.op("Identity", [lw.inp(0)], dt, shape)]


def _reduction(op_type):
    def rule(lw, node, args):
        x, dims, keepdim = args[:3]
        dt, shape = _out(node)
        if not dims:
            return [lw.b.cast(lw.inp(0), dt)]
        y = lw.b.reduce(op_type, lw.b.cast(lw.inp(0), dt), dims, keepdim, dt, shape)
        return [y]
    return rule


def _extreme(lw, node, args):
    x, dims, keepdim, reducer, _ = args
    return _reduction("ReduceMax" if reducer == "amax" else "ReduceMin")(lw, node, (x, dims, keepdim))


def _extreme_with_index(lw, node, args):
    x, dims, keepdim, kind = args
    values = _reduction("ReduceMax" if kind == "max" else "ReduceMin")(lw, node, (x, dims, keepdim))
    return values + [None]  # the indices record no graph node: a use of them is a frozen value (export refuses)


def _cat(lw, node, args):
    dt, shape = _out(node)
    dim = args[0]
    parts = [lw.b.cast(lw.inp(i), dt) for i, t in enumerate(args) if i > 0 and not (t.ndim == 1 and t.shape[0] == 0)]
    out = lw.b.op("Concat", parts, dt, shape, axis=int(dim))
    if dim != 0:  # rows are kept
        lw.keep_lead(out, parts)
    return [out]


def _index(lw, node, args):
    x, plan = args
    b = lw.b
    dt, _ = _out(node)
    value, shape = lw.inp(0), list(x.shape)
    dim = 0
    for item in plan.basic:
        if item is None:
            shape.insert(dim, 1)
            value = b.op("Unsqueeze", [value, b.ints([dim], "axes")], dt, tuple(shape))
            dim += 1
        elif isinstance(item, slice):
            start, stop, step = item.indices(shape[dim])
            new_size = len(range(start, stop, step))
            if item.start not in (None, 0) or item.stop is not None or item.step not in (None, 1):
                # the slice as written: open ends and negative positions then hold for any size of the dim
                start = 0 if item.start is None else int(item.start)
                stop = np.iinfo(np.int64).max if item.stop is None else int(item.stop)
                shape[dim] = new_size
                value = b.op("Slice", [value, lw.constant([start], np.int64, "starts"),
                                       lw.constant([stop], np.int64, "ends"), b.ints([dim], "axes"),
                                       b.ints([step], "steps")], dt, tuple(shape))
            dim += 1
        else:
            del shape[dim]
            value = b.op("Gather", [value, lw.constant(int(item), np.int64, "index")], dt, tuple(shape), axis=dim)
    if plan.adv:
        if len(plan.adv) != 1:
            lw.unsupported(node, "advanced indexing with more than one index tensor")
        (adv_dim, idx), = plan.adv
        value = b.op("Gather", [value, lw.constant(np.asarray(idx), np.int64, "indices")], dt,
                     _out(node)[1], axis=adv_dim)
    return [value]


def _embedding(lw, node, args):
    dt, shape = _out(node)
    return [lw.b.op("Gather", [lw.inp(1), lw.b.cast(lw.inp(0), np.int64)], dt, shape, axis=0)]


def _split(lw, node, args):
    x, dim, sizes, _ = args
    dt = x.dtype.np
    shapes = [x.shape[:dim] + (n,) + x.shape[dim + 1:] for n in sizes]
    return lw.b.multi("Split", [lw.inp(0), lw.constant(sizes, np.int64, "split")], dt, shapes, axis=int(dim))


def _unbind(lw, node, args):
    x, dim = args
    b, dt = lw.b, x.dtype.np
    n = x.shape[dim]
    pieces = b.multi("Split", [lw.inp(0), lw.constant([1] * n, np.int64, "split")], dt,
                     [x.shape[:dim] + (1,) + x.shape[dim + 1:]] * n, axis=int(dim))
    return [b.op("Squeeze", [p, b.ints([dim], "axes")], dt, x.shape[:dim] + x.shape[dim + 1:]) for p in pieces]


def _flip(lw, node, args):
    x, dims = args
    b = lw.b
    dt, shape = _out(node)
    k = len(dims)
    return [b.op("Slice", [lw.inp(0), b.ints([-1] * k, "starts"), b.ints([np.iinfo(np.int64).min] * k, "ends"),
                           b.ints(dims, "axes"), b.ints([-1] * k, "steps")], dt, shape)]


def _repeat(lw, node, args):
    x, repeats = args
    b = lw.b
    dt, shape = _out(node)
    xi = lw.inp(0)
    if len(repeats) > x.ndim:  # PyTorch's repeat adds leading dims of size 1 first
        padded = (1,) * (len(repeats) - x.ndim) + tuple(x.shape)
        xi = b.op("Unsqueeze", [xi, b.ints(range(len(repeats) - x.ndim), "axes")], dt, padded)
    return [b.op("Tile", [xi, b.ints(repeats, "repeats")], dt, shape)]


def _constant_pad(lw, node, args):
    x, pairs, value = args
    b = lw.b
    dt, shape = _out(node)
    lo = [p[0] if p else 0 for p in pairs] + [0] * (x.ndim - len(pairs))
    hi = [p[1] if p else 0 for p in pairs] + [0] * (x.ndim - len(pairs))
    return [b.op("Pad", [lw.inp(0), b.ints(lo + hi, "pads"), lw.constant(value, dt, "pad_value")], dt, shape,
                 mode="constant")]


def _gather(lw, node, args):
    x, dim, index = args
    dt, shape = _out(node)
    return [lw.b.op("GatherElements", [lw.inp(0), lw.b.cast(lw.inp(2), np.int64)], dt, shape, axis=int(dim))]


def _prod(lw, node, args):
    x, dims, keepdim, _ = args
    return _reduction("ReduceProd")(lw, node, (x, dims, keepdim))


def _logsumexp(lw, node, args):
    return _reduction("ReduceLogSumExp")(lw, node, args)


def _norm(lw, node, args):
    x, dims, keepdim, p = args
    op_type = {1: "ReduceL1", 2: "ReduceL2"}.get(p)
    if op_type is None:
        lw.unsupported(node, f"vector norm of order {p} (orders 1 and 2 have ONNX reductions)")
    return _reduction(op_type)(lw, node, (x, dims, keepdim))


def _var_std(lw, node, args):
    x, dims, correction, keepdim, take_sqrt = args
    b = lw.b
    dt, shape = _out(node)
    count = int(np.prod([x.shape[d] for d in dims], dtype=np.int64))
    kept = tuple(1 if i in dims else n for i, n in enumerate(x.shape))
    xi = lw.inp(0)
    mean = b.reduce("ReduceMean", xi, dims, True, dt, kept)
    dev = b.op("Sub", [xi, mean], dt, x.shape)
    total = b.reduce("ReduceSum", b.op("Mul", [dev, dev], dt, x.shape), dims, keepdim, dt, shape)
    var = b.op("Div", [total, b.const(max(0.0, count - correction), dt, "dof")], dt, shape)
    return [b.op("Sqrt", [var], dt, shape) if take_sqrt else var]


def _cumsum(lw, node, args):
    x, dims, acc, reverse = args
    if len(dims) != 1:
        lw.unsupported(node, "a cumulative sum over several dims")
    dt, shape = _out(node)
    xi = lw.b.cast(lw.inp(0), dt)
    return [lw.b.op("CumSum", [xi, lw.b.const(int(dims[0]), np.int64, "axis")], dt, shape, reverse=int(reverse))]


def _masked_softmax(lw, node, args):
    scores, fmask, bmask, slab, scale, causal = args
    b = lw.b
    dt, shape = _out(node)
    y = b.op("Mul", [lw.inp(0), b.const(scale, dt, "scale")], dt, shape)
    lowest = b.const(np.finfo(dt).min, dt, "lowest") if fmask is not None or bmask is not None or causal else None
    alive = None
    if fmask is not None:
        y = b.op("Add", [y, lw.inp(1)], dt, shape)
        # a row whose every key is masked gives zeros (numgrad's and PyTorch's safe softmax), not NaN
        top = b.reduce("ReduceMax", y, [len(shape) - 1], True, dt, tuple(shape[:-1]) + (1,))
        row = tuple(shape[:-1]) + (1,)
        dead = b.op("Equal", [top, b.const(-np.inf, dt, "neg_inf")], np.bool_, row)
        alive = b.op("Not", [dead], np.bool_, row)
    elif bmask is not None:
        batch = int(np.prod(shape[:-2], dtype=np.int64))
        if bmask.shape[0] == 1:
            keep = np.asarray(bmask).reshape(shape[-2:])
        elif bmask.shape[0] == batch:
            keep = np.asarray(bmask).reshape(shape)
        else:
            lw.unsupported(node, "a boolean attention mask broadcast over some batch dims only")
        alive = lw.constant(keep.any(-1, keepdims=True), np.bool_, "alive")
        y = b.op("Where", [lw.constant(keep, np.bool_, "attn_mask"), y, lowest], dt, shape)
    if causal:
        tril = np.tril(np.ones(shape[-2:], dtype=np.bool_))
        y = b.op("Where", [lw.constant(tril, np.bool_, "causal"), y, lowest], dt, shape)
    if fmask is not None:
        y = b.op("Max", [y, lowest], dt, shape)
    p = b.op("Softmax", [y], dt, shape, axis=-1)
    if alive is not None:
        p = b.op("Where", [alive, p, b.const(0.0, dt, "zero")], dt, shape)
    return [p]


# ONNX's gate order per mode, as blocks of PyTorch's: LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h
_GATE_BLOCKS = {"LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2), "RNN_TANH": (0,), "RNN_RELU": (0,)}


def _recurrent_layer(lw, node, args):
    """One direction of one layer as ONNX's LSTM/GRU/RNN over ``ig`` = the input's projection (already computed
    by a recorded linear, so the op's own input weight is a gate-reordering permutation)."""
    ig, w_hh, b_hh, w_hr, h0, c0, mode, batch_sizes, offsets, reverse = args
    if w_hr is not None:
        lw.unsupported(node, "an LSTM with proj_size")
    if np.any(batch_sizes != batch_sizes[0]):
        lw.unsupported(node, "a packed sequence of unequal lengths")
    b = lw.b
    dt = ig.dtype.np
    steps, batch, gates = len(batch_sizes), int(batch_sizes[0]), ig.shape[1]
    hidden = h0.shape[1]
    rows = np.concatenate([np.arange(k * hidden, (k + 1) * hidden) for k in _GATE_BLOCKS[mode]])
    ig_value = lw.inp(0)
    lead = b.lead.get(ig_value)
    if lead is not None and lead[1] == 2:  # (T*B, G) from a (T, B, ...) tensor: read T and B at runtime
        spec = b.op("Concat", [_dims_of(b, lead[0], 0, 2), b.ints([gates])], np.int64, (3,), axis=0)
    else:
        spec = lw.constant([steps, batch, gates], np.int64, "shape")
    x = b.op("Reshape", [ig_value, spec], dt, (steps, batch, gates))
    w = np.zeros((1, gates, gates), dt)
    w[0, np.arange(gates), rows] = 1
    order = b.ints(rows, "gate_rows")
    r = b.op("Unsqueeze", [b.op("Gather", [lw.inp(1), order], dt, (gates, hidden), axis=0), b.ints([0], "axes")],
             dt, (1, gates, hidden))
    rb = (b.op("Gather", [lw.inp(2), order], dt, (gates,), axis=0) if b_hh is not None
          else b.const(np.zeros(gates), dt, "zeros"))
    bias = b.op("Unsqueeze", [b.op("Concat", [b.const(np.zeros(gates), dt, "zeros"), rb], dt, (2 * gates,), axis=0),
                              b.ints([0], "axes")], dt, (1, 2 * gates))
    states = []
    for i, t in ((4, h0), (5, c0)):
        if t is None:
            continue
        if lw.is_zero_constant(i):
            states.append("")  # ONNX's default initial state is zeros, of whatever batch size runs
        else:
            states.append(b.op("Unsqueeze", [lw.inp(i), b.ints([0], "axes")], dt, (1,) + tuple(t.shape)))
    ins = [x, b.const(w, dt, "gate_order"), r, bias, ""] + states
    while ins[-1] == "":
        ins.pop()
    op_type = {"LSTM": "LSTM", "GRU": "GRU"}.get(mode, "RNN")
    attrs = {"hidden_size": hidden, "direction": "reverse" if reverse else "forward"}
    if op_type == "GRU":
        attrs["linear_before_reset"] = 1  # PyTorch's GRU: r multiplies (W_hn h + b_hn)
    if op_type == "RNN":
        attrs["activations"] = ["Relu" if mode == "RNN_RELU" else "Tanh"]
    n_out = 3 if op_type == "LSTM" else 2
    outs = b.multi(op_type, ins, dt, [(steps, 1, batch, hidden)] + [(1, batch, hidden)] * (n_out - 1), **attrs)
    y = b.op("Reshape", [outs[0], b.ints([-1, hidden])], dt, (steps * batch, hidden))
    if lead is not None:
        b.lead[y] = lead
    return [y] + [b.op("Squeeze", [o, b.ints([0], "axes")], dt, (batch, hidden)) for o in outs[1:]]


# ops whose output's dim 0 is their first input's dim 0 (see _Lowering.keep_lead)
ROW_PRESERVING = frozenset((_Linear, Matmul, _Softmax, _MaskedSoftmax, _LayerNorm, Contiguous))

FUNCTION_RULES = {
    _Linear: _linear, Matmul: _matmul, _Conv2d: _conv, _ConvTranspose2d: _conv_transpose,
    _BatchNorm: _batch_norm, _LayerNorm: _layer_norm, _MaxPool2d: _max_pool, _AvgPool2d: _avg_pool,
    _AdaptiveAvgPool2d: _adaptive_avg_pool, _Softmax: _softmax, Reshape: _reshape, Expand: _expand,
    Permute: _permute, Contiguous: _identity, Sum: _reduction("ReduceSum"), Mean: _reduction("ReduceMean"),
    _Extreme: _extreme, _ExtremeWithIndex: _extreme_with_index, Cat: _cat, Index: _index, _Embedding: _embedding, Split: _split, Unbind: _unbind,
    Flip: _flip, Repeat: _repeat, ConstantPad: _constant_pad, Gather: _gather, Prod: _prod,
    LogSumExp: _logsumexp, Norm: _norm, _VarStd: _var_std, Cumsum: _cumsum, _MaskedSoftmax: _masked_softmax,
    _RecurrentLayer: _recurrent_layer,
}
