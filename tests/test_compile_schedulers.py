"""ng.compile and learning rates: a scheduler stepped inside the compiled step, and a step reading the rates.

A scheduler's ``step()`` inside the step is recorded and called again on every replay (its counters and the
groups' learning rates change, and the optimizer updates after it read them).  A step whose own code reads the
rates (``opt.param_groups[0]["lr"]``, ``sched.get_last_lr()``) is guarded on them, and a step that changes a rate
itself (not through a scheduler) runs eagerly.  Compiled and eager runs must agree to the bit.
"""
from __future__ import annotations

import os
import sysconfig
import types

import numpy as np
import pytest

import numgrad as ng
from numgrad import nn
from numgrad.compiler import GraphBreak

SCHEDULERS = {
    "StepLR": lambda opt: ng.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
    "CosineAnnealingLR": lambda opt: ng.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5),
    "OneCycleLR": lambda opt: ng.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=30),
    "LambdaLR": lambda opt: ng.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 0.9 ** epoch),
    "SequentialLR": lambda opt: ng.optim.lr_scheduler.SequentialLR(
        opt, [ng.optim.lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=3),
              ng.optim.lr_scheduler.ExponentialLR(opt, gamma=0.8)], milestones=[3]),
    # also cycles SGD's momentum, which the update reads on every replay like the rate
    "CyclicLR": lambda opt: ng.optim.lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=3),
    # a Python number as the metric: the same on every call, so the recorded call's is replayed
    "ReduceLROnPlateau": lambda opt: ng.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5),
}
OPTIMIZERS = {
    "SGD": lambda params: ng.optim.SGD(params, lr=0.1, momentum=0.9),
    "Adam": lambda params: ng.optim.Adam(params, lr=0.05),
}
RNG = np.random.default_rng(0)
BATCHES = [(ng.tensor(RNG.standard_normal((4, 3)).astype(np.float32)), ng.tensor(RNG.integers(0, 2, 4)))
           for _ in range(10)]


def _training(scheduler: str, optimizer: str):
    """A model, its optimizer and scheduler, and a step that also steps the scheduler."""
    ng.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    opt = OPTIMIZERS[optimizer](model.parameters())
    sched = SCHEDULERS[scheduler](opt)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if isinstance(sched, ng.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(1.0)
        else:
            sched.step()
        return loss

    return model, opt, sched, step


def _state(model, opt, sched) -> tuple:
    params = [p.detach().numpy().copy() for p in model.parameters()]
    return params, [g["lr"] for g in opt.param_groups], sched.last_epoch


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_a_scheduler_stepped_inside_the_step_is_replayed_and_matches_eager_to_the_bit(scheduler, optimizer):
    eager = _training(scheduler, optimizer)
    compiled = _training(scheduler, optimizer)
    step = ng.compile(compiled[3])
    for x, y in BATCHES:
        want = eager[3](x, y).item()
        got = step(x, y).item()
        assert np.float32(got).tobytes() == np.float32(want).tobytes()
    assert step.replays == len(BATCHES) - 3, step.explain()
    want_params, want_lrs, want_epoch = _state(*eager[:3])
    got_params, got_lrs, got_epoch = _state(*compiled[:3])
    assert got_lrs == want_lrs and got_epoch == want_epoch
    for a, b in zip(got_params, want_params):
        assert a.tobytes() == b.tobytes()
    assert f"{type(compiled[2]).__name__}.step (Python: the scheduler sets the learning rates again)" in \
        step.explain()


def test_a_scheduler_stepped_outside_a_step_that_reads_the_rate_is_a_guard():
    """The step's own code reads the learning rate: a replay with a stale rate baked in would be wrong."""
    w = nn.Parameter(ng.ones(3))
    opt = ng.optim.SGD([w], lr=0.1)
    sched = ng.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)

    @ng.compile
    def scaled(x):
        with ng.no_grad():
            return (w * x).sum() * opt.param_groups[0]["lr"]

    for _ in range(12):
        got = scaled(ng.ones(3)).item()
        assert got == np.float32(np.float32(3.0) * np.float32(opt.param_groups[0]["lr"])), scaled.explain()
        opt.step()  # (w has no gradient: nothing changes)
        sched.step()
    assert scaled.replays > 0  # each rate is a variant of its own, replayed while the rate lasts


def test_a_step_reading_get_last_lr_while_stepping_its_scheduler_runs_eagerly():
    w = nn.Parameter(ng.ones(3))
    opt = ng.optim.SGD([w], lr=0.1)
    sched = ng.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)

    @ng.compile
    def step(x):
        with ng.no_grad():
            out = (w * x).sum() * sched.get_last_lr()[0]
        opt.step()
        sched.step()
        return out

    for k in range(6):
        assert step(ng.ones(3)).item() == np.float32(np.float32(3.0) * np.float32(0.1 * 0.5 ** k))
    assert step.replays == 0
    assert "the step changes Python state (SGD.param_groups[0]['lr'])" in step.fallback_reason


# an installed library's function changing the optimizer's settings: ng.compile does not walk library code, so only
# the recorded call shows the change
_LIBRARY = types.ModuleType("library")
exec(compile("def set_momentum(opt, value):\n    for group in opt.param_groups:\n        group['momentum'] = value",
             os.path.join(sysconfig.get_paths()["purelib"], "library.py"), "exec"), _LIBRARY.__dict__)


def test_a_step_that_sets_the_rate_itself_runs_eagerly_with_the_reason():
    ng.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = ng.optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        model(x).sum().backward()
        _LIBRARY.set_momentum(opt, 0.5)
        opt.step()

    compiled = ng.compile(step)
    for x, _ in BATCHES[:6]:
        opt.param_groups[0]["momentum"] = 0.0  # the step changes it back on every call: a replay would not
        compiled(x)
    assert compiled.replays == 0
    assert ("the step changes SGD.param_groups[0]['momentum'] itself, which a replay would not do"
            in compiled.fallback_reason)


def test_a_scheduler_given_a_tensor_runs_eagerly_or_raises_under_fullgraph():
    w = nn.Parameter(ng.ones(3))
    opt = ng.optim.SGD([w], lr=0.1)
    sched = ng.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)

    def step(x):
        opt.zero_grad()
        loss = (w * x).sum()
        loss.backward()
        opt.step()
        sched.step(loss.detach())
        return loss.detach()

    compiled = ng.compile(step)
    for _ in range(4):
        compiled(ng.ones(3))
    assert compiled.replays == 0
    assert "ReduceLROnPlateau.step is given a tensor" in compiled.fallback_reason
    strict = ng.compile(step, fullgraph=True)
    strict(ng.ones(3))  # the eager warm-up call
    with pytest.raises(GraphBreak, match="ReduceLROnPlateau.step is given a tensor"):
        strict(ng.ones(3))


def test_a_scheduler_stepped_with_a_changing_epoch_number_is_not_replayed():
    w = nn.Parameter(ng.ones(3))
    opt = ng.optim.SGD([w], lr=0.1)
    sched = ng.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    calls = iter(range(100))

    @ng.compile
    def step(x):
        opt.zero_grad()
        (w * x).sum().backward()
        opt.step()
        with pytest.warns(UserWarning):  # PyTorch's deprecation warning of step(epoch)
            sched.step(next(calls))

    for _ in range(5):
        step(ng.ones(3))
    assert step.replays == 0
    assert "is called with other arguments on consecutive calls" in step.fallback_reason
