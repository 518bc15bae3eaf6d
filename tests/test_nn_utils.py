"""``numgrad.nn.utils`` against ``torch.nn.utils``: gradient clipping, parameter vectors, packed sequences."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad.nn.utils import rnn as ng_rnn
from tests.helpers import assert_close

trnn = torch.nn.utils.rnn


def _pairs(shapes, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    arrays = [(rng.standard_normal(s) * scale).astype(np.float32) for s in shapes]
    ngp = []
    tp = []
    for a in arrays:
        p = ng.nn.Parameter(ng.zeros(*a.shape))
        p.grad = ng.tensor(a.copy())
        ngp.append(p)
        q = torch.nn.Parameter(torch.zeros(a.shape))
        q.grad = torch.tensor(a.copy())
        tp.append(q)
    return ngp, tp


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf"), "inf", 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ngp, tp = _pairs([(3, 4), (5,), (2, 2, 2)])
    total = ng.nn.utils.clip_grad_norm_(ngp, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type=norm_type)
    assert isinstance(total, ng.Tensor) and total.shape == ()
    assert_close(total, expected, rtol=1e-5)
    for a, b in zip(ngp, tp):
        assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_single_tensor_skips_missing_grads_and_empty():
    ngp, tp = _pairs([(4,)])
    assert_close(ng.nn.utils.clip_grad_norm_(ngp[0], 0.1), torch.nn.utils.clip_grad_norm_(tp[0], 0.1), rtol=1e-5)
    assert_close(ngp[0].grad, tp[0].grad, rtol=1e-5)
    no_grad = ng.nn.Parameter(ng.ones(2))
    total = ng.nn.utils.clip_grad_norm_([no_grad], 1.0)
    assert float(total) == 0.0 and no_grad.grad is None
    with pytest.warns(UserWarning, match="empty generator"):
        ng.nn.utils.clip_grad_norm_((p for p in []), 1.0)


def test_clip_grad_norm_nonfinite():
    ngp, _ = _pairs([(3,)])
    ngp[0].grad = ng.tensor([1.0, float("nan"), 2.0])
    with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
        ng.nn.utils.clip_grad_norm_(ngp, 1.0, error_if_nonfinite=True)
    total = ng.nn.utils.clip_grad_norm_(ngp, 1.0, foreach=True)  # foreach is accepted and ignored
    assert np.isnan(float(total))


def test_clip_grad_norm_deprecated_alias_warns():
    ngp, _ = _pairs([(3,)])
    with pytest.warns(FutureWarning, match="deprecated"):
        ng.nn.utils.clip_grad_norm(ngp, 1.0)


def test_clip_grad_value_and_total_norm_helpers():
    ngp, tp = _pairs([(3, 4), (6,)], scale=2.0)
    assert ng.nn.utils.clip_grad_value_(ngp, 0.7) is None
    torch.nn.utils.clip_grad_value_(tp, 0.7)
    for a, b in zip(ngp, tp):
        assert_close(a.grad, b.grad)
    grads = [p.grad for p in ngp]
    assert_close(ng.nn.utils.get_total_norm(grads, 3.0), torch.nn.utils.get_total_norm([p.grad for p in tp], 3.0),
                 rtol=1e-5)


def test_parameters_vector_round_trip_and_gradient():
    a, b = ng.randn(2, 3, requires_grad=True), ng.randn(4, requires_grad=True)
    vec = ng.nn.utils.parameters_to_vector([a, b])
    expected = torch.nn.utils.parameters_to_vector([torch.tensor(a.detach().numpy()), torch.tensor(b.detach().numpy())])
    assert_close(vec, expected)
    (vec * ng.arange(10.0)).sum().backward()
    assert_close(a.grad, np.arange(6.0).reshape(2, 3))
    net = ng.nn.Linear(3, 2)
    ng.nn.utils.vector_to_parameters(ng.arange(8.0), net.parameters())
    assert_close(net.weight, np.arange(6.0).reshape(2, 3))
    assert_close(net.bias, [6.0, 7.0])
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: numpy.ndarray"):
        ng.nn.utils.vector_to_parameters(np.zeros(8), net.parameters())


# ----------------------------------------------------------------- packed / padded sequences
def _seqs(lengths, feat=(3,), seed=1):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((n,) + feat).astype(np.float32) for n in lengths]
    return arrays, [ng.tensor(a, requires_grad=True) for a in arrays], [torch.tensor(a, requires_grad=True)
                                                                         for a in arrays]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_matches_torch_with_gradients(batch_first, padding_side):
    _, ngs, ts = _seqs([2, 4, 1])
    out = ng_rnn.pad_sequence(ngs, batch_first=batch_first, padding_value=-2.5, padding_side=padding_side)
    ref = trnn.pad_sequence(ts, batch_first=batch_first, padding_value=-2.5, padding_side=padding_side)
    assert_close(out, ref)
    w = np.random.default_rng(3).standard_normal(ref.shape).astype(np.float32)
    (out * ng.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for a, b in zip(ngs, ts):
        assert_close(a.grad, b.grad)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_and_pad_round_trip_matches_torch(batch_first, enforce_sorted):
    lengths = [4, 3, 1] if enforce_sorted else [1, 4, 3]
    arrays, _, _ = _seqs(lengths)
    padded = trnn.pad_sequence([torch.tensor(a) for a in arrays], batch_first=batch_first)
    x_ng = ng.tensor(padded.numpy(), requires_grad=True)
    x_t = padded.clone().requires_grad_(True)
    p_ng = ng_rnn.pack_padded_sequence(x_ng, ng.tensor(lengths), batch_first=batch_first,
                                       enforce_sorted=enforce_sorted)
    p_t = trnn.pack_padded_sequence(x_t, torch.tensor(lengths), batch_first=batch_first,
                                    enforce_sorted=enforce_sorted)
    assert isinstance(p_ng, ng_rnn.PackedSequence)
    assert_close(p_ng.data, p_t.data)
    assert p_ng.batch_sizes.dtype == ng.int64
    assert_close(p_ng.batch_sizes, p_t.batch_sizes)
    for a, b in ((p_ng.sorted_indices, p_t.sorted_indices), (p_ng.unsorted_indices, p_t.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            assert_close(a, b)
    out, lens = ng_rnn.pad_packed_sequence(p_ng, batch_first=batch_first, padding_value=9.0, total_length=5)
    ref, ref_lens = trnn.pad_packed_sequence(p_t, batch_first=batch_first, padding_value=9.0, total_length=5)
    assert_close(out, ref)
    assert_close(lens, ref_lens)
    w = np.random.default_rng(4).standard_normal(ref.shape).astype(np.float32)
    (out * ng.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    assert_close(x_ng.grad, x_t.grad)


def test_pack_sequence_and_unpack_sequence():
    _, ngs, ts = _seqs([2, 5, 3], feat=())
    p_ng = ng_rnn.pack_sequence(ngs, enforce_sorted=False)
    p_t = trnn.pack_sequence(ts, enforce_sorted=False)
    assert_close(p_ng.data, p_t.data)
    assert_close(p_ng.batch_sizes, p_t.batch_sizes)
    for a, b in zip(ng_rnn.unpack_sequence(p_ng), trnn.unpack_sequence(p_t)):
        assert_close(a, b)
    assert_close(ng_rnn.invert_permutation(ng.tensor([2, 0, 1])), trnn.invert_permutation(torch.tensor([2, 0, 1])))
    assert p_ng.double().data.dtype == ng.float64
    assert not p_ng.is_cuda


def test_sequence_errors_match_torch_wording():
    x = ng.zeros(4, 3, 2)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order when `enforce_sorted` is True"):
        ng_rnn.pack_padded_sequence(x, [2, 3, 1])
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        ng_rnn.pack_padded_sequence(x, [4, 0, 0])
    with pytest.raises(RuntimeError, match=r"Expected `len\(lengths\)` to be equal to batch_size, but got 2"):
        ng_rnn.pack_padded_sequence(x, [4, 3])
    with pytest.raises(RuntimeError, match="exceeds the padded sequence length 4"):
        ng_rnn.pack_padded_sequence(x, [5, 3, 1])
    with pytest.raises(RuntimeError, match="received an empty list of sequences"):
        ng_rnn.pad_sequence([])
    with pytest.raises(RuntimeError, match="Expected padding_side to be one of left or right, but got up"):
        ng_rnn.pad_sequence([ng.ones(2)], padding_side="up")
    with pytest.raises(RuntimeError, match=r"sequence 1 has shape \[3, 4\]"):
        ng_rnn.pad_sequence([ng.ones(2, 3), ng.ones(3, 4)])
    p = ng_rnn.pack_sequence([ng.ones(3), ng.ones(2)])
    with pytest.raises(ValueError, match="Expected total_length to be at least the length of the longest"):
        ng_rnn.pad_packed_sequence(p, total_length=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ng_rnn.pad_packed_sequence(p, total_length=3)
