"""Registry specs for attention, the 1-D and transposed convolutions, group / instance norm, interpolation and
pixel shuffles of ``numgrad.nn.functional``; see ``tests/op_registry.py``."""
from __future__ import annotations

from tests.op_registry import OpSpec, Sample


def _normal(rng, *shapes):
    return tuple(rng.standard_normal(s) for s in shapes)


def _sdpa_samples(rng):
    keep = rng.random((3, 4)) > 0.3
    keep[:, 0] = True
    return [
        Sample(_normal(rng, (2, 3, 4), (2, 4, 4), (2, 4, 3))),
        Sample(_normal(rng, (2, 3, 4), (2, 4, 4), (2, 4, 3)), dict(is_causal=True, scale=0.5)),
        Sample(_normal(rng, (1, 2, 3, 4), (1, 2, 4, 4), (1, 2, 4, 3)) + (keep,)),
        Sample(_normal(rng, (2, 3, 4), (2, 4, 4), (2, 4, 3), (1, 4))),  # float mask, broadcast, with a gradient
    ]


def _sdpa(lib, q, k, v, mask=None, **kw):
    return lib.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, **kw)


def _conv_samples(rng):
    return [Sample(_normal(rng, (2, 4, 7), (6, 2, 3), (6,)), dict(stride=2, padding=1, dilation=1, groups=2)),
            Sample(_normal(rng, (3, 6), (2, 3, 2)), dict(dilation=2))]


def _conv_t1_samples(rng):
    return [Sample(_normal(rng, (2, 4, 3), (4, 1, 3), (2,)), dict(stride=2, padding=1, output_padding=1, groups=2))]


def _conv_t2_samples(rng):
    return [Sample(_normal(rng, (1, 2, 3, 2), (2, 3, 2, 3), (3,)), dict(stride=(2, 1), padding=(0, 1))),
            Sample(_normal(rng, (2, 3, 3), (2, 2, 2, 2)), dict(dilation=2))]


def _norm_samples(rng):
    return [Sample(_normal(rng, (2, 4, 3), (4,), (4,)))]


def _interp(mode, **kw):
    def fn(lib, x):
        return lib.nn.functional.interpolate(x, mode=mode, **kw)
    return fn


SPECS = [
    OpSpec("nnfunc.scaled_dot_product_attention", _sdpa, _sdpa, _sdpa_samples),
    OpSpec("nnfunc.conv1d", lambda lib, *a, **k: lib.nn.functional.conv1d(*a, **k),
           lambda lib, *a, **k: lib.nn.functional.conv1d(*a, **k), _conv_samples),
    OpSpec("nnfunc.conv_transpose1d", lambda lib, *a, **k: lib.nn.functional.conv_transpose1d(*a, **k),
           lambda lib, *a, **k: lib.nn.functional.conv_transpose1d(*a, **k), _conv_t1_samples),
    OpSpec("nnfunc.conv_transpose2d", lambda lib, *a, **k: lib.nn.functional.conv_transpose2d(*a, **k),
           lambda lib, *a, **k: lib.nn.functional.conv_transpose2d(*a, **k), _conv_t2_samples),
    OpSpec("nnfunc.group_norm", lambda lib, x, w, b: lib.nn.functional.group_norm(x, 2, w, b),
           lambda lib, x, w, b: lib.nn.functional.group_norm(x, 2, w, b), _norm_samples),
    OpSpec("nnfunc.instance_norm", lambda lib, x, w, b: lib.nn.functional.instance_norm(x, weight=w, bias=b),
           lambda lib, x, w, b: lib.nn.functional.instance_norm(x, weight=w, bias=b), _norm_samples),
    OpSpec("nnfunc.interpolate_nearest", _interp("nearest", scale_factor=1.5), _interp("nearest", scale_factor=1.5),
           lambda rng: [Sample(_normal(rng, (1, 2, 3, 4)))]),
    OpSpec("nnfunc.interpolate_bilinear", _interp("bilinear", size=(4, 3)), _interp("bilinear", size=(4, 3)),
           lambda rng: [Sample(_normal(rng, (1, 2, 3, 5)))]),
    OpSpec("nnfunc.interpolate_linear_align_corners", _interp("linear", size=7, align_corners=True),
           _interp("linear", size=7, align_corners=True), lambda rng: [Sample(_normal(rng, (2, 1, 4)))]),
    OpSpec("nnfunc.pixel_shuffle", lambda lib, x: lib.nn.functional.pixel_shuffle(x, 2),
           lambda lib, x: lib.nn.functional.pixel_shuffle(x, 2), lambda rng: [Sample(_normal(rng, (2, 8, 2, 3)))]),
    OpSpec("nnfunc.pixel_unshuffle", lambda lib, x: lib.nn.functional.pixel_unshuffle(x, 2),
           lambda lib, x: lib.nn.functional.pixel_unshuffle(x, 2), lambda rng: [Sample(_normal(rng, (2, 2, 4, 6)))]),
]
