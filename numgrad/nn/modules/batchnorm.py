"""Batch normalization: ``BatchNorm1d``, ``BatchNorm2d``, ``BatchNorm3d`` and ``SyncBatchNorm`` over a shared
``_BatchNorm`` (PyTorch's ``torch.nn.modules.batchnorm``)."""
from __future__ import annotations

from typing import Any, Optional, Tuple

from ... import _dtypes
from ... import creation
from ... import distributed as dist
from ...autograd.grad_mode import no_grad
from ...ops.elementwise import inplace_update
from ...tensor import Tensor
from .. import init
from ..functional.normalization import batch_norm, check_batch_norm_arguments
from ..parameter import Parameter
from ._functions import SyncBatchNorm as sync_batch_norm
from .module import Module
from .utils import _float_dtype

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _NormBase(Module):
    """Parameters, running statistics and their resets, shared by batch and instance norm (PyTorch's ``_NormBase``)."""

    _expected_dims: Tuple[int, ...] = ()
    _version = 2  # PyTorch's (num_batches_tracked exists since version 2): ``state_dict()._metadata`` says so

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dt = _float_dtype(dtype)
        if affine:
            self.weight = Parameter(creation.ones(num_features, dtype=dt))
            if bias:
                self.bias = Parameter(creation.zeros(num_features, dtype=dt))
            else:  # a scale without a shift (PyTorch's bias=False)
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, dtype=dt))
            self.register_buffer("running_var", creation.ones(num_features, dtype=dt))
            self.register_buffer("num_batches_tracked", creation.tensor(0, dtype=_dtypes.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, batch count 0."""
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Running statistics reset; weight 1, bias 0."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in self._expected_dims:
            dims = " or ".join(f"{d}D" for d in self._expected_dims)
            raise ValueError(f"expected {dims} input (got {input.ndim}D input)")


class _BatchNorm(_NormBase):
    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            inplace_update(self.num_batches_tracked, "add", 1)
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked.item())
        use_batch_stats = self.training or self.running_mean is None
        track = self.running_mean is not None and (not self.training or self.track_running_stats)
        return batch_norm(input, self.running_mean if track else None, self.running_var if track else None,
                          self.weight, self.bias, use_batch_stats, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization over ``(N, C)`` or ``(N, C, L)`` input.

    >>> import numgrad as ng
    >>> ng.nn.BatchNorm1d(3)(ng.randn(4, 3)).shape
    (4, 3)
    """

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization over ``(N, C, H, W)`` input.

    >>> import numgrad as ng
    >>> ng.nn.BatchNorm2d(3)(ng.randn(2, 3, 4, 4)).shape
    (2, 3, 4, 4)
    """

    _expected_dims = (4,)


__all__ += ["BatchNorm3d"]


class BatchNorm3d(_BatchNorm):
    """Batch normalization over ``(N, C, D, H, W)`` input.

    >>> import numgrad as ng
    >>> ng.nn.BatchNorm3d(3)(ng.randn(2, 3, 2, 4, 4)).shape
    (2, 3, 2, 4, 4)
    """

    _expected_dims = (5,)


__all__ += ["SyncBatchNorm"]


class SyncBatchNorm(_BatchNorm):
    """Batch normalization whose training statistics cover the batches of every rank of a process group
    (PyTorch's ``nn.SyncBatchNorm``): for data-parallel training with small per-rank batches, each rank's
    output, running statistics and input gradient are those of one ``BatchNorm`` over the concatenated global
    batch.  Input ``(N, C, *)``.

    It synchronizes while training when ``numgrad.distributed`` is initialized and the group
    (``process_group``, else the world) has more than one rank; otherwise (``eval()``, no process group, one
    rank) it is ``F.batch_norm``, as PyTorch's.  Unlike PyTorch, whose SyncBatchNorm needs GPU tensors, numgrad
    synchronizes CPU tensors: its distributed backend is MPI on the CPU (a CUDA input raises ``ValueError`` when
    it would synchronize).  Ranks' batch sizes may differ, and a rank may hold an empty batch (it takes part in
    the collectives with a count of 0).  The weight and bias gradients are each rank's own, which
    ``DistributedDataParallel`` averages; call ``convert_sync_batchnorm`` before wrapping the model in it.

    Parameters, buffers, ``state_dict`` keys and ``repr`` are ``BatchNorm``'s, so checkpoints load both ways.
    ``ng.compile`` captures a step with a synchronizing SyncBatchNorm: its collectives replay.  Its backward
    cannot be differentiated again (``create_graph=True`` raises).

    >>> import numgrad as ng
    >>> model = ng.nn.Sequential(ng.nn.Conv2d(3, 4, 3), ng.nn.BatchNorm2d(4), ng.nn.ReLU())
    >>> model = ng.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    >>> model[1]
    SyncBatchNorm(4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    >>> model(ng.randn(2, 3, 5, 5)).shape  # not distributed here: an ordinary batch norm
    (2, 4, 3, 3)
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group: Any = None, device=None, dtype=None, *,
                 bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {input.ndim}D input)")

    def _check_non_zero_input_channels(self, input: Tensor) -> None:
        if input.shape[1] == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        self._check_non_zero_input_channels(input)
        exponential_average_factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            if self.num_batches_tracked is None:
                raise AssertionError("num_batches_tracked must not be None")
            inplace_update(self.num_batches_tracked, "add", 1)
            if self.momentum is None:  # cumulative moving average
                exponential_average_factor = 1.0 / float(self.num_batches_tracked.item())
        # batch statistics in training, and in eval when there are no running statistics
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        # running statistics are updated only when tracked, and read in eval
        running_mean = self.running_mean if not self.training or self.track_running_stats else None
        running_var = self.running_var if not self.training or self.track_running_stats else None
        # an initialized process group implies mpi4py is there (PyTorch's is_available() check is implied)
        need_sync = bn_training and self.training and dist.is_initialized()
        if need_sync:
            process_group = self.process_group if self.process_group else dist.group.WORLD
            world_size = dist.get_world_size(process_group)  # -1 on a rank outside the group: no sync
            need_sync = world_size > 1
        if not need_sync:
            return batch_norm(input, running_mean, running_var, self.weight, self.bias, bn_training,
                              exponential_average_factor, self.eps)
        if input.device.type != "cpu":
            raise ValueError(f"SyncBatchNorm: numgrad synchronizes batch statistics over MPI, which communicates "
                             f"CPU tensors; the input is on {input.device} (move the model and its inputs to the "
                             "CPU for distributed training)")
        check_batch_norm_arguments(input, running_mean, running_var, self.weight, self.bias)
        return sync_batch_norm.apply(input, self.weight, self.bias, running_mean, running_var, float(self.eps),
                                     float(exponential_average_factor), process_group, world_size)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """Replace every ``BatchNorm1d/2d/3d`` (any ``_BatchNorm``) in ``module``'s tree by a ``SyncBatchNorm``
        that shares its parameters and buffers (same tensors) and its ``training`` flag; ``module`` itself is
        returned with its children replaced, or a new ``SyncBatchNorm`` when it is a batch norm itself.
        ``process_group``: the group whose ranks share statistics (the world by default).

        >>> import numgrad as ng
        >>> bn = ng.nn.BatchNorm1d(3)
        >>> sync = ng.nn.SyncBatchNorm.convert_sync_batchnorm(bn)
        >>> type(sync).__name__, sync.weight is bn.weight, sync.running_var is bn.running_var
        ('SyncBatchNorm', True, True)
        """
        module_output = module
        if isinstance(module, _BatchNorm):
            module_output = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                          module.track_running_stats, process_group, bias=module.bias is not None)
            if module.affine:
                with no_grad():
                    module_output.weight = module.weight
                    module_output.bias = module.bias
            module_output.running_mean = module.running_mean
            module_output.running_var = module.running_var
            module_output.num_batches_tracked = module.num_batches_tracked
            module_output.training = module.training
            if hasattr(module, "qconfig"):
                module_output.qconfig = module.qconfig
        for name, child in module.named_children():
            module_output.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        del module
        return module_output
