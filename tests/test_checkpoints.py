"""Checkpoints that travel: PyTorch's .pt files both ways, safetensors, whole modules (issue 16, item 6)."""
from __future__ import annotations

import io
import pickle
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad import nn


def _torch_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Flatten(),
                               torch.nn.Linear(8, 3))


def _numgrad_model():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))


def _x():
    return np.random.default_rng(0).standard_normal((4, 1, 4, 4)).astype(np.float32)


def _assert_same(ours, theirs):
    np.testing.assert_array_equal(np.asarray(ours.detach().numpy()), theirs.detach().numpy())
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]


# ------------------------------------------------------------------ torch.save -> ng.load
@pytest.fixture(scope="module")
def torch_file():
    base = torch.arange(12.0).reshape(3, 4)
    obj = {
        "view": base[1:, ::2],  # shares base's storage with an offset and strides
        "base": base,
        "transposed": base.t(),
        "param": torch.nn.Parameter(torch.ones(2)),
        "frozen": torch.nn.Parameter(torch.zeros(1), requires_grad=False),
        "half": torch.tensor([1.5, -2.0], dtype=torch.float16),
        "long0d": torch.tensor(7),
        "mask": torch.tensor([True, False]),
        "int8": torch.tensor([-3, 4], dtype=torch.int8),
        "dtype": torch.float64,
        "device": torch.device("cpu"),
        "size": torch.Size([2, 3]),
        "nested": [1, 2.5, "s", None, (True, b"xy")],
        "ordered": OrderedDict([("b", 1), ("a", 2)]),
        "empty": torch.zeros(0, 3),
    }
    buf = io.BytesIO()
    torch.save(obj, buf)
    return obj, buf.getvalue()


def test_torch_checkpoint_loads_as_torch_returns_it(torch_file):
    obj, data = torch_file
    out = ng.load(io.BytesIO(data))
    assert list(out) == list(obj)
    for key in ("view", "base", "transposed", "half", "long0d", "mask", "int8", "empty"):
        assert type(out[key]) is ng.Tensor
        _assert_same(out[key], obj[key])
        assert tuple(out[key].shape) == tuple(obj[key].shape)
    assert isinstance(out["param"], nn.Parameter) and out["param"].requires_grad
    assert isinstance(out["frozen"], nn.Parameter) and not out["frozen"].requires_grad
    assert out["dtype"] is ng.float64 and out["device"] == ng.device("cpu") and out["size"] == (2, 3)
    assert out["nested"] == [1, 2.5, "s", None, (True, b"xy")]
    assert type(out["ordered"]) is OrderedDict and list(out["ordered"]) == ["b", "a"]


def test_views_share_their_storage_as_in_torch(torch_file):
    _, data = torch_file
    out = ng.load(io.BytesIO(data))
    base, view, transposed = out["base"], out["view"], out["transposed"]
    assert np.shares_memory(base.numpy(), view.numpy()) and np.shares_memory(base.numpy(), transposed.numpy())
    base.add_(1)  # an in-place write to the base shows through the views, as in torch
    reference = torch.arange(12.0).reshape(3, 4) + 1
    np.testing.assert_array_equal(view.numpy(), reference[1:, ::2].numpy())
    np.testing.assert_array_equal(transposed.numpy(), reference.t().numpy())


def test_legacy_non_zip_checkpoint_loads(tmp_path):
    base = torch.arange(6, dtype=torch.float64)
    obj = {"w": base[2:], "b": base, "sd": torch.nn.Linear(2, 2).state_dict()}
    path = tmp_path / "legacy.pt"
    torch.save(obj, path, _use_new_zipfile_serialization=False)
    assert path.read_bytes()[:2] == b"\x80\x02"
    out = ng.load(path)
    _assert_same(out["w"], obj["w"])
    assert np.shares_memory(out["w"].numpy(), out["b"].numpy())
    for key, value in obj["sd"].items():
        _assert_same(out["sd"][key], value)
    again = ng.load(path, weights_only=False)
    _assert_same(again["b"], base)


def test_map_location_as_in_torch_load(torch_file):
    _, data = torch_file
    out = ng.load(io.BytesIO(data), map_location={"cpu": "cpu"})
    assert out["base"].device == ng.device("cpu")
    with pytest.raises(RuntimeError, match="bad map_location 'tpu'"):
        ng.load(io.BytesIO(data), map_location="tpu")


# ------------------------------------------------------------------ ng.save(format="torch") -> torch.load
def test_numgrad_saves_what_torch_load_reads_with_weights_only(tmp_path):
    base = ng.arange(12.0).reshape(3, 4)
    obj = {
        "base": base, "view": base[1:, ::2], "t": base.t(), "param": nn.Parameter(ng.ones(2)),
        "half": ng.tensor([1.5, 2.0], dtype=ng.float16), "i": ng.tensor(5), "mask": ng.tensor([True, False]),
        "dtype": ng.float32, "device": ng.device("cpu"), "meta": OrderedDict(step=3, lr=0.1),
        "list": [ng.zeros(2), (1, "x", None)],
    }
    path = tmp_path / "from_numgrad.pt"
    ng.save(obj, path)  # the suffix picks PyTorch's format
    out = torch.load(path, weights_only=True)
    for key in ("base", "view", "t", "half", "i", "mask"):
        _assert_same(obj[key], out[key])
    assert out["view"].untyped_storage().data_ptr() == out["base"].untyped_storage().data_ptr()
    assert (out["view"].storage_offset(), out["view"].stride()) == (4, (4, 2))
    assert isinstance(out["param"], torch.nn.Parameter) and out["param"].requires_grad
    assert out["dtype"] is torch.float32 and out["device"] == torch.device("cpu")
    assert out["meta"] == OrderedDict(step=3, lr=0.1) and out["list"][1] == (1, "x", None)
    # and back: numgrad reads its own torch-format file the same way
    back = ng.load(path)
    _assert_same(back["view"], out["view"])


# ------------------------------------------------------------------ state_dicts across the two libraries
def test_state_dict_from_torch_loads_into_numgrad_and_back(tmp_path):
    tm = _torch_model()
    tm.train()
    tm(torch.randn(8, 1, 4, 4))  # running statistics move away from their defaults
    path = tmp_path / "torch_sd.pt"
    torch.save(tm.state_dict(), path)

    model = _numgrad_model()
    model.load_state_dict(ng.load(path))
    tm.eval(), model.eval()
    x = _x()
    np.testing.assert_allclose(model(ng.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)

    # numgrad -> torch: change the numgrad model, save, load into a fresh torch model
    model.train()
    model(ng.tensor(_x() * 3 + 1))
    with ng.no_grad():
        model[0].weight.mul_(0.5)
    ng.save(model.state_dict(), tmp_path / "numgrad_sd.pth")
    fresh = _torch_model()
    fresh.load_state_dict(torch.load(tmp_path / "numgrad_sd.pth"))
    fresh.eval(), model.eval()
    assert int(fresh[1].num_batches_tracked) == int(model.state_dict()["1.num_batches_tracked"].item())
    np.testing.assert_allclose(model(ng.tensor(x)).detach().numpy(), fresh(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ whole modules
def test_whole_module_loads_only_with_weights_only_false(tmp_path):
    model = _numgrad_model()
    path = tmp_path / "model.pt"
    ng.save(model, path)
    with pytest.raises(pickle.UnpicklingError, match="weights_only=False` will likely succeed") as info:
        ng.load(path)
    assert "GLOBAL numgrad.nn.modules.container.Sequential was not an allowed global" in str(info.value)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        torch.load(path)  # PyTorch refuses it the same way
    loaded = ng.load(path, weights_only=False)
    assert type(loaded) is nn.Sequential and isinstance(loaded[3].weight, nn.Parameter)
    model.eval(), loaded.eval()
    x = ng.tensor(_x())
    np.testing.assert_array_equal(loaded(x).detach().numpy(), model(x).detach().numpy())


def test_module_saved_by_torch_loads_as_numgrads_counterpart_with_weights_only_false(tmp_path):
    tm = _torch_model().eval()
    path = tmp_path / "torch_model.pt"
    torch.save(tm, path)
    with pytest.raises(pickle.UnpicklingError, match="torch.nn.modules.container.Sequential"):
        ng.load(path)
    loaded = ng.load(path, weights_only=False)
    assert type(loaded) is nn.Sequential and type(loaded[0]) is nn.Conv2d
    loaded.eval()
    x = _x()
    np.testing.assert_allclose(loaded(ng.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_a_plain_object_is_still_refused_by_the_numgrad_format():
    with pytest.raises(TypeError, match="format='torch' pickles any object"):
        ng.save({"x": object()}, io.BytesIO())
    with pytest.raises(ValueError, match="unknown format 'onnx'"):
        ng.save({}, io.BytesIO(), format="onnx")


# ------------------------------------------------------------------ safetensors
def test_safetensors_both_ways(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    model = _numgrad_model()
    path = tmp_path / "model.safetensors"
    ng.save(model.state_dict(), path, metadata={"epoch": "3"})
    theirs = safetensors_torch.load_file(str(path))
    assert list(theirs) == list(model.state_dict()) or set(theirs) == set(model.state_dict())
    for key, value in model.state_dict().items():
        _assert_same(value, theirs[key])
    tm = _torch_model()
    safetensors_torch.save_file(tm.state_dict(), str(tmp_path / "torch.safetensors"))
    ours = ng.load(tmp_path / "torch.safetensors")
    for key, value in tm.state_dict().items():
        _assert_same(ours[key], value)
    with pytest.raises(TypeError, match="stores only tensors; 'n' is a int"):
        ng.save({"n": 1}, tmp_path / "bad.safetensors")


def test_safetensors_without_the_package_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "x.safetensors"
    pytest.importorskip("safetensors.numpy")
    ng.save({"w": ng.ones(2)}, path)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)  # import now raises ImportError
    with pytest.raises(RuntimeError, match=r"needs the safetensors package: pip install safetensors .*numgrad\[safetensors\]"):
        ng.load(path)
    with pytest.raises(RuntimeError, match="needs the safetensors package"):
        ng.save({"w": ng.ones(2)}, tmp_path / "y.safetensors")


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_every_pickle_protocol_torch_can_write_loads(protocol):
    obj = {"a": torch.arange(3.0), "b": [b"xy", {1: 2.5}], "size": torch.Size([1]), "set": {1, 2},
           "complex": 1 + 2j, "bytearray": bytearray(b"q"), "counter": __import__("collections").Counter("aab")}
    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=protocol)
    buf.seek(0)
    out = ng.load(buf)
    _assert_same(out["a"], obj["a"])
    assert {k: v for k, v in out.items() if k != "a"} == {k: (tuple(v) if k == "size" else v)
                                                          for k, v in obj.items() if k != "a"}
