"""Adagrad, Adadelta, Adamax, NAdam, RAdam, Rprop, ASGD, Adafactor, LBFGS and every lr scheduler against torch.optim.

Optimizers run 20 steps from the same weights with gradients that depend on
each library's own weights (so drift would compound); schedulers run 20
epochs and must give PyTorch's learning rates (and cycled momenta) exactly;
state dicts must have PyTorch's structure and resume identically; invalid
arguments must raise PyTorch's errors.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import numgrad as ng
import numgrad.nn  # noqa: F401
import numgrad.optim as optim
from numgrad.optim import lr_scheduler
from tests.test_inplace_semantics import _step_then_read
from tests.test_optim import _assert_same, _run_pair

NEW_CASES = [
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1, maximize=True)),
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("Rprop", dict()),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.1), maximize=True)),
    ("ASGD", dict()),
    ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.5, t0=5, weight_decay=0.1, maximize=True)),
    ("Adafactor", dict()),
    ("Adafactor", dict(lr=0.05, weight_decay=0.1, maximize=True, d=1.5, eps=(1e-20, 1e-3), beta2_decay=-0.5)),
    # option combinations of the existing optimizers that tests/test_optim.py does not cover
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.01, amsgrad=True, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("RMSprop", dict(lr=0.01, centered=True, maximize=True, weight_decay=0.1)),
]


def _case_id(case):
    name, kw = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("case", NEW_CASES, ids=[_case_id(c) for c in NEW_CASES])
def test_optimizer_matches_torch_float32(case):
    name, kwargs = case
    _assert_same(*_run_pair(getattr(optim, name), getattr(torch.optim, name), kwargs)[:2])


@pytest.mark.parametrize("name", ["Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "Rprop", "ASGD", "Adafactor"])
def test_optimizer_matches_torch_float64_with_param_groups(name):
    kwargs = dict(lr=0.5) if name == "Adadelta" else dict() if name == "Rprop" else dict(weight_decay=0.05)
    if name == "ASGD":
        kwargs.update(t0=4)  # averaging starts within the run
    ng_p, t_p, ng_opt, t_opt = _run_pair(getattr(optim, name), getattr(torch.optim, name), kwargs, dtype="float64",
                                         groups=True)
    _assert_same(ng_p, t_p, rtol=1e-12, atol=1e-13)
    assert [g["lr"] for g in ng_opt.param_groups] == [g["lr"] for g in t_opt.param_groups]
    for p, q in zip(ng_p, t_p):  # and the state: moments, step sizes, ASGD's average of the iterates
        for key, value in t_opt.state[q].items():
            np.testing.assert_allclose(np.asarray(ng_opt.state[p][key].numpy() if isinstance(ng_opt.state[p][key],
                                                                                              ng.Tensor)
                                                  else ng_opt.state[p][key]), value.numpy(), rtol=1e-12, atol=1e-13,
                                       err_msg=key)


def _state_keys(opt, params):
    return [sorted(opt.state[p]) for p in params if p in opt.state]


@pytest.mark.parametrize("name", ["Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "Rprop", "ASGD", "Adafactor", "SGD",
                                  "Adam", "RMSprop"])
def test_state_dict_structure_matches_torch_and_resumes(name):
    kwargs = dict(lr=0.01, momentum=0.9) if name == "SGD" else dict(lr=0.01)
    if name == "RMSprop":
        kwargs.update(momentum=0.5, centered=True)
    ng_p, t_p, ng_opt, t_opt = _run_pair(getattr(optim, name), getattr(torch.optim, name), kwargs, steps=4,
                                         groups=True)
    saved, t_saved = ng_opt.state_dict(), t_opt.state_dict()
    assert sorted(saved) == sorted(t_saved)
    assert [sorted(g) for g in saved["param_groups"]] == [sorted(g) for g in t_saved["param_groups"]]
    assert [g["params"] for g in saved["param_groups"]] == [g["params"] for g in t_saved["param_groups"]]
    assert {k: sorted(v) for k, v in saved["state"].items()} == {k: sorted(v) for k, v in t_saved["state"].items()}

    # numgrad -> numgrad: an optimizer built afresh resumes exactly where the saved one was
    copies = [ng.nn.Parameter(p.detach().clone()) for p in ng_p]
    fresh = getattr(optim, name)([{"params": copies[:1]}, {"params": copies[1:]}], lr=0.5)
    fresh.load_state_dict(saved)
    # torch -> numgrad: its state (tensors as arrays) loads and resumes like torch itself
    from_torch = [ng.nn.Parameter(ng.tensor(q.detach().numpy())) for q in t_p]
    fresh_from_torch = getattr(optim, name)([{"params": from_torch[:1]}, {"params": from_torch[1:]}])
    fresh_from_torch.load_state_dict({"state": {k: {n: (v.numpy() if isinstance(v, torch.Tensor) else v)
                                             for n, v in s.items()} for k, s in t_saved["state"].items()},
                               "param_groups": t_saved["param_groups"]})
    # numgrad -> torch: numgrad's state (numbers for "step" and the other scalars, tensors as torch tensors) loads
    # into torch, which resumes like numgrad
    to_torch = [torch.nn.Parameter(torch.tensor(p.detach().numpy())) for p in ng_p]
    torch_from_ng = getattr(torch.optim, name)([{"params": to_torch[:1]}, {"params": to_torch[1:]}])
    torch_from_ng.load_state_dict({"state": {k: {n: (torch.tensor(v.numpy()) if isinstance(v, ng.Tensor) else v)
                                                 for n, v in s.items()} for k, s in saved["state"].items()},
                                   "param_groups": saved["param_groups"]})
    rng = np.random.default_rng(1)
    for _ in range(3):
        grads = [rng.standard_normal(p.shape).astype(np.float32) for p in ng_p]
        for ps in (ng_p, copies, from_torch):
            for p, g in zip(ps, grads):
                p.grad = ng.tensor(g)
        for qs in (t_p, to_torch):
            for q, g in zip(qs, grads):
                q.grad = torch.tensor(g)
        for o in (ng_opt, fresh, fresh_from_torch, t_opt, torch_from_ng):
            o.step()
    for a, b in zip(ng_p, copies):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    _assert_same(from_torch, t_p)
    _assert_same(ng_p, to_torch)
    assert fresh.param_groups[1]["lr"] == 0.003


def _expected_error(make_torch):
    try:
        make_torch()
    except Exception as exc:  # noqa: BLE001 - whatever torch raises is what numgrad must raise
        return exc
    raise AssertionError("torch accepted the arguments")


@pytest.mark.parametrize("name, kwargs", [
    ("Adagrad", dict(lr=-1)), ("Adagrad", dict(lr_decay=-0.1)), ("Adagrad", dict(initial_accumulator_value=-1)),
    ("Adagrad", dict(eps=-1.0)), ("Adadelta", dict(lr=-1)), ("Adadelta", dict(rho=1.5)),
    ("Adadelta", dict(weight_decay=-1)), ("Adamax", dict(betas=(0.9, 1.0))), ("Adamax", dict(eps=-1e-8)),
    ("NAdam", dict(momentum_decay=-1.0)), ("NAdam", dict(betas=(-0.1, 0.9))), ("RAdam", dict(lr=-0.5)),
    ("RAdam", dict(weight_decay=-0.5)), ("Rprop", dict(etas=(1.1, 1.2))), ("ASGD", dict(weight_decay=-1)),
    ("LBFGS", dict(lr=-1)), ("Adafactor", dict(d=0.5)), ("Adafactor", dict(beta2_decay=0.1)), ("SGD", dict(lr=0.1, foreach=True, fused=True)),
])
def test_invalid_arguments_raise_torchs_errors(name, kwargs):
    want = _expected_error(lambda: getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(1))], **kwargs))
    with pytest.raises(type(want)) as got:
        getattr(optim, name)([ng.nn.Parameter(ng.ones(1))], **kwargs)
    assert str(got.value) == str(want)


def test_implementation_flags_are_accepted_and_differentiable_is_refused():
    w = ng.nn.Parameter(ng.ones(2))
    opt = optim.Adam([w], lr=0.1, foreach=False, fused=True, capturable=False)
    assert opt.defaults["fused"] is True
    with pytest.raises(NotImplementedError, match="differentiable=True is not supported"):
        optim.SGD([w], lr=0.1, differentiable=True)


def test_named_parameters_are_kept_as_param_names():
    model = ng.nn.Linear(2, 1)
    opt = optim.Adam(model.named_parameters(), lr=0.1)
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]
    with pytest.raises(ValueError, match="all optimizer param groups should be with/without names"):
        opt.add_param_group({"params": [ng.nn.Parameter(ng.ones(1))]})


@pytest.mark.parametrize("opt_name", ["Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "Rprop", "ASGD", "Adafactor"])
def test_reading_the_loss_after_the_step_gives_the_forward_value(opt_name):
    """The step waits for pending readers of the parameters (the write barrier), as SGD/Adam do."""
    for got, want in zip(_step_then_read(ng, opt_name), _step_then_read(torch, opt_name)):
        np.testing.assert_allclose(got, want, rtol=1e-5)


# ---------------------------------------------------------------- LBFGS

def _rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _lbfgs(lib, fn, x0, dtype, steps=2, **kwargs):
    x = lib.nn.Parameter(lib.tensor(np.array(x0, dtype=dtype)))
    opt = lib.optim.LBFGS([x], **kwargs)

    def closure():
        opt.zero_grad()
        loss = fn(x)
        loss.backward()
        return loss

    losses = [float(opt.step(closure).detach()) for _ in range(steps)]
    return x.detach().numpy(), losses, opt


@pytest.mark.parametrize("kwargs", [dict(lr=0.01, max_iter=15), dict(line_search_fn="strong_wolfe"),
                                    dict(line_search_fn="strong_wolfe", history_size=3, max_iter=8)])
def test_lbfgs_on_rosenbrock_matches_torch_float64(kwargs):
    x0 = [-1.5, 2.0, 0.5, -0.5]
    got, got_losses, ng_opt = _lbfgs(ng, _rosenbrock, x0, "float64", **kwargs)
    want, want_losses, t_opt = _lbfgs(torch, _rosenbrock, x0, "float64", **kwargs)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-10)
    mine, theirs = next(iter(ng_opt.state.values())), next(iter(t_opt.state.values()))
    assert sorted(mine) == sorted(theirs)
    assert (mine["func_evals"], mine["n_iter"]) == (theirs["func_evals"], theirs["n_iter"])
    assert len(mine["old_dirs"]) == len(theirs["old_dirs"])


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_on_a_quadratic_matches_torch_float32(line_search_fn):
    A = np.diag(np.arange(1.0, 6.0)).astype(np.float32) + 0.1

    def quadratic(lib):
        return lambda x: 0.5 * (x * (lib.tensor(A) @ x)).sum() - x.sum()

    kwargs = dict(line_search_fn=line_search_fn, lr=1 if line_search_fn else 0.1)
    x0 = [1.0, 2.0, 3.0, 4.0, 5.0]
    # a few iterations agree to float32 rounding; near the minimum the gradients are rounding noise, which each
    # library sums its own way, so there the two only agree on having converged
    got, _, _ = _lbfgs(ng, quadratic(ng), x0, "float32", steps=1, max_iter=4, **kwargs)
    want, _, _ = _lbfgs(torch, quadratic(torch), x0, "float32", steps=1, max_iter=4, **kwargs)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    if line_search_fn:
        solution = np.linalg.solve(A.astype(np.float64), np.ones(5))
        for lib in (ng, torch):
            converged, _, _ = _lbfgs(lib, quadratic(lib), x0, "float32", steps=2, **kwargs)
            np.testing.assert_allclose(converged, solution, rtol=1e-3)


def test_lbfgs_over_several_parameters_and_the_write_barrier():
    rng = np.random.default_rng(0)
    a0, b0 = rng.standard_normal((2, 3)), rng.standard_normal(3)
    results = []
    for lib in (ng, torch):
        a, b = lib.nn.Parameter(lib.tensor(a0)), lib.nn.Parameter(lib.tensor(b0))
        opt = lib.optim.LBFGS([a, b], line_search_fn="strong_wolfe")
        before = a * 2  # lazy in numgrad: reads `a`, which the step then writes

        def closure():
            opt.zero_grad()
            loss = ((a.sum(0) - 1.0) ** 2).sum() + ((b - a[0]) ** 2).sum() + 0.1 * (a ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        np.testing.assert_array_equal(before.detach().numpy(), 2 * a0)
        results.append((a.detach().numpy(), b.detach().numpy()))
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_lbfgs_misuse():
    p = [ng.nn.Parameter(ng.ones(2))]
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        optim.LBFGS([{"params": p}, {"params": [ng.nn.Parameter(ng.ones(1))]}])
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        optim.LBFGS(p, line_search_fn="backtracking")
    with pytest.raises(RuntimeError, match="requires a closure"):
        optim.LBFGS(p).step(None)
    assert optim.LBFGS(p).defaults == dict(lr=1, max_iter=20, max_eval=25, tolerance_grad=1e-7,
                                           tolerance_change=1e-9, history_size=100, line_search_fn=None)


# ---------------------------------------------------------------- schedulers

SCHEDULERS = {
    "LambdaLR": lambda L, o: L.LambdaLR(o, [lambda e: 0.9 ** e, lambda e: 1 / (1 + e)]),
    "MultiplicativeLR": lambda L, o: L.MultiplicativeLR(o, lambda e: 0.95),
    "StepLR": lambda L, o: L.StepLR(o, 3, 0.5),
    "MultiStepLR": lambda L, o: L.MultiStepLR(o, [2, 5, 5, 9], 0.3),
    "ConstantLR": lambda L, o: L.ConstantLR(o, 0.25, 4),
    "LinearLR": lambda L, o: L.LinearLR(o, 0.1, 0.9, 7),
    "ExponentialLR": lambda L, o: L.ExponentialLR(o, 0.9),
    "PolynomialLR": lambda L, o: L.PolynomialLR(o, 8, 2.0),
    "CosineAnnealingLR": lambda L, o: L.CosineAnnealingLR(o, 6, 0.01),
    "CosineAnnealingWarmRestarts": lambda L, o: L.CosineAnnealingWarmRestarts(o, 3, 2, 0.001),
    "OneCycleLR": lambda L, o: L.OneCycleLR(o, [1.0, 0.5], total_steps=25),
    "OneCycleLR-three-phase": lambda L, o: L.OneCycleLR(o, 1.0, epochs=5, steps_per_epoch=5, three_phase=True,
                                                        anneal_strategy="linear"),
    "CyclicLR": lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=3, step_size_down=5, mode="triangular2"),
    "CyclicLR-exp_range": lambda L, o: L.CyclicLR(o, [0.01, 0.02], 0.1, step_size_up=4, mode="exp_range",
                                                  gamma=0.9),
    "SequentialLR": lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.2, total_iters=4), L.CosineAnnealingLR(o, 10),
                                                    L.ExponentialLR(o, 0.8)], milestones=[4, 12]),
    "ChainedScheduler": lambda L, o: L.ChainedScheduler([L.ConstantLR(o, 0.5, 3), L.ExponentialLR(o, 0.9),
                                                         L.StepLR(o, 4, 0.5)]),
}


def _schedule(lib, make, opt_name="SGD", epochs=20):
    params = [lib.nn.Parameter(lib.ones(1)), lib.nn.Parameter(lib.ones(1))]
    extra = dict(momentum=0.9) if opt_name == "SGD" else {}
    opt = getattr(lib.optim, opt_name)([{"params": params[:1]}, {"params": params[1:], "lr": 0.3}], lr=0.5, **extra)
    sched = make(lib.optim.lr_scheduler, opt)
    lrs, momenta = [list(sched.get_last_lr())], []
    for _ in range(epochs):
        opt.step()
        sched.step()
        lrs.append(list(sched.get_last_lr()))
        momenta.append([g.get("momentum", g.get("betas", (None,))[0]) for g in opt.param_groups])
    return lrs, momenta, sched


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_scheduler_matches_torch(name):
    for opt_name in ("SGD", "Adam") if "Cycl" in name else ("SGD",):  # cyclic schedulers also cycle beta1
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a correct loop gets no warning from either library
            got_lrs, got_momenta, mine = _schedule(ng, SCHEDULERS[name], opt_name)
            want_lrs, want_momenta, theirs = _schedule(torch, SCHEDULERS[name], opt_name)
        assert got_lrs == want_lrs
        assert got_momenta == want_momenta
        assert sorted(mine.state_dict()) == sorted(theirs.state_dict())


def test_reduce_lr_on_plateau_matches_torch():
    metrics = [5, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    for kwargs in (dict(patience=2, cooldown=1, factor=0.5, min_lr=0.05),
                   dict(mode="max", threshold_mode="abs", threshold=0.5, patience=1, min_lr=[0.1, 0.0])):
        runs = []
        for lib in (ng, torch):
            opt = lib.optim.SGD([{"params": [lib.nn.Parameter(lib.ones(1))]},
                                 {"params": [lib.nn.Parameter(lib.ones(1))], "lr": 0.3}], lr=1.0)
            sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
            lrs = []
            for m in metrics:
                opt.step()
                sched.step(lib.tensor(float(m)))
                lrs.append(sched.get_last_lr())
            runs.append((lrs, sorted(sched.state_dict())))
        assert runs[0] == runs[1]


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "CosineAnnealingLR", "LinearLR", "ExponentialLR",
                                  "PolynomialLR", "CosineAnnealingWarmRestarts"])
def test_step_with_an_epoch_uses_the_closed_form_and_warns(name):
    results = []
    for lib in (ng, torch):
        params = [lib.nn.Parameter(lib.ones(1)), lib.nn.Parameter(lib.ones(1))]
        opt = lib.optim.SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.3}], lr=0.5)
        sched = SCHEDULERS[name](lib.optim.lr_scheduler, opt)
        lrs = []
        for epoch in (3, 7, 4.5 if name == "CosineAnnealingWarmRestarts" else 5, 11):
            opt.step()
            if name == "CosineAnnealingWarmRestarts":  # fractional epochs are its documented use: no warning
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    sched.step(epoch)
            else:
                with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step\\(\\)` was not necessary"):
                    sched.step(epoch)
            lrs.append(sched.get_last_lr())
        results.append(lrs)
    assert results[0] == results[1]


@pytest.mark.parametrize("name", ["LambdaLR", "CosineAnnealingLR", "OneCycleLR", "SequentialLR", "CyclicLR",
                                  "CosineAnnealingWarmRestarts", "MultiStepLR"])
def test_scheduler_state_dict_round_trip_resumes(name):
    import io

    make = SCHEDULERS[name]
    lrs, _, sched = _schedule(ng, make, epochs=5)
    buffer = io.BytesIO()
    ng.save(sched.state_dict(), buffer)  # through a checkpoint file: MultiStepLR's Counter comes back a dict
    buffer.seek(0)
    saved = ng.load(buffer)
    assert "optimizer" not in saved
    # a fresh optimizer and scheduler, loaded, continue exactly as the original does
    params = [ng.nn.Parameter(ng.ones(1)), ng.nn.Parameter(ng.ones(1))]
    opt = optim.SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.3}], lr=0.5, momentum=0.9)
    fresh = make(lr_scheduler, opt)  # built first: building a scheduler sets the groups' rates
    opt.load_state_dict(sched.optimizer.state_dict())
    fresh.load_state_dict(saved)
    for _ in range(5):
        for s in (sched, fresh):
            s.optimizer.step()
            s.step()
        assert fresh.get_last_lr() == sched.get_last_lr()
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in sched.optimizer.param_groups]
    if name == "MultiStepLR":  # the closed form reads the milestone counts too
        with pytest.warns(UserWarning, match="epoch parameter"):
            fresh.step(9)
            sched.step(9)
        assert fresh.get_last_lr() == sched.get_last_lr()


def test_scheduler_misuse():
    opt = optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=1.0)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`"):
        lr_scheduler.StepLR(opt, 2).step()
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        lr_scheduler.StepLR([], 2)
    with pytest.raises(ValueError, match="Sequential Schedulers expects number of schedulers provided to be one more"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.ExponentialLR(opt, 0.9)], milestones=[3])
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
        lr_scheduler.ChainedScheduler([lr_scheduler.ReduceLROnPlateau(opt)])
    with pytest.raises(ValueError, match="Tried to step 3 times. The specified number of total steps is 2"):
        sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=2)
        for _ in range(3):
            opt.step()
            sched.step()
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        lr_scheduler.CyclicLR(optim.Adagrad([ng.nn.Parameter(ng.ones(1))]), 0.1, 1.0)
    with pytest.raises(KeyError, match="param 'initial_lr' is not specified in param_groups\\[0\\]"):
        lr_scheduler.StepLR(optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=1.0), 2, last_epoch=3)
    for make in (lambda L, o: L.LinearLR(o, start_factor=0), lambda L, o: L.ConstantLR(o, factor=2),
                 lambda L, o: L.ReduceLROnPlateau(o, factor=1.0), lambda L, o: L.ReduceLROnPlateau(o, mode="avg"),
                 lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=0),
                 lambda L, o: L.OneCycleLR(o, max_lr=1.0), lambda L, o: L.LambdaLR(o, [abs, abs])):
        t_opt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1.0, momentum=0.9)
        want = _expected_error(lambda: make(torch.optim.lr_scheduler, t_opt))
        with pytest.raises(type(want)) as got:
            make(lr_scheduler, optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=1.0, momentum=0.9))
        assert str(got.value) == str(want)


def test_optimizer_copies_and_pickles_after_a_scheduler_wrapped_its_step():
    import copy
    import pickle

    w = ng.nn.Parameter(ng.ones(2))
    opt = optim.Adam([w], lr=0.1)
    lr_scheduler.StepLR(opt, 2)
    w.grad = ng.ones(2)
    opt.step()
    for clone in (copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
        p = clone.param_groups[0]["params"][0]
        assert p is not w
        p.grad = ng.ones(2)
        clone.step()  # steps the copy's own parameter, not the original's
        np.testing.assert_allclose(w.detach().numpy(), 0.9, rtol=1e-6)
        assert not np.allclose(p.detach().numpy(), 0.9)
    assert issubclass(lr_scheduler._LRScheduler, lr_scheduler.LRScheduler)


def test_lbfgs_state_dict_is_a_snapshot_and_resumes():
    x0 = [-1.5, 2.0, 0.5, -0.5]
    x, _, opt = _lbfgs(ng, _rosenbrock, x0, "float64", steps=1, line_search_fn="strong_wolfe", max_iter=5)
    saved = opt.state_dict()
    dirs = [d.numpy().copy() for d in saved["state"][0]["old_dirs"]]
    y = ng.nn.Parameter(ng.tensor(x))
    fresh = optim.LBFGS([y], line_search_fn="strong_wolfe", max_iter=5)
    fresh.load_state_dict(saved)
    for o, p in ((opt, opt.param_groups[0]["params"][0]), (fresh, y)):
        def closure(o=o, p=p):
            o.zero_grad()
            loss = _rosenbrock(p)
            loss.backward()
            return loss
        o.step(closure)
    np.testing.assert_array_equal(y.detach().numpy(), opt.param_groups[0]["params"][0].detach().numpy())
    # the saved history did not move with the optimizer's later steps
    assert len(saved["state"][0]["old_dirs"]) == len(dirs)
    for a, b in zip(saved["state"][0]["old_dirs"], dirs):
        np.testing.assert_array_equal(a.numpy(), b)


def test_step_hooks_run_once_in_pytorchs_order_and_can_replace_the_arguments():
    from numgrad.optim import optimizer as optimizer_module

    calls = []
    w = ng.nn.Parameter(ng.ones(2))
    opt = optim.AdamW([w], lr=0.1)  # AdamW.step is Adam's (a subclass of a subclass): hooks still run once
    handles = [optimizer_module.register_optimizer_step_pre_hook(lambda o, a, k: calls.append("global pre")),
               opt.register_step_pre_hook(lambda o, a, k: calls.append("pre")),
               opt.register_step_post_hook(lambda o, a, k: calls.append(("post", a, k))),
               optimizer_module.register_optimizer_step_post_hook(lambda o, a, k: calls.append("global post"))]

    def swap_closure(o, args, kwargs):
        return (), {"closure": lambda: 42.0}

    handles.append(opt.register_step_pre_hook(swap_closure))
    w.grad = ng.ones(2)
    assert opt.step() == 42.0
    assert [c if isinstance(c, str) else c[0] for c in calls] == ["global pre", "pre", "post", "global post"]
    assert calls[2][1] == () and set(calls[2][2]) == {"closure"}  # post hooks see the replaced arguments
    for h in handles:
        h.remove()
    calls.clear()
    opt.step()
    assert calls == []
    opt.register_step_pre_hook(lambda o, a, k: "not a pair")
    with pytest.raises(RuntimeError, match="must return None or a tuple of \\(new_args, new_kwargs\\)"):
        opt.step()


# ---------------------------------------------------------------- swa_utils

def _bn_model(lib):
    return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.BatchNorm1d(4), lib.nn.ReLU(), lib.nn.Linear(4, 2))


def _set_state(model, arrays, lib):
    with lib.no_grad():
        for t, a in zip(list(model.parameters()) + list(model.buffers()), arrays):
            t.copy_(lib.tensor(a))


@pytest.mark.parametrize("kind", ["swa", "ema-multi", "ema", "swa-buffers"])
def test_averaged_model_matches_torch(kind):
    from numgrad.optim import swa_utils

    shapes = [(4, 3), (4,), (4,), (4,), (2, 4), (2,)]
    x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    results = []
    for lib, su in ((ng, swa_utils), (torch, torch.optim.swa_utils)):
        model = _bn_model(lib)
        kwargs = {"swa": {}, "ema-multi": dict(multi_avg_fn=su.get_ema_multi_avg_fn(0.8)),
                  "ema": dict(avg_fn=su.get_ema_avg_fn(0.7)), "swa-buffers": dict(use_buffers=True)}[kind]
        averaged = su.AveragedModel(model, **kwargs)
        gen = np.random.default_rng(0)
        for _ in range(4):
            params = [gen.standard_normal(s).astype(np.float32) for s in shapes]
            buffers = [gen.standard_normal(4).astype(np.float32), gen.random(4).astype(np.float32) + 0.5,
                       np.array(gen.integers(0, 10))]
            _set_state(model, params + buffers, lib)
            averaged.update_parameters(model)
        averaged.eval()
        results.append([t.detach().numpy() for t in averaged.state_dict().values()]
                       + [averaged(lib.tensor(x)).detach().numpy()])
    assert len(results[0]) == len(results[1])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_update_bn_and_swalr_match_torch():
    from numgrad.optim import swa_utils

    data = [np.random.default_rng(i).standard_normal((6, 3)).astype(np.float32) for i in range(3)]
    stats = []
    for lib, su in ((ng, swa_utils), (torch, torch.optim.swa_utils)):
        model = _bn_model(lib)
        _set_state(model, [np.full(s, 0.1 * (i + 1), np.float32) for i, s in enumerate([(4, 3), (4,), (4,), (4,),
                                                                                         (2, 4), (2,)])], lib)
        model.eval()
        su.update_bn([(lib.tensor(d), 0) for d in data], model)
        assert not model.training and model[1].momentum == 0.1
        stats.append([model[1].running_mean.numpy(), model[1].running_var.numpy(),
                      int(model[1].num_batches_tracked)])
    np.testing.assert_allclose(stats[0][0], stats[1][0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(stats[0][1], stats[1][1], rtol=1e-5, atol=1e-7)
    assert stats[0][2] == stats[1][2] == 3

    for kwargs in (dict(swa_lr=0.05, anneal_epochs=4), dict(swa_lr=[0.05, 0.01], anneal_epochs=3,
                                                            anneal_strategy="linear"), dict(swa_lr=0.2, anneal_epochs=0)):
        runs = []
        for lib, su in ((ng, swa_utils), (torch, torch.optim.swa_utils)):
            params = [lib.nn.Parameter(lib.ones(1)), lib.nn.Parameter(lib.ones(1))]
            opt = lib.optim.SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.3}], lr=0.5)
            cosine = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)
            swa_sched = su.SWALR(opt, **kwargs)
            lrs = []
            for epoch in range(12):
                opt.step()
                (swa_sched if epoch >= 5 else cosine).step()
                lrs.append([g["lr"] for g in opt.param_groups])
            runs.append((lrs, sorted(swa_sched.state_dict())))
        assert runs[0] == runs[1]


def test_training_loop_of_the_mnist_example_with_adadelta_and_steplr_matches_torch():
    """The optimizer/scheduler loop of PyTorch's examples/mnist (Adadelta(lr=1.0), StepLR(step_size=1, gamma=0.7)),
    on a small MLP and synthetic data, with only the import changed."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 10)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    w1, w2 = (rng.standard_normal((16, 10)) * 0.3).astype(np.float32), (rng.standard_normal((3, 16)) * 0.3).astype(
        np.float32)
    histories = []
    for lib in (ng, torch):
        model = lib.nn.Sequential(lib.nn.Linear(10, 16), lib.nn.ReLU(), lib.nn.Linear(16, 3))
        with lib.no_grad():
            model[0].weight.copy_(lib.tensor(w1))
            model[2].weight.copy_(lib.tensor(w2))
            model[0].bias.zero_()
            model[2].bias.zero_()
        optimizer = lib.optim.Adadelta(model.parameters(), lr=1.0)
        scheduler = lib.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
        losses = []
        for epoch in range(3):
            for batch in range(4):
                data, target = lib.tensor(x[batch * 8:(batch + 1) * 8]), lib.tensor(y[batch * 8:(batch + 1) * 8])
                optimizer.zero_grad()
                output = lib.nn.functional.log_softmax(model(data), dim=1)
                loss = lib.nn.functional.nll_loss(output, target)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            scheduler.step()
        histories.append((losses, scheduler.get_last_lr()))
    np.testing.assert_allclose(histories[0][0], histories[1][0], rtol=1e-5)
    assert histories[0][1] == histories[1][1]


@pytest.mark.parametrize("name, group_options", [("RAdam", dict(betas=(0.8, 0.99), weight_decay=0.1)),
                                                 ("Adagrad", dict(lr=0.05, initial_accumulator_value=0.2)),
                                                 ("NAdam", dict(momentum_decay=0.01, decoupled_weight_decay=True,
                                                                weight_decay=0.1))])
def test_param_group_added_mid_training_with_its_own_options(name, group_options):
    rng = np.random.default_rng(0)
    a0, b0 = rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    results = []
    for lib in (ng, torch):
        a, b = lib.nn.Parameter(lib.tensor(a0)), lib.nn.Parameter(lib.tensor(b0))
        opt = getattr(lib.optim, name)([a], lr=0.01)
        gen = np.random.default_rng(1)
        for step in range(6):
            if step == 2:
                opt.add_param_group({"params": [b], **group_options})
            for p in (a, b):
                p.grad = lib.tensor(gen.standard_normal(tuple(p.shape)).astype(np.float32))
            opt.step()
        results.append((a.detach().numpy(), b.detach().numpy(), sorted(opt.param_groups[1].items(), key=str)[1:]))
    for got, want in zip(results[0][:2], results[1][:2]):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
    assert [k for k, _ in results[0][2]] == [k for k, _ in results[1][2]]


def test_state_dict_hooks_as_in_torch():
    results = []
    for lib in (ng, torch):
        calls = []
        w = lib.nn.Parameter(lib.ones(2))
        opt = lib.optim.SGD([w], lr=0.1, momentum=0.9)
        opt.register_state_dict_pre_hook(lambda o: calls.append("pre"))
        opt.register_state_dict_pre_hook(lambda o: calls.append("pre-first"), prepend=True)
        opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
        saved = opt.state_dict()

        def rename_lr(o, sd):
            calls.append(sorted(sd))
            sd = dict(sd)
            sd.pop("extra")
            sd["param_groups"] = [{**g, "lr": 0.5} for g in sd["param_groups"]]
            return sd

        handle = opt.register_load_state_dict_pre_hook(rename_lr)
        opt.register_load_state_dict_post_hook(lambda o: calls.append(o.param_groups[0]["lr"]))
        opt.load_state_dict(saved)
        handle.remove()
        results.append((calls, sorted(saved)))
    assert results[0] == results[1]
