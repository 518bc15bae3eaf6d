"""numgrad.onnx.export: the written file passes onnx's checker, and onnxruntime running it matches numgrad and torch."""
from __future__ import annotations

import io

import numpy as np
import pytest

import numgrad as ng

onnx = pytest.importorskip("onnx", reason="the optional `onnx` package is not installed")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime (a test dependency) is not installed")
torch = pytest.importorskip("torch")

nn = ng.nn
F = ng.nn.functional


def _export(model, args, **kw):
    buf = io.BytesIO()
    ng.onnx.export(model, args, buf, **kw)
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    return proto, ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])


def _torch_copy(ng_model, torch_model):
    torch_model.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in ng_model.state_dict().items()})
    return torch_model.eval()


def _run(sess, *arrays):
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, dict(zip(names, arrays)))


def _close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def test_mlp_matches_numgrad_and_torch_with_a_dynamic_batch():
    ng.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 4), nn.Tanh())
    proto, sess = _export(model, (ng.randn(5, 6),), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    assert model.training  # exported in eval mode, then restored
    assert {i.name for i in proto.graph.initializer} == {"0.weight", "0.bias", "3.weight", "3.bias"}
    assert [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim][0] == "batch"
    assert "Dropout" not in {n.op_type for n in proto.graph.node}
    ref = _torch_copy(model, torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                                                 torch.nn.Linear(16, 4), torch.nn.Tanh()))
    model.eval()
    for batch in (5, 9):  # 9: a batch size the trace never saw
        x = ng.randn(batch, 6)
        (y,) = _run(sess, x.numpy())
        assert y.shape == (batch, 4)
        _close(y, model(x).detach().numpy())
        _close(y, ref(torch.from_numpy(x.numpy())).detach().numpy())


class SmallCNN(nn.Module):
    def __init__(self, lib):
        super().__init__()
        self.conv = lib.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = lib.nn.BatchNorm2d(8)
        self.pool = lib.nn.MaxPool2d(2)
        self.head = lib.nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        x = self.pool(self.bn(self.conv(x)).relu())
        return self.head(x.flatten(1))


class TorchCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.pool = torch.nn.MaxPool2d(2)
        self.head = torch.nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        x = self.pool(self.bn(self.conv(x)).relu())
        return self.head(x.flatten(1))


def test_cnn_with_batchnorm_uses_running_statistics():
    ng.manual_seed(1)
    model = SmallCNN(ng)
    model.train()
    model(ng.randn(4, 3, 8, 8))  # running statistics away from their initial values
    proto, sess = _export(model, ng.randn(2, 3, 8, 8), dynamic_axes={"x": [0], "output": [0]})
    names = {i.name for i in proto.graph.initializer}
    assert {"conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"} <= names
    ops = [n.op_type for n in proto.graph.node]
    assert {"Conv", "BatchNormalization", "Relu", "MaxPool", "Reshape", "Gemm"} <= set(ops)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "x_dynamic_axes_1"
    ref = _torch_copy(model, TorchCNN())
    model.eval()
    x = ng.randn(3, 3, 8, 8)
    (y,) = _run(sess, x.numpy())
    _close(y, model(x).detach().numpy(), 1e-4)
    _close(y, ref(torch.from_numpy(x.numpy())).detach().numpy(), 1e-4)


def test_layernorm_gelu_block():
    ng.manual_seed(2)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(8)
            self.fc = nn.Linear(8, 12)
            self.out = nn.Linear(12, 8)

        def forward(self, x):
            h = F.gelu(self.fc(self.norm(x)))
            h = h + F.gelu(h, approximate="tanh") * 0.5
            return x + self.out(h).softmax(-1)

    model = Block()
    proto, sess = _export(model, ng.randn(2, 3, 8), dynamic_axes={"x": {0: "b", 1: "t"}, "output": {0: "b", 1: "t"}})
    assert "LayerNormalization" in {n.op_type for n in proto.graph.node}
    ref = torch.nn.ModuleDict({"norm": torch.nn.LayerNorm(8), "fc": torch.nn.Linear(8, 12),
                               "out": torch.nn.Linear(12, 8)})
    _torch_copy(model, ref)
    x = ng.randn(4, 5, 8)
    (y,) = _run(sess, x.numpy())
    _close(y, model(x).detach().numpy())
    tx = torch.from_numpy(x.numpy())
    h = torch.nn.functional.gelu(ref.fc(ref.norm(tx)))
    h = h + torch.nn.functional.gelu(h, approximate="tanh") * 0.5
    _close(y, (tx + ref.out(h).softmax(-1)).detach().numpy())


def elementwise_heavy(x, y):
    z = ng.exp(-x * x) * ng.sigmoid(y) - ng.log(y * y + 1.0) / (x.abs() + 2.0)
    z = ng.where(x > 0, z, 0.1 * z) + ng.sqrt(y.abs()) ** 1.5 + ng.maximum(x, y).tanh()
    z = z.clamp(-2.0, 2.0) + (x - y).pow(2).sum(dim=1, keepdim=True) + x.mean(0)
    return z.transpose(0, 1)[1:].unsqueeze(0).amax(-1)


def elementwise_heavy_torch(x, y):
    z = torch.exp(-x * x) * torch.sigmoid(y) - torch.log(y * y + 1.0) / (x.abs() + 2.0)
    z = torch.where(x > 0, z, 0.1 * z) + torch.sqrt(y.abs()) ** 1.5 + torch.maximum(x, y).tanh()
    z = z.clamp(-2.0, 2.0) + (x - y).pow(2).sum(dim=1, keepdim=True) + x.mean(0)
    return z.transpose(0, 1)[1:].unsqueeze(0).amax(-1)


def test_elementwise_function_with_a_comparison():
    ng.manual_seed(3)
    x, y = ng.randn(4, 5), ng.randn(4, 5)
    proto, sess = _export(elementwise_heavy, (x, y))
    assert [i.name for i in proto.graph.input] == ["x", "y"]  # the function's parameter names
    assert "Where" in {n.op_type for n in proto.graph.node} and "Greater" in {n.op_type for n in proto.graph.node}
    x2, y2 = ng.randn(4, 5), ng.randn(4, 5)  # new values: the mask x > 0 is computed in the graph
    (z,) = _run(sess, x2.numpy(), y2.numpy())
    _close(z, elementwise_heavy(x2, y2).numpy())
    _close(z, elementwise_heavy_torch(torch.from_numpy(x2.numpy()), torch.from_numpy(y2.numpy())).numpy())


def shape_ops(lib, F, x, idx):
    a, b = x.chunk(2, dim=1)
    rows = x.unbind(0)
    z = lib.cat([a.flip([1]), b.repeat(1, 2)[:, :2], lib.gather(x, 1, idx)], dim=1)
    z = F.pad(z, (1, 2), value=0.5) + rows[0].sum()
    stats = lib.stack([z.prod(1), z.logsumexp(1), z.norm(dim=1), z.var(1), z.std(1, correction=0)], 1)
    return stats + z.cumsum(1)[:, :5] + x.index_select(1, lib.tensor([2, 0]))[:, :1] + z.max(1, keepdim=True)[0]


def test_shape_and_reduction_ops():
    ng.manual_seed(4)
    x = ng.randn(3, 4) * 0.5
    idx = ng.tensor([[0, 3, 1], [2, 2, 0], [1, 0, 3]])
    proto, sess = _export(lambda x, idx: shape_ops(ng, ng.nn.functional, x, idx), (x, idx))
    x2 = ng.randn(3, 4) * 0.5
    (z,) = _run(sess, x2.numpy(), idx.numpy())
    _close(z, shape_ops(ng, ng.nn.functional, x2, idx).numpy(), 1e-4)
    ref = shape_ops(torch, torch.nn.functional, torch.from_numpy(x2.numpy()), torch.from_numpy(idx.numpy()))
    _close(z, ref.numpy(), 1e-4)


def test_causal_attention_with_a_padding_mask():
    ng.manual_seed(5)
    q, k, v = ng.randn(2, 3, 4, 8), ng.randn(2, 3, 4, 8), ng.randn(2, 3, 4, 8)
    mask = ng.zeros(4, 4)
    mask[:, 3] = -float("inf")  # the last key is padding

    def attend(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3)

    def causal(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    for fn, kw in ((attend, {"attn_mask": torch.from_numpy(mask.numpy()), "scale": 0.3}), (causal, {"is_causal": True})):
        _, sess = _export(fn, (q, k, v), dynamic_axes={"q": [0], "k": [0], "v": [0]})
        a = [ng.randn(3, 3, 4, 8) for _ in range(3)]
        (y,) = _run(sess, *(t.numpy() for t in a))
        _close(y, fn(*a).numpy(), 1e-4)
        ref = torch.nn.functional.scaled_dot_product_attention(*(torch.from_numpy(t.numpy()) for t in a), **kw)
        _close(y, ref.numpy(), 1e-4)


def test_export_params_false_makes_parameters_inputs(tmp_path, capsys):
    model = nn.Linear(3, 2)
    path = tmp_path / "linear.onnx"
    assert ng.onnx.export(model, ng.randn(4, 3), str(path), export_params=False, verbose=True) is None
    assert "Gemm" in capsys.readouterr().out  # verbose prints the graph
    proto = onnx.load(str(path))
    assert not proto.graph.initializer
    assert [i.name for i in proto.graph.input] == ["input", "weight", "bias"]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = ng.randn(4, 3)
    (y,) = sess.run(None, {"input": x.numpy(), "weight": model.weight.detach().numpy(),
                           "bias": model.bias.detach().numpy()})
    _close(y, model(x).detach().numpy())


def test_is_in_onnx_export_is_true_only_while_exporting():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(ng.onnx.is_in_onnx_export())
            return x * 2.0

    assert not ng.onnx.is_in_onnx_export()
    _export(Probe(), ng.randn(2))
    assert seen and all(seen) and not ng.onnx.is_in_onnx_export()


def test_unsupported_op_names_the_node():
    class Scatter(nn.Module):
        def forward(self, x):
            return ng.scatter_add(x * 2.0, 0, ng.tensor([0, 0, 1]), x)

    with pytest.raises(ng.onnx.UnsupportedOperatorError,
                       match=r"ScatterAddBackward0 \(recorded by ScatterAdd\) is not supported for export to ONNX"):
        ng.onnx.export(Scatter(), ng.randn(3), io.BytesIO())
    with pytest.raises(ng.onnx.UnsupportedOperatorError, match="dropout in training mode draws a random mask"):
        ng.onnx.export(nn.Dropout(0.5), ng.randn(3), io.BytesIO(), training=ng.onnx.TrainingMode.PRESERVE)


def test_values_derived_outside_the_graph_are_refused():
    def scaled(x):
        return x * float(x.detach().numpy().max())  # a Python number computed from the input

    with pytest.raises(ng.onnx.OnnxExporterError, match="changes with the input values or dynamic axes' sizes but no recorded op"):
        ng.onnx.export(scaled, ng.randn(4), io.BytesIO())

    def branchy(x):
        return x.exp() if float(x.detach().numpy()[0]) > 0 else x.tanh()

    with pytest.raises(ng.onnx.OnnxExporterError, match="records a different graph for other input values"):
        ng.onnx.export(branchy, ng.tensor([1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0]), io.BytesIO())


def test_constants_sized_by_a_dynamic_axis_are_refused():
    def offset(x):
        return x + ng.ones(x.shape[0], 1)  # frozen at the traced batch size

    ng.onnx.export(offset, ng.randn(3, 2), io.BytesIO())  # fine while the batch is fixed
    with pytest.raises(ng.onnx.OnnxExporterError, match="an operand of AddBackward0 \\(shape \\[3, 1\\], float32\\)"):
        ng.onnx.export(offset, ng.randn(3, 2), io.BytesIO(), dynamic_axes={"x": [0]})

    def ends(x):
        return x[:, -1] * 2.0 + x[:, 1:].sum(1) - x[:, -3:-1].mean(1)  # positions as written hold for any length

    _, sess = _export(ends, ng.randn(2, 5, 3), dynamic_axes={"x": [0, 1], "output": [0]})
    x = ng.randn(4, 7, 3)
    _close(_run(sess, x.numpy())[0], ends(x).numpy())

    def all_but_last(x):
        return x[:, :x.shape[1] - 1] * 2.0  # the end is a number taken from the traced length

    _export(all_but_last, ng.randn(2, 5, 3), dynamic_axes={"x": [0]})
    with pytest.raises(ng.onnx.OnnxExporterError, match="an operand of SliceBackward0 .*dynamic axes' sizes"):
        ng.onnx.export(all_but_last, ng.randn(2, 5, 3), io.BytesIO(), dynamic_axes={"x": [0, 1]})


def test_argument_errors():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="f \\(a file path or a binary file object\\) is required"):
        ng.onnx.export(model, ng.randn(1, 2))
    with pytest.raises(ValueError, match="opset_version=11 is not supported"):
        ng.onnx.export(model, ng.randn(1, 2), io.BytesIO(), opset_version=11)
    with pytest.raises(ValueError, match="dynamic_axes names \\['inp'\\]"):
        ng.onnx.export(model, ng.randn(1, 2), io.BytesIO(), dynamic_axes={"inp": [0]})
    with pytest.raises(NotImplementedError, match="TrainingMode.TRAINING is not supported"):
        ng.onnx.export(model, ng.randn(1, 2), io.BytesIO(), training=ng.onnx.TrainingMode.TRAINING)


def test_missing_onnx_package_names_the_extra(monkeypatch):
    import sys
    from numgrad.onnx import _graph
    monkeypatch.setattr(_graph, "_loaded", {})
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    with pytest.raises(ModuleNotFoundError, match="needs the 'onnx' package.*pip install onnx"):
        ng.onnx.export(nn.Linear(2, 2), ng.randn(1, 2), io.BytesIO())


def test_inplace_ops_and_tuple_outputs():
    ng.manual_seed(6)

    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.act = nn.ReLU(inplace=True)

        def forward(self, x):
            h = self.act(self.fc(x))
            h += x
            h.mul_(0.5)
            return h, {"total": h.sum(-1)}

    model = TwoHeads()
    _, sess = _export(model, ng.randn(3, 4), output_names=["h", "total"])
    x = ng.randn(3, 4)
    h, total = _run(sess, x.numpy())
    ref_h, ref = model(x)
    _close(h, ref_h.detach().numpy())
    _close(total, ref["total"].detach().numpy())


def test_transposed_conv_and_average_pools():
    ng.manual_seed(7)

    def build(lib):
        return lib.nn.Sequential(lib.nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
                                 lib.nn.AvgPool2d(2, ceil_mode=True), lib.nn.Sigmoid(),
                                 lib.nn.Conv2d(4, 6, 3, groups=2, dilation=2), lib.nn.AdaptiveAvgPool2d(1))

    model = build(ng)
    _, sess = _export(model, ng.randn(1, 3, 5, 5), dynamic_axes={"input": [0], "output": [0]})
    ref = _torch_copy(model, build(torch))
    x = ng.randn(2, 3, 5, 5)
    (y,) = _run(sess, x.numpy())
    _close(y, model(x).detach().numpy(), 1e-4)
    _close(y, ref(torch.from_numpy(x.numpy())).detach().numpy(), 1e-4)


def test_embedding_model_at_opset_20():
    ng.manual_seed(8)

    def build(lib):
        return lib.nn.Sequential(lib.nn.Embedding(10, 6), lib.nn.LayerNorm(6), lib.nn.GELU(),
                                 lib.nn.Linear(6, 3), lib.nn.LogSoftmax(-1))

    model = build(ng)
    tokens = ng.tensor([[1, 4, 9], [0, 2, 2]])
    proto, sess = _export(model, tokens, opset_version=20, dynamic_axes={"input": [0, 1], "output": [0, 1]})
    assert proto.opset_import[0].version == 20 and "Gelu" in {n.op_type for n in proto.graph.node}
    ref = _torch_copy(model, build(torch))
    other = ng.tensor([[3, 3, 8, 1, 0]])
    (y,) = _run(sess, other.numpy())
    _close(y, model(other).detach().numpy(), 1e-5)
    _close(y, ref(torch.from_numpy(other.numpy())).detach().numpy(), 1e-5)


def test_keyword_tensors_are_inputs_and_numbers_stay_arguments():
    def blend(x, k, *, mask, scale=1.0):
        return (x * mask).sum(-1) * scale + k

    proto, sess = _export(blend, (ng.randn(2, 3), 2.0, {"mask": ng.ones(2, 3)}), kwargs={"scale": 0.5})
    assert [i.name for i in proto.graph.input] == ["x", "mask"]
    x, mask = ng.randn(2, 3), ng.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    _close(_run(sess, x.numpy(), mask.numpy())[0], blend(x, 2.0, mask=mask, scale=0.5).numpy())


def test_transformer_layer_with_dynamic_batch_and_length():
    ng.manual_seed(9)

    def build(lib):
        return lib.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, batch_first=True)

    model = build(ng)
    _, sess = _export(model, ng.randn(2, 5, 16), input_names=["src"],
                      dynamic_axes={"src": {0: "batch", 1: "length"}, "output": {0: "batch", 1: "length"}})
    ref = _torch_copy(model, build(torch))
    model.eval()
    x = ng.randn(3, 7, 16)
    (y,) = _run(sess, x.numpy())
    _close(y, model(x).detach().numpy(), 1e-4)
    _close(y, ref(torch.from_numpy(x.numpy())).detach().numpy(), 1e-4)


def test_a_model_that_refuses_other_values_warns_that_the_check_did_not_run():
    def picky(x):
        if not bool((x.detach().numpy()[1:] >= x.detach().numpy()[:-1]).all()):
            raise ValueError("x must be sorted")
        return x * 2.0

    with pytest.warns(UserWarning, match="raised ValueError: x must be sorted on shuffled input values"):
        _, sess = _export(picky, ng.tensor([1.0, 2.0, 3.0, 4.0]))
    _close(_run(sess, np.array([5.0, 6.0, 7.0, 8.0], np.float32))[0], [10.0, 12.0, 14.0, 16.0])


def test_upsample_groupnorm_pixelshuffle_activations():
    ng.manual_seed(10)

    def build(lib):
        n = lib.nn
        return n.Sequential(n.Upsample(scale_factor=2, mode="bilinear"), n.GroupNorm(2, 4), n.SiLU(), n.PixelShuffle(2),
                            n.ELU(), n.Softplus(), n.LeakyReLU(0.2))

    model = build(ng)
    _, sess = _export(model, ng.randn(2, 4, 3, 3), dynamic_axes={"input": [0], "output": [0]})
    ref = _torch_copy(model, build(torch))
    x = ng.randn(3, 4, 3, 3)
    (y,) = _run(sess, x.numpy())
    _close(y, model(x).detach().numpy(), 1e-5)
    _close(y, ref(torch.from_numpy(x.numpy())).detach().numpy(), 1e-5)


def _word_forward(self, tokens, hidden):
    output, hidden = self.rnn(self.encoder(tokens), hidden)
    return self.decoder(output).log_softmax(-1), hidden


def _word_init(self, lib, vocab=11, size=6):
    self.encoder = lib.nn.Embedding(vocab, size)
    self.rnn = lib.nn.LSTM(size, size, num_layers=2)
    self.decoder = lib.nn.Linear(size, vocab)


class WordModel(nn.Module):
    """The shape of PyTorch's word_language_model example (which exports itself with torch.onnx.export)."""

    def __init__(self):
        super().__init__()
        _word_init(self, ng)

    forward = _word_forward


class TorchWordModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        _word_init(self, torch)

    forward = _word_forward


def test_lstm_language_model_with_hidden_state_inputs():
    ng.manual_seed(11)
    model = WordModel()
    tokens = ng.randint(0, 11, (5, 2))
    hidden = (ng.zeros(2, 2, 6), ng.zeros(2, 2, 6))
    axes = {"tokens": {0: "steps", 1: "batch"}, "h0": {1: "batch"}, "c0": {1: "batch"},
            "logp": {0: "steps", 1: "batch"}, "h": {1: "batch"}, "c": {1: "batch"}}
    proto, sess = _export(model, (tokens, hidden), input_names=["tokens", "h0", "c0"], output_names=["logp", "h", "c"],
                          dynamic_axes=axes)
    assert [n.op_type for n in proto.graph.node].count("LSTM") == 2
    ref = _torch_copy(model, TorchWordModel())
    tokens, h0, c0 = ng.randint(0, 11, (7, 3)), ng.randn(2, 3, 6), ng.randn(2, 3, 6)
    got = _run(sess, tokens.numpy(), h0.numpy(), c0.numpy())
    logp, (h, c) = model(tokens, (h0, c0))
    want = ref(torch.from_numpy(tokens.numpy()), (torch.from_numpy(h0.numpy()), torch.from_numpy(c0.numpy())))
    for g, n, t in zip(got, (logp, h, c), (want[0], *want[1])):
        _close(g, n.detach().numpy())
        _close(g, t.detach().numpy())


@pytest.mark.parametrize("kind", ["GRU", "RNN"])
def test_bidirectional_batch_first_recurrent_layers(kind):
    ng.manual_seed(12)
    model = getattr(nn, kind)(4, 5, num_layers=2, bidirectional=True, batch_first=True)
    _, sess = _export(model, ng.randn(2, 3, 4), output_names=["y", "h"],
                      dynamic_axes={"input": [0, 1], "y": [0, 1], "h": [1]})
    ref = _torch_copy(model, getattr(torch.nn, kind)(4, 5, num_layers=2, bidirectional=True, batch_first=True))
    x = ng.randn(3, 6, 4)
    y, h = _run(sess, x.numpy())
    ry, rh = ref(torch.from_numpy(x.numpy()))
    _close(y, ry.detach().numpy())
    _close(h, rh.detach().numpy())
    _close(y, model(x)[0].detach().numpy())
