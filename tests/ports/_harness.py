"""What the ported programs share: the same random draws in both libraries, and comparisons against torch.

A port runs one program text twice, once with numgrad's modules and once with torch's. Everything both runs
must agree on is decided here, outside the program: the synthetic data (NumPy arrays), the initial weights
(torch's copied into numgrad's model, or drawn from a shared stream as the layers are built) and the random
numbers the program draws while it runs (``rand``/``randn``/``randn_like``, a shuffling DataLoader's order,
dropout masks), which :func:`same_randomness` takes from one NumPy stream per run so that both runs see
identical values. The program text itself stays as upstream wrote it; what the harness replaces is PyTorch's
random number generator, never the computation under test (dropout's masks are the one place where the
harness's ``x * mask / (1 - p)`` stands in for the library's dropout kernel, which tests/test_nn.py and tests/test_layers_more.py check).
"""
from __future__ import annotations

import math
import re
import types

import numpy as np

from tests.helpers import assert_close


def _size(size):
    """``randn(2, 3)`` and ``randn((2, 3))`` / ``randn(t.size())`` name the same shape."""
    return tuple(size[0]) if len(size) == 1 and not isinstance(size[0], int) else tuple(size)


def same_randomness(lib, seed: int = 0):
    """``lib`` (numgrad or torch) with ``rand``, ``rand_like``, ``randn``, ``randn_like``,
    ``utils.data.DataLoader(shuffle=True)``,
    ``nn.Dropout`` / ``nn.Dropout2d`` masks and the initial weights of ``nn.Linear`` / ``nn.Conv2d`` /
    ``nn.LSTMCell`` / ``nn.LSTM`` drawing from ``np.random.default_rng(seed)``, so
    two runs with the same seed draw the same numbers; ``empty`` gives zeros."""
    rng = np.random.default_rng(seed)

    def randn(*size, dtype=None, device=None, requires_grad=False, **_):
        values = rng.standard_normal(_size(size)).astype(np.float32)
        out = lib.tensor(values, dtype=dtype if dtype is not None else lib.float32, device=device)
        return out.requires_grad_(requires_grad)

    def randn_like(t, dtype=None, device=None, requires_grad=False, **_):
        values = rng.standard_normal(tuple(t.shape)).astype(np.float32)
        out = lib.tensor(values, dtype=dtype if dtype is not None else t.dtype,
                         device=device if device is not None else t.device)
        return out.requires_grad_(requires_grad)

    def rand(*size, dtype=None, device=None, requires_grad=False, **_):
        values = rng.random(_size(size)).astype(np.float32)
        out = lib.tensor(values, dtype=dtype if dtype is not None else lib.float32, device=device)
        return out.requires_grad_(requires_grad)

    def rand_like(t, dtype=None, device=None, requires_grad=False, **_):
        values = rng.random(tuple(t.shape)).astype(np.float32)
        out = lib.tensor(values, dtype=dtype if dtype is not None else t.dtype,
                         device=device if device is not None else t.device)
        return out.requires_grad_(requires_grad)

    def empty(*size, dtype=None, device=None, requires_grad=False, **_):
        # what uninitialized memory holds is arbitrary: zeros in both runs, so that printing it compares
        return lib.zeros(*_size(size), dtype=dtype, device=device, requires_grad=requires_grad)

    def DataLoader(dataset, batch_size=1, shuffle=None, **kwargs):
        if shuffle:
            # a fixed order drawn once per loader, as a RandomSampler draws one per epoch
            kwargs["sampler"] = [int(i) for i in rng.permutation(len(dataset))]
        return lib.utils.data.DataLoader(dataset, batch_size=batch_size, **kwargs)

    def shared_init(layer_class, fan):
        """``layer_class`` whose initial parameters come from the shared stream, drawn from the layer's own
        default distribution: each uniform in +-1/sqrt(fan(layer)) (fan_in for Linear and Conv layers, the
        hidden size for recurrent cells)."""
        def __init__(self, *args, **kwargs):
            layer_class.__init__(self, *args, **kwargs)
            bound = 1 / math.sqrt(fan(self))
            with lib.no_grad():
                for p in self.parameters():
                    p.copy_(lib.tensor(rng.uniform(-bound, bound, tuple(p.shape)).astype(np.float32)))

        return type(layer_class.__name__, (layer_class,), {"__init__": __init__})

    class Dropout(lib.nn.Dropout):
        """nn.Dropout whose masks come from the shared stream (inverted dropout, as PyTorch's)."""

        def forward(self, input):
            if not self.training or self.p == 0:
                return input
            keep = (rng.random(tuple(input.shape)) >= self.p).astype(np.float32) / (1 - self.p)
            return input * lib.tensor(keep, dtype=input.dtype, device=input.device)

    class Dropout2d(lib.nn.Dropout2d):
        """nn.Dropout2d whose masks come from the shared stream: one draw per channel of a (N, C, H, W) or
        (C, H, W) input; on a 2-D input (deprecated) one per element, as PyTorch does."""

        def forward(self, input):
            if not self.training or self.p == 0:
                return input
            shape = tuple(input.shape) if input.dim() == 2 else tuple(input.shape[:-2]) + (1, 1)
            keep = (rng.random(shape) >= self.p).astype(np.float32) / (1 - self.p)
            return input * lib.tensor(keep, dtype=input.dtype, device=input.device)

    Dropout.__name__ = Dropout.__qualname__ = "Dropout"
    Dropout2d.__name__ = Dropout2d.__qualname__ = "Dropout2d"
    nn = types.SimpleNamespace(**{k: getattr(lib.nn, k) for k in dir(lib.nn) if not k.startswith("__")})
    for name in ("Linear", "Conv2d"):
        setattr(nn, name, shared_init(getattr(lib.nn, name), lambda layer: layer.weight[0].numel()))
    for name in ("LSTMCell", "LSTM"):
        setattr(nn, name, shared_init(getattr(lib.nn, name), lambda layer: layer.hidden_size))
    nn.Dropout, nn.Dropout2d = Dropout, Dropout2d
    data = types.SimpleNamespace(**{k: getattr(lib.utils.data, k) for k in dir(lib.utils.data)
                                    if not k.startswith("__")})
    data.DataLoader = DataLoader
    proxy = types.SimpleNamespace(**{k: getattr(lib, k) for k in dir(lib) if not k.startswith("__")})
    proxy.randn, proxy.randn_like, proxy.rand, proxy.rand_like, proxy.empty = randn, randn_like, rand, rand_like, empty
    proxy.utils = types.SimpleNamespace(data=data)
    proxy.nn = nn
    return proxy


def copy_weights(ng_model, torch_model) -> None:
    """numgrad's model takes torch's parameters and buffers (through NumPy)."""
    ng_model.load_state_dict({k: v.detach().cpu().numpy() for k, v in torch_model.state_dict().items()})


def assert_same_model(ng_model, torch_model, rtol=1e-4, atol=1e-6, grads=True) -> None:
    """Same state_dict keys and values, and the same ``.grad`` on every parameter."""
    state, t_state = ng_model.state_dict(), torch_model.state_dict()
    assert list(state) == list(t_state)
    for name, value in state.items():
        assert_close(value, t_state[name], rtol=rtol, atol=atol, msg=name)
    if grads:
        t_params = dict(torch_model.named_parameters())
        for name, p in ng_model.named_parameters():
            tp = t_params[name]
            assert (p.grad is None) == (tp.grad is None), name
            if p.grad is not None:
                assert_close(p.grad, tp.grad, rtol=rtol, atol=atol, msg=f"{name}.grad")


_NUMBER = r"-?\d+\.\d+(?:e[-+]?\d+)?"


def assert_same_log(log: str, t_log: str, rtol: float = 1e-5, atol: float = 0.0) -> None:
    """Two runs printed the same lines, and the same numbers within ``rtol``/``atol`` (integers exactly)."""
    def text(out):  # the printed words (the library's name as torch), numbers and object addresses left out
        return re.sub(_NUMBER, "#", re.sub(r"0x[0-9a-fA-F]+", "0x", out.replace("numgrad.", "torch.")))

    assert text(log) == text(t_log), f"{log}\n!=\n{t_log}"
    numbers = np.array([float(x) for x in re.findall(_NUMBER, log)])
    t_numbers = np.array([float(x) for x in re.findall(_NUMBER, t_log)])
    np.testing.assert_allclose(numbers, t_numbers, rtol=rtol, atol=atol, err_msg=log)
