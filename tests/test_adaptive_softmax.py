"""``nn.AdaptiveLogSoftmaxWithLoss`` against ``torch.nn.AdaptiveLogSoftmaxWithLoss`` with the same weights."""
import numpy as np
import pytest
import torch

import numgrad as ng
from tests.helpers import assert_close


def _pair(in_features=8, n_classes=10, cutoffs=(3, 6), div_value=2.0, head_bias=True, seed=0):
    """A torch module and a numgrad one holding torch's weights (float64)."""
    torch.manual_seed(seed)
    theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, list(cutoffs), div_value=div_value,
                                                 head_bias=head_bias).double()
    ours = ng.nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, list(cutoffs), div_value=div_value,
                                            head_bias=head_bias, dtype=ng.float64)
    result = ours.load_state_dict({k: ng.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys
    return theirs, ours


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")  # torch: the last tail has 0 features
def test_parameters_have_torchs_names_and_shapes():
    theirs, ours = _pair(in_features=16, n_classes=20, cutoffs=(4, 9, 15), div_value=4.0, head_bias=False)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert repr(ours) == repr(theirs)
    assert (ours.shortlist_size, ours.n_clusters, ours.head_size, ours.cutoffs) == \
        (theirs.shortlist_size, theirs.n_clusters, theirs.head_size, theirs.cutoffs)


def test_forward_values_and_gradients_match_torch():
    theirs, ours = _pair()
    x = np.random.default_rng(1).standard_normal((6, 8))
    y = np.array([0, 4, 9, 2, 7, 5])
    xt, xn = torch.tensor(x, requires_grad=True), ng.tensor(x, requires_grad=True)
    out_t, out_n = theirs(xt, torch.tensor(y)), ours(xn, ng.tensor(y))
    assert type(out_n).__name__ == "_ASMoutput" and out_n._fields == ("output", "loss")
    assert_close(out_n.output, out_t.output, rtol=1e-12, atol=1e-12)
    assert_close(out_n.loss, out_t.loss, rtol=1e-12, atol=1e-12)
    out_t.loss.backward()
    out_n.loss.backward()
    assert_close(xn.grad, xt.grad, rtol=1e-10, atol=1e-12)
    for (name, p_t), (_, p_n) in zip(theirs.named_parameters(), ours.named_parameters()):
        assert_close(p_n.grad, p_t.grad, rtol=1e-10, atol=1e-12, msg=name)


def test_unbatched_input_and_a_cluster_without_targets():
    theirs, ours = _pair()
    x = np.random.default_rng(2).standard_normal(8)
    for label in (1, 8):
        out_t, out_n = theirs(torch.tensor(x), torch.tensor(label)), ours(ng.tensor(x), ng.tensor(label))
        assert out_n.output.shape == () and out_n.loss.shape == ()
        assert_close(out_n.output, out_t.output, rtol=1e-12, atol=1e-12)
    # every target in the head: the tail clusters are skipped
    xb = np.random.default_rng(3).standard_normal((3, 8))
    out_n = ours(ng.tensor(xb), ng.tensor([0, 1, 2]))
    assert_close(out_n.output, theirs(torch.tensor(xb), torch.tensor([0, 1, 2])).output, rtol=1e-12, atol=1e-12)


def test_gradcheck_float64():
    _, ours = _pair(in_features=4, n_classes=6, cutoffs=(2, 4), div_value=2.0)
    x = ng.tensor(np.random.default_rng(4).standard_normal((4, 4)), requires_grad=True)
    target = ng.tensor([0, 3, 5, 2])
    assert ng.autograd.gradcheck(lambda inp: ours(inp, target).output, (x,))


def test_log_prob_and_predict_match_torch():
    theirs, ours = _pair()
    rng = np.random.default_rng(5)
    for scale in (0.1, 3.0, 30.0):  # the head's argmax falls in the shortlist, the clusters, or a mix
        x = rng.standard_normal((7, 8)) * scale
        assert_close(ours.log_prob(ng.tensor(x)), theirs.log_prob(torch.tensor(x)), rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(ours.predict(ng.tensor(x)).numpy(), theirs.predict(torch.tensor(x)).numpy())
    assert abs(float(ours.log_prob(ng.tensor(x)).exp().sum(dim=1).mean().item()) - 1.0) < 1e-12


def test_predict_mixed_rows():
    """Rows predicted in the shortlist keep the head's argmax; the others get the full distribution's."""
    theirs, ours = _pair()
    with torch.no_grad():
        theirs.head.weight.zero_()
        theirs.head.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0]))
        theirs.head.weight[0, 0] = 5.0   # x[0] large -> class 0 (shortlist)
        theirs.head.weight[4, 1] = 5.0   # x[1] large -> cluster 1
    ours.load_state_dict({k: ng.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    x = np.zeros((4, 8))
    x[0, 0] = x[2, 0] = 1.0
    x[1, 1] = x[3, 1] = 1.0
    x[:, 2:] = np.random.default_rng(6).standard_normal((4, 6))
    expected = theirs.predict(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(ours.predict(ng.tensor(x)).numpy(), expected)
    np.testing.assert_array_equal(ours.log_prob(ng.tensor(x)).argmax(dim=1).numpy(), expected)


def test_float32_default_dtype_trains():
    asm = ng.nn.AdaptiveLogSoftmaxWithLoss(6, 8, [2, 5])
    opt = ng.optim.SGD(asm.parameters(), lr=0.5)
    x, y = ng.randn(5, 6), ng.tensor([0, 1, 3, 6, 7])
    first = asm(x, y).loss.item()
    for _ in range(5):
        opt.zero_grad()
        asm(x, y).loss.backward()
        opt.step()
    assert asm(x, y).loss.item() < first


@pytest.mark.parametrize("cutoffs", [[], [5, 3], [0, 3], [3, 10], [3, 3], [2.5]])
def test_bad_cutoffs_raise_torchs_errors(cutoffs):
    with pytest.raises(ValueError) as theirs:
        torch.nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs)
    with pytest.raises(ValueError) as ours:
        ng.nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("input_shape, target", [((3, 8), [0, 1]), ((3, 8), [[0]]), ((2, 8), [0, 10]),
                                                  ((2, 8), [-1, 0]), ((2, 8), 0), ((2, 2, 8), [0, 1])])
def test_bad_inputs_raise_torchs_errors(input_shape, target):
    theirs, ours = _pair()
    with pytest.raises(RuntimeError) as err_t:
        theirs(torch.ones(input_shape, dtype=torch.float64), torch.tensor(target))
    with pytest.raises(RuntimeError) as err_n:
        ours(ng.ones(input_shape, dtype=ng.float64), ng.tensor(target))
    assert str(err_n.value) == str(err_t.value).replace("torch.Size", "numgrad.Size")
