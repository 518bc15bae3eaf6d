"""Ops added for issue 16 (the torch functions and Tensor methods real programs use), and the coverage command.

Values and gradients of the differentiable ops are checked in the op registry (``tests/specs_more.py``);
this file holds what the registry cannot express: integer/bool results, randomness, errors, constructors.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad import coverage as cov


# ------------------------------------------------------------------ coverage command
def test_coverage_names_exist_in_the_installed_torch():
    names = cov.torch_names()["namespaces"]
    roots = {"torch": torch, "Tensor": torch.Tensor, "nn": torch.nn, "nn.functional": torch.nn.functional,
             "optim": torch.optim, "optim.lr_scheduler": torch.optim.lr_scheduler,
             "utils.data": importlib.import_module("torch.utils.data")}
    for namespace, listed in names.items():
        missing = [n for n in listed if not hasattr(roots[namespace], n)]
        assert not missing, f"{namespace}: {missing}"
        assert listed == sorted(set(listed))


def test_coverage_counts_what_numgrad_has():
    rows = cov.coverage()
    assert set(rows) == {"torch", "Tensor", "nn", "nn.functional", "optim", "optim.lr_scheduler", "utils.data"}
    assert "tensor" in rows["torch"].present and "zeros" in rows["torch"].present
    assert "backward" in rows["Tensor"].present and "Linear" in rows["nn"].present
    for row in rows.values():
        assert row.total == len(cov.torch_names()["namespaces"][row.namespace])
        assert not set(row.present) & set(row.missing)


def test_coverage_report_and_markdown(tmp_path, capsys):
    assert cov.main([]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["namespace", "implemented", "total", "%"]
    path = tmp_path / "coverage.md"
    cov.main(["--markdown", str(path)])
    text = path.read_text()
    assert text.startswith("# PyTorch API coverage") and "| `torch` |" in text and "## `torch.Tensor`" in text


def _ng(a):
    return ng.tensor(np.asarray(a))


def _same(ours, theirs):
    theirs = theirs.numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    np.testing.assert_array_equal(ours.numpy(), theirs)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).replace("torch.", "").split(".")[-1] or \
        ours.numpy().dtype == theirs.dtype


# ------------------------------------------------------------------ sorting and searching
def test_sort_is_stable_with_ties_and_puts_nan_last_or_first():
    data = [[3.0, 1.0, float("nan"), 2.0, 1.0, 3.0]]
    for descending in (False, True):
        ours = ng.sort(_ng(data), descending=descending)
        theirs = torch.sort(torch.tensor(data), descending=descending, stable=True)
        _same(ours.indices, theirs.indices)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    _same(ng.argsort(_ng([[2, 1, 2, 0]]), stable=True), torch.argsort(torch.tensor([[2, 1, 2, 0]]), stable=True))
    _same(ng.sort(_ng([True, False, True])).values, torch.sort(torch.tensor([True, False, True])).values)


def test_sort_gradient_at_ties_goes_to_the_positions_the_values_came_from():
    x = ng.tensor([2.0, 1.0, 2.0], requires_grad=True)
    tx = torch.tensor([2.0, 1.0, 2.0], requires_grad=True)
    w = [1.0, 10.0, 100.0]
    (ng.sort(x, stable=True).values * ng.tensor(w)).sum().backward()
    (torch.sort(tx, stable=True).values * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_topk_and_kthvalue_errors():
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        ng.topk(ng.ones(3), 4)
    with pytest.raises(IndexError, match="kthvalue\\(\\): selected number k out of range"):
        ng.kthvalue(ng.ones(3), 0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        ng.sort(ng.ones(3), dim=2)


def test_unique_matches_torch():
    data = np.array([[3, 1, 2], [1, 3, 3]])
    ours = ng.unique(_ng(data), return_inverse=True, return_counts=True)
    theirs = torch.unique(torch.tensor(data), return_inverse=True, return_counts=True)
    for o, t in zip(ours, theirs):
        _same(o, t)
    _same(ng.unique(_ng([1.5, -1.0, 1.5])), torch.unique(torch.tensor([1.5, -1.0, 1.5], dtype=torch.float64)))
    ours = ng.unique_consecutive(_ng([1, 1, 2, 2, 1]), return_inverse=True, return_counts=True)
    theirs = torch.unique_consecutive(torch.tensor([1, 1, 2, 2, 1]), return_inverse=True, return_counts=True)
    for o, t in zip(ours, theirs):
        _same(o, t)
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    assert not ng.unique(x).requires_grad
    nan = float("nan")
    for o, t in zip(ng.unique(ng.tensor([nan, 1.0, nan, 1.0]), return_inverse=True, return_counts=True),
                    torch.unique(torch.tensor([nan, 1.0, nan, 1.0]), return_inverse=True, return_counts=True)):
        np.testing.assert_array_equal(o.numpy(), t.numpy())  # every NaN is its own value
    rows = [[1, 2, 1], [0, 1, 0], [1, 2, 1]]
    for dim in (0, 1):
        for o, t in zip(ng.unique(_ng(rows), dim=dim, return_inverse=True, return_counts=True),
                        torch.unique(torch.tensor(rows), dim=dim, return_inverse=True, return_counts=True)):
            _same(o, t)
    with pytest.raises(NotImplementedError, match="unique_consecutive\\(dim=0\\)"):
        ng.unique_consecutive(x, dim=0)


def test_searchsorted_and_bucketize_match_torch():
    seq = np.array([1.0, 3.0, 3.0, 5.0])
    vals = np.array([[0.0, 3.0], [4.0, 9.0]])
    for right in (False, True):
        _same(ng.searchsorted(_ng(seq), _ng(vals), right=right),
              torch.searchsorted(torch.tensor(seq), torch.tensor(vals), right=right))
        _same(ng.bucketize(_ng(vals), _ng(seq), right=right),
              torch.bucketize(torch.tensor(vals), torch.tensor(seq), right=right))
    seq2 = np.array([[1.0, 2.0, 3.0], [0.0, 5.0, 6.0]])
    _same(ng.searchsorted(_ng(seq2), _ng(vals), side="right"),
          torch.searchsorted(torch.tensor(seq2), torch.tensor(vals), side="right"))
    assert ng.searchsorted(_ng(seq), 3.0).item() == 1
    assert ng.searchsorted(_ng(seq), _ng(vals), out_int32=True).dtype == ng.int32
    with pytest.raises(RuntimeError, match="boundaries tensor should be 1 dimension"):
        ng.searchsorted(_ng(np.ones((3, 2))), _ng(vals))
    with pytest.raises(RuntimeError, match="side can only be 'left' or 'right'"):
        ng.searchsorted(_ng(seq), _ng(vals), side="middle")


# ------------------------------------------------------------------ einsum and products
def test_einsum_errors_and_list_operands():
    a = ng.ones(2, 3)
    with pytest.raises(RuntimeError, match="more operands were provided"):
        ng.einsum("ij", a, a)
    with pytest.raises(RuntimeError, match="number of subscripts in the equation \\(3\\)"):
        ng.einsum("ijk", a)
    with pytest.raises(RuntimeError, match="output subscript z does not appear"):
        ng.einsum("ij->z", a)
    assert ng.einsum("ij,kj->ik", [a, a]).shape == (2, 2)


def test_addmm_beta_zero_ignores_nan_and_inplace_variants():
    nan = ng.full((2, 2), float("nan"))
    out = ng.addmm(nan, ng.ones(2, 3), ng.ones(3, 2), beta=0)
    assert np.all(out.numpy() == 3)
    x = ng.zeros(2, 2)
    assert x.addmm_(ng.ones(2, 3), ng.ones(3, 2), alpha=2) is x and np.all(x.numpy() == 6)
    with pytest.raises(RuntimeError, match="must broadcast to the product's shape"):
        ng.addmm(ng.ones(3), ng.ones(2, 3), ng.ones(3, 2))
    with pytest.raises(RuntimeError, match="must have length 3"):
        ng.cross(ng.ones(2, 4), ng.ones(2, 4), dim=1)


# ------------------------------------------------------------------ constructors and the Tensor API
def test_legacy_tensor_constructors_match_torch():
    for args in (([-4.0],), ([[1, 2], [3, 4]],), (2, 3), ()):
        ours, theirs = ng.Tensor(*args), torch.Tensor(*args)
        assert ours.shape == tuple(theirs.shape) and ours.dtype == ng.float32
        if args and not isinstance(args[0], int):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert isinstance(ng.Tensor([1.0]), ng.Tensor)
    t = ng.ones(2)
    assert ng.Tensor(t).numpy() is not None and np.shares_memory(ng.Tensor(t).numpy(), t.numpy())
    for name in ("FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor", "ByteTensor"):
        ours, theirs = getattr(ng, name)([1, 0]), getattr(torch, name)([1, 0])
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
        assert getattr(ng, name)(2, 3).shape == (2, 3)
    assert isinstance(ng.ones(2), ng.FloatTensor) and not isinstance(ng.ones(2), ng.LongTensor)
    assert isinstance(ng.arange(3), ng.LongTensor)
    with pytest.raises(TypeError, match="data must be a sequence"):
        ng.Tensor(2.5)
    with pytest.raises(RuntimeError, match="negative dimension"):
        ng.Tensor(2, -1)


def test_format_of_zero_dim_tensor_and_error_otherwise():
    assert f"{ng.tensor(3.14159):.4f}" == f"{torch.tensor(3.14159):.4f}" == "3.1416"
    assert format(ng.tensor(7), "d") == "7"
    assert format(ng.tensor([1.0, 2.0])) == str(ng.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="unsupported format string passed to Tensor.__format__"):
        format(ng.tensor([1.0, 2.0]), ".2f")


def test_randint_reads_high_and_size_as_torch_does():
    ng.manual_seed(0)
    x = ng.randint(5, (200,))
    assert x.shape == (200,) and x.dtype == ng.int64 and 0 <= int(x.min()) and int(x.max()) == 4
    y = ng.randint(3, 5, (100,))
    assert set(np.unique(y.numpy())) == {3, 4}
    assert ng.randint(low=1, high=2, size=(3,)).tolist() == [1, 1, 1]
    assert ng.randint(0, 10, size=(2, 2), dtype=ng.int32).dtype == ng.int32
    assert int(ng.randint_like(ng.zeros(50), 2).max()) <= 1
    with pytest.raises(RuntimeError, match="random_ expects 'from' to be less than 'to'"):
        ng.randint(5, 5, (2,))


def test_indexing_with_a_range_reads_and_writes_like_a_list():
    x = ng.arange(10.0, requires_grad=True)
    tx = torch.arange(10.0, requires_grad=True)
    (x[range(2, 8, 2)] * 2).sum().backward()
    (tx[range(2, 8, 2)] * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    y, ty = ng.zeros(3, 4), torch.zeros(3, 4)
    y[range(1, 3), 1:] = 5.0
    ty[range(1, 3), 1:] = 5.0
    np.testing.assert_array_equal(y.numpy(), ty.numpy())


def test_new_family_keeps_dtype_and_device():
    base = ng.tensor([1, 2], dtype=ng.int32)
    tb = torch.tensor([1, 2], dtype=torch.int32)
    for name, args in (("new_zeros", (2, 3)), ("new_ones", ((2,),)), ("new_full", ((2,), 7)),
                       ("new_tensor", ([1, 2],))):
        ours, theirs = getattr(base, name)(*args), getattr(tb, name)(*args)
        _same(ours, theirs)
    assert base.new_empty(3).shape == (3,) and base.new_empty(3).dtype == ng.int32
    assert base.new_zeros(2, dtype=ng.float64).dtype == ng.float64
    leaf = base.new_ones(2, dtype=ng.float32, requires_grad=True)
    assert leaf.requires_grad and leaf.is_leaf
    assert ng.numel(ng.zeros(2, 3)) == 6 and ng.zeros(2, 3).nelement() == 6 and ng.zeros(2).ndimension() == 1
    assert ng.is_tensor(base) and not ng.is_tensor([1]) and ng.is_nonzero(ng.tensor([2]))
    with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
        ng.is_nonzero(ng.ones(2))


# ------------------------------------------------------------------ random sampling
def test_multinomial_frequencies_and_rules():
    ng.manual_seed(1)
    probs = ng.tensor([[0.1, 0.0, 0.6, 0.3], [1.0, 1.0, 1.0, 1.0]])
    draws = ng.multinomial(probs, 4000, replacement=True)
    assert draws.shape == (2, 4000) and draws.dtype == ng.int64
    freq = np.bincount(draws[0].numpy(), minlength=4) / 4000
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.6, 0.3], atol=0.04)
    assert freq[1] == 0
    no_repeat = ng.multinomial(ng.ones(6, 5), 5)
    assert all(sorted(row) == [0, 1, 2, 3, 4] for row in no_repeat.tolist())
    assert sorted(ng.multinomial(probs[0], 3).tolist()) == [0, 2, 3]
    ng.manual_seed(7)
    a = ng.multinomial(ng.ones(10), 4)
    ng.manual_seed(7)
    assert ng.multinomial(ng.ones(10), 4).tolist() == a.tolist()
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist.size"):
        ng.multinomial(ng.ones(3), 4)
    with pytest.raises(RuntimeError, match="not enough non-negative category"):
        ng.multinomial(ng.tensor([1.0, 0.0, 0.0]), 2)
    with pytest.raises(RuntimeError, match="`inf`, `nan` or element < 0"):
        ng.multinomial(ng.tensor([1.0, -1.0]), 1)
    with pytest.raises(RuntimeError, match="sum of probabilities <= 0"):
        ng.multinomial(ng.zeros(3), 1, replacement=True)


def test_bernoulli_and_inplace_fills():
    ng.manual_seed(2)
    p = ng.full((20000,), 0.3, requires_grad=True)
    draws = ng.bernoulli(p)
    assert draws.dtype == ng.float32 and set(np.unique(draws.numpy())) == {0.0, 1.0}
    assert abs(float(draws.mean()) - 0.3) < 0.02 and not draws.requires_grad
    assert ng.bernoulli(ng.zeros(3), 1.0).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(RuntimeError, match="Expected p_in >= 0 && p_in <= 1"):
        ng.bernoulli(ng.tensor([1.5]))
    x = ng.zeros(20000)
    assert x.normal_(2.0, 0.5) is x and abs(float(x.mean()) - 2.0) < 0.02 and abs(float(x.std()) - 0.5) < 0.02
    x.uniform_(-1, 3)
    assert -1 <= float(x.min()) and float(x.max()) < 3 and abs(float(x.mean()) - 1.0) < 0.05
    x.exponential_(2.0)
    assert float(x.min()) >= 0 and abs(float(x.mean()) - 0.5) < 0.02
    assert x.bernoulli_(0.0).sum().item() == 0
    assert sorted(ng.randperm(6).tolist()) == list(range(6))
    n = ng.normal(ng.zeros(2, 3), ng.ones(3))
    assert n.shape == (2, 3) and ng.normal(1.0, 0.0, size=(2,)).tolist() == [1.0, 1.0]
    w = ng.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.normal_()


# ------------------------------------------------------------------ elementwise compositions
def test_nan_to_num_replaces_and_zeroes_the_gradient_there():
    data = [float("nan"), float("inf"), -float("inf"), 1.5]
    x, tx = ng.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    for kw in ({}, dict(nan=1.0, posinf=2.0, neginf=-2.0)):
        np.testing.assert_array_equal(ng.nan_to_num(x, **kw).detach().numpy(),
                                      torch.nan_to_num(tx, **kw).detach().numpy())
    ng.nan_to_num(x).sum().backward()
    torch.nan_to_num(tx).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    y = ng.tensor(data)
    assert y.nan_to_num_(0.0, 1.0, -1.0) is y and y.tolist() == [0.0, 1.0, -1.0, 1.5]
    _same(ng.nan_to_num(ng.tensor([1, 2])), torch.tensor([1, 2]))


def test_inplace_compositions_and_equal_and_divide():
    a, ta = ng.ones(3), torch.ones(3)
    b, tb = ng.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 3.0])
    a.addcmul_(b, b, value=0.5).addcdiv_(b, b + 1, value=2).lerp_(b, 0.25)
    ta.addcmul_(tb, tb, value=0.5).addcdiv_(tb, tb + 1, value=2).lerp_(tb, 0.25)
    np.testing.assert_allclose(a.numpy(), ta.numpy(), rtol=1e-6)
    w = ng.ones(2, requires_grad=True)
    out = ng.zeros(2).addcmul_(w, w, value=3.0)
    out.sum().backward()
    assert w.grad.tolist() == [6.0, 6.0]
    assert ng.equal(ng.tensor([1, 2]), ng.tensor([1, 2])) is True
    assert not ng.equal(ng.ones(2), ng.ones(3)) and not ng.equal(ng.tensor([float("nan")]), ng.tensor([float("nan")]))
    _same(ng.divide(ng.tensor([-7.0, 7.0]), 2), torch.div(torch.tensor([-7.0, 7.0]), 2))
    for mode in ("trunc", "floor"):
        _same(ng.divide(ng.tensor([-7, 7, 6]), 2, rounding_mode=mode),
              torch.div(torch.tensor([-7, 7, 6]), 2, rounding_mode=mode))
    with pytest.raises(RuntimeError, match="Integer division with addcdiv"):
        ng.addcdiv(ng.ones(2), ng.tensor([1, 2]), ng.tensor([1, 2]))
    with pytest.raises(ValueError, match="rounding_mode to be one of"):
        ng.divide(ng.ones(1), 2, rounding_mode="up")
    c = ng.tensor([-2.0, 0.5, 3.0])
    assert c.clamp_min_(0).clamp_max_(1).tolist() == [0.0, 0.5, 1.0] and c.clip_(0.5).tolist()[0] == 0.5


# ------------------------------------------------------------------ scatter family
def test_scatter_family_inplace_forms_and_errors():
    idx = ng.tensor([[1, 0, 1]])
    src = ng.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # larger than the index: only the covered part is used
    _same(ng.zeros(2, 3).scatter_(0, idx, src), torch.zeros(2, 3).scatter_(0, torch.tensor([[1, 0, 1]]),
                                                                          torch.tensor(src.numpy())))
    _same(ng.zeros(2, 3).scatter(0, idx, src, reduce="add"),
          torch.zeros(2, 3).scatter(0, torch.tensor([[1, 0, 1]]), torch.tensor(src.numpy()), reduce="add"))
    x = ng.zeros(3, 2)
    assert x.index_add_(0, ng.tensor([0, 0]), ng.ones(2, 2)) is x and x[0].tolist() == [2.0, 2.0]
    assert x.index_copy_(0, ng.tensor([2]), ng.full((1, 2), 7.0))[2].tolist() == [7.0, 7.0]
    assert x.index_fill_(1, ng.tensor([1]), -1.0)[:, 1].tolist() == [-1.0, -1.0, -1.0]
    m = ng.tensor([True, False, True])
    assert ng.zeros(3).masked_scatter_(m, ng.tensor([5.0, 6.0])).tolist() == [5.0, 0.0, 6.0]
    y = ng.ones(3)
    assert y.scatter_reduce_(0, ng.tensor([0, 0]), ng.tensor([2.0, 4.0]), "sum").tolist() == [7.0, 1.0, 1.0]
    assert ng.scatter_reduce(ng.ones(2), 0, ng.tensor([0]), ng.full((1,), 3.0), "prod").tolist() == [3.0, 1.0]
    with pytest.raises(RuntimeError, match="reduce argument must be either"):
        ng.scatter_reduce(ng.ones(2), 0, ng.tensor([0]), ng.ones(1), "max")
    with pytest.raises(RuntimeError, match="Expected dtype int64 for index"):
        ng.scatter(ng.ones(2), 0, ng.tensor([0.0]), 1.0)
    with pytest.raises(RuntimeError, match="Number of indices \\(2\\) should be equal to source.size"):
        ng.index_add(ng.ones(3), 0, ng.tensor([0, 1]), ng.ones(3))
    with pytest.raises(RuntimeError, match="Number of elements of source < number of ones in mask"):
        ng.masked_scatter(ng.zeros(3), m, ng.ones(1))
    with pytest.raises(RuntimeError, match="expected BoolTensor for mask"):
        ng.masked_select(ng.ones(2), ng.tensor([1, 0]))


# ------------------------------------------------------------------ more shape ops
def test_shape_more_errors_and_meshgrid_default():
    with pytest.warns(UserWarning, match="indexing argument"):
        grids = ng.meshgrid(ng.arange(2), ng.arange(3))
    assert grids[0].shape == (2, 3)
    with pytest.raises(RuntimeError, match="shifts and dimensions must align"):
        ng.roll(ng.ones(2, 2), (1, 1), 0)
    with pytest.raises(RuntimeError, match="repeats must have the same size as input along dim"):
        ng.repeat_interleave(ng.ones(3), ng.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="not divisible by the split_size"):
        ng.hsplit(ng.ones(2, 3), 2)
    with pytest.raises(RuntimeError, match="indexing must be one of"):
        ng.meshgrid(ng.ones(2), indexing="ji")
    assert ng.select(ng.arange(6).reshape(2, 3), 0, -1).tolist() == [3, 4, 5]
    assert ng.ravel(ng.ones(2, 3)).shape == (6,) and ng.ones(2, 3).swapaxes(0, 1).shape == (3, 2)


def test_where_single_argument_and_method_order():
    x, tx = ng.tensor([[1.0, 2.0, 4.0], [3.0, 0.0, 9.0]]), torch.tensor([[1.0, 2.0, 4.0], [3.0, 0.0, 9.0]])
    for o, t in zip(ng.where(x > 2), torch.where(tx > 2)):
        _same(o, t)
    np.testing.assert_array_equal(x.where(x > 2, 0.0).numpy(), tx.where(tx > 2, 0.0).numpy())
    with pytest.raises(TypeError, match="condition alone or the condition, input and other"):
        ng.where(x > 2, x)
    for name in ("arcsin", "arctan", "arcsinh", "sgn", "multiply", "greater_equal"):
        assert callable(getattr(ng, name)) and callable(getattr(ng.Tensor, name))
    np.testing.assert_allclose(ng.arctan2(ng.tensor([1.0, -1.0]), ng.tensor([-2.0, 3.0])).numpy(),
                               torch.arctan2(torch.tensor([1.0, -1.0]), torch.tensor([-2.0, 3.0])).numpy(), rtol=1e-6)


# ------------------------------------------------------------------ order statistics
def test_order_statistics_with_nan_and_ties_match_torch():
    nan = float("nan")
    data = [[1.0, 3.0, 2.0, 4.0], [1.0, nan, 2.0, 0.0], [nan, nan, nan, nan]]
    x, tx = ng.tensor(data), torch.tensor(data)
    for ours, theirs in ((ng.median(x, 1), torch.median(tx, 1)), (ng.nanmedian(x, 1), torch.nanmedian(tx, 1)),
                         (ng.cummax(x, 1), torch.cummax(tx, 1)), (ng.cummin(x, 1), torch.cummin(tx, 1))):
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        _same(ours.indices[:2], theirs.indices[:2])  # which NaN of an all-NaN row is unspecified
    np.testing.assert_allclose(ng.quantile(x, 0.3, dim=1).numpy(), torch.quantile(tx, 0.3, dim=1).numpy())
    np.testing.assert_allclose(ng.nanquantile(x, 0.7, dim=1).numpy(), torch.nanquantile(tx, 0.7, dim=1).numpy())
    ties = [1.0, 3.0, 3.0, 2.0]
    _same(ng.cummax(ng.tensor(ties), 0).indices, torch.cummax(torch.tensor(ties), 0).indices)
    for mode in ("lower", "higher", "nearest", "midpoint"):
        np.testing.assert_allclose(ng.quantile(ng.tensor([1.0, 3.0, 2.0, 4.0, 7.0]), 0.4, interpolation=mode).item(),
                                   torch.quantile(torch.tensor([1.0, 3.0, 2.0, 4.0, 7.0]), 0.4,
                                                  interpolation=mode).item())
    with pytest.raises(RuntimeError, match="q values must be in the range \\[0, 1\\]"):
        ng.quantile(x, 1.5)
    with pytest.raises(RuntimeError, match="input tensor must be either float or double"):
        ng.quantile(ng.tensor([1, 2]), 0.5)
    with pytest.raises(RuntimeError, match="interpolation must be one of"):
        ng.quantile(x, 0.5, interpolation="cubic")
    _same(ng.diff(ng.tensor([1, 4, 9, 16]), n=2, prepend=ng.tensor([0]), append=ng.tensor([25])),
          torch.diff(torch.tensor([1, 4, 9, 16]), n=2, prepend=torch.tensor([0]), append=torch.tensor([25])))
    assert float(ng.nansum(x)) == float(torch.nansum(tx))


def test_linalg_namespace_errors():
    assert ng.linalg.matrix_norm(ng.ones(2, 2), "nuc").item() == pytest.approx(2.0)  # singular values 2 and 0
    with pytest.raises(RuntimeError, match="must have at least 2 dimensions"):
        ng.linalg.matrix_norm(ng.ones(2))
    with pytest.raises(RuntimeError, match="Expected a floating point"):
        ng.linalg.vector_norm(ng.tensor([1, 2]))
    assert ng.linalg.vector_norm(ng.ones(2, 2), keepdim=True).shape == (1, 1)


def test_more_pointwise_and_tensor_properties():
    x, tx = ng.tensor([-2.5, 0.0, -0.0, 3.0]), torch.tensor([-2.5, 0.0, -0.0, 3.0])
    _same(ng.signbit(x), torch.signbit(tx))
    np.testing.assert_array_equal(ng.heaviside(x, ng.tensor(0.5)).numpy(),
                                  torch.heaviside(tx, torch.tensor(0.5)).numpy())
    _same(ng.fmod(ng.tensor([-7, 7]), 3), torch.fmod(torch.tensor([-7, 7]), 3))
    _same(ng.float_power(ng.tensor([2]), 3), torch.float_power(torch.tensor([2]), 3))
    np.testing.assert_array_equal(ng.copysign(ng.tensor([1.0, 2.0]), ng.tensor([-0.0, 0.0])).numpy(),
                                  torch.copysign(torch.tensor([1.0, 2.0]), torch.tensor([-0.0, 0.0])).numpy())
    t, tt = ng.ones(2, 3), torch.ones(2, 3)
    assert (t.is_cpu, t.get_device(), t.itemsize, t.nbytes, t.is_signed()) == \
        (tt.is_cpu, tt.get_device(), tt.itemsize, tt.nbytes, tt.is_signed())
    flags = ("is_cuda", "is_xpu", "is_mps", "is_meta", "is_sparse", "is_quantized", "is_mkldnn", "is_nested")
    assert [getattr(t, f) for f in flags] == [getattr(tt, f) for f in flags]
    with pytest.raises(RuntimeError, match="maximum size for tensor at dimension 0 is 3 but size is 4"):
        ng.ones(3).unfold(0, 4, 1)


def test_inplace_forms_of_rows_and_compositions_match_torch():
    for name, args in (("asin_", ()), ("cosh_", ()), ("eq_", ([0.5, 1.0],)), ("frac_", ()), ("multiply_", (2.0,)),
                       ("logical_not_", ()), ("fmod_", (0.3,)), ("atan2_", ([1.0, -2.0],)), ("deg2rad_", ())):
        data = [0.5, -0.25]
        ours, theirs = ng.tensor(data), torch.tensor(data)
        conv = [ng.tensor(a) if isinstance(a, list) else a for a in args]
        tconv = [torch.tensor(a) if isinstance(a, list) else a for a in args]
        assert getattr(ours, name)(*conv) is ours
        getattr(theirs, name)(*tconv)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, err_msg=name)
    w = ng.ones(2, requires_grad=True)
    v = w * 1
    v.sinh_()
    v.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.cosh([1.0, 1.0]), rtol=1e-6)
    assert ng.Tensor.add_ is not ng.ops.pointwise.INPLACE_IF_MISSING["add_"]  # existing forms are kept


def test_dense_linalg_errors_and_logdet_signs():
    with pytest.raises(RuntimeError, match="input matrix is singular"):
        ng.inverse(ng.zeros(2, 2))
    with pytest.raises(RuntimeError, match="input matrix is singular"):
        ng.linalg.solve(ng.zeros(2, 2), ng.ones(2))
    with pytest.raises(RuntimeError, match="batches of square matrices"):
        ng.det(ng.ones(2, 3))
    mats = [[[-2.0, 0.0], [0.0, 3.0]], [[2.0, 0.0], [0.0, 3.0]], [[0.0, 0.0], [0.0, 1.0]]]
    np.testing.assert_allclose(ng.logdet(ng.tensor(mats)).numpy(), torch.logdet(torch.tensor(mats)).numpy())
    np.testing.assert_array_equal(ng.matrix_power(ng.tensor(mats), 0).numpy(),
                                  torch.matrix_power(torch.tensor(mats), 0).numpy())


def test_counting_membership_and_builders_match_torch():
    _same(ng.bincount(ng.tensor([0, 2, 2]), minlength=5), torch.bincount(torch.tensor([0, 2, 2]), minlength=5))
    np.testing.assert_array_equal(ng.histc(ng.tensor([1.0, 2.0, 1.0, 4.0, 5.0]), bins=4, min=0, max=3).numpy(),
                                  torch.histc(torch.tensor([1.0, 2.0, 1.0, 4.0, 5.0]), bins=4, min=0, max=3).numpy())
    _same(ng.isin(ng.tensor([[1, 2], [3, 4]]), ng.tensor([2, 3])),
          torch.isin(torch.tensor([[1, 2], [3, 4]]), torch.tensor([2, 3])))
    _same(ng.isin(ng.tensor([1, 2]), 2, invert=True), torch.isin(torch.tensor([1, 2]), 2, invert=True))
    _same(ng.combinations(ng.tensor([1, 2, 3]), 2), torch.combinations(torch.tensor([1, 2, 3]), 2))
    _same(ng.combinations(ng.tensor([1, 2]), 2, with_replacement=True),
          torch.combinations(torch.tensor([1, 2]), 2, with_replacement=True))
    _same(ng.argwhere(ng.tensor([[0, 1], [2, 0]])), torch.argwhere(torch.tensor([[0, 1], [2, 0]])))
    np.testing.assert_allclose(ng.logspace(0, 2, 3, base=2).numpy(), torch.logspace(0, 2, 3, base=2).numpy())
    inf = float("inf")
    _same(ng.isposinf(ng.tensor([1.0, inf, -inf])), torch.isposinf(torch.tensor([1.0, inf, -inf])))
    _same(ng.isneginf(ng.tensor([1.0, inf, -inf])), torch.isneginf(torch.tensor([1.0, inf, -inf])))
    with pytest.raises(RuntimeError, match="bincount only supports 1-d non-negative integral inputs"):
        ng.bincount(ng.tensor([-1, 2]))
    with pytest.raises(RuntimeError, match="expected src to have a size equal to the slice of self"):
        ng.select_scatter(ng.zeros(2, 2), ng.ones(3), 0, 0)
    with pytest.raises(NotImplementedError, match="fweights and aweights"):
        ng.cov(ng.ones(2, 3), fweights=ng.tensor([1, 1, 1]))
    x = ng.tensor([0.5, -1.2, 2.0], dtype=ng.float64, requires_grad=True)
    assert ng.autograd.gradcheck(lambda t: ng.vander(t, N=4, increasing=True), (x,), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_generator_objects_and_rng_state_round_trip():
    g = ng.Generator().manual_seed(42)
    a = ng.rand(3, generator=g)
    g.manual_seed(42)
    assert ng.rand(3, generator=g).tolist() == a.tolist() and g.initial_seed() == 42
    state = g.get_state()
    draws = ng.multinomial(ng.ones(5), 3, generator=g).tolist()
    assert g.set_state(state) is g and ng.multinomial(ng.ones(5), 3, generator=g).tolist() == draws
    saved = ng.get_rng_state()
    assert saved.dtype == ng.uint8 and saved.ndim == 1
    x = ng.randn(4)
    ng.set_rng_state(saved)
    assert ng.randn(4).tolist() == x.tolist()
    ng.manual_seed(11)
    assert ng.initial_seed() == 11 and isinstance(ng.seed(), int)
    with pytest.raises(TypeError, match="expected a 1-D uint8 tensor"):
        ng.set_rng_state(ng.zeros(3))


def test_asarray_range_and_softmax_in_the_torch_namespace():
    a = np.arange(3.0)
    assert np.shares_memory(ng.asarray(a).numpy(), a)
    assert not np.shares_memory(ng.asarray(a, copy=True).numpy(), a)
    with pytest.raises(ValueError, match="copy=False but the data cannot be shared"):
        ng.asarray(a, dtype=ng.float32, copy=False)
    with pytest.warns(UserWarning):
        expected = torch.range(0, 1, 0.3)
    np.testing.assert_allclose(ng.range(0, 1, 0.3).numpy(), expected.numpy())
    np.testing.assert_allclose(ng.softmax(ng.tensor([1.0, 2.0]), 0).numpy(),
                               torch.softmax(torch.tensor([1.0, 2.0]), 0).numpy(), rtol=1e-6)


@pytest.mark.parametrize("module", [
    "numgrad.ops.sorting", "numgrad.ops.scan", "numgrad.ops.diagonals", "numgrad.ops.einsum", "numgrad.ops.combine",
    "numgrad.ops.tensor_api", "numgrad.ops.pointwise", "numgrad.ops.scatter", "numgrad.ops.shape_more",
    "numgrad.ops.statistics", "numgrad.ops.dense_linalg", "numgrad.ops.misc", "numgrad.linalg", "numgrad.coverage",
    "numgrad.ops.elementwise_functions", "numgrad.device", "numgrad.tensor",
])
def test_docstring_examples_of_the_new_modules_run(module):
    import doctest

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_bitwise_not_and_shifts_match_torch():
    _same(ng.bitwise_not(ng.tensor([1, -2])), torch.bitwise_not(torch.tensor([1, -2])))
    _same(ng.bitwise_not(ng.tensor([True, False])), torch.bitwise_not(torch.tensor([True, False])))
    _same(ng.bitwise_left_shift(ng.tensor([1, 3]), 2), torch.bitwise_left_shift(torch.tensor([1, 3]), 2))
    _same(ng.bitwise_right_shift(ng.tensor([-8, 8, 7]), 1), torch.bitwise_right_shift(torch.tensor([-8, 8, 7]), 1))
    zero = ng.zeros(1, 2, requires_grad=True)
    ng.cosine_similarity(zero, ng.ones(1, 2)).sum().backward()  # a zero vector: the clamped norm, no NaN
    tz = torch.zeros(1, 2, requires_grad=True)
    torch.cosine_similarity(tz, torch.ones(1, 2)).sum().backward()
    np.testing.assert_allclose(zero.grad.numpy(), tz.grad.numpy())
    with pytest.raises(RuntimeError, match="pdist only supports 2D tensors"):
        ng.pdist(ng.ones(3))


# ------------------------------------------------------------------ default device
@pytest.mark.skipif(not ng.cuda.is_available(), reason="no GPU and no CUDA simulator")
def test_set_default_device_moves_factories_only_and_is_per_thread():
    import threading
    assert ng.get_default_device() == ng.device("cpu") and str(torch.get_default_device()) == "cpu"
    try:
        ng.set_default_device("cuda")
        assert ng.get_default_device() == ng.device("cuda:0")
        assert ng.zeros(2).device.type == ng.randn(2).device.type == ng.arange(3).device.type == "cuda"
        assert ng.tensor([1.0]).device.type == ng.full((2,), 1.0).device.type == "cuda"
        assert ng.from_numpy(np.ones(2)).device.type == "cpu"
        assert ng.zeros(2, device="cpu").device.type == "cpu"
        seen = []
        worker = threading.Thread(target=lambda: seen.append(ng.zeros(1).device.type))
        worker.start()
        worker.join()
        assert seen == ["cpu"]
    finally:
        ng.set_default_device(None)
    assert ng.zeros(2).device.type == "cpu"


# ------------------------------------------------------------------ Size and out=
def test_size_prints_slices_and_adds_as_torch_size():
    s, ts = ng.zeros(2, 3, 4).size(), torch.zeros(2, 3, 4).size()
    assert repr(s) == repr(ts).replace("torch.", "numgrad.") == "numgrad.Size([2, 3, 4])" and str(s) == repr(s)
    assert s == ts == (2, 3, 4) and isinstance(s, tuple) and isinstance(s, ng.Size)
    for value, expected in ((s[1:], ts[1:]), (s + (5,), ts + (5,)), ((1,) + s, (1,) + ts)):
        assert type(value) is ng.Size and value == expected
    assert type(s[0]) is int and s.numel() == ts.numel() == 24 and s[1:].numel() == 12
    assert ng.zeros(2, 3).view(ng.zeros(6).size()).shape == (6,)


def test_out_argument_of_elementwise_functions_follows_torch():
    x, y = ng.tensor([[1.0, 2.0], [3.0, 4.0]]), ng.tensor([0.5, 0.25])
    result = ng.empty(2, 2)
    assert ng.add(x, y, out=result) is result
    np.testing.assert_array_equal(result.numpy(), (x + y).numpy())
    assert ng.sub(x, y, alpha=2, out=result) is result and result.tolist() == [[0.0, 1.5], [2.0, 3.5]]
    assert ng.mul(x, y, out=result) is result and result.tolist() == [[0.5, 0.5], [1.5, 1.0]]
    assert ng.exp(ng.zeros(2, 2), out=result) is result and result.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert ng.matmul(x, x.T, out=result) is result
    np.testing.assert_array_equal(result.numpy(), (x @ x.T).numpy())
    wide = ng.empty(2, 2, dtype=ng.float64)
    assert ng.add(x, y, out=wide).dtype == ng.float64
    for lib in (ng, torch):
        with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
            lib.add(lib.ones(2), lib.ones(2), out=lib.empty(2, dtype=lib.int64))
        with pytest.raises(RuntimeError, match=r"add\(\): functions with out=... arguments don't support automatic "
                                               "differentiation, but one of the arguments requires grad."):
            lib.add(lib.ones(2, requires_grad=True), 1, out=lib.empty(2))
    resized = ng.empty(5)
    with pytest.warns(UserWarning, match=r"An output with one or more elements was resized since it had shape \[5\]"):
        assert ng.add(x, y, out=resized) is resized and resized.shape == (2, 2)  # as torch: resized, with a warning
    with pytest.raises(TypeError, match="argument 'out' must be Tensor, not list"):
        ng.add(x, y, out=[0.0])


@pytest.mark.parametrize("weight", [0.25, 0.5, 0.75, 1.0, -0.7, "tensor"])
def test_lerp_is_torchs_to_the_bit(weight):
    # PyTorch switches formula at |weight| = 0.5 (end - (end - start) * (1 - weight) above): lerp(a, b, 1) is b
    rng = np.random.default_rng(5)
    a, b, w = (rng.standard_normal(1031).astype(np.float32) for _ in range(3))
    ours = ng.tensor(w) if weight == "tensor" else weight
    theirs = torch.tensor(w) if weight == "tensor" else weight
    got = ng.lerp(ng.tensor(a), ng.tensor(b), ours).numpy()
    assert got.tobytes() == torch.lerp(torch.tensor(a), torch.tensor(b), theirs).numpy().tobytes()
    x = ng.tensor(a)
    x.lerp_(ng.tensor(b), ours)
    assert x.numpy().tobytes() == got.tobytes()
