"""The CPU backend: every kernel entry point of numgrad for NumPy arrays, as the methods of one object.

``numgrad.kernels.backend`` hands an op's arrays to this object or to the CUDA one
(``kernels/cuda/backend.py``) by where the data lives.  Both classes have the same
methods with the same signatures and contracts (a test checks), so the ops layer never
asks which device it is on.  Where a method is exactly a kernel module's function it is
that function (a ``staticmethod``): the hot path pays no extra Python frame for the
backend.  Kernel modules other than the elementwise ones are imported on first use, as
before the backends existed, so ``import numgrad`` stays cheap.

>>> import numpy as np
>>> from numgrad.kernels.cpu.backend import CPU
>>> CPU.copy(np.arange(3), np.float32)
array([0., 1., 2.], dtype=float32)
"""
from __future__ import annotations

from functools import cached_property

import numpy as np

from ... import _dtypes
from ..config import PARALLEL_THRESHOLD, get_num_threads
from ..cuda.array import DeviceArray  # the one foreign array type a CPU method must recognise (and refuse or copy)
from . import buffer_pool as _pool
from . import elementwise as _map
from . import reduce_axes as _reduce



def conv_out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def conv_plan(x_shape, w_shape, geo, out_hw):
    """(kernel geometry tuple, parallel parts) for the conv kernels of ``kernels/cpu/conv.py``.

    >>> conv_plan((1, 3, 8, 8), (4, 3, 3, 3), (1, 1, 1, 1, 1, 1, 1), (8, 8))
    ((3, 3, 1, 1, 1, 1, 1, 1, 1, 8, 8), 1)
    """
    from .blas import parallel_parts

    sh, sw, ph, pw, dh, dw, groups = geo
    n = x_shape[0]
    oc, cg, kh, kw = w_shape
    oh, ow = out_hw
    kernel_geo = (kh, kw, sh, sw, ph, pw, dh, dw, groups, oh, ow)
    return kernel_geo, parallel_parts(n * oc * cg * kh * kw * oh * ow, n)


def refuse_16bit_floats(op: str, *arrays) -> None:
    """A clear error when a kernel family without float16/bfloat16 support is handed such an array.

    16-bit floats are stored as 16-bit words that only the elementwise, cast, sum/mean, matmul and indexing
    paths convert; any other kernel would fail to compile (float16) or read the words as integers (bfloat16).
    """
    for a in arrays:
        if type(a) is np.ndarray and a.itemsize == 2:
            kind = _map.half_kind(a)
            if kind:
                name = "Half" if kind == "h" else "BFloat16"
                raise RuntimeError(
                    f'"{op}" not implemented for \'{name}\' in numgrad (shape {list(a.shape)}): float16/bfloat16 '
                    "tensors support creation, casts, indexing, elementwise ops, sum/mean and matmul; convert "
                    "with .float() first")


class CpuBackend:
    """numgrad's kernels for NumPy arrays; see the module docstring.

    >>> import numpy as np
    >>> from numgrad.kernels.cpu.backend import CPU
    >>> CPU.reduce_array(np.ones((2, 3), np.float32), (1,), "sum", np.float64)
    array([3., 3.])
    """

    name = "cpu"

    # ------------------------------------------------------------ kernel modules, imported on first use
    # (cached on the instance: after the first call a lookup is one attribute read)
    @cached_property
    def _conv(self):
        from . import conv

        return conv

    @cached_property
    def _norm(self):
        from . import norm

        return norm

    @cached_property
    def _nnfunc(self):
        from . import nnfunc

        return nnfunc

    @cached_property
    def _attention(self):
        from . import attention

        return attention

    @cached_property
    def _rnn(self):
        from . import rnn

        return rnn

    @cached_property
    def _blas(self):
        from . import blas

        return blas

    @cached_property
    def _matmul(self):
        from . import matmul

        return matmul

    @cached_property
    def _optim(self):
        from . import optim

        return optim

    @cached_property
    def _indexing(self):
        from . import indexing

        return indexing

    @cached_property
    def _wide16(self):
        from . import wide16

        return wide16

    @cached_property
    def _indexing16(self):
        from . import indexing16

        return indexing16

    @cached_property
    def _map_reduce(self):
        from . import map_reduce

        return map_reduce

    # ------------------------------------------------------------ memory
    def empty(self, shape, dtype):
        """Uninitialised C-contiguous memory of ``shape`` and ``dtype``."""
        return np.empty(shape, dtype=dtype)

    # like ``empty``; large requests reuse an idle buffer of the same size (kernels/cpu/buffer_pool.py)
    pooled_empty = staticmethod(_pool.empty)

    def empty_allocator(self, arr):
        """The ``empty(shape, dtype)`` function to call for all of an op's buffers next to ``arr``."""
        return np.empty

    def adopt(self, arr):
        """``arr`` in host memory: itself when it is there, else one copy back from the device."""
        return arr.to_host() if type(arr) is DeviceArray else arr

    def full(self, shape, dtype, value):
        """A new array of ``shape`` filled with ``value``."""
        if value == 0 and not np.signbit(value):  # -0.0 keeps its sign bit (np.zeros writes +0.0)
            return np.zeros(shape, dtype=dtype)
        if np.dtype(dtype).itemsize == 2 and _dtypes.is_bfloat16_array_dtype(np.dtype(dtype)):
            # bfloat16 memory holds 16-bit words: the value is rounded to its word by the cast kernel
            value = _map.copy(np.array([value], dtype=np.float64), dtype)[0]
        return np.full(shape, value, dtype=dtype)

    # the one identity copy (contiguous copies, casts, fills), beside the map kernel it runs
    copy = staticmethod(_map.copy)
    contiguous = staticmethod(_map.contiguous)

    def copy_as(self, x, dtype):
        """A fresh copy of ``x`` with ``dtype`` (NumPy's ``x.astype(dtype)``, which it is here: one C loop, no
        kernel to compile; the cast kernel where bfloat16 words are read or written)."""
        if _dtypes.is_bfloat16_array_dtype(np.dtype(dtype)) or _dtypes.is_bfloat16_array_dtype(x.dtype):
            return _map.copy(x, dtype)
        return np.array(x, dtype=dtype, copy=True)

    # ------------------------------------------------------------ elementwise maps and reductions
    run_map = staticmethod(_map.run_map)
    map_kernel_source = staticmethod(_map._source)

    run_reduce = staticmethod(_map.run_reduce)
    run_map_sum = staticmethod(_map.run_map_sum)

    def reduce_array(self, x, axes, reducer: str, acc_dtype):
        """Reduce ``x`` over ``axes`` (keepdim=False) with accumulator/result dtype ``acc_dtype``."""
        axes = sorted(set(axes))
        if not axes:
            return self.copy(x, acc_dtype)
        refuse_16bit_floats("reduction over dims", x)
        return _reduce.reduce_array(self.contiguous(x), axes, reducer, acc_dtype)

    def softmax_kernels(self, slabs):
        """(forward, backward) softmax kernels for ``(A, R, C)`` slabs, parallel ones for large inputs."""
        k = self._wide16 if slabs.itemsize == 2 and _map.half_kind(slabs) else self._nnfunc
        if slabs.size >= PARALLEL_THRESHOLD and slabs.shape[0] > 1:
            return k.softmax_forward_par, k.softmax_backward_par
        return k.softmax_forward, k.softmax_backward

    def attention_softmax_kernels(self, scores):
        """(forward, backward) masked, scaled softmax kernels of ``kernels/cpu/attention.py`` for ``(B, L, S)``
        scores (parallel ones for large inputs), or None where there are none (then
        ``nn.functional.scaled_dot_product_attention`` composes tensor ops)."""
        if scores.itemsize == 2 and _map.half_kind(scores):
            return None  # 16-bit scores: the composed ops (softmax in float32) run instead
        k = self._attention
        if scores.size >= PARALLEL_THRESHOLD and scores.shape[0] * scores.shape[1] > 1:
            return k.masked_softmax_forward_par, k.masked_softmax_backward_par
        return k.masked_softmax_forward, k.masked_softmax_backward

    # ------------------------------------------------------------ layer ops (C-contiguous arrays in, new arrays out)
    def linear_forward(self, x, w, b):
        """``x @ w.T (+ b)`` for x (M, K), w (N, K), b (N,) or None."""
        refuse_16bit_floats("linear", x)
        out = np.empty((x.shape[0], w.shape[0]), dtype=x.dtype)
        if x.shape[0] and w.shape[0]:
            if x.shape[1] == 0:
                # an empty product: the output is just the (broadcast) bias
                out[...] = b if b is not None else 0
            else:
                self._conv.linear_forward(x, w, b if b is not None else w[0], b is not None, out,
                                          self._blas.gemm_parts(x.shape[0], w.shape[0], x.shape[1]))
        return out

    def linear_backward(self, g, x, w, need_x: bool, need_w: bool, need_b: bool):
        """(gx, gw, gb) of ``linear`` from the incoming gradient g (M, N); None where not needed."""
        gx = np.empty(x.shape, dtype=x.dtype) if need_x else x
        gw = np.empty(w.shape, dtype=w.dtype) if need_w else w
        # unused by the kernel when the bias needs no gradient, but always an (N,) array: w[:, 0] would fail for a
        # weight with no input features (an adaptive softmax's tail for in_features // div_value**i == 0)
        gb = np.empty((w.shape[0],), dtype=w.dtype)
        if g.size == 0 or x.shape[1] == 0:
            if need_x:
                gx[...] = 0
            if need_w:
                gw[...] = 0
            if need_b:
                gb[...] = 0
        else:
            self._conv.linear_backward(g, x, w, need_x, need_w, need_b, gx, gw, gb,
                                       self._blas.gemm_parts(x.shape[0], w.shape[0], x.shape[1]))
        return gx if need_x else None, gw if need_w else None, gb if need_b else None

    def conv2d_forward(self, x, w, b, geo):
        """conv2d of x (N, C, H, W) with w (OC, C/groups, kh, kw) and bias b (OC,) or None;
        ``geo = (sh, sw, ph, pw, dh, dw, groups)``."""
        refuse_16bit_floats("conv2d", x)
        k = self._conv
        sh, sw, ph, pw, dh, dw, groups = geo
        n, c, h, wd = x.shape
        oc, cg, kh, kw = w.shape
        oh, ow = conv_out_size(h, kh, sh, ph, dh), conv_out_size(wd, kw, sw, pw, dw)
        out = np.empty((n, oc, oh, ow), dtype=x.dtype)
        if out.size == 0:
            return out
        kernel_geo, parts = conv_plan(x.shape, w.shape, geo, (oh, ow))
        args = (x, w.reshape(oc, cg * kh * kw), b if b is not None else w.reshape(-1), b is not None, kernel_geo,
                out.reshape(n, oc, oh * ow))
        k.conv_forward_par(*args, parts) if parts > 1 else k.conv_forward(*args)
        return out

    def conv2d_input_grad(self, g, w, x_shape, geo):
        """The gradient of conv2d in its input, from the incoming gradient g (N, OC, OH, OW)."""
        k = self._conv
        n = x_shape[0]
        oc, cg, kh, kw = w.shape
        oh, ow = g.shape[2], g.shape[3]
        gx = np.empty(x_shape, dtype=g.dtype)
        if g.size == 0:
            gx[...] = 0
            return gx
        kernel_geo, parts = conv_plan(x_shape, w.shape, geo, (oh, ow))
        args = (g.reshape(n, oc, oh * ow), w.reshape(oc, cg * kh * kw), kernel_geo, gx)
        k.conv_input_grad_par(*args, parts) if parts > 1 else k.conv_input_grad(*args)
        return gx

    def conv2d_weight_grad(self, x, g, w_shape, geo):
        """The gradient of conv2d in its weight, from the input x and the incoming gradient g."""
        k = self._conv
        n = x.shape[0]
        oc, cg, kh, kw = w_shape
        oh, ow = g.shape[2], g.shape[3]
        gw = np.empty(w_shape, dtype=x.dtype)
        if g.size == 0:
            gw[...] = 0
            return gw
        kernel_geo, parts = conv_plan(x.shape, w_shape, geo, (oh, ow))
        args = (x, g.reshape(n, oc, oh * ow), kernel_geo, gw.reshape(oc, cg * kh * kw))
        k.conv_weight_grad_par(*args, parts) if parts > 1 else k.conv_weight_grad(*args)
        return gw

    def conv2d_bias_grad(self, g):
        """Per-channel sums of g (N, C, ...)."""
        out = np.empty((g.shape[1],), dtype=g.dtype)
        self._conv.channel_sums(g.reshape(g.shape[0], g.shape[1], -1), out)
        return out

    def max_pool2d_forward(self, x, geo, out_hw):
        """(values, int64 indices flat within each H*W plane) of max pooling x (N, C, H, W);
        ``geo = (kh, kw, sh, sw, ph, pw, dh, dw)``."""
        refuse_16bit_floats("max_pool2d", x)
        k = self._conv
        kh, kw, sh, sw, ph, pw, dh, dw = geo
        n, c = x.shape[:2]
        out = np.empty((n, c) + out_hw, dtype=x.dtype)
        idx = np.empty((n, c) + out_hw, dtype=np.int64)
        if x.size >= PARALLEL_THRESHOLD and n * c > 1:
            # a block of planes per thread
            k.max_pool2d_forward_par(x, kh, kw, sh, sw, ph, pw, dh, dw, out, idx, min(get_num_threads(), n * c))
        else:
            k.max_pool2d_forward(x, kh, kw, sh, sw, ph, pw, dh, dw, out, idx)
        return out, idx

    def max_pool2d_backward(self, g, idx, x_shape, geo):
        """Each output gradient of g (N, C, OH, OW) added to the input element ``idx`` names (zeros elsewhere)."""
        n, c = x_shape[:2]
        gx = np.empty(x_shape, dtype=g.dtype)
        self._conv.max_pool2d_backward(g.reshape(n, c, -1), idx.reshape(n, c, -1), gx.reshape(n, c, -1))
        return gx

    def max_pool2d_gather(self, src, idx):
        """out[n, c, p] = src[n, c].flat[idx[n, c, p]]: the adjoint of ``max_pool2d_backward``."""
        n, c = src.shape[:2]
        out = np.empty(idx.shape, dtype=src.dtype)
        self._conv.gather_planes(src.reshape(n, c, -1), idx.reshape(n, c, -1), out.reshape(n, c, -1))
        return out

    def avg_pool2d_forward(self, x, geo, out_hw):
        """Average pooling of x (N, C, H, W); ``geo = (kh, kw, sh, sw, ph, pw, count_include_pad, divisor)``."""
        refuse_16bit_floats("avg_pool2d", x)
        kh, kw, sh, sw, ph, pw, count_include_pad, divisor = geo
        out = np.empty(x.shape[:2] + out_hw, dtype=x.dtype)
        self._conv.avg_pool2d_forward(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, out)
        return out

    def avg_pool2d_backward(self, g, geo, x_shape):
        """The gradient of ``avg_pool2d_forward`` in its input."""
        kh, kw, sh, sw, ph, pw, count_include_pad, divisor = geo
        gx = np.empty(x_shape, dtype=g.dtype)
        self._conv.avg_pool2d_backward(g, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, gx)
        return gx

    def adaptive_avg_pool2d_forward(self, x, out_hw):
        """Adaptive average pooling of x (N, C, H, W) to ``out_hw``."""
        refuse_16bit_floats("adaptive_avg_pool2d", x)
        out = np.empty(x.shape[:2] + out_hw, dtype=x.dtype)
        self._conv.adaptive_avg_pool2d_forward(x, out)
        return out

    def adaptive_avg_pool2d_backward(self, g, x_shape):
        """The gradient of ``adaptive_avg_pool2d_forward`` in its input."""
        gx = np.empty(x_shape, dtype=g.dtype)
        self._conv.adaptive_avg_pool2d_backward(g, gx)
        return gx

    def matmul_arrays(self, a, b):
        """``a @ b`` for ``(*batch, M, K)`` and ``(*batch, K, N)`` arrays of one dtype (batch dims broadcast)."""
        refuse_16bit_floats("matmul", a, b)
        return self._matmul.matmul_arrays(a, b)

    # ------------------------------------------------------------ kernel modules with one contract per device
    def optimizer_kernels(self, param):
        """``kernels/cpu/optim.py``: ``sgd_step``, ``adam_step``, ``rmsprop_step`` and their ``*_par`` variants."""
        refuse_16bit_floats("optimizer step", param)
        return self._optim

    def indexing_kernels(self, arr):
        """``kernels/cpu/indexing.py``: index plans, gather/scatter, nonzero (for float16/bfloat16 data, the same
        kernels on the 16-bit words: see ``kernels/cpu/indexing16.py``)."""
        if type(arr) is np.ndarray and arr.itemsize == 2 and _map.half_kind(arr):
            return self._indexing16
        return self._indexing

    def reduction_kernels(self, x):
        """``kernels/cpu/map_reduce.py``: ``prepare``, ``map_reduce``, ``arg_reduce`` and ``scan_sum``."""
        if type(x) is np.ndarray and x.itemsize == 2 and _map.half_kind(x):
            return self._wide16  # the same contract: 16-bit data reduced in float32
        return self._map_reduce

    def sorting_kernels(self, arr, op: str):
        """``kernels/cpu/sorting.py``: row argsort, binary search, unique runs (``op``: the calling op)."""
        from . import sorting

        return sorting

    def scan_kernels(self, arr, op: str):
        """``kernels/cpu/scan.py``: cumulative product and log-sum-exp (``op``: the calling op)."""
        from . import scan

        return scan

    def sampling_kernels(self, arr, op: str):
        """``kernels/cpu/sampling.py``: multinomial draws (``op``: the calling op)."""
        from . import sampling

        return sampling

    def dense_linalg_kernels(self, arr, op: str):
        """``kernels/cpu/dense_linalg.py``: batched inverse, sign/log-determinant, solve (``op``: the calling op)."""
        from . import dense_linalg

        return dense_linalg

    def scatter_reduce_kernels(self, arr, op: str):
        """``kernels/cpu/scatter_reduce.py``: scatter with a running max/min (``op``: the calling op)."""
        from . import scatter_reduce

        return scatter_reduce

    def embedding_bag_kernels(self, arr, op: str):
        """``kernels/cpu/embedding_bag.py``: bags of embedding rows (sum/mean/max) and their gradients."""
        refuse_16bit_floats(op, arr)
        from . import embedding_bag

        return embedding_bag

    def ctc_kernels(self, arr, op: str):
        """``kernels/cpu/ctc.py``: the CTC loss's log-space alpha/beta recursions (``op``: the calling op)."""
        refuse_16bit_floats(op, arr)
        from . import ctc

        return ctc

    def grid_sample_kernels(self, arr, op: str):
        """``kernels/cpu/grid_sample.py``: 2-D grid sampling (bilinear/nearest) and its gradients."""
        refuse_16bit_floats(op, arr)
        from . import grid_sample

        return grid_sample

    def norm_kernels(self, arr):
        """``kernels/cpu/norm.py``: batch and layer norm, embedding, dropout (``kernels/cuda/norm.py``'s contract)."""
        refuse_16bit_floats("batch_norm/layer_norm/embedding/dropout", arr)
        return self._norm

    def rnn_kernels(self, arr):
        """``kernels/cpu/rnn.py``: the fused recurrent step kernels and the per-layer sequence drivers."""
        return self._rnn

    # ------------------------------------------------------------ indexing, nll_loss, cross entropy, BCE check
    def index_array(self, idx):
        """Index array ``idx`` for indexing data on this device (a device index for host data is PyTorch's error)."""
        if type(idx) is DeviceArray:
            raise RuntimeError("indices should be either on cpu or on the same device as the indexed tensor (cpu)")
        return idx

    def nonzero_positions(self, flat, shape):
        """``(count, len(shape))`` int64 multi-indices of the nonzeros of the C-contiguous 1-D ``flat``."""
        K = self._indexing
        n = K.count_nonzero(flat)
        out = np.empty((n, len(shape)), dtype=np.int64)
        if n and len(shape):
            K.nonzero_fill(flat, np.asarray(shape, dtype=np.int64).reshape(-1), out)
        return out

    def nll_gather(self, logp, target, weight, ignore_index: int, out):
        """``out[n, d] = -weight[t] * logp[n, t, d]`` for ``(N, C, D)`` logp; returns (total counted weight as a
        0-d array of logp's dtype, flat position of the first out-of-range target or -1).  Kernels write the
        total (no NumPy arithmetic), so ``ng.compile`` replays weighted and ignore_index losses."""
        if logp.itemsize == 2 and _map.half_kind(logp):
            total = np.empty(1, dtype=np.float64)
            bad = self._wide16.nll_gather(logp, target, weight, ignore_index, out, total)
            return _map.copy(total.reshape(()), logp.dtype), bad
        total = np.empty(1, dtype=logp.dtype)
        bad = self._nnfunc.nll_gather(logp, target, weight, ignore_index, out, total)
        return total.reshape(()), bad

    def nll_scatter(self, g, target, weight, ignore_index: int, out) -> None:
        """The adjoint of ``nll_gather``: ``out[n, t, d] = -weight[t] * g[n, d]``, and 0 in every other element
        of ``out`` (the kernel writes all of it)."""
        nn = self._wide16 if out.itemsize == 2 and _map.half_kind(out) else self._nnfunc
        nn.nll_scatter(g, target, weight, ignore_index, out)

    def cross_entropy_kernels(self, x):
        """(forward, backward) one-pass class-index cross entropy for float32/float64 (N, C) logits ``x``, else None
        (then ``nn.functional.cross_entropy`` composes log_softmax and nll_loss)."""
        if type(x) is np.ndarray and x.dtype.kind == "f" and x.dtype.itemsize >= 4:
            return self._cross_entropy_forward, self._cross_entropy_backward
        return None

    def _cross_entropy_forward(self, x, target, ignore_index: int, mean: bool):
        lse = np.empty(x.shape[0], dtype=np.float64)
        losses = np.empty(x.shape[0], dtype=x.dtype)
        row_weight = np.empty(x.shape[0], dtype=x.dtype)
        total = np.empty(1, dtype=x.dtype)
        bad = self._nnfunc.cross_entropy_forward(x, target, ignore_index, mean, lse, losses, row_weight, total)
        return losses, lse, row_weight, total, bad

    def _cross_entropy_backward(self, x, target, ignore_index: int, lse, row_weight, g):
        gx = np.empty(x.shape, dtype=x.dtype)
        self._nnfunc.cross_entropy_backward(x, target, ignore_index, lse, row_weight, g, gx)
        return gx

    def all_in_unit_interval(self, flat) -> bool:
        """True when every element of the 1-D ``flat`` lies in [0, 1] (NaN fails)."""
        return self._nnfunc.all_in_unit_interval(flat)

    def any_below(self, flat, bound: float) -> bool:
        """True when some element of the 1-D ``flat`` is below ``bound`` (NaN is not): ``gaussian_nll_loss``'s
        check of its variance, as one kernel whose answer ``ng.compile`` checks again on every replay."""
        return self._nnfunc.any_below(flat, bound)

    def multilabel_target_mask(self, labels, mask) -> bool:
        """``mask[n, c]`` = 1 where class c is among row n's labels (those before its first negative one), else 0,
        for (N, C) ``labels``; False when a label lies outside [-1, C) (``multilabel_margin_loss``)."""
        return self._nnfunc.multilabel_target_mask(labels, mask)


CPU = CpuBackend()
