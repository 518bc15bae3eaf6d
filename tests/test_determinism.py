"""Run-to-run determinism: the same seeded training run gives the same bits wherever its arrays lie.

PyTorch's CPU kernels are deterministic for a fixed thread count, and ``ng.compile`` verifies a replay against
the eager step bit for bit, so a kernel whose rounding depends on memory addresses makes compiled steps fall
back to eager at random.  Found in CI: a loop that stored gradients and summed the loss at once was vectorized
or not by where its arrays lay (LLVM's run-time overlap check), one ulp apart.  Each model below is trained
twice in one process, with unrelated allocations of varying sizes in between so that its arrays land at other
addresses, and every loss and parameter must be equal to the bit.
"""
from __future__ import annotations

import numpy as np
import pytest

import numgrad as ng
from numgrad import nn

RNG = np.random.default_rng(0)


def _mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3)), nn.MSELoss(), (8, 6), 3


def _cnn():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
    return model, nn.CrossEntropyLoss(), (6, 1, 8, 8), 5


class _Block(nn.Module):
    """LayerNorm + self-attention + softmax head: the transformer pieces with row sums."""

    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(12)
        self.attn = nn.MultiheadAttention(12, 3, batch_first=True)
        self.head = nn.Linear(12, 4)

    def forward(self, x):
        h = self.norm(x)
        h, _ = self.attn(h, h, h, need_weights=False)
        return ng.softmax(self.head(x + h), dim=-1).mean(dim=1)


def _block():
    return _Block(), nn.MSELoss(), (3, 5, 12), 4


class _Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 7, batch_first=True)
        self.out = nn.Linear(7, 3)

    def forward(self, x):
        h, _ = self.lstm(x)
        return self.out(h[:, -1])


def _lstm():
    return _Recurrent(), nn.CrossEntropyLoss(), (4, 6, 5), 3


def _train(make, layout_seed: int):
    junk_rng = np.random.default_rng(layout_seed)
    ng.manual_seed(0)
    model, loss_fn, x_shape, classes = make()
    opt = ng.optim.Adam(model.parameters(), lr=1e-2)
    data_rng = np.random.default_rng(1)
    losses, junk = [], []
    for _ in range(3):
        # unrelated arrays of random sizes: the step's temporaries land at other addresses
        junk.extend(np.empty(int(junk_rng.integers(1, 400)), dtype=np.float32)
                    for _ in range(int(junk_rng.integers(0, 12))))
        x = ng.tensor(data_rng.standard_normal(x_shape).astype(np.float32))
        if isinstance(loss_fn, nn.CrossEntropyLoss):
            y = ng.tensor(data_rng.integers(0, classes, x_shape[0]))
        else:
            y = ng.tensor(data_rng.standard_normal((x_shape[0], classes)).astype(np.float32))
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("make", [_mlp, _cnn, _block, _lstm], ids=["mlp", "cnn", "attention", "lstm"])
def test_training_is_bitwise_reproducible_wherever_the_arrays_lie(make):
    losses, params = _train(make, 0)
    for layout_seed in range(1, 13):
        other_losses, other_params = _train(make, layout_seed)
        assert [v.hex() for v in other_losses] == [v.hex() for v in losses], f"layout {layout_seed}"
        for a, b in zip(params, other_params):
            assert a.tobytes() == b.tobytes(), f"layout {layout_seed}"
