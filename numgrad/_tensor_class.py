"""``tensor_class()``: the Tensor class, for modules that ``numgrad.tensor`` itself imports.

Those modules cannot import the class at their top (it does not exist yet),
and an import inside a hot function cost about 1.5 us per call here (a W1
training step at 1e4 elements made 26 of them, a tenth of its time).  Neither
``from numgrad import tensor`` works: once the package is loaded,
``numgrad.tensor`` is the creation function ``ng.tensor``, not the module.

>>> tensor_class().__name__
'Tensor'
"""
from __future__ import annotations

import sys


def tensor_class() -> type:
    return sys.modules["numgrad.tensor"].Tensor
