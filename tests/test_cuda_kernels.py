"""CUDA reduction and matmul kernels against NumPy, on Numba's CUDA simulator.

Shapes stay at one or two blocks: the simulator runs each CUDA thread in Python
(numgrad's ``kernels/cuda/simulator.py`` runs them one after another, or in
phases between barriers, where the simulator would start a thread for each).  On a real GPU: ``NUMBA_ENABLE_CUDASIM=0 python -m pytest -m gpu``.
The PTX test compiles every generated kernel with the real CUDA compiler
(NVVM), which needs no GPU, in a subprocess without the simulator.
"""
import os

# before numba.cuda is imported: the simulator flag is read once per process
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from numba import cuda  # noqa: E402
from numba.core import config as numba_config  # noqa: E402

from numgrad.kernels import cache  # noqa: E402
from numgrad.kernels.cpu.reduce_axes import reduce_array  # noqa: E402
from numgrad.kernels.cuda import matmul as cuda_matmul  # noqa: E402
from numgrad.kernels.cuda import reduce_axes as cuda_reduce  # noqa: E402

pytestmark = [pytest.mark.gpu, pytest.mark.usefixtures("fast_simulated_barriers")]

SHAPE = (3, 4, 5)
# accumulator dtype per (reducer, input dtype), as the ops layer asks for it
REDUCE_CASES = [
    (reducer, dtype, acc)
    for reducer in ("sum", "prod")
    for dtype, acc in (("float32", "float32"), ("float64", "float64"), ("int64", "int64"), ("bool", "int64"))
] + [
    (reducer, dtype, "bool" if dtype == "bool" else dtype)
    for reducer in ("amax", "amin")
    for dtype in ("float32", "float64", "int64", "bool")
] + [
    (reducer, dtype, "bool") for reducer in ("any", "all") for dtype in ("float32", "float64", "int64", "bool")
]
AXES = [(0, 1, 2), (2,), (1,), (0, 2), ()]


def _base_transposed(a):
    return a.transpose(2, 1, 0)


def _base_sliced(a):
    return a[::-1, ::2, 1:]


# name -> (shape of the memory, view of it that has SHAPE)
LAYOUTS = {
    "contiguous": (SHAPE, lambda a: a),
    "transposed": (SHAPE[::-1], _base_transposed),
    "sliced": ((3, 8, 6), _base_sliced),
    "broadcast": ((4, 1), lambda a: np.broadcast_to(a, SHAPE)),
}
REDUCE_SOME_AXES = sorted({axes for axes in AXES if 0 < len(axes) < len(SHAPE)})
MATMUL_DTYPES = ("float32", "float64", "int64")


def device_view(base: np.ndarray, view=lambda a: a):
    """A device array laid out like ``view(base)`` (shape, strides, offset) over a device copy of ``base``."""
    base = np.ascontiguousarray(base)
    host_view = view(base)
    offset = host_view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    storage = cuda.to_device(base.reshape(-1))
    if numba_config.ENABLE_CUDASIM:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        return FakeCUDAArray(np.ndarray(host_view.shape, dtype=base.dtype, buffer=storage._ary, offset=offset,
                                        strides=host_view.strides))
    from numba.cuda.cudadrv.devicearray import DeviceNDArray

    return DeviceNDArray(host_view.shape, host_view.strides, base.dtype, gpu_data=storage.gpu_data.view(offset))


def sample(reducer: str, dtype: str, shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if reducer in ("any", "all"):
        # mostly zeros for any, mostly non-zeros for all: rows of both outcomes
        nonzero = rng.random(shape) < (0.15 if reducer == "any" else 0.9)
        return (nonzero * rng.integers(1, 4, shape)).astype(dtype)
    if dtype == "int64":
        return rng.integers(-3, 4, shape).astype(dtype)
    if reducer == "prod":
        # magnitudes near 1 keep a 60-element product in range
        return (rng.uniform(0.7, 1.4, shape) * rng.choice([-1, 1], shape)).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def expected(x: np.ndarray, axes, reducer: str, acc: str) -> np.ndarray:
    if not axes:
        return x.astype(acc)
    fn = {"sum": np.sum, "prod": np.prod, "amax": np.max, "amin": np.min, "any": np.any, "all": np.all}[reducer]
    return np.asarray(fn(x.astype(acc), axis=axes))


def assert_matches(got: np.ndarray, want: np.ndarray, acc: str, context: str) -> None:
    assert got.shape == want.shape, context
    assert got.dtype == np.dtype(acc), context
    if acc.startswith("float"):
        tol = 1e-5 if acc == "float32" else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=context)
    else:
        np.testing.assert_array_equal(got, want, err_msg=context)


# ------------------------------------------------------------------ reductions
@pytest.mark.parametrize("reducer,dtype,acc", REDUCE_CASES)
def test_reduce_matches_numpy_for_every_layout_and_axes(reducer, dtype, acc):
    for layout, (base_shape, view) in LAYOUTS.items():
        base = sample(reducer, dtype, base_shape)
        x = view(base)
        dev = device_view(base, view)
        for axes in AXES:
            got = cuda_reduce.reduce_axes(dev, axes, reducer, acc).copy_to_host()
            assert_matches(got, expected(x, axes, reducer, acc), acc, f"{reducer} {layout} axes={axes}")


@pytest.mark.parametrize("reducer", ["amax", "amin"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_amax_amin_propagate_nan(reducer, dtype):
    for layout, (base_shape, view) in LAYOUTS.items():
        if layout == "broadcast":
            continue  # one NaN would fill whole broadcast rows; covered by the strided layouts
        base = sample(reducer, dtype, base_shape)
        x = view(base)
        x[1, 2, 3] = np.nan  # writes through the view into base
        dev = device_view(base, view)
        for axes in AXES:
            got = cuda_reduce.reduce_axes(dev, axes, reducer, dtype).copy_to_host()
            want = expected(x, axes, reducer, dtype)
            assert np.isnan(want).any()
            np.testing.assert_array_equal(got, want, err_msg=f"{reducer} {layout} axes={axes}")


def test_full_reduction_over_two_blocks_is_deterministic():
    assert cuda_reduce.THREADS == 256  # 300 elements then need two first-pass blocks
    x = sample("sum", "float32", (300,), seed=1)
    dev = cuda.to_device(x)
    first = cuda_reduce.reduce_axes(dev, (0,), "sum", "float32").copy_to_host()
    second = cuda_reduce.reduce_axes(dev, (0,), "sum", "float32").copy_to_host()
    assert first.tobytes() == second.tobytes()
    np.testing.assert_allclose(first, x.astype(np.float64).sum(), rtol=1e-5)


def test_full_reduction_over_two_blocks_of_a_transposed_input():
    base = sample("amax", "float64", (15, 20), seed=2)
    base[14, 3] = np.nan  # lands in the second block of the transposed (20, 15) view
    got = cuda_reduce.reduce_axes(device_view(base, np.transpose), (0, 1), "amax", "float64").copy_to_host()
    assert got.shape == () and np.isnan(got)
    base[14, 3] = 0.0
    got = cuda_reduce.reduce_axes(device_view(base, np.transpose), (0, 1), "sum", "float64").copy_to_host()
    np.testing.assert_allclose(got, base.sum(), rtol=1e-12)


def test_new_size_reuses_the_kernel():
    dev = cuda.to_device(sample("sum", "float32", SHAPE))
    cuda_reduce.reduce_axes(dev, (1,), "sum", "float32")
    cuda_reduce.reduce_axes(dev, (0, 1, 2), "sum", "float32")
    modules = cache.cache_info()["modules"]
    other = sample("sum", "float32", (2, 6, 7), seed=3)
    got = cuda_reduce.reduce_axes(cuda.to_device(other), (1,), "sum", "float32").copy_to_host()
    np.testing.assert_allclose(got, other.sum(axis=1), rtol=1e-5, atol=1e-6)
    total = cuda_reduce.reduce_axes(cuda.to_device(other), (0, 1, 2), "sum", "float32").copy_to_host()
    np.testing.assert_allclose(total, other.sum(), rtol=1e-5)
    assert cache.cache_info()["modules"] == modules


def test_empty_inputs_reduce_to_the_initial_value_like_the_cpu_kernels():
    empty = np.empty((0, 3), dtype=np.float32)
    dev = cuda.to_device(empty)
    assert cuda_reduce.reduce_axes(dev, (0, 1), "sum", "float32").copy_to_host() == 0.0
    assert cuda_reduce.reduce_axes(dev, (0, 1), "prod", "float32").copy_to_host() == 1.0
    np.testing.assert_array_equal(cuda_reduce.reduce_axes(dev, (0,), "sum", "float32").copy_to_host(),
                                  np.zeros(3, np.float32))
    assert cuda_reduce.reduce_axes(dev, (1,), "sum", "float32").copy_to_host().shape == (0,)
    # the ops layer rejects an empty amax/amin; the kernels themselves return the initial value
    rows = np.empty((3, 0), dtype=np.float32)
    got = cuda_reduce.reduce_axes(cuda.to_device(rows), (1,), "amax", "float32").copy_to_host()
    np.testing.assert_array_equal(got, reduce_array(rows, (1,), "amax", "float32"))
    np.testing.assert_array_equal(got, np.full(3, -np.inf, np.float32))


def test_zero_dim_input_is_cast():
    got = cuda_reduce.reduce_axes(cuda.to_device(np.array(2.5, np.float32)), (), "sum", "float64")
    assert got.shape == () and got.copy_to_host() == 2.5 and got.dtype == np.float64


def test_writes_into_out_of_any_layout():
    x = sample("sum", "float64", SHAPE)
    dev = cuda.to_device(x)
    out = device_view(np.zeros((5, 3)), np.transpose)  # (3, 5), not C-contiguous
    assert cuda_reduce.reduce_axes(dev, (1,), "sum", "float64", out=out) is out
    np.testing.assert_allclose(out.copy_to_host(), x.sum(axis=1), rtol=1e-12)
    scalar = cuda.device_array((), dtype=np.float64)
    assert cuda_reduce.reduce_axes(dev, (0, 1, 2), "sum", "float64", out=scalar) is scalar
    np.testing.assert_allclose(scalar.copy_to_host(), x.sum(), rtol=1e-12)
    cast = cuda.device_array(SHAPE, dtype=np.float32)
    assert cuda_reduce.reduce_axes(dev, (), "sum", "float32", out=cast) is cast
    np.testing.assert_array_equal(cast.copy_to_host(), x.astype(np.float32))


def test_reduce_misuse_errors_name_the_problem():
    dev = cuda.to_device(np.zeros(SHAPE, np.float32))
    with pytest.raises(TypeError, match=r"reduce_axes\(\): expected a numba CUDA device array, got a NumPy"):
        cuda_reduce.reduce_axes(np.zeros(3), (0,), "sum", "float32")
    with pytest.raises(ValueError, match=r"axes must be sorted.*shape \(3, 4, 5\).*got \(2, 0\)"):
        cuda_reduce.reduce_axes(dev, (2, 0), "sum", "float32")
    with pytest.raises(ValueError, match=r"got \(3,\)"):
        cuda_reduce.reduce_axes(dev, (3,), "sum", "float32")
    with pytest.raises(ValueError, match=r"unknown reducer 'mean'"):
        cuda_reduce.reduce_axes(dev, (0,), "mean", "float32")
    with pytest.raises(ValueError, match=r"out has shape \(4,\) and dtype float32.*gives shape \(4, 5\)"):
        cuda_reduce.reduce_axes(dev, (0,), "sum", "float32", out=cuda.device_array(4, np.float32))
    with pytest.raises(TypeError, match=r"dtype complex64 is not supported"):
        cuda_reduce.reduce_axes(dev, (0,), "sum", "complex64")


# ------------------------------------------------------------------ matmul
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_matches_numpy(dtype):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((2, 5, 7)).astype(dtype)
    b = rng.standard_normal((2, 7, 3)).astype(dtype)
    got = cuda_matmul.matmul(cuda.to_device(a), cuda.to_device(b)).copy_to_host()
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, a @ b, rtol=tol, atol=tol)


def test_matmul_transposed_operand_and_broadcast_batch():
    rng = np.random.default_rng(5)
    a_base = rng.standard_normal((5, 7))
    b_base = rng.standard_normal((2, 3, 7))
    a = device_view(a_base, lambda m: np.broadcast_to(m, (2, 5, 7)))  # batch stride 0
    b = device_view(b_base, lambda m: m.transpose(0, 2, 1))
    got = cuda_matmul.matmul(a, b).copy_to_host()
    np.testing.assert_allclose(got, a_base @ b_base.transpose(0, 2, 1), rtol=1e-12, atol=1e-12)


def test_matmul_spanning_several_tiles_into_out():
    rng = np.random.default_rng(6)
    a = rng.integers(-4, 5, (1, 17, 18))
    b = rng.integers(-4, 5, (1, 18, 3))
    out = cuda.device_array((1, 17, 3), dtype=np.int64)
    assert cuda_matmul.matmul(cuda.to_device(a), cuda.to_device(b), out=out) is out
    np.testing.assert_array_equal(out.copy_to_host(), a @ b)


def test_matmul_2d_and_empty_inner_dimension():
    rng = np.random.default_rng(7)
    a_base = rng.standard_normal((7, 5)).astype(np.float32)
    b = rng.standard_normal((7, 3)).astype(np.float32)
    got = cuda_matmul.matmul_2d(device_view(a_base, np.transpose), cuda.to_device(b)).copy_to_host()
    np.testing.assert_allclose(got, a_base.T @ b, rtol=1e-5, atol=1e-5)
    zeros = cuda_matmul.matmul(cuda.to_device(np.ones((2, 3, 0))), cuda.to_device(np.ones((2, 0, 4))))
    np.testing.assert_array_equal(zeros.copy_to_host(), np.zeros((2, 3, 4)))


def test_matmul_misuse_errors_name_the_problem():
    a = cuda.to_device(np.zeros((2, 5, 7), np.float32))
    with pytest.raises(ValueError, match=r"matmul\(\): shapes cannot be multiplied \(5x7 and 6x3\)"):
        cuda_matmul.matmul(a, cuda.to_device(np.zeros((2, 6, 3), np.float32)))
    with pytest.raises(TypeError, match=r"same dtype, but got float32 and float64"):
        cuda_matmul.matmul(a, cuda.to_device(np.zeros((2, 7, 3))))
    with pytest.raises(ValueError, match=r"batch sizes differ"):
        cuda_matmul.matmul(a, cuda.to_device(np.zeros((3, 7, 3), np.float32)))
    with pytest.raises(TypeError, match=r"matmul_2d\(\): expected numba CUDA device arrays, got a NumPy array"):
        cuda_matmul.matmul_2d(np.zeros((2, 2)), a)
    with pytest.raises(ValueError, match=r"matmul_2d\(\): expected 2-D operands"):
        cuda_matmul.matmul_2d(a, a)
    with pytest.raises(TypeError, match=r"dtype bool is not supported"):
        bools = cuda.to_device(np.zeros((2, 2), bool))
        cuda_matmul.matmul_2d(bools, bools)


# ------------------------------------------------------------------ real compiler
_PTX_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from numba import cuda, types
    from numba.np.numpy_support import from_dtype

    def probe(x):
        x[0] = 1.0

    try:
        cuda.compile_ptx(probe, (types.float32[:],), cc=(9, 0))
    except (ImportError, OSError) as exc:  # NvvmSupportError / NvrtcSupportError: libraries missing
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(77)

    from numgrad.kernels.cuda import matmul
    from numgrad.kernels.cuda import reduce_axes as reduce

    def array(dtype, ndim, layout):
        return types.Array(from_dtype(np.dtype(dtype)), ndim, layout)

    cases = json.loads(sys.argv[1])
    for kind, reducer, acc, dtype, ndim, axes in cases["reduce"]:
        fn = reduce.kernel(kind, reducer, acc, ndim, tuple(axes))
        out_ndim = ndim if kind == "cast" else 1 if kind == "reduce_all" else ndim - len(axes)
        sig = (array(dtype, ndim, "A"), array(acc, out_ndim, "A"))
        ptx, _ = cuda.compile_ptx(fn.py_func, sig, cc=(9, 0))
        assert ".visible .entry" in ptx, (kind, reducer, acc, dtype, ndim, axes)
        if kind == "reduce_all":
            assert "bar.sync" in ptx
    for dtype, batched in cases["matmul"]:
        ndim = 3 if batched else 2
        sig = (array(dtype, ndim, "A"), array(dtype, ndim, "A"), array(dtype, ndim, "C"))
        ptx, _ = cuda.compile_ptx(matmul.kernel(dtype, batched).py_func, sig, cc=(9, 0))
        assert "bar.sync" in ptx and "ld.shared" in ptx, (dtype, batched)
    print("OK", len(cases["reduce"]) + len(cases["matmul"]))
""")


def _ptx_cases() -> dict:
    reduce_cases = []
    for reducer, dtype, acc in REDUCE_CASES:
        # ndim 1: contiguous inputs are flattened, and the second pass reads acc-typed partials
        reduce_cases += [("reduce_all", reducer, acc, dtype, 1, []), ("reduce_all", reducer, acc, acc, 1, []),
                         ("reduce_all", reducer, acc, dtype, 3, [])]
        reduce_cases += [("reduce_some", reducer, acc, dtype, 3, list(axes)) for axes in REDUCE_SOME_AXES]
    casts = sorted({(dtype, acc) for _, dtype, acc in REDUCE_CASES})
    reduce_cases += [("cast", "sum", acc, dtype, ndim, []) for dtype, acc in casts for ndim in (1, 3)]
    matmul_cases = [(dtype, batched) for dtype in MATMUL_DTYPES for batched in (True, False)]
    return {"reduce": reduce_cases, "matmul": matmul_cases}


def test_every_generated_kernel_compiles_to_ptx_for_sm90():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", _PTX_SCRIPT, json.dumps(_ptx_cases())], env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode == 77:
        pytest.skip(f"the CUDA compiler libraries (NVVM/NVRTC) are not installed: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("OK"), proc.stdout
