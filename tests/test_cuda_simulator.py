"""numgrad's changes to Numba's CUDA simulator (``numgrad.kernels.cuda.simulator``).

A kernel that cannot observe the order of its threads runs them one after another in the launching thread; a
kernel whose only synchronization is ``cuda.syncthreads()`` in its own body runs in phases (its threads are
generators, each phase runs every live thread to its next barrier); anything else runs on the simulator's own
threads.  Each way must give the results, and the errors, the simulator gives.
"""
import os

# before numba.cuda is imported: the simulator flag is read once per process
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import threading  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from numba import cuda  # noqa: E402

import numgrad as ng  # noqa: E402
from numgrad.kernels.cuda import simulator  # noqa: E402

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not ng.cuda.simulator_enabled(),
                                                  reason="numgrad's changes apply to the simulator only")]

BLOCK = 8
ran_on: list = []  # the Python threads the kernels below ran on


@cuda.jit
def scale(out, x, a):
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[i] = a * x[i]
    if cuda.grid(1) == 0:
        ran_on.append(threading.get_ident())


@cuda.jit
def block_sums(out, x):
    """A tree sum per block in shared memory; threads past the end of ``x`` leave before the first barrier."""
    shared = cuda.shared.array(BLOCK, np.float64)
    tid = cuda.threadIdx.x
    i = cuda.blockIdx.x * BLOCK + tid
    shared[tid] = 0.0
    if i >= x.shape[0]:  # (only threads the tree never reads from again: the barrier waits for the rest)
        return
    shared[tid] = x[i]
    cuda.syncthreads()
    width = BLOCK // 2
    while width > 0:
        if tid < width:
            shared[tid] += shared[tid + width]
        cuda.syncthreads()
        width //= 2
    if tid == 0:
        out[cuda.blockIdx.x] = shared[0]
        ran_on.append(threading.get_ident())


@cuda.jit(device=True)
def _block_total(shared, tid):
    cuda.syncthreads()
    total = 0.0
    for j in range(BLOCK):
        total += shared[j]
    cuda.syncthreads()
    return total


@cuda.jit
def block_sums_in_a_device_function(out, x):
    shared = cuda.shared.array(BLOCK, np.float64)
    tid = cuda.threadIdx.x
    i = cuda.blockIdx.x * BLOCK + tid
    shared[tid] = x[i] if i < x.shape[0] else 0.0
    total = _block_total(shared, tid)
    if tid == 0:
        out[cuda.blockIdx.x] = total
        ran_on.append(threading.get_ident())


@cuda.jit
def reads_past_the_end(out, x):
    i = cuda.grid(1)
    out[i] = x[i + 3]


@cuda.jit
def reads_past_the_end_after_a_barrier(out, x):
    i = cuda.grid(1)
    cuda.syncthreads()
    out[i] = x[i + 3]


def _plan_of(kernel) -> str:
    return kernel.py_func.__dict__[simulator._PLAN_ATTRIBUTE][0]


def test_a_kernel_without_synchronization_runs_its_threads_in_the_launching_thread():
    x = np.arange(37.0)
    out = np.zeros_like(x)
    ran_on.clear()
    scale[3, 16](out, x, 2.5)
    np.testing.assert_array_equal(out, 2.5 * x)
    assert _plan_of(scale) == "in turn" and ran_on == [threading.get_ident()]


@pytest.mark.parametrize("kernel, plan", [(block_sums, "phases"), (block_sums_in_a_device_function, "threads")],
                         ids=["barriers in the kernel", "barriers in a device function"])
def test_a_kernel_with_barriers_sums_as_on_a_gpu(kernel, plan):
    x = np.random.default_rng(0).standard_normal(21)
    out = np.zeros(3)
    ran_on.clear()
    kernel[3, BLOCK](out, x)
    np.testing.assert_allclose(out, [x[:8].sum(), x[8:16].sum(), x[16:].sum()], rtol=1e-12)
    assert _plan_of(kernel) == plan
    # phases run in the launching thread; the simulator starts a Python thread per CUDA thread
    assert (set(ran_on) == {threading.get_ident()}) == (plan == "phases")


def test_the_launching_thread_keeps_no_simulated_thread_index():
    main = threading.current_thread()
    scale[1, 4](np.zeros(4), np.ones(4), 1.0)
    block_sums[1, BLOCK](np.zeros(1), np.ones(4))
    assert not any(hasattr(main, slot) for slot in ("threadIdx", "blockIdx", "thread_id"))


@pytest.mark.parametrize("kernel", [reads_past_the_end, reads_past_the_end_after_a_barrier])
def test_an_error_names_the_thread_and_block_as_the_simulator_does(kernel):
    with pytest.raises(IndexError, match=r"tid=\[5, 0, 0\] ctaid=\[0, 0, 0\]: index 8 is out of bounds"):
        kernel[1, 8](np.zeros(8), np.zeros(8))
    # and the next launch runs normally
    scale[1, 4](out := np.zeros(4), np.ones(4), 2.0)
    assert out.tolist() == [2.0] * 4


def test_only_statement_barriers_in_the_kernel_itself_run_in_phases():
    def counts(out):
        out[0] = cuda.syncthreads_count(1)

    def uses_the_result(out):
        out[0] = cuda.syncthreads()

    def shuffles(out):
        out[0] = cuda.shfl_down_sync(0xFFFFFFFF, out[0], 1)

    assert simulator.phased(uses_the_result) is None
    for kernel in (counts, shuffles):
        assert simulator.threads_can_observe_each_other(kernel, ignore_own_barriers=True)
        assert simulator._plan(kernel) == ("threads", None)
