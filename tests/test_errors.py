"""Misuse gets PyTorch's error type and wording, plus the shapes/dtypes involved."""
from __future__ import annotations

import os

import numpy as np
import pytest

import numgrad as ng


def test_backward_on_non_scalar_without_gradient():
    x = ng.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"grad can be implicitly created only for scalar outputs.*\[3\]"):
        (x * 2).backward()


def test_second_backward_without_retain_graph():
    x = ng.ones(3, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Specify retain_graph=True"):
        y.backward()


def test_backward_on_tensor_that_does_not_require_grad():
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad and does not have a grad_fn"):
        ng.ones(2).sum().backward()


def test_requires_grad_on_integer_tensor():
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
        ng.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="numgrad.int64"):
        ng.tensor([1, 2]).requires_grad_()


def test_inplace_on_leaf_that_requires_grad():
    x = ng.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        x.mul_(2)
    assert x.tolist() == [1.0, 1.0]


def test_version_mismatch_names_tensor_and_node():
    x = ng.ones(2, requires_grad=True)
    y = x.exp()
    z = y.exp()
    y.add_(1)
    with pytest.raises(RuntimeError, match=r"\[numgrad.FloatTensor \[2\]\], which is output 0 of ExpBackward0"):
        z.sum().backward()


def test_broadcast_mismatch_names_both_shapes():
    with pytest.raises(RuntimeError, match=r"The size of tensor a \(3\) must match the size of tensor b \(4\) at "
                                           r"non-singleton dimension 1.*\[2, 3\] and \[2, 4\]"):
        ng.ones(2, 3) + ng.ones(2, 4)


def test_failed_inplace_leaves_tensor_unchanged():
    x = ng.ones(2, 3)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        x.add_(ng.ones(4, 2, 3))
    assert x.tolist() == [[1.0] * 3] * 2 and x._version[0] == 0


def test_unused_input_in_autograd_grad():
    x = ng.ones(1, requires_grad=True)
    y = ng.ones(1, requires_grad=True)
    with pytest.raises(RuntimeError, match="Set allow_unused=True"):
        ng.autograd.grad((x * 2).sum(), [x, y])


def test_grad_of_input_not_requiring_grad():
    x = ng.ones(1, requires_grad=True)
    with pytest.raises(RuntimeError, match="One of the differentiated Tensors does not require grad"):
        ng.autograd.grad((x * 2).sum(), [ng.ones(1)])


def test_numpy_on_tensor_that_requires_grad():
    with pytest.raises(RuntimeError, match=r"Can't call numpy\(\) on Tensor that requires grad. "
                                           r"Use tensor.detach\(\).numpy\(\) instead."):
        ng.ones(1, requires_grad=True).numpy()


def test_gradient_shape_mismatch():
    x = ng.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Mismatch in shape: grad_output\[0\] has a shape of \(2,\)"):
        (x * 2).backward(ng.ones(2))


def test_bad_operand_types_are_type_errors_not_numba_errors():
    x = ng.ones(2)
    with pytest.raises(TypeError, match="add"):
        x + "a"
    with pytest.raises(TypeError, match="exp"):
        ng.exp([1.0, "x"])
    with pytest.raises(RuntimeError, match="bitwise_and.*integer or bool"):
        ng.ones(2) & ng.ones(2)
    with pytest.raises(TypeError, match="could not"):
        ng.tensor([[1.0], [2.0, 3.0]])
    with pytest.raises(TypeError, match="dtype"):
        ng.zeros(2, dtype="complex64")


def test_integer_division_by_zero():
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        ng.tensor([1, 2]) // 0
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        ng.tensor([1, 2]) % ng.tensor([1, 0])
    assert (ng.tensor([1.0]) / 0).tolist() == [float("inf")]


def test_ambiguous_bool_and_item_errors():
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(ng.ones(2))
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted to Scalar"):
        ng.ones(2).item()


def test_view_and_expand_errors():
    with pytest.raises(RuntimeError, match=r"shape '\[4, 2\]' is invalid for input of size 6"):
        ng.ones(6).view(4, 2)
    with pytest.raises(RuntimeError, match=r"The expanded size of the tensor \(4\) must match the existing size \(3\)"):
        ng.ones(3).expand(2, 4)
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        ng.ones(2, 2).sum(dim=2)


def test_cuda_without_a_gpu_says_what_to_do():
    # the test process runs CUDA on the simulator: ask a fresh process with the simulator off
    import subprocess
    import sys

    script = (
        "import numgrad as ng\n"
        "if ng.cuda.is_available(): raise SystemExit(3)\n"
        "try:\n"
        "    ng.zeros(2, device='cuda')\n"
        "except RuntimeError as e:\n"
        "    print(e)\n"
    )
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode == 3:
        pytest.skip("a real GPU is present")
    assert proc.returncode == 0, proc.stderr
    assert "Found no NVIDIA driver on your system" in proc.stdout
    assert "NUMBA_ENABLE_CUDASIM=1" in proc.stdout


def test_requires_grad_flag_on_non_leaf():
    y = ng.ones(1, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="you can only change requires_grad flags of leaf variables"):
        y.requires_grad = False
    assert np.isfinite(y.detach().numpy()).all()


def test_inplace_on_views_refused_where_pytorch_refuses():
    x = ng.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="Output 0 of Unbind is a view and is being modified inplace"):
        (x * 2).unbind(0)[0].mul_(3)
    y = x * 2
    with ng.no_grad():
        v = y[1:]
    with pytest.raises(RuntimeError, match="A view was created in no_grad mode and is being modified inplace"):
        v.mul_(2)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad is being used in an "
                                           "in-place operation"):  # PyTorch's error for a view of a leaf
        ng.ones(3, requires_grad=True)[1:].add_(1)
    z = x * 2
    z.mul_(3)  # in place on the tensor itself is recorded
    z.sum().backward()
    assert x.grad.tolist() == [6.0, 6.0, 6.0]
