"""Conv1d, the transposed convolutions, channel dropout, GroupNorm, InstanceNorm, interpolation and pixel
shuffles against PyTorch from the same weights (outputs, input and parameter gradients, running statistics),
float64 gradchecks of the new ops, PyTorch's default initialisation and the errors for misuse."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import numgrad as ng
import numgrad.nn as nn
import numgrad.nn.functional as F

RNG = np.random.default_rng(77)


def _randn(*shape, dtype="float32"):
    return RNG.standard_normal(shape).astype(dtype)


def _close(a, b, rtol=2e-5, atol=2e-6, msg=""):
    a = a.detach().numpy() if isinstance(a, ng.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, f"{msg}: {a.shape} vs {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=msg)


def _check_module(name, args, kwargs, x_shape, train=True, steps=1, forward_kwargs=None, rtol=2e-5, atol=2e-6):
    """numgrad's and torch's ``name`` layer from the same state_dict agree in outputs, gradients and buffers."""
    t_mod = getattr(torch.nn, name)(*args, **kwargs)
    mod = getattr(nn, name)(*args, **kwargs)
    assert list(mod.state_dict()) == list(t_mod.state_dict()), "state_dict keys are PyTorch's"
    mod.load_state_dict(t_mod.state_dict())
    mod.train(train)
    t_mod.train(train)
    forward_kwargs = forward_kwargs or {}
    for _ in range(steps):
        x = _randn(*x_shape)
        xi, txi = ng.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, t_out = mod(xi, **forward_kwargs), t_mod(txi, **forward_kwargs)
        _close(out, t_out, rtol, atol, msg=f"{name} output")
        g = _randn(*t_out.shape)
        out.backward(ng.tensor(g))
        t_out.backward(torch.tensor(g))
        _close(xi.grad, txi.grad, rtol, atol, msg=f"{name} input gradient")
    t_params = dict(t_mod.named_parameters())
    for pname, p in mod.named_parameters():
        _close(p.grad, t_params[pname].grad, rtol, atol, msg=f"{name}.{pname} gradient")
    t_buffers = dict(t_mod.named_buffers())
    for bname, b in mod.named_buffers():
        _close(b, t_buffers[bname], rtol, atol, msg=f"{name} buffer {bname}")
    return mod


# ================================================================== convolutions
@pytest.mark.parametrize("args,kwargs,x_shape", [
    ((4, 6, 3), dict(stride=2, padding=1, dilation=2, groups=2), (2, 4, 11)),
    ((3, 5, 3), dict(padding="same", bias=False), (3, 9)),  # unbatched
])
def test_conv1d_matches_torch(args, kwargs, x_shape):
    _check_module("Conv1d", args, kwargs, x_shape)


@pytest.mark.parametrize("name,args,kwargs,x_shape", [
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2), (2, 4, 5, 4)),
    ("ConvTranspose2d", (3, 2, (2, 3)), dict(stride=(1, 2), dilation=2, bias=False), (3, 4, 5)),
    ("ConvTranspose1d", (3, 4, 3), dict(stride=3, padding=1, output_padding=2), (2, 3, 6)),
    ("ConvTranspose2d", (2, 2, 3), dict(dilation=3, output_padding=(2, 1)), (1, 2, 3, 4)),  # padding >= stride
])
def test_conv_transpose_matches_torch(name, args, kwargs, x_shape):
    _check_module(name, args, kwargs, x_shape)


def test_conv_transpose2d_output_size_matches_torch():
    _check_module("ConvTranspose2d", (2, 3, 3), dict(stride=2, padding=1), (1, 2, 4, 4),
                  forward_kwargs=dict(output_size=[8, 8]))
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    with pytest.raises(ValueError, match="requested an output size of \\[10, 10\\], but valid sizes range from 7 to 8"):
        layer(ng.randn(1, 2, 4, 4), output_size=[10, 10])


def test_conv_transpose_and_conv1d_gradcheck_float64():
    x = ng.tensor(_randn(2, 4, 3, 3, dtype="float64"), requires_grad=True)
    w = ng.tensor(_randn(4, 1, 2, 3, dtype="float64"), requires_grad=True)
    b = ng.tensor(_randn(2, dtype="float64"), requires_grad=True)
    assert ng.autograd.gradcheck(
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2), (x, w, b))
    assert ng.autograd.gradgradcheck(lambda x, w: F.conv_transpose2d(x, w, stride=2, groups=2), (x, w))
    # output_padding at or above the stride (allowed below the dilation): the adjoint convs' extra rows are cut
    x2 = ng.tensor(_randn(1, 2, 3, 3, dtype="float64"), requires_grad=True)
    w2 = ng.tensor(_randn(2, 2, 2, 2, dtype="float64"), requires_grad=True)
    assert ng.autograd.gradgradcheck(lambda x, w: F.conv_transpose2d(x, w, dilation=3, output_padding=2), (x2, w2))
    x1 = ng.tensor(_randn(2, 2, 5, dtype="float64"), requires_grad=True)
    w1 = ng.tensor(_randn(3, 2, 2, dtype="float64"), requires_grad=True)
    assert ng.autograd.gradcheck(lambda x, w: F.conv1d(x, w, stride=2, dilation=2), (x1, w1))


def test_conv_transpose_grad_fn_and_default_init():
    layer = nn.ConvTranspose2d(8, 6, 3, groups=2)
    assert F.conv_transpose2d(ng.randn(1, 8, 4, 4), layer.weight, groups=2).grad_fn.name() == "ConvolutionBackward0"
    # PyTorch's _ConvNd init: fan_in is weight.size(1) * k * k = (6 / 2) * 9 for the transposed weight
    w = layer.weight.detach().numpy()
    bound = math.sqrt(6 / ((1 + 5) * 27))  # kaiming_uniform_(a=sqrt(5)): gain sqrt(2 / 6), sqrt(3 / fan_in)
    assert w.shape == (8, 3, 3, 3) and np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    b = layer.bias.detach().numpy()
    assert np.abs(b).max() <= 1 / math.sqrt(27)
    w1 = nn.Conv1d(4, 2, 5).weight.detach().numpy()
    assert np.abs(w1).max() <= math.sqrt(6 / (6 * 20))


def test_conv_errors():
    with pytest.raises(RuntimeError, match=r"Given transposed=1, weight of size \[3, 4, 3, 3\], expected "
                                           r"input\[2, 5, 8, 8\] to have 3 channels, but got 5 channels instead"):
        F.conv_transpose2d(ng.randn(2, 5, 8, 8), ng.randn(3, 4, 3, 3))
    with pytest.raises(RuntimeError, match="output padding must be smaller than either stride or dilation"):
        F.conv_transpose2d(ng.randn(1, 3, 4, 4), ng.randn(3, 4, 3, 3), output_padding=1)
    with pytest.raises(RuntimeError, match=r"Given groups=1, weight of size \[4, 3, 3\], expected input\[2, 5, 10\] "
                                           r"to have 3 channels, but got 5 channels instead"):
        F.conv1d(ng.randn(2, 5, 10), ng.randn(4, 3, 3))
    with pytest.raises(RuntimeError, match=r"Expected 2D \(unbatched\) or 3D \(batched\) input to conv1d"):
        F.conv1d(ng.randn(2, 5, 10, 3), ng.randn(4, 5, 3))
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.ConvTranspose1d(3, 4, 3, groups=2)


# ================================================================== channel dropout
@pytest.mark.parametrize("name,shape,lead", [("dropout1d", (4, 6, 5), 2), ("dropout1d", (6, 5), 1),
                                             ("dropout2d", (4, 6, 3, 3), 2), ("dropout3d", (6, 2, 2, 2), 1)])
def test_channel_dropout_zeroes_whole_channels(name, shape, lead):
    ng.manual_seed(3)
    x = ng.tensor(np.abs(_randn(*shape)) + 0.1, requires_grad=True)
    out = getattr(F, name)(x, p=0.5)
    y = out.detach().numpy().reshape(shape[:lead] + (-1,))
    dropped = np.all(y == 0, axis=-1)
    assert dropped.any() and not dropped.all()
    _close(y[~dropped], 2 * x.detach().numpy().reshape(shape[:lead] + (-1,))[~dropped])
    out.sum().backward()
    g = x.grad.numpy().reshape(shape[:lead] + (-1,))
    assert np.all(g[dropped] == 0) and np.allclose(g[~dropped], 2)
    assert getattr(F, name)(x, p=0.5, training=False) is x
    assert np.all(getattr(F, name)(x, p=1.0).detach().numpy() == 0)


def test_channel_dropout_modules_and_errors():
    x = ng.ones(2, 3, 4, 4)
    m = nn.Dropout2d(0.3)
    assert repr(m) == "Dropout2d(p=0.3, inplace=False)"
    assert m.eval()(x) is x
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input, but received a 4D input"):
        F.dropout1d(x)
    with pytest.warns(UserWarning, match="dropout2d: Received a 3D input to dropout2d"):
        F.dropout2d(ng.ones(2, 3, 4))
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        F.dropout3d(ng.ones(1, 2, 2, 2, 2), p=1.5)


# ================================================================== group and instance norm
def test_group_norm_matches_torch():
    _check_module("GroupNorm", (3, 6), {}, (4, 6, 5, 3), rtol=1e-4, atol=1e-5)
    _check_module("GroupNorm", (2, 4), dict(affine=False, eps=1e-3), (3, 4, 7), rtol=1e-4, atol=1e-5)


def test_group_and_instance_norm_gradcheck_float64():
    x = ng.tensor(_randn(2, 4, 3, dtype="float64"), requires_grad=True)
    w = ng.tensor(_randn(4, dtype="float64"), requires_grad=True)
    b = ng.tensor(_randn(4, dtype="float64"), requires_grad=True)
    assert ng.autograd.gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), (x, w, b))
    assert ng.autograd.gradcheck(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), (x, w, b))


@pytest.mark.parametrize("name,kwargs,x_shape", [
    ("InstanceNorm1d", dict(affine=True), (3, 4, 6)),
    ("InstanceNorm2d", dict(track_running_stats=True, momentum=0.2), (2, 3, 4, 5)),
    ("InstanceNorm2d", dict(affine=True, track_running_stats=True), (3, 4, 5)),  # unbatched
])
def test_instance_norm_matches_torch_train_then_eval(name, kwargs, x_shape):
    mod = _check_module(name, (x_shape[-3] if name.endswith("2d") else x_shape[-2],), kwargs, x_shape, steps=2,
                        rtol=1e-4, atol=1e-5)
    if kwargs.get("track_running_stats"):
        # eval normalizes with the running statistics
        x = _randn(*x_shape)
        t_mod = getattr(torch.nn, name)(mod.num_features, **kwargs)
        t_mod.load_state_dict({k: torch.tensor(v.numpy()) for k, v in mod.state_dict().items()})
        _close(mod.eval()(ng.tensor(x)), t_mod.eval()(torch.tensor(x)), 1e-4, 1e-5)


def test_normalization_errors():
    with pytest.raises(RuntimeError, match=r"Expected number of channels in input to be divisible by num_groups, but "
                                           r"got input of shape \[2, 6, 4\] and num_groups=4"):
        F.group_norm(ng.randn(2, 6, 4), 4)
    with pytest.raises(ValueError, match="num_channels must be divisible by num_groups"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"expected 3D or 4D input \(got 2D input\)"):
        nn.InstanceNorm2d(3)(ng.randn(3, 4))
    with pytest.raises(ValueError, match=r"expected input's size at dim=1 to match num_features \(3\), but got: 5"):
        nn.InstanceNorm1d(3, affine=True)(ng.randn(2, 5, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="input's size at dim=1 does not match num_features"):
            nn.InstanceNorm1d(3)(ng.randn(2, 5, 4))


# ================================================================== interpolation, pixel shuffle
@pytest.mark.parametrize("shape,kwargs", [
    ((2, 3, 4, 5), dict(scale_factor=2, mode="nearest")),
    ((1, 2, 5, 7), dict(size=(3, 4), mode="nearest")),
    ((1, 2, 5, 7), dict(scale_factor=1.7, mode="nearest-exact")),
    ((2, 2, 4, 5), dict(size=(7, 3), mode="bilinear", align_corners=False)),
    ((2, 2, 4, 5), dict(scale_factor=(1.5, 2.5), mode="bilinear", align_corners=True)),
    ((2, 2, 3, 4), dict(scale_factor=2.3, mode="bilinear", recompute_scale_factor=True)),
    ((2, 3, 6), dict(scale_factor=0.6, mode="linear")),
    ((1, 1, 2, 3, 4), dict(size=(3, 5, 2), mode="trilinear")),
])
def test_interpolate_matches_torch(shape, kwargs):
    x = _randn(*shape)
    xi, txi = ng.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.interpolate(xi, **kwargs)
    t_out = torch.nn.functional.interpolate(txi, **kwargs)
    _close(out, t_out, 1e-5, 1e-6, msg="output")
    g = _randn(*t_out.shape)
    out.backward(ng.tensor(g))
    t_out.backward(torch.tensor(g))
    _close(xi.grad, txi.grad, 1e-5, 1e-5, msg="input gradient")


def test_upsample_modules_match_torch():
    _check_module("Upsample", (), dict(scale_factor=2, mode="bilinear"), (1, 2, 3, 3))
    _check_module("UpsamplingBilinear2d", (), dict(size=(5, 4)), (1, 2, 3, 3))
    _check_module("UpsamplingNearest2d", (), dict(scale_factor=3), (1, 2, 2, 3))
    assert repr(nn.Upsample(scale_factor=2)) == "Upsample(scale_factor=2.0, mode='nearest')"


def test_interpolate_gradcheck_float64():
    x = ng.tensor(_randn(1, 2, 3, 3, dtype="float64"), requires_grad=True)
    assert ng.autograd.gradcheck(lambda x: F.interpolate(x, size=(4, 5), mode="bilinear"), (x,))


@pytest.mark.parametrize("shape,r", [((2, 8, 3, 3), 2), ((5, 9, 2, 1), 3), ((2, 3, 4, 2, 2), 2)])
def test_pixel_shuffle_matches_torch(shape, r):
    _check_module("PixelShuffle", (r,), {}, shape)
    x = _randn(*shape)
    back = F.pixel_unshuffle(F.pixel_shuffle(ng.tensor(x), r), r)
    _close(back, x)
    unshuffled_shape = shape[:-3] + (shape[-3] // (r * r), shape[-2] * r, shape[-1] * r)
    _check_module("PixelUnshuffle", (r,), {}, unshuffled_shape)


def test_vision_errors():
    x = ng.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="only one of size or scale_factor should be defined"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="either size or scale_factor should be defined"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="align_corners option can only be set with the interpolating modes"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(NotImplementedError, match="Got 4D input, but linear mode needs 3D input"):
        F.interpolate(x, scale_factor=2, mode="linear")
    with pytest.raises(NotImplementedError, match="mode 'bicubic' is not supported by numgrad"):
        F.interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="Input and output must have the same number of spatial dimensions"):
        F.interpolate(x, size=(3, 3, 3))
    with pytest.raises(RuntimeError, match=r"input.size\(-3\)=2 is not divisible by 4"):
        F.pixel_shuffle(x, 2)
    with pytest.raises(RuntimeError, match=r"pixel_unshuffle expects height to be divisible by downscale_factor, "
                                           r"but input.size\(-2\)=4 is not divisible by 3"):
        F.pixel_unshuffle(x, 3)
    with pytest.raises(RuntimeError, match="pixel_shuffle expects input to have at least 3 dimensions"):
        F.pixel_shuffle(ng.randn(4, 4), 2)
