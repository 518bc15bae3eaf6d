"""Recurrent layers and cells against PyTorch from the same weights, and gradchecks of the fused gate kernels.

Sizes are tiny and configurations few: each layer's Numba sequence drivers compile once per dtype.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad.autograd.gradcheck import gradcheck, gradgradcheck
from numgrad.kernels import backend
from numgrad.kernels.cuda.array import DeviceArray
from numgrad.nn.functional.rnn import gru_cell, lstm_cell, recurrent_layer, rnn_relu_cell, rnn_tanh_cell
from tests.helpers import assert_close

I, H, B, T = 3, 4, 3, 5
RTOL, ATOL = 1e-4, 1e-5


def _pair_modules(torch_cls, ng_cls, *args, **kwargs):
    """A torch module and a numgrad one holding the same weights (loaded through ``load_state_dict``)."""
    torch.manual_seed(0)
    tm = torch_cls(*args, **kwargs)
    nm = ng_cls(*args, **kwargs)
    nm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return tm, nm


def _leaf(arr):
    return ng.tensor(arr, requires_grad=True), torch.tensor(arr, requires_grad=True)


def _randn(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _compare_grads(nm, tm, pairs):
    for name, p in tm.named_parameters():
        assert_close(dict(nm.named_parameters())[name].grad, p.grad, RTOL, ATOL, msg=name)
    for a, b in pairs:
        assert_close(a.grad, b.grad, RTOL, ATOL)


def _loss_weights(shape, seed):
    return _randn(*shape, seed=seed)


# ----------------------------------------------------------------- layers against torch
LAYER_CASES = [
    ("LSTM", dict(num_layers=2)),
    ("LSTM", dict(bidirectional=True, batch_first=True)),
    ("LSTM", dict(proj_size=2, bidirectional=True, bias=False)),
    ("GRU", dict(num_layers=2, bidirectional=True)),
    ("GRU", dict(batch_first=True, bias=False)),
    ("RNN", dict(nonlinearity="tanh", num_layers=2, batch_first=True)),
    ("RNN", dict(nonlinearity="relu", bidirectional=True)),
]


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("kind,kwargs", LAYER_CASES, ids=[f"{k}-{'-'.join(map(str, v.items()))}"
                                                          for k, v in LAYER_CASES])
def test_layer_matches_torch_outputs_states_and_all_gradients(kind, kwargs):
    tm, nm = _pair_modules(getattr(torch.nn, kind), getattr(ng.nn, kind), I, H, **kwargs)
    assert [n for n, _ in nm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    batch_first = kwargs.get("batch_first", False)
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    x_ng, x_t = _leaf(_randn(B, T, I) if batch_first else _randn(T, B, I))
    h_size = kwargs.get("proj_size") or H
    h_ng, h_t = _leaf(_randn(layers, B, h_size, seed=2) * 0.5)
    pairs = [(x_ng, x_t), (h_ng, h_t)]
    if kind == "LSTM":
        c_ng, c_t = _leaf(_randn(layers, B, H, seed=3) * 0.5)
        pairs.append((c_ng, c_t))
        out_ng, (hn_ng, cn_ng) = nm(x_ng, (h_ng, c_ng))
        out_t, (hn_t, cn_t) = tm(x_t, (h_t, c_t))
        assert_close(cn_ng, cn_t, RTOL, ATOL)
    else:
        out_ng, hn_ng = nm(x_ng, h_ng)
        out_t, hn_t = tm(x_t, h_t)
    assert_close(out_ng, out_t, RTOL, ATOL)
    assert_close(hn_ng, hn_t, RTOL, ATOL)
    w_out, w_h = _loss_weights(out_t.shape, 4), _loss_weights(hn_t.shape, 5)
    loss_ng = (out_ng * ng.tensor(w_out)).sum() + (hn_ng * ng.tensor(w_h)).sum()
    loss_t = (out_t * torch.tensor(w_out)).sum() + (hn_t * torch.tensor(w_h)).sum()
    if kind == "LSTM":
        w_c = _loss_weights(cn_t.shape, 6)
        loss_ng = loss_ng + (cn_ng * ng.tensor(w_c)).sum()
        loss_t = loss_t + (cn_t * torch.tensor(w_c)).sum()
    loss_ng.backward()
    loss_t.backward()
    _compare_grads(nm, tm, pairs)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_packed_input_with_unsorted_lengths(kind):
    tm, nm = _pair_modules(getattr(torch.nn, kind), getattr(ng.nn, kind), I, H, num_layers=2, bidirectional=True)
    lengths = [2, 5, 3]
    x_ng, x_t = _leaf(_randn(T, B, I))
    h_ng, h_t = _leaf(_randn(4, B, H, seed=2) * 0.5)
    p_ng = ng.nn.utils.rnn.pack_padded_sequence(x_ng, lengths, enforce_sorted=False)
    p_t = torch.nn.utils.rnn.pack_padded_sequence(x_t, lengths, enforce_sorted=False)
    if kind == "LSTM":
        c_ng, c_t = _leaf(_randn(4, B, H, seed=3) * 0.5)
        out_ng, (hn_ng, cn_ng) = nm(p_ng, (h_ng, c_ng))
        out_t, (hn_t, cn_t) = tm(p_t, (h_t, c_t))
        assert_close(cn_ng, cn_t, RTOL, ATOL)
    else:
        out_ng, hn_ng = nm(p_ng, h_ng)
        out_t, hn_t = tm(p_t, h_t)
    assert isinstance(out_ng, ng.nn.utils.rnn.PackedSequence)
    assert_close(out_ng.batch_sizes, out_t.batch_sizes)
    assert_close(out_ng.data, out_t.data, RTOL, ATOL)
    assert_close(hn_ng, hn_t, RTOL, ATOL)
    padded_ng, lens_ng = ng.nn.utils.rnn.pad_packed_sequence(out_ng, batch_first=True)
    padded_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_t, batch_first=True)
    w_out, w_h = _loss_weights(padded_t.shape, 4), _loss_weights(hn_t.shape, 5)
    ((padded_ng * ng.tensor(w_out)).sum() + (hn_ng * ng.tensor(w_h)).sum()).backward()
    ((padded_t * torch.tensor(w_out)).sum() + (hn_t * torch.tensor(w_h)).sum()).backward()
    pairs = [(x_ng, x_t), (h_ng, h_t)] + ([(c_ng, c_t)] if kind == "LSTM" else [])
    _compare_grads(nm, tm, pairs)


def test_unbatched_input_default_state_and_dropout_between_layers():
    tm, nm = _pair_modules(torch.nn.LSTM, ng.nn.LSTM, I, H)
    x = _randn(T, I)
    out_ng, (h_ng, c_ng) = nm(ng.tensor(x))
    out_t, (h_t, c_t) = tm(torch.tensor(x))
    assert out_ng.shape == (T, H) and h_ng.shape == (1, H)
    assert_close(out_ng, out_t, RTOL, ATOL)
    assert_close(c_ng, c_t, RTOL, ATOL)
    gru_t, gru_ng = _pair_modules(torch.nn.GRU, ng.nn.GRU, I, H, batch_first=True)
    out_ng, h_ng = gru_ng(ng.tensor(x), ng.zeros(1, H))
    out_t, h_t = gru_t(torch.tensor(x), torch.zeros(1, H))
    assert_close(out_ng, out_t, RTOL, ATOL)
    # dropout acts between layers in training only: eval is deterministic, training differs from eval
    drop = ng.nn.GRU(I, H, num_layers=2, dropout=0.5)
    xin = ng.tensor(_randn(T, B, I))
    drop.eval()
    a, _ = drop(xin)
    b, _ = drop(xin)
    assert_close(a, b)
    drop.train()
    c, _ = drop(xin)
    assert not np.allclose(a.detach().numpy(), c.detach().numpy())


def test_parameters_init_and_repr_like_torch():
    lstm = ng.nn.LSTM(I, 8, num_layers=2, bidirectional=True, proj_size=2, batch_first=True, bias=False,
                      dropout=0.1)
    ref = torch.nn.LSTM(I, 8, num_layers=2, bidirectional=True, proj_size=2, batch_first=True, bias=False,
                        dropout=0.1)
    assert repr(lstm) == repr(ref)
    assert {k: tuple(v.shape) for k, v in lstm.state_dict().items()} == \
           {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    bound = 1 / np.sqrt(8)
    for p in lstm.parameters():
        assert np.abs(p.detach().numpy()).max() <= bound
    assert len(lstm.all_weights) == 4 and len(lstm.all_weights[0]) == 3
    for cls in ("RNNCell", "LSTMCell", "GRUCell"):
        assert repr(getattr(ng.nn, cls)(I, H, bias=False)) == repr(getattr(torch.nn, cls)(I, H, bias=False))
    assert repr(ng.nn.RNNCell(I, H, nonlinearity="relu")) == repr(torch.nn.RNNCell(I, H, nonlinearity="relu"))


# ----------------------------------------------------------------- cells against torch
@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell", "RNNCell-relu"])
def test_cell_matches_torch_over_steps(kind):
    name, _, nonlin = kind.partition("-")
    extra = {"nonlinearity": nonlin} if nonlin else {}
    tm, nm = _pair_modules(getattr(torch.nn, name), getattr(ng.nn, name), I, H, **extra)
    x_ng, x_t = _leaf(_randn(T, B, I))
    h_ng, h_t = _leaf(_randn(B, H, seed=2))
    state_ng, state_t = h_ng, h_t
    if name == "LSTMCell":
        c_ng, c_t = _leaf(_randn(B, H, seed=3))
        state_ng, state_t = (h_ng, c_ng), (h_t, c_t)
    loss_ng = loss_t = 0
    for t in range(3):
        state_ng = nm(x_ng[t], state_ng)
        state_t = tm(x_t[t], state_t)
        out_ng, out_t = (state_ng[0], state_t[0]) if name == "LSTMCell" else (state_ng, state_t)
        assert_close(out_ng, out_t, RTOL, ATOL)
        w = _loss_weights((B, H), 10 + t)
        loss_ng = loss_ng + (out_ng * ng.tensor(w)).sum()
        loss_t = loss_t + (out_t * torch.tensor(w)).sum()
    if name == "LSTMCell":
        assert_close(state_ng[1], state_t[1], RTOL, ATOL)
        loss_ng = loss_ng + state_ng[1].sum()
        loss_t = loss_t + state_t[1].sum()
    loss_ng.backward()
    loss_t.backward()
    pairs = [(x_ng, x_t), (h_ng, h_t)] + ([(c_ng, c_t)] if name == "LSTMCell" else [])
    _compare_grads(nm, tm, pairs)
    # unbatched input and the default zero state
    one_ng = nm(x_ng[0, 0].detach())
    one_t = tm(x_t[0, 0].detach())
    assert_close(one_ng[0] if name == "LSTMCell" else one_ng, one_t[0] if name == "LSTMCell" else one_t,
                 RTOL, ATOL)


# ----------------------------------------------------------------- gradcheck (float64) of the fused kernels
def _f64(*shape, seed=0, scale=0.5):
    arr = np.random.default_rng(seed).standard_normal(shape) * scale
    return ng.tensor(arr, dtype=ng.float64, requires_grad=True)


def test_gradcheck_fused_cells_float64():
    x, h, c = _f64(2, I, seed=1), _f64(2, H, seed=2), _f64(2, H, seed=3)
    w4, u4, b4, bb4 = _f64(4 * H, I, seed=4), _f64(4 * H, H, seed=5), _f64(4 * H, seed=6), _f64(4 * H, seed=14)
    assert gradcheck(lambda *a: lstm_cell(a[0], (a[1], a[2]), *a[3:]), (x, h, c, w4, u4, b4, bb4))
    w3, u3, b3, bb3 = _f64(3 * H, I, seed=7), _f64(3 * H, H, seed=8), _f64(3 * H, seed=9), _f64(3 * H, seed=10)
    assert gradcheck(gru_cell, (x, h, w3, u3, b3, bb3))
    w1, u1, b1, bb1 = _f64(H, I, seed=11), _f64(H, H, seed=12), _f64(H, seed=13), _f64(H, seed=15)
    assert gradcheck(rnn_tanh_cell, (x, h, w1, u1, b1, bb1))
    # relu away from its kink: shift the pre-activations by +-0.3 so finite differences stay on one side
    assert gradcheck(lambda x_, h_: rnn_relu_cell(x_, h_, w1, u1, ng.tensor(np.where(np.arange(H) % 2, .3, -.3))),
                     (x, h))


def test_gradgradcheck_cells_float64():
    # tiny sizes: every element of every input is one more pair of finite-difference backward passes
    x, h, c = _f64(1, 2, seed=1), _f64(1, 2, seed=2), _f64(1, 2, seed=3)
    w4, u4 = _f64(8, 2, seed=4), _f64(8, 2, seed=5)
    assert gradgradcheck(lambda x_, h_, c_: lstm_cell(x_, (h_, c_), w4, u4), (x, h, c))
    assert gradgradcheck(lambda u_: lstm_cell(x, (h, c), w4, u_)[1], (u4,))
    w3, u3 = _f64(6, 2, seed=7), _f64(6, 2, seed=8)
    assert gradgradcheck(lambda x_, h_: gru_cell(x_, h_, w3, u3), (x, h))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_gradcheck_layers_float64_packed_bidirectional(kind):
    kwargs = dict(bidirectional=True, dtype=ng.float64)
    if kind == "LSTM":
        kwargs["proj_size"] = 2
    layer = getattr(ng.nn, kind)(2, 3, **kwargs)
    params = list(layer.parameters())
    names = [n for n, _ in layer.named_parameters()]
    x = _f64(4, 2, 2, seed=1)  # (T, B, I)

    def run(x_, *weights):
        for n, w in zip(names, weights):
            layer._parameters[n] = w
        packed = ng.nn.utils.rnn.pack_padded_sequence(x_, [2, 4], enforce_sorted=False)
        out, state = layer(packed)
        state = state if isinstance(state, tuple) else (state,)
        return (out.data,) + state

    assert gradcheck(run, (x, *params))


# ----------------------------------------------------------------- misuse
def test_wrong_sizes_raise_torch_errors():
    lstm = ng.nn.LSTM(I, H)
    with pytest.raises(RuntimeError, match=f"input.size\\(-1\\) must be equal to input_size. Expected {I}, got 5"):
        lstm(ng.zeros(T, B, 5))
    with pytest.raises(ValueError, match="LSTM: Expected input to be 2D or 3D, got 4D instead"):
        lstm(ng.zeros(1, T, B, I))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 3, 4\), got \[1, 2, 4\]"):
        lstm(ng.zeros(T, B, I), (ng.zeros(1, 2, H), ng.zeros(1, B, H)))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(1, 3, 4\), got \[1, 3, 5\]"):
        lstm(ng.zeros(T, B, I), (ng.zeros(1, B, H), ng.zeros(1, B, 5)))
    with pytest.raises(RuntimeError, match="For batched 3-D input, hx and cx should also be 3-D"):
        lstm(ng.zeros(T, B, I), (ng.zeros(B, H), ng.zeros(B, H)))
    with pytest.raises(ValueError, match=r"RNN input dtype \(.*float64\) does not match weight dtype"):
        lstm(ng.zeros(T, B, I, dtype=ng.float64))
    with pytest.raises(RuntimeError, match="Expected sequence length to be larger than 0 in RNN"):
        lstm(ng.zeros(0, B, I))
    gru = ng.nn.GRU(I, H, num_layers=2)
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(2, 3, 4\), got \[1, 3, 4\]"):
        gru(ng.zeros(T, B, I), ng.zeros(1, B, H))
    with pytest.raises(RuntimeError, match="For unbatched 2-D input, hx should also be 2-D but got 3-D tensor"):
        gru(ng.zeros(T, I), ng.zeros(2, 1, H))
    cell = ng.nn.LSTMCell(I, H)
    with pytest.raises(RuntimeError, match="input has inconsistent input_size: got 5 expected 3"):
        cell(ng.zeros(2, 5))
    with pytest.raises(RuntimeError, match="hidden1 has inconsistent hidden_size: got 2, expected 4"):
        cell(ng.zeros(2, I), (ng.zeros(2, H), ng.zeros(2, 2)))
    with pytest.raises(RuntimeError, match="Input batch size 2 doesn't match hidden0 batch size 3"):
        cell(ng.zeros(2, I), (ng.zeros(3, H), ng.zeros(3, H)))
    with pytest.raises(ValueError, match="GRUCell: Expected input to be 1D or 2D, got 3D instead"):
        ng.nn.GRUCell(I, H)(ng.zeros(1, 2, I))
    with pytest.raises(ValueError, match="RNNCell: Expected hidden to be 1D or 2D, got 3D instead"):
        ng.nn.RNNCell(I, H)(ng.zeros(2, I), ng.zeros(1, 2, H))
    with pytest.raises(ValueError, match=r"LSTMCell: Expected hx\[1\] to be 1D or 2D, got 3D instead"):
        cell(ng.zeros(2, I), (ng.zeros(2, H), ng.zeros(1, 2, H)))
    with pytest.raises(RuntimeError, match="lstm_cell: expected bias_ih of dtype numgrad.float32 like the input"):
        lstm_cell(ng.zeros(2, I), (ng.zeros(2, H), ng.zeros(2, H)), ng.zeros(4 * H, I), ng.zeros(4 * H, H),
                  ng.zeros(4 * H, dtype=ng.float64))
    with pytest.raises(RuntimeError, match=r"gru_cell\(\): expected a float32 or float64 input, got numgrad.int64"):
        gru_cell(ng.zeros(2, I, dtype=ng.int64), ng.zeros(2, H), ng.zeros(3 * H, I), ng.zeros(3 * H, H))
    with pytest.raises(RuntimeError, match=r"recurrent_layer\(\): inconsistent shapes: input \[5, 3\]"):
        recurrent_layer("GRU", ng.zeros(5, I), np.array([2, 2, 2]), ng.zeros(2, H), None, ng.zeros(3 * H, I),
                        ng.zeros(3 * H, H), None, None)
    with pytest.raises(NotImplementedError, match="CPU kernels only"):  # CUDA data: a clear error, not Numba's
        backend.rnn_kernels(DeviceArray.__new__(DeviceArray))


def test_constructor_errors_like_torch():
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        ng.nn.LSTM(I, H, proj_size=H)
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM, not RNN or GRU"):
        ng.nn.GRU(I, H, proj_size=1)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'. Select from 'tanh' or 'relu'."):
        ng.nn.RNN(I, H, nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"dropout should be a number in range \[0, 1\]"):
        ng.nn.LSTM(I, H, dropout=2)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        ng.nn.LSTM(I, H, dropout=0.2)
    with pytest.raises(TypeError, match="hidden_size should be of type int, got: float"):
        ng.nn.GRU(I, 4.0)


def test_double_backward_through_layers_float64():
    # the recorded backward of a layer is generic over the modes (it replays the cells, whose own double
    # backward test_gradgradcheck_cells_float64 checks): one LSTM with a projection and packed input covers it
    x = _f64(3, 2, 1, seed=1)  # (T, B, I)
    layer = ng.nn.LSTM(1, 2, proj_size=1, dtype=ng.float64)

    def run(x_, w_):
        layer._parameters["weight_hh_l0"] = w_
        packed = ng.nn.utils.rnn.pack_padded_sequence(x_, [3, 2])
        return layer(packed)[0].data

    assert gradgradcheck(run, (x, layer.weight_hh_l0))


# ----------------------------------------------------------------- a port: the word-language-model example
def _word_language_model(torch_like, rnn_type: str):
    """PyTorch's examples/word_language_model RNNModel and training step, written once for either library
    (dropout 0 so that both libraries compute the same thing)."""
    nn = torch_like.nn
    F = torch_like.nn.functional

    class RNNModel(nn.Module):
        def __init__(self, ntoken, ninp, nhid, nlayers):
            super().__init__()
            self.encoder = nn.Embedding(ntoken, ninp)
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=0.0)
            self.decoder = nn.Linear(nhid, ntoken)
            self.nhid, self.nlayers = nhid, nlayers

        def forward(self, input, hidden):
            output, hidden = self.rnn(self.encoder(input), hidden)
            decoded = self.decoder(output).view(-1, self.decoder.out_features)
            return F.log_softmax(decoded, dim=1), hidden

        def init_hidden(self, bsz):
            zeros = torch_like.zeros(self.nlayers, bsz, self.nhid)
            return (zeros, zeros) if rnn_type == "LSTM" else zeros

    def repackage_hidden(h):
        return h.detach() if isinstance(h, torch_like.Tensor) else tuple(repackage_hidden(v) for v in h)

    def train_step(model, data, targets, hidden, lr=5.0):
        hidden = repackage_hidden(hidden)
        model.zero_grad()
        output, hidden = model(data, hidden)
        loss = nn.NLLLoss()(output, targets)
        loss.backward()
        torch_like.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        return loss.item(), hidden

    return RNNModel, train_step


@pytest.mark.parametrize("rnn_type", ["LSTM", "GRU"])
def test_word_language_model_port_matches_torch(rnn_type):
    ntoken, bptt, bsz = 20, 6, 4
    models = {}
    for lib in (torch, ng):
        RNNModel, train_step = _word_language_model(lib, rnn_type)
        models[lib] = (RNNModel(ntoken, 8, 8, 2), train_step)
    models[ng][0].load_state_dict({k: v.detach().numpy() for k, v in models[torch][0].state_dict().items()})
    corpus = np.random.default_rng(0).integers(0, ntoken, (3 * bptt + 1, bsz))
    hidden = {lib: models[lib][0].init_hidden(bsz) for lib in (torch, ng)}
    for i in range(0, 3 * bptt, bptt):
        losses = {}
        for lib in (torch, ng):
            model, train_step = models[lib]
            data = lib.tensor(corpus[i:i + bptt])
            targets = lib.tensor(corpus[i + 1:i + 1 + bptt].reshape(-1))
            losses[lib], hidden[lib] = train_step(model, data, targets, hidden[lib])
        assert abs(losses[ng] - losses[torch]) < 1e-4 * max(1.0, abs(losses[torch]))
    for name, p in models[torch][0].named_parameters():
        assert_close(dict(models[ng][0].named_parameters())[name], p, 1e-4, 1e-5, msg=name)
