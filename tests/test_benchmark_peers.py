"""benchmarks/peer_processes.py: each benchmark peer in its own worker process, imports isolated, turns alternated."""
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks.bench_compile import _compiled_runs, _fold_thread_settings
from benchmarks import peer_processes
from benchmarks.peer_processes import PeerError, PeerPool, PeerSpec, wait_until_idle

NUMPY_1T = PeerSpec("numpy", "benchmarks.peer_numpy", 1, (("OPENBLAS_NUM_THREADS", "1"),))


def test_worker_builds_times_and_reports_its_configuration(tmp_path):
    rng = np.random.default_rng(0)
    path = str(tmp_path / "inputs.npz")
    np.savez(path, x=rng.standard_normal((8, 784)).astype(np.float32), y=rng.integers(0, 10, 8))
    with PeerPool([NUMPY_1T, PeerSpec("numpy", "benchmarks.peer_numpy")]) as pool:
        assert pool.configurations()["numpy@1"].endswith("its OpenBLAS on 1 thread")
        assert pool.build("mlp", path, {"batch": 8}) == {"numpy@1": ["NumPy by hand"], "numpy": ["NumPy by hand"]}
        medians = pool.alternating_medians(rounds=2, repeats=2)
        assert set(medians) == {"NumPy by hand@1", "NumPy by hand"} and all(t > 0 for t in medians.values())
        assert len(pool.settle_s) == 5  # worker switches: in the warm-up one, then two in each round
        assert pool.reports() == {}  # no compiled step here
        assert pool.build("w1", path, {}) == {"numpy@1": [], "numpy": []}  # no NumPy peer for W1: nothing to time
        assert pool.alternating_medians(rounds=1, repeats=1) == {}
        # the previous workload's step is gone, and the worker's traceback reaches the coordinator
        with pytest.raises(PeerError, match="numpy@1 worker: Traceback(.|\n)*KeyError: 'NumPy by hand'"):
            pool.workers[0].request("time", step="NumPy by hand", calls=1)


def test_worker_imports_only_its_own_library():
    """numgrad is blocked in a NumPy worker: importing numgrad's peer module there fails and the peer is left
    out as unavailable; a module that does not exist is left out the same way."""
    specs = [PeerSpec("numpy", "benchmarks.peer_numgrad"), PeerSpec("numpy", "benchmarks.no_such_peer", 2)]
    with PeerPool(specs) as pool:
        assert pool.workers == []
        assert set(pool.unavailable) == {"numpy", "numpy@2"}
        assert "import of numgrad halted" in pool.unavailable["numpy"]


def test_worker_environment_is_the_launch_environment_not_numgrads():
    import benchmarks
    import numgrad  # noqa: F401 - sets its defaults in os.environ (setdefault)

    assert "GOMP_SPINCOUNT" in os.environ
    expected = benchmarks.LAUNCH_ENVIRON.get("GOMP_SPINCOUNT")
    assert expected != numgrad.kernels.config.GOMP_SPINCOUNT_DEFAULT  # numgrad's own default is not passed on
    with PeerPool([PeerSpec("torch", "benchmarks.peer_torch", 1)]) as pool:
        conf = pool.configurations()["torch@1"]
    assert "1 intra-op thread," in conf
    assert conf.endswith(f"GOMP_SPINCOUNT={expected}" if expected else "libgomp default spin")


class _Clock:
    """A clock ``wait_until_idle`` reads and sleeps on: time passes only when it sleeps (no wall-clock timing)."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_until_idle_waits_for_a_busy_process_and_not_for_an_idle_one(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(peer_processes, "time", clock)
    # CPU time used so far: the idle process none, the busy one all of the time that passed
    monkeypatch.setattr(peer_processes, "_cpu_ns", lambda pid: 0 if pid == "idle" else int(clock.now * 1e9))
    assert wait_until_idle("idle", window_s=0.01, quiet_windows=3, timeout_s=5.0) == pytest.approx(0.03)
    clock.now = 0.0
    waited = wait_until_idle("busy", window_s=0.01, quiet_windows=3, timeout_s=0.3)
    assert 0.3 <= waited < 0.3 + 0.011  # it gives up at the timeout, not before


def test_cpu_time_of_a_process_is_read_from_proc():
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    if peer_processes._cpu_ns(os.getpid()) is None:
        pytest.skip("no /proc schedstat on this system")
    assert peer_processes._cpu_ns(os.getpid()) > 0
    assert peer_processes._cpu_ns(finished.pid) is None  # gone: no tasks to read


def test_thread_settings_fold_into_the_faster_and_its_compiled_counters():
    times = _fold_thread_settings({"numgrad compiled@1": 2.0, "numgrad compiled@2": 1.5, "jax.jit": 1.0,
                                   "torch eager@1": 3.0, "torch eager@2": 4.0})
    assert times == {"numgrad compiled": 1.5, "numgrad compiled threads": 2, "jax.jit": 1.0, "torch eager": 3.0,
                     "torch eager threads": 1}
    reports = {"numgrad@1": {"replays": 9, "captures": 1, "recaptures": 0, "fallback": None},
               "numgrad@2": {"replays": 7, "captures": 1, "recaptures": 0, "fallback": None}}
    assert _compiled_runs(times, reports)["replays"] == 7
    reports["numgrad@1"]["fallback"] = "data-dependent control flow"
    assert _compiled_runs(times, reports)["fallback"] == "data-dependent control flow"
