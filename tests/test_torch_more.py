"""Top-level functions and Tensor methods PyTorch scripts use that numgrad added late: global settings
(determinism, print options, matmul precision, inference mode), dtype helpers, in-place view ops and the
storage API, sampling fills, special functions, mode/histogram/unravel_index and window functions.

Values are checked against torch; gradients of the special functions by gradcheck here and against torch
in ``specs_special.py`` (the op registry); misuse by error type and text.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import numgrad as ng
from tests.helpers import assert_close

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


def _t(name):
    return getattr(torch, name)


def _n(name):
    return getattr(ng, name if name != "bool" else "bool")


# ------------------------------------------------------------------------------------------ global settings
def test_deterministic_flags_and_debug_mode():
    try:
        assert ng.are_deterministic_algorithms_enabled() is False
        ng.use_deterministic_algorithms(True, warn_only=True)
        assert ng.are_deterministic_algorithms_enabled() and ng.is_deterministic_algorithms_warn_only_enabled()
        assert ng.get_deterministic_debug_mode() == 1
        ng.set_deterministic_debug_mode("error")
        assert ng.get_deterministic_debug_mode() == 2 and not ng.is_deterministic_algorithms_warn_only_enabled()
        ng.set_deterministic_debug_mode(0)
        assert not ng.are_deterministic_algorithms_enabled()
        with pytest.raises(TypeError, match="argument 'mode' \\(position 1\\) must be bool, not int"):
            ng.use_deterministic_algorithms(1)
        with pytest.raises(RuntimeError, match="expected 0, 1, or 2, but got 3"):
            ng.set_deterministic_debug_mode(3)
        with pytest.raises(RuntimeError, match="expected one of `default`, `warn`, `error`, but got x"):
            ng.set_deterministic_debug_mode("x")
        with pytest.raises(TypeError, match="debug_mode must be str or int"):
            ng.set_deterministic_debug_mode(1.0)
    finally:
        ng.use_deterministic_algorithms(False)


def test_deterministic_mode_fills_uninitialized_memory_as_torch():
    try:
        ng.use_deterministic_algorithms(True)
        torch.use_deterministic_algorithms(True)
        for make in (lambda lib: lib.empty(3), lambda lib: lib.empty(2, dtype=lib.int32),
                     lambda lib: lib.empty(2, dtype=lib.uint8), lambda lib: lib.empty(2, dtype=lib.bool),
                     lambda lib: lib.empty_like(lib.ones(2)), lambda lib: lib.ones(2).new_empty(2),
                     lambda lib: lib.empty_strided((2, 2), (1, 2))):
            assert_close(make(ng), make(torch))
    finally:
        ng.use_deterministic_algorithms(False)
        torch.use_deterministic_algorithms(False)


def test_deterministic_mode_refuses_cuda_float_atomics():
    if not ng.cuda.is_available():
        pytest.skip("no CUDA (real or simulated)")
    idx = ng.tensor([0, 0, 1], device="cuda")
    try:
        ng.use_deterministic_algorithms(True)
        with pytest.raises(RuntimeError, match="index_put_\\(accumulate=True\\) on CUDA does not have a "
                                               "deterministic implementation"):
            ng.zeros(3, device="cuda").index_put_((idx,), ng.ones(3, device="cuda"), accumulate=True)
        # integer atomics give the same sum in any order: allowed
        out = ng.zeros(3, dtype=ng.int64, device="cuda").index_put_((idx,), ng.ones(3, dtype=ng.int64,
                                                                                    device="cuda"), accumulate=True)
        assert out.cpu().tolist() == [2, 1, 0]
        ng.use_deterministic_algorithms(True, warn_only=True)
        with pytest.warns(UserWarning, match="does not have a deterministic implementation"):
            out = ng.zeros(3, device="cuda").index_put_((idx,), ng.ones(3, device="cuda"), accumulate=True)
        assert out.cpu().tolist() == [2.0, 1.0, 0.0]
    finally:
        ng.use_deterministic_algorithms(False)
    # the CPU kernels are deterministic: nothing to refuse
    ng.use_deterministic_algorithms(True)
    try:
        assert ng.zeros(3).index_put_((ng.tensor([0, 0]),), ng.ones(2), accumulate=True).tolist() == [2.0, 0.0, 0.0]
    finally:
        ng.use_deterministic_algorithms(False)


def test_matmul_precision_warn_always_interop_threads():
    assert ng.get_float32_matmul_precision() == "highest"
    try:
        ng.set_float32_matmul_precision("medium")
        assert ng.get_float32_matmul_precision() == "medium"
        with pytest.warns(UserWarning, match="x is not one of 'highest', 'high', or 'medium'"):
            ng.set_float32_matmul_precision("x")
        assert ng.get_float32_matmul_precision() == "medium"
    finally:
        ng.set_float32_matmul_precision("highest")
    assert ng.is_warn_always_enabled() is False
    ng.set_warn_always(True)
    assert ng.is_warn_always_enabled()
    ng.set_warn_always(False)
    assert ng.get_num_interop_threads() >= 1
    with pytest.raises(RuntimeError, match="set_num_interop_threads expects a positive integer"):
        ng.set_num_interop_threads(0)


@pytest.mark.parametrize("options", [
    dict(precision=2), dict(sci_mode=True), dict(sci_mode=False, precision=6), dict(threshold=5, edgeitems=1),
    dict(linewidth=30), dict(profile="short"), dict(profile="full"),
])
def test_set_printoptions_matches_torch(options):
    values = [np.linspace(-3, 3, 7) / 7, np.arange(12.0).reshape(3, 4) * 1234.5, np.arange(2000.0) / 3,
              np.array([1e-5, 1.0, 2.0])]
    try:
        ng.set_printoptions(**options)
        torch.set_printoptions(**options)
        for v in values:
            assert repr(ng.tensor(v, dtype=ng.float32)) == repr(torch.tensor(v, dtype=torch.float32)), options
    finally:
        ng.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")
    assert repr(ng.tensor([1.23456])) == "tensor([1.2346])"


# ----------------------------------------------------------------------------------------- inference mode
def test_inference_mode_matches_torch():
    results = []
    for lib in (ng, torch):
        x = lib.ones(3)
        with lib.inference_mode():
            y = x * 2
            v = x[1:]
            inside = (y.is_inference(), v.is_inference(), lib.is_grad_enabled(), lib.is_inference_mode_enabled())
            with lib.inference_mode(False):
                off = (lib.is_grad_enabled(), lib.is_inference_mode_enabled(), lib.ones(1).is_inference())
        w = lib.ones(3, requires_grad=True)
        errors = []
        for f in (lambda: y * w, lambda: y.add_(1), lambda: y.requires_grad_(), lambda: lib.mm(y[None], w[:, None])):
            try:
                f()
                errors.append(None)
            except RuntimeError as e:
                errors.append(str(e))
        added = (y + w).grad_fn is not None  # add keeps neither operand: allowed
        normal = y.clone()
        results.append((inside, off, errors, added, lib.is_inference(y), normal.is_inference(),
                        lib.is_inference_mode_enabled()))
    ng_res, torch_res = results
    assert ng_res == torch_res


def test_inference_mode_decorators_and_clone():
    @ng.inference_mode
    def bare():
        return ng.ones(1) + 1

    @ng.inference_mode()
    def called():
        return ng.ones(1) + 1

    @ng.inference_mode(False)
    def off():
        return ng.ones(1)

    assert bare().is_inference() and called().is_inference() and not off().is_inference()
    assert ng.is_grad_enabled()
    w = ng.ones(2, requires_grad=True)
    with ng.inference_mode():
        x = ng.full((2,), 3.0)
    (x.clone() * w).sum().backward()  # a clone is a normal tensor
    assert w.grad.tolist() == [3.0, 3.0]
    with pytest.raises(TypeError, match="must be Tensor"):
        ng.is_inference(1)


# -------------------------------------------------------------------------------------------- dtype helpers
def test_promote_types_and_can_cast_match_torch():
    for a in DTYPES:
        for b in DTYPES:
            assert ng.promote_types(_n(a), _n(b)).name == str(ng.promote_types(_n(a), _n(b))).split(".")[-1]
            assert str(ng.promote_types(_n(a), _n(b))).split(".")[-1] == str(
                torch.promote_types(_t(a), _t(b))).split(".")[-1], (a, b)
            assert ng.can_cast(_n(a), _n(b)) == torch.can_cast(_t(a), _t(b)), (a, b)
    with pytest.raises(TypeError, match="argument 'type2' \\(position 2\\) must be torch.dtype, not int"):
        ng.promote_types(ng.int32, 3)
    with pytest.raises(TypeError, match="argument 'to' \\(position 2\\) must be torch.dtype, not str"):
        ng.can_cast(ng.float32, "x")


def test_typename_and_is_complex():
    assert ng.typename(ng.ones(2)) == "numgrad.FloatTensor"
    assert ng.typename(ng.ones(2, dtype=ng.int64)) == "numgrad.LongTensor"
    assert ng.typename(1) == torch.typename(1) == "int"
    assert ng.typename("a") == "str"
    assert ng.typename(ng.nn.Linear) == "numgrad.nn.modules.linear.Linear"
    assert ng.is_complex(ng.ones(2)) is False and ng.ones(2).is_complex() is False
    assert isinstance(ng.float32, ng.dtype) and ng.dtype is ng.DType
    with pytest.raises(TypeError, match="numgrad does not support complex dtypes"):
        ng.ones(2, dtype="complex64")
    with pytest.raises(AttributeError, match="numgrad has no complex dtypes"):
        ng.complex64  # noqa: B018


# ------------------------------------------------------------------------------------ in-place view ops
@pytest.mark.parametrize("op,args", [("unsqueeze_", (1,)), ("squeeze_", ()), ("squeeze_", (0,)), ("t_", ()),
                                     ("transpose_", (0, 2)), ("swapaxes_", (1, 2)), ("swapdims_", (0, 1))])
def test_inplace_view_ops_match_torch(op, args):
    shape = (2, 3) if op == "t_" else (1, 3, 2)
    data = np.arange(6.0).reshape(shape)
    x, tx = ng.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y, ty = x * 1, tx * 1
    assert getattr(y, op)(*args) is y
    getattr(ty, op)(*args)
    assert y.shape == tuple(ty.shape) and y.stride() == ty.stride()
    assert_close(y, ty)
    weights = np.arange(y.numel(), dtype=np.float64).reshape(y.shape)
    (y * ng.tensor(weights)).sum().backward()
    (ty * torch.tensor(weights)).sum().backward()
    assert_close(x.grad, tx.grad)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        getattr(ng.ones(shape, requires_grad=True), op)(*args)


def test_inplace_write_through_a_transposed_in_place_view_matches_torch():
    results = []
    for lib in (ng, torch):
        a = lib.arange(6.0, requires_grad=True)
        w = a.reshape(2, 3) * 1
        v = w[:, 1:]
        v.t_()
        v.mul_(lib.tensor([[2.0], [3.0]]))
        (w * lib.arange(6.0).reshape(2, 3)).sum().backward()
        results.append((w.tolist(), a.grad.tolist()))
    assert results[0] == results[1]


def test_inplace_view_of_view_writes_through():
    base = ng.zeros(2, 3)
    v = base.t()
    v.t_()
    v.fill_(1.0)
    assert base.tolist() == [[1.0] * 3] * 2
    row = ng.arange(6.0).reshape(2, 3)[1]
    row.unsqueeze_(0)
    assert row.shape == (1, 3) and row.storage_offset() == 3


# ----------------------------------------------------------------------------------------- storage API
def test_as_strided_storage_offset_and_data_ptr_match_torch():
    data = np.arange(12.0)
    x, tx = ng.tensor(data), torch.tensor(data)
    for size, stride, off in [((3, 3), (3, 1), 2), ((2, 2), (1, 2), None), ((4,), (3,), 0), ((3, 2), (1, 1), 1)]:
        assert_close(ng.as_strided(x, size, stride, off), torch.as_strided(tx, size, stride, off))
        assert_close(x.as_strided(size, stride, off), tx.as_strided(size, stride, off))
    view = x.reshape(3, 4)[1:, 1:]
    tview = tx.reshape(3, 4)[1:, 1:]
    assert view.storage_offset() == tview.storage_offset() == 5
    assert_close(view.as_strided((2,), (4,)), tview.as_strided((2,), (4,)))
    assert view.data_ptr() - x.data_ptr() == tview.data_ptr() - tx.data_ptr()
    y = ng.arange(6.0)
    assert y.as_strided_((2, 2), (2, 1), 1) is y and y.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(RuntimeError, match="setStorage: sizes \\[3, 3\\], strides \\[3, 1\\], storage offset 0, and "
                                           "itemsize 4 requiring a storage size of 36 are out of bounds for storage "
                                           "of size 12"):
        ng.ones(3).as_strided((3, 3), (3, 1))
    with pytest.raises(RuntimeError, match="mismatch in length of strides and shape"):
        ng.ones(3).as_strided((3,), (1, 1))
    for name in ("untyped_storage", "storage", "storage_type"):
        with pytest.raises(NotImplementedError, match="numgrad tensors have no Storage objects"):
            getattr(ng.ones(3), name)()


def test_as_strided_gradcheck_and_overlap():
    x = ng.randn(8, dtype=ng.float64, requires_grad=True)
    assert ng.autograd.gradcheck(lambda t: ng.as_strided(t, (3, 3), (2, 1), 1), (x,))
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    ng.as_strided(x, (3, 3), (2, 1), 1).sum().backward()
    torch.as_strided(tx, (3, 3), (2, 1), 1).sum().backward()
    assert_close(x.grad, tx.grad)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        ng.zeros(4).as_strided((2, 2), (1, 1)).add_(1)  # overlapping elements cannot be written


def test_empty_strided_resize_and_fill_diagonal():
    e = ng.empty_strided((2, 3), (1, 2), dtype=ng.float64)
    assert e.stride() == (1, 2) and e.dtype == ng.float64
    assert ng.ones(2, dtype=ng.int32).new_empty_strided((2, 2), (2, 1)).dtype == ng.int32
    for new_shape in [(2, 2), (3, 3), (6,)]:
        x, tx = ng.arange(6.0), torch.arange(6.0)
        x.resize_(*new_shape)
        tx.resize_(*new_shape)
        assert x.shape == tuple(tx.shape)
        keep = min(6, tx.numel())
        assert x.reshape(-1)[:keep].tolist() == tx.reshape(-1)[:keep].tolist()
    assert ng.zeros(4).resize_as_(ng.ones(2, 2)).shape == (2, 2)
    with pytest.raises(RuntimeError, match="cannot resize variables that require grad"):
        ng.ones(4, requires_grad=True).resize_(2)
    for shape, wrap in [((3, 3), False), ((7, 3), True), ((7, 3), False), ((2, 5), False), ((3, 3, 3), False)]:
        x, tx = ng.zeros(shape), torch.zeros(shape)
        assert_close(x.fill_diagonal_(2.0, wrap=wrap), tx.fill_diagonal_(2.0, wrap=wrap))
    with pytest.raises(RuntimeError, match="dimensions must larger than 1"):
        ng.zeros(3).fill_diagonal_(1)
    with pytest.raises(RuntimeError, match="all dimensions of input must be of equal length"):
        ng.zeros(2, 3, 3).fill_diagonal_(1)
    x = ng.ones(2, 2, requires_grad=True)
    y = x * 3
    y.fill_diagonal_(0.0)
    y.sum().backward()
    assert x.grad.tolist() == [[0.0, 3.0], [3.0, 0.0]]


# ------------------------------------------------------------------------------- other in-place methods
def test_inplace_arithmetic_methods_match_torch():
    data = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    assert_close(ng.tensor(data).cumsum_(1), torch.tensor(data).cumsum_(1))
    assert_close(ng.tensor(data).true_divide_(4), torch.tensor(data).true_divide_(4))
    assert_close(ng.tensor([0, 5, -3]).bitwise_not_(), torch.tensor([0, 5, -3]).bitwise_not_())
    assert ng.tensor([True, False]).bitwise_not_().tolist() == [False, True]
    assert_close(ng.tensor([1.0, 3.0]).ldexp_(ng.tensor([2, -1])), torch.tensor([1.0, 3.0]).ldexp_(torch.tensor([2, -1])))
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        ng.ones(2, dtype=ng.int64).true_divide_(2)
    x = ng.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    y.cumsum_(0)
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 2.0, 1.0]
    assert ng.tensor([1.0, 2.0]).apply_(lambda v: v * 10).tolist() == [10.0, 20.0]
    assert ng.tensor([[1.0], [2.0]]).map_(ng.tensor([3.0]), lambda a, b: a + b).tolist() == [[4.0], [5.0]]


def test_random_fills():
    ng.manual_seed(3)
    a = ng.zeros(200).random_(2, 5)
    ng.manual_seed(3)
    b = ng.zeros(200).random_(2, 5)
    assert a.tolist() == b.tolist() and set(a.tolist()) == {2.0, 3.0, 4.0}
    assert set(ng.zeros(200, dtype=ng.int64).random_(3).tolist()) == {0, 1, 2}
    r = ng.zeros(500, dtype=ng.uint8).random_()
    assert 0 <= int(r.min()) and int(r.max()) <= 255 and int(r.max()) > 200
    assert float(ng.zeros(500).random_().max()) <= 2 ** 24
    c = ng.zeros(4000, dtype=ng.float64).cauchy_(1.0, 2.0)
    assert abs(float(c.median()) - 1.0) < 0.3
    ln = ng.zeros(4000, dtype=ng.float64).log_normal_(0.5, 0.25)
    assert abs(float(ln.log().mean()) - 0.5) < 0.05 and abs(float(ln.log().std()) - 0.25) < 0.05
    geo = ng.zeros(4000, dtype=ng.float64).geometric_(0.25)
    assert float(geo.min()) >= 1 and abs(float(geo.mean()) - 4.0) < 0.4
    with pytest.raises(RuntimeError, match="random_ expects 'from' to be less than 'to', but got from=5 >= to=2"):
        ng.zeros(3).random_(5, 2)
    with pytest.raises(RuntimeError, match="geometric_ expects p to be in \\(0, 1\\), but got p=0"):
        ng.zeros(3).geometric_(0)
    with pytest.raises(RuntimeError, match="cauchy_ expects sigma > 0.0, but found sigma=-1"):
        ng.zeros(3).cauchy_(sigma=-1)
    with pytest.raises(RuntimeError, match="Cauchy distribution is a continuous probability distribution"):
        ng.zeros(3, dtype=ng.int64).cauchy_()
    with pytest.raises(RuntimeError, match="log_normal_ expects std > 0.0, but found std=0"):
        ng.zeros(3).log_normal_(std=0)


# --------------------------------------------------------------------------------------- special functions
_EDGES = np.array([-2.5, -2.0, -1.0, -0.5, -0.0, 0.0, 0.3, 1.0, 2.5, 7.0, 12.0, 40.0, 1e3, np.inf, np.nan])


@pytest.mark.parametrize("name", ["lgamma", "digamma", "i0"])
def test_special_values_match_torch(name):
    edges = _EDGES
    if name == "i0":  # torch's i0(inf) is nan (inf/inf in its Chebyshev form); numgrad's is inf, as NumPy's
        assert ng.i0(ng.tensor([np.inf, -np.inf])).tolist() == [np.inf, np.inf]
        edges = edges[np.abs(edges) != np.inf]
    for dtype in ("float64", "float32"):
        got = getattr(ng, name)(ng.tensor(edges, dtype=_n(dtype)))
        want = getattr(torch, name)(torch.tensor(edges, dtype=_t(dtype)))
        assert got.dtype.name == dtype
        assert_close(got, want, rtol=1e-12 if dtype == "float64" else 2e-6, atol=0)


def test_erfinv_polygamma_igamma_values_match_torch():
    u = np.array([-1.0, -0.999999, -0.7, -0.3, 0.0, 0.5, 0.7001, 0.99, 1.0, 1.5, np.nan])
    assert_close(ng.erfinv(ng.tensor(u, dtype=ng.float64)), torch.erfinv(torch.tensor(u)), rtol=1e-10, atol=1e-14)
    x = np.array([-2.5, -0.5, 0.1, 0.5, 1.0, 2.5, 7.0, 40.0])
    for n in range(5):
        assert_close(ng.polygamma(n, ng.tensor(x, dtype=ng.float64)), torch.polygamma(n, torch.tensor(x)),
                     rtol=1e-10, atol=1e-12)
    a = np.array([0.0, 0.0, 0.5, 1.0, 3.0, 10.0, 0.5, 2.0, 50.0, np.inf, 1.0, -1.0])
    z = np.array([1.0, 0.0, 0.2, 1.0, 2.0, 12.0, 0.0, 30.0, 45.0, 1.0, np.inf, 1.0])
    for name in ("igamma", "igammac"):
        assert_close(getattr(ng, name)(ng.tensor(a, dtype=ng.float64), ng.tensor(z, dtype=ng.float64)),
                     getattr(torch, name)(torch.tensor(a), torch.tensor(z)), rtol=1e-9, atol=1e-14)
    ai, bi = np.array([12, -18, 0, 7, 0, 2 ** 40]), np.array([8, 12, 0, 0, -5, 6])
    assert_close(ng.gcd(ng.tensor(ai), ng.tensor(bi)), torch.gcd(torch.tensor(ai), torch.tensor(bi)))
    assert_close(ng.lcm(ng.tensor(ai), ng.tensor(bi)), torch.lcm(torch.tensor(ai), torch.tensor(bi)))
    f, g = np.array([1.0, -1.0, 0.0, 3.5], np.float32), np.array([2.0, -2.0, 1.0, 0.0], np.float32)
    assert ng.nextafter(ng.tensor(f), ng.tensor(g)).numpy().tobytes() == \
        torch.nextafter(torch.tensor(f), torch.tensor(g)).numpy().tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nextafter_bitwise_equal_to_torch(dtype):
    fi = np.finfo(dtype)
    x = np.array([0.0, -0.0, 1.0, -1.0, 0.5, fi.tiny, -fi.tiny, fi.smallest_subnormal, fi.max, -fi.max, np.inf, -np.inf,
                  np.nan, 3.0, 1e-3, 1.0], dtype=dtype)
    y = np.array([-1.0, 0.0, 5.0, 0.0, -5.0, -5.0, 5.0, -5.0, np.inf, 5.0, 0.0, 0.0, 1.0, 3.0, -5.0, np.nan], dtype=dtype)
    got = ng.nextafter(ng.tensor(x), ng.tensor(y)).numpy()
    want = torch.nextafter(torch.tensor(x), torch.tensor(y)).numpy()
    assert got.tobytes() == want.tobytes() or np.array_equal(got, want, equal_nan=True) and \
        np.array_equal(np.signbit(got), np.signbit(want))
    with pytest.raises(NotImplementedError, match="nextafter: numgrad computes float16 in float32"):
        ng.nextafter(ng.ones(2, dtype=ng.float16), ng.zeros(2, dtype=ng.float16))


def test_special_gradients_gradcheck():
    rng = np.random.default_rng(0)
    pos = ng.tensor(np.abs(rng.standard_normal(5)) + 0.4, requires_grad=True)
    unit = ng.tensor(np.tanh(rng.standard_normal(5)) * 0.9, requires_grad=True)
    signed = ng.tensor(rng.standard_normal(5) * 3, requires_grad=True)
    a = ng.tensor(np.abs(rng.standard_normal(5)) + 0.5)
    for fn, x in [(ng.lgamma, pos), (ng.digamma, pos), (lambda t: ng.polygamma(2, t), pos), (ng.erfinv, unit),
                  (ng.i0, signed), (lambda t: ng.igamma(a, t), pos), (lambda t: ng.igammac(a, t), pos),
                  (lambda t: ng.mvlgamma(t + 1.0, 2), pos), (lambda t: ng.frexp(t)[0], signed),
                  (lambda t: ng.renorm(t.reshape(5, 1) * ng.ones(1, 2, dtype=ng.float64), 2, 0, 1.0), signed)]:
        assert ng.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-6, rtol=1e-4)
    # second derivatives come from the same rows (digamma -> polygamma(1) -> polygamma(2))
    assert ng.autograd.gradgradcheck(ng.lgamma, (pos,), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_special_chain_fuses_into_one_kernel():
    x = ng.rand(16) + 0.5
    chain = ng.lgamma(x) * ng.digamma(x) + ng.erfinv(x * 0.5)
    assert chain._is_lazy or not ng.is_fusion_enabled()  # still one pending fused region
    expected = torch.lgamma(torch.tensor(x.numpy())) * torch.digamma(torch.tensor(x.numpy())) + \
        torch.erfinv(torch.tensor(x.numpy()) * 0.5)
    assert_close(chain, expected, rtol=1e-5, atol=1e-6)


def test_special_inplace_forms_and_errors():
    data = np.array([0.5, 1.5, 3.0])
    for name in ("lgamma", "digamma", "erfinv", "i0"):
        inp = data / 4 if name == "erfinv" else data
        assert_close(getattr(ng.tensor(inp), name + "_")(), getattr(torch.tensor(inp), name + "_")())
    assert_close(ng.tensor(data).polygamma_(2), torch.tensor(data).polygamma_(2))
    assert_close(ng.tensor(data + 1).mvlgamma_(2), torch.tensor(data + 1).mvlgamma_(2))
    assert_close(ng.tensor(data).igamma_(ng.tensor(data)), torch.tensor(data).igamma_(torch.tensor(data)))
    assert_close(ng.tensor([12, 18]).gcd_(ng.tensor([8, 4])), torch.tensor([12, 18]).gcd_(torch.tensor([8, 4])))
    assert_close(ng.tensor([4, 6]).lcm_(ng.tensor([6, 4])), torch.tensor([4, 6]).lcm_(torch.tensor([6, 4])))
    m = np.array([[3.0, 4.0], [0.3, 0.4]])
    assert_close(ng.tensor(m).renorm_(2, 0, 1.0), torch.tensor(m).renorm_(2, 0, 1.0))
    with pytest.raises(RuntimeError, match="\"gcd_cpu\" not implemented for 'Float'"):
        ng.gcd(ng.ones(2), ng.ones(2))
    with pytest.raises(RuntimeError, match="polygamma\\(n, x\\) does not support negative n."):
        ng.polygamma(-1, ng.ones(2))
    with pytest.raises(RuntimeError, match="All elements must be greater than \\(p-1\\)/2"):
        ng.mvlgamma(ng.ones(2), 3)
    with pytest.raises(NotImplementedError, match="the derivative for 'igamma: input' is not implemented."):
        ng.igamma(ng.ones(2, requires_grad=True), ng.ones(2))
    with pytest.raises(RuntimeError, match="renorm: expected maxnorm to be >= 0 but got -1"):
        ng.renorm(ng.ones(2, 2), 2, 0, -1)


def test_frexp_matches_torch():
    for dtype in ("float32", "float64"):
        v = np.array([8.0, 0.75, -3.0, 0.0, -0.0, 1e-30, np.inf, -np.inf, np.nan, 1.0, 0.9999999, 6e4])
        m, e = ng.frexp(ng.tensor(v, dtype=_n(dtype)))
        tm, te = torch.frexp(torch.tensor(v, dtype=_t(dtype)))
        assert_close(m, tm, rtol=0, atol=0)
        assert e.dtype == ng.int32 and e.tolist() == te.tolist()
    assert ng.frexp(ng.ones(1)).mantissa.tolist() == [0.5]
    with pytest.raises(RuntimeError, match="torch.frexp\\(\\) only supports floating-point dtypes"):
        ng.frexp(ng.ones(2, dtype=ng.int64))


# ----------------------------------------------------------------------------- mode, histogram, indices
def test_mode_matches_torch():
    x = np.array([[1.0, 2.0, 2.0, 3.0, 3.0, 1.0], [5.0, 4.0, 4.0, 5.0, 0.0, 0.0]])
    for kwargs in (dict(dim=1), dict(dim=0), dict(dim=-1, keepdim=True)):
        got, want = ng.mode(ng.tensor(x), **kwargs), torch.mode(torch.tensor(x), **kwargs)
        assert_close(got.values, want.values)
        assert got.indices.tolist() == want.indices.tolist()
    got, want = ng.tensor([2, 1, 1, 2, 3]).mode(), torch.tensor([2, 1, 1, 2, 3]).mode()
    assert (got.values.item(), got.indices.item()) == (want.values.item(), want.indices.item())
    with pytest.raises(IndexError, match="mode\\(\\): Expected reduction dim 0 to have non-zero size."):
        ng.mode(ng.ones(0))


def test_histogram_matches_torch():
    x = np.array([1.0, 2.0, 1.0, 2.5, 7.0, 3.0, 3.0])
    w = np.arange(1.0, 8.0)
    cases = [((3,), {}), ((4,), dict(range=(0.0, 4.0), weight=True, density=True)), ((5,), dict(density=True)),
             (("edges",), {})]
    for args, kwargs in cases:
        nargs = (ng.tensor([0.0, 1.5, 3.0]),) if args == ("edges",) else args
        targs = (torch.tensor([0.0, 1.5, 3.0]),) if args == ("edges",) else args
        nk = dict(kwargs, weight=ng.tensor(w, dtype=ng.float32)) if kwargs.get("weight") else kwargs
        tk = dict(kwargs, weight=torch.tensor(w, dtype=torch.float32)) if kwargs.get("weight") else kwargs
        got, want = ng.histogram(ng.tensor(x), *nargs, **nk), torch.histogram(torch.tensor(x, dtype=torch.float32),
                                                                             *targs, **tk)
        assert_close(got.hist, want.hist)
        assert_close(got.bin_edges, want.bin_edges)
    got, want = ng.histogram(ng.full((3,), 2.0), 2), torch.histogram(torch.full((3,), 2.0), 2)
    assert_close(got.bin_edges, want.bin_edges)
    with pytest.raises(NotImplementedError, match="\"histogramdd\" not implemented for 'Long'"):
        ng.histogram(ng.tensor([1, 2]), 3)
    with pytest.raises(RuntimeError, match="min should not exceed max, but got min 2 max 1"):
        ng.histogram(ng.ones(3), 3, range=(2.0, 1.0))


def test_histogramdd_matches_torch():
    pts = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.5, 1.5]])
    w = np.array([1.0, 2.0, 4.0, 8.0, 3.0])
    cases = [(dict(bins=[3, 3]), True), (dict(bins=2, range=[0.0, 1.0, 0.0, 1.0], density=True), False),
             (dict(bins="edges"), False), (dict(bins=4, density=True), True)]
    for kwargs, weighted in cases:
        nk, tk = dict(kwargs), dict(kwargs)
        if kwargs["bins"] == "edges":
            nk["bins"] = [ng.tensor([0.0, 1.0, 2.0]), ng.tensor([0.0, 2.0])]
            tk["bins"] = [torch.tensor([0.0, 1.0, 2.0]), torch.tensor([0.0, 2.0])]
        if weighted:
            nk["weight"], tk["weight"] = ng.tensor(w, dtype=ng.float32), torch.tensor(w, dtype=torch.float32)
        got = ng.histogramdd(ng.tensor(pts, dtype=ng.float32), **nk)
        want = torch.histogramdd(torch.tensor(pts, dtype=torch.float32), **tk)
        assert_close(got.hist, want.hist)
        assert len(got.bin_edges) == len(want.bin_edges)
        for a, b in zip(got.bin_edges, want.bin_edges):
            assert_close(a, b)
    with pytest.raises(RuntimeError, match="The size of bins must be equal to the innermost dimension"):
        ng.histogramdd(ng.tensor(pts), bins=[2, 2, 2])
    with pytest.raises(RuntimeError, match="for a 2-dimensional histogram range should have 4 elements, but got 2"):
        ng.histogramdd(ng.tensor(pts), bins=2, range=[0.0, 1.0])
    assert ng.ones(2).is_pinned() is False and ng.ones(2).is_shared() is False


def test_unravel_index_and_ger_match_torch():
    for idx, shape in [([4, 1, 6, -1], (2, 3)), ([[0, 23], [5, 7]], (2, 3, 4)), ([3], 5)]:
        got = ng.unravel_index(ng.tensor(idx), shape)
        want = torch.unravel_index(torch.tensor(idx), shape)
        assert [g.tolist() for g in got] == [w.tolist() for w in want]
    with pytest.raises(TypeError, match="expected 'indices' to be integer dtype, but got"):
        ng.unravel_index(ng.tensor([5.0]), (2, 3))
    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])
    assert_close(ng.ger(ng.tensor(a), ng.tensor(b)), torch.ger(torch.tensor(a), torch.tensor(b)))


# ------------------------------------------------------------------------------------------- windows
@pytest.mark.parametrize("name,extra", [("hann_window", ()), ("hamming_window", (0.5, 0.3)), ("bartlett_window", ()),
                                        ("blackman_window", ()), ("kaiser_window", (5.0,))])
def test_window_functions_match_torch(name, extra):
    for length in (0, 1, 2, 5, 8):
        for periodic in (True, False):
            for dtype in ("float32", "float64"):
                got = getattr(ng, name)(length, periodic, *extra, dtype=_n(dtype))
                want = getattr(torch, name)(length, periodic, *extra, dtype=_t(dtype))
                assert got.dtype.name == dtype
                assert_close(got, want, rtol=1e-5, atol=1e-6 if dtype == "float32" else 1e-12)
    assert_close(getattr(ng, name)(6), getattr(torch, name)(6), rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match=f"{name} requires non-negative window_length, got window_length=-1"):
        getattr(ng, name)(-1)
    with pytest.raises(RuntimeError, match=f"{name} expects floating point dtypes"):
        getattr(ng, name)(3, dtype=ng.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert getattr(ng, name)(4, requires_grad=True).requires_grad



# ------------------------------------------------------------------------- real-only complex API, misc
def test_complex_api_on_real_tensors_matches_torch():
    v = np.array([1.0, -2.0, np.nan, 0.0])
    x, tx = ng.tensor(v), torch.tensor(v)
    for name in ("conj", "conj_physical", "resolve_conj", "resolve_neg", "real"):
        assert getattr(ng, name)(x) is x and (getattr(torch, name)(tx) is tx)
    assert x.real is x and x.conj() is x and not x.is_conj() and not x.is_neg() and not ng.is_conj(x)
    assert_close(ng.angle(x), torch.angle(tx))
    assert_close(ng.angle(ng.tensor([1, -2])), torch.angle(torch.tensor([1, -2])))
    g, tg = ng.tensor([1.0, -2.0], requires_grad=True), torch.tensor([1.0, -2.0], requires_grad=True)
    ng.angle(g).sum().backward()
    torch.angle(tg).sum().backward()
    assert_close(g.grad, tg.grad)
    m = np.arange(24.0).reshape(2, 3, 4)
    assert_close(ng.tensor(m).mH, torch.tensor(m).mH)
    assert_close(ng.adjoint(ng.tensor(m)), torch.adjoint(torch.tensor(m)))
    assert_close(ng.tensor(m[0]).H, torch.tensor(m[0]).H)
    for fn, exc, text in [(lambda: x.imag, RuntimeError, "imag is not implemented for tensors with non-complex"),
                          (lambda: ng.view_as_real(x), RuntimeError, "view_as_real is only supported for complex"),
                          (lambda: ng.ones(2, 2, 2).H, RuntimeError, "tensor.H is only supported on matrices"),
                          (lambda: ng.view_as_complex(ng.ones(2, 2)), TypeError, "numgrad has no complex dtypes"),
                          (lambda: ng.polar(x, x), TypeError, "numgrad has no complex dtypes"),
                          (lambda: ng.complex(x, x), TypeError, "numgrad has no complex dtypes"),
                          (lambda: x.cfloat(), TypeError, "numgrad has no complex dtypes")]:
        with pytest.raises(exc, match=text):
            fn()


def test_gradient_matches_torch_values_and_grads():
    data = np.array([[1.0, 4.0, 9.0, 16.0], [2.0, 3.0, 5.0, 4.0], [0.5, 0.0, 1.0, 2.0]])
    for kwargs in (dict(), dict(spacing=2.0, edge_order=2), dict(spacing=[1.0, 3.0], dim=(0, 1)), dict(dim=1)):
        x, tx = ng.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        got, want = ng.gradient(x, **kwargs), torch.gradient(tx, **kwargs)
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert_close(a, b)
        sum(o.sum() * (i + 1) for i, o in enumerate(got)).backward()
        sum(o.sum() * (i + 1) for i, o in enumerate(want)).backward()
        assert_close(x.grad, tx.grad)
    with pytest.raises(RuntimeError, match="expected each dimension size to be at least edge_order\\+1"):
        ng.gradient(ng.tensor([1.0, 2.0]), edge_order=2)


def test_misc_functions_match_torch():
    for size, fill in ((2, -1), (5, -7)):
        a = [[0, 1], [1, 0], [1, 1]]
        assert ng.nonzero_static(ng.tensor(a), size=size, fill_value=fill).tolist() == \
            torch.nonzero_static(torch.tensor(a), size=size, fill_value=fill).tolist()
    assert ng.tensor([0, 3, 0, 4]).nonzero_static(size=1).tolist() == [[1]]
    assert ng.empty_permuted((2, 3, 4), (0, 2, 1)).stride() == torch.empty_permuted((2, 3, 4), (0, 2, 1)).stride()
    buf = bytearray(np.arange(4, dtype=np.float32).tobytes())
    fb = ng.frombuffer(buf, dtype=ng.float32, count=2, offset=4)
    assert fb.tolist() == [1.0, 2.0]
    fb[0] = 9.0  # shares the buffer's memory, as in PyTorch
    assert np.frombuffer(buf, dtype=np.float32)[1] == 9.0
    x, tx = ng.zeros(6, requires_grad=True), torch.zeros(6, requires_grad=True)
    s, ts = ng.ones(2, 2, requires_grad=True), torch.ones(2, 2, requires_grad=True)
    out, tout = ng.as_strided_scatter(x * 1, s * 2, (2, 2), (1, 2), 1), torch.as_strided_scatter(tx * 1, ts * 2,
                                                                                                 (2, 2), (1, 2), 1)
    assert_close(out, tout)
    w = np.arange(6.0)
    (out * ng.tensor(w, dtype=ng.float32)).sum().backward()
    (tout * torch.tensor(w, dtype=torch.float32)).sum().backward()
    # the overwritten elements get no gradient; torch 2.13 returns the complement ([0, 1, 2, 3, 4, 0]) for input
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 0.0, 0.0, 5.0]
    assert_close(s.grad, ts.grad)
    xs = ng.randn(6, dtype=ng.float64, requires_grad=True)
    ss = ng.randn(2, 2, dtype=ng.float64, requires_grad=True)
    assert ng.autograd.gradcheck(lambda a, b: ng.as_strided_scatter(a, b, (2, 2), (1, 2), 1), (xs, ss))
    assert [c.shape for c in ng.unsafe_split(ng.zeros(5), 2)] == [tuple(c.shape) for c in torch.unsafe_split(
        torch.zeros(5), 2)]
    assert [c.shape for c in ng.zeros(4, 2).unsafe_chunk(2)] == [tuple(c.shape) for c in torch.zeros(4, 2).unsafe_chunk(2)]
    assert_close(ng.tensor([1, 2]).bitwise_left_shift_(2), torch.tensor([1, 2]).bitwise_left_shift_(2))
    assert_close(ng.tensor([8, 5]).bitwise_right_shift_(1), torch.tensor([8, 5]).bitwise_right_shift_(1))
    assert ng.ones(2, 3, 4).permute(2, 0, 1).dim_order() == torch.ones(2, 3, 4).permute(2, 0, 1).dim_order()
    y = ng.ones(3)
    assert y.is_set_to(y) and not y.is_set_to(y.clone()) and y.const_data_ptr() == y.data_ptr()
    assert ng.set_flush_denormal(True) is False
    ng.manual_seed(0)
    p = ng.poisson(ng.full((4000,), 3.0, dtype=ng.float64))
    assert p.dtype == ng.float64 and abs(float(p.mean()) - 3.0) < 0.15 and float(p.min()) >= 0
    with pytest.raises(RuntimeError, match="invalid Poisson rate, expected rate to be non-negative"):
        ng.poisson(ng.tensor([-1.0]))


def test_index_reduce_matches_torch():
    src = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    for reduce in ("prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            x, tx = ng.ones(3, 2, dtype=ng.float64, requires_grad=True), torch.ones(3, 2, dtype=torch.float64,
                                                                                 requires_grad=True)
            s, ts = ng.tensor(src, requires_grad=True), torch.tensor(src, requires_grad=True)
            out = ng.index_reduce(x * 1, 0, ng.tensor([0, 2, 0]), s, reduce, include_self=include_self)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch: "index_reduce() is in beta"
                tout = torch.index_reduce(tx * 1, 0, torch.tensor([0, 2, 0]), ts, reduce, include_self=include_self)
            assert_close(out, tout)
            (out * ng.tensor(src)).sum().backward()
            (tout * torch.tensor(src)).sum().backward()
            assert_close(x.grad, tx.grad)
            assert_close(s.grad, ts.grad)
    assert_close(ng.zeros(2, 3).index_reduce_(1, ng.tensor([2, 2]), ng.tensor([[1.0, 5.0], [3.0, 2.0]]), "amax"),
                 torch.zeros(2, 3).index_reduce_(1, torch.tensor([2, 2]), torch.tensor([[1.0, 5.0], [3.0, 2.0]]),
                                                 "amax"))
    with pytest.raises(RuntimeError, match="Expected reduce to be one of prod, mean, amax or amin but got sum"):
        ng.index_reduce(ng.ones(2), 0, ng.tensor([0]), ng.ones(1), "sum")
    with pytest.raises(RuntimeError, match="Number of indices \\(2\\) should be equal to source.size\\(dim\\)"):
        ng.index_reduce(ng.ones(3, 2), 0, ng.tensor([0, 1]), ng.ones(3, 2), "mean")


def test_functional_ops_under_their_top_level_names():
    x = np.random.default_rng(0).standard_normal((1, 4, 3, 3)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((2, 4, 2, 2)).astype(np.float32)
    assert_close(ng.conv2d(ng.tensor(x), ng.tensor(w), padding=1), torch.conv2d(torch.tensor(x), torch.tensor(w),
                                                                                 padding=1), rtol=1e-5, atol=1e-5)
    assert_close(ng.pixel_shuffle(ng.tensor(x), 2), torch.pixel_shuffle(torch.tensor(x), 2))
    v = np.random.default_rng(2).standard_normal((1, 2, 3, 3, 3)).astype(np.float32)
    k = np.random.default_rng(3).standard_normal((2, 3, 2, 2, 2)).astype(np.float32)
    assert_close(ng.conv3d(ng.tensor(v), ng.tensor(k).transpose(0, 1)),
                 torch.conv3d(torch.tensor(v), torch.tensor(k).transpose(0, 1)), rtol=1e-5, atol=1e-5)
    assert_close(ng.conv_transpose3d(ng.tensor(v), ng.tensor(k), stride=2),
                 torch.conv_transpose3d(torch.tensor(v), torch.tensor(k), stride=2), rtol=1e-5, atol=1e-5)
    v = np.array([-1.0, 0.2, 0.7])
    assert_close(ng.hardshrink(ng.tensor(v), 0.5), torch.hardshrink(torch.tensor(v), 0.5))
    assert_close(ng.tensor(v).hardshrink(), torch.tensor(v).hardshrink())
    assert_close(ng.relu_(ng.tensor(v)), torch.relu_(torch.tensor(v)))


@pytest.mark.parametrize("module", [
    "numgrad.ops.torch_globals", "numgrad.ops.tensor_storage", "numgrad.ops.inplace_more", "numgrad.ops.special_math",
    "numgrad.ops.stats_more", "numgrad.ops.windows", "numgrad.ir.special", "numgrad.kernels.settings",
    "numgrad._format", "numgrad.autograd.grad_mode", "numgrad.ops.complex_api", "numgrad.ops.misc_torch",
])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
