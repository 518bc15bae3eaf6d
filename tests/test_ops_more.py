"""Ops added for issue 16 (the torch functions and Tensor methods real programs use), and the coverage command.

Values and gradients of the differentiable ops are checked in the op registry (``tests/specs_more.py``);
this file holds what the registry cannot express: integer/bool results, randomness, errors, constructors.
"""
from __future__ import annotations

import importlib

import torch

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
