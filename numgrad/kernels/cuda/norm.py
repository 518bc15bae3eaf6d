"""CUDA kernels of batch norm, layer norm, embedding and dropout.

The CUDA counterpart of ``kernels/cpu/norm.py``: the Python wrappers here have the names, arguments
and contracts of those CPU kernels (C-contiguous arrays in, results written
into the given output arrays, statistics in float64), so the ops layer calls
``backend.norm_kernels(data).<name>`` and never asks which device it is on.
The ``*_par`` names are the same functions (a GPU launch is always parallel).

Launch shapes:

* per-channel (batch norm) and per-row (layer norm) statistics: one block per
  channel / row.  Threads stride over its elements with float64 partial sums,
  and a tree in shared memory folds them (``_block_sum``); the two-pass
  mean-then-variance of the CPU is kept, so no cancellation.  The folding
  order depends only on the sizes: results are bitwise the same run to run;
* elementwise parts (batch-norm apply, dropout, embedding rows, running
  statistics): one thread per element in a grid-stride loop;
* layer norm's weight and bias gradients (sums over rows): one thread per
  column walks the rows in the CPU's order;
* embedding's dense weight gradient: the gradient is zeroed, then one thread
  per ``(index, column)`` adds its row with ``cuda.atomic.add``.  Repeated
  indices therefore add in an order that can change run to run (the last bits
  of a float sum; ``padding_idx`` rows are skipped as on the CPU).

On Numba's simulator kernels are plain Python, where ``math.sqrt`` of a
negative number raises; ``devmath.sqrt_f64`` gives NaN there, as the GPU does.
Accumulators start as ``float64(0.0)`` and scalar arguments are passed as
``np.float64`` so that the simulator computes in float64 as the device (and the
CPU) does: NumPy would keep ``np.float32 + 0.0`` in float32.
"""
from __future__ import annotations

import numpy as np
from numba import cuda, float64

from . import devmath as dm
from . import simulator_enabled
from .array import from_host
from .elementwise import launch_config
from .indexing import _check_atomic, check_bounds

# threads of the block-per-channel / block-per-row kernels (a power of two: the tree halves it)
BLOCK = 256
# ... on the simulator, which runs every thread in Python
SIMULATOR_BLOCK = 32
# grid cap of the block kernels; they stride over further channels / rows
MAX_BLOCKS = 4096


def _block_threads(n: int) -> int:
    """Threads per block for reducing ``n`` elements: a power of two in [32, BLOCK]."""
    cap = SIMULATOR_BLOCK if simulator_enabled() else BLOCK
    threads = 32
    while threads < n and threads < cap:
        threads *= 2
    return threads


# ----------------------------------------------------------------- block reductions
@cuda.jit(device=True, inline=True)
def _block_sum(buf, tid, value):
    """The sum of ``value`` over the threads of the block (every thread gets it)."""
    buf[tid] = value
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if tid < s:
            buf[tid] += buf[tid + s]
        cuda.syncthreads()
        s //= 2
    total = buf[0]
    cuda.syncthreads()  # buf is written again by the next call
    return total


@cuda.jit(device=True, inline=True)
def _block_sum2(buf, buf2, tid, a, b):
    """Two block sums in one tree."""
    buf[tid] = a
    buf2[tid] = b
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if tid < s:
            buf[tid] += buf[tid + s]
            buf2[tid] += buf2[tid + s]
        cuda.syncthreads()
        s //= 2
    ta = buf[0]
    tb = buf2[0]
    cuda.syncthreads()
    return ta, tb


# ----------------------------------------------------------------- batch norm
@cuda.jit(cache=True)
def _bn_stats(x, mean, var):
    """Per-channel mean and biased variance of x (N, C, L): one block per channel, two passes in float64."""
    buf = cuda.shared.array(BLOCK, float64)
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    n_img, C, L = x.shape
    count = n_img * L
    for c in range(cuda.blockIdx.x, C, cuda.gridDim.x):
        acc = float64(0.0)
        for j in range(tid, count, nt):
            n = j // L
            acc += x[n, c, j - n * L]
        m = _block_sum(buf, tid, acc) / count
        acc2 = float64(0.0)
        for j in range(tid, count, nt):
            n = j // L
            d = x[n, c, j - n * L] - m
            acc2 += d * d
        v = _block_sum(buf, tid, acc2) / count
        if tid == 0:
            mean[c] = m
            var[c] = v


@cuda.jit(cache=True)
def _bn_update_running(running_mean, running_var, mean, var, unbias, momentum):
    for c in range(cuda.grid(1), mean.shape[0], cuda.gridsize(1)):
        running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean[c]
        running_var[c] = (1 - momentum) * running_var[c] + momentum * var[c] * unbias


@cuda.jit(cache=True)
def _rsqrt_eps(var, eps, out):
    for c in range(cuda.grid(1), var.shape[0], cuda.gridsize(1)):
        out[c] = 1.0 / dm.sqrt_f64(var[c] + eps)


@cuda.jit(cache=True)
def _bn_apply(x, mean, invstd, w, b, out):
    """out = (x - mean[c]) * invstd[c] * w[c] + b[c] for x (N, C, L), as the CPU computes it."""
    n_img, C, L = x.shape
    for flat in range(cuda.grid(1), n_img * C * L, cuda.gridsize(1)):
        p = flat % L
        rest = flat // L
        c = rest % C
        n = rest // C
        scale = invstd[c] * w[c]
        shift = b[c] - mean[c] * scale
        out[n, c, p] = x[n, c, p] * scale + shift


@cuda.jit(cache=True)
def _bn_backward(g, x, mean, invstd, w, training, gx, gw, gb):
    """Gradients of batch norm, one block per channel: the channel's two sums, then its gx."""
    buf = cuda.shared.array(BLOCK, float64)
    buf2 = cuda.shared.array(BLOCK, float64)
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    n_img, C, L = x.shape
    count = n_img * L
    for c in range(cuda.blockIdx.x, C, cuda.gridDim.x):
        m = mean[c]
        s = invstd[c]
        sg = float64(0.0)
        sgx = float64(0.0)
        for j in range(tid, count, nt):
            n = j // L
            p = j - n * L
            gv = g[n, c, p]
            sg += gv
            sgx += gv * (x[n, c, p] - m) * s
        sum_g, sum_gxhat = _block_sum2(buf, buf2, tid, sg, sgx)
        if tid == 0:
            gw[c] = sum_gxhat
            gb[c] = sum_g
        scale = w[c] * s
        if training:
            mean_g = sum_g / count
            mean_gxhat = sum_gxhat / count
            for j in range(tid, count, nt):
                n = j // L
                p = j - n * L
                xhat = (x[n, c, p] - m) * s
                gx[n, c, p] = scale * (g[n, c, p] - mean_g - xhat * mean_gxhat)
        else:
            for j in range(tid, count, nt):
                n = j // L
                p = j - n * L
                gx[n, c, p] = scale * g[n, c, p]


# ----------------------------------------------------------------- layer norm
@cuda.jit(cache=True)
def _ln_forward(x, w, b, eps, out, mean, rstd):
    """One block per row of x (R, D): float64 mean and 1 / std (two passes), then the affine output."""
    buf = cuda.shared.array(BLOCK, float64)
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    R, D = x.shape
    for r in range(cuda.blockIdx.x, R, cuda.gridDim.x):
        acc = float64(0.0)
        for k in range(tid, D, nt):
            acc += x[r, k]
        m = _block_sum(buf, tid, acc) / D
        acc2 = float64(0.0)
        for k in range(tid, D, nt):
            d = x[r, k] - m
            acc2 += d * d
        s = 1.0 / dm.sqrt_f64(_block_sum(buf, tid, acc2) / D + eps)
        if tid == 0:
            mean[r] = m
            rstd[r] = s
        for k in range(tid, D, nt):
            out[r, k] = (x[r, k] - m) * s * w[k] + b[k]


@cuda.jit(cache=True)
def _ln_backward_rows(g, x, mean, rstd, w, gx):
    """gx of layer norm, one block per row (its two sums over the row, then the row)."""
    buf = cuda.shared.array(BLOCK, float64)
    buf2 = cuda.shared.array(BLOCK, float64)
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    R, D = x.shape
    for r in range(cuda.blockIdx.x, R, cuda.gridDim.x):
        m = mean[r]
        s = rstd[r]
        a = float64(0.0)
        bb = float64(0.0)
        for k in range(tid, D, nt):
            gwv = g[r, k] * w[k]
            a += gwv
            bb += gwv * ((x[r, k] - m) * s)
        sum_gw, sum_gw_xhat = _block_sum2(buf, buf2, tid, a, bb)
        mean_gw = sum_gw / D
        mean_gw_xhat = sum_gw_xhat / D
        for k in range(tid, D, nt):
            xhat = (x[r, k] - m) * s
            gx[r, k] = s * (g[r, k] * w[k] - mean_gw - xhat * mean_gw_xhat)


@cuda.jit(cache=True)
def _ln_backward_cols(g, x, mean, rstd, gw, gb):
    """gw[k] = sum_r g[r, k] * xhat[r, k] and gb[k] = sum_r g[r, k]: one thread per column, rows in order."""
    R, D = x.shape
    for k in range(cuda.grid(1), D, cuda.gridsize(1)):
        acc_w = float64(0.0)
        acc_b = float64(0.0)
        for r in range(R):
            gv = g[r, k]
            acc_w += gv * ((x[r, k] - mean[r]) * rstd[r])
            acc_b += gv
        gw[k] = acc_w
        gb[k] = acc_b


# ----------------------------------------------------------------- embedding
@cuda.jit(cache=True)
def _embedding_forward(weight, idx, out):
    D = weight.shape[1]
    for flat in range(cuda.grid(1), idx.shape[0] * D, cuda.gridsize(1)):
        i = flat // D
        k = flat - i * D
        out[i, k] = weight[idx[i], k]


@cuda.jit(cache=True)
def _fill_zero(out):
    for flat in range(cuda.grid(1), out.shape[0] * out.shape[1], cuda.gridsize(1)):
        r = flat // out.shape[1]
        out[r, flat - r * out.shape[1]] = 0


@cuda.jit(cache=True)
def _embedding_backward(g, idx, padding_idx, gw):
    """gw[idx[i], k] += g[i, k] for every (i, k) whose index is not ``padding_idx`` (gw zeroed before)."""
    D = g.shape[1]
    for flat in range(cuda.grid(1), idx.shape[0] * D, cuda.gridsize(1)):
        i = flat // D
        row = idx[i]
        if row != padding_idx:
            cuda.atomic.add(gw, (row, flat - i * D), g[i, flat - i * D])


# ----------------------------------------------------------------- dropout
@cuda.jit(cache=True)
def _dropout_forward(x, u, p, scale, out, mask):
    """Keep an element where u >= p; kept elements are scaled by 1 / (1 - p)."""
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        m = scale if u[i] >= p else 0.0
        mask[i] = m
        out[i] = x[i] * m


# ----------------------------------------------------------------- wrappers (the CPU kernels' signatures)
def _launch(kernel, n: int, *args) -> None:
    if n:
        blocks, threads = launch_config(n)
        kernel[blocks, threads](*args)


def _launch_blocks(kernel, n_blocks: int, n_per_block: int, *args) -> None:
    if n_blocks:
        kernel[min(n_blocks, MAX_BLOCKS), _block_threads(n_per_block)](*args)


def batch_norm_stats(x, mean, var) -> None:
    """Per-channel mean and biased variance (float64) of x (N, C, L)."""
    n, c, l = x.shape
    _launch_blocks(_bn_stats, c, n * l, x.kernel_arg(), mean.kernel_arg(), var.kernel_arg())


def batch_norm_update_running(running_mean, running_var, mean, var, count: int, momentum: float) -> None:
    """Exponential moving averages in place; the running variance takes the unbiased batch variance."""
    unbias = count / (count - 1) if count > 1 else 1.0
    _launch(_bn_update_running, mean.shape[0], running_mean.reshape(-1).kernel_arg(),
            running_var.reshape(-1).kernel_arg(), mean.kernel_arg(), var.kernel_arg(), np.float64(unbias),
            np.float64(momentum))


def rsqrt_eps(var, eps: float, out) -> None:
    _launch(_rsqrt_eps, var.shape[0], var.kernel_arg(), np.float64(eps), out.kernel_arg())


def batch_norm_apply(x, mean, invstd, w, b, out) -> None:
    _launch(_bn_apply, x.size, x.kernel_arg(), mean.kernel_arg(), invstd.kernel_arg(), w.kernel_arg(),
            b.kernel_arg(), out.kernel_arg())


def batch_norm_backward(g, x, mean, invstd, w, training: bool, gx, gw, gb) -> None:
    n, c, l = x.shape
    _launch_blocks(_bn_backward, c, n * l, g.kernel_arg(), x.kernel_arg(), mean.kernel_arg(), invstd.kernel_arg(),
                   w.kernel_arg(), bool(training), gx.kernel_arg(), gw.kernel_arg(), gb.kernel_arg())


def layer_norm_forward(x, w, b, eps: float, out, mean, rstd) -> None:
    r, d = x.shape
    _launch_blocks(_ln_forward, r, d, x.kernel_arg(), w.kernel_arg(), b.kernel_arg(), np.float64(eps),
                   out.kernel_arg(), mean.kernel_arg(), rstd.kernel_arg())


layer_norm_forward_par = layer_norm_forward


def layer_norm_backward(g, x, mean, rstd, w, gx, gw, gb) -> None:
    r, d = x.shape
    args = (g.kernel_arg(), x.kernel_arg(), mean.kernel_arg(), rstd.kernel_arg())
    _launch_blocks(_ln_backward_rows, r, d, *args, w.kernel_arg(), gx.kernel_arg())
    _launch(_ln_backward_cols, d, *args, gw.kernel_arg(), gb.kernel_arg())


def first_bad_index(idx, n: int) -> int:
    """Position of the first index outside [0, n), or -1 (one read back from the device)."""
    return check_bounds(idx, n)


def embedding_forward(weight, idx, out) -> None:
    _launch(_embedding_forward, out.size, weight.kernel_arg(), idx.kernel_arg(), out.kernel_arg())


def embedding_backward(g, idx, padding_idx: int, gw) -> None:
    """gw = the rows of g scatter-added by idx (``padding_idx`` rows skipped); gw is zeroed here."""
    _check_atomic(gw.dtype, "embedding backward")
    _launch(_fill_zero, gw.size, gw.kernel_arg())
    _launch(_embedding_backward, g.size, g.kernel_arg(), idx.kernel_arg(), int(padding_idx), gw.kernel_arg())


def dropout_forward(x, u, p: float, scale: float, out, mask) -> None:
    """``u`` is the host array of uniform draws the CPU path uses too (numgrad's generator, so
    ``ng.manual_seed`` gives the same mask on both devices); it reaches the device in one transfer."""
    if isinstance(u, np.ndarray):
        u = from_host(u)
    _launch(_dropout_forward, x.shape[0], x.kernel_arg(), u.kernel_arg(), np.float64(p), np.float64(scale),
            out.kernel_arg(), mask.kernel_arg())


dropout_forward_par = dropout_forward
