"""The 3-D family (conv3d, conv_transpose3d, the 3-D poolings, BatchNorm3d, InstanceNorm3d) and max unpooling,
against PyTorch: values, indices and gradients in float32 and float64, double backward, the layers' reprs,
state_dict keys and outputs, and the errors for bad arguments. (``tests/specs_nn3d.py`` runs the functional
forms through the op registry's generic checks as well.)"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng
from tests.helpers import assert_close, tols

RNG = np.random.default_rng(3)
# torch warns that its even-kernel 'same' padding copies the input; numgrad pads the same way
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")


def _pair_of(shape, dtype="float64", requires_grad=True):
    x = RNG.standard_normal(shape).astype(dtype)
    return (ng.tensor(x, requires_grad=requires_grad), torch.tensor(x, requires_grad=requires_grad))


def _run_both(call, shapes, dtype):
    """call(lib, *inputs) in numgrad and torch on the same random inputs; values and every input's gradient."""
    pairs = [_pair_of(s, dtype) for s in shapes]
    out_ng, out_t = call(ng, *[p[0] for p in pairs]), call(torch, *[p[1] for p in pairs])
    if isinstance(out_t, tuple):
        assert np.array_equal(out_ng[1].numpy(), out_t[1].numpy()), "indices differ"
        out_ng, out_t = out_ng[0], out_t[0]
    rtol, atol = tols(dtype)
    assert_close(out_ng, out_t, rtol, atol, "forward")
    g = RNG.standard_normal(tuple(out_t.shape)).astype(dtype)
    out_ng.backward(ng.tensor(g))
    out_t.backward(torch.tensor(g))
    for i, (a, t) in enumerate(pairs):
        assert_close(a.grad, t.grad, rtol, atol, f"gradient of input {i}")


def _f(name, *args, **kwargs):
    return lambda lib, *xs: getattr(lib.nn.functional, name)(*xs, *args, **kwargs)


def _unpool(dims, kernel, stride=None, padding=0, with_size=False):
    def call(lib, x):
        F = lib.nn.functional
        pool = F.max_pool3d if dims == 3 else getattr(F, f"max_pool{dims}d")
        values, indices = pool(x, kernel, stride, padding, return_indices=True)
        size = tuple(x.shape[-dims:]) if with_size else None
        return getattr(F, f"max_unpool{dims}d")(values * 2, indices, kernel, stride, padding, output_size=size)
    return call


CASES = [
    ("conv3d_unbatched_strided_dilated", _f("conv3d", stride=(2, 1, 1), dilation=(1, 2, 1)),
     [(2, 5, 5, 3), (3, 2, 2, 2, 2)]),
    ("conv3d_same_even_kernel_bias", _f("conv3d", padding="same"), [(1, 2, 3, 4, 3), (2, 2, 2, 2, 3), (2,)]),
    ("conv3d_valid_pointwise", _f("conv3d", padding="valid"), [(2, 3, 2, 2, 2), (2, 3, 1, 1, 1)]),
    ("conv_transpose3d_output_padding_past_stride", _f("conv_transpose3d", dilation=(3, 1, 2), stride=(1, 2, 1),
                                                       output_padding=(2, 1, 1)), [(2, 2, 3, 2), (2, 3, 2, 2, 2)]),
    ("conv_transpose3d_groups_bias", _f("conv_transpose3d", stride=2, padding=1, groups=2),
     [(1, 4, 2, 2, 3), (4, 1, 3, 2, 2), (2,)]),
    ("max_pool3d_indices_dilation", _f("max_pool3d", (2, 2, 3), (1, 2, 2), (1, 0, 1), (2, 1, 1), True, True),
     [(2, 5, 4, 6)]),
    ("avg_pool3d_divisor_override", _f("avg_pool3d", 2, 1, 1, True, True, -3), [(2, 3, 4, 3)]),
    ("avg_pool3d_ceil_include_pad", _f("avg_pool3d", 3, 2, 1, True), [(1, 2, 4, 5, 6)]),
    ("adaptive_max_pool3d_unequal_bins", _f("adaptive_max_pool3d", (2, 3, 2)), [(2, 5, 4, 3)]),
    ("adaptive_max_pool3d_indices", _f("adaptive_max_pool3d", (2, 1, 3), True), [(1, 2, 4, 3, 6)]),
    ("adaptive_max_pool3d_unequal_bins_indices", _f("adaptive_max_pool3d", (3, 2, 4), True), [(2, 5, 3, 7)]),
    ("adaptive_max_pool2d_unequal_bins_indices", _f("adaptive_max_pool2d", (3, None), True), [(2, 3, 5, 4)]),
    ("adaptive_max_pool1d_unequal_bins_indices", _f("adaptive_max_pool1d", 3, True), [(2, 7)]),
    ("lp_pool3d", _f("lp_pool3d", 2.0, (2, 1, 2), 1, True), [(1, 2, 3, 4, 3)]),
    ("max_unpool1d", _unpool(1, 3, 2, 1, with_size=True), [(2, 3, 8)]),
    ("max_unpool2d", _unpool(2, 2, with_size=True), [(1, 2, 4, 5)]),
    ("max_unpool3d_padding", _unpool(3, 3, 2, 1, with_size=True), [(2, 5, 4, 5)]),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_values_indices_and_gradients_match_torch(case, dtype):
    _, call, shapes = case
    _run_both(call, shapes, dtype)


def test_max_pool3d_picks_the_first_of_equal_maxima_as_torch():
    x = np.zeros((1, 1, 3, 3, 3))
    x[0, 0, 2, 0, 0] = x[0, 0, 0, 2, 2] = x[0, 0, 1, 1, 1] = 5.0
    args = dict(kernel_size=2, stride=1, return_indices=True)
    out, idx = ng.nn.functional.max_pool3d(ng.tensor(x), **args)
    ref, ref_idx = torch.nn.functional.max_pool3d(torch.tensor(x), **args)
    assert np.array_equal(idx.numpy(), ref_idx.numpy())
    assert_close(out, ref)


def test_gradcheck_and_double_backward_float64():
    F = ng.nn.functional
    x = ng.tensor(RNG.standard_normal((1, 2, 3, 2, 3)), requires_grad=True)
    w = ng.tensor(RNG.standard_normal((2, 1, 2, 1, 2)), requires_grad=True)
    assert ng.autograd.gradgradcheck(lambda x, w: F.conv3d(x, w, stride=(2, 1, 1), padding=1, groups=2), (x, w))
    assert ng.autograd.gradgradcheck(lambda x, w: F.conv_transpose3d(x, w, stride=2, groups=2), (x, w))
    assert ng.autograd.gradgradcheck(lambda x: F.max_pool3d(x, 2, 1, 1), (x,))
    assert ng.autograd.gradgradcheck(lambda x: F.avg_pool3d(x, 2, 1, 1, count_include_pad=False), (x,))
    assert ng.autograd.gradcheck(lambda x: F.adaptive_avg_pool3d(x, (2, 1, 2)), (x,))
    assert ng.autograd.gradcheck(lambda x: F.lp_pool3d(x, 2.0, 2, 1), (x,))


def _copy_state(module_ng, module_t):
    module_ng.load_state_dict({k: ng.tensor(v.detach().numpy()) for k, v in module_t.state_dict().items()})


LAYERS = [
    ("Conv3d", (2, 4, (1, 2, 3)), dict(stride=2, groups=2, bias=False, dilation=2), (1, 2, 5, 6, 7)),
    ("Conv3d", (2, 3, 3), dict(padding="same", padding_mode="reflect"), (2, 3, 4, 5)),
    ("Conv3d", (2, 3, 2), dict(padding=(1, 0, 1), padding_mode="circular"), (1, 2, 3, 3, 4)),
    ("Conv3d", (2, 3, 2), dict(padding="same", padding_mode="replicate", dilation=(1, 2, 1)), (1, 2, 3, 3, 4)),
    ("ConvTranspose3d", (2, 4, 3), dict(stride=2, output_padding=1, padding=1), (1, 2, 2, 3, 2)),
    ("MaxPool3d", (2,), dict(), (1, 2, 4, 4, 5)),
    ("MaxPool3d", ((1, 2, 3),), dict(stride=1, padding=(0, 1, 1), dilation=(1, 2, 1), ceil_mode=True), (2, 3, 5, 5)),
    ("AvgPool3d", (2,), dict(), (1, 2, 4, 4, 5)),
    ("AvgPool3d", ((2, 2, 2), 1, 1, True, False, 3), dict(), (2, 3, 4, 5)),
    ("AdaptiveAvgPool3d", ((2, None, 3),), dict(), (1, 2, 4, 4, 5)),
    ("AdaptiveMaxPool3d", (2,), dict(), (2, 4, 5, 4)),
    ("LPPool3d", (2, 3), dict(), (1, 2, 4, 4, 5)),
    ("LPPool3d", (2.0, (1, 2, 3), 2, True), dict(), (1, 2, 4, 4, 5)),
    ("BatchNorm3d", (2,), dict(), (3, 2, 2, 3, 2)),
    ("BatchNorm3d", (2,), dict(momentum=None, affine=False), (3, 2, 2, 3, 2)),
    ("InstanceNorm3d", (2,), dict(affine=True, track_running_stats=True), (3, 2, 2, 3, 2)),
    ("InstanceNorm3d", (2,), dict(), (2, 2, 3, 2)),
]


@pytest.mark.parametrize("layer", LAYERS, ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYERS)])
def test_layers_match_torch(layer):
    name, args, kwargs, shape = layer
    torch.manual_seed(0)
    module_t = getattr(torch.nn, name)(*args, **kwargs).double()
    module_ng = getattr(ng.nn, name)(*args, **kwargs, dtype=ng.float64) if hasattr(module_t, "weight") else \
        getattr(ng.nn, name)(*args, **kwargs)
    assert repr(module_ng) == repr(module_t)
    assert list(module_ng.state_dict()) == list(module_t.state_dict())
    _copy_state(module_ng, module_t)
    for training in (True, False):
        module_ng.train(training)
        module_t.train(training)
        x_ng, x_t = _pair_of(shape)
        out_ng, out_t = module_ng(x_ng), module_t(x_t)
        assert_close(out_ng, out_t, 1e-9, 1e-10, f"{name} output (training={training})")
        out_ng.sum().backward()
        out_t.sum().backward()
        assert_close(x_ng.grad, x_t.grad, 1e-9, 1e-10, f"{name} input gradient")
        for (key, p_ng), (_, p_t) in zip(module_ng.named_parameters(), module_t.named_parameters()):
            assert_close(p_ng.grad, p_t.grad, 1e-9, 1e-10, f"{name}.{key} gradient")
            p_ng.grad = None
            p_t.grad = None
    for (key, b_ng), (_, b_t) in zip(module_ng.named_buffers(), module_t.named_buffers()):
        assert_close(b_ng, b_t, 1e-9, 1e-10, f"{name} buffer {key}")


def test_unpool_layers_and_conv_transpose3d_output_size_match_torch():
    for dims, shape in ((1, (2, 3, 6)), (2, (2, 4, 6)), (3, (1, 2, 4, 4, 2))):
        pool_t = getattr(torch.nn, f"MaxPool{dims}d")(2, return_indices=True)
        pool_ng = getattr(ng.nn, f"MaxPool{dims}d")(2, return_indices=True)
        unpool_t, unpool_ng = getattr(torch.nn, f"MaxUnpool{dims}d")(2), getattr(ng.nn, f"MaxUnpool{dims}d")(2)
        assert repr(unpool_ng) == repr(unpool_t)
        x_ng, x_t = _pair_of(shape, requires_grad=False)
        size = list(shape[-dims:-1]) + [shape[-1] + 1]
        assert_close(unpool_ng(*pool_ng(x_ng), output_size=size), unpool_t(*pool_t(x_t), output_size=size))
    torch.manual_seed(0)
    layer_t = torch.nn.ConvTranspose3d(2, 3, 3, stride=2, padding=1).double()
    layer_ng = ng.nn.ConvTranspose3d(2, 3, 3, stride=2, padding=1, dtype=ng.float64)
    _copy_state(layer_ng, layer_t)
    x_ng, x_t = _pair_of((1, 2, 2, 3, 2), requires_grad=False)
    assert_close(layer_ng(x_ng, output_size=(4, 6, 3)), layer_t(x_t, output_size=(4, 6, 3)), 1e-9, 1e-10)
    with pytest.raises(ValueError, match="requested an output size of"):
        layer_ng(x_ng, output_size=(9, 6, 3))


# (call(lib), exception type, message pattern): both libraries must raise it
ERRORS = [
    (lambda lib: lib.nn.functional.conv3d(lib.ones(2, 3, 4), lib.ones(1, 2, 1, 1, 1)), RuntimeError,
     r"Expected 4D \(unbatched\) or 5D \(batched\) input to conv3d, but got input of size: \[2, 3, 4\]"),
    (lambda lib: lib.nn.functional.conv3d(lib.ones(1, 2, 3, 4, 5), lib.ones(1, 2, 5, 1, 1)), RuntimeError,
     r"Calculated padded input size per channel: \(3 x 4 x 5\). Kernel size: \(5 x 1 x 1\). Kernel size can't be "
     r"greater than actual input size"),
    (lambda lib: lib.nn.functional.conv3d(lib.ones(1, 2, 3, 4, 5), lib.ones(1, 3, 1, 1, 1)), RuntimeError,
     r"Given groups=1, weight of size \[1, 3, 1, 1, 1\], expected input\[1, 2, 3, 4, 5\] to have 3 channels, but "
     r"got 2 channels instead"),
    (lambda lib: lib.nn.functional.conv3d(lib.ones(1, 2, 3, 4, 5), lib.ones(1, 2, 2, 2, 2), stride=2,
                                          padding="same"), RuntimeError,
     "padding='same' is not supported for strided convolutions"),
    (lambda lib: lib.nn.functional.conv3d(lib.ones(1, 2, 3, 4, 5), lib.ones(1, 2, 2, 2, 2), padding="foo"),
     RuntimeError, "Invalid padding string"),
    (lambda lib: lib.nn.functional.conv3d(lib.ones(1, 2, 3, 4, 5), lib.ones(1, 2, 2, 2, 2), stride=0),
     RuntimeError, "non-positive stride is not supported"),
    (lambda lib: lib.nn.functional.conv3d(lib.ones(1, 2, 3, 4, 5), lib.ones(1, 2, 2, 2, 2), lib.ones(2)),
     RuntimeError, r"expected bias to be 1-dimensional with 1 elements, but got bias of size \[2\]"),
    (lambda lib: lib.nn.functional.conv_transpose3d(lib.ones(1, 2, 3, 4, 5), lib.ones(2, 1, 2, 2, 2), stride=2,
                                                    output_padding=2), RuntimeError,
     "output padding must be smaller than either stride or dilation, but got output_padding_depth: 2 "
     "output_padding_height: 2 output_padding_width: 2 stride_depth: 2"),
    (lambda lib: lib.nn.functional.conv_transpose3d(lib.ones(1, 2, 3, 4, 5), lib.ones(3, 1, 2, 2, 2)),
     RuntimeError, r"Given transposed=1, weight of size \[3, 1, 2, 2, 2\], expected input\[1, 2, 3, 4, 5\] to have "
                   r"3 channels, but got 2 channels instead"),
    (lambda lib: lib.nn.functional.conv_transpose3d(lib.ones(1, 2, 3, 4, 5), lib.ones(2, 1, 2, 2, 2), padding=3),
     RuntimeError, "Output size is too small"),
    (lambda lib: lib.nn.functional.max_pool3d(lib.ones(2, 3, 4), 2), RuntimeError,
     r"non-empty 4D or 5D \(batch mode\) tensor expected for input"),
    (lambda lib: lib.nn.functional.max_pool3d(lib.ones(1, 2, 3, 4, 5), 2, padding=2), RuntimeError,
     "pad should be at most half of effective kernel size, but got pad=2, kernel_size=2 and dilation=1"),
    (lambda lib: lib.nn.functional.max_pool3d(lib.ones(1, 2, 3, 3, 3), 3, padding=(1, 1, 2), dilation=(1, 1, 2)),
     RuntimeError, "pad should be smaller than or equal to half of kernel size, but got kT: 3 kW: 3 kH: 3 padT: 1 "
                   "padW: 2 padH: 1"),
    (lambda lib: lib.nn.functional.max_pool3d(lib.ones(1, 2, 3, 4, 5), 4), RuntimeError,
     r"Given input size: \(2x3x4x5\). Calculated output size: \(2x0x1x1\). Output size is too small"),
    (lambda lib: lib.nn.functional.max_pool3d(lib.ones(1, 2, 3, 4, 5), 2, stride=0), RuntimeError,
     "stride should not be zero"),
    (lambda lib: lib.nn.functional.max_pool3d(lib.ones(1, 2, 3, 4, 5), (2, 2)), RuntimeError,
     "max_pool3d: kernel_size must either be a single int, or a tuple of three ints"),
    (lambda lib: lib.nn.functional.max_pool3d(lib.ones(1, 2, 3, 4, 5), 2, padding=-1), RuntimeError,
     "pad must be non-negative, but got pad: -1"),
    (lambda lib: lib.nn.functional.max_pool3d(lib.ones(1, 2, 3, 4, 5), 2, dilation=0), RuntimeError,
     "dilation should be greater than zero, but got dilationT: 0 dilationH: 0 dilationW: 0"),
    (lambda lib: lib.nn.functional.avg_pool3d(lib.ones(1, 2, 3, 4, 5), (4, 3, 3), padding=1), RuntimeError,
     r"input image \(T: 3 H: 4 W: 5\) smaller than kernel size \(kT: 4 kH: 3 kW: 3\)"),
    (lambda lib: lib.nn.functional.avg_pool3d(lib.ones(1, 2, 3, 4, 5), 2, divisor_override=0), RuntimeError,
     "divisor must be not zero"),
    (lambda lib: lib.nn.functional.adaptive_avg_pool3d(lib.ones(2, 3, 4), 2), RuntimeError,
     r"adaptive_avg_pool3d\(\): Expected 4D or 5D tensor, but got \[2, 3, 4\]"),
    (lambda lib: lib.nn.functional.adaptive_avg_pool3d(lib.ones(1, 2, 3, 4, 5), (2, 2)), RuntimeError,
     "adaptive_avg_pool3d: output_size must be 3"),
    (lambda lib: lib.nn.functional.adaptive_max_pool3d(lib.ones(2, 3, 4), 2), RuntimeError,
     r"adaptive_max_pool3d\(\): Expected 4D or 5D tensor, but got: \[2, 3, 4\]"),
    (lambda lib: lib.nn.functional.lp_pool3d(lib.ones(1, 2, 3, 4, 5), 2, (2, 2)), ValueError,
     r"not enough values to unpack \(expected 3, got 2\)"),
    (lambda lib: lib.nn.functional.max_unpool2d(lib.ones(1, 1, 2, 2), lib.zeros(1, 1, 2, 2), 2), RuntimeError,
     "elements in indices should be type int64 but got: Float"),
    (lambda lib: lib.nn.functional.max_unpool2d(lib.ones(1, 1, 2, 2), lib.zeros(1, 1, 2, 1, dtype=lib.int64), 2),
     RuntimeError, r"Expected shape of indices to be same as that of the input tensor \(\[1, 1, 2, 2\]\) but got "
                   r"indices tensor with shape: \[1, 1, 2, 1\]"),
    (lambda lib: lib.nn.functional.max_unpool2d(lib.ones(1, 2, 2), lib.tensor([[[0, -5], [1, 2]]]), 2),
     RuntimeError, r"Found an invalid max index: -5 \(output volumes are of size 4x4\)"),
    (lambda lib: lib.nn.functional.max_unpool1d(lib.ones(1, 1, 3), lib.tensor([[[0, 9, 4]]]), 2), RuntimeError,
     r"Found an invalid max index: 9 \(output volumes are of size 6x1\)"),
    (lambda lib: lib.nn.functional.max_unpool2d(lib.ones(1, 1, 2, 2), lib.zeros(1, 1, 2, 2, dtype=lib.int64), 2,
                                                output_size=(9, 9)), ValueError,
     r'invalid output_size "\(9, 9\)" \(dim 0 must be between 2 and 6\)'),
    (lambda lib: lib.nn.functional.max_unpool2d(lib.ones(1, 1, 2, 2), lib.zeros(1, 1, 2, 2, dtype=lib.int64), 2,
                                                output_size=(4, 4, 4)), ValueError,
     "output_size should be a sequence containing 2 or 4 elements, but it has a length of '3'"),
    (lambda lib: lib.nn.functional.max_unpool2d(lib.ones(2, 2), lib.zeros(2, 2, dtype=lib.int64), 2),
     RuntimeError, "Input to max_unpooling2d should be a 3d or 4d Tensor, but got a tensor with 2 dimensions."),
    (lambda lib: lib.nn.functional.max_unpool3d(lib.ones(2, 2, 2), lib.zeros(2, 2, 2, dtype=lib.int64), 2),
     RuntimeError, "Input to max_unpooling3d should be a 4d or 5d Tensor, but got a tensor with 3 dimensions."),
    (lambda lib: lib.nn.functional.max_unpool3d(lib.ones(1, 2, 2, 2), lib.zeros(1, 2, 2, 2, dtype=lib.int64), 2,
                                                stride=0), RuntimeError,
     r"strides should be greater than zero, but got stride: \[0, 0, 0\]"),
    (lambda lib: lib.nn.functional.max_unpool2d(lib.ones(1, 2, 2, dtype=lib.int32),
                                                lib.zeros(1, 2, 2, dtype=lib.int64), 2), NotImplementedError,
     "\"max_unpool2d\" not implemented for 'Int'"),
    (lambda lib: lib.nn.Conv3d(2, 4, 3, padding_mode="foo"), ValueError,
     r"padding_mode must be one of \{.*\}, but got padding_mode='foo'"),
    (lambda lib: lib.nn.Conv3d(2, 4, 3, padding="same", stride=2), ValueError,
     "padding='same' is not supported for strided convolutions"),
    (lambda lib: lib.nn.Conv3d(2, 4, 3, padding="bar"), ValueError,
     r"Invalid padding string 'bar', should be one of \{'(valid|same)', '(valid|same)'\}"),  # torch prints a set
    (lambda lib: lib.nn.ConvTranspose3d(2, 4, 3, padding_mode="reflect"), ValueError,
     'Only "zeros" padding mode is supported for ConvTranspose3d'),
    (lambda lib: lib.nn.BatchNorm3d(2)(lib.ones(2, 2, 3, 3)), ValueError, r"expected 5D input \(got 4D input\)"),
    (lambda lib: lib.nn.InstanceNorm3d(2)(lib.ones(2, 3, 3)), ValueError, r"expected 4D or 5D input \(got 3D input\)"),
]


@pytest.mark.parametrize("case", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_errors_match_torch(case):
    call, error, pattern = case
    for lib in (torch, ng):
        with pytest.raises(error, match=pattern):
            call(lib)


def test_numgrads_own_errors():
    F = ng.nn.functional
    with pytest.raises(RuntimeError, match=r"conv3d\(\): expected a 5-D weight .* got \[1, 2, 1, 1\]"):
        F.conv3d(ng.ones(1, 2, 3, 4, 5), ng.ones(1, 2, 1, 1))
    with pytest.raises(RuntimeError, match=r"max_pool3d\(\): expected a float32 or float64 input"):
        F.max_pool3d(ng.ones(1, 2, 2, 2, dtype=ng.int64), 2)


@pytest.mark.parametrize("module", ["numgrad.nn.functional.conv_more", "numgrad.nn.functional.pooling_3d",
                                    "numgrad.nn.functional.unpooling", "numgrad.nn.modules.pooling_3d",
                                    "numgrad.nn.functional.pooling_fractional",
                                    "numgrad.nn.modules.pooling_fractional"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


CUDA_CASES = [
    ("conv3d", lambda F, x, w: F.conv3d(x, w, stride=(2, 1, 1), padding=1), [(1, 1, 3, 2, 2), (1, 1, 2, 2, 2)]),
    ("conv_transpose3d", lambda F, x, w: F.conv_transpose3d(x, w, stride=2), [(1, 1, 2, 2, 1), (1, 1, 2, 1, 2)]),
    ("max_pool3d", lambda F, x: F.max_pool3d(x, 2, return_indices=True), [(1, 1, 2, 2, 4)]),
    ("avg_pool3d", lambda F, x: F.avg_pool3d(x, 2, padding=1), [(1, 1, 2, 2, 2)]),
    ("adaptive_max_pool3d", lambda F, x: F.adaptive_max_pool3d(x, (1, 1, 2), return_indices=True), [(1, 1, 2, 2, 4)]),
    ("max_unpool3d", lambda F, x: F.max_unpool3d(*F.max_pool3d(x, 2, return_indices=True), 2), [(1, 1, 2, 2, 4)]),
    ("adaptive_max_pool3d_unequal_bins", lambda F, x: F.adaptive_max_pool3d(x, (1, 2, 2), return_indices=True),
     [(1, 1, 2, 3, 3)]),
]


@pytest.mark.gpu
@pytest.mark.skipif(not ng.cuda.is_available(), reason="no GPU and no CUDA simulator")
@pytest.mark.usefixtures("fast_simulated_barriers")
@pytest.mark.parametrize("case", CUDA_CASES, ids=[c[0] for c in CUDA_CASES])
def test_on_cuda_tensors_as_on_the_cpu(case):
    """The 3-D ops are compositions of ops with CUDA kernels: on CUDA tensors they stay there and agree."""
    _, fn, shapes = case
    arrays = [RNG.standard_normal(s) for s in shapes]
    results = {}
    for device in ("cpu", "cuda"):
        xs = [ng.tensor(a, device=device, requires_grad=True) for a in arrays]
        outs = fn(ng.nn.functional, *xs)
        outs = outs if isinstance(outs, tuple) else (outs,)
        assert all(o.device.type == device for o in outs)
        outs[0].sum().backward()
        results[device] = [o.detach().cpu() for o in outs] + [x.grad.cpu() for x in xs]
    for cpu, gpu in zip(results["cpu"], results["cuda"]):
        assert_close(gpu, cpu, 1e-9, 1e-10)


FRACTIONAL = [
    (2, (2, 3, 9, 11), (2, 3), dict(output_size=(4, 5))),
    (2, (3, 10, 7), 3, dict(output_ratio=(0.6, 0.5))),
    (3, (2, 2, 6, 7, 9), (2, 3, 2), dict(output_size=(3, 4, 5))),
    (3, (2, 5, 8, 6), 2, dict(output_ratio=(0.5, 0.7, 0.6))),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", FRACTIONAL, ids=[f"{c[0]}d-{i}" for i, c in enumerate(FRACTIONAL)])
def test_fractional_max_pool_matches_torch_given_the_samples(case, dtype):
    """The same _random_samples give PyTorch's windows (its interval rule runs in the input's precision)."""
    dims, shape, kernel, kwargs = case
    batch = 1 if len(shape) == dims + 1 else shape[0]
    samples = RNG.random((batch, shape[-dims - 1], dims)).astype(dtype)

    def call(lib, x):
        return getattr(lib.nn.functional, f"fractional_max_pool{dims}d")(
            x, kernel, return_indices=True, _random_samples=lib.tensor(samples), **kwargs)
    _run_both(call, [shape], dtype)


def test_fractional_max_pool_samples_come_from_numgrads_generator():
    x = ng.tensor(RNG.standard_normal((2, 3, 9, 8)), requires_grad=True)
    layer = ng.nn.FractionalMaxPool2d(2, output_ratio=0.5, return_indices=True)
    ng.manual_seed(7)
    first, first_idx = layer(x)
    ng.manual_seed(7)
    again, again_idx = layer(x)
    assert np.array_equal(first_idx.numpy(), again_idx.numpy()) and first.shape == (2, 3, 4, 4)
    assert_close(first, again)
    y = ng.tensor(RNG.standard_normal((1, 4, 3, 5)), requires_grad=True)
    assert ng.autograd.gradcheck(lambda y: ng.nn.functional.fractional_max_pool3d(
        y, 2, (2, 1, 2), _random_samples=ng.tensor([[[0.3, 0.6, 0.9]]], dtype=ng.float64)), (y,))


def test_fractional_max_pool_layers_and_errors_match_torch():
    samples = torch.rand(1, 2, 3)
    for lib in (torch, ng):
        assert repr(lib.nn.FractionalMaxPool3d(2, output_size=3)) == "FractionalMaxPool3d()"
        layer = lib.nn.FractionalMaxPool3d(2, output_size=(2, 2, 3), _random_samples=lib.tensor(samples.numpy()))
        assert list(layer.state_dict()) == ["_random_samples"]
        assert list(lib.nn.FractionalMaxPool2d(2, output_size=3).state_dict()) == []
    cases = [
        (lambda lib: lib.nn.FractionalMaxPool2d(2, output_ratio=1.5), ValueError,
         r"output_ratio must be between 0 and 1 \(got 1.5\)"),
        (lambda lib: lib.nn.FractionalMaxPool3d(2), ValueError,
         "FractionalMaxPool3d requires specifying either an output size, or a pooling ratio"),
        (lambda lib: lib.nn.FractionalMaxPool2d(2, output_size=2, output_ratio=0.5), ValueError,
         "only one of output_size and output_ratio may be specified"),
        (lambda lib: lib.nn.functional.fractional_max_pool2d(lib.ones(1, 2, 5, 6), 2), ValueError,
         "fractional_max_pool2d requires specifying either an output_size or an output_ratio"),
        (lambda lib: lib.nn.functional.fractional_max_pool2d(lib.ones(1, 2, 5, 6), 3, output_size=4), RuntimeError,
         r"fractional_max_pool2d\(\): pool height 3 too large relative to input height 5"),
        (lambda lib: lib.nn.functional.fractional_max_pool3d(lib.ones(1, 2, 3, 4, 5), 2, output_size=(2, 3, 4)),
         RuntimeError, r"fractional_max_pool3d_out\(\): pool time 2 too large relative to input time 3"),
        (lambda lib: lib.nn.functional.fractional_max_pool2d(lib.ones(1, 2, 5, 6), 2, output_size=3,
                                                             _random_samples=lib.ones(1, 2, 3)), RuntimeError,
         r"Expect _random_samples.size\(2\) equals to 2; got 3."),
        (lambda lib: lib.nn.functional.fractional_max_pool2d(lib.ones(1, 2, 5, 6), 2, output_size=3,
                                                             _random_samples=lib.ones(1, 3, 2)), RuntimeError,
         r"Expect _random_samples.size\(1\) equals to input channel size."),
        (lambda lib: lib.nn.functional.fractional_max_pool2d(lib.ones(1, 2, 5, 6), 2, output_size=3,
                                                             _random_samples=lib.ones(2, 2)), RuntimeError,
         "Expect _random_samples to have 3 dimensions, got 2"),
        (lambda lib: lib.nn.functional.fractional_max_pool2d(lib.ones(1, 2, 5, 6), 2, output_size=3,
                                                             _random_samples=lib.ones(1, 2, 2, dtype=lib.float64)),
         RuntimeError, "Expect _random_samples to have the same dtype as input"),
    ]
    for call, error, pattern in cases:
        for lib in (torch, ng):
            with pytest.raises(error, match=pattern):
                call(lib)
