"""Memory formats (``numgrad.memory_format``) against PyTorch: strides, ``is_contiguous``, ``to``/``contiguous``/
``clone`` with ``memory_format=``, ``Module.to(memory_format=channels_last)``, gradients and errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng

FORMATS = ["contiguous_format", "channels_last", "channels_last_3d"]


def _pair(shape):
    data = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    return ng.tensor(data), torch.tensor(data)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 3, 1, 1), (1, 3, 2, 2), (2, 3, 2, 4, 5)])
@pytest.mark.parametrize("fmt", FORMATS)
def test_layouts_strides_and_contiguity_match_torch(shape, fmt):
    x, tx = _pair(shape)
    want_rank = {"channels_last": 4, "channels_last_3d": 5}.get(fmt)
    if want_rank is not None and len(shape) != want_rank:
        with pytest.raises(RuntimeError) as theirs:
            tx.contiguous(memory_format=getattr(torch, fmt))
        with pytest.raises(RuntimeError, match=str(theirs.value)):
            x.contiguous(memory_format=getattr(ng, fmt))
        return
    for method in ("contiguous", "to", "clone"):
        y = getattr(x, method)(memory_format=getattr(ng, fmt))
        ty = getattr(tx, method)(memory_format=getattr(torch, fmt))
        assert y.stride() == ty.stride() and y.shape == tuple(ty.shape), method
        assert np.array_equal(y.numpy(), ty.numpy())
        for other in FORMATS:
            assert y.is_contiguous(memory_format=getattr(ng, other)) == \
                ty.is_contiguous(memory_format=getattr(torch, other)), (method, other)


def test_a_channels_last_copy_passes_gradients_and_ops_read_it_by_value():
    x, tx = _pair((2, 3, 4, 4))
    x.requires_grad_(True)
    tx.requires_grad_(True)
    conv, tconv = ng.nn.Conv2d(3, 2, 3), torch.nn.Conv2d(3, 2, 3)
    with torch.no_grad():
        tconv.weight.copy_(torch.tensor(conv.weight.detach().numpy()))
        tconv.bias.copy_(torch.tensor(conv.bias.detach().numpy()))
    conv.to(memory_format=ng.channels_last)
    tconv.to(memory_format=torch.channels_last)
    assert conv.weight.stride() == tconv.weight.stride()
    out = conv(x.to(memory_format=ng.channels_last)).square().sum()
    tout = tconv(tx.to(memory_format=torch.channels_last)).square().sum()
    out.backward()
    tout.backward()
    np.testing.assert_allclose(out.item(), tout.item(), rtol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(conv.weight.grad.numpy(), tconv.weight.grad.numpy(), rtol=1e-4, atol=1e-5)
    opt = ng.optim.SGD(conv.parameters(), lr=0.1)  # the update lands in the channels-last parameter itself
    before = conv.weight.detach().clone()
    opt.step()
    np.testing.assert_allclose(conv.weight.detach().numpy(), (before - 0.1 * conv.weight.grad).numpy(), rtol=1e-5, atol=1e-7)


def test_module_to_a_format_of_another_rank_raises_as_torch():
    with pytest.raises(RuntimeError) as theirs:
        torch.nn.Conv3d(1, 1, 1).to(memory_format=torch.channels_last)
    with pytest.raises(RuntimeError, match=str(theirs.value)):
        ng.nn.Conv3d(1, 1, 1).to(memory_format=ng.channels_last)


def test_format_objects_and_misuse():
    assert repr(ng.channels_last) == "numgrad.channels_last" and isinstance(ng.channels_last, ng.memory_format)
    with pytest.raises(RuntimeError, match="preserve memory format is unsupported by the contiguous operator"):
        ng.zeros(2).contiguous(memory_format=ng.preserve_format)
    with pytest.raises(TypeError, match="memory_format"):
        ng.zeros(2).contiguous(memory_format="channels_last")
    assert ng.zeros(2, 3).t().to(memory_format=ng.preserve_format).stride() == (1, 3)
    assert ng.ones(2).to("cpu", non_blocking=True).dtype == ng.float32
