"""The recurrent ops behind ``nn.RNN``/``nn.LSTM``/``nn.GRU`` and their cells (PyTorch's ``torch.lstm_cell`` etc.).

Two kinds of ``Function``, both on the Numba kernels of ``kernels/cpu/rnn.py``
(``backend.rnn_kernels``):

* the cells (``lstm_cell``, ``gru_cell``, ``rnn_tanh_cell``, ``rnn_relu_cell``):
  the two products are ``linear`` ops; the gate math after them is ONE fused
  kernel forward and ONE backward.  Their backward is itself differentiable
  (a tensor-op formula when ``create_graph=True``).
* ``recurrent_layer``: one direction of one layer over a whole (packed)
  sequence.  The input projection of all steps is one ``linear`` before it;
  the loop over steps (``h W_hh^T`` and the fused step kernel) runs inside
  Numba, forward and backward, and the weight gradients are one product over
  all steps, as cuDNN does.

>>> import numgrad as ng
>>> from numgrad.nn.functional.rnn import lstm_cell
>>> w_ih, w_hh = ng.ones(8, 3) * 0.1, ng.ones(8, 2) * 0.1
>>> h, c = lstm_cell(ng.ones(1, 3), (ng.zeros(1, 2), ng.zeros(1, 2)), w_ih, w_hh)
>>> h.shape, c.shape
((1, 2), (1, 2))
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from ...autograd.function import Function
from ...autograd.grad_api import grad as _autograd_grad
from ...autograd.grad_mode import is_grad_enabled
from ...kernels import backend
from ...ops.shape import cat
from ...tensor import Tensor
from ._arguments import _arr, _check_float
from .affine import linear
from ...ops.autocast_policy import autocast_op

__all__ = ["lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell", "recurrent_layer", "GATES"]

# gate blocks per mode: rows of weight_ih / weight_hh are GATES[mode] * hidden_size
GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _one(a):
    """``1`` in the dtype of array (or dtype) ``a``: the kernels then compute in that precision."""
    return np.dtype(getattr(a, "dtype", a)).type(1)


def _no_bias(a: np.ndarray, n: int) -> np.ndarray:
    # the backend's fill, which ng.compile records and replays (memory NumPy zeroed would not be)
    return backend.full_for((a,), (n,), a.dtype, 0)


def check_cpu(op: str, *tensors) -> None:
    """The recurrent kernels are CPU kernels: a clear error for CUDA data instead of a Numba one."""
    for t in tensors:
        if t is not None and t.device.type != "cpu":
            raise NotImplementedError(
                f"{op}: the recurrent layers run on the CPU only in this numgrad build (got a tensor on "
                f"{t.device}); move the module and its inputs with .to('cpu')"
            )


# ================================================================== cells
class _LSTMCellGates(Function):
    """``(h, c)`` of one LSTM step from its gate pre-activations ``ig + hg`` (i, f, g, o) and ``c_prev``."""
    node_name = "LSTMCellBackward0"

    @staticmethod
    def forward(ctx, ig, hg, c_prev):
        iga, hga, ca = _arr(ig), _arr(hg), _arr(c_prev)
        rows, hidden = ca.shape
        h = np.empty((rows, hidden), iga.dtype)
        c = np.empty((rows, hidden), iga.dtype)
        acts = np.empty((rows, 4 * hidden), iga.dtype)
        backend.rnn_kernels(iga).lstm_step_forward(iga, hga, _no_bias(iga, 4 * hidden), ca, _one(iga), h, c, acts)
        ctx.save_for_backward(ig, hg, c_prev)
        ctx.acts = acts
        return Tensor(h), Tensor(c)

    @staticmethod
    def backward(ctx, dh, dc):
        ig, hg, c_prev = ctx.saved_tensors
        if is_grad_enabled():  # create_graph: the same derivative in tensor ops, so it can be differentiated
            i, f, g, o = (ig + hg).chunk(4, 1)
            i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
            tc = (f * c_prev + i * g).tanh()
            dct = dc + dh * o * (1 - tc * tc)
            dgates = cat([dct * g * i * (1 - i), dct * c_prev * f * (1 - f), dct * i * (1 - g * g),
                          dh * tc * o * (1 - o)], 1)
            return dgates, dgates, dct * f
        ca = _arr(c_prev)
        dca = backend.copy(_arr(dc))  # the kernel turns it into the gradient of c_prev in place (a kernel copy:
        # ng.compile replays kernels, not NumPy)
        dgates = np.empty(ctx.acts.shape, ca.dtype)
        backend.rnn_kernels(ca).lstm_step_backward(_arr(dh), dca, ctx.acts, ca, _one(ca), dgates)
        dgates = Tensor(dgates)
        return dgates, dgates, Tensor(dca)


class _GRUCellGates(Function):
    """``h`` of one GRU step from ``ig = x W_ih^T + b_ih``, ``hg = h W_hh^T + b_hh`` (r, z, n) and ``h_prev``."""
    node_name = "GRUCellBackward0"

    @staticmethod
    def forward(ctx, ig, hg, h_prev):
        iga, hga, ha = _arr(ig), _arr(hg), _arr(h_prev)
        rows, hidden = ha.shape
        h = np.empty((rows, hidden), iga.dtype)
        acts = np.empty((rows, 4 * hidden), iga.dtype)
        backend.rnn_kernels(iga).gru_step_forward(iga, hga, _no_bias(iga, 3 * hidden), ha, _one(iga), h, acts)
        ctx.save_for_backward(ig, hg, h_prev)
        ctx.acts = acts
        return Tensor(h)

    @staticmethod
    def backward(ctx, dh):
        ig, hg, h_prev = ctx.saved_tensors
        if is_grad_enabled():
            i_r, i_z, i_n = ig.chunk(3, 1)
            h_r, h_z, h_n = hg.chunk(3, 1)
            r, z = (i_r + h_r).sigmoid(), (i_z + h_z).sigmoid()
            n = (i_n + r * h_n).tanh()
            dn = dh * (1 - z) * (1 - n * n)
            dr = dn * h_n * r * (1 - r)
            dz = dh * (h_prev - n) * z * (1 - z)
            return cat([dr, dz, dn], 1), cat([dr, dz, dn * r], 1), dh * z
        ha = _arr(h_prev)
        rows, hidden = ha.shape
        dig = np.empty((rows, 3 * hidden), ha.dtype)
        dhg = np.empty((rows, 3 * hidden), ha.dtype)
        dhp = np.empty((rows, hidden), ha.dtype)
        backend.rnn_kernels(ha).gru_step_backward(_arr(dh), ctx.acts, ha, _one(ha), dig, dhg, dhp)
        return Tensor(dig), Tensor(dhg), Tensor(dhp)


class _RNNCellGates(Function):
    """``h = tanh(ig + hg)`` (or ``relu``) of one Elman step."""
    node_name = "RNNCellBackward0"

    @staticmethod
    def forward(ctx, ig, hg, relu):
        iga, hga = _arr(ig), _arr(hg)
        h = np.empty(iga.shape, iga.dtype)
        backend.rnn_kernels(iga).rnn_step_forward(iga, hga, _no_bias(iga, iga.shape[1]), relu, h)
        h = Tensor(h)
        ctx.save_for_backward(h)
        ctx.relu = relu
        return h

    @staticmethod
    def backward(ctx, dh):
        (h,) = ctx.saved_tensors
        if is_grad_enabled():
            dpre = dh * (h > 0).to(h.dtype) if ctx.relu else dh * (1 - h * h)
            return dpre, dpre, None
        ha = _arr(h)
        dpre = np.empty(ha.shape, ha.dtype)
        backend.rnn_kernels(ha).rnn_step_backward(_arr(dh), ha, ctx.relu, _one(ha), dpre)
        dpre = Tensor(dpre)
        return dpre, dpre, None


def _check_dtypes(op: str, input: Tensor, **others: Optional[Tensor]) -> None:
    """float32/float64 input, and every other tensor of its dtype (a Numba typing error must not reach a user)."""
    _check_float(input, "input", op)
    for name, t in others.items():
        if t is not None and t.dtype != input.dtype:
            raise RuntimeError(f"{op}: expected {name} of dtype {input.dtype} like the input, got {t.dtype} "
                               f"(shape {list(t.shape)}); convert it with .to({input.dtype})")


def _cell_inputs(op: str, input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, gates: int,
                 cx: Optional[Tensor] = None, b_ih: Optional[Tensor] = None, b_hh: Optional[Tensor] = None) -> None:
    """PyTorch's checks of a cell's arguments (``check_rnn_cell_forward_input`` / ``_hidden``)."""
    check_cpu(op, input, hx, cx, w_ih, w_hh)
    if input.ndim != 2 or hx.ndim != 2 or (cx is not None and cx.ndim != 2):
        raise RuntimeError(f"{op}: expected 2-D input (batch, input_size) and states (batch, hidden_size), got "
                           f"input {list(input.shape)} and hx {list(hx.shape)}")
    if input.shape[1] != w_ih.shape[1]:
        raise RuntimeError(f"input has inconsistent input_size: got {input.shape[1]} expected {w_ih.shape[1]}")
    hidden = w_hh.shape[1]
    for k, h in enumerate((hx, cx)):
        if h is None:
            continue
        if input.shape[0] != h.shape[0]:
            raise RuntimeError(f"Input batch size {input.shape[0]} doesn't match hidden{k} batch size {h.shape[0]}")
        if h.shape[1] != hidden:
            raise RuntimeError(f"hidden{k} has inconsistent hidden_size: got {h.shape[1]}, expected {hidden}")
    _check_dtypes(op, input, hx=hx, cx=cx, weight_ih=w_ih, weight_hh=w_hh, bias_ih=b_ih, bias_hh=b_hh)
    if w_ih.shape[0] != gates * hidden or w_hh.shape[0] != gates * hidden:
        raise RuntimeError(f"{op}: weight_ih {list(w_ih.shape)} and weight_hh {list(w_hh.shape)} must have "
                           f"{gates} * hidden_size = {gates * hidden} rows")


@autocast_op
def lstm_cell(input: Tensor, hx: Sequence[Tensor], w_ih: Tensor, w_hh: Tensor, b_ih: Optional[Tensor] = None,
              b_hh: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """One LSTM step (PyTorch's ``torch.lstm_cell``): ``(h', c')`` from ``input`` (B, I) and ``hx = (h, c)``.

    >>> import numgrad as ng
    >>> from numgrad.nn.functional.rnn import lstm_cell
    >>> h, c = lstm_cell(ng.zeros(2, 3), (ng.zeros(2, 4), ng.ones(2, 4)), ng.zeros(16, 3), ng.zeros(16, 4))
    >>> c   # f = sigmoid(0) = 0.5 keeps half of c; i * g = 0.5 * tanh(0) adds nothing
    tensor([[0.5000, 0.5000, 0.5000, 0.5000],
            [0.5000, 0.5000, 0.5000, 0.5000]])
    """
    h, c = hx
    _cell_inputs("lstm_cell", input, h, w_ih, w_hh, 4, c, b_ih, b_hh)
    return _LSTMCellGates.apply(linear(input, w_ih, b_ih), linear(h, w_hh, b_hh), c)


@autocast_op
def gru_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Optional[Tensor] = None,
             b_hh: Optional[Tensor] = None) -> Tensor:
    """One GRU step (PyTorch's ``torch.gru_cell``, gates r, z, n; ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``).

    >>> import numgrad as ng
    >>> from numgrad.nn.functional.rnn import gru_cell
    >>> gru_cell(ng.zeros(1, 3), ng.ones(1, 2), ng.zeros(6, 3), ng.zeros(6, 2))   # z = 0.5, n = 0
    tensor([[0.5000, 0.5000]])
    """
    _cell_inputs("gru_cell", input, hx, w_ih, w_hh, 3, None, b_ih, b_hh)
    return _GRUCellGates.apply(linear(input, w_ih, b_ih), linear(hx, w_hh, b_hh), hx)


@autocast_op
def rnn_tanh_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Optional[Tensor] = None,
                  b_hh: Optional[Tensor] = None) -> Tensor:
    """One Elman step ``tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (PyTorch's ``torch.rnn_tanh_cell``).

    >>> import numgrad as ng
    >>> from numgrad.nn.functional.rnn import rnn_tanh_cell
    >>> rnn_tanh_cell(ng.zeros(1, 3), ng.zeros(1, 2), ng.zeros(2, 3), ng.zeros(2, 2), ng.ones(2), ng.zeros(2))
    tensor([[0.7616, 0.7616]])
    """
    _cell_inputs("rnn_tanh_cell", input, hx, w_ih, w_hh, 1, None, b_ih, b_hh)
    return _RNNCellGates.apply(linear(input, w_ih, b_ih), linear(hx, w_hh, b_hh), False)


@autocast_op
def rnn_relu_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Optional[Tensor] = None,
                  b_hh: Optional[Tensor] = None) -> Tensor:
    """One Elman step ``relu(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (PyTorch's ``torch.rnn_relu_cell``).

    >>> import numgrad as ng
    >>> from numgrad.nn.functional.rnn import rnn_relu_cell
    >>> rnn_relu_cell(ng.zeros(1, 3), ng.zeros(1, 2), ng.zeros(2, 3), ng.zeros(2, 2), ng.tensor([1., -1.]))
    tensor([[1., 0.]])
    """
    _cell_inputs("rnn_relu_cell", input, hx, w_ih, w_hh, 1, None, b_ih, b_hh)
    return _RNNCellGates.apply(linear(input, w_ih, b_ih), linear(hx, w_hh, b_hh), True)


# ================================================================== one direction of one layer
class _RecurrentLayer(Function):
    """One direction of one recurrent layer over a packed sequence (see ``recurrent_layer``)."""
    node_name = "RecurrentLayerBackward0"

    @staticmethod
    def forward(ctx, ig, w_hh, b_hh, w_hr, h0, c0, mode, batch_sizes, offsets, reverse):
        iga, whh, ha0 = _arr(ig), _arr(w_hh), _arr(h0)
        k = backend.rnn_kernels(iga)
        dtype = iga.dtype
        rows, gate_width = iga.shape
        batch, state = ha0.shape
        b = _arr(b_hh) if b_hh is not None else _no_bias(iga, gate_width)
        out = np.empty((rows, state), dtype)
        h = np.empty((batch, state), dtype)
        h_prev_all = np.empty((rows, state), dtype)
        hg = np.empty((batch, gate_width), dtype)
        ctx.mode, ctx.batch_sizes, ctx.offsets, ctx.reverse = mode, batch_sizes, offsets, reverse
        ctx.h_prev_all = h_prev_all
        if mode == "LSTM":
            ca0 = _arr(c0)
            hidden = ca0.shape[1]
            has_proj = w_hr is not None
            whr = _arr(w_hr) if has_proj else np.zeros((0, 0), dtype)
            c = np.empty((batch, hidden), dtype)
            acts = np.empty((rows, gate_width), dtype)
            c_prev_all = np.empty((rows, hidden), dtype)
            h_raw_all = np.empty((rows, hidden), dtype) if has_proj else np.zeros((0, 0), dtype)
            k.lstm_layer_forward(iga, whh, b, whr, has_proj, ha0, ca0, batch_sizes, offsets, reverse, _one(iga),
                                 out, h, c, acts, h_prev_all, c_prev_all, h_raw_all, hg)
            ctx.acts, ctx.c_prev_all, ctx.h_raw_all = acts, c_prev_all, h_raw_all
            ctx.save_for_backward(ig, w_hh, b_hh, w_hr, h0, c0)
            return Tensor(out), Tensor(h), Tensor(c)
        if mode == "GRU":
            acts = np.empty((rows, 4 * state), dtype)
            k.gru_layer_forward(iga, whh, b, ha0, batch_sizes, offsets, reverse, _one(iga), out, h, acts,
                                h_prev_all, hg)
            ctx.acts = acts
        else:
            k.rnn_layer_forward(iga, whh, b, ha0, mode == "RNN_RELU", batch_sizes, offsets, reverse, out, h,
                                h_prev_all, hg)
            ctx.out = out
        ctx.save_for_backward(ig, w_hh, b_hh, w_hr, h0, c0)
        return Tensor(out), Tensor(h)

    @staticmethod
    def backward(ctx, dout, dhn, dcn=None):
        need = ctx.needs_input_grad
        saved = ctx.saved_tensors
        if is_grad_enabled():
            return _recorded_layer_backward(ctx, saved, (dout, dhn, dcn))
        whh = _arr(saved[1])
        k = backend.rnn_kernels(whh)
        douta = _arr(dout)
        dtype = douta.dtype
        rows = douta.shape[0]
        dh = backend.copy(_arr(dhn))  # becomes the gradient of h0 (a kernel copy, which ng.compile replays)
        batch, state = dh.shape
        bs, offs, rev = ctx.batch_sizes, ctx.offsets, ctx.reverse
        gate_width = whh.shape[0]
        dig = np.empty((rows, gate_width), dtype)
        d_whr = dc = None
        if ctx.mode == "LSTM":
            w_hr = saved[3]
            has_proj = w_hr is not None
            whr = _arr(w_hr) if has_proj else np.zeros((0, 0), dtype)
            dc = backend.copy(_arr(dcn))
            dh_all = np.empty((rows, state), dtype)
            dh_raw = np.empty((batch, dc.shape[1]), dtype)
            k.lstm_layer_backward(douta, whh, whr, has_proj, ctx.acts, ctx.c_prev_all, bs, offs, rev, _one(dtype),
                                  dh, dc, dig, dh_all, dh_raw)
            dhh = dig
            if has_proj and need[3]:
                d_whr = Tensor(backend.matmul_arrays(dh_all.T, ctx.h_raw_all))
        elif ctx.mode == "GRU":
            dhg = np.empty((rows, gate_width), dtype)
            k.gru_layer_backward(douta, whh, ctx.acts, ctx.h_prev_all, bs, offs, rev, _one(dtype), dh, dig, dhg,
                                 np.empty((batch, state), dtype))
            dhh = dhg
        else:
            k.rnn_layer_backward(douta, whh, ctx.out, ctx.mode == "RNN_RELU", bs, offs, rev, _one(dtype), dh, dig,
                                 np.empty((batch, state), dtype))
            dhh = dig
        d_whh = Tensor(backend.matmul_arrays(dhh.T, ctx.h_prev_all)) if need[1] else None
        d_bhh = Tensor(backend.reduce_array(dhh, (0,), "sum", dtype)) if need[2] else None
        return (Tensor(dig), d_whh, d_bhh, d_whr, Tensor(dh) if need[4] else None,
                Tensor(dc) if dc is not None and need[5] else None, None, None, None, None)


def _recompute_layer(mode, ig, w_hh, b_hh, w_hr, h0, c0, batch_sizes, offsets, reverse):
    """``_RecurrentLayer``'s forward again, step by step from the differentiable cells (for ``create_graph``)."""
    batch = h0.shape[0]
    h, c = h0, c0
    outs = [None] * len(batch_sizes)
    order = range(len(batch_sizes) - 1, -1, -1) if reverse else range(len(batch_sizes))
    for t in order:
        bs, r0 = int(batch_sizes[t]), int(offsets[t])
        h_run = h if bs == batch else h[:bs]
        hg = linear(h_run, w_hh, b_hh)
        if mode == "LSTM":
            h_new, c_new = _LSTMCellGates.apply(ig[r0:r0 + bs], hg, c if bs == batch else c[:bs])
            if w_hr is not None:
                h_new = linear(h_new, w_hr)
            c = c_new if bs == batch else cat([c_new, c[bs:]])
        elif mode == "GRU":
            h_new = _GRUCellGates.apply(ig[r0:r0 + bs], hg, h_run)
        else:
            h_new = _RNNCellGates.apply(ig[r0:r0 + bs], hg, mode == "RNN_RELU")
        h = h_new if bs == batch else cat([h_new, h[bs:]])
        outs[t] = h_new
    return cat(outs), h, c


def _recorded_layer_backward(ctx, saved, grads):
    """The layer's gradient as a differentiable graph (``create_graph=True``): rebuild the forward from the
    cells, whose backward is itself made of tensor ops, and differentiate that."""
    need = ctx.needs_input_grad[:6]
    out, h, c = _recompute_layer(ctx.mode, *saved, ctx.batch_sizes, ctx.offsets, ctx.reverse)
    outputs = [out, h] + ([c] if ctx.mode == "LSTM" else [])
    wanted = [i for i in range(6) if need[i] and saved[i] is not None]
    found = _autograd_grad(outputs, [saved[i] for i in wanted], list(grads[:len(outputs)]), create_graph=True,
                           allow_unused=True)
    result = [None] * 10
    for i, g in zip(wanted, found):
        result[i] = g
    return tuple(result)


def packed_offsets(batch_sizes: np.ndarray) -> np.ndarray:
    """First row of each step in packed data: the running sum of ``batch_sizes``.

    >>> packed_offsets(np.array([3, 2, 2]))
    array([0, 3, 5])
    """
    return np.concatenate([[0], np.cumsum(batch_sizes)[:-1]]).astype(np.int64)


@autocast_op
def recurrent_layer(mode: str, input: Tensor, batch_sizes: np.ndarray, h0: Tensor, c0: Optional[Tensor],
                    w_ih: Tensor, w_hh: Tensor, b_ih: Optional[Tensor], b_hh: Optional[Tensor],
                    w_hr: Optional[Tensor] = None, reverse: bool = False) -> Tuple[Tensor, ...]:
    """One direction of one recurrent layer over packed ``input`` (N, I): ``(output (N, P), h_n[, c_n])``.

    ``mode`` is ``"LSTM"``, ``"GRU"``, ``"RNN_TANH"`` or ``"RNN_RELU"``;
    ``batch_sizes`` (int64, non-increasing) says how many sequences run at each
    step (``[B] * T`` for a padded ``(T, B, I)`` batch flattened to ``(T*B, I)``);
    ``h0`` (B, P) and, for an LSTM, ``c0`` (B, H) are the initial states;
    ``w_hr`` (P, H) is an LSTM's projection (``proj_size``).  ``reverse`` runs
    the steps from the last to the first (the backward direction of a
    bidirectional layer).

    >>> import numgrad as ng, numpy as np
    >>> from numgrad.nn.functional.rnn import recurrent_layer
    >>> out, h = recurrent_layer("RNN_TANH", ng.ones(6, 3), np.array([2, 2, 2]), ng.zeros(2, 4),
    ...                          None, ng.ones(4, 3) * 0.1, ng.zeros(4, 4), None, None)
    >>> out.shape, h.shape
    ((6, 4), (2, 4))
    """
    if mode not in GATES:
        raise ValueError(f"recurrent_layer(): unknown mode {mode!r}; expected one of {sorted(GATES)}")
    check_cpu("recurrent_layer", input, h0, c0, w_ih, w_hh, w_hr)
    _check_dtypes("recurrent_layer", input, h0=h0, c0=c0, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh, w_hr=w_hr)
    if (mode == "LSTM") != (c0 is not None):
        raise ValueError("recurrent_layer(): c0 is required for an LSTM and only for an LSTM")
    batch_sizes = np.ascontiguousarray(batch_sizes, dtype=np.int64)
    if batch_sizes.ndim != 1 or batch_sizes.size == 0 or np.any(batch_sizes[1:] > batch_sizes[:-1]):
        raise RuntimeError("recurrent_layer(): batch_sizes must be a non-empty, non-increasing 1-D sequence, got "
                           f"{batch_sizes.tolist()}")
    hidden = w_hh.shape[0] // GATES[mode]
    state = w_hr.shape[0] if w_hr is not None else hidden
    if (input.ndim != 2 or int(batch_sizes.sum()) != input.shape[0] or h0.ndim != 2 or h0.shape[0] != batch_sizes[0]
            or h0.shape[1] != state or w_hh.shape != (GATES[mode] * hidden, state)
            or (c0 is not None and tuple(c0.shape) != (h0.shape[0], hidden))):
        raise RuntimeError(
            f"recurrent_layer(): inconsistent shapes: input {list(input.shape)} (rows must sum batch_sizes = "
            f"{int(batch_sizes.sum())}), h0 {list(h0.shape)}, c0 {None if c0 is None else list(c0.shape)}, "
            f"weight_hh {list(w_hh.shape)}, weight_hr {None if w_hr is None else list(w_hr.shape)}"
        )
    ig = linear(input, w_ih, b_ih)
    return _RecurrentLayer.apply(ig, w_hh, b_hh, w_hr, h0, c0, mode, batch_sizes, packed_offsets(batch_sizes),
                                 bool(reverse))
