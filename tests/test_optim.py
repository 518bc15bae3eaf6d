"""Optimizers and schedulers against torch.optim over 20 steps on the same weights and gradients."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng
import numgrad.nn  # noqa: F401
import numgrad.optim as optim
from numgrad.optim import lr_scheduler

STEPS = 20


def _run_pair(ng_cls, torch_cls, kwargs, dtype="float32", steps=STEPS, groups=False):
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (5,)]
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ng_params = [ng.nn.Parameter(ng.tensor(a)) for a in init]
    t_params = [torch.nn.Parameter(torch.tensor(a)) for a in init]
    if groups:
        ng_opt = ng_cls([{"params": ng_params[:1]}, {"params": ng_params[1:], "lr": 0.003}], **kwargs)
        t_opt = torch_cls([{"params": t_params[:1]}, {"params": t_params[1:], "lr": 0.003}], **kwargs)
    else:
        ng_opt = ng_cls(ng_params, **kwargs)
        t_opt = torch_cls(t_params, **kwargs)
    for _ in range(steps):
        noise = [rng.standard_normal(s).astype(dtype) for s in shapes]
        for p, q, n in zip(ng_params, t_params, noise):
            # the gradient depends on each library's own current weights, so drift would compound
            p.grad = ng.tensor(0.5 * p.detach().numpy() + n)
            q.grad = torch.tensor(0.5 * q.detach().numpy() + n)
        ng_opt.step()
        t_opt.step()
    return ng_params, t_params, ng_opt, t_opt


def _assert_same(ng_params, t_params, rtol=2e-5, atol=2e-6):
    for p, q in zip(ng_params, t_params):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=rtol, atol=atol)


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01),
    dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1),
    dict(lr=0.05, momentum=0.5, maximize=True),
]


@pytest.mark.parametrize("kwargs", SGD_CASES)
def test_sgd_matches_torch(kwargs):
    _assert_same(*_run_pair(optim.SGD, torch.optim.SGD, kwargs)[:2])


ADAM_CASES = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.01, maximize=True),
]


@pytest.mark.parametrize("kwargs", ADAM_CASES)
def test_adam_matches_torch(kwargs):
    _assert_same(*_run_pair(optim.Adam, torch.optim.Adam, kwargs)[:2])


@pytest.mark.parametrize("kwargs", [dict(lr=0.01), dict(lr=0.01, weight_decay=0.1, amsgrad=True)])
def test_adamw_matches_torch(kwargs):
    _assert_same(*_run_pair(optim.AdamW, torch.optim.AdamW, kwargs)[:2])


RMS_CASES = [
    dict(lr=0.01),
    dict(lr=0.01, alpha=0.9, weight_decay=0.1, momentum=0.5),
    dict(lr=0.01, centered=True, momentum=0.9),
]


@pytest.mark.parametrize("kwargs", RMS_CASES)
def test_rmsprop_matches_torch(kwargs):
    _assert_same(*_run_pair(optim.RMSprop, torch.optim.RMSprop, kwargs)[:2])


def test_float64_and_param_groups():
    ng_p, t_p, ng_opt, _ = _run_pair(optim.Adam, torch.optim.Adam, dict(lr=0.01), dtype="float64", groups=True)
    _assert_same(ng_p, t_p, rtol=1e-12, atol=1e-12)
    assert [g["lr"] for g in ng_opt.param_groups] == [0.01, 0.003]


def test_step_is_in_place_and_bumps_version():
    w = ng.nn.Parameter(ng.ones(3))
    data = w._data
    version = w._version[0]
    opt = optim.SGD([w], lr=0.1)
    w.grad = ng.ones(3)
    opt.step()
    assert w._data is data
    assert w._version[0] == version + 1
    np.testing.assert_allclose(w.detach().numpy(), 0.9)


def test_parameters_without_grad_are_skipped_and_zero_grad():
    a, b = ng.nn.Parameter(ng.ones(2)), ng.nn.Parameter(ng.ones(2))
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    a.grad = ng.ones(2)
    opt.step()
    np.testing.assert_allclose(b.detach().numpy(), 1.0)
    assert b not in opt.state
    opt.zero_grad(set_to_none=False)
    np.testing.assert_allclose(a.grad.numpy(), 0.0)
    opt.zero_grad()
    assert a.grad is None


def test_state_dict_round_trip_resumes_identically():
    ng_p, t_p, ng_opt, t_opt = _run_pair(optim.Adam, torch.optim.Adam, dict(lr=0.01), steps=5)
    saved = ng_opt.state_dict()
    assert saved["param_groups"][0]["params"] == [0, 1]
    assert set(saved["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    np.testing.assert_allclose(saved["state"][0]["exp_avg"].numpy(), t_opt.state_dict()["state"][0]["exp_avg"].numpy(),
                               rtol=1e-5, atol=1e-7)
    fresh = optim.Adam(ng_p, lr=0.5)
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == 0.01
    g = [np.full(p.shape, 0.1, dtype=np.float32) for p in ng_p]
    for p, q, gi in zip(ng_p, t_p, g):
        p.grad, q.grad = ng.tensor(gi), torch.tensor(gi)
    fresh.step()
    t_opt.step()
    _assert_same(ng_p, t_p)


def test_load_state_dict_rejects_mismatched_groups():
    opt = optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=0.1)
    other = optim.SGD([ng.nn.Parameter(ng.ones(1)), ng.nn.Parameter(ng.ones(1))], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        opt.load_state_dict(other.state_dict())


@pytest.mark.parametrize("make, match", [
    (lambda p: optim.SGD(p, lr=-1), "Invalid learning rate: -1"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), "Invalid momentum value"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.Adam(p, eps=-1.0), "Invalid epsilon value"),
    (lambda p: optim.RMSprop(p, weight_decay=-1.0), "Invalid weight_decay value"),
])
def test_invalid_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make([ng.nn.Parameter(ng.ones(1))])


def test_invalid_parameter_lists():
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        optim.SGD([1.0], lr=0.1)
    x = ng.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([x * 2], lr=0.1)


def test_training_loop_with_model_decreases_loss():
    ng.manual_seed(0)
    model = ng.nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = ng.randn(32, 3)
    y = (x * ng.tensor([1.0, -2.0, 0.5])).sum(1, keepdim=True)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]


def _scheduled_lrs(ng_make, torch_make, epochs=12):
    ng_opt = optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=0.5)
    t_opt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.5)
    ng_s, t_s = ng_make(ng_opt), torch_make(t_opt)
    got, want = [], []
    for _ in range(epochs):
        ng_opt.step()
        t_opt.step()
        ng_s.step()
        t_s.step()
        got.append(ng_s.get_last_lr()[0])
        want.append(t_s.get_last_lr()[0])
    return got, want


@pytest.mark.parametrize("name, ng_make, torch_make", [
    ("step", lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    ("cosine", lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=0.01)),
    ("lambda", lambda o: lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + e)),
     lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + e))),
])
def test_schedulers_match_torch(name, ng_make, torch_make):
    got, want = _scheduled_lrs(ng_make, torch_make)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_scheduler_state_dict():
    opt = optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=1.0)
    s = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    s.step()
    state = s.state_dict()
    assert state["last_epoch"] == 1 and "optimizer" not in state
    s2 = lr_scheduler.StepLR(optim.SGD([ng.nn.Parameter(ng.ones(1))], lr=1.0), step_size=1, gamma=0.5)
    s2.load_state_dict(state)
    assert s2.last_epoch == 1
