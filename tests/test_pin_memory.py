"""``Tensor.pin_memory()``/``is_pinned()``, factories' ``pin_memory=``, ``DataLoader(pin_memory=True)``.

The suite runs with Numba's CUDA simulator (tests/conftest.py), which numgrad treats as a GPU: pinning works
there.  A machine without one is simulated by turning ``kernels.cuda.pinned``'s availability check off; its
errors and warnings are compared with the installed PyTorch, a CPU build with no accelerator.
"""
import collections
import gc
import warnings

import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad.kernels.cuda import pinned as pinned_backend
from numgrad.utils.data import DataLoader, TensorDataset

needs_pinned_allocator = pytest.mark.skipif(not ng.cuda.is_available(), reason="needs a GPU or the CUDA simulator")


@pytest.fixture
def no_accelerator(monkeypatch):
    """numgrad as on a machine without a GPU, like the installed torch."""
    monkeypatch.setattr(pinned_backend, "is_available", lambda: False)
    assert not torch.accelerator.is_available()


def _error_text(call):
    with pytest.raises(RuntimeError) as info:
        call()
    return str(info.value)


def test_without_an_accelerator_pinning_raises_torchs_errors(no_accelerator):
    assert _error_text(lambda: ng.ones(2).pin_memory()) == _error_text(lambda: torch.ones(2).pin_memory())
    assert ng.ones(2).is_pinned() is False and torch.ones(2).is_pinned() is False
    factories = [("zeros", lambda m, **kw: m.zeros(2, **kw)), ("ones", lambda m, **kw: m.ones(2, 3, **kw)),
                 ("empty", lambda m, **kw: m.empty(2, **kw)), ("full", lambda m, **kw: m.full((2,), 1.0, **kw)),
                 ("tensor", lambda m, **kw: m.tensor([1.0, 2.0], **kw)), ("arange", lambda m, **kw: m.arange(3, **kw)),
                 ("linspace", lambda m, **kw: m.linspace(0, 1, 3, **kw)), ("eye", lambda m, **kw: m.eye(2, **kw)),
                 ("rand", lambda m, **kw: m.rand(2, **kw)), ("randn", lambda m, **kw: m.randn(2, **kw)),
                 ("randint", lambda m, **kw: m.randint(3, (2,), **kw)),
                 ("zeros_like", lambda m, **kw: m.zeros_like(m.ones(2), **kw)),
                 ("empty_like", lambda m, **kw: m.empty_like(m.ones(2), **kw)),
                 ("full_like", lambda m, **kw: m.full_like(m.ones(2), 3.0, **kw)),
                 ("new_zeros", lambda m, **kw: m.ones(2).new_zeros(3, **kw)),
                 ("empty_strided", lambda m, **kw: m.empty_strided((2, 3), (1, 2), **kw)),
                 ("empty_permuted", lambda m, **kw: m.empty_permuted((2, 3), (1, 0), **kw)),
                 ("hann_window", lambda m, **kw: m.hann_window(4, **kw))]
    for name, make in factories:
        want = _error_text(lambda: make(torch, pin_memory=True))
        assert _error_text(lambda: make(ng, pin_memory=True)) == want, name
        assert not make(ng, pin_memory=False).is_pinned(), name


def test_without_an_accelerator_the_dataloader_warns_and_does_not_pin(no_accelerator):
    def first_batch(module, loader_cls, dataset_cls):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            batch = next(iter(loader_cls(dataset_cls(module.arange(4.0)), batch_size=2, pin_memory=True)))
        return batch, [str(w.message) for w in caught]

    ours, our_warnings = first_batch(ng, DataLoader, TensorDataset)
    theirs, their_warnings = first_batch(torch, torch.utils.data.DataLoader, torch.utils.data.TensorDataset)
    assert our_warnings == their_warnings and len(our_warnings) == 1
    assert ours[0].is_pinned() is theirs[0].is_pinned() is False
    np.testing.assert_array_equal(ours[0].numpy(), theirs[0].numpy())


@needs_pinned_allocator
def test_pin_memory_copies_into_pinned_memory():
    x = ng.arange(6.0).reshape(2, 3)
    pinned = x.pin_memory()
    assert pinned.is_pinned() and not x.is_pinned()
    np.testing.assert_array_equal(pinned.numpy(), x.numpy())
    assert pinned.pin_memory() is pinned  # already pinned: itself, as PyTorch
    assert pinned[0].is_pinned() and pinned.t().is_pinned()  # views share the pinned memory
    assert not (pinned + 1).is_pinned()  # a result gets ordinary memory
    x.add_(1)
    assert pinned.numpy()[0, 0] == 0.0  # a copy, not a view of x
    assert ng.ones(2, device="cuda").is_pinned() is False


@needs_pinned_allocator
def test_pin_memory_passes_gradients_through():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    pinned = x.pin_memory()
    assert pinned.grad_fn.name() == "PinMemoryBackward0"
    (pinned * pinned).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


@needs_pinned_allocator
@pytest.mark.parametrize("dtype", [ng.float32, ng.float64, ng.bfloat16, ng.int64, ng.bool])
def test_factories_pin_memory_true(dtype):
    t = ng.zeros(2, 3, dtype=dtype, pin_memory=True)
    assert t.is_pinned() and t.dtype == dtype and t.shape == (2, 3)
    leaf = ng.ones(3, requires_grad=True, pin_memory=True) if dtype.is_floating_point else None
    if leaf is not None:
        assert leaf.is_pinned() and leaf.requires_grad and leaf.is_leaf
    assert ng.tensor([1, 2], dtype=dtype, pin_memory=True).is_pinned()
    assert ng.arange(3, pin_memory=True).is_pinned() and ng.randint(4, (2,), pin_memory=True).is_pinned()


@needs_pinned_allocator
def test_pinning_gpu_tensors_raises():
    x = ng.ones(2, device="cuda")
    with pytest.raises(RuntimeError,
                       match="cannot pin 'numgrad.cuda.FloatTensor' only dense CPU tensors can be pinned"):
        x.pin_memory()
    with pytest.raises(RuntimeError, match="Only dense CPU tensors can be pinned"):
        ng.zeros(2, device="cuda", pin_memory=True)


@needs_pinned_allocator
def test_dataloader_pins_every_tensor_in_the_batch():
    Pair = collections.namedtuple("Pair", ["x", "y"])

    class Samples(ng.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {"pair": Pair(ng.tensor([float(i)]), ng.tensor(i)), "name": f"s{i}"}

    batch = next(iter(DataLoader(Samples(), batch_size=2, pin_memory=True)))
    assert batch["pair"].x.is_pinned() and batch["pair"].y.is_pinned() and isinstance(batch["pair"], Pair)
    assert batch["name"] == ["s0", "s1"]
    tensors = next(iter(DataLoader(TensorDataset(ng.arange(4.0)), batch_size=2, pin_memory=True)))
    assert tensors[0].is_pinned()
    with pytest.warns(UserWarning, match="pin_memory_device is deprecated"):
        iter(DataLoader(TensorDataset(ng.arange(4.0)), pin_memory=True, pin_memory_device="cuda"))


@needs_pinned_allocator
def test_strided_factories_new_methods_and_windows_pin_memory_true():
    strided = ng.empty_strided((2, 3), (1, 2), pin_memory=True)
    assert strided.is_pinned() and strided.stride() == (1, 2)  # the layout asked for, over pinned memory
    permuted = ng.empty_permuted((2, 3, 4), (0, 2, 1), pin_memory=True)
    assert permuted.is_pinned() and permuted.stride() == (12, 1, 3)
    assert ng.ones(2).new_full((2,), 7.0, pin_memory=True).is_pinned()
    window = ng.hann_window(4, pin_memory=True, requires_grad=True)
    assert window.is_pinned() and window.requires_grad
    np.testing.assert_allclose(window.detach().numpy(), torch.hann_window(4).numpy())


@needs_pinned_allocator
def test_freed_pinned_memory_leaves_the_registry():
    before = len(pinned_backend._pinned_allocations)
    pinned = ng.ones(4).pin_memory()
    view = pinned[1:]
    assert len(pinned_backend._pinned_allocations) == before + 1
    del pinned
    assert view.is_pinned()  # the view keeps the allocation alive
    del view
    gc.collect()
    assert len(pinned_backend._pinned_allocations) == before
