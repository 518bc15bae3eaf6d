"""Attention against PyTorch: ``F.scaled_dot_product_attention`` (fused masked softmax, forward and backward),
``nn.MultiheadAttention``, the Transformer layers and ``nn.Transformer`` from the same weights, a subclass of
``nn.Transformer`` as PyTorch's word-language-model example writes it, and a GPT-style character model trained
a few Adam steps with only the import changed."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import numgrad as ng
import numgrad.nn as nn
import numgrad.nn.functional as F

RNG = np.random.default_rng(2026)
# PyTorch's own warnings about its nested-tensor fast path (numgrad has none) and mixed mask types
pytestmark = pytest.mark.filterwarnings("ignore:.*(mismatched|enable_nested_tensor).*:UserWarning")


def _randn(*shape, dtype="float32"):
    return RNG.standard_normal(shape).astype(dtype)


def _pair(arr):
    return ng.tensor(arr, requires_grad=True), torch.tensor(arr, requires_grad=True)


def _close(a, b, rtol=2e-5, atol=2e-6, msg=""):
    a = a.detach().numpy() if isinstance(a, ng.Tensor) else a
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    assert a.shape == b.shape, f"{msg}: {a.shape} vs {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=msg)


# ================================================================== scaled_dot_product_attention
def _mask_case(case):
    """(numgrad kwargs, torch kwargs, query/key/value shapes) for one SDPA configuration."""
    shapes = [(2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6)]
    if case == "none":
        return {}, {}, shapes
    if case == "causal":
        return {"is_causal": True}, {"is_causal": True}, shapes
    if case == "bool_with_empty_row":
        m = RNG.random((4, 5)) > 0.3
        m[1] = False  # a query that sees no key: zeros, as PyTorch
        return {"attn_mask": ng.tensor(m)}, {"attn_mask": torch.tensor(m)}, shapes
    if case == "float_broadcast":
        m = _randn(2, 1, 4, 5)
        return {"attn_mask": ng.tensor(m)}, {"attn_mask": torch.tensor(m)}, shapes
    if case == "bool_broadcast_scale":
        m = RNG.random((3, 1, 5)) > 0.3
        m[..., 0] = True
        kw = {"scale": 0.3}
        return dict(kw, attn_mask=ng.tensor(m)), dict(kw, attn_mask=torch.tensor(m)), shapes
    if case == "query_2d_broadcast":
        return {}, {}, [(4, 8), (2, 5, 8), (2, 5, 6)]
    if case == "gqa":
        kw = {"enable_gqa": True, "is_causal": True}
        return kw, kw, [(2, 4, 5, 8), (2, 2, 5, 8), (2, 2, 5, 6)]
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["none", "causal", "bool_with_empty_row", "float_broadcast",
                                  "bool_broadcast_scale", "query_2d_broadcast", "gqa"])
def test_sdpa_matches_torch(case):
    kw, tkw, shapes = _mask_case(case)
    (q, tq), (k, tk), (v, tv) = (_pair(_randn(*s)) for s in shapes)
    out = F.scaled_dot_product_attention(q, k, v, **kw)
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **tkw)
    _close(out, tout, msg="output")
    g = _randn(*tout.shape)
    out.backward(ng.tensor(g))
    tout.backward(torch.tensor(g))
    for name, a, b in (("query", q, tq), ("key", k, tk), ("value", v, tv)):
        _close(a.grad, b.grad, msg=f"grad of {name}")


def test_sdpa_float_mask_gradient_matches_torch():
    (q, tq), (k, tk), (v, tv) = (_pair(_randn(2, 4, 8)) for _ in range(3))
    m, tm = _pair(_randn(4, 4))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm)
    out.sum().backward()
    tout.sum().backward()
    _close(m.grad, tm.grad, msg="grad of the float mask (summed over the broadcast batch)")


@pytest.mark.parametrize("mask", ["causal", "bool", "float"])
def test_sdpa_gradcheck_float64(mask):
    q, k, v = (ng.tensor(_randn(2, 3, 4, dtype="float64"), requires_grad=True) for _ in range(3))
    inputs = [q, k, v]
    if mask == "causal":
        fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)  # noqa: E731
    elif mask == "bool":
        keep = ng.tensor(RNG.random((1, 3, 3)) > 0.4)
        fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=keep)  # noqa: E731
    else:
        inputs.append(ng.tensor(_randn(3, 3, dtype="float64"), requires_grad=True))
        fn = lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.7)  # noqa: E731
    assert ng.autograd.gradcheck(fn, tuple(inputs))


def test_sdpa_gradgradcheck_float64():
    q, k, v = (ng.tensor(_randn(1, 3, 2, dtype="float64"), requires_grad=True) for _ in range(3))
    assert ng.autograd.gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                                     (q, k, v))


def test_sdpa_dropout_zeroes_or_rescales_attention_weights():
    q, k, v = (ng.tensor(_randn(2, 6, 4)) for _ in range(3))
    ng.manual_seed(0)
    assert np.all(F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy() == 0)
    # value = identity: the output rows are the attention weights, each 0 or twice the undropped weight
    eye = ng.tensor(np.broadcast_to(np.eye(6, dtype=np.float32), (2, 6, 6)).copy())
    plain = F.scaled_dot_product_attention(q, k, eye).numpy()
    dropped = F.scaled_dot_product_attention(q, k, eye, dropout_p=0.5).numpy()
    kept = dropped != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(dropped[kept], 2 * plain[kept], rtol=1e-6)


def test_sdpa_errors():
    q = ng.randn(2, 4, 8)
    with pytest.raises(RuntimeError, match="Expected query, key, and value to have the same dtype"):
        F.scaled_dot_product_attention(q.double(), q, q)
    with pytest.raises(RuntimeError, match="Explicit attn_mask should not be set when is_causal=True"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ng.ones(4, 4), is_causal=True)
    with pytest.raises(RuntimeError, match=r"attn_mask of shape \[3, 4\] does not broadcast"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ng.ones(3, 4))
    with pytest.raises(RuntimeError, match="query and key must have the same embedding size"):
        F.scaled_dot_product_attention(q, ng.randn(2, 4, 6), q)
    with pytest.raises(RuntimeError, match="key and value must have the same sequence length"):
        F.scaled_dot_product_attention(q, q, ng.randn(2, 3, 8))
    with pytest.raises(RuntimeError, match="enable_gqa needs the number of query heads"):
        F.scaled_dot_product_attention(ng.randn(1, 3, 4, 8), ng.randn(1, 2, 4, 8), ng.randn(1, 2, 4, 8),
                                       enable_gqa=True)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=1.5)


# ================================================================== nn.MultiheadAttention
def _load(ng_mod, t_mod):
    ng_mod.load_state_dict(t_mod.state_dict())


def _compare_params(ng_mod, t_mod, rtol=2e-5, atol=2e-6):
    t_params = dict(t_mod.named_parameters())
    names = [n for n, _ in ng_mod.named_parameters()]
    assert names == list(t_params), "parameter names and order are PyTorch's"
    for name, p in ng_mod.named_parameters():
        tp = t_params[name]
        assert (p.grad is None) == (tp.grad is None), name
        if p.grad is not None:
            _close(p.grad, tp.grad, rtol, atol, msg=f"grad of {name}")


MHA_CASES = {
    "self_batch_first_padding": dict(init=dict(batch_first=True), self_attn=True, kpm=True),
    "cross_kdim_vdim_float_mask_avg": dict(init=dict(kdim=6, vdim=5), mask="float2d"),
    "bias_kv_zero_attn_bool3d_per_head": dict(init=dict(add_bias_kv=True, add_zero_attn=True), mask="bool3d",
                                              average=False),
    "unbatched_no_bias": dict(init=dict(bias=False), unbatched=True, self_attn=True),
}


@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multihead_attention_matches_torch(case):
    cfg = MHA_CASES[case]
    E, H, L, S, N = 8, 2, 4, 5, 3
    tm = torch.nn.MultiheadAttention(E, H, **cfg["init"])
    m = nn.MultiheadAttention(E, H, **cfg["init"])
    _load(m, tm)
    bf = cfg["init"].get("batch_first", False)
    kdim, vdim = cfg["init"].get("kdim", E), cfg["init"].get("vdim", E)
    if cfg.get("unbatched"):
        shapes = [(L, E), (S, kdim), (S, vdim)]
    elif bf:
        shapes = [(N, L, E), (N, S, kdim), (N, S, vdim)]
    else:
        shapes = [(L, N, E), (S, N, kdim), (S, N, vdim)]
    if cfg.get("self_attn"):
        x, tx = _pair(_randn(*shapes[0]))
        args, targs = (x, x, x), (tx, tx, tx)
        S = L
    else:
        pairs = [_pair(_randn(*s)) for s in shapes]
        args, targs = tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
    kw, tkw = {}, {}
    if cfg.get("kpm"):
        pad = np.zeros((N, S), dtype=bool)
        pad[0, -2:] = True
        kw["key_padding_mask"], tkw["key_padding_mask"] = ng.tensor(pad), torch.tensor(pad)
    if cfg.get("mask") == "float2d":
        fm = _randn(L, S)
        kw["attn_mask"], tkw["attn_mask"] = ng.tensor(fm), torch.tensor(fm)
    if cfg.get("mask") == "bool3d":
        bm = RNG.random((N * H, L, S)) > 0.7
        kw["attn_mask"], tkw["attn_mask"] = ng.tensor(bm), torch.tensor(bm)
    if "average" in cfg:
        kw["average_attn_weights"] = tkw["average_attn_weights"] = cfg["average"]
    out, w = m(*args, **kw)
    tout, tw = tm(*targs, **tkw)
    _close(out, tout, msg="output")
    _close(w, tw, msg="attention weights")
    g = _randn(*tout.shape)
    (out * ng.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    for i, (a, b) in enumerate(zip(args, targs)):
        if b.grad is not None:
            _close(a.grad, b.grad, msg=f"grad of input {i}")
    _compare_params(m, tm)


def test_multihead_attention_is_causal_hint_and_errors():
    tm = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    _load(m, tm)
    x = _randn(2, 5, 8)
    causal = np.triu(np.full((5, 5), -np.inf, dtype=np.float32), 1)
    out, w = m(ng.tensor(x), ng.tensor(x), ng.tensor(x), attn_mask=ng.tensor(causal), is_causal=True,
               need_weights=False)
    tout, _ = tm(torch.tensor(x), torch.tensor(x), torch.tensor(x), attn_mask=torch.tensor(causal), is_causal=True,
                 need_weights=False)
    assert w is None
    _close(out, tout)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        m(ng.tensor(x), ng.tensor(x), ng.tensor(x), is_causal=True)
    with pytest.raises(RuntimeError, match=r"The shape of the 2D attn_mask is \(4, 4\), but should be \(5, 5\)"):
        m(ng.tensor(x), ng.tensor(x), ng.tensor(x), attn_mask=ng.zeros(4, 4))
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(AssertionError, match="was expecting embedding dimension of 8, but got 6"):
        m(ng.randn(2, 5, 6), ng.randn(2, 5, 6), ng.randn(2, 5, 6))


def test_multihead_attention_dropout_in_training_only():
    m = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True)
    x = ng.randn(2, 6, 8)
    ng.manual_seed(1)
    with ng.no_grad():
        _, w_train = m(x, x, x, average_attn_weights=False)
        m.eval()
        _, w_eval = m(x, x, x, average_attn_weights=False)
    kept = w_train.numpy() != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(w_train.numpy()[kept], 2 * w_eval.numpy()[kept], rtol=1e-5)
    np.testing.assert_allclose(w_eval.numpy().sum(-1), 1, rtol=1e-5)


# ================================================================== transformer layers
@pytest.mark.parametrize("norm_first,activation", [(False, "relu"), (True, "gelu"), (False, "silu callable")])
def test_transformer_encoder_matches_torch(norm_first, activation):
    kw = dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, activation=activation, norm_first=norm_first,
              batch_first=True)
    t_kw = dict(kw)
    if activation == "silu callable":
        kw["activation"], t_kw["activation"] = F.silu, torch.nn.functional.silu
    t_enc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(**t_kw), 2, torch.nn.LayerNorm(8),
                                        enable_nested_tensor=False)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(**kw), 2, nn.LayerNorm(8))
    _load(enc, t_enc)
    x, tx = _pair(_randn(3, 5, 8))
    pad = np.zeros((3, 5), dtype=bool)
    pad[1, 3:] = True
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5)
    out = enc(x, mask=nn.Transformer.generate_square_subsequent_mask(5), src_key_padding_mask=ng.tensor(pad))
    tout = t_enc(tx, mask=mask, src_key_padding_mask=torch.tensor(pad))
    _close(out, tout, rtol=1e-4, atol=1e-5)
    g = _randn(3, 5, 8)
    out.backward(ng.tensor(g))
    tout.backward(torch.tensor(g))
    _close(x.grad, tx.grad, rtol=1e-4, atol=1e-5)
    _compare_params(enc, t_enc, rtol=1e-4, atol=1e-5)


def test_transformer_matches_torch_and_state_dict_keys():
    kw = dict(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=2, dim_feedforward=16, dropout=0.0)
    torch.manual_seed(0)
    tt = torch.nn.Transformer(**kw)
    t = nn.Transformer(**kw)
    assert list(t.state_dict()) == list(tt.state_dict())
    _load(t, tt)
    (src, tsrc), (tgt, ttgt) = _pair(_randn(6, 2, 8)), _pair(_randn(4, 2, 8))
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(tgt_mask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())
    mem_pad = np.zeros((2, 6), dtype=bool)
    mem_pad[0, 4:] = True
    out = t(src, tgt, tgt_mask=tgt_mask, memory_key_padding_mask=ng.tensor(mem_pad))
    tout = tt(tsrc, ttgt, tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(4),
              memory_key_padding_mask=torch.tensor(mem_pad))
    _close(out, tout, rtol=1e-4, atol=1e-5)
    out.sum().backward()
    tout.sum().backward()
    _close(src.grad, tsrc.grad, rtol=1e-4, atol=2e-5)
    _close(tgt.grad, ttgt.grad, rtol=1e-4, atol=2e-5)
    _compare_params(t, tt, rtol=1e-4, atol=2e-5)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        t(ng.randn(6, 2, 8), ng.randn(4, 3, 8))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to d_model"):
        t(ng.randn(6, 2, 4), ng.randn(4, 2, 4))
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")


def test_transformer_default_init_distributions():
    ng.manual_seed(0)
    t = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32)
    w = t.encoder.layers[0].linear1.weight.detach().numpy()
    bound = math.sqrt(6 / (16 + 32))  # xavier_uniform_ on every matrix
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    m = nn.MultiheadAttention(16, 2)
    assert np.all(m.in_proj_bias.detach().numpy() == 0) and np.all(m.out_proj.bias.detach().numpy() == 0)
    assert np.abs(m.in_proj_weight.detach().numpy()).max() <= math.sqrt(6 / (16 + 48))


# ================================================================== ported programs (only the import changes)
def _word_language_model(torch):
    """PyTorch's examples/word_language_model TransformerModel, subclassing nn.Transformer (its mask helper
    written with triu as generate_square_subsequent_mask does)."""
    nn = torch.nn
    F = torch.nn.functional

    class PositionalEncoding(nn.Module):
        def __init__(self, d_model, dropout=0.1, max_len=5000):
            super().__init__()
            self.dropout = nn.Dropout(p=dropout)
            pe = torch.zeros(max_len, d_model)
            position = torch.arange(0, max_len, dtype=torch.float32).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
            pe[:, 0::2] = torch.sin(position * div_term)
            pe[:, 1::2] = torch.cos(position * div_term)
            pe = pe.unsqueeze(0).transpose(0, 1)
            self.register_buffer('pe', pe)

        def forward(self, x):
            x = x + self.pe[:x.size(0), :]
            return self.dropout(x)

    class TransformerModel(nn.Transformer):
        def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
            super(TransformerModel, self).__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid,
                                                   num_encoder_layers=nlayers)
            self.model_type = 'Transformer'
            self.src_mask = None
            self.pos_encoder = PositionalEncoding(ninp, dropout)
            self.input_emb = nn.Embedding(ntoken, ninp)
            self.ninp = ninp
            self.decoder = nn.Linear(ninp, ntoken)
            self.init_weights()

        def _generate_square_subsequent_mask(self, sz):
            return nn.Transformer.generate_square_subsequent_mask(sz)

        def init_weights(self):
            initrange = 0.1
            nn.init.uniform_(self.input_emb.weight, -initrange, initrange)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -initrange, initrange)

        def forward(self, src, has_mask=True):
            if has_mask:
                device = src.device
                if self.src_mask is None or self.src_mask.size(0) != len(src):
                    mask = self._generate_square_subsequent_mask(len(src)).to(device)
                    self.src_mask = mask
            else:
                self.src_mask = None
            src = self.input_emb(src) * math.sqrt(self.ninp)
            src = self.pos_encoder(src)
            output = self.encoder(src, mask=self.src_mask)
            output = self.decoder(output)
            return F.log_softmax(output, dim=-1)

    return TransformerModel


def test_word_language_model_subclass_of_transformer_matches_torch():
    t_model = _word_language_model(torch)(ntoken=11, ninp=8, nhead=2, nhid=16, nlayers=2, dropout=0.0)
    model = _word_language_model(ng)(ntoken=11, ninp=8, nhead=2, nhid=16, nlayers=2, dropout=0.0)
    assert "decoder.weight" in model.state_dict() and "decoder.layers.0.norm1.weight" not in model.state_dict()
    model.load_state_dict(t_model.state_dict())
    # nn.Transformer's own layers keep their default dropout=0.1 (the example passes dropout to the positional
    # encoding only): compare in eval mode, where no mask is random
    model.eval()
    t_model.eval()
    data = RNG.integers(0, 11, size=(7, 3))
    target = RNG.integers(0, 11, size=(7 * 3,))
    out = model(ng.tensor(data))
    t_out = t_model(torch.tensor(data))
    _close(out, t_out, rtol=1e-4, atol=1e-5)
    loss = F.nll_loss(out.view(-1, 11), ng.tensor(target))
    t_loss = torch.nn.functional.nll_loss(t_out.view(-1, 11), torch.tensor(target))
    loss.backward()
    t_loss.backward()
    _compare_params(model, t_model, rtol=1e-4, atol=1e-5)


def _gpt(torch):
    """A tiny GPT-style character model: token + learned position embeddings, two pre-norm causal encoder
    layers, a final LayerNorm and a linear head."""
    nn = torch.nn

    class TinyGPT(nn.Module):
        def __init__(self, vocab_size, block_size, n_embd=16, n_head=2, n_layer=2):
            super().__init__()
            self.tok_emb = nn.Embedding(vocab_size, n_embd)
            self.pos_emb = nn.Embedding(block_size, n_embd)
            layer = nn.TransformerEncoderLayer(n_embd, n_head, 4 * n_embd, dropout=0.0, activation="gelu",
                                               batch_first=True, norm_first=True)
            self.blocks = nn.TransformerEncoder(layer, n_layer, enable_nested_tensor=False)
            self.ln_f = nn.LayerNorm(n_embd)
            self.head = nn.Linear(n_embd, vocab_size)

        def forward(self, idx, targets=None):
            B, T = idx.shape
            pos = torch.arange(0, T, dtype=torch.int64)
            x = self.tok_emb(idx) + self.pos_emb(pos)
            mask = nn.Transformer.generate_square_subsequent_mask(T)
            x = self.blocks(x, mask=mask, is_causal=True)
            logits = self.head(self.ln_f(x))
            loss = None
            if targets is not None:
                loss = nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
            return logits, loss

    def train(model, data, steps, block_size=8, batch_size=4):
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        losses = []
        for step in range(steps):
            ix = [(step * 7 + 3 * b) % (len(data) - block_size - 1) for b in range(batch_size)]
            x = torch.stack([torch.tensor(data[i:i + block_size]) for i in ix])
            y = torch.stack([torch.tensor(data[i + 1:i + 1 + block_size]) for i in ix])
            _, loss = model(x, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    return TinyGPT, train


def test_gpt_character_model_trains_like_torch():
    text = "to be or not to be that is the question whether tis nobler in the mind to suffer " * 2
    chars = sorted(set(text))
    data = np.array([chars.index(c) for c in text], dtype=np.int64)
    TGPT, t_train = _gpt(torch)
    GPT, train = _gpt(ng)
    t_model = TGPT(len(chars), 8)
    model = GPT(len(chars), 8)
    model.load_state_dict(t_model.state_dict())
    t_losses = t_train(t_model, data, steps=4)
    losses = train(model, data, steps=4)
    np.testing.assert_allclose(losses, t_losses, rtol=1e-4)
    assert losses[-1] < losses[0]
    t_state = t_model.state_dict()
    for name, value in model.state_dict().items():
        value, expected = value.numpy(), t_state[name].numpy()
        if name.endswith("in_proj_bias"):
            # the key bias shifts every score of a row equally: its true gradient is 0, and Adam turns both
            # libraries' rounding noise (~1e-9) into lr-sized steps of arbitrary sign, so only q and v compare
            value, expected = np.delete(value, np.s_[16:32]), np.delete(expected, np.s_[16:32])
        _close(value, expected, rtol=1e-3, atol=1e-5, msg=name)


@pytest.mark.gpu
@pytest.mark.skipif(not ng.cuda.is_available(), reason="no GPU and no CUDA simulator")
@pytest.mark.usefixtures("fast_simulated_barriers")
def test_sdpa_on_cuda_composes_the_masked_softmax_like_the_cpu_kernel():
    arrays = [_randn(1, 3, 2) for _ in range(3)]
    keep = RNG.random((3, 3)) > 0.3
    keep[1] = False  # a query that sees nothing: zeros on both devices
    additive = _randn(3, 3)
    additive[0, 1:] = -np.inf
    results = {}
    for device in ("cpu", "cuda"):
        xs = [ng.tensor(a, device=device, requires_grad=True) for a in arrays]
        outs = [F.scaled_dot_product_attention(*xs, attn_mask=ng.tensor(keep, device=device)),
                F.scaled_dot_product_attention(*xs, is_causal=True),
                F.scaled_dot_product_attention(*xs, attn_mask=ng.tensor(additive, device=device))]
        sum(((o * o).sum() for o in outs), ng.zeros((), device=device)).backward()
        results[device] = [o.detach().cpu() for o in outs] + [x.grad.cpu() for x in xs]
    for a, b in zip(results["cpu"], results["cuda"]):
        _close(a, b, 1e-5, 1e-5)


def test_encoder_layers_are_independent_deep_copies():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)
    enc = nn.TransformerEncoder(layer, 2)
    a, b = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert a is not b and a is not layer.linear1.weight
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    with ng.no_grad():
        a.add_(1.0)
    assert not np.array_equal(a.detach().numpy(), b.detach().numpy())
    # a copied tensor lives on the same device object as the original (ops compare devices by identity)
    assert (enc.layers[1].linear1.weight + layer.linear1.weight).shape == (16, 8)
