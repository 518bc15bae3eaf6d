"""Shape ops that move data: cat, stack, split, chunk, narrow, unbind, flip, repeat, tile, pad, movedim.

Data movement runs through the generated identity map kernel (a strided,
casting copy), so no op here does elementwise work in NumPy.  Pieces that can
be views (split, chunk, narrow, unbind) are views sharing memory and the
version counter, like PyTorch's.  Every backward is written with tensor ops,
so the gradients are differentiable again.
"""
from __future__ import annotations

import numbers
from typing import Sequence, Union

import numpy as np

from ..tensor import Tensor, result_type
from ..autograd.function import Function
from ..kernels import backend as _backend
from ..kernels.backend import empty_for
from ..creation import tensor, zeros
from .autocast_policy import autocast_op


def _wrap(dim: int, ndim: int, op: str) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}(): Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim + n if dim < 0 else dim


def _ints(values, op: str) -> tuple:
    if isinstance(values, (numbers.Integral, np.integer)):
        return (int(values),)
    if len(values) == 1 and isinstance(values[0], (tuple, list)):
        values = values[0]
    out = []
    for v in values:
        if not isinstance(v, (numbers.Integral, np.integer)) or isinstance(v, bool):
            raise TypeError(f"{op}(): expected a sequence of ints, got {type(v).__name__} ({v!r})")
        out.append(int(v))
    return tuple(out)


def _view(x, arr):
    return Tensor(arr, _version=x._version)


def _slice_key(ndim: int, dim: int, start: int, stop: int) -> tuple:
    return (slice(None),) * dim + (slice(start, stop),)


# ---------------------------------------------------------------------------------------------- cat / stack
class Cat(Function):
    node_name = "CatBackward0"

    @staticmethod
    def forward(ctx, dim, *tensors):
        dtype = result_type(*tensors)
        # PyTorch skips legacy 1-D empty tensors when concatenating
        parts = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or [tensors[0]]
        shape = list(parts[0].shape)
        shape[dim] = sum(t.shape[dim] for t in parts)
        out = empty_for([t._data for t in parts], shape, dtype.np)
        ctx.pieces = []
        start = 0
        for t in tensors:
            if t.ndim == 1 and t.shape[0] == 0 and len(parts) != len(tensors):
                ctx.pieces.append((t.dtype, None))
                continue
            n = t.shape[dim]
            if n:
                _backend.copy(t._data, None, out[_slice_key(out.ndim, dim, start, start + n)])
            ctx.pieces.append((t.dtype, (start, n)))
            start += n
        ctx.dim = dim
        return Tensor(out)

    @staticmethod
    def backward(ctx, g):
        grads = [None]
        for dtype, span in ctx.pieces:
            if span is None:
                grads.append(zeros(0, dtype=dtype, device=g.device))
                continue
            gi = narrow(g, ctx.dim, span[0], span[1])
            grads.append(gi if gi.dtype == dtype else gi.to(dtype))
        return tuple(grads)


@autocast_op
def cat(tensors: Sequence, dim: int = 0):
    """Concatenate tensors along an existing dimension (dtypes promote as in PyTorch).

    >>> import numgrad as ng
    >>> ng.cat([ng.zeros(2, 3), ng.ones(1, 3)]).shape
    (3, 3)
    """
    tensors = tuple(tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"cat(): expected a sequence of Tensors, but element {i} is {type(t).__name__}")
        if t.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    parts = [(i, t) for i, t in enumerate(tensors) if not (t.ndim == 1 and t.shape[0] == 0)]
    if not parts:
        parts = [(0, tensors[0])]
    ref_i, ref = parts[0]
    d = _wrap(dim, ref.ndim, "cat")
    for i, t in parts[1:]:
        if t.ndim != ref.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ref.ndim} and {t.ndim}")
        for k in range(ref.ndim):
            if k != d and t.shape[k] != ref.shape[k]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size {ref.shape[k]} but got "
                    f"size {t.shape[k]} for tensor number {i} in the list."
                )
    return Cat.apply(d, *tensors)


def concat(tensors: Sequence, dim: int = 0):
    """Alias of :func:`cat`.

    >>> import numgrad as ng
    >>> ng.concat([ng.zeros(1), ng.ones(1)])
    tensor([0., 1.])
    """
    return cat(tensors, dim)


concatenate = concat


@autocast_op
def stack(tensors: Sequence, dim: int = 0):
    """Join equally shaped tensors along a new dimension ``dim``.

    >>> import numgrad as ng
    >>> ng.stack([ng.zeros(2), ng.ones(2)], dim=1).shape
    (2, 2)
    """
    tensors = tuple(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"stack(): expected a sequence of Tensors, but element {i} is {type(t).__name__}")
        if t.shape != tensors[0].shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} at entry 0 and "
                f"{list(t.shape)} at entry {i}"
            )
    d = _wrap(dim, tensors[0].ndim + 1, "stack")
    out = Cat.apply(d, *(t.unsqueeze(d) for t in tensors))
    if out.grad_fn is not None:
        out.grad_fn._name = "StackBackward0"
    return out


# ---------------------------------------------------------------------------------------------- views
def narrow(input, dim: int, start: int, length: int):
    """The slice ``start:start+length`` of dimension ``dim`` (a view).

    >>> import numgrad as ng
    >>> ng.arange(5).narrow(0, 1, 3)
    tensor([1, 2, 3])
    """
    if input.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = _wrap(dim, input.ndim, "narrow")
    n = input.shape[d]
    start, length = int(start), int(length)
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if not -n <= start <= n:
        raise IndexError(
            f"start out of range (expected to be in range of [{-n}, {n}], but got {start})"
        )
    if start < 0:
        start += n
    if start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return input[_slice_key(input.ndim, d, start, start + length)]


class Split(Function):
    """Several views of one tensor along ``dim``; backward concatenates their gradients."""

    node_name = "SplitBackward0"
    returns_views = True

    @staticmethod
    def forward(ctx, x, dim, sizes, name):
        ctx.dim, ctx.node_name = dim, name
        arr = x._data
        pieces = []
        start = 0
        for n in sizes:
            pieces.append(_view(x, arr[_slice_key(arr.ndim, dim, start, start + n)]))
            start += n
        return tuple(pieces)

    @staticmethod
    def backward(ctx, *grads):
        return cat(grads, ctx.dim), None, None, None


def split(tensor, split_size_or_sections: Union[int, Sequence[int]], dim: int = 0):
    """Split into views of ``split_size`` along ``dim`` (last one smaller), or into the given sizes.

    >>> import numgrad as ng
    >>> [p.shape for p in ng.split(ng.zeros(5, 2), 2)]
    [(2, 2), (2, 2), (1, 2)]
    >>> [p.shape for p in ng.split(ng.zeros(5, 2), [1, 4])]
    [(1, 2), (4, 2)]
    """
    if tensor.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = _wrap(dim, tensor.ndim, "split")
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, (numbers.Integral, np.integer)):
        size = int(split_size_or_sections)
        if size < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={size}")
        if size == 0:
            if n != 0:
                raise RuntimeError(
                    f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}"
                )
            sizes = (0,)
        else:
            sizes = tuple(min(size, n - s) for s in range(0, n, size)) or (0,)
        name = "SplitBackward0"
    else:
        sizes = _ints(tuple(split_size_or_sections), "split")
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at dimension "
                f"{d}), but got split_sizes={list(sizes)}"
            )
        name = "SplitWithSizesBackward0"
    return Split.apply(tensor, d, sizes, name)


def chunk(input, chunks: int, dim: int = 0):
    """Split into ``chunks`` views of equal size along ``dim`` (the last may be smaller; fewer if too short).

    >>> import numgrad as ng
    >>> [p.shape for p in ng.chunk(ng.zeros(5), 3)]
    [(2,), (2,), (1,)]
    """
    chunks = int(chunks)
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    if input.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    d = _wrap(dim, input.ndim, "chunk")
    n = input.shape[d]
    size = -(-n // chunks)
    if size == 0:
        return split(input, [0] * chunks, d) if n == 0 else split(input, 1, d)
    return split(input, size, d)


class Unbind(Function):
    node_name = "UnbindBackward0"
    returns_views = True

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        arr = x._data
        return tuple(_view(x, arr[(slice(None),) * dim + (i, Ellipsis)]) for i in range(arr.shape[dim]))

    @staticmethod
    def backward(ctx, *grads):
        return stack(grads, ctx.dim), None


def unbind(input, dim: int = 0) -> tuple:
    """The slices along ``dim`` as a tuple of views (``dim`` removed).

    >>> import numgrad as ng
    >>> [t.shape for t in ng.unbind(ng.zeros(2, 3), 1)]
    [(2,), (2,), (2,)]
    """
    if input.ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    d = _wrap(dim, input.ndim, "unbind")
    if input.shape[d] == 0:
        return ()
    return Unbind.apply(input, d)


def movedim(input, source, destination):
    """Move dimension(s) ``source`` to position(s) ``destination`` (a view).

    >>> import numgrad as ng
    >>> ng.zeros(2, 3, 4).movedim(0, -1).shape
    (3, 4, 2)
    """
    src = _ints(source, "movedim")
    dst = _ints(destination, "movedim")
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({list(src)} dims) should contain the same "
            f"number of dims as destination ({list(dst)} dims)"
        )
    nd = input.ndim
    src = tuple(_wrap(s, nd, "movedim") for s in src)
    dst = tuple(_wrap(s, nd, "movedim") for s in dst)
    if len(set(src)) != len(src):
        raise RuntimeError(f"movedim: repeated dim in `source` ({list(source) if not isinstance(source, int) else source})")
    if len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({list(destination) if not isinstance(destination, int) else destination})")
    order = [None] * nd
    for s, t in zip(src, dst):
        order[t] = s
    rest = iter(d for d in range(nd) if d not in src)
    order = [o if o is not None else next(rest) for o in order]
    if nd == 0:
        return input
    return input.permute(*order)


moveaxis = movedim


# ---------------------------------------------------------------------------------------------- copies
class Flip(Function):
    node_name = "FlipBackward0"

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        key = tuple(slice(None, None, -1) if d in dims else slice(None) for d in range(x.ndim))
        out = empty_for((x._data,), x.shape, x.dtype.np)
        _backend.copy(x._data[key], None, out)
        return Tensor(out)

    @staticmethod
    def backward(ctx, g):
        return flip(g, ctx.dims), None


def flip(input, dims):
    """Reverse the order of elements along ``dims`` (a copy, as in PyTorch).

    >>> import numgrad as ng
    >>> ng.flip(ng.tensor([[1, 2], [3, 4]]), [1])
    tensor([[2, 1],
            [4, 3]])
    """
    dims = _ints(dims, "flip")
    wrapped = tuple(_wrap(d, input.ndim, "flip") for d in dims)
    for d in wrapped:
        if wrapped.count(d) > 1:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    if input.ndim == 0:
        wrapped = ()
    return Flip.apply(input, tuple(sorted(wrapped)))


class Repeat(Function):
    node_name = "RepeatBackward0"

    @staticmethod
    def forward(ctx, x, repeats):
        shape = (1,) * (len(repeats) - x.ndim) + x.shape
        ctx.in_shape, ctx.padded, ctx.repeats = x.shape, shape, repeats
        # (1, s0, 1, s1, ...) broadcast to (r0, s0, r1, s1, ...) then merged pairwise: a tiled copy
        interleaved = []
        target = []
        for r, s in zip(repeats, shape):
            interleaved += [1, s]
            target += [r, s]
        src = np.broadcast_to(x._data.reshape(interleaved), target)
        out = empty_for((x._data,), target, x.dtype.np)
        _backend.copy(src, None, out)
        return Tensor(out.reshape(tuple(r * s for r, s in zip(repeats, shape))))

    @staticmethod
    def backward(ctx, g):
        split_shape = []
        for r, s in zip(ctx.repeats, ctx.padded):
            split_shape += [r, s]
        summed = g.reshape(*split_shape).sum(dim=tuple(range(0, 2 * len(ctx.repeats), 2)))
        return summed.reshape(ctx.in_shape), None


def repeat(input, *sizes):
    """Tile ``input`` ``sizes[i]`` times along each dimension (``sizes`` may add leading dims).

    >>> import numgrad as ng
    >>> ng.tensor([1, 2]).repeat(2, 2)
    tensor([[1, 2, 1, 2],
            [1, 2, 1, 2]])
    """
    reps = _ints(sizes, "repeat")
    if len(reps) < input.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor "
            f"(repeat dims {list(reps)}, tensor shape {list(input.shape)})"
        )
    if any(r < 0 for r in reps):
        padded = (1,) * (len(reps) - input.ndim) + input.shape
        out = [r * n for r, n in zip(reps, padded)]
        negative = next(n for n in out if n < 0)
        raise RuntimeError(f"Trying to create tensor with negative dimension {negative}: {out}")
    return Repeat.apply(input, reps)


def tile(input, dims):
    """Like :func:`repeat`, but ``dims`` shorter than ``input.ndim`` is padded with leading ones.

    >>> import numgrad as ng
    >>> ng.tile(ng.zeros(2, 3), (2,)).shape
    (2, 6)
    """
    reps = _ints(dims, "tile")
    reps = (1,) * (input.ndim - len(reps)) + reps
    out = repeat(input, *reps)
    return out


# ---------------------------------------------------------------------------------------------- pad
def _pad_pairs(input, pad, op: str) -> list:
    """Per-dimension (before, after) from PyTorch's last-dim-first flat ``pad``; None for untouched dims."""
    pad = _ints(tuple(pad), op)
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(
            f"Padding length should be less than or equal to two times the input dimension but got padding "
            f"length {len(pad)} and input of dimension {input.ndim}"
        )
    pairs = [None] * input.ndim
    for k in range(len(pad) // 2):
        pairs[input.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return pairs


class ConstantPad(Function):
    node_name = "ConstantPadNdBackward0"

    @staticmethod
    def forward(ctx, x, pairs, value):
        ctx.pairs = pairs
        out_shape = []
        src_key, dst_key = [], []
        for n, pr in zip(x.shape, pairs):
            lo, hi = pr or (0, 0)
            out_shape.append(n + lo + hi)
            # negative padding crops the input
            src_key.append(slice(max(-lo, 0), n - max(-hi, 0)))
            dst_key.append(slice(max(lo, 0), max(lo, 0) + max(n - max(-lo, 0) - max(-hi, 0), 0)))
        # the backend's fill (a recorded fill under ng.compile, where a NumPy array of the value was not)
        out = _backend.full_for((x._data,), tuple(out_shape), x.dtype.np, value)
        src = x._data[tuple(src_key)]
        if src.size:
            _backend.copy(src, None, out[tuple(dst_key)])
        return Tensor(out)

    @staticmethod
    def backward(ctx, g):
        # the gradient of padding by p is padding (cropping) the gradient by -p with zeros
        neg = tuple(None if pr is None else (-pr[0], -pr[1]) for pr in ctx.pairs)
        return ConstantPad.apply(g, neg, 0), None, None


_NON_CONSTANT_SUPPORT = {1: (2, 3), 2: (3, 4), 3: (4, 5)}


def _index_pad(input, pairs, mode: str):
    """reflect / replicate / circular padding as one index_select per padded dim (scatter-add backward)."""
    out = input
    for d, pr in enumerate(pairs):
        if pr is None or pr == (0, 0):
            continue
        lo, hi = pr
        n = input.shape[d]
        positions = np.arange(-lo, n + hi, dtype=np.int64)
        if mode == "replicate":
            positions = np.clip(positions, 0, n - 1)
        elif mode == "reflect":
            period = 2 * (n - 1) if n > 1 else 1
            positions = np.abs(positions) % period
            positions = np.where(positions >= n, period - positions, positions)
        else:
            positions = positions % n
        out = out.index_select(d, tensor(positions, device=input.device))  # a Tensor method: indexing sits above shape
    return out


def pad(input, pad: Sequence[int], mode: str = "constant", value=None):
    """Pad (or, with negative widths, crop) ``input``; ``pad`` lists (before, after) from the last dim back.

    Same as ``torch.nn.functional.pad``; modes ``constant``, ``reflect``,
    ``replicate`` and ``circular``.

    >>> import numgrad as ng
    >>> ng.pad(ng.tensor([[1., 2.]]), (1, 2))
    tensor([[0., 1., 2., 0., 0.]])
    >>> ng.pad(ng.tensor([[1., 2., 3.]]), (2, 0), mode="reflect")
    tensor([[3., 2., 1., 2., 3.]])
    """
    pairs = _pad_pairs(input, pad, "pad")
    if mode == "constant":
        for d, pr in enumerate(pairs):
            if pr is not None and input.shape[d] + pr[0] + pr[1] < 0:
                raise RuntimeError(
                    f"The input size {input.shape[d]}, plus negative padding {pr[0]} and {pr[1]} resulted in a "
                    f"negative output size, which is invalid. Check dimension {d} of your input."
                )
        fill = 0 if value is None else value
        if not input.dtype.is_floating_point and isinstance(fill, float) and not float(fill).is_integer():
            raise RuntimeError(f"value cannot be converted to type {input.dtype.name} without overflow: {fill}")
        return ConstantPad.apply(input, tuple(pairs), fill)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value not in (None, 0):
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    n_pad = len(_ints(tuple(pad), "pad"))
    allowed = _NON_CONSTANT_SUPPORT.get(n_pad // 2)
    if allowed is None or input.ndim not in allowed:
        raise NotImplementedError(
            f"Padding size {n_pad} is not supported for {input.ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)"
        )
    for d, pr in enumerate(pairs):
        if pr is None:
            continue
        n = input.shape[d]
        if min(pr) < 0 and mode != "circular":
            raise RuntimeError(f"{mode} padding does not support negative widths (got {list(pr)} at dimension {d})")
        if mode == "reflect" and (pr[0] >= n or pr[1] >= n):
            raise RuntimeError(
                f"Argument #4: Padding size should be less than the corresponding input dimension, but got: "
                f"padding ({pr[0]}, {pr[1]}) at dimension {d} of input {list(input.shape)}"
            )
        if mode == "replicate" and n == 0:
            raise RuntimeError(f"replicate padding needs a non-empty dimension {d} (input {list(input.shape)})")
        if mode == "circular" and (pr[0] > n or pr[1] > n):
            raise RuntimeError(
                "Padding value causes wrapping around more than once "
                f"(padding ({pr[0]}, {pr[1]}) at dimension {d} of input {list(input.shape)})"
            )
    return _index_pad(input, pairs, mode)


TENSOR_METHODS = {
    "split": split, "chunk": chunk, "narrow": narrow, "unbind": unbind, "movedim": movedim, "moveaxis": moveaxis,
    "flip": flip, "repeat": repeat, "tile": tile,
}
PUBLIC = ("cat", "concat", "concatenate", "stack", "split", "chunk", "narrow", "unbind", "movedim", "moveaxis",
          "flip", "tile", "pad")
