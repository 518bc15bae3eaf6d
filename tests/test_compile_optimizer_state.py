"""ng.compile and an optimizer's own Python state: what a step changes in it outside ``Optimizer._update``.

A replay runs the captured kernels and calls each recorded ``Optimizer._update`` (and scheduler ``step()``) again;
an optimizer subclass whose ``step()`` keeps gradients in a list, counts its calls in ``self.state[p]`` or on the
object, or writes into its parameter groups would do that only on the recorded calls.  Such a step runs eagerly,
with a reason naming the optimizer and what changed (``GraphBreak`` under ``fullgraph=True``), while numgrad's own
optimizers, whose state changes only inside ``_update``, still replay (and the checks of a capture, which call
``_update`` again, leave what it changes as eager code left it).  Compiled and eager runs must agree to the bit.
"""
from __future__ import annotations

import numpy as np
import pytest

import numgrad as ng
from numgrad import nn
from numgrad.compiler import GraphBreak

RNG = np.random.default_rng(0)
BATCHES = [ng.tensor(RNG.standard_normal((3, 4)).astype(np.float32)) for _ in range(8)]


# ------------------------------------------------------------------ optimizers with Python side effects in step()
class KeepingSGD(ng.optim.SGD):
    """Keeps every gradient it stepped with in its per-parameter state (the reported reproducer)."""

    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.state[p].setdefault("grads", []).append(p.grad)
        return super().step(closure)


class StateCountingSGD(ng.optim.SGD):
    """Counts its steps as a Python int in each parameter's state, which no kernel reads."""

    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["calls"] = self.state[p].get("calls", 0) + 1
        return super().step(closure)


class CountingAdam(ng.optim.Adam):
    """Counts its steps on the optimizer object."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.calls = 0

    def step(self, closure=None):
        self.calls += 1
        return super().step(closure)


class LoggingSGD(ng.optim.SGD):
    """Appends to a list and counts in a dict held by the optimizer object."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.log: list = []
        self.counts: dict = {}

    def step(self, closure=None):
        if self.log_into == "list":
            self.log.append(self.param_groups[0]["lr"])
        else:
            self.counts["steps"] = self.counts.get("steps", 0) + 1
        return super().step(closure)


class ArrayCountingSGD(ng.optim.SGD):
    """Counts its steps in a NumPy array held by the optimizer object (a change in place, not a rebinding)."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.steps = np.zeros(2, dtype=np.int64)

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


class GroupWritingSGD(ng.optim.SGD):
    """Writes into its parameter groups: a list it appends to, or a number it counts."""

    def step(self, closure=None):
        for group in self.param_groups:
            if self.write == "list":
                group.setdefault("history", []).append(group["lr"])
            else:
                group["calls"] = group.get("calls", 0) + 1
        return super().step(closure)


def _bits(t) -> bytes:
    return t.detach().numpy().tobytes()


def _make(make_optimizer, scheduler=None, touch=None):
    """A fresh model (seeded), its optimizer and a training step, compiled or not."""
    ng.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2))
    opt = make_optimizer(model.parameters())
    sched = scheduler(opt) if scheduler is not None else None

    def step(x):
        opt.zero_grad()
        loss = model(x).pow(2).sum()
        loss.backward()
        opt.step()
        if touch is not None:
            touch(opt, model)
        if sched is not None:
            sched.step()
        return loss

    return model, opt, step


def _run(make_optimizer, compiled: bool, scheduler=None, touch=None, **options):
    model, opt, step = _make(make_optimizer, scheduler, touch)
    fn = ng.compile(step, **options) if compiled else step
    losses = [fn(x).detach().numpy().copy() for x in BATCHES]
    return model, opt, fn, losses


def _assert_same_as_eager(make_optimizer, scheduler=None, touch=None):
    """Run the step eagerly and compiled from the same seed; the losses and the parameters agree to the bit.
    Returns (eager optimizer, compiled optimizer, compiled step)."""
    em, eo, _, eager_losses = _run(make_optimizer, False, scheduler, touch)
    cm, co, compiled, compiled_losses = _run(make_optimizer, True, scheduler, touch)
    for a, b in zip(eager_losses, compiled_losses):
        assert a.tobytes() == b.tobytes()
    for a, b in zip(em.parameters(), cm.parameters()):
        assert _bits(a) == _bits(b)
    return eo, co, compiled


def _tagged(cls, **attributes):
    def make(params):
        opt = cls(params, lr=0.1)
        for k, v in attributes.items():
            setattr(opt, k, v)
        return opt
    return make


def test_the_reproducer_a_step_override_keeping_gradients_runs_eagerly_like_eager():
    eo, co, compiled = _assert_same_as_eager(lambda params: KeepingSGD(params, lr=0.1))
    weight_e, weight_c = eo.param_groups[0]["params"][0], co.param_groups[0]["params"][0]
    assert len(eo.state[weight_e]["grads"]) == len(co.state[weight_c]["grads"]) == len(BATCHES)
    for a, b in zip(eo.state[weight_e]["grads"], co.state[weight_c]["grads"]):
        assert _bits(a) == _bits(b)
    assert compiled.replays == 0
    assert compiled.fallback_reason == (
        "the step changes KeepingSGD's Python state outside KeepingSGD._update (the length of "
        "KeepingSGD.state[param_groups[0]['params'][0]]['grads'], from 1 to 2), which a replay would not change (it "
        "runs only the captured kernels and the KeepingSGD._update calls): keep that bookkeeping out of the "
        "compiled step (do it before or after the call, or call optimizer.step() outside the compiled function)")


@pytest.mark.parametrize("make_optimizer, changed, summary", [
    (lambda params: StateCountingSGD(params, lr=0.1),
     "StateCountingSGD.state[param_groups[0]['params'][0]]['calls'], from 1 to 2",
     lambda opt: [opt.state[p]["calls"] for p in opt.param_groups[0]["params"]]),
    (lambda params: CountingAdam(params, lr=0.05),
     "CountingAdam.calls, from 1 to 2",
     lambda opt: opt.calls),
    (_tagged(LoggingSGD, log_into="list"),
     "the length of LoggingSGD.log, from 1 to 2",
     lambda opt: opt.log),
    (_tagged(LoggingSGD, log_into="dict"),
     "LoggingSGD.counts['steps'], from 1 to 2",
     lambda opt: opt.counts),
    (_tagged(GroupWritingSGD, write="list"),
     "the length of GroupWritingSGD.param_groups[0]['history'], from 1 to 2",
     lambda opt: opt.param_groups[0]["history"]),
    (lambda params: ArrayCountingSGD(params, lr=0.1),
     "the contents of ArrayCountingSGD.steps (changed in place)",
     lambda opt: opt.steps.tolist()),
], ids=["int-in-state", "counter-on-object", "list-on-object", "dict-on-object", "list-in-group", "numpy-array"])
def test_a_step_override_changing_python_state_runs_eagerly_with_the_reason(make_optimizer, changed, summary):
    eo, co, compiled = _assert_same_as_eager(make_optimizer)
    assert summary(eo) == summary(co)
    assert compiled.replays == 0
    name = changed.removeprefix("the length of ").removeprefix("the contents of ").split(".")[0]
    assert compiled.fallback_reason.startswith(
        f"the step changes {name}'s Python state outside {name}._update ({changed}), which a replay would not "
        "change")
    assert "keep that bookkeeping out of the compiled step" in compiled.fallback_reason


def test_a_number_written_into_a_group_is_the_rate_check_s_and_with_a_scheduler_the_optimizer_watch_s():
    # no scheduler in the step: the group's numbers are compared as learning rates are (``_unexplained_rate_change``)
    eo, co, compiled = _assert_same_as_eager(_tagged(GroupWritingSGD, write="number"))
    assert eo.param_groups[0]["calls"] == co.param_groups[0]["calls"] == len(BATCHES)
    assert compiled.replays == 0
    assert "the step changes GroupWritingSGD.param_groups[0]['calls'] itself" in compiled.fallback_reason

    # a scheduler stepped in the step explains the rate it sets, not the count the override keeps
    def scheduler(opt):
        return ng.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    eo, co, compiled = _assert_same_as_eager(_tagged(GroupWritingSGD, write="number"), scheduler)
    assert eo.param_groups[0]["calls"] == co.param_groups[0]["calls"] == len(BATCHES)
    assert [g["lr"] for g in eo.param_groups] == [g["lr"] for g in co.param_groups]
    assert compiled.replays == 0
    assert ("GroupWritingSGD's Python state outside GroupWritingSGD._update "
            "(GroupWritingSGD.param_groups[0]['calls'], from 1 to 2)") in compiled.fallback_reason


def test_the_step_s_own_code_changing_the_optimizer_state_runs_eagerly():
    def touch(opt, model):
        state = opt.state[model[0].weight]
        state["seen"] = state.get("seen", 0) + 1

    eo, co, compiled = _assert_same_as_eager(lambda params: ng.optim.SGD(params, lr=0.1, momentum=0.9), touch=touch)
    assert eo.state[eo.param_groups[0]["params"][0]]["seen"] == len(BATCHES)
    assert co.state[co.param_groups[0]["params"][0]]["seen"] == len(BATCHES)
    assert compiled.replays == 0
    assert "SGD.state[param_groups[0]['params'][0]]['seen'], from 1 to 2" in compiled.fallback_reason


def test_fullgraph_raises_graph_break_with_the_reason():
    _, _, step = _make(lambda params: KeepingSGD(params, lr=0.1))
    compiled = ng.compile(step, fullgraph=True)
    with pytest.raises(GraphBreak, match=r"the step changes KeepingSGD's Python state outside KeepingSGD\._update "
                                         r"\(the length of KeepingSGD\.state\[param_groups\[0\]\['params'\]\[0\]\]"
                                         r"\['grads'\]"):
        for x in BATCHES:
            compiled(x)


# ------------------------------------------------------------------ what a replay repeats still replays
class PlainOverrideAdam(ng.optim.Adam):
    """A ``step()`` override without side effects of its own."""

    def step(self, closure=None):
        return super().step(closure)


class UpdateCountingSGD(ng.optim.SGD):
    """Counts in the parameter's state inside ``_update``, which a replay calls again."""

    def _update(self, group, p, g, state, parallel):
        state["updates"] = state.get("updates", 0) + 1
        super()._update(group, p, g, state, parallel)


class DecayingSGD(ng.optim.SGD):
    """Counts its updates on the object inside ``_update`` and decays its rate by that count: the verifying replays
    of a capture call ``_update`` too, and once left the count (and so every later rate) ahead of eager's."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.updates = 0

    def _update(self, group, p, g, state, parallel):
        self.updates += 1
        rate = group["lr"]
        group["lr"] = rate / (1 + 0.1 * self.updates)
        try:
            super()._update(group, p, g, state, parallel)
        finally:
            group["lr"] = rate


class HistorySGD(ng.optim.SGD):
    """Keeps a history inside ``_update``, which a replay calls again: a list and a dict on the object, a list in the
    parameter's state, a count in a NumPy array and a list rebound to a longer one.  The verifying replays of a
    capture call ``_update`` too, and once left each history longer than eager's."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.history: list = []
        self.by_shape: dict = {}
        self.counts = np.zeros(3)
        self.rebound: list = []

    def _update(self, group, p, g, state, parallel):
        self.history.append(len(self.history))
        self.by_shape.setdefault(tuple(p.shape), []).append(len(self.history))
        state.setdefault("norms", []).append(len(self.history))
        self.counts += 1
        self.rebound = self.rebound + [len(self.rebound)]
        super()._update(group, p, g, state, parallel)


def test_containers_an_update_appends_to_end_as_eager_left_them():
    eo, co, compiled = _assert_same_as_eager(lambda params: HistorySGD(params, lr=0.1))
    assert compiled.replays > 0 and compiled.fallback_reason is None
    updates = len(BATCHES) * len(eo.param_groups[0]["params"])
    assert eo.history == co.history == eo.rebound == co.rebound == list(range(updates))
    assert eo.by_shape == co.by_shape
    assert eo.counts.tolist() == co.counts.tolist() == [updates] * 3
    for pe, pc in zip(eo.param_groups[0]["params"], co.param_groups[0]["params"]):
        assert eo.state[pe]["norms"] == co.state[pc]["norms"]


@pytest.mark.parametrize("make_optimizer", [
    lambda params: ng.optim.SGD(params, lr=0.1, momentum=0.9),
    lambda params: ng.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    lambda params: ng.optim.Adam(params, lr=0.05),
    lambda params: ng.optim.AdamW(params, lr=0.05, weight_decay=0.1),
    lambda params: PlainOverrideAdam(params, lr=0.05),
    lambda params: UpdateCountingSGD(params, lr=0.1, momentum=0.5),
    lambda params: DecayingSGD(params, lr=0.1),
], ids=["SGD-momentum", "SGD-nesterov", "Adam", "AdamW", "Adam-plain-override", "SGD-counting-in-update",
        "SGD-decaying-by-its-update-count"])
def test_numgrad_optimizers_still_replay_bit_for_bit(make_optimizer):
    eo, co, compiled = _assert_same_as_eager(make_optimizer)
    assert compiled.replays > 0, compiled.fallback_reason
    assert compiled.fallback_reason is None
    assert getattr(eo, "updates", None) == getattr(co, "updates", None)
    for pe, pc in zip(eo.param_groups[0]["params"], co.param_groups[0]["params"]):
        se, sc = eo.state[pe], co.state[pc]
        assert sorted(se) == sorted(sc)
        for k in se:
            if isinstance(se[k], ng.Tensor):
                assert _bits(se[k]) == _bits(sc[k]), k
            else:
                assert se[k] == sc[k], k


def test_a_scheduler_stepped_in_the_step_still_replays():
    def scheduler(opt):
        return ng.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    eo, co, compiled = _assert_same_as_eager(lambda params: ng.optim.Adam(params, lr=0.05), scheduler)
    assert compiled.replays > 0, compiled.fallback_reason
    assert [g["lr"] for g in eo.param_groups] == [g["lr"] for g in co.param_groups]


def test_a_parameter_s_first_update_in_a_recorded_call_is_numgrad_s_doing():
    """``Optimizer._step_param`` adds a parameter's state dict just before its first ``_update``: not the step's
    change; what the step itself puts in that dict first is."""
    from numgrad.compiler.recorder import Recording
    from numgrad.compiler.state import OptimizerStateWatch

    for make, expected in (
            (lambda params: ng.optim.Adam(params, lr=0.1), None),
            (lambda params: ng.optim.SGD(params, lr=0.1, momentum=0.9), None),
            (lambda params: KeepingSGD(params, lr=0.1),
             "KeepingSGD.state[param_groups[0]['params'][0]]['grads'] (set before the parameter's first update)")):
        w = nn.Parameter(ng.ones(3))
        opt = make([w])
        (w * w).sum().backward()
        watch = OptimizerStateWatch([opt])
        with Recording([opt], watch=watch):
            opt.step()
        assert watch.finish() == expected
