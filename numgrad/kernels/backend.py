"""The one place that decides which device's kernels run a computation.

The ops layer calls these functions with arrays; an array is either a NumPy
array (CPU) or a ``DeviceArray`` (CUDA memory), and where the data lives picks
the kernels.  Nothing else in numgrad asks which device it is on: a new device
plugs in here.  The CPU path costs one type check per operand.
"""
from __future__ import annotations

import numpy as np

from .cpu import elementwise as _cpu_map
from .cpu import reduce as _cpu_reduce
from .cuda.array import DeviceArray


def on_cuda(arrays) -> bool:
    for a in arrays:
        if type(a) is DeviceArray:
            return True
    return False


def device_of(arr):
    """The ``numgrad.device`` an array lives on."""
    from ..device import cpu, cuda0

    return cuda0 if type(arr) is DeviceArray else cpu


def empty(shape, dtype, device=None):
    """Uninitialised C-contiguous memory on ``device`` (default: the CPU)."""
    if device is not None and device.type == "cuda":
        from .cuda.array import empty as cuda_empty

        return cuda_empty(shape, dtype)
    return np.empty(shape, dtype=dtype)


def empty_for(inputs, shape, dtype):
    """Uninitialised memory on the device of ``inputs`` (CUDA if any input lives there)."""
    if on_cuda(inputs):
        from .cuda.array import empty as cuda_empty

        return cuda_empty(shape, dtype)
    return np.empty(shape, dtype=dtype)


def to_device(arr, device):
    """``arr`` on ``device``: the same object when it already is there, else one copy."""
    if device.type == "cuda":
        if type(arr) is DeviceArray:
            return arr
        from .cuda.array import from_host

        return from_host(arr)
    return arr.to_host() if type(arr) is DeviceArray else arr


def run_map(roots, inputs, out_dtypes, shape, compute, in_casts, outs=None):
    """Evaluate expression ``roots`` elementwise over ``shape`` (see ``kernels/cpu/elementwise.run_map``)."""
    if on_cuda(inputs) or (outs is not None and on_cuda(outs)):
        from .cuda.elementwise import run_map as cuda_run_map

        return cuda_run_map(roots, inputs, out_dtypes, shape, compute, in_casts, outs)
    return _cpu_map.run_map(roots, inputs, out_dtypes, shape, compute, in_casts, outs)


def map_kernel_source(device, roots, in_kinds, in_casts, n_out, ndim, compute) -> str:
    """The generated source of the map kernel ``run_map`` would use on ``device`` (for ``ng.explain``)."""
    if device.type == "cuda":
        from .cuda.elementwise import _source as cuda_source

        return cuda_source(roots, in_kinds, in_casts, n_out, ndim, compute)
    return _cpu_map._source(roots, in_kinds, in_casts, n_out, ndim, compute)


def run_reduce(root, inputs, shape, reducer: str, acc: str):
    """A full reduction of expression ``root`` in one kernel as a 0-d array of dtype ``acc``, or None
    (the caller then computes the map and reduces it)."""
    if on_cuda(inputs):
        from .cuda.elementwise import run_reduce as cuda_run_reduce

        return cuda_run_reduce(root, inputs, shape, reducer, acc)
    value = _cpu_map.run_reduce(root, inputs, shape, reducer, acc)
    return None if value is None else np.asarray(value, dtype=np.dtype(acc))


def reduce_array(x, axes, reducer: str, acc_dtype):
    """Reduce ``x`` over ``axes`` (keepdim=False) with accumulator/result dtype ``acc_dtype``."""
    if type(x) is DeviceArray:
        from .cuda.array import empty as cuda_empty
        from .cuda.reduce import reduce_axes

        axes = tuple(sorted(set(axes)))
        acc_dtype = np.dtype(acc_dtype)
        out = cuda_empty(tuple(n for i, n in enumerate(x.shape) if i not in axes), acc_dtype)
        reduce_axes(x.kernel_arg(), axes, reducer, acc_dtype.name, out=out.kernel_arg())
        return out
    return _cpu_reduce.reduce_array(x, axes, reducer, acc_dtype)


def softmax_kernels(slabs):
    """(forward, backward) softmax kernels for ``(A, R, C)`` slabs (see ``kernels/cpu/nnfunc.py``)."""
    if type(slabs) is DeviceArray:
        from .cuda import nnfunc as cuda_nnfunc

        return cuda_nnfunc.softmax_forward, cuda_nnfunc.softmax_backward
    from .config import PARALLEL_THRESHOLD
    from .cpu import nnfunc

    if slabs.size >= PARALLEL_THRESHOLD and slabs.shape[0] > 1:
        return nnfunc.softmax_forward_par, nnfunc.softmax_backward_par
    return nnfunc.softmax_forward, nnfunc.softmax_backward


def matmul_arrays(a, b):
    """``a @ b`` for ``(*batch, M, K)`` and ``(*batch, K, N)`` arrays of one dtype (batch dims broadcast)."""
    if type(a) is DeviceArray or type(b) is DeviceArray:
        return _cuda_matmul(a, b)
    from .cpu.matmul import matmul_arrays as cpu_matmul

    return cpu_matmul(a, b)


def _cuda_matmul(a, b):
    from .cuda.array import empty as cuda_empty
    from .cuda.matmul import matmul

    if type(a) is not type(b):
        raise RuntimeError(
            "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu! "
            f"(matmul of shapes {list(a.shape)} and {list(b.shape)}; move them with .to(device))"
        )
    batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    m, k = a.shape[-2:]
    n = b.shape[-1]
    out = cuda_empty(batch + (m, n), a.dtype)
    if out.size == 0:
        return out
    if k == 0:
        (out,) = run_map(_identity_roots(), [0], [a.dtype], out.shape, a.dtype.name, [a.dtype.name], outs=[out])
        return out
    matmul(_batched(a, batch).kernel_arg(), _batched(b, batch).kernel_arg(),
           out=out.reshape((-1, m, n)).kernel_arg())
    return out


def _batched(x, batch: tuple):
    """``x`` broadcast over ``batch`` as one (B, rows, cols) view; a copy only when the batch dims cannot merge."""
    rows, cols = x.shape[-2:]
    full = np.broadcast_to(x, batch + (rows, cols))
    try:
        return full.reshape((-1, rows, cols))
    except ValueError:
        return contiguous(full).reshape((-1, rows, cols))


def _identity_roots():
    from ..ops.elementwise import _forward_roots
    from ..ops.table import ELEMENTWISE

    return _forward_roots(ELEMENTWISE["identity"])


def contiguous(x):
    """``x`` itself when C-contiguous, else a C-contiguous copy (on the same device)."""
    if x.flags.c_contiguous:
        return x
    (out,) = run_map(_identity_roots(), [x], [x.dtype], x.shape, x.dtype.name, [""])
    return out
