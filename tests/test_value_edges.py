"""Values at the edges (empty tensors, NaN, bool arithmetic, odd 'same' padding) against PyTorch's."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng


def _run(lib, f):
    try:
        out = f(lib)
    except RuntimeError as e:
        return "raised", str(e)
    return "ok", np.asarray(out.tolist()).tolist(), str(out.dtype).split(".")[-1], tuple(out.shape)


CASES = {
    "median_of_nothing": lambda L: L.zeros(0).median(),
    "nanmedian_of_nothing": lambda L: L.zeros(0, dtype=L.float64).nanmedian(),
    "bool_minus_bool": lambda L: L.tensor([True]) - L.tensor([False]),
    "bool_minus_python_bool": lambda L: L.tensor([True]) - True,
    "float_minus_bool": lambda L: L.tensor([1.0]) - L.tensor([True]),
    "int_minus_bool": lambda L: 1 - L.tensor([True]),
    "negated_bool": lambda L: -L.tensor([True, False]),
    "sub_alpha_of_bool": lambda L: L.sub(L.tensor([1.0]), L.tensor([True]), alpha=2),
    "conv1d_same_even_kernel": lambda L: L.nn.functional.conv1d(L.arange(5.0).reshape(1, 1, 5), L.ones(1, 1, 2),
                                                                 padding="same"),
    "conv2d_same_odd_total": lambda L: L.nn.functional.conv2d(L.arange(16.0).reshape(1, 1, 4, 4),
                                                               L.ones(1, 1, 3, 2), padding="same", dilation=(1, 1)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_value_edge_matches_torch(name):
    got, want = _run(ng, CASES[name]), _run(torch, CASES[name])
    if got[0] == "ok" and want[0] == "ok":
        np.testing.assert_allclose(got[1], want[1], equal_nan=True)
        assert got[2:] == want[2:]
    else:
        assert got == want


def test_same_padding_with_even_kernels_matches_torch_gradients():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 6, 7)), rng.standard_normal((4, 3, 2, 4))
    results = []
    for lib in (ng, torch):
        xt, wt = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        y = lib.nn.functional.conv2d(xt, wt, padding="same", dilation=(3, 1))
        (y * y).sum().backward()
        results.append([y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
