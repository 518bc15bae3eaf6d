"""pytorch/examples dcgan/main.py (64x64 images, small widths) run with numgrad and with torch from the same
weights, data and noise: the training log, the weights and gradients of both networks, the saved images and
the checkpoints (each library's file read back by the other)."""
from __future__ import annotations

import argparse

import numpy as np
import torch

import numgrad
import numgrad.backends  # noqa: F401
import numgrad.nn
import numgrad.optim
import numgrad.utils.data  # noqa: F401
from tests.helpers import assert_close
from tests.ports import dcgan_main
from tests.ports._harness import assert_same_log, assert_same_model, copy_weights, same_randomness


def _program(lib, outf):
    images = np.random.default_rng(2).uniform(-1, 1, (4, 3, 64, 64)).astype(np.float32)
    opt = argparse.Namespace(dataset="fake", dataroot=None, workers=0, batchSize=2, imageSize=64, nz=16, ngf=8,
                             ndf=8, niter=1, lr=0.0002, beta1=0.5, dry_run=False, ngpu=1, netG="", netD="",
                             outf=str(outf), manualSeed=7, classes="bedroom", accel=False)
    saved = []
    netG, netD, train = dcgan_main.program(same_randomness(lib), lib.nn, lib.optim,
                                           lambda t, path, **kw: saved.append((path, t.numpy().copy())),
                                           opt, images)
    return netG, netD, train, saved


def test_dcgan_example_trains_like_torch(capsys, tmp_path):
    t_netG, t_netD, t_train, t_saved = _program(torch, tmp_path / "torch")
    netG, netD, train, saved = _program(numgrad, tmp_path / "numgrad")
    setup, t_setup = capsys.readouterr().out.split("Namespace")[1:][::-1]
    # print(opt), print(netG), print(netD) give the same text
    assert setup.replace("numgrad", "torch") == t_setup
    copy_weights(netG, t_netG)
    copy_weights(netD, t_netD)
    t_train()
    t_log = capsys.readouterr().out
    train()
    log = capsys.readouterr().out
    assert log.count("Loss_D") == 2 and len(saved) == 2
    assert_same_log(log, t_log, rtol=1e-4)
    assert_same_model(netD, t_netD, rtol=1e-3, atol=1e-5)
    assert_same_model(netG, t_netG, rtol=1e-3, atol=1e-5)
    assert [p.replace("numgrad", "torch") for p, _ in saved] == [p for p, _ in t_saved]
    for (path, image), (_, t_image) in zip(saved, t_saved):
        assert_close(image, t_image, rtol=1e-3, atol=1e-5, msg=path)
    # each library reads the other's checkpoint
    for name in ("netG_epoch_0.pth", "netD_epoch_0.pth"):
        from_torch = numgrad.load(tmp_path / "torch" / name)
        from_numgrad = torch.load(tmp_path / "numgrad" / name, weights_only=True)
        assert list(from_torch) == list(from_numgrad)
        for key in from_torch:
            assert_close(from_torch[key], from_numgrad[key], rtol=1e-3, atol=1e-5, msg=f"{name}: {key}")
