"""ng.compile and Python state a step reads: tensors held in Python slots (a global, a closure variable, a list
item, a plain unregistered module attribute, a user object's attribute), NumPy arrays it reads numbers from, and
Python's or NumPy's global random generators.

A plan binds the memory of the tensor a slot held when the step was captured, so the slot is guarded by identity:
rebinding it between calls (a new mask, a rescaled weight) is a guard miss (the step is captured again), and a step
that rebinds it itself (a hidden state carried from call to call) runs eagerly.  A NumPy array is guarded by its
bytes as well (a number read from it is baked in).  A step drawing from ``random`` or ``np.random`` runs eagerly
too (a replay would not draw).  Compiled and eager runs must agree to the bit.
"""
from __future__ import annotations

import random
import types

import numpy as np
import pytest

import numgrad as ng
from numgrad import nn

SCALE = ng.ones(3)
# a script's settings module (``import hparams``), and a package with a submodule (``config.train.factor``)
HPARAMS = types.ModuleType("hparams")
HPARAMS.SCALE = 1.0
CONFIG = types.ModuleType("config")
CONFIG.train = types.ModuleType("config.train")
CONFIG.train.factor = ng.ones(3)


class CFG:  # a class used as a namespace of settings
    scale = 1.0


class _Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.scale = ng.ones(3)  # a plain tensor attribute, not a buffer

    def forward(self, x):
        return self.lin(x) * self.scale


def _rebind_global(value):
    global SCALE
    SCALE = value


def _slots():
    """name -> (read the slot's tensor in a step, rebind it): each slot kind a step can read a tensor from."""
    cell = [ng.ones(3)]
    holder = types.SimpleNamespace(t=ng.ones(3))
    table = {"t": ng.ones(3)}
    closure_t = ng.ones(3)

    def read_closure():
        return closure_t

    def set_closure(value):
        nonlocal closure_t
        closure_t = value

    def set_list(value):
        cell[0] = value

    def set_attr(value):
        holder.t = value

    def set_dict(value):
        table["t"] = value

    return {
        "global": (lambda: SCALE, _rebind_global),
        "closure": (read_closure, set_closure),
        "list_item": (lambda: cell[0], set_list),
        "object_attribute": (lambda: holder.t, set_attr),
        "dict_item": (lambda: table["t"], set_dict),
    }


@pytest.mark.parametrize("slot", sorted(_slots()))
def test_a_tensor_slot_rebound_between_calls_is_a_guard_miss(slot):
    read, rebind = _slots()[slot]
    rebind(ng.ones(3))
    step = ng.compile(lambda x: (x * read()).sum())
    for k in range(10):
        if k == 5:
            rebind(ng.full((3,), 2.0))
        assert step(ng.ones(3)).item() == (6.0 if k >= 5 else 3.0), step.explain()
    assert step.replays == 4  # calls 3 and 4 replay, call 5 misses the guard: recaptured, calls 8 and 9 replay
    assert step.recaptures == 1


def test_a_module_tensor_attribute_rebound_between_calls_matches_eager():
    def run(compiled: bool) -> list:
        ng.manual_seed(0)
        model = _Scaled()
        opt = ng.optim.SGD(model.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = model(x).sum()
            loss.backward()
            opt.step()
            return loss.detach()

        fn = ng.compile(step) if compiled else step
        losses = []
        for k in range(10):
            if k == 5:
                model.scale = ng.full((3,), 2.0)
            losses.append(fn(ng.ones(2, 3)).item())
        if compiled:
            assert fn.replays == 4, fn.explain()
        return losses + [p.detach().numpy().tobytes() for p in model.parameters()]

    assert run(True) == run(False)


def test_a_step_carrying_a_hidden_state_in_a_global_runs_eagerly_and_matches_eager():
    """Truncated backpropagation through time with the hidden state kept in a module-level variable."""
    def run(compiled: bool) -> tuple:
        ng.manual_seed(0)
        rnn = nn.RNN(3, 4, batch_first=True)
        opt = ng.optim.SGD(rnn.parameters(), lr=0.1)
        state = types.SimpleNamespace(hidden=ng.zeros(1, 2, 4))

        def step(x):
            opt.zero_grad()
            out, h = rnn(x, state.hidden)
            state.hidden = h.detach()  # rebinds the slot the next call reads
            loss = out.pow(2).mean()
            loss.backward()
            opt.step()
            return loss.detach()

        fn = ng.compile(step) if compiled else step
        rng = np.random.default_rng(0)
        losses = [fn(ng.tensor(rng.standard_normal((2, 5, 3)).astype(np.float32))).item() for _ in range(6)]
        if compiled:
            assert fn.replays == 0
            assert "the step changes Python state (SimpleNamespace.hidden)" in fn.fallback_reason
        return losses, state.hidden.numpy().tobytes()

    assert run(True) == run(False)


SCALES = np.array([2.0, 0.5], dtype=np.float32)


class _ArrayScaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.scales = np.array([2.0], dtype=np.float32)  # a NumPy attribute a forward reads a number from

    def forward(self, x):
        return self.lin(x) * float(self.scales[0])


@pytest.mark.parametrize("where", ["global", "closure", "module_attribute"])
@pytest.mark.parametrize("change", ["in_place", "rebound"])
def test_a_number_read_from_a_numpy_array_follows_the_array(where, change):
    """``float(scales[0])`` is baked into a kernel's scalar; the array written into or rebound between calls must
    not replay the old number (it did: NumPy arrays were not guarded at all)."""
    global SCALES
    SCALES = np.array([2.0, 0.5], dtype=np.float32)
    model = _ArrayScaled()
    closure_scales = np.array([2.0, 0.5], dtype=np.float32)

    def read():
        return {"global": SCALES, "closure": closure_scales, "module_attribute": model.scales}[where]

    def write(value):
        nonlocal closure_scales
        global SCALES
        if change == "in_place":
            read()[0] = value
        elif where == "global":
            SCALES = np.array([value, 0.5], dtype=np.float32)
        elif where == "closure":
            closure_scales = np.array([value, 0.5], dtype=np.float32)
        else:
            model.scales = np.array([value], dtype=np.float32)

    if where == "module_attribute":
        def step(x):
            with ng.no_grad():
                return model(x).sum()
    elif where == "global":
        def step(x):
            return (x * float(SCALES[0])).sum()
    else:
        def step(x):
            return (x * float(closure_scales[0])).sum()

    compiled = ng.compile(step)
    x = ng.ones(2, 3)
    for k in range(10):
        if k == 5:
            write(3.0)
        assert compiled(x).item() == step(x).item(), (k, compiled.explain())
    # calls 3 and 4 replay, call 5 misses the guard: captured again, calls 8 and 9 replay
    assert (compiled.replays, compiled.fallback_reason) == (4, None), compiled.explain()


def test_a_step_writing_into_a_numpy_array_it_reads_runs_eagerly():
    counts = np.zeros(1)

    def step(x):
        counts[0] += 1  # a replay would not count
        return (x * float(counts[0])).sum()

    compiled = ng.compile(step)
    for _ in range(4):
        compiled(ng.ones(3))
    assert counts[0] == 4 and compiled.replays == 0
    assert compiled.fallback_reason.startswith("the step changes Python state (step's closure variable 'counts')")


@pytest.mark.parametrize("draw", ["random", "numpy"])
def test_a_step_drawing_from_a_global_python_or_numpy_generator_runs_eagerly(draw):
    w = ng.ones(3)
    uniform = random.random if draw == "random" else np.random.rand

    def step(x):
        with ng.no_grad():
            return (x * w).sum() * (2.0 if uniform() < 0.3 else 1.0)

    def run(fn) -> list:
        random.seed(0)
        np.random.seed(1)
        return [fn(ng.ones(3)).item() for _ in range(12)]

    compiled = ng.compile(step)
    eager = run(step)
    assert 6.0 in eager and run(compiled) == eager
    assert compiled.replays == 0
    assert "the step draws from Python's random module or NumPy's global generator" in compiled.fallback_reason


@pytest.mark.parametrize("which", ["number", "submodule_tensor", "class_namespace"])
def test_a_module_or_namespace_class_attribute_the_step_reads_is_guarded(which):
    w = ng.ones(3)

    def step(x):
        with ng.no_grad():
            if which == "number":
                return (x * w).sum() * HPARAMS.SCALE
            if which == "class_namespace":
                return (x * w).sum() * CFG.scale
            return (x * CONFIG.train.factor).sum()

    compiled = ng.compile(step)
    try:
        for k in range(10):
            if k == 5:
                HPARAMS.SCALE, CFG.scale, CONFIG.train.factor = 2.0, 2.0, ng.full((3,), 2.0)
            assert compiled(ng.ones(3)).item() == (6.0 if k >= 5 else 3.0), compiled.explain()
    finally:
        HPARAMS.SCALE, CFG.scale, CONFIG.train.factor = 1.0, 1.0, ng.ones(3)
    assert compiled.replays == 4


class _WithClassScale(nn.Module):
    SCALE = 1.0  # a class attribute the forward reads as self.SCALE

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(ng.ones(3))

    def forward(self, x):
        return (x * self.w).sum() * self.SCALE


class _Settings:
    factor = 1.0


def test_class_attributes_of_user_modules_and_objects_are_guarded():
    model, settings = _WithClassScale(), _Settings()

    def step(x):
        with ng.no_grad():
            return model(x) * settings.factor

    compiled = ng.compile(step)
    try:
        for k in range(12):
            if k == 5:
                _WithClassScale.SCALE = 2.0
            if k == 8:
                _Settings.factor = 3.0
            want = 3.0 * (2.0 if k >= 5 else 1.0) * (3.0 if k >= 8 else 1.0)
            assert compiled(ng.ones(3)).item() == want, compiled.explain()
    finally:
        _WithClassScale.SCALE, _Settings.factor = 1.0, 1.0
    assert compiled.replays == 3  # calls 3 and 4 replay; each change is a new variant (calls 5-7, 8-10), call 11


def test_a_parameter_appended_to_an_optimizer_group_between_calls_is_updated():
    def run(compiled: bool) -> list:
        a, b = nn.Parameter(ng.ones(3)), nn.Parameter(ng.ones(3))
        opt = ng.optim.SGD([a], lr=0.1)

        def step(x):
            opt.zero_grad()
            ((a + b) * x).sum().backward()
            opt.step()

        fn = ng.compile(step) if compiled else step
        for k in range(9):
            if k == 5:
                opt.param_groups[0]["params"].append(b)
            fn(ng.ones(3))
        return [a.detach().numpy().tobytes(), b.detach().numpy().tobytes()]

    assert run(True) == run(False)


def test_a_settings_class_made_in_an_enclosing_function_is_guarded():
    knobs = type("Knobs", (), {"scale": 1.0})  # a class the step reaches through its closure
    w = ng.ones(3)

    @ng.compile
    def step(x):
        with ng.no_grad():
            return (x * w).sum() * knobs.scale

    for k in range(10):
        if k == 5:
            knobs.scale = 2.0
        assert step(ng.ones(3)).item() == (6.0 if k >= 5 else 3.0), step.explain()
    assert step.replays == 4


# a module of the user's own (``import losses``): its function reads the module's global
LOSSES = types.ModuleType("losses")
exec("GAMMA = 1.0\ndef scaled(x):\n    return x * GAMMA", LOSSES.__dict__)


def test_a_function_of_a_user_module_the_step_calls_has_its_globals_guarded():
    w = ng.ones(3)

    @ng.compile
    def step(x):
        with ng.no_grad():
            return LOSSES.scaled((x * w).sum())

    try:
        for k in range(10):
            if k == 5:
                LOSSES.GAMMA = 2.0
            assert step(ng.ones(3)).item() == (6.0 if k >= 5 else 3.0), step.explain()
    finally:
        LOSSES.GAMMA = 1.0
    assert step.replays == 4
