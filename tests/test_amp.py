"""numgrad.amp: GradScaler against torch.amp.GradScaler("cpu") step by step (scale, skipped steps, growth,
state_dict), autocast's enabled=False pass-through (enabled=True: tests/test_autocast.py), torch.cuda.amp's deprecated
names."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng


def _run(lib, grads_per_step, **scaler_kwargs):
    """A few SGD steps whose gradients are set by hand (some inf or NaN); what the scaler and the weight do."""
    w = lib.nn.Parameter(lib.tensor([1.0, 2.0, 3.0]))
    opt = lib.optim.SGD([w], lr=0.5, momentum=0.9)
    scaler = lib.amp.GradScaler("cpu", **scaler_kwargs)
    seen = []
    for g in grads_per_step:
        opt.zero_grad()
        scaler.scale((w * lib.tensor(g, dtype=lib.float32)).sum()).backward()
        returned = scaler.step(opt)
        scaler.update()
        seen.append((scaler.get_scale(), w.detach().tolist(), returned, dict(scaler.state_dict())))
    return seen


GRADS = [[1.0, 2.0, 3.0], [float("inf"), 0.0, 1.0], [0.5, 0.5, 0.5], [float("nan"), 1.0, 1.0],
         [1.0, -1.0, 2.0], [3.0, 1.0, 0.0], [1e-3, 1e-3, 1e-3]]


@pytest.mark.parametrize("kwargs", [{"init_scale": 1024.0}, {"init_scale": 8.0, "growth_interval": 2},
                                    {"init_scale": 3.0e38, "growth_interval": 1}],
                         ids=["backoff", "growth", "growth_overflows"])
def test_grad_scaler_matches_torch_step_by_step(kwargs):
    got, want = _run(ng, GRADS, **kwargs), _run(torch, GRADS, **kwargs)
    for (scale, w, returned, state), (t_scale, t_w, t_returned, t_state) in zip(got, want):
        assert (scale, returned, state) == (t_scale, t_returned, t_state)
        # equal to the bit but where a scale near the float32 maximum makes the inverse scale subnormal
        np.testing.assert_allclose(w, t_w, rtol=1e-6 if kwargs["init_scale"] > 1e38 else 0)


def test_unscale_then_clip_then_step_matches_torch():
    def run(lib):
        w = lib.nn.Parameter(lib.tensor([3.0, -4.0]))
        opt = lib.optim.Adam([w], lr=0.1)
        scaler = lib.amp.GradScaler("cpu", init_scale=256.0)
        for _ in range(3):
            opt.zero_grad()
            scaler.scale((w ** 2).sum()).backward()
            scaler.unscale_(opt)
            norm = lib.nn.utils.clip_grad_norm_([w], 1.0)
            scaler.step(opt)
            scaler.update()
        return w.detach().tolist(), float(norm)

    assert run(ng) == run(torch)


def test_grad_scaler_misuse_raises_as_torch():
    w = ng.nn.Parameter(ng.ones(2))
    opt = ng.optim.SGD([w], lr=0.1)
    scaler = ng.amp.GradScaler("cpu")
    with pytest.raises(AssertionError, match="did not use scaler.scale"):
        scaler.step(opt)
    scaler.scale(w.sum()).backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called on this optimizer"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called since the last update\\(\\)"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        scaler.step(opt, closure=lambda: None)
    with pytest.raises(AssertionError, match="The growth factor must be > 1.0."):
        ng.amp.GradScaler("cpu", growth_factor=1.0)
    with pytest.raises(RuntimeError, match="The source state dict is empty"):
        ng.amp.GradScaler("cpu").load_state_dict({})


def test_a_disabled_scaler_passes_through_and_cuda_without_a_gpu_disables():
    w = ng.nn.Parameter(ng.ones(2))
    opt = ng.optim.SGD([w], lr=0.5)
    scaler = ng.amp.GradScaler("cpu", enabled=False)
    loss = w.sum()
    assert scaler.scale(loss) is loss and scaler.get_scale() == 1.0 and scaler.state_dict() == {}
    loss.backward()
    scaler.step(opt)
    scaler.update()
    assert w.detach().tolist() == [0.5, 0.5]
    if not ng.cuda.is_available():
        with pytest.warns(UserWarning, match="GradScaler is enabled, but CUDA is not available.  Disabling."):
            assert not ng.amp.GradScaler().is_enabled()


def test_state_dict_round_trip():
    scaler = ng.amp.GradScaler("cpu", init_scale=64.0, growth_interval=3)
    w = ng.nn.Parameter(ng.ones(2))
    opt = ng.optim.SGD([w], lr=0.1)
    scaler.scale(w.sum()).backward()
    scaler.step(opt)
    scaler.update()
    other = ng.amp.GradScaler("cpu")
    other.load_state_dict(scaler.state_dict())
    assert other.state_dict() == scaler.state_dict() == {
        "scale": 64.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 3, "_growth_tracker": 1}


def test_autocast_disabled_runs_the_code_and_enabled_casts():
    with ng.autocast("cpu", dtype=ng.bfloat16, enabled=False):
        out = ng.ones(2, 2) @ ng.ones(2, 2)
    assert out.dtype == ng.float32

    @ng.amp.autocast("cpu", enabled=False)
    def double(x):
        return x * 2

    assert double(ng.ones(1)).tolist() == [2.0]
    with ng.autocast("cpu", dtype=ng.bfloat16):  # enabled: see tests/test_autocast.py
        assert (ng.ones(2, 2) @ ng.ones(2, 2)).dtype == ng.bfloat16
    with pytest.raises(ValueError, match="Expected `device_type` of type `str`"):
        ng.autocast(0, enabled=False)
    assert ng.amp.is_autocast_available("cpu")


def test_torch_cuda_amp_names_warn_as_torch():
    with pytest.warns(FutureWarning, match=r"`torch.cuda.amp.GradScaler\(args...\)` is deprecated"):
        scaler = ng.cuda.amp.GradScaler(enabled=False)
    assert not scaler.is_enabled()
    with pytest.warns(FutureWarning, match=r"`torch.cuda.amp.autocast\(args...\)` is deprecated"):
        with ng.cuda.amp.autocast(enabled=False):
            pass


def test_cuda_manual_seed_seeds_the_generator_cuda_draws_come_from():
    ng.cuda.manual_seed_all(5)
    first = ng.rand(3)
    ng.cuda.manual_seed(5)
    assert np.array_equal(first.numpy(), ng.rand(3).numpy()) and ng.cuda.initial_seed() == 5
