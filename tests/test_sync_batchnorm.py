"""nn.SyncBatchNorm: across 2 MPI ranks (tests/distributed_scripts/sync_batchnorm.py) it equals one BatchNorm over
the global batch; in one process it is PyTorch's SyncBatchNorm outside a process group (F.batch_norm), and
convert_sync_batchnorm builds the same module tree, state_dict and repr as PyTorch's."""
from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad import nn
from tests.helpers import assert_close
from tests.test_distributed import needs_mpi, run_ranks


@needs_mpi
def test_two_ranks_equal_one_batch_norm_over_the_global_batch():
    """1-d and 2-d inputs, momentum=None, affine=False, uneven and empty shares, process groups, DDP training
    after convert_sync_batchnorm, and a compiled DDP step replaying its collectives: see the script."""
    assert "sync batchnorm ok" in run_ranks("sync_batchnorm.py", 2, timeout=120)


def _model(lib):
    """The same tree in numgrad and torch: batch norms of every kind, nested, one in eval, and an InstanceNorm
    (not a _BatchNorm: left alone)."""
    m = lib.nn
    inner = m.Sequential(m.Flatten(), m.Linear(8, 6), m.BatchNorm1d(6, affine=False))
    model = m.Sequential(m.Conv2d(2, 2, 3), m.BatchNorm2d(2, eps=1e-3, momentum=0.3), inner,
                         m.BatchNorm1d(6, bias=False), m.BatchNorm1d(6, track_running_stats=False, momentum=None),
                         m.BatchNorm3d(4), m.InstanceNorm1d(3))
    model[3].eval()
    return model


def test_convert_sync_batchnorm_matches_torch():
    ours, theirs = _model(ng), _model(torch)
    originals = dict(ours.named_modules())
    group = object()  # any process group object is kept as given
    ours = nn.SyncBatchNorm.convert_sync_batchnorm(ours, process_group=group)
    theirs = torch.nn.SyncBatchNorm.convert_sync_batchnorm(theirs)
    assert str(ours) == str(theirs)
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__ for m in theirs.modules()]
    assert [m.training for m in ours.modules()] == [m.training for m in theirs.modules()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    for name, module in ours.named_modules():
        if isinstance(module, nn.SyncBatchNorm):
            assert module.process_group is group
            before = originals[name]  # the same tensors, not copies: an optimizer built before still trains them
            for key, value in module.state_dict(keep_vars=True).items():
                assert value is before.state_dict(keep_vars=True)[key], (name, key)
    # a batch norm itself becomes a new SyncBatchNorm; a tree without one comes back as it was
    bn = nn.BatchNorm2d(3)
    bn.qconfig = "kept"
    sync = nn.SyncBatchNorm.convert_sync_batchnorm(bn)
    assert type(sync) is nn.SyncBatchNorm and sync.qconfig == "kept" and sync.process_group is None
    linear = nn.Linear(2, 2)
    assert nn.SyncBatchNorm.convert_sync_batchnorm(linear) is linear


def test_checkpoints_load_both_ways():
    plain = _model(ng)
    with ng.no_grad():
        for i, t in enumerate(plain.state_dict().values()):
            t.copy_(ng.arange(t.numel()).reshape(t.shape).to(t.dtype) + i)
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(_model(ng))
    synced.load_state_dict(plain.state_dict())
    fresh = _model(ng)
    fresh.load_state_dict(synced.state_dict())
    for (key, a), b in zip(plain.state_dict().items(), fresh.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy()), key
    # and PyTorch's SyncBatchNorm reads numgrad's checkpoint
    theirs = torch.nn.SyncBatchNorm.convert_sync_batchnorm(_model(torch))
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in synced.state_dict().items()})


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 3, 4, 2), (2, 3, 2, 2, 3)])
@pytest.mark.parametrize("options", [{}, {"momentum": None}, {"affine": False, "track_running_stats": False}])
def test_without_a_process_group_it_is_torchs_batch_norm(shape, options):
    """Not distributed (no init_process_group): PyTorch's SyncBatchNorm falls back to F.batch_norm on the CPU."""
    ours = nn.SyncBatchNorm(shape[1], dtype=ng.float64, **options)
    theirs = torch.nn.SyncBatchNorm(shape[1], dtype=torch.float64, **options)
    rng = np.random.default_rng(0)
    for step in range(2):
        x = rng.standard_normal(shape) * 2 + 1
        upstream = rng.standard_normal(shape)
        x_ours, x_theirs = ng.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
        (y_ours * ng.tensor(upstream)).sum().backward()
        (y_theirs * torch.tensor(upstream)).sum().backward()
        assert_close(y_ours, y_theirs, 1e-12, 1e-12, f"output step {step}")
        assert_close(x_ours.grad, x_theirs.grad, 1e-12, 1e-12, f"input grad step {step}")
        for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
            assert_close(p.grad, q.grad, 1e-12, 1e-12, f"{name} grad step {step}")
        for (name, b), c in zip(ours.state_dict().items(), theirs.state_dict().values()):
            assert_close(b, c, 1e-12, 1e-12, f"{name} step {step}")
    ours.eval(), theirs.eval()
    x = rng.standard_normal(shape)
    assert_close(ours(ng.tensor(x)), theirs(torch.tensor(x)), 1e-12, 1e-12, "eval")


def _message(fn):
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("shape", [(3,), (), (2, 0), (2, 0, 4)])
def test_input_errors_match_torch(shape):
    expected = _message(lambda: torch.nn.SyncBatchNorm(0 if 0 in shape else 3)(torch.zeros(shape)))
    assert _message(lambda: nn.SyncBatchNorm(0 if 0 in shape else 3)(ng.zeros(shape))) == expected
    if len(shape) < 2:  # the hook subclasses override (PyTorch's name and text)
        assert _message(lambda: nn.SyncBatchNorm(3)._check_input_dim(ng.zeros(shape))) == _message(
            lambda: torch.nn.SyncBatchNorm(3)._check_input_dim(torch.zeros(shape)))


def test_a_cuda_input_that_would_synchronize_says_mpi_moves_cpu_tensors(monkeypatch):
    """The device check comes before any communication, so a faked 2-rank world reaches it in one process;
    in eval (no synchronization) the same module runs on the device as a plain batch norm."""
    import numgrad.distributed as dist

    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda group=None: 2)
    sync = nn.SyncBatchNorm(3).to("cuda")
    with pytest.raises(ValueError, match="SyncBatchNorm: numgrad synchronizes batch statistics over MPI, which "
                                         "communicates CPU tensors; the input is on cuda"):
        sync(ng.randn(4, 3, device="cuda"))
    assert sync.eval()(ng.randn(4, 3, device="cuda")).device.type == "cuda"


def test_batch_norm_of_an_empty_batch_in_eval_is_empty_as_torchs():
    out = nn.functional.batch_norm(ng.zeros(0, 3, 2), ng.zeros(3), ng.ones(3), training=False)
    assert out.shape == tuple(torch.nn.functional.batch_norm(torch.zeros(0, 3, 2), torch.zeros(3), torch.ones(3)).shape)


def test_exported_where_torch_has_it():
    assert ng.nn.SyncBatchNorm is ng.nn.modules.batchnorm.SyncBatchNorm
    assert "SyncBatchNorm" in ng.nn.modules.__all__
    assert issubclass(ng.nn.SyncBatchNorm, ng.nn.modules.batchnorm._BatchNorm)


@pytest.mark.parametrize("module", ["numgrad.nn.modules.batchnorm", "numgrad.nn.modules._functions",
                                    "numgrad.distributed.kernels"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
