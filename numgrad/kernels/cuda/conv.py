"""CUDA kernels of the layer ops: conv2d (im2col / col2im around the tiled matmul) and 2-D pooling.

Same contracts as ``kernels/cpu/conv.py``: ``(N, C, H, W)`` arrays, PyTorch's
geometry (stride, padding, dilation, ceil-mode output sizes computed by the ops
layer), max-pool indices flat within each ``H * W`` plane.  Each kernel is one
thread per output element in a grid-stride loop (``launch_config`` keeps
simulator launches small).

Every backward that the CPU writes as a scatter (col2im, the max-pool and
average-pool gradients) is a *gather* here: one thread per input element sums
the outputs whose windows hold it, in the CPU's summation order (ascending
output position).  No two threads write one element, so there are no atomics
and no races, and the result is the same run to run; max pooling's gradient
(a sum of the incoming gradients in the CPU's order, from zero, in the same
dtype) comes out bitwise equal to the CPU's.

Convolution is im2col + the batched tiled matmul of ``matmul.py`` (one launch
for all groups), with the bias add and the (group, channel, image) ->
(image, channel) permutation done by one generated map kernel over strided
views, as the CPU does it in ``conv_gemm_forward``.
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from .. import element_bodies
from .array import empty
from ...ir.expr import forward_roots
from ...ir.table import ELEMENTWISE
from .elementwise import copy, launch_config, run_map
from .matmul import matmul


# ----------------------------------------------------------------- conv2d
@cuda.jit(device=True, inline=True)
def _nchw(flat, C, H, W):
    """The (n, c, h, w) position of C-order index ``flat`` in an (N, C, H, W) array."""
    w = flat % W
    rest = flat // W
    h = rest % H
    rest //= H
    return rest // C, rest % C, h, w


@cuda.jit(cache=True)
def _im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w, cols):
    """cols[(c*kh + i)*kw + j, n*P + oh*out_w + ow] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw] (0 outside)."""
    H = x.shape[2]
    W = x.shape[3]
    ncols = cols.shape[1]
    plane = out_h * out_w
    taps = kh * kw
    for flat in range(cuda.grid(1), cols.shape[0] * ncols, cuda.gridsize(1)):
        row = flat // ncols
        col = flat - row * ncols
        c = row // taps
        i = (row // kw) % kh
        j = row % kw
        n = col // plane
        p = col - n * plane
        oh = p // out_w
        ow = p - oh * out_w
        ih = oh * sh - ph + i * dh
        iw = ow * sw - pw + j * dw
        if ih >= 0 and ih < H and iw >= 0 and iw < W:
            cols[row, col] = x[n, c, ih, iw]
        else:
            cols[row, col] = 0


@cuda.jit(cache=True)
def _col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w, zero, gx):
    """The adjoint of im2col as a gather: gx[n, c, ih, iw] = sum of the cols entries that im2col read it into."""
    C = gx.shape[1]
    H = gx.shape[2]
    W = gx.shape[3]
    plane = out_h * out_w
    for flat in range(cuda.grid(1), gx.shape[0] * C * H * W, cuda.gridsize(1)):
        n, c, ih, iw = _nchw(flat, C, H, W)
        acc = zero
        for i in range(kh):
            th = ih + ph - i * dh
            if th < 0:
                break  # th only decreases with i
            if th % sh != 0:
                continue
            oh = th // sh
            if oh >= out_h:
                continue
            for j in range(kw):
                tw = iw + pw - j * dw
                if tw < 0:
                    break
                if tw % sw != 0:
                    continue
                ow = tw // sw
                if ow >= out_w:
                    continue
                acc += cols[(c * kh + i) * kw + j, n * plane + oh * out_w + ow]
        gx[n, c, ih, iw] = acc


# ----------------------------------------------------------------- max pooling
_max_pool_window = cuda.jit(device=True, inline=True)(element_bodies.max_pool_window)


@cuda.jit(cache=True)
def _max_pool_forward(x, kh, kw, sh, sw, ph, pw, dh, dw, low, out, idx):
    """``low`` is -inf in x's dtype: the comparisons stay in that dtype."""
    C = out.shape[1]
    OH = out.shape[2]
    OW = out.shape[3]
    for flat in range(cuda.grid(1), out.shape[0] * C * OH * OW, cuda.gridsize(1)):
        n, c, oh, ow = _nchw(flat, C, OH, OW)
        # the window scan of kernels/cpu/conv.py's max_pool2d_forward, written once in element_bodies
        best, best_i = _max_pool_window(x, n, c, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, low)
        out[n, c, oh, ow] = best
        idx[n, c, oh, ow] = best_i


@cuda.jit(cache=True)
def _max_pool_backward(g, idx, kh, kw, sh, sw, ph, pw, dh, dw, zero, gx):
    """gx[n, c, ih, iw] = sum of g over the outputs whose maximum was (ih, iw), in ascending output order."""
    C = gx.shape[1]
    H = gx.shape[2]
    W = gx.shape[3]
    OH = g.shape[2]
    OW = g.shape[3]
    for flat in range(cuda.grid(1), gx.shape[0] * C * H * W, cuda.gridsize(1)):
        n, c, ih, iw = _nchw(flat, C, H, W)
        target = ih * W + iw
        acc = zero
        # kernel taps backwards: output rows (and columns) come in ascending order, the CPU's summation order
        for ii in range(kh):
            th = ih + ph - (kh - 1 - ii) * dh
            if th < 0 or th % sh != 0:
                continue
            oh = th // sh
            if oh >= OH:
                continue
            for jj in range(kw):
                tw = iw + pw - (kw - 1 - jj) * dw
                if tw < 0 or tw % sw != 0:
                    continue
                ow = tw // sw
                if ow >= OW:
                    continue
                if idx[n, c, oh, ow] == target:
                    acc += g[n, c, oh, ow]
        gx[n, c, ih, iw] = acc


@cuda.jit(cache=True)
def _gather_planes(src, idx, out):
    """out[n, c, p] = src[n, c, idx[n, c, p]] (the adjoint of the max-pool gradient)."""
    C = out.shape[1]
    P = out.shape[2]
    for flat in range(cuda.grid(1), out.shape[0] * C * P, cuda.gridsize(1)):
        p = flat % P
        rest = flat // P
        c = rest % C
        n = rest // C
        out[n, c, p] = src[n, c, idx[n, c, p]]


# ----------------------------------------------------------------- average pooling
@cuda.jit(cache=True)
def _avg_pool_forward(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, out):
    """divisor > 0 overrides the window size (PyTorch's divisor_override); sums in float64 like the CPU."""
    C = out.shape[1]
    OH = out.shape[2]
    OW = out.shape[3]
    H = x.shape[2]
    W = x.shape[3]
    for flat in range(cuda.grid(1), out.shape[0] * C * OH * OW, cuda.gridsize(1)):
        n, c, oh, ow = _nchw(flat, C, OH, OW)
        hs = oh * sh - ph
        he = min(hs + kh, H + ph)
        ws = ow * sw - pw
        we = min(ws + kw, W + pw)
        h0 = max(hs, 0)
        h1 = min(he, H)
        w0 = max(ws, 0)
        w1 = min(we, W)
        acc = 0.0
        for ih in range(h0, h1):
            for iw in range(w0, w1):
                acc += x[n, c, ih, iw]
        if divisor > 0:
            div = divisor
        elif count_include_pad:
            div = (he - hs) * (we - ws)
        else:
            div = (h1 - h0) * (w1 - w0)
        out[n, c, oh, ow] = acc / div


@cuda.jit(cache=True)
def _avg_pool_backward(g, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, gx):
    """gx[n, c, ih, iw] = sum of g / divisor over the windows that hold (ih, iw)."""
    C = gx.shape[1]
    H = gx.shape[2]
    W = gx.shape[3]
    OH = g.shape[2]
    OW = g.shape[3]
    for flat in range(cuda.grid(1), gx.shape[0] * C * H * W, cuda.gridsize(1)):
        n, c, ih, iw = _nchw(flat, C, H, W)
        # window oh covers rows [oh*sh - ph, oh*sh - ph + kh): the outputs holding ih are a contiguous range
        low = ih + ph - kh + 1
        oh_lo = 0 if low <= 0 else (low + sh - 1) // sh
        oh_hi = min((ih + ph) // sh, OH - 1)
        low = iw + pw - kw + 1
        ow_lo = 0 if low <= 0 else (low + sw - 1) // sw
        ow_hi = min((iw + pw) // sw, OW - 1)
        acc = 0.0
        for oh in range(oh_lo, oh_hi + 1):
            hs = oh * sh - ph
            he = min(hs + kh, H + ph)
            h0 = max(hs, 0)
            h1 = min(he, H)
            for ow in range(ow_lo, ow_hi + 1):
                ws = ow * sw - pw
                we = min(ws + kw, W + pw)
                w0 = max(ws, 0)
                w1 = min(we, W)
                if divisor > 0:
                    div = divisor
                elif count_include_pad:
                    div = (he - hs) * (we - ws)
                else:
                    div = (h1 - h0) * (w1 - w0)
                acc += g[n, c, oh, ow] / div
        gx[n, c, ih, iw] = acc


@cuda.jit(cache=True)
def _adaptive_avg_pool_forward(x, out):
    """PyTorch's adaptive bins: rows [floor(oh*H/OH), ceil((oh+1)*H/OH)), the same for columns."""
    C = out.shape[1]
    OH = out.shape[2]
    OW = out.shape[3]
    H = x.shape[2]
    W = x.shape[3]
    for flat in range(cuda.grid(1), out.shape[0] * C * OH * OW, cuda.gridsize(1)):
        n, c, oh, ow = _nchw(flat, C, OH, OW)
        h0 = (oh * H) // OH
        h1 = ((oh + 1) * H + OH - 1) // OH
        w0 = (ow * W) // OW
        w1 = ((ow + 1) * W + OW - 1) // OW
        acc = 0.0
        for ih in range(h0, h1):
            for iw in range(w0, w1):
                acc += x[n, c, ih, iw]
        out[n, c, oh, ow] = acc / ((h1 - h0) * (w1 - w0))


@cuda.jit(cache=True)
def _adaptive_avg_pool_backward(g, gx):
    C = gx.shape[1]
    H = gx.shape[2]
    W = gx.shape[3]
    OH = g.shape[2]
    OW = g.shape[3]
    for flat in range(cuda.grid(1), gx.shape[0] * C * H * W, cuda.gridsize(1)):
        n, c, ih, iw = _nchw(flat, C, H, W)
        # the bins holding ih are oh in [floor(ih*OH/H), ceil((ih+1)*OH/H)); membership is re-checked below
        oh_lo = (ih * OH) // H
        oh_hi = min(((ih + 1) * OH + H - 1) // H, OH)
        ow_lo = (iw * OW) // W
        ow_hi = min(((iw + 1) * OW + W - 1) // W, OW)
        acc = 0.0
        for oh in range(oh_lo, oh_hi):
            h0 = (oh * H) // OH
            h1 = ((oh + 1) * H + OH - 1) // OH
            if ih < h0 or ih >= h1:
                continue
            for ow in range(ow_lo, ow_hi):
                w0 = (ow * W) // OW
                w1 = ((ow + 1) * W + OW - 1) // OW
                if iw < w0 or iw >= w1:
                    continue
                acc += g[n, c, oh, ow] / ((h1 - h0) * (w1 - w0))
        gx[n, c, ih, iw] = acc


# ----------------------------------------------------------------- wrappers (DeviceArrays in and out)
def _roots(name: str):
    return forward_roots(ELEMENTWISE[name])


def _launch(kernel, n: int, *args) -> None:
    if n:
        blocks, threads = launch_config(n)
        kernel[blocks, threads](*args)


def _out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _im2col_array(x, kh, kw, geo, out_h, out_w):
    sh, sw, ph, pw, dh, dw, _ = geo
    n, c = x.shape[:2]
    cols = empty((c * kh * kw, n * out_h * out_w), x.dtype)
    _launch(_im2col, cols.size, x.kernel_arg(), kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w, cols.kernel_arg())
    return cols


def _channel_major(g, groups: int):
    """g (N, OC, OH, OW) -> a C-contiguous (groups, OC / groups, N * OH * OW) copy."""
    n, oc = g.shape[:2]
    p = g.shape[2] * g.shape[3]
    g2 = empty((oc, n, p), g.dtype)
    copy(g.reshape(n, oc, p).transpose(1, 0, 2), None, g2)
    return g2.reshape(groups, oc // groups, n * p)


def _mm(a, b, out=None):
    """Batched ``a @ b`` of (G, M, K) and (G, K, N) DeviceArrays (any strides) into a new or given (G, M, N)."""
    if out is None:
        out = empty((a.shape[0], a.shape[1], b.shape[2]), a.dtype)
    matmul(a.kernel_arg(), b.kernel_arg(), out=out.kernel_arg())
    return out


def conv2d_forward(x, w, b, geo):
    """conv2d of C-contiguous x (N, C, H, W) and w (OC, C/groups, kh, kw), bias b (OC,) or None."""
    sh, sw, ph, pw, dh, dw, groups = geo
    n, _, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    oh, ow = _out_size(h, kh, sh, ph, dh), _out_size(wd, kw, sw, pw, dw)
    out = empty((n, oc, oh, ow), x.dtype)
    if out.size == 0:
        return out
    cols = _im2col_array(x, kh, kw, geo, oh, ow)
    ck = cg * kh * kw
    res = _mm(w.reshape(groups, oc // groups, ck), cols.reshape(groups, ck, n * oh * ow))
    # res is (OC, N, P) channel-major: one map kernel permutes it to (N, OC, P) and adds the bias
    res3 = res.reshape(oc, n, oh * ow).transpose(1, 0, 2)
    out3 = out.reshape(n, oc, oh * ow)
    if b is None:
        copy(res3, None, out3)
    else:
        run_map(_roots("add"), [res3, b.reshape(1, oc, 1)], [out.dtype], out3.shape, out.dtype.name, ["", ""],
                outs=[out3])
    return out


def conv2d_input_grad(g, w, x_shape, geo):
    """The gradient of conv2d in x from the incoming gradient g (N, OC, OH, OW)."""
    sh, sw, ph, pw, dh, dw, groups = geo
    oc, cg, kh, kw = w.shape
    oh, ow = g.shape[2], g.shape[3]
    if g.size == 0:
        return copy(0, None, empty(x_shape, g.dtype))
    gx = empty(x_shape, g.dtype)
    if gx.size == 0:
        return gx
    ck = cg * kh * kw
    w3t = w.reshape(groups, oc // groups, ck).transpose(0, 2, 1)
    gcols = _mm(w3t, _channel_major(g, groups))
    gcols = gcols.reshape(groups * ck, gcols.shape[2])
    _launch(_col2im, gx.size, gcols.kernel_arg(), kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, g.dtype.type(0),
            gx.kernel_arg())
    return gx


def conv2d_weight_grad(x, g, w_shape, geo):
    """The gradient of conv2d in w from the input x and the incoming gradient g."""
    groups = geo[6]
    oc, cg, kh, kw = w_shape
    if g.size == 0:
        return copy(0, None, empty(w_shape, x.dtype))
    gw = empty(w_shape, x.dtype)
    if gw.size == 0:
        return gw
    oh, ow = g.shape[2], g.shape[3]
    ck = cg * kh * kw
    cols = _im2col_array(x, kh, kw, geo, oh, ow)
    cols_t = cols.reshape(groups, ck, cols.shape[1]).transpose(0, 2, 1)
    _mm(_channel_major(g, groups), cols_t, out=gw.reshape(groups, oc // groups, ck))
    return gw


def max_pool2d_forward(x, geo, out_hw):
    """(values, int64 flat indices within each plane) of max pooling x (N, C, H, W)."""
    kh, kw, sh, sw, ph, pw, dh, dw = geo
    n, c = x.shape[:2]
    out = empty((n, c) + tuple(out_hw), x.dtype)
    idx = empty((n, c) + tuple(out_hw), np.int64)
    _launch(_max_pool_forward, out.size, x.kernel_arg(), kh, kw, sh, sw, ph, pw, dh, dw, x.dtype.type(-np.inf),
            out.kernel_arg(), idx.kernel_arg())
    return out, idx


def max_pool2d_backward(g, idx, x_shape, geo):
    """Each output gradient routed to the input element that was its maximum."""
    kh, kw, sh, sw, ph, pw, dh, dw = geo
    gx = empty(x_shape, g.dtype)
    _launch(_max_pool_backward, gx.size, g.kernel_arg(), idx.kernel_arg(), kh, kw, sh, sw, ph, pw, dh, dw,
            g.dtype.type(0), gx.kernel_arg())
    return gx


def max_pool2d_gather(src, idx):
    """out[n, c, p] = src[n, c].flat[idx[n, c, p]]: the adjoint of ``max_pool2d_backward``."""
    n, c = src.shape[:2]
    out = empty(idx.shape, src.dtype)
    _launch(_gather_planes, out.size, src.reshape(n, c, -1).kernel_arg(), idx.reshape(n, c, -1).kernel_arg(),
            out.reshape(n, c, -1).kernel_arg())
    return out


def avg_pool2d_forward(x, geo, out_hw):
    kh, kw, sh, sw, ph, pw, count_include_pad, divisor = geo
    out = empty(tuple(x.shape[:2]) + tuple(out_hw), x.dtype)
    _launch(_avg_pool_forward, out.size, x.kernel_arg(), kh, kw, sh, sw, ph, pw, bool(count_include_pad),
            int(divisor), out.kernel_arg())
    return out


def avg_pool2d_backward(g, geo, x_shape):
    kh, kw, sh, sw, ph, pw, count_include_pad, divisor = geo
    gx = empty(x_shape, g.dtype)
    _launch(_avg_pool_backward, gx.size, g.kernel_arg(), kh, kw, sh, sw, ph, pw, bool(count_include_pad),
            int(divisor), gx.kernel_arg())
    return gx


def adaptive_avg_pool2d_forward(x, out_hw):
    out = empty(tuple(x.shape[:2]) + tuple(out_hw), x.dtype)
    _launch(_adaptive_avg_pool_forward, out.size, x.kernel_arg(), out.kernel_arg())
    return out


def adaptive_avg_pool2d_backward(g, x_shape):
    gx = empty(x_shape, g.dtype)
    _launch(_adaptive_avg_pool_backward, gx.size, g.kernel_arg(), gx.kernel_arg())
    return gx
