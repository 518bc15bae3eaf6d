"""Deferred losses (``numgrad/fusion/deferred.py``): the sum or mean of a fused region recorded for autograd
is computed by the backward kernel when ``backward()`` comes first; every other use computes it as before.
Values and gradients are checked against PyTorch, and the kernel count where the joint kernel must run."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad.fusion.deferred import PendingReduce
from numgrad.kernels.config import PARALLEL_THRESHOLD
from tests.helpers import assert_close

RNG = np.random.default_rng(0)
X, W, B = (RNG.standard_normal(300) for _ in range(3))


def _leaves(lib, dtype):
    make = ng.tensor if lib is ng else torch.tensor
    return [make(v.astype(dtype), requires_grad=True) for v in (X, W, B)]


def _w1(lib, x, w, b):
    return lib.tanh(x * w + b) * lib.sigmoid(x) ** 2


def _kernels(fn) -> int:
    """Kernel launches over more than one element (a mean also divides two 0-d values)."""
    with ng.profiler.profile() as prof:
        fn()
    return sum(1 for r in prof.to_records(bandwidth=False) if r["kind"] == "kernel" and tuple(r["out_shape"] or ()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_loss_and_gradients_come_from_one_kernel(reduction, dtype):
    x, w, b = _leaves(ng, dtype)
    losses = []

    def step():
        losses.append(getattr(_w1(ng, x, w, b), reduction)())
        assert isinstance(losses[0]._lazy, PendingReduce)
        losses[0].backward()
    assert _kernels(step) == 1  # forward and backward together (two without deferral)
    loss = losses[0]
    assert loss.grad_fn.name() == ("SumBackward0" if reduction == "sum" else "MeanBackward0")
    tx, tw, tb = _leaves(torch, dtype)
    expected = getattr(_w1(torch, tx, tw, tb), reduction)()
    expected.backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert loss.dtype == x.dtype
    assert_close(loss, expected.detach(), tol, tol)
    for ours, theirs in ((x, tx), (w, tw), (b, tb)):
        assert_close(ours.grad, theirs.grad, tol, tol)


def _check_against_torch(build, backward, dtype=np.float64):
    leaves = _leaves(ng, dtype)
    loss = build(ng, *leaves)
    backward(loss, ng)
    t_leaves = _leaves(torch, dtype)
    expected = build(torch, *t_leaves)
    backward(expected, torch)
    assert_close(loss.detach(), expected.detach(), 1e-12, 1e-12)
    for ours, theirs in zip(leaves, t_leaves):
        assert_close(ours.grad, theirs.grad, 1e-12, 1e-12)
    return loss, leaves


def test_value_read_before_backward_is_computed_as_before():
    _check_against_torch(lambda lib, x, w, b: _w1(lib, x, w, b).mean(),
                         lambda loss, lib: (loss.item(), loss.backward()))
    x, w, b = _leaves(ng, np.float64)
    assert _kernels(lambda: (lambda loss: (loss.item(), loss.backward()))(_w1(ng, x, w, b).sum())) == 2


def test_backward_with_a_gradient_and_retain_graph_twice():
    def twice(loss, lib):
        g = lib.tensor(2.5, dtype=loss.dtype)
        loss.backward(g, retain_graph=True)
        loss.backward(g)
    _check_against_torch(lambda lib, x, w, b: _w1(lib, x, w, b).sum(), twice)


def test_loss_used_by_another_op_and_summed_twice():
    def build(lib, x, w, b):
        z = _w1(lib, x, w, b)
        return z.sum() * 2 + (z * z).mean()
    _check_against_torch(build, lambda loss, lib: loss.backward())


def test_retain_grad_and_hooks_keep_their_effect():
    seen = []

    def build(lib, x, w, b):
        z = _w1(lib, x, w, b)
        z.register_hook(lambda g: seen.append(g.shape))
        loss = z.sum()
        loss.retain_grad()
        build.loss = loss
        return loss
    _check_against_torch(build, lambda loss, lib: loss.backward())
    assert seen == [(300,), (300,)]
    assert build.loss.grad.item() == 1.0


def test_grad_with_inputs_and_create_graph():
    x, w, b = _leaves(ng, np.float64)
    (gx,) = ng.autograd.grad(_w1(ng, x, w, b).sum(), [x], create_graph=True)
    tx, tw, tb = _leaves(torch, np.float64)
    (tgx,) = torch.autograd.grad(_w1(torch, tx, tw, tb).sum(), [tx], create_graph=True)
    assert_close(gx, tgx, 1e-12, 1e-12)
    gx.sum().backward()
    tgx.sum().backward()
    assert_close(w.grad, tw.grad, 1e-10, 1e-12)


def test_inplace_change_between_forward_and_backward():
    """The loss keeps the value of its inputs when recorded; the backward raises PyTorch's error."""
    x, w, b = _leaves(ng, np.float64)
    loss = _w1(ng, x, w, b).sum()
    with ng.no_grad():
        w.add_(1.0)
    tx, tw, tb = _leaves(torch, np.float64)
    expected = _w1(torch, tx, tw, tb).sum()
    assert_close(loss.detach(), expected.detach(), 1e-12, 1e-12)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_not_deferred_without_autograd_or_fusion_or_float():
    x = ng.tensor(X)
    assert not isinstance((x * 2).sum()._lazy, PendingReduce)  # nothing requires grad
    xi = ng.tensor(X.astype(np.int64) * 0 + 3, requires_grad=False)
    assert (xi * 2).sum().item() == 6 * 300
    leaf = ng.tensor(X, requires_grad=True)
    ng.set_fusion(False)
    try:
        loss = (leaf * 2).sum()
        assert loss._lazy is None
        loss.backward()
    finally:
        ng.set_fusion(True)
    np.testing.assert_allclose(leaf.grad.numpy(), 2.0)
    kept = (leaf * 2).sum(0, keepdim=True)
    assert not isinstance(kept._lazy, PendingReduce)


def test_broadcast_region_falls_back_to_computing_the_loss_afterwards():
    """Operands that do not collapse to one dimension get the usual gradient kernel; the loss stays deferred
    and is computed from the forward region when it is read."""
    a = np.random.default_rng(1).standard_normal((4, 1))
    c = np.random.default_rng(2).standard_normal((1, 5))
    x, w = ng.tensor(a, requires_grad=True), ng.tensor(c, requires_grad=True)
    loss = (ng.tanh(x * w) + x).mean()
    loss.backward()
    assert isinstance(loss._lazy, PendingReduce) and loss._lazy.result is None
    tx, tw = torch.tensor(a, requires_grad=True), torch.tensor(c, requires_grad=True)
    expected = (torch.tanh(tx * tw) + tx).mean()
    expected.backward()
    assert_close(loss.detach(), expected.detach(), 1e-12, 1e-12)
    assert_close(x.grad, tx.grad, 1e-12, 1e-12)
    assert_close(w.grad, tw.grad, 1e-12, 1e-12)


def _placed(values: np.ndarray, raw: np.ndarray, offset: int) -> np.ndarray:
    """``values`` copied into ``raw`` at byte ``offset`` (arrays placed next to each other on purpose)."""
    view = raw[offset:offset + values.nbytes].view(values.dtype)
    view[...] = values
    return view


# 9000: three blocks of the serial kernel's summing buffer; "parallel": just above the parallel threshold (the
# parallel kernel's one prange loop must have no runtime overlap check: Numba's noalias parfor arguments)
@pytest.mark.parametrize("n", [24, 100, 3000, 9000, "parallel"])
def test_joint_kernel_total_does_not_depend_on_where_the_arrays_lie(n):
    """The loss a backward kernel returns is the same to the bit wherever its arrays are, and whether its output
    is an input's own memory (a ``.grad`` accumulated in place) or not.

    A loop that stores gradients and sums the loss at once made LLVM choose its vectorized or its scalar sum
    by whether the output lay within a vector's reach of an input: two identically seeded training runs
    reported losses one ulp apart (and ``ng.compile`` refused steps whose replay differed from the eager call).
    For arrays longer than a vector's reach that happens only where the output is an input.
    """
    from numgrad.ir.expr import Expr, var
    from numgrad.kernels.cpu.elementwise import run_map_sum

    if n == "parallel":
        n = PARALLEL_THRESHOLD + 1001
    diff = Expr("sub", (var(0), var(1)))
    squared = Expr("square", (diff,))
    rng = np.random.default_rng(n)
    nbytes = 4 * n
    raw = np.zeros(3 * nbytes + 1024 + 64, dtype=np.uint8)
    base = (-raw.ctypes.data) % 64
    for _ in range(10):
        a, b = rng.standard_normal((2, n)).astype(np.float32)
        totals = set()
        for gap in list(range(0, 192, 16)) + [1024]:  # the output right after the inputs, then further away
            xa = _placed(a, raw, base)
            xb = _placed(b, raw, base + nbytes)
            out = raw[base + 2 * nbytes + gap:base + 3 * nbytes + gap].view(np.float32)
            total = run_map_sum((diff,), squared, [xa, xb], (n,), "float32", "float32", [out])
            totals.add(float(total).hex())
            np.testing.assert_array_equal(out, a - b)
        in_place = _placed(a, raw, base)
        total = run_map_sum((diff,), squared, [in_place, _placed(b, raw, base + nbytes)], (n,), "float32", "float32",
                            [in_place])
        totals.add(float(total).hex())
        np.testing.assert_array_equal(in_place, a - b)
        assert len(totals) == 1, totals
