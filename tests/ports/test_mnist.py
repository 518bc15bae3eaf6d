"""pytorch/examples mnist/main.py (Conv-Conv-Dropout-Linear net, Adadelta, StepLR) and mnist_rnn/main.py (LSTM,
BatchNorm1d, Dropout2d) run with numgrad and with torch from the same weights, data and dropout masks: the log
(losses, test loss, accuracy) and the weights."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from torch.optim.lr_scheduler import StepLR as TorchStepLR

import numgrad
import numgrad.nn
import numgrad.nn.functional
import numgrad.optim
import numgrad.utils.data  # noqa: F401
from numgrad.optim.lr_scheduler import StepLR
from tests.ports import mnist_main, mnist_rnn_main
from tests.ports._harness import assert_same_log, assert_same_model, same_randomness


@pytest.mark.filterwarnings("ignore:.*lr_scheduler.step.*")
def test_mnist_example_trains_like_torch(capsys, monkeypatch):
    monkeypatch.setattr(numgrad.accelerator, "is_available", lambda: False)  # the tests' CUDA simulator
    rng = np.random.default_rng(4)
    # MNIST's images after ToTensor and Normalize((0.1307,), (0.3081,))
    images = ((rng.random((12, 1, 28, 28)) - 0.1307) / 0.3081).astype(np.float32)
    labels = rng.integers(0, 10, 12)
    args = argparse.Namespace(batch_size=4, test_batch_size=4, epochs=2, lr=1.0, gamma=0.7, no_accel=False,
                              dry_run=False, seed=1, log_interval=1, save_model=False)
    models, logs = [], []
    for lib, step_lr in ((torch, TorchStepLR), (numgrad, StepLR)):
        proxy = same_randomness(lib)
        *_, main = mnist_main.program(proxy, proxy.nn, lib.nn.functional, lib.optim, step_lr)
        capsys.readouterr()
        models.append(main(args, (images[:8], labels[:8]), (images[8:], labels[8:])))
        logs.append(capsys.readouterr().out)
    t_log, log = logs
    assert log.count("Train Epoch") == 4 and log.count("Test set") == 2
    assert_same_log(log, t_log, rtol=1e-4)
    assert_same_model(models[1], models[0], rtol=1e-3, atol=1e-5)


@pytest.mark.filterwarnings("ignore:.*lr_scheduler.step.*", "ignore:dropout2d. Received a 2-D input")
def test_mnist_rnn_example_trains_like_torch(capsys):
    rng = np.random.default_rng(6)
    images = ((rng.random((12, 1, 28, 28)) - 0.1307) / 0.3081).astype(np.float32)
    labels = rng.integers(0, 10, 12)
    args = argparse.Namespace(batch_size=4, test_batch_size=4, epochs=2, lr=0.1, gamma=0.7, accel=False,
                              dry_run=False, seed=1, log_interval=1, save_model=False)
    models, logs = [], []
    for lib, step_lr in ((torch, TorchStepLR), (numgrad, StepLR)):
        proxy = same_randomness(lib)
        *_, main = mnist_rnn_main.program(proxy, proxy.nn, lib.nn.functional, lib.optim, step_lr)
        capsys.readouterr()
        models.append(main(args, (images[:8], labels[:8]), (images[8:], labels[8:])))
        logs.append(capsys.readouterr().out)
    t_log, log = logs
    assert log.count("Train Epoch") == 4 and log.count("Test set") == 2
    assert_same_log(log, t_log, rtol=1e-4)
    assert_same_model(models[1], models[0], rtol=1e-3, atol=1e-5)
