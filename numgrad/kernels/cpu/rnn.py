"""Numba kernels of the recurrent layers (``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` and their cells).

Each time step is two products and ONE fused pointwise kernel forward (and
one backward), as in PyTorch's fused CUDA cells:

* ``*_step_forward`` take the input projection ``ig = x W_ih^T + b_ih`` and the
  hidden projection ``hg = h W_hh^T`` of the step, add ``b_hh`` and apply the
  gates in one pass; they save the activated gates for backward.
* ``*_step_backward`` turn the gradient of the step's outputs into the
  gradient of the gate pre-activations (and of the previous cell state) in
  one pass.

The ``*_layer_forward`` / ``*_layer_backward`` drivers run one direction of
one layer over a whole (packed) sequence inside Numba: per step one ``gemm``
(``blas.py``: MKL or OpenBLAS, ``blas_library``) for ``h W_hh^T`` and the step kernel, so no Python runs
between steps.  A sequence is stored packed, time-major: step ``t`` owns
rows ``offsets[t] : offsets[t] + batch_sizes[t]`` of every ``(N, .)`` array,
``batch_sizes`` non-increasing (longest sequences first), and the hidden
state rows ``[:batch_sizes[t]]`` are the running sequences; ``reverse`` walks
the steps from the last to the first.  The weight gradients are one product
over all steps afterwards (done by the caller).

Gate layouts are PyTorch's: LSTM ``i, f, g, o``; GRU ``r, z, n`` with
``n = tanh(ig_n + r * (hg_n + b_hn))``.  ``one`` is ``1`` in the arrays' dtype, so
float32 data is computed in float32 (``fastmath.sigmoid``/``tanh`` vectorize).
Every array is C-contiguous and all float arrays of a call share a dtype.
"""
from __future__ import annotations

from numba import njit

from ..config import FASTMATH
from . import fastmath as fm
from .blas import gemm

_OPTS = dict(cache=True, nogil=True, error_model="numpy", fastmath=set(FASTMATH))


# ----------------------------------------------------------------- LSTM
# The step kernels work on one row at a time through 1-D views of each gate block, and give every loop
# a single output stream: measured at batch 16, hidden 128 (float32), one loop writing all four gate
# blocks at offsets did not vectorize and took 5-8x longer (forward ~130 us against ~17 us, backward
# ~45 us against ~9 us on a loaded 2-vCPU host).
@njit(**_OPTS)
def lstm_step_forward(ig, hg, b, c_prev, one, h, c, acts):
    """One LSTM step for ``b`` rows: gates ``ig + hg + b`` (b, 4H) -> ``h``, ``c`` (b, H); ``acts`` gets i, f, g, o."""
    rows, hidden = c_prev.shape
    for n in range(rows):
        a = acts[n]
        x = ig[n]
        y = hg[n]
        for blk in range(4):
            lo = blk * hidden
            ab = a[lo:lo + hidden]
            xb = x[lo:lo + hidden]
            yb = y[lo:lo + hidden]
            bb = b[lo:lo + hidden]
            if blk == 2:
                for j in range(hidden):
                    ab[j] = fm.tanh(xb[j] + yb[j] + bb[j])
            else:
                for j in range(hidden):
                    ab[j] = fm.sigmoid(xb[j] + yb[j] + bb[j])
        ai = a[:hidden]
        af = a[hidden:2 * hidden]
        ag = a[2 * hidden:3 * hidden]
        ao = a[3 * hidden:]
        cp = c_prev[n]
        cn = c[n]
        hn = h[n]
        for j in range(hidden):
            v = af[j] * cp[j] + ai[j] * ag[j]
            cn[j] = v
            hn[j] = ao[j] * fm.tanh(v)


@njit(**_OPTS)
def lstm_step_backward(dh, dc, acts, c_prev, one, dgates):
    """Gradient of one LSTM step: ``dh``, ``dc`` (b, H) of its outputs -> ``dgates`` (b, 4H); ``dc`` becomes the
    gradient of ``c_prev`` (in place)."""
    rows, hidden = c_prev.shape
    for n in range(rows):
        a = acts[n]
        cp = c_prev[n]
        d = dh[n]
        dcr = dc[n]
        dg = dgates[n]
        ai = a[:hidden]
        af = a[hidden:2 * hidden]
        ag = a[2 * hidden:3 * hidden]
        ao = a[3 * hidden:]
        gi = dg[:hidden]
        gf = dg[hidden:2 * hidden]
        gg = dg[2 * hidden:3 * hidden]
        go = dg[3 * hidden:]
        for j in range(hidden):
            tc = fm.tanh(af[j] * cp[j] + ai[j] * ag[j])  # c recomputed from the gates: not stored
            o = ao[j]
            go[j] = d[j] * tc * o * (one - o)
            dcr[j] = dcr[j] + d[j] * o * (one - tc * tc)  # now the gradient of c itself
        for j in range(hidden):
            gi[j] = dcr[j] * ag[j] * ai[j] * (one - ai[j])
        for j in range(hidden):
            gf[j] = dcr[j] * cp[j] * af[j] * (one - af[j])
        for j in range(hidden):
            gg[j] = dcr[j] * ai[j] * (one - ag[j] * ag[j])
        for j in range(hidden):
            dcr[j] = dcr[j] * af[j]


@njit(**_OPTS)
def lstm_layer_forward(ig, w_hh, b, w_hr, has_proj, h0, c0, batch_sizes, offsets, reverse, one,
                       out, h, c, acts, h_prev_all, c_prev_all, h_raw_all, hg):
    """One direction of an LSTM layer over a packed sequence.

    ``h``, ``c`` start as copies of ``h0``/``c0`` and end as the final states.
    Saved for backward: ``acts`` (N, 4H), the states entering each step
    (``h_prev_all`` (N, P), ``c_prev_all`` (N, H)) and, with a projection
    ``w_hr`` (P, H), the unprojected outputs ``h_raw_all`` (N, H).
    ``hg`` is (B, 4H) scratch.
    """
    h[:, :] = h0
    c[:, :] = c0
    steps = batch_sizes.shape[0]
    for k in range(steps):
        t = steps - 1 - k if reverse else k
        bs = batch_sizes[t]
        r0 = offsets[t]
        r1 = r0 + bs
        h_prev_all[r0:r1] = h[:bs]
        c_prev_all[r0:r1] = c[:bs]
        gemm(h[:bs], w_hh.T, hg[:bs], 1.0, 0.0)
        if has_proj:
            lstm_step_forward(ig[r0:r1], hg[:bs], b, c_prev_all[r0:r1], one, h_raw_all[r0:r1], c[:bs],
                              acts[r0:r1])
            gemm(h_raw_all[r0:r1], w_hr.T, h[:bs], 1.0, 0.0)
            out[r0:r1] = h[:bs]
        else:
            lstm_step_forward(ig[r0:r1], hg[:bs], b, c_prev_all[r0:r1], one, out[r0:r1], c[:bs], acts[r0:r1])
            h[:bs] = out[r0:r1]


@njit(**_OPTS)
def lstm_layer_backward(dout, w_hh, w_hr, has_proj, acts, c_prev_all, batch_sizes, offsets, reverse, one,
                        dh, dc, dig, dh_all, dh_raw):
    """Backward of ``lstm_layer_forward``.

    ``dh`` (B, P) / ``dc`` (B, H) start as the gradients of the final states and
    end as those of ``h0``/``c0``.  Writes ``dig`` (N, 4H), the gradient of the
    gate pre-activations (that of ``ig``; summed, of ``b``), and ``dh_all``
    (N, P), the total gradient of each step's output (for ``w_hr``'s gradient).
    ``dh_raw`` is (B, H) scratch.
    """
    steps = batch_sizes.shape[0]
    for k in range(steps):
        t = k if reverse else steps - 1 - k
        bs = batch_sizes[t]
        r0 = offsets[t]
        r1 = r0 + bs
        for n in range(bs):
            for j in range(dh.shape[1]):
                dh_all[r0 + n, j] = dout[r0 + n, j] + dh[n, j]
        if has_proj:
            gemm(dh_all[r0:r1], w_hr, dh_raw[:bs], 1.0, 0.0)
            lstm_step_backward(dh_raw[:bs], dc[:bs], acts[r0:r1], c_prev_all[r0:r1], one, dig[r0:r1])
        else:
            lstm_step_backward(dh_all[r0:r1], dc[:bs], acts[r0:r1], c_prev_all[r0:r1], one, dig[r0:r1])
        gemm(dig[r0:r1], w_hh, dh[:bs], 1.0, 0.0)


# ----------------------------------------------------------------- GRU
@njit(**_OPTS)
def gru_step_forward(ig, hg, b, h_prev, one, h, acts):
    """One GRU step: ``ig`` (b, 3H) holds ``x W_ih^T + b_ih``, ``hg`` (b, 3H) ``h W_hh^T``; ``acts`` (b, 4H) gets
    r, z, n and ``hg_n + b_hn``."""
    rows, hidden = h_prev.shape
    br = b[:hidden]
    bz = b[hidden:2 * hidden]
    bn = b[2 * hidden:]
    for n in range(rows):
        x = ig[n]
        y = hg[n]
        a = acts[n]
        ar = a[:hidden]
        az = a[hidden:2 * hidden]
        an = a[2 * hidden:3 * hidden]
        ahn = a[3 * hidden:]
        xr = x[:hidden]
        xz = x[hidden:2 * hidden]
        xn = x[2 * hidden:]
        yr = y[:hidden]
        yz = y[hidden:2 * hidden]
        yn = y[2 * hidden:]
        hp = h_prev[n]
        hr = h[n]
        for j in range(hidden):
            ar[j] = fm.sigmoid(xr[j] + yr[j] + br[j])
        for j in range(hidden):
            az[j] = fm.sigmoid(xz[j] + yz[j] + bz[j])
        for j in range(hidden):
            ahn[j] = yn[j] + bn[j]
        for j in range(hidden):
            an[j] = fm.tanh(xn[j] + ar[j] * ahn[j])
        for j in range(hidden):
            hr[j] = (one - az[j]) * an[j] + az[j] * hp[j]


@njit(**_OPTS)
def gru_step_backward(dh, acts, h_prev, one, dig, dhg, dh_prev):
    """Gradient of one GRU step: ``dh`` (b, H) -> ``dig``, ``dhg`` (b, 3H) (of ``ig`` and of ``hg + b``) and the
    direct part ``dh * z`` of the gradient of ``h_prev`` into ``dh_prev`` (b, H)."""
    rows, hidden = h_prev.shape
    for n in range(rows):
        a = acts[n]
        ar = a[:hidden]
        az = a[hidden:2 * hidden]
        an = a[2 * hidden:3 * hidden]
        ahn = a[3 * hidden:]
        gi = dig[n]
        gir = gi[:hidden]
        giz = gi[hidden:2 * hidden]
        gin = gi[2 * hidden:]
        gh = dhg[n]
        ghr = gh[:hidden]
        ghz = gh[hidden:2 * hidden]
        ghn = gh[2 * hidden:]
        d = dh[n]
        hp = h_prev[n]
        dp = dh_prev[n]
        for j in range(hidden):
            gin[j] = d[j] * (one - az[j]) * (one - an[j] * an[j])
        for j in range(hidden):
            gir[j] = gin[j] * ahn[j] * ar[j] * (one - ar[j])
        for j in range(hidden):
            giz[j] = d[j] * (hp[j] - an[j]) * az[j] * (one - az[j])
        for j in range(hidden):
            ghr[j] = gir[j]
        for j in range(hidden):
            ghz[j] = giz[j]
        for j in range(hidden):
            ghn[j] = gin[j] * ar[j]
        for j in range(hidden):
            dp[j] = d[j] * az[j]


@njit(**_OPTS)
def gru_layer_forward(ig, w_hh, b, h0, batch_sizes, offsets, reverse, one, out, h, acts, h_prev_all, hg):
    """One direction of a GRU layer over a packed sequence (see ``lstm_layer_forward``); ``acts`` (N, 4H)."""
    h[:, :] = h0
    steps = batch_sizes.shape[0]
    for k in range(steps):
        t = steps - 1 - k if reverse else k
        bs = batch_sizes[t]
        r0 = offsets[t]
        r1 = r0 + bs
        h_prev_all[r0:r1] = h[:bs]
        gemm(h[:bs], w_hh.T, hg[:bs], 1.0, 0.0)
        gru_step_forward(ig[r0:r1], hg[:bs], b, h_prev_all[r0:r1], one, out[r0:r1], acts[r0:r1])
        h[:bs] = out[r0:r1]


@njit(**_OPTS)
def gru_layer_backward(dout, w_hh, acts, h_prev_all, batch_sizes, offsets, reverse, one, dh, dig, dhg, dh_step):
    """Backward of ``gru_layer_forward``: ``dh`` (B, H) from the final state's gradient to ``h0``'s; writes
    ``dig`` and ``dhg`` (N, 3H).  ``dh_step`` is (B, H) scratch."""
    steps = batch_sizes.shape[0]
    for k in range(steps):
        t = k if reverse else steps - 1 - k
        bs = batch_sizes[t]
        r0 = offsets[t]
        r1 = r0 + bs
        for n in range(bs):
            for j in range(dh.shape[1]):
                dh_step[n, j] = dout[r0 + n, j] + dh[n, j]
        gru_step_backward(dh_step[:bs], acts[r0:r1], h_prev_all[r0:r1], one, dig[r0:r1], dhg[r0:r1], dh[:bs])
        gemm(dhg[r0:r1], w_hh, dh[:bs], 1.0, 1.0)


# ----------------------------------------------------------------- Elman RNN (tanh / relu)
@njit(**_OPTS)
def rnn_step_forward(ig, hg, b, relu, h):
    """One Elman step: ``h = tanh(ig + hg + b)`` (``relu``: ``max(., 0)``), all (b, H)."""
    rows, hidden = h.shape
    for n in range(rows):
        x = ig[n]
        y = hg[n]
        hr = h[n]
        if relu:
            for j in range(hidden):
                v = x[j] + y[j] + b[j]
                # NaN stays NaN, everything else not above 0 becomes +0.0 (PyTorch's relu)
                hr[j] = v if (v > 0 or v != v) else 0.0
        else:
            for j in range(hidden):
                hr[j] = fm.tanh(x[j] + y[j] + b[j])


@njit(**_OPTS)
def rnn_step_backward(dh, h, relu, one, dgates):
    """Gradient of one Elman step from ``dh`` and its output ``h`` to the pre-activation ``dgates`` (b, H)."""
    rows, hidden = h.shape
    for n in range(rows):
        d = dh[n]
        hr = h[n]
        g = dgates[n]
        if relu:
            for j in range(hidden):
                g[j] = d[j] if hr[j] > 0 else 0.0
        else:
            for j in range(hidden):
                g[j] = d[j] * (one - hr[j] * hr[j])


@njit(**_OPTS)
def rnn_layer_forward(ig, w_hh, b, h0, relu, batch_sizes, offsets, reverse, out, h, h_prev_all, hg):
    """One direction of an Elman RNN layer over a packed sequence (see ``lstm_layer_forward``)."""
    h[:, :] = h0
    steps = batch_sizes.shape[0]
    for k in range(steps):
        t = steps - 1 - k if reverse else k
        bs = batch_sizes[t]
        r0 = offsets[t]
        r1 = r0 + bs
        h_prev_all[r0:r1] = h[:bs]
        gemm(h[:bs], w_hh.T, hg[:bs], 1.0, 0.0)
        rnn_step_forward(ig[r0:r1], hg[:bs], b, relu, out[r0:r1])
        h[:bs] = out[r0:r1]


@njit(**_OPTS)
def rnn_layer_backward(dout, w_hh, out, relu, batch_sizes, offsets, reverse, one, dh, dig, dh_step):
    """Backward of ``rnn_layer_forward``: ``dh`` (B, H) from the final state's gradient to ``h0``'s; writes
    ``dig`` (N, H).  ``dh_step`` is (B, H) scratch."""
    steps = batch_sizes.shape[0]
    for k in range(steps):
        t = k if reverse else steps - 1 - k
        bs = batch_sizes[t]
        r0 = offsets[t]
        r1 = r0 + bs
        for n in range(bs):
            for j in range(dh.shape[1]):
                dh_step[n, j] = dout[r0 + n, j] + dh[n, j]
        rnn_step_backward(dh_step[:bs], out[r0:r1], relu, one, dig[r0:r1])
        gemm(dig[r0:r1], w_hh, dh[:bs], 1.0, 0.0)
