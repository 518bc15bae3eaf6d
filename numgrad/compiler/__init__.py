"""``ng.compile``: capture a step's kernel launches once, replay them without per-op Python.

- ``recorder``: records one eager run (kernel launches, optimizer updates, data reads)
- ``state``: finds the persistent state a step reaches (modules, optimizers, tensors)
- ``plan``: turns recordings into a replayable, verified plan
- ``cuda_plan``: the same for a step on the CUDA backend (device arena, staged inputs, launch loop)
- ``aot``: a compiled module's grad-mode call as a captured forward and backward (one graph node)
- ``api``: ``compile``, the guards and variants, ``OptimizedModule``

>>> import numgrad as ng
>>> callable(ng.compile)
True
"""
from __future__ import annotations

from .api import CompiledFunction, OptimizedModule, compile
from .recorder import GraphBreak

__all__ = ["compile", "CompiledFunction", "OptimizedModule", "GraphBreak"]
