"""Recurrent layers (PyTorch's ``torch.nn.modules.rnn``): ``RNN``, ``LSTM``, ``GRU`` and ``RNNCell``,
``LSTMCell``, ``GRUCell``.

PyTorch's parameter names (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``,
``bias_hh_l0``, ``weight_hr_l0`` and ``..._reverse``), shapes, gate order
(LSTM i, f, g, o; GRU r, z, n) and initialisation ``U(-1/sqrt(hidden), 1/sqrt(hidden))``,
so a torch ``state_dict`` loads unchanged.  Inputs may be padded
``(T, B, I)`` (``batch_first``: ``(B, T, I)``), unbatched ``(T, I)`` or a
``PackedSequence``.  Each layer and direction is one
``functional.rnn.recurrent_layer`` (the per-step loop runs in Numba, one fused
gate kernel per step); the cells are ``functional.rnn.lstm_cell`` etc.

>>> import numgrad as ng
>>> lstm = ng.nn.LSTM(4, 8, num_layers=2, batch_first=True)
>>> out, (h, c) = lstm(ng.randn(3, 5, 4))
>>> out.shape, h.shape, c.shape
((3, 5, 8), (2, 3, 8), (2, 3, 8))
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import List, Optional, Tuple, Union

import numpy as np

from ... import creation
from ...ops.shape import cat, stack
from ...ops.autocast_policy import is_any_autocast_enabled
from ...tensor import Tensor
from .. import init
from ..functional.regularization import dropout as _dropout
from ..functional.rnn import GATES, check_cpu, gru_cell, lstm_cell, recurrent_layer, rnn_relu_cell, rnn_tanh_cell
from ..packed_sequence import PackedSequence
from .module import Module
from .utils import _empty

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


def _apply_permutation(t: Tensor, permutation: Tensor, dim: int = 1) -> Tensor:
    return t.index_select(dim, permutation)


class RNNBase(Module):
    """Base class of ``RNN``, ``LSTM`` and ``GRU``: parameters, argument checks and the loop over layers.

    >>> import numgrad as ng
    >>> [name for name, _ in ng.nn.GRU(2, 3, bidirectional=True).named_parameters()][:5]
    ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0', 'weight_ih_l0_reverse']
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None) -> None:
        super().__init__()
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=2)
        if not isinstance(bias, bool):
            raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first should be of type bool, got: {type(batch_first).__name__}")
        if not isinstance(input_size, int):
            raise TypeError(f"input_size should be of type int, got: {type(input_size).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        if device is not None and str(device) != "cpu":
            check_cpu(type(self).__name__, creation.zeros(0, device=device))
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1
        gate_size = GATES[mode] * hidden_size
        real_hidden_size = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names: List[str] = []
        self._all_weights: List[List[str]] = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input_size = input_size if layer == 0 else real_hidden_size * num_directions
                suffix = "_reverse" if direction == 1 else ""
                params = [("weight_ih_l{}{}", (gate_size, layer_input_size)),
                          ("weight_hh_l{}{}", (gate_size, real_hidden_size))]
                if bias:
                    params += [("bias_ih_l{}{}", (gate_size,)), ("bias_hh_l{}{}", (gate_size,))]
                if proj_size > 0:
                    params += [("weight_hr_l{}{}", (proj_size, hidden_size))]
                names = []
                for pattern, shape in params:
                    name = pattern.format(layer, suffix)
                    setattr(self, name, _empty(*shape, dtype=dtype))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's init: every weight and bias from ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """A no-op, as in PyTorch on the CPU (cuDNN's single weight buffer does not exist here)."""

    @property
    def _flat_weights(self) -> List[Optional[Tensor]]:
        return [getattr(self, name, None) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> List[List[Tensor]]:
        """The parameters of each layer and direction, in PyTorch's order."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    # ------------------------------------------------------------ PyTorch's argument checks
    def check_input(self, input: Tensor, batch_sizes: Optional[np.ndarray]) -> None:
        weight_dtype = self._flat_weights[0].dtype
        # as PyTorch: under autocast the input may be 16-bit while the weights are float32
        if input.dtype != weight_dtype and not is_any_autocast_enabled():
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight_dtype}). "
                             f"Convert input: input.to({weight_dtype}), or convert model: model.to({input.dtype})")
        expected_input_dim = 2 if batch_sizes is not None else 3
        if input.ndim != expected_input_dim:
            raise RuntimeError(f"input must have {expected_input_dim} dimensions, got {input.ndim}")
        if self.input_size != input.shape[-1]:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.shape[-1]}")

    def get_expected_hidden_size(self, input: Tensor, batch_sizes: Optional[np.ndarray]) -> Tuple[int, int, int]:
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.shape[0] if self.batch_first else input.shape[1]
        num_directions = 2 if self.bidirectional else 1
        size = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (self.num_layers * num_directions, mini_batch, size)

    def check_hidden_size(self, hx: Tensor, expected_hidden_size: Tuple[int, int, int],
                          msg: str = "Expected hidden size {}, got {}") -> None:
        if tuple(hx.shape) != tuple(expected_hidden_size):
            raise RuntimeError(msg.format(tuple(expected_hidden_size), list(hx.shape)))
        # (under autocast a 16-bit state is allowed, as in check_input)
        if hx.dtype != self._flat_weights[0].dtype and not is_any_autocast_enabled():
            raise RuntimeError(f"{type(self).__name__}: the initial state has dtype {hx.dtype} but the weights "
                               f"{self._flat_weights[0].dtype}; convert it with .to(dtype)")

    def check_forward_args(self, input: Tensor, hidden: Tensor, batch_sizes: Optional[np.ndarray]) -> None:
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden, self.get_expected_hidden_size(input, batch_sizes))

    def permute_hidden(self, hx: Tensor, permutation: Optional[Tensor]) -> Tensor:
        if permutation is None:
            return hx
        return _apply_permutation(hx, permutation)

    # ------------------------------------------------------------ the computation
    def _zeros_state(self, input: Tensor, batch: int, size: int) -> Tensor:
        num_directions = 2 if self.bidirectional else 1
        return creation.zeros(self.num_layers * num_directions, batch, size, dtype=input.dtype, device=input.device)

    def _run(self, data: Tensor, batch_sizes: np.ndarray, hx: Tensor, cx: Optional[Tensor]):
        """All layers over packed ``data`` (N, I): ``(output (N, D*P), h_n, c_n or None)``."""
        check_cpu(type(self).__name__, data, hx, cx)
        num_directions = 2 if self.bidirectional else 1
        layer_input = data
        hs: list = []
        cs: list = []
        for layer in range(self.num_layers):
            outs = []
            for direction in range(num_directions):
                idx = layer * num_directions + direction
                names = self._all_weights[idx]
                b_ih = getattr(self, names[2]) if self.bias else None
                b_hh = getattr(self, names[3]) if self.bias else None
                w_hr = getattr(self, names[-1]) if self.proj_size > 0 else None
                result = recurrent_layer(self.mode, layer_input, batch_sizes, hx[idx],
                                         cx[idx] if cx is not None else None, getattr(self, names[0]),
                                         getattr(self, names[1]), b_ih, b_hh, w_hr, reverse=direction == 1)
                outs.append(result[0])
                hs.append(result[1])
                if cx is not None:
                    cs.append(result[2])
            layer_input = outs[0] if num_directions == 1 else cat(outs, 1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = _dropout(layer_input, self.dropout, True)
        return layer_input, stack(hs), (stack(cs) if cx is not None else None)

    def _forward(self, input, hx, cx):
        """Shared body of ``forward``: unpack, check, run, repack.  ``cx`` is None except for an LSTM."""
        is_lstm = self.mode == "LSTM"
        state_size = self.proj_size if self.proj_size > 0 else self.hidden_size
        if isinstance(input, PackedSequence):
            data, batch_sizes_t, sorted_indices, unsorted_indices = input
            batch_sizes = np.asarray(batch_sizes_t.numpy(), dtype=np.int64)
            batch = int(batch_sizes[0])
            if hx is None:
                hx = self._zeros_state(data, batch, state_size)
                cx = self._zeros_state(data, batch, self.hidden_size) if is_lstm else None
                self._check_states(data, batch_sizes, hx, cx)
            else:
                self._check_states(data, batch_sizes, hx, cx)
                hx = self.permute_hidden(hx, sorted_indices)
                cx = self.permute_hidden(cx, sorted_indices) if is_lstm else None
            output, h_n, c_n = self._run(data, batch_sizes, hx, cx)
            packed = PackedSequence(output, batch_sizes_t, sorted_indices, unsorted_indices)
            h_n = self.permute_hidden(h_n, unsorted_indices)
            c_n = self.permute_hidden(c_n, unsorted_indices) if is_lstm else None
            return packed, h_n, c_n
        name = type(self).__name__
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D "
                             + ("instead" if is_lstm else "tensor instead"))
        is_batched = input.ndim == 3
        if not is_batched:
            input = input.unsqueeze(0 if self.batch_first else 1)
        if hx is not None:
            want = 3 if is_batched else 2
            if is_lstm and (hx.ndim != want or cx.ndim != want):
                kind = "batched 3-D" if is_batched else "unbatched 2-D"
                raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got "
                                   f"({hx.ndim}-D, {cx.ndim}-D) tensors")
            if not is_lstm and hx.ndim != want:
                kind = "batched 3-D" if is_batched else "unbatched 2-D"
                raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {hx.ndim}-D tensor")
            if not is_batched:
                hx = hx.unsqueeze(1)
                cx = cx.unsqueeze(1) if is_lstm else None
        steps, batch = (input.shape[1], input.shape[0]) if self.batch_first else (input.shape[0], input.shape[1])
        if steps == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        if hx is None:
            hx = self._zeros_state(input, batch, state_size)
            cx = self._zeros_state(input, batch, self.hidden_size) if is_lstm else None
        self._check_states(input, None, hx, cx)
        time_major = input.transpose(0, 1) if self.batch_first else input
        data = time_major.reshape(steps * batch, self.input_size)
        output, h_n, c_n = self._run(data, np.full(steps, batch, np.int64), hx, cx)
        output = output.reshape(steps, batch, output.shape[1])
        if self.batch_first:
            output = output.transpose(0, 1)
        if not is_batched:
            output = output.squeeze(0 if self.batch_first else 1)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if is_lstm else None
        return output, h_n, c_n

    def _check_states(self, input: Tensor, batch_sizes: Optional[np.ndarray], hx: Tensor,
                      cx: Optional[Tensor]) -> None:
        if self.mode != "LSTM":
            self.check_forward_args(input, hx, batch_sizes)
            return
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hx, self.get_expected_hidden_size(input, batch_sizes),
                               "Expected hidden[0] size {}, got {}")
        expected_cell = self.get_expected_hidden_size(input, batch_sizes)[:2] + (self.hidden_size,)
        self.check_hidden_size(cx, expected_cell, "Expected hidden[1] size {}, got {}")

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (``nonlinearity='relu'``: ReLU).

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False)``; ``forward(input, hx=None)``
    returns ``(output, h_n)``.

    >>> import numgrad as ng
    >>> out, h = ng.nn.RNN(3, 5, nonlinearity="relu")(ng.randn(7, 2, 3))
    >>> out.shape, h.shape
    ((7, 2, 5), (1, 2, 5))
    """

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, *args, **kwargs)

    def forward(self, input: Union[Tensor, PackedSequence], hx: Optional[Tensor] = None):
        output, h_n, _ = self._forward(input, hx, None)
        return output, h_n


class LSTM(RNNBase):
    """Long short-term memory, PyTorch's gates i, f, g, o; ``proj_size > 0`` projects ``h`` with ``weight_hr``.

    ``forward(input, (h_0, c_0)=None)`` returns ``(output, (h_n, c_n))``.

    >>> import numgrad as ng
    >>> lstm = ng.nn.LSTM(3, 6, proj_size=2, bidirectional=True)
    >>> out, (h, c) = lstm(ng.randn(4, 3))          # unbatched (T, I)
    >>> out.shape, h.shape, c.shape
    ((4, 4), (2, 2), (2, 6))
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("LSTM", *args, **kwargs)

    def forward(self, input: Union[Tensor, PackedSequence], hx: Optional[Tuple[Tensor, Tensor]] = None):
        h0, c0 = (None, None) if hx is None else hx
        output, h_n, c_n = self._forward(input, h0, c0)
        return output, (h_n, c_n)


class GRU(RNNBase):
    """Gated recurrent unit, PyTorch's gates r, z, n with ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.

    ``forward(input, hx=None)`` returns ``(output, h_n)``.

    >>> import numgrad as ng
    >>> out, h = ng.nn.GRU(3, 5, num_layers=2, batch_first=True)(ng.randn(2, 7, 3))
    >>> out.shape, h.shape
    ((2, 7, 5), (2, 2, 5))
    """

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)

    def forward(self, input: Union[Tensor, PackedSequence], hx: Optional[Tensor] = None):
        output, h_n, _ = self._forward(input, hx, None)
        return output, h_n


# ================================================================== cells
class RNNCellBase(Module):
    """Base class of the cells: ``weight_ih`` (chunks*H, I), ``weight_hh`` (chunks*H, H), ``bias_ih``, ``bias_hh``.

    >>> import numgrad as ng
    >>> ng.nn.LSTMCell(3, 4).weight_hh.shape
    (16, 4)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None,
                 dtype=None) -> None:
        super().__init__()
        if device is not None and str(device) != "cpu":
            check_cpu(type(self).__name__, creation.zeros(0, device=device))
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = _empty(num_chunks * hidden_size, input_size, dtype=dtype)
        self.weight_hh = _empty(num_chunks * hidden_size, hidden_size, dtype=dtype)
        if bias:
            self.bias_ih = _empty(num_chunks * hidden_size, dtype=dtype)
            self.bias_hh = _empty(num_chunks * hidden_size, dtype=dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's init: every weight and bias from ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _batched(self, input: Tensor, states: Tuple[Optional[Tensor], ...], names: Tuple[str, ...] = ("hidden",)):
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        for what, hx in zip(names, states):
            if hx is not None and hx.ndim not in (1, 2):
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {hx.ndim}D instead")
        is_batched = input.ndim == 2
        if not is_batched:
            input = input.unsqueeze(0)
        return input, is_batched

    def _zeros(self, input: Tensor) -> Tensor:
        return creation.zeros(input.shape[0], self.hidden_size, dtype=input.dtype, device=input.device)


class RNNCell(RNNCellBase):
    """One Elman step ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (``nonlinearity='relu'``: ReLU).

    >>> import numgrad as ng
    >>> ng.nn.RNNCell(3, 4)(ng.randn(2, 3)).shape
    (2, 4)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        input, is_batched = self._batched(input, (hx,))
        hx = self._zeros(input) if hx is None else (hx if is_batched else hx.unsqueeze(0))
        if self.nonlinearity == "tanh":
            ret = rnn_tanh_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        elif self.nonlinearity == "relu":
            ret = rnn_relu_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        else:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return ret if is_batched else ret.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step: ``(h', c')`` from ``input`` and ``(h, c)`` (zeros when not given); gates i, f, g, o.

    >>> import numgrad as ng
    >>> h, c = ng.nn.LSTMCell(3, 4)(ng.randn(2, 3))
    >>> h.shape, c.shape
    ((2, 4), (2, 4))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Optional[Tuple[Tensor, Tensor]] = None) -> Tuple[Tensor, Tensor]:
        input, is_batched = self._batched(input, tuple(hx) if hx is not None else (), ("hx[0]", "hx[1]"))
        if hx is None:
            zeros = self._zeros(input)
            hx = (zeros, zeros)
        elif not is_batched:
            hx = (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
        h, c = lstm_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h, c) if is_batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step ``h'`` from ``input`` and ``h`` (zeros when not given); gates r, z, n as in PyTorch.

    >>> import numgrad as ng
    >>> ng.nn.GRUCell(3, 4)(ng.randn(3), ng.zeros(4)).shape
    (4,)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        input, is_batched = self._batched(input, (hx,))
        hx = self._zeros(input) if hx is None else (hx if is_batched else hx.unsqueeze(0))
        ret = gru_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return ret if is_batched else ret.squeeze(0)
