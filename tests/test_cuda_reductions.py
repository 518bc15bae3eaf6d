"""CUDA reductions beyond what the registry samples reach: block-per-output launches, ties, NaN, empties.

``tests/test_cuda.py`` checks every reduction of the registry on tiny shapes,
which take the thread-per-output kernels.  Here a reduced axis of 300
elements takes the block-per-output kernels (threads stride over the axis,
then a shared-memory tree), where ties and NaN must still resolve to the
first occurrence, as on the CPU and in PyTorch.  Shapes stay small: on CI the
kernels run on Numba's CUDA simulator.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import numgrad as ng
from numgrad.kernels.cuda import map_reduce as cred
from tests.helpers import assert_close

pytestmark = [pytest.mark.skipif(not ng.cuda.is_available(), reason="no GPU and no CUDA simulator"), pytest.mark.gpu,
              pytest.mark.usefixtures("fast_simulated_barriers")]

R = 300
assert R >= cred.BLOCK_MIN_R


def _both(fn, *arrays):
    """``fn`` on CPU and on CUDA tensors of ``arrays``; the outputs (lists) as host arrays."""
    results = []
    for device in ("cpu", "cuda"):
        out = fn(*(ng.tensor(a, device=device) for a in arrays))
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        assert all(o.device.type == device for o in outs)
        results.append([o.cpu() for o in outs])
    return results


def _tied_rows(dtype):
    """Two rows of R with repeated extremes and NaNs placed so that the strided partials disagree."""
    x = np.tile(np.arange(R, dtype=dtype) % 7, (2, 1))
    x[0, [5, 100, 299]] = 50.0  # three tied maxima: the first is at 5
    x[0, [3, 200]] = -50.0
    x[1, [290, 40, 250]] = np.nan  # NaN wins over every number: the first NaN is at 40
    return x


def test_arg_reductions_over_a_long_axis_pick_the_first_extreme():
    x = _tied_rows("float32")
    for fn in (lambda t: ng.max(t, dim=1), lambda t: t.min(dim=1), lambda t: ng.argmax(t[:1])):
        cpu, gpu = _both(fn, x)
        for c, g in zip(cpu, gpu):
            assert g.dtype == c.dtype
            assert_close(g, c, 0, 0)
    assert gpu[0].item() == 5
    cpu, gpu = _both(lambda t: ng.max(t, dim=1), x)
    assert gpu[1].tolist() == [5, 40]


def test_arg_reduce_over_leading_axis_with_few_columns_uses_blocks():
    x = _tied_rows("float32").T.copy()  # (R, 2): reduce dim 0, two outputs
    assert cred._use_blocks(1, R, 2)
    for kind in ("argmax", "argmin"):
        cpu, gpu = _both(lambda t: getattr(ng, kind)(t, dim=0), x)
        assert_close(gpu[0], cpu[0], 0, 0)
    ints = (np.arange(2 * R) % 11).reshape(2, R).astype(np.int64)
    cpu, gpu = _both(lambda t: ng.max(t, dim=1), ints)
    assert [g.tolist() for g in gpu] == [c.tolist() for c in cpu]


_LONG_OPS = {
    "float64": [lambda t: ng.std(t, dim=1, correction=0), lambda t: ng.logsumexp(t, dim=1),
                lambda t: ng.norm(t, p=3, dim=1), lambda t: ng.norm(t, p=math.inf, dim=1), lambda t: ng.var(t),
                lambda t: ng.count_nonzero(t.round(), dim=1)],
    "float32": [lambda t: ng.var(t, dim=1), lambda t: ng.logsumexp(t, dim=1), lambda t: ng.norm(t, dim=1)],
}


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 2e-5)])
def test_map_reductions_over_a_long_axis(dtype, rtol):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, R)) * 3 + 1).astype(dtype)
    for fn in _LONG_OPS[dtype]:
        cpu, gpu = _both(fn, x)
        assert gpu[0].dtype == cpu[0].dtype
        assert_close(gpu[0], cpu[0], rtol, rtol * 1e-2)


def test_full_reductions_split_the_axis_over_several_blocks():
    # one output: R is split into `parts` partials, then folded by a second launch; part k of a block
    # size B takes the elements r with (r // B) % parts == k
    block = cred.SIMULATOR_BLOCK if ng.cuda.simulator_enabled() else cred.THREADS
    n = 3 * block * cred.ITEMS_PER_THREAD - 36
    threads, parts = cred._plan(1, n, 1)
    assert threads == block and parts == 3
    first, later = block + 26, parts * block + 5  # in parts 1 and 0: only the index tie-break orders them
    rng = np.random.default_rng(2)
    x = rng.standard_normal(n)
    x[[later, first]] = 9.0
    for fn in (lambda t: ng.argmax(t), lambda t: ng.max(t.reshape(3, -1), dim=1), lambda t: ng.norm(t),
               lambda t: ng.var(t), lambda t: ng.logsumexp(t, dim=0)):
        cpu, gpu = _both(fn, x)
        for c, g in zip(cpu, gpu):
            assert_close(g, c, 1e-12, 1e-14)
    assert _both(lambda t: ng.argmax(t), x)[1][0].item() == first
    x[[later + 40, first + 14]] = np.nan  # NaN beats every number; two NaNs also go to the first
    assert _both(lambda t: ng.argmin(t), x)[1][0].item() == first + 14


def test_logsumexp_with_infinities_and_cumsum_of_integers():
    x = np.array([[-np.inf, -np.inf, -np.inf], [1.0, np.inf, 2.0], [0.0, -np.inf, 0.0]])
    cpu, gpu = _both(lambda t: ng.logsumexp(t, dim=1), x)
    assert_close(gpu[0], cpu[0], 1e-12, 0)
    assert gpu[0].tolist()[:2] == [-math.inf, math.inf]
    ints = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32)
    cpu, gpu = _both(lambda t: ng.cumsum(t, dim=1), ints)
    assert gpu[0].dtype == ng.int64 and gpu[0].tolist() == [[1, 3, 6], [4, 9, 15]]
    flags = np.array([True, False, True, True])
    cpu, gpu = _both(lambda t: ng.cumsum(t, dim=0), flags)
    assert gpu[0].tolist() == [1, 1, 2, 3]


def test_logical_reductions_keep_pytorchs_dtypes_on_cuda():
    u8 = np.array([[0, 3], [1, 2]], dtype=np.uint8)
    cpu, gpu = _both(lambda t: ng.all(t, dim=1), u8)
    assert gpu[0].dtype == ng.uint8 and gpu[0].tolist() == [0, 1]
    cpu, gpu = _both(lambda t: ng.any(t), np.array([0.0, 0.0, 2.0]))
    assert gpu[0].dtype == ng.bool and gpu[0].item() is True
    cpu, gpu = _both(lambda t: ng.count_nonzero(t, dim=0), np.array([[True, False], [True, True]]))
    assert gpu[0].tolist() == [2, 1]


def test_empty_inputs_and_zero_degrees_of_freedom_on_cuda():
    empty = np.zeros((0, 3))
    cpu, gpu = _both(lambda t: ng.max(t, dim=1), empty)
    assert [g.shape for g in gpu] == [(0,), (0,)] and gpu[1].dtype == ng.int64
    cpu, gpu = _both(lambda t: ng.argmin(t, dim=1), empty)
    assert gpu[0].shape == (0,)
    cpu, gpu = _both(lambda t: ng.cumsum(t, dim=0), empty)
    assert gpu[0].shape == (0, 3)
    with pytest.raises(IndexError, match="Expected reduction dim 0 to have non-zero size"):
        ng.max(ng.tensor(empty, device="cuda"), dim=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cpu, gpu = _both(lambda t: ng.var(t, dim=1), np.array([[1.0], [2.0]]))
    assert_close(gpu[0], cpu[0])  # one element, correction 1: NaN, as PyTorch


def test_max_dim_gradient_goes_to_the_selected_index_on_cuda():
    x = ng.tensor(_tied_rows("float64")[:1], device="cuda", requires_grad=True)
    values, indices = ng.max(x, dim=1)
    (values * 2).sum().backward()
    grad = x.grad.cpu().numpy()
    assert x.grad.device.type == "cuda" and grad[0, 5] == 2.0 and grad.sum() == 2.0
