"""The "Learning PyTorch with Examples" tutorials run with numgrad and with torch from the same random draws:
every printed loss and the final weights agree."""
from __future__ import annotations

import random

import pytest
import torch

import numgrad
import numgrad.nn
import numgrad.optim  # noqa: F401
from tests.ports import autograd_tutorials
from tests.ports._harness import assert_same_log, same_randomness

PROGRAMS = ["polynomial_tensor", "polynomial_autograd", "polynomial_custom_function", "polynomial_nn",
            "polynomial_optim", "polynomial_module", "dynamic_net"]


def _log(lib, name, steps, capsys):
    random.seed(0)  # dynamic_net draws its depth from Python's random module
    capsys.readouterr()
    try:
        getattr(autograd_tutorials, name)(same_randomness(lib), steps=steps)
    finally:
        # polynomial_autograd sets a default device; torch keeps a device mode active (slower) until it is reset
        lib.set_default_device(None)
    return capsys.readouterr().out


@pytest.mark.parametrize("name", PROGRAMS)
def test_tutorial_runs_like_torch(name, capsys, monkeypatch):
    # the tests' CUDA simulator counts as an accelerator; torch here has none, so both run on the CPU
    monkeypatch.setattr(numgrad.accelerator, "is_available", lambda: False)
    # 200 of upstream's 2000 iterations (a loss printed every 100; dynamic_net prints every 2000 of its 30000,
    # so only its result line compares)
    steps = 200
    t_log = _log(torch, name, steps, capsys)
    log = _log(numgrad, name, steps, capsys)
    assert log.count("\n") >= (1 if name == "dynamic_net" else 2) and "Result: y = " in log
    # a and c of the Legendre fit stay ~1e-10 (odd functions: their gradients are sums that cancel), so
    # rounding decides their digits: compare those within an absolute 1e-8
    assert_same_log(log, t_log, rtol=1e-4, atol=1e-8)

