"""Ready-made parametrizations (PyTorch's ``torch.nn.utils.parametrizations``): ``weight_norm``,
``spectral_norm`` and ``orthogonal``, each a small module registered with
``parametrize.register_parametrization``.

Every one is written with numgrad's differentiable ops, so gradients reach the originals by ordinary
autograd.  State-dict keys, buffers and initial values follow PyTorch's, so a checkpoint saved by one
library loads into the other:

- ``weight_norm``: ``parametrizations.weight.original0`` (the magnitude ``g``) and ``original1`` (the
  direction ``v``); ``load_state_dict`` also takes the ``weight_g``/``weight_v`` of the hook-based version.
- ``spectral_norm``: ``parametrizations.weight.original`` and the power-method vectors
  ``parametrizations.weight.0._u``/``_v``, updated in place on every access in training mode only.
- ``orthogonal``: ``original`` and (with the dynamic trivialization, the default) the buffer
  ``parametrizations.weight.0.base``.  The ``"householder"`` map builds the product of reflectors from
  matrix products, and ``right_inverse``'s QR factorization (LAPACK's ``geqrf`` convention) from numgrad
  ops; ``"matrix_exp"`` uses ``matrix_exp`` and ``"cayley"`` a linear solve.

>>> import numgrad as ng
>>> from numgrad.nn.utils.parametrizations import weight_norm
>>> m = weight_norm(ng.nn.Linear(3, 2))
>>> sorted(m.state_dict())
['bias', 'parametrizations.weight.original0', 'parametrizations.weight.original1']
"""
from __future__ import annotations

from enum import Enum, auto
from typing import Optional, Tuple

from ...autograd.grad_mode import no_grad
from ...creation import eye, ones, randn, zeros_like
from ...ops.combine import vdot
from ...ops.decompositions import matrix_exp
from ...ops.dense_linalg import solve
from ...ops.elementwise_functions import add, allclose, where
from ...ops.linalg import mv
from ...ops.shape import cat, stack
from ...tensor import Tensor
from ..._dtypes import finfo
from ..functional.activation_more import normalize
from ..modules.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ..modules.module import Module
from . import parametrize
from .weight_norm import _norm_except_dim, _weight_norm

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


def _is_orthogonal(Q: Tensor) -> bool:
    n, k = Q.size(-2), Q.size(-1)
    Id = eye(k, dtype=Q.dtype, device=Q.device)
    eps = 10.0 * n * finfo(Q.dtype).eps
    return allclose(Q.mH @ Q, Id, atol=eps)


def _geqrf(A: Tensor) -> Tuple[Tensor, Tensor]:
    """LAPACK's ``geqrf`` of each (m, n) matrix of ``A`` (real): R on and above the diagonal, the Householder
    vectors (their leading 1 implied) below it, and the factors ``tau`` (``torch.geqrf``'s outputs).

    Each reflector is LAPACK's ``dlarfg``: ``beta = -sign(alpha) * ||(alpha, x)||``, ``tau = (beta - alpha) /
    beta``, ``v = x / (alpha - beta)``, and ``tau = 0`` (the identity) when ``x`` is zero.  A loop of ops over the
    columns, run when a parametrization is registered or assigned to (``right_inverse``), not per step.
    """
    A = A.clone()
    m, n = A.shape[-2], A.shape[-1]
    batch = tuple(A.shape[:-2])
    taus = []
    for j in range(min(m, n)):
        alpha = A[..., j, j]
        x = A[..., j + 1:, j]
        xnorm = x.norm(2, -1) if m - j - 1 > 0 else zeros_like(alpha)
        beta = -where(alpha >= 0, 1.0, -1.0) * (alpha * alpha + xnorm * xnorm).sqrt()
        reflect = xnorm != 0
        tau = where(reflect, (beta - alpha) / where(reflect, beta, 1.0), 0.0)
        scale = where(reflect, 1.0 / where(reflect, alpha - beta, 1.0), 1.0)
        tail = x * scale.unsqueeze(-1)
        A[..., j + 1:, j] = tail
        A[..., j, j] = where(reflect, beta, alpha)
        if j + 1 < n:
            v = cat([ones(*batch, 1, dtype=A.dtype, device=A.device), tail], -1).unsqueeze(-1)  # (*, m - j, 1)
            C = A[..., j:, j + 1:]
            A[..., j:, j + 1:] = C - tau.unsqueeze(-1).unsqueeze(-1) * v * (v.mT @ C)
        taus.append(tau)
    return A, stack(taus, -1)


def _householder_product(A: Tensor, tau: Tensor) -> Tensor:
    """The first n columns of ``H_1 H_2 ... H_k``, ``H_i = I - tau_i v_i v_i^T`` with ``v_i`` column i of ``A``
    below the diagonal and 1 on it (``torch.linalg.householder_product``), from differentiable ops."""
    m, n = A.shape[-2], A.shape[-1]
    eye_mn = eye(m, n, dtype=A.dtype, device=A.device)
    V = A.tril(-1) + eye_mn
    Q = eye_mn
    for i in reversed(range(tau.shape[-1])):  # H_1 (H_2 (... (H_k E)))
        v = V[..., :, i:i + 1]
        t = tau[..., i:i + 1].unsqueeze(-1)
        Q = Q - (t * v) @ (v.mT @ Q)
    return Q


def _make_orthogonal(A: Tensor) -> Tensor:
    """The Q of ``A = QR`` (A tall) with R's diagonal made non-negative."""
    X, tau = _geqrf(A)
    Q = _householder_product(X, tau)
    return Q * X.diagonal(dim1=-2, dim2=-1).sgn().unsqueeze(-2)


class _OrthMaps(Enum):
    matrix_exp = auto()
    cayley = auto()
    householder = auto()


class _Orthogonal(Module):
    base: Tensor

    def __init__(self, weight: Tensor, orthogonal_map: _OrthMaps, *, use_trivialization: bool = True) -> None:
        super().__init__()
        if weight.is_complex() and orthogonal_map == _OrthMaps.householder:
            raise ValueError("The householder parametrization does not support complex tensors.")
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X: Tensor) -> Tensor:
        n, k = X.size(-2), X.size(-1)
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        # here n >= k and X is tall
        if self.orthogonal_map == _OrthMaps.matrix_exp or self.orthogonal_map == _OrthMaps.cayley:
            # a skew-symmetric (skew-hermitian) A from X's lower triangle, padded to n x n
            X = X.tril()
            if n != k:
                X = cat([X, X.new_zeros(n, n - k).expand(*X.shape[:-2], -1, -1)], dim=-1)
            A = X - X.mH
            if self.orthogonal_map == _OrthMaps.matrix_exp:
                Q = matrix_exp(A)
            else:
                # the Cayley map (I - A/2)^{-1} (I + A/2)
                Id = eye(n, dtype=A.dtype, device=A.device)
                Q = solve(add(Id, A, alpha=-0.5), add(Id, A, alpha=0.5))
            if n != k:
                Q = Q[..., :k]
        else:
            # X's strict lower triangle holds the reflectors, its diagonal their signs
            A = X.tril(diagonal=-1)
            tau = 2.0 / (1.0 + (A * A).sum(dim=-2))
            Q = _householder_product(A, tau)
            Q = Q * X.diagonal(dim1=-2, dim2=-1).int().unsqueeze(-2)
        if hasattr(self, "base"):
            Q = self.base @ Q
        if transposed:
            Q = Q.mT
        return Q

    def right_inverse(self, Q: Tensor) -> Tensor:
        with no_grad():
            if Q.shape != self.shape:
                raise ValueError(f"Expected a matrix or batch of matrices of shape {_size(self.shape)}. "
                                 f"Got a tensor of shape {_size(Q.shape)}.")
            Q_init = Q
            n, k = Q.size(-2), Q.size(-1)
            transpose = n < k
            if transpose:
                Q = Q.mT
                n, k = k, n
            if not hasattr(self, "base"):
                # no trivialization: only householder can be assigned to (its X is geqrf's output)
                if self.orthogonal_map == _OrthMaps.cayley or self.orthogonal_map == _OrthMaps.matrix_exp:
                    raise NotImplementedError("It is not possible to assign to the matrix exponential "
                                              "or the Cayley parametrizations when use_trivialization=False.")
                A, tau = _geqrf(Q)
                # the diagonal holds the reflectors' signs; where geqrf used no reflector (tau == 0), forward's
                # reflector e_i flips row i, which the sign undoes
                sign = A.diagonal(dim1=-2, dim2=-1).sign()
                A.diagonal(dim1=-2, dim2=-1).copy_(where(tau == 0.0, -sign, sign))
                return A.mT if transpose else A
            # the dynamic trivialization: base holds an orthogonal Q (the given one if it is orthogonal, else its
            # QR's Q; a thin Q completed by random columns); the original becomes -I, which forward maps to base
            if n == k:
                Q = Q.clone() if _is_orthogonal(Q) else _make_orthogonal(Q)
            else:
                N = randn(*(tuple(Q.shape[:-2]) + (n, n - k)), dtype=Q.dtype, device=Q.device)
                Q = _make_orthogonal(cat([Q, N], dim=-1))
            self.base = Q
            neg_Id = zeros_like(Q_init)
            neg_Id.diagonal(dim1=-2, dim2=-1).fill_(-1.0)
            return neg_Id


def _size(shape) -> str:
    return f"numgrad.Size({list(shape)})"


def orthogonal(module: Module, name: str = "weight", orthogonal_map: Optional[str] = None, *,
               use_trivialization: bool = True) -> Module:
    """Make ``module.<name>`` (a matrix or a batch of them) orthogonal: orthonormal columns when it is tall,
    orthonormal rows when it is wide.

    ``orthogonal_map``: ``"matrix_exp"`` (``exp`` of a skew-symmetric matrix), ``"cayley"`` (the Cayley map)
    or ``"householder"`` (a product of Householder reflectors); by default ``"matrix_exp"`` for a square or
    complex matrix and ``"householder"`` otherwise.  With ``use_trivialization`` (default) an extra buffer
    ``base`` holds the current orthogonal matrix and the original starts at ``-I`` (the "dynamic
    trivialization"); the initial value is the current weight if orthogonal, else the Q of its QR
    decomposition.

    >>> import numgrad as ng
    >>> from numgrad.nn.utils import parametrizations
    >>> lin = parametrizations.orthogonal(ng.nn.Linear(3, 5))
    >>> Q = lin.weight
    >>> bool(ng.allclose(Q.mT @ Q, ng.eye(3), atol=1e-5))
    True
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = ("matrix_exp" if weight.size(-2) == weight.size(-1) or weight.is_complex()
                          else "householder")
    orth_enum = getattr(_OrthMaps, orthogonal_map, None)
    if orth_enum is None:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
                         f"Got: {orthogonal_map}")
    orth = _Orthogonal(weight, orth_enum, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module


class _WeightNorm(Module):
    def __init__(self, dim: Optional[int] = 0) -> None:
        super().__init__()
        if dim is None:
            dim = -1
        self.dim = dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Tensor) -> Tuple[Tensor, Tensor]:
        weight_g = _norm_except_dim(weight, 2, self.dim)
        weight_v = weight
        return weight_g, weight_v


def weight_norm(module: Module, name: str = "weight", dim: Optional[int] = 0) -> Module:
    """Split ``module.<name>`` into a magnitude ``g`` (``original0``) and a direction ``v`` (``original1``):
    ``w = g * v / ||v||``, the norm over every dimension but ``dim`` (over all of them for ``dim=None``).

    A ``load_state_dict`` pre-hook renames the ``<name>_g``/``<name>_v`` keys of the deprecated hook-based
    ``weight_norm``, so its checkpoints load.

    >>> import numgrad as ng
    >>> from numgrad.nn.utils import parametrizations
    >>> m = parametrizations.weight_norm(ng.nn.Linear(4, 3))
    >>> m.parametrizations.weight.original0.shape, m.parametrizations.weight.original1.shape
    ((3, 1), (3, 4))
    """
    _weight_norm_module = _WeightNorm(dim)
    parametrize.register_parametrization(module, name, _weight_norm_module, unsafe=True)

    def _weight_norm_compat_hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                 error_msgs) -> None:
        g_key = f"{prefix}{name}_g"
        v_key = f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            original0 = state_dict.pop(g_key)
            original1 = state_dict.pop(v_key)
            state_dict[f"{prefix}parametrizations.{name}.original0"] = original0
            state_dict[f"{prefix}parametrizations.{name}.original1"] = original1

    module._register_load_state_dict_pre_hook(_weight_norm_compat_hook)
    return module


class _SpectralNorm(Module):
    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError("Dimension out of range (expected to be in range of "
                             f"[-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but "
                             f"got n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            # a vector is simply normalized: no power method, no buffers
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight)
            h, w = weight_mat.size()
            with no_grad():
                u = weight_mat.new_empty(h).normal_(0, 1)
                v = weight_mat.new_empty(w).normal_(0, 1)
                self.register_buffer("_u", normalize(u, dim=0, eps=self.eps))
                self.register_buffer("_v", normalize(v, dim=0, eps=self.eps))
            # start from good estimates of the singular vectors
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if weight.ndim <= 1:
            raise AssertionError(f"Expected weight to have more than 1 dimension, got {weight.ndim}")
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.dim()) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        # u and v are updated in place (PyTorch's ``normalize(..., out=self._u)``), without a graph
        if weight_mat.ndim <= 1:
            raise AssertionError(f"Expected weight_mat to have more than 1 dimension, got {weight_mat.ndim}")
        with no_grad():
            for _ in range(n_power_iterations):
                self._u.copy_(normalize(mv(weight_mat, self._v), dim=0, eps=self.eps))
                self._v.copy_(normalize(mv(weight_mat.mH, self._u), dim=0, eps=self.eps))

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        # clones: backward must see these values, not the next in-place update
        u = self._u.clone()
        v = self._v.clone()
        sigma = vdot(u, mv(weight_mat, v))
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        # the weight is stored as it is; its scale is lost, as in PyTorch
        return value


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                  dim: Optional[int] = None) -> Module:
    """Divide ``module.<name>`` by its largest singular value ``sigma``, estimated by the power method.

    The weight is seen as a matrix with dimension ``dim`` first (by default 1 for ``ConvTranspose`` layers
    and 0 otherwise); the vector estimates ``_u``, ``_v`` (buffers of the parametrization, saved in the state
    dict) get ``n_power_iterations`` steps on every access in training mode only, in place and without a
    gradient.  A 1-D tensor is simply divided by its norm.

    >>> import numgrad as ng
    >>> from numgrad.nn.utils import parametrizations
    >>> m = parametrizations.spectral_norm(ng.nn.Linear(4, 3))
    >>> sorted(k for k in m.state_dict() if k.startswith("parametrizations"))
    ['parametrizations.weight.0._u', 'parametrizations.weight.0._v', 'parametrizations.weight.original']
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0
    parametrize.register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module

