"""One generated ``@njit`` function per run of captured kernel launches: replay with no Python per launch.

Numba dispatchers can be called from jitted code with array arguments, so a run of plan steps
(kernel launches, constant fills, scalars read from memory, reduction results written into their
0-d arrays) becomes the body of one function.  Its arguments are the plan's arena, one table of
numbers per dtype, and the arrays that do not live in the arena (parameters, optimizer state)::

    @njit(cache=True, nogil=True)
    def step(v0, v1, v2, v3):
        a0 = arena_view_c(v2, v3[0], (v3[1], ), (v3[2], ), np.float32)
        a1 = arena_view_c(v2, v3[3], (v3[4], ), (v3[5], ), np.float32)
        _k0(v0, a0, v1[0], a1)

The same kernels run with the same arguments in the same order, so results stay bit-identical.
Steps that need Python (an optimizer's update, a launch whose returned number is checked) end a
run.  The source goes through numgrad's kernel cache (``kernels.cache.load_module``), so another
process loads the compiled step from disk; it names every kernel's module and, for numgrad's own
kernel files, a hash of their source, so a changed kernel never runs from a stale step.  It holds
no shapes, offsets or numbers, so a step of another batch size reuses it.

>>> fusable_step_kinds()
('kernel', 'fill', 'scalars from memory', 'result into 0-d array')
"""
from __future__ import annotations

import hashlib
import sys
from typing import Optional

import numpy as np
from numba.core.registry import CPUDispatcher

from ..kernels import cache
from . import plan as _plan
from . import views as _views

_file_hashes: dict = {}


def fusable_step_kinds() -> tuple:
    """The kinds of plan steps a generated function can hold."""
    return ("kernel", "fill", "scalars from memory", "result into 0-d array")


def _module_hash(module) -> str:
    path = getattr(module, "__file__", None)
    if not path or module.__name__.startswith("numgrad_kernels."):
        return ""  # generated modules are named by the hash of their source already
    digest = _file_hashes.get(path)
    if digest is None:
        with open(path, "rb") as f:
            digest = _file_hashes[path] = hashlib.sha256(f.read()).hexdigest()[:16]
    return digest


def _kernel_ref(dispatcher) -> Optional[tuple]:
    """(module name, attribute name) under which ``dispatcher`` can be imported, or None."""
    module = sys.modules.get(getattr(dispatcher.py_func, "__module__", ""), None)
    if module is None:
        return None
    for name, value in vars(module).items():
        if value is dispatcher or getattr(value, "dispatcher", None) is dispatcher:
            return module.__name__, name
    return None


def _unpack(fn, args):
    """(dispatcher, args, result target, scalar sources) of a fusable step, or None."""
    sources: list = []
    if isinstance(fn, _plan._ScalarsFromMemory):
        sources = fn.sources
        args = fn.template
        fn = fn.fn
    target = None
    if isinstance(fn, _plan._ResultInto):
        target = fn.target
        fn = fn.dispatcher
    if isinstance(fn, CPUDispatcher):
        return fn, tuple(args), target, sources
    return None


def _number_dtype(v) -> Optional[str]:
    """The NumPy dtype whose element Numba types as it types the number ``v`` passed in (None: pass ``v`` in)."""
    if type(v) is bool or type(v) is np.bool_:
        return "bool_"
    if type(v) is int:
        return "int64" if -2 ** 63 <= v < 2 ** 63 else None
    if type(v) is float:
        return "float64"
    if isinstance(v, (np.floating, np.integer)) and type(v).__name__ in _SCALAR_NAMES:
        return type(v).__name__
    return None


_SCALAR_NAMES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                 "uint64")


class _Builder:
    """The source of one generated step function: its parameters, the views it builds from the arena, its lines.

    Numbers are read from one table per dtype, and an array in the plan's arena is rebuilt inside the function
    from the arena (offset, shape and strides read from the int64 table), so a replay passes a few arrays
    instead of one argument per buffer and number: Numba's call costs grow with every argument it types and
    unboxes.  The numbers stay out of the source on purpose: written in as constants, LLVM would propagate
    them into the inlined kernels, whose fast-math flags (``reassoc``, ``contract``) then let it fold and
    reorder differently than the kernels eager code runs (a loss one ulp off on some data, which no
    verification of recorded calls can rule out).  The source depends only on the structure of the step, so
    another batch size reuses it (and its machine code).
    """

    def __init__(self, arena: Optional[np.ndarray] = None):
        self.params: list = []  # values passed to the generated function, in order
        self.by_id: dict = {}
        self.imports: dict = {}  # (module, attr) -> kernel variable
        self.views: list = []  # lines building arrays from the arena
        self.by_view: dict = {}
        self.tables: dict = {}  # dtype name -> (index of its table in params, values)
        self.lines: list = []
        self.arena = arena
        self.arena_name: Optional[str] = None
        if arena is not None and arena.size:
            self._arena_lo = arena.__array_interface__["data"][0]
            self._arena_hi = self._arena_lo + arena.nbytes

    def number(self, dtype: str, v) -> str:
        table = self.tables.get(dtype)
        if table is None:
            table = self.tables[dtype] = (len(self.params), [])
            self.params.append(None)  # the table's array, made by ``finish``
        table[1].append(v)
        return f"v{table[0]}[{len(table[1]) - 1}]"

    def finish(self) -> tuple:
        """The arguments of the generated function (the number tables filled in)."""
        params = list(self.params)
        for dtype, (index, values) in self.tables.items():
            table = params[index] = np.array(values, dtype=getattr(np, dtype))
            table.flags.writeable = False  # constants: verification never poisons them, no launch writes them
        return tuple(params)

    def value(self, v) -> str:
        if isinstance(v, np.ndarray):
            name = self.by_id.get(id(v))
            if name is None:
                view = self._arena_view(v)
                if view is not None:
                    # one variable per distinct view (an op's output is the next op's input, as another object)
                    name = self.by_view.get(view)
                    if name is None:
                        name = self.by_view[view] = f"a{len(self.views)}"
                        self.views.append((name, view))
                    self.by_id[id(v)] = name
                else:
                    name = self.by_id[id(v)] = f"v{len(self.params)}"
                    self.params.append(v)
            return name
        if type(v) is tuple:
            inner = [self.value(x) for x in v]
            return "(" + "".join(f"{x}, " for x in inner) + ")"
        if v is None:
            return "None"
        dtype = _number_dtype(v)
        if dtype is not None:
            return self.number(dtype, v)
        name = f"v{len(self.params)}"
        self.params.append(v)
        return name

    def _arena_view(self, a: np.ndarray) -> Optional[tuple]:
        """(layout, dtype, offset, shape, strides) of ``a`` in the arena (built by ``views.arena_view_*``), or None
        (``a`` is passed in)."""
        if self.arena is None or not self.arena.size or a.ndim == 0 or not a.flags.writeable or not a.flags.aligned:
            return None
        lo, hi = _plan._span(a)
        if not (self._arena_lo <= lo and hi <= self._arena_hi) or a.size == 0:
            return None
        dtype = a.dtype
        if dtype.metadata or dtype.name not in _SCALAR_NAMES + ("bool",):
            return None
        if a.flags.c_contiguous:
            layout = "c"
        elif a.flags.f_contiguous:
            return None  # Numba types it 'F': keep the signature eager code compiled
        else:
            layout = "a"
        return layout, dtype.name, a.__array_interface__["data"][0] - self._arena_lo, a.shape, a.strides

    def _view_line(self, name: str, view: tuple) -> str:
        layout, dtype, offset, shape, strides = view
        if self.arena_name is None:
            self.arena_name = f"v{len(self.params)}"
            self.params.append(self.arena)
        ints = [self.number("int64", n) for n in (offset,) + tuple(shape) + tuple(strides)]
        ndim = len(shape)
        np_name = "np.bool_" if dtype == "bool" else f"np.{dtype}"
        tup = lambda xs: "(" + "".join(f"{x}, " for x in xs) + ")"  # noqa: E731
        return (f"    {name} = arena_view_{layout}({self.arena_name}, {ints[0]}, {tup(ints[1:1 + ndim])}, "
                f"{tup(ints[1 + ndim:])}, {np_name})")

    def kernel(self, dispatcher) -> Optional[str]:
        ref = _kernel_ref(dispatcher)
        if ref is None:
            return None
        if ref not in self.imports:
            self.imports[ref] = f"_k{len(self.imports)}"
        return self.imports[ref]

    def add(self, fn, args) -> bool:
        if fn is np.copyto:
            arr, value = args
            if not isinstance(arr, np.ndarray) or not arr.flags.c_contiguous:
                return False
            a, v = self.value(arr), self.value(value)
            self.lines.append(f"    {a}[()] = {v}" if arr.ndim == 0 else f"    {a}.fill({v})")
            return True
        unpacked = _unpack(fn, args)
        if unpacked is None:
            return False
        dispatcher, call_args, target, sources = unpacked
        k = self.kernel(dispatcher)
        if k is None:
            return False
        names = [self.value(a) for a in call_args]
        for position, src in sources:
            s = self.value(src)
            index = ", ".join("0" for _ in range(src.ndim)) or "()"
            names[position] = f"_s{len(self.lines)}_{position}"
            self.lines.append(f"    {names[position]} = {s}[{index}]")
        call = f"{k}({', '.join(names)})"
        self.lines.append(f"    {self.value(target)}[()] = {call}" if target is not None else f"    {call}")
        return True

    def source(self) -> str:
        views = [self._view_line(name, view) for name, view in self.views]
        head = ["import numpy as np", "from numba import njit"]
        if self.views:
            head.append("from numgrad.compiler.views import arena_view_a, arena_view_c  # source "
                        f"{_module_hash(_views)}")
        aliases: dict = {}
        for module, _ in self.imports:
            if module not in aliases:
                aliases[module] = alias = f"_m{len(aliases)}"
                digest = _module_hash(sys.modules[module])
                head.append(f"import {module} as {alias}" + (f"  # source {digest}" if digest else ""))
        for (module, attr), var in self.imports.items():
            # a generated module's kernels are wrapped (kernels.cache._GuardedKernel): jitted code calls the dispatcher
            head.append(f"{var} = getattr({aliases[module]}.{attr}, 'dispatcher', {aliases[module]}.{attr})")
        params = ", ".join(f"v{i}" for i in range(len(self.params)))
        return "\n".join(head) + f"\n\n\n@njit(cache=True, nogil=True)\ndef step({params}):\n" + \
            "\n".join(views + self.lines) + "\n"


# LLVM's time on one function grows faster than its length: a 1000-launch step compiles in parts of this many
# launches (one more native call each, well under a microsecond)
MAX_STEPS_PER_FUNCTION = 200


def fuse_steps(steps: list, arena: Optional[np.ndarray] = None) -> tuple:
    """``steps`` with every run of two or more fusable steps replaced by one generated function, and the
    generated sources (for ``explain``); arrays in ``arena`` (the plan's memory) are built inside the function."""
    out: list = []
    sources: list = []
    run: list = []

    def flush():
        if len(run) < 2:
            out.extend(run)
        else:
            builder = _Builder(arena)
            if all(builder.add(fn, args) for fn, args in run):
                source = builder.source()
                module = cache.load_module(source, prefix="step")
                out.append((module.step, builder.finish()))
                sources.append(source)
            else:
                out.extend(run)
        run.clear()

    for fn, args in steps:
        if fn is np.copyto or _unpack(fn, args) is not None:
            run.append((fn, args))
            if len(run) == MAX_STEPS_PER_FUNCTION:
                flush()
        else:
            flush()
            out.append((fn, args))
    flush()
    return out, sources
