"""Zero-copy exchange with PyTorch and NumPy through DLPack (CUDA: ``__cuda_array_interface__``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import numgrad as ng


def test_from_dlpack_views_torch_memory():
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    x = ng.from_dlpack(t)
    assert x.shape == (2, 3) and x.dtype == ng.float32 and x.device.type == "cpu"
    t[0, 1] = 42.0
    assert x[0, 1].item() == 42.0


def test_torch_views_numgrad_memory():
    x = ng.arange(4, dtype=ng.float64)
    t = torch.from_dlpack(x)
    assert t.dtype == torch.float64
    t[2] = -1.0
    assert x.tolist() == [0.0, 1.0, -1.0, 3.0]
    assert x.__dlpack_device__() == (1, 0)


def test_from_dlpack_of_numpy_and_strided_views():
    a = np.arange(12.0).reshape(3, 4)[:, ::2]
    x = ng.from_dlpack(a)
    assert x.shape == (3, 2) and x.stride() == (4, 2)
    np.testing.assert_array_equal(x.numpy(), a)


def test_export_refuses_tensors_that_require_grad():
    x = ng.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="Can't export tensors that require gradient, use tensor.detach()"):
        torch.from_dlpack(x)
    assert torch.from_dlpack(x.detach()).tolist() == [1.0, 1.0]


def test_from_dlpack_rejects_other_objects():
    with pytest.raises(TypeError, match="has neither __dlpack__ nor __cuda_array_interface__"):
        ng.from_dlpack([1, 2])


def test_cpu_tensors_have_no_cuda_array_interface():
    assert not hasattr(ng.ones(2), "__cuda_array_interface__")
