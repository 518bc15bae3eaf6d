"""Large CPU buffers are reused only when nothing can still see them (kernels/cpu/buffer_pool.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad.kernels.cpu import buffer_pool as pool

N = 1 << 19  # float32: 2 MB, above pool.MIN_BYTES


@pytest.fixture(autouse=True)
def _empty_pool():
    pool.release_all()
    yield
    pool.release_all()


def _address(a) -> int:
    return a.__array_interface__["data"][0]


def test_memory_is_reused_only_after_every_view_is_gone():
    a = pool.empty((N,), np.float32)
    first = _address(a)  # an address, not a reference: holding the array would keep it busy
    keepers = [a[10:], memoryview(a), torch.from_dlpack(a)]
    del a
    for keeper in keepers:
        b = pool.empty((N,), np.float32)
        assert _address(b) != first, f"handed out memory still seen through {type(keeper).__name__}"
    del keepers, keeper, b
    assert _address(pool.empty((N,), np.float32)) == first


def test_small_arrays_are_not_pooled_and_the_pool_is_bounded(monkeypatch):
    before = pool.pooled_bytes()  # buffers other tests' live tensors still use
    pool.empty((16,), np.float32)
    assert pool.pooled_bytes() == before
    monkeypatch.setattr(pool, "MAX_BYTES", before + 3 * N * 4)
    held = [pool.empty((N,), np.float32) for _ in range(5)]  # all alive: only three are remembered
    assert pool.pooled_bytes() <= before + 3 * N * 4
    del held
    pool.empty((2 * N,), np.float32)  # idle ones make room
    assert pool.pooled_bytes() <= before + 3 * N * 4


def test_a_kept_gradient_is_never_overwritten_by_the_next_backward():
    x = ng.randn(N, requires_grad=True)
    w = ng.randn(N, requires_grad=True)
    (ng.tanh(x * w) * 2).sum().backward()
    kept = x.grad
    expected = kept.numpy().copy()
    x.grad = w.grad = None
    (ng.tanh(x * w) * 3).sum().backward()
    np.testing.assert_array_equal(kept.numpy(), expected)
    np.testing.assert_allclose(x.grad.numpy(), expected * 1.5, rtol=1e-6)


def test_the_engine_owns_a_fresh_pooled_gradient_without_copying():
    x = ng.randn(N, requires_grad=True)
    (ng.tanh(x) * 2).sum().backward()
    base = x.grad.numpy().base
    assert base is not None and any(base is o for o in pool._owners), "the gradient was copied out of its buffer"
    x.grad = None
    (x * 2).sum().backward()  # sum's backward gives a broadcast view: that one must be copied
    assert x.grad.numpy().flags.writeable and x.grad.numpy().strides == (4,)
