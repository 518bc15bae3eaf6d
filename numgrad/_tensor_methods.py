"""Binds ops to ``Tensor`` as methods and Python operators.

Ops modules list their methods in ``TENSOR_METHODS``; this file only adds the
operator protocol (``+``, ``@``, ``[]``...) and the in-place variants.
"""
from __future__ import annotations

import importlib

from . import _dtypes
from .autograd import grad_mode as _grad_mode
from .autograd.function import Function
from .creation import tensor, zeros_like
from .device import Device, as_device
from .memory_format import check_rank, contiguous_format, dense_strides, preserve_format
from .kernels.backend import to_device
from .ops import elementwise as ew
from .ops import elementwise_functions as pw
from .ops.sum_mean import sum_to
from .ops.views import Contiguous
from .autograd.views import check_view_inplace
from .ops import pointwise as _ops_pointwise
from .tensor import Tensor
from .nn.functional import log_softmax, softmax
from .nn.functional import hardshrink

OPS_MODULES = ("elementwise_functions", "views", "sum_mean", "reductions", "linalg", "shape", "indexing")
OPS_MODULES += ("sorting", "scan", "diagonals", "einsum", "combine", "tensor_api", "random", "pointwise",  # issue 16
                "scatter", "shape_more", "statistics", "dense_linalg", "misc")
OPS_MODULES += ("torch_globals",)  # h-torchfn: global settings, inference mode, dtype helpers
OPS_MODULES += ("tensor_storage",)  # h-torchfn: as_strided, storage offsets, in-place view ops, resize_
OPS_MODULES += ("special_math",)  # h-torchfn: lgamma, digamma, polygamma, erfinv, i0, igamma, gcd, frexp, renorm
OPS_MODULES += ("stats_more", "windows")  # h-torchfn: mode, histogram, unravel_index, ger; window functions
OPS_MODULES += ("inplace_more",)
OPS_MODULES += ("decompositions",)  # cholesky, qr, svd, pinverse, matrix_exp, triangular_solve (Tensor methods, torch.*)
OPS_MODULES += ("lu",)  # torch.lu, lu_solve, lu_unpack, geqrf, orgqr, ormqr (Tensor methods, torch.*)
OPS_MODULES += ("complex_api", "misc_torch")  # h-torchfn: real-only complex API; poisson, gradient, ...  # h-torchfn: cumsum_, true_divide_, random_/cauchy_/..., apply_/map_
OPS_MODULES += ("pinned_memory",)  # Tensor.pin_memory, is_pinned (page-locked host memory)


def _ops_modules():
    return [importlib.import_module(f"numgrad.ops.{name}") for name in OPS_MODULES]


def _method_table() -> dict:
    table = {}
    for mod in _ops_modules():
        table.update(getattr(mod, "TENSOR_METHODS", {}))
    return table


def _div_(self, other, *, rounding_mode=None):
    """In-place ``div``: ``x.div_(2, rounding_mode='floor')`` keeps an integer tensor's dtype, as PyTorch's."""
    if rounding_mode is None:
        return _iop("div")(self, other)
    return self.copy_(_ops_pointwise.divide(self, other, rounding_mode=rounding_mode))


def _binary(name, reverse=False):
    if reverse:
        def method(self, other):
            return ew.apply(name, other, self)
    else:
        def method(self, other):
            return ew.apply(name, self, other)
    return method


def _inplace(name):
    def method(self, other, *, alpha=1):
        if alpha != 1:
            other = ew.apply("mul", other, alpha)
        ew.inplace_update(self, name, other)
        return self
    method.__name__ = name + "_"
    method.__doc__ = f"In-place ``{name}``: writes into this tensor and returns it."
    return method


def _iop(name):
    def method(self, other):
        ew.inplace_update(self, name, other)
        return self
    return method


def _to(self, *args, dtype=None, device=None, copy: bool = False, non_blocking: bool = False, memory_format=None):
    """Convert dtype (and/or device): ``t.to(ng.float64)``, ``t.to('cpu')``.

    ``non_blocking`` is accepted as PyTorch's hint: numgrad's copies finish before ``to`` returns.
    ``memory_format``: see ``Tensor.contiguous``."""
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, str) and a.split(":")[0] in ("cpu", "cuda"):
            device = a
        else:
            if isinstance(a, Device):
                device = a
            else:
                dtype = a
    out = self
    if device is not None:
        device = as_device(device)
        if device != self._device:
            out = _ToDevice.apply(self, device)
            copy = False
    if dtype is not None and _dtypes.as_dtype(dtype) != out.dtype:
        out, copy = _Cast.apply(out, _dtypes.as_dtype(dtype)), False
    if memory_format is not None and memory_format is not preserve_format:
        check_rank(out.ndim, memory_format)
        # (PyTorch's ``to`` keeps a tensor whose strides are the format's own, else copies into them: a
        # (2, 3, 1, 1) row-major tensor counts as channels last for ``contiguous`` but not for ``to``)
        if not (out.is_contiguous() if memory_format is contiguous_format
                else out.stride() == dense_strides(out.shape, memory_format)):
            out, copy = Contiguous.apply(out, memory_format), False
    return pw.clone(out) if copy else out


def _cpu(self):
    """This tensor on the CPU (itself when it already is there)."""
    return _to(self, device="cpu")


def _cuda(self, device=None):
    """This tensor on the GPU (itself when it already is there); gradients flow back to the original.

    >>> import numgrad as ng
    >>> if ng.cuda.is_available():
    ...     y = ng.ones(3).cuda() * 2
    """
    if device is None:
        device = "cuda"
    elif isinstance(device, int):
        device = f"cuda:{device}"  # PyTorch's .cuda(0)
    return _to(self, device=device)


class _Cast(Function):
    node_name = "ToCopyBackward0"
    # nothing saved but the dtype: a second backward works, as PyTorch's (autocast's cached weight casts are
    # shared by every forward of the context, so gradient accumulation backpropagates through them twice)
    saves_only_metadata = True

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        return Tensor(ew._cast_array(x._data, dtype))

    @staticmethod
    def backward(ctx, g):
        return g.to(ctx.dtype), None


class _ToDevice(Function):
    node_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, x, device):
        ctx.device = x.device
        return Tensor(to_device(x._data, device))

    @staticmethod
    def backward(ctx, g):
        return g.to(ctx.device), None


class _Fill(Function):
    """``fill_``/``zero_`` as a graph node (PyTorch's FillBackward/ZeroBackward): the overwritten value gets a
    zero gradient, a 0-d tensor ``value`` the sum of the incoming one."""

    node_name = "FillBackward2"
    saves_only_metadata = True  # a second backward works, as in PyTorch

    @staticmethod
    def forward(ctx, t, value, node_name: str):
        ctx.node_name = node_name
        ew.copy_into(t, value._data if isinstance(value, Tensor) else value)
        return Tensor(t._data, _version=t._version)

    @staticmethod
    def backward(ctx, g):
        return zeros_like(g), (g.sum() if ctx.needs_input_grad[1] else None), None


def _fill_(self, value, _name: str = "fill"):
    """Fill with ``value`` (a number or a 0-d tensor) in place.

    >>> import numgrad as ng
    >>> x = ng.tensor([1.0, 2.0], requires_grad=True)
    >>> y = x * 2
    >>> y.fill_(3.0).grad_fn.name()
    'FillBackward2'
    """
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(f"{_name}_ only supports 0-dimension value tensor but got tensor with "
                           f"{value.ndim} dimensions.")
    self._check_inplace(_name)
    record = _grad_mode.is_grad_enabled() and (
        self._requires_grad or (isinstance(value, Tensor) and value._requires_grad))
    if not record:
        ew.copy_into(self, value._data if isinstance(value, Tensor) else value)
        return self
    check_view_inplace(self, _name + "_")
    node_name = "ZeroBackward0" if _name == "zero" else (
        "FillBackward3" if isinstance(value, Tensor) else "FillBackward2")
    out = _Fill.apply(self, value, node_name)
    self._rebase_history(out._grad_fn, 0)
    return self


def _zero_(self):
    """Fill with zeros in place (recorded as ``ZeroBackward0`` when the tensor requires grad)."""
    return _fill_(self, 0, "zero")


class _Copy(Function):
    """``copy_`` as a graph node (PyTorch's CopyBackwards): the overwritten value gets a zero gradient, ``src``
    the incoming one summed back over the broadcast, in its own dtype."""

    node_name = "CopyBackwards"
    saves_only_metadata = True

    @staticmethod
    def forward(ctx, t, src):
        ctx.src_shape, ctx.src_dtype = src.shape, src.dtype
        ew.copy_into(t, src)
        return Tensor(t._data, _version=t._version)

    @staticmethod
    def backward(ctx, g):
        g_src = None
        if ctx.needs_input_grad[1]:
            g_src = sum_to(g, ctx.src_shape)
            if g_src.dtype != ctx.src_dtype:
                g_src = g_src.to(ctx.src_dtype)
        return zeros_like(g), g_src


def _copy_(self, src):
    """Copy ``src`` (broadcast, cast) into this tensor in place; gradients flow to ``src``.

    >>> import numgrad as ng
    >>> v = ng.tensor([1.0, 2.0], requires_grad=True)
    >>> w = ng.zeros(3, 2).copy_(v)
    >>> w.sum().backward(); v.grad
    tensor([3., 3.])
    """
    if not isinstance(src, Tensor):
        src = tensor(src)
    self._check_inplace("copy")
    ew.check_no_partial_overlap(self, (src,))
    if _grad_mode.is_grad_enabled() and (self._requires_grad or src._requires_grad):
        check_view_inplace(self, "copy_")
        out = _Copy.apply(self, src)
        self._rebase_history(out._grad_fn, 0)
        return self
    ew.copy_into(self, src)
    return self


def _clamp_(self, min=None, max=None):
    """Clamp in place."""
    if min is None and max is None:
        raise RuntimeError("clamp_: At least one of 'min' or 'max' must not be None")
    if max is None:
        ew.inplace_update(self, "clamp_min", min)
    elif min is None:
        ew.inplace_update(self, "clamp_max", max)
    else:
        ew.inplace_update(self, "clamp", min, max)
    return self


def _unary_inplace(name):
    def method(self):
        ew.inplace_update(self, name)
        return self
    method.__name__ = name + "_"
    method.__doc__ = f"In-place ``{name}``: writes into this tensor and returns it."
    return method


_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "bfloat16": "BFloat16Tensor", "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
               "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}
_TYPE_BY_NAME = {v: k for k, v in _TYPE_NAMES.items()}


def _type(self, dtype=None, non_blocking: bool = False):
    """Without ``dtype``: the type name (``'numgrad.FloatTensor'``, ``'numgrad.cuda.FloatTensor'`` on a GPU);
    with one (a dtype or such a name): this tensor converted to it, as ``Tensor.type`` in PyTorch.

    >>> import numgrad as ng
    >>> ng.ones(2).type(), ng.ones(2).type(ng.float64).dtype, ng.ones(2).type("torch.IntTensor").dtype
    ('numgrad.FloatTensor', numgrad.float64, numgrad.int32)
    >>> ng.ones(2).type(ng.LongTensor).dtype
    numgrad.int64
    """
    if dtype is None:
        prefix = "numgrad.cuda." if self.is_cuda else "numgrad."
        return prefix + _TYPE_NAMES[self.dtype.name]
    if isinstance(dtype, type) and dtype.__name__ in _TYPE_BY_NAME and isinstance(getattr(dtype, "dtype", None),
                                                                                  _dtypes.DType):
        dtype = "numgrad." + dtype.__name__  # a legacy type (``ng.FloatTensor``): a CPU tensor of its dtype
    if isinstance(dtype, str):
        module, _, name = dtype.rpartition(".")
        if name in _TYPE_BY_NAME:
            target = _dtypes.as_dtype(_TYPE_BY_NAME[name])
            device = "cuda" if module.endswith("cuda") else "cpu"
            return _to(self, target, device=device)
    return _to(self, dtype)


def _type_as(self, other):
    return _to(self, other.dtype)


def _softmax_method(self, dim, dtype=None):
    """``softmax`` along ``dim`` (see ``numgrad.nn.functional.softmax``)."""
    return softmax(self, dim, dtype=dtype)


def _log_softmax_method(self, dim, dtype=None):
    """``log_softmax`` along ``dim`` (see ``numgrad.nn.functional.log_softmax``)."""
    return log_softmax(self, dim, dtype=dtype)


def _hardshrink_method(self, lambd: float = 0.5):
    """``hardshrink`` with threshold ``lambd`` (see ``numgrad.nn.functional.hardshrink``)."""
    return hardshrink(self, lambd)


def _accumulate_(self, g) -> None:
    """``self += g`` without recording: the engine accumulating a gradient into ``.grad``."""
    ew.inplace_update(self, "add", g)


def install() -> None:
    T = Tensor
    # arithmetic operators
    T.__add__ = _binary("add"); T.__radd__ = _binary("add", True)
    T.__sub__ = _binary("sub"); T.__rsub__ = _binary("sub", True)
    T.__mul__ = _binary("mul"); T.__rmul__ = _binary("mul", True)
    T.__truediv__ = _binary("div"); T.__rtruediv__ = _binary("div", True)
    T.__floordiv__ = _binary("floor_divide"); T.__rfloordiv__ = _binary("floor_divide", True)
    T.__mod__ = _binary("remainder"); T.__rmod__ = _binary("remainder", True)
    T.__pow__ = _binary("pow"); T.__rpow__ = _binary("pow", True)
    T.__and__ = _binary("bitwise_and"); T.__rand__ = _binary("bitwise_and", True)
    T.__or__ = _binary("bitwise_or"); T.__ror__ = _binary("bitwise_or", True)
    T.__xor__ = _binary("bitwise_xor"); T.__rxor__ = _binary("bitwise_xor", True)
    T.__neg__ = lambda self: ew.apply("neg", self)
    T.__pos__ = lambda self: self
    T.__abs__ = lambda self: ew.apply("abs", self)
    T.__invert__ = lambda self: ew.apply("logical_not", self) if self.dtype.name == "bool" else ew.apply(
        "bitwise_xor", self, -1)
    for op, name in (("eq", "eq"), ("ne", "ne"), ("lt", "lt"), ("le", "le"), ("gt", "gt"), ("ge", "ge")):
        setattr(T, f"__{op}__", _binary(name))
    T.__hash__ = lambda self: id(self)
    # in-place operators and methods
    T.__iadd__ = _iop("add"); T.__isub__ = _iop("sub"); T.__imul__ = _iop("mul"); T.__itruediv__ = _iop("div")
    T.add_ = _inplace("add"); T.sub_ = _inplace("sub")
    T.mul_ = lambda self, other: _iop("mul")(self, other)
    T.div_ = _div_
    T.pow_ = lambda self, other: _iop("pow")(self, other)
    T.fill_ = _fill_
    T._accumulate_ = _accumulate_
    T.zero_ = _zero_
    T.copy_ = _copy_
    T.clamp_ = _clamp_
    T.to = _to
    T.cpu = _cpu
    T.cuda = _cuda
    T.type_as = _type_as
    T.float = lambda self: _to(self, _dtypes.float32)
    T.double = lambda self: _to(self, _dtypes.float64)
    T.long = lambda self: _to(self, _dtypes.int64)
    T.int = lambda self: _to(self, _dtypes.int32)
    T.bool = lambda self: _to(self, _dtypes.bool_)
    T.half = lambda self: _to(self, _dtypes.float16)
    T.bfloat16 = lambda self: _to(self, _dtypes.bfloat16)
    T.short = lambda self: _to(self, _dtypes.int16)
    T.char = lambda self: _to(self, _dtypes.int8)
    T.byte = lambda self: _to(self, _dtypes.uint8)
    T.type = _type
    T.clone = lambda self: pw.clone(self)
    # every elementwise row as a method (x.exp(), x.sigmoid(), ...)
    for name in dir(pw):
        fn = getattr(pw, name)
        if callable(fn) and not name.startswith("_") and getattr(fn, "__module__", "") == pw.__name__:
            setattr(T, name, fn)
    for unary in ("exp", "log", "sin", "cos", "tanh", "sigmoid", "relu", "sqrt", "abs", "neg", "reciprocal",
                  "square", "floor", "ceil", "trunc", "sign", "rsqrt", "exp2", "log2", "log1p", "expm1"):
        setattr(T, unary + "_", _unary_inplace(unary))
    for name, fn in _method_table().items():
        setattr(T, name, fn)
    T.softmax = _softmax_method
    T.log_softmax = _log_softmax_method
    T.hardshrink = _hardshrink_method  # h-torchfn
    for name, fn in _ops_pointwise.INPLACE_IF_MISSING.items():  # issue 16: the remaining <op>_ forms
        if not hasattr(T, name):
            setattr(T, name, fn)


def export_public(namespace: dict) -> None:
    """Add every ops module's ``PUBLIC`` names to the ``numgrad`` namespace."""
    for mod in _ops_modules():
        for public in getattr(mod, "PUBLIC", ()):
            namespace[public] = getattr(mod, public)
