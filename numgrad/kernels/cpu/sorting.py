"""Numba kernels for sorting and searching: row sorts, binary search, run-length of sorted data.

Every kernel works on C-contiguous 2-D arrays ``(rows, n)``: the ops layer moves the dimension
of interest innermost first (``numgrad/ops/sorting.py``).  Kernels return positions only; the
ops gather the values, so their gradients are the gather's (a scatter to the same positions).

NaN sorts as larger than every number, as in PyTorch (last ascending, first descending); the
sort is a stable merge sort, so equal keys keep their order in both directions.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

_OPTS = dict(cache=True, nogil=True)


@njit(**_OPTS)
def _before(a, b, descending):
    """Whether key ``a`` goes strictly before key ``b`` (NaN counts as the largest value)."""
    a_nan = a != a
    b_nan = b != b
    if descending:
        if a_nan:
            return not b_nan
        return (not b_nan) and a > b
    if b_nan:
        return not a_nan
    return (not a_nan) and a < b


@njit(**_OPTS)
def _merge_sort_row(keys, idx, tmp, descending):
    """Sort the positions ``idx`` (0..n-1) of ``keys`` in place, stably, bottom-up."""
    n = idx.shape[0]
    width = 1
    src, dst = idx, tmp
    while width < n:
        start = 0
        while start < n:
            mid = min(start + width, n)
            stop = min(start + 2 * width, n)
            i, j, k = start, mid, start
            while i < mid and j < stop:
                # take from the right run only when it is strictly before: equal keys stay in order
                if _before(keys[src[j]], keys[src[i]], descending):
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < stop:
                dst[k] = src[j]
                j += 1
                k += 1
            start += 2 * width
        src, dst = dst, src
        width *= 2
    if src is not idx:
        idx[:] = src


@njit(parallel=True, **_OPTS)
def argsort_rows(x2, descending):
    """int64 positions that sort each row of ``x2`` (rows, n), stable."""
    rows, n = x2.shape
    out = np.empty((rows, n), dtype=np.int64)
    for r in prange(rows):
        idx = out[r]
        for i in range(n):
            idx[i] = i
        tmp = np.empty(n, dtype=np.int64)
        _merge_sort_row(x2[r], idx, tmp, descending)
    return out


@njit(parallel=True, **_OPTS)
def searchsorted_rows(seq2, values2, right):
    """For each row r: the insertion position of every ``values2[r]`` in the sorted ``seq2[r]``
    (one row of ``seq2`` serves every row of values when it has a single row)."""
    rows, n = values2.shape
    m = seq2.shape[1]
    out = np.empty((rows, n), dtype=np.int64)
    for r in prange(rows):
        s = seq2[0] if seq2.shape[0] == 1 else seq2[r]
        for i in range(n):
            v = values2[r, i]
            lo, hi = 0, m
            while lo < hi:
                mid = (lo + hi) // 2
                # right: first position whose element is > v; left: first whose element is >= v (NaN largest)
                if right:
                    go_right = not _before(v, s[mid], False)
                else:
                    go_right = _before(s[mid], v, False)
                if go_right:
                    lo = mid + 1
                else:
                    hi = mid
            out[r, i] = lo
    return out


@njit(**_OPTS)
def unique_sorted(sorted_values, order):
    """Runs of equal values in ``sorted_values`` (a sort of the flat input by ``order``):
    (unique values, inverse index of every input element, count of each unique value)."""
    n = sorted_values.shape[0]
    inverse = np.empty(n, dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    starts = np.empty(n, dtype=np.int64)
    k = -1
    for i in range(n):
        v = sorted_values[i]
        if i == 0 or not v == sorted_values[i - 1]:  # NaN never equals: every NaN is its own value, as in PyTorch
            k += 1
            starts[k] = i
        counts[k] += 1
        inverse[order[i]] = k
    uniq = np.empty(k + 1, dtype=sorted_values.dtype)
    for j in range(k + 1):
        uniq[j] = sorted_values[starts[j]]
    return uniq, inverse, counts[:k + 1].copy()


@njit(**_OPTS)
def unique_consecutive_runs(values):
    """Runs of equal neighbours in ``values`` (no sort): (one value per run, run of each element, run lengths)."""
    n = values.shape[0]
    inverse = np.empty(n, dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    starts = np.empty(n, dtype=np.int64)
    k = -1
    for i in range(n):
        v = values[i]
        if i == 0 or not (v == values[i - 1]):
            k += 1
            starts[k] = i
        counts[k] += 1
        inverse[i] = k
    uniq = np.empty(k + 1, dtype=values.dtype)
    for j in range(k + 1):
        uniq[j] = values[starts[j]]
    return uniq, inverse, counts[:k + 1].copy()


@njit(**_OPTS)
def _row_before(rows, i, j):
    """Whether row ``i`` goes strictly before row ``j`` (lexicographic, NaN largest)."""
    for c in range(rows.shape[1]):
        a = rows[i, c]
        b = rows[j, c]
        if _before(a, b, False):
            return True
        if _before(b, a, False):
            return False
    return False


@njit(**_OPTS)
def unique_rows(rows):
    """Distinct rows of ``rows`` (n, m) in lexicographic order: (position of each distinct row's first
    occurrence in sorted order mapped back to ``rows``, inverse index of every row, count of each)."""
    n = rows.shape[0]
    idx = np.arange(n)
    tmp = np.empty(n, dtype=np.int64)
    width = 1
    src, dst = idx, tmp
    while width < n:  # stable bottom-up merge sort of the row positions
        start = 0
        while start < n:
            mid = min(start + width, n)
            stop = min(start + 2 * width, n)
            i, j, k = start, mid, start
            while i < mid and j < stop:
                if _row_before(rows, src[j], src[i]):
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < stop:
                dst[k] = src[j]
                j += 1
                k += 1
            start += 2 * width
        src, dst = dst, src
        width *= 2
    order = src
    first = np.empty(n, dtype=np.int64)
    inverse = np.empty(n, dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    k = -1
    for p in range(n):
        r = order[p]
        same = False
        if p > 0:
            q = order[p - 1]
            same = True
            for c in range(rows.shape[1]):
                if not rows[r, c] == rows[q, c]:
                    same = False
                    break
        if not same:
            k += 1
            first[k] = r
        counts[k] += 1
        inverse[r] = k
    return first[:k + 1].copy(), inverse, counts[:k + 1].copy()
