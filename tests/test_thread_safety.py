"""Threads recording independent graphs at once (issue 15 case 10): no KeyError, no shared buffers, right gradients.

The shared state of the recording path is the table of pending readers
(``numgrad/_pending_readers.py``) and the CPU buffer pool
(``numgrad/kernels/cpu/buffer_pool.py``); a tiny switch interval makes the
interpreter interleave the threads inside them.
"""
from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import numgrad as ng


def _chain_grad(x0: np.ndarray, n_ops: int) -> np.ndarray:
    """d/dx sum(y*y) for y = (((x*1.001)+0.001)*1.001+0.001)... in float64."""
    y = x0.astype(np.float64)
    for _ in range(n_ops):
        y = y * 1.001 + 0.001
    return 2 * y * 1.001 ** n_ops


@pytest.fixture
def interleaved_threads():
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.parametrize("size, steps", [(8, 150), (1 << 18, 6)])  # 1 MiB arrays come from the buffer pool
def test_threads_recording_independent_graphs_get_their_own_right_gradients(interleaved_threads, size, steps):
    errors: list = []

    def work(seed: int) -> None:
        try:
            rng = np.random.default_rng(seed)
            for step in range(steps):
                x0 = rng.standard_normal(size).astype(np.float32)
                x = ng.tensor(x0, requires_grad=True)
                y = x
                for _ in range(40):  # past the region cap, and over the table's clean-up threshold in all
                    y = y * 1.001 + 0.001
                (y * y).sum().backward()
                if not np.allclose(x.grad.numpy(), _chain_grad(x0, 40), rtol=1e-3, atol=1e-4):
                    errors.append(f"thread {seed} step {step}: wrong gradient")
                    return
        except Exception as exc:  # noqa: BLE001 - reported below with its type
            errors.append(f"thread {seed}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    assert errors == []
