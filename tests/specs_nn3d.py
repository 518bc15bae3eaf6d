"""Registry specs for the 3-D convolutions and poolings and max unpooling of ``numgrad.nn.functional``; see
``tests/op_registry.py`` (``tests/test_nn3d.py`` has their indices, layers and errors)."""
from __future__ import annotations

from tests.op_registry import OpSpec, Sample


def _normal(rng, *shapes):
    return tuple(rng.standard_normal(s) for s in shapes)


def _call(name, **fixed):
    def fn(lib, *args, **kwargs):
        return getattr(lib.nn.functional, name)(*args, **fixed, **kwargs)
    return fn


def _unpool3d(lib, x):
    # the indices come from the library's own max_pool3d, so they are the same in both (test_nn3d checks them)
    values, indices = lib.nn.functional.max_pool3d(x, 2, return_indices=True)
    return lib.nn.functional.max_unpool3d(values, indices, 2, output_size=x.shape[-3:])


SPECS = [
    OpSpec("nnfunc.conv3d", _call("conv3d"), _call("conv3d"), lambda rng: [
        Sample(_normal(rng, (2, 4, 3, 4, 3), (4, 2, 2, 3, 2), (4,)), dict(stride=(1, 2, 1), padding=1, groups=2)),
        Sample(_normal(rng, (2, 3, 3, 3), (2, 2, 2, 1, 2)), dict(padding="same", dilation=(1, 1, 2)))]),
    OpSpec("nnfunc.conv_transpose3d", _call("conv_transpose3d"), _call("conv_transpose3d"), lambda rng: [
        Sample(_normal(rng, (1, 4, 2, 3, 2), (4, 1, 2, 2, 3), (2,)),
               dict(stride=2, padding=(1, 0, 1), output_padding=(1, 1, 0), groups=2))]),
    OpSpec("nnfunc.max_pool3d", _call("max_pool3d"), _call("max_pool3d"), lambda rng: [
        Sample(_normal(rng, (1, 2, 4, 5, 4)), dict(kernel_size=(2, 3, 2), stride=(2, 1, 2), padding=1,
                                                   ceil_mode=True))]),
    OpSpec("nnfunc.avg_pool3d", _call("avg_pool3d"), _call("avg_pool3d"), lambda rng: [
        Sample(_normal(rng, (1, 2, 4, 5, 4)), dict(kernel_size=(2, 3, 2), stride=2, padding=1, ceil_mode=True,
                                                   count_include_pad=False))]),
    OpSpec("nnfunc.adaptive_avg_pool3d", _call("adaptive_avg_pool3d"), _call("adaptive_avg_pool3d"), lambda rng: [
        Sample(_normal(rng, (2, 5, 4, 3)), dict(output_size=(3, 2, None)))]),
    OpSpec("nnfunc.adaptive_max_pool3d", _call("adaptive_max_pool3d"), _call("adaptive_max_pool3d"), lambda rng: [
        Sample(_normal(rng, (1, 2, 5, 4, 3)), dict(output_size=(3, 2, 2)))]),
    OpSpec("nnfunc.max_unpool3d", _unpool3d, _unpool3d, lambda rng: [Sample(_normal(rng, (1, 2, 4, 4, 5)))]),
]

