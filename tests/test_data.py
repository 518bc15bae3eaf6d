"""numgrad.data (datasets, DataLoader) and numgrad.serialization (save/load round trips, bad files)."""
from __future__ import annotations

import io
import os

import numpy as np
import pytest
import torch

import numgrad as ng
import numgrad.nn as nn
import numgrad.optim as optim
from numgrad.data import DataLoader, Subset, TensorDataset, default_collate, random_split
from numgrad.serialization import load, save


# ------------------------------------------------------------------ data
def _dataset(n=10):
    return TensorDataset(ng.arange(2.0 * n).reshape(n, 2), ng.arange(n))


def test_batches_cover_dataset_in_order():
    batches = list(DataLoader(_dataset(), batch_size=4))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in batches]), np.arange(10))
    x0, y0 = batches[0]
    assert x0.shape == (4, 2) and x0.dtype == ng.float32 and y0.dtype == ng.int64
    assert len(DataLoader(_dataset(), batch_size=4)) == 3
    assert len(DataLoader(_dataset(), batch_size=4, drop_last=True)) == 2
    assert [len(y) for _, y in DataLoader(_dataset(), batch_size=4, drop_last=True)] == [4, 4]


def test_shuffle_is_a_seedable_permutation():
    def order(gen):
        return np.concatenate([y.numpy() for _, y in DataLoader(_dataset(), batch_size=3, shuffle=True,
                                                                 generator=gen)])
    a = order(np.random.default_rng(5))
    assert sorted(a) == list(range(10)) and list(a) != list(range(10))
    np.testing.assert_array_equal(a, order(np.random.default_rng(5)))
    np.testing.assert_array_equal(order(7), order(7))
    ng.manual_seed(3)
    b = order(None)
    ng.manual_seed(3)
    np.testing.assert_array_equal(b, order(None))
    loader = DataLoader(_dataset(), batch_size=10, shuffle=True, generator=1)
    first, second = [next(iter(loader))[1].tolist() for _ in range(2)]
    assert first != second  # each epoch draws a fresh permutation from the same generator


def test_dataset_indexing_subset_and_random_split():
    ds = _dataset(5)
    x, y = ds[2]
    assert x.tolist() == [4.0, 5.0] and y.item() == 2
    assert ds[-1][1].item() == 4
    with pytest.raises(IndexError, match="out of range"):
        ds[5]
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(ng.zeros(3), ng.zeros(4))
    parts = random_split(_dataset(10), [7, 3], generator=0)
    idx = sorted(parts[0].indices + parts[1].indices)
    assert idx == list(range(10)) and len(parts[0]) == 7
    assert [len(p) for p in random_split(_dataset(10), [0.5, 0.5], generator=0)] == [5, 5]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(_dataset(10), [3, 3])
    sub = Subset(ds, [4, 0])
    batches = list(DataLoader(sub, batch_size=2))
    assert batches[0][1].tolist() == [4, 0]  # generic path: per-sample fetch + default_collate


def test_default_collate_structures():
    batch = [{"x": ng.ones(2), "y": 1}, {"x": ng.zeros(2), "y": 0}]
    out = default_collate(batch)
    assert out["x"].shape == (2, 2) and out["y"].tolist() == [1, 0]
    assert default_collate([(1.0, "a"), (2.0, "b")])[1] == ("a", "b")  # a column of strings, as torch gives it


def test_loader_argument_errors():
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        DataLoader(_dataset(), batch_size=0)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(_dataset(), sampler=[0, 1], shuffle=True)
    with pytest.raises(TypeError, match="generator must be"):
        DataLoader(_dataset(), shuffle=True, generator="seed")


# ------------------------------------------------------------------ save / load
def test_state_dict_round_trip(tmp_path):
    ng.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))
    model(ng.randn(4, 1, 4, 4))  # moves the running statistics away from their defaults
    path = tmp_path / "model.ckpt"
    save(model.state_dict(), path)
    assert path.exists() and not (tmp_path / "model.ckpt.npz").exists()
    loaded = load(path)
    assert list(loaded) == list(model.state_dict())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(loaded[k].numpy(), v.numpy())
        assert loaded[k].dtype == v.dtype
    fresh = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))
    fresh.load_state_dict(loaded)
    fresh.eval(), model.eval()
    x = ng.randn(2, 1, 4, 4)
    np.testing.assert_array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())


def test_weights_move_to_and_from_torch(tmp_path):
    t_model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model.load_state_dict(t_model.state_dict())
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(model(ng.tensor(x)).detach().numpy(), t_model(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    back = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    back.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})


def test_nested_objects_and_optimizer_state(tmp_path):
    w = nn.Parameter(ng.ones(3))
    opt = optim.Adam([w], lr=0.1)
    w.grad = ng.ones(3)
    opt.step()
    obj = {"epoch": 4, "loss": 0.25, "nan": float("nan"), "name": "run", "flags": [True, None],
           "shape": (2, 3), "opt": opt.state_dict(), "param": w, "plain": np.arange(3)}
    buf = io.BytesIO()
    save(obj, buf)
    buf.seek(0)
    back = load(buf)
    assert back["epoch"] == 4 and back["loss"] == 0.25 and np.isnan(back["nan"])
    assert back["flags"] == [True, None] and back["shape"] == (2, 3) and back["name"] == "run"
    assert isinstance(back["param"], nn.Parameter) and back["param"].requires_grad
    assert list(back["opt"]["state"]) == [0]  # integer keys survive
    np.testing.assert_array_equal(back["plain"], np.arange(3))
    fresh = optim.Adam([nn.Parameter(ng.ones(3))], lr=0.5)
    fresh.load_state_dict(back["opt"])
    assert fresh.param_groups[0]["lr"] == 0.1 and fresh.param_groups[0]["betas"] == (0.9, 0.999)


def test_unsupported_objects_are_refused():
    with pytest.raises(TypeError, match="cannot store an object of type object"):
        save({"x": object()}, io.BytesIO())


def test_bad_files_give_clear_errors(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="no such file"):
        load(missing)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(RuntimeError, match="not a valid numgrad checkpoint"):
        load(junk)
    good = tmp_path / "good.npz"
    save({"w": ng.randn(100, 100)}, good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: os.path.getsize(good) // 2])
    with pytest.raises(RuntimeError, match="not a valid numgrad checkpoint"):
        load(truncated)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(2))
    with pytest.raises(RuntimeError, match="no structure entry"):
        load(plain)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, a=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(RuntimeError, match="not a valid numgrad checkpoint"):
        load(pickled)
