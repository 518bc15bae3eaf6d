"""Shape ops beyond the registry: views, dtypes, double backward and PyTorch's error messages."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng
from tests.helpers import assert_close


def test_split_chunk_narrow_unbind_are_views():
    x = ng.zeros(4, 3)
    v0 = x._version[0]
    ng.split(x, 2)[1].add_(1.0)
    ng.chunk(x, 2, dim=1)[1].add_(2.0)
    x.narrow(0, 0, 1).add_(3.0)
    x.unbind(1)[0].add_(4.0)
    expected = np.zeros((4, 3))
    expected[2:] += 1
    expected[:, 2:] += 2
    expected[0] += 3
    expected[:, 0] += 4
    np.testing.assert_array_equal(x.numpy(), expected)
    assert x._version[0] == v0 + 4


def test_split_backward_with_unused_pieces():
    x, tx = ng.ones(5, 2, requires_grad=True), torch.ones(5, 2, requires_grad=True)
    a, _, c = ng.split(x, 2)
    ta, _, tc = torch.split(tx, 2)
    (a.sum() * 2 + c.sum()).backward()
    (ta.sum() * 2 + tc.sum()).backward()
    assert_close(x.grad, tx.grad)
    assert a.grad_fn.name() == "SplitBackward0"


def test_cat_promotes_dtypes_and_routes_gradients():
    a = ng.ones(2, dtype=ng.float32, requires_grad=True)
    b = ng.ones(3, dtype=ng.float64, requires_grad=True)
    i = ng.tensor([7, 8])
    out = ng.cat([a, b, i])
    assert out.dtype == ng.float64 and out.tolist() == [1, 1, 1, 1, 1, 7, 8]
    (out * ng.arange(7.0, dtype=ng.float64)).sum().backward()
    assert a.grad.dtype == ng.float32 and a.grad.tolist() == [0.0, 1.0]
    assert b.grad.tolist() == [2.0, 3.0, 4.0]
    assert out.grad_fn.name() == "CatBackward0"
    assert ng.stack([a, a]).grad_fn.name() == "StackBackward0"


def test_cat_skips_legacy_empty_and_concat_alias():
    x = ng.arange(6.0).reshape(2, 3)
    assert ng.cat([x, ng.zeros(0)]).shape == (2, 3)
    assert ng.concat([x, x], dim=1).shape == (2, 6)


def test_integer_and_bool_shape_ops():
    x = ng.arange(6, dtype=ng.int32).reshape(2, 3)
    t = torch.arange(6, dtype=torch.int32).reshape(2, 3)
    assert_close(ng.flip(x, (0, 1)), torch.flip(t, (0, 1)))
    assert_close(x.repeat(2, 1), t.repeat(2, 1))
    assert_close(ng.pad(x, (1, 1), value=9), torch.nn.functional.pad(t, (1, 1), value=9))
    assert ng.pad(x, (1, 1)).dtype == ng.int32
    b = ng.tensor([True, False])
    assert ng.cat([b, b]).tolist() == [True, False, True, False]


def test_flip_of_noncontiguous_and_movedim():
    base = ng.arange(24.0).reshape(2, 3, 4)
    x = base.transpose(0, 2)
    assert_close(ng.flip(x, [0, -1]), torch.flip(torch.arange(24.0).reshape(2, 3, 4).transpose(0, 2), [0, -1]))
    assert ng.movedim(base, (0, 2), (2, 0)).shape == (4, 3, 2)
    assert base.moveaxis(-1, 0).shape == (4, 2, 3)


@pytest.mark.parametrize("fn", [
    lambda t: ng.cat([t, t * 2], 1) ** 2,
    lambda t: ng.pad(t, (1, 2), value=0.5) ** 2,
    lambda t: ng.pad(t.unsqueeze(0), (2, 1), mode="reflect") ** 2,
    lambda t: t.repeat(2, 1) ** 2,
    lambda t: ng.stack(ng.unbind(t, 1)[::-1]) ** 3,
], ids=["cat", "pad", "pad_reflect", "repeat", "unbind_stack"])
def test_double_backward(fn):
    x = ng.tensor(np.random.default_rng(0).standard_normal((2, 3)), requires_grad=True)
    assert ng.autograd.gradgradcheck(fn, (x,))


# ------------------------------------------------------------------ errors, worded like PyTorch
def test_cat_errors():
    with pytest.raises(RuntimeError, match="Sizes of tensors must match except in dimension 1. Expected size 2 but "
                                           "got size 3 for tensor number 1 in the list."):
        ng.cat([ng.zeros(2, 2), ng.zeros(3, 3)], 1)
    with pytest.raises(RuntimeError, match="Tensors must have same number of dimensions: got 2 and 1"):
        ng.cat([ng.zeros(2, 2), ng.zeros(3)])
    with pytest.raises(ValueError, match="expected a non-empty list of Tensors"):
        ng.cat([])
    with pytest.raises(RuntimeError, match=r"zero-dimensional tensor \(at position 0\) cannot be concatenated"):
        ng.cat([ng.tensor(1.0)])
    with pytest.raises(IndexError, match="Dimension out of range"):
        ng.cat([ng.zeros(2)], 1)


def test_stack_split_chunk_narrow_errors():
    with pytest.raises(RuntimeError, match=r"stack expects each tensor to be equal size, but got \[2\] at entry 0 "
                                           r"and \[3\] at entry 1"):
        ng.stack([ng.zeros(2), ng.zeros(3)])
    with pytest.raises(RuntimeError, match="split_with_sizes expects split_sizes to sum exactly to 4"):
        ng.split(ng.zeros(4), [1, 2])
    with pytest.raises(RuntimeError, match="split_size can only be 0 if dimension size is 0"):
        ng.split(ng.zeros(4), 0)
    with pytest.raises(RuntimeError, match="chunk expects `chunks` to be greater than 0, got: 0"):
        ng.chunk(ng.zeros(4), 0)
    with pytest.raises(RuntimeError, match=r"start \(3\) \+ length \(2\) exceeds dimension size \(4\)."):
        ng.zeros(3, 4).narrow(1, 3, 2)
    with pytest.raises(RuntimeError, match="narrow\\(\\): length must be non-negative."):
        ng.zeros(3, 4).narrow(1, 1, -1)


def test_flip_repeat_movedim_errors():
    with pytest.raises(RuntimeError, match="dim 0 appears multiple times in the list of dims"):
        ng.flip(ng.zeros(2, 2), (0, 0))
    with pytest.raises(RuntimeError, match="Number of dimensions of repeat dims can not be smaller"):
        ng.zeros(2, 2).repeat(2)
    with pytest.raises(RuntimeError, match=r"Trying to create tensor with negative dimension -3: \[-3, 8\]"):
        ng.zeros(3, 4).repeat(-1, 2)
    with pytest.raises(RuntimeError, match="movedim: repeated dim in `source`"):
        ng.movedim(ng.zeros(2, 2), (0, 0), (1, 0))


def test_pad_errors():
    x = ng.zeros(3, 4, 5)
    with pytest.raises(RuntimeError, match="Padding length must be divisible by 2"):
        ng.pad(x, (1, 2, 3))
    with pytest.raises(RuntimeError, match="Padding length should be less than or equal to two times the input"):
        ng.pad(ng.zeros(3), (1, 1, 1, 1))
    with pytest.raises(RuntimeError, match=r"Padding size should be less than the corresponding input dimension, "
                                           r"but got: padding \(5, 2\) at dimension 2 of input \[3, 4, 5\]"):
        ng.pad(x, (5, 2), mode="reflect")
    with pytest.raises(NotImplementedError, match="Padding size 2 is not supported for 1D input tensor."):
        ng.pad(ng.zeros(5), (2, 2), mode="replicate")
    with pytest.raises(NotImplementedError, match="Unrecognised padding mode foo"):
        ng.pad(x, (1, 1), mode="foo")
    with pytest.raises(RuntimeError, match='Padding mode "reflect" doesn\'t take in value argument'):
        ng.pad(x, (1, 1), mode="reflect", value=1.0)
    with pytest.raises(RuntimeError, match="resulted in a negative output size"):
        ng.pad(ng.zeros(4), (-3, -2))
