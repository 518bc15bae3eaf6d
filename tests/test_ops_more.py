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
    with pytest.raises(NotImplementedError, match="unique\\(dim=0\\)"):
        ng.unique(x, dim=0)


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
