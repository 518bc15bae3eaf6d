"""The main job: the digits CNN reaches its held-out accuracy, saves loadable weights, and its CLI works."""
from __future__ import annotations

import numpy as np
import pytest

import numgrad as ng
from numgrad.examples import digits
from numgrad.serialization import load


def test_bundled_data_and_split():
    images, labels = digits.load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8 and images.max() == 16
    assert labels.dtype == np.int64 and np.bincount(labels).min() >= 170
    train, test = digits.stratified_split(labels, 0.2, seed=0)
    assert len(set(train) | set(test)) == 1797 and not set(train) & set(test)
    share = np.bincount(labels[test], minlength=10) / np.bincount(labels, minlength=10)
    assert np.all(np.abs(share - 0.2) < 0.01)  # stratified: every class held out at the same rate


def test_training_reaches_97_percent_and_saves_weights(tmp_path):
    out = tmp_path / "digits.npz"
    threads = ng.get_num_threads()
    result = digits.train(epochs=12, out=str(out), quiet=True)
    assert ng.get_num_threads() == threads  # the job trains on one thread and gives the setting back
    assert result["accuracy"] >= 0.97, result["accuracies"]
    # the step ran under ng.compile (epoch 2 eagerly, for the timing comparison): captured, never recaptured,
    # one variant for the full batches and one for each epoch's last, smaller batch
    assert result["epoch_modes"] == ["compiled", "eager"] + ["compiled"] * 10
    step = result["compiled_step"]
    assert step.fallback_reason is None and step.recaptures == 0, step.explain()
    assert step.explain().count("captured step:") == 2
    assert step.replays >= 10 * 44 - 3 * 2, step.replays
    assert result["losses"][-1] < 0.25 * result["losses"][0]
    model = digits.DigitsCNN()
    model.load_state_dict(load(out))
    model.eval()
    trained = result["model"]
    trained.eval()
    x = ng.rand(4, 1, 8, 8)
    np.testing.assert_array_equal(model(x).detach().numpy(), trained(x).detach().numpy())


def test_compiled_training_equals_eager_training():
    runs = [digits.train(epochs=3, max_batches=4, out=None, quiet=True, channels=4, hidden=8, compile=c)
            for c in (True, False)]
    assert runs[0]["epoch_modes"] == ["compiled", "eager", "compiled"] and runs[1]["compiled_step"] is None
    assert runs[0]["compiled_step"].replays > 0
    assert runs[0]["losses"] == runs[1]["losses"]  # bit for bit: the same kernels in the same order
    for (k, a), (_, b) in zip(runs[0]["model"].state_dict().items(), runs[1]["model"].state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


def test_command_line(tmp_path, capsys):
    out = tmp_path / "w.npz"
    assert digits.main(["--epochs", "1", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("held-out accuracy") and out.exists()
    assert digits.main(["--epochs", "1", "--out", "", "--no-compile"]) == 0
    printed = capsys.readouterr().out
    assert "epoch  1/1  loss" in printed and "held-out accuracy" in printed and "eager)" in printed
    with pytest.raises(SystemExit):
        digits.main(["--threads", "0"])
    assert "--threads must be at least 1" in capsys.readouterr().err
