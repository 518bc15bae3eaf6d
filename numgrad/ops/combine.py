"""Products and combinations built from matmul and elementwise ops: addmm, addmv, addbmm, baddbmm, addr,
cross, cdist, dist, kron, inner, vdot, tensordot, chain_matmul.

Each is one or a few differentiable ops (matmul, elementwise rows, sums, views), so gradients,
fusion of the scale-and-add parts and devices come from those ops.
"""
from __future__ import annotations

import numbers
from typing import Optional, Sequence, Union

from ..tensor import Tensor
from .elementwise import broadcast_shapes
from .linalg import bmm, dot, matmul, mm, mv, outer
from .reductions import norm
from .shape import stack
from .views import permute
from .autocast_policy import autocast_op


def _scale_add(input, product, beta, alpha, op: str):
    """``beta * input + alpha * product``; with ``beta == 0`` the input is ignored (NaN in it does not propagate)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    try:
        shape = broadcast_shapes(input.shape, product.shape)
    except RuntimeError:
        shape = None
    if shape != tuple(product.shape):
        raise RuntimeError(f"{op}: the input of shape {list(input.shape)} must broadcast to the product's shape "
                           f"{list(product.shape)}")
    scaled = product if alpha == 1 else product * alpha
    if beta == 0:
        return scaled
    return scaled + (input if beta == 1 else input * beta)


@autocast_op
def addmm(input, mat1, mat2, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)`` for matrices; ``input`` broadcasts.

    >>> import numgrad as ng
    >>> ng.addmm(ng.ones(2), ng.ones(2, 3), ng.ones(3, 2), beta=0.5)
    tensor([[3.5000, 3.5000],
            [3.5000, 3.5000]])
    """
    return _scale_add(input, mm(mat1, mat2), beta, alpha, "addmm")


@autocast_op
def addmv(input, mat, vec, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * (mat @ vec)``.

    >>> import numgrad as ng
    >>> ng.addmv(ng.ones(2), ng.ones(2, 3), ng.ones(3))
    tensor([4., 4.])
    """
    return _scale_add(input, mv(mat, vec), beta, alpha, "addmv")


@autocast_op
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * bmm(batch1, batch2)``.

    >>> import numgrad as ng
    >>> ng.baddbmm(ng.zeros(2, 1, 1), ng.ones(2, 1, 3), ng.ones(2, 3, 1)).shape
    (2, 1, 1)
    """
    return _scale_add(input, bmm(batch1, batch2), beta, alpha, "baddbmm")


@autocast_op
def addbmm(input, batch1, batch2, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * sum_b batch1[b] @ batch2[b]``.

    >>> import numgrad as ng
    >>> ng.addbmm(ng.zeros(1, 1), ng.ones(2, 1, 3), ng.ones(2, 3, 1))
    tensor([[6.]])
    """
    product = bmm(batch1, batch2)
    return _scale_add(input, product.sum(0), beta, alpha, "addbmm")


@autocast_op
def addr(input, vec1, vec2, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * outer(vec1, vec2)``.

    >>> import numgrad as ng
    >>> ng.addr(ng.zeros(2, 2), ng.tensor([1., 2.]), ng.tensor([1., 1.]))
    tensor([[1., 1.],
            [2., 2.]])
    """
    return _scale_add(input, outer(vec1, vec2), beta, alpha, "addr")


def _inplace(name: str, fn):
    def method(self, *args, **kwargs):
        return self.copy_(fn(self, *args, **kwargs))
    method.__name__ = name
    method.__doc__ = f"In-place ``{name[:-1]}``: writes the result into this tensor and returns it."
    return method


@autocast_op
def cross(input, other, dim: Optional[int] = None) -> Tensor:
    """Cross product of 3-vectors along ``dim`` (default: the first dim of size 3); shapes broadcast.

    >>> import numgrad as ng
    >>> ng.cross(ng.tensor([1., 0., 0.]), ng.tensor([0., 1., 0.]))
    tensor([0., 0., 1.])
    """
    shape = broadcast_shapes(input.shape, other.shape)
    a, b = input.expand(*shape), other.expand(*shape)
    if dim is None:
        dims = [d for d, n in enumerate(shape) if n == 3]
        if not dims:
            raise RuntimeError(f"no dimension of size 3 in input (cross of shapes {list(input.shape)} and "
                               f"{list(other.shape)})")
        dim = dims[0]
    n = len(shape)
    if not -n <= dim < n:
        raise IndexError(f"cross(): Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got "
                         f"{dim})")
    dim = dim + n if dim < 0 else dim
    if shape[dim] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got {input.shape[dim]} and "
                           f"{other.shape[dim]}")
    a1, a2, a3 = a.unbind(dim)
    b1, b2, b3 = b.unbind(dim)
    return stack([a2 * b3 - a3 * b2, a3 * b1 - a1 * b3, a1 * b2 - a2 * b1], dim)


@autocast_op
def cdist(x1, x2, p: float = 2.0, compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """p-norm distances between each row of ``x1`` (..., P, M) and each row of ``x2`` (..., R, M): (..., P, R).

    Computed from the differences (no matrix-product shortcut), so zero distances have PyTorch's
    zero gradient and no rounding from cancellation.

    >>> import numgrad as ng
    >>> ng.cdist(ng.tensor([[0., 0.]]), ng.tensor([[3., 4.], [0., 1.]]))
    tensor([[5., 1.]])
    """
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D, X2 got: {x2.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values (got {p})")
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    return norm(diff, p, dim=-1)


@autocast_op
def dist(input, other, p: float = 2) -> Tensor:
    """The p-norm of ``input - other`` (broadcast).

    >>> import numgrad as ng
    >>> ng.dist(ng.tensor([0., 0.]), ng.tensor([3., 4.]))
    tensor(5.)
    """
    return norm(input - other, p)


def kron(input, other) -> Tensor:
    """Kronecker product: block ``(i, j)`` of the result is ``input[i, j] * other`` (any number of dims).

    >>> import numgrad as ng
    >>> ng.kron(ng.eye(2), ng.ones(1, 2))
    tensor([[1., 1., 0., 0.],
            [0., 0., 1., 1.]])
    """
    n = max(input.ndim, other.ndim)
    a = input.reshape(*((1,) * (n - input.ndim) + tuple(input.shape)))
    b = other.reshape(*((1,) * (n - other.ndim) + tuple(other.shape)))
    a_shape, b_shape = [], []
    for da, db in zip(a.shape, b.shape):
        a_shape += [da, 1]
        b_shape += [1, db]
    out = a.reshape(*a_shape) * b.reshape(*b_shape)
    return out.reshape(*[da * db for da, db in zip(a.shape, b.shape)])


def inner(input, other) -> Tensor:
    """Sum of products over the last dims (a scalar operand multiplies).

    >>> import numgrad as ng
    >>> ng.inner(ng.tensor([1., 2.]), ng.tensor([3., 4.]))
    tensor(11.)
    """
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but got shapes "
                           f"{list(input.shape)} and {list(other.shape)}")
    a = input.reshape(-1, input.shape[-1])
    b = other.reshape(-1, other.shape[-1])
    return matmul(a, b.mT).reshape(*input.shape[:-1], *other.shape[:-1])


@autocast_op
def vdot(input, other) -> Tensor:
    """Dot product of two 1-D tensors (real numbers: the same as ``dot``).

    >>> import numgrad as ng
    >>> ng.vdot(ng.tensor([1., 2.]), ng.tensor([3., 4.]))
    tensor(11.)
    """
    return dot(input, other)


@autocast_op
def tensordot(a, b, dims: Union[int, Sequence] = 2) -> Tensor:
    """Sum of products over ``dims``: the last ``dims`` of ``a`` with the first of ``b``, or the listed pairs.

    >>> import numgrad as ng
    >>> ng.tensordot(ng.ones(2, 3, 4), ng.ones(3, 4, 5)).shape
    (2, 5)
    """
    if isinstance(dims, numbers.Integral):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        dims_a = list(range(a.ndim - dims, a.ndim))
        dims_b = list(range(dims))
    else:
        dims_a, dims_b = ([d] if isinstance(d, numbers.Integral) else list(d) for d in dims)
    if len(dims_a) != len(dims_b):
        raise RuntimeError(f"both dimension lists should have same length (got {dims_a} and {dims_b})")
    dims_a = [d % a.ndim for d in dims_a]
    dims_b = [d % b.ndim for d in dims_b]
    for da, db in zip(dims_a, dims_b):
        if a.shape[da] != b.shape[db]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {a.shape[da]} in dim {da} "
                               f"and second has size {b.shape[db]} in dim {db}")
    free_a = [d for d in range(a.ndim) if d not in dims_a]
    free_b = [d for d in range(b.ndim) if d not in dims_b]
    k = 1
    for d in dims_a:
        k *= a.shape[d]
    a2 = permute(a, free_a + dims_a).reshape(-1, k)
    b2 = permute(b, dims_b + free_b).reshape(k, -1)
    return matmul(a2, b2).reshape(*[a.shape[d] for d in free_a], *[b.shape[d] for d in free_b])


@autocast_op
def chain_matmul(*matrices) -> Tensor:
    """The product of the matrices left to right (deprecated in PyTorch; ``linalg.multi_dot``).

    >>> import numgrad as ng
    >>> ng.chain_matmul(ng.ones(2, 3), ng.ones(3, 1)).shape
    (2, 1)
    """
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    out = matrices[0]
    for m in matrices[1:]:
        out = mm(out, m)
    return out


TENSOR_METHODS = {
    "addmm": addmm, "addmv": addmv, "baddbmm": baddbmm, "addbmm": addbmm, "addr": addr,
    "addmm_": _inplace("addmm_", addmm), "addmv_": _inplace("addmv_", addmv),
    "baddbmm_": _inplace("baddbmm_", baddbmm), "addbmm_": _inplace("addbmm_", addbmm), "addr_": _inplace("addr_", addr),
    "cross": cross, "dist": dist, "kron": kron, "inner": inner, "vdot": vdot,
}
PUBLIC = ("addmm", "addmv", "baddbmm", "addbmm", "addr", "cross", "cdist", "dist", "kron", "inner", "vdot", "tensordot",
          "chain_matmul")
