"""device='cuda': the op registry on CUDA, checked against the CPU results.

CI has no GPU: conftest.py turns on Numba's CUDA simulator, which runs every
``@cuda.jit`` kernel in Python (about 0.1 ms per simulated thread), so shapes
stay tiny.  ``test_generated_kernels_compile_to_ptx`` compiles the generated
kernels of every op-table row with the real CUDA compiler for an H100/H200
(``cuda.compile_ptx``, no GPU needed), which catches what the simulator
cannot: device code that Numba cannot lower.  On a machine with a GPU,
``NUMBA_ENABLE_CUDASIM=0 python -m pytest -m gpu`` runs the same checks there.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import numgrad as ng
from tests.helpers import assert_close
from tests.op_registry import all_specs

# -m gpu selects every CUDA test (on a real GPU with NUMBA_ENABLE_CUDASIM=0)
pytestmark = [pytest.mark.skipif(not ng.cuda.is_available(), reason="no GPU and no CUDA simulator"), pytest.mark.gpu,
              pytest.mark.usefixtures("fast_simulated_barriers")]

# Registry ops that have no CUDA kernel yet (issue #6): each must refuse CUDA data with a clear error.
# None is left; an op added to the registry before its CUDA kernel is listed here.
NOT_ON_CUDA: set = set()
# issue 16: sorting/searching and the cumulative product/log-sum-exp scans have CPU kernels only
NOT_ON_CUDA |= {"sorting.sort", "sorting.argsort", "sorting.topk", "sorting.kthvalue", "sorting.msort", "scan.cumprod",
                "scan.cumprod_zeros", "scan.logcumsumexp", "statistics.median", "statistics.nanmedian",
                "statistics.quantile", "statistics.quantile_many", "statistics.cummax", "statistics.cummin",
                "dense_linalg.inverse", "dense_linalg.det", "dense_linalg.slogdet", "dense_linalg.solve",
                "dense_linalg.matrix_power_negative", "scatter.scatter_reduce_extreme",
                "scatter.scatter_reduce_extreme_smooth"}
CLEAR_ERRORS = ("has no CUDA kernel yet", "not implemented for CUDA tensors yet",
                "can't convert cuda:0 device type tensor to numpy", "indexing a CUDA tensor with tensors")


def _family(name: str) -> str:
    # "nnfunc.mse_loss.mean" -> "nnfunc.mse_loss": reduction variants share their op's support
    parts = name.split(".")
    return ".".join(parts[:2])


SPECS = all_specs()
SUPPORTED = [s for s in SPECS if _family(s.name) not in NOT_ON_CUDA]
REFUSED = [s for s in SPECS if _family(s.name) in NOT_ON_CUDA]


def _inputs(sample, dtype, device):
    out = []
    for i, a in enumerate(sample.args):
        if isinstance(a, np.ndarray):
            arr = a.astype(dtype) if a.dtype.kind == "f" else a
            wants = arr.dtype.kind == "f" and (sample.grad is None or i in sample.grad)
            out.append(ng.tensor(arr, device=device).requires_grad_(wants))
        else:
            out.append(a)
    return out


def _outputs(res):
    return list(res) if isinstance(res, (tuple, list)) else [res]


def _run(spec, sample, dtype, device):
    """Forward outputs and input gradients (of a fixed random projection of the outputs) on ``device``."""
    xs = _inputs(sample, dtype, device)
    outs = _outputs(spec.fn(ng, *xs, **sample.kwargs))
    floats = [o for o in outs if o.dtype.is_floating_point and o.requires_grad]
    grads = []
    if spec.differentiable and floats:
        seeds = [np.random.default_rng(1).standard_normal(o.shape).astype(dtype) for o in floats]
        total = sum((o * ng.tensor(s, device=device)).sum() for o, s in zip(floats, seeds))
        total.backward()
        grads = [x.grad for x in xs if isinstance(x, ng.Tensor) and x.requires_grad]
    return [o.detach() for o in outs], grads


@pytest.mark.parametrize("spec", SUPPORTED, ids=[s.name for s in SUPPORTED])
def test_op_on_cuda_matches_cpu(spec):
    rng = np.random.default_rng(0)
    samples = spec.samples(rng)
    for dtype, todo in (("float64", samples), ("float32", samples[:1])):
        rtol, atol = (1e-9, 1e-10) if dtype == "float64" else (spec.rtol32, spec.atol32)
        for sample in todo:
            cpu_outs, cpu_grads = _run(spec, sample, dtype, "cpu")
            gpu_outs, gpu_grads = _run(spec, sample, dtype, "cuda")
            for c, g in zip(cpu_outs, gpu_outs):
                assert g.device.type == "cuda", f"{spec.name}: output left the GPU"
                assert g.dtype == c.dtype and g.shape == c.shape
                assert_close(g.cpu(), c, rtol, atol, msg=f"{spec.name} forward {dtype}")
            assert len(cpu_grads) == len(gpu_grads)
            for c, g in zip(cpu_grads, gpu_grads):
                assert (c is None) == (g is None), f"{spec.name}: gradient presence differs"
                if g is not None:
                    assert g.device.type == "cuda", f"{spec.name}: gradient left the GPU"
                    assert_close(g.cpu(), c, rtol * 10, atol * 10, msg=f"{spec.name} grad {dtype}")


def test_op_without_cuda_kernel_says_so():
    """A CPU @njit kernel handed CUDA data - what an op without a CUDA kernel does, or a user's own kernel
    called on ``t._data`` - raises the clear NotImplementedError, never a numba TypingError; and every
    registry op listed in NOT_ON_CUDA refuses CUDA data with a clear error."""
    from numba import njit

    @njit
    def total(a):
        acc = 0.0
        for i in range(a.shape[0]):
            acc += a[i]
        return acc

    t = ng.arange(4, dtype=ng.float32, device="cuda")
    with pytest.raises(NotImplementedError, match="this numgrad op has no CUDA kernel yet: a CPU kernel was called "
                                                  "with CUDA data") as info:
        total(t._data)
    assert "DeviceArray(shape=(4,), dtype=float32" in str(info.value) and ".cpu()" in str(info.value)
    assert total(t.cpu()._data) == 6.0
    for spec in REFUSED:
        sample = spec.samples(np.random.default_rng(0))[0]
        xs = _inputs(sample, "float64", "cuda")
        with pytest.raises((NotImplementedError, TypeError)) as info:
            _outputs(spec.fn(ng, *xs, **sample.kwargs))[0].sum().backward()
        assert any(text in str(info.value) for text in CLEAR_ERRORS), f"{spec.name}: {info.value}"


def test_fused_chain_forward_and_backward_on_cuda():
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in ((4, 5), (5,), (1,))]
    results = {}
    for device in ("cpu", "cuda"):
        x, w, b = (ng.tensor(a, device=device, requires_grad=True) for a in arrays)
        y = ng.tanh(x * w + b) * ng.sigmoid(x) ** 2
        report = str(ng.explain(y))
        assert f"-> 1 kernel on {ng.device(device)}" in report
        assert ("@cuda.jit" in report) == (device == "cuda")
        loss = y.sum()
        loss.backward()
        results[device] = [loss.detach().cpu()] + [t.grad.cpu() for t in (x, w, b)]
    for c, g in zip(results["cpu"], results["cuda"]):
        assert_close(g, c, 1e-5, 1e-6)


def test_reduction_of_a_fused_region_is_one_cuda_kernel(monkeypatch):
    from numgrad.kernels.cuda import elementwise as cuda_map

    xs = np.linspace(-2, 2, 300, dtype=np.float32)  # 300 elements: two blocks of partials
    x = ng.tensor(xs, device="cuda")
    calls = []
    for name in ("run_map", "run_reduce"):
        original = getattr(cuda_map, name)
        monkeypatch.setattr(cuda_map, name, lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k))
    total = (ng.exp(x) * x).sum()
    top = (x * 2).amax()
    assert calls == ["run_reduce", "run_reduce"], "the region must be reduced in its own kernel, not mapped first"
    assert total.device.type == "cuda" and total.shape == ()
    assert_close(total.cpu(), np.float32((np.exp(xs) * xs).sum()), 1e-5, 1e-5)
    assert_close(top.cpu(), np.float32(4.0))


def test_deferred_loss_step_is_one_cuda_kernel(monkeypatch):
    """A recorded sum of a fused region waits for backward(); then one kernel writes the gradients and sums
    the loss (``numgrad/fusion/deferred.py``), as on the CPU."""
    from numgrad.kernels.cuda import elementwise as cuda_map

    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(200).astype(np.float32) for _ in range(3)]
    results = {}
    for device in ("cpu", "cuda"):
        calls = []
        if device == "cuda":
            for name, shape_arg in (("run_map", 3), ("run_reduce", 2)):
                original = getattr(cuda_map, name)
                monkeypatch.setattr(cuda_map, name, lambda *a, _f=original, _n=name, _s=shape_arg, **k:
                                    calls.append((_n, tuple(a[_s]))) or _f(*a, **k))
        x, w, b = (ng.tensor(a, device=device, requires_grad=True) for a in arrays)
        loss = (ng.tanh(x * w + b) * ng.sigmoid(x) ** 2).sum()
        loss.backward()
        if device == "cuda":
            # one launch over the region (the loss's own 0-d gradient of ones may take another)
            assert [c for c in calls if c[1]] == [("run_reduce", (200,))], calls
        results[device] = [loss.detach().cpu()] + [t.grad.cpu() for t in (x, w, b)]
    for c, g in zip(results["cpu"], results["cuda"]):
        assert_close(g, c, 1e-5, 1e-6)


def test_grad_of_grad_on_cuda():
    x = ng.tensor([0.3, -1.2, 2.0], dtype=ng.float64, device="cuda", requires_grad=True)
    (g,) = ng.autograd.grad((ng.tanh(x) ** 2).sum(), x, create_graph=True)
    (gg,) = ng.autograd.grad(g.sum(), x)
    t = np.tanh(np.array([0.3, -1.2, 2.0]))
    # d/dx 2 tanh (1 - tanh^2) = 2 (1 - t^2)(1 - 3 t^2)
    assert_close(gg.cpu(), 2 * (1 - t * t) * (1 - 3 * t * t), 1e-9, 1e-12)
    assert gg.device.type == "cuda"


def test_transfers_keep_values_dtype_and_gradient_path():
    a = ng.arange(6, dtype=ng.float64).reshape(2, 3).requires_grad_()
    d = a.cuda()
    assert d.device == ng.device("cuda:0") and d.is_cuda and not a.is_cuda
    assert d.grad_fn.name() == "ToCopyBackward0"
    assert d.to("cuda") is d and a.cpu() is a
    back = d.cpu()
    assert back.device.type == "cpu" and back.dtype == ng.float64
    assert_close(back, a)
    (d * 3).sum().backward()
    assert a.grad.device.type == "cpu"
    assert_close(a.grad, np.full((2, 3), 3.0))
    assert d.to(ng.float32).dtype == ng.float32 and d.to("cpu", ng.float32).device.type == "cpu"


def test_creation_on_cuda_and_like_functions_follow_the_input():
    z = ng.zeros(2, 3, device="cuda")
    assert z.device.type == "cuda" and z.sum().item() == 0
    assert ng.full((2,), 7, device="cuda").cpu().tolist() == [7, 7]
    assert ng.ones_like(z).device.type == "cuda" and ng.ones_like(z).sum().item() == 6
    assert ng.zeros_like(z, device="cpu").device.type == "cpu"
    r = ng.randn(3, device="cuda")
    assert r.device.type == "cuda" and r.shape == (3,)
    assert ng.tensor(r).device.type == "cuda"
    assert repr(ng.tensor([1.0, 2.0], device="cuda")) == "tensor([1., 2.], device='cuda:0')"
    assert ng.tensor([2.5], device="cuda").item() == 2.5


def test_views_share_cuda_memory():
    x = ng.arange(12, dtype=ng.float32, device="cuda")
    v = x.view(3, 4).t()[1:, :2]
    assert v.shape == (3, 2) and not v.is_contiguous()
    assert_close(v.cpu(), np.arange(12, dtype=np.float32).reshape(3, 4).T[1:, :2])
    x.view(3, 4)[0].mul_(10)  # in place through a view changes the base
    assert x.cpu().tolist()[:5] == [0.0, 10.0, 20.0, 30.0, 4.0]
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.view(3, 4).t().view(12)


def test_mixing_devices_is_pytorchs_error():
    a = ng.ones(3, device="cuda")
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, but found at least two "
                                           "devices, cuda:0 and cpu!"):
        a + ng.ones(3)
    # a 0-d CPU tensor acts as a number, as in PyTorch
    assert (a * ng.tensor(2.0)).device.type == "cuda"
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        a @ ng.ones(3, 2)


def test_cuda_tensor_to_numpy_is_refused_with_pytorchs_message():
    a = ng.ones(2, device="cuda")
    with pytest.raises(TypeError, match=r"can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu\(\)"):
        a.numpy()
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        np.asarray(a)
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        ng.ones(2, device="cuda:1")


def test_training_a_linear_model_with_sgd_on_cuda():
    rng = np.random.default_rng(4)
    x = ng.tensor(rng.standard_normal((16, 3)), dtype=ng.float32, device="cuda")
    true_w = ng.tensor([[1.0], [-2.0], [0.5]], device="cuda")
    y = x @ true_w
    w = ng.zeros(3, 1, device="cuda", requires_grad=True)
    for _ in range(30):
        loss = ((x @ w - y) ** 2).mean()
        w.grad = None
        loss.backward()
        with ng.no_grad():
            w -= 0.2 * w.grad
    assert w.device.type == "cuda"
    assert_close(w.detach().cpu(), np.array([[1.0], [-2.0], [0.5]], dtype=np.float32), 0.05, 0.05)


_PTX_SCRIPT = r"""
import sys
from numba import cuda, types
try:
    cuda.compile_ptx(lambda a: None, (types.float32[:],), cc=(9, 0))
except Exception as exc:  # no NVVM/NVRTC installed: nothing to compile with
    print(type(exc).__name__, exc)
    sys.exit(77)
from numgrad.kernels.cuda import elementwise as ce, nnfunc, matmul, reduce_axes  # noqa: F401
from numgrad.ir import expr as ex
from numgrad.ir import forward_roots as _forward_roots
from numgrad.ir.table import ELEMENTWISE

failures = []
count = 0


def compile_sm90(func, sig, label):
    global count
    count += 1
    try:
        cuda.compile_ptx(func, sig, cc=(9, 0))
    except Exception as exc:
        failures.append(f"{label}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")

for name, row in ELEMENTWISE.items():
    for compute in ("float32", "float64"):
        n_in = row.arity + len(row.params)
        in_type = {"logical": "bool", "compare": compute}.get(row.kind, compute)
        if row.name.startswith("bitwise"):
            in_type = "int64"
        if row.name.startswith("cast_"):
            if compute == "float64":
                continue
        roots = list(_forward_roots(row))
        out_types = ["bool" if row.kind in ("compare", "logical") else compute]
        if row.grad is not None and in_type == compute:
            xs = tuple(ex.var(i) for i in range(n_in))
            grads = [ex._lift(g) for g in row.grad(ex.E, xs, ex.var(n_in), ex.var(n_in + 1)) if g is not None]
            roots += grads
            out_types += [compute] * len(grads)
            n_in += 2  # the op's output and the incoming gradient are variables of the derivative rules
        src = ce._source(tuple(roots), ("a",) * n_in, ("",) * n_in, len(roots), 2, compute)
        mod = ce.cache.load_module(src, prefix="cuda_map")
        arg = lambda t: getattr(types, "boolean" if t == "bool" else t)[:, :]
        sig = (types.int64,) + tuple(arg(t) for t in out_types) + tuple(arg(in_type) for _ in range(n_in))
        compile_sm90(mod.kernel.py_func, sig, f"{name}/{compute}")
f32, f64 = types.float32, types.float64
# fused map-reduce kernels (a region's sum/amax/prod/any in one launch)
for name, reducer, acc in (("tanh", "sum", "float32"), ("sigmoid", "amax", "float64"), ("exp", "prod", "float32"),
                           ("mul", "sum", "float64"), ("gt", "any", "bool")):
    row = ELEMENTWISE[name]
    (root,) = _forward_roots(row)
    n_in = row.arity
    src = ce._reduce_source(root, ("a",) * n_in, ("",) * n_in, 2, reducer, acc)
    mod = ce.cache.load_module(src, prefix="cuda_mapreduce")
    part = types.boolean if acc == "bool" else getattr(types, acc)
    sig = (types.int64, part[:], types.int64) + tuple(f32[:, :] for _ in range(n_in))
    compile_sm90(mod.kernel.py_func, sig, f"mapreduce {name}/{reducer}")
# the deferred-loss kernel: a region's gradients written and its forward value summed in one launch
for name, acc in (("tanh", "float32"), ("mul", "float64")):
    row = ELEMENTWISE[name]
    (root,) = _forward_roots(row)
    n_in = row.arity + 2
    xs = tuple(ex.var(i) for i in range(row.arity))
    grads = tuple(ex._lift(g) for g in row.grad(ex.E, xs, root, ex.var(row.arity + 1)) if g is not None)
    src = ce._reduce_source(root, ("a",) * n_in, ("",) * n_in, 2, "sum", acc, grads)
    mod = ce.cache.load_module(src, prefix="cuda_mapsum")
    T = getattr(types, acc)
    sig = (types.int64, T[:], types.int64) + tuple(T[:, :] for _ in range(len(grads) + n_in))
    compile_sm90(mod.kernel.py_func, sig, f"mapsum {name}")
for kern, sig in ((nnfunc._softmax_forward, (f32[:, :, :], f32[:, :, :], types.boolean)),
                  (nnfunc._softmax_backward, (f64[:, :, :], f64[:, :, :], f64[:, :, :], types.boolean))):
    compile_sm90(kern.py_func, sig, f"{kern.py_func.__name__}")
# indexing and nll_loss kernels of kernels/cuda/indexing.py
from numgrad.kernels.cuda import indexing as cuda_indexing
i32, u8, b1 = types.int32, types.uint8, types.boolean
i64 = types.int64
for kern, sig in ((cuda_indexing._strided_offsets, (i64[:], i64[:])),
                  (cuda_indexing._accumulate_index_offsets, (i64[:], i64[:], i64, i64, i64[:], i64[:])),
                  (cuda_indexing._accumulate_index_offsets, (i32[:], i64[:], i64, i64, i64[:], i64[:])),
                  (cuda_indexing._check_bounds, (i64[:], i64, i64[:])),
                  (cuda_indexing._check_bounds, (i32[:], i64, i64[:])),
                  (cuda_indexing._gather_offsets, (f32[:], i64[:], i64[:], i64[:], f32[:, :, :])),
                  (cuda_indexing._gather_offsets, (b1[:], i64[:], i64[:], i64[:], b1[:, :, :])),
                  (cuda_indexing._scatter_offsets_store, (f64[:], i64[:], i64[:], i64[:], f64[:, :, :])),
                  (cuda_indexing._scatter_offsets_store, (b1[:], i64[:], i64[:], i64[:], b1[:, :, :])),
                  (cuda_indexing._scatter_offsets_add, (f32[:], i64[:], i64[:], i64[:], f32[:, :, :])),
                  (cuda_indexing._scatter_offsets_add, (f64[:], i64[:], i64[:], i64[:], f64[:, :, :])),
                  (cuda_indexing._scatter_offsets_add, (i64[:], i64[:], i64[:], i64[:], i64[:, :, :])),
                  (cuda_indexing._gather_dim, (f64[:], i64[:], i64[:], i64, i64[:, :, :], f64[:, :, :])),
                  (cuda_indexing._gather_dim, (f32[:], i64[:], i64[:], i64, i32[:, :, :], f32[:, :, :])),
                  (cuda_indexing._scatter_add_dim, (f32[:], i64[:], i64[:], i64, i64[:, :, :], f32[:, :, :])),
                  (cuda_indexing._scatter_add_dim, (f64[:], i64[:], i64[:], i64, i32[:, :, :], f64[:, :, :])),
                  (cuda_indexing._chunk_counts, (u8[:], i64, i64[:])),
                  (cuda_indexing._exclusive_scan, (i64[:], i64[:])),
                  (cuda_indexing._nonzero_fill, (u8[:], i64, i64[:], i64[:], i64[:, :])),
                  (cuda_indexing._nonzero_fill, (f32[:], i64, i64[:], i64[:], i64[:, :])),
                  (cuda_indexing._one_hot_fill, (i64[:], i64[:, :])),
                  (cuda_indexing._nll_gather, (f32[:, :, :], i64[:, :], f32[:], i64, f32[:, :], f64[:, :], i64[:])),
                  (cuda_indexing._nll_gather, (f64[:, :, :], u8[:, :], f64[:], i64, f64[:, :], f64[:, :], i64[:])),
                  (cuda_indexing._nll_scatter, (f32[:, :], i64[:, :], f32[:], i64, f32[:, :, :])),
                  (cuda_indexing._nll_scatter, (f64[:, :], u8[:, :], f64[:], i64, f64[:, :, :]))):
    compile_sm90(kern.py_func, sig, f"{kern.py_func.__name__} {sig}")
# the layer-op kernels (conv2d, pooling) of kernels/cuda/conv.py
from numgrad.kernels.cuda import conv as cuda_conv
i64, a4 = types.int64, (lambda t: t[:, :, :, :])
for kern, sig in ((cuda_conv._im2col, (a4(f32),) + (i64,) * 10 + (f32[:, :],)),
                  (cuda_conv._col2im, (f64[:, :],) + (i64,) * 10 + (f64, a4(f64))),
                  (cuda_conv._max_pool_forward, (a4(f32),) + (i64,) * 8 + (f32, a4(f32), a4(i64))),
                  (cuda_conv._max_pool_backward, (a4(f32), a4(i64)) + (i64,) * 8 + (f32, a4(f32))),
                  (cuda_conv._gather_planes, (f64[:, :, :], i64[:, :, :], f64[:, :, :])),
                  (cuda_conv._avg_pool_forward, (a4(f32),) + (i64,) * 6 + (types.boolean, i64, a4(f32))),
                  (cuda_conv._avg_pool_backward, (a4(f64),) + (i64,) * 6 + (types.boolean, i64, a4(f64))),
                  (cuda_conv._adaptive_avg_pool_forward, (a4(f32), a4(f32))),
                  (cuda_conv._adaptive_avg_pool_backward, (a4(f64), a4(f64)))):
    compile_sm90(kern.py_func, sig, f"{kern.py_func.__name__}")
# fused optimizer steps (numgrad.optim) and the reductions of ops/reductions.py
import math
from numgrad.kernels.cuda import optim as coptim, map_reduce as cred
from numgrad.ops.reductions import _GENERAL_NORM, _MEAN, _NORM_KERNELS
i64, b1 = types.int64, types.boolean
extra = []
for T in (f32, f64):
    extra += [(coptim._sgd_kernel, (T[:],) * 3 + (T,) * 4 + (b1,) * 3),
              (coptim._adam_kernel, (T[:],) * 5 + (T,) * 6 + (b1,) * 3 + (T,) * 2),
              (coptim._rmsprop_kernel, (T[:],) * 5 + (T,) * 6 + (b1,) * 2)]
for init, transform, combine, final, acc, load, shifted in (
        tuple(_MEAN.values()) + ("float32", None, False),
        ("T(0)", "(v - sh) * (v - sh)", "acc + t", "np.sqrt(acc / p)", "float64", None, True),
        ("T(0)", "fm.exp(v - sh)", "acc + t", "np.log(acc) + sh", "float32", None, True),
        _GENERAL_NORM + ("float32", None, False), _NORM_KERNELS[-math.inf] + ("float64", None, False),
        ("T(0)", "T(1) if v != 0 else T(0)", "acc + t", "acc", "int64", "bool", False)):
    A = getattr(types, acc)
    X = (b1 if load == "bool" else getattr(types, load)) if load else A
    s, p = ((A[:, :],) if shifted else ()), (A if acc.startswith("float") else f64,)
    per_output, per_block, finish = cred.map_reduce_kernels(init, transform, combine, final, acc, load, shifted)
    extra += [(per_output, (X[:, :, :],) + s + (A[:, :],) + p),
              (per_block, (X[:, :, :],) + s + (A[:, :], A[:, :]) + p), (finish, (A[:, :],) + s + (A[:, :],) + p)]
for kind, dt in (("max", "float32"), ("min", "float64"), ("max", "int64"), ("min", "bool")):
    T = b1 if dt == "bool" else getattr(types, dt)
    per_output, per_block, finish = cred.arg_kernels(kind, dt)
    extra += [(per_output, (T[:, :, :], T[:, :], i64[:, :])),
              (per_block, (T[:, :, :], T[:, :], i64[:, :], T[:, :], i64[:, :])),
              (finish, (T[:, :], i64[:, :], T[:, :], i64[:, :]))]
extra += [(cred.scan_kernel(acc), (x[:, :, :], getattr(types, acc)[:, :, :], b1))
          for acc, x in (("float32", f32), ("float64", f64), ("int64", b1))]
for kern, sig in extra:
    compile_sm90(kern.py_func, sig, f"{kern.py_func.__name__}")
# batch norm, layer norm, embedding, dropout (kernels/cuda/norm.py) and the BCE input check (nnfunc.py)
from numgrad.kernels.cuda import norm as cnorm
extra = []
for T in (f32, f64):
    a3 = T[:, :, :]
    extra += [(cnorm._bn_stats, (a3, f64[:], f64[:])),
              (cnorm._bn_update_running, (T[:], T[:], f64[:], f64[:], f64, f64)),
              (cnorm._bn_apply, (a3, f64[:], f64[:], T[:], T[:], a3)),
              (cnorm._bn_backward, (a3, a3, f64[:], f64[:], T[:], b1, a3, T[:], T[:])),
              (cnorm._ln_forward, (T[:, :], T[:], T[:], f64, T[:, :], f64[:], f64[:])),
              (cnorm._ln_backward_rows, (T[:, :], T[:, :], f64[:], f64[:], T[:], T[:, :])),
              (cnorm._ln_backward_cols, (T[:, :], T[:, :], f64[:], f64[:], T[:], T[:])),
              (cnorm._embedding_forward, (T[:, :], i64[:], T[:, :])),
              (cnorm._fill_zero, (T[:, :],)),
              (cnorm._embedding_backward, (T[:, :], i64[:], i64, T[:, :])),
              (cnorm._dropout_forward, (T[:], T[:], f64, f64, T[:], T[:])),
              (nnfunc._outside_unit_interval, (T[:], types.int32[:])),
              (nnfunc._below, (T[:], f64, types.int32[:])),
              (nnfunc._multilabel_target_mask, (i64[:, :], T[:, :], types.int32[:]))]
extra += [(cnorm._rsqrt_eps, (f64[:], f64, f64[:]))]
for kern, sig in extra:
    compile_sm90(kern.py_func, sig, f"{kern.py_func.__name__} {sig}")
print("compiled", count)
for f in failures:
    print("FAIL", f)
sys.exit(1 if failures else 0)
"""


@pytest.mark.slow
def test_generated_kernels_compile_to_ptx():
    """Every op-table row's fused forward+backward CUDA kernel compiles for sm_90 with the real compiler."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    proc = subprocess.run([sys.executable, "-c", _PTX_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=900, cwd=os.path.dirname(os.path.dirname(__file__)))
    if proc.returncode == 77:
        pytest.skip(f"the CUDA compiler (NVVM/NVRTC) is not installed: {proc.stdout.strip()}")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "compiled" in proc.stdout


def test_real_gpu_is_used_when_asked():
    if ng.cuda.simulator_enabled():
        pytest.skip("running on the CUDA simulator (NUMBA_ENABLE_CUDASIM=0 runs on the GPU)")
    x = ng.ones(1 << 20, device="cuda")
    assert hasattr(x._data, "__cuda_array_interface__")
    assert (x * 2).sum().item() == 2 * (1 << 20)


@pytest.mark.slow
def test_gpu_benchmark_script_runs_quick():
    from benchmarks import bench_cuda

    res = bench_cuda.run(quick=True)
    assert res["copy_bandwidth_GBps"] > 0 and res["simulator"] == ng.cuda.simulator_enabled()
    (w1,) = res["w1"].values()
    assert w1["numgrad"] > 0 and w1["floor"] > 0
    (mlp,) = res["mlp"].values()
    assert isinstance(mlp["numgrad"], float), mlp["numgrad"]


# ------------------------------------------------------------------ indexing and nll_loss on CUDA
def _both_devices(fn):
    """fn(device) on the CPU and on CUDA; returns the CUDA result after checking it matches the CPU's."""
    cpu, gpu = fn("cpu"), fn("cuda")
    assert gpu.device.type == "cuda"
    assert_close(gpu.cpu(), cpu)
    return gpu


def test_out_of_range_indices_raise_the_cpu_errors_on_cuda():
    cases = [
        (lambda d: ng.arange(12.0, device=d).reshape(3, 4)[ng.tensor([0, 3], device=d)], IndexError,
         "index 3 is out of bounds for dimension 0 with size 3"),
        (lambda d: ng.arange(12.0, device=d).reshape(3, 4)[:, ng.tensor([[1], [-5]], device=d)], IndexError,
         "index -5 is out of bounds for dimension 1 with size 4"),
        (lambda d: ng.gather(ng.ones(2, 3, device=d), 1, ng.tensor([[0, 3], [1, 1]], device=d)), RuntimeError,
         "index 3 is out of bounds for dimension 1 with size 3"),
        (lambda d: ng.index_select(ng.ones(2, 3, device=d), 0, ng.tensor([1, 2], device=d)), IndexError,
         "index out of range in self"),
        (lambda d: ng.nn.functional.nll_loss(ng.zeros(3, 4, device=d), ng.tensor([1, 4, 9], device=d)), IndexError,
         "Target 4 is out of bounds."),
    ]
    for fn, exc, message in cases:
        for device in ("cpu", "cuda"):
            with pytest.raises(exc, match=message):
                fn(device)


def test_index_tensors_and_devices_follow_pytorch():
    x = ng.arange(12.0, device="cuda").reshape(3, 4)
    # CPU index tensors (and lists) may index CUDA data, as in PyTorch
    assert x[ng.tensor([2, 0])].device.type == "cuda"
    assert x[ng.tensor([2, 0])].cpu().tolist() == [[8.0, 9.0, 10.0, 11.0], [0.0, 1.0, 2.0, 3.0]]
    assert x[[1], 1:3].cpu().tolist() == [[5.0, 6.0]]
    with pytest.raises(RuntimeError, match=r"indices should be either on cpu or on the same device as the indexed "
                                           r"tensor \(cpu\)"):
        ng.arange(3.0)[ng.tensor([1], device="cuda")]
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        ng.gather(x, 1, ng.tensor([[0], [1], [2]]))
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        ng.nn.functional.nll_loss(x, ng.tensor([0, 1, 2]))


def test_duplicate_indices_accumulate_on_cuda():
    idx = [0, 2, 0, 0, 2]
    _both_devices(lambda d: ng.zeros(3, device=d).index_put(
        (ng.tensor(idx, device=d),), ng.tensor([1.0, 2.0, 3.0, 4.0, 5.0], device=d), accumulate=True))
    _both_devices(lambda d: ng.zeros(2, 3, device=d).scatter_add_(
        1, ng.tensor([[2, 2, 0], [1, 1, 1]], device=d), ng.ones(2, 3, device=d)))
    # the gradient of a gather with repeats is a scatter-add
    def grad_of_gather(d):
        x = ng.ones(2, 3, device=d, requires_grad=True)
        ng.gather(x, 1, ng.tensor([[0, 0, 0, 2]] * 2, device=d)).sum().backward()
        return x.grad
    assert _both_devices(grad_of_gather).cpu().tolist() == [[3.0, 0.0, 1.0]] * 2


def test_masks_and_nonzero_on_cuda():
    rng = np.random.default_rng(5)
    data = rng.standard_normal((5, 20))  # 100 elements: several nonzero chunks
    _both_devices(lambda d: ng.nonzero(ng.tensor(data, device=d) > 0.3))
    _both_devices(lambda d: ng.tensor(data, device=d)[ng.tensor(data, device=d) > 0.3])
    _both_devices(lambda d: ng.tensor(data, device=d)[ng.tensor(data[:, 0] > 0, device=d)])
    assert ng.tensor(data, device="cuda")[ng.tensor(data, device="cuda") > 99].shape == (0,)
    _both_devices(lambda d: ng.one_hot(ng.tensor([0, 3, 1], device=d), 4))


def test_nll_total_weight_stays_on_cuda():
    logp = ng.nn.functional.log_softmax(ng.tensor([[0.5, -1.0, 2.0], [0.1, 0.2, 0.3]], device="cuda"), 1)
    target = ng.tensor([2, 1], device="cuda")
    weight = ng.tensor([1.0, 0.25, 2.0], device="cuda")
    losses, total = ng.nn.functional.loss._nll(logp, target, weight, -100, "nll_loss")
    assert total.device.type == "cuda" and losses.device.type == "cuda"
    assert total.item() == 2.25 and total.dtype == ng.float32


def test_save_and_load_keep_the_device_unless_mapped(tmp_path):
    path = tmp_path / "ckpt.npz"
    ng.save({"w": ng.arange(3, dtype=ng.float32, device="cuda"), "b": ng.ones(2)}, path)
    state = ng.load(path)
    assert state["w"].device.type == "cuda" and state["b"].device.type == "cpu"
    assert state["w"].cpu().tolist() == [0.0, 1.0, 2.0]
    mapped = ng.load(path, map_location="cpu")
    assert mapped["w"].device.type == "cpu" and mapped["w"].tolist() == [0.0, 1.0, 2.0]


def test_gradients_that_arrive_as_views_are_copied_before_accumulating():
    # sum's backward hands out a stride-0 view of one value; accumulating into it in place would be wrong
    x = ng.ones(3, device="cuda", requires_grad=True)
    for _ in range(2):
        x.sum().backward()
    assert x.grad.cpu().tolist() == [2.0, 2.0, 2.0]


class _SlowLookups(dict):
    """A simulated block's shared allocations whose lookup answers 20 ms late: every thread of a block that
    asks for the same array at once is between the check and the insert together."""

    def get(self, key, default=None):
        found = super().get(key, default)
        time.sleep(0.02)
        return found


@pytest.mark.skipif(not ng.cuda.simulator_enabled(), reason="a CUDA-simulator workaround")
def test_simulated_shared_memory_is_one_array_per_block():
    # numba-cuda's simulator could hand two threads of a block different "shared" arrays (an unlocked
    # first allocation); numgrad serializes it. Unpatched, with the slow lookups every thread got its own.
    from numba.cuda.simulator import kernelapi

    ng.cuda.is_available()  # installs the lock
    shared = kernelapi.FakeCUDAShared(0)
    shared._allocations = _SlowLookups()
    start = threading.Barrier(8)
    arrays = [None] * 8

    def thread(k):
        start.wait()
        arrays[k] = shared.array(16, np.float32)

    threads = [threading.Thread(target=thread, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(a) for a in arrays}) == 1
    # and a kernel's tree reduction through shared memory (where the race showed: 1 sum in 30 was wrong)
    x = ng.arange(256, dtype=ng.float32, device="cuda")
    assert [(x * 1.0).sum().item() for _ in range(3)] == [32640.0] * 3
