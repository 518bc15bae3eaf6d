"""``numgrad.jit`` (no TorchScript: objects run as Python) and ``numgrad.version`` against what PyTorch code expects."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import numgrad as ng


class _Net(ng.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = ng.nn.Linear(3, 2)

    def forward(self, x):
        if ng.jit.is_scripting():  # the branch PyTorch's eager mode takes too
            raise AssertionError("not scripting")
        return self.helper(self.lin(x))

    @ng.jit.ignore
    def helper(self, y):
        return y * 2

    @ng.jit.export
    def extra(self, y):
        return y + 1


def test_script_and_trace_give_back_what_computes_the_same():
    net = _Net()
    x = ng.randn(4, 3)
    with pytest.warns(UserWarning, match="numgrad has no TorchScript"):
        scripted = ng.jit.script(net)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once only
        traced = ng.jit.trace(net, (x,))
    assert scripted is net and traced is net
    np.testing.assert_array_equal(scripted(x).detach().numpy(), (net.lin(x) * 2).detach().numpy())
    assert net.extra(ng.ones(1)).item() == 2.0
    assert not ng.jit.is_tracing() and ng.jit.annotate(list, [1]) == [1] and ng.jit.Attribute(3, int) == 3
    assert ng.jit.Final[int] is int
    fut = ng.jit.fork(lambda a, b: a + b, 1, b=2)
    assert ng.jit.wait(fut) == 3 == fut.value() and fut.done()
    assert torch.jit.is_scripting() is ng.jit.is_scripting()


@pytest.mark.parametrize("name", ["save", "load", "freeze", "optimize_for_inference"])
def test_what_needs_a_torchscript_archive_raises(name):
    with pytest.raises(NotImplementedError, match=f"numgrad.jit.{name}: numgrad has no TorchScript archives"):
        getattr(ng.jit, name)(ng.nn.Linear(1, 1), "x.pt") if name == "save" else getattr(ng.jit, name)("x.pt")


def test_version_module():
    assert ng.version.__version__ == ng.__version__
    assert ng.version.hip is None and ng.version.debug is False
    assert ng.version.cuda is None or isinstance(ng.version.cuda, str)
    with pytest.raises(AttributeError, match="no attribute 'git'"):
        ng.version.git
