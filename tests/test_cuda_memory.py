"""``numgrad.cuda``'s device and memory queries (``memory_allocated``, ``empty_cache``, ``get_device_properties``...):
PyTorch's answers without a GPU, and counted tensor memory on the CUDA simulator."""
from __future__ import annotations

import gc

import pytest
import torch

import numgrad as ng


def test_without_a_gpu_the_answers_are_torchs():
    if ng.cuda.is_available():
        pytest.skip("a GPU (or the simulator) is usable here")
    for name in ("memory_allocated", "max_memory_allocated", "memory_reserved", "max_memory_reserved"):
        assert getattr(ng.cuda, name)() == getattr(torch.cuda, name)() == 0
    assert ng.cuda.empty_cache() is None and torch.cuda.empty_cache() is None
    assert ng.cuda.is_bf16_supported() is False
    for name in ("current_device", "get_device_properties", "get_device_capability", "mem_get_info"):
        with pytest.raises(AssertionError):
            getattr(torch.cuda, name)()
        with pytest.raises(AssertionError, match="no GPU is usable"):
            getattr(ng.cuda, name)()


@pytest.mark.gpu
@pytest.mark.skipif(not ng.cuda.is_available(), reason="no GPU and no CUDA simulator")
@pytest.mark.usefixtures("fast_simulated_barriers")
def test_tensor_memory_is_counted_while_it_lives():
    gc.collect()
    base = ng.cuda.memory_allocated()
    ng.cuda.reset_peak_memory_stats()
    x = ng.ones(1000, device="cuda")
    assert ng.cuda.memory_allocated() == base + 4000 and ng.cuda.max_memory_allocated() == base + 4000
    assert ng.cuda.is_initialized() and ng.cuda.current_device() == 0
    del x
    gc.collect()
    assert ng.cuda.memory_allocated() == base and ng.cuda.max_memory_allocated() == base + 4000
    ng.cuda.reset_peak_memory_stats()
    ng.cuda.empty_cache()
    assert ng.cuda.max_memory_allocated() == base == ng.cuda.memory_reserved()
    props = ng.cuda.get_device_properties(0)
    assert isinstance(props.name, str) and ng.cuda.get_device_capability() == (props.major, props.minor)
    for device in ("cuda:1", 1):
        with pytest.raises(RuntimeError, match="invalid device ordinal"):
            ng.cuda.set_device(device)
    ng.cuda.set_device(0)
