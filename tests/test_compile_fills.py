"""ng.compile and the numbers ops turn into tensors (``t[i] = 0.25``, ``masked_fill(m, 2.0)``, ``pad(value=)``...).

Such a number becomes a 0-d tensor through ``creation.scalar_tensor``: the backend's fill, which a capture
records as a fill of that number (compared between the two recorded calls, guarded where the step reads it,
like the scalar of ``x * 0.25``), so the step replays.  A tensor the user builds from Python data
(``ng.tensor(3.0)``, ``x.new_tensor(...)``) stays Python data (tests/test_compile_python_data.py).
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad import nn

F = nn.functional
RNG = np.random.default_rng(0)
BATCHES = [RNG.standard_normal((3, 4)).astype(np.float32) for _ in range(5)]
IDX = ng.tensor([0, 2])  # index tensors are built outside the step (inside, they are Python data)
ROWS = ng.tensor([[1], [0], [3]])
MASK = ng.tensor(RNG.standard_normal((3, 4)) > 0)


def _set(h, key, value):
    h = h.clone()
    h[key] = value
    return h


def _filled_(h, value):
    out = h.detach().clone().fill_(value)
    return h * out


# each body gets ``h = x * w`` (w a parameter) and turns Python numbers into tensors inside the op
BODIES = {
    "setitem_slice": lambda h: _set(h, (slice(None), 0), 0.25),
    "setitem_mask": lambda h: _set(h, MASK, 3.0),
    "setitem_index": lambda h: _set(h, IDX, -1.5),
    "index_put_number": lambda h: h.clone().index_put_((IDX,), 2.0),
    "masked_fill": lambda h: h.masked_fill(h > 0.5, 2.0),
    "masked_fill_": lambda h: h.clone().masked_fill_(h < 0.0, -7.0),
    "index_fill": lambda h: h.index_fill(1, IDX, 1.0),
    "scatter_value": lambda h: h.clone().scatter_(1, ROWS, 2.0),
    "scatter_reduce_exclude": lambda h: h.scatter_reduce(1, ROWS, h[:, :1] * 2, "sum", include_self=False),
    "pad_value": lambda h: F.pad(h, (1, 2), value=2.0),
    "where_number": lambda h: ng.where(h > 0.5, h, 2.0),
    "clamp_min": lambda h: h.clamp(min=0.5),
    "threshold": lambda h: F.threshold(h, 0.5, 7.0),
    "fill_": lambda h: _filled_(h, 3.0),
    "new_full": lambda h: h * h.new_full((3, 4), 2.0),
    "full_like": lambda h: h * ng.full_like(h, 2.0),
    "zeros_ones_like": lambda h: (h + ng.zeros_like(h)) * ng.ones_like(h),
    "scalar_tensor": lambda h: h * ng.scalar_tensor(1.5),
    "diff_prepend": lambda h: ng.diff(h, dim=1, prepend=0.5),
    # a boolean fill read by a kernel as a scalar (triu's masked_fill(mask, False) of a causal mask)
    "bool_causal_mask": lambda h: h.masked_fill(ng.ones(3, 4, dtype=ng.bool).triu(1), -1e9).softmax(-1),
}


def _training(body):
    """(step, parameter, optimizer): SGD with momentum on one (3, 4) weight through ``body``."""
    w = ng.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), requires_grad=True)
    opt = ng.optim.SGD([w], lr=0.1, momentum=0.9)

    def step(x):
        opt.zero_grad()
        h = body(x * w)
        loss = (h * h).mean()
        loss.backward()
        opt.step()
        return loss

    return step, w, opt


def _compare(body):
    """Run ``body``'s training step eagerly and compiled; both bitwise equal; returns the compiled function."""
    eager_step, eager_w, _ = _training(body)
    step, w, _ = _training(body)
    compiled = ng.compile(step)
    for b in BATCHES:
        want = eager_step(ng.tensor(b)).detach().numpy().copy()
        grad_want = eager_w.grad.numpy().copy()
        got = compiled(ng.tensor(b)).detach().numpy().copy()
        assert got.tobytes() == want.tobytes()
        assert w.grad.numpy().tobytes() == grad_want.tobytes()
    assert w.detach().numpy().tobytes() == eager_w.detach().numpy().tobytes()
    return compiled


@pytest.mark.parametrize("name", sorted(BODIES))
def test_a_number_an_op_turns_into_a_tensor_replays(name):
    compiled = _compare(BODIES[name])
    assert compiled.fallback_reason is None and compiled.replays > 0


def test_integer_labels_filled_in_the_step_replay():
    # a realistic case: padding labels masked to ignore_index inside the step (an int64 fill, no gradient)
    lin = nn.Linear(4, 3)
    ng.manual_seed(0)
    y = ng.tensor([0, 2, 1])

    def step(x):
        labels = y.masked_fill(y > 1, -100)
        return F.cross_entropy(lin(x).detach(), labels, ignore_index=-100)

    compiled = ng.compile(step)
    for b in BATCHES:
        assert compiled(ng.tensor(b)).numpy().tobytes() == step(ng.tensor(b)).numpy().tobytes()
    assert compiled.fallback_reason is None and compiled.replays > 0


K = 0.25


def test_a_global_number_that_changes_after_capture_is_not_replayed_stale():
    global K
    x = ng.tensor(BATCHES[0])

    def step(x):
        h = x.clone()
        h[:, 0] = K
        return h.masked_fill(x > 0.5, K * 2)

    compiled = ng.compile(step)
    for value in (0.25, 0.25, 0.25, 0.25, 3.0, 3.0, 3.0, 3.0, -1.0):
        K = value
        assert compiled(x).numpy().tobytes() == step(x).numpy().tobytes()
    assert compiled.replays > 0 and compiled.fallback_reason is None


def test_a_closure_number_that_changes_after_capture_is_not_replayed_stale():
    fill = [1.0]
    x = ng.tensor(BATCHES[1])

    def step(x):
        return F.pad(x, (1, 1), value=fill[0]).index_fill(1, IDX, fill[0] + 1)

    compiled = ng.compile(step)
    for value in (1.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0):
        fill[0] = value
        assert compiled(x).numpy().tobytes() == step(x).numpy().tobytes()
    assert compiled.replays > 0


def test_a_number_that_changes_from_call_to_call_is_noticed_at_capture():
    counter = itertools.count()
    x = ng.tensor(BATCHES[2])
    got, want = [], []

    def step(x):
        return x.masked_fill(x > 0.0, float(next(counter)))

    compiled = ng.compile(step)
    for _ in range(6):
        got.append(compiled(x).numpy().copy())
    counter = itertools.count()
    want = [step(x).numpy().copy() for _ in range(6)]
    assert all(g.tobytes() == w.tobytes() for g, w in zip(got, want))
    assert compiled.replays == 0 and "differs between consecutive calls" in compiled.fallback_reason


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_boolean_computed_from_data_is_not_replayed_stale(overwrite):
    # a 0-d boolean a kernel reads as a scalar is kept only when a fill wrote it and nothing wrote it since
    def step(x):
        if overwrite:
            flag = ng.zeros((), dtype=ng.bool)  # a fill, which a copy kernel then overwrites from data
            flag.copy_(x.sum().clamp(min=0))
        else:
            flag = x.sum() > 0
        return ng.where(flag, x, -x)

    compiled = ng.compile(step)
    for sign in (1, 1, 1, 1, -1, -1):
        x = ng.tensor(BATCHES[0] * 0 + sign)
        assert compiled(x).numpy().tobytes() == step(x).numpy().tobytes()
    if overwrite:  # (the comparison alone fuses into where's kernel, which replays it from the data)
        assert compiled.replays == 0 and "a boolean read from a tensor" in compiled.fallback_reason


class _Hidden:
    """A value the guards do not see (no ``__dict__``)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def test_new_tensor_of_python_data_stays_python_data():
    # Tensor.new_tensor builds from the user's Python data as ng.tensor does: an integer index made from a value
    # the guards do not see must not be replayed stale
    row = _Hidden(0)
    x = ng.tensor(BATCHES[3])

    def step(x):
        return x[x.new_tensor([row.value, 1], dtype=ng.int64)].sum(0)

    compiled = ng.compile(step)
    for value in (0, 0, 0, 0, 2, 1):
        row.value = value
        assert compiled(x).numpy().tobytes() == step(x).numpy().tobytes()
    assert compiled.replays == 0 and "builds tensors from Python data" in compiled.fallback_reason


def test_bfloat16_and_negative_zero_fills_replay_bitwise():
    x = ng.tensor(BATCHES[4])

    def step(x):
        h = x.to(ng.bfloat16).masked_fill(x > 0.5, 2.3)
        h[0] = -0.0
        return h.float() + ng.full((3, 4), -0.0)

    compiled = ng.compile(step)
    for _ in range(5):
        assert compiled(x).numpy().tobytes() == step(x).numpy().tobytes()
    assert compiled.replays > 0 and compiled.fallback_reason is None
    assert np.signbit(step(x).numpy()[0]).all()


@pytest.mark.parametrize("value, kwargs", [(3, {}), (True, {"dtype": "int64"}), (2.5, {"dtype": "float64"}),
                                           (300, {"dtype": "int16"}), (-0.0, {}), (1.7, {"dtype": "int32"})])
def test_scalar_tensor_matches_torch(value, kwargs):
    got = ng.scalar_tensor(value, **{k: getattr(ng, v) for k, v in kwargs.items()})
    want = torch.scalar_tensor(value, **{k: getattr(torch, v) for k, v in kwargs.items()})
    assert got.shape == () and got.dtype.name == str(want.dtype).replace("torch.", "")
    assert got.numpy().tobytes() == want.numpy().tobytes()


def test_scalar_tensor_rejects_what_is_not_a_real_number():
    with pytest.raises(TypeError, match=r"scalar_tensor\(\): argument 's' \(position 1\) must be a real number"):
        ng.scalar_tensor([1.0])
    with pytest.raises(TypeError, match="must be a real number, not complex"):
        ng.scalar_tensor(1j)


@pytest.mark.skipif(not ng.cuda.is_available(), reason="no GPU and no CUDA simulator")
def test_fills_in_a_cuda_step_replay_bitwise():
    w = ng.ones((3, 4), device="cuda")
    x = ng.tensor(BATCHES[0], device="cuda")

    def step(x):
        h = (x * w).masked_fill(x > 0.5, 2.0)
        h[:, 0] = 0.25
        return F.pad(h, (1, 0), value=-1.0).sum()

    compiled = ng.compile(step)
    for _ in range(4):
        assert compiled(x).cpu().numpy().tobytes() == step(x).cpu().numpy().tobytes()
    assert compiled.fallback_reason is None and compiled.replays > 0


def test_diff_with_a_number_prepended_and_appended_matches_torch():
    x = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    got = ng.diff(ng.tensor(x), dim=1, prepend=0.5, append=2.0)
    t = torch.tensor(x)
    want = torch.diff(t, dim=1, prepend=torch.full((3, 1), 0.5), append=torch.full((3, 1), 2.0))
    assert got.numpy().tobytes() == want.numpy().tobytes()
