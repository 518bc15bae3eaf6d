"""Module paths a ported PyTorch script imports: numgrad.nn.parallel, numgrad.accelerator, numgrad.backends,
numgrad.testing (assert_close against torch.testing.assert_close's decisions and messages)."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
import torch.testing

import numgrad as ng


def test_modules_import_as_in_torch():
    for name in ("numgrad.utils.data", "numgrad.nn.parallel", "numgrad.accelerator", "numgrad.backends",
                 "numgrad.backends.cudnn", "numgrad.testing", "numgrad.data"):
        importlib.import_module(name)
    import numgrad.nn.parallel  # noqa: F401 - the statement itself is what scripts write
    assert ng.nn.DataParallel is ng.nn.parallel.DataParallel


def test_data_parallel_wraps_and_prefixes_state_dict():
    ng.manual_seed(0)
    inner = ng.nn.Sequential(ng.nn.Linear(3, 4), ng.nn.ReLU(), ng.nn.Linear(4, 2))
    net = ng.nn.parallel.DataParallel(inner)
    assert net.module is inner and list(net.children()) == [inner]
    ref = torch.nn.DataParallel(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)))
    assert list(net.state_dict()) == list(ref.state_dict())
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in net.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    if ng.cuda.is_available():  # PyTorch's DataParallel wants the module on cuda:0 and moves inputs there
        with pytest.raises(RuntimeError, match="module must have its parameters and buffers on device cuda:0"):
            net(ng.tensor(x))
        net.cuda()
    out = net(ng.tensor(x))
    assert out.device == (ng.device("cuda") if ng.cuda.is_available() else ng.device("cpu"))
    np.testing.assert_allclose(out.detach().cpu().numpy(), ref(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    assert inner[0].weight.grad is not None
    net.load_state_dict(net.state_dict())
    assert "DataParallel(" in repr(net)
    with pytest.raises(TypeError, match="DataParallel expects an nn.Module"):
        ng.nn.parallel.DataParallel(lambda x: x)


def test_accelerator_and_backends_tell_the_truth():
    acc = ng.accelerator
    assert acc.is_available() == ng.cuda.is_available()
    assert acc.device_count() == (1 if ng.cuda.is_available() else 0)
    if acc.is_available():
        assert acc.current_accelerator() == ng.device("cuda") and acc.current_device_index() == 0
        acc.synchronize()
        with pytest.raises(RuntimeError, match="invalid device ordinal"):
            acc.set_device_index(1)
    else:
        assert acc.current_accelerator() is None and acc.current_accelerator(check_available=True) is None
        for call in (acc.current_device_index, acc.synchronize, lambda: acc.set_device_index(0)):
            with pytest.raises(RuntimeError, match="Cannot access accelerator device when none is available"):
                call()
    b = ng.backends
    assert b.mps.is_available() is False and b.mps.is_built() is False
    assert b.cudnn.is_available() is False and b.cudnn.version() is None  # numgrad never calls cuDNN
    assert (b.cudnn.enabled, b.cudnn.benchmark, b.cudnn.deterministic) == (True, False, False)
    b.cudnn.benchmark = True  # scripts set it; it is accepted
    b.cudnn.benchmark = False
    assert b.cuda.is_built() == (importlib.util.find_spec("numba_cuda") is not None)
    assert b.cuda.matmul.allow_tf32 is False and b.mkldnn.is_available() is False
    assert isinstance(b.openmp.is_available(), bool) and isinstance(b.mkl.is_available(), bool)
    assert b.cpu.get_cpu_capability() in ("AVX512", "AVX2", "DEFAULT")


def _outcome(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except (AssertionError, TypeError, ValueError) as exc:
        return type(exc).__name__, str(exc)
    return None


def _t(x, dtype=np.float32):
    return np.asarray(x, dtype=dtype)


# (actual, expected, kwargs) built from NumPy values; each side becomes a numgrad and a torch tensor
CASES = [
    (_t([1.0, 2.0, 3.0]), _t([1.0, 2.5, 3.1]), {}),
    (_t([1.0, 2.0]), _t([1.0, 2.0 + 1e-6]), {}),
    (_t([[1.0, 2.0], [3.0, 4.0]]), _t([[1.0, 2.0], [3.0, 5.0]]), {}),
    (_t([1, 2], np.int64), _t([1, 3], np.int64), {}),
    (_t([np.nan, 1.0]), _t([np.nan, 1.0]), {}),
    (_t([np.nan, 1.0]), _t([np.nan, 1.0]), {"equal_nan": True}),
    (_t([0.0, 1.0]), _t([0.0, 0.0]), {}),
    (_t([1.0, 2.0]), _t([1.1, 2.0]), {"rtol": 0.2, "atol": 0.0}),
    (_t(1.0), _t(2.0), {}),
    (_t([1.0, 2.0]), _t([1.0]), {}),
    (_t([1.0]), _t([1.0], np.float64), {}),
    (_t([1.0]), _t([1.0], np.float64), {"check_dtype": False}),
    (_t([1.0, np.inf]), _t([1.0, np.inf]), {}),
    (_t([1.0, 2.0]), _t([1.0, 3.0]), {"msg": "custom"}),
]


@pytest.mark.parametrize("actual,expected,kw", CASES)
def test_assert_close_matches_torch(actual, expected, kw):
    got = _outcome(ng.testing.assert_close, ng.tensor(actual), ng.tensor(expected), **kw)
    want = _outcome(torch.testing.assert_close, torch.tensor(actual), torch.tensor(expected), **kw)
    if want is None:
        assert got is None
        return
    assert got is not None and got[0] == want[0]
    # same text, with numgrad's names for dtypes and shapes
    want_text = want[1].replace("torch.Size([2])", "(2,)").replace("torch.Size([1])", "(1,)")
    assert got[1] == want_text.replace("torch.", "numgrad."), (got[1], want_text)


def test_assert_close_containers_numbers_and_errors():
    for a, e in [([ng.tensor(1.0)], [ng.tensor(2.0)]), ({"a": ng.tensor(1.0)}, {"a": ng.tensor(2.0)}),
                 (1, 2), (1.0, 1.0000001), (ng.tensor(1.0), 1.0)]:
        ta = {"a": torch.tensor(1.0)} if isinstance(a, dict) else [torch.tensor(1.0)] if isinstance(a, list) else \
            torch.tensor(1.0) if isinstance(a, ng.Tensor) else a
        te = {"a": torch.tensor(2.0)} if isinstance(e, dict) else [torch.tensor(2.0)] if isinstance(e, list) else e
        got = _outcome(ng.testing.assert_close, a, e)
        want = _outcome(torch.testing.assert_close, ta, te)
        assert (got is None) == (want is None)
        if want is not None:
            assert got[0] == want[0]
            assert got[1].replace("numgrad.tensor.Tensor", "torch.Tensor") == want[1]
    with pytest.raises(ValueError, match="Both 'rtol' and 'atol' must be either specified or omitted"):
        ng.testing.assert_close(ng.ones(1), ng.ones(1), rtol=0)
    with pytest.raises(AssertionError, match="The length of the sequences mismatch"):
        ng.testing.assert_close([1, 2], [1])


def test_make_tensor_ranges_and_flags():
    ng.manual_seed(0)
    f = ng.testing.make_tensor(50, dtype=ng.float32, device="cpu", low=-1, high=1, requires_grad=True)
    v = f.detach().numpy()
    assert f.requires_grad and f.shape == (50,) and (v >= -1).all() and (v < 1).all()
    i = ng.testing.make_tensor((4, 6), dtype=ng.int64, device="cpu", exclude_zero=True)
    assert i.dtype == ng.int64 and (i.numpy() != 0).all() and (i.numpy() >= -9).all() and (i.numpy() < 10).all()
    u = ng.testing.make_tensor(30, dtype=ng.uint8, device="cpu")
    assert (u.numpy() < 10).all()
    nc = ng.testing.make_tensor(3, 4, dtype=ng.float64, device="cpu", noncontiguous=True)
    assert nc.shape == (3, 4) and not nc.is_contiguous()
    assert ng.testing.make_tensor(5, dtype=ng.bool, device="cpu").dtype == ng.bool
