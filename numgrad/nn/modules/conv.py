"""``Conv1d``, ``Conv2d``, ``ConvTranspose1d``, ``ConvTranspose2d`` (PyTorch's ``torch.nn.modules.conv``)."""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

from ...ops.shape import pad
from ...tensor import Tensor
from .. import init
from ..functional.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d
from ..functional.conv_more import conv3d, conv_transpose3d
from .module import Module
from .utils import _empty, _pair, _triple

__all__ = ["Conv2d"]
__all__ += ["Conv1d", "ConvTranspose1d", "ConvTranspose2d"]


class Conv2d(Module):
    """2-D convolution layer; weight ``(out_channels, in_channels // groups, kH, kW)``.

    >>> import numgrad as ng
    >>> ng.nn.Conv2d(1, 4, 3, padding=1)(ng.ones(2, 1, 8, 8)).shape
    (2, 4, 8, 8)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode != "zeros":
            raise ValueError(f"Conv2d: padding_mode '{padding_mode}' is not supported (only 'zeros')")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = _empty(out_channels, in_channels // groups, *self.kernel_size, dtype=dtype)
        if bias:
            self.bias = _empty(out_channels, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)) weight, U(±1/sqrt(fan_in)) bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


def _single(v) -> Tuple[int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


def _reset_conv(weight, bias) -> None:
    """PyTorch's ``_ConvNd.reset_parameters``: kaiming_uniform_(a=sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias, where
    fan_in is ``weight.size(1) * prod(kernel_size)`` (out_channels/groups for the transposed layers)."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        if fan_in != 0:
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(bias, -bound, bound)


class _ConvNd(Module):
    """The shared constructor of the 1-D, 3-D and transposed layers (Conv2d keeps its own)."""

    _dims = 1
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding, dilation, groups: int,
                 bias: bool, padding_mode: str, output_padding=0, dtype=None):
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode != "zeros":
            raise ValueError(f"{type(self).__name__}: padding_mode '{padding_mode}' is not supported (only 'zeros')")
        tup = {1: _single, 2: _pair, 3: _triple}[self._dims]
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = tup(kernel_size)
        self.stride = tup(stride)
        self.padding = padding if isinstance(padding, str) else tup(padding)
        self.dilation = tup(dilation)
        self.output_padding = tup(output_padding)
        self.transposed = self._transposed
        self.groups = groups
        self.padding_mode = padding_mode
        if self._transposed:
            self.weight = _empty(in_channels, out_channels // groups, *self.kernel_size, dtype=dtype)
        else:
            self.weight = _empty(out_channels, in_channels // groups, *self.kernel_size, dtype=dtype)
        if bias:
            self.bias = _empty(out_channels, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias."""
        _reset_conv(self.weight, self.bias)

    def extra_repr(self) -> str:
        zero = (0,) * self._dims
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != zero:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.output_padding != zero:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    """1-D convolution layer over ``(N, C, L)``; weight ``(out_channels, in_channels // groups, k)``.

    >>> import numgrad as ng
    >>> ng.nn.Conv1d(2, 4, 3, padding=1)(ng.ones(3, 2, 10)).shape
    (3, 4, 10)
    """

    _dims = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        return conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class _ConvTransposeNd(_ConvNd):
    _transposed = True

    def _output_padding(self, input: Tensor, output_size: Optional[Sequence[int]]) -> List[int]:
        """PyTorch's rule: the output_padding that gives ``output_size`` (else the layer's own)."""
        if output_size is None:
            return list(self.output_padding)
        k = self._dims
        output_size = list(output_size)
        if len(output_size) == input.ndim:
            output_size = output_size[2:] if input.ndim == k + 2 else output_size[1:]
        if len(output_size) != k:
            raise ValueError(f"ConvTranspose{k}D: for {input.ndim}D input, output_size must have {k} or "
                             f"{input.ndim} elements (got {len(output_size)})")
        result = []
        for d in range(k):
            size = input.shape[input.ndim - k + d]
            min_size = ((size - 1) * self.stride[d] - 2 * self.padding[d]
                        + self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            max_size = min_size + self.stride[d] - 1
            if not min_size <= output_size[d] <= max_size:
                raise ValueError(f"requested an output size of {output_size}, but valid sizes range from "
                                 f"{min_size} to {max_size} (for an input of {list(input.shape[2:])})")
            result.append(output_size[d] - min_size)
        return result

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding, output_padding,
                 groups: int, bias: bool, dilation, padding_mode: str, dtype=None):
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: string padding ('{padding}') is not supported for transposed "
                             "convolutions")
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, dtype=dtype)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution layer; weight ``(in_channels, out_channels // groups, k)``.

    >>> import numgrad as ng
    >>> ng.nn.ConvTranspose1d(2, 4, 3, stride=2)(ng.ones(3, 2, 5)).shape
    (3, 4, 11)
    """

    _dims = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                         dilation, padding_mode, dtype=dtype)

    def forward(self, input: Tensor, output_size: Optional[Sequence[int]] = None) -> Tensor:
        output_padding = self._output_padding(input, output_size)
        return conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                self.groups, self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution layer; weight ``(in_channels, out_channels // groups, kH, kW)``.

    >>> import numgrad as ng
    >>> ng.nn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1)(ng.ones(1, 2, 4, 4)).shape
    (1, 4, 8, 8)
    """

    _dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                         dilation, padding_mode, dtype=dtype)

    def forward(self, input: Tensor, output_size: Optional[Sequence[int]] = None) -> Tensor:
        output_padding = self._output_padding(input, output_size)
        return conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                self.groups, self.dilation)


__all__ += ["Conv3d", "ConvTranspose3d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class Conv3d(_ConvNd):
    """3-D convolution layer over ``(N, C, D, H, W)``; weight ``(out_channels, in_channels // groups, kD, kH, kW)``.
    ``padding_mode`` ``'reflect'``, ``'replicate'`` or ``'circular'`` pads the input with ``F.pad`` first, as
    PyTorch does.

    >>> import numgrad as ng
    >>> ng.nn.Conv3d(2, 4, 3, padding=1)(ng.ones(1, 2, 4, 5, 5)).shape
    (1, 4, 4, 5, 5)
    """

    _dims = 3

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {set(_PADDING_MODES)}, but got padding_mode="
                             f"'{padding_mode}'")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in _triple(stride)):
                raise ValueError("padding='same' is not supported for strided convolutions")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, "zeros",
                         dtype=dtype)
        self.padding_mode = padding_mode

    def _reversed_padding_repeated_twice(self) -> List[int]:
        """F.pad's argument for the non-zero padding modes: last dimension first, (left, right) per dimension."""
        if self.padding == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
        elif self.padding == "valid":
            totals = [0, 0, 0]
        else:
            totals = [2 * p for p in self.padding]
        pads: List[int] = []
        for total in reversed(totals):
            pads += [total // 2, total - total // 2]
        return pads

    def forward(self, input: Tensor) -> Tensor:
        if self.padding_mode != "zeros":
            padded = pad(input, self._reversed_padding_repeated_twice(), mode=self.padding_mode)
            return conv3d(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return conv3d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.padding_mode == "zeros" else s + f", padding_mode={self.padding_mode}"


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution layer; weight ``(in_channels, out_channels // groups, kD, kH, kW)``.

    >>> import numgrad as ng
    >>> ng.nn.ConvTranspose3d(2, 4, 3, stride=2)(ng.ones(1, 2, 2, 3, 3)).shape
    (1, 4, 5, 7, 7)
    """

    _dims = 3

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                         dilation, padding_mode, dtype=dtype)

    def forward(self, input: Tensor, output_size: Optional[Sequence[int]] = None) -> Tensor:
        output_padding = self._output_padding(input, output_size)
        return conv_transpose3d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                self.groups, self.dilation)
