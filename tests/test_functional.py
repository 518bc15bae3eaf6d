"""``numgrad.nn.functional`` beyond the registry: errors with PyTorch's wording,
numerical stability, integer targets, edge cases and double backward."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import numgrad as ng
from tests.helpers import assert_close

F = ng.nn.functional
TF = torch.nn.functional


def _logits(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ---------------------------------------------------------------- softmax

def test_softmax_is_stable_for_huge_logits_and_propagates_nan():
    x = ng.tensor([[1000.0, 0.0, -1000.0], [float("nan"), 1.0, 2.0]])
    np.testing.assert_allclose(F.softmax(x, 1).numpy()[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(F.log_softmax(x, 1).numpy()[0], [0.0, -1000.0, -2000.0])
    assert np.isnan(F.softmax(x, 1).numpy()[1]).all()


def test_softmax_large_input_parallel_kernel_matches_torch():
    x = _logits(300, 500).astype(np.float32)  # above the parallel threshold
    for dim in (0, 1):
        assert_close(F.log_softmax(ng.tensor(x), dim), TF.log_softmax(torch.from_numpy(x), dim), 1e-5, 1e-5)
    a = ng.tensor(x, requires_grad=True)
    (F.softmax(a, 0) * ng.tensor(x)).sum().backward()
    t = torch.from_numpy(x).requires_grad_()
    (TF.softmax(t, 0) * torch.from_numpy(x)).sum().backward()
    assert_close(a.grad, t.grad, 1e-4, 1e-5)


def test_softmax_zero_dim_empty_and_dtype_argument():
    assert F.softmax(ng.tensor(3.0), 0).item() == 1.0
    assert F.log_softmax(ng.zeros(0, 4), 1).shape == (0, 4)
    out = F.softmax(ng.tensor([1.0, 2.0]), 0, dtype=ng.float64)
    assert out.dtype == ng.float64


def test_softmax_implicit_dim_warns_like_pytorch():
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax has been deprecated"):
        out = F.softmax(ng.ones(2, 3))
    assert_close(out, np.full((2, 3), 1 / 3), 1e-6, 1e-7)


def test_softmax_errors():
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        F.softmax(ng.ones(3, 4), 2)
    with pytest.raises(NotImplementedError, match=r"\"softmax\" not implemented for 'Long'"):
        F.softmax(ng.tensor([1, 2]), 0)


@pytest.mark.parametrize("name, dim", [("log_softmax", 1), ("softmax", 0), ("log_softmax", -1)])
def test_softmax_gradgradcheck(name, dim):
    x = ng.tensor(_logits(3, 4), requires_grad=True)
    assert ng.autograd.gradgradcheck(lambda t: getattr(F, name)(t, dim), (x,))


def test_log_softmax_second_derivative_matches_torch():
    x = _logits(2, 5)
    a, t = ng.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (ga,) = ng.autograd.grad((F.log_softmax(a, 1) * ng.tensor(x)).sum(), (a,), create_graph=True)
    (gt,) = torch.autograd.grad((TF.log_softmax(t, 1) * torch.tensor(x)).sum(), (t,), create_graph=True)
    (ga * ga).sum().backward()
    (gt * gt).sum().backward()
    assert_close(a.grad, t.grad, 1e-10, 1e-10)


# ---------------------------------------------------------------- nll_loss / cross_entropy

def test_target_out_of_bounds():
    with pytest.raises(IndexError, match=r"^Target 5 is out of bounds\.$"):
        F.cross_entropy(ng.zeros(3, 4), ng.tensor([0, 1, 5]))
    with pytest.raises(IndexError, match=r"^Target -3 is out of bounds\.$"):
        F.nll_loss(ng.zeros(3, 4), ng.tensor([0, 1, -3]))


def test_class_target_errors():
    x = ng.zeros(3, 4)
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte, but got Int"):
        F.nll_loss(x, ng.tensor([0, 1, 2], dtype=ng.int32))
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(2\)\."):
        F.nll_loss(x, ng.tensor([0, 1]))
    with pytest.raises(RuntimeError, match=r"Expected target size \[3, 5\], got \[3, 4\]"):
        F.nll_loss(ng.zeros(3, 4, 5), ng.zeros(3, 4, dtype=ng.int64))
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        F.cross_entropy(x, ng.tensor([0, 1, 2]), reduction="bad")
    with pytest.raises(RuntimeError, match="weight tensor should be defined either for all 4 classes or no classes but "
                                           r"got weight tensor of shape: \[3\]"):
        F.nll_loss(x, ng.tensor([0, 1, 2]), weight=ng.ones(3))
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Double"):
        F.nll_loss(x, ng.tensor([0, 1, 2]), weight=ng.ones(4, dtype=ng.float64))
    with pytest.raises(RuntimeError, match=r"label_smoothing must be between 0\.0 and 1\.0\. Got: 1\.5"):
        F.cross_entropy(x, ng.tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="ignore_index is not supported for floating point target"):
        F.cross_entropy(x, ng.ones(3, 4) / 4, ignore_index=1)
    with pytest.raises(RuntimeError, match=r"shape \[3, 4\], but got \[3, 5\]"):
        F.cross_entropy(x, ng.ones(3, 5))
    with pytest.raises(ValueError, match=r"Expected 1 or more dimensions \(got 0\)"):
        F.nll_loss(ng.tensor(1.0), ng.tensor(0))


def test_loss_weight_requiring_grad_is_rejected_like_pytorch():
    w = ng.ones(4, requires_grad=True)
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'weight'"):
        F.cross_entropy(ng.zeros(3, 4), ng.tensor([0, 1, 2]), weight=w)
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'pos_weight'"):
        F.binary_cross_entropy_with_logits(ng.zeros(3, 4), ng.zeros(3, 4), pos_weight=w)


def test_all_targets_ignored_gives_nan_mean_and_zero_sum():
    x = ng.tensor(_logits(2, 4), requires_grad=True)
    t = ng.tensor([-100, -100])
    assert np.isnan(F.nll_loss(x, t).item())
    total = F.cross_entropy(x, t, reduction="sum")
    assert total.item() == 0.0
    total.backward()
    assert np.all(x.grad.numpy() == 0)


def test_uint8_targets_and_legacy_reduction_flags():
    x = _logits(3, 4)
    t = np.array([0, 3, 1])
    a = F.cross_entropy(ng.tensor(x), ng.tensor(t.astype(np.uint8)))
    assert_close(a, TF.cross_entropy(torch.tensor(x), torch.tensor(t)), 1e-12, 1e-12)
    summed = F.nll_loss(ng.tensor(x), ng.tensor(t), size_average=False)
    assert_close(summed, TF.nll_loss(torch.tensor(x), torch.tensor(t), reduction="sum"), 1e-12, 1e-12)


def test_cross_entropy_spatial_float32_matches_torch():
    x = _logits(2, 3, 4, 5).astype(np.float32)
    t = np.random.default_rng(1).integers(0, 3, (2, 4, 5))
    a = ng.tensor(x, requires_grad=True)
    b = torch.from_numpy(x).requires_grad_()
    loss = F.cross_entropy(a, ng.tensor(t), ignore_index=2, label_smoothing=0.05)
    expected = TF.cross_entropy(b, torch.tensor(t), ignore_index=2, label_smoothing=0.05)
    assert loss.dtype == ng.float32
    assert_close(loss, expected, 1e-5, 1e-6)
    loss.backward()
    expected.backward()
    assert_close(a.grad, b.grad, 1e-5, 1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fused_cross_entropy_matches_composite_path_and_torch(reduction, dtype):
    """(N, C) class-index cross entropy runs as one Function; weights of ones take the composite path."""
    x = _logits(9, 6, seed=3).astype(dtype)
    t = np.random.default_rng(4).integers(0, 6, 9)
    t[[2, 5]] = 4
    tol = 1e-5 if dtype == np.float32 else 1e-12
    g = np.random.default_rng(5).standard_normal(() if reduction != "none" else (9,)).astype(dtype)
    fused_x = ng.tensor(x, requires_grad=True)
    fused = F.cross_entropy(fused_x, ng.tensor(t), ignore_index=4, reduction=reduction)
    assert fused.grad_fn.name() == "NllLossBackward0"
    composite_x = ng.tensor(x, requires_grad=True)
    composite = F.cross_entropy(composite_x, ng.tensor(t), ignore_index=4, reduction=reduction,
                                weight=ng.ones(6, dtype=fused_x.dtype))
    torch_x = torch.tensor(x, requires_grad=True)
    expected = TF.cross_entropy(torch_x, torch.tensor(t), ignore_index=4, reduction=reduction)
    assert fused.dtype == composite.dtype == fused_x.dtype
    assert_close(fused, expected, tol, tol)
    assert_close(composite, expected, tol, tol)
    fused.backward(ng.tensor(g))
    composite.backward(ng.tensor(g))
    expected.backward(torch.tensor(g))
    assert_close(fused_x.grad, torch_x.grad, tol, tol)
    assert_close(composite_x.grad, torch_x.grad, tol, tol)
    # create_graph: the gradient is itself differentiable (in x and in the incoming gradient)
    a = ng.tensor(x.astype(np.float64), requires_grad=True)
    gg = ng.tensor(g.astype(np.float64), requires_grad=True)
    (gx,) = ng.autograd.grad(F.cross_entropy(a, ng.tensor(t), ignore_index=4, reduction=reduction), a, gg,
                             create_graph=True)
    b = torch.tensor(x.astype(np.float64), requires_grad=True)
    tg = torch.tensor(g.astype(np.float64), requires_grad=True)
    (tgx,) = torch.autograd.grad(TF.cross_entropy(b, torch.tensor(t), ignore_index=4, reduction=reduction), b, tg,
                                 create_graph=True)
    (gx * gx).sum().backward()
    (tgx * tgx).sum().backward()
    assert_close(a.grad, b.grad, 1e-10, 1e-12)
    assert_close(gg.grad, tg.grad, 1e-10, 1e-12)


@pytest.mark.parametrize("kwargs", [{}, {"label_smoothing": 0.2}, {"reduction": "none", "ignore_index": 1}])
def test_cross_entropy_gradgradcheck(kwargs):
    x = ng.tensor(_logits(3, 4), requires_grad=True)
    assert ng.autograd.gradgradcheck(lambda t: F.cross_entropy(t, ng.tensor([0, 3, 1]), **kwargs), (x,))


def test_nll_loss_gradgradcheck_through_gather_and_scatter():
    x = ng.tensor(_logits(3, 4, 2), requires_grad=True)
    t = ng.tensor([[0, 1], [3, 3], [2, 0]])
    assert ng.autograd.gradgradcheck(lambda v: F.nll_loss(v * v, t, reduction="sum"), (x,))


# ---------------------------------------------------------------- regression and binary losses

def test_mse_loss_broadcast_warns_like_pytorch():
    with pytest.warns(UserWarning, match="Using a target size"):
        F.mse_loss(ng.ones(3), ng.ones(1, 3))


def test_regression_losses_errors():
    with pytest.raises(RuntimeError, match=r"size of tensor a \(3\) must match the size of tensor b \(2\)"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            F.mse_loss(ng.ones(3), ng.ones(2))
    with pytest.raises(NotImplementedError, match=r"\"mse_loss\" not implemented for 'Long'"):
        F.mse_loss(ng.tensor([1, 2]), ng.tensor([1, 3]))
    with pytest.raises(RuntimeError, match="smooth_l1_loss does not support negative values for beta"):
        F.smooth_l1_loss(ng.ones(2), ng.ones(2), beta=-1.0)


def test_smooth_l1_with_zero_beta_is_l1():
    x, t = ng.tensor([0.0, 2.0, -3.0]), ng.tensor([0.5, 0.0, 0.0])
    assert_close(F.smooth_l1_loss(x, t, beta=0.0), F.l1_loss(x, t), 1e-7, 1e-7)


def test_binary_cross_entropy_errors():
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(ng.tensor([0.5, 1.5]), ng.tensor([0.0, 1.0]))
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(ng.tensor([0.5, float("nan")]), ng.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"Using a target size \(\[1, 2\]\) that is different to the input size "
                                         r"\(\[2\]\) is deprecated"):
        F.binary_cross_entropy(ng.tensor([0.5, 0.5]), ng.tensor([[0.0, 1.0]]))
    with pytest.raises(RuntimeError, match="Found dtype Double but expected Float"):
        F.binary_cross_entropy(ng.tensor([0.5]), ng.tensor([1.0], dtype=ng.float64))
    with pytest.raises(ValueError, match=r"Target size \(\[2\]\) must be the same as input size \(\[3\]\)"):
        F.binary_cross_entropy_with_logits(ng.zeros(3), ng.zeros(2))


def test_binary_cross_entropy_at_exact_zero_and_one_is_finite_like_pytorch():
    x = [0.0, 1.0, 0.3]
    t = [1.0, 0.0, 1.0]
    a, b = ng.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    loss, expected = F.binary_cross_entropy(a, ng.tensor(t)), TF.binary_cross_entropy(b, torch.tensor(t))
    assert_close(loss, expected, 1e-6, 1e-6)
    loss.backward()
    expected.backward()
    assert_close(a.grad, b.grad, 1e-6, 1e-6)


def test_bce_with_logits_is_stable_for_large_logits():
    x = [-200.0, 200.0, 0.0]
    t = [1.0, 0.0, 0.5]
    out = F.binary_cross_entropy_with_logits(ng.tensor(x, dtype=ng.float64), ng.tensor(t, dtype=ng.float64),
                                             reduction="none")
    expected = TF.binary_cross_entropy_with_logits(torch.tensor(x, dtype=torch.float64),
                                                   torch.tensor(t, dtype=torch.float64), reduction="none")
    assert np.isfinite(out.numpy()).all()
    assert_close(out, expected, 1e-12, 1e-12)


def test_bce_gradgradcheck():
    rng = np.random.default_rng(4)
    x = ng.tensor(rng.uniform(0.1, 0.9, (2, 3)), requires_grad=True)
    t = ng.tensor(rng.uniform(0.0, 1.0, (2, 3)), requires_grad=True)
    assert ng.autograd.gradgradcheck(lambda p, q: F.binary_cross_entropy(p, q), (x, t))
    assert ng.autograd.gradgradcheck(lambda p, q: F.binary_cross_entropy_with_logits(p, q), (x, t))


# ---------------------------------------------------------------- linear and re-exports

def test_linear_shape_error_names_both_shapes():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(3x4 and 3x5\)"):
        F.linear(ng.ones(3, 4), ng.ones(5, 3))


def test_activation_aliases_are_the_pointwise_ops():
    for name in ("gelu", "sigmoid", "tanh", "softplus"):
        assert getattr(F, name) is getattr(ng, name)
    # PyTorch's F.relu & co take inplace= (torch.relu does not): the same op underneath
    x = ng.tensor([-1.5, 0.0, 2.0])
    for name in ("relu", "silu", "leaky_relu", "elu"):
        assert getattr(F, name)(x).numpy().tobytes() == getattr(ng, name)(x).numpy().tobytes()
    assert_close(F.logsigmoid(ng.tensor([-50.0, 0.0, 50.0])), TF.logsigmoid(torch.tensor([-50.0, 0.0, 50.0])),
                 1e-6, 1e-6)


def test_one_hot_is_reexported():
    pytest.importorskip("numgrad.ops.indexing")
    out = F.one_hot(ng.tensor([0, 2]), 3)
    np.testing.assert_array_equal(out.numpy(), [[1, 0, 0], [0, 0, 1]])
