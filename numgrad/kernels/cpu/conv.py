"""Numba kernels of the layer ops: linear, conv2d and pooling (normalization, embedding, dropout: ``norm.py``).

Layout contract: every array argument is C-contiguous (the ops layer makes it
so) and float arrays of one call share a dtype; kernels compile once per
(dtype, ndim) and never per shape.  Matrix products call BLAS gemm through
``blas.gemm`` / ``blas.gemm_parallel`` (strided blocks, accumulation, and
large products split over Numba's threads), on MKL or OpenBLAS
(``blas_library``).

Convolution is im2col + gemm, one image at a time: ``cols`` (C*kh*kw, OH*OW)
holds one image's receptive fields (about 110 KB for 3x3 over 3x32x32, so it
stays in cache between the im2col and the gemm) and the gemm writes straight
into ``out[n]`` (OC, OH*OW), so there is no batch-wide column matrix and no
layout transpose afterwards.  The weight gradient accumulates per-image gemms
with ``beta = 1`` (``blas.gemm``).  Measured on the 2-vCPU build machine for
32x3x32x32 -> 16 channels, k=3, pad 1, forward + backward: 4.6-7.4 ms with a
batch-wide column matrix (plus two transposes), see benchmarks/RESULTS.md for
the per-image kernels.  A direct parallel loop nest vectorized along output
rows took 2.2-2.6x as long as im2col + gemm (benchmarks/bench_nn.py).
Small images are the exception: a gemm per 4x4 image is mostly call and
packing overhead, so images of at most ``SMALL_IMAGE_PIXELS`` output pixels
are put side by side in one column block (``images_per_block``) and one gemm
covers the block; the results are scattered into ``out`` afterwards.

Max pooling scans the windows that lie inside the plane through a list of tap
offsets, and only the windows touching the padding or the edge with the
general bounds-checked scan (``element_bodies.max_pool_window``, shared with
the CUDA kernel); both visit the taps in one order, so the values and indices
are those of the general scan.

Parallel variants (``*_par``) split work over images or channel planes only,
so no two threads ever write the same element (no scatter races); the conv
weight gradient sums one partial per part in a fixed order, so results do not
depend on thread timing.  The ops layer picks them above a size threshold.
Each serial/parallel pair is one ``prange`` loop compiled both ways by
``variants.serial_and_parallel``; the conv and max-pool drivers take
``parts=1`` by default, so the serial variant is called without it.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import element_bodies
from ..config import FASTMATH
from ..variants import serial_and_parallel
from .blas import gemm, gemm_parallel

_OPTS = dict(cache=True, nogil=True, error_model="numpy", fastmath=set(FASTMATH))


# ----------------------------------------------------------------- linear
@njit(**_OPTS)
def linear_forward(x, w, b, has_bias, out, parts):
    """out = x @ w.T (+ b); x (M, K), w (N, K), out (M, N); ``parts`` threads for the gemm."""
    beta = 0.0
    if has_bias:
        beta = 1.0
        for i in range(out.shape[0]):
            out[i, :] = b
    gemm_parallel(x, w.T, out, 1.0, beta, parts)


@njit(**_OPTS)
def linear_backward(g, x, w, need_x, need_w, need_b, gx, gw, gb, parts):
    """gx = g @ w, gw = g.T @ x, gb = column sums of g (each only when needed)."""
    if need_x:
        gemm_parallel(g, w, gx, 1.0, 0.0, parts)
    if need_w:
        gemm_parallel(g.T, x, gw, 1.0, 0.0, parts)
    if need_b:
        for j in range(gb.shape[0]):
            gb[j] = 0
        for i in range(g.shape[0]):
            for j in range(g.shape[1]):
                gb[j] += g[i, j]


# ----------------------------------------------------------------- conv2d (im2col + gemm over blocks of images)
# Images of at most SMALL_IMAGE_PIXELS output pixels are put side by side in one
# column block (up to BLOCK_PIXELS columns, BLOCK_ELEMENTS elements), so that one
# gemm per group covers a block of images: for small images a gemm per image is
# mostly call and packing overhead.  Measured on the digits CNN's second conv
# (32x16x4x4 -> 32 channels, k3 p1; Intel host, MKL, one thread, CPU time):
# forward 150 -> 70 us, weight gradient 160 -> 75 us, input gradient 150 -> 75 us.
# Larger images keep a block each, where the gemm writes straight into ``out[n]``.
SMALL_IMAGE_PIXELS = 64
BLOCK_PIXELS = 2048
BLOCK_ELEMENTS = 1 << 20


@njit(**_OPTS)
def images_per_block(pixels, rows, n_img):
    """How many images of ``pixels`` output pixels share one column block (1: one per image); ``rows``: the
    most rows of a block's scratch matrices (columns C*kh*kw, gemm result or gradient OC).

    >>> images_per_block(16, 144, 32), images_per_block(64, 9, 100), images_per_block(1024, 27, 32)
    (32, 32, 1)
    """
    pixels = max(pixels, 1)
    if pixels > SMALL_IMAGE_PIXELS:
        return 1
    return max(1, min(n_img, BLOCK_PIXELS // pixels, BLOCK_ELEMENTS // (max(rows, 1) * pixels)))


@njit(**_OPTS)
def _im2col_image(x, n, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w, cols):
    """cols (C*kh*kw, out_h*out_w) = the receptive fields of image n of x."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for oh in range(out_h):
                    ih = oh * sh - ph + i * dh
                    dst = oh * out_w
                    if ih < 0 or ih >= H:
                        for ow in range(out_w):
                            cols[row, dst + ow] = 0
                    else:
                        for ow in range(out_w):
                            iw = ow * sw - pw + j * dw
                            if iw >= 0 and iw < W:
                                cols[row, dst + ow] = x[n, c, ih, iw]
                            else:
                                cols[row, dst + ow] = 0


@njit(**_OPTS)
def _col2im_image(cols, n, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w, gx):
    """gx[n] = the adjoint of ``_im2col_image`` applied to cols (overwrites gx[n])."""
    C, H, W = gx.shape[1], gx.shape[2], gx.shape[3]
    for c in range(C):
        for ih in range(H):
            for iw in range(W):
                gx[n, c, ih, iw] = 0
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for oh in range(out_h):
                    ih = oh * sh - ph + i * dh
                    if ih < 0 or ih >= H:
                        continue
                    src = oh * out_w
                    for ow in range(out_w):
                        iw = ow * sw - pw + j * dw
                        if iw >= 0 and iw < W:
                            gx[n, c, ih, iw] += cols[row, src + ow]


@njit(**_OPTS)
def _tap_map(H, W, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w):
    """(kh*kw, out_h*out_w): the flat position ``ih * W + iw`` in an input plane that tap (i, j) of output pixel p
    reads, or -1 where it falls in the padding.  Built once per call: im2col of a block of small images is then a
    gather with no per-element bounds arithmetic, 2-3x faster than ``_im2col_image``'s row loops for 32x16x4x4
    (rows of 4 pixels); ``_im2col_image`` stays for large images, whose long rows it copies faster."""
    taps = np.empty((kh * kw, out_h * out_w), dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            t = i * kw + j
            for oh in range(out_h):
                ih = oh * sh - ph + i * dh
                for ow in range(out_w):
                    iw = ow * sw - pw + j * dw
                    inside = ih >= 0 and ih < H and iw >= 0 and iw < W
                    taps[t, oh * out_w + ow] = ih * W + iw if inside else -1
    return taps


@njit(**_OPTS)
def _geo_taps(x_shape, geo):
    kh, kw, sh, sw, ph, pw, dh, dw, groups, out_h, out_w = geo
    return _tap_map(x_shape[2], x_shape[3], kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w)


@njit(**_OPTS)
def _im2col_block(planes, C, n0, count, taps, cols):
    """cols[:, k*P:(k+1)*P] (C*kh*kw rows) = the receptive fields of image n0 + k, k < count;
    ``planes`` is x as (N*C, H*W)."""
    T, P = taps.shape
    for c in range(C):
        for t in range(T):
            row = c * T + t
            for k in range(count):
                plane = planes[(n0 + k) * C + c]
                dst = k * P
                for p in range(P):
                    q = taps[t, p]
                    cols[row, dst + p] = plane[q] if q >= 0 else 0


@njit(**_OPTS)
def _col2im_block(cols, C, n0, count, taps, gplanes):
    """gplanes[(n0 + k) * C + c] = the adjoint of ``_im2col_block`` applied to cols (overwrites those planes).

    Each plane sums its taps in one fixed order (tap, then pixel), so the result does not depend on blocking."""
    T, P = taps.shape
    for k in range(count):
        src = k * P
        for c in range(C):
            plane = gplanes[(n0 + k) * C + c]
            plane[:] = 0
            for t in range(T):
                row = c * T + t
                for p in range(P):
                    q = taps[t, p]
                    if q >= 0:
                        plane[q] += cols[row, src + p]


# The serial and parallel variants call the same per-image-range helpers
# with int64 bounds: a literal 0 or prange's unsigned index would compile each
# helper a second time (two specializations each in a cold digits run).
@njit(**_OPTS)
def _image_range(part, parts, n_img):
    per = (n_img + parts - 1) // parts
    return part * per, min(n_img, (part + 1) * per)


@njit(**_OPTS)
def _channels_first(g, n0, count, gt):
    """gt[oc, k*P + p] = g[n0 + k, oc, p]: a block of images' gradients as one (OC, count*P) matrix.

    Channel-outer, so the writes run along gt's rows (5x faster than image-outer for 32x16x64)."""
    OC, P = g.shape[1], g.shape[2]
    for oc in range(OC):
        for k in range(count):
            for p in range(P):
                gt[oc, k * P + p] = g[n0 + k, oc, p]


@njit(**_OPTS)
def _conv_forward_per_image(x, w2, b, has_bias, geo, out, lo, hi):
    """out[n] (OC, P) = w2 @ im2col(x[n]) + b for images lo..hi-1, one gemm per image and group, written
    straight into out[n] on top of the bias."""
    kh, kw, sh, sw, ph, pw, dh, dw, groups, out_h, out_w = geo
    oc_total, ck = w2.shape
    ocg = oc_total // groups
    P = out_h * out_w
    w3 = w2.reshape(groups, ocg, ck)
    cols = np.empty((groups * ck, P), dtype=out.dtype)
    cols3 = cols.reshape(groups, ck, P)
    for n in range(lo, hi):
        _im2col_image(x, n, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w, cols)
        out3 = out[n].reshape(groups, ocg, P)
        beta = 0.0
        if has_bias:
            beta = 1.0
            for oc in range(oc_total):
                out[n, oc, :] = b[oc]
        for grp in range(groups):
            gemm(w3[grp], cols3[grp], out3[grp], 1.0, beta)


@njit(**_OPTS)
def _conv_forward_blocks(x, w2, b, has_bias, geo, out, lo, hi, nb):
    """out[n] for images lo..hi-1 in blocks of nb images: one gemm per block and group into a scratch, then
    scattered into out (plus the bias)."""
    groups = geo[8]
    oc_total, ck = w2.shape
    ocg = oc_total // groups
    P = out.shape[2]
    w3 = w2.reshape(groups, ocg, ck)
    cols = np.empty((groups * ck, nb * P), dtype=out.dtype)
    cols3 = cols.reshape(groups, ck, nb * P)
    C = x.shape[1]
    taps = _geo_taps(x.shape, geo)
    planes = x.reshape(x.shape[0] * C, x.shape[2] * x.shape[3])
    res = np.empty((oc_total, nb * P), dtype=out.dtype)
    res3 = res.reshape(groups, ocg, nb * P)
    for n0 in range(lo, hi, nb):
        count = min(nb, hi - n0)
        width = count * P
        _im2col_block(planes, C, n0, count, taps, cols)
        for grp in range(groups):
            gemm(w3[grp], cols3[grp, :, :width], res3[grp, :, :width], 1.0, 0.0)
        for oc in range(oc_total):
            for k in range(count):
                if has_bias:
                    for p in range(P):
                        out[n0 + k, oc, p] = res[oc, k * P + p] + b[oc]
                else:
                    for p in range(P):
                        out[n0 + k, oc, p] = res[oc, k * P + p]


@njit(**_OPTS)
def _conv_forward_images(x, w2, b, has_bias, geo, out, lo, hi):
    """out[n] (OC, P) = w2 @ im2col(x[n]) + b for images lo..hi-1."""
    nb = images_per_block(out.shape[2], max(w2.shape[1] * geo[8], w2.shape[0]), hi - lo)
    if nb == 1:
        _conv_forward_per_image(x, w2, b, has_bias, geo, out, lo, hi)
    else:
        _conv_forward_blocks(x, w2, b, has_bias, geo, out, lo, hi, nb)


def conv_forward(x, w2, b, has_bias, geo, out, parts=1):
    """conv2d forward: out (N, OC, P) from x (N, C, H, W) and w2 (OC, C/groups*kh*kw);
    ``geo = (kh, kw, sh, sw, ph, pw, dh, dw, groups, out_h, out_w)``; images in ``parts`` blocks."""
    for part in prange(parts):
        lo, hi = _image_range(np.int64(part), parts, x.shape[0])
        _conv_forward_images(x, w2, b, has_bias, geo, out, lo, hi)


conv_forward, conv_forward_par = serial_and_parallel(conv_forward, **_OPTS)


@njit(**_OPTS)
def _conv_input_grad_per_image(g, w2, geo, gx, lo, hi):
    """gx[n] = col2im(w2_g.T @ g[n]_g per group) for images lo..hi-1, one gemm per image and group."""
    kh, kw, sh, sw, ph, pw, dh, dw, groups, out_h, out_w = geo
    oc_total, ck = w2.shape
    ocg = oc_total // groups
    P = out_h * out_w
    w3 = w2.reshape(groups, ocg, ck)
    gcols = np.empty((groups * ck, P), dtype=g.dtype)
    gcols3 = gcols.reshape(groups, ck, P)
    for n in range(lo, hi):
        g3 = g[n].reshape(groups, ocg, P)
        for grp in range(groups):
            gemm(w3[grp].T, g3[grp], gcols3[grp], 1.0, 0.0)
        _col2im_image(gcols, n, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w, gx)


@njit(**_OPTS)
def _conv_input_grad_blocks(g, w2, geo, gx, lo, hi, nb):
    """gx[n] for images lo..hi-1 in blocks of nb images: one gemm per block and group, then col2im per image."""
    groups = geo[8]
    oc_total, ck = w2.shape
    ocg = oc_total // groups
    P = g.shape[2]
    w3 = w2.reshape(groups, ocg, ck)
    gcols = np.empty((groups * ck, nb * P), dtype=g.dtype)
    gcols3 = gcols.reshape(groups, ck, nb * P)
    C = gx.shape[1]
    taps = _geo_taps(gx.shape, geo)
    gplanes = gx.reshape(gx.shape[0] * C, gx.shape[2] * gx.shape[3])
    gt = np.empty((oc_total, nb * P), dtype=g.dtype)
    gt3 = gt.reshape(groups, ocg, nb * P)
    for n0 in range(lo, hi, nb):
        count = min(nb, hi - n0)
        width = count * P
        _channels_first(g, n0, count, gt)
        for grp in range(groups):
            gemm(w3[grp].T, gt3[grp, :, :width], gcols3[grp, :, :width], 1.0, 0.0)
        _col2im_block(gcols, C, n0, count, taps, gplanes)


@njit(**_OPTS)
def _conv_input_grad_images(g, w2, geo, gx, lo, hi):
    """gx[n] = the gradient of conv2d in image n's input, for images lo..hi-1."""
    nb = images_per_block(g.shape[2], max(w2.shape[1] * geo[8], w2.shape[0]), hi - lo)
    if nb == 1:
        _conv_input_grad_per_image(g, w2, geo, gx, lo, hi)
    else:
        _conv_input_grad_blocks(g, w2, geo, gx, lo, hi, nb)


def conv_input_grad(g, w2, geo, gx, parts=1):
    """The gradient of conv2d in its input: gx (N, C, H, W) from g (N, OC, P); images in ``parts`` blocks."""
    for part in prange(parts):
        lo, hi = _image_range(np.int64(part), parts, g.shape[0])
        _conv_input_grad_images(g, w2, geo, gx, lo, hi)


conv_input_grad, conv_input_grad_par = serial_and_parallel(conv_input_grad, **_OPTS)


@njit(**_OPTS)
def _conv_weight_grad_per_image(x, g, geo, gw2, lo, hi):
    """gw2 (OC, CK) += g[n]_g @ im2col(x[n])_g.T per group, one gemm per image and group, for images lo..hi-1."""
    kh, kw, sh, sw, ph, pw, dh, dw, groups, out_h, out_w = geo
    oc_total, ck = gw2.shape
    ocg = oc_total // groups
    P = out_h * out_w
    gw3 = gw2.reshape(groups, ocg, ck)
    cols = np.empty((groups * ck, P), dtype=g.dtype)
    cols3 = cols.reshape(groups, ck, P)
    for n in range(lo, hi):
        _im2col_image(x, n, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w, cols)
        g3 = g[n].reshape(groups, ocg, P)
        for grp in range(groups):
            gemm(g3[grp], cols3[grp].T, gw3[grp], 1.0, 1.0)


@njit(**_OPTS)
def _conv_weight_grad_blocks(x, g, geo, gw2, lo, hi, nb):
    """gw2 (OC, CK) += the weight gradient of images lo..hi-1, one gemm per block of nb images and group."""
    groups = geo[8]
    oc_total, ck = gw2.shape
    ocg = oc_total // groups
    P = g.shape[2]
    gw3 = gw2.reshape(groups, ocg, ck)
    cols = np.empty((groups * ck, nb * P), dtype=g.dtype)
    cols3 = cols.reshape(groups, ck, nb * P)
    gt = np.empty((oc_total, nb * P), dtype=g.dtype)
    gt3 = gt.reshape(groups, ocg, nb * P)
    # the transposed product cols @ gt.T (CK, OC): with the long block dimension as the inner one of both
    # operands' rows it ran 1.6-2x faster than gt @ cols.T (MKL, 32x16x4x4 and 32x16x8x8)
    gwt = np.zeros((groups, ck, ocg), dtype=gw2.dtype)
    C = x.shape[1]
    taps = _geo_taps(x.shape, geo)
    planes = x.reshape(x.shape[0] * C, x.shape[2] * x.shape[3])
    for n0 in range(lo, hi, nb):
        count = min(nb, hi - n0)
        width = count * P
        _im2col_block(planes, C, n0, count, taps, cols)
        _channels_first(g, n0, count, gt)
        for grp in range(groups):
            gemm(cols3[grp, :, :width], gt3[grp, :, :width].T, gwt[grp], 1.0, 1.0)
    for grp in range(groups):
        for o in range(ocg):
            for q in range(ck):
                gw3[grp, o, q] += gwt[grp, q, o]


@njit(**_OPTS)
def _conv_weight_grad_images(x, g, geo, gw2, lo, hi):
    """gw2 (OC, CK) += the weight gradient of images lo..hi-1."""
    nb = images_per_block(g.shape[2], max(gw2.shape[1] * geo[8], gw2.shape[0]), hi - lo)
    if nb == 1:
        _conv_weight_grad_per_image(x, g, geo, gw2, lo, hi)
    else:
        _conv_weight_grad_blocks(x, g, geo, gw2, lo, hi, nb)


def conv_weight_grad(x, g, geo, gw2, parts=1):
    """The gradient of conv2d in its weight: gw2 (OC, CK), overwritten, from x and g (N, OC, P)."""
    if parts == 1:
        # the serial call: accumulate in place, no partial to allocate and copy
        gw2[...] = 0
        _conv_weight_grad_images(x, g, geo, gw2, np.int64(0), x.shape[0])
        return
    # one partial sum per part, added in part order afterwards: the result does
    # not depend on which thread ran which part
    partials = np.zeros((parts,) + gw2.shape, dtype=gw2.dtype)
    for part in prange(parts):
        lo, hi = _image_range(np.int64(part), parts, x.shape[0])
        _conv_weight_grad_images(x, g, geo, partials[part], lo, hi)
    gw2[...] = partials[0]
    for part in range(1, parts):
        gw2 += partials[part]


conv_weight_grad, conv_weight_grad_par = serial_and_parallel(conv_weight_grad, **_OPTS)


@njit(**_OPTS)
def channel_sums(g, out):
    """out[c] = sum of g[:, c, :] for g (N, C, P); accumulated in float64."""
    for c in range(g.shape[1]):
        acc = 0.0
        for n in range(g.shape[0]):
            for p in range(g.shape[2]):
                acc += g[n, c, p]
        out[c] = acc


# ----------------------------------------------------------------- max pooling
# inlined into the loop by Numba: as a call per output element (LLVM did not inline it)
# the serial forward took 1.35x as long (32x16x32x32, k3 s2 p1, float32)
_max_pool_window = njit(inline="always", **_OPTS)(element_bodies.max_pool_window)


@njit(**_OPTS)
def _inside_range(out_count, stride, pad, span, size):
    """[lo, hi): the outputs o whose window [o*stride - pad, o*stride - pad + span) lies inside [0, size)."""
    lo = min(out_count, (pad + stride - 1) // stride)
    hi = (size - span + pad) // stride + 1  # floor division: negative when no window fits
    return lo, max(lo, min(hi, out_count))


@njit(**_OPTS)
def _max_pool_planes(x, kh, kw, sh, sw, ph, pw, dh, dw, taps, inside, out, idx, lo, hi):
    """out, idx for the planes lo..hi-1 of x seen as (N*C, H, W): windows inside the plane scan the tap offsets
    ``taps`` with no bounds tests, the others (touching the padding, or past the edge in ceil mode) the general
    window scan.

    A function of its own, called once per block of planes from the ``prange`` loop: compiled as the body of a
    parallel loop the same code ran 3x slower (32x16x32x32, even on one thread), and a call per plane (with a
    view of it) cost 50% more for 32x16x8x8."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    oh_lo, oh_hi, ow_lo, ow_hi = inside
    flat = x.reshape(-1)
    for plane_i in range(lo, hi):
        n = plane_i // C
        c = plane_i % C
        base = plane_i * H * W
        for oh in range(OH):
            inside_h = oh >= oh_lo and oh < oh_hi
            for ow in range(OW):
                if inside_h and ow >= ow_lo and ow < ow_hi:
                    start = (oh * sh - ph) * W + ow * sw - pw
                    best = flat[base + start]
                    best_i = start
                    for t in range(1, taps.shape[0]):
                        q = start + taps[t]
                        v = flat[base + q]
                        # NaN wins, as in PyTorch
                        if v > best or v != v:
                            best = v
                            best_i = q
                    out[n, c, oh, ow] = best
                    idx[n, c, oh, ow] = best_i
                else:
                    # -inf as a float64 literal: the comparisons run in float64, exact for float32 inputs
                    best64, best_i = _max_pool_window(x, n, c, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, -np.inf)
                    out[n, c, oh, ow] = best64
                    idx[n, c, oh, ow] = best_i


def max_pool2d_forward(x, kh, kw, sh, sw, ph, pw, dh, dw, out, idx, parts=1):
    """out, idx (N, C, OH, OW) = the max of each window of x and its flat position ``ih * W + iw`` in the plane;
    the planes in ``parts`` blocks (the serial variant is called without it).

    Both window scans of ``_max_pool_planes`` visit the taps in the same (i, j) order with the same comparisons,
    so values and indices are those of the general scan everywhere, whatever the split into blocks of planes.
    Measured for 32x16x8x8, k2 s2 (the digits CNN; Intel host, one thread, CPU time): 88 us with the general
    scan for every window, 46 us now; 1.37 ms against 0.75 ms for 32x16x32x32.
    """
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    taps = np.empty(kh * kw, dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            taps[i * kw + j] = i * dh * W + j * dw
    oh_lo, oh_hi = _inside_range(out.shape[2], sh, ph, (kh - 1) * dh + 1, H)
    ow_lo, ow_hi = _inside_range(out.shape[3], sw, pw, (kw - 1) * dw + 1, W)
    inside = (oh_lo, oh_hi, ow_lo, ow_hi)
    planes = x.shape[0] * C
    for part in prange(parts):
        lo, hi = _image_range(np.int64(part), parts, planes)
        _max_pool_planes(x, kh, kw, sh, sw, ph, pw, dh, dw, taps, inside, out, idx, lo, hi)


max_pool2d_forward, max_pool2d_forward_par = serial_and_parallel(max_pool2d_forward, **_OPTS)


@njit(**_OPTS)
def max_pool2d_backward(g, idx, gx):
    """gx[n, c].flat[idx] += g; gx (N, C, H*W) is written plane by plane, so planes never race."""
    for n in range(g.shape[0]):
        for c in range(g.shape[1]):
            for q in range(gx.shape[2]):
                gx[n, c, q] = 0
            for p in range(g.shape[2]):
                gx[n, c, idx[n, c, p]] += g[n, c, p]


@njit(**_OPTS)
def gather_planes(src, idx, out):
    """out[n, c, p] = src[n, c, idx[n, c, p]] (the adjoint of max_pool2d_backward)."""
    for n in range(out.shape[0]):
        for c in range(out.shape[1]):
            for p in range(out.shape[2]):
                out[n, c, p] = src[n, c, idx[n, c, p]]


# ----------------------------------------------------------------- average pooling
@njit(**_OPTS)
def _avg_window(o, stride, pad, k, size):
    start = o * stride - pad
    end = min(start + k, size + pad)
    pool = end - start
    return max(start, 0), min(end, size), pool


@njit(**_OPTS)
def avg_pool2d_forward(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, out):
    """divisor > 0 overrides the window size (PyTorch's divisor_override)."""
    H, W = x.shape[2], x.shape[3]
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for oh in range(out.shape[2]):
                h0, h1, ph_pool = _avg_window(oh, sh, ph, kh, H)
                for ow in range(out.shape[3]):
                    w0, w1, pw_pool = _avg_window(ow, sw, pw, kw, W)
                    acc = 0.0
                    for ih in range(h0, h1):
                        for iw in range(w0, w1):
                            acc += x[n, c, ih, iw]
                    if divisor > 0:
                        div = divisor
                    elif count_include_pad:
                        div = ph_pool * pw_pool
                    else:
                        div = (h1 - h0) * (w1 - w0)
                    out[n, c, oh, ow] = acc / div


@njit(**_OPTS)
def avg_pool2d_backward(g, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, gx):
    H, W = gx.shape[2], gx.shape[3]
    for n in range(g.shape[0]):
        for c in range(g.shape[1]):
            for ih in range(H):
                for iw in range(W):
                    gx[n, c, ih, iw] = 0
            for oh in range(g.shape[2]):
                h0, h1, ph_pool = _avg_window(oh, sh, ph, kh, H)
                for ow in range(g.shape[3]):
                    w0, w1, pw_pool = _avg_window(ow, sw, pw, kw, W)
                    if divisor > 0:
                        div = divisor
                    elif count_include_pad:
                        div = ph_pool * pw_pool
                    else:
                        div = (h1 - h0) * (w1 - w0)
                    share = g[n, c, oh, ow] / div
                    for ih in range(h0, h1):
                        for iw in range(w0, w1):
                            gx[n, c, ih, iw] += share


@njit(**_OPTS)
def adaptive_avg_pool2d_forward(x, out):
    H, W = x.shape[2], x.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for oh in range(OH):
                h0 = (oh * H) // OH
                h1 = ((oh + 1) * H + OH - 1) // OH
                for ow in range(OW):
                    w0 = (ow * W) // OW
                    w1 = ((ow + 1) * W + OW - 1) // OW
                    acc = 0.0
                    for ih in range(h0, h1):
                        for iw in range(w0, w1):
                            acc += x[n, c, ih, iw]
                    out[n, c, oh, ow] = acc / ((h1 - h0) * (w1 - w0))


@njit(**_OPTS)
def adaptive_avg_pool2d_backward(g, gx):
    H, W = gx.shape[2], gx.shape[3]
    OH, OW = g.shape[2], g.shape[3]
    for n in range(g.shape[0]):
        for c in range(g.shape[1]):
            for ih in range(H):
                for iw in range(W):
                    gx[n, c, ih, iw] = 0
            for oh in range(OH):
                h0 = (oh * H) // OH
                h1 = ((oh + 1) * H + OH - 1) // OH
                for ow in range(OW):
                    w0 = (ow * W) // OW
                    w1 = ((ow + 1) * W + OW - 1) // OW
                    share = g[n, c, oh, ow] / ((h1 - h0) * (w1 - w0))
                    for ih in range(h0, h1):
                        for iw in range(w0, w1):
                            gx[n, c, ih, iw] += share
