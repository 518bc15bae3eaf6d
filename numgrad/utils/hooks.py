"""``numgrad.utils.hooks``: PyTorch's ``torch.utils.hooks`` (the handle every hook registration returns, and the
helper behind ``nn.Module``'s full backward hooks).

>>> import numgrad as ng
>>> from numgrad.utils.hooks import RemovableHandle
>>> isinstance(ng.nn.Identity().register_forward_hook(lambda m, a, o: None), RemovableHandle)
True
"""
from __future__ import annotations

from ..autograd.tensor_methods import RemovableHandle
from ..nn.modules.module_hooks import BackwardHook

__all__ = ["RemovableHandle", "BackwardHook"]
