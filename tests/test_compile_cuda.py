"""ng.compile on the CUDA backend: captured steps replay bit-identically to eager; guards; what falls back.

CI runs these on Numba's CUDA simulator (conftest.py), so the model is tiny and the steps few;
``NUMBA_ENABLE_CUDASIM=0 python -m pytest -m gpu tests/test_compile_cuda.py`` runs them on a GPU.
"""
from __future__ import annotations

import numpy as np
import pytest

import numgrad as ng
from numgrad import nn
from numgrad.compiler import GraphBreak

pytestmark = [pytest.mark.skipif(not ng.cuda.is_available(), reason="no GPU and no CUDA simulator"), pytest.mark.gpu,
              pytest.mark.usefixtures("fast_simulated_barriers")]

RNG = np.random.default_rng(0)


def _batch(n: int, classes: int = 3):
    x = ng.tensor(RNG.standard_normal((n, 4)).astype(np.float32), device="cuda")
    y = ng.tensor(RNG.integers(0, classes, n), device="cuda")
    return x, y


BATCHES = [_batch(5) for _ in range(6)]


def _mlp_step(opt_name: str, read_loss: bool = False, batch_norm: bool = False):
    """Linear-ReLU-Linear (with BatchNorm1d after the first Linear), cross_entropy, SGD (momentum) or Adam, all on
    CUDA."""
    ng.manual_seed(0)
    norm = [nn.BatchNorm1d(8)] if batch_norm else []
    model = nn.Sequential(nn.Linear(4, 8), *norm, nn.ReLU(), nn.Linear(8, 3)).to("cuda")
    if opt_name == "sgd":
        opt = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = ng.optim.Adam(model.parameters(), lr=1e-2)

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        if read_loss:
            loss.item()  # Python reads data mid-step: not capturable
        loss.backward()
        opt.step()
        return loss

    return model, opt, step


def _host_state(model, opt) -> list:
    out = [p.detach().cpu().numpy() for p in model.parameters()]
    out += [p.grad.cpu().numpy() for p in model.parameters()]
    for p in model.parameters():
        out += [v.cpu().numpy() for v in opt.state[p].values() if isinstance(v, ng.Tensor)]
    return out + [b.cpu().numpy() for b in model.buffers()]


def _bits(values) -> list:
    return [np.asarray(v).tobytes() for v in values]


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_mlp_steps_on_cuda_are_bitwise_eager(opt_name):
    eager_model, eager_opt, eager_step = _mlp_step(opt_name)
    model, opt, step = _mlp_step(opt_name)
    compiled = ng.compile(step)
    eager_losses = [eager_step(x, y).item() for x, y in BATCHES]
    losses = [compiled(x, y) for x, y in BATCHES]
    assert all(loss.device.type == "cuda" for loss in losses)
    assert _bits(loss.item() for loss in losses) == _bits(eager_losses)
    assert _bits(_host_state(model, opt)) == _bits(_host_state(eager_model, eager_opt))
    # a warm-up call, two recorded calls, then replays
    assert compiled.fallback_reason is None and compiled.replays == 3
    text = compiled.explain()
    assert "captured CUDA step" in text and "(CUDA)" in text and "read (1,) int64 back from the GPU" in text


def test_new_batch_size_on_cuda_is_a_guard_miss():
    eager_model, eager_opt, eager_step = _mlp_step("sgd")
    model, opt, step = _mlp_step("sgd")
    compiled = ng.compile(step)
    small = [_batch(3) for _ in range(3)]
    calls = BATCHES[:4] + small + BATCHES[4:]
    eager_losses = [eager_step(x, y).item() for x, y in calls]
    losses = [compiled(x, y).item() for x, y in calls]
    assert _bits(losses) == _bits(eager_losses)
    assert _bits(_host_state(model, opt)) == _bits(_host_state(eager_model, eager_opt))
    assert len(compiled._variants) == 2 and compiled.fallback_reason is None
    # batch 5: warm-up, two recordings, a replay, then two more after the batch-3 calls; batch 3 is captured from
    # its first call on (the captured size's family: no warm-up) and replays its third
    assert compiled.replays == 4 and compiled.captures == 2


def test_out_of_range_target_on_cuda_runs_eagerly_and_raises():
    eager_model, eager_opt, eager_step = _mlp_step("sgd", batch_norm=True)
    model, opt, step = _mlp_step("sgd", batch_norm=True)
    compiled = ng.compile(step)
    for x, y in BATCHES[:4]:
        eager_step(x, y)
        compiled(x, y)
    assert compiled.replays == 1
    # BatchNorm's running mean, variance and batch count are written before the targets are checked: the plan
    # saves them on each replay
    (variant,) = compiled._variants.values()
    assert len(variant.plan.undo) == 3
    bad_x, _ = BATCHES[4]
    bad_y = ng.tensor(np.array([0, 1, 7, 1, 0]), device="cuda")
    # the replay reads the range check's flag back, sees another value, puts the running statistics back and runs
    # the call eagerly: eager's error, and eager's statistics (updated once, by the forward before the error)
    with pytest.raises(IndexError, match="Target 7 is out of bounds"):
        compiled(bad_x, bad_y)
    with pytest.raises(IndexError, match="Target 7 is out of bounds"):
        eager_step(bad_x, bad_y)
    x, y = BATCHES[5]
    assert _bits([compiled(x, y).item()]) == _bits([eager_step(x, y).item()])
    assert compiled.replays == 2 and compiled.fallback_reason is None
    assert _bits(_host_state(model, opt)) == _bits(_host_state(eager_model, eager_opt))


def test_item_inside_a_cuda_step_falls_back_with_the_reason():
    eager_model, eager_opt, eager_step = _mlp_step("sgd", read_loss=True)
    model, opt, step = _mlp_step("sgd", read_loss=True)
    compiled = ng.compile(step)
    for x, y in BATCHES[:3]:
        assert _bits([compiled(x, y).item()]) == _bits([eager_step(x, y).item()])
    assert ".item()" in compiled.fallback_reason and compiled.replays == 0
    strict = ng.compile(step, fullgraph=True)
    strict(*BATCHES[0])
    with pytest.raises(GraphBreak, match=r"tensor data is read in Python \(\.item\(\)"):
        strict(*BATCHES[1])


def test_host_value_copied_each_call_is_not_captured():
    w = ng.ones(3, device="cuda")
    calls = [0]

    def step():
        calls[0] += 1
        return w * ng.tensor(np.full(3, calls[0], dtype=np.float32), device="cuda")

    compiled = ng.compile(step)
    got = [compiled().cpu().numpy() for _ in range(5)]
    assert [g.tolist() for g in got] == [[float(k)] * 3 for k in range(1, 6)]
    # the counter is a Python value the step reads and changes: found at the warm-up call
    assert "changes Python state (item 0 of a list)" in compiled.fallback_reason and compiled.replays == 0


def test_dropout_on_cuda_replays_the_generator():
    def make():
        ng.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 3)).to("cuda")
        opt = ng.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return model, opt, step

    eager_model, eager_opt, eager_step = make()
    model, opt, step = make()
    compiled = ng.compile(step)
    ng.manual_seed(1)
    eager_losses = [eager_step(x, y).item() for x, y in BATCHES[:5]]
    ng.manual_seed(1)
    losses = [compiled(x, y).item() for x, y in BATCHES[:5]]
    assert _bits(losses) == _bits(eager_losses)
    assert _bits(_host_state(model, opt)) == _bits(_host_state(eager_model, eager_opt))
    assert compiled.replays == 2 and compiled.fallback_reason is None


def test_cpu_batches_moved_to_the_gpu_inside_the_step():
    def make():
        ng.manual_seed(0)
        model = nn.Linear(4, 3).to("cuda")
        opt = ng.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            x, y = x.to("cuda"), y.to("cuda")  # the batch arrives in host memory, as from a DataLoader
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return model, opt, step

    eager_model, eager_opt, eager_step = make()
    model, opt, step = make()
    compiled = ng.compile(step)
    calls = [(x.cpu(), y.cpu()) for x, y in BATCHES[:5]]
    eager_losses = [eager_step(x, y).item() for x, y in calls]
    losses = [compiled(x, y).item() for x, y in calls]
    assert _bits(losses) == _bits(eager_losses)
    assert _bits(_host_state(model, opt)) == _bits(_host_state(eager_model, eager_opt))
    assert compiled.replays == 2 and compiled.fallback_reason is None
    text = compiled.explain()
    assert "copy tensor argument 0 to the GPU" in text and "copy tensor argument 1 to the GPU" in text


def test_a_grad_kept_as_a_view_on_cuda_keeps_its_calls_values():
    # a replay would write the arena's .grad memory again: with a detached copy or a row of an earlier call's .grad
    # still held, that call runs eagerly (a CUDA plan is not moved to new memory), as eager code makes new .grads
    eager_model, _, eager_step = _mlp_step("sgd")
    model, _, step = _mlp_step("sgd")
    compiled = ng.compile(step)
    kept_eager, kept = [], []
    for k, (x, y) in enumerate(BATCHES):
        eager_step(x, y)
        compiled(x, y)
        keep = (lambda g: g.detach()) if k % 2 else (lambda g: g[0])
        kept_eager.append(keep(eager_model[0].weight.grad))
        kept.append(keep(model[0].weight.grad))
    assert _bits(g.cpu().numpy() for g in kept) == _bits(g.cpu().numpy() for g in kept_eager)
    assert compiled.replays == 0 and compiled.eager_calls == len(BATCHES)
