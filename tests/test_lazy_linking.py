"""numgrad's kernels load from Numba's disk cache without parsing their linking copy (``kernels/lazy_linking.py``).

Each scenario runs twice in fresh processes sharing one cache directory: the first compiles and saves, the
second loads what the first saved, which is where the deferral applies.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from numgrad.kernels import lazy_linking

_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from numba import njit
    import numgrad as ng
    from numgrad.kernels.cpu import blas
    sys.path.insert(0, sys.argv[1])
    import user_kernels  # a user's own @njit(cache=True) function, cached beside its file

    def deferred(dispatcher):
        library = next(iter(dispatcher.overloads.values())).library
        return library._shared_module is None and hasattr(library, "_numgrad_shared_bitcode")

    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    b = np.arange(12, dtype=np.float64).reshape(3, 4) - 5
    c = np.zeros((2, 4))
    blas.gemm(a, b, c, 1.0, 0.0)  # numgrad's cached kernel, called from Python
    gemm_deferred = deferred(blas.gemm)

    @njit
    def twice_the_product(a, b, out):  # compiled now, so it links gemm's library into its own
        blas.gemm(a, b, out, 2.0, 0.0)

    twice = np.zeros((2, 4))
    twice_the_product(a, b, twice)
    library = next(iter(blas.gemm.overloads.values())).library

    x = ng.tensor(np.linspace(-2, 2, 50), requires_grad=True)
    loss = (ng.tanh(x * 3) * ng.sigmoid(x) ** 2).sum()  # a generated kernel module in NUMGRAD_CACHE_DIR
    loss.backward()
    user = user_kernels.scaled_sum(np.arange(5.0))
    print(json.dumps({
        "gemm": c.tolist(), "twice": twice.tolist(), "gemm_deferred": gemm_deferred,
        "linked_after_use": library._shared_module is not None
                            and not hasattr(library, "_numgrad_shared_bitcode"),
        "user_deferred": deferred(user_kernels.scaled_sum), "user": user,
        "loss": float(loss.item()), "grad": x.grad.numpy().tolist(),
        "disk_hits": ng.kernels.cache_info()["disk_hits"]}))
""")

_USER_KERNELS = textwrap.dedent("""
    from numba import njit

    @njit(cache=True)
    def scaled_sum(values):
        return 3.0 * values.sum()
""")


def _run(tmp_path) -> dict:
    env = dict(os.environ, NUMGRAD_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "user")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_second_process_defers_the_linking_copy_of_numgrads_kernels_and_links_them_on_demand(tmp_path):
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "user_kernels.py").write_text(_USER_KERNELS)
    first = _run(tmp_path)
    second = _run(tmp_path)
    assert second["disk_hits"] > 0
    assert second["gemm_deferred"], "gemm came from the disk cache: its linking copy should wait"
    assert second["linked_after_use"], "compiling a caller of gemm should have parsed gemm's linking copy"
    assert not second["user_deferred"], "a user's cached function loads as Numba loads it"
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    b = np.arange(12, dtype=np.float64).reshape(3, 4) - 5
    for run in (first, second):
        np.testing.assert_array_equal(run["gemm"], a @ b)
        np.testing.assert_array_equal(run["twice"], 2 * (a @ b))
        assert run["user"] == 30.0
    assert second["loss"] == first["loss"] and second["grad"] == first["grad"]


def test_the_scope_is_per_block_and_nests():
    assert not lazy_linking.deferring()
    with lazy_linking.deferred_linking(True):
        assert lazy_linking.deferring()
        with lazy_linking.deferred_linking(False):
            assert not lazy_linking.deferring()
        assert lazy_linking.deferring()
    assert not lazy_linking.deferring()


def test_install_is_idempotent_and_reports_the_patches_in_place():
    from numba.core import codegen

    assert lazy_linking.install() and lazy_linking.install()
    assert codegen.JitEngine.is_symbol_defined is lazy_linking._is_symbol_defined
    assert codegen.CPUCodeLibrary._get_module_for_linking is lazy_linking._get_module_for_linking
