"""ng.compile and tensors a step builds from Python data (``ng.tensor``, ``arange``, ``from_numpy`` inside it).

Replay cannot build such a tensor again: it would reuse what the recorded call put there, so a value that
changes later (a global, a list item) would be stale with no guard to notice.  Verification changes their
memory (NaN, an out-of-range integer, flipped flags) and the step falls back when the result depends on it;
numgrad's own tables computed from shapes only (``creation.shape_constant``: interpolation taps, causal masks)
are kept, since the guards cover them.
"""
from __future__ import annotations

import numpy as np
import pytest

import numgrad as ng
from numgrad import nn

X = ng.arange(12.0).reshape(4, 3)


def _calls(step, values: list, setting: list, x=X) -> tuple:
    """(compiled results, eager results, the compiled function) with ``setting[0]`` taking each value."""
    compiled = ng.compile(step)
    got, want = [], []
    for v in values:
        setting[0] = v
        got.append(compiled(x).numpy().copy())
        want.append(step(x).numpy().copy())
    return got, want, compiled


def test_a_float_scalar_from_a_global_is_not_replayed_stale():
    scale = [3.0]

    def step(x):
        return (x * ng.tensor(scale[0])).sum()

    got, want, compiled = _calls(step, [3.0, 4.0, 5.0, 6.0, 7.0, 8.0], scale)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert compiled.replays == 0
    assert "no captured launch wrote" in compiled.fallback_reason
    assert "create it once, outside the step" in compiled.fallback_reason


def test_an_integer_index_from_python_data_is_not_replayed_stale():
    row = [0]

    def step(x):
        return x[ng.tensor([row[0], 1])].sum(0)

    got, want, compiled = _calls(step, [0, 1, 2, 0, 1, 2], row)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert compiled.replays == 0
    assert "builds tensors from Python data ((2,) int64" in compiled.fallback_reason


def test_a_bool_mask_from_python_data_is_not_replayed_stale():
    first = [True]

    def step(x):
        return (x.sum(1) * ng.tensor([first[0], True, False, True])).sum()

    got, want, compiled = _calls(step, [True, True, True, False, True, False], first)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert compiled.replays == 0


def test_python_data_written_by_a_kernel_before_it_is_read_still_replays():
    # a buffer made from Python data and then overwritten in place: what it held never reaches the result
    def step(x):
        buf = ng.tensor([5.0, 6.0, 7.0])
        buf.copy_(x[0])
        return (x * buf).sum()

    compiled = ng.compile(step)
    for k in range(5):
        x = X + k
        assert np.array_equal(compiled(x).numpy(), step(x).numpy())
    assert compiled.replays == 2 and compiled.fallback_reason is None


def test_shape_constant_tables_are_kept():
    # bilinear interpolation builds its taps from shapes (creation.shape_constant): the step replays
    ng.manual_seed(0)
    conv = nn.Conv2d(1, 2, 3, padding=1)
    opt = ng.optim.SGD(conv.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        y = nn.functional.interpolate(conv(x), scale_factor=2, mode="bilinear", align_corners=False)
        loss = (y * y).mean()
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(1)
    batches = [ng.tensor(rng.standard_normal((2, 1, 5, 5)).astype(np.float32)) for _ in range(5)]
    compiled = ng.compile(step)
    compiled_losses = [compiled(b).item() for b in batches]
    compiled_params = [p.detach().numpy().copy() for p in conv.parameters()]
    assert compiled.replays == 2 and compiled.fallback_reason is None

    ng.manual_seed(0)
    conv2 = nn.Conv2d(1, 2, 3, padding=1)
    for p, q in zip(conv.parameters(), conv2.parameters()):
        assert p.shape == q.shape
    conv.load_state_dict(conv2.state_dict())
    opt = ng.optim.SGD(conv.parameters(), lr=0.1)  # the step's closure now reads the fresh optimizer
    eager_losses = [step(b).item() for b in batches]
    assert [np.float64(v).tobytes() for v in compiled_losses] == [np.float64(v).tobytes() for v in eager_losses]
    assert all(np.array_equal(a, p.detach().numpy()) for a, p in zip(compiled_params, conv.parameters()))


@pytest.mark.parametrize("factory", ["arange", "from_numpy"])
def test_other_factories_are_python_data(factory):
    start = [0]

    def step(x):
        if factory == "arange":
            idx = ng.arange(start[0], start[0] + 2)
        else:
            idx = ng.from_numpy(np.array([start[0], start[0] + 1]))
        return x[idx].sum()

    got, want, compiled = _calls(step, [0, 0, 0, 1, 2, 1], start)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert compiled.replays == 0
