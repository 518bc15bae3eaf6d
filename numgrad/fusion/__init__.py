"""Fusion: elementwise ops record a lazy expression DAG; one kernel computes a region.

Forward: every elementwise op returns a lazy tensor (``numgrad.fusion.lazy``);
the region is computed by one generated kernel when its data is needed
(printing, ``.numpy()``, ``.item()``, a non-elementwise op), when it grows
past ``MAX_REGION`` ops, or absorbed by a reduction (``sum``/``mean`` of a lazy
region is one kernel).

Backward: the engine hands a chain of elementwise graph nodes whose
intermediate results nobody else needs to ``numgrad.fusion.backward``, which
differentiates the region symbolically and emits ONE kernel that writes every
input gradient (intermediates are recomputed, not stored).

Deferred losses: a recorded full ``sum``/``mean`` of a region waits; when
``backward()`` is the first use, the fused backward kernel computes it too
(``numgrad.fusion.deferred``), so a whole step is one kernel.

Switches: ``NUMGRAD_FUSION=0`` or ``ng.set_fusion(False)`` runs each op as its
own kernel; ``ng.explain(t)`` shows a lazy tensor's region and kernel source.
"""
from __future__ import annotations

import os

from .state import is_fusion_enabled, set_fusion  # noqa: F401
from .explain import explain  # noqa: F401
from . import backward  # noqa: F401 - registers the fused region backward with the autograd engine
