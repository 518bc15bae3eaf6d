"""``numgrad.nn.utils.parametrize``/``parametrizations`` and the hook-based ``weight_norm``/``spectral_norm``
against PyTorch: the same module in both libraries with copied weights (state dicts through NumPy), two
training steps, and parameters, gradients, buffers and state-dict keys compared; errors by type and text."""
from __future__ import annotations

import copy
import doctest
import importlib
import pickle
import warnings

import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad.nn.utils import parametrize as NZ
from numgrad.nn.utils import parametrizations as NP
from numgrad.nn.utils.spectral_norm import remove_spectral_norm as ng_remove_spectral_norm
from numgrad.nn.utils.spectral_norm import spectral_norm as ng_spectral_norm
from numgrad.nn.utils.weight_norm import remove_weight_norm as ng_remove_weight_norm
from numgrad.nn.utils.weight_norm import weight_norm as ng_weight_norm
from tests.helpers import assert_close

TZ = torch.nn.utils.parametrize
TP = torch.nn.utils.parametrizations


def _sd(module) -> dict:
    return {k: v.detach().cpu().numpy().copy() if hasattr(v, "detach") else v for k, v in module.state_dict().items()}


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _train_and_compare(tmod, nmod, x, *, train=True, steps=2, rtol=1e-5, atol=1e-6):
    """Load tmod's state into nmod, run ``steps`` SGD steps on sum(out**2) in both, compare all along."""
    nmod.load_state_dict(_sd(tmod))
    tmod.train(train)
    nmod.train(train)
    assert list(tmod.state_dict()) == list(nmod.state_dict())
    topt = torch.optim.SGD(tmod.parameters(), lr=0.1)
    nopt = ng.optim.SGD(nmod.parameters(), lr=0.1)
    for _ in range(steps):
        topt.zero_grad()
        nopt.zero_grad()
        tout, nout = tmod(torch.tensor(x)), nmod(ng.tensor(x))
        assert_close(nout, tout, rtol=rtol, atol=atol, msg="forward")
        (tout ** 2).sum().backward()
        (nout ** 2).sum().backward()
        tp, npar = dict(tmod.named_parameters()), dict(nmod.named_parameters())
        assert list(tp) == list(npar)
        for k in tp:
            assert_close(npar[k].grad, tp[k].grad, rtol=rtol, atol=atol, msg=f"grad of {k}")
        topt.step()
        nopt.step()
    ts, ns = _sd(tmod), _sd(nmod)
    for k in ts:
        assert_close(ns[k], ts[k], rtol=rtol, atol=atol, msg=f"state {k}")


def _same_error(tfn, nfn, exc_type):
    """Both raise ``exc_type`` with the same text (torch's names read as numgrad's)."""
    with pytest.raises(exc_type) as texc:
        tfn()
    with pytest.raises(exc_type) as nexc:
        nfn()
    expected = str(texc.value).replace("torch.", "numgrad.")
    assert str(nexc.value) == expected


def _kernel3(lib):
    """A module with a 3-d weight, like a Conv1d's, used through a matrix product (conv kernels would make the
    test slow to compile)."""
    class Kernel3(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = lib.nn.Parameter(lib.tensor(_x((3, 2, 2), seed=5)))

        def forward(self, x):
            return x @ self.weight.reshape(3, 4).mT

    return Kernel3()


# ------------------------------------------------------------------ parametrizations.weight_norm
@pytest.mark.parametrize("kind,dim", [("linear", 0), ("linear", None), ("linear", -1), ("kernel3", 1)])
def test_weight_norm_matches_torch(kind, dim):
    torch.manual_seed(0)
    if kind == "linear":
        tmod, nmod = torch.nn.Linear(4, 3), ng.nn.Linear(4, 3)
    else:  # a middle dim: the norm over dims 0 and 2
        tmod, nmod = _kernel3(torch), _kernel3(ng)
    x = _x((2, 4))
    nmod.load_state_dict(_sd(tmod))
    tmod, nmod = TP.weight_norm(tmod, dim=dim), NP.weight_norm(nmod, dim=dim)
    # registration computes g from the weight (dim=-1 and None: the norm of the whole tensor, 0-d)
    g_t, g_n = tmod.parametrizations.weight.original0, nmod.parametrizations.weight.original0
    assert tuple(g_n.shape) == tuple(g_t.shape)
    assert_close(g_n, g_t, rtol=1e-6)
    assert type(nmod).__name__ == type(tmod).__name__ == f"Parametrized{type(nmod).__bases__[0].__name__}"
    _train_and_compare(tmod, nmod, x)


def test_weight_norm_loads_checkpoints_of_the_hook_version():
    torch.manual_seed(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        old = torch.nn.utils.weight_norm(torch.nn.Linear(4, 3))
    new = NP.weight_norm(ng.nn.Linear(4, 3))
    new.load_state_dict(_sd(old))  # weight_g / weight_v -> parametrizations.weight.original0 / original1
    assert_close(new.parametrizations.weight.original0, old.weight_g)
    assert_close(new.weight, old.weight, rtol=1e-6)


# ------------------------------------------------------------------ parametrizations.spectral_norm
@pytest.mark.parametrize("kind,train", [("linear", True), ("linear", False), ("kernel3", True)])
def test_spectral_norm_matches_torch(kind, train):
    torch.manual_seed(0)
    if kind == "linear":
        tmod, nmod, x = TP.spectral_norm(torch.nn.Linear(4, 3)), NP.spectral_norm(ng.nn.Linear(4, 3)), _x((2, 4))
    else:  # a 3-d weight seen as a matrix with dim 1 first
        tmod = TP.spectral_norm(_kernel3(torch), n_power_iterations=2, dim=1)
        nmod = NP.spectral_norm(_kernel3(ng), n_power_iterations=2, dim=1)
        x = _x((2, 4))
    assert [n for n, _ in nmod.named_buffers()] == [n for n, _ in tmod.named_buffers()] == [
        "parametrizations.weight.0._u", "parametrizations.weight.0._v"]
    nmod.load_state_dict(_sd(tmod))
    u0 = nmod.parametrizations.weight[0]._u.numpy().copy()
    _train_and_compare(tmod, nmod, x, train=train)  # compares _u, _v after the steps too
    if not train:  # eval: the power method does not run
        assert np.array_equal(u0, nmod.parametrizations.weight[0]._u.numpy())


def test_spectral_norm_dim_defaults_to_1_for_conv_transpose():
    torch.manual_seed(0)
    tmod = TP.spectral_norm(torch.nn.ConvTranspose1d(2, 3, 3))
    nmod = NP.spectral_norm(ng.nn.ConvTranspose1d(2, 3, 3))
    assert nmod.parametrizations.weight[0].dim == tmod.parametrizations.weight[0].dim == 1
    assert nmod.parametrizations.weight[0]._u.shape == (3,) and nmod.parametrizations.weight[0]._v.shape == (6,)
    nmod.load_state_dict(_sd(tmod))
    assert_close(nmod.weight, tmod.weight, rtol=1e-5, atol=1e-6)  # a power step (training mode), then W / sigma
    assert_close(nmod.parametrizations.weight[0]._u, tmod.parametrizations.weight[0]._u, rtol=1e-5, atol=1e-6)


def test_spectral_norm_of_a_vector_and_errors():
    m = ng.nn.Module()
    m.register_parameter("w", ng.nn.Parameter(ng.tensor([3.0, 4.0])))
    NP.spectral_norm(m, "w")
    assert_close(m.w, np.array([0.6, 0.8], np.float32), rtol=1e-6)
    assert not list(m.buffers())
    _same_error(lambda: TP.spectral_norm(torch.nn.Linear(2, 2), dim=2),
                lambda: NP.spectral_norm(ng.nn.Linear(2, 2), dim=2), IndexError)
    _same_error(lambda: TP.spectral_norm(torch.nn.Linear(2, 2), n_power_iterations=0),
                lambda: NP.spectral_norm(ng.nn.Linear(2, 2), n_power_iterations=0), ValueError)
    _same_error(lambda: TP.spectral_norm(torch.nn.Linear(2, 2), "nope"),
                lambda: NP.spectral_norm(ng.nn.Linear(2, 2), "nope"), ValueError)


# ------------------------------------------------------------------ parametrizations.orthogonal
@pytest.mark.parametrize("orthogonal_map,shape,triv", [
    ("matrix_exp", (4, 4), True), ("cayley", (3, 4), True), ("householder", (4, 3), True),
    ("householder", (3, 4), False), ("matrix_exp", (4, 3), False)])
def test_orthogonal_matches_torch(orthogonal_map, shape, triv):
    torch.manual_seed(0)
    tmod = TP.orthogonal(torch.nn.Linear(shape[1], shape[0]), orthogonal_map=orthogonal_map,
                         use_trivialization=triv)
    nmod = NP.orthogonal(ng.nn.Linear(shape[1], shape[0]), orthogonal_map=orthogonal_map, use_trivialization=triv)
    _train_and_compare(tmod, nmod, _x((2, shape[1])))
    Q = nmod.weight.detach().numpy().astype(np.float64)
    small = min(shape)
    gram = Q @ Q.T if shape[0] < shape[1] else Q.T @ Q
    if triv or orthogonal_map == "householder":  # matrix_exp without base: exp(tril - tril^T), orthogonal too
        np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)


@pytest.mark.parametrize("orthogonal_map,shape,triv", [
    ("matrix_exp", (4, 4), True), ("householder", (5, 3), True), ("householder", (3, 5), False),
    ("householder", (4, 4), False)])
def test_orthogonal_initial_value_matches_torch(orthogonal_map, shape, triv):
    # right_inverse: the QR of a non-orthogonal weight (geqrf + householder_product), the thin Q completed
    w = _x(shape, seed=3)
    tlin, nlin = torch.nn.Linear(shape[1], shape[0]), ng.nn.Linear(shape[1], shape[0])
    with torch.no_grad():
        tlin.weight.copy_(torch.tensor(w))
    nlin.weight.data = ng.tensor(w.copy())
    tmod = TP.orthogonal(tlin, orthogonal_map=orthogonal_map, use_trivialization=triv)
    nmod = NP.orthogonal(nlin, orthogonal_map=orthogonal_map, use_trivialization=triv)
    assert_close(nmod.weight, tmod.weight, rtol=1e-5, atol=1e-5)
    if not triv:  # the original holds geqrf's reflectors and signs
        assert_close(nmod.parametrizations.weight.original, tmod.parametrizations.weight.original,
                     rtol=1e-5, atol=1e-5)
    # assigning an orthogonal matrix makes it the weight
    q = np.linalg.qr(_x((max(shape), min(shape)), seed=4).astype(np.float64))[0].astype(np.float32)
    q = q if shape[0] >= shape[1] else q.T
    with torch.no_grad():
        tmod.weight = torch.tensor(q)
    nmod.weight = ng.tensor(q.copy())
    assert_close(nmod.weight, tmod.weight, rtol=1e-5, atol=1e-5)
    assert_close(nmod.weight, q, rtol=1e-5, atol=1e-5)


def test_orthogonal_errors_match_torch():
    _same_error(lambda: TP.orthogonal(torch.nn.Linear(3, 3), orthogonal_map="qr"),
                lambda: NP.orthogonal(ng.nn.Linear(3, 3), orthogonal_map="qr"), ValueError)
    _same_error(lambda: TP.orthogonal(torch.nn.BatchNorm1d(3)), lambda: NP.orthogonal(ng.nn.BatchNorm1d(3)),
                ValueError)  # a 1-d weight
    _same_error(lambda: TP.orthogonal(torch.nn.Linear(3, 3), "nope"),
                lambda: NP.orthogonal(ng.nn.Linear(3, 3), "nope"), ValueError)
    t = TP.orthogonal(torch.nn.Linear(3, 3), use_trivialization=False)
    n = NP.orthogonal(ng.nn.Linear(3, 3), use_trivialization=False)

    def assign(m, lib):
        m.weight = lib.eye(3)
    _same_error(lambda: assign(t, torch), lambda: assign(n, ng), NotImplementedError)
    _same_error(lambda: t.parametrizations.weight[0].right_inverse(torch.eye(2)),
                lambda: n.parametrizations.weight[0].right_inverse(ng.eye(2)), ValueError)


# ------------------------------------------------------------------ parametrize
def _library_classes(lib):
    """Sym (no right_inverse), Split (two originals: X = a + 2b) and Scale, as ``lib``'s modules (same names in
    both libraries, so that error texts compare equal)."""
    class Sym(lib.nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).mT

    class Split(lib.nn.Module):
        def forward(self, a, b):
            return a + 2 * b

        def right_inverse(self, X):
            return X, lib.zeros_like(X)

    class Scale(lib.nn.Module):
        def forward(self, X):
            return X * 3

        def right_inverse(self, Y):
            return Y / 3

    return Sym, Split, Scale


_TSym, _TSplit, _TScale = _library_classes(torch)
_NSym, _NSplit, _NScale = _library_classes(ng)


def _pair(seed=0):
    torch.manual_seed(seed)
    t = torch.nn.Linear(3, 3)
    n = ng.nn.Linear(3, 3)
    n.load_state_dict(_sd(t))
    return t, n


def test_register_chains_tuples_and_state_dict_match_torch():
    t, n = _pair()
    tw, nw = t.weight, n.weight
    TZ.register_parametrization(t, "weight", _TSplit())
    NZ.register_parametrization(n, "weight", _NSplit())
    TZ.register_parametrization(t, "weight", _TSym())
    NZ.register_parametrization(n, "weight", _NSym())
    TZ.register_parametrization(t, "bias", _TScale())
    NZ.register_parametrization(n, "bias", _NScale())
    assert list(n.state_dict()) == list(t.state_dict()) == [
        "parametrizations.weight.original0", "parametrizations.weight.original1", "parametrizations.bias.original"]
    assert n.parametrizations.bias.original is not None and NZ.is_parametrized(n, "bias")
    _train_and_compare(t, n, _x((2, 3)))
    # the one-tensor original keeps the parameter object (optimizers hold it); tuple originals are new ones
    assert n.parametrizations.bias.original is not nw and n.parametrizations.weight.original0 is not nw
    assert t.parametrizations.weight.original0 is not tw
    # assignment runs the right_inverses
    with torch.no_grad():
        t.bias = torch.tensor([3.0, 6.0, 9.0])
    n.bias = ng.tensor([3.0, 6.0, 9.0])
    assert_close(n.parametrizations.bias.original, t.parametrizations.bias.original)
    _same_error(lambda: setattr(t, "weight", torch.ones(3, 3)), lambda: setattr(n, "weight", ng.ones(3, 3)),
                RuntimeError)  # _Sym has no right_inverse
    # a Parameter cannot be registered under the parametrized name
    _same_error(lambda: setattr(t, "bias", torch.nn.Parameter(torch.ones(3))),
                lambda: setattr(n, "bias", ng.nn.Parameter(ng.ones(3))), KeyError)
    # removal: the tuple originals cannot be left unparametrized
    _same_error(lambda: TZ.remove_parametrizations(t, "weight", leave_parametrized=False),
                lambda: NZ.remove_parametrizations(n, "weight", leave_parametrized=False), ValueError)
    TZ.remove_parametrizations(t, "weight")
    NZ.remove_parametrizations(n, "weight")
    bias_original = n.parametrizations.bias.original
    TZ.remove_parametrizations(t, "bias", leave_parametrized=False)
    NZ.remove_parametrizations(n, "bias", leave_parametrized=False)
    assert n.bias is bias_original
    assert type(n) is ng.nn.Linear and not NZ.is_parametrized(n) and "parametrizations" not in n._modules
    assert list(n.state_dict()) == list(t.state_dict()) == ["weight", "bias"]
    for k, v in _sd(t).items():
        assert_close(n.state_dict()[k], v, rtol=1e-5, atol=1e-6)
    assert isinstance(n.weight, ng.nn.Parameter) and n.weight.requires_grad


def test_remove_leave_parametrized_keeps_the_parameter_object():
    t, n = _pair(2)
    nw = n.weight
    TZ.register_parametrization(t, "weight", _TScale())
    NZ.register_parametrization(n, "weight", _NScale())
    assert n.parametrizations.weight.original is nw
    opt = ng.optim.SGD(n.parameters(), lr=0.1)
    n(ng.ones(1, 3)).sum().backward()
    opt.step()  # the optimizer built after registration updates the original
    TZ.remove_parametrizations(t, "weight")
    NZ.remove_parametrizations(n, "weight")
    assert n.weight is nw
    assert_close(n.weight, t.weight.detach() - 0.9, rtol=1e-5, atol=1e-6)  # 3 * (original - 0.1 * 3)


def test_parametrize_errors_match_torch():
    t, n = _pair()
    _same_error(lambda: TZ.register_parametrization(t, "nope", _TSym()),
                lambda: NZ.register_parametrization(n, "nope", _NSym()), ValueError)
    _same_error(lambda: TZ.remove_parametrizations(t, "weight"), lambda: NZ.remove_parametrizations(n, "weight"),
                ValueError)

    class TBad(torch.nn.Module):
        def forward(self, X):
            return X[:2]

    class NBad(ng.nn.Module):
        def forward(self, X):
            return X[:2]

    class TDouble(torch.nn.Module):
        def forward(self, X):
            return X.double()

    class NDouble(ng.nn.Module):
        def forward(self, X):
            return X.double()

    class TNoTensor(torch.nn.Module):
        def forward(self, X):
            return X

        def right_inverse(self, X):
            return 3

    class NNoTensor(ng.nn.Module):
        def forward(self, X):
            return X

        def right_inverse(self, X):
            return 3

    _same_error(lambda: TZ.register_parametrization(t, "weight", TBad()),
                lambda: NZ.register_parametrization(n, "weight", NBad()), ValueError)
    _same_error(lambda: TZ.register_parametrization(t, "weight", TDouble()),
                lambda: NZ.register_parametrization(n, "weight", NDouble()), ValueError)
    _same_error(lambda: TZ.register_parametrization(t, "weight", TNoTensor()),
                lambda: NZ.register_parametrization(n, "weight", NNoTensor()), ValueError)
    assert not NZ.is_parametrized(n)  # the failed registrations left the module as it was
    TZ.register_parametrization(t, "weight", TBad(), unsafe=True)
    NZ.register_parametrization(n, "weight", NBad(), unsafe=True)
    assert n.weight.shape == (2, 3)
    t2, n2 = _pair()
    TZ.register_parametrization(t2, "weight", _TSym())
    NZ.register_parametrization(n2, "weight", _NSym())
    _same_error(lambda: TZ.register_parametrization(t2, "weight", TBad()),
                lambda: NZ.register_parametrization(n2, "weight", NBad()), ValueError)
    with pytest.raises(ValueError, match="requires one or more modules"):
        NZ.ParametrizationList([], ng.ones(2))


def test_cached_type_before_transfer_pickle_deepcopy():
    n = NP.weight_norm(ng.nn.Linear(3, 2))
    with NZ.cached():
        w = n.weight
        with NZ.cached():
            assert n.weight is w
        assert n.weight is w  # the inner block's exit keeps the outer cache
    assert n.weight is not w
    assert NZ.type_before_parametrizations(n) is ng.nn.Linear
    assert NZ.type_before_parametrizations(ng.nn.ReLU()) is ng.nn.ReLU
    dst = NZ.transfer_parametrizations_and_params(n, ng.nn.Linear(3, 2))
    assert dst.parametrizations.weight.original0 is n.parametrizations.weight.original0
    assert_close(dst.weight, n.weight)
    assert NZ.transfer_parametrizations_and_params(ng.nn.Linear(1, 1), ng.nn.ReLU()).__class__ is ng.nn.ReLU
    with pytest.raises(RuntimeError, match="Serialization of parametrized modules is only supported through "
                                           "state_dict"):
        pickle.dumps(n)
    twin = copy.deepcopy(n)
    assert_close(twin.weight, n.weight)
    NZ.remove_parametrizations(twin, "weight")  # the copy's class is its own: n keeps its property
    assert type(twin) is ng.nn.Linear and NZ.is_parametrized(n) and n.weight.shape == (2, 3)
    assert repr(n) == repr(TP.weight_norm(torch.nn.Linear(3, 2)))


# ------------------------------------------------------------------ hook-based weight_norm / spectral_norm
def test_hook_weight_norm_matches_torch():
    tmod, nmod = _kernel3(torch), _kernel3(ng)
    with pytest.warns(FutureWarning, match="weight_norm` is deprecated"):
        ng_weight_norm(nmod, dim=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.nn.utils.weight_norm(tmod, dim=None)
        assert list(nmod.state_dict()) == list(tmod.state_dict()) == ["weight_g", "weight_v"]
        assert nmod.weight_g.shape == ()
        _train_and_compare(tmod, nmod, _x((2, 4)))
        _same_error(lambda: torch.nn.utils.weight_norm(tmod, dim=None),
                    lambda: ng_weight_norm(nmod, dim=None), RuntimeError)
    torch.nn.utils.remove_weight_norm(tmod)
    ng_remove_weight_norm(nmod)
    assert list(nmod.state_dict()) == ["weight"] and not nmod._forward_pre_hooks
    assert_close(nmod.weight, tmod.weight, rtol=1e-5, atol=1e-6)
    _same_error(lambda: torch.nn.utils.remove_weight_norm(tmod), lambda: ng_remove_weight_norm(nmod),
                ValueError)


def test_hook_spectral_norm_matches_torch():
    torch.manual_seed(0)
    tmod = torch.nn.utils.spectral_norm(torch.nn.Linear(4, 3))
    nmod = ng_spectral_norm(ng.nn.Linear(4, 3))
    assert list(nmod.state_dict()) == list(tmod.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    assert nmod.state_dict()._metadata[""]["spectral_norm"] == {"weight.version": 1}
    _train_and_compare(tmod, nmod, _x((2, 4)))  # compares weight_u / weight_v after the power steps
    _train_and_compare(tmod, nmod, _x((2, 4)), train=False, steps=1)
    _same_error(lambda: torch.nn.utils.spectral_norm(tmod), lambda: ng_spectral_norm(nmod), RuntimeError)
    torch.nn.utils.remove_spectral_norm(tmod)
    ng_remove_spectral_norm(nmod)
    assert list(nmod.state_dict()) == ["bias", "weight"] and not nmod._state_dict_hooks
    assert_close(nmod.weight, tmod.weight, rtol=1e-5, atol=1e-6)
    _same_error(lambda: torch.nn.utils.remove_spectral_norm(tmod), lambda: ng_remove_spectral_norm(nmod),
                ValueError)


def test_hook_spectral_norm_converts_checkpoints_from_before_version_1():
    # weight_orig, weight and weight_u saved; weight_v is solved for (a tall weight: W^T W must be invertible in
    # float32 for the two libraries to agree)
    torch.manual_seed(0)
    src = torch.nn.utils.spectral_norm(torch.nn.Linear(3, 4))
    src(torch.ones(1, 3))
    old = {k: v for k, v in _sd(src).items() if k != "weight_v"}
    old["weight"] = src.weight.detach().numpy().copy()
    tmod, nmod = torch.nn.utils.spectral_norm(torch.nn.Linear(3, 4)), ng_spectral_norm(ng.nn.Linear(3, 4))
    tsd = type(tmod.state_dict())((k, torch.tensor(v)) for k, v in old.items())
    nsd = type(nmod.state_dict())(old)
    tsd._metadata = {"": {"spectral_norm": {"weight.version": 0}}}
    nsd._metadata = {"": {"spectral_norm": {"weight.version": 0}}}
    tmod.load_state_dict(tsd)
    nmod.load_state_dict(nsd)
    assert_close(nmod.weight_v, tmod.weight_v, rtol=1e-3, atol=1e-4)
    assert_close(nmod.weight_v, src.weight_v, rtol=1e-3, atol=1e-4)


# ------------------------------------------------------------------ ng.compile
def test_compiled_weight_norm_step_replays_bit_identically():
    def make():
        ng.manual_seed(0)
        m = NP.weight_norm(ng.nn.Linear(4, 3))
        return m, ng.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)

    def stepper(m, opt):
        def step(x):
            opt.zero_grad()
            loss = (m(x) ** 2).mean()
            loss.backward()
            opt.step()
            return loss.detach()
        return step

    (me, oe), (mc, oc) = make(), make()
    mc.load_state_dict(me.state_dict())
    eager, compiled = stepper(me, oe), ng.compile(stepper(mc, oc))
    x = ng.tensor(_x((5, 4)))
    for _ in range(6):
        assert float(eager(x)) == float(compiled(x))
    assert compiled.fallback_reason is None and compiled.replays > 0
    for (k, p), (_, q) in zip(me.named_parameters(), mc.named_parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy()), k


# ------------------------------------------------------------------ docstrings
@pytest.mark.parametrize("module", ["parametrize", "parametrizations", "weight_norm", "spectral_norm"])
def test_doctests(module):
    mod = importlib.import_module(f"numgrad.nn.utils.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
