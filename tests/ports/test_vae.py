"""pytorch/examples vae/main.py run with numgrad and with torch from the same weights, data and noise."""
from __future__ import annotations

import argparse

import numpy as np
import torch

import numgrad
import numgrad.nn
import numgrad.nn.functional
import numgrad.optim
import numgrad.utils.data  # noqa: F401
from tests.helpers import assert_close
from tests.ports import vae_main
from tests.ports._harness import assert_same_log, assert_same_model, copy_weights, same_randomness


def _program(lib):
    """The program set up with ``lib``: its model and its main loop (not yet run)."""
    rng = np.random.default_rng(1)
    train_images = rng.random((12, 1, 28, 28), dtype=np.float32)  # pixels in [0, 1], as ToTensor gives
    test_images = rng.random((8, 1, 28, 28), dtype=np.float32)
    args = argparse.Namespace(batch_size=4, epochs=1, no_accel=True, seed=1, log_interval=1)
    images = []
    model, main = vae_main.program(same_randomness(lib), lib.nn, lib.optim, lib.nn.functional,
                                   lambda t, path, **kw: images.append((path, t.numpy().copy())),
                                   args, train_images, test_images)
    return model, main, images


def test_vae_example_trains_like_torch(capsys):
    t_model, t_main, t_images = _program(torch)
    model, main, images = _program(numgrad)
    copy_weights(model, t_model)
    capsys.readouterr()
    t_main()
    t_log = capsys.readouterr().out
    main()
    log = capsys.readouterr().out
    # per-batch losses, the epoch's average, the test loss
    assert_same_log(log, t_log)
    assert_same_model(model, t_model, rtol=1e-3, atol=1e-5)
    assert [p for p, _ in images] == [p for p, _ in t_images]
    for (path, image), (_, t_image) in zip(images, t_images):
        assert_close(image, t_image, rtol=1e-3, atol=1e-5, msg=path)
