"""The CUDA backend: every kernel entry point of numgrad for ``DeviceArray``s, as the methods of one object.

The twin of ``kernels/cpu/backend.py``: the same methods with the same signatures and
contracts (a test checks), on CUDA memory.  ``numgrad.kernels.backend`` imports this module
the first time it meets CUDA data or is asked for a CUDA device, so CPU-only users never
load it; the kernel modules behind it (most import ``numba.cuda``) load on first use.

>>> import numgrad as ng
>>> if ng.cuda.is_available():
...     from numgrad.kernels.cuda.backend import CUDA
...     x = CUDA.full((2, 3), "float32", 1.5)
...     print(CUDA.reduce_array(x, (0, 1), "sum", "float64").to_host())
... else:
...     print(9.0)
9.0
"""
from __future__ import annotations

from functools import cached_property

import numpy as np

from ...device import devices_differ
from ...ir.expr import forward_roots
from ...ir.table import ELEMENTWISE
from . import elementwise as _map
from .array import DeviceArray, empty, from_host

_ADD = forward_roots(ELEMENTWISE["add"])


class CudaBackend:
    """numgrad's kernels for ``DeviceArray``s; see the module docstring.

    >>> from numgrad.kernels.cuda.backend import CUDA
    >>> CUDA.name
    'cuda'
    """

    name = "cuda"

    # ------------------------------------------------------------ kernel modules, imported on first use
    @cached_property
    def _conv(self):
        from . import conv

        return conv

    @cached_property
    def _nnfunc(self):
        from . import nnfunc

        return nnfunc

    @cached_property
    def _matmul(self):
        from . import matmul

        return matmul

    @cached_property
    def _reduce_axes(self):
        from . import reduce_axes

        return reduce_axes

    @cached_property
    def _optim(self):
        from . import optim

        return optim

    @cached_property
    def _indexing(self):
        from . import indexing

        return indexing

    @cached_property
    def _map_reduce(self):
        from . import map_reduce

        return map_reduce

    @cached_property
    def _norm(self):
        from . import norm

        return norm

    # ------------------------------------------------------------ memory
    def empty(self, shape, dtype):
        """Uninitialised C-contiguous device memory of ``shape`` and ``dtype``."""
        return empty(shape, dtype)

    def pooled_empty(self, shape, dtype):
        """The same as ``empty`` (numba-cuda's allocator does its own pooling)."""
        return empty(shape, dtype)

    def empty_allocator(self, arr):
        """The ``empty(shape, dtype)`` function to call for all of an op's buffers next to ``arr``."""
        return empty

    def adopt(self, arr):
        """``arr`` in device memory: itself when it is there, else one copy from the host."""
        return arr if type(arr) is DeviceArray else from_host(arr)

    def full(self, shape, dtype, value):
        """A new array of ``shape`` filled with ``value``, written by a fill kernel (no host copy)."""
        return self.copy(value, None, empty(shape, np.dtype(dtype)))

    # the one identity copy (contiguous copies, casts, fills), beside the map kernel it runs
    copy = staticmethod(_map.copy)
    contiguous = staticmethod(_map.contiguous)

    def copy_as(self, x, dtype):
        """A fresh copy of ``x`` with ``dtype`` (NumPy's ``x.astype(dtype)``)."""
        return self.copy(x, dtype)

    # ------------------------------------------------------------ elementwise maps and reductions
    run_map = staticmethod(_map.run_map)
    map_kernel_source = staticmethod(_map._source)
    run_map_sum = staticmethod(_map.run_map_sum)

    def run_reduce(self, root, inputs, shape, reducer: str, acc: str):
        """A full reduction of expression ``root`` in one kernel as a 0-d array of dtype ``acc``."""
        return _map.run_reduce(root, inputs, shape, reducer, acc)

    def reduce_array(self, x, axes, reducer: str, acc_dtype):
        """Reduce ``x`` over ``axes`` (keepdim=False) with accumulator/result dtype ``acc_dtype``."""
        axes = tuple(sorted(set(axes)))
        acc_dtype = np.dtype(acc_dtype)
        out = empty(tuple(n for i, n in enumerate(x.shape) if i not in axes), acc_dtype)
        self._reduce_axes.reduce_axes(x.kernel_arg(), axes, reducer, acc_dtype.name, out=out.kernel_arg())
        return out

    def softmax_kernels(self, slabs):
        """(forward, backward) softmax kernels for ``(A, R, C)`` slabs."""
        return self._nnfunc.softmax_forward, self._nnfunc.softmax_backward

    def attention_softmax_kernels(self, scores):
        """None: there is no fused masked softmax on CUDA yet, so ``nn.functional.scaled_dot_product_attention``
        composes masked_fill and softmax there."""
        return None

    # ------------------------------------------------------------ layer ops (kernels/cuda/conv.py + the CUDA matmul)
    def linear_forward(self, x, w, b):
        """``x @ w.T (+ b)`` for x (M, K), w (N, K), b (N,) or None."""
        out = self.matmul_arrays(x, w.T)  # K == 0 gives zeros
        if b is not None and out.size:
            _map.run_map(_ADD, [out, b], [out.dtype], out.shape, out.dtype.name, ["", ""], outs=[out])
        return out

    def linear_backward(self, g, x, w, need_x: bool, need_w: bool, need_b: bool):
        """(gx, gw, gb) of ``linear`` from the incoming gradient g (M, N); None where not needed."""
        return (self.matmul_arrays(g, w) if need_x else None, self.matmul_arrays(g.T, x) if need_w else None,
                self.reduce_array(g, (0,), "sum", g.dtype) if need_b else None)

    def conv2d_forward(self, x, w, b, geo):
        """conv2d of x (N, C, H, W) with w (OC, C/groups, kh, kw) and bias b (OC,) or None."""
        return self._conv.conv2d_forward(x, w, b, geo)

    def conv2d_input_grad(self, g, w, x_shape, geo):
        """The gradient of conv2d in its input, from the incoming gradient g (N, OC, OH, OW)."""
        return self._conv.conv2d_input_grad(g, w, x_shape, geo)

    def conv2d_weight_grad(self, x, g, w_shape, geo):
        """The gradient of conv2d in its weight, from the input x and the incoming gradient g."""
        return self._conv.conv2d_weight_grad(x, g, w_shape, geo)

    def conv2d_bias_grad(self, g):
        """Per-channel sums of g (N, C, ...)."""
        return self.reduce_array(g, (0,) + tuple(range(2, g.ndim)), "sum", g.dtype)

    def max_pool2d_forward(self, x, geo, out_hw):
        """(values, int64 indices flat within each H*W plane) of max pooling x (N, C, H, W)."""
        return self._conv.max_pool2d_forward(x, geo, out_hw)

    def max_pool2d_backward(self, g, idx, x_shape, geo):
        """Each output gradient of g added to the input element ``idx`` names (zeros elsewhere)."""
        return self._conv.max_pool2d_backward(g, idx, x_shape, geo)

    def max_pool2d_gather(self, src, idx):
        """out[n, c, p] = src[n, c].flat[idx[n, c, p]]: the adjoint of ``max_pool2d_backward``."""
        return self._conv.max_pool2d_gather(src, idx)

    def avg_pool2d_forward(self, x, geo, out_hw):
        """Average pooling of x (N, C, H, W); ``geo = (kh, kw, sh, sw, ph, pw, count_include_pad, divisor)``."""
        return self._conv.avg_pool2d_forward(x, geo, out_hw)

    def avg_pool2d_backward(self, g, geo, x_shape):
        """The gradient of ``avg_pool2d_forward`` in its input."""
        return self._conv.avg_pool2d_backward(g, geo, x_shape)

    def adaptive_avg_pool2d_forward(self, x, out_hw):
        """Adaptive average pooling of x (N, C, H, W) to ``out_hw``."""
        return self._conv.adaptive_avg_pool2d_forward(x, out_hw)

    def adaptive_avg_pool2d_backward(self, g, x_shape):
        """The gradient of ``adaptive_avg_pool2d_forward`` in its input."""
        return self._conv.adaptive_avg_pool2d_backward(g, x_shape)

    def matmul_arrays(self, a, b):
        """``a @ b`` for ``(*batch, M, K)`` and ``(*batch, K, N)`` arrays of one dtype (batch dims broadcast)."""
        if type(a) is not type(b):
            raise devices_differ("cuda:0", "cpu", f"matmul of shapes {list(a.shape)} and {list(b.shape)}; "
                                                  "move them with .to(device)")
        batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
        m, k = a.shape[-2:]
        n = b.shape[-1]
        out = empty(batch + (m, n), a.dtype)
        if out.size == 0:
            return out
        if k == 0:
            return self.copy(0, None, out)
        self._matmul.matmul(self._batched(a, batch).kernel_arg(), self._batched(b, batch).kernel_arg(),
                            out=out.reshape((-1, m, n)).kernel_arg())
        return out

    def _batched(self, x, batch: tuple):
        """``x`` broadcast over ``batch`` as one (B, rows, cols) view; a copy only when the batch dims cannot merge."""
        rows, cols = x.shape[-2:]
        full = np.broadcast_to(x, batch + (rows, cols))
        try:
            return full.reshape((-1, rows, cols))
        except ValueError:
            return self.contiguous(full).reshape((-1, rows, cols))

    # ------------------------------------------------------------ kernel modules with one contract per device
    def optimizer_kernels(self, param):
        """``kernels/cuda/optim.py``: the fused optimizer steps (``*_par`` names are the same kernels)."""
        return self._optim

    def indexing_kernels(self, arr):
        """``kernels/cuda/indexing.py`` (``*_parallel`` names are the same kernels, ``use_parallel`` is False)."""
        return self._indexing

    def reduction_kernels(self, x):
        """``kernels/cuda/map_reduce.py``: ``prepare``, ``map_reduce``, ``arg_reduce`` and ``scan_sum``."""
        return self._map_reduce

    def sorting_kernels(self, arr, op: str):
        """Sorting and searching kernels: none on CUDA yet (``op`` names the op in the error)."""
        raise _no_cuda_kernel(op)

    def scan_kernels(self, arr, op: str):
        """Cumulative product / log-sum-exp kernels: none on CUDA yet."""
        raise _no_cuda_kernel(op)

    def sampling_kernels(self, arr, op: str):
        """Multinomial sampling kernels: none on CUDA yet."""
        raise _no_cuda_kernel(op)

    def dense_linalg_kernels(self, arr, op: str):
        """Dense inverse/determinant/solve kernels: none on CUDA yet."""
        raise _no_cuda_kernel(op)

    def scatter_reduce_kernels(self, arr, op: str):
        """Scatter max/min kernels: none on CUDA yet."""
        raise _no_cuda_kernel(op)

    def embedding_bag_kernels(self, arr, op: str):
        """EmbeddingBag kernels: none on CUDA yet."""
        raise _no_cuda_kernel(op)

    def ctc_kernels(self, arr, op: str):
        """CTC loss kernels: none on CUDA yet."""
        raise _no_cuda_kernel(op)

    def grid_sample_kernels(self, arr, op: str):
        """grid_sample kernels: none on CUDA yet."""
        raise _no_cuda_kernel(op)

    def norm_kernels(self, arr):
        """``kernels/cuda/norm.py``: normalization, embedding and dropout (``*_par`` names are the same kernels)."""
        return self._norm

    def rnn_kernels(self, arr):
        """The recurrent layers' kernels: CPU only in this build, so a clear error instead of a Numba one."""
        raise NotImplementedError("the recurrent layers (nn.RNN/LSTM/GRU and their cells) have CPU kernels only "
                                  "in this numgrad build; move the module and its inputs with .to('cpu')")

    # ------------------------------------------------------------ indexing, nll_loss, cross entropy, BCE check
    def index_array(self, idx):
        """Index array ``idx`` for indexing data on this device: a host index is copied over (as PyTorch allows)."""
        return idx if type(idx) is DeviceArray else from_host(idx)

    def nonzero_positions(self, flat, shape):
        """``(count, len(shape))`` int64 multi-indices of the nonzeros of the C-contiguous 1-D ``flat``."""
        return self._indexing.nonzero(flat, shape)

    def nll_gather(self, logp, target, weight, ignore_index: int, out):
        """``out[n, d] = -weight[t] * logp[n, t, d]`` for ``(N, C, D)`` logp; returns (total counted weight as a
        0-d array of logp's dtype, flat position of the first out-of-range target or -1)."""
        counted, bad = self._indexing.nll_gather(logp, target, weight, ignore_index, out)
        total = self.reduce_array(counted, list(range(counted.ndim)), "sum", np.float64)
        if logp.dtype != total.dtype:
            total = self.copy(total, logp.dtype)
        return total, bad

    def nll_scatter(self, g, target, weight, ignore_index: int, out) -> None:
        """The adjoint of ``nll_gather``: ``out[n, t, d] = -weight[t] * g[n, d]``, and 0 in every other element
        of ``out`` (the kernel writes all of it)."""
        self._indexing.nll_scatter(g, target, weight, ignore_index, out)

    def cross_entropy_kernels(self, x):
        """None: there are no one-pass cross entropy kernels on CUDA, so ``nn.functional.cross_entropy``
        composes log_softmax and nll_loss there."""
        return None

    def all_in_unit_interval(self, flat) -> bool:
        """True when every element of the 1-D ``flat`` lies in [0, 1] (NaN fails): a device check and one read
        back (as PyTorch's CUDA binary_cross_entropy also reports bad input)."""
        return self._nnfunc.all_in_unit_interval(flat)

    def any_below(self, flat, bound: float) -> bool:
        """True when some element of the 1-D ``flat`` is below ``bound`` (NaN is not): ``gaussian_nll_loss``'s
        check of its variance, as one kernel whose answer ``ng.compile`` checks again on every replay."""
        return self._nnfunc.any_below(flat, bound)

    def multilabel_target_mask(self, labels, mask) -> bool:
        """``mask[n, c]`` = 1 where class c is among row n's labels (those before its first negative one), else 0,
        for (N, C) ``labels``; False when a label lies outside [-1, C) (``multilabel_margin_loss``)."""
        return self._nnfunc.multilabel_target_mask(labels, mask)


CUDA = CudaBackend()


def _no_cuda_kernel(op: str) -> NotImplementedError:
    return NotImplementedError(f"{op}: this numgrad op has no CUDA kernel yet; run it on the CPU (x.cpu()) and "
                               f"move the result back with .cuda()")
