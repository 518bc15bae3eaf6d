"""The one place that decides which device's kernels run a computation.

The ops layer calls these functions with arrays; an array is either a NumPy
array (CPU) or a ``DeviceArray`` (CUDA memory), and where the data lives picks
the kernels.  Nothing else in numgrad asks which device it is on: a new device
plugs in here.  The CPU path costs one type check per operand.
"""
from __future__ import annotations

import importlib

import numpy as np

from .cpu import elementwise as _cpu_map
from .cpu import buffer_pool as _cpu_pool
from .cpu import reduce_axes as _cpu_reduce
from ..device import devices_differ
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
    return _cpu_pool.empty(shape, dtype)


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


def run_map_sum(map_roots, reduce_root, inputs, shape, compute: str, acc: str, outs):
    """``map_roots`` written into ``outs`` plus the sum of ``reduce_root`` (a 0-d array of dtype ``acc``) in
    one kernel, or None when there is no such kernel for these operands (on the CPU: strides that do not
    collapse to one dimension); nothing is written then."""
    if on_cuda(inputs) or on_cuda(outs):
        from .cuda.elementwise import run_map_sum as cuda_run_map_sum

        return cuda_run_map_sum(map_roots, reduce_root, inputs, shape, compute, acc, outs)
    value = _cpu_map.run_map_sum(map_roots, reduce_root, inputs, shape, compute, acc, outs)
    return None if value is None else np.asarray(value, dtype=np.dtype(acc))


def reduce_array(x, axes, reducer: str, acc_dtype):
    """Reduce ``x`` over ``axes`` (keepdim=False) with accumulator/result dtype ``acc_dtype``."""
    if type(x) is DeviceArray:
        from .cuda.array import empty as cuda_empty
        from .cuda.reduce_axes import reduce_axes

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


# ------------------------------------------------------------------ layer ops: linear, conv2d, pooling (nn/functional/)
# C-contiguous arrays in, new arrays out.  The CPU path is the @njit kernels of kernels/cpu/conv.py (serial or
# parallel by PARALLEL_THRESHOLD, as before); the CUDA path is kernels/cuda/conv.py plus the CUDA matmul.
def _layer_devices(op: str, **arrays) -> bool:
    """True when the (non-None) ``arrays`` live on CUDA; PyTorch's error when they are on different devices."""
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
    return kinds == 2


def _cpu_layers():
    from .cpu import conv

    return conv


def _cuda_layers():
    from .cuda import conv

    return conv


_device_modules: dict = {}


def _device_module(arr, cpu_name: str, cuda_name: str):
    """``kernels/cpu/<cpu_name>.py`` or ``kernels/cuda/<cuda_name>.py`` by the type of ``arr``; the modules share
    names and contracts.  Looked up once per pair (these run on every op: no import machinery per call)."""
    on_gpu = type(arr) is DeviceArray
    key = (on_gpu, cuda_name if on_gpu else cpu_name)
    mod = _device_modules.get(key)
    if mod is None:
        package = ".cuda." if on_gpu else ".cpu."
        mod = _device_modules[key] = importlib.import_module(package + key[1], __package__)
    return mod


def linear_forward(x, w, b):
    """``x @ w.T (+ b)`` for x (M, K), w (N, K), b (N,) or None."""
    if _layer_devices("linear", input=x, weight=w, bias=b):
        out = matmul_arrays(x, w.T)  # K == 0 gives zeros
        if b is not None and out.size:
            from ..ir.expr import forward_roots
            from ..ir.table import ELEMENTWISE

            run_map(forward_roots(ELEMENTWISE["add"]), [out, b], [out.dtype], out.shape, out.dtype.name,
                    ["", ""], outs=[out])
        return out
    out = np.empty((x.shape[0], w.shape[0]), dtype=x.dtype)
    if x.shape[0] and w.shape[0]:
        if x.shape[1] == 0:
            # an empty product: the output is just the (broadcast) bias
            out[...] = b if b is not None else 0
        else:
            from .cpu.blas import gemm_parts

            _cpu_layers().linear_forward(x, w, b if b is not None else w[0], b is not None, out,
                                         gemm_parts(x.shape[0], w.shape[0], x.shape[1]))
    return out


def linear_backward(g, x, w, need_x: bool, need_w: bool, need_b: bool):
    """(gx, gw, gb) of ``linear`` from the incoming gradient g (M, N); None where not needed."""
    if _layer_devices("linear backward", grad=g, input=x, weight=w):
        return (matmul_arrays(g, w) if need_x else None, matmul_arrays(g.T, x) if need_w else None,
                reduce_array(g, (0,), "sum", g.dtype) if need_b else None)
    gx = np.empty(x.shape, dtype=x.dtype) if need_x else x
    gw = np.empty(w.shape, dtype=w.dtype) if need_w else w
    gb = np.empty((w.shape[0],), dtype=w.dtype) if need_b else w[:, 0].copy()
    if g.size == 0 or x.shape[1] == 0:
        if need_x:
            gx[...] = 0
        if need_w:
            gw[...] = 0
        if need_b:
            gb[...] = 0
    else:
        from .cpu.blas import gemm_parts

        _cpu_layers().linear_backward(g, x, w, need_x, need_w, need_b, gx, gw, gb,
                                      gemm_parts(x.shape[0], w.shape[0], x.shape[1]))
    return gx if need_x else None, gw if need_w else None, gb if need_b else None


def _conv_out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _conv_plan(x_shape, w_shape, geo, out_hw):
    """(kernel geometry tuple, parallel parts) for the CPU conv kernels of ``kernels/cpu/conv.py``."""
    from .cpu.blas import parallel_parts

    sh, sw, ph, pw, dh, dw, groups = geo
    n = x_shape[0]
    oc, cg, kh, kw = w_shape
    oh, ow = out_hw
    kernel_geo = (kh, kw, sh, sw, ph, pw, dh, dw, groups, oh, ow)
    return kernel_geo, parallel_parts(n * oc * cg * kh * kw * oh * ow, n)


def conv2d_forward(x, w, b, geo):
    """conv2d of x (N, C, H, W) with w (OC, C/groups, kh, kw) and bias b (OC,) or None;
    ``geo = (sh, sw, ph, pw, dh, dw, groups)``."""
    if _layer_devices("conv2d", input=x, weight=w, bias=b):
        return _cuda_layers().conv2d_forward(x, w, b, geo)
    k = _cpu_layers()
    sh, sw, ph, pw, dh, dw, groups = geo
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    oh, ow = _conv_out_size(h, kh, sh, ph, dh), _conv_out_size(wd, kw, sw, pw, dw)
    out = np.empty((n, oc, oh, ow), dtype=x.dtype)
    if out.size == 0:
        return out
    kernel_geo, parts = _conv_plan(x.shape, w.shape, geo, (oh, ow))
    args = (x, w.reshape(oc, cg * kh * kw), b if b is not None else w.reshape(-1), b is not None, kernel_geo,
            out.reshape(n, oc, oh * ow))
    k.conv_forward_par(*args, parts) if parts > 1 else k.conv_forward(*args)
    return out


def conv2d_input_grad(g, w, x_shape, geo):
    """The gradient of conv2d in its input, from the incoming gradient g (N, OC, OH, OW)."""
    if _layer_devices("conv2d backward", grad=g, weight=w):
        return _cuda_layers().conv2d_input_grad(g, w, x_shape, geo)
    k = _cpu_layers()
    n = x_shape[0]
    oc, cg, kh, kw = w.shape
    oh, ow = g.shape[2], g.shape[3]
    gx = np.empty(x_shape, dtype=g.dtype)
    if g.size == 0:
        gx[...] = 0
        return gx
    kernel_geo, parts = _conv_plan(x_shape, w.shape, geo, (oh, ow))
    args = (g.reshape(n, oc, oh * ow), w.reshape(oc, cg * kh * kw), kernel_geo, gx)
    k.conv_input_grad_par(*args, parts) if parts > 1 else k.conv_input_grad(*args)
    return gx


def conv2d_weight_grad(x, g, w_shape, geo):
    """The gradient of conv2d in its weight, from the input x and the incoming gradient g."""
    if _layer_devices("conv2d backward", input=x, grad=g):
        return _cuda_layers().conv2d_weight_grad(x, g, w_shape, geo)
    k = _cpu_layers()
    n = x.shape[0]
    oc, cg, kh, kw = w_shape
    oh, ow = g.shape[2], g.shape[3]
    gw = np.empty(w_shape, dtype=x.dtype)
    if g.size == 0:
        gw[...] = 0
        return gw
    kernel_geo, parts = _conv_plan(x.shape, w_shape, geo, (oh, ow))
    args = (x, g.reshape(n, oc, oh * ow), kernel_geo, gw.reshape(oc, cg * kh * kw))
    k.conv_weight_grad_par(*args, parts) if parts > 1 else k.conv_weight_grad(*args)
    return gw


def conv2d_bias_grad(g):
    """Per-channel sums of g (N, C, ...)."""
    if type(g) is DeviceArray:
        return reduce_array(g, (0,) + tuple(range(2, g.ndim)), "sum", g.dtype)
    out = np.empty((g.shape[1],), dtype=g.dtype)
    _cpu_layers().channel_sums(g.reshape(g.shape[0], g.shape[1], -1), out)
    return out


def max_pool2d_forward(x, geo, out_hw):
    """(values, int64 indices flat within each H*W plane) of max pooling x (N, C, H, W);
    ``geo = (kh, kw, sh, sw, ph, pw, dh, dw)``."""
    if type(x) is DeviceArray:
        return _cuda_layers().max_pool2d_forward(x, geo, out_hw)
    from .config import PARALLEL_THRESHOLD

    k = _cpu_layers()
    kh, kw, sh, sw, ph, pw, dh, dw = geo
    n, c = x.shape[:2]
    out = np.empty((n, c) + out_hw, dtype=x.dtype)
    idx = np.empty((n, c) + out_hw, dtype=np.int64)
    (k.max_pool2d_forward_par if x.size >= PARALLEL_THRESHOLD else k.max_pool2d_forward)(
        x, kh, kw, sh, sw, ph, pw, dh, dw, out, idx)
    return out, idx


def max_pool2d_backward(g, idx, x_shape, geo):
    """Each output gradient of g (N, C, OH, OW) added to the input element ``idx`` names (zeros elsewhere)."""
    if _layer_devices("max_pool2d backward", grad=g, indices=idx):
        return _cuda_layers().max_pool2d_backward(g, idx, x_shape, geo)
    n, c = x_shape[:2]
    gx = np.empty(x_shape, dtype=g.dtype)
    _cpu_layers().max_pool2d_backward(g.reshape(n, c, -1), idx.reshape(n, c, -1), gx.reshape(n, c, -1))
    return gx


def max_pool2d_gather(src, idx):
    """out[n, c, p] = src[n, c].flat[idx[n, c, p]]: the adjoint of ``max_pool2d_backward``."""
    if _layer_devices("max_pool2d double backward", input=src, indices=idx):
        return _cuda_layers().max_pool2d_gather(src, idx)
    n, c = src.shape[:2]
    out = np.empty(idx.shape, dtype=src.dtype)
    _cpu_layers().gather_planes(src.reshape(n, c, -1), idx.reshape(n, c, -1), out.reshape(n, c, -1))
    return out


def avg_pool2d_forward(x, geo, out_hw):
    """Average pooling of x (N, C, H, W); ``geo = (kh, kw, sh, sw, ph, pw, count_include_pad, divisor)``."""
    if type(x) is DeviceArray:
        return _cuda_layers().avg_pool2d_forward(x, geo, out_hw)
    kh, kw, sh, sw, ph, pw, count_include_pad, divisor = geo
    out = np.empty(x.shape[:2] + out_hw, dtype=x.dtype)
    _cpu_layers().avg_pool2d_forward(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, out)
    return out


def avg_pool2d_backward(g, geo, x_shape):
    if type(g) is DeviceArray:
        return _cuda_layers().avg_pool2d_backward(g, geo, x_shape)
    kh, kw, sh, sw, ph, pw, count_include_pad, divisor = geo
    gx = np.empty(x_shape, dtype=g.dtype)
    _cpu_layers().avg_pool2d_backward(g, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, gx)
    return gx


def adaptive_avg_pool2d_forward(x, out_hw):
    if type(x) is DeviceArray:
        return _cuda_layers().adaptive_avg_pool2d_forward(x, out_hw)
    out = np.empty(x.shape[:2] + out_hw, dtype=x.dtype)
    _cpu_layers().adaptive_avg_pool2d_forward(x, out)
    return out


def adaptive_avg_pool2d_backward(g, x_shape):
    if type(g) is DeviceArray:
        return _cuda_layers().adaptive_avg_pool2d_backward(g, x_shape)
    gx = np.empty(x_shape, dtype=g.dtype)
    _cpu_layers().adaptive_avg_pool2d_backward(g, gx)
    return gx


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
        raise devices_differ("cuda:0", "cpu", f"matmul of shapes {list(a.shape)} and {list(b.shape)}; "
                                              "move them with .to(device)")
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
    from ..ir.expr import forward_roots
    from ..ir.table import ELEMENTWISE

    return forward_roots(ELEMENTWISE["identity"])


def contiguous(x):
    """``x`` itself when C-contiguous, else a C-contiguous copy (on the same device)."""
    if x.flags.c_contiguous:
        return x
    (out,) = run_map(_identity_roots(), [x], [x.dtype], x.shape, x.dtype.name, [""])
    return out


# ------------------------------------------------------------------ optimizers (numgrad.optim)
def optimizer_kernels(param):
    """The module of fused optimizer step kernels (``sgd_step``, ``adam_step``, ``rmsprop_step`` and their
    ``*_par`` variants) for the flat parameter array ``param`` (see ``kernels/cpu/optim.py``)."""
    return _device_module(param, "optim", "optim")


def copy_as(x, dtype):
    """A fresh copy of ``x`` with ``dtype``, on the device of ``x`` (NumPy's ``x.astype(dtype)``)."""
    if type(x) is DeviceArray:
        dtype = np.dtype(dtype)
        (out,) = run_map(_identity_roots(), [x], [dtype], x.shape, dtype.name, [dtype.name])
        return out
    return np.array(x, dtype=dtype, copy=True)


# ------------------------------------------------------------ indexing and nll_loss (ops/indexing.py, nn/functional/loss.py)
# Index plans, gather/scatter along offsets or a dim, nonzero and the nll gather/scatter: the kernels of
# kernels/cpu/indexing.py (and cpu/nnfunc.py) or kernels/cuda/indexing.py, with the same contracts.
def indexing_kernels(arr):
    """The indexing kernel module for ``arr``'s device: ``kernels/cpu/indexing.py`` or ``kernels/cuda/indexing.py``
    (same names and contracts; on CUDA the ``*_parallel`` names are the same kernels, ``use_parallel`` is False)."""
    return _device_module(arr, "indexing", "indexing")


def full_for(inputs, shape, dtype, value):
    """A new array of ``shape`` filled with ``value``, on the device of ``inputs``."""
    for a in inputs:
        if type(a) is DeviceArray:
            from .cuda.array import empty as cuda_empty

            dtype = np.dtype(dtype)
            out = cuda_empty(shape, dtype)
            run_map(_identity_roots(), [value], [dtype], out.shape, dtype.name, [dtype.name], outs=[out])
            return out
    if value == 0:
        return np.zeros(shape, dtype=dtype)
    return np.full(shape, value, dtype=dtype)


def full(shape, dtype, value, device):
    """A new array of ``shape`` filled with ``value`` on ``device``, written where the memory lives."""
    if device.type == "cpu":
        return np.full(shape, value, dtype=dtype)
    return full_for([empty((0,), dtype, device)], shape, dtype, value)


def check_same_device(op: str, what: str, arr, like) -> None:
    """PyTorch's error when ``arr`` (argument ``what`` of ``op``) is not on the device of ``like``."""
    if (type(arr) is DeviceArray) != (type(like) is DeviceArray):
        devs = ("cuda:0", "cpu") if type(like) is DeviceArray else ("cpu", "cuda:0")
        raise devices_differ(*devs, f"when checking argument for argument {what} in method {op}(); "
                                    "move it with .to(device)")


def index_array_for(idx, data):
    """Index array ``idx`` on the device of the indexed ``data``: a CPU index is copied to CUDA data's device
    (as PyTorch allows); a CUDA index for CPU data is PyTorch's error."""
    if type(idx) is DeviceArray:
        if type(data) is not DeviceArray:
            raise RuntimeError("indices should be either on cpu or on the same device as the indexed tensor (cpu)")
        return idx
    if type(data) is DeviceArray:
        from .cuda.array import from_host

        return from_host(idx)
    return idx


def nonzero_positions(flat, shape):
    """``(count, len(shape))`` int64 multi-indices of the nonzeros of the C-contiguous 1-D ``flat``."""
    K = indexing_kernels(flat)
    if type(flat) is DeviceArray:
        return K.nonzero(flat, shape)
    n = K.count_nonzero(flat)
    out = np.empty((n, len(shape)), dtype=np.int64)
    if n and len(shape):
        K.nonzero_fill(flat, np.asarray(shape, dtype=np.int64).reshape(-1), out)
    return out


def nll_gather(logp, target, weight, ignore_index: int, out):
    """``out[n, d] = -weight[t] * logp[n, t, d]`` (``t = target[n, d]``, 0 where ignored) for ``(N, C, D)`` logp.

    Returns (total weight of the counted targets as a 0-d array of logp's dtype on its device, flat position
    of the first out-of-range target or -1).
    """
    if type(logp) is DeviceArray:
        from .cuda import indexing as cuda_indexing

        counted, bad = cuda_indexing.nll_gather(logp, target, weight, ignore_index, out)
        total = reduce_array(counted, list(range(counted.ndim)), "sum", np.float64)
        if logp.dtype != total.dtype:
            (total,) = run_map(_identity_roots(), [total], [logp.dtype], (), logp.dtype.name, [logp.dtype.name])
        return total, bad
    from .cpu.nnfunc import nll_gather as cpu_nll_gather

    total, bad = cpu_nll_gather(logp, target, weight, ignore_index, out)
    return np.array(total, dtype=logp.dtype), bad


def nll_scatter(g, target, weight, ignore_index: int, out) -> None:
    """The adjoint of ``nll_gather``: ``out[n, t, d] = -weight[t] * g[n, d]`` into a zeroed ``out``."""
    if type(out) is DeviceArray:
        from .cuda import indexing as cuda_indexing

        cuda_indexing.nll_scatter(g, target, weight, ignore_index, out)
        return
    from .cpu.nnfunc import nll_scatter as cpu_nll_scatter

    cpu_nll_scatter(g, target, weight, ignore_index, out)


def has_fused_cross_entropy(x) -> bool:
    """Whether class-index cross entropy of (N, C) logits on ``x``'s device has its one-pass kernels (CPU:
    ``kernels/cpu/nnfunc.py``); elsewhere ``nn.functional.cross_entropy`` composes log_softmax and nll_loss."""
    return type(x) is np.ndarray and x.dtype.kind == "f" and x.dtype.itemsize >= 4


def cross_entropy_forward(x, target, ignore_index: int):
    """(per-row losses in x's dtype, per-row float64 log-sum-exp, counted rows, first bad row or -1)."""
    from .cpu.nnfunc import cross_entropy_forward as kernel

    lse = np.empty(x.shape[0], dtype=np.float64)
    losses = np.empty(x.shape[0], dtype=x.dtype)
    counted, bad = kernel(x, target, ignore_index, lse, losses)
    return losses, lse, counted, bad


def cross_entropy_backward(x, target, ignore_index: int, lse, row_scale):
    """``(softmax(x) - onehot(target)) * row_scale[:, None]``, zero on ignored rows."""
    from .cpu.nnfunc import cross_entropy_backward as kernel

    gx = np.empty(x.shape, dtype=x.dtype)
    kernel(x, target, ignore_index, lse, row_scale, gx)
    return gx


# ------------------------------------------------------------------ reductions beyond sum (ops/reductions.py)
def reduction_kernels(x):
    """The module with ``prepare``, ``map_reduce``, ``arg_reduce`` and ``scan_sum`` for the device of array
    ``x`` (var/std, logsumexp, norms, count_nonzero, max/min with indices, argmax/argmin, cumsum; see
    ``kernels/cpu/map_reduce.py``)."""
    return _device_module(x, "map_reduce", "map_reduce")


# ------------------------------------------------- normalization, embedding, dropout, BCE input check (nn/)
# batch_norm, layer_norm, embedding and dropout call the kernels of the module this returns: kernels/cpu/conv.py
# (its normalization / embedding / dropout section, as before) or kernels/cuda/norm.py (same names, arguments and
# contracts; the ``*_par`` names are the same kernels there).
def norm_kernels(arr):
    """The module with ``batch_norm_*``, ``rsqrt_eps``, ``layer_norm_*``, ``first_bad_index``, ``embedding_*``
    and ``dropout_forward(_par)`` for the device of array ``arr``."""
    return _device_module(arr, "conv", "norm")


def empty_allocator(arr):
    """``np.empty`` for a NumPy ``arr``, CUDA's ``empty`` for a DeviceArray: ``alloc(shape, dtype)`` then makes
    uninitialised C-contiguous memory on ``arr``'s device (one type check for all of an op's buffers)."""
    if type(arr) is DeviceArray:
        from .cuda.array import empty as cuda_empty

        return cuda_empty
    return np.empty


def all_in_unit_interval(flat) -> bool:
    """True when every element of the 1-D ``flat`` lies in [0, 1] (NaN fails); on CUDA a device check and one
    read back (as PyTorch's CUDA binary_cross_entropy also reports bad input)."""
    if type(flat) is DeviceArray:
        from .cuda.nnfunc import all_in_unit_interval as cuda_check

        return cuda_check(flat)
    from .cpu.nnfunc import all_in_unit_interval as cpu_check

    return cpu_check(flat)
