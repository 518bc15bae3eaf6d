"""In-place writes into views and their bases give PyTorch's values and gradients (issue 15, cases 4 and 8).

Each program runs twice, once with ``lib = numgrad`` and once with ``lib = torch``;
values, gradients and which statement raises (error type and message start) must agree.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng


def _x(lib, shape=(2, 3)):
    data = np.arange(1, 1 + int(np.prod(shape)), dtype=np.float32).reshape(shape) / 4
    return lib.tensor(data, requires_grad=True)


def view_before_base_write(lib):  # case 4
    x = _x(lib, (3,))
    a = x * 1
    v = a[0:2]
    a.mul_(2)
    return x, v.sum()


def write_into_select(lib):  # case 8
    x = _x(lib, (3,))
    y = x * 2
    y[0].mul_(3)
    return x, (y * y).sum()


def setitem_into_column(lib):
    x = _x(lib)
    y = x * 2
    v = lib.tensor([7.0, 8.0], requires_grad=True)
    y[:, 1] = v * v
    return (x, v), (y * y).sum()


def setitem_through_two_indexings(lib):
    x = _x(lib)
    y = x.exp()
    y[0][1] = 5.0
    return x, (y * x).sum()


def write_into_transposed_view(lib):
    x = _x(lib)
    y = x * 3
    y.t()[1].add_(x[:, 0] * 2)
    return x, (y ** 2).sum()


def view_of_view_written_then_base_used(lib):
    x = _x(lib, (4,))
    y = x * 2
    v = y[1:]
    w = v[0:2]
    w.mul_(10)
    return x, (y.sum() + v.sum() * 2 + w.sum() * 3)


def copy_into_view_of_fresh_buffer(lib):
    x = _x(lib, (3,))
    out = lib.zeros(2, 3)
    out[1].copy_(x.sin())
    out[0, :2] = x[1:] * 4
    return x, (out * lib.arange(6).reshape(2, 3)).sum()


def fill_and_zero_on_views(lib):
    x = _x(lib)
    y = x * x
    y[0].zero_()
    y[:, 2].fill_(1.5)
    return x, (y * 2).sum()


def views_retaken_after_base_write(lib):
    x = _x(lib)
    y = x + 1
    r = y.reshape(3, 2)
    c = y[:, 1:]
    y.mul_(x)
    return x, (r.sum(0) * lib.tensor([1.0, 2.0])).sum() + (c * c).sum()


def no_grad_write_into_view_then_backward(lib):
    x = _x(lib, (3,))
    y = x * 2
    v = y[1:]
    with lib.no_grad():
        v.mul_(0)
    return x, (y * 3).sum()


def expand_then_index_write(lib):
    x = _x(lib, (3,))
    y = x * 2
    y.expand(2, 3)[0].mul_(2)
    return x, y.sum()


def unbind_view_written(lib):
    x = _x(lib, (3,))
    u = (x * 2).unbind(0)
    u[0].mul_(2)
    return x, u[0]


def split_view_written_under_no_grad(lib):
    x = _x(lib, (4,))
    y = x * 2
    parts = y.split(2)
    with lib.no_grad():
        parts[0].mul_(2)
    return x, y.sum()


def view_of_leaf_written(lib):
    x = _x(lib, (3,))
    x[1:].add_(1)
    return x, x.sum()


def no_grad_view_written_with_grad(lib):
    x = _x(lib, (3,))
    y = x * 2
    with lib.no_grad():
        v = y[1:]
    v.mul_(2)
    return x, y.sum()


def no_grad_view_of_fresh_buffer_gets_graph_value(lib):
    x = _x(lib, (3,))
    b = lib.zeros(3)
    with lib.no_grad():
        v = b[:2]
    v.copy_(x[:2])
    return x, b.sum()


def no_grad_view_of_graph_tensor_used_in_graph(lib):
    x = _x(lib, (3,))
    y = x * 2
    with lib.no_grad():
        v = y[1:]
    return x, (v * y[1:]).sum()


def retain_grad_on_written_base(lib):
    x = _x(lib, (3,))
    y = x * 2
    y.retain_grad()
    y[1:].mul_(10)
    (y * y).sum().backward()
    return x, (y.grad * 1).sum()


def diagonal_view_written(lib):  # diagonal() is a view: A.diagonal().mul_(k) changes A
    x = _x(lib, (3, 3))
    y = x * 2
    y.diagonal().mul_(3)
    return x, (y * y).sum()


def offset_diagonal_of_a_batch_written(lib):
    x = _x(lib, (2, 3, 4))
    y = x * 1
    y.diagonal(1, 1, 2).add_(x[:, 0, :3])
    return x, (y * y).sum()


def base_written_then_diagonal_used(lib):
    x = _x(lib, (3, 3))
    y = x * 2
    d = y.diagonal()
    y.mul_(y)
    return x, (d * d).sum()


def unfold_view_written(lib):  # windows that do not overlap: a writable view
    x = _x(lib, (6,))
    y = x * 1
    y.unfold(0, 2, 3).mul_(x[:2])
    return x, (y * y).sum()


def expanded_leaf_row_written(lib):
    x = _x(lib, (3,))
    y = (x * 2).expand(4, 3)
    y[2].add_(x)  # one row of an expanded tensor is its memory: written once per element
    return x, (y * y).sum()


PROGRAMS = [
    diagonal_view_written, offset_diagonal_of_a_batch_written, base_written_then_diagonal_used,
    unfold_view_written, expanded_leaf_row_written,
    view_before_base_write, write_into_select, setitem_into_column, setitem_through_two_indexings,
    write_into_transposed_view, view_of_view_written_then_base_used, copy_into_view_of_fresh_buffer,
    fill_and_zero_on_views, views_retaken_after_base_write, no_grad_write_into_view_then_backward,
    expand_then_index_write, unbind_view_written, split_view_written_under_no_grad, view_of_leaf_written,
    no_grad_view_written_with_grad, no_grad_view_of_fresh_buffer_gets_graph_value,
    no_grad_view_of_graph_tensor_used_in_graph, retain_grad_on_written_base,
]


def _run(lib, program):
    try:
        leaves, loss = program(lib)
        leaves = leaves if isinstance(leaves, tuple) else (leaves,)
        if loss.requires_grad:
            loss.backward()
    except RuntimeError as e:
        return ("raised", str(e)[:60])
    grads = [None if t.grad is None else t.grad.detach().numpy().copy() for t in leaves]
    return loss.detach().numpy().copy(), grads


KNOWN_DIFFERENCES: dict = {}  # program -> why numgrad differs from PyTorch (none now)


@pytest.mark.parametrize("program", [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[p]))
    if p in KNOWN_DIFFERENCES else p for p in PROGRAMS], ids=lambda p: p.__name__)
def test_matches_pytorch(program):
    got, want = _run(ng, program), _run(torch, program)
    if want[0] == "raised" or got[0] == "raised":
        assert got == want
        return
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    for g, w in zip(got[1], want[1]):
        assert (g is None) == (w is None)
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-5)


def test_the_base_of_a_written_view_records_copyslices():
    x = _x(ng, (3,))
    y = x * 2
    y[1:].mul_(2)
    assert y.grad_fn.name() == "CopySlices"
    assert y[1:].grad_fn.name() == "SliceBackward0" or y[1:].grad_fn is not None


def test_second_backward_through_copyslices_with_retain_graph():
    x = _x(ng, (3,))
    y = x * 2
    y[0:2].mul_(3)
    loss = y.sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert x.grad.tolist() == [12.0, 12.0, 4.0]


def test_double_backward_through_a_written_view():
    def program(lib):
        x = _x(lib, (3,))
        y = x * x
        y[1:].mul_(x[1:])
        (g,) = lib.autograd.grad(y.sum(), x, create_graph=True)
        (h,) = lib.autograd.grad(g.sum(), x)
        return g.detach().numpy(), h.numpy()
    for got, want in zip(program(ng), program(torch)):
        np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("case", [
    lambda lib: lib.ones(2, 4).view(lib.float64),
    lambda lib: lib.tensor([1.0, -2.0]).view(lib.int32),
    lambda lib: lib.ones(2, 2, dtype=lib.float64).view(lib.float32),
    lambda lib: lib.ones(3).view(lib.float64),  # size(-1) not divisible
    lambda lib: lib.ones(4, 3).t().view(lib.float64),  # stride(-1) != 1
    lambda lib: lib.ones(4, 4)[:, 1:3].view(lib.float64),  # storage offset not divisible
    lambda lib: lib.tensor(1.0).view(lib.float64),  # 0-d
], ids=["float_as_double", "float_as_int", "double_as_float", "size", "stride", "offset", "zero_dim"])
def test_view_as_a_dtype_matches_pytorch(case):
    def run(lib):
        try:
            out = case(lib)
        except RuntimeError as e:
            return "raised", str(e)
        return out.dtype.itemsize if lib is ng else out.element_size(), tuple(out.shape), out.tolist()

    assert run(ng) == run(torch)


def test_a_dtype_view_shares_memory_and_needs_no_grad():
    x = ng.zeros(2, 2)
    bits = x.view(ng.int32)
    bits.add_(1)  # the smallest positive float32: written through the int32 view
    assert x[0, 0].item() == np.float32(1.401298464324817e-45)
    w = ng.ones(3, requires_grad=True)
    assert not w.view(ng.float32).requires_grad  # as PyTorch: a dtype view is not differentiable


def test_a_second_backward_through_a_written_views_base_raises_as_torch():
    """eager fuzzer seed 14417: CopySlices is single use without retain_graph, as PyTorch's."""
    def program(lib):
        v2 = lib.tensor([-0.75, 2.0, -0.5, -0.5], requires_grad=True)
        v3 = v2 + v2
        v5 = v3[0:]
        v5.add_(v2)
        (v3 * v3).sum().backward()
        with pytest.raises(RuntimeError) as raised:
            (v5 * v5).sum().backward()
        return str(raised.value)[:60]

    assert program(ng) == program(torch) == "Trying to backward through the graph a second time (or direc"
