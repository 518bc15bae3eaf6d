"""``einsum``: Einstein summation written with numgrad's differentiable ops.

The equation is lowered the way ``torch.einsum`` and ``opt_einsum`` do it: a label repeated
inside one operand takes that operand's diagonal, a label no one else needs is summed out at
once, and the operands are then contracted left to right, each pair as ONE batched matrix
product (shared labels that are still needed become batch dims, the others the contracted
dim). Gradients are those of the diagonal/sum/permute/matmul ops, on every device they run on.
"""
from __future__ import annotations

import string
from typing import Sequence

from ..tensor import Tensor
from .diagonals import diagonal
from .linalg import matmul
from .views import permute
from .autocast_policy import autocast_op

_LETTERS = set(string.ascii_letters)


def _parse(equation: str, operands: Sequence) -> tuple:
    """(labels of each operand, output labels); ellipsis dims become labels ('.', k) counted from the right."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation"
                         if len(operands) > len(terms) else
                         "einsum(): fewer operands were provided than specified in the equation")
    max_ellipsis = 0
    all_labels = []
    for term, op in zip(terms, operands):
        labels = _term_labels(term, op.ndim, equation)
        all_labels.append(labels)
        max_ellipsis = max(max_ellipsis, sum(1 for lb in labels if isinstance(lb, tuple)))
    ellipsis = [(".", k) for k in range(max_ellipsis - 1, -1, -1)]
    if arrow:
        labels = []
        pieces = rhs.split("...")
        if len(pieces) > 2:
            raise RuntimeError(f"einsum(): found more than one ellipsis in the output of equation '{equation}'")
        for i, piece in enumerate(pieces):
            if i:
                labels += ellipsis
            for ch in piece:
                if ch not in _LETTERS:
                    raise RuntimeError(f"einsum(): invalid subscript '{ch}' in the output of equation '{equation}'")
                if ch in labels:
                    raise RuntimeError(f"einsum(): output subscript {ch} appears more than once in the output")
                labels.append(ch)
        present = {lb for ls in all_labels for lb in ls}
        for lb in labels:
            if not isinstance(lb, tuple) and lb not in present:
                raise RuntimeError(f"einsum(): output subscript {lb} does not appear in the equation for any input "
                                 "operand")
        return all_labels, labels
    counts: dict = {}
    for ls in all_labels:
        for lb in ls:
            if not isinstance(lb, tuple):
                counts[lb] = counts.get(lb, 0) + 1
    return all_labels, ellipsis + sorted(lb for lb, c in counts.items() if c == 1)


def _term_labels(term: str, ndim: int, equation: str) -> list:
    pieces = term.split("...")
    if len(pieces) > 2:
        raise RuntimeError(f"einsum(): found more than one ellipsis in operand term '{term}' of '{equation}'")
    for ch in "".join(pieces):
        if ch not in _LETTERS:
            raise RuntimeError(f"einsum(): invalid subscript given at index {equation.index(ch)} in the equation "
                             f"string, subscripts must be in [a-zA-Z]")
    named = len(pieces[0]) + (len(pieces[1]) if len(pieces) == 2 else 0)
    if len(pieces) == 1:
        if named != ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) does not match the "
                               f"number of dimensions ({ndim}) for operand and no ellipsis was given")
        return list(pieces[0])
    if named > ndim:
        raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) is more than the number "
                           f"of dimensions ({ndim}) for operand")
    n_ell = ndim - named
    return list(pieces[0]) + [(".", k) for k in range(n_ell - 1, -1, -1)] + list(pieces[1])


def _take_diagonals(x, labels: list):
    """Repeated labels of one operand: keep the diagonal (as torch.einsum('ii->i'))."""
    while True:
        seen = {}
        for pos, lb in enumerate(labels):
            if lb in seen:
                first = seen[lb]
                if x.shape[first] != x.shape[pos]:
                    raise RuntimeError(f"einsum(): subscript {lb} is repeated for operand but the sizes don't match, "
                                       f"{x.shape[first]} != {x.shape[pos]}")
                x = diagonal(x, 0, first, pos)
                labels = [b for i, b in enumerate(labels) if i not in (first, pos)] + [lb]
                break
            seen[lb] = pos
        else:
            return x, labels


def _sum_out(x, labels: list, keep: set):
    dims = [i for i, lb in enumerate(labels) if lb not in keep]
    if dims:
        x = x.sum(dims)
        labels = [lb for lb in labels if lb in keep]
    return x, labels


def _prod(values) -> int:
    n = 1
    for v in values:
        n *= v
    return n


def _contract(a, la: list, b, lb: list, needed: set):
    """The product of ``a`` and ``b`` summed over their shared labels that are not ``needed``."""
    sizes = {}
    for t, ls in ((a, la), (b, lb)):
        for d, lab in enumerate(ls):
            n = t.shape[d]
            if lab in sizes and sizes[lab] != n and 1 not in (sizes[lab], n):
                raise RuntimeError(f"einsum(): operands do not broadcast with remapped shapes (original->remapped): "
                                   f"subscript {lab if not isinstance(lab, tuple) else '...'} has sizes "
                                   f"{sizes[lab]} and {n}")
            sizes[lab] = max(sizes.get(lab, 1), n)
    shared = [lab for lab in la if lab in lb]
    batch = [lab for lab in shared if lab in needed]
    summed = [lab for lab in shared if lab not in needed]
    a_only = [lab for lab in la if lab not in lb]
    b_only = [lab for lab in lb if lab not in la]

    def arrange(t, ls, order):
        t = permute(t, [ls.index(lab) for lab in order])
        target = tuple(sizes[lab] for lab in order)
        return t.expand(*target) if t.shape != target else t

    a3 = arrange(a, la, batch + a_only + summed)
    b3 = arrange(b, lb, batch + summed + b_only)
    nb, nm, nk, nn = (_prod(sizes[lab] for lab in group) for group in (batch, a_only, summed, b_only))
    out = matmul(a3.reshape(nb, nm, nk), b3.reshape(nb, nk, nn))
    out = out.reshape(*[sizes[lab] for lab in batch + a_only + b_only])
    return out, batch + a_only + b_only


@autocast_op
def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation: ``einsum('ij,jk->ik', a, b)`` is ``a @ b``; ``'...'`` stands for broadcast dims;
    without ``->`` the output has the labels that occur once, in alphabetical order.

    >>> import numgrad as ng
    >>> a, b = ng.ones(2, 3), ng.ones(3, 4)
    >>> ng.einsum('ij,jk->ik', a, b).shape
    (2, 4)
    >>> ng.einsum('ii', ng.eye(3))
    tensor(3.)
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError("einsum(): the equation must be a string (the sublist format is not supported)")
    for op in operands:
        if not isinstance(op, Tensor):
            raise TypeError(f"einsum(): operands must be Tensors, got {type(op).__name__}")
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    labels, out_labels = _parse(equation, operands)
    tensors = list(operands)
    for i in range(len(tensors)):
        tensors[i], labels[i] = _take_diagonals(tensors[i], labels[i])
    # sum out what only one operand has (and the output does not)
    for i in range(len(tensors)):
        others = set(out_labels)
        for j, ls in enumerate(labels):
            if j != i:
                others.update(ls)
        tensors[i], labels[i] = _sum_out(tensors[i], labels[i], others)
    acc, acc_labels = tensors[0], labels[0]
    for i in range(1, len(tensors)):
        needed = set(out_labels)
        for ls in labels[i + 1:]:
            needed.update(ls)
        acc, acc_labels = _contract(acc, acc_labels, tensors[i], labels[i], needed)
    acc, acc_labels = _sum_out(acc, acc_labels, set(out_labels))
    # output ellipsis dims an operand lacked are broadcast dims of size 1
    missing = [lab for lab in out_labels if lab not in acc_labels]
    for lab in missing:
        acc = acc.unsqueeze(-1)
        acc_labels = acc_labels + [lab]
    return permute(acc, [acc_labels.index(lab) for lab in out_labels]) if out_labels else acc


PUBLIC = ("einsum",)
