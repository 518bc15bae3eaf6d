"""numgrad.distributions against torch.distributions (the oracle): values and parameter gradients of
log_prob, entropy, mean, variance, stddev, cdf/icdf and kl_divergence on the same float64 parameters;
rsample's reparameterised gradients; sample shapes and loose sample statistics (numgrad's random stream is
not PyTorch's); validation errors with PyTorch's types and messages; the modules' doctests."""
from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

import numgrad as ng
import numgrad.distributions as nd

torch = pytest.importorskip("torch")
td = torch.distributions

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True, scope="module")
def unfused():
    """Run unfused: each op is then a per-op kernel shared with the rest of the suite, where fused regions
    would compile a new kernel per formula (minutes of Numba compilation on a cold cache). Fusion gives the
    same results (tests/test_fusion.py); test_fused_smoke below runs a few formulas fused."""
    was = ng.is_fusion_enabled()
    ng.set_fusion(False)
    yield
    ng.set_fusion(was)
B = 3  # batch size of the parameters


def _pos(*shape):
    return RNG.uniform(0.5, 2.0, shape)


def _real(*shape):
    return RNG.normal(size=shape)


def _prob(*shape):
    return RNG.uniform(0.1, 0.9, shape)


def _simplex(*shape):
    p = RNG.uniform(0.1, 1.0, shape)
    return p / p.sum(-1, keepdims=True)


def _spd(n, batch=()):
    a = RNG.normal(size=batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def _tril(n, batch=()):
    return np.tril(RNG.normal(size=batch + (n, n)), -1) + np.diag(RNG.uniform(0.5, 1.5, n))


# name -> (builder taking a module (nd or td) and its tensors, {param: array}, value array, methods to compare)
LOC, SCALE = _real(B), _pos(B)
CASES = {
    "Normal": (lambda D, p: D.Normal(p["loc"], p["scale"]), {"loc": LOC, "scale": SCALE}, _real(B),
               ("cdf", "icdf")),
    "Laplace": (lambda D, p: D.Laplace(p["loc"], p["scale"]), {"loc": LOC, "scale": SCALE}, _real(B),
                ("cdf", "icdf")),
    "Uniform": (lambda D, p: D.Uniform(p["low"], p["high"]), {"low": -_pos(B), "high": _pos(B)},
                RNG.uniform(-0.4, 0.4, B), ("cdf", "icdf")),
    "Exponential": (lambda D, p: D.Exponential(p["rate"]), {"rate": _pos(B)}, _pos(B), ("cdf", "icdf")),
    "Gamma": (lambda D, p: D.Gamma(p["concentration"], p["rate"]),
              {"concentration": _pos(B) * 2, "rate": _pos(B)}, _pos(B), ()),
    "Beta": (lambda D, p: D.Beta(p["a"], p["b"]), {"a": _pos(B), "b": _pos(B)}, _prob(B), ()),
    "Dirichlet": (lambda D, p: D.Dirichlet(p["c"]), {"c": _pos(2, 3)}, _simplex(2, 3), ()),
    "Bernoulli-probs": (lambda D, p: D.Bernoulli(probs=p["p"]), {"p": _prob(B)}, np.array([0., 1., 1.]), ()),
    "Bernoulli-logits": (lambda D, p: D.Bernoulli(logits=p["l"]), {"l": _real(B)}, np.array([1., 0., 1.]), ()),
    "Binomial": (lambda D, p: D.Binomial(5, probs=p["p"]), {"p": _prob(B)}, np.array([0., 3., 5.]), ()),
    "Binomial-logits": (lambda D, p: D.Binomial(4, logits=p["l"]), {"l": _real(B)}, np.array([1., 2., 4.]), ()),
    "Categorical-probs": (lambda D, p: D.Categorical(probs=p["p"]), {"p": _simplex(B, 4)}, np.array([0, 3, 1]), ()),
    "Categorical-logits": (lambda D, p: D.Categorical(logits=p["l"]), {"l": _real(B, 4)}, np.array([2, 0, 1]), ()),
    "OneHotCategorical": (lambda D, p: D.OneHotCategorical(logits=p["l"]), {"l": _real(B, 3)}, np.eye(3), ()),
    "Poisson": (lambda D, p: D.Poisson(p["rate"]), {"rate": _pos(B)}, np.array([0., 2., 5.]), ()),
    "LogNormal": (lambda D, p: D.LogNormal(p["loc"], p["scale"]), {"loc": LOC, "scale": SCALE}, _pos(B),
                  ("cdf", "icdf")),
    "Independent": (lambda D, p: D.Independent(D.Normal(p["loc"], p["scale"]), 1),
                    {"loc": _real(2, 3), "scale": _pos(2, 3)}, _real(2, 3), ()),
    "Tanh-Affine": (lambda D, p: D.TransformedDistribution(
        D.Normal(p["loc"], p["scale"]), [D.transforms.AffineTransform(0.5, p["s"]), D.transforms.TanhTransform()]),
        {"loc": LOC, "scale": SCALE, "s": _pos(B)}, RNG.uniform(-0.9, 0.9, B), ("cdf",)),
    "Sigmoid-Exp": (lambda D, p: D.TransformedDistribution(
        D.Normal(p["loc"], p["scale"]),
        D.transforms.ComposeTransform([D.transforms.ExpTransform(), D.transforms.SigmoidTransform()])),
        {"loc": LOC, "scale": SCALE}, RNG.uniform(0.55, 0.95, B), ()),
    "MVN-cov": (lambda D, p: D.MultivariateNormal(p["loc"], covariance_matrix=p["cov"]),
                {"loc": _real(2, 3), "cov": _spd(3, (2,))}, _real(2, 3), ()),
    "MVN-prec": (lambda D, p: D.MultivariateNormal(p["loc"], precision_matrix=p["prec"]),
                 {"loc": _real(3), "prec": _spd(3)}, _real(2, 3), ()),
    "MVN-tril": (lambda D, p: D.MultivariateNormal(p["loc"], scale_tril=p["L"]),
                 {"loc": _real(3), "L": _tril(3)}, _real(3), ()),
}


def _pair(params, grad=True):
    ngp = {k: ng.tensor(v, dtype=ng.float64, requires_grad=grad) for k, v in params.items()}
    thp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=grad) for k, v in params.items()}
    return ngp, thp


def _value(v, module):
    if module is ng:
        return ng.tensor(v, dtype=ng.int64 if v.dtype.kind == "i" else ng.float64)
    return torch.tensor(v)


def _quantities(d, value, methods, module):
    """name -> the tensor, or the exception type PyTorch/numgrad raised."""
    out = {}
    getters = {"log_prob": lambda: d.log_prob(value), "entropy": d.entropy, "mean": lambda: d.mean,
               "variance": lambda: d.variance, "stddev": lambda: d.stddev, "mode": lambda: d.mode}
    for m in methods:
        if m == "icdf":
            getters[m] = (lambda: d.icdf(d.cdf(value))) if "cdf" in methods else None
        else:
            getters[m] = (lambda m=m: getattr(d, m)(value))
    for name, get in getters.items():
        try:
            out[name] = get()
        except (NotImplementedError, ValueError) as e:
            out[name] = type(e)
    return out


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.detach().numpy()


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_torch(name):
    build, params, value, methods = CASES[name]
    ngp, thp = _pair(params)
    nq = _quantities(build(nd, ngp), _value(value, ng), methods, ng)
    tq = _quantities(build(td, thp), _value(value, torch), methods, torch)
    n_obj, t_obj = 0.0, 0.0
    for i, key in enumerate(sorted(tq)):
        if isinstance(tq[key], type):
            assert nq[key] is tq[key], (key, nq[key])
            continue
        assert not isinstance(nq[key], type), (key, nq[key])
        np.testing.assert_allclose(_np(nq[key]), _np(tq[key]), rtol=1e-9, atol=1e-12, err_msg=key)
        assert tuple(nq[key].shape) == tuple(tq[key].shape), key
        if tq[key].requires_grad and tq[key].dtype == torch.float64 and bool(torch.isfinite(tq[key]).all()):
            w = 1.0 + 0.37 * i  # different weights so that terms cannot cancel
            n_obj = n_obj + (nq[key] * w).sum()
            t_obj = t_obj + (tq[key] * w).sum()
    t_obj.backward()
    n_obj.backward()
    for k in params:
        if thp[k].grad is None:
            assert ngp[k].grad is None or not _np(ngp[k].grad).any(), k
        else:
            np.testing.assert_allclose(ngp[k].grad.numpy(), thp[k].grad.numpy(), rtol=1e-8, atol=1e-11, err_msg=k)


KL_PAIRS = {
    "Normal": lambda D, a, b, c, d: (D.Normal(a, b), D.Normal(c, d)),
    "Bernoulli": lambda D, a, b, c, d: (D.Bernoulli(D_sig(a)), D.Bernoulli(logits=c)),
    "Categorical": lambda D, a, b, c, d: (D.Categorical(logits=_pairs(a, c)), D.Categorical(logits=_pairs(d, b))),
    "OneHotCategorical": lambda D, a, b, c, d: (D.OneHotCategorical(logits=_pairs(a, c)),
                                                D.OneHotCategorical(logits=_pairs(d, b))),
    "Uniform": lambda D, a, b, c, d: (D.Uniform(a, a + b), D.Uniform(a - d, a + b + d)),
    "Uniform-inf": lambda D, a, b, c, d: (D.Uniform(a, a + b), D.Uniform(a + d, a + b + d)),
    "Independent": lambda D, a, b, c, d: (D.Independent(D.Normal(a, b), 1), D.Independent(D.Normal(c, d), 1)),
    "Exponential": lambda D, a, b, c, d: (D.Exponential(b), D.Exponential(d)),
    "Beta": lambda D, a, b, c, d: (D.Beta(b, d), D.Beta(d * 2, b)),
    "Gamma": lambda D, a, b, c, d: (D.Gamma(b, d), D.Gamma(d * 2, b)),
    "Laplace": lambda D, a, b, c, d: (D.Laplace(a, b), D.Laplace(c, d)),
    "Poisson": lambda D, a, b, c, d: (D.Poisson(b), D.Poisson(d)),
    "Dirichlet": lambda D, a, b, c, d: (D.Dirichlet(_pairs(b, d)), D.Dirichlet(_pairs(d, b * 3))),
    "Binomial": lambda D, a, b, c, d: (D.Binomial(4, logits=a), D.Binomial(4, logits=c)),
    "LogNormal": lambda D, a, b, c, d: (D.LogNormal(a, b), D.LogNormal(c, d)),
    "MultivariateNormal": lambda D, a, b, c, d: (
        D.MultivariateNormal(a, scale_tril=_diag_tril(b, a)),
        D.MultivariateNormal(c, covariance_matrix=_diag_tril(d, c) @ _diag_tril(d, c).mT)),
}


def D_sig(x):
    return x.sigmoid()


def _pairs(x, y):
    return (x.unsqueeze(-1) * y.unsqueeze(-2))  # (B, B) logits/concentrations from two vectors


def _diag_tril(diag, off):
    """A lower-triangular (B, B) matrix with positive diagonal ``diag`` and ``off`` below it."""
    m = _pairs(off, off * 0.5).tril(-1)
    return m + diag.diag_embed()


@pytest.mark.parametrize("name", sorted(KL_PAIRS))
def test_kl_divergence_matches_torch(name):
    params = {"a": _real(B), "b": _pos(B), "c": _real(B), "d": _pos(B)}
    ngp, thp = _pair(params)
    nk = nd.kl_divergence(*KL_PAIRS[name](nd, *ngp.values()))
    tk = td.kl_divergence(*KL_PAIRS[name](td, *thp.values()))
    np.testing.assert_allclose(nk.detach().numpy(), tk.detach().numpy(), rtol=1e-9, atol=1e-12)
    if bool(torch.isfinite(tk).all()):
        w = torch.arange(1.0, 1 + tk.numel(), dtype=torch.float64).reshape(tk.shape)
        (tk * w).sum().backward()
        (nk * ng.tensor(w.numpy())).sum().backward()
        for k in params:
            tg = thp[k].grad
            ngg = ngp[k].grad
            if tg is None:
                assert ngg is None or not ngg.numpy().any(), k
            else:
                np.testing.assert_allclose(ngg.numpy(), tg.numpy(), rtol=1e-8, atol=1e-11, err_msg=k)


def test_kl_unregistered_pair_raises_like_torch():
    with pytest.raises(NotImplementedError, match="No KL\\(p \\|\\| q\\) is implemented for p type Normal and "
                                                  "q type Uniform"):
        nd.kl_divergence(nd.Normal(0.0, 1.0), nd.Uniform(0.0, 1.0))
    with pytest.raises(NotImplementedError, match="cross KL-divergence between different exponential families"):
        nd.kl_divergence(nd.Normal(0.0, 1.0), nd.Exponential(1.0))


def test_register_kl_picks_the_most_specific_pair():
    class MyNormal(nd.Normal):
        pass

    @nd.register_kl(MyNormal, nd.Normal)
    def _mine(p, q):
        return p.loc * 0 + 42.0

    try:
        assert nd.kl_divergence(MyNormal(0.0, 1.0), nd.Normal(1.0, 1.0)).item() == 42.0
        assert nd.kl_divergence(nd.Normal(0.0, 1.0), MyNormal(1.0, 1.0)).item() == pytest.approx(0.5)
    finally:
        from numgrad.distributions import kl
        del kl._KL_REGISTRY[MyNormal, nd.Normal]
        kl._KL_MEMOIZE.clear()


def _grads(out, *params):
    return ng.autograd.grad(out.sum(), list(params))


def test_rsample_gradients_are_the_reparameterisation():
    loc = ng.tensor([0.5, -1.0], dtype=ng.float64, requires_grad=True)
    scale = ng.tensor([2.0, 0.3], dtype=ng.float64, requires_grad=True)
    ng.manual_seed(0)
    # Normal: x = loc + scale * eps
    x = nd.Normal(loc, scale).rsample((4,))
    eps = ((x - loc) / scale).detach().numpy()
    gl, gs = _grads(x, loc, scale)
    np.testing.assert_allclose(gl.numpy(), [4.0, 4.0])
    np.testing.assert_allclose(gs.numpy(), eps.sum(0), rtol=1e-12)
    # LogNormal: x = exp(loc + scale * eps)
    y = nd.LogNormal(loc, scale).rsample((4,))
    eps = ((y.log() - loc) / scale).detach().numpy()
    gl, gs = _grads(y, loc, scale)
    np.testing.assert_allclose(gl.numpy(), y.detach().numpy().sum(0), rtol=1e-12)
    np.testing.assert_allclose(gs.numpy(), (y.detach().numpy() * eps).sum(0), rtol=1e-12)
    # Laplace: x = loc - scale * sign(u) log1p(-|u|): d/dscale = (x - loc) / scale
    z = nd.Laplace(loc, scale).rsample((4,))
    gl, gs = _grads(z, loc, scale)
    np.testing.assert_allclose(gl.numpy(), [4.0, 4.0])
    np.testing.assert_allclose(gs.numpy(), ((z - loc) / scale).detach().numpy().sum(0), rtol=1e-12)
    # Uniform: x = low + u (high - low)
    low = ng.tensor([0.0, 1.0], dtype=ng.float64, requires_grad=True)
    high = ng.tensor([1.0, 3.0], dtype=ng.float64, requires_grad=True)
    u = nd.Uniform(low, high).rsample((4,))
    frac = ((u - low) / (high - low)).detach().numpy()
    gl, gh = _grads(u, low, high)
    np.testing.assert_allclose(gl.numpy(), (1 - frac).sum(0), rtol=1e-12)
    np.testing.assert_allclose(gh.numpy(), frac.sum(0), rtol=1e-12)
    # Exponential: x = e / rate
    rate = ng.tensor([0.5, 2.0], dtype=ng.float64, requires_grad=True)
    e = nd.Exponential(rate).rsample((4,))
    (gr,) = _grads(e, rate)
    np.testing.assert_allclose(gr.numpy(), -(e / rate).detach().numpy().sum(0), rtol=1e-12)


def test_mvn_rsample_gradient():
    loc = ng.tensor([0.5, -1.0], dtype=ng.float64, requires_grad=True)
    L = ng.tensor([[1.0, 0.0], [0.5, 2.0]], dtype=ng.float64, requires_grad=True)
    ng.manual_seed(1)
    x = nd.MultivariateNormal(loc, scale_tril=L).rsample((3,))
    assert tuple(x.shape) == (3, 2)
    eps = np.linalg.solve(L.detach().numpy(), (x - loc).detach().numpy().T).T
    gl, gL = _grads(x, loc, L)
    np.testing.assert_allclose(gl.numpy(), [3.0, 3.0])
    np.testing.assert_allclose(gL.numpy(), np.ones((2, 1)) * eps.sum(0)[None, :], rtol=1e-10, atol=1e-12)


def test_gamma_rsample_gradient_is_torchs_implicit_gradient():
    conc = ng.tensor([0.4, 1.5, 3.0, 12.0], dtype=ng.float64, requires_grad=True)
    rate = ng.tensor([1.0, 2.0, 0.5, 1.0], dtype=ng.float64, requires_grad=True)
    ng.manual_seed(2)
    x = nd.Gamma(conc, rate).rsample((50,))
    assert tuple(x.shape) == (50, 4) and bool((x > 0).all())
    gc, gr = _grads(x, conc, rate)
    xs = x.detach().numpy()
    std = torch.tensor(xs * rate.detach().numpy())  # the standard-gamma draws
    alpha = torch.tensor(conc.detach().numpy()).expand(50, 4)
    expected = (torch._standard_gamma_grad(alpha, std) / torch.tensor(rate.detach().numpy())).sum(0)
    np.testing.assert_allclose(gc.numpy(), expected.numpy(), rtol=1e-9)
    np.testing.assert_allclose(gr.numpy(), -(xs / rate.detach().numpy()).sum(0), rtol=1e-12)
    assert nd.Gamma(conc, rate).has_rsample and nd.Beta(conc, rate).has_rsample


def test_gamma_and_beta_rsample_gradients_are_unbiased():
    # d/dalpha E[x]: Gamma(alpha, 1) -> 1; Beta(a, b) -> b / (a + b)^2 (Monte Carlo, loose)
    ng.manual_seed(3)
    a = ng.tensor([0.7, 3.0], dtype=ng.float64, requires_grad=True)
    (g,) = _grads(nd.Gamma(a, 1.0).rsample((3000,)).mean(0), a)
    np.testing.assert_allclose(g.numpy(), [1.0, 1.0], rtol=0.1)
    b = ng.tensor([2.0, 0.5], dtype=ng.float64)
    (g,) = _grads(nd.Beta(a, b).rsample((3000,)).mean(0), a)
    an, bn = a.detach().numpy(), b.numpy()
    np.testing.assert_allclose(g.numpy(), bn / (an + bn) ** 2, rtol=0.15)


STATS = {
    "Normal": lambda: nd.Normal(ng.tensor([1.0, -2.0]), ng.tensor([0.5, 2.0])),
    "Laplace": lambda: nd.Laplace(ng.tensor([1.0, -2.0]), ng.tensor([0.5, 2.0])),
    "Uniform": lambda: nd.Uniform(ng.tensor([0.0, -2.0]), ng.tensor([1.0, 3.0])),
    "Exponential": lambda: nd.Exponential(ng.tensor([0.5, 3.0])),
    "Gamma": lambda: nd.Gamma(ng.tensor([0.3, 4.0]), ng.tensor([1.0, 2.0])),
    "Beta": lambda: nd.Beta(ng.tensor([0.5, 3.0]), ng.tensor([2.0, 1.0])),
    "Bernoulli": lambda: nd.Bernoulli(ng.tensor([0.2, 0.7])),
    "Binomial": lambda: nd.Binomial(ng.tensor([3.0, 10.0]), ng.tensor([0.2, 0.7])),
    "Poisson": lambda: nd.Poisson(ng.tensor([0.5, 6.0])),
    "LogNormal": lambda: nd.LogNormal(ng.tensor([0.0, 0.5]), ng.tensor([0.25, 0.5])),
    "OneHotCategorical": lambda: nd.OneHotCategorical(ng.tensor([0.2, 0.5, 0.3])),
    "MultivariateNormal": lambda: nd.MultivariateNormal(ng.tensor([1.0, -1.0]),
                                                        ng.tensor([[2.0, 0.5], [0.5, 1.0]])),
}


@pytest.mark.parametrize("name", sorted(STATS))
def test_sample_statistics(name):
    ng.manual_seed(5)
    d = STATS[name]()
    x = d.sample((4000,))
    assert tuple(x.shape) == (4000,) + tuple(d.batch_shape) + tuple(d.event_shape)
    assert not x.requires_grad
    xs = x.numpy().astype(np.float64)
    mean, var = d.mean.numpy(), d.variance.numpy()
    np.testing.assert_allclose(xs.mean(0), mean, atol=5 * np.sqrt(var / 4000).max() + 1e-9)
    np.testing.assert_allclose(xs.var(0), var, rtol=0.15, atol=1e-3)
    assert bool(d.support.check(x).all())


def test_categorical_sample_frequencies():
    ng.manual_seed(6)
    d = nd.Categorical(logits=ng.tensor([[0.0, 1.0, 2.0], [2.0, 0.0, -1.0]]))
    x = d.sample((3000,))
    assert tuple(x.shape) == (3000, 2) and x.dtype == ng.int64
    freq = np.stack([(x.numpy() == k).mean(0) for k in range(3)], -1)
    np.testing.assert_allclose(freq, d.probs.numpy(), atol=0.04)


@pytest.mark.parametrize("sample_shape", [(), (5,), (2, 3)])
def test_sample_and_rsample_shapes(sample_shape):
    dists = [nd.Normal(ng.zeros(4, 3), ng.ones(4, 3)), nd.Bernoulli(logits=ng.zeros(4)),
             nd.Categorical(ng.ones(4, 3)), nd.OneHotCategorical(ng.ones(4, 3)), nd.Dirichlet(ng.ones(4, 3)),
             nd.MultivariateNormal(ng.zeros(4, 3), ng.eye(3)), nd.Independent(nd.Normal(ng.zeros(4, 3), 1.0), 1),
             nd.Normal(0.0, 1.0), nd.Gamma(ng.ones(4), 2.0), nd.Binomial(3, ng.full((4,), 0.5))]
    for d in dists:
        x = d.sample(sample_shape)
        assert tuple(x.shape) == tuple(sample_shape) + tuple(d.batch_shape) + tuple(d.event_shape), d
        if d.has_rsample:
            assert tuple(d.rsample(sample_shape).shape) == tuple(x.shape)
        e = d.expand((2,) + tuple(d.batch_shape))
        assert tuple(e.sample(sample_shape).shape) == tuple(sample_shape) + (2,) + tuple(d.batch_shape) + \
            tuple(d.event_shape)


def test_shapes_match_torch():
    pairs = [
        (lambda D, T: D.Normal(T(np.zeros((2, 1))), T(np.ones(3)))),
        (lambda D, T: D.Categorical(logits=T(np.zeros((2, 5))))),
        (lambda D, T: D.MultivariateNormal(T(np.zeros((4, 1, 3))), scale_tril=T(np.eye(3)[None].repeat(2, 0)))),
        (lambda D, T: D.Independent(D.Bernoulli(T(np.full((2, 3, 4), 0.5))), 2)),
        (lambda D, T: D.TransformedDistribution(D.Normal(T(np.zeros(3)), 1.0),
                                                [D.transforms.AffineTransform(T(np.zeros((2, 1))), 2.0)])),
        (lambda D, T: D.Beta(T(np.ones((2, 3))), 1.0).expand((4, 2, 3))),
    ]
    for make in pairs:
        n = make(nd, lambda a: ng.tensor(a, dtype=ng.float64))
        t = make(td, lambda a: torch.tensor(a, dtype=torch.float64))
        assert tuple(n.batch_shape) == tuple(t.batch_shape) and tuple(n.event_shape) == tuple(t.event_shape)
        assert tuple(n.sample((2,)).shape) == tuple(t.sample((2,)).shape)


def test_rsample_not_implemented_where_torch_has_none():
    for make in (lambda D, T: D.Bernoulli(T([0.5, 0.5])), lambda D, T: D.Categorical(T([0.5, 0.5])),
                 lambda D, T: D.Poisson(T([1.0, 2.0]))):
        d = make(nd, ng.tensor)
        assert d.has_rsample is make(td, torch.tensor).has_rsample is False
        with pytest.raises(NotImplementedError):
            d.rsample()


def _torch_message(make_torch):
    with pytest.raises(Exception) as info:
        make_torch()
    return info.type, str(info.value).replace("torch.", "numgrad.")


ERRORS = {
    "negative scale": lambda D, T: D.Normal(T([0.0, 1.0]), T([1.0, -1.0])),
    "probs out of range": lambda D, T: D.Bernoulli(T([0.5, 1.5])),
    "probs and logits": lambda D, T: D.Bernoulli(probs=T([0.5, 0.2]), logits=T([0.1, 0.1])),
    "neither": lambda D, T: D.Categorical(),
    "0-d probs": lambda D, T: D.Categorical(T(0.5)),
    "not a simplex": lambda D, T: D.Categorical(T([[-0.5, 1.5], [0.5, 0.5]])),
    "uniform low >= high": lambda D, T: D.Uniform(T([0.0, 2.0]), T([1.0, 1.0])),
    "two matrices": lambda D, T: D.MultivariateNormal(T([0.0, 0.0]), T([[1.0, 0.0], [0.0, 1.0]]),
                                                       scale_tril=T([[1.0, 0.0], [0.0, 1.0]])),
    "not positive definite": lambda D, T: D.MultivariateNormal(T([0.0, 0.0]), T([[1.0, 2.0], [2.0, 1.0]])),
    "not lower cholesky": lambda D, T: D.MultivariateNormal(T([0.0, 0.0]), scale_tril=T([[1.0, 1.0], [0.0, 1.0]])),
    "0-d loc": lambda D, T: D.MultivariateNormal(T(0.0), T([[1.0]])),
    "independent ndims": lambda D, T: D.Independent(D.Normal(T([0.0, 1.0]), 1.0), 2),
    "value outside support": lambda D, T: D.Exponential(T([1.0, 2.0])).log_prob(T([-1.0, 1.0])),
    "value not broadcastable": lambda D, T: D.Normal(T([0.0, 1.0]), 1.0).log_prob(T([0.0, 1.0, 2.0])),
    "event shape": lambda D, T: D.Dirichlet(T([1.0, 1.0])).log_prob(T([0.5, 0.25, 0.25])),
    "not a tensor": lambda D, T: D.Normal(T([0.0, 1.0]), 1.0).log_prob(0.5),
    "category out of range": lambda D, T: D.Categorical(T([0.5, 0.5])).log_prob(T(2.0)),
    "binomial count": lambda D, T: D.Binomial(T([2.5, 1.0]), T([0.5, 0.5])),
    "inhomogeneous entropy": lambda D, T: D.Binomial(T([2.0, 3.0]), T([0.5, 0.5])).entropy(),
    "transforms type": lambda D, T: D.TransformedDistribution(D.Normal(0.0, 1.0), "exp"),
    "bad cache size": lambda D, T: D.transforms.ExpTransform(cache_size=2),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_match_torch(name):
    make = ERRORS[name]

    def T_torch(x):
        return torch.tensor(x, dtype=torch.float64)

    def T_ng(x):
        return ng.tensor(x, dtype=ng.float64)

    kind, message = _torch_message(lambda: make(td, T_torch))
    with pytest.raises(kind) as info:
        make(nd, T_ng)
    assert str(info.value) == message


def test_set_default_validate_args():
    try:
        nd.Distribution.set_default_validate_args(False)
        d = nd.Normal(ng.tensor([0.0, 1.0]), ng.tensor([1.0, -1.0]))  # not checked
        assert tuple(d.batch_shape) == (2,)
        assert d.log_prob(ng.tensor([0.0, 0.0])).shape == (2,)
    finally:
        nd.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        nd.Normal(ng.tensor([0.0, 1.0]), ng.tensor([1.0, -1.0]))
    with pytest.raises(ValueError):
        nd.Distribution.set_default_validate_args("yes")
    assert nd.Normal(ng.tensor([0.0, 1.0]), ng.tensor([1.0, -1.0]), validate_args=False).scale.shape == (2,)


def test_constraints():
    c = nd.constraints
    x = ng.tensor([-1.0, 0.0, 0.5, 1.0, 2.0])
    assert c.real.check(x).all()
    assert c.positive.check(x).tolist() == [False, False, True, True, True]
    assert c.unit_interval.check(x).tolist() == [False, True, True, True, False]
    assert c.boolean.check(x).tolist() == [False, True, False, True, False]
    assert c.nonnegative_integer.check(x).tolist() == [False, True, False, True, True]
    assert c.integer_interval(0, 1).check(x).tolist() == [False, True, False, True, False]
    assert c.greater_than(0.5).check(x).tolist() == [False, False, False, True, True]
    assert c.interval(-1.0, 0.0).check(x).tolist() == [True, True, False, False, False]
    assert c.simplex.check(ng.tensor([[0.5, 0.5], [0.5, 0.6]])).tolist() == [True, False]
    assert c.independent(c.positive, 1).check(ng.tensor([[1.0, 2.0], [1.0, -1.0]])).tolist() == [True, False]
    assert repr(c.independent(c.positive, 1)) == "IndependentConstraint(GreaterThan(lower_bound=0.0), 1)"
    assert repr(c.interval(0, 1)) == repr(td.constraints.interval(0, 1))
    assert c.independent(c.real, 2).event_dim == 2 and c.simplex.event_dim == 1
    assert c.is_dependent(nd.Uniform.support) and not c.is_dependent(c.real)
    with pytest.raises(ValueError, match="Cannot determine validity of dependent constraint"):
        c.dependent.check(x)


def test_transforms_inverse_and_jacobian():
    t_ng = nd.transforms.ComposeTransform([nd.transforms.AffineTransform(1.0, -2.0), nd.transforms.TanhTransform(),
                                           nd.transforms.AffineTransform(0.0, 3.0)])
    t_th = td.transforms.ComposeTransform([td.transforms.AffineTransform(1.0, -2.0), td.transforms.TanhTransform(),
                                           td.transforms.AffineTransform(0.0, 3.0)])
    x = np.array([-0.3, 0.1, 0.6])
    y_ng, y_th = t_ng(ng.tensor(x)), t_th(torch.tensor(x))
    np.testing.assert_allclose(y_ng.numpy(), y_th.numpy(), rtol=1e-12)
    np.testing.assert_allclose(t_ng.inv(y_ng).numpy(), x, rtol=1e-9)
    np.testing.assert_allclose(t_ng.log_abs_det_jacobian(ng.tensor(x), y_ng).numpy(),
                               t_th.log_abs_det_jacobian(torch.tensor(x), y_th).numpy(), rtol=1e-12)
    assert t_ng.sign == t_th.sign == -1
    assert t_ng.inv.inv is t_ng and t_ng == t_ng.inv.inv
    assert nd.transforms.ExpTransform() == nd.transforms.ExpTransform()
    assert repr(nd.transforms.ExpTransform().inv) == "_InverseTransform(ExpTransform())"
    cached = nd.transforms.SigmoidTransform(cache_size=1)
    xt = ng.tensor([0.3])
    yt = cached(xt)
    assert cached.inv(yt) is xt
    assert tuple(nd.transforms.identity_transform(xt).shape) == (1,)


def test_lazy_parameters_and_repr():
    logits = ng.tensor([0.0, 1.0], requires_grad=True)
    d = nd.Bernoulli(logits=logits)
    assert "probs" not in d.__dict__
    d.probs.sum().backward()
    assert logits.grad is not None
    assert repr(nd.Normal(ng.tensor([0.0, 1.0]), 1.0)) == "Normal(loc: numgrad.Size([2]), scale: numgrad.Size([2]))"
    assert repr(nd.Normal(0.0, 1.0)) == "Normal(loc: 0.0, scale: 1.0)"
    assert nd.Bernoulli(0.3).enumerate_support().tolist() == [0.0, 1.0]
    assert tuple(nd.Categorical(ng.ones(2, 3)).enumerate_support().shape) == (3, 2)
    assert nd.Normal(0.0, 2.0).perplexity().item() == pytest.approx(float(td.Normal(0.0, 2.0).perplexity()))


MODULES = ["__init__", "utils", "constraints", "distribution", "exp_family", "normal", "bernoulli", "categorical",
           "poisson", "uniform", "gamma", "beta", "transforms", "independent", "transformed_distribution",
           "multivariate_normal", "kl"]


@pytest.mark.parametrize("module", MODULES)
def test_doctests(module):
    mod = importlib.import_module("numgrad.distributions" + ("" if module == "__init__" else "." + module))
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_fused_smoke():
    """The same formulas under fusion (the default): log_prob, entropy, KL and their gradients."""
    ng.set_fusion(True)
    try:
        loc, scale = ng.tensor([0.2, -0.4], requires_grad=True), ng.tensor([1.5, 0.7], requires_grad=True)
        tl, ts = torch.tensor([0.2, -0.4], requires_grad=True), torch.tensor([1.5, 0.7], requires_grad=True)
        v = [0.3, 0.1]
        n = nd.Normal(loc, scale).log_prob(ng.tensor(v)) + nd.kl_divergence(nd.Normal(loc, scale), nd.Normal(0.0, 1.0))
        t = td.Normal(tl, ts).log_prob(torch.tensor(v)) + td.kl_divergence(td.Normal(tl, ts), td.Normal(0.0, 1.0))
        n.sum().backward()
        t.sum().backward()
        np.testing.assert_allclose(n.detach().numpy(), t.detach().numpy(), rtol=1e-5)
        np.testing.assert_allclose(loc.grad.numpy(), tl.grad.numpy(), rtol=1e-5)
        np.testing.assert_allclose(scale.grad.numpy(), ts.grad.numpy(), rtol=1e-5)
    finally:
        ng.set_fusion(False)


def test_a_compiled_vae_step_replays_bit_for_bit_with_validation_off():
    # with validation on (the default, as in PyTorch) the constraint checks read data and the step runs eagerly
    def make():
        ng.manual_seed(0)
        enc, dec = ng.nn.Linear(6, 4), ng.nn.Linear(2, 6)
        opt = ng.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-2)

        def step(x):
            opt.zero_grad()
            h = enc(x)
            q = nd.Normal(h[:, :2], h[:, 2:].exp())
            prior = nd.Normal(ng.zeros_like(q.loc), ng.ones_like(q.loc))
            loss = ng.nn.functional.mse_loss(dec(q.rsample()), x) + nd.kl_divergence(q, prior).sum(1).mean()
            loss.backward()
            opt.step()
            return loss.detach()
        return [*enc.parameters(), *dec.parameters()], step

    validating = nd.Distribution._validate_args
    nd.Distribution.set_default_validate_args(False)
    try:
        eager_params, eager_step = make()
        params, step = make()
        compiled = ng.compile(step)
        for i in range(6):
            x = ng.tensor(RNG.standard_normal((5, 6)).astype(np.float32))
            ng.manual_seed(i)
            want = eager_step(x).item()
            ng.manual_seed(i)
            assert compiled(x).item() == want
    finally:
        nd.Distribution.set_default_validate_args(validating)
    assert compiled.replays == 3 and compiled.fallback_reason is None
    assert all(np.array_equal(a.detach().numpy(), b.detach().numpy()) for a, b in zip(params, eager_params))

