"""numgrad: a define-by-run autograd engine whose kernels are Numba functions.

>>> import numgrad as ng
>>> x = ng.tensor(2.0, requires_grad=True)
>>> z = 2 * x ** 2 + 1
>>> z.backward(); x.grad
tensor(8.)
"""
from __future__ import annotations

from ._version import __version__  # noqa: F401
from . import kernels  # noqa: F401 - first: it sets Numba's environment before numba is imported
from ._gc import configure_gc as _configure_gc

_configure_gc()

from . import _dtypes  # noqa: E402
from ._dtypes import (  # noqa: E402,F401
    DType, bool_ as bool, float16, float32, float64, get_default_dtype, int8, int16, int32, int64,
    set_default_dtype, uint8,
)
from .device import Device as device  # noqa: E402,F401
from .tensor import Tensor, result_type  # noqa: E402,F401
from . import autograd  # noqa: E402,F401
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402,F401
from .creation import (  # noqa: E402,F401
    arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace, manual_seed, ones,
    ones_like, rand, rand_like, randint, randint_like, randn, randn_like, tensor, zeros, zeros_like,
)
from .ops.elementwise_functions import *  # noqa: E402,F401,F403
from .ops.elementwise_functions import round, where  # noqa: E402,F401
from .ops.views import (  # noqa: E402,F401
    broadcast_to, contiguous, expand, flatten, permute, reshape, squeeze, t, transpose, unsqueeze, view,
)
from .ops.sum_mean import mean, sum  # noqa: E402,F401
from .ops.elementwise import broadcast_shapes  # noqa: E402,F401
from .fusion import explain, is_fusion_enabled, set_fusion  # noqa: E402,F401
from .ops.user_elementwise import ElementwiseOp, elementwise  # noqa: E402,F401
from .kernels.config import get_num_threads, set_num_threads  # noqa: E402,F401
from . import _tensor_methods  # noqa: E402

_tensor_methods.install()
_tensor_methods.export_public(globals())

from . import nn  # noqa: E402,F401
from . import data, optim  # noqa: E402,F401
from .serialization import load, save  # noqa: E402,F401
from . import interop as _interop  # noqa: E402
from .interop import from_dlpack  # noqa: E402,F401

_interop.install(Tensor)
from . import profiler, viz  # noqa: E402,F401
from . import cuda  # noqa: E402,F401
from . import jit, version  # noqa: E402,F401 - torch.jit (TorchScript-free), torch.version
from .autograd.anomaly_mode import is_anomaly_check_nan_enabled, is_anomaly_enabled  # noqa: E402,F401
from .compiler import compile  # noqa: E402,F401
from . import onnx  # noqa: E402,F401
from .creation import (  # noqa: E402,F401 - PyTorch's legacy typed constructors
    BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, HalfTensor, IntTensor, LongTensor, ShortTensor,
)
from . import linalg  # noqa: E402,F401 - torch.linalg's norms and products
from . import special  # noqa: E402,F401 - torch.special's names
from .creation import Generator, get_rng_state, initial_seed, seed, set_rng_state  # noqa: E402,F401
from .creation import asarray, inclusive_range as range  # noqa: E402,F401 - torch.range: the deprecated inclusive one
from .nn.functional import log_softmax, softmax  # noqa: E402,F401 - torch.softmax / torch.log_softmax
from . import utils  # noqa: E402,F401
from . import accelerator, backends, testing  # noqa: E402,F401
from . import distributed  # noqa: E402,F401 - torch.distributed: data-parallel over MPI
from . import amp  # noqa: E402,F401 - torch.amp: GradScaler, autocast (automatic mixed precision)
from . import distributions  # noqa: E402,F401 - torch.distributions
from .amp import autocast  # noqa: E402,F401
from .amp import (  # noqa: E402,F401 - torch's autocast state functions (per thread)
    autocast_decrement_nesting, autocast_increment_nesting, clear_autocast_cache, get_autocast_dtype,
    is_autocast_cache_enabled, is_autocast_enabled, set_autocast_cache_enabled, set_autocast_dtype,
    set_autocast_enabled)
from .amp import (  # noqa: E402,F401 - torch's deprecated per-device autocast names
    get_autocast_cpu_dtype, get_autocast_gpu_dtype, is_autocast_cpu_enabled, set_autocast_cpu_dtype,
    set_autocast_cpu_enabled, set_autocast_gpu_dtype)
from ._dtypes import bfloat16, finfo, iinfo  # noqa: E402,F401
from .device import get_default_device, set_default_device  # noqa: E402,F401
from .memory_format import (  # noqa: E402,F401
    channels_last, channels_last_3d, contiguous_format, memory_format, preserve_format)
from .tensor import Size  # noqa: E402,F401
# PyTorch's other dtype names (torch.float, torch.long, ...): last, since they shadow builtins in this module
from ._dtypes import float32 as float, float64 as double, float16 as half  # noqa: E402,F401
from ._dtypes import int64 as long, int32 as int, int16 as short  # noqa: E402,F401
# h-torchfn: PyTorch's top-level names of nn.functional ops (torch.conv2d, torch.pixel_shuffle, torch.relu_...)
from .nn.functional import (  # noqa: E402,F401
    adaptive_avg_pool1d, avg_pool1d, bilinear, celu_, channel_shuffle, conv1d, conv2d, conv3d, conv_transpose1d,
    conv_transpose2d, conv_transpose3d, hardshrink, pixel_shuffle, pixel_unshuffle, prelu, relu_, rrelu_, selu_,
    threshold_,
)
from ._dtypes import DType as dtype  # noqa: E402,F401 - torch.dtype: isinstance(x, torch.dtype)
from .creation import scalar_tensor  # noqa: E402,F401 - torch.scalar_tensor (a recorded fill under ng.compile)


def __getattr__(name: str):
    if name in _dtypes.COMPLEX_NAMES:
        raise AttributeError(f"numgrad has no complex dtypes: numgrad.{name} is not supported (numgrad's dtypes "
                             "are bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)")
    raise AttributeError(f"module 'numgrad' has no attribute '{name}'")
from .autograd import functional as _autograd_functional  # noqa: E402,F401 - torch.autograd.functional (uses ops)
from . import func  # noqa: E402,F401 - torch.func: grad, vjp, jvp, jacrev, jacfwd, hessian, vmap, functional_call
from .func import vmap  # noqa: E402,F401 - torch.vmap is torch.func.vmap
from . import _out_arguments  # noqa: E402 - last: PyTorch's out= for the whole namespace

_out_arguments.install(globals())
