"""ng.compile: what a replay returns or leaves behind must alias memory as eager's results do.

- A step returning persistent state (a parameter, a buffer, a view of one) returns that memory, not a copy: a
  caller keeping it sees later updates, as in eager code.
- A ``.grad`` the replay writes into its arena (``zero_grad()`` set it to ``None``, so backward made a new one)
  is written again by the next replay: a ``.grad`` a caller kept from an earlier call keeps that call's values,
  also when what was kept is an array or a view of its memory (``detach()``, ``.numpy()``, a row).
- A step returning its tensor argument, or a view of it, returns the call's own argument or that view of it, as
  eager code does: a caller writing into the result writes into the argument.
- Draws from numgrad's generator inside the step (``randn``, ``randint``, ``normal_``, ``randperm``...) are
  drawn again, and cast and scaled again, by a replay; a draw from a generator passed as ``generator=`` makes
  the step run eagerly (a replay would reuse the recorded draws).

Compiled and eager runs must agree to the bit.
"""
from __future__ import annotations

import numpy as np
import pytest

import numgrad as ng
from numgrad import nn
import numgrad.nn.functional as F

RNG = np.random.default_rng(3)
BATCHES = [(RNG.standard_normal((8, 6)).astype(np.float32), RNG.standard_normal((8, 3)).astype(np.float32))
           for _ in range(7)]


def _batch(i: int):
    x, y = BATCHES[i]
    return ng.tensor(x), ng.tensor(y)


def _training(returns):
    """A small SGD step returning ``returns(model, loss)``."""
    ng.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return returns(model, loss)

    return model, step


def _bits(t) -> bytes:
    return t.detach().numpy().tobytes()


@pytest.mark.parametrize("returns", [
    lambda m, loss: m[0].weight,  # the parameter itself
    lambda m, loss: (loss, m[0].weight[1]),  # a view of one
    lambda m, loss: {"bias": m[2].bias.detach(), "loss": loss},  # the same memory, detached
], ids=["parameter", "view", "detached"])
def test_a_returned_parameter_stays_the_parameters_memory(returns):
    eager_model, eager_step = _training(returns)
    model, step = _training(returns)
    compiled = ng.compile(step)
    kept_eager, kept = [], []
    for i in range(len(BATCHES)):
        kept_eager.append(eager_step(*_batch(i)))
        kept.append(compiled(*_batch(i)))
    assert compiled.replays == len(BATCHES) - 3 and compiled.fallback_reason is None
    leaves = lambda results: [t for r in results for t in ng.compiler.trees.leaves(r) if isinstance(t, ng.Tensor)]
    # every kept result (the first ones included) reads the parameters as they are now, as eager's do
    assert [_bits(t) for t in leaves(kept)] == [_bits(t) for t in leaves(kept_eager)]
    assert all(_bits(a) == _bits(b) for a, b in zip(model.parameters(), eager_model.parameters()))
    if isinstance(kept[-1], ng.Tensor):
        assert kept[-1] is model[0].weight and kept[-1].requires_grad


@pytest.mark.parametrize("set_to_none", [True, False])
def test_a_kept_grad_keeps_the_values_of_its_own_call(set_to_none):
    def make():
        ng.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
        opt = ng.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad(set_to_none=set_to_none)
            loss = F.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return model, step

    eager_model, eager_step = make()
    model, step = make()
    compiled = ng.compile(step)
    kept_eager, kept = [], []
    for i in range(len(BATCHES)):
        eager_step(*_batch(i))
        compiled(*_batch(i))
        kept_eager.append(eager_model[0].weight.grad)
        kept.append(model[0].weight.grad)
    assert compiled.replays == len(BATCHES) - 3
    assert [_bits(g) for g in kept] == [_bits(g) for g in kept_eager]
    assert [a is b for a, b in zip(kept, kept[1:])] == [a is b for a, b in zip(kept_eager, kept_eager[1:])]
    assert _bits(model[0].weight.grad) == _bits(eager_model[0].weight.grad)


@pytest.mark.parametrize("keeps", ["the tensor, clearing its slot", "the tensor and its array, clearing its slot",
                                   "nothing, clearing its slot", "the tensor, every other call"])
def test_a_replay_checks_the_grads_again_whenever_the_caller_changed_them(keeps):
    """A replay that finds the references to its memory and the .grad slots as the last one left them skips its
    checks (``Plan.run``).  Kept references and cleared slots that cancel out in a count must still be caught."""
    def make():
        rng = np.random.default_rng(1)
        x = ng.tensor(rng.standard_normal(5).astype(np.float32), requires_grad=True)
        w = ng.tensor(rng.standard_normal(5).astype(np.float32), requires_grad=True)

        def step():  # no arguments: the hot path (``_HotVariant.replay``) replays it
            x.grad = w.grad = None
            loss = (ng.tanh(x * w) ** 2).sum()
            loss.backward()
            with ng.no_grad():
                w.sub_(0.5 * w.grad)  # so that every call's gradients differ
            return loss
        return w, step

    runs = []
    for compiled in (False, True):
        w, step = make()
        fn = ng.compile(step) if compiled else step
        kept = []
        for i in range(9):
            fn()
            if keeps == "the tensor, every other call":
                if i % 2:
                    kept.append(w.grad)
                continue
            if keeps != "nothing, clearing its slot":
                kept.append(w.grad)
            if keeps == "the tensor and its array, clearing its slot":
                kept.append(w.grad.detach().numpy())
            w.grad = None
        runs.append(([k.tobytes() if isinstance(k, np.ndarray) else _bits(k) for k in kept], _bits(w)))
        if compiled:
            assert fn.replays == 6
    assert runs[0] == runs[1]


_ARGUMENT_VIEWS = {
    "the argument": lambda x: x,
    "a row": lambda x: x[1],
    "a flat view": lambda x: x.view(-1),
    "a transpose, beside a loss": lambda x: ((x * 2).sum(), x.t()),
    "a strided column": lambda x: {"col": x[:, 2]},
}


@pytest.mark.parametrize("name", list(_ARGUMENT_VIEWS))
def test_a_returned_argument_or_view_of_it_is_the_calls_own_memory(name):
    fn = _ARGUMENT_VIEWS[name]
    compiled = ng.compile(fn)
    for i in range(len(BATCHES)):
        x, x_eager = ng.tensor(BATCHES[i][0]), ng.tensor(BATCHES[i][0])
        got, want = compiled(x), fn(x_eager)
        leaves = [t for t in ng.compiler.trees.leaves(got) if isinstance(t, ng.Tensor)]
        wanted = [t for t in ng.compiler.trees.leaves(want) if isinstance(t, ng.Tensor)]
        for t in leaves[-1:] + wanted[-1:]:
            t.add_(1.0)  # written through the result: eager's argument changes with it
        assert _bits(x) == _bits(x_eager)
        assert [_bits(t) for t in leaves] == [_bits(t) for t in wanted]
        assert (got is x) == (want is x_eager)
    assert compiled.replays == len(BATCHES) - 3 and compiled.fallback_reason is None


_KEEPERS = {
    "detach": lambda g: g.detach(),
    "data": lambda g: g.data,
    "numpy": lambda g: g.numpy(),
    "numpy slice": lambda g: g.numpy()[1:],
    "np.asarray": lambda g: np.asarray(g),
    "row": lambda g: g[0],
    "view": lambda g: g.view(-1),
    "transpose": lambda g: g.t(),
}


def _keeping_training():
    ng.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    opt = ng.optim.Adam(model.parameters(), lr=0.01)

    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return model, step


@pytest.mark.parametrize("keep", list(_KEEPERS))
def test_an_array_or_view_of_a_kept_grad_keeps_the_values_of_its_own_call(keep):
    # eager code makes a new .grad every call, so what a caller keeps of one is never written again; a replay
    # that finds its arena's memory held this way moves to new memory (fails on a replay that counted only
    # references to the .grad tensor itself: every kept array read the last call's gradient)
    eager_model, eager_step = _keeping_training()
    model, step = _keeping_training()
    compiled = ng.compile(step)
    kept_eager, kept = [], []
    for i in range(len(BATCHES)):
        eager_step(*_batch(i))
        compiled(*_batch(i))
        kept_eager.append([_KEEPERS[keep](p.grad) for p in eager_model.parameters()])
        kept.append([_KEEPERS[keep](p.grad) for p in model.parameters()])
    assert compiled.replays == len(BATCHES) - 3 and compiled.fallback_reason is None
    as_bytes = lambda a: np.asarray(a).tobytes()
    assert [[as_bytes(a) for a in call] for call in kept] == [[as_bytes(a) for a in call] for call in kept_eager]
    assert all(_bits(a) == _bits(b) for a, b in zip(model.parameters(), eager_model.parameters()))


def test_a_replay_not_kept_from_stays_in_its_memory():
    # the check costs no move when nothing is kept: the arena a replay writes is the one it was built with
    model, step = _keeping_training()
    compiled = ng.compile(step)
    for i in range(4):
        compiled(*_batch(i))
    plan = compiled._hot.variant.plan
    arena = plan.arena
    norms = []
    for i in range(4, len(BATCHES)):
        compiled(*_batch(i))
        norms.append(float(model[0].weight.grad.norm()))  # reads a .grad, keeps nothing of it
    assert plan.arena is arena and compiled.replays == len(BATCHES) - 3 and len(set(norms)) == len(norms)


_DRAWS = {
    "randn": lambda x: x + ng.randn(8, 6),
    "rand float64": lambda x: x.double() * ng.rand(8, 6, dtype=ng.float64),
    "randint": lambda x: x + ng.randint(0, 5, (8, 6)),
    "randint_like": lambda x: x + ng.randint_like(x, 3),
    "normal_": lambda x: x + ng.empty(8, 6).normal_(1.0, 2.0),
    "normal": lambda x: x * ng.normal(0.5, 2.0, size=(8, 6)),
    "randperm": lambda x: x[ng.randperm(8)],
    "uniform_": lambda x: x + ng.empty(8, 6).uniform_(-1, 1),
}


@pytest.mark.parametrize("name", list(_DRAWS))
def test_draws_inside_a_step_are_drawn_again_by_each_replay(name):
    fn = _DRAWS[name]
    compiled = ng.compile(fn)
    x = ng.tensor(BATCHES[0][0])
    for seed in range(6):
        ng.manual_seed(seed)
        got = compiled(x)
        ng.manual_seed(seed)
        assert _bits(got) == _bits(fn(x))
    assert compiled.fallback_reason is None and compiled.replays == 3


@pytest.mark.parametrize("name", ["randn", "randperm", "normal_", "multinomial"])
def test_a_draw_from_a_generator_the_step_is_given_runs_eagerly(name):
    gen = ng.Generator()
    draws = {
        "randn": lambda x: x + ng.randn(8, 6, generator=gen),
        "randperm": lambda x: x[ng.randperm(8, generator=gen)],
        "normal_": lambda x: x + ng.empty(8, 6).normal_(generator=gen),
        "multinomial": lambda x: x[ng.multinomial(ng.ones(8), 8, replacement=True, generator=gen)],
    }
    fn = draws[name]
    compiled = ng.compile(fn)
    x = ng.tensor(BATCHES[0][0])
    for seed in range(5):
        gen.manual_seed(seed)
        got = compiled(x)
        gen.manual_seed(seed)
        assert _bits(got) == _bits(fn(x))
    assert compiled.replays == 0
    assert "the step draws from a generator passed as generator=" in compiled.fallback_reason

