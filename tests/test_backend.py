"""The device backends: one object per device with one interface, one dispatcher, kernels that import no layer
above them, and the one identity-copy helper on both devices."""
import ast
import inspect
import os
import subprocess
import sys

import numpy as np
import pytest

import numgrad  # noqa: F401  (loads the package the way users do)
from numgrad.kernels import backend
from numgrad.kernels.cpu.backend import CPU, CpuBackend
from numgrad.kernels.cuda.backend import CUDA, CudaBackend

KERNELS = os.path.join(os.path.dirname(numgrad.__file__), "kernels")


def _public_methods(cls) -> dict:
    out = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        attr = getattr(cls(), name)
        if callable(attr):
            sig = inspect.signature(attr)
            out[name] = [(p.name, p.kind, p.default) for p in sig.parameters.values()]
    return out


def test_cpu_and_cuda_backends_have_the_same_methods_and_signatures():
    cpu, cuda = _public_methods(CpuBackend), _public_methods(CudaBackend)
    assert sorted(set(cpu) - set(cuda)) == [], "CPU methods missing on CUDA"
    assert sorted(set(cuda) - set(cpu)) == [], "CUDA methods missing on CPU"
    differ = {name: (cpu[name], cuda[name]) for name in cpu if cpu[name] != cuda[name]}
    assert differ == {}
    assert len(cpu) > 30  # the whole interface, not an accident of dir()


def test_every_first_argument_dispatcher_names_a_backend_method():
    for name, fn in vars(backend).items():
        if getattr(fn, "__wrapped__", None) is not None and fn.__module__ == backend.__name__:
            assert hasattr(CpuBackend, name) and hasattr(CudaBackend, name), name
            assert inspect.signature(fn) == inspect.signature(getattr(CPU, name))


def _imports(path: str, module: str):
    """Every module ``path`` imports, at any depth of the file (function-level imports included)."""
    package = module.rsplit(".", 1)[0] if not path.endswith("__init__.py") else module
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            yield target
            for alias in node.names:  # ``from .. import ops`` names a module too
                yield f"{target}.{alias.name}"


def test_kernels_import_no_layer_above_them():
    forbidden = ("numgrad.ops", "numgrad.tensor", "numgrad.autograd", "numgrad.fusion", "numgrad.nn")
    bad = []
    for root, _, files in os.walk(KERNELS):
        for fname in files:
            if not fname.endswith(".py"):
                continue
            path = os.path.join(root, fname)
            rel = os.path.relpath(path, os.path.dirname(os.path.dirname(KERNELS)))
            module = rel[:-3].replace(os.sep, ".")
            if module.endswith(".__init__"):
                module = module[: -len(".__init__")]
            for target in _imports(path, module):
                if any(target == f or target.startswith(f + ".") for f in forbidden):
                    bad.append(f"{module} imports {target}")
    assert bad == []


def test_import_numgrad_loads_no_cuda_backend():
    code = ("import sys, numgrad; print(sorted(m for m in ('numba.cuda', 'numgrad.kernels.cuda.backend') "
            "if m in sys.modules))")
    # without the simulator flag of conftest.py: under it, kernels/cuda/__init__.py patches the simulator at import
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"


def test_backend_for_picks_by_where_the_data_lives():
    assert backend.backend_for(np.zeros(2)) is CPU
    assert backend.backend_for(3.0) is CPU
    x = CUDA.empty((2,), np.float32)
    assert backend.backend_for(x) is CUDA
    assert backend._pick([np.zeros(1), 2.0], [x]) is CUDA


@pytest.mark.parametrize("be", [CPU, CUDA], ids=["cpu", "cuda"])
def test_the_one_copy_helper_copies_casts_and_fills(be):
    def host(a):
        return a.to_host() if be is CUDA else a

    src = be.adopt(np.arange(6, dtype=np.float64).reshape(2, 3))
    t = src.T
    assert not t.flags.c_contiguous
    c = be.contiguous(t)
    assert c.flags.c_contiguous and c.dtype == np.float64
    np.testing.assert_array_equal(host(c), np.arange(6.0).reshape(2, 3).T)
    assert be.contiguous(src) is src
    cast = be.copy(t, np.int32)
    assert cast.dtype == np.int32 and cast.shape == (3, 2)
    np.testing.assert_array_equal(host(cast), np.arange(6).reshape(2, 3).T)
    out = be.empty((2, 3), np.float32)
    assert be.copy(be.adopt(np.array([1.0, 2.0, 3.0])), None, out) is out  # broadcast into out, cast to its dtype
    np.testing.assert_array_equal(host(out), np.tile(np.float32([1, 2, 3]), (2, 1)))
    be.copy(7, None, out[:, 1])  # a fill through a strided view
    np.testing.assert_array_equal(host(out), np.float32([[1, 7, 3], [1, 7, 3]]))
    full = be.full((2, 2), np.int64, 5)
    assert full.dtype == np.int64
    np.testing.assert_array_equal(host(full), np.full((2, 2), 5))
    cp = be.copy_as(src, np.float32)
    assert cp.dtype == np.float32 and cp is not src
    np.testing.assert_array_equal(host(cp), np.arange(6, dtype=np.float32).reshape(2, 3))


def test_module_level_copy_picks_the_device_of_source_or_destination():
    dst = CUDA.empty((3,), np.float32)
    backend.copy(np.float32(2.5), None, dst)  # a host number fills device memory
    np.testing.assert_array_equal(dst.to_host(), np.float32([2.5, 2.5, 2.5]))
    with pytest.raises(RuntimeError, match=r"a CPU array of shape \[3\] met CUDA tensors"):
        backend.copy(np.array([1.0, 2.0, 3.0], np.float32), None, dst)
    host = backend.copy(np.arange(3).reshape(3, 1)[::2], np.float32)
    assert type(host) is np.ndarray and host.dtype == np.float32


def test_layer_ops_on_mixed_devices_keep_pytorchs_error():
    x = np.ones((2, 3), np.float32)
    w = CUDA.adopt(np.ones((4, 3), np.float32))
    with pytest.raises(RuntimeError, match=r"Expected all tensors to be on the same device.*linear: input on cpu, "
                                           r"weight on cuda:0"):
        backend.linear_forward(x, w, None)
