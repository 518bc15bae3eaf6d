"""ng.compile and tensors a step builds from Python data (``ng.tensor``, ``from_numpy`` inside it).

Replay cannot build such a tensor again: it would reuse what the recorded call put there, so a value that
changes later (a global, a list item) would be stale with no guard to notice.  Verification changes their
memory (NaN, an out-of-range integer, flipped flags) and the step falls back when the result depends on it;
numgrad's own tables computed from shapes only (``creation.shape_constant``: interpolation taps, causal masks)
and the ranges and tables made of Python numbers (``arange``, ``linspace``, ``eye``, ``logspace``, window
functions) are kept, since the guards cover those numbers as they cover the ``k`` of ``x * k``.
"""
from __future__ import annotations

import collections

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


class _Hidden:
    """A value the guards do not see (held in a deque, which the walk of the step's state does not go into): the
    Python-data check is the backstop.  (A NumPy array once hid it too; its contents are guarded now.)"""

    __slots__ = ("cell",)

    def __init__(self, value):
        self.cell = collections.deque([value], maxlen=1)

    def __getitem__(self, i):
        return self.cell[0]

    def __setitem__(self, i, v):
        self.cell[0] = v


class _Slotted:
    """A user object with ``__slots__`` and no ``__dict__`` (a ``@dataclass(slots=True)`` config)."""

    __slots__ = ("value", "__private")

    def __init__(self, value):
        self.value = value
        self.__private = value

    def __getitem__(self, i):
        return self.value if i == 0 else self.__private

    def __setitem__(self, i, v):
        if i == 0:
            self.value = v
        else:
            self.__private = v


@pytest.mark.parametrize("slot", [0, 1])
def test_a_value_in_a_slot_of_a_user_object_is_guarded(slot):
    setting = _Slotted(3.0)

    def step(x):
        return (x * setting[slot]).sum()

    got, want, compiled = _calls(step, [3.0, 3.0, 3.0, 3.0, 6.0, 6.0, 6.0, 6.0, 3.0], setting)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert compiled.replays == 3 and compiled.fallback_reason is None  # 3.0 once, 6.0 once, 3.0 again


def test_a_float_scalar_from_a_global_is_not_replayed_stale():
    scale = _Hidden(3.0)

    def step(x):
        return (x * ng.tensor(scale[0])).sum()

    got, want, compiled = _calls(step, [3.0, 3.0, 3.0, 6.0, 7.0, 8.0], scale)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert compiled.replays == 0
    assert "no captured launch wrote" in compiled.fallback_reason
    assert "create it once, outside the step" in compiled.fallback_reason


def test_an_integer_index_from_python_data_is_not_replayed_stale():
    row = _Hidden(0)

    def step(x):
        return x[ng.tensor([row[0], 1])].sum(0)

    got, want, compiled = _calls(step, [0, 1, 2, 0, 1, 2], row)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert compiled.replays == 0
    assert "builds tensors from Python data ((2,) int64" in compiled.fallback_reason


def test_a_bool_mask_from_python_data_is_not_replayed_stale():
    first = _Hidden(True)

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


def test_from_numpy_is_python_data():
    start = _Hidden(0)

    def step(x):
        return x[ng.from_numpy(np.array([start[0], start[0] + 1]))].sum()

    got, want, compiled = _calls(step, [0, 0, 0, 1, 2, 1], start)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert compiled.replays == 0


HALF = [3]


def test_ranges_and_tables_from_python_numbers_replay_and_follow_the_guarded_numbers():
    # arange, linspace, eye, ...: made of Python numbers only (a literal, a shape, a guarded global), like the
    # number in ``x * k``; a timestep embedding's frequencies are the usual case.  (A number hidden from the guards,
    # in a deque, would be replayed stale here as in ``x * k``: see ``_Hidden``.)
    def step(x):
        half = HALF[0]
        freqs = ng.exp(-9.2 * ng.arange(half, dtype=ng.float32) / half)
        table = ng.linspace(0, 1, x.shape[1]) + ng.eye(x.shape[0], x.shape[1]) + ng.logspace(0, 1, x.shape[1])
        return (x[:, :half] * freqs).sum() + (x * table).sum() + ng.tril_indices(3, 3).sum()

    got, want, compiled = _calls(step, [3, 3, 3, 3, 3, 2, 2, 2, 2, 3], HALF)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert compiled.replays >= 3 and compiled.fallback_reason is None


# ---------------------------------------------------------------- Python values the step reads (guards)
SHIFT = [0]


@pytest.mark.parametrize("case", ["list index", "int index", "slice", "scalar", "full", "narrow"])
def test_a_python_value_read_by_the_step_is_guarded(case):
    # the same for three calls (captured), then changing: each new value is a guard miss, never a stale replay
    steps = {
        "list index": lambda x: x[[SHIFT[0], 1]].sum(0),
        "int index": lambda x: x[SHIFT[0]].sum(),
        "slice": lambda x: x[SHIFT[0]:].sum(),
        "scalar": lambda x: (x * SHIFT[0]).sum(),
        "full": lambda x: (x + ng.full((3,), float(SHIFT[0]))).sum(),
        "narrow": lambda x: x.narrow(0, SHIFT[0], 2).sum(),
    }
    got, want, compiled = _calls(steps[case], [0, 0, 0, 0, 1, 2, 1, 0, 0], SHIFT)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert compiled.replays >= 2  # the value 0 replays: its variant is kept while the others are captured


def test_closure_variables_and_config_objects_are_guarded():
    class Config:
        def __init__(self):
            self.scale = 2.0

    cfg = Config()
    offset = 1.0

    def step(x):
        return (x * cfg.scale + offset).sum()

    compiled = ng.compile(step)
    results = []
    for k in range(10):
        if k == 5:
            cfg.scale = 3.0
        if k == 7:
            offset = -1.0  # noqa: F841 - read by step through its closure
        results.append((compiled(X).item(), step(X).item()))
    assert all(a == b for a, b in results)
    assert len({a for a, _ in results}) == 3


def test_a_module_attribute_is_guarded():
    ng.manual_seed(0)
    act = nn.LeakyReLU(0.1)
    compiled = ng.compile(lambda x: act(x - 5.0).sum())
    for k in range(8):
        if k == 4:
            act.negative_slope = 0.5
        assert compiled(X).item() == act(X - 5.0).sum().item()
    assert "LeakyReLU.negative_slope" in " ".join(v.description for v in compiled._python_values)


def test_a_step_that_changes_python_state_runs_eagerly():
    calls = {"n": 0}

    def step(x):
        calls["n"] += 1
        return (x * 2).sum()

    compiled = ng.compile(step)
    for _ in range(5):
        compiled(X)
    assert calls["n"] == 5  # every call ran the Python
    assert compiled.replays == 0
    assert "the step changes Python state (item 'n' of a dict)" in compiled.fallback_reason
    assert len(compiled._variants) == 1
    with pytest.raises(Exception, match="changes Python state"):
        strict = ng.compile(step, fullgraph=True)
        for _ in range(3):
            strict(X)
