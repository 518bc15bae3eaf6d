"""ng.compile: captured steps replay bit-identically to eager; guards recapture; what cannot be captured falls back."""
from __future__ import annotations

import re

import numpy as np
import pytest

import numgrad as ng
from numgrad import nn
from numgrad.compiler import GraphBreak
from numgrad.compiler import api as compiler_api
from numgrad.compiler import plan as _plan

RNG = np.random.default_rng(0)
BATCHES = [(ng.tensor(RNG.standard_normal((8, 6)).astype(np.float32)),
            ng.tensor(RNG.standard_normal((8, 3)).astype(np.float32))) for _ in range(6)]


def _mlp_step(opt_name: str, train_mode_switch: bool = False):
    ng.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    if opt_name == "sgd":
        opt = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = ng.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.MSELoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, opt, step


def _state_of(model, opt) -> list:
    params = [p.detach().numpy().copy() for p in model.parameters()]
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    states = [{k: (v.numpy().copy() if isinstance(v, ng.Tensor) else v) for k, v in opt.state[p].items()}
              for p in model.parameters()]
    return params, grads, states


def _same_state(a, b) -> bool:
    (pa, ga, sa), (pb, gb, sb) = a, b
    return (all(np.array_equal(x, y) for x, y in zip(pa + ga, pb + gb))
            and all(sx.keys() == sy.keys() and all(np.array_equal(sx[k], sy[k]) for k in sx) for sx, sy in zip(sa, sb)))


def _same_loss(a: float, b: float) -> bool:
    """Losses equal to the bit (the loss a backward kernel returns does not depend on where its arrays lie:
    ``tests/test_deferred.py``)."""
    return np.float64(a).tobytes() == np.float64(b).tobytes()


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_mlp_step_is_bitwise_eager(opt_name):
    eager_model, eager_opt, eager_step = _mlp_step(opt_name)
    model, opt, step = _mlp_step(opt_name)
    compiled = ng.compile(step)
    for x, y in BATCHES:
        assert _same_loss(compiled(x, y).item(), eager_step(x, y).item())
    assert compiled.fallback_reason is None
    assert compiled.replays == len(BATCHES) - 3  # warm-up, two recordings, then replays
    assert _same_state(_state_of(model, opt), _state_of(eager_model, eager_opt))


def test_guard_miss_recaptures_on_new_shape_and_train_eval():
    _, _, step = _mlp_step("sgd")
    compiled = ng.compile(step)
    x, y = BATCHES[0]
    for _ in range(4):
        compiled(x, y)
    assert compiled.replays == 1 and compiled.captures == 1
    for _ in range(4):  # a smaller batch: a new variant, captured from its first call (automatic dynamic shapes)
        compiled(x[:5], y[:5])
    assert compiled.captures == 2 and compiled.replays == 4 and len(compiled._variants) == 2
    assert compiled.recaptures == 0
    model = step.__closure__[[c.cell_contents.__class__.__name__ for c in step.__closure__].index("Sequential")]
    model.cell_contents.eval()
    for _ in range(4):
        compiled(x, y)
    assert len(compiled._variants) == 3 and compiled.captures == 3


def test_replaced_parameter_recaptures():
    model, opt, step = _mlp_step("sgd")
    compiled = ng.compile(step)
    x, y = BATCHES[0]
    for _ in range(4):
        compiled(x, y)
    assert compiled.replays == 1
    with ng.no_grad():
        model[0].weight.data = model[0].weight.detach().clone()  # new memory: the guard on its identity fails
    compiled(x, y)
    assert compiled.recaptures == 1 and compiled.replays == 1


def test_w1_closure_step_and_outputs_are_fresh_tensors():
    x = ng.tensor(RNG.standard_normal(1000).astype(np.float32), requires_grad=True)
    w = ng.tensor(RNG.standard_normal(1000).astype(np.float32), requires_grad=True)
    b = ng.tensor(RNG.standard_normal(1000).astype(np.float32), requires_grad=True)

    def step():
        x.grad = w.grad = b.grad = None
        loss = (ng.tanh(x * w + b) * ng.sigmoid(x) ** 2).sum()
        loss.backward()
        with ng.no_grad():
            w.sub_(0.01 * w.grad)
        return loss

    eager_state = [t.detach().clone() for t in (x, w, b)]
    eager = []
    for _ in range(5):
        eager.append(step().item())
    grads = [t.grad.numpy().copy() for t in (x, w, b)]
    with ng.no_grad():
        for t, v in zip((x, w, b), eager_state):
            t.copy_(v)
    compiled = ng.compile(step)
    outs = [compiled() for _ in range(5)]
    assert all(_same_loss(o.item(), e) for o, e in zip(outs, eager))
    assert compiled.replays == 2 and compiled.fallback_reason is None
    assert outs[3].item() != outs[4].item()  # a later replay does not overwrite an earlier result
    for t, g in zip((x, w, b), grads):
        assert np.array_equal(t.grad.numpy(), g)


def test_forward_of_module_under_no_grad_and_function_fallback_when_output_needs_grad():
    ng.manual_seed(0)
    lin = nn.Linear(6, 3)
    m = ng.compile(lin)
    assert m._orig_mod is lin and list(m.state_dict()) == ["_orig_mod.weight", "_orig_mod.bias"]
    x = BATCHES[0][0]
    with ng.no_grad():
        outs = [m(x) for _ in range(4)]
    assert m._compiled_call.replays == 1
    assert np.array_equal(outs[-1].numpy(), lin(x).detach().numpy())
    y = m(x)  # grad mode on: a new guard key, whose output needs a graph
    for _ in range(3):
        y = m(x)
    assert y.grad_fn.name() == "CompiledFunctionBackward"  # a module's forward and backward are captured
    assert np.array_equal(y.detach().numpy(), lin(x).detach().numpy())
    f = ng.compile(lambda x: lin(x))  # a function returning a tensor that needs a graph runs eagerly
    for _ in range(4):
        y = f(x)
    assert y.grad_fn.name() == "AddmmBackward0" and "requires grad" in f.fallback_reason


def test_item_in_step_falls_back_with_reason_or_raises_under_fullgraph(caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="numgrad")
    w = ng.ones(3)

    def step(x):
        s = (x * w).sum()
        if s.item() > 0:
            return s
        return -s

    compiled = ng.compile(step)
    values = [compiled(ng.ones(3)).item() for _ in range(3)]
    assert values == [3.0] * 3
    assert ".item()" in compiled.fallback_reason and compiled.replays == 0
    logged = [r.getMessage() for r in caplog.records if "runs eagerly" in r.getMessage()]
    assert len(logged) == 1 and "test_compile.py" in logged[0]  # one reason, naming the user's line
    strict = ng.compile(step, fullgraph=True)
    strict(ng.ones(3))
    with pytest.raises(GraphBreak, match=r"tensor data is read in Python"):
        strict(ng.ones(3))


def test_varying_python_scalar_falls_back():
    w = ng.ones(3)
    counter = [0]

    def step(x):
        counter[0] += 1
        return x * w * float(counter[0])

    compiled = ng.compile(step)
    outs = [compiled(ng.ones(3)) for _ in range(5)]
    assert [o[0].item() for o in outs] == [1.0, 2.0, 3.0, 4.0, 5.0]
    # the counter is a Python value the step reads and changes: found at the warm-up call
    assert "the step changes Python state (item 0 of a list)" in compiled.fallback_reason


def test_argument_errors_follow_torch():
    with pytest.raises(RuntimeError, match="Either mode or options"):
        ng.compile(lambda x: x, mode="default", options={})
    with pytest.raises(RuntimeError, match="Unrecognized mode=fast"):
        ng.compile(lambda x: x, mode="fast")
    with pytest.raises(RuntimeError, match="Unexpected optimization option"):
        ng.compile(lambda x: x, options={"foo": 1})
    with pytest.raises(RuntimeError, match="backend='tvm' is not supported"):
        ng.compile(lambda x: x, backend="tvm")
    f = lambda x: x  # noqa: E731
    assert ng.compile(f, disable=True) is f and ng.compile(f, backend="eager") is f
    decorated = ng.compile(fullgraph=True)(f)
    assert decorated.fullgraph and decorated(ng.ones(1)).item() == 1.0


def test_small_cnn_with_batchnorm_is_bitwise_eager():
    def make():
        ng.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
        opt = ng.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loss_fn = nn.MSELoss()

        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return model, step

    rng = np.random.default_rng(1)
    data = [(ng.tensor(rng.standard_normal((4, 1, 8, 8)).astype(np.float32)),
             ng.tensor(rng.standard_normal((4, 3)).astype(np.float32))) for _ in range(5)]
    eager_model, eager_step = make()
    model, step = make()
    compiled = ng.compile(step)
    small = [(x[:3], y[:3]) for x, y in data[:2]]  # a smaller batch: BatchNorm's and the loss's 1/N change
    for x, y in data + small:
        assert _same_loss(compiled(x, y).item(), eager_step(x, y).item())
    assert compiled.replays == 2 + 1 and compiled.fallback_reason is None and compiled.recaptures == 0
    assert list(compiled._variants.values())[1].from_one_call
    for (name, p), q in zip(eager_model.state_dict().items(), model.state_dict().values()):
        assert np.array_equal(p.numpy(), q.numpy()), name  # parameters and BatchNorm statistics


def test_replay_is_one_generated_function_and_matches_the_launch_loop():
    results = {}
    for fuse in (True, False):
        model, _, step = _mlp_step("sgd")
        compiled = ng.compile(step, options={"fuse": fuse})
        losses = [compiled(x, y).item() for x, y in BATCHES]
        plan = next(iter(compiled._variants.values())).plan
        results[fuse] = (losses, [p.detach().numpy().copy() for p in model.parameters()])
        if fuse:
            assert len(plan.sources) == 1 and "@njit(cache=True" in plan.sources[0]
            assert "def step(" in compiled.explain()
        else:
            assert plan.sources == [] and len(plan.steps) == len(plan.kernel_names)
    assert all(_same_loss(a, b) for a, b in zip(results[True][0], results[False][0]))
    for a, b in zip(results[True][1], results[False][1]):
        assert np.array_equal(a, b)


_SECOND_PROCESS = """
import numpy as np, numgrad as ng
nn = ng.nn
ng.manual_seed(0)
model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
opt = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
loss_fn = nn.MSELoss()
def step(x, y):
    opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); opt.step(); return loss
compiled = ng.compile(step)
x, y = ng.ones(8, 6), ng.zeros(8, 3)
for _ in range(4):
    compiled(x, y)
plan = next(iter(compiled._variants.values())).plan
stats = plan.steps[0][0].dispatcher.stats
print(compiled.replays, sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
"""


def test_second_process_loads_the_generated_step_from_the_cache():
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(ng.__file__)))
    runs = [subprocess.run([sys.executable, "-c", _SECOND_PROCESS], capture_output=True, text=True, env=env,
                           timeout=600) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    replays, hits, misses = map(int, runs[1].stdout.split())
    assert replays == 1 and hits == 1 and misses == 0


def test_profiler_shows_a_replayed_step_as_one_op_with_its_kernels():
    _, _, step = _mlp_step("sgd")
    compiled = ng.compile(step)
    x, y = BATCHES[0]
    for _ in range(3):
        compiled(x, y)
    with ng.profiler.profile() as prof:
        compiled(x, y)
    records = prof.to_records(bandwidth=False)
    ops = [r for r in records if r["kind"] == "op"]
    assert [r["name"] for r in ops] == ["compiled step"]
    kernels = [r for r in records if r["kind"] == "kernel"]
    assert kernels and all(r["op"] == "compiled step" for r in kernels)
    assert any(r["name"].startswith("step_") for r in kernels)


def test_arguments_sliced_from_one_dataset_array():
    rng = np.random.default_rng(3)
    data = ng.tensor(rng.standard_normal((40, 9)).astype(np.float32))
    eager_model, _, eager_step = _mlp_step("adam")
    model, _, step = _mlp_step("adam")
    compiled = ng.compile(step)
    for i in range(5):
        batch = data[8 * i:8 * i + 8]
        x, y = batch[:, :6], batch[:, 6:]  # two views of one allocation
        assert _same_loss(compiled(x, y).item(), eager_step(x, y).item())
    assert compiled.replays == 2
    plan = next(iter(compiled._variants.values())).plan
    spans = [_plan._span(s) for _, s in plan.staging]
    assert sum(hi - lo for lo, hi in spans) < data.numpy().nbytes  # the batch's bytes, not the dataset
    for p, q in zip(eager_model.parameters(), model.parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy())


def test_learning_rate_scheduler_outside_the_compiled_step():
    import warnings

    losses = {}
    for compiled_run in (False, True):
        model, opt, step = _mlp_step("sgd")
        sched = ng.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        fn = ng.compile(step) if compiled_run else step
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            losses[compiled_run] = [(fn(x, y).item(), sched.step())[0] for x, y in BATCHES]
        params = [p.detach().numpy().copy() for p in model.parameters()]
        losses[compiled_run] = (losses[compiled_run], params)
        if compiled_run:
            assert fn.replays == len(BATCHES) - 3
    assert all(_same_loss(a, b) for a, b in zip(losses[True][0], losses[False][0]))
    for a, b in zip(losses[True][1], losses[False][1]):
        assert np.array_equal(a, b)


class _NumpyScale(ng.autograd.Function):
    """An op whose arithmetic is NumPy's, outside any kernel: a capture cannot see it."""

    @staticmethod
    def forward(ctx, x):
        return ng.Tensor(x._data * np.float32(1.5))

    @staticmethod
    def backward(ctx, g):
        return ng.Tensor(g._data * np.float32(1.5))


def test_cross_entropy_steps_replay_bit_for_bit():
    def make():
        ng.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
        opt = ng.optim.Adam(model.parameters(), lr=1e-2)
        loss_fn = nn.CrossEntropyLoss()

        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return model, opt, step

    labels = [ng.tensor(RNG.integers(0, 3, 8)) for _ in BATCHES]
    eager_model, _, eager_step = make()
    model, _, step = make()
    compiled = ng.compile(step)
    for (x, _), y in zip(BATCHES, labels):
        assert _same_loss(compiled(x, y).item(), eager_step(x, y).item())
    assert compiled.fallback_reason is None and compiled.replays == len(BATCHES) - 3
    for p, q in zip(eager_model.parameters(), model.parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy())


def test_failed_verification_falls_back_and_leaves_the_eager_state():
    # the loss goes through NumPy arithmetic outside any kernel: the capture cannot see it, the verification
    # replay does not reproduce the eager step, and the step runs eagerly from then on
    def make():
        ng.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
        opt = ng.optim.Adam(model.parameters(), lr=1e-2)
        loss_fn = nn.CrossEntropyLoss()

        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(_NumpyScale.apply(model(x)), y)
            loss.backward()
            opt.step()
            return loss

        return model, opt, step

    labels = [ng.tensor(RNG.integers(0, 3, 8)) for _ in BATCHES]
    eager_model, eager_opt, eager_step = make()
    model, opt, step = make()
    compiled = ng.compile(step)
    for (x, _), y in zip(BATCHES, labels):
        assert _same_loss(compiled(x, y).item(), eager_step(x, y).item())
    assert compiled.replays == 0 and "does not reproduce the eager step" in compiled.fallback_reason
    for p, q in zip(eager_model.parameters(), model.parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy())
        assert eager_opt.state[p]["step"] == opt.state[q]["step"]
    strict = ng.compile(make()[2], fullgraph=True)
    x, y = BATCHES[0][0], labels[0]
    strict(x, y)
    strict(x, y)
    with pytest.raises(GraphBreak, match="does not reproduce the eager step"):
        strict(x, y)


def test_arguments_that_require_grad_get_their_grad():
    def w1(x, w, b):
        loss = (ng.tanh(x * w + b) * ng.sigmoid(x) ** 2).sum()
        loss.backward()
        return loss

    compiled = ng.compile(w1)
    for _ in range(5):
        arrays = [RNG.standard_normal(500).astype(np.float32) for _ in range(3)]
        eager_args = [ng.tensor(a, requires_grad=True) for a in arrays]
        args = [ng.tensor(a, requires_grad=True) for a in arrays]
        assert _same_loss(compiled(*args).item(), w1(*eager_args).item())
        for a, e in zip(args, eager_args):
            assert np.array_equal(a.grad.numpy(), e.grad.numpy())
    assert compiled.replays == 2
    x = ng.tensor(arrays[0], requires_grad=True)
    x.grad = ng.zeros(500)  # accumulating into an argument's .grad: a new guard key, run eagerly
    for _ in range(3):
        compiled(x, *args[1:])
    assert "already has a .grad" in compiled.fallback_reason


def test_docstring_examples_of_the_compiler_run():
    import doctest

    from numgrad.compiler import aot, api, codegen, native_calls, plan, python_state, recorder, state, trees, views

    for module in (aot, api, codegen, native_calls, plan, python_state, recorder, state, trees, views):
        assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0, module.__name__


def test_dropout_draws_the_same_masks_as_eager():
    def make():
        ng.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
        opt = ng.optim.SGD(model.parameters(), lr=0.1)
        loss_fn = nn.MSELoss()

        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return model, step

    runs = {}
    for compiled_run in (False, True):
        model, step = make()
        fn = ng.compile(step) if compiled_run else step
        ng.manual_seed(1)
        losses = [fn(x, y).item() for x, y in BATCHES]
        runs[compiled_run] = (losses, [p.detach().numpy().copy() for p in model.parameters()], fn)
    assert all(_same_loss(a, b) for a, b in zip(runs[True][0], runs[False][0]))
    for a, b in zip(runs[True][1], runs[False][1]):
        assert np.array_equal(a, b)
    compiled = runs[True][2]
    assert compiled.replays == 3 and "default generator draws" in compiled.explain(), compiled.explain()


def test_polynomial_tutorial_with_manual_updates_under_no_grad():
    def make():
        ng.manual_seed(0)
        x = ng.linspace(-3.0, 3.0, 200)
        y = ng.sin(x)
        params = [ng.randn((), requires_grad=True) for _ in range(4)]

        def step():
            a, b, c, d = params
            loss = (a + b * x + c * x ** 2 + d * x ** 3 - y).pow(2).sum()
            loss.backward()
            with ng.no_grad():
                for p in params:
                    p.sub_(1e-4 * p.grad)
                    p.grad = None
            return loss

        return params, step

    eager_params, eager_step = make()
    params, step = make()
    compiled = ng.compile(step)
    for _ in range(8):
        assert _same_loss(compiled().item(), eager_step().item())
    assert compiled.replays == 5
    for p, q in zip(eager_params, params):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy()) and q.grad is None


def test_a_pending_value_reading_a_parameter_sees_it_before_the_replayed_update():
    model, _, step = _mlp_step("sgd")
    compiled = ng.compile(step)
    x, y = BATCHES[0]
    for _ in range(4):
        compiled(x, y)
    w = model[0].weight
    before = w.detach().clone()  # (not .numpy(): memory handed to NumPy makes later readers compute at once)
    doubled = w.detach() * 2  # lazy: reads the weight's memory when computed
    assert doubled._is_lazy
    compiled(x, y)
    assert compiled.replays == 2
    assert np.array_equal(doubled.numpy(), before.numpy() * 2)
    assert not np.array_equal(w.detach().numpy(), before.numpy())


def test_cache_size_limit_counts_compiled_variants_not_batch_sizes():
    w = ng.ones(1)
    compiled = ng.compile(lambda x: (x * w).sum(), dynamic=True, options={"cache_size_limit": 2})
    calls = [ng.ones(n) for n in (2, 3, 4, 5)] + [ng.ones(2, dtype=ng.float64), ng.ones(2, dtype=ng.int64)]
    for x in calls:
        for _ in range(4):
            assert compiled(x).item() == float(x.shape[0])
    # n=2: warm-up, two recordings, one replay; n=3, 4, 5 (past the limit: they share n=2's generated step):
    # captured from their first call, three replays each; float64: a variant of its own (the second); int64: eager
    assert compiled.replays == 1 + 3 * 3 + 1
    assert [v.shares_code for v in compiled._variants.values()] == [False, True, True, True, False]
    assert "cache_size_limit (2) variants reached; new guard keys run eagerly" == compiled.fallback_reason


def test_batch_sizes_past_the_limit_keep_a_bounded_number_of_plans(monkeypatch):
    monkeypatch.setattr(compiler_api, "SIZES_PER_FAMILY", 2)
    w = ng.ones(1)
    compiled = ng.compile(lambda x: (x * w).sum(), options={"cache_size_limit": 1})

    def call(n: int) -> None:
        assert compiled(ng.ones(n)).item() == float(n)

    for n in (2, 2, 2, 3, 4, 5):
        call(n)
    # two sizes sharing the first one's code at most: 5 dropped the least recently used, 3
    assert [v.shapes for v in compiled._variants.values()] == [((2,),), ((4,),), ((5,),)]
    replays = compiled.replays
    call(4)
    call(3)  # captured again from its first call; 5 is dropped now
    assert compiled.replays == replays + 1
    assert [v.shapes for v in compiled._variants.values()] == [((2,),), ((4,),), ((3,),)]
    call(6)  # two plans dropped already: sizes keep coming back, so a new one runs eagerly
    assert "shapes of this step's arguments keep coming back" in compiled.fallback_reason
    replays = compiled.replays
    for n in (2, 3, 4):
        call(n)
    assert compiled.replays == replays + 3


def test_sequence_lengths_share_the_generated_step_and_do_not_count_against_the_limit():
    """A Python loop over time steps launches the same kinds of kernels more or fewer times: each length is a
    variant of its own (two recordings), whose generated function is the first length's (no compile).  (Trained
    through the loop, a length compiles its own step: the fused kernel summing the weight's gradient over the time
    steps takes one input per step.)"""
    rng = np.random.default_rng(4)
    w = ng.tensor(rng.standard_normal((3, 3)).astype(np.float32) * 0.5)

    def run(xs):
        with ng.no_grad():
            h = ng.zeros(2, 3)
            for t in range(xs.shape[0]):
                h = ng.tanh(xs[t] + h @ w)
        return h

    compiled = ng.compile(run, options={"cache_size_limit": 2})  # three lengths, one compiled variant
    for length in (4, 4, 4, 4, 6, 6, 6, 5, 5, 5, 6, 4):
        xs = ng.tensor(rng.standard_normal((length, 2, 3)).astype(np.float32))
        assert np.array_equal(compiled(xs).numpy(), run(xs).numpy())
    assert compiled.fallback_reason is None and compiled.compiled_variants == 1 and compiled.captures == 3
    first, *others = compiled._variants.values()
    assert all(v.plan.sources == first.plan.sources and v.shares_code and not v.from_one_call for v in others)
    assert compiled.replays == 1 + 1 + 1 + 2


def test_batch_size_whose_eager_code_picks_serial_kernels_shares_the_generated_step():
    """Eager code runs a map kernel's parallel twin at PARALLEL_THRESHOLD elements and its serial twin below: a
    size on the other side of the threshold still replays the generated step of the size captured first."""
    from numgrad.kernels.config import PARALLEL_THRESHOLD

    rng = np.random.default_rng(3)
    w = ng.tensor(rng.standard_normal(64).astype(np.float32), requires_grad=True)

    def step(x):
        w.grad = None
        loss = (ng.tanh(x * w) * ng.sigmoid(x)).sum()
        loss.backward()
        return loss

    compiled = ng.compile(step)
    big, small = PARALLEL_THRESHOLD // 64 + 8, 4
    for rows in (big, big, big, small, small):
        x = ng.tensor(rng.standard_normal((rows, 64)).astype(np.float32))
        expected = step(x).item(), w.grad.numpy().copy()
        assert compiled(x).item() == expected[0] and np.array_equal(w.grad.numpy(), expected[1])
    first, second = compiled._variants.values()
    names = [first.plan.kernel_names, second.plan.kernel_names]
    assert any(n.endswith(".parallel") for n in names[0]) and not any(n.endswith(".parallel") for n in names[1])
    assert second.from_one_call and second.shares_code and second.plan.sources == first.plan.sources
    assert compiled.replays == 1


def _epoch_batches(last: int = 3) -> list:
    """``BATCHES`` with a smaller last batch, as a DataLoader without ``drop_last`` gives."""
    return BATCHES[:-1] + [(BATCHES[-1][0][:last], BATCHES[-1][1][:last])]


@pytest.mark.parametrize("dynamic", [None, False])
def test_last_smaller_batch_of_every_epoch_replays_without_recaptures(dynamic):
    eager_model, eager_opt, eager_step = _mlp_step("adam")
    model, opt, step = _mlp_step("adam")
    compiled = ng.compile(step, dynamic=dynamic)
    for _ in range(3):
        for x, y in _epoch_batches():
            assert _same_loss(compiled(x, y).item(), eager_step(x, y).item())
    assert _same_state(_state_of(model, opt), _state_of(eager_model, eager_opt))
    assert compiled.fallback_reason is None and compiled.recaptures == 0 and len(compiled._variants) == 2
    big, small = compiled._variants.values()
    if dynamic is None:
        # PyTorch's automatic dynamic shapes: the second batch size is captured from its first call (no warm-up,
        # one recording), and its generated function is the first size's (numbers and offsets come from tables)
        assert small.from_one_call and compiled.eager_calls == 4 and compiled.replays == 3 * 6 - 4
        assert small.plan.sources == big.plan.sources
        assert "captured from its first call" in compiled.explain()
    else:  # every size from scratch: warm-up and two recordings, one call per epoch (replays from epoch 4 on)
        assert not small.from_one_call and compiled.eager_calls == 3 + 3 and compiled.replays == 3 * 5 - 3


def test_generated_step_takes_the_arena_and_number_tables_not_one_argument_per_buffer():
    rng = np.random.default_rng(1)
    w = ng.tensor(rng.standard_normal((4, 4)).astype(np.float32) * 0.5)

    def chain(x):
        with ng.no_grad():
            for _ in range(10):
                x = x @ w + 0.25
        return x

    compiled = ng.compile(chain)
    x = ng.tensor(rng.standard_normal((4, 4)).astype(np.float32))
    outs = [compiled(x * k) for k in (1.0, 2.0, 3.0, 4.0, 5.0)]
    assert compiled.replays == 2 and compiled.fallback_reason is None
    for out, k in zip(outs, (1.0, 2.0, 3.0, 4.0, 5.0)):
        assert np.array_equal(out.numpy(), chain(x * k).numpy())
    plan = next(iter(compiled._variants.values())).plan
    (fn, args), = plan.steps  # the 20 launches (and the staged input's views) are one native call
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    assert len(args) == len(arrays) <= 4 and any(a is plan.arena for a in arrays)
    source = plan.sources[0]
    assert "address_view_c(" in source and "0.25" not in source  # numbers are read from a table, not folded in
    assert plan.fast_steps[0][0] is not fn  # a replay calls the compiled entry point, not the dispatcher


def test_long_chain_is_one_generated_loop_over_its_kinds_of_launches_and_matches_eager():
    rng = np.random.default_rng(2)
    w = ng.tensor(rng.standard_normal((4, 4)).astype(np.float32) * 0.5)
    b = ng.tensor(rng.standard_normal(4).astype(np.float32))

    def chain(x):
        with ng.no_grad():
            for _ in range(150):
                x = (x @ w + b) * 0.5  # a matrix product and one fused elementwise kernel
        return x

    compiled = ng.compile(chain)
    inputs = [ng.tensor(rng.standard_normal((4, 4)).astype(np.float32)) for _ in range(6)]
    outs = [compiled(x) for x in inputs]
    assert compiled.replays == 3 and compiled.fallback_reason is None
    for out, x in zip(outs, inputs):
        assert np.array_equal(out.numpy(), chain(x).numpy())
    plan = next(iter(compiled._variants.values())).plan
    assert len(plan.kernel_names) >= 300 and len(plan.steps) == 1 and len(plan.sources) == 1
    # the source holds one call per kind of launch (not per launch): kernels returning nothing with the same
    # argument kinds (both of these write into arrays; the address in the table says which one a launch calls)
    source = plan.sources[0]
    calls = re.findall(r"call_void\(0x[0-9a-f]+, ", source)
    assert len(set(plan.kernel_names)) == len(calls) == 2 and "for pc in range(" in source
    assert "call_compiled(_k" not in source


def test_run_with_more_kinds_of_launches_than_a_function_holds_is_split(monkeypatch):
    from numgrad.compiler import codegen

    monkeypatch.setattr(codegen, "MAX_KINDS_PER_FUNCTION", 1)
    rng = np.random.default_rng(3)
    w = ng.tensor(rng.standard_normal((4, 4)).astype(np.float32) * 0.5)
    w64 = ng.tensor(rng.standard_normal((4, 4)) * 0.5)

    def chain(x):
        with ng.no_grad():
            for _ in range(20):
                x = x @ w
            x = x.double()  # a cast kernel between two runs of float32 and of float64 products
            for _ in range(20):
                x = x @ w64
        return x

    compiled = ng.compile(chain)
    inputs = [ng.tensor(rng.standard_normal((4, 4)).astype(np.float32)) for _ in range(5)]
    outs = [compiled(x) for x in inputs]
    assert compiled.replays == 2 and compiled.fallback_reason is None
    for out, x in zip(outs, inputs):
        assert np.array_equal(out.numpy(), chain(x).numpy())
    plan = next(iter(compiled._variants.values())).plan
    assert len(plan.kernel_names) == 41 and len(plan.sources) == 2 and len(plan.steps) == 3


def test_call_through_an_address_compiles_only_for_the_signature_the_address_was_taken_for():
    from numba import njit, typeof
    from numba.core.errors import TypingError

    from numgrad.compiler.native_calls import call_compiled, call_void, native_address, returns_nothing, signature_key

    @njit
    def double(a):
        a *= 2

    a = np.ones(3)
    double(a)
    key = signature_key((typeof(a),))
    address = native_address(double, (typeof(a),))
    assert native_address(double, (typeof(a.astype(np.float32)),)) is None  # no such overload

    @njit
    def through(a, address):
        call_compiled(double, key, address, (a,))

    through(a, address)
    assert np.array_equal(a, [4.0, 4.0, 4.0])  # doubled by the call above and through the address
    with pytest.raises(TypingError):  # a float32 array: the address is of the float64 function
        through(np.ones(3, np.float32), address)

    # a kernel returning nothing is called by its address alone; one returning a value is not taken for one
    @njit
    def total(a):
        return a.sum()

    total(a)
    assert returns_nothing(double, (typeof(a),)) and not returns_nothing(total, (typeof(a),))
    assert not returns_nothing(double, (typeof(np.ones((2, 2))),))  # no such overload

    @njit
    def through_void(a, address):
        call_void(key, address, (a,))

    through_void(a, address)
    assert np.array_equal(a, [8.0, 8.0, 8.0])
    with pytest.raises(TypingError):
        through_void(np.ones(3, np.float32), address)


def test_gradient_that_the_step_accumulates_into_is_guarded():
    w = ng.tensor(RNG.standard_normal(5).astype(np.float32), requires_grad=True)

    def step(x):
        loss = (x * w).sum()
        loss.backward()  # no zero_grad: .grad accumulates, unless the caller resets it
        return loss

    compiled = ng.compile(step)
    x = ng.tensor(RNG.standard_normal(5).astype(np.float32))
    for _ in range(4):
        w.grad = None
        compiled(x)
    assert compiled.replays == 1 and np.array_equal(w.grad.numpy(), x.numpy())
    compiled(x)  # the caller did not reset .grad: eager code accumulates, so must this call
    assert compiled.recaptures == 1 and np.array_equal(w.grad.numpy(), x.numpy() + x.numpy())

def test_ng_explain_shows_the_plans_and_generated_source():
    _, _, step = _mlp_step("sgd")
    compiled = ng.compile(step)
    assert str(ng.explain(compiled)) == "ng.compile(step): 0 variants, 0 replays, 0 recaptures, 0 eager calls"
    x, y = BATCHES[0]
    for _ in range(4):
        compiled(x, y)
    report = ng.explain(compiled)
    text = str(report)
    assert text == repr(report) == compiled.explain()
    assert text.startswith("ng.compile(step): 1 variant, 1 replays, 0 recaptures, 3 eager calls")
    assert "variant 0: arguments (8, 6), (8, 3); captured from a warm-up call and two recorded calls" in text
    assert "linear_forward" in text and "@njit(cache=True, nogil=True)\ndef step(" in text
    assert "tanh" in str(ng.explain(ng.tanh(x * 2)))  # a tensor: its fused region, as before


def _bn_dropout_ce_step():
    """A CNN step whose forward writes batch norm's running statistics and draws a dropout mask before cross
    entropy checks its targets (the digits job's order)."""
    ng.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * 4 * 4, 3))
    opt = ng.optim.Adam(model.parameters(), lr=1e-2)

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, step


def _run_bn_dropout_ce(compiled_run: bool, calls) -> tuple:
    """(the values each call returned or raised, the final state dict, the compiled function) of a fresh model
    trained from one seed through ``calls``, a list of (x, y)."""
    model, step = _bn_dropout_ce_step()
    fn = ng.compile(step) if compiled_run else step
    ng.manual_seed(1)  # the dropout masks: the same draws in both runs
    out = []
    for x, y in calls:
        try:
            out.append(np.float64(fn(x, y).item()).tobytes())
        except IndexError as exc:
            out.append(str(exc))
    return out, {k: v.numpy().copy() for k, v in model.state_dict().items()}, fn


def test_target_check_after_batchnorm_puts_the_state_back_before_running_eagerly():
    rng = np.random.default_rng(2)
    calls = [(ng.tensor(rng.standard_normal((4, 1, 8, 8)).astype(np.float32)), ng.tensor(rng.integers(0, 3, 4)))
             for _ in range(6)]
    # an out-of-range target in the 6th call: its replay abandons after batch norm wrote its statistics and
    # after the dropout draw; the eager run then raises as eager does, from the state before the call
    calls.insert(5, (calls[0][0], ng.tensor(np.array([0, 1, 7, 2]))))
    (eager, eager_state, _), (comp, comp_state, compiled) = (_run_bn_dropout_ce(c, calls) for c in (False, True))
    assert eager[5] == comp[5] == "Target 7 is out of bounds."
    assert eager == comp  # losses to the bit, before and after the abandoned replay
    for k in eager_state:
        assert np.array_equal(eager_state[k], comp_state[k]), k  # statistics updated once, as eager did
    assert compiled.fallback_reason is None and compiled.replays == 3 and compiled.eager_calls == 4


def test_two_batch_sizes_alternating_replay_without_recapturing():
    """An epoch's last, smaller batch is a variant of its own; switching between the two (each zero_grad sets
    .grad to None, backward makes new ones) replays both without capturing again."""
    rng = np.random.default_rng(3)
    sizes = [4, 4, 3] * 4
    calls = [(ng.tensor(rng.standard_normal((n, 1, 8, 8)).astype(np.float32)), ng.tensor(rng.integers(0, 3, n)))
             for n in sizes]
    (eager, eager_state, _), (comp, comp_state, compiled) = (_run_bn_dropout_ce(c, calls) for c in (False, True))
    assert eager == comp
    for k in eager_state:
        assert np.array_equal(eager_state[k], comp_state[k]), k
    # the size-3 variant is captured while the size-4 one is still recording (a warm-up call and two recordings
    # each, interleaved): five calls run eagerly, every later one replays
    assert compiled.recaptures == 0 and compiled.captures == 2 and compiled.eager_calls == 5
    assert compiled.replays == len(sizes) - 5


def test_pooled_gradients_are_not_copied_while_recorded():
    """Gradients large enough for the buffer pool become .grad without a copy eagerly; the recording's own
    references to kernel arguments must not change that (else the plan replays three extra copies)."""
    n = 300_000  # 1.2 MB per array: pooled
    x, w, b = (ng.tensor(RNG.standard_normal(n).astype(np.float32), requires_grad=True) for _ in range(3))

    def step():
        x.grad = w.grad = b.grad = None
        loss = (ng.tanh(x * w + b) * ng.sigmoid(x) ** 2).sum()
        loss.backward()
        return loss

    compiled = ng.compile(step, options={"fuse": False})
    with ng.profiler.profile() as prof:
        step()
    eager_kernels = sum(1 for e in prof.events if e.kind == "kernel")
    losses = [compiled().item() for _ in range(4)]
    assert compiled.replays == 1 and len(set(losses)) == 1
    launches = [line for line in compiled.explain().splitlines() if re.match(r"\s+\d+ ", line) and "fill" not in line]
    assert len(launches) == eager_kernels == 1, compiled.explain()


# ------------------------------------------------------------------ a compiled module in an eager training loop
def _loop(make, data, steps_per_model=1):
    """Train a compiled and an uncompiled copy side by side (same seed before each forward: same dropout masks);
    return (compiled module, [(compiled loss, eager loss)], the two models)."""
    eager_model, eager_opt = make()
    model, opt = make()
    compiled = ng.compile(model)  # PyTorch's `model = torch.compile(model)`
    loss_fn = nn.MSELoss()
    losses = []
    for k, (x, y) in enumerate(data):
        pair = []
        for m, o in ((compiled, opt), (eager_model, eager_opt)):
            ng.manual_seed(100 + k)
            o.zero_grad()
            loss = loss_fn(m(x), y)
            loss.backward()
            o.step()
            pair.append(loss.item())
        losses.append(pair)
    return compiled, losses, model, eager_model


def test_compiled_mlp_with_dropout_in_an_eager_training_loop_matches_eager_bitwise():
    def make():
        ng.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
        return model, ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    compiled, losses, model, eager_model = _loop(make, BATCHES + BATCHES)
    assert all(_same_loss(a, b) for a, b in losses)
    for p, q in zip(model.parameters(), eager_model.parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy())
        assert np.array_equal(p.grad.numpy(), q.grad.numpy())
    call = compiled._compiled_call
    assert call.replays == len(losses) - 3 and call.fallback_reason is None  # warm-up + two recorded calls
    out = compiled(BATCHES[0][0])
    assert out.grad_fn.name() == "CompiledFunctionBackward"
    assert "CompiledFunctionBackward" in str(ng.explain(compiled))
    compiled.eval()  # eval() + no_grad forwards still replay (another guard key)
    eager_model.eval()
    with ng.no_grad():
        for x, _ in BATCHES[:4]:
            assert np.array_equal(compiled(x).numpy(), eager_model(x).numpy())
    assert call.replays == len(losses) - 3 + 2


def test_compiled_cnn_with_batchnorm_in_an_eager_training_loop_matches_eager_bitwise():
    def make():
        ng.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
        return model, ng.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    rng = np.random.default_rng(1)
    data = [(ng.tensor(rng.standard_normal((4, 1, 8, 8)).astype(np.float32)),
             ng.tensor(rng.standard_normal((4, 3)).astype(np.float32))) for _ in range(6)]
    compiled, losses, model, eager_model = _loop(make, data)
    assert all(_same_loss(a, b) for a, b in losses)
    assert compiled._compiled_call.replays == 3
    for (name, p), q in zip(eager_model.state_dict().items(), model.state_dict().values()):
        assert np.array_equal(p.numpy(), q.numpy()), name  # parameters, BatchNorm statistics: updated once per call


def _captured_linear_relu():
    ng.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    compiled = ng.compile(model)
    for x, _ in BATCHES[:3]:  # warm-up and two recorded calls
        compiled(x).sum().backward()
    model.zero_grad()
    return model, compiled


def _eager_grads(model, x, g) -> list:
    out = model(x)
    out.backward(g)
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    return grads


def test_two_forwards_then_two_backwards_hooks_and_errors():
    model, compiled = _captured_linear_relu()
    (x1, _), (x2, _) = BATCHES[3], BATCHES[4]
    g1 = ng.tensor(RNG.standard_normal((8, 3)).astype(np.float32))
    g2 = ng.tensor(RNG.standard_normal((8, 3)).astype(np.float32))
    want1, want2 = _eager_grads(model, x1, g1), _eager_grads(model, x2, g2)
    fired = []
    model[0].weight.register_hook(lambda grad: fired.append(grad.shape))
    out1 = compiled(x1)
    out2 = compiled(x2)  # a second forward before the first backward: each call keeps its own saved buffers
    assert compiled._compiled_call.replays == 2
    assert np.array_equal(out1.detach().numpy(), model(x1).detach().numpy())
    out2.backward(g2, retain_graph=True)
    assert [np.array_equal(p.grad.numpy(), w) for p, w in zip(model.parameters(), want2)] == [True] * 4
    model.zero_grad()
    out1.backward(g1)
    assert [np.array_equal(p.grad.numpy(), w) for p, w in zip(model.parameters(), want1)] == [True] * 4
    out2.backward(g2)  # retained: runs again and accumulates
    assert np.array_equal(model[2].bias.grad.numpy(), want1[3] + want2[3])
    assert fired == [(5, 6)] * 3
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        out1.backward(g1)


def test_gradients_of_an_argument_and_double_backward_through_a_compiled_module():
    model, compiled = _captured_linear_relu()
    x = BATCHES[3][0].detach().requires_grad_(True)
    for _ in range(4):
        x.grad = None
        compiled(x * 2).sum().backward()  # the argument is not a leaf: its gradient flows on to x
    assert compiled._compiled_call.replays >= 1
    ref = x.detach().requires_grad_(True)
    model(ref * 2).sum().backward()
    assert np.array_equal(x.grad.numpy(), ref.grad.numpy())
    out = compiled(x * 2)
    assert out.grad_fn.name() == "CompiledFunctionBackward"
    with pytest.raises(RuntimeError, match="double backward .* CompiledFunctionBackward is not supported"):
        ng.autograd.grad(out.sum(), x, create_graph=True)
    model[0].weight.requires_grad_(False)  # which parameters get a gradient is guarded: a new variant
    model.zero_grad()
    variants = len(compiled._compiled_call._variants)
    for _ in range(4):
        compiled(x * 2).sum().backward()
    assert model[0].weight.grad is None and model[0].bias.grad is not None
    assert len(compiled._compiled_call._variants) == variants + 1


_HOOK_CALLS: list = []  # outside the module: a counter on the module would be a guarded value that changes


class _HookedInside(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 3)

    def forward(self, x):
        h = self.lin(x)
        h.register_hook(self._count)  # a replayed backward could not call it: this module stays eager
        return h.tanh()

    def _count(self, grad):
        _HOOK_CALLS.append(grad.shape)


def test_hook_on_a_tensor_inside_the_module_keeps_it_eager():
    m = _HookedInside()
    compiled = ng.compile(m)
    _HOOK_CALLS.clear()
    for _ in range(4):
        compiled(BATCHES[0][0]).sum().backward()
    assert len(_HOOK_CALLS) == 4 and "hook" in compiled._compiled_call.fallback_reason



def test_repeated_calls_replay_without_the_key_yet_every_setting_in_it_still_counts():
    """A call with the last replayed variant's key replays it without building the key (``_HotVariant``); each
    setting the key holds, changed after such replays, must still give eager's result."""
    ng.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Dropout(0.25), nn.Linear(16, 3))
    eager_model = nn.Sequential(nn.Linear(6, 16), nn.Dropout(0.25), nn.Linear(16, 3))
    eager_model.load_state_dict(model.state_dict())
    scale = [1.0]

    def make(m):
        def step(x):
            out = (m(x) * scale[0]).sum()
            out.backward()
            return out
        return step

    compiled, eager = ng.compile(make(model)), make(eager_model)
    x = BATCHES[0][0]
    threads = ng.get_num_threads()

    def same_for_a_while():
        for _ in range(4):
            ng.manual_seed(1)
            got = compiled(x).item()
            ng.manual_seed(1)
            assert _same_loss(got, eager(x).item())
            for p in list(model.parameters()) + list(eager_model.parameters()):
                p.grad = None

    same_for_a_while()
    assert compiled._hot is not None
    changes = [lambda: (model.eval(), eager_model.eval()),  # train(): no Module.__setattr__
               lambda: (model[1].__setattr__("p", 0.5), eager_model[1].__setattr__("p", 0.5)),
               lambda: scale.__setitem__(0, 2.0),
               lambda: ng.set_num_threads(1 if threads > 1 else 2),
               lambda: ng.set_default_dtype(ng.float64),
               lambda: ng.set_fusion(False),
               lambda: (model[0].bias.requires_grad_(False), eager_model[0].bias.requires_grad_(False))]
    try:
        for change in changes:
            replays = compiled.replays
            change()
            same_for_a_while()
            assert compiled.replays > replays  # the new key's variant replays too
    finally:
        ng.set_num_threads(threads)
        ng.set_default_dtype(ng.float32)
        ng.set_fusion(True)
    with ng.no_grad():  # grad mode: the step's backward cannot run; eager's error, not a stale replay
        with pytest.raises(RuntimeError):
            compiled(x)


def test_compile_takes_torch_2_13_arguments():
    doubled = ng.compile(lambda x: x * 2, name="doubler", recompile_limit=2, isolate_recompiles=True)
    for n in (1, 2, 3, 4):  # a new size each call: two variants, then eager
        doubled(ng.ones(n))
    assert doubled.explain().splitlines()[0].startswith("ng.compile(doubler): 2 variants")
    assert "cache_size_limit (2) variants reached" in doubled.fallback_reason
    with pytest.raises(NotImplementedError, match="numgrad has no symbolic shape specs"):
        ng.compile(lambda x: x, shapes_spec={})
    with pytest.raises(ValueError, match="recompile_limit must be at least 1"):
        ng.compile(lambda x: x, recompile_limit=0)


def test_an_eval_step_with_batchnorm_replays_and_matches_eager():
    """BatchNorm in eval mode casts its running statistics to float64 on every call: while a step is recorded the
    cast runs as numgrad's copy kernel (NumPy's was invisible, so the step never replayed)."""
    def run(compiled):
        ng.manual_seed(0)
        model = ng.nn.Sequential(ng.nn.Conv2d(1, 2, 3), ng.nn.BatchNorm2d(2), ng.nn.ReLU()).eval()

        def infer(x):
            with ng.no_grad():
                return model(x)

        fn = ng.compile(infer) if compiled else infer
        ng.manual_seed(1)
        outs = [fn(ng.randn(2, 1, 5, 5)).numpy().tobytes() for _ in range(5)]
        if compiled:
            assert fn.replays == 2, fn.explain()
        return outs

    assert run(True) == run(False)
