"""Spectral normalization by a forward pre-hook (PyTorch's ``torch.nn.utils.spectral_norm``).

``spectral_norm(module)`` moves the parameter ``weight`` to ``weight_orig``, keeps estimates of its first
left and right singular vectors in the buffers ``weight_u`` and ``weight_v``, and before every forward sets
``module.weight = weight_orig / sigma`` with ``sigma = u . (W v)`` (``W`` the weight as a matrix, dimension
``dim`` first).  In training mode each forward first runs ``n_power_iterations`` steps of the power method,
which update ``u`` and ``v`` in place (no gradient flows through them, as in PyTorch).  The state dict
carries ``weight_orig``, ``weight_u`` and ``weight_v`` under PyTorch's names and the format version in its
metadata; checkpoints from before that version (``weight_orig``, ``weight`` and ``weight_u``) are converted on
load.  The parametrization ``numgrad.nn.utils.parametrizations.spectral_norm`` is the newer form.

>>> import numgrad as ng
>>> from numgrad.nn.utils.spectral_norm import remove_spectral_norm, spectral_norm
>>> m = spectral_norm(ng.nn.Linear(3, 2))
>>> sorted(m.state_dict()), m.weight_u.shape, m.weight_v.shape
(['bias', 'weight_orig', 'weight_u', 'weight_v'], (2,), (3,))
"""
from __future__ import annotations

from typing import Any, Optional, TypeVar

from ...autograd.grad_mode import no_grad
from ...ops.decompositions import pinverse
from ...ops.linalg import dot, mv
from ...tensor import Tensor
from ..functional.activation_more import normalize
from ..modules.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ..modules.module import Module
from ..parameter import Parameter, UninitializedParameter

__all__ = ["SpectralNorm", "SpectralNormLoadStateDictPreHook", "SpectralNormStateDictHook", "spectral_norm",
           "remove_spectral_norm"]


class SpectralNorm:
    """The forward pre-hook that ``spectral_norm`` registers (PyTorch's ``SpectralNorm``)."""

    # version 1: weight_orig, weight_u, weight_v are saved; weight is a plain attribute recomputed each forward
    _version: int = 1
    name: str
    dim: int
    n_power_iterations: int
    eps: float

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        self.name = name
        self.dim = dim
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but "
                             f"got n_power_iterations={n_power_iterations}")
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        weight_mat = weight
        if self.dim != 0:
            weight_mat = weight_mat.permute(self.dim, *[d for d in range(weight_mat.dim()) if d != self.dim])
        return weight_mat.reshape(weight_mat.size(0), -1)

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        weight_mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with no_grad():
                # PyTorch's ``normalize(..., out=v)``: the buffers are updated in place
                for _ in range(self.n_power_iterations):
                    v.copy_(normalize(mv(weight_mat.t(), u), dim=0, eps=self.eps))
                    u.copy_(normalize(mv(weight_mat, v), dim=0, eps=self.eps))
                if self.n_power_iterations > 0:
                    # clones, so that the next in-place update does not change what backward saved
                    u = u.clone()
                    v = v.clone()
        sigma = dot(u, mv(weight_mat, v))
        return weight / sigma

    def remove(self, module: Module) -> None:
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        delattr(module, self.name)
        delattr(module, self.name + "_u")
        delattr(module, self.name + "_v")
        delattr(module, self.name + "_orig")
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))

    def _solve_v_and_rescale(self, weight_mat: Tensor, u: Tensor, target_sigma: Tensor) -> Tensor:
        # the v with u = normalize(W v) and u . (W v) == target_sigma (old checkpoints did not save v)
        v = (pinverse(weight_mat.t().mm(weight_mat)).mm(weight_mat.t()).mm(u.unsqueeze(1))).squeeze(1)
        return v.mul_(target_sigma / dot(u, mv(weight_mat, v)))

    @staticmethod
    def apply(module: Module, name: str, n_power_iterations: int, dim: int, eps: float) -> "SpectralNorm":
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        weight = module._parameters[name]
        if weight is None:
            raise ValueError(f"`SpectralNorm` cannot be applied as parameter `{name}` is None")
        if isinstance(weight, UninitializedParameter):
            raise ValueError("The module passed to `SpectralNorm` can't have uninitialized parameters. "
                             "Make sure to run the dummy forward before applying spectral normalization")
        with no_grad():
            weight_mat = fn.reshape_weight_to_matrix(weight)
            h, w = weight_mat.size()
            # random starting vectors (PyTorch's draw them the same way, from its own generator)
            u = normalize(weight.new_empty(h).normal_(0, 1), dim=0, eps=fn.eps)
            v = normalize(weight.new_empty(w).normal_(0, 1), dim=0, eps=fn.eps)
        delattr(module, fn.name)
        module.register_parameter(fn.name + "_orig", weight)
        # a plain attribute until the first forward recomputes it (the original's data, as PyTorch's ``.data``)
        setattr(module, fn.name, weight.data)
        module.register_buffer(fn.name + "_u", u)
        module.register_buffer(fn.name + "_v", v)
        module.register_forward_pre_hook(fn)
        module._register_state_dict_hook(SpectralNormStateDictHook(fn))
        module._register_load_state_dict_pre_hook(SpectralNormLoadStateDictPreHook(fn))
        return fn


class SpectralNormLoadStateDictPreHook:
    """Converts a checkpoint saved before the format version 1 (``weight_orig``, ``weight`` and ``weight_u``;
    no ``weight_v``): ``v`` is solved for so that the loaded module gives the saved ``weight``."""

    def __init__(self, fn: SpectralNorm) -> None:
        self.fn = fn

    def __call__(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                 error_msgs) -> None:
        fn = self.fn
        version = local_metadata.get("spectral_norm", {}).get(fn.name + ".version", None)
        if version is None or version < 1:
            weight_key = prefix + fn.name
            if (version is None and all(weight_key + s in state_dict for s in ("_orig", "_u", "_v"))
                    and weight_key not in state_dict):
                # a current checkpoint without metadata (converted, or built by hand): nothing to do
                return
            has_missing_keys = False
            for suffix in ("_orig", "", "_u"):
                key = weight_key + suffix
                if key not in state_dict:
                    has_missing_keys = True
                    if strict:
                        missing_keys.append(key)
            if has_missing_keys:
                return
            with no_grad():
                weight_orig = _as_tensor(state_dict[weight_key + "_orig"])
                weight = _as_tensor(state_dict.pop(weight_key))
                sigma = (weight_orig / weight).mean()
                weight_mat = fn.reshape_weight_to_matrix(weight_orig)
                u = _as_tensor(state_dict[weight_key + "_u"])
                state_dict[weight_key + "_v"] = fn._solve_v_and_rescale(weight_mat, u, sigma)


def _as_tensor(value) -> Tensor:
    """A state-dict value (a numgrad tensor, a NumPy array or a torch tensor) as a numgrad tensor."""
    if isinstance(value, Tensor):
        return value
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return Tensor(value)


class SpectralNormStateDictHook:
    """Records the format version in ``state_dict``'s metadata (``metadata["spectral_norm"]["weight.version"]``)."""

    def __init__(self, fn: SpectralNorm) -> None:
        self.fn = fn

    def __call__(self, module, state_dict, prefix, local_metadata) -> None:
        if "spectral_norm" not in local_metadata:
            local_metadata["spectral_norm"] = {}
        key = self.fn.name + ".version"
        if key in local_metadata["spectral_norm"]:
            raise RuntimeError(f"Unexpected key in metadata['spectral_norm']: {key}")
        local_metadata["spectral_norm"][key] = self.fn._version


T_module = TypeVar("T_module", bound=Module)


def spectral_norm(module: T_module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                  dim: Optional[int] = None) -> T_module:
    """Divide parameter ``name`` by its largest singular value, estimated by the power method, before every
    forward (``dim``: the output dimension, 1 for ``ConvTranspose`` layers and 0 otherwise by default).

    >>> import numgrad as ng
    >>> from numgrad.nn.utils.spectral_norm import remove_spectral_norm, spectral_norm
    >>> m = spectral_norm(ng.nn.Linear(4, 3))
    >>> _ = m(ng.ones(1, 4))  # the pre-hook set m.weight = weight_orig / sigma
    >>> m.weight.shape, [n for n, _ in m.named_parameters()]
    ((3, 4), ['bias', 'weight_orig'])
    """
    if dim is None:
        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module: T_module, name: str = "weight") -> T_module:
    """Undo ``spectral_norm``: ``name`` becomes a plain parameter with the current normalized value (no power
    iteration), and the hooks go.

    >>> import numgrad as ng
    >>> from numgrad.nn.utils.spectral_norm import remove_spectral_norm, spectral_norm
    >>> m = remove_spectral_norm(spectral_norm(ng.nn.Linear(4, 3)))
    >>> sorted(m.state_dict())
    ['bias', 'weight']
    """
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, SpectralNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            module._hooks_changed()  # numgrad's fast call path comes back once no hook is left
            break
    else:
        raise ValueError(f"spectral_norm of '{name}' not found in {module}")
    for k, hook in module._state_dict_hooks.items():
        if isinstance(hook, SpectralNormStateDictHook) and hook.fn.name == name:
            del module._state_dict_hooks[k]
            break
    for k, hook in module._load_state_dict_pre_hooks.items():
        if isinstance(hook, SpectralNormLoadStateDictPreHook) and hook.fn.name == name:
            del module._load_state_dict_pre_hooks[k]
            break
    return module
