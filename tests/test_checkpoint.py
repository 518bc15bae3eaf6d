"""numgrad.utils.checkpoint against torch.utils.checkpoint: the same values and gradients (inputs and parameters)
as running without a checkpoint, dropout drawing the same masks when the forward runs again, and PyTorch's
errors and warnings."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad.utils.checkpoint import checkpoint, checkpoint_sequential


def _block(lib):
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Linear(4, 6), lib.nn.Tanh(), lib.nn.Linear(6, 4))


def _grads(lib, use_checkpoint, use_reentrant, input_grad):
    block = _block(lib)
    with (ng.no_grad() if lib is ng else torch.no_grad()):
        for p in block.parameters():  # the same weights in both libraries
            p.copy_(lib.tensor(np.linspace(-1, 1, p.numel()).reshape(tuple(p.shape)), dtype=lib.float32))
    x = lib.tensor(np.arange(12, dtype=np.float32).reshape(3, 4) / 10, requires_grad=input_grad)
    out = checkpoint(block, x, use_reentrant=use_reentrant) if use_checkpoint else block(x)
    (out * out).sum().backward()
    grads = [p.grad.numpy().copy() for p in block.parameters()]
    return out.detach().numpy(), grads, (x.grad.numpy() if input_grad else None)


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_checkpoint_gives_the_gradients_of_the_plain_forward(use_reentrant):
    plain = _grads(ng, False, use_reentrant, True)
    checked = _grads(ng, True, use_reentrant, True)
    np.testing.assert_array_equal(checked[0], plain[0])
    for a, b in zip(checked[1], plain[1]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(checked[2], plain[2])
    torch_out, torch_grads, torch_x = _torch_reference(use_reentrant)
    np.testing.assert_allclose(checked[0], torch_out, rtol=1e-5)
    np.testing.assert_allclose(checked[2], torch_x, rtol=1e-5)


def _torch_reference(use_reentrant):
    from torch.utils.checkpoint import checkpoint as torch_checkpoint
    block = _block(torch)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.tensor(np.linspace(-1, 1, p.numel()).reshape(tuple(p.shape)), dtype=torch.float32))
    x = torch.tensor(np.arange(12, dtype=np.float32).reshape(3, 4) / 10, requires_grad=True)
    out = torch_checkpoint(block, x, use_reentrant=use_reentrant)
    (out * out).sum().backward()
    return out.detach().numpy(), [p.grad.numpy() for p in block.parameters()], x.grad.numpy()


def test_non_reentrant_checkpoint_trains_parameters_when_no_input_requires_grad():
    checked = _grads(ng, True, False, False)
    plain = _grads(ng, False, False, False)
    for a, b in zip(checked[1], plain[1]):
        np.testing.assert_array_equal(a, b)


def test_dropout_draws_the_same_mask_when_the_forward_runs_again():
    ng.manual_seed(3)
    drop = ng.nn.Dropout(0.5)
    x = ng.ones(64, requires_grad=True)
    out = checkpoint(drop, x, use_reentrant=False)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), out.detach().numpy())  # the gradient's mask is the output's


def test_checkpoint_sequential_matches_the_plain_sequential():
    def run(checked):
        net = _block(ng)
        x = ng.tensor(np.ones((2, 4), np.float32), requires_grad=True)
        out = checkpoint_sequential(net, 2, x, use_reentrant=False) if checked else net(x)
        out.sum().backward()
        return [p.grad.numpy().copy() for p in net.parameters()] + [x.grad.numpy()]

    for a, b in zip(run(True), run(False)):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_errors_and_warnings_as_torch():
    layer = ng.nn.Linear(2, 2)
    x = ng.ones(1, 2, requires_grad=True)
    with pytest.warns(UserWarning, match="the use_reentrant parameter should be passed explicitly"):
        checkpoint(layer, x)
    out = checkpoint(layer, x, use_reentrant=True).sum()
    with pytest.raises(RuntimeError, match="incompatible with .grad\\(\\) or passing an `inputs` parameter"):
        ng.autograd.grad(out, [x])
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True. Gradients will be None"):
        checkpoint(layer, ng.ones(1, 2), use_reentrant=True)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: scale"):
        checkpoint(lambda t, scale: t * scale, x, use_reentrant=True, scale=2.0)
    assert checkpoint(lambda t, scale: t * scale, x, use_reentrant=False, scale=2.0).tolist() == [[2.0, 2.0]]
