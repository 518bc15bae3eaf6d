"""Indexing beyond the registry: views and versions, setitem under autograd, errors, properties."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numgrad as ng
from tests.helpers import assert_close


def _pair(arr, requires_grad=False):
    return (ng.tensor(arr, requires_grad=requires_grad),
            torch.tensor(arr).requires_grad_(requires_grad))


# ------------------------------------------------------------------ views and the version counter
def test_basic_index_is_a_view_sharing_version():
    x = ng.zeros(3, 4)
    row = x[1]
    v0 = x._version[0]
    row.add_(1.0)
    assert x.numpy()[1].tolist() == [1.0] * 4
    assert x._version[0] == v0 + 1
    x[0, 1:3].fill_(7.0)
    assert x.numpy()[0].tolist() == [0.0, 7.0, 7.0, 0.0]


def test_advanced_index_is_a_copy():
    x = ng.zeros(3)
    y = x[[0, 1]]
    y.add_(1.0)
    assert x.numpy().tolist() == [0.0, 0.0, 0.0]


def test_zero_dim_results_and_scalar_tensor_index():
    x = ng.arange(6).reshape(2, 3)
    assert x[1, 2].shape == () and x[1, 2].item() == 5
    assert x[ng.tensor(1)].tolist() == [3, 4, 5]
    assert ng.tensor(3.0)[None].shape == (1,)
    assert ng.tensor(3.0)[...].item() == 3.0
    assert x[True].shape == (1, 2, 3) and x[False].shape == (0, 2, 3)


def test_iteration_stops_at_the_end():
    rows = list(ng.arange(6).reshape(3, 2))
    assert [r.tolist() for r in rows] == [[0, 1], [2, 3], [4, 5]]


def test_grad_fn_names_follow_pytorch():
    x = ng.zeros(3, 4, requires_grad=True)
    assert x[0].grad_fn.name() == "SelectBackward0"
    assert x[1:].grad_fn.name() == "SliceBackward0"
    assert x[None].grad_fn.name() == "UnsqueezeBackward0"
    assert x[[0, 1]].grad_fn.name() == "IndexBackward0"
    assert ng.index_select(x, 1, ng.tensor([0])).grad_fn.name() == "IndexSelectBackward0"
    assert ng.gather(x, 1, ng.tensor([[0], [1], [2]])).grad_fn.name() == "GatherBackward0"


# ------------------------------------------------------------------ backward of advanced indexing
def test_duplicate_indices_accumulate():
    x, tx = _pair(np.arange(5.0), requires_grad=True)
    idx = [0, 3, 3, 3, 0, 4]
    w = np.arange(1.0, 7.0)
    (x[idx] * ng.tensor(w)).sum().backward()
    (tx[idx] * torch.tensor(w)).sum().backward()
    assert_close(x.grad, tx.grad)
    assert x.grad.tolist() == [6.0, 0.0, 0.0, 9.0, 6.0]  # 1+5, 2+3+4, 6


def test_duplicate_indices_accumulate_on_the_parallel_path():
    # above PARALLEL_THRESHOLD the scatter-add runs its parallel variant (over rows, never over the index)
    rng = np.random.default_rng(0)
    data = rng.standard_normal((4, 300, 160)).astype(np.float32)
    idx = rng.integers(0, 300, size=280)
    x, tx = _pair(data, requires_grad=True)
    seed = rng.standard_normal((4, 280, 160)).astype(np.float32)
    (x[:, idx] * ng.tensor(seed)).sum().backward()
    (tx[:, idx] * torch.tensor(seed)).sum().backward()
    assert_close(x.grad, tx.grad, rtol=1e-5, atol=1e-5)


def test_mask_gradient():
    data = np.array([[1.0, -2.0], [3.0, -4.0]])
    x, tx = _pair(data, requires_grad=True)
    (x[x > 0] ** 2).sum().backward()
    (tx[tx > 0] ** 2).sum().backward()
    assert_close(x.grad, tx.grad)


def test_double_backward_through_indexing():
    x = ng.tensor(np.random.default_rng(3).standard_normal((3, 4)), requires_grad=True)
    assert ng.autograd.gradgradcheck(lambda t: (t[[0, 2, 2], 1:] ** 3), (x,))
    assert ng.autograd.gradgradcheck(lambda t: ng.gather(t, 1, ng.tensor([[0, 0], [1, 3], [2, 2]])) ** 2, (x,))


# ------------------------------------------------------------------ setitem
def test_setitem_bumps_version_and_writes():
    x = ng.zeros(2, 3)
    v0 = x._version[0]
    x[0] = 1.0
    x[:, [0, 2]] = ng.tensor([5.0, 6.0])
    x[x > 5.5] = -1.0
    assert x._version[0] == v0 + 3
    assert x.tolist() == [[5.0, 1.0, -1.0], [5.0, 0.0, -1.0]]


def test_setitem_casts_and_broadcasts():
    x = ng.zeros(2, 3, dtype=ng.int64)
    x[1] = 2.7  # truncated, as torch does
    x[0, :] = ng.tensor([[1, 2, 3]])  # leading size-1 dims of the value are dropped
    assert x.tolist() == [[1, 2, 3], [2, 2, 2]]


def test_setitem_autograd_matches_torch():
    rng = np.random.default_rng(1)
    a, v = rng.standard_normal((3, 4)), rng.standard_normal((2,))
    x, tx = _pair(a, requires_grad=True)
    val, tval = _pair(v, requires_grad=True)
    y, ty = x * 2, tx * 2
    y[1:, 3] = val
    ty[1:, 3] = tval
    y[[0, 0], [1, 2]] = val * 3
    ty[[0, 0], [1, 2]] = tval * 3
    assert y.grad_fn.name() == "IndexPutBackward0"
    w = rng.standard_normal((3, 4))
    (y * ng.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    assert_close(y, ty)
    assert_close(x.grad, tx.grad)
    assert_close(val.grad, tval.grad)


def test_setitem_after_save_is_detected():
    x = ng.ones(3, requires_grad=True)
    y = x * 1.0
    z = y * y  # saves y
    y[0] = 5.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_setitem_on_leaf_requiring_grad_raises():
    x = ng.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        x[0] = 1.0
    with ng.no_grad():
        x[0] = 1.0
    assert x.tolist() == [1.0, 0.0, 0.0]


def test_setitem_on_expanded_tensor_raises():
    x = ng.zeros(3).expand(2, 3)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        x[0, 0] = 1.0


def test_setitem_shape_mismatch():
    x = ng.zeros(2, 3)
    with pytest.raises(RuntimeError, match=r"shape mismatch: value tensor of shape \[4\] cannot be broadcast"):
        x[0] = ng.zeros(4)


# ------------------------------------------------------------------ getitem errors
@pytest.mark.parametrize("key, exc, msg", [
    (5, IndexError, "index 5 is out of bounds for dimension 0 with size 3"),
    ((slice(None), 4), IndexError, "index 4 is out of bounds for dimension 1 with size 4"),
    ([5], IndexError, "index 5 is out of bounds for dimension 0 with size 3"),
    ((slice(None), [-5]), IndexError, "index -5 is out of bounds for dimension 1 with size 4"),
    ((0, 0, 0), IndexError, "too many indices for tensor of dimension 2"),
    (slice(None, None, -1), ValueError, "step must be greater than zero"),
    (slice(None, None, 0), ValueError, "slice step cannot be zero"),
    (1.0, IndexError, r"only integers, slices .* are valid indices \(got float\)"),
    ((Ellipsis, Ellipsis), IndexError, "an index can only have a single ellipsis"),
])
def test_getitem_errors(key, exc, msg):
    with pytest.raises(exc, match=msg):
        ng.zeros(3, 4)[key]


def test_getitem_tensor_index_errors():
    x = ng.zeros(3, 4)
    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool tensors"):
        x[ng.tensor([1.0])]
    with pytest.raises(IndexError, match=r"The shape of the mask \[2\] at index 0 does not match .* \[3, 4\]"):
        x[ng.tensor([True, False])]
    with pytest.raises(IndexError, match="shape mismatch: indexing tensors could not be broadcast"):
        x[[0, 1], [0, 1, 2]]


# ------------------------------------------------------------------ hypothesis: getitem vs PyTorch
@st.composite
def _index_case(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    key = []
    dim = 0
    while dim < ndim and draw(st.booleans()):
        n = shape[dim]
        kind = draw(st.sampled_from(["int", "slice", "none", "array", "mask"]))
        if kind == "int":
            key.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            start = draw(st.one_of(st.none(), st.integers(-n - 1, n + 1)))
            stop = draw(st.one_of(st.none(), st.integers(-n - 1, n + 1)))
            key.append(slice(start, stop, draw(st.one_of(st.none(), st.integers(1, 3)))))
        elif kind == "none":
            key.append(None)
            continue
        elif kind == "array":
            key.append(np.array(draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4)), dtype=np.int64))
        else:
            key.append(np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))))
        dim += 1
    if draw(st.booleans()) and dim < ndim:
        key.insert(draw(st.integers(0, len(key))), Ellipsis)
    return shape, tuple(key)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_index_case())
def test_getitem_matches_torch(case):
    shape, key = case
    data = np.arange(float(np.prod(shape))).reshape(shape)
    tkey = tuple(torch.from_numpy(k) if isinstance(k, np.ndarray) else k for k in key)
    try:
        expected = torch.tensor(data)[tkey]
    except (IndexError, RuntimeError) as exc:  # e.g. arrays that do not broadcast: numgrad must refuse too
        with pytest.raises(type(exc)):
            ng.tensor(data)[key]
        return
    got = ng.tensor(data)[key]
    assert got.shape == tuple(expected.shape)
    assert_close(got, expected)
    # the same key assigns to the same places
    x, tx = ng.zeros(*shape), torch.zeros(shape, dtype=torch.float64)
    x = x.double()
    x[key] = 1.0
    tx[tkey] = 1.0
    assert_close(x, tx)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_basic_getitem_matches_numpy(rows, cols, data):
    arr = np.arange(rows * cols, dtype=np.float64).reshape(rows, cols)
    i = data.draw(st.integers(-rows, rows - 1))
    s = slice(data.draw(st.integers(-cols, cols)), None, data.draw(st.integers(1, 3)))
    for key in (i, (slice(None), s), (i, s), (None, Ellipsis, s)):
        got = ng.tensor(arr)[key]
        assert got.shape == arr[key].shape
        np.testing.assert_array_equal(got.numpy(), arr[key])


# ------------------------------------------------------------------ gather / scatter_add / index_select
def test_gather_errors():
    x = ng.zeros(3, 4)
    with pytest.raises(RuntimeError, match=r"gather\(\): Expected dtype int32/int64 for index"):
        ng.gather(x, 0, ng.tensor([[0.0]]))
    with pytest.raises(RuntimeError, match="index 5 is out of bounds for dimension 0 with size 3"):
        ng.gather(x, 0, ng.tensor([[5]]))
    with pytest.raises(RuntimeError, match="index -1 is out of bounds for dimension 1 with size 4"):
        ng.gather(x, 1, ng.tensor([[-1]]))
    with pytest.raises(RuntimeError, match="Index tensor must have the same number of dimensions as input"):
        ng.gather(x, 0, ng.tensor([0]))
    with pytest.raises(RuntimeError, match=r"Size does not match at dimension 1 expected index \[1, 5\]"):
        ng.gather(x, 0, ng.zeros(1, 5, dtype=ng.int64))
    with pytest.raises(IndexError, match="Dimension out of range"):
        ng.gather(x, 2, ng.tensor([[0]]))


def test_scatter_add_inplace_and_errors():
    x = ng.zeros(2, 3)
    v0 = x._version[0]
    out = x.scatter_add_(1, ng.tensor([[0, 0], [2, 2]]), ng.ones(2, 2))
    assert out is x and x._version[0] == v0 + 1
    assert x.tolist() == [[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]]
    with pytest.raises(RuntimeError, match=r"scatter_add\(\): Expected self.dtype to be equal to src.dtype"):
        ng.scatter_add(x, 0, ng.tensor([[0]]), ng.ones(1, 1, dtype=ng.float64))
    with pytest.raises(RuntimeError, match="index 3 is out of bounds for dimension 1 with size 3"):
        ng.scatter_add(x, 1, ng.tensor([[3]]), ng.ones(1, 1))


def test_scatter_add_inplace_autograd_and_int32_index():
    rng = np.random.default_rng(4)
    a, s = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    idx = np.array([[0, 2, 2, 1], [2, 2, 0, 0]], dtype=np.int32)
    x, tx = _pair(a, requires_grad=True)
    src, tsrc = _pair(s, requires_grad=True)
    y, ty = x * 1.0, tx * 1.0
    y.scatter_add_(0, ng.tensor(idx), src)
    ty.scatter_add_(0, torch.tensor(idx, dtype=torch.int64), tsrc)
    (y ** 2).sum().backward()
    (ty ** 2).sum().backward()
    assert_close(y, ty)
    assert_close(x.grad, tx.grad)
    assert_close(src.grad, tsrc.grad)


def test_index_select_errors():
    x = ng.zeros(3, 4)
    with pytest.raises(IndexError, match="index_select\\(\\): Index is supposed to be a vector"):
        ng.index_select(x, 0, ng.tensor([[0]]))
    with pytest.raises(RuntimeError, match=r"index_select\(\): Expected dtype int32 or int64 for index"):
        ng.index_select(x, 0, ng.tensor([0.0]))
    with pytest.raises(IndexError, match="index out of range in self"):
        ng.index_select(x, 1, ng.tensor([4]))


def test_integer_dtypes():
    x = ng.arange(12, dtype=ng.int32).reshape(3, 4)
    t = torch.arange(12, dtype=torch.int32).reshape(3, 4)
    idx = [[1, 0], [3, 3], [0, 2]]
    assert_close(ng.gather(x, 1, ng.tensor(idx)), torch.gather(t, 1, torch.tensor(idx)))
    assert_close(x[[2, 0], 1:], t[[2, 0], 1:])
    assert ng.gather(x, 1, ng.tensor(idx)).dtype == ng.int32
    b = ng.tensor([[True, False], [False, True]])
    assert b[[1, 0]].tolist() == [[False, True], [True, False]]


# ------------------------------------------------------------------ masked_fill, one_hot, nonzero
def test_masked_fill_inplace_and_value_tensor_grad():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 3))
    mask = np.array([True, False, True])
    x, tx = _pair(a, requires_grad=True)
    v, tv = _pair(np.array(1.5), requires_grad=True)
    y, ty = x * 2, tx * 2
    y.masked_fill_(ng.tensor(mask), v)
    ty.masked_fill_(torch.tensor(mask), tv)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    assert_close(y, ty)
    assert_close(x.grad, tx.grad)
    assert_close(v.grad, tv.grad)


def test_masked_fill_errors_and_int_dtype():
    x = ng.zeros(2, 3)
    with pytest.raises(RuntimeError, match="masked_fill only supports boolean masks"):
        ng.masked_fill(x, ng.ones(3), 1.0)
    with pytest.raises(RuntimeError, match="only supports a 0-dimensional value tensor, but got tensor with 1"):
        ng.masked_fill(x, ng.ones(3, dtype=ng.bool), ng.ones(1))
    i = ng.zeros(3, dtype=ng.int64).masked_fill(ng.tensor([True, False, True]), 4)
    assert i.dtype == ng.int64 and i.tolist() == [4, 0, 4]


def test_one_hot():
    out = ng.one_hot(ng.tensor([[0, 3], [1, 1]]))
    assert out.dtype == ng.int64 and out.shape == (2, 2, 4)
    assert_close(out, torch.nn.functional.one_hot(torch.tensor([[0, 3], [1, 1]])))
    assert ng.one_hot(ng.tensor([1]), 3).tolist() == [[0, 1, 0]]
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes."):
        ng.one_hot(ng.tensor([1, 5]), 3)
    with pytest.raises(RuntimeError, match="Class values must be non-negative."):
        ng.one_hot(ng.tensor([1, -1]), 3)
    with pytest.raises(RuntimeError, match="one_hot is only applicable to index tensor of type LongTensor."):
        ng.one_hot(ng.tensor([1.0]), 3)


def test_nonzero():
    a = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    assert_close(ng.nonzero(ng.tensor(a)), torch.nonzero(torch.tensor(a)))
    rows, cols = ng.tensor(a).nonzero(as_tuple=True)
    assert rows.tolist() == [0, 1, 1] and cols.tolist() == [1, 0, 2]
    assert ng.nonzero(ng.zeros(2, 2)).shape == (0, 2)


def test_take_along_dim_broadcasts():
    rng = np.random.default_rng(6)
    a = rng.standard_normal((3, 4))
    idx = np.array([[0], [3], [1]])
    x, tx = _pair(a)
    assert_close(ng.take_along_dim(x, ng.tensor(idx), 1), torch.take_along_dim(tx, torch.tensor(idx), 1))
    argmax = ng.tensor(np.argmax(a, axis=1)[:, None])
    assert_close(ng.take_along_dim(x, argmax, dim=1).squeeze(1), a.max(axis=1))


def test_write_through_a_chain_of_views_rebases_the_base():
    # y[0][1] = v writes into a view of a view: y's history becomes CopySlices, as in PyTorch
    x = ng.ones(2, 3, requires_grad=True)
    y = x * 2
    v = ng.tensor(4.0, requires_grad=True)
    y[0][1] = v * 2
    y[1, 1] = 5.0  # one index on the base works too
    assert y.grad_fn.name() == "IndexPutBackward0" or y.grad_fn.name() == "CopySlices"
    (y * y).sum().backward()
    assert y.tolist() == [[2.0, 8.0, 2.0], [2.0, 5.0, 2.0]]
    assert x.grad.tolist() == [[8.0, 0.0, 8.0], [8.0, 0.0, 8.0]]
    assert v.grad.item() == 32.0


@pytest.mark.parametrize("strided", [False, True])
def test_index_put_of_a_tensor_into_itself_raises_as_torch(strided):
    """PyTorch refuses ``t[idx] = t`` (the same tensor is always an overlap, however strided its memory); a
    fuzzed program found numgrad writing it silently when the tensor was a strided view."""
    for lib in (ng, torch):
        base = lib.tensor([[-0.5, -1.0, 0.125], [-1.0, 2.0, 2.0]])
        t = base[..., 1] if strided else base[0, :2]
        index = lib.tensor([0, 1])
        with pytest.raises(RuntimeError, match="refer to a single memory location. Please clone"):
            t[index] = t
        t[index] = t.clone()  # a copy is fine
