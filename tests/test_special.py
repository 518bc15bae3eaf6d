"""numgrad.special against torch.special: values and gradients of every name numgrad has."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng

X = np.array([-2.0, -0.5, 0.0, 0.3, 1.5, 4.0])
POSITIVE = np.array([0.1, 0.5, 1.0, 2.5, 7.0])
UNIT = np.array([0.05, 0.3, 0.5, 0.9])

CASES = {
    "expit": (X,), "logit": (UNIT,), "erf": (X,), "erfc": (X,), "erfinv": (UNIT * 2 - 1,), "exp2": (X,),
    "expm1": (X,), "log1p": (POSITIVE,), "gammaln": (POSITIVE,), "digamma": (POSITIVE,), "psi": (POSITIVE,),
    "i0": (X,), "sinc": (X,), "round": (X,), "entr": (np.array([0.0, 0.2, 1.0, 3.0, -1.0]),), "ndtr": (X,),
    "xlogy": (np.array([0.0, 1.0, 2.0, 0.0]), np.array([0.0, 2.0, 0.5, 3.0])),
    "xlog1py": (np.array([0.0, 1.0, 2.0, 0.0]), np.array([-1.0, 2.0, 0.5, 3.0])),
    "gammainc": (POSITIVE, POSITIVE[::-1].copy()), "gammaincc": (POSITIVE, POSITIVE[::-1].copy()),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_special_function_values_match_torch(name):
    args = CASES[name]
    got = getattr(ng.special, name)(*(ng.tensor(a) for a in args))
    want = getattr(torch.special, name)(*(torch.tensor(a) for a in args))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["entr", "ndtr", "xlog1py", "expit", "gammaln"])
def test_special_function_gradients_match_torch(name):
    args = [a for a in CASES[name]]
    if name == "entr":
        args = [np.array([0.0, 0.2, 1.0, 3.0, -1.0])]  # +inf at 0 and NaN below, as in torch
    ours = [ng.tensor(a, requires_grad=True) for a in args]
    theirs = [torch.tensor(a, requires_grad=True) for a in args]
    getattr(ng.special, name)(*ours).sum().backward()
    getattr(torch.special, name)(*theirs).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12, equal_nan=True)


def test_special_reductions_and_missing_names():
    x = np.array([[1.0, 2.0], [0.5, -1.0]])
    np.testing.assert_allclose(ng.special.logsumexp(ng.tensor(x), 1).numpy(),
                               torch.special.logsumexp(torch.tensor(x), 1).numpy())
    np.testing.assert_allclose(ng.special.softmax(ng.tensor(x), 0).numpy(),
                               torch.special.softmax(torch.tensor(x), 0).numpy())
    assert ng.special.multigammaln(ng.tensor(3.0), 2).item() == pytest.approx(
        torch.special.multigammaln(torch.tensor(3.0, dtype=torch.float64), 2).item())
    with pytest.raises(AttributeError):
        ng.special.bessel_j0  # not implemented: absent, not a placeholder


@pytest.mark.parametrize("name", ["xlogy", "xlog1py"])
def test_xlogy_gradients_where_x_is_zero_match_torch(name):
    """The derivative in x of x*log(y) is log(y) also at x == 0 (it was 0: the derivative of a where); 0 where the
    log is infinite; NaN in y at (0, 0) as PyTorch's."""
    x, y = np.array([0.0, 0.0, 2.0, 0.0]), np.array([0.0 if name == "xlogy" else -1.0, 3.0, 0.5, 1.0])
    grads = []
    for lib in (ng, torch):
        a, b = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
        (getattr(lib.special, name)(a, b) * lib.tensor([1.0, 2.0, 3.0, 4.0], dtype=lib.float64)).sum().backward()
        grads.append((a.grad.numpy(), b.grad.numpy()))
    for ours, theirs in zip(*grads):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert ng.autograd.gradcheck(lambda a, b: getattr(ng.special, name)(a, b),
                                 (ng.tensor([0.0, 1.5], dtype=ng.float64, requires_grad=True),
                                  ng.tensor([2.0, 0.5], dtype=ng.float64, requires_grad=True)))
