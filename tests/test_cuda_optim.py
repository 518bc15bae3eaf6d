"""Optimizers on CUDA parameters: the fused CUDA step kernels against the CPU ones, state on the device.

Every configuration of ``tests/test_optim.py`` (which checks the CPU against
``torch.optim``) runs a few steps on a tiny parameter on both devices; the
results must agree to rounding and the parameter and its state must stay on
the GPU.  Shapes are tiny: on CI the kernels run on Numba's CUDA simulator.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import numgrad as ng
import numgrad.nn  # noqa: F401
import numgrad.optim as optim
from tests.test_optim import ADAM_CASES, RMS_CASES, SGD_CASES

pytestmark = [pytest.mark.skipif(not ng.cuda.is_available(), reason="no GPU and no CUDA simulator"), pytest.mark.gpu,
              pytest.mark.usefixtures("fast_simulated_barriers")]

STEPS = 5
SHAPES = [(3, 2), (4,)]

CASES = ([(optim.SGD, kw) for kw in SGD_CASES] + [(optim.Adam, kw) for kw in ADAM_CASES]
         + [(optim.AdamW, kw) for kw in (dict(lr=0.01), dict(lr=0.01, weight_decay=0.1, amsgrad=True))]
         + [(optim.RMSprop, kw) for kw in RMS_CASES]
         # the optimizers of tests/test_optim_more.py, one demanding configuration each
         + [(optim.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5)),
            (optim.Adadelta, dict(lr=0.5, rho=0.8, weight_decay=0.1, maximize=True)),
            (optim.Adamax, dict(lr=0.01, weight_decay=0.1)),
            (optim.NAdam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
            (optim.RAdam, dict(lr=0.01, weight_decay=0.1, maximize=True)),
            (optim.Rprop, dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.1))),
            (optim.ASGD, dict(lr=0.05, lambd=0.01, t0=2, weight_decay=0.1)),
            (optim.Adafactor, dict(lr=0.05, weight_decay=0.1))])


def _case_id(case):
    cls, kw = case
    return cls.__name__ + "-" + ",".join(f"{k}={v}" for k, v in kw.items())


def _run(cls, kwargs, device, dtype="float32", steps=STEPS, groups=False):
    rng = np.random.default_rng(0)
    params = [ng.nn.Parameter(ng.tensor(rng.standard_normal(s).astype(dtype), device=device)) for s in SHAPES]
    if groups:
        opt = cls([{"params": params[:1]}, {"params": params[1:], "lr": 0.003}], **kwargs)
    else:
        opt = cls(params, **kwargs)
    for _ in range(steps):
        for p in params:
            noise = rng.standard_normal(p.shape).astype(dtype)
            # the gradient depends on the current weights, so any drift between devices compounds
            p.grad = ng.tensor(0.5 * p.detach().cpu().numpy() + noise, device=device)
        opt.step()
    return params, opt


def _assert_state_on(opt, device_type):
    for state in opt.state.values():
        for name, value in state.items():
            if isinstance(value, ng.Tensor):
                assert value.device.type == device_type, f"optimizer state {name!r} is on {value.device}"


def _assert_same(cuda_params, cpu_params, rtol=2e-6, atol=1e-6):
    for g, c in zip(cuda_params, cpu_params):
        assert g.device.type == "cuda"
        np.testing.assert_allclose(g.detach().cpu().numpy(), c.detach().numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_optimizer_on_cuda_matches_cpu(case):
    cls, kwargs = case
    cpu_params, cpu_opt = _run(cls, kwargs, "cpu")
    cuda_params, cuda_opt = _run(cls, kwargs, "cuda")
    _assert_same(cuda_params, cpu_params)
    _assert_state_on(cuda_opt, "cuda")
    for p, q in zip(cuda_params, cpu_params):
        mine, theirs = cuda_opt.state[p], cpu_opt.state[q]
        assert set(mine) == set(theirs)
        for name, value in theirs.items():
            if isinstance(value, ng.Tensor):
                np.testing.assert_allclose(mine[name].cpu().numpy(), value.numpy(), rtol=2e-6, atol=1e-6)
            else:
                assert mine[name] == value


def test_float64_and_param_groups_on_cuda():
    cpu_params, _ = _run(optim.Adam, dict(lr=0.01), "cpu", dtype="float64", groups=True)
    cuda_params, opt = _run(optim.Adam, dict(lr=0.01), "cuda", dtype="float64", groups=True)
    _assert_same(cuda_params, cpu_params, rtol=1e-12, atol=1e-12)
    assert cuda_params[0].dtype == ng.float64
    _assert_state_on(opt, "cuda")


def test_step_is_in_place_on_cuda_and_non_contiguous_params_are_written_back():
    w = ng.nn.Parameter(ng.ones(3, device="cuda"))
    data, version = w._data, w._version[0]
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = ng.ones(3, device="cuda")
    opt.step()
    assert w._data is data and w._version[0] == version + 1
    np.testing.assert_allclose(w.detach().cpu().numpy(), 0.9, rtol=1e-6)
    # a transposed (non-contiguous) leaf: updated through a contiguous copy, then written back
    base = np.arange(6, dtype=np.float32).reshape(2, 3)
    results = []
    for device in ("cpu", "cuda"):
        t = ng.tensor(base, device=device).t().requires_grad_()
        assert not t.is_contiguous()
        o = optim.Adam([t], lr=0.1)
        t.grad = ng.tensor(base.T.copy() - 2.0, device=device)
        o.step()
        o.step()
        results.append(t.detach().cpu().numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6, atol=1e-7)


def test_float64_grad_of_float32_param_on_cuda():
    w = ng.nn.Parameter(ng.ones(2, device="cuda"))
    w.grad = ng.tensor([1.0, 2.0], dtype=ng.float64, device="cuda")
    optim.SGD([w], lr=0.5).step()
    assert w.dtype == ng.float32 and w.device.type == "cuda"
    np.testing.assert_allclose(w.detach().cpu().numpy(), [0.5, 0.0])


def test_grad_on_another_device_is_refused():
    w = ng.nn.Parameter(ng.ones(2, device="cuda"))
    w.grad = ng.ones(2)
    with pytest.raises(RuntimeError, match="gradient is on cpu but its parameter of shape \\[2\\] is on cuda:0"):
        optim.SGD([w], lr=0.1).step()


def test_zero_grad_keeps_cuda_grads_on_the_device():
    a = ng.nn.Parameter(ng.ones(2, device="cuda"))
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    a.grad = ng.ones(2, device="cuda")
    opt.step()
    grad = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is grad and a.grad.device.type == "cuda"
    np.testing.assert_allclose(a.grad.cpu().numpy(), 0.0)
    opt.zero_grad()
    assert a.grad is None


def test_state_dict_keeps_devices_and_load_moves_state_to_the_params_device():
    cuda_params, cuda_opt = _run(optim.Adam, dict(lr=0.01), "cuda", steps=3)
    saved = cuda_opt.state_dict()
    assert saved["state"][0]["exp_avg"].device.type == "cuda"  # state dict tensors keep their device
    assert saved["state"][0]["exp_avg"]._data is not cuda_opt.state[cuda_params[0]]["exp_avg"]._data
    # CPU state (e.g. a checkpoint) into an optimizer of CUDA parameters: moved to the GPU, as PyTorch does
    cpu_params, cpu_opt = _run(optim.Adam, dict(lr=0.01), "cpu", steps=3)
    fresh = optim.Adam(cuda_params, lr=0.5)
    fresh.load_state_dict(cpu_opt.state_dict())
    assert fresh.param_groups[0]["lr"] == 0.01
    _assert_state_on(fresh, "cuda")
    assert fresh.state[cuda_params[0]]["step"] == 3
    # and CUDA state into CPU parameters comes back to the host
    back = optim.Adam(cpu_params, lr=0.5)
    back.load_state_dict(saved)
    _assert_state_on(back, "cpu")
    # both resume identically
    g = [np.full(s, 0.1, dtype=np.float32) for s in SHAPES]
    for p, q, gi in zip(cuda_params, cpu_params, g):
        p.grad, q.grad = ng.tensor(gi, device="cuda"), ng.tensor(gi)
    fresh.step()
    back.step()
    _assert_same(cuda_params, cpu_params)


def test_lbfgs_on_cuda_matches_cpu_and_keeps_its_history_on_the_device():
    results = []
    for device in ("cpu", "cuda"):
        x = ng.nn.Parameter(ng.tensor([-1.5, 2.0, 0.5], dtype=ng.float64, device=device))
        opt = optim.LBFGS([x], line_search_fn="strong_wolfe", max_iter=6)

        def closure():
            opt.zero_grad()
            loss = (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        state = opt.state[x]
        assert state["d"].device.type == device and state["prev_flat_grad"].device.type == device
        results.append((x.detach().cpu().numpy(), state["func_evals"]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-12)
    assert results[1][1] == results[0][1]


_PTX_SCRIPT = r"""
import sys
from numba import cuda, types
try:
    cuda.compile_ptx(lambda a: None, (types.float32[:],), cc=(9, 0))
except Exception as exc:  # no NVVM installed: nothing to compile with
    print(type(exc).__name__, exc)
    sys.exit(77)
from numgrad.kernels.cuda import optim
b1 = types.boolean
for T in (types.float32, types.float64):
    A = T[:]
    for kernel, sig in ((optim._adagrad_kernel, (A,) * 3 + (T,) * 3 + (b1,)),
                        (optim._adadelta_kernel, (A,) * 4 + (T,) * 5 + (b1,)),
                        (optim._adamax_kernel, (A,) * 4 + (T,) * 4 + (b1, T)),
                        (optim._nadam_kernel, (A,) * 4 + (T,) * 6 + (b1,) * 2 + (T,) * 3),
                        (optim._radam_kernel, (A,) * 4 + (T,) * 6 + (b1,) * 2 + (T,) * 2 + (b1,) + (T,) * 2),
                        (optim._rprop_kernel, (A,) * 4 + (T,) * 4 + (b1,)),
                        (optim._asgd_kernel, (A,) * 3 + (T,) * 4 + (b1,) * 2)):
        ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(9, 0))
        if T == types.float32:  # float32 parameters are updated in float32 arithmetic, as PyTorch does
            assert "cvt.f64" not in ptx, kernel.py_func.__name__
print("ok")
"""


def test_new_optimizer_kernels_compile_for_a_real_gpu_in_float32_arithmetic():
    # the simulator runs device functions as Python: only NVVM shows that the shared bodies compile for the device
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0", PYTHONPATH=root)
    proc = subprocess.run([sys.executable, "-c", _PTX_SCRIPT], env=env, capture_output=True, text=True, cwd=root,
                          timeout=600)
    if proc.returncode == 77:
        pytest.skip(f"the CUDA compiler (NVVM) is not installed: {proc.stdout.strip()}")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout[-2000:] + proc.stderr[-2000:]


def test_new_cuda_kernels_share_the_cpu_element_bodies():
    from numgrad.kernels import element_bodies
    from numgrad.kernels.cpu import optim as cpu_optim
    from numgrad.kernels.cuda import optim as cuda_optim

    for name in ("adagrad", "adadelta", "adamax", "nadam", "radam", "rprop", "asgd"):
        body = getattr(element_bodies, name + "_update")
        assert getattr(cpu_optim, f"_{name}_elem").py_func is body
        assert getattr(cuda_optim, f"_{name}_elem").py_func.__code__ is body.__code__
