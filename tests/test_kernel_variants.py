"""Kernels written once and compiled twice (numgrad/kernels/variants.py).

* Every serial/parallel pair built by ``serial_and_parallel`` gives the same
  result from both variants on random inputs.  The pairs split only
  independent work over threads (no reductions across iterations), so
  copies, comparisons and same-order sums are bitwise equal.  Arithmetic is
  equal to rounding only: the "contract" fast-math flag lets LLVM fuse
  ``a * b + c * d`` into an FMA on either product, and it picked differently
  for the vectorized parallel loop than for the serial one (measured: SGD's
  momentum update, float32, 79 of 1000 elements apart by at most 1 ulp of the
  largest element, both before and after the variants were built from one
  body; which FMA LLVM picks even changed between a fresh compilation and
  the same kernel loaded from Numba's disk cache).
* The two variants are distinct dispatchers with distinct on-disk cache
  names, and a fresh process loads both from the disk cache.
* The CPU and CUDA optimizer and max-pool kernels share their element bodies
  (kernels/element_bodies.py); the CUDA side is compared with the CPU in
  test_cuda_optim.py and test_cuda_nn.py, here only that the sharing holds.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import numgrad  # noqa: F401  (configures numba's threading before the kernels load)
from numgrad.kernels import element_bodies, variants
from numgrad.kernels.cpu import conv, indexing, nnfunc, norm, optim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (module, serial name, parallel name) of every pair compiled from one body
PAIRS = [
    (optim, "sgd_step", "sgd_step_par"),
    (optim, "adam_step", "adam_step_par"),
    (optim, "rmsprop_step", "rmsprop_step_par"),
    (nnfunc, "softmax_forward", "softmax_forward_par"),
    (nnfunc, "softmax_backward", "softmax_backward_par"),
    (indexing, "gather_offsets", "gather_offsets_parallel"),
    (indexing, "scatter_offsets", "scatter_offsets_parallel"),
    (indexing, "gather_dim", "gather_dim_parallel"),
    (indexing, "scatter_add_dim", "scatter_add_dim_parallel"),
    (conv, "conv_forward", "conv_forward_par"),
    (conv, "conv_input_grad", "conv_input_grad_par"),
    (conv, "conv_weight_grad", "conv_weight_grad_par"),
    (conv, "max_pool2d_forward", "max_pool2d_forward_par"),
    (norm, "layer_norm_forward", "layer_norm_forward_par"),
    (norm, "dropout_forward", "dropout_forward_par"),
]


def _pair_id(pair):
    return pair[1]


def _run_both(serial, parallel, make_args, outputs):
    """Call both variants on identical fresh arguments; return the arrays at positions ``outputs`` of each call."""
    results = []
    for kernel in (serial, parallel):
        args = make_args()
        kernel(*args)
        results.append([args[k] for k in outputs])
    return results


def _assert_identical(results):
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def _assert_equal_to_rounding(results):
    """Equal up to a few ulps of the largest magnitude (FMA contraction may differ between the variants)."""
    for a, b in zip(*results):
        tol = 8 * np.finfo(a.dtype).eps
        finite = np.abs(a[np.isfinite(a)])
        # NaNs (centered RMSprop's sqrt of a rounded-negative variance) must sit at the same places
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * float(np.max(finite, initial=1.0)))


# ----------------------------------------------------------------- the decorator itself
@pytest.mark.parametrize("pair", PAIRS, ids=_pair_id)
def test_pairs_are_two_dispatchers_with_distinct_cache_names(pair):
    module, serial_name, parallel_name = pair
    serial, parallel = getattr(module, serial_name), getattr(module, parallel_name)
    assert serial is not parallel and serial.py_func is not parallel.py_func
    # one body: the parallel copy runs the serial function's code object
    assert serial.py_func.__code__ is parallel.py_func.__code__
    assert serial.py_func.__qualname__ == serial_name
    assert parallel.py_func.__qualname__ == parallel_name
    assert not serial.targetoptions.get("parallel") and parallel.targetoptions["parallel"]
    assert {k: v for k, v in serial.targetoptions.items() if k != "parallel"} == \
        {k: v for k, v in parallel.targetoptions.items() if k != "parallel"}
    assert serial.targetoptions["nogil"] and serial.targetoptions["error_model"] == "numpy"
    # cache=True gives a FunctionCache (NullCache otherwise); the index file is named after the qualname
    names = [d._cache._cache_file._index_name for d in (serial, parallel)]
    assert all(type(d._cache).__name__ == "FunctionCache" for d in (serial, parallel))
    assert names[0].startswith(f"{module.__name__.rsplit('.', 1)[1]}.{serial_name}-")
    assert names[1].startswith(f"{module.__name__.rsplit('.', 1)[1]}.{parallel_name}-")


def test_serial_and_parallel_refuses_a_parallel_option():
    def body(x):
        return x

    with pytest.raises(TypeError, match="sets parallel= itself"):
        variants.serial_and_parallel(body, parallel=True)


def test_rebind_binds_globals_in_a_copy_only():
    calls = []

    def fake_sqrt(x):
        calls.append(x)
        return -1.0

    p, g, m, v, vmax = (np.ones(1) for _ in range(5))
    copy = variants.rebind(element_bodies.adam_update, sqrt=fake_sqrt)
    copy(p, g, m, v, vmax, 0, 1.0, 0.1, 0.999, 0.001, 1e-8, 0.0, False, False, False, 0.1, 1.0)
    assert calls and element_bodies.sqrt is np.sqrt
    with pytest.raises(ValueError, match="does not use the global name"):
        variants.rebind(element_bodies.sgd_update, sqrt=fake_sqrt)


def test_cpu_and_cuda_kernels_share_their_element_bodies():
    assert optim._sgd_elem.py_func is element_bodies.sgd_update
    assert optim._adam_elem.py_func is element_bodies.adam_update
    assert conv._max_pool_window.py_func is element_bodies.max_pool_window
    if not numgrad.cuda.is_available():
        pytest.skip("no GPU and no CUDA simulator")
    from numgrad.kernels.cuda import conv as cuda_conv, optim as cuda_optim

    assert cuda_optim._sgd_elem.py_func is element_bodies.sgd_update
    for device_fn, body in ((cuda_optim._adam_elem, element_bodies.adam_update),
                            (cuda_optim._rmsprop_elem, element_bodies.rmsprop_update),
                            (cuda_conv._max_pool_window, element_bodies.max_pool_window)):
        assert device_fn.py_func.__code__ is body.__code__


_PTX_SCRIPT = r"""
import sys
from numba import cuda, types
try:
    cuda.compile_ptx(lambda a: None, (types.float32[:],), cc=(9, 0))
except Exception as exc:  # no NVVM installed: nothing to compile with
    print(type(exc).__name__, exc)
    sys.exit(77)
from numgrad.kernels.cuda import conv, optim
b1, i64 = types.boolean, types.int64
for T in (types.float32, types.float64):
    a4 = T[:, :, :, :]
    for kernel, sig in ((optim._sgd_kernel, (T[:],) * 3 + (T,) * 4 + (b1,) * 3),
                        (optim._adam_kernel, (T[:],) * 5 + (T,) * 6 + (b1,) * 3 + (T,) * 2),
                        (optim._rmsprop_kernel, (T[:],) * 5 + (T,) * 6 + (b1,) * 2),
                        (conv._max_pool_forward, (a4,) + (i64,) * 8 + (T, a4, i64[:, :, :, :]))):
        ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(9, 0))
        assert "sqrt" in ptx or kernel is not optim._adam_kernel
print("ok")
"""


def test_shared_bodies_compile_for_a_real_gpu():
    # the simulator runs device functions as Python: only NVVM shows that a shared
    # body (tuple return, rebound sqrt) compiles for the device; no GPU needed
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0", PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", _PTX_SCRIPT], env=env, capture_output=True, text=True, cwd=ROOT,
                          timeout=600)
    if proc.returncode == 77:
        pytest.skip(f"the CUDA compiler (NVVM) is not installed: {proc.stdout.strip()}")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout[-2000:] + proc.stderr[-2000:]


def test_a_fresh_process_loads_both_variants_from_the_disk_cache(tmp_path):
    # NUMBA_CACHE_DIR keeps this test's cache files apart from the checkout's __pycache__
    script = textwrap.dedent("""
        import numpy as np
        import numgrad
        from numgrad.kernels.cpu import optim
        f = np.float32
        for k in (optim.sgd_step, optim.sgd_step_par):
            p, g, buf = (np.linspace(-1, 1, 64).astype(f) for _ in range(3))
            k(p, g, buf, f(0.1), f(0.01), f(0.9), f(1.0), False, False, False)
            print(repr(float(p.sum())), sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values()))
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=ROOT)

    def run():
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True,
                             cwd=ROOT).stdout
        return [line.split() for line in out.splitlines()]

    cold, warm = run(), run()
    # (sum, hits, misses) per variant: compiled in the first process, loaded in the second
    assert [row[1:] for row in cold] == [["0", "1"], ["0", "1"]], cold
    assert [row[1:] for row in warm] == [["1", "0"], ["1", "0"]], warm
    assert cold[0][0] == cold[1][0] == warm[0][0] == warm[1][0]
    index_files = {name.split("-")[0] for _, _, files in os.walk(tmp_path) for name in files
                   if name.endswith(".nbi") and name.startswith("optim.sgd_step")}
    assert index_files == {"optim.sgd_step", "optim.sgd_step_par"}


# ----------------------------------------------------------------- serial == parallel, pair by pair
RNG_SEED = 1234


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("flags", [(False, False, False), (True, True, False), (False, False, True)],
                         ids=["plain", "nesterov-maximize", "first"])
def test_sgd_step(dtype, flags):
    rng = np.random.default_rng(RNG_SEED)
    base = [rng.standard_normal(1000).astype(dtype) for _ in range(3)]
    f = dtype

    def args():
        p, g, buf = (a.copy() for a in base)
        return (p, g, buf, f(0.1), f(0.01), f(0.9), f(0.8)) + flags

    _assert_equal_to_rounding(_run_both(optim.sgd_step, optim.sgd_step_par, args, (0, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("flags", [(False, False, False), (True, True, True)], ids=["adam", "adamw-amsgrad-max"])
def test_adam_step(dtype, flags):
    rng = np.random.default_rng(RNG_SEED)
    base = [rng.standard_normal(1000).astype(dtype) for _ in range(2)] + \
        [np.abs(rng.standard_normal(1000)).astype(dtype) for _ in range(3)]
    f = dtype

    def args():
        p, g, m, v, vmax = (a.copy() for a in base)
        return (p, g, m, v, vmax, f(0.999), f(0.1), f(0.999), f(0.001), f(1e-8), f(0.01)) + flags + (f(0.01), f(0.3))

    _assert_equal_to_rounding(_run_both(optim.adam_step, optim.adam_step_par, args, (0, 2, 3, 4)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("centered, momentum", [(False, 0.0), (True, 0.9)], ids=["plain", "centered-momentum"])
def test_rmsprop_step(dtype, centered, momentum):
    rng = np.random.default_rng(RNG_SEED)
    base = [rng.standard_normal(1000).astype(dtype) for _ in range(2)] + \
        [np.abs(rng.standard_normal(1000)).astype(dtype) for _ in range(3)]
    f = dtype

    def args():
        p, g, sq, gavg, buf = (a.copy() for a in base)
        return (p, g, sq, gavg, buf, f(0.01), f(0.99), f(0.01), f(1e-8), f(0.01), f(momentum), centered, False)

    _assert_equal_to_rounding(_run_both(optim.rmsprop_step, optim.rmsprop_step_par, args, (0, 2, 3, 4)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7, 33, 1), (3, 9, 11)], ids=["last-dim", "middle-dim"])
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_softmax_forward_and_backward(dtype, shape, log):
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    fwd = _run_both(nnfunc.softmax_forward, nnfunc.softmax_forward_par, lambda: (x, np.empty_like(x), log), (1,))
    _assert_equal_to_rounding(fwd)
    y = fwd[0][0]
    _assert_equal_to_rounding(_run_both(nnfunc.softmax_backward, nnfunc.softmax_backward_par,
                                lambda: (y, g, np.empty_like(y), log), (2,)))


def _offset_case(rng, P=6, N=5, Q=4, span=400):
    src = rng.standard_normal(span)
    pre = rng.integers(0, 100, P) * 1
    mid = rng.integers(0, 100, N)
    post = rng.integers(0, 100, Q)
    return src, pre.astype(np.int64), mid.astype(np.int64), post.astype(np.int64)


def test_gather_offsets():
    src, pre, mid, post = _offset_case(np.random.default_rng(RNG_SEED))
    results = _run_both(indexing.gather_offsets, indexing.gather_offsets_parallel,
                        lambda: (src, pre, mid, post, np.empty((6, 5, 4))), (4,))
    _assert_identical(results)
    np.testing.assert_array_equal(results[0][0], src[pre[:, None, None] + mid[None, :, None] + post[None, None, :]])


@pytest.mark.parametrize("accumulate", [False, True])
def test_scatter_offsets(accumulate):
    rng = np.random.default_rng(RNG_SEED)
    _, _, mid, post = _offset_case(rng)
    pre = np.arange(6, dtype=np.int64) * 400  # distinct p own distinct memory, as the callers guarantee
    values = rng.standard_normal((6, 5, 4))
    _assert_identical(_run_both(indexing.scatter_offsets, indexing.scatter_offsets_parallel,
                                lambda: (np.zeros(2400), pre, mid, post, values, accumulate), (0,)))


def test_gather_dim_and_scatter_add_dim():
    rng = np.random.default_rng(RNG_SEED)
    P, N, Q, D = 6, 5, 4, 7
    src = rng.standard_normal(P * D * Q)
    pre = np.arange(P, dtype=np.int64) * D * Q
    post = np.arange(Q, dtype=np.int64)
    index = rng.integers(0, D, (P, N, Q))
    _assert_identical(_run_both(indexing.gather_dim, indexing.gather_dim_parallel,
                                lambda: (src, pre, post, Q, index, np.empty((P, N, Q))), (5,)))
    values = rng.standard_normal((P, N, Q))
    _assert_identical(_run_both(indexing.scatter_add_dim, indexing.scatter_add_dim_parallel,
                                lambda: (np.zeros(P * D * Q), pre, post, Q, index, values), (0,)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geo", [(3, 3, 1, 1, 1, 1, 1, 1), (2, 3, 2, 1, 0, 1, 1, 2)], ids=["k3-pad1", "k2x3-dil"])
def test_max_pool2d_forward(dtype, geo):
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
    x[0, 1, 4, 4] = np.nan  # NaN wins in both variants
    kh, kw, sh, sw, ph, pw, dh, dw = geo
    oh = (9 + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (8 + 2 * pw - dw * (kw - 1) - 1) // sw + 1

    def args():
        return (x,) + geo + (np.empty((2, 3, oh, ow), dtype), np.empty((2, 3, oh, ow), np.int64))

    results = _run_both(conv.max_pool2d_forward, conv.max_pool2d_forward_par, args, (9, 10))
    _assert_identical(results)
    assert np.isnan(results[0][0][0, 1]).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_forward(dtype):
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((17, 24)).astype(dtype)
    w, b = rng.standard_normal(24).astype(dtype), rng.standard_normal(24).astype(dtype)

    def args():
        return x, w, b, 1e-5, np.empty_like(x), np.empty(17, dtype), np.empty(17, dtype)

    _assert_equal_to_rounding(_run_both(norm.layer_norm_forward, norm.layer_norm_forward_par, args, (4, 5, 6)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_forward(dtype):
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal(1000).astype(dtype)
    u = rng.random(1000).astype(dtype)

    def args():
        return x, u, 0.3, 1 / 0.7, np.empty_like(x), np.empty_like(x)

    _assert_identical(_run_both(norm.dropout_forward, norm.dropout_forward_par, args, (4, 5)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("parts", [2, 3])
def test_conv_drivers_serial_without_parts_and_parallel_with_them(dtype, parts):
    rng = np.random.default_rng(RNG_SEED)
    N, C, H, W, OC, groups = 5, 4, 6, 7, 6, 2
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w2 = rng.standard_normal((OC, C // groups * 9)).astype(dtype)
    b = rng.standard_normal(OC).astype(dtype)
    geo = (3, 3, 1, 1, 1, 1, 1, 1, groups, H, W)
    g = rng.standard_normal((N, OC, H * W)).astype(dtype)

    def both(kernel, kernel_par, make_args, out, serial_parts=None):
        serial_args, par_args = make_args(), make_args()
        if serial_parts is None:
            kernel(*serial_args)  # the serial variant is called without parts, as kernels/backend.py does
        else:
            kernel(*serial_args, serial_parts)
        kernel_par(*par_args, parts)
        return [[serial_args[out]], [par_args[out]]]

    def forward_args():
        return x, w2, b, True, geo, np.empty((N, OC, H * W), dtype)

    def input_grad_args():
        return g, w2, geo, np.empty_like(x)

    # over the same parts, the serial loop runs the same gemms as the parallel one: bitwise equal
    _assert_identical(both(conv.conv_forward, conv.conv_forward_par, forward_args, 5, parts))
    _assert_identical(both(conv.conv_input_grad, conv.conv_input_grad_par, input_grad_args, 3, parts))
    # without parts, small images share wider gemms (``images_per_block`` counts the images of a part), and
    # BLAS may round a column of a wider product differently (MKL and OpenBLAS on an AVX2 host did, by an ulp)
    _assert_equal_to_rounding(both(conv.conv_forward, conv.conv_forward_par, forward_args, 5))
    _assert_equal_to_rounding(both(conv.conv_input_grad, conv.conv_input_grad_par, input_grad_args, 3))
    # the parallel weight gradient adds one partial per part: the sum is reordered
    _assert_equal_to_rounding(both(conv.conv_weight_grad, conv.conv_weight_grad_par,
                                   lambda: (x, g, geo, np.empty_like(w2)), 3))
