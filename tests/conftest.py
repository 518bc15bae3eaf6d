import os

# keep kernels compiled by one test run for the next one, but away from the user's cache
os.environ.setdefault("NUMGRAD_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numgrad-cache"))
# CUDA kernels run on Numba's simulator unless a real GPU run asks otherwise
# (NUMBA_ENABLE_CUDASIM=0 python -m pytest -m gpu); numba reads it once, when
# numba.cuda is first imported, so it is set before any test module loads
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")


import sys  # noqa: E402

import pytest  # noqa: E402


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's: unknown, and unused, in a run without it
def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (pyproject's addopts): one worker per core, at most 4.

    Each worker is a process of its own that imports torch and numba and
    compiles or loads every kernel it runs; the cap keeps a many-core machine
    from holding dozens of them in memory."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))  # the cores this process may use (a container's share)
    else:
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


@pytest.fixture(scope="module")
def fast_simulated_barriers():
    """CUDA-simulator threads meet at every syncthreads(); with Python's default 5 ms thread switch
    interval each barrier waits that long, which made shared-memory kernels about 5x slower."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(previous)


@pytest.fixture(scope="session", autouse=True)
def torch_oracle_on_one_thread():
    """torch is only the tests' oracle: on one thread it leaves the 2 CI cores to numgrad's kernels instead of
    spinning intra-op threads against them (tests/ports measured 18 ms against 0.7 ms a step)."""
    torch = sys.modules.get("torch")
    if torch is None:
        try:
            import torch
        except ImportError:
            yield
            return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
