"""In-place writes after a deferred value was recorded: numgrad gives PyTorch's answer (issue 15, case 1).

A full ``sum``/``mean`` of a fused region is deferred (``numgrad.fusion.deferred``);
it must be computed as of its record time, whatever writes the region's memory
afterwards: an in-place op, setitem, a write under ``no_grad``, through
``.data``, or through the array ``.detach().numpy()`` returns.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng

WRITES = ["add_", "setitem", "no_grad_mul_", "data_add_", "numpy_alias", "zero_", "copy_"]


def _program(lib, write: str, n: int):
    x = lib.tensor(np.linspace(0.1, 0.3, n, dtype=np.float32), requires_grad=True)
    y = x * 2
    s = y.sum()
    m = y.mean()
    if write == "add_":
        y.add_(1)
    elif write == "setitem":
        y[0] = 5
    elif write == "no_grad_mul_":
        with lib.no_grad():
            y.mul_(3)
    elif write == "data_add_":
        y.data.add_(1)
    elif write == "numpy_alias":
        y.detach().numpy()[0] = 100
    elif write == "zero_":
        with lib.no_grad():
            y.zero_()
    elif write == "copy_":
        with lib.no_grad():
            y.copy_(lib.ones(n))
    return s.item(), m.item(), y.detach().numpy().copy()


@pytest.mark.parametrize("n", [3, 1 << 18])  # 1 MiB of float32: buffers from the CPU buffer pool too
@pytest.mark.parametrize("write", WRITES)
def test_deferred_sum_and_mean_see_the_value_at_record_time(write, n):
    got_s, got_m, got_y = _program(ng, write, n)
    want_s, want_m, want_y = _program(torch, write, n)
    np.testing.assert_allclose(got_s, want_s, rtol=1e-5)
    np.testing.assert_allclose(got_m, want_m, rtol=1e-5)
    np.testing.assert_allclose(got_y, want_y, rtol=1e-6)


def test_deferred_loss_still_fuses_with_backward_when_nothing_writes():
    x = ng.tensor([0.3, 0.1, 0.2], requires_grad=True)
    loss = (ng.tanh(x * 2) ** 2).sum()
    loss.backward()
    xt = torch.tensor([0.3, 0.1, 0.2], requires_grad=True)
    lt = (torch.tanh(xt * 2) ** 2).sum()
    lt.backward()
    np.testing.assert_allclose(loss.item(), lt.item(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-5)


def test_a_lazy_reader_of_a_computed_region_is_computed_before_the_region_is_written():
    for n in (3, 1 << 18):
        c = ng.ones(n) * 3 + 1
        c.numpy()  # computed, possibly into a pooled buffer
        d = c * 2  # lazy: reads c's memory
        c.add_(100)
        assert float(d.numpy()[0]) == 8.0


def _written_intermediate(lib, write: str):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    with lib.no_grad():
        if write == "mul_":
            y.mul_(0)
        else:
            y[1] = 7
    z = lib.tanh(y) * 3
    loss = (z * y).sum()
    loss.backward()
    return loss.item(), x.grad.numpy().copy()


@pytest.mark.parametrize("write", ["mul_", "setitem"])
def test_fused_backward_does_not_recompute_an_intermediate_written_outside_autograd(write):
    """Issue 15 case 2: the region's recomputation of y = x*2 would ignore the no_grad write into y."""
    got_loss, got_grad = _written_intermediate(ng, write)
    want_loss, want_grad = _written_intermediate(torch, write)
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-5)
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-5)


def _retained_then_written(lib, write: str):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    y.retain_grad()
    if write == "mul_":
        y.mul_(3)
    elif write == "setitem":
        y[0] = 5
    else:
        y.copy_(x * 4)
    (y * y).sum().backward()
    return y.grad.numpy().copy(), x.grad.numpy().copy()


@pytest.mark.parametrize("write", ["mul_", "setitem", "copy_"])
def test_retain_grad_follows_the_tensor_through_an_in_place_op(write):
    """Issue 15 case 6: y.grad is the gradient of y's value after the in-place op."""
    for got, want in zip(_retained_then_written(ng, write), _retained_then_written(torch, write)):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def _filled(lib, how: str):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = lib.tensor(2.0, requires_grad=True)
    y = x * 2
    if how == "zero_":
        y.zero_()
    elif how == "fill_number":
        y.fill_(3.0)
    else:
        y.fill_(v)
    (y * y + y).sum().backward()
    v_grad = v.grad.numpy().copy() if v.grad is not None else None
    return type(y.grad_fn).__name__ if lib is torch else y.grad_fn.name(), x.grad.numpy().copy(), v_grad


@pytest.mark.parametrize("how", ["zero_", "fill_number", "fill_tensor"])
def test_zero_and_fill_are_recorded_like_pytorch(how):
    """Issue 15 case 3: y = x*2; y.zero_() gave x.grad [2,2,2] (torch [0,0,0])."""
    got_name, got_x, got_v = _filled(ng, how)
    want_name, want_x, want_v = _filled(torch, how)
    assert got_name == want_name
    np.testing.assert_allclose(got_x, want_x)
    if want_v is None:
        assert got_v is None
    else:
        np.testing.assert_allclose(got_v, want_v)


@pytest.mark.parametrize("write", [lambda v: v.zero_(), lambda v: v.fill_(1.0), lambda v: v.mul_(2),
                                   lambda v: v.copy_(ng.ones(())), lambda v: v.__setitem__(0, 1.0)])
def test_in_place_on_a_view_of_a_leaf_that_requires_grad_raises_pytorchs_error(write):
    x = ng.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad is being used in an "
                                           "in-place operation"):
        write(x[0])
    np.testing.assert_array_equal(x.detach().numpy(), [[1.0, 2.0], [3.0, 4.0]])  # nothing was written


def test_fill_with_a_tensor_of_several_elements_is_refused_with_pytorchs_error():
    with pytest.raises(RuntimeError, match="fill_ only supports 0-dimension value tensor but got tensor with 1 "
                                           "dimensions"):
        ng.zeros(3).fill_(ng.ones(2))


def _step_then_read(lib, opt_name: str):
    lib.manual_seed(0)
    lin = lib.nn.Linear(3, 2)
    with lib.no_grad():
        lin.weight.copy_(lib.tensor([[0.1, 0.2, 0.3], [0.4, -0.5, 0.6]]))
        lin.bias.copy_(lib.tensor([0.1, -0.2]))
    scale = lib.tensor([2.0, 3.0], requires_grad=True)
    shift = lib.tensor([0.5, -0.5], requires_grad=True)
    opt = getattr(lib.optim, opt_name)(list(lin.parameters()) + [scale, shift], lr=0.1)
    x = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    out = lin(x) * scale + shift  # reads the parameters elementwise: deferred
    loss = (out * out).mean()
    loss.backward()
    opt.step()
    return loss.item(), out.detach().numpy().copy(), scale.detach().numpy().copy()


@pytest.mark.parametrize("opt_name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_reading_the_loss_after_the_optimizer_step_gives_the_forward_value(opt_name):
    """Issue 15 case 7: `loss.backward(); opt.step(); loss.item()` raised when the loss read a parameter."""
    for got, want in zip(_step_then_read(ng, opt_name), _step_then_read(torch, opt_name)):
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_batch_norm_running_stats_update_runs_pending_readers_first():
    for lib in (ng, torch):
        bn = lib.nn.BatchNorm1d(3)
        before = bn.running_mean * 2  # lazy in numgrad: reads the running mean
        bn(lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]]))
        np.testing.assert_array_equal(before.detach().numpy(), [0.0, 0.0, 0.0])
        np.testing.assert_allclose(bn.running_mean.detach().numpy(), [0.25, 0.35, 0.5], rtol=1e-6)


def test_memory_handed_to_numpy_by_asarray_is_safe_to_write():
    x = ng.tensor([1.0, 2.0, 3.0])
    y = x * 2  # lazy: reads x
    np.asarray(x)[0] = 100  # the array protocol computes pending readers first, as .numpy() does
    np.testing.assert_array_equal(y.numpy(), [2.0, 4.0, 6.0])


SECOND_BACKWARD = {
    "reshape": lambda L, x: x.reshape(2, 2).sum(),
    "slice": lambda L, x: x[1:].sum(),
    "expand": lambda L, x: x[:1].expand(3).sum(),
    "permute": lambda L, x: x.reshape(2, 2).permute(1, 0).sum(),
    "unsqueeze_mean": lambda L, x: x.unsqueeze(0).mean(),
    "add_sub_neg": lambda L, x: (-((x + 2) - 1)).sum(),
    "mul_scalar": lambda L, x: (x * 2).sum(),
    "mul_tensor": lambda L, x: (x * x).sum(),
    "tanh": lambda L, x: L.tanh(x).sum(),
    "advanced_index": lambda L, x: x[L.tensor([0, 2])].sum(),
}


def _backward_twice(lib, build):
    x = lib.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    s = build(lib, x)
    s.backward()
    try:
        s.backward()
    except RuntimeError as exc:
        assert "backward through the graph a second time" in str(exc)
        return "raised", x.grad.numpy().copy()
    return "ran", x.grad.numpy().copy()


@pytest.mark.parametrize("name", sorted(SECOND_BACKWARD))
def test_a_second_backward_runs_where_pytorch_saved_nothing_and_raises_where_it_did(name):
    """Issue 15 case 9: views and sums save only shapes; add/sub/neg read no operand."""
    got_outcome, got_grad = _backward_twice(ng, SECOND_BACKWARD[name])
    want_outcome, want_grad = _backward_twice(torch, SECOND_BACKWARD[name])
    assert got_outcome == want_outcome
    np.testing.assert_allclose(got_grad, want_grad)


NUMERICS = {
    "round_int64_max": lambda L: L.round(L.tensor([2 ** 63 - 1, -3])).tolist(),
    "floor_int": lambda L: L.floor(L.tensor([2 ** 63 - 1, -3])).tolist(),
    "int_pow_2": lambda L: (L.tensor([2, 3]) ** 2).tolist(),
    "sign_nan_and_zeros": lambda L: [str(v) for v in L.sign(L.tensor([float("nan"), -2.0, 0.0, -0.0])).tolist()],
    "flatten_1d_is_input": lambda L: (lambda t: t.flatten() is t)(L.tensor([1.0, 2.0])),
    "transpose_0d": lambda L: L.tensor(1.0).transpose(0, -1).tolist(),
}


@pytest.mark.parametrize("name", sorted(NUMERICS))
def test_numerics_match_pytorch(name):
    """Issue 15 case 11."""
    assert NUMERICS[name](ng) == NUMERICS[name](torch)


NAN = float("nan")
GRADS_AT_SPECIAL_POINTS = {
    "amax_nan": (lambda L, x: x.amax(), [1.0, NAN, 3.0]),
    "amax_dim_nan": (lambda L, x: x.amax(1), [[1.0, NAN], [2.0, 2.0]]),
    "amin_nan": (lambda L, x: x.amin(), [1.0, NAN, 3.0]),
    "max_nan": (lambda L, x: x.max(), [1.0, NAN, NAN]),
    "min_nan": (lambda L, x: x.min(), [[1.0, NAN], [2.0, -4.0]]),
    "max_dim_nan": (lambda L, x: x.max(0)[0], [[1.0, NAN], [2.0, 2.0]]),
    "max_ties": (lambda L, x: x.max(), [3.0, 1.0, 3.0]),
    "prod_nan": (lambda L, x: x.prod(), [1.0, NAN, 3.0]),
    "relu_nan": (lambda L, x: L.relu(x), [1.0, NAN, -3.0]),
    "sqrt_zero_signed": (lambda L, x: L.sqrt(x) * L.tensor([1.0, -1.0, 2.0]), [0.0, 0.0, 4.0]),
    "sqrt_zero": (lambda L, x: L.sqrt(x), [0.0, 1.0, 4.0]),
}


@pytest.mark.parametrize("fusion", [True, False], ids=["fusion-on", "fusion-off"])
@pytest.mark.parametrize("name", sorted(GRADS_AT_SPECIAL_POINTS))
def test_gradients_at_nan_zero_and_ties_match_pytorch(name, fusion):
    """Issue 15 case 11: NaN propagates through max-like gradients as in PyTorch; d sqrt(x)/dx at 0 is inf."""
    build, data = GRADS_AT_SPECIAL_POINTS[name]
    grads = []
    before = ng.is_fusion_enabled()
    ng.set_fusion(fusion)
    try:
        for lib in (ng, torch):
            x = lib.tensor(data, requires_grad=True)
            build(lib, x).sum().backward()
            grads.append(x.grad.numpy())
    finally:
        ng.set_fusion(before)
    np.testing.assert_array_equal(grads[0], grads[1])


def test_index_put_refuses_a_value_of_another_dtype_as_pytorch_does():
    x = ng.zeros(3)
    with pytest.raises(RuntimeError, match="Index put requires the source and destination dtypes match, got Float "
                                           "for the destination and Double for the source."):
        x[ng.tensor([0, 1])] = ng.tensor([1.0, 2.0], dtype=ng.float64)
    with pytest.raises(RuntimeError, match="got Float for the destination and Long for the source"):
        x.index_put_((ng.tensor([0]),), ng.tensor([1]))
    x[0:2] = ng.tensor([1.0, 2.0], dtype=ng.float64)  # through slices the value is cast, as in PyTorch
    x[ng.tensor([2])] = 7  # and so is a Python number
    assert x.tolist() == [1.0, 2.0, 7.0]


def test_integers_to_negative_powers_raise_pytorchs_error():
    with pytest.raises(RuntimeError, match="Integers to negative integer powers are not allowed."):
        ng.tensor([2, 3]) ** -1


def test_transpose_of_a_0d_tensor_checks_its_dims():
    with pytest.raises(IndexError, match=r"expected to be in range of \[-1, 0\], but got 2"):
        ng.tensor(1.0).transpose(0, 2)


def test_relu_passes_the_gradient_at_nan_as_pytorch_does():
    grads = []
    for lib in (ng, torch):
        x = lib.tensor([float("nan"), 1.0, -2.0], requires_grad=True)
        lib.relu(x).sum().backward()
        grads.append(x.grad.tolist())
    assert grads[0] == grads[1] == [1.0, 1.0, 0.0]


def _alias_written_after_recording(lib, how: str):
    x = lib.tensor([1.0, 2.0, 3.0])
    if how == "numpy":
        alias = x.numpy()
    elif how == "asarray":
        alias = np.asarray(x)
    elif how == "dlpack":
        alias = np.from_dlpack(x)
    else:
        alias = np.array([1.0, 2.0, 3.0], dtype=np.float32)
        x = lib.from_numpy(alias)
    y = x * 2  # recorded after the alias was taken
    alias[0] = 100
    return y.tolist()


@pytest.mark.parametrize("how", ["numpy", "asarray", "dlpack", "from_numpy"])
def test_an_op_reading_memory_numpy_can_write_sees_it_as_of_recording(how):
    """Issue 15 case 5: a = x.numpy(); y = x*2; a[0] = 100 gave y = [200, 4, 6] (torch [2, 4, 6])."""
    assert _alias_written_after_recording(ng, how) == _alias_written_after_recording(torch, how)


def test_ops_on_memory_numpy_cannot_see_stay_lazy():
    from numgrad.fusion.lazy import pending_op

    x = ng.tensor([1.0, 2.0, 3.0])
    y = x * 2
    assert pending_op(y) is not None  # nothing escaped: fused as before
    x.numpy()
    z = x * 3
    assert pending_op(z) is None  # x's memory escaped: computed when recorded
    w = z + 1
    assert pending_op(w) is not None  # z's own memory did not escape
