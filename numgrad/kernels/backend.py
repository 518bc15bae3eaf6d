"""The one place that decides which device's kernels run a computation.

An array is either a NumPy array (CPU) or a ``DeviceArray`` (CUDA memory); where the data
lives picks the backend object - ``CpuBackend`` (``kernels/cpu/backend.py``) or
``CudaBackend`` (``kernels/cuda/backend.py``), which have the same methods - and the
functions here call that object's method of the same name.  Nothing else in numgrad asks
which device it is on: a new device is one more backend class and one more case in
``_pick`` / ``_by_first``.  The CUDA backend module is imported the first time CUDA data
or a CUDA device shows up, so ``import numgrad`` needs no GPU.

>>> import numpy as np
>>> from numgrad.kernels import backend
>>> backend.backend_for(np.zeros(3)).name
'cpu'
>>> backend.copy_as(np.arange(3), np.float32)
array([0., 1., 2.], dtype=float32)
"""
from __future__ import annotations

from functools import update_wrapper

import numpy as np

from .. import _profiler_hooks as _hooks
from ..device import cpu, cuda0, devices_differ
from .cpu.backend import CPU, CpuBackend
from .cuda.array import DeviceArray

# [the CudaBackend], filled on first use: kernels/cuda/backend.py loads CUDA kernel modules, which a CPU-only
# process must never pay for (nor need numba-cuda for)
_cuda: list = []


def _cuda_backend():
    if not _cuda:
        from .cuda.backend import CUDA

        _cuda.append(CUDA)
    return _cuda[0]


def backend_for(arr):
    """The backend object of the device ``arr`` lives on (``CPU`` for NumPy arrays and numbers).

    >>> import numpy as np
    >>> backend_for(np.ones(2)).run_map.__module__
    'numgrad.kernels.cpu.elementwise'
    """
    return _cuda_backend() if type(arr) is DeviceArray else CPU


def _pick(arrays, more=None):
    """The backend for an op over ``arrays`` (and ``more``, when given): CUDA if any of them lives there."""
    for a in arrays:
        if type(a) is DeviceArray:
            return _cuda_backend()
    if more:
        for a in more:
            if type(a) is DeviceArray:
                return _cuda_backend()
    return CPU


# The CPU methods of the hot functions (run_map, run_reduce, run_map_sum, empty_for) are bound once: looking
# one up on the backend object per call (a staticmethod misses CPython's method-call fast path) measured ~300
# instructions of the ~43k of a 4-element run_map under callgrind.
_cpu_run_map, _cpu_run_reduce, _cpu_run_map_sum = CPU.run_map, CPU.run_reduce, CPU.run_map_sum
_cpu_pooled_empty, _cpu_full = CPU.pooled_empty, CPU.full


def _for_device(device):
    return _cuda_backend() if device is not None and device.type == "cuda" else CPU


def _by_first(method):
    """The module-level function for backend ``method`` whose first argument says where the data lives.

    The CPU method is bound once here, so a CPU call costs this one frame and a type check on top of the
    method itself (no lookup of the backend per call)."""
    name = method.__name__
    cpu_method = getattr(CPU, name)

    def dispatch(arr, *args):
        if type(arr) is DeviceArray:
            return getattr(_cuda_backend(), name)(arr, *args)
        return cpu_method(arr, *args)

    update_wrapper(dispatch, cpu_method)  # CPU docstring; signature without ``self`` (via __wrapped__)
    dispatch.__module__, dispatch.__qualname__ = __name__, name
    return dispatch


def _layer_backend(op: str, **arrays):
    """The backend of the (non-None) ``arrays``; PyTorch's error when they are on different devices."""
    kinds = 0
    for v in arrays.values():
        if type(v) is DeviceArray:
            kinds |= 2
        elif v is not None:
            kinds |= 1
    if kinds == 3:
        where = ", ".join(f"{k} on {'cuda:0' if type(v) is DeviceArray else 'cpu'}"
                          for k, v in arrays.items() if v is not None)
        raise devices_differ("cuda:0", "cpu", f"{op}: {where}; move them with .to(device)")
    return _cuda_backend() if kinds == 2 else CPU


def device_of(arr):
    """The ``numgrad.device`` an array lives on."""
    return cuda0 if type(arr) is DeviceArray else cpu


# ------------------------------------------------------------------ memory
def empty(shape, dtype, device=None):
    """Uninitialised C-contiguous memory on ``device`` (default: the CPU)."""
    return _for_device(device).empty(shape, dtype)


def empty_for(inputs, shape, dtype):
    """Uninitialised memory for an op's result on the device of ``inputs`` (CUDA if any input lives there)."""
    be = _pick(inputs)
    return (_cpu_pooled_empty if be is CPU else be.pooled_empty)(shape, dtype)


def full_for(inputs, shape, dtype, value):
    """A new array of ``shape`` filled with ``value``, on the device of ``inputs``."""
    out = _pick(inputs).full(shape, dtype, value)
    if _hooks._capture_fill is not None:  # ng.compile is recording a step: replay refills it
        _hooks._capture_fill(out, value)
    return out


def full(shape, dtype, value, device=None):
    """A new array of ``shape`` filled with ``value`` on ``device`` (default: the CPU), written where it lives."""
    if device is None or device.type == "cpu":  # every backward pass seeds its gradient here
        out = _cpu_full(shape, dtype, value)
    else:
        out = _cuda_backend().full(shape, dtype, value)
    if _hooks._capture_fill is not None:  # ng.compile is recording a step: replay refills it
        _hooks._capture_fill(out, value)
    return out


def to_device(arr, device):
    """``arr`` on ``device``: the same object when it already is there, else one copy."""
    return _for_device(device).adopt(arr)


def copy(src, dtype=None, out=None):
    """``src`` (an array or a number) copied into ``out`` or a new C-contiguous array, cast to out's dtype or
    ``dtype``: the identity copy behind every contiguous copy, cast and fill (see ``CpuBackend.copy``)."""
    return _pick((src, out)).copy(src, dtype, out)


# ------------------------------------------------------------------ elementwise maps (called on every op)
def run_map(roots, inputs, out_dtypes, shape, compute, in_casts, outs=None):
    """Evaluate expression ``roots`` elementwise over ``shape`` (see ``kernels/cpu/elementwise.run_map``)."""
    be = _pick(inputs, outs)
    return (_cpu_run_map if be is CPU else be.run_map)(roots, inputs, out_dtypes, shape, compute, in_casts, outs)


def run_reduce(root, inputs, shape, reducer: str, acc: str):
    """A full reduction of expression ``root`` in one kernel as a 0-d array of dtype ``acc``, or None
    (the caller then computes the map and reduces it)."""
    be = _pick(inputs)
    return (_cpu_run_reduce if be is CPU else be.run_reduce)(root, inputs, shape, reducer, acc)


def run_map_sum(map_roots, reduce_root, inputs, shape, compute: str, acc: str, outs):
    """``map_roots`` written into ``outs`` plus the sum of ``reduce_root`` (a 0-d array of dtype ``acc``) in
    one kernel, or None when there is no such kernel for these operands (on the CPU: strides that do not
    collapse to one dimension); nothing is written then."""
    be = _pick(inputs, outs)
    return (_cpu_run_map_sum if be is CPU else be.run_map_sum)(map_roots, reduce_root, inputs, shape, compute, acc,
                                                                outs)


def map_kernel_source(device, roots, in_kinds, in_casts, n_out, ndim, compute) -> str:
    """The generated source of the map kernel ``run_map`` would use on ``device`` (for ``ng.explain``)."""
    return _for_device(device).map_kernel_source(roots, in_kinds, in_casts, n_out, ndim, compute)


# ------------------------------------------------------------------ layer ops (nn/_layers_functional.py)
def linear_forward(x, w, b):
    """``x @ w.T (+ b)`` for x (M, K), w (N, K), b (N,) or None."""
    return _layer_backend("linear", input=x, weight=w, bias=b).linear_forward(x, w, b)


def linear_backward(g, x, w, need_x: bool, need_w: bool, need_b: bool):
    """(gx, gw, gb) of ``linear`` from the incoming gradient g (M, N); None where not needed."""
    return _layer_backend("linear backward", grad=g, input=x, weight=w).linear_backward(
        g, x, w, need_x, need_w, need_b)


def conv2d_forward(x, w, b, geo):
    """conv2d of x (N, C, H, W) with w (OC, C/groups, kh, kw) and bias b (OC,) or None;
    ``geo = (sh, sw, ph, pw, dh, dw, groups)``."""
    return _layer_backend("conv2d", input=x, weight=w, bias=b).conv2d_forward(x, w, b, geo)


def conv2d_input_grad(g, w, x_shape, geo):
    """The gradient of conv2d in its input, from the incoming gradient g (N, OC, OH, OW)."""
    return _layer_backend("conv2d backward", grad=g, weight=w).conv2d_input_grad(g, w, x_shape, geo)


def conv2d_weight_grad(x, g, w_shape, geo):
    """The gradient of conv2d in its weight, from the input x and the incoming gradient g."""
    return _layer_backend("conv2d backward", input=x, grad=g).conv2d_weight_grad(x, g, w_shape, geo)


def max_pool2d_backward(g, idx, x_shape, geo):
    """Each output gradient of g (N, C, OH, OW) added to the input element ``idx`` names (zeros elsewhere)."""
    return _layer_backend("max_pool2d backward", grad=g, indices=idx).max_pool2d_backward(g, idx, x_shape, geo)


def max_pool2d_gather(src, idx):
    """out[n, c, p] = src[n, c].flat[idx[n, c, p]]: the adjoint of ``max_pool2d_backward``."""
    return _layer_backend("max_pool2d double backward", input=src, indices=idx).max_pool2d_gather(src, idx)


def matmul_arrays(a, b):
    """``a @ b`` for ``(*batch, M, K)`` and ``(*batch, K, N)`` arrays of one dtype (batch dims broadcast)."""
    return _pick((a, b)).matmul_arrays(a, b)


# ------------------------------------------------------------------ indexing, nll_loss, cross entropy
def check_same_device(op: str, what: str, arr, like) -> None:
    """PyTorch's error when ``arr`` (argument ``what`` of ``op``) is not on the device of ``like``."""
    if (type(arr) is DeviceArray) != (type(like) is DeviceArray):
        devs = ("cuda:0", "cpu") if type(like) is DeviceArray else ("cpu", "cuda:0")
        raise devices_differ(*devs, f"when checking argument for argument {what} in method {op}(); "
                                    "move it with .to(device)")


def index_array_for(idx, data):
    """Index array ``idx`` on the device of the indexed ``data``: a CPU index is copied to CUDA data's device
    (as PyTorch allows); a CUDA index for CPU data is PyTorch's error."""
    return backend_for(data).index_array(idx)


def nll_scatter(g, target, weight, ignore_index: int, out) -> None:
    """The adjoint of ``nll_gather``: ``out[n, t, d] = -weight[t] * g[n, d]``, and 0 in every other element of
    ``out`` (the kernel writes all of it: no zero fill first)."""
    backend_for(out).nll_scatter(g, target, weight, ignore_index, out)


def has_fused_cross_entropy(x) -> bool:
    """Whether class-index cross entropy of (N, C) logits on ``x``'s device has one-pass kernels; elsewhere
    ``nn.functional.cross_entropy`` composes log_softmax and nll_loss."""
    return backend_for(x).cross_entropy_kernels(x) is not None


def cross_entropy_forward(x, target, ignore_index: int, mean: bool):
    """(per-row losses in x's dtype, per-row float64 log-sum-exp, per-row d total / d loss, the reduced loss as a
    1-element array (sum, or mean when ``mean``), first bad row or -1)."""
    return backend_for(x).cross_entropy_kernels(x)[0](x, target, ignore_index, mean)


def cross_entropy_backward(x, target, ignore_index: int, lse, row_weight, g):
    """``(softmax(x) - onehot(target)) * row_weight[:, None] * g``, zero on ignored rows (``g``: 1 or N values)."""
    return backend_for(x).cross_entropy_kernels(x)[1](x, target, ignore_index, lse, row_weight, g)


# ------------------------------------------------------------------ the rest: the first argument's device decides
# (docstrings and signatures are the CPU backend's: ``help(backend.reduce_array)`` shows them)
reduce_array = _by_first(CpuBackend.reduce_array)
softmax_kernels = _by_first(CpuBackend.softmax_kernels)
attention_softmax_kernels = _by_first(CpuBackend.attention_softmax_kernels)
conv2d_bias_grad = _by_first(CpuBackend.conv2d_bias_grad)
max_pool2d_forward = _by_first(CpuBackend.max_pool2d_forward)
avg_pool2d_forward = _by_first(CpuBackend.avg_pool2d_forward)
avg_pool2d_backward = _by_first(CpuBackend.avg_pool2d_backward)
adaptive_avg_pool2d_forward = _by_first(CpuBackend.adaptive_avg_pool2d_forward)
adaptive_avg_pool2d_backward = _by_first(CpuBackend.adaptive_avg_pool2d_backward)
contiguous = _by_first(CpuBackend.contiguous)
def copy_as(x, dtype):
    """A fresh copy of ``x`` cast to ``dtype``, on its device (``CpuBackend.copy_as``: NumPy's ``astype`` on the
    CPU).  While ``ng.compile`` records a step, a CPU copy runs as numgrad's copy kernel instead: NumPy's cast is
    invisible to the recording, and a replay must cast again (a BatchNorm in eval mode casts its running
    statistics every call); the exact casts numgrad makes this way give the same bits either way.

    >>> copy_as(np.arange(3), np.float32)
    array([0., 1., 2.], dtype=float32)
    """
    if _hooks._capture_fill is not None and type(x) is np.ndarray:
        return copy(x, dtype)
    return _pick((x,)).copy_as(x, dtype)
empty_allocator = _by_first(CpuBackend.empty_allocator)
optimizer_kernels = _by_first(CpuBackend.optimizer_kernels)
indexing_kernels = _by_first(CpuBackend.indexing_kernels)
reduction_kernels = _by_first(CpuBackend.reduction_kernels)
norm_kernels = _by_first(CpuBackend.norm_kernels)
rnn_kernels = _by_first(CpuBackend.rnn_kernels)
nonzero_positions = _by_first(CpuBackend.nonzero_positions)
nll_gather = _by_first(CpuBackend.nll_gather)
all_in_unit_interval = _by_first(CpuBackend.all_in_unit_interval)
any_below = _by_first(CpuBackend.any_below)
multilabel_target_mask = _by_first(CpuBackend.multilabel_target_mask)
sorting_kernels = _by_first(CpuBackend.sorting_kernels)
scan_kernels = _by_first(CpuBackend.scan_kernels)
sampling_kernels = _by_first(CpuBackend.sampling_kernels)
dense_linalg_kernels = _by_first(CpuBackend.dense_linalg_kernels)
scatter_reduce_kernels = _by_first(CpuBackend.scatter_reduce_kernels)
embedding_bag_kernels = _by_first(CpuBackend.embedding_bag_kernels)
ctc_kernels = _by_first(CpuBackend.ctc_kernels)
grid_sample_kernels = _by_first(CpuBackend.grid_sample_kernels)
