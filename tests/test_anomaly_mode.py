"""Anomaly detection (``numgrad.autograd.detect_anomaly`` / ``set_detect_anomaly``) against PyTorch's."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import numgrad as ng


def _nan_backward(lib, case):
    if case == "sqrt at 0":
        x = lib.tensor([0.0, 1.0], requires_grad=True)
        return (x.sqrt() * 0).sum()
    if case == "division by 0":
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        return (x / 0 * 0).sum()
    x = lib.tensor([[1.0, -1.0]], requires_grad=True)  # "log_softmax of inf"
    return (lib.nn.functional.log_softmax(x * float("inf"), dim=1) * 0).sum()


@pytest.mark.parametrize("case", ["sqrt at 0", "division by 0", "log_softmax of inf"])
def test_a_nan_gradient_names_its_node_as_torch(case):
    errors = []
    for lib in (torch, ng):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with lib.autograd.detect_anomaly():
                loss = _nan_backward(lib, case)
                with pytest.raises(RuntimeError) as info:
                    loss.backward()
        errors.append(str(info.value))
    assert errors[1] == errors[0]
    # off: no check, the NaN reaches .grad as in PyTorch
    loss = _nan_backward(ng, case)
    loss.backward()


def test_modes_nest_and_put_back():
    assert not ng.is_anomaly_enabled()
    with ng.autograd.set_detect_anomaly(True, check_nan=False):
        assert ng.autograd.is_anomaly_enabled() and not ng.is_anomaly_check_nan_enabled()
        x = ng.tensor([0.0], requires_grad=True)
        x.sqrt().sum().backward()  # check_nan off: no error
        assert np.isinf(x.grad.numpy()).all()
    assert not ng.is_anomaly_enabled() and ng.is_anomaly_check_nan_enabled()
    ng.autograd.set_detect_anomaly(True)
    try:
        assert ng.is_anomaly_enabled()
    finally:
        ng.autograd.set_detect_anomaly(False)
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        guard = ng.autograd.detect_anomaly()

    @guard
    def run():
        return ng.is_anomaly_enabled()
    assert run() and not ng.is_anomaly_enabled()


def test_a_failing_backward_warns_where_its_forward_ran():
    class Fails(ng.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            raise ValueError("backward broke")

    x = ng.ones(2, requires_grad=True)
    with ng.autograd.set_detect_anomaly(True):
        y = Fails.apply(x)  # the forward call the warning points at
        with pytest.warns(UserWarning, match=r"(?s)Error detected in FailsBackward.*y = Fails.apply\(x\)"):
            with pytest.raises(ValueError, match="backward broke"):
                y.sum().backward()
