"""The arithmetic ``DistributedDataParallel`` and ``SyncBatchNorm`` do around their collectives, as Numba kernels.

They are kernels (not NumPy calls) so that ``ng.compile`` records them with the rest of a training step and
its replay repeats them: copying gradients into the flat buckets MPI reduces (scaled by 1 / world size, the
average folded into the copy) and the results back into ``.grad``.  Arrays are 1-D and contiguous.

``sync_bn_*``: the statistics of ``nn.SyncBatchNorm`` (PyTorch's ``batch_norm_stats``,
``batch_norm_gather_stats_with_counts``, ``batch_norm_backward_reduce`` and ``batch_norm_backward_elemt``).
Inputs are ``(N, C, L)`` C-contiguous views of the batch; statistics are float64 whatever the input's dtype.

>>> import numpy as np
>>> out = np.zeros(3, dtype=np.float32)
>>> scale_into(np.ones(3, dtype=np.float32), np.float32(0.5), out); out.tolist()
[0.5, 0.5, 0.5]
"""
from __future__ import annotations

import math

from numba import njit

from ..kernels.config import FASTMATH
from ..kernels.cpu.norm import batch_norm_stats

_OPTS = dict(cache=True, nogil=True)
# the statistics kernels: numpy's error model (a global count of 1 gives a NaN unbiased variance, as PyTorch's,
# instead of raising) and the flags that let the per-channel sums vectorize (no NaN/Inf assumptions)
_STATS_OPTS = dict(cache=True, nogil=True, error_model="numpy", fastmath=set(FASTMATH))


@njit(**_OPTS)
def scale_into(src, factor, dst):
    """``dst = src * factor`` (``factor`` of ``dst``'s dtype, as NumPy's ``np.multiply(src, f, out=dst)``)."""
    for i in range(dst.shape[0]):
        dst[i] = src[i] * factor


@njit(**_OPTS)
def copy_into(src, dst):
    """``dst[:] = src``."""
    for i in range(dst.shape[0]):
        dst[i] = src[i]


@njit(**_OPTS)
def fill_zero(dst):
    """``dst[:] = 0`` (a parameter without a gradient on this rank contributes zero)."""
    for i in range(dst.shape[0]):
        dst[i] = 0


# ----------------------------------------------------------------- SyncBatchNorm
@njit(**_STATS_OPTS)
def sync_bn_local_stats(x, stats):
    """This rank's share of the statistics: ``stats`` (2C + 1,) = per-channel mean, per-channel biased variance
    (two passes), then the count N * L.  An empty batch writes zeros (count 0), which ``sync_bn_combine`` skips."""
    n_img, C, L = x.shape
    count = n_img * L
    if count > 0:
        batch_norm_stats(x, stats[:C], stats[C:2 * C])  # BatchNorm's own two-pass statistics
    else:
        stats[:2 * C] = 0.0
    stats[2 * C] = count


@njit(**_STATS_OPTS)
def sync_bn_combine(gathered, eps, mean, invstd, unbiased_var, total):
    """Every rank's ``sync_bn_local_stats`` (rows of ``gathered``, (world size, 2C + 1)) combined into the global
    batch's ``mean``, ``invstd`` = 1 / sqrt(biased variance + eps), the unbiased variance (for the running
    statistics) and ``total`` (1,) = the global count.  Ranks are merged one at a time with Chan et al.'s
    pairwise update of the count, mean and sum of squared deviations, so no rank's count needs to be equal."""
    C = mean.shape[0]
    n_total = 0.0
    for c in range(C):
        n = 0.0
        avg = 0.0
        squares = 0.0  # sum of squared deviations from the running ``avg``
        for r in range(gathered.shape[0]):
            count = gathered[r, 2 * C]
            if count < 1:  # an empty batch on that rank contributes nothing
                continue
            delta = gathered[r, c] - avg
            merged = n + count
            squares += gathered[r, C + c] * count + delta * delta * n * count / merged
            avg += delta * count / merged
            n = merged
        mean[c] = avg
        invstd[c] = 1.0 / math.sqrt(squares / n + eps)
        unbiased_var[c] = squares / (n - 1)
        n_total = n
    total[0] = n_total


@njit(**_STATS_OPTS)
def sync_bn_update_running(running_mean, running_var, mean, unbiased_var, momentum):
    """PyTorch's running statistics: ``(1 - momentum) * running + momentum * batch`` (unbiased variance)."""
    for c in range(mean.shape[0]):
        running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean[c]
        running_var[c] = (1 - momentum) * running_var[c] + momentum * unbiased_var[c]


@njit(**_STATS_OPTS)
def sync_bn_backward_reduce(g, x, mean, invstd, sums, grad_weight, grad_bias):
    """This rank's per-channel sums for the backward pass: ``sums`` (2C,) = sum(dy), then sum(dy * (x - mean));
    ``grad_weight`` = sum(dy * xhat) and ``grad_bias`` = sum(dy) over this rank's batch (DDP averages those)."""
    n_img, C, L = x.shape
    for c in range(C):
        sum_dy = 0.0
        sum_dy_xmu = 0.0
        m = mean[c]
        for n in range(n_img):
            for p in range(L):
                gv = g[n, c, p]
                sum_dy += gv
                sum_dy_xmu += gv * (x[n, c, p] - m)
        sums[c] = sum_dy
        sums[C + c] = sum_dy_xmu
        grad_weight[c] = sum_dy_xmu * invstd[c]
        grad_bias[c] = sum_dy


@njit(**_STATS_OPTS)
def sync_bn_backward_elemt(g, x, mean, invstd, w, sums, total, gx):
    """The input gradient from the all-reduced ``sums`` (over every rank's batch) and the global count
    ``total[0]``: ``gx = (dy - mean(dy) - (x - mean) * invstd^2 * mean(dy * (x - mean))) * invstd * w``."""
    n_img, C, L = x.shape
    norm = 1.0 / total[0]
    for c in range(C):
        mean_dy = sums[c] * norm
        projection = invstd[c] * invstd[c] * sums[C + c] * norm
        scale = invstd[c] * w[c]
        m = mean[c]
        for n in range(n_img):
            for p in range(L):
                gx[n, c, p] = (g[n, c, p] - mean_dy - (x[n, c, p] - m) * projection) * scale
