"""nn layers, functional layer ops and Module bookkeeping against PyTorch with the same weights.

Every layer test copies the PyTorch module's ``state_dict`` into the numgrad
module, runs both on the same input, backpropagates the same upstream
gradient, and compares outputs, input gradients, parameter gradients and
buffers (running statistics) in train and eval mode.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import numgrad as ng
import numgrad.nn as nn
import numgrad.nn.functional as F

RNG = np.random.default_rng(1234)


def _randn(*shape, dtype="float64"):
    return RNG.standard_normal(shape).astype(dtype)


def _copy_weights(ng_mod: nn.Module, t_mod: torch.nn.Module) -> None:
    ng_mod.load_state_dict({k: v.detach().numpy() for k, v in t_mod.state_dict().items()})


def _check(ng_mod, t_mod, x_np, train=True, rtol=1e-9, atol=1e-10, input_grad=True, steps=1):
    """Forward, backward and buffers of both modules agree (``steps`` passes, to exercise running stats)."""
    _copy_weights(ng_mod, t_mod)
    ng_mod.train(train)
    t_mod.train(train)
    for _ in range(steps):
        x_ng = ng.tensor(x_np, requires_grad=input_grad)
        x_t = torch.tensor(x_np, requires_grad=input_grad)
        out_ng, out_t = ng_mod(x_ng), t_mod(x_t)
        np.testing.assert_allclose(out_ng.detach().numpy(), out_t.detach().numpy(), rtol=rtol, atol=atol)
        g = _randn(*out_t.shape, dtype=x_np.dtype.name if x_np.dtype.kind == "f" else "float64")
        out_ng.backward(ng.tensor(g))
        out_t.backward(torch.tensor(g, dtype=out_t.dtype))
        if input_grad:
            np.testing.assert_allclose(x_ng.grad.numpy(), x_t.grad.numpy(), rtol=rtol, atol=atol)
    t_params = dict(t_mod.named_parameters())
    for name, p in ng_mod.named_parameters():
        tp = t_params[name]
        assert (p.grad is None) == (tp.grad is None), name
        if p.grad is not None:
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=atol, err_msg=name)
    t_buffers = dict(t_mod.named_buffers())
    for name, b in ng_mod.named_buffers():
        np.testing.assert_allclose(b.numpy(), t_buffers[name].numpy(), rtol=rtol, atol=atol, err_msg=name)
    return out_ng


def _pair(ng_cls, t_cls, *args, dtype="float64", **kwargs):
    t_mod = t_cls(*args, **kwargs).to(getattr(torch, dtype))
    ng_mod = ng_cls(*args, **kwargs).to(getattr(ng, dtype))
    return ng_mod, t_mod


# ------------------------------------------------------------------ layers
@pytest.mark.parametrize("shape, bias", [((5, 4), True), ((2, 3, 4), False), ((4,), True)])
def test_linear(shape, bias):
    ng_mod, t_mod = _pair(nn.Linear, torch.nn.Linear, 4, 3, bias=bias)
    _check(ng_mod, t_mod, _randn(*shape))


def test_linear_float32_grad_fn_names():
    ng_mod, t_mod = _pair(nn.Linear, torch.nn.Linear, 6, 5, dtype="float32")
    out = _check(ng_mod, t_mod, _randn(7, 6, dtype="float32"), rtol=1e-5, atol=1e-6)
    assert out.grad_fn.name() == "AddmmBackward0"
    assert F.linear(ng.ones(2, 6), ng.nn.Parameter(ng.ones(5, 6))).grad_fn.name() == "MmBackward0"


CONV_CASES = [
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=1),
    dict(in_channels=2, out_channels=4, kernel_size=(3, 2), stride=2, padding=(1, 0), bias=False),
    dict(in_channels=4, out_channels=6, kernel_size=3, dilation=2, groups=2, padding=2),
    dict(in_channels=2, out_channels=2, kernel_size=1, stride=(1, 2)),
    dict(in_channels=3, out_channels=3, kernel_size=3, padding="same", groups=3),
]


@pytest.mark.parametrize("kwargs", CONV_CASES)
def test_conv2d(kwargs):
    ng_mod, t_mod = _pair(nn.Conv2d, torch.nn.Conv2d, **kwargs)
    out = _check(ng_mod, t_mod, _randn(2, kwargs["in_channels"], 7, 6))
    assert out.grad_fn.name() == "ConvolutionBackward0"


def test_conv2d_float32_unbatched_and_repr():
    ng_mod, t_mod = _pair(nn.Conv2d, torch.nn.Conv2d, 3, 8, 3, padding=1, dtype="float32")
    _check(ng_mod, t_mod, _randn(3, 8, 8, dtype="float32"), rtol=1e-4, atol=1e-5)
    assert repr(ng_mod) == repr(t_mod)


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1), ceil_mode=True),
])
def test_max_pool2d(kwargs):
    ng_mod, t_mod = nn.MaxPool2d(**kwargs), torch.nn.MaxPool2d(**kwargs)
    _check(ng_mod, t_mod, _randn(2, 3, 7, 8))


def test_max_pool2d_indices_ties_and_unbatched():
    x = np.zeros((1, 1, 4, 4))  # all ties: PyTorch keeps the first maximum of each window
    out, idx = F.max_pool2d(ng.tensor(x), 2, return_indices=True)
    t_out, t_idx = torch.nn.functional.max_pool2d(torch.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), t_idx.numpy())
    assert idx.dtype == ng.int64
    ng_mod, t_mod = nn.MaxPool2d(3, stride=1), torch.nn.MaxPool2d(3, stride=1)
    _check(ng_mod, t_mod, _randn(2, 5, 5))


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False, ceil_mode=True),
    dict(kernel_size=(2, 3), divisor_override=5),
])
def test_avg_pool2d(kwargs):
    _check(nn.AvgPool2d(**kwargs), torch.nn.AvgPool2d(**kwargs), _randn(2, 3, 7, 8))


@pytest.mark.parametrize("size", [1, (3, 2), (None, 4)])
def test_adaptive_avg_pool2d(size):
    _check(nn.AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size), _randn(2, 3, 7, 5))


@pytest.mark.parametrize("shape, momentum, affine", [
    ((6, 4), 0.1, True), ((5, 4, 3), None, True), ((6, 4), 0.3, False),
])
def test_batch_norm1d_train_then_eval(shape, momentum, affine):
    ng_mod, t_mod = _pair(nn.BatchNorm1d, torch.nn.BatchNorm1d, 4, momentum=momentum, affine=affine)
    _check(ng_mod, t_mod, _randn(*shape), train=True, steps=3)
    _check(ng_mod, t_mod, _randn(*shape), train=False)


def test_batch_norm2d_train_eval_and_float32():
    ng_mod, t_mod = _pair(nn.BatchNorm2d, torch.nn.BatchNorm2d, 3)
    _check(ng_mod, t_mod, _randn(4, 3, 5, 5) * 3 + 1, train=True, steps=2)
    _check(ng_mod, t_mod, _randn(4, 3, 5, 5), train=False)
    assert int(ng_mod.num_batches_tracked.item()) == 2
    ng_mod, t_mod = _pair(nn.BatchNorm2d, torch.nn.BatchNorm2d, 3, dtype="float32")
    _check(ng_mod, t_mod, _randn(4, 3, 5, 5, dtype="float32"), rtol=1e-4, atol=1e-5)


def test_batch_norm_without_running_stats():
    ng_mod, t_mod = _pair(nn.BatchNorm1d, torch.nn.BatchNorm1d, 3, track_running_stats=False)
    _check(ng_mod, t_mod, _randn(5, 3), train=False)
    assert "running_mean" not in ng_mod.state_dict()


@pytest.mark.parametrize("normalized, shape", [(5, (3, 5)), ((3, 4), (2, 3, 4))])
def test_layer_norm(normalized, shape):
    ng_mod, t_mod = _pair(nn.LayerNorm, torch.nn.LayerNorm, normalized)
    with torch.no_grad():
        t_mod.weight.normal_()
        t_mod.bias.normal_()
    _check(ng_mod, t_mod, _randn(*shape))


def test_layer_norm_without_affine():
    ng_mod, t_mod = _pair(nn.LayerNorm, torch.nn.LayerNorm, 4, elementwise_affine=False)
    _check(ng_mod, t_mod, _randn(3, 4))


@pytest.mark.parametrize("padding_idx", [None, 1])
def test_embedding_repeated_indices(padding_idx):
    ng_mod, t_mod = _pair(nn.Embedding, torch.nn.Embedding, 6, 3, padding_idx=padding_idx)
    idx = np.array([[0, 1, 1, 5], [5, 5, 2, 1]])
    _copy_weights(ng_mod, t_mod)
    out_ng, out_t = ng_mod(ng.tensor(idx)), t_mod(torch.tensor(idx))
    np.testing.assert_allclose(out_ng.detach().numpy(), out_t.detach().numpy())
    g = _randn(2, 4, 3)
    out_ng.backward(ng.tensor(g))
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(ng_mod.weight.grad.numpy(), t_mod.weight.grad.numpy(), rtol=1e-12)
    assert out_ng.grad_fn is None or True
    if padding_idx is not None:
        fresh = nn.Embedding(6, 3, padding_idx=padding_idx)
        np.testing.assert_array_equal(fresh.weight.detach().numpy()[padding_idx], 0.0)


@pytest.mark.parametrize("kwargs", [
    {"max_norm": 1.0}, {"max_norm": 2.0, "norm_type": 1.0}, {"scale_grad_by_freq": True},
    {"scale_grad_by_freq": True, "padding_idx": 2}, {"max_norm": 1.5, "scale_grad_by_freq": True},
], ids=["max_norm", "max_norm_l1", "scale_grad_by_freq", "scale_and_padding", "both"])
def test_embedding_max_norm_and_frequency_scaling_match_torch(kwargs):
    weights = np.random.default_rng(4).standard_normal((5, 3)) * 2
    idx = np.array([[0, 2, 2], [4, 2, 0]])
    results = []
    for lib in (ng, torch):
        table = lib.nn.Embedding.from_pretrained(lib.tensor(weights.copy()), freeze=False, **kwargs)
        out = table(lib.tensor(idx))
        (out * lib.tensor(np.arange(18.0).reshape(2, 3, 3))).sum().backward()
        # max_norm rescales the rows looked up in the weight itself, before the lookup
        results.append([out.detach().numpy(), table.weight.detach().numpy(), table.weight.grad.numpy()])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_embedding_from_pretrained_freezes_and_sparse_raises():
    table = nn.Embedding.from_pretrained(ng.eye(3))
    assert not table.weight.requires_grad and table(ng.tensor([2])).tolist() == [[0.0, 0.0, 1.0]]
    assert nn.Embedding.from_pretrained(ng.eye(3), freeze=False).weight.requires_grad
    assert repr(nn.Embedding(4, 2, max_norm=1.0, scale_grad_by_freq=True)) == \
        "Embedding(4, 2, max_norm=1.0, scale_grad_by_freq=True)"
    with pytest.raises(NotImplementedError, match="numgrad has no sparse gradients; use sparse=False"):
        nn.Embedding(4, 2, sparse=True)
    with pytest.raises(AssertionError, match="Embeddings parameter is expected to be 2-dimensional"):
        nn.Embedding.from_pretrained(ng.ones(3))


@pytest.mark.parametrize("ng_cls, t_cls, kwargs", [
    (nn.ReLU, torch.nn.ReLU, {}),
    (nn.GELU, torch.nn.GELU, {}),
    (nn.GELU, torch.nn.GELU, {"approximate": "tanh"}),
    (nn.Tanh, torch.nn.Tanh, {}),
    (nn.Sigmoid, torch.nn.Sigmoid, {}),
    (nn.SiLU, torch.nn.SiLU, {}),
    (nn.LeakyReLU, torch.nn.LeakyReLU, {"negative_slope": 0.2}),
    (nn.Softmax, torch.nn.Softmax, {"dim": 1}),
    (nn.LogSoftmax, torch.nn.LogSoftmax, {"dim": -1}),
    (nn.Identity, torch.nn.Identity, {}),
    (nn.Flatten, torch.nn.Flatten, {}),
    (nn.Flatten, torch.nn.Flatten, {"start_dim": 0, "end_dim": 1}),
])
def test_activation_and_shape_modules(ng_cls, t_cls, kwargs):
    ng_mod, t_mod = ng_cls(**kwargs), t_cls(**kwargs)
    _check(ng_mod, t_mod, _randn(3, 4, 2), rtol=1e-7, atol=1e-8)
    assert repr(ng_mod) == repr(t_mod)


def test_dropout_train_eval_and_gradient():
    ng.manual_seed(0)
    drop = nn.Dropout(0.25)
    x = ng.ones(200, 50, requires_grad=True)
    y = drop(x)
    kept = y.detach().numpy() != 0
    assert 0.70 < kept.mean() < 0.80
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.75, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.75, rtol=1e-6)
    drop.eval()
    assert drop(x) is x
    ng.manual_seed(3)
    a = F.dropout(ng.ones(10), 0.5).numpy()
    ng.manual_seed(3)
    np.testing.assert_array_equal(a, F.dropout(ng.ones(10), 0.5).numpy())
    np.testing.assert_array_equal(F.dropout(ng.ones(4), 1.0).numpy(), 0.0)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        F.dropout(x, 1.5)


# ------------------------------------------------------------------ double backward
def _double_backward(ng_fn, t_fn, shapes):
    arrays = [_randn(*s) for s in shapes]
    ng_in = [ng.tensor(a, requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    out_ng, out_t = ng_fn(*ng_in), t_fn(*t_in)
    v = _randn(*out_t.shape)
    grads_ng = ng.autograd.grad(out_ng, ng_in, ng.tensor(v), create_graph=True)
    grads_t = torch.autograd.grad(out_t, t_in, torch.tensor(v), create_graph=True)
    ws = [_randn(*g.shape) for g in grads_t]
    total_ng = sum((g * ng.tensor(w)).sum() for g, w in zip(grads_ng, ws))
    total_t = sum((g * torch.tensor(w)).sum() for g, w in zip(grads_t, ws))
    second_ng = ng.autograd.grad(total_ng, ng_in, allow_unused=True)
    second_t = torch.autograd.grad(total_t, t_in, allow_unused=True)
    for a, b in zip(second_ng, second_t):
        if b is None:
            assert a is None or np.allclose(a.numpy(), 0)
        else:
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("name, ng_fn, t_fn, shapes", [
    ("conv", lambda x, w: F.conv2d(x, w, stride=2, padding=1, groups=2),
     lambda x, w: torch.nn.functional.conv2d(x, w, stride=2, padding=1, groups=2), [(2, 4, 5, 5), (4, 2, 3, 3)]),
    ("linear", lambda x, w, b: F.linear(x, w, b), torch.nn.functional.linear, [(3, 4), (2, 4), (2,)]),
    ("max_pool", lambda x: F.max_pool2d(x, 2) ** 2, lambda x: torch.nn.functional.max_pool2d(x, 2) ** 2,
     [(1, 2, 4, 4)]),
    ("avg_pool", lambda x: F.avg_pool2d(x, 2, padding=1) ** 2,
     lambda x: torch.nn.functional.avg_pool2d(x, 2, padding=1) ** 2, [(1, 2, 4, 4)]),
    ("adaptive", lambda x: F.adaptive_avg_pool2d(x, 2) ** 2,
     lambda x: torch.nn.functional.adaptive_avg_pool2d(x, 2) ** 2, [(1, 2, 5, 3)]),
    ("batch_norm", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
     lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b, training=True), [(4, 3, 2), (3,), (3,)]),
    ("layer_norm", lambda x, w, b: F.layer_norm(x, (4,), w, b),
     lambda x, w, b: torch.nn.functional.layer_norm(x, (4,), w, b), [(3, 4), (4,), (4,)]),
])
def test_double_backward(name, ng_fn, t_fn, shapes):
    _double_backward(ng_fn, t_fn, shapes)


def test_embedding_double_backward_through_weight_gradient():
    idx = np.array([0, 2, 2])
    w_np = _randn(3, 2)
    v = _randn(3, 2)
    w = ng.tensor(w_np, requires_grad=True)
    (gw,) = ng.autograd.grad(F.embedding(ng.tensor(idx), w), [w], ng.tensor(v), create_graph=True)
    np.testing.assert_allclose(gw.detach().numpy(), [[v[0, 0], v[0, 1]], [0, 0], list(v[1] + v[2])])


# ------------------------------------------------------------------ losses
@pytest.mark.parametrize("ng_cls, t_cls, kwargs, target", [
    (nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, {}, "class"),
    (nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, {"label_smoothing": 0.1, "reduction": "sum"}, "class"),
    (nn.NLLLoss, torch.nn.NLLLoss, {"ignore_index": 2}, "class"),
    (nn.MSELoss, torch.nn.MSELoss, {}, "dense"),
    (nn.L1Loss, torch.nn.L1Loss, {"reduction": "none"}, "dense"),
    (nn.BCELoss, torch.nn.BCELoss, {}, "prob"),
    (nn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, {}, "prob"),
])
def test_losses(ng_cls, t_cls, kwargs, target):
    x = _randn(6, 4)
    if ng_cls is nn.BCELoss:
        x = 1 / (1 + np.exp(-x))
    if target == "class":
        y = np.array([0, 3, 2, 1, 2, 0])
    elif target == "prob":
        y = RNG.uniform(size=(6, 4))
    else:
        y = _randn(6, 4)
    x_ng, x_t = ng.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    l_ng, l_t = ng_cls(**kwargs)(x_ng, ng.tensor(y)), t_cls(**kwargs)(x_t, torch.tensor(y))
    np.testing.assert_allclose(l_ng.detach().numpy(), l_t.detach().numpy(), rtol=1e-9)
    l_ng.sum().backward()
    l_t.sum().backward()
    np.testing.assert_allclose(x_ng.grad.numpy(), x_t.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert repr(ng_cls(**kwargs)).split("(")[0] == repr(t_cls(**kwargs)).split("(")[0]


def test_loss_reduction_validated_when_called_as_torch_does():
    loss = nn.MSELoss(reduction="bogus")  # PyTorch's constructor takes it; the loss function refuses it
    with pytest.raises(ValueError, match="bogus is not a valid value for reduction"):
        loss(ng.ones(2), ng.ones(2))


@pytest.mark.parametrize("cls", ["MSELoss", "L1Loss", "BCELoss", "NLLLoss", "CrossEntropyLoss", "SmoothL1Loss"])
def test_losses_take_the_legacy_size_average_and_reduce_flags_with_torch_warning(cls):
    for lib in (nn, torch.nn):
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated, please use "
                                             "reduction='sum' instead"):
            loss = getattr(lib, cls)(size_average=False)
        assert loss.reduction == "sum"


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_weighted_mse_and_l1_losses_match_torch(name, reduction):
    rng = np.random.default_rng(6)
    x, y, w = rng.standard_normal((3, 2, 3))
    got, want = (getattr(lib.nn.functional, name)(lib.tensor(x), lib.tensor(y), reduction=reduction,
                                                   weight=lib.tensor(np.abs(w))) for lib in (ng, torch))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="Weights and input must have the same size."):
        getattr(F, name)(ng.tensor(x), ng.tensor(y), weight=ng.ones(3))


# ------------------------------------------------------------------ Module bookkeeping
class _TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                                            torch.nn.ReLU(), torch.nn.MaxPool2d(2))
        self.heads = torch.nn.ModuleDict({"cls": torch.nn.Linear(16, 3)})
        self.extra = torch.nn.ModuleList([torch.nn.LayerNorm(16)])
        self.scale = torch.nn.Parameter(torch.ones(1))

    def forward(self, x):
        h = self.extra[0](self.features(x).flatten(1))
        return self.heads["cls"](h) * self.scale


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
        self.heads = nn.ModuleDict({"cls": nn.Linear(16, 3)})
        self.extra = nn.ModuleList([nn.LayerNorm(16)])
        self.scale = nn.Parameter(ng.ones(1))

    def forward(self, x):
        h = self.extra[0](self.features(x).flatten(1))
        return self.heads["cls"](h) * self.scale


def test_model_state_dict_keys_shapes_repr_and_training_match_torch():
    net, t_net = _Net().double(), _TorchNet().double()
    t_sd = t_net.state_dict()
    sd = net.state_dict()
    assert list(sd) == list(t_sd)
    assert all(tuple(sd[k].shape) == tuple(t_sd[k].shape) for k in sd)
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in t_net.named_parameters()]
    assert [n for n, _ in net.named_modules()] == [n for n, _ in t_net.named_modules()]
    assert [n for n, _ in net.named_children()] == [n for n, _ in t_net.named_children()]
    assert repr(net).replace("_Net", "_TorchNet") == repr(t_net)
    _check(net, t_net, _randn(2, 1, 4, 4), train=True, steps=2)
    _check(net, t_net, _randn(2, 1, 4, 4), train=False)


def test_train_eval_apply_zero_grad_and_buffers():
    net = _Net()
    assert net.training and all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "_Net" and seen[0] == "Conv2d"
    net.train()
    net(ng.randn(2, 1, 4, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert [n for n, _ in net.named_buffers()] == [
        "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked"]
    assert isinstance(net.scale, nn.Parameter) and isinstance(net.scale, ng.Tensor)
    assert repr(nn.Parameter(ng.zeros(1))).startswith("Parameter containing:\ntensor([0.]")


def test_register_buffer_parameter_and_errors():
    m = nn.Module()
    m.register_buffer("stat", ng.zeros(2))
    m.register_buffer("scratch", ng.zeros(1), persistent=False)
    m.register_parameter("w", nn.Parameter(ng.ones(2)))
    assert list(m.state_dict()) == ["w", "stat"]
    with pytest.raises(KeyError, match="attribute 'w' already exists"):
        m.register_buffer("w", ng.zeros(1))
    with pytest.raises(TypeError, match="cannot assign 'numgrad.FloatTensor' as parameter 'w'"):
        m.w = ng.zeros(2)
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'missing'"):
        m.missing
    with pytest.raises(KeyError, match="buffer name can"):
        m.register_buffer("a.b", ng.zeros(1))
    with pytest.raises(NotImplementedError, match='missing the required "forward" function'):
        m(ng.zeros(1))


def test_load_state_dict_errors_and_non_strict():
    lin = nn.Linear(2, 3)
    before = lin.weight.detach().numpy().copy()
    bad = {"weight": np.zeros((3, 3), np.float32), "bias2": np.zeros(3, np.float32)}
    msg = ('Error(s) in loading state_dict for Linear:\n\tMissing key(s) in state_dict: "bias". \n\t'
           'Unexpected key(s) in state_dict: "bias2". \n\tsize mismatch for weight: copying a param with shape '
           'numgrad.Size([3, 3]) from checkpoint, the shape in current model is numgrad.Size([3, 2]).')
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        lin.load_state_dict(bad)
    np.testing.assert_array_equal(lin.weight.detach().numpy(), before)  # nothing half-loaded
    result = lin.load_state_dict({"weight": np.ones((3, 2))}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == []
    np.testing.assert_array_equal(lin.weight.detach().numpy(), 1.0)
    assert lin.weight.dtype == ng.float32


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear)
    assert isinstance(seq[:2], nn.Sequential) and len(seq[:2]) == 2
    seq.append(nn.Tanh())
    assert list(seq._modules) == ["0", "1", "2", "3"]
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"]
    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml.append(nn.Linear(1, 1))
    ml.insert(0, nn.ReLU())
    assert [type(m).__name__ for m in ml] == ["ReLU", "Linear", "Linear"]
    assert len(list(ml.parameters())) == 4
    md = nn.ModuleDict({"b": nn.ReLU()})
    md["a"] = nn.Tanh()
    assert list(md.keys()) == ["b", "a"] and "a" in md
    shared = nn.Linear(2, 2)
    assert len(list(nn.Sequential(shared, shared).parameters())) == 2


# ------------------------------------------------------------------ init
def test_init_statistics_and_gain():
    ng.manual_seed(0)
    w = ng.empty(256, 128)
    nn.init.kaiming_uniform_(w, a=5 ** 0.5)
    bound = 1 / 128 ** 0.5
    assert np.abs(w.numpy()).max() <= bound + 1e-7
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.numpy().std() - (2 / 256) ** 0.5) < 0.01 * (2 / 256) ** 0.5 * 10
    nn.init.xavier_uniform_(w, gain=nn.init.calculate_gain("tanh"))
    assert np.abs(w.numpy()).max() <= 5 / 3 * (6 / 384) ** 0.5 + 1e-7
    nn.init.xavier_normal_(w)
    assert abs(w.numpy().std() - (2 / 384) ** 0.5) < 0.05 * (2 / 384) ** 0.5
    for name in ("linear", "sigmoid", "tanh", "relu", "selu"):
        assert nn.init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.2))
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        nn.init.calculate_gain("foo")
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(ng.empty(3))
    nn.init.constant_(w, 0.25)
    assert np.all(w.numpy() == 0.25)
    lin = nn.Linear(100, 50)
    assert np.abs(lin.bias.detach().numpy()).max() <= 0.1


def test_default_init_is_seedable():
    ng.manual_seed(7)
    a = nn.Conv2d(3, 4, 3).weight.detach().numpy().copy()
    ng.manual_seed(7)
    np.testing.assert_array_equal(a, nn.Conv2d(3, 4, 3).weight.detach().numpy())


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("call, exc, match", [
    (lambda: F.conv2d(ng.randn(2, 3, 8, 8), ng.randn(4, 2, 3, 3)), RuntimeError,
     r"Given groups=1, weight of size \[4, 2, 3, 3\], expected input\[2, 3, 8, 8\] to have 2 channels, but got 3"),
    (lambda: F.conv2d(ng.randn(3, 8), ng.randn(4, 3, 3, 3)), RuntimeError,
     r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got input of size: \[3, 8\]"),
    (lambda: F.conv2d(ng.randn(1, 3, 8, 8), ng.randn(4, 3, 9, 9)), RuntimeError,
     "Kernel size can't be greater than actual input size"),
    (lambda: F.conv2d(ng.randn(1, 3, 8, 8).double(), ng.randn(4, 3, 3, 3)), RuntimeError,
     "expected scalar type Float but found Double"),
    (lambda: F.conv2d(ng.randn(1, 3, 8, 8), ng.randn(4, 3, 3, 3), stride=0), RuntimeError,
     "non-positive stride is not supported"),
    (lambda: nn.Linear(3, 4)(ng.randn(2, 5)), RuntimeError,
     r"mat1 and mat2 shapes cannot be multiplied \(2x5 and 3x4\)"),
    (lambda: F.linear(ng.randn(2, 3).double(), ng.randn(4, 3)), RuntimeError,
     "expected m1 and m2 to have the same dtype, but got: double != float"),
    (lambda: F.max_pool2d(ng.randn(1, 3, 8, 8), 3, padding=2), RuntimeError,
     "pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 and dilation=1"),
    (lambda: F.max_pool2d(ng.randn(1, 3, 8, 8), 9), RuntimeError,
     r"Given input size: \(3x8x8\). Calculated output size: \(3x0x0\). Output size is too small"),
    (lambda: F.max_pool2d(ng.randn(8), 2), RuntimeError, "non-empty 3D or 4D"),
    (lambda: F.embedding(ng.tensor([5]), ng.randn(3, 2)), IndexError, "index out of range in self"),
    (lambda: F.embedding(ng.tensor([1.0]), ng.randn(3, 2)), RuntimeError,
     "'indices' to have one of the following scalar types: Long, Int"),
    (lambda: F.batch_norm(ng.randn(2, 3, 4), ng.zeros(4), ng.ones(4)), RuntimeError,
     "running_mean should contain 3 elements not 4"),
    (lambda: nn.BatchNorm1d(3)(ng.randn(1, 3)), ValueError,
     "Expected more than 1 value per channel when training"),
    (lambda: nn.BatchNorm2d(3)(ng.randn(2, 3)), ValueError, r"expected 4D input \(got 2D input\)"),
    (lambda: F.layer_norm(ng.randn(2, 3), (7,)), RuntimeError,
     r"Given normalized_shape=\[7\], expected input with shape \[\*, 7\], but got input of size\[2, 3\]"),
    (lambda: F.adaptive_avg_pool2d(ng.randn(8), 2), RuntimeError, "Expected 3D or 4D tensor"),
    (lambda: F.conv2d(ng.randn(1, 3, 8, 8).long(), ng.randn(4, 3, 3, 3).long()), RuntimeError,
     "expected a float32 or float64 input, got numgrad.int64"),
])
def test_layer_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("make", [
    lambda lib: lib.nn.BatchNorm1d(3, bias=False), lambda lib: lib.nn.InstanceNorm1d(3, affine=True, bias=False),
    lambda lib: lib.nn.GroupNorm(1, 3, bias=False), lambda lib: lib.nn.BatchNorm1d(3, affine=False, bias=False),
], ids=["batch", "instance", "group", "batch_without_affine"])
def test_norms_without_a_bias_match_torch(make):
    x = _randn(4, 3, 5).astype(np.float32)
    got, want = [], []
    for lib, out in ((ng, got), (torch, want)):
        m = make(lib)
        inp = lib.tensor(x, requires_grad=True)
        y = m(inp)
        y.pow(2).sum().backward()
        out += [repr(m), sorted(m.state_dict()), y.detach().numpy(), inp.grad.numpy()]
        if m.weight is not None:
            out.append(m.weight.grad.numpy())
    assert got[:2] == want[:2]
    for a, b in zip(got[2:], want[2:]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
