"""Packed and padded sequences (PyTorch's ``torch.nn.utils.rnn``).

A ``PackedSequence`` holds a batch of variable-length sequences time-major and
without padding: ``data`` stacks, for each time step ``t``, the rows of the
``batch_sizes[t]`` sequences still running (longest first), which is the
layout the recurrent layers consume. Packing and padding are one differentiable
gather each (rows of the input, or of one extra row of ``padding_value``), so
gradients flow back through them.

>>> import numgrad as ng
>>> from numgrad.nn.utils.rnn import pack_sequence, pad_packed_sequence
>>> packed = pack_sequence([ng.tensor([1., 2., 3.]), ng.tensor([4.])])
>>> packed.data, packed.batch_sizes
(tensor([1., 4., 2., 3.]), tensor([2, 1, 1]))
>>> pad_packed_sequence(packed, batch_first=True)[0]
tensor([[1., 2., 3.],
        [4., 0., 0.]])
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ...creation import full, tensor
from ...ops.shape import cat
from ...tensor import Tensor
from ..packed_sequence import PackedSequence, invert_permutation

__all__ = [
    "PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
    "unpad_sequence", "pack_sequence", "unpack_sequence",
]


def _int64(values) -> Tensor:
    return tensor(np.asarray(values, dtype=np.int64))


def _lengths_array(lengths, batch: int) -> np.ndarray:
    if isinstance(lengths, Tensor):
        if lengths.ndim != 1 or lengths.device.type != "cpu":
            raise RuntimeError(f"'lengths' argument should be a 1D CPU int64 tensor, but got {lengths.ndim}D "
                               f"{lengths.device.type} {lengths.dtype} tensor")
        arr = lengths.numpy().astype(np.int64)
    else:
        arr = np.asarray(list(lengths), dtype=np.int64)
        if arr.ndim != 1:
            raise RuntimeError(f"'lengths' argument should be a 1D sequence of ints, got shape {list(arr.shape)}")
    if arr.size != batch:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {arr.size} "
                           f"(batch_size={batch})")
    return arr


def pack_padded_sequence(input: Tensor, lengths: Union[Tensor, Sequence[int]], batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) of sequences of ``lengths``.

    With ``enforce_sorted=True`` the lengths must be in decreasing order; with
    ``False`` the batch is sorted here and the permutation kept in the result.

    >>> import numgrad as ng
    >>> x = ng.tensor([[1., 2.], [3., 0.]])   # (B=2, T=2), batch_first
    >>> ng.nn.utils.rnn.pack_padded_sequence(x, [2, 1], batch_first=True).data
    tensor([1., 3., 2.])
    """
    if input.ndim < 2:
        raise RuntimeError(f"pack_padded_sequence(): expected input of at least 2 dimensions (T, B, *), "
                           f"got size {list(input.shape)}")
    steps, batch = (input.shape[1], input.shape[0]) if batch_first else (input.shape[0], input.shape[1])
    lens = _lengths_array(lengths, batch)
    if enforce_sorted:
        if np.any(lens[1:] > lens[:-1]):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass "
                "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this requirement "
                "if you do not need ONNX exportability."
            )
        order = np.arange(batch, dtype=np.int64)
        sorted_indices = None
    else:
        order = np.argsort(-lens, kind="stable").astype(np.int64)
        sorted_indices = _int64(order).to(input.device)
    sorted_lens = lens[order]
    if batch and sorted_lens[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' "
                           "that is <= 0")
    if batch and sorted_lens[0] > steps:
        raise RuntimeError(f"pack_padded_sequence(): the longest length {int(sorted_lens[0])} exceeds the "
                           f"padded sequence length {steps}")
    longest = int(sorted_lens[0]) if batch else 0
    batch_sizes = (sorted_lens[None, :] > np.arange(longest)[:, None]).sum(1).astype(np.int64)
    # row of each packed element in the input flattened as (T*B) or (B*T), time-major, longest first
    t_idx = np.concatenate([np.full(int(n), t, np.int64) for t, n in enumerate(batch_sizes)]) if longest else \
        np.zeros(0, np.int64)
    b_idx = np.concatenate([order[:int(n)] for n in batch_sizes]) if longest else np.zeros(0, np.int64)
    rows = b_idx * steps + t_idx if batch_first else t_idx * batch + b_idx
    flat = input.reshape((steps * batch,) + tuple(input.shape[2:]))
    data = flat[_int64(rows).to(input.device)]
    return PackedSequence(data, _int64(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """Undo ``pack_padded_sequence``: the padded batch and the lengths (int64, original batch order).

    >>> import numgrad as ng
    >>> p = ng.nn.utils.rnn.pack_sequence([ng.tensor([1., 2.]), ng.tensor([3.])])
    >>> ng.nn.utils.rnn.pad_packed_sequence(p, padding_value=-1.0)
    (tensor([[ 1.,  3.],
            [ 2., -1.]]), tensor([2, 1]))
    """
    batch_sizes = np.asarray(sequence.batch_sizes.numpy(), dtype=np.int64)
    steps = batch_sizes.size
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in input, but got "
                f"total_length={total_length} and max sequence length being {steps}"
            )
        steps = int(total_length)
    batch = int(batch_sizes[0]) if batch_sizes.size else 0
    data = sequence.data
    n_rows = data.shape[0]
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)]).astype(np.int64)
    sorted_lens = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(1).astype(np.int64)
    unsorted = (np.arange(batch, dtype=np.int64) if sequence.unsorted_indices is None
                else np.asarray(sequence.unsorted_indices.numpy(), dtype=np.int64))
    t = np.arange(steps)[:, None]
    k = unsorted[None, :]  # the sorted position of each output batch entry
    padded_bs = np.concatenate([batch_sizes, np.zeros(steps - batch_sizes.size, np.int64)])
    rows = np.where(k < padded_bs[t], offsets[np.minimum(t, batch_sizes.size - 1)] + k, n_rows)  # (T, B)
    if batch_first:
        rows = rows.T
    pad_row = full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    source = cat([data, pad_row])
    out = source[_int64(rows.reshape(-1)).to(data.device)]
    out = out.reshape(rows.shape + tuple(data.shape[1:]))
    return out, _int64(sorted_lens[unsorted])


def pad_sequence(sequences: Union[Tensor, List[Tensor]], batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack sequences of shapes ``(L_i, *)`` into ``(max L, B, *)`` (``(B, max L, *)`` with ``batch_first``).

    Shorter sequences are filled with ``padding_value`` after their end
    (``padding_side="right"``) or before their start (``"left"``).

    >>> import numgrad as ng
    >>> ng.nn.utils.rnn.pad_sequence([ng.tensor([1., 2.]), ng.tensor([3.])], batch_first=True)
    tensor([[1., 2.],
            [3., 0.]])
    """
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    else:
        try:
            sequences = list(sequences)
        except TypeError:
            raise RuntimeError("pad_sequence: Expected iterable for input sequences, but got arg of type: "
                               f"{type(sequences)}") from None
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    trailing = tuple(sequences[0].shape[1:])
    for i, s in enumerate(sequences):
        if s.ndim == 0 or tuple(s.shape[1:]) != trailing:
            raise RuntimeError(f"pad_sequence(): every sequence must have shape (L, *{list(trailing)}) like "
                               f"sequence 0, but sequence {i} has shape {list(s.shape)}")
    lens = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    longest = int(lens.max())
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    n_rows = int(lens.sum())
    t = np.arange(longest)[:, None]
    shift = (longest - lens)[None, :] if padding_side == "left" else 0
    pos = t - shift  # position inside each sequence of padded step t
    rows = np.where((pos >= 0) & (pos < lens[None, :]), starts[None, :] + pos, n_rows)  # (T, B)
    if batch_first:
        rows = rows.T
    first = sequences[0]
    pad_row = full((1,) + trailing, padding_value, dtype=first.dtype, device=first.device)
    source = cat(list(sequences) + [pad_row])
    out = source[_int64(rows.reshape(-1)).to(first.device)]
    return out.reshape(rows.shape + trailing)


def unpad_sequence(padded_sequences: Tensor, lengths: Tensor, batch_first: bool = False) -> List[Tensor]:
    """Split a padded batch back into its sequences of ``lengths``.

    >>> import numgrad as ng
    >>> x = ng.tensor([[1., 2.], [3., 0.]])
    >>> ng.nn.utils.rnn.unpad_sequence(x, ng.tensor([2, 1]), batch_first=True)
    [tensor([1., 2.]), tensor([3.])]
    """
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    lens = lengths.numpy().tolist() if isinstance(lengths, Tensor) else list(lengths)
    if len(lens) != padded_sequences.shape[0]:
        raise ValueError(f"unpad_sequence(): got {len(lens)} lengths for a batch of {padded_sequences.shape[0]}")
    return [padded_sequences[i, :int(n)] for i, n in enumerate(lens)]


def pack_sequence(sequences: List[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences ``(L_i, *)`` (``pad_sequence`` then ``pack_padded_sequence``).

    >>> import numgrad as ng
    >>> ng.nn.utils.rnn.pack_sequence([ng.tensor([1., 2.]), ng.tensor([3.])]).data
    tensor([1., 3., 2.])
    """
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> List[Tensor]:
    """Unpack a ``PackedSequence`` into its list of sequences, in the original batch order.

    >>> import numgrad as ng
    >>> p = ng.nn.utils.rnn.pack_sequence([ng.tensor([1.]), ng.tensor([2., 3.])], enforce_sorted=False)
    >>> ng.nn.utils.rnn.unpack_sequence(p)
    [tensor([1.]), tensor([2., 3.])]
    """
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
