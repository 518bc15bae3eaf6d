"""``kernels/cpu/blas_library.py``: the BLAS numgrad's gemm calls (MKL when installed, else OpenBLAS).

The library is fixed per process, so the active one is checked here and the
other one (when MKL is installed: OpenBLAS) in a child process; both against
PyTorch, for every transposition, strided and batched operands, float64 and
empty shapes.
"""
from __future__ import annotations

import doctest
import importlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad.kernels.cpu import blas, blas_library

MKL_INSTALLED = blas_library.mkl_library_path() is not None
requires_mkl = pytest.mark.skipif(
    not MKL_INSTALLED, reason="Intel MKL's wheel is not installed (pip install 'numgrad-engine[mkl]'): "
                              "only the OpenBLAS gemm path is tested")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _products(dtype) -> dict:
    """name -> (a, b, numgrad's a @ b) for the operand layouts numgrad's ops hand to gemm."""
    rng = np.random.default_rng(3)

    def rand(*shape):
        return rng.standard_normal(shape).astype(dtype)

    a, b = rand(37, 29), rand(29, 41)
    at, bt = rand(29, 37).T, rand(41, 29).T  # transposes: column-major views
    wide = rand(37, 60)
    cases = {
        "nn": (a, b), "nt": (a, bt), "tn": (at, b), "tt": (at, bt),
        "strided": (wide[:, ::2][:, :29], b),  # neither row- nor column-major: copied first
        "column block": (wide[:, 5:34], bt),
        "vector rows": (rand(1, 29), b), "vector cols": (a, rand(29, 1)),
        "batched": (rand(3, 4, 37, 29), rand(3, 4, 29, 41)),
        "batched transposes": (np.swapaxes(rand(3, 29, 37), 1, 2), np.swapaxes(rand(3, 41, 29), 1, 2)),
        "broadcast batch": (rand(2, 1, 37, 29), rand(5, 29, 41)),
        "shared right operand": (rand(6, 37, 29), bt),
        "big (thread split)": (rand(256, 300), rand(300, 320)),
        "empty rows": (rand(0, 29), b), "empty inner": (rand(37, 0), rand(0, 41)),
        "empty batch": (rand(0, 37, 29), rand(29, 41)),
    }
    return {name: (x, y, (ng.tensor(x) @ ng.tensor(y)).numpy()) for name, (x, y) in cases.items()}


def _check_against_torch(results: dict, dtype) -> None:
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for name, (x, y, got) in results.items():
        want = (torch.from_numpy(np.ascontiguousarray(x)) @ torch.from_numpy(np.ascontiguousarray(y))).numpy()
        assert got.shape == want.shape and got.dtype == want.dtype, name
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10, err_msg=name)


def test_the_active_library_is_the_one_numgrad_blas_asks_for():
    wanted = os.environ.get("NUMGRAD_BLAS", "auto")
    expected = "mkl" if wanted == "mkl" or (wanted == "auto" and MKL_INSTALLED) else "openblas"
    assert blas_library.active_blas() == expected == ng.backends.mkl.blas_library()
    assert ng.backends.mkl.is_available() == (expected == "mkl")
    assert ("Math Kernel Library" if expected == "mkl" else "OpenBLAS") in ng.backends.mkl.blas_version()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_on_the_active_library_match_torch(dtype):
    _check_against_torch(_products(dtype), dtype)


@requires_mkl
def test_products_on_the_other_library_match_torch(tmp_path):
    """The library this process does not use, in a child process that saves its products."""
    other = "openblas" if blas_library.active_blas() == "mkl" else "mkl"
    script = (
        "import sys, numpy as np\n"
        "from numgrad.kernels.cpu import blas_library\n"
        f"assert blas_library.active_blas() == {other!r}, blas_library.active_blas()\n"
        "from tests.test_blas_library import _products\n"
        "for dtype in (np.float32, np.float64):\n"
        "    res = _products(dtype)\n"
        "    np.savez(sys.argv[1] + np.dtype(dtype).name, **{k: v[2] for k, v in res.items()})\n"
    )
    env = dict(os.environ, NUMGRAD_BLAS=other, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "out_")], cwd=ROOT, env=env, check=True,
                   timeout=300)
    for dtype in (np.float32, np.float64):
        saved = np.load(tmp_path / f"out_{np.dtype(dtype).name}.npz")
        results = _products(dtype)  # the same operands (fixed seed); replace the products by the child's
        _check_against_torch({k: (x, y, saved[k]) for k, (x, y, _) in results.items()}, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_bits_do_not_depend_on_where_the_arrays_lie(dtype):
    """ng.compile verifies its replays bit for bit: a library that picked a code path by address would fail it."""
    rng = np.random.default_rng(4)

    def placed(x, offset):
        buffer = np.empty(x.size + 16, x.dtype)
        view = buffer[offset:offset + x.size].reshape(x.shape)
        view[...] = x
        return view

    for m, k, n in [(33, 257, 65), (128, 300, 96), (5, 1000, 7)]:
        a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
        for parts in (1, 2):
            first = None
            for offset in range(0, 16, 3):
                out = placed(np.zeros((m, n), dtype), (5 * offset) % 16)
                blas.gemm_parallel(placed(a, offset), placed(b, 15 - offset), out, 1.0, 0.0, parts)
                if first is None:
                    first = out.copy()
                assert np.array_equal(out, first), (m, k, n, parts, offset)


def test_an_unknown_numgrad_blas_value_is_refused(monkeypatch):
    monkeypatch.setenv("NUMGRAD_BLAS", "atlas")
    with pytest.raises(ValueError, match="NUMGRAD_BLAS='atlas': expected 'auto', 'mkl' or 'openblas'"):
        blas_library._bind()


def test_asking_for_mkl_without_its_wheel_says_what_to_install(monkeypatch):
    monkeypatch.setenv("NUMGRAD_BLAS", "mkl")
    monkeypatch.setattr(blas_library, "mkl_library_path", lambda: None)
    with pytest.raises(ImportError, match=r"pip install 'numgrad-engine\[mkl\]'"):
        blas_library._bind()


@pytest.mark.parametrize("module", ["numgrad.kernels.cpu.blas_library", "numgrad.backends.mkl",
                                    "numgrad.kernels.cpu.blas", "numgrad.kernels.cpu.matmul"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_a_row_stride_beyond_the_32_bit_interface_is_refused_not_truncated():
    base = np.zeros(4, np.float32)
    # a 2x2 view whose rows lie 2**31 elements apart: never read, the check comes first
    huge = np.lib.stride_tricks.as_strided(base, shape=(2, 2), strides=(4 * 2**31, 4))
    with pytest.raises(ValueError, match=r"exceeds 2\*\*31 - 1 elements"):
        blas.gemm(huge, np.ones((2, 2), np.float32), np.empty((2, 2), np.float32), 1.0, 0.0)
