"""numgrad.distributed, DistributedDataParallel and DistributedSampler.

The multi-process tests launch small scripts (tests/distributed_scripts/) with MPI's ``mpiexec -n 2``
(``-n 3`` for uneven splits); they skip when mpi4py or mpiexec is missing (the ``distributed`` extra).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import numgrad as ng
import numgrad.distributed as dist

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "distributed_scripts")
REPO = os.path.dirname(HERE)


def _mpiexec():
    """The mpiexec next to this Python (the mpich wheel's), else the one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


needs_mpi = pytest.mark.skipif(
    not dist.is_available() or _mpiexec() is None,
    reason="needs mpi4py and mpiexec: pip install -e '.[distributed]' (mpi4py and the mpich wheels)")


def run_ranks(script: str, n: int = 2, *args: str, timeout: float = 60) -> str:
    """Run ``script`` on ``n`` MPI ranks; fail with every rank's output when it fails or hangs."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    # python -m mpi4py: an exception on one rank aborts them all (no rank left waiting in a collective)
    cmd = [_mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py", os.path.join(SCRIPTS, script), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{script} on {n} ranks did not finish in {timeout}s:\n{e.stdout}\n{e.stderr}")
    assert proc.returncode == 0, f"{script} on {n} ranks failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_collectives_against_numpy(n):
    assert "collectives ok" in run_ranks("collectives.py", n)


@needs_mpi
def test_errors_name_the_ranks_instead_of_hanging():
    assert "errors ok" in run_ranks("errors.py", 2)


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_ddp_equals_single_process_training(n):
    """N steps of DDP (several buckets, gradient_as_bucket_view both ways), no_sync accumulation,
    find_unused_parameters, buffers and state_dict: see the script."""
    assert "ddp ok" in run_ranks("ddp.py", n)


@needs_mpi
def test_compiled_ddp_step_replays_its_all_reduces():
    """ng.compile'd DDP steps: bitwise equal to eager DDP, equal to single-process training, replicas synced on
    different data; no_sync inside and around a compiled step; a graph break on one rank only; a user's
    all_reduce(AVG) in a step: see the script."""
    assert "compiled ddp ok" in run_ranks("compiled_ddp.py", 2, timeout=120)


@needs_mpi
def test_subgroups_on_3_ranks():
    """new_group: group ranks, global src/dst, non-members warned, errors, DDP(process_group=) eager and
    compiled: see the script."""
    assert "subgroups ok" in run_ranks("subgroups.py", 3, timeout=120)


@needs_mpi
def test_digits_ddp_short_run(tmp_path):
    assert "digits ddp ok" in run_ranks("digits_ddp.py", 2, str(tmp_path / "w.npz"))


def test_digits_ddp_flag_without_mpi4py(monkeypatch, capsys):
    from numgrad.examples import digits

    monkeypatch.setattr(dist, "is_available", lambda: False)
    with pytest.raises(SystemExit):
        digits.main(["--ddp", "--epochs", "1"])
    assert "numgrad[distributed]" in capsys.readouterr().err


def test_collective_before_init_process_group():
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="Default process group has not been initialized, please make sure to "
                                         "call init_process_group."):
        dist.all_reduce(ng.ones(2))
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.get_world_size()


def test_missing_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setattr(dist.process_group, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"install the `distributed` extra"):
        dist.init_process_group("mpi")


def test_post_accumulate_grad_hook_against_torch():
    torch = pytest.importorskip("torch")
    seen = {}
    for lib in (ng, torch):
        w = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        calls = []
        w.register_post_accumulate_grad_hook(lambda p: calls.append(p.grad.clone().tolist()))
        ((w * 2).exp() + w).sum().backward()  # an elementwise chain: numgrad's fused backward path
        (w * w).sum().backward()
        seen[lib.__name__] = calls
    np.testing.assert_allclose(np.array(seen["numgrad"]), np.array(seen["torch"]), rtol=1e-6)
    y = ng.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.register_post_accumulate_grad_hook(lambda p: None)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        ng.ones(2).register_post_accumulate_grad_hook(lambda p: None)


def test_post_accumulate_grad_hook_remove_and_queue_callback():
    from numgrad.autograd import engine

    w = ng.tensor([1.0, 2.0], requires_grad=True)
    order = []
    h = w.register_post_accumulate_grad_hook(
        lambda p: (order.append("hook"), engine.queue_callback(lambda: order.append(("done", p.grad.tolist())))))
    (w * 3).sum().backward()
    assert order == ["hook", ("done", [3.0, 3.0])]
    h.remove()
    (w * 3).sum().backward()
    assert len(order) == 2
    with pytest.raises(RuntimeError, match="Final callbacks can only be installed during backward pass."):
        engine.queue_callback(lambda: None)


@needs_mpi
def test_sampler_partitions_the_dataset_once_per_epoch_on_3_ranks():
    assert "sampler ok" in run_ranks("sampler.py", 3)


@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_matches_torch_partition(drop_last):
    TorchSampler = pytest.importorskip("torch.utils.data.distributed").DistributedSampler

    from numgrad.utils.data import DistributedSampler

    for n in (1, 5, 7, 12):
        for replicas in (1, 2, 3, 8):
            for rank in range(replicas):
                ours = DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False,
                                          drop_last=drop_last)
                theirs = TorchSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
                assert list(ours) == list(theirs) and len(ours) == len(theirs), (n, replicas, rank)
            # shuffled: the same partition rule on a permutation (torch's random numbers are not NumPy's)
            shuffled = [DistributedSampler(range(n), num_replicas=replicas, rank=r, seed=3, drop_last=drop_last)
                        for r in range(replicas)]
            for s in shuffled:
                s.set_epoch(2)
            shares = [list(s) for s in shuffled]
            flat = sorted(i for share in shares for i in share)
            expected = sorted(i for r in range(replicas) for i in TorchSampler(
                range(n), num_replicas=replicas, rank=r, shuffle=False, drop_last=drop_last))
            assert len(flat) == len(expected), (n, replicas)
            if drop_last:
                assert len(set(flat)) == len(flat)  # the tail dropped, nothing repeated
            else:
                assert set(flat) == set(range(n))  # every index, the padding repeating some


def test_sampler_errors_and_defaults():
    from numgrad.utils.data import DistributedSampler

    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        DistributedSampler(range(4))  # num_replicas from the (missing) process group
    a = DistributedSampler(range(10), num_replicas=2, rank=0, seed=5)
    b = DistributedSampler(range(10), num_replicas=2, rank=1, seed=5)
    assert sorted(list(a) + list(b)) == list(range(10))
    before = list(a)
    a.set_epoch(1)
    assert list(a) != before


@pytest.mark.parametrize("module", ["numgrad.distributed", "numgrad.distributed.process_group",
                                    "numgrad.utils.data.distributed", "numgrad.autograd.engine"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
