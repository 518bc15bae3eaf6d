"""Registry specs for shape ops (``numgrad/ops/shape.py``) and indexing (``numgrad/ops/indexing.py``).

Index arrays are int64 NumPy arrays in the samples (the registry turns them
into plain tensors, and into non-contiguous ones in the strided run); samples
with repeated indices check that gradients of duplicates accumulate.
"""
from __future__ import annotations

import numpy as np

from tests.op_registry import OpSpec, Sample


def _r(rng, *shape):
    return rng.standard_normal(shape)


def _i(*values):
    return np.array(values, dtype=np.int64)


def _spec(name, fn, torch_fn, samples, **options):
    return OpSpec(name, fn, torch_fn, samples, **options)


def _both(call):
    """The same call in numgrad and torch: ``call(lib, *args, **kwargs)``."""
    return call, call


def _pad_call(lib, x, pad, mode="constant", value=None):
    if hasattr(lib, "nn") and hasattr(lib.nn, "functional") and hasattr(lib.nn.functional, "pad"):
        return lib.nn.functional.pad(x, pad, mode=mode, value=value)
    return lib.pad(x, pad, mode=mode, value=value)


def _setitem(key_fn):
    """out = x.clone(); out[key] = v; returned (gradients flow to x and v)."""
    def call(lib, x, v, *idx):
        out = x.clone()
        out[key_fn(*idx)] = v
        return out
    return call


def _index_put_acc(lib, x, v, idx):
    return x.index_put((idx,), v, accumulate=True)


SPECS = [
    # ------------------------------------------------------------------ shape
    _spec("shape.cat", *_both(lambda lib, a, b, dim=0: lib.cat([a, b], dim)),
          lambda rng: [Sample((_r(rng, 2, 3), _r(rng, 4, 3))), Sample((_r(rng, 2, 3), _r(rng, 2, 1)), dict(dim=1)),
                       Sample((_r(rng, 2, 3), _r(rng, 2, 2)), dict(dim=-1))]),
    _spec("shape.stack", *_both(lambda lib, a, b, dim=0: lib.stack([a, b], dim)),
          lambda rng: [Sample((_r(rng, 2, 3), _r(rng, 2, 3)), dict(dim=1)), Sample((_r(rng, 3), _r(rng, 3)))]),
    _spec("shape.split", *_both(lambda lib, a, s, dim=0: lib.split(a, s, dim)),
          lambda rng: [Sample((_r(rng, 5, 2), 2)), Sample((_r(rng, 2, 5), [1, 4], ), dict(dim=1))]),
    _spec("shape.chunk", *_both(lambda lib, a, c, dim=0: lib.chunk(a, c, dim)),
          lambda rng: [Sample((_r(rng, 5, 2), 3)), Sample((_r(rng, 2, 4), 2), dict(dim=1))]),
    _spec("shape.narrow", *_both(lambda lib, a, d, s, n: lib.narrow(a, d, s, n)),
          lambda rng: [Sample((_r(rng, 4, 3), 0, 1, 2)), Sample((_r(rng, 2, 5), 1, -3, 3))]),
    _spec("shape.unbind", *_both(lambda lib, a, dim=0: lib.unbind(a, dim)),
          lambda rng: [Sample((_r(rng, 3, 2),)), Sample((_r(rng, 2, 3),), dict(dim=1))]),
    _spec("shape.movedim", *_both(lambda lib, a, s, d: lib.movedim(a, s, d)),
          lambda rng: [Sample((_r(rng, 2, 3, 4), 0, -1)), Sample((_r(rng, 2, 3, 4), (0, 1), (2, 0)))]),
    _spec("shape.flip", *_both(lambda lib, a, dims: lib.flip(a, dims)),
          lambda rng: [Sample((_r(rng, 3, 4), (1,))), Sample((_r(rng, 2, 3, 2), (0, 2)))]),
    _spec("shape.repeat", *_both(lambda lib, a, *r: a.repeat(*r)),
          lambda rng: [Sample((_r(rng, 2, 3), 2, 1)), Sample((_r(rng, 3), 2, 2))]),
    _spec("shape.tile", *_both(lambda lib, a, r: lib.tile(a, r)),
          lambda rng: [Sample((_r(rng, 2, 3), (2,))), Sample((_r(rng, 3), (2, 2)))]),
    _spec("shape.pad_constant", _pad_call, _pad_call,
          lambda rng: [Sample((_r(rng, 2, 3), (1, 2))), Sample((_r(rng, 2, 3, 4), (1, -1, 0, 2)), dict(value=0.5))]),
    _spec("shape.pad_reflect", _pad_call, _pad_call,
          lambda rng: [Sample((_r(rng, 2, 4), (2, 1)), dict(mode="reflect")),
                       Sample((_r(rng, 1, 3, 4), (1, 2, 2, 0)), dict(mode="reflect"))]),
    _spec("shape.pad_replicate", _pad_call, _pad_call,
          lambda rng: [Sample((_r(rng, 2, 3), (2, 1)), dict(mode="replicate"))]),
    _spec("shape.pad_circular", _pad_call, _pad_call,
          lambda rng: [Sample((_r(rng, 1, 2, 3), (2, 1)), dict(mode="circular"))]),
    # ------------------------------------------------------------------ indexing
    _spec("indexing.getitem_basic", *_both(lambda lib, a: a[1, ::2, None]),
          lambda rng: [Sample((_r(rng, 3, 4, 2),))]),
    _spec("indexing.getitem_ellipsis", *_both(lambda lib, a: a[..., 1:, 0]),
          lambda rng: [Sample((_r(rng, 2, 3, 2),))]),
    _spec("indexing.getitem_array", *_both(lambda lib, a, i: a[i]),
          lambda rng: [Sample((_r(rng, 4, 3), _i(0, 2, 0, 3))), Sample((_r(rng, 3), _i(-1, 1, 1)))]),
    _spec("indexing.getitem_mixed", *_both(lambda lib, a, i, j: a[i, 1:, j]),
          lambda rng: [Sample((_r(rng, 3, 4, 5), _i(0, 2, 2), _i(4, 0, 4)))]),
    _spec("indexing.getitem_split_adv", *_both(lambda lib, a, i, j: a[i, :, j]),
          lambda rng: [Sample((_r(rng, 3, 2, 4), np.array([[0], [2]]), _i(1, 3, 1)))]),
    _spec("indexing.getitem_mask", *_both(lambda lib, a, m: a[m]),
          lambda rng: [Sample((_r(rng, 3, 4), rng.standard_normal((3, 4)) > 0)),
                       Sample((_r(rng, 3, 2), np.array([True, False, True])))]),
    _spec("indexing.setitem_basic", *_both(_setitem(lambda: (slice(1, None), 0))),
          lambda rng: [Sample((_r(rng, 3, 4), _r(rng, 1)))]),
    _spec("indexing.setitem_array", *_both(_setitem(lambda i: (slice(None), i))),
          lambda rng: [Sample((_r(rng, 3, 4), _r(rng, 3, 2), _i(3, 0)))]),
    _spec("indexing.index_put_accumulate", *_both(_index_put_acc),
          lambda rng: [Sample((_r(rng, 4, 2), _r(rng, 3, 2), _i(1, 1, 3)))]),
    _spec("indexing.gather", *_both(lambda lib, a, d, i: lib.gather(a, d, i)),
          lambda rng: [Sample((_r(rng, 3, 4), 1, np.array([[0, 0, 3], [1, 2, 1], [3, 3, 3]]))),
                       Sample((_r(rng, 3, 4), 0, np.array([[2, 0, 2, 2], [1, 1, 1, 1]])))]),
    _spec("indexing.scatter_add", *_both(lambda lib, a, d, i, s: lib.scatter_add(a, d, i, s)),
          lambda rng: [Sample((_r(rng, 3, 4), 1, np.array([[0, 0, 3], [1, 2, 1]]), _r(rng, 2, 3))),
                       Sample((_r(rng, 3, 2), 0, np.array([[2, 2], [0, 2]]), _r(rng, 2, 2)))]),
    _spec("indexing.index_select", *_both(lambda lib, a, d, i: lib.index_select(a, d, i)),
          lambda rng: [Sample((_r(rng, 3, 4), 1, _i(3, 0, 3))), Sample((_r(rng, 4, 2), 0, _i(1, 1)))]),
    _spec("indexing.masked_fill", *_both(lambda lib, a, m, v=0.0: lib.masked_fill(a, m, v)),
          lambda rng: [Sample((_r(rng, 3, 4), rng.standard_normal((3, 4)) > 0), dict(v=2.5)),
                       Sample((_r(rng, 3, 4), np.array([True, False, False, True])))]),
    _spec("indexing.take_along_dim", *_both(lambda lib, a, i, dim=None: lib.take_along_dim(a, i, dim)),
          lambda rng: [Sample((_r(rng, 3, 4), np.array([[0, 3], [1, 1], [2, 0]])), dict(dim=1)),
                       Sample((_r(rng, 3, 4), _i(11, 0, 0)))]),
]
