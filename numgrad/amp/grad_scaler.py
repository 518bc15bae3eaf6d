"""``GradScaler``: PyTorch's dynamic loss scaling (``torch.amp.GradScaler``).

The loss is multiplied by a scale before ``backward()`` so that small float16 gradients do not underflow;
``step`` divides the gradients by it again, skips the optimizer step when one is inf or NaN, and ``update``
shrinks the scale after such a step (``backoff_factor``) or grows it after ``growth_interval`` clean ones.
The arithmetic is PyTorch's: the inverse scale is the float64 reciprocal rounded to float32, every gradient
is multiplied by it (also when one is not finite), and a grown scale that overflows is not taken.

Disabled (``enabled=False``, or ``device="cuda"`` without a GPU, with PyTorch's warning) every method passes
through: ``scale`` returns the loss, ``step`` calls ``optimizer.step()``.
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, Iterable, Optional, Union

import numpy as np

from ..kernels.cuda import is_available as _cuda_available
from ..autograd.grad_mode import no_grad
from ..creation import full
from ..tensor import Tensor

# an ``optimizer`` is any numgrad optimizer (numgrad.optim is not imported: numgrad.cuda imports this package, and
# numgrad.optim imports numgrad.nn, which imports numgrad.cuda)
Optimizer = Any
__all__ = ["GradScaler"]

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


class GradScaler:
    """Scale the loss, unscale and check the gradients, skip steps with inf/NaN gradients, adapt the scale.

    >>> import numgrad as ng
    >>> w = ng.nn.Parameter(ng.tensor([1.0, 2.0]))
    >>> opt = ng.optim.SGD([w], lr=0.1)
    >>> scaler = ng.amp.GradScaler("cpu", init_scale=1024.0)
    >>> scaler.scale((w * w).sum()).backward()
    >>> scaler.step(opt); scaler.update()
    >>> w.detach(), scaler.get_scale()
    (tensor([0.8000, 1.6000]), 1024.0)
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        self._device = str(device)
        self._enabled = enabled
        if self._device.startswith("cuda") and enabled and not _cuda_available():
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.",
                          stacklevel=2)
            self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
        self._init_scale = float(init_scale)
        self._growth_factor, self._backoff_factor = float(growth_factor), float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._scale: Optional[Tensor] = None  # float32 (1,), made on first use (as PyTorch's)
        self._growth_tracker = 0  # consecutive steps without inf/NaN gradients
        self._per_optimizer: Dict[int, dict] = {}

    # ------------------------------------------------------------------ the loss and the gradients
    def scale(self, outputs: Union[Tensor, Iterable[Tensor]]):
        """``outputs`` (a tensor, or an iterable of tensors, nested) times the scale; unchanged when disabled."""
        if not self._enabled:
            return outputs
        if self._scale is None:
            self._scale = full((1,), self._init_scale)
        if isinstance(outputs, Tensor):
            return outputs * self._scale.to(outputs.device)
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        return map(self.scale, outputs)

    def _state(self, optimizer: Optimizer) -> dict:
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _READY, "found_inf": None})

    def _check_scale(self, method: str) -> None:
        if self._scale is None:
            raise AssertionError(f"Attempted {method} but _scale is None.  This may indicate your script did not use "
                                 "scaler.scale(loss or outputs) earlier in the iteration.")

    def unscale_(self, optimizer: Optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale, in place, noting whether one is inf or NaN (optional:
        ``step`` does it; call it to clip or inspect the true gradients first)."""
        if not self._enabled:
            return
        self._check_scale("unscale_")
        state = self._state(optimizer)
        if state["stage"] == _UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if state["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        scale = float(self._scale.item())
        inv_scale = np.float32(np.float64(1.0) / np.float64(np.float32(scale)))
        found_inf = False
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    if g.dtype.name == "float16":
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    if not bool(g.isfinite().all()):
                        found_inf = True
                    g.mul_(float(inv_scale))
        state["found_inf"] = found_inf
        state["stage"] = _UNSCALED

    def step(self, optimizer: Optimizer, *args: Any, **kwargs: Any):
        """``optimizer.step(*args, **kwargs)`` on the unscaled gradients, skipped when one is inf or NaN; returns
        what the optimizer's step returned (None when skipped)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale("step")
        state = self._state(optimizer)
        if state["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        retval = None
        if not state["found_inf"]:
            retval = optimizer.step(*args, **kwargs)
        state["stage"] = _STEPPED
        return retval

    def update(self, new_scale: Union[float, Tensor, None] = None) -> None:
        """Back off the scale after a skipped step, grow it after ``growth_interval`` clean ones (or set
        ``new_scale``); call once per iteration, after every ``step``."""
        if not self._enabled:
            return
        self._check_scale("update")
        if new_scale is not None:
            value = float(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
            self._scale.fill_(value)
        else:
            found = [s["found_inf"] for s in self._per_optimizer.values() if s["found_inf"] is not None]
            if not found:
                raise AssertionError("No inf checks were recorded prior to update.")
            scale = np.float32(self._scale.item())
            if any(found):
                self._scale.fill_(float(scale * np.float32(self._backoff_factor)))
                self._growth_tracker = 0
            else:
                successful = self._growth_tracker + 1
                if successful == self._growth_interval:
                    grown = scale * np.float32(self._growth_factor)
                    if np.isfinite(grown):
                        self._scale.fill_(float(grown))
                    successful = 0
                self._growth_tracker = successful
        self._per_optimizer = {}

    # ------------------------------------------------------------------ settings and state
    def get_scale(self) -> float:
        """The current scale (``init_scale`` before the first ``scale``); 1.0 when disabled."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else float(self._scale.item())

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = int(new_interval)

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> Dict[str, Any]:
        """``scale``, ``growth_factor``, ``backoff_factor``, ``growth_interval`` and ``_growth_tracker`` (PyTorch's
        keys); empty when disabled."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (a no-op when disabled)."""
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled "
                               "instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale.fill_(self._init_scale)
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])
