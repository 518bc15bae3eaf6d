"""Matrix products: ``matmul`` / ``@``, ``mm``, ``bmm``, ``mv``, ``dot``, ``outer``.

One ``Function`` (``Matmul``) covers every case of ``torch.matmul``: 1-D
operands are promoted to matrices (a row vector on the left, a column vector on
the right) and the promoted dimension is removed from the result; batch
dimensions broadcast.  The backward pass is written with ``matmul`` itself
(``grad_a = g @ b^T``, ``grad_b = a^T @ g``, broadcast batch dimensions summed
back), so gradients of gradients work.  The arithmetic runs in
``numgrad.kernels.cpu.matmul``.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .. import _dtypes
from ..autograd.function import Function
from ..kernels.backend import matmul_arrays
from .sum_mean import sum_to
from .elementwise_functions import write_out
from ..creation import tensor
from .autocast_policy import autocast_op

# how PyTorch names dtypes in matmul's (C++ names) and dot's (ScalarType names) errors
_CPP_NAMES = _dtypes.TORCH_CPP_NAMES
_SCALAR_NAMES = _dtypes.TORCH_SCALAR_NAMES


def _as_tensor(x, op: str):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (np.ndarray, list, tuple)):
        return tensor(x)
    raise TypeError(f"{op}(): argument must be a Tensor, not {type(x).__name__}")


def _dims(shape: tuple) -> str:
    return "x".join(str(n) for n in shape) if shape else "scalar"


def _check_dtypes(a, b, op: str) -> None:
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {_CPP_NAMES[a.dtype.name]} != "
            f"{_CPP_NAMES[b.dtype.name]} ({op} of shapes {list(a.shape)} and {list(b.shape)}; "
            "convert one operand with .to(dtype))"
        )
    if a.dtype.name == "bool":
        raise NotImplementedError(
            f"\"{op}\" not implemented for 'Bool' (shapes {list(a.shape)} and {list(b.shape)}); "
            "convert the operands to an integer or floating dtype"
        )


def _check_shapes(a, b) -> tuple:
    """Validate matmul shapes (torch.matmul's rules); return the broadcast batch shape."""
    sa, sb = a.shape, b.shape
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D"
        )
    if a.ndim == 1 and b.ndim == 1:
        if sa[0] != sb[0]:
            raise RuntimeError(
                f"inconsistent tensor size, expected tensor [{sa[0]}] and src [{sb[0]}] to have the same "
                f"number of elements, but got {sa[0]} and {sb[0]} elements respectively"
            )
        return ()
    if a.ndim == 2 and b.ndim == 1:
        if sa[1] != sb[0]:
            raise RuntimeError(f"size mismatch, got input ({sa[0]}), mat ({_dims(sa)}), vec ({sb[0]})")
        return ()
    k_a = sa[-1]
    k_b = sb[0] if b.ndim == 1 else sb[-2]
    if k_a != k_b:
        left = (1,) + sa if a.ndim == 1 else sa
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({_dims(left)} and {_dims(sb)})")
    batch_a = sa[:-2] if a.ndim > 2 else ()
    batch_b = sb[:-2] if b.ndim > 2 else ()
    try:
        return tuple(np.broadcast_shapes(batch_a, batch_b))
    except ValueError:
        pass
    nd = max(len(batch_a), len(batch_b))
    pa = (1,) * (nd - len(batch_a)) + batch_a
    pb = (1,) * (nd - len(batch_b)) + batch_b
    dim = next(i for i in range(nd) if pa[i] != pb[i] and pa[i] != 1 and pb[i] != 1)
    raise RuntimeError(
        f"The size of tensor a ({pa[dim]}) must match the size of tensor b ({pb[dim]}) at non-singleton "
        f"dimension {dim} (matmul batch dimensions of shapes {list(sa)} and {list(sb)} cannot be broadcast)"
    )


def _node_name(a, b) -> str:
    if a.ndim == 1 and b.ndim == 1:
        return "DotBackward0"
    if a.ndim == 2 and b.ndim == 1:
        return "MvBackward0"
    if a.ndim == 2 and b.ndim == 2:
        return "MmBackward0"
    if a.ndim == 1 and b.ndim == 2:
        return "SqueezeBackward4"
    if b.ndim >= 3 and a.ndim >= 2 and all(n == 1 for n in a.shape[:-2]):
        # PyTorch folds the batch into a transposed product here and its graph ends in a clone
        return "CloneBackward0"
    return "UnsafeViewBackward0"


class Matmul(Function):
    node_name = "MmBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.node_name = _node_name(a, b)
        a_arr = a._data[None, :] if a.ndim == 1 else a._data
        b_arr = b._data[:, None] if b.ndim == 1 else b._data
        out = matmul_arrays(a_arr, b_arr)
        if b.ndim == 1:
            out = out[..., 0]
        if a.ndim == 1:
            out = out[..., 0, :] if b.ndim > 1 else out[..., 0]
        needs_a, needs_b = ctx.needs_input_grad[:2]
        # grad_a reads b and grad_b reads a: keep only what backward will use
        ctx.save_for_backward(a if needs_b else None, b if needs_a else None)
        ctx.a_shape, ctx.b_shape = a.shape, b.shape
        return Tensor(out)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a_1d, b_1d = len(ctx.a_shape) == 1, len(ctx.b_shape) == 1
        if b_1d:
            g = g.unsqueeze(-1)
        if a_1d:
            g = g.unsqueeze(-2)
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            mat_b = b.unsqueeze(-1) if b_1d else b
            a_shape = (1,) + ctx.a_shape if a_1d else ctx.a_shape
            grad_a = sum_to(matmul(g, mat_b.mT), a_shape)
            if a_1d:
                grad_a = grad_a.reshape(ctx.a_shape)
        if ctx.needs_input_grad[1]:
            mat_a = a.unsqueeze(0) if a_1d else a
            b_shape = ctx.b_shape + (1,) if b_1d else ctx.b_shape
            if len(b_shape) == 2 and mat_a.ndim > 2:
                # b was shared by the whole batch: one GEMM over the folded batch instead of a batched
                # product followed by a sum
                k, n = b_shape
                grad_b = matmul(mat_a.reshape(-1, k).mT, g.reshape(-1, n))
            else:
                grad_b = sum_to(matmul(mat_a.mT, g), b_shape)
            if b_1d:
                grad_b = grad_b.reshape(ctx.b_shape)
        return grad_a, grad_b


@autocast_op
def matmul(input, other, *, out=None):
    """Matrix product with ``torch.matmul``'s rules (1-D promotion, broadcast batch dims), into ``out`` when
    given.

    >>> import numgrad as ng
    >>> (ng.ones(2, 3) @ ng.ones(3, 4)).shape
    (2, 4)
    >>> ng.matmul(ng.ones(5, 2, 3), ng.ones(3)).shape
    (5, 2)
    """
    a = _as_tensor(input, "matmul")
    b = _as_tensor(other, "matmul")
    _check_shapes(a, b)
    _check_dtypes(a, b, "matmul")
    result = _matmul16(a, b) if a.dtype.is_16bit_float else Matmul.apply(a, b)
    return result if out is None else write_out("matmul", result, out, (a, b))


def _matmul16(a, b):
    """A float16/bfloat16 product: the operands are widened to float32, multiplied by the float32 kernel and the
    result rounded once to 16 bits, as PyTorch's CPU matmul accumulates half precision in float32; gradients
    flow through the two casts."""
    return Matmul.apply(a.float(), b.float()).to(a.dtype)


@autocast_op
def mm(input, mat2):
    """Product of two matrices (2-D only; no broadcasting).

    >>> import numgrad as ng
    >>> ng.mm(ng.ones(2, 3), ng.ones(3, 1))
    tensor([[3.],
            [3.]])
    """
    a, b = _as_tensor(input, "mm"), _as_tensor(mat2, "mm")
    if a.ndim != 2:
        raise RuntimeError(f"self must be a matrix (mm got shapes {list(a.shape)} and {list(b.shape)})")
    if b.ndim != 2:
        raise RuntimeError(f"mat2 must be a matrix (mm got shapes {list(a.shape)} and {list(b.shape)})")
    return matmul(a, b)


@autocast_op
def bmm(input, mat2):
    """Batched product of 3-D tensors with equal batch sizes (no broadcasting).

    >>> import numgrad as ng
    >>> ng.bmm(ng.ones(4, 2, 3), ng.ones(4, 3, 5)).shape
    (4, 2, 5)
    """
    a, b = _as_tensor(input, "bmm"), _as_tensor(mat2, "bmm")
    shapes = f"(bmm got shapes {list(a.shape)} and {list(b.shape)})"
    if a.ndim != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor {shapes}")
    if b.ndim != 3:
        raise RuntimeError(f"batch2 must be a 3D tensor {shapes}")
    if b.shape[:2] != (a.shape[0], a.shape[2]):
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{a.shape[0]}, {a.shape[2]}] "
            f"but got: [{b.shape[0]}, {b.shape[1]}]. {shapes}"
        )
    out = matmul(a, b)
    if out.grad_fn is not None:
        out.grad_fn._name = "BmmBackward0"
    return out


@autocast_op
def mv(input, vec):
    """Matrix-vector product.

    >>> import numgrad as ng
    >>> ng.mv(ng.ones(2, 3), ng.ones(3))
    tensor([3., 3.])
    """
    a, b = _as_tensor(input, "mv"), _as_tensor(vec, "mv")
    if a.ndim != 2 or b.ndim != 1:
        raise RuntimeError(
            f"vector + matrix @ vector expected, got 1, {a.ndim}, {b.ndim} "
            f"(mv got shapes {list(a.shape)} and {list(b.shape)})"
        )
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"addmv input tensors must have the same dtype, but got {_SCALAR_NAMES[a.dtype.name]} and "
            f"{_SCALAR_NAMES[b.dtype.name]} (mv of shapes {list(a.shape)} and {list(b.shape)})"
        )
    return matmul(a, b)


@autocast_op
def dot(input, other):
    """Inner product of two 1-D tensors of the same size and dtype.

    >>> import numgrad as ng
    >>> ng.dot(ng.tensor([1., 2.]), ng.tensor([3., 4.]))
    tensor(11.)
    """
    a, b = _as_tensor(input, "dot"), _as_tensor(other, "dot")
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"dot : expected both vectors to have same dtype, but found {_SCALAR_NAMES[a.dtype.name]} and "
            f"{_SCALAR_NAMES[b.dtype.name]}"
        )
    return matmul(a, b)


def outer(input, vec2):
    """Outer product of two 1-D tensors (``input[i] * vec2[j]``; dtypes promote).

    >>> import numgrad as ng
    >>> ng.outer(ng.tensor([1., 2.]), ng.tensor([1., 10., 100.])).shape
    (2, 3)
    """
    a, b = _as_tensor(input, "outer"), _as_tensor(vec2, "outer")
    if a.ndim != 1:
        raise RuntimeError(f"outer: Expected 1-D argument self, but got {a.ndim}-D")
    if b.ndim != 1:
        raise RuntimeError(f"outer: Expected 1-D argument vec2, but got {b.ndim}-D")
    return a.reshape(-1, 1) * b


def _rmatmul(self, other):
    return matmul(other, self)


TENSOR_METHODS = {
    "matmul": matmul, "__matmul__": matmul, "__rmatmul__": _rmatmul, "mm": mm, "bmm": bmm, "mv": mv,
    "dot": dot, "outer": outer, "ger": outer,
}
PUBLIC = ("matmul", "mm", "bmm", "mv", "dot", "outer")
