"""The extra activations, losses, containers, padding and pooling layers of ``numgrad.nn`` against PyTorch:
float32 values and gradients of inputs and parameters (a few parametrizations each, all batched into few tests
so compiled kernels are shared), float64 gradchecks of a handful, ``repr`` and the errors for misuse."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng
import numgrad.nn as nn
import numgrad.nn.functional as F

RNG = np.random.default_rng(16)


def _randn(*shape, dtype="float32", avoid=()):
    """Normal samples kept away from the kinks in ``avoid`` (where PyTorch picks a one-sided derivative)."""
    a = RNG.standard_normal(shape)
    for k in avoid:
        a = np.where(np.abs(a - k) < 0.05, a + 0.1, a)
    return a.astype(dtype)


def _close(a, b, rtol=2e-5, atol=2e-6, msg=""):
    a = a.detach().numpy() if isinstance(a, ng.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, f"{msg}: {a.shape} vs {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=msg)


def _compare(ng_fn, torch_fn, arrays, grad=None, msg="", rtol=2e-5, atol=2e-6):
    """``ng_fn`` and ``torch_fn`` on the same arrays agree in value and in every float input's gradient."""
    grad = [True] * len(arrays) if grad is None else grad
    ng_in = [ng.tensor(a, requires_grad=g) for a, g in zip(arrays, grad)]
    t_in = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grad)]
    out, t_out = ng_fn(*ng_in), torch_fn(*t_in)
    _close(out, t_out, rtol, atol, msg)
    w = RNG.standard_normal(tuple(t_out.shape)).astype(np.float32)
    (out * ng.tensor(w)).sum().backward()
    (t_out * torch.tensor(w)).sum().backward()
    for i, (a, b) in enumerate(zip(ng_in, t_in)):
        if grad[i]:
            _close(a.grad, b.grad, rtol, atol, f"{msg}: grad of input {i}")


ACTIVATIONS = [
    ("hardtanh", {}, (-1, 1)), ("hardtanh", {"min_val": -0.5, "max_val": 2.0}, (-0.5, 2)), ("relu6", {}, (0, 6)),
    ("selu", {}, (0,)), ("celu", {}, (0,)), ("celu", {"alpha": 0.5}, (0,)), ("mish", {}, ()),
    ("hardswish", {}, (-3, 3)), ("hardsigmoid", {}, (-3, 3)), ("logsigmoid", {}, ()), ("softsign", {}, (0,)),
    ("softshrink", {}, (-0.5, 0.5)), ("softshrink", {"lambd": 1.0}, (-1, 1)), ("hardshrink", {}, (-0.5, 0.5)),
    ("hardshrink", {"lambd": 0.2}, (-0.2, 0.2)), ("tanhshrink", {}, ()), ("threshold", {"threshold": 0.1, "value": -2.0}, (0.1,)),
    ("softmin", {"dim": 1}, ()), ("glu", {}, ()), ("glu", {"dim": 0}, ()),
    ("rrelu", {}, (0,)), ("rrelu", {"lower": 0.2, "upper": 0.4}, (0,)),
]


def test_activations_match_torch():
    x = _randn(4, 6, avoid=(-3, -1, -0.5, -0.2, 0, 0.1, 0.2, 0.5, 1, 2, 3)) * 2.5
    for name, kwargs, _ in ACTIVATIONS:
        _compare(lambda a: getattr(F, name)(a, **kwargs), lambda a: getattr(torch.nn.functional, name)(a, **kwargs),
                 [x], msg=f"{name}{kwargs}")
    # the in-place variants: same values, gradients through the rewritten history, same returned object
    for name, kwargs in [("relu_", {}), ("leaky_relu_", {"negative_slope": 0.2}), ("elu_", {"alpha": 0.7}),
                         ("hardtanh_", {}), ("selu_", {}), ("celu_", {"alpha": 2.0}),
                         ("threshold_", {"threshold": 0.1, "value": 0.5}), ("rrelu_", {})]:
        def ng_fn(a, name=name, kwargs=kwargs):
            h = a * 1.0
            out = getattr(F, name)(h, **kwargs)
            assert out is h
            return out

        def t_fn(a, name=name, kwargs=kwargs):
            return getattr(torch.nn.functional, name)(a * 1.0, **kwargs)
        _compare(ng_fn, t_fn, [x], msg=name)
    # inplace=True through the out-of-place names
    for name in ("selu", "mish", "hardswish", "hardsigmoid", "relu", "leaky_relu", "elu", "silu", "hardtanh", "relu6"):
        _compare(lambda a: getattr(F, name)(a * 1.0, inplace=True),
                 lambda a: getattr(torch.nn.functional, name)(a * 1.0, inplace=True), [x], msg=f"{name} inplace")


def test_activation_modules_match_torch():
    x = _randn(3, 4, 2, avoid=(-3, -1, -0.5, 0, 0.1, 0.5, 1, 3)) * 2.5
    cases = [("Hardtanh", (), {}), ("Hardtanh", (-2.0, 0.5), {}), ("ReLU6", (), {}), ("SELU", (), {}),
             ("CELU", (0.5,), {}), ("Mish", (), {}), ("Hardswish", (), {}), ("Hardsigmoid", (), {}),
             ("LogSigmoid", (), {}), ("Softsign", (), {}), ("Softshrink", (), {}), ("Hardshrink", (0.1,), {}),
             ("Tanhshrink", (), {}), ("Threshold", (0.1, 20.0), {}), ("Softmin", (1,), {}), ("GLU", (1,), {}),
             ("SELU", (), {"inplace": True}), ("Hardtanh", (), {"inplace": True}),
             ("Threshold", (0.1, 20.0), {"inplace": True}), ("CELU", (), {"inplace": True}),
             ("ReLU", (), {"inplace": True}), ("LeakyReLU", (0.2, True), {}), ("ELU", (0.7,), {"inplace": True}),
             ("SiLU", (), {"inplace": True}), ("ReLU6", (), {"inplace": True})]
    for name, args, kwargs in cases:
        mod, t_mod = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
        assert repr(mod) == repr(t_mod)
        inplace = kwargs.get("inplace", False) or getattr(mod, "inplace", False)
        _compare(lambda a: mod(a * 1.0 if inplace else a), lambda a: t_mod(a * 1.0 if inplace else a), [x],
                 msg=repr(mod))
    for mod, t_mod in [(nn.RReLU(), torch.nn.RReLU()), (nn.RReLU(0.1, 0.2, True), torch.nn.RReLU(0.1, 0.2, True))]:
        assert repr(mod) == repr(t_mod)
        mod.eval(), t_mod.eval()
        _compare(lambda a: mod(a * 1.0), lambda a: t_mod(a * 1.0), [x], msg=repr(mod))
    assert repr(nn.Mish(True)) == repr(torch.nn.Mish(True)) and repr(nn.Hardswish(True)) == "Hardswish()"
    # PReLU: the weight's gradient too, one slope or one per channel
    for num, init in [(1, 0.25), (4, 0.1)]:
        mod, t_mod = nn.PReLU(num, init), torch.nn.PReLU(num, init)
        assert repr(mod) == repr(t_mod)
        assert list(mod.state_dict()) == list(t_mod.state_dict())
        _close(mod.weight, t_mod.weight)
        xn, xt = ng.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        _close(mod(xn), t_mod(xt))
        mod(xn).sum().backward()
        t_mod(xt).sum().backward()
        _close(xn.grad, xt.grad)
        _close(mod.weight.grad, t_mod.weight.grad, rtol=1e-4, atol=1e-5)
    # similarity layers, with broadcasting and the eps / p / keepdim arguments
    a, b = _randn(4, 5), _randn(4, 5)
    for dim, eps in [(1, 1e-8), (0, 0.5)]:
        _compare(nn.CosineSimilarity(dim, eps), torch.nn.CosineSimilarity(dim, eps), [a, b], msg=f"cos {dim}")
    _compare(lambda u, v: F.cosine_similarity(u, v), lambda u, v: torch.nn.functional.cosine_similarity(u, v),
             [a[:1], b], msg="cos broadcast")
    for p, keepdim in [(2.0, False), (1.0, True), (3.0, False)]:
        _compare(nn.PairwiseDistance(p, keepdim=keepdim), torch.nn.PairwiseDistance(p, keepdim=keepdim), [a, b],
                 msg=f"pairwise p={p}", rtol=1e-4, atol=1e-5)
    for p, dim in [(2.0, 1), (1.0, 0), (3.0, -1)]:
        _compare(lambda u: F.normalize(u, p, dim), lambda u: torch.nn.functional.normalize(u, p, dim), [a],
                 msg=f"normalize p={p}", rtol=1e-4, atol=1e-5)


def test_rrelu_training_draws_slopes_in_range_from_numgrad_generator():
    x = -ng.ones(2000)
    ng.manual_seed(3)
    y = F.rrelu(x, 0.1, 0.3, training=True)
    slopes = -y.numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.03
    ng.manual_seed(3)
    np.testing.assert_array_equal(F.rrelu(x, 0.1, 0.3, training=True).numpy(), y.numpy())
    xg = ng.tensor(-np.ones(5, dtype=np.float32), requires_grad=True)
    out = F.rrelu(xg, training=True)
    out.sum().backward()
    np.testing.assert_allclose(xg.grad.numpy(), out.detach().numpy() / -1.0, rtol=1e-6)
    assert F.rrelu(ng.tensor([2.0]), training=True).item() == 2.0


def test_activation_gradcheck_float64():
    x = ng.tensor(_randn(3, 4, dtype="float64", avoid=(-3, -0.5, 0, 0.5, 3)) * 2, requires_grad=True)
    w = ng.tensor(np.array([0.3, -0.2, 0.5]), requires_grad=True)
    y = ng.tensor(_randn(3, 4, dtype="float64"), requires_grad=True)
    for fn in (F.selu, F.mish, F.hardswish, F.softsign, F.softshrink, lambda a: F.celu(a, 0.7), F.glu,
               lambda a: F.normalize(a, 2.0, 1)):
        assert ng.autograd.gradcheck(fn, (x,))
    assert ng.autograd.gradcheck(lambda a, p: F.prelu(a.reshape(4, 3), p), (x, w))
    assert ng.autograd.gradcheck(lambda a, b: F.cosine_similarity(a, b), (x, y))


def test_activation_errors():
    with pytest.raises(RuntimeError, match="Halving dimension must be even, but dimension 1 is size 3"):
        F.glu(ng.ones(2, 3))
    with pytest.raises(RuntimeError, match="lambda must be greater or equal to 0, but found to be -1.0"):
        F.softshrink(ng.ones(2), -1.0)
    with pytest.raises(RuntimeError, match="Mismatch of parameter numbers and input channel size"):
        F.prelu(ng.ones(2, 3), ng.ones(2))
    with pytest.raises(AssertionError, match=r"max_val \(1.0\) must be greater than min_val \(2.0\)"):
        nn.Hardtanh(2.0, 1.0)
    leaf = ng.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        F.selu_(leaf)


def _loss_cases():
    """(name, module args, module kwargs, input arrays, which inputs require grad) for every new loss."""
    x, t = _randn(4, 5), _randn(4, 5)
    probs = np.abs(_randn(4, 5)) + 0.1
    probs = (probs / probs.sum(1, keepdims=True)).astype(np.float32)
    logp = np.log(np.abs(_randn(4, 5)) + 0.2).astype(np.float32)
    sign = np.where(RNG.standard_normal(4) > 0, 1.0, -1.0).astype(np.float32)
    sign45 = np.where(RNG.standard_normal((4, 5)) > 0, 1.0, -1.0).astype(np.float32)
    counts = RNG.poisson(2.0, (4, 5)).astype(np.float32)
    var = (np.abs(_randn(4, 5)) + 0.1).astype(np.float32)
    labels = (RNG.standard_normal((4, 5)) > 0).astype(np.float32)
    cls = np.array([0, 3, 4, 1])
    return [
        ("SmoothL1Loss", (), {}, [x, t], None), ("SmoothL1Loss", (), {"beta": 0.5}, [x, t], None),
        ("HuberLoss", (), {"delta": 0.7}, [x, t], None),
        ("KLDivLoss", (), {"reduction": "batchmean"}, [logp, probs], None),
        ("KLDivLoss", (), {"reduction": "sum", "log_target": True}, [logp, np.log(probs)], None),
        ("KLDivLoss", (), {"reduction": "none"}, [logp, probs], None),
        ("PoissonNLLLoss", (), {}, [x, counts], [True, False]),
        ("PoissonNLLLoss", (), {"log_input": False, "full": True}, [var, counts], [True, False]),
        ("GaussianNLLLoss", (), {}, [x, t, var], None),
        ("GaussianNLLLoss", (), {"full": True, "reduction": "sum"}, [x, t, var[:, 0]], None),
        ("GaussianNLLLoss", (), {"eps": 0.5}, [x, t, var[:, :1]], None),
        ("MarginRankingLoss", (0.3,), {}, [x[:, 0], t[:, 0], sign], [True, True, False]),
        ("HingeEmbeddingLoss", (), {"reduction": "sum"}, [x, sign45], [True, False]),
        ("HingeEmbeddingLoss", (0.5,), {}, [x, sign45], [True, False]),
        ("CosineEmbeddingLoss", (), {}, [x, t, sign], [True, True, False]),
        ("CosineEmbeddingLoss", (0.2,), {"reduction": "none"}, [x, t, sign], [True, True, False]),
        ("SoftMarginLoss", (), {}, [x, sign45], [True, False]),
        ("MultiLabelSoftMarginLoss", (), {}, [x, labels], [True, False]),
        ("MultiLabelSoftMarginLoss", (), {"reduction": "none"}, [x, labels], [True, False]),
        ("MultiMarginLoss", (), {}, [x, cls], [True, False]),
        ("MultiMarginLoss", (2, 0.5), {"reduction": "sum"}, [x, cls], [True, False]),
        ("TripletMarginLoss", (), {}, [x, t, _randn(4, 5)], None),
        ("TripletMarginLoss", (0.5, 1.0), {"swap": True, "reduction": "none"}, [x, t, _randn(4, 5)], None),
        ("TripletMarginWithDistanceLoss", (), {"swap": True}, [x, t, _randn(4, 5)], None),
        ("MultiLabelMarginLoss", (), {}, [x, np.array([[3, 0, -1, 1, 2], [4, -1, 0, 0, 0], [-1, 1, 1, 1, 1],
                                                       [0, 1, 2, 3, 4]])], [True, False]),
        ("MultiLabelMarginLoss", (), {"reduction": "none"}, [x[0], np.array([1, 2, -1, 0, 0])], [True, False]),
    ]


@pytest.mark.filterwarnings("ignore:size_average and reduce args will be deprecated")
def test_losses_match_torch():
    for name, args, kwargs, arrays, grad in _loss_cases():
        mod, t_mod = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
        assert repr(mod) == repr(t_mod)
        grad = grad or [True] * len(arrays)
        _compare(mod, t_mod, arrays, grad=[g and a.dtype.kind == "f" for g, a in zip(grad, arrays)],
                 msg=f"{name}{args}{kwargs}", rtol=1e-4, atol=1e-5)
    # weights, 1-D inputs and the functional-only spellings
    x, cls = _randn(3, 4), np.array([1, 0, 3])
    w = np.array([0.5, 1.0, 2.0, 0.3], dtype=np.float32)
    _compare(lambda a: F.multi_margin_loss(a, ng.tensor(cls), weight=ng.tensor(w)),
             lambda a: torch.nn.functional.multi_margin_loss(a, torch.tensor(cls), weight=torch.tensor(w)), [x])
    _compare(lambda a: F.multi_margin_loss(a, ng.tensor(2), reduction="none"),
             lambda a: torch.nn.functional.multi_margin_loss(a, torch.tensor(2), reduction="none"), [x[0]])
    labels = (RNG.standard_normal((3, 4)) > 0).astype(np.float32)
    _compare(lambda a, b: F.multilabel_soft_margin_loss(a, ng.tensor(labels), weight=b),
             lambda a, b: torch.nn.functional.multilabel_soft_margin_loss(a, torch.tensor(labels), weight=b), [x, w])
    _compare(lambda a: F.gaussian_nll_loss(a, ng.tensor(labels), 0.7),
             lambda a: torch.nn.functional.gaussian_nll_loss(a, torch.tensor(labels), 0.7), [x])
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        _compare(lambda a: F.kl_div(a, ng.tensor(labels)), lambda a: torch.nn.functional.kl_div(a, torch.tensor(labels)),
                 [x])
    _compare(lambda a, b, c: F.triplet_margin_with_distance_loss(
                 a, b, c, distance_function=lambda u, v: 1.0 - F.cosine_similarity(u, v), margin=0.5),
             lambda a, b, c: torch.nn.functional.triplet_margin_with_distance_loss(
                 a, b, c, distance_function=lambda u, v: 1.0 - torch.nn.functional.cosine_similarity(u, v),
                 margin=0.5), [x, _randn(3, 4), _randn(3, 4)])
    _compare(lambda a: F.kl_div(a, ng.tensor(labels), size_average=False),
             lambda a: torch.nn.functional.kl_div(a, torch.tensor(labels), size_average=False), [x])


def test_loss_gradcheck_float64():
    x = ng.tensor(_randn(3, 4, dtype="float64"), requires_grad=True)
    t = ng.tensor(_randn(3, 4, dtype="float64"), requires_grad=True)
    v = ng.tensor(np.abs(_randn(3, 4, dtype="float64")) + 0.5, requires_grad=True)
    n = ng.tensor(_randn(3, 4, dtype="float64"), requires_grad=True)
    probs = ng.tensor(np.abs(_randn(3, 4, dtype="float64")) + 0.1, requires_grad=True)
    assert ng.autograd.gradcheck(lambda a, b, c: F.gaussian_nll_loss(a, b, c), (x, t, v))
    assert ng.autograd.gradcheck(lambda a, b: F.kl_div(a, b, reduction="batchmean"), (x, probs))
    assert ng.autograd.gradcheck(lambda a, b: F.cosine_embedding_loss(a, b, ng.tensor([1.0, -1.0, 1.0]), 0.1), (x, t))
    assert ng.autograd.gradcheck(lambda a, b, c: F.triplet_margin_loss(a, b, c, swap=True), (x, t, n))


def test_loss_errors():
    x = ng.ones(3, 4)
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F.gaussian_nll_loss(x, x, ng.ones(2))
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        F.gaussian_nll_loss(x, x, -ng.ones(3, 4))
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        F.multi_margin_loss(x, ng.tensor([0, 1, 2]), p=3)
    with pytest.raises(RuntimeError, match="target out of range"):
        F.multi_margin_loss(x, ng.tensor([0, 1, 5]))
    with pytest.raises(ValueError, match="x is not a valid value for reduction"):
        F.kl_div(x, x, reduction="x")
    with pytest.raises(RuntimeError, match="All input tensors should have same dimension"):
        F.margin_ranking_loss(x, x, ng.ones(3))
    with pytest.raises(RuntimeError, match="0D or 1D target tensor expected, multi-target not supported"):
        F.cosine_embedding_loss(x, x, x)
    with pytest.raises(ValueError, match="expected margin to be greater than 0, got 0 instead"):
        nn.TripletMarginLoss(margin=0)


def _compare_module(mod, t_mod, arrays, msg, rtol=2e-5, atol=2e-6):
    """A numgrad layer loaded with a torch layer's state_dict agrees in repr, outputs and all gradients."""
    assert repr(mod) == repr(t_mod), msg
    assert list(mod.state_dict()) == list(t_mod.state_dict()), msg
    mod.load_state_dict({k: v.detach().numpy() for k, v in t_mod.state_dict().items()})
    _compare(mod, t_mod, arrays, msg=msg, rtol=rtol, atol=atol)
    for (name, p), (_, tp) in zip(mod.named_parameters(), t_mod.named_parameters()):
        _close(p.grad, tp.grad, rtol, atol, f"{msg}: grad of {name}")


def test_padding_pooling_norm_bilinear_match_torch():
    x4, x3 = _randn(1, 2, 4, 5), _randn(2, 3, 7)
    for name, args, x in [("ZeroPad1d", (2,), x3), ("ZeroPad2d", ((1, 0, 2, 1),), x4), ("ZeroPad3d", (1,), x4),
                          ("ConstantPad1d", ((1, 2), 3.5), x3), ("ConstantPad2d", (1, -1.0), x4),
                          ("ConstantPad3d", ((1, 0, 0, 1, 1, 0), 2.0), x4), ("ReflectionPad1d", (2,), x3),
                          ("ReflectionPad2d", ((1, 2, 0, 3),), x4), ("ReplicationPad1d", ((0, 3),), x3),
                          ("ReplicationPad2d", (2,), x4),
                          ("MaxPool1d", (2,), x3), ("MaxPool1d", (3, 2, 1, 2), x3), ("AvgPool1d", (2,), x3),
                          ("AvgPool1d", (3, 2, 1, True, False), x3), ("AdaptiveAvgPool1d", (3,), x3),
                          ("AdaptiveMaxPool1d", (3,), x3), ("AdaptiveMaxPool1d", (1,), x3),
                          ("AdaptiveMaxPool2d", ((3, 2),), x4), ("AdaptiveMaxPool2d", ((2, None),), x4),
                          ("AdaptiveMaxPool2d", (1,), x4[0]), ("Unfold", (2,), x4),
                          ("Unfold", ((2, 3), (2, 1), (1, 0), (1, 2)), x4), ("Unfold", (3, 1, 1, 2), x4[0]),
                          ("Fold", ((4, 5), 2), _randn(2, 8, 12)), ("Fold", ((5, 4), (2, 3), 1, 1, (2, 1)), _randn(12, 12)),
                          ("Softmax2d", (), x4), ("ChannelShuffle", (2,), _randn(1, 4, 2, 3)),
                          ("LPPool1d", (2, 3), np.abs(x3) + 0.1), ("LPPool2d", (1.5, (2, 3), 1), np.abs(x4) + 0.1),
                          ("CircularPad1d", ((1, 2),), x3), ("CircularPad2d", (1,), x4), ("CircularPad3d", (1,), x4),
                          ("ReflectionPad3d", (1,), x4), ("ReplicationPad3d", ((1, 0, 2, 1, 0, 1),), x4),
                          ("LocalResponseNorm", (3,), x3), ("LocalResponseNorm", (2, 0.1, 0.5, 2.0), x4)]:
        _compare_module(getattr(nn, name)(*args), getattr(torch.nn, name)(*args), [x], f"{name}{args}")
    # indices where bins are equal (the max_pool2d path), 1-D and 2-D
    for ng_fn, t_fn, x in [(lambda a: F.adaptive_max_pool2d(a, (2, 5), True),
                            lambda a: torch.nn.functional.adaptive_max_pool2d(a, (2, 5), True), x4),
                           (lambda a: F.max_pool1d(a, 2, return_indices=True),
                            lambda a: torch.nn.functional.max_pool1d(a, 2, return_indices=True), x3),
                           (lambda a: F.adaptive_max_pool1d(a, 7, True),
                            lambda a: torch.nn.functional.adaptive_max_pool1d(a, 7, True), x3)]:
        (out, idx), (t_out, t_idx) = ng_fn(ng.tensor(x)), t_fn(torch.tensor(x))
        _close(out, t_out)
        np.testing.assert_array_equal(idx.numpy(), t_idx.numpy())
    for args, kwargs in [((5,), {}), (((4, 5),), {"eps": 1e-3}), ((5,), {"elementwise_affine": False})]:
        t_mod = torch.nn.RMSNorm(*args, **kwargs)
        if t_mod.weight is not None:
            with torch.no_grad():
                t_mod.weight.uniform_(0.5, 1.5)
        _compare_module(nn.RMSNorm(*args, **kwargs), t_mod, [x4], f"RMSNorm{args}{kwargs}", rtol=1e-4, atol=1e-5)
    for bias in (True, False):
        _compare_module(nn.Bilinear(3, 4, 2, bias), torch.nn.Bilinear(3, 4, 2, bias), [_randn(5, 3), _randn(5, 4)],
                        f"Bilinear bias={bias}", rtol=1e-4, atol=1e-5)
    w = nn.Bilinear(30, 4, 2).weight.detach().numpy()
    assert np.abs(w).max() <= 1 / np.sqrt(30) and w.std() > 0.05


def test_pooling_norm_bilinear_gradcheck_float64():
    x = ng.tensor(_randn(1, 2, 5, 7, dtype="float64"), requires_grad=True)
    w = ng.tensor(_randn(7, dtype="float64"), requires_grad=True)
    assert ng.autograd.gradcheck(lambda a: F.adaptive_max_pool2d(a, (3, 2)), (x,))
    assert ng.autograd.gradcheck(lambda a: F.avg_pool1d(a[0, 0], 3, 2, 1), (x,))
    assert ng.autograd.gradcheck(lambda a: F.fold(F.unfold(a, 2, 1, 1, 2) * 2.0, (5, 7), 2, 1, 1, 2), (x,))
    assert ng.autograd.gradcheck(lambda a, b: F.rms_norm(a, (7,), b), (x, w))
    a = ng.tensor(_randn(3, 2, dtype="float64"), requires_grad=True)
    b = ng.tensor(_randn(3, 4, dtype="float64"), requires_grad=True)
    W = ng.tensor(_randn(2, 2, 4, dtype="float64"), requires_grad=True)
    assert ng.autograd.gradcheck(lambda u, v, m: F.bilinear(u, v, m, m[0, 0, :2]), (a, b, W))


def test_parameter_containers():
    params = nn.ParameterList([nn.Parameter(ng.ones(2)), ng.zeros(3)])
    assert isinstance(params[1], nn.Parameter) and params[1].requires_grad
    params.append(ng.ones(1)).extend([ng.ones(4)])
    params[0] = ng.full((2,), 5.0)
    assert len(params) == 4 and [tuple(p.shape) for p in params] == [(2,), (3,), (1,), (4,)]
    assert params[-1] is params[3] and len(params[1:3]) == 2 and params[0].detach().numpy().tolist() == [5.0, 5.0]
    assert repr(params).splitlines()[1] == "  (0): Parameter containing: [numgrad.float32 of size 2]"
    d = nn.ParameterDict({"b": ng.ones(2), "a": nn.Parameter(ng.zeros(1))})
    d["c"] = ng.ones(3)
    assert list(d) == ["a", "b", "c"] and "b" in d and len(d) == 3
    assert isinstance(d["b"], nn.Parameter) and d.get("zz") is None
    assert d.pop("b").shape == (2,) and list(d.keys()) == ["a", "c"]
    d.update([("e", ng.zeros(2))])
    assert repr(d).splitlines()[1] == "  (a): Parameter containing: [numgrad.FloatTensor of size 1]"

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.plist, self.pdict = params, d

        def forward(self):
            return sum((p * p).sum() for p in self.plist) + sum((p * p).sum() for p in self.pdict.values())

    net = Net()
    assert list(net.state_dict()) == ["plist.0", "plist.1", "plist.2", "plist.3", "pdict.a", "pdict.c", "pdict.e"]
    opt = ng.optim.SGD(net.parameters(), lr=0.25)
    net().backward()
    opt.step()
    np.testing.assert_allclose(params[0].detach().numpy(), [2.5, 2.5])
    np.testing.assert_allclose(d["c"].detach().numpy(), [0.5, 0.5, 0.5])
    with pytest.raises(IndexError, match="index 9 is out of range"):
        params[9]
    with pytest.raises(KeyError):
        d["nope"]
    with pytest.raises(RuntimeError, match="ParameterList should not be called."):
        params()
    with pytest.raises(TypeError, match="ParameterList.extend should be called with an iterable"):
        params.extend(5)
    with pytest.raises(RuntimeError, match=r"max_pool1d\(\) Expected 2D or 3D input tensor, but got \[7\]"):
        F.max_pool1d(ng.ones(7), 2)
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[3\], expected input with shape \[\*, 3\]"):
        F.rms_norm(ng.ones(2, 4), (3,))
    # unequal bins return PyTorch's indices too (tests/test_nn3d.py checks values and gradients)
    x = np.arange(25.0).reshape(1, 5, 5)[..., ::-1].copy()
    out, idx = F.adaptive_max_pool2d(ng.tensor(x), 2, return_indices=True)
    ref, ref_idx = torch.nn.functional.adaptive_max_pool2d(torch.tensor(x), 2, return_indices=True)
    assert np.array_equal(idx.numpy(), ref_idx.numpy()) and np.array_equal(out.numpy(), ref.numpy())


def test_random_and_deprecated_functions():
    ng.manual_seed(5)
    x = ng.tensor(_randn(4000), requires_grad=True)
    # alpha dropout: every output is a * x + alpha * a * p (kept) or -alpha * a + alpha * a * p (dropped)
    p, alpha = 0.2, 1.7580993408473766
    a = 1.0 / np.sqrt((alpha ** 2 * p + 1) * (1 - p))
    out = F.alpha_dropout(x, p, training=True)
    kept = np.isclose(out.detach().numpy(), a * x.detach().numpy() + alpha * a * p, atol=1e-6)
    dropped = np.isclose(out.detach().numpy(), -alpha * a + alpha * a * p, atol=1e-6)
    assert (kept | dropped).all() and abs(dropped.mean() - p) < 0.03
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(dropped, 0.0, a), rtol=1e-6)
    assert F.alpha_dropout(x, p) is x and nn.AlphaDropout(p).eval()(x) is x
    feat = F.feature_alpha_dropout(ng.ones(50, 8, 3), 0.5, training=True).numpy()
    assert (feat == feat[:, :, :1]).all() and len(np.unique(feat)) == 2
    assert repr(nn.FeatureAlphaDropout(0.3)) == repr(torch.nn.FeatureAlphaDropout(0.3))
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        F.alpha_dropout(x, 1.5)
    # gumbel softmax: rows are distributions; hard gives one-hots with the soft sample's gradient
    logits = ng.tensor(_randn(6, 4), requires_grad=True)
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.detach().numpy().sum(-1), 1.0, rtol=1e-5)
    hard = F.gumbel_softmax(logits, hard=True, dim=0)
    assert sorted(np.unique(hard.detach().numpy())) == [0.0, 1.0] and (hard.detach().numpy().sum(0) == 1).all()
    (hard * ng.tensor(_randn(6, 4))).sum().backward()
    assert np.abs(logits.grad.numpy()).sum() > 0
    # deprecated upsampling, pdist, max_pool2d_with_indices against torch
    img = _randn(1, 2, 3, 4)
    with pytest.warns(UserWarning, match="upsample_nearest` is deprecated"):
        _close(F.upsample_nearest(ng.tensor(img), scale_factor=2),
               torch.nn.functional.interpolate(torch.tensor(img), scale_factor=2, mode="nearest"))
    with pytest.warns(UserWarning, match="upsample_bilinear` is deprecated"):
        _close(F.upsample_bilinear(ng.tensor(img), size=(5, 7)),
               torch.nn.functional.interpolate(torch.tensor(img), size=(5, 7), mode="bilinear", align_corners=True))
    _close(F.pdist(ng.tensor(img[0, 0])), torch.nn.functional.pdist(torch.tensor(img[0, 0])))
    (v, i), (tv, ti) = F.max_pool2d_with_indices(ng.tensor(img), 2), torch.nn.functional.max_pool2d_with_indices(
        torch.tensor(img), 2)
    _close(v, tv)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    np.testing.assert_array_equal(F.native_channel_shuffle(ng.tensor(img), 2).numpy(),
                                  torch.nn.functional.native_channel_shuffle(torch.tensor(img), 2).numpy())


@pytest.mark.parametrize("name", ["ReLU", "LeakyReLU", "ELU", "SiLU", "ReLU6", "Hardtanh"])
def test_inplace_activation_modules_write_into_their_input_as_torch(name):
    values = np.array([-2.0, -0.5, 0.5, 7.0], dtype=np.float32)
    x, xt = ng.tensor(values), torch.tensor(values)
    out, out_t = getattr(nn, name)(inplace=True)(x), getattr(torch.nn, name)(inplace=True)(xt)
    assert out is x
    np.testing.assert_allclose(x.numpy(), xt.numpy(), rtol=1e-6)
    leaf, leaf_t = ng.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    with pytest.raises(RuntimeError) as err:
        getattr(nn, name)(inplace=True)(leaf)
    with pytest.raises(RuntimeError) as err_t:
        getattr(torch.nn, name)(inplace=True)(leaf_t)
    # PyTorch's sentence, then numgrad's hint (the op and what to do)
    assert str(err.value).startswith(str(err_t.value).rstrip("."))


def test_hardtanh_takes_the_deprecated_min_value_and_max_value_names_as_torch():
    for lib in (ng, torch):
        with pytest.warns(FutureWarning, match="keyword argument `min_value` is deprecated and renamed to `min_val`"):
            m = lib.nn.Hardtanh(min_value=-0.5, max_value=0.5)
        assert (m.min_val, m.max_val) == (-0.5, 0.5)
