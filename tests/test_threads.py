"""Thread and code-generation defaults of ``numgrad/kernels/config.py``, each checked in a fresh process
(they act when numba is imported): the threading layer, the bounded spin, user overrides, AVX-512
vector width, and forked children after parallel kernels ran on GNU OpenMP."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script: str, env_update: dict | None = None, timeout: int = 240) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_THREADING_LAYER", "NUMBA_CPU_FEATURES", "GOMP_SPINCOUNT", "NUMGRAD_WIDE_VECTORS",
                        "NUMBA_THREADING_LAYER_PRIORITY")}
    env.update(env_update or {})
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


_REPORT = """
    import json, os
    import numgrad as ng
    (ng.ones(1 << 17) * 2).numpy()  # above the parallel threshold: starts the threading layer
    import numba
    from llvmlite import binding as llvm
    print(json.dumps({"layer": numba.threading_layer(), "spin": os.environ.get("GOMP_SPINCOUNT"),
                      "features": os.environ.get("NUMBA_CPU_FEATURES"),
                      "avx512": "+avx512f" in llvm.get_host_cpu_features().flatten().split(",")}))
"""


def test_defaults_pick_openmp_with_a_bounded_spin_and_wide_vectors_on_avx512():
    info = json.loads(_run(_REPORT).splitlines()[-1])
    assert info["layer"] in ("omp", "workqueue")  # workqueue only where GNU OpenMP cannot load
    assert info["spin"] == "10000"
    if info["avx512"]:
        assert info["features"].endswith(",-prefer-256-bit")
    else:
        assert info["features"] is None


def test_user_settings_win():
    info = json.loads(_run(_REPORT, {"NUMBA_THREADING_LAYER": "workqueue", "GOMP_SPINCOUNT": "123",
                                     "NUMGRAD_WIDE_VECTORS": "0"}).splitlines()[-1])
    assert info["layer"] == "workqueue"
    assert info["spin"] == "123"
    assert info["features"] is None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_children_run_serial_kernels_after_the_parent_used_openmp():
    """GNU OpenMP cannot run parallel regions in a forked child (numba terminates it, and a Pool hangs);
    numgrad's children fall back to the serial kernels and give the same results."""
    out = _run("""
        import multiprocessing as mp
        import numpy as np
        import numgrad as ng

        def work(seed):
            ng.manual_seed(seed)
            x = ng.randn(1 << 18, requires_grad=True)
            loss = (ng.tanh(x) * 2).sum() + ng.nn.functional.log_softmax(x.reshape(512, 512), 1).mean()
            loss.backward()
            a = ng.randn(256, 256)
            conv = ng.nn.Conv2d(8, 16, 3, padding=1)
            conv(ng.randn(8, 8, 32, 32)).sum().backward()
            ng.optim.SGD(conv.parameters(), lr=0.1).step()
            return float(loss.item()), float((a @ a).sum().item()), float(x.grad.sum().item())

        if __name__ == "__main__":
            parent = work(0)
            with mp.get_context("fork").Pool(2) as pool:
                children = pool.map(work, [0, 0])
            for child in children:
                np.testing.assert_allclose(child, parent, rtol=1e-4)
            print("ok")
    """, timeout=180)
    assert out.strip().endswith("ok")
