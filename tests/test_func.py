"""``numgrad.func`` against ``torch.func``: values (float64, tight tolerances), pytree structure, nesting,
``has_aux``, ``vmap``'s dims, chunks and randomness, ``functional_call``, and the errors."""
from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch
import torch.func as TF

import numgrad as ng
import numgrad.func as NF

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 2))
B = RNG.standard_normal(2)
C = RNG.standard_normal((3, 4))


def _pair(a):
    return torch.tensor(a), ng.tensor(a)


def _close(want, have):
    """Same pytree structure, same shapes, equal values."""
    if isinstance(want, (tuple, list)):
        assert type(have) is type(want) and len(want) == len(have), (want, have)
        for w, h in zip(want, have):
            _close(w, h)
        return
    if isinstance(want, dict):
        assert isinstance(have, dict) and list(want) == list(have), (want, have)
        for k in want:
            _close(want[k], have[k])
        return
    assert isinstance(have, ng.Tensor), type(have)
    assert tuple(want.shape) == tuple(have.shape), (want.shape, have.shape)
    np.testing.assert_allclose(have.detach().numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-12)


def _both(build, *arrays):
    """``build(L)`` for torch and numgrad, called on the same arrays; the two results compared."""
    want = build(torch)(*(torch.tensor(a) for a in arrays))
    have = build(ng)(*(ng.tensor(a) for a in arrays))
    _close(want, have)
    return have


def _raises(exc, text, fn, *args, **kwargs):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert text in str(info.value), str(info.value)


def _api(L):
    return TF if L is torch else NF


# ------------------------------------------------------------------------------------------------- grad

def test_grad_argnums_and_pytrees():
    f = lambda L: lambda x, y: (x.sin() * y).sum()  # noqa: E731
    _both(lambda L: _api(L).grad(f(L)), A, B)
    _both(lambda L: _api(L).grad(f(L), argnums=(0, 1)), A, B)
    _both(lambda L: _api(L).grad(f(L), argnums=-1), A, B)

    def dict_loss(params, x):
        return ((x @ params["w"]).tanh() + params["b"]).pow(2).sum()

    want = TF.grad(dict_loss)({"w": torch.tensor(A), "b": torch.tensor(B)}, torch.tensor(C.T))
    have = NF.grad(dict_loss)({"w": ng.tensor(A), "b": ng.tensor(B)}, ng.tensor(C.T))
    _close(want, have)
    assert not have["w"].requires_grad  # nothing outside the transform tracks it: detached, as PyTorch's


def test_grad_has_aux_kwargs_and_value():
    def f(L):
        return lambda x, scale=1.0: ((x * scale).exp().sum(), {"mean": x.mean(), "sq": [x * x]})

    _both(lambda L: lambda x: _api(L).grad(f(L), has_aux=True)(x, scale=0.5), A)
    _both(lambda L: lambda x: _api(L).grad_and_value(f(L), has_aux=True)(x), A)
    _both(lambda L: _api(L).grad_and_value(lambda x: (x ** 3).sum()), B)


def test_grad_unused_input_and_constant_output_give_zeros():
    _both(lambda L: _api(L).grad(lambda x, y: (x * 2).sum(), argnums=(0, 1)), A, B)
    _both(lambda L: _api(L).grad(lambda x: x.sum() * 0 + 1.0), B)


def test_grad_nested_and_through_outer_graph():
    cube = lambda x: (x ** 3).sum()  # noqa: E731
    _both(lambda L: _api(L).grad(lambda x: _api(L).grad(cube)(x).sin().sum()), B)
    _both(lambda L: _api(L).grad(_api(L).grad(lambda x: x.exp() * x ** 2)), np.array(0.7))
    # the inner grad closes over the outer variable
    _both(lambda L: _api(L).grad(lambda x: _api(L).grad(lambda y: (x * y ** 2).sum())(x).sum()), B)
    # a caller's leaf that requires grad: the gradient keeps its graph, backward reaches the leaf
    grads = []
    for L, x in zip((torch, ng), _pair(B)):
        x.requires_grad_()
        g = _api(L).grad(lambda t: (t.sin() * t).sum())(x)
        assert g.requires_grad
        g.sum().backward()
        grads.append(x.grad)
    _close(grads[0], grads[1])


def test_grad_errors():
    x = ng.tensor(B)
    _raises(RuntimeError, "grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got tensor with 1 "
            "dims. Maybe you wanted to use the vjp or jacrev APIs instead?", NF.grad(lambda t: t), x)
    _raises(RuntimeError, "Expected f(*args) to return a Tensor, got <class 'float'>", NF.grad(lambda t: 1.0), x)
    _raises(RuntimeError, "output of function f should be a tuple: (output, aux) if has_aux is True",
            NF.grad(lambda t: (1, 2, 3), has_aux=True), x)
    _raises(RuntimeError, "Expected tensors, got unsupported type <class 'int'>",
            NF.grad(lambda t: (t.sum(), 3), has_aux=True), x)
    _raises(RuntimeError, "argnums elements must be unique, got (0, 0)", NF.grad(lambda t: t.sum(), (0, 0)), x)
    _raises(RuntimeError, "Got argnum=2, but only 1 positional inputs", NF.grad(lambda t: t.sum(), 2), x)
    _raises(RuntimeError, "argnums must be int or Tuple[int, ...], got: <class 'list'>",
            NF.grad(lambda t: t.sum(), [0]), x)
    _raises(RuntimeError, "argnums must be non-empty", NF.grad(lambda t: t.sum(), ()), x)
    _raises(ValueError, "Thing passed to transform API must be Tensor, got <class 'float'>",
            NF.grad(lambda t: t), 3.0)
    _raises(RuntimeError, "floating point", NF.grad(lambda t: t.sum()), ng.tensor([1, 2]))


# ----------------------------------------------------------------------------------------------- vjp / jvp

def test_vjp_pytrees_and_aux():
    def run(L, x, y):
        out, vjp_fn, aux = _api(L).vjp(lambda a, b: ({"s": a.sin() @ b, "c": [a.cos()]}, a.sum()), x, y,
                                       has_aux=True)
        cot = {"s": L.ones(3, dtype=L.float64) * 2, "c": [x * 0 + 1]}
        return out, vjp_fn(cot), aux

    _both(lambda L: lambda x, y: run(L, x, y), A, B)
    _both(lambda L: lambda x: _api(L).vjp(lambda t: t ** 2, x)[1](x), B)


def test_vjp_errors():
    x = ng.tensor(B)
    _, vjp_fn = NF.vjp(lambda t: t, x)
    _raises(RuntimeError, "Expected pytree structure of cotangents to be the same as pytree structure of outputs",
            vjp_fn, (x,))
    _raises(RuntimeError, "vjp(f, *primals): expected f(*primals) to return only tensors, got unsupported type "
            "<class 'int'>", NF.vjp, lambda t: 3, x)
    _raises(RuntimeError, "All outputs of f must be floating-point", NF.vjp, lambda t: (t > 0), x)


def test_jvp_against_forward_mode():
    def run(L, x, y, tx, ty):
        return _api(L).jvp(lambda a, b: ((a * b).tanh(), (a ** 2).sum(0)), (x, y), (tx, ty))

    _both(lambda L: lambda x, y, tx, ty: run(L, x, y, tx, ty), A, B, A[::-1].copy(), B * 3)
    _both(lambda L: lambda x, t: _api(L).jvp(lambda a: (a.exp(), a.sum()), (x,), (t,), has_aux=True), B, B + 1)
    _both(lambda L: lambda x, t: _api(L).jvp(lambda a: a.sum() * 0 + 2.0, (x,), (t,)), B, B)


def test_jvp_errors():
    x = ng.tensor(B)
    _raises(RuntimeError, "jvp(f, primals, tangents): Expected primals to be a tuple.", NF.jvp, lambda t: t, x, (x,))
    _raises(RuntimeError, "Expected primals and tangents to have the same python structure",
            NF.jvp, lambda t: t, (x,), x)
    _raises(RuntimeError, "Tensor is of size [2] while the given forward gradient is of size [3]",
            NF.jvp, lambda t: t, (x,), (ng.zeros(3, dtype=ng.float64),))
    _raises(RuntimeError, "Expected primals to contain at least one Tensor", NF.jvp, lambda: 1, (), ())
    _raises(RuntimeError, "The output of f is independent of the inputs", NF.jvp,
            lambda t: ng.ones(2), (x,), (x,), strict=True)


# ------------------------------------------------------------------------------------------------- Jacobians

@pytest.mark.parametrize("name", ["jacrev", "jacfwd"])
def test_jacobians_structure(name):
    def f(a, b):
        return {"p": a.sin() * b, "q": (a @ b).sum()}

    _both(lambda L: getattr(_api(L), name)(f), A, B)
    _both(lambda L: getattr(_api(L), name)(f, argnums=(0, 1)), A, B)
    _both(lambda L: getattr(_api(L), name)(lambda a, b: (a * b, a.sum()), argnums=1, has_aux=True), A, B)
    want = getattr(TF, name)(lambda d: d["x"] * d["y"].sum())({"x": torch.tensor(B), "y": torch.tensor(A)})
    _close(want, getattr(NF, name)(lambda d: d["x"] * d["y"].sum())({"x": ng.tensor(B), "y": ng.tensor(A)}))


def test_hessians():
    f = lambda x, y: ((x ** 3).sum() * y.sin()).sum()  # noqa: E731
    _both(lambda L: _api(L).hessian(f), B, B[::-1].copy())
    _both(lambda L: _api(L).hessian(f, argnums=(0, 1)), B, B[::-1].copy())
    _both(lambda L: _api(L).jacrev(_api(L).jacrev(lambda x: x.exp().prod())), B)
    _both(lambda L: _api(L).jacfwd(_api(L).jacrev(lambda x: (x.tanh() ** 2).sum())), A)


def test_jacobian_errors():
    x = ng.tensor(B)
    _raises(ValueError, "jacrev: `chunk_size` should be greater than 0.", NF.jacrev, lambda t: t, chunk_size=0)
    _close(TF.jacrev(torch.sin, chunk_size=1)(torch.tensor(B)), NF.jacrev(ng.sin, chunk_size=1)(x))
    _raises(RuntimeError, "vjp(f, *primals): expected f(*primals) to return only tensors", NF.jacrev(lambda t: 3), x)
    _raises(RuntimeError, "jvp(f, primals, tangents): expected f(*primals) to return only tensors",
            NF.jacfwd(lambda t: 3), x)
    _raises(RuntimeError, "vmap: called random operation while in randomness error mode",
            NF.jacfwd(lambda t: t + ng.rand(2, dtype=ng.float64)), x)
    assert NF.jacfwd(lambda t: t + ng.rand(2, dtype=ng.float64), randomness="same")(x).shape == (2, 2)


# ------------------------------------------------------------------------------------------------------ vmap

def test_vmap_in_dims_out_dims():
    X = RNG.standard_normal((2, 3, 4))
    _both(lambda L: _api(L).vmap(lambda x: x.sum(0)), X)
    _both(lambda L: _api(L).vmap(lambda x, y: x @ y, in_dims=(1, None)), X, C[0])
    _both(lambda L: _api(L).vmap(lambda x: (x, x.sum()), in_dims=-1, out_dims=(1, 0)), X)
    _both(lambda L: _api(L).vmap(lambda x: x * 2, out_dims=-1), X)
    _both(lambda L: lambda a, c: _api(L).vmap(lambda p: p["a"] * p["b"][0].sum(), in_dims=({"a": 0, "b": (1,)},))(
        {"a": a, "b": (c,)}), C[:, 0].copy(), C.T.copy())
    # an unmapped output: returned once
    want = TF.vmap(lambda x, w: (x * w, w * 2), in_dims=(0, None), out_dims=(0, None))(torch.tensor(A),
                                                                                       torch.tensor(B))
    _close(want, NF.vmap(lambda x, w: (x * w, w * 2), in_dims=(0, None), out_dims=(0, None))(ng.tensor(A),
                                                                                          ng.tensor(B)))
    _both(lambda L: lambda x: _api(L).vmap(lambda a, scale: a * scale)(x, scale=3.0), A)  # kwargs: not mapped


def test_vmap_nested_and_of_grad():
    X = RNG.standard_normal((2, 3, 4))
    _both(lambda L: _api(L).vmap(_api(L).vmap(lambda x, y: (x * y).sum(), in_dims=(0, None)), in_dims=(None, 0)),
          C, X)
    _both(lambda L: _api(L).vmap(_api(L).grad(lambda x: (x.sin() ** 2).sum())), C)
    _both(lambda L: _api(L).vmap(_api(L).jacrev(lambda x: x.exp() * x.sum())), A)
    _both(lambda L: _api(L).grad(lambda x: _api(L).vmap(lambda r: (r ** 2).sum())(x).prod()), A)


def test_vmap_chunk_size_gives_equal_results():
    X = RNG.standard_normal((5, 3))
    for chunk in (1, 2, 5, 8):
        _both(lambda L: _api(L).vmap(lambda x: (x.exp(), x.sum()), chunk_size=chunk), X)


def test_vmap_randomness():
    x = ng.zeros(4, 3, dtype=ng.float64)
    draw = lambda t: t + ng.rand(3, dtype=ng.float64)  # noqa: E731
    _raises(RuntimeError, "vmap: called random operation while in randomness error mode. Please either use the "
            "'same' or 'different' randomness flags on vmap", NF.vmap(draw), x)
    ng.manual_seed(0)
    same = NF.vmap(draw, randomness="same")(x).numpy()
    assert np.all(same == same[0])
    after_same = ng.rand(1).numpy()
    ng.manual_seed(0)
    ng.rand(3, dtype=ng.float64)
    assert ng.rand(1).numpy() == after_same  # 'same' advanced the generator as one draw does
    different = NF.vmap(draw, randomness="different")(x).numpy()
    assert len({tuple(row) for row in different}) == 4
    _raises(RuntimeError, "Only allowed values for randomness are 'error', 'different', or 'same'. Got x",
            NF.vmap, draw, randomness="x")


def test_vmap_inplace_semantics():
    # in place on a mapped input's slice writes the input, as PyTorch's vmap does
    for L in (torch, ng):
        x = L.tensor(A)
        _api(L).vmap(lambda r: r.mul_(2))(x)
        np.testing.assert_allclose(np.asarray(x.numpy()), A * 2)
    y, xs = ng.tensor(B), ng.tensor(A)
    _raises(RuntimeError, "modified an unmapped input in place", NF.vmap(lambda a, b: a.add_(b), in_dims=(None, 0)),
            y, xs)
    np.testing.assert_allclose(y.numpy(), B + A[0])  # the first example's write, then the error


def test_vmap_errors():
    x = ng.tensor(A)
    f = lambda t: t  # noqa: E731
    _raises(ValueError, "expected `in_dims` to be int or a (potentially nested) tuple matching the structure of "
            "inputs, got: <class 'list'>.", NF.vmap(f, in_dims=[0]), x)
    _raises(ValueError, "in_dims is not compatible with the structure of `inputs`", NF.vmap(f, in_dims=(0, 0)), x)
    _raises(ValueError, "got no inputs. Maybe you forgot to add inputs", NF.vmap(f))
    _raises(ValueError, "vmap: Expected at least one Tensor to vmap over", NF.vmap(f, in_dims=(None,)), x)
    _raises(ValueError, "vmap: Expected all tensors to have the same size in the mapped dimension, got sizes [3, 2] "
            "for the mapped dimension", NF.vmap(lambda a, b: a, in_dims=(0, 0)), x, ng.tensor(B))
    _raises(ValueError, "Got in_dim=2 for some input, but that input is a Tensor of dimensionality 2 so expected "
            "in_dim to satisfy -2 <= in_dim < 2.", NF.vmap(f, in_dims=2), x)
    _raises(ValueError, "Got in_dim=0 for an input but the input is of type <class 'float'>. We cannot vmap over "
            "non-Tensor arguments", NF.vmap(lambda a, b: a), x, 1.0)
    _raises(ValueError, "Got in_dim=a for an input but in_dim must be either an integer dimension or None.",
            NF.vmap(f, in_dims=("a",)), x)
    _raises(ValueError, "`<lambda>` can not return a BatchedTensor when out_dim is None",
            NF.vmap(f, out_dims=None), x)
    _raises(ValueError, "`<lambda>` must only return Tensors, got type <class 'int'>. Did you mean to set out_dims= "
            "to None for output?", NF.vmap(lambda t: 3), x)
    _raises(ValueError, "out_dims is not compatible with the structure of `outputs`", NF.vmap(f, out_dims=(0, 0)), x)
    _raises(ValueError, "`out_dims` must be an int, None or a python collection of ints",
            NF.vmap(f, out_dims="a"), x)
    _raises(ValueError, "vmap: chunk_size should be None or greater than 0. (got 0)", NF.vmap, f, chunk_size=0)
    _raises(NotImplementedError, "the mapped dimension has size 0", NF.vmap(f), ng.zeros(0, 2))
    assert ng.vmap is NF.vmap


# ----------------------------------------------------------------------------------------- functional_call

def _mlp_pair():
    torch.manual_seed(0)
    t_model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    n_model = ng.nn.Sequential(ng.nn.Linear(3, 4), ng.nn.Tanh(), ng.nn.Linear(4, 2))
    t_params = {k: v.detach() for k, v in t_model.named_parameters()}
    n_params = {k: ng.tensor(v.numpy()) for k, v in t_params.items()}
    return t_model, n_model, t_params, n_params


def test_per_sample_gradients_of_an_mlp():
    t_model, n_model, t_params, n_params = _mlp_pair()
    X, Y = RNG.standard_normal((5, 3)), RNG.standard_normal((5, 2))

    def loss(L, model):
        def f(params, x, y):
            out = _api(L).functional_call(model, params, (x.unsqueeze(0),))
            return ((out - y.unsqueeze(0)) ** 2).mean()
        return f

    have = NF.vmap(NF.grad(loss(ng, n_model)), in_dims=(None, 0, 0))(n_params, ng.tensor(X), ng.tensor(Y))
    _close(TF.vmap(TF.grad(loss(torch, t_model)), in_dims=(None, 0, 0))(t_params, torch.tensor(X),
                                                                        torch.tensor(Y)), have)
    # against a plain loop of torch's autograd on the model itself
    for i in range(5):
        t_model.zero_grad()
        ((t_model(torch.tensor(X[i:i + 1])) - torch.tensor(Y[i:i + 1])) ** 2).mean().backward()
        for name, p in t_model.named_parameters():
            np.testing.assert_allclose(have[name][i].numpy(), p.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert all(p.dtype == ng.float32 for p in n_model.parameters())  # the module's own parameters are back


def test_functional_call_restores_and_gradients_flow():
    _, model, _, params = _mlp_pair()
    own = dict(model.named_parameters())
    params = {k: v.requires_grad_() for k, v in params.items()}
    x = ng.tensor(RNG.standard_normal((2, 3)))
    NF.functional_call(model, params, x).sum().backward()
    assert all(params[k].grad is not None for k in params) and all(p.grad is None for p in own.values())
    assert dict(model.named_parameters()) == own

    def broken(inp):
        raise ValueError("boom")

    model.register_forward_pre_hook(lambda m, args: broken(args))
    _raises(ValueError, "boom", NF.functional_call, model, params, (x,))
    assert all(model.get_parameter(k) is p for k, p in own.items())


def _tied(L):
    first, second = L.nn.Linear(2, 2, bias=False), L.nn.Linear(2, 2, bias=False)
    second.weight = first.weight  # one parameter under two names
    with L.no_grad():
        first.weight.copy_(L.tensor([[1.0, -2.0], [0.5, 3.0]]))
    return L.nn.Sequential(first, second).double()


def test_functional_call_ties_strict_and_dicts():
    for tie in (True, False):
        _both(lambda L: lambda w, x: _api(L).functional_call(_tied(L), {"0.weight": w}, (x,), tie_weights=tie),
              np.eye(2) * 2, np.array([[1.0, 3.0]]))
    w = ng.tensor(np.eye(2) * 2)
    x = ng.tensor([[1.0, 1.0]], dtype=ng.float64)
    _raises(ValueError, "functional_call got multiple values for keys ['0.weight', '1.weight'], which are tied. "
            "Consider using tie_weights=False", NF.functional_call, _tied(ng), {"0.weight": w, "1.weight": w * 1}, x)
    _raises(RuntimeError, "Error(s) in reparametrizing for Linear:\n\tUnexpected key(s): 'nope'.\n\tMissing key(s): "
            "'bias', 'weight'.", NF.functional_call, ng.nn.Linear(2, 2), {"nope": w}, (x,), strict=True)
    _raises(ValueError, "['bias'] appeared in multiple dictionaries; behavior of functional call is ambiguous",
            NF.functional_call, ng.nn.Linear(2, 2), [{"bias": w}, {"bias": w}], (x,))
    _raises(ValueError, "Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but got "
            "<class 'int'>", NF.functional_call, ng.nn.Linear(2, 2), 3, (x,))
    lin2 = ng.nn.Linear(2, 2)
    out = NF.functional_call(lin2, [{"weight": w}, {"bias": ng.zeros(2, dtype=ng.float64)}], (x,))
    np.testing.assert_allclose(out.numpy(), [[2.0, 2.0]])


def _parametrized_linear(L):
    class Symmetric(L.nn.Module):
        def forward(self, X):
            return X + X.T

    lin = L.nn.Linear(2, 2).double()
    L.nn.utils.parametrize.register_parametrization(lin, "weight", Symmetric())
    return lin


def test_functional_call_through_a_parametrization():
    _both(lambda L: lambda w, b, x: _api(L).functional_call(
        _parametrized_linear(L), {"parametrizations.weight.original": w, "bias": b}, (x,)),
        np.array([[1.0, 2.0], [0.0, 3.0]]), B, A)
    w = ng.tensor(np.eye(2))
    _raises(NotImplementedError, "`weight` of ParametrizedLinear is a property", NF.functional_call,
            _parametrized_linear(ng), {"weight": w}, (w,))


def test_ensemble_with_stack_module_state_and_buffers():
    torch.manual_seed(1)
    t_models = [torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2)).double().eval()
                for _ in range(3)]
    n_models = [ng.nn.Sequential(ng.nn.Linear(3, 2), ng.nn.BatchNorm1d(2)).double().eval() for _ in range(3)]
    for t, n in zip(t_models, n_models):
        t[1].running_mean.uniform_(-1, 1)
        t[1].running_var.uniform_(0.5, 2)
        n.load_state_dict({k: ng.tensor(v.numpy()) for k, v in t.state_dict().items()})
    X = RNG.standard_normal((4, 3))

    def run(L, models, x):
        params, buffers = _api(L).stack_module_state(models)
        assert all(p.requires_grad for p in params.values())
        base = models[0]
        return _api(L).vmap(lambda p, b, inp: _api(L).functional_call(base, (p, b), (inp,)),
                            in_dims=(0, 0, None))(params, buffers, x)

    _close(run(torch, t_models, torch.tensor(X)).detach(), run(ng, n_models, ng.tensor(X)))
    _raises(RuntimeError, "stack_module_state: Expected at least one model, got 0.", NF.stack_module_state, [])
    _raises(RuntimeError, "stack_module_state: Expected all models to be of the same class.",
            NF.stack_module_state, [ng.nn.Linear(1, 1), ng.nn.Tanh()])


# ------------------------------------------------------------------------------------------- the other names

def test_linearize_functionalize_and_batch_norm_replacement():
    def run(L, x, t):
        out, jvp_fn = _api(L).linearize(lambda a: (a.sin() * a, a.sum()), x)
        return out, jvp_fn(t), jvp_fn(t * 2)

    _both(lambda L: lambda x, t: run(L, x, t), A, A[::-1].copy())
    _, jvp_fn = NF.linearize(ng.sin, ng.tensor(B))
    _raises(RuntimeError, "tangent:0 with shape", jvp_fn, ng.tensor(A))
    _raises(RuntimeError, "Expected the tangents", jvp_fn, ng.tensor(B), ng.tensor(B))
    _both(lambda L: _api(L).functionalize(lambda x: x.clone().mul_(2).sin()), A)
    _raises(RuntimeError, "received invalid argument for remove=x", NF.functionalize, ng.sin, remove="x")
    t_bn, n_bn = (_api(L).replace_all_batch_norm_modules_(L.nn.Sequential(L.nn.BatchNorm1d(2))) for L in (torch, ng))
    for bn in (t_bn[0], n_bn[0]):
        assert bn.running_mean is None and bn.running_var is None and not bn.track_running_stats
    x = ng.tensor(RNG.standard_normal((3, 4, 2)))
    _close(TF.vmap(t_bn.double())(torch.tensor(x.numpy())), NF.vmap(n_bn.double())(x))
    assert NF.debug_unwrap(x) is x
    _raises(NotImplementedError, "numgrad.func.rearrange (einops patterns) is not supported", NF.rearrange, x,
            "a b c -> c b a")


@pytest.mark.parametrize("case", ["grad", "vjp", "jvp", "jacrev", "vmap_grad", "no_grad"])
def test_results_track_the_callers_graph_as_torch(case):
    """A result keeps a graph exactly where PyTorch's does: when the caller's tensors are tracked."""
    def build(L):
        api = _api(L)
        f = lambda t: (t.sin() * t).sum()  # noqa: E731
        return {"grad": api.grad(f), "vjp": lambda x: api.vjp(L.exp, x)[1](x)[0],
                "jvp": lambda x: api.jvp(L.exp, (x,), (x,))[1], "jacrev": api.jacrev(L.exp),
                "vmap_grad": api.vmap(api.grad(f)), "no_grad": lambda x: _no_grad(L, api.grad(f), x)}[case]

    results = []
    for L, arr in ((torch, A), (ng, A)):
        x = L.tensor(arr).requires_grad_()
        out = build(L)(x)
        if out.requires_grad:
            out.sum().backward()
        results.append((out.requires_grad, x.grad))
    assert results[0][0] == results[1][0]
    if results[0][1] is not None:
        _close(results[0][1], results[1][1])


def _no_grad(L, fn, x):
    with L.no_grad():
        return fn(x)


def test_docstring_examples():
    result = doctest.testmod(NF, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 20
