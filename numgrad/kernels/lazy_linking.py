"""Loading numgrad's kernels from Numba's disk cache without reading their linking copy until something links them.

Numba caches a CPU function as two things: its machine code, and its LLVM
bitcode with the exported functions made ``linkonce_odr`` (the "shared
module": what another function compiled later in the process links and
inlines when it calls this one).  Loading an entry parses that bitcode at
once (``llvmlite.binding.parse_bitcode``) and walks all its functions and
globals to record their names as defined (``JitEngine._load_defined_symbols``).
For numgrad's kernels (each module carries numgrad's math and Numba's runtime
helpers) that was most of an entry's load time, paid again for every kernel a
new process runs: the median load of the MLP step's 14 entries took 3.6-6.3 ms
before, 1.8-2.5 ms after, and the step's warm capture (second process) went
from a median 0.172 s to 0.146 s (8 alternating processes each, 2-vCPU host).

Almost every loaded kernel is only ever called (from Python, or from a
generated step by its address): nothing links it.  So an entry loaded from
numgrad's own cache (``cache.py``'s ``_load_overload_or_miss`` opens the
scope, ``deferred_linking``) keeps the bitcode as bytes, and:

* the machine code is added as before, so the functions are callable at once;
* asking the engine whether a name is defined falls back, for a name not in
  Numba's set, to the engine's own symbol table (``get_function_address``:
  0 when nothing defines it) - this is how the dispatcher finds the entry
  points of what it loaded;
* the first time a library is linked into another (``_get_module_for_linking``:
  a new kernel calling a cached one, or the library being serialized again),
  the bitcode is parsed and its names recorded, exactly as Numba would have at
  load time.

Entries of other code in the process (a user's ``@njit(cache=True)``) load as
Numba loads them.  The patches depend on numba 0.6x's ``CPUCodeLibrary`` and
``JitEngine`` internals (``_unserialize``, ``_shared_module``,
``_set_compiled_object``, ``_defined_symbols``); ``install`` leaves a Numba
without them as it is, and ``tests/test_lazy_linking.py`` checks the behaviour.

>>> with deferred_linking(True):
...     deferring()
True
>>> deferring()
False
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator

from llvmlite import binding as _llvm
from numba.core import codegen as _codegen

_scope = threading.local()


@contextlib.contextmanager
def deferred_linking(enabled: bool) -> Iterator[None]:
    """Within this block (on this thread), CPU libraries Numba rebuilds from its cache keep their linking copy
    unparsed when ``enabled``; nested blocks restore the outer setting."""
    outer = getattr(_scope, "enabled", False)
    _scope.enabled = enabled
    try:
        yield
    finally:
        _scope.enabled = outer


def deferring() -> bool:
    """Whether libraries loaded now on this thread keep their linking copy unparsed."""
    return getattr(_scope, "enabled", False)


# Numba's own methods (None where this Numba has no such method: ``install`` then patches nothing)
_numba_unserialize = getattr(_codegen.CPUCodeLibrary.__dict__.get("_unserialize"), "__func__", None)
_numba_module_for_linking = getattr(_codegen.CPUCodeLibrary, "_get_module_for_linking", None)
_numba_is_symbol_defined = getattr(_codegen.JitEngine, "is_symbol_defined", None)


def _unserialize(cls, codegen, state):
    """Numba's ``_unserialize`` for an object-code entry, with the linking copy kept as bytes (in scope)."""
    name, kind, data = state
    if kind != "object" or not deferring():
        return _numba_unserialize(cls, codegen, state)
    object_code, shared_bitcode = data
    library = codegen.create_library(name)
    library.enable_object_caching()
    library._set_compiled_object(object_code)
    library._numgrad_shared_bitcode = shared_bitcode
    library._finalize_final_module()
    # this engine now holds names that are not in ``_defined_symbols`` (yet)
    codegen._engine._numgrad_deferred_names = True
    return library


def _get_module_for_linking(self):
    """Parse the linking copy of a library loaded with it deferred, record its names, then Numba's method."""
    shared_bitcode = self.__dict__.pop("_numgrad_shared_bitcode", None)
    if shared_bitcode is not None and self._shared_module is None:
        self._shared_module = _llvm.parse_bitcode(shared_bitcode)
        self._codegen._engine._load_defined_symbols(self._shared_module)
    return _numba_module_for_linking(self)


def _is_symbol_defined(self, name: str) -> bool:
    """Numba's answer, or (on an engine holding deferred libraries) whether the engine resolves ``name``."""
    if _numba_is_symbol_defined(self, name):
        return True
    return getattr(self, "_numgrad_deferred_names", False) and self._ee.get_function_address(name) != 0


def install() -> bool:
    """Patch Numba's CPU code library and JIT engine (once); False when this Numba lacks what they rely on."""
    library, engine = _codegen.CPUCodeLibrary, _codegen.JitEngine
    if getattr(library, "_numgrad_deferred_linking", False):
        return True
    needed = (None not in (_numba_unserialize, _numba_module_for_linking, _numba_is_symbol_defined)
              and hasattr(library, "_set_compiled_object") and hasattr(library, "enable_object_caching")
              and hasattr(library, "_finalize_final_module") and hasattr(engine, "_load_defined_symbols"))
    if not needed:
        return False
    library._unserialize = classmethod(_unserialize)
    library._get_module_for_linking = _get_module_for_linking
    engine.is_symbol_defined = _is_symbol_defined
    library._numgrad_deferred_linking = True
    return True
