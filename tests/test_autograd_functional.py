"""``numgrad.autograd.functional`` against ``torch.autograd.functional``: values, tuple structure,
``create_graph``, ``strict`` and the errors."""
from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch
import torch.autograd.functional as TF

import numgrad as ng
import numgrad.autograd.functional as NF

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 3))
Y = RNG.standard_normal(3)
V_OUT = RNG.standard_normal(2)


def _pair(a):
    return torch.tensor(a), ng.tensor(a)


def _close(want, have):
    if isinstance(want, tuple):
        assert isinstance(have, tuple) and len(want) == len(have)
        for w, h in zip(want, have):
            _close(w, h)
        return
    assert tuple(want.shape) == tuple(have.shape)
    np.testing.assert_allclose(have.detach().numpy(), want.detach().numpy(), rtol=1e-12, atol=1e-12)


# each case: (function of one library's module ``L`` returning the function, the inputs as arrays)
def _f_one(L):
    return lambda x: (x.exp() * x).sum(1)


def _f_two(L):
    return lambda x, y: (x.sin() * y, (x ** 2).sum() + y.sum())


def _f_scalar(L):
    return lambda x, y: (x.tanh() @ y).pow(2).sum() + (y ** 3).sum()


@pytest.mark.parametrize("name", ["jacobian", "vjp", "jvp"])
def test_jacobians_and_products_match_torch(name):
    tx, nx = _pair(X)
    ty, ny = _pair(Y)
    if name == "jacobian":
        _close(TF.jacobian(_f_one(torch), tx), NF.jacobian(_f_one(ng), nx))
        _close(TF.jacobian(_f_two(torch), (tx, ty)), NF.jacobian(_f_two(ng), (nx, ny)))
        _close(TF.jacobian(_f_two(torch), (tx, ty), vectorize=True), NF.jacobian(_f_two(ng), (nx, ny), vectorize=True))
    elif name == "vjp":
        tv, nv = _pair(V_OUT)
        _close(TF.vjp(_f_one(torch), tx, tv), NF.vjp(_f_one(ng), nx, nv))
        tw, nw = _pair(np.ones((2, 3)))
        _close(TF.vjp(_f_two(torch), (tx, ty), (tw, torch.tensor(2.0, dtype=torch.float64))),
               NF.vjp(_f_two(ng), (nx, ny), (nw, ng.tensor(2.0, dtype=ng.float64))))
    else:
        tv, nv = _pair(np.ones((2, 3)))
        _close(TF.jvp(_f_one(torch), tx, tv), NF.jvp(_f_one(ng), nx, nv))
        _close(TF.jvp(_f_two(torch), (tx, ty), (tv, ty)), NF.jvp(_f_two(ng), (nx, ny), (nv, ny)))


def test_hessian_and_its_products_match_torch():
    tx, nx = _pair(X)
    ty, ny = _pair(Y)
    _close(TF.hessian(_f_scalar(torch), (tx, ty)), NF.hessian(_f_scalar(ng), (nx, ny)))
    _close(TF.hessian(lambda y: (y ** 3).prod(), ty), NF.hessian(lambda y: (y ** 3).prod(), ny))
    tvx, nvx = _pair(np.ones((2, 3)))
    for fn in ("vhp", "hvp"):
        _close(getattr(TF, fn)(_f_scalar(torch), (tx, ty), (tvx, ty)), getattr(NF, fn)(_f_scalar(ng), (nx, ny), (nvx, ny)))


def test_create_graph_keeps_the_result_differentiable():
    for lib, F in ((torch, TF), (ng, NF)):
        x = lib.tensor(X, requires_grad=True)
        jac = F.jacobian(lambda t: (t ** 3).sum(1), x, create_graph=True)
        assert jac.requires_grad
        jac.sum().backward()
        if lib is torch:
            want = x.grad.numpy()
        else:
            np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12)
        plain = F.jacobian(lambda t: (t ** 3).sum(1), x)
        assert not plain.requires_grad


def test_an_output_independent_of_an_input_gives_zeros_or_raises_under_strict():
    for lib, F in ((torch, TF), (ng, NF)):
        x, y = lib.tensor(X), lib.tensor(Y)
        jac = F.jacobian(lambda a, b: a * 2, (x, y))
        assert jac[1].shape == (2, 3, 3) and not jac[1].numpy().any()
        with pytest.raises(RuntimeError, match="Output 0 of the user-provided function is independent of input 1. "
                                               "This is not allowed in strict mode."):
            F.jacobian(lambda a, b: a * 2, (x, y), strict=True)
        with pytest.raises(RuntimeError, match="Output 0 of the user-provided function does not require gradients"):
            F.vjp(lambda a: lib.ones(2), x, lib.ones(2), strict=True)


def test_misuse_raises_torchs_errors():
    for lib, F in ((torch, TF), (ng, NF)):
        x = lib.tensor(X)
        with pytest.raises(TypeError, match="The inputs given to jacobian must be either a Tensor or a tuple of Tensors "
                                            "but the value at index 1 has type <class 'float'>"):
            F.jacobian(lambda a, b: a, (x, 1.0))
        with pytest.raises(RuntimeError, match="The vector v can only be None if the user-provided function returns a "
                                               "single Tensor with a single element."):
            F.vjp(lambda a: a * 2, x)
        with pytest.raises(RuntimeError, match=r"v has invalid size: should be"):
            F.vjp(lambda a: a * 2, x, lib.ones(3))
        with pytest.raises(RuntimeError, match="The Tensor returned by the function given to hessian should contain "
                                               "a single element"):
            F.hessian(lambda a: a * 2, x)
        with pytest.raises(RuntimeError, match="The function given to hvp should return a single Tensor"):
            F.hvp(lambda a: (a.sum(), a.sum()), x, lib.ones(2, 3))
        with pytest.raises(RuntimeError, match="`strict=True` and `vectorized=True` are not supported together"):
            F.jacobian(lambda a: a, x, strict=True, vectorize=True)
    with pytest.raises(NotImplementedError, match='strategy="forward-mode" needs forward-mode AD'):
        NF.jacobian(lambda a: a, ng.tensor(X), vectorize=True, strategy="forward-mode")


def test_docstring_examples_run():
    result = doctest.testmod(NF, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
