"""``optim.Muon`` against ``torch.optim.Muon`` step by step, its state dict, errors, and ``ng.compile`` replay."""
import numpy as np
import pytest
import torch
from torch.optim._muon import _zeropower_via_newtonschulz as torch_newtonschulz

import numgrad as ng
from numgrad import nn
from numgrad.optim.muon import zeropower_via_newtonschulz


def _run_both(shape, dtype, steps=3, **kwargs):
    """Yield (torch param, numgrad param, torch opt, numgrad opt) after each of ``steps`` steps on the same
    random gradients."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(shape).astype(dtype)
    w_t, w_n = torch.nn.Parameter(torch.tensor(w0)), ng.nn.Parameter(ng.tensor(w0))
    opt_t, opt_n = torch.optim.Muon([w_t], **kwargs), ng.optim.Muon([w_n], **kwargs)
    for _ in range(steps):
        g = rng.standard_normal(shape).astype(dtype)
        w_t.grad, w_n.grad = torch.tensor(g), ng.tensor(g)
        opt_t.step()
        opt_n.step()
        yield w_t, w_n, opt_t, opt_n


CASES = [
    ((4, 6), "float32", dict(lr=0.02)),
    ((6, 4), "float32", dict(lr=0.02, momentum=0.3, nesterov=False, weight_decay=0.0)),
    ((5, 3), "float64", dict(lr=0.1, adjust_lr_fn="match_rms_adamw", ns_steps=3)),
    ((3, 3), "float32", dict(lr=0.05, adjust_lr_fn="original", ns_coefficients=(2.0, -1.5, 0.5), eps=1e-5)),
]


@pytest.mark.parametrize("shape, dtype, kwargs", CASES)
def test_steps_match_torch(shape, dtype, kwargs):
    for w_t, w_n, opt_t, opt_n in _run_both(shape, dtype, **kwargs):
        # the bfloat16 Newton-Schulz is PyTorch's bit for bit; the final float add may differ in the last bit
        # (PyTorch's add_ uses a fused multiply-add)
        np.testing.assert_allclose(w_n.detach().numpy(), w_t.detach().numpy(), rtol=4e-7 if dtype == "float32"
                                   else 1e-15, atol=1e-7 if dtype == "float32" else 1e-16)
        np.testing.assert_array_equal(opt_n.state[w_n]["momentum_buffer"].numpy(),
                                      opt_t.state[w_t]["momentum_buffer"].numpy())


def test_newton_schulz_matches_torch_bit_for_bit():
    g = np.random.default_rng(1).standard_normal((5, 7)).astype(np.float32)
    for mat in (g, g.T.copy()):
        want = torch_newtonschulz(torch.tensor(mat), (3.4445, -4.7750, 2.0315), 5, 1e-7).float().numpy()
        got = zeropower_via_newtonschulz(ng.tensor(mat), (3.4445, -4.7750, 2.0315), 5, 1e-7)
        assert got.dtype == ng.bfloat16
        np.testing.assert_array_equal(got.float().numpy(), want)


def test_defaults_and_state_dict_round_trip():
    w = ng.nn.Parameter(ng.ones(3, 2))
    opt = ng.optim.Muon([w])
    group = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    theirs = torch.optim.Muon([torch.nn.Parameter(torch.ones(3, 2))]).param_groups[0]
    assert group == {k: v for k, v in theirs.items() if k != "params"}
    *_, (w_t, w_n, opt_t, opt_n) = _run_both((3, 4), "float32", steps=2, lr=0.05)
    saved = opt_n.state_dict()
    assert list(saved["state"][0]) == list(opt_t.state_dict()["state"][0]) == ["momentum_buffer"]
    # fresh optimizers loaded with numgrad's state and with torch's continue exactly like the original
    from_torch = {"state": {0: {"momentum_buffer": ng.tensor(opt_t.state[w_t]["momentum_buffer"].numpy())}},
                  "param_groups": opt_t.state_dict()["param_groups"]}
    restored = []
    for source in (saved, from_torch):
        clone = ng.nn.Parameter(w_n.detach().clone())
        opt = ng.optim.Muon([clone], lr=0.5)
        opt.load_state_dict(source)
        assert opt.param_groups[0]["lr"] == 0.05
        restored.append((clone, opt))
    g = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    for param, opt in [(w_n, opt_n)] + restored:
        param.grad = ng.tensor(g)
        opt.step()
    for clone, _ in restored:
        np.testing.assert_array_equal(clone.detach().numpy(), w_n.detach().numpy())


def test_misuse_raises_torchs_errors():
    w = ng.nn.Parameter(ng.ones(2, 2))
    cases = [(dict(lr=-1.0), "Learning rate should be >= 0 but is: -1.0"),
             (dict(momentum=-0.1), "momentum should be >= 0 but is: -0.1"),
             (dict(weight_decay=-0.1), "weight decay should be >= 0 but is: -0.1"),
             (dict(adjust_lr_fn="other"), "Adjust learning rate function other is not supported")]
    for kwargs, text in cases:
        with pytest.raises(ValueError, match=text):
            torch.optim.Muon([torch.nn.Parameter(torch.ones(2, 2))], **kwargs)
        with pytest.raises(ValueError, match=text):
            ng.optim.Muon([w], **kwargs)
    with pytest.raises(ValueError) as theirs:
        torch.optim.Muon([torch.nn.Parameter(torch.ones(3))])
    with pytest.raises(ValueError) as ours:
        ng.optim.Muon([ng.nn.Parameter(ng.ones(3))])
    assert str(ours.value) == str(theirs.value).replace("torch.Size", "numgrad.Size")
    opt = ng.optim.Muon([w], ns_steps=100)
    w.grad = ng.ones(2, 2)
    with pytest.raises(ValueError, match="Number of steps must be less than 100 for computational efficiency"):
        opt.step()


def test_a_compiled_training_step_replays_and_matches_eager_to_the_bit():
    rng = np.random.default_rng(0)
    batches = [(ng.tensor(rng.standard_normal((4, 3)).astype(np.float32)), ng.tensor(rng.integers(0, 2, 4)))
               for _ in range(5)]

    def training():
        ng.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 5, bias=False), nn.Tanh(), nn.Linear(5, 2, bias=False))
        opt = ng.optim.Muon(model.parameters(), lr=0.05)
        loss_fn = nn.CrossEntropyLoss()

        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return model, step

    eager_model, eager_step = training()
    compiled_model, step = training()
    step = ng.compile(step)
    for x, y in batches:
        assert np.float32(step(x, y).item()).tobytes() == np.float32(eager_step(x, y).item()).tobytes()
    assert step.replays == len(batches) - 3, step.explain()
    assert "Muon._update" in step.explain()
    for a, b in zip(eager_model.parameters(), compiled_model.parameters()):
        assert a.detach().numpy().tobytes() == b.detach().numpy().tobytes()


def test_a_tensor_learning_rate_as_torch():
    rng = np.random.default_rng(3)
    w0, g = rng.standard_normal((2, 3, 4)).astype(np.float32)
    theirs = torch.nn.Parameter(torch.tensor(w0))
    ours = ng.nn.Parameter(ng.tensor(w0))
    theirs.grad, ours.grad = torch.tensor(g), ng.tensor(g)
    torch.optim.Muon([theirs], lr=torch.tensor(0.05)).step()
    ng.optim.Muon([ours], lr=ng.tensor(0.05)).step()
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=4e-7, atol=1e-7)
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        ng.optim.Muon([ours], lr=ng.tensor([0.1, 0.2]))


@pytest.mark.gpu
@pytest.mark.skipif(not ng.cuda.is_available(), reason="no GPU and no CUDA simulator")
def test_a_gpu_parameter_steps_like_the_cpu_one():
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal((2, 3)).astype(np.float32)
    on_gpu = ng.nn.Parameter(ng.tensor(w0, device="cuda"))
    on_cpu = ng.nn.Parameter(ng.tensor(w0))
    opt_gpu, opt_cpu = ng.optim.Muon([on_gpu], lr=0.1), ng.optim.Muon([on_cpu], lr=0.1)
    for _ in range(2):
        g = rng.standard_normal((2, 3)).astype(np.float32)
        on_gpu.grad, on_cpu.grad = ng.tensor(g, device="cuda"), ng.tensor(g)
        opt_gpu.step()
        opt_cpu.step()
    assert opt_gpu.state[on_gpu]["momentum_buffer"].device.type == "cuda"
    np.testing.assert_array_equal(on_gpu.detach().cpu().numpy(), on_cpu.detach().numpy())
