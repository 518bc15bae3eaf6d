"""scatter_reduce / index_reduce with reduce='prod': values against torch for several shapes, dims and dtypes,
include_self both ways, duplicate indices, zeros in a group (one and several, in self and in src), gradients
against finite differences (float64 gradcheck) and against torch's, double backward, and misuse by error type
and text.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng
from tests.helpers import assert_close

pytestmark = pytest.mark.filterwarnings("ignore:index_reduce\\(\\) is in beta")  # torch's warning

# (self shape, dim, index shape): duplicates on purpose, index smaller than self in the other dims
CASES = [((5,), 0, (7,)), ((3, 4), 0, (5, 4)), ((3, 4), 1, (2, 6)), ((3, 4), -1, (3, 3)), ((2, 3, 4), 1, (2, 5, 3))]


def _case(rng, shape, dim, ishape, dtype="float64", zeros=0.0):
    """self, index and src as NumPy arrays; ``zeros`` is the fraction of src (and self) entries set to 0."""
    size = shape[dim]
    index = rng.integers(0, size, size=ishape)
    if dtype == "bool":
        return rng.random(shape) > 0.3, index, rng.random(ishape) > 0.3
    if dtype.startswith("float") or dtype == "bfloat16":
        x, src = rng.uniform(0.5, 1.5, shape), rng.uniform(0.5, 1.5, ishape) * rng.choice([-1, 1], ishape)
    else:  # small integers: the products stay in range of every integer dtype
        x, src = rng.integers(1, 3, shape), rng.integers(-1, 3, ishape) if dtype != "uint8" else rng.integers(0, 3, ishape)
    if zeros:
        x = np.where(rng.random(shape) < zeros, 0, x)
        src = np.where(rng.random(ishape) < zeros, 0, src)
    return x, index, src


def _pair(arr, dtype, requires_grad=False):
    n = ng.tensor(np.asarray(arr), dtype=getattr(ng, dtype), requires_grad=requires_grad)
    t = torch.tensor(np.asarray(arr), dtype=getattr(torch, dtype), requires_grad=requires_grad)
    return n, t


# ------------------------------------------------------------------------------------------------ forward
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool",
                                   "float16", "bfloat16"])
def test_scatter_reduce_prod_values_match_torch(dtype):
    rng = np.random.default_rng(0)
    tol = dict(rtol=2e-3, atol=1e-3) if dtype in ("float16", "bfloat16") else dict(rtol=1e-6, atol=0)
    for shape, dim, ishape in CASES:
        x, index, src = _case(rng, shape, dim, ishape, dtype, zeros=0.1)
        (nx, tx), (ns, ts) = _pair(x, dtype), _pair(src, dtype)
        ni, ti = ng.tensor(index), torch.tensor(index)
        for include_self in (True, False):
            out = ng.scatter_reduce(nx, dim, ni, ns, "prod", include_self=include_self)
            ref = torch.scatter_reduce(tx, dim, ti, ts, "prod", include_self=include_self)
            assert out.dtype == nx.dtype
            if dtype == "bfloat16":  # NumPy has no bfloat16
                out, ref = out.float(), ref.float()
            assert_close(out, ref, msg=f"{shape} {dim} {include_self}",
                         **tol)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "uint8", "float16"])
def test_index_reduce_prod_values_match_torch(dtype):
    rng = np.random.default_rng(1)
    tol = dict(rtol=2e-3, atol=1e-3) if dtype == "float16" else dict(rtol=1e-6, atol=0)
    for shape, dim in [((5,), 0), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), -2)]:
        d = dim % len(shape)
        n = 2 * shape[d] + 1
        sshape = shape[:d] + (n,) + shape[d + 1:]
        x, _, src = _case(rng, shape, d, sshape, dtype, zeros=0.1)
        index = rng.integers(0, shape[d], size=n)
        (nx, tx), (ns, ts) = _pair(x, dtype), _pair(src, dtype)
        for include_self in (True, False):
            out = ng.index_reduce(nx, dim, ng.tensor(index), ns, "prod", include_self=include_self)
            ref = torch.index_reduce(tx, dim, torch.tensor(index), ts, "prod", include_self=include_self)
            assert_close(out, ref, msg=f"{shape} {dim} {include_self}", **tol)
        # the in-place forms write into self
        y = nx.clone()
        assert y.index_reduce_(dim, ng.tensor(index), ns, "prod") is y
        assert_close(y, tx.clone().index_reduce_(dim, torch.tensor(index), ts, "prod"), **tol)


def test_prod_special_values_and_edges_match_torch():
    i = [0, 0, 0, 1, 1, 2]
    # integer products wrap around in the dtype, as in torch
    for dtype in ("int8", "uint8", "int32"):
        src = [100, 7, 3, 200, 2, 5] if dtype != "int8" else [100, 7, -3, 20, 20, 5]
        (nx, tx), (ns, ts) = _pair(np.ones(3, np.int64), dtype), _pair(src, dtype)
        assert ng.scatter_reduce(nx, 0, ng.tensor(i), ns, "prod").tolist() == \
            torch.scatter_reduce(tx, 0, torch.tensor(i), ts, "prod").tolist()
    # NaN and inf follow IEEE arithmetic (0 * inf is NaN)
    (nx, tx), (ns, ts) = _pair([1.0, 2.0, -1.0], "float32"), _pair([np.nan, 0.0, np.inf, 0.0, -np.inf, 3.0],
                                                                     "float32")
    for include_self in (True, False):
        assert_close(ng.scatter_reduce(nx, 0, ng.tensor(i), ns, "prod", include_self=include_self),
                     torch.scatter_reduce(tx, 0, torch.tensor(i), ts, "prod", include_self=include_self))
    # an empty index leaves self as it is, include_self or not
    x = ng.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    for include_self in (True, False):
        out = ng.scatter_reduce(x, 0, ng.zeros(0, 2, dtype=ng.int64), ng.ones(0, 2), "prod", include_self=include_self)
        assert out.tolist() == [[1.0, 2.0], [3.0, 4.0]]
        assert ng.index_reduce(x, 1, ng.zeros(0, dtype=ng.int64), ng.ones(2, 0), "prod",
                               include_self=include_self).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    out.sum().backward()
    assert x.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    # 0-d self, int32 index, src larger than index
    assert ng.scatter_reduce(ng.tensor(3.0), 0, ng.tensor(0), ng.tensor(2.0), "prod").item() == 6.0
    assert ng.scatter_reduce(ng.tensor(3.0), 0, ng.tensor([0, 0]), ng.tensor([2.0, 5.0]), "prod",
                             include_self=False).item() == 10.0
    assert ng.index_reduce(ng.tensor(3.0), 0, ng.tensor([0]), ng.tensor(2.0), "prod").item() == 6.0
    assert ng.scatter_reduce(ng.ones(3), 0, ng.tensor([2, 2], dtype=ng.int32), ng.tensor([2.0, 3.0, 9.0]),
                             "prod").tolist() == [1.0, 1.0, 6.0]
    # a non-contiguous self and src
    base = np.arange(1.0, 13.0).reshape(3, 4)
    (nx, tx), (ns, ts) = _pair(base, "float64"), _pair(base[::-1].copy(), "float64")
    idx = np.array([[0, 2, 2], [1, 0, 0], [2, 2, 1], [0, 0, 0]])
    assert_close(ng.scatter_reduce(nx.t(), 1, ng.tensor(idx), ns.t(), "prod"),
                 torch.scatter_reduce(tx.t(), 1, torch.tensor(idx), ts.t(), "prod"))
    # the Tensor methods, in place and not
    y = ng.full((3,), 2.0)
    assert y.scatter_reduce(0, ng.tensor([1, 1]), ng.tensor([3.0, 4.0]), "prod").tolist() == [2.0, 24.0, 2.0]
    assert y.scatter_reduce_(0, ng.tensor([0]), ng.tensor([5.0]), "prod", include_self=False) is y
    assert y.tolist() == [5.0, 2.0, 2.0]


def test_extremes_of_16bit_floats_match_torch():
    """amax/amin share the kernel with prod: 16-bit floats are compared as numbers, not as their bit patterns."""
    for dtype in ("bfloat16", "float16"):
        (nx, tx), (ns, ts) = _pair([-1.0, -3.0, 2.0], dtype), _pair([-2.0, -5.0, 0.5], dtype)
        for reduce in ("amax", "amin"):
            out = ng.scatter_reduce(nx, 0, ng.tensor([0, 0, 2]), ns, reduce)
            assert out.dtype == nx.dtype
            assert out.float().tolist() == torch.scatter_reduce(tx, 0, torch.tensor([0, 0, 2]), ts,
                                                                reduce).float().tolist()


# ----------------------------------------------------------------------------------------------- gradients
def _grads_match_torch(fn_ng, fn_t, x, src, w, msg=""):
    nx, tx = _pair(x, "float64", requires_grad=True)
    ns, ts = _pair(src, "float64", requires_grad=True)
    out, ref = fn_ng(nx, ns), fn_t(tx, ts)
    assert_close(out, ref, msg=msg)
    (out * ng.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    assert_close(nx.grad, tx.grad, rtol=1e-10, atol=1e-12, msg=msg + " grad self")
    assert_close(ns.grad, ts.grad, rtol=1e-10, atol=1e-12, msg=msg + " grad src")


def test_prod_gradients_with_zeros_match_torch():
    # groups: self 0 with nonzero src; one zero in src; several zeros in src; self 0 and one zero in src;
    # a position no index names
    x = np.array([0.0, 2.0, 3.0, 0.0, 1.5, 4.0])
    src = np.array([5.0, 2.0, 0.0, 4.0, 0.0, 7.0, 0.0, -2.0, 0.0, 3.0])
    index = np.array([0, 0, 1, 1, 2, 2, 2, 3, 3, 4])
    w = np.array([1.0, -2.0, 3.0, 0.5, 2.0, 1.0])
    for include_self in (True, False):
        _grads_match_torch(
            lambda a, b: ng.scatter_reduce(a, 0, ng.tensor(index), b, "prod", include_self=include_self),
            lambda a, b: torch.scatter_reduce(a, 0, torch.tensor(index), b, "prod", include_self=include_self),
            x, src, w, f"scatter_reduce include_self={include_self}")
        _grads_match_torch(
            lambda a, b: ng.index_reduce(a, 0, ng.tensor(index), b, "prod", include_self=include_self),
            lambda a, b: torch.index_reduce(a, 0, torch.tensor(index), b, "prod", include_self=include_self),
            x, src, w, f"index_reduce include_self={include_self}")


def test_prod_gradients_match_torch_for_shapes_and_dims():
    rng = np.random.default_rng(2)
    for shape, dim, ishape in CASES:
        for zeros in (0.0, 0.3):
            x, index, src = _case(rng, shape, dim, ishape, zeros=zeros)
            w = rng.normal(size=shape)
            for include_self in (True, False):
                _grads_match_torch(
                    lambda a, b: ng.scatter_reduce(a, dim, ng.tensor(index), b, "prod", include_self=include_self),
                    lambda a, b: torch.scatter_reduce(a, dim, torch.tensor(index), b, "prod",
                                                      include_self=include_self),
                    x, src, w, f"{shape} {dim} zeros={zeros} include_self={include_self}")
    # index_reduce along the middle dim of a 3-d tensor
    x, src, w = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 5, 2)), rng.normal(size=(2, 3, 2))
    src[0, 1, 0] = src[0, 3, 0] = src[1, 2, 1] = 0.0
    index = np.array([0, 2, 2, 2, 1])
    for include_self in (True, False):
        _grads_match_torch(
            lambda a, b: ng.index_reduce(a, 1, ng.tensor(index), b, "prod", include_self=include_self),
            lambda a, b: torch.index_reduce(a, 1, torch.tensor(index), b, "prod", include_self=include_self),
            x, src, w, f"index_reduce 3-d include_self={include_self}")


def test_prod_gradcheck():
    """Finite differences in float64, zeros included: a product is linear in each factor, so its derivative at
    0 is as smooth as anywhere else."""
    rng = np.random.default_rng(3)
    for (shape, dim, ishape), zeros in zip(CASES, (0.0, 0.3, 0.0, 0.3, 0.2)):
        x, index, src = _case(rng, shape, dim, ishape, zeros=zeros)
        nx = ng.tensor(x, requires_grad=True)
        ns = ng.tensor(src, requires_grad=True)
        for include_self in (True, False):
            assert ng.autograd.gradcheck(
                lambda a, b: ng.scatter_reduce(a, dim, ng.tensor(index), b, "prod", include_self=include_self),
                (nx, ns))
    nx, ns = ng.tensor(rng.normal(size=(3, 2)), requires_grad=True), ng.tensor(rng.normal(size=(4, 2)),
                                                                              requires_grad=True)
    ns.data[1, 0] = 0.0
    for include_self in (True, False):
        assert ng.autograd.gradcheck(
            lambda a, b: ng.index_reduce(a, 0, ng.tensor([2, 0, 2, 2]), b, "prod", include_self=include_self),
            (nx, ns))


def test_prod_double_backward():
    x, src, index = np.array([1.5, 2.0, -3.0]), np.array([0.5, 0.0, 2.0, 4.0]), np.array([0, 0, 2, 2])
    nx, tx = _pair(x, "float64", requires_grad=True)
    ns, ts = _pair(src, "float64", requires_grad=True)
    gx, gs = ng.autograd.grad(ng.scatter_reduce(nx, 0, ng.tensor(index), ns, "prod").sum(), (nx, ns),
                              create_graph=True)
    tgx, tgs = torch.autograd.grad(torch.scatter_reduce(tx, 0, torch.tensor(index), ts, "prod").sum(), (tx, ts),
                                   create_graph=True)
    assert_close(gx, tgx)
    assert_close(gs, tgs)
    (gx * ng.tensor([1.0, 2.0, 3.0])).sum().add((gs * ng.tensor(src + 1)).sum()).backward()
    ((tgx * torch.tensor([1.0, 2.0, 3.0])).sum() + (tgs * torch.tensor(src + 1)).sum()).backward()
    assert_close(nx.grad, tx.grad)
    assert_close(ns.grad, ts.grad)
    # several zeros at one position: torch refuses the double backward through src's gradient, and so do we
    ns = ng.tensor([0.0, 0.0, 2.0], dtype=ng.float64, requires_grad=True)
    gs = ng.autograd.grad(ng.scatter_reduce(ng.ones(2, dtype=ng.float64), 0, ng.tensor([0, 0, 1]), ns,
                                            "prod").sum(), ns, create_graph=True)[0]
    assert gs.tolist() == [0.0, 0.0, 1.0]
    with pytest.raises(RuntimeError, match="Double backward is unsupported for src when >1 zeros in src"):
        gs.sum().backward()


# ------------------------------------------------------------------------------------------------ misuse
def test_scatter_reduce_prod_misuse():
    x, i = ng.ones(3, 2), ng.tensor([[0, 1], [2, 0]])
    with pytest.raises(RuntimeError, match=r"scatter_reduce\(\): Expected self.dtype to be equal to src.dtype "
                                           r"\(got float32 and float64; convert src with .to\(self.dtype\)\)"):
        ng.scatter_reduce(x, 0, i, ng.ones(2, 2, dtype=ng.float64), "prod")
    with pytest.raises(RuntimeError, match=r"Expected index \[3, 2\] to be no larger than src \[2, 2\] apart "
                                           r"from dimension 0 \(scatter_reduce: index and src are not broadcast"):
        ng.scatter_reduce(x, 0, ng.zeros(3, 2, dtype=ng.int64), ng.ones(2, 2), "prod")
    with pytest.raises(RuntimeError, match=r"Size does not match at dimension 1 expected index \[2, 3\] to be no "
                                           r"larger than self \[3, 2\] apart from dimension 0 \(scatter_reduce"):
        ng.scatter_reduce(x, 0, ng.zeros(2, 3, dtype=ng.int64), ng.ones(2, 3), "prod")
    with pytest.raises(RuntimeError, match=r"Index tensor must have the same number of dimensions as self tensor "
                                           r"\(scatter_reduce: index shape \[2\], self shape \[3, 2\]\)"):
        ng.scatter_reduce(x, 0, ng.tensor([0, 1]), ng.ones(2), "prod")
    with pytest.raises(RuntimeError, match=r"same number of dimensions as src tensor \(scatter_reduce: index "
                                           r"shape \[2\], src shape \[2, 2\]"):
        ng.scatter_reduce(ng.ones(3), 0, ng.tensor([0, 1]), ng.ones(2, 2), "prod")
    with pytest.raises(IndexError, match=r"same number of dimensions as src tensor \(scatter_reduce: index "
                                         r"shape \[1, 2\], src shape \[2\]"):
        ng.scatter_reduce(x, 0, ng.tensor([[0, 1]]), ng.ones(2), "prod")
    for bad in (3, -1):
        with pytest.raises(RuntimeError, match=rf"index {bad} is out of bounds for dimension 0 with size 3 "
                                               r"\(scatter_reduce: index values must lie in \[0, 3\)"):
            ng.scatter_reduce(x, 0, ng.tensor([[0, bad]]), ng.ones(1, 2), "prod")
    with pytest.raises(IndexError, match=r"scatter_reduce\(\): Dimension out of range \(expected to be in range "
                                         r"of \[-2, 1\], but got 2\)"):
        ng.scatter_reduce(x, 2, i, ng.ones(2, 2), "prod")
    with pytest.raises(RuntimeError, match=r"scatter_reduce\(\): Expected dtype int64 for index \(got float32\)"):
        ng.scatter_reduce(x, 0, ng.ones(2, 2), ng.ones(2, 2), "prod")
    with pytest.raises(TypeError, match="scatter_reduce\\(\\): argument 'src' must be Tensor, not float"):
        ng.scatter_reduce(x, 0, i, 2.0, "prod")
    with pytest.raises(TypeError, match="scatter_reduce\\(\\): argument 'index' must be Tensor, not list"):
        ng.scatter_reduce(x, 0, [[0, 1]], ng.ones(1, 2), "prod")
    with pytest.raises(RuntimeError, match="reduce argument must be either sum, prod, mean, amax or amin, got mul"):
        ng.scatter_reduce(x, 0, i, ng.ones(2, 2), "mul")
    # the kernel never sees a bad index: x is unchanged after the error
    assert x.tolist() == [[1.0, 1.0]] * 3


def test_index_reduce_prod_misuse():
    x = ng.ones(3, 2)
    with pytest.raises(RuntimeError, match=r"index_reduce_\(\): source tensor shape must match self tensor shape, "
                                           r"excluding the specified dimension. Got self.shape = \[3, 2\] "
                                           r"source.shape = \[2, 3\] \(source needs self's shape"):
        ng.index_reduce(x, 0, ng.tensor([0, 1]), ng.ones(2, 3), "prod")
    with pytest.raises(RuntimeError, match=r"Got self.shape = \[\] source.shape = \[1\]"):
        ng.index_reduce(ng.tensor(3.0), 0, ng.tensor([0]), ng.ones(1), "prod")
    with pytest.raises(RuntimeError, match=r"index_reduce_\(\): Number of indices \(2\) should be equal to "
                                           r"source.size\(dim\): \(3\), for dim: 0"):
        ng.index_reduce(x, 0, ng.tensor([0, 1]), ng.ones(3, 2), "prod")
    with pytest.raises(RuntimeError, match=r"index_reduce_\(\): Indexing dim 1 is out of bounds of the source "
                                           r"tensor with dim 1"):
        ng.index_reduce(x, 1, ng.tensor([0, 1]), ng.ones(2), "prod")
    with pytest.raises(IndexError, match=r"index_reduce_\(\): Dimension specified as 0 but tensor has no "
                                         r"dimensions"):
        ng.index_reduce(ng.tensor(3.0), 0, ng.tensor([0, 0]), ng.tensor(2.0), "prod")
    with pytest.raises(RuntimeError, match=r"index_reduce_\(\): self \(Float\) and source \(Long\) must have the "
                                           r"same scalar type"):
        ng.index_reduce(x, 0, ng.tensor([0, 1]), ng.ones(2, 2, dtype=ng.int64), "prod")
    for bad in (3, -1):
        with pytest.raises(IndexError, match=r"index out of range in self \(index_reduce_: index values must lie "
                                             r"in \[0, 3\) for dim 0 of self shape \[3, 2\]\)"):
            ng.index_reduce(x, 0, ng.tensor([0, bad]), ng.ones(2, 2), "prod")
    with pytest.raises(IndexError, match=r"index_reduce\(\): Dimension out of range \(expected to be in range of "
                                         r"\[-2, 1\], but got 2\)"):
        ng.index_reduce(x, 2, ng.tensor([0, 1]), ng.ones(2, 2), "prod")
    with pytest.raises(NotImplementedError, match="\"index_reduce_\" not implemented for 'Bool'"):
        ng.index_reduce(ng.ones(3, dtype=ng.bool), 0, ng.tensor([0]), ng.ones(1, dtype=ng.bool), "prod")
    with pytest.raises(TypeError, match="index_reduce\\(\\): argument 'source' must be Tensor, not float"):
        ng.index_reduce(x, 0, ng.tensor([0, 1]), 2.0, "prod")
    with pytest.raises(TypeError, match="index_reduce\\(\\): argument 'index' must be Tensor, not list"):
        ng.index_reduce(x, 0, [0, 1], ng.ones(2, 2), "prod")
    with pytest.raises(IndexError, match=r"Index is supposed to be a vector, but got dim: 2"):
        ng.index_reduce(x, 0, ng.tensor([[0, 1]]), ng.ones(2, 2), "prod")
    with pytest.raises(RuntimeError, match="Expected dtype int32/int64 for index but got: Float"):
        ng.index_reduce(x, 0, ng.tensor([0.0, 1.0]), ng.ones(2, 2), "prod")
