"""One generated ``@njit`` function per run of captured kernel launches: replay with no Python per launch.

A run of plan steps (kernel launches, constant fills, scalars read from memory, reduction results written
into their 0-d arrays) is replayed by one function.  Its body is a loop over the run, one branch per *kind*
of step (the same kernel, or any kernel returning nothing, with the same Numba argument types: array dtypes,
ranks, layouts; number types),
and every operand comes from a table: one ``int64`` table holds the run's kind codes, each launch's kernel
address and each array's data address, shape and strides; one table per number dtype holds the numbers::

    @njit(cache=True, nogil=True)
    def step(t_int64, t_float64, v0, v1):
        c_int64 = t_int64[0] + 1
        c_float64 = 0
        for pc in range(1, t_int64[0] + 1):
            op = t_int64[pc]
            if op < 1:
                x0_0 = address_view_c(t_int64, c_int64 + 1, 1, np.float32)
                x0_1 = address_view_c(t_int64, c_int64 + 4, 1, np.float32)
                call_void(0x2d5a..., t_int64[c_int64], (x0_0, x0_1, t_float64[c_float64], ))
                c_int64 += 7
                c_float64 += 1
            else:
                ...

The source, and so Numba's typing and LLVM's work, grows with the number of kinds, not of launches: a
1000-launch chain compiles as fast as a 2-launch one.  (A function with one call per launch took Numba about
6 ms of typing per call, and LLVM's SROA pass time growing with the square of the length, since every
variable lived across all calls: 3.8 s for 100 launches of one kernel, 27 s for 200.)  Kernels are called
through their compiled code's address (``native_calls.call_compiled``): a direct call of a dispatcher would
link the kernel into the step and compile it again (most of a step's compile time).  A kernel returning
nothing (most: they write into arrays) is called by ``call_void``, typed by its arguments alone, so its
kind names no kernel: one branch serves every such kernel with those argument types, and a batch size whose
eager code picked a map's serial twin where another size picked the parallel one has the same source.
Dispatching a launch costs a few comparisons (``op``: a binary tree over the kinds) and filling its
arrays' structs from the table.  The same compiled kernels run with the same arguments in the same
order, so results stay bit-identical.  Numbers stay out of the source on purpose: written in as
constants, LLVM could fold them into the code around the calls, and a kernel linked in would be
optimized with them.

Every array's memory (its owner: the plan's arena, a parameter's buffer) is also passed to the function:
Numba holds a reference while the step runs, the plan's checks (``plan._step_arrays``) see which persistent
memory the step touches, and the owners live as long as the step's arguments.  Steps that need Python (an
optimizer's update, a launch whose returned number is checked) end a run.  The source goes through numgrad's
kernel cache (``kernels.cache.load_module``), so another process loads the compiled step from disk (the
kernel addresses come from the table, filled in that process, for kernels whose compiled signature was
checked there: the argument types, in the source as a key, and for ``call_void`` a None return); it names
the module of every kernel that types a call (one returning a value) and, for numgrad's own kernel files, a
hash of their source, so a changed kernel never runs with a stale step.  It
holds no shapes, offsets, numbers or launch counts, so a step of another batch size, or another run with the
same kinds of steps, reuses it.

>>> fusable_step_kinds()
('kernel', 'fill', 'scalars from memory', 'result into 0-d array')
"""
from __future__ import annotations

import hashlib
import sys
from typing import Optional

import numba
import numpy as np
from numba.core.registry import CPUDispatcher

from ..kernels import cache
from . import plan as _plan
from . import native_calls as _native_calls
from . import views as _views
from .native_calls import native_address, returns_nothing, signature_key

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
_ARRAY_DTYPES = _SCALAR_NAMES + ("bool", "complex64", "complex128")


def _layout(a: np.ndarray) -> str:
    """The layout ``numba.typeof`` gives ``a``."""
    return "C" if a.flags.c_contiguous else "F" if a.flags.f_contiguous else "A"


class _Builder:
    """The source and the tables of one generated step function (see the module docstring).

    ``add`` encodes a step as its kind (a structural key: kernel, argument descriptors) and its operands
    (numbers appended to the tables); the source is written from the kinds alone.
    """

    def __init__(self, arena: Optional[np.ndarray] = None):
        self.arena = arena
        self.arena_owner = _plan.owner(arena) if arena is not None else None
        self.kinds: dict = {}  # kind key -> code
        self.codes: list = []  # the kind of every step, in order
        self.tables: dict = {"int64": []}  # dtype name -> operands (int64: kind codes first, see ``finish``)
        self.imports: dict = {}  # (module, attr) -> kernel variable
        self.passed: list = []  # values passed to the function: array owners, values no table holds
        self.passed_ids: dict = {}
        self.steps: list = []  # the steps added, as they were
        self.addresses: list = []  # where the int64 operands that are array data addresses lie (``finish``)

    # ------------------------------------------------------------ encoding a step
    def _pass(self, v) -> int:
        index = self.passed_ids.get(id(v))
        if index is None:
            index = self.passed_ids[id(v)] = len(self.passed)
            self.passed.append(v)
        return index

    def _operand(self, v, values: list):
        """The descriptor of operand ``v`` (its kind, part of the step's key); its numbers go to ``values``."""
        if type(v) is np.ndarray and v.dtype.name in _ARRAY_DTYPES and not v.dtype.metadata and v.flags.aligned:
            own = _plan.owner(v)
            self._pass(self.arena if own is self.arena_owner and self.arena is not None else own)
            values.append(("address", v.__array_interface__["data"][0]))
            values.extend(("int64", n) for n in v.shape + v.strides)
            return ("array", v.dtype.name, v.ndim, _layout(v), not v.flags.writeable)
        if type(v) is tuple:
            return ("tuple",) + tuple(self._operand(x, values) for x in v)
        if v is None:
            return ("none",)
        dtype = _number_dtype(v)
        if dtype is not None:
            values.append((dtype, v))
            return ("number", dtype)
        return ("passed", self._pass(v))

    def _kernel(self, dispatcher) -> Optional[str]:
        ref = _kernel_ref(dispatcher)
        if ref is None:
            return None
        if ref not in self.imports:
            self.imports[ref] = f"_k{len(self.imports)}"
        return self.imports[ref]

    def _key(self, fn, args, values: list) -> Optional[tuple]:
        if fn is np.copyto:
            arr, value = args
            if not isinstance(arr, np.ndarray) or not arr.flags.c_contiguous or _number_dtype(value) is None:
                return None
            arr_key = self._operand(arr, values)
            return ("fill", arr_key, self._operand(value, values)) if arr_key[0] == "array" else None
        unpacked = _unpack(fn, args)
        if unpacked is None:
            return None
        dispatcher, call_args, target, sources = unpacked
        # the types eager code dispatched on (a scalar read from memory as ``_ScalarsFromMemory`` reads it)
        read = dict(sources)
        try:
            argtypes = tuple(dispatcher.typeof_pyval(read[i].reshape(-1)[0] if i in read else a)
                             for i, a in enumerate(call_args))
        except Exception:  # noqa: BLE001 - an argument Numba cannot type: the launch loop calls it
            return None
        address = native_address(dispatcher, argtypes)
        if address is None:
            return None
        # a kernel returning nothing is called by its address alone (``call_void``): one kind serves every such
        # kernel with these argument types, so a size whose eager code picked a map's serial twin where another
        # size picked its parallel one generates the same source
        if target is None and returns_nothing(dispatcher, argtypes):
            k = None
        else:
            k = self._kernel(dispatcher)
            if k is None:
                return None
        # the operands in the order ``_kind_lines`` reads them: address, sources, arguments, target
        values.append(("int64", address))
        source_keys = tuple((position, self._operand(src, values)) for position, src in sources)
        if any(key[0] != "array" for _, key in source_keys):
            return None  # an array no view can be built of (unaligned, another dtype): the launch loop reads it
        arg_keys = tuple(("source",) if i in read else self._operand(a, values) for i, a in enumerate(call_args))
        target_key = None if target is None else self._operand(target, values)
        return ("kernel", k, signature_key(argtypes), arg_keys, source_keys, target_key)

    def add(self, fn, args) -> bool:
        """Encode one step; False (and nothing added) when a generated function cannot run it."""
        undo = (len(self.passed), dict(self.imports))
        values: list = []
        key = self._key(fn, args, values)
        if key is None:
            return self._refuse(undo)
        if key not in self.kinds and len(self.kinds) == MAX_KINDS_PER_FUNCTION:
            return self._refuse(undo)
        code = self.kinds.setdefault(key, len(self.kinds))
        self.codes.append(code)
        operands = self.tables["int64"]
        for dtype, v in values:
            if dtype == "address":
                self.addresses.append(len(operands))
                dtype = "int64"
            self.tables.setdefault(dtype, []).append(v)
        self.steps.append((fn, args))
        return True

    def _refuse(self, undo: tuple) -> bool:
        """Forget what encoding a refused step added (``undo``: the passed values' count and the imports before)."""
        for v in self.passed[undo[0]:]:
            del self.passed_ids[id(v)]
        del self.passed[undo[0]:]
        self.imports = undo[1]
        return False

    def address_positions(self) -> np.ndarray:
        """The positions in the int64 table ``finish`` makes of the array data addresses it holds."""
        return np.array(self.addresses, dtype=np.int64) + 1 + len(self.codes)

    def finish(self) -> tuple:
        """The arguments of the generated function: the tables, then the passed values."""
        tables = []
        for dtype, values in self.tables.items():
            if dtype == "int64":
                values = [len(self.codes)] + self.codes + values
            table = np.array(values, dtype=getattr(np, dtype))
            table.flags.writeable = False  # constants: verification never poisons them, no launch writes them
            tables.append(table)
        return tuple(tables) + tuple(self.passed)

    # ------------------------------------------------------------ the source
    def _expr(self, key: tuple, cursor: dict, lines: list, prefix: str) -> str:
        """The expression reading an operand of kind ``key`` from the tables (``cursor``: offsets read so far); an
        array is built into a local variable first (a line added to ``lines``, named ``prefix`` and a number)."""
        def take(dtype):
            offset = cursor.get(dtype, 0)
            cursor[dtype] = offset + 1
            return f"t_{dtype}[c_{dtype} + {offset}]" if offset else f"t_{dtype}[c_{dtype}]"

        tag = key[0]
        if tag == "array":
            _, dtype, ndim, layout, readonly = key
            offset = cursor.get("int64", 0)
            cursor["int64"] = offset + 1 + 2 * ndim  # address, shape, strides
            view = f"address_view_{layout.lower()}{'_readonly' if readonly else ''}"
            np_name = "np.bool_" if dtype == "bool" else f"np.{dtype}"
            # one name per kind and operand: Numba would unify one variable's types across branches
            name = f"{prefix}{sum(line.startswith(prefix) for line in lines)}"
            lines.append(f"{name} = {view}(t_int64, c_int64{f' + {offset}' if offset else ''}, {ndim}, {np_name})")
            return name
        if tag == "tuple":
            return _tuple([self._expr(k, cursor, lines, prefix) for k in key[1:]])
        if tag == "none":
            return "None"
        if tag == "number":
            return take(key[1])
        return f"v{key[1]}"  # passed

    def _kind_lines(self, code: int, key: tuple) -> list:
        cursor: dict = {}
        lines: list = []
        prefix = f"x{code}_"
        if key[0] == "fill":
            _, arr, value = key
            a, v = self._expr(arr, cursor, lines, prefix), self._expr(value, cursor, lines, prefix)
            lines.append(f"{a}[()] = {v}" if arr[2] == 0 else f"{a}.fill({v})")
        else:
            _, k, signature, arg_keys, source_keys, target_key = key
            address = self._expr(("number", "int64"), cursor, lines, prefix)
            names = {}
            for position, src in source_keys:
                names[position] = f"s{code}_{position}"
                index = ", ".join("0" for _ in range(src[2])) or "()"
                lines.append(f"{names[position]} = {self._expr(src, cursor, lines, prefix)}[{index}]")
            args = [names[i] if a == ("source",) else self._expr(a, cursor, lines, prefix)
                    for i, a in enumerate(arg_keys)]
            call = (f"call_void({hex(signature)}, {address}, {_tuple(args)})" if k is None else
                    f"call_compiled({k}, {hex(signature)}, {address}, {_tuple(args)})")
            lines.append(f"{self._expr(target_key, cursor, lines, prefix)}[()] = {call}" if target_key is not None
                         else call)
        lines.extend(f"c_{dtype} += {n}" for dtype, n in cursor.items())
        return lines

    def _dispatch(self, keys: list, lo: int, hi: int, indent: str) -> list:
        """Branches on ``op`` choosing kind ``lo`` .. ``hi - 1`` (a binary tree: log2(kinds) tests a step)."""
        if hi - lo == 1:
            return [indent + line for line in self._kind_lines(lo, keys[lo])]
        mid = (lo + hi) // 2
        return ([f"{indent}if op < {mid}:"] + self._dispatch(keys, lo, mid, indent + "    ")
                + [f"{indent}else:"] + self._dispatch(keys, mid, hi, indent + "    "))

    def source(self) -> str:
        head = ["import numpy as np", "from numba import njit",
                "from numgrad.compiler.native_calls import call_compiled, call_void  # source "
                f"{_module_hash(_native_calls)}",
                "from numgrad.compiler.views import address_view_a, address_view_a_readonly, address_view_c, "
                "address_view_c_readonly, address_view_f, address_view_f_readonly  # source "
                f"{_module_hash(_views)}"]
        aliases: dict = {}
        for module, _ in self.imports:
            if module not in aliases:
                aliases[module] = alias = f"_m{len(aliases)}"
                digest = _module_hash(sys.modules[module])
                head.append(f"import {module} as {alias}" + (f"  # source {digest}" if digest else ""))
        for (module, attr), var in self.imports.items():
            # a generated module's kernels are wrapped (kernels.cache._GuardedKernel): jitted code calls the dispatcher
            head.append(f"{var} = getattr({aliases[module]}.{attr}, 'dispatcher', {aliases[module]}.{attr})")
        params = [f"t_{dtype}" for dtype in self.tables] + [f"v{i}" for i in range(len(self.passed))]
        keys = list(self.kinds)
        body = ["c_int64 = t_int64[0] + 1"] + [f"c_{dtype} = 0" for dtype in self.tables if dtype != "int64"]
        body.append("for pc in range(1, t_int64[0] + 1):")
        if len(keys) > 1:
            body.append("    op = t_int64[pc]")
        body += self._dispatch(keys, 0, len(keys), "    ")
        return ("\n".join(head) + f"\n\n\n@njit(cache=True, nogil=True)\ndef step({', '.join(params)}):\n"
                + "\n".join("    " + line for line in body) + "\n")


def _tuple(items: list) -> str:
    return "(" + "".join(f"{x}, " for x in items) + ")"


# Numba's time on a generated function grows a little faster than its number of kinds of steps (2.9 s for 33
# kinds, 5.4 s for 64, on a busy 2-core machine): a run with more kinds is split, at one more native call each
MAX_KINDS_PER_FUNCTION = 64


def fuse_steps(steps: list, arena: Optional[np.ndarray] = None) -> tuple:
    """``steps`` with every run of two or more fusable steps replaced by one generated function, the generated
    sources (for ``explain``), and {index of a generated step: where its int64 table holds array data addresses}
    (``plan.Plan._move_to_new_memory`` moves them); ``arena`` (the plan's memory) is passed as the owner of its views."""
    out: list = []
    sources: list = []
    addresses: dict = {}
    builder = _Builder(arena)

    def flush():
        nonlocal builder
        if len(builder.steps) < 2:
            out.extend(builder.steps)
        else:
            source = builder.source()
            module = cache.load_module(source, prefix="step")
            args = builder.finish()
            # compiled (or loaded from the disk cache) here, so a failure falls back to the launch loop (``api._fuse``)
            module.step.compile(tuple(numba.typeof(a) for a in args))
            addresses[len(out)] = builder.address_positions()
            out.append((module.step, args))
            sources.append(source)
        builder = _Builder(arena)

    for fn, args in steps:
        if not builder.add(fn, args):
            flush()
            if not builder.add(fn, args):  # refused by a full function, a fresh one takes it
                flush()
                out.append((fn, args))
    flush()
    return out, sources, addresses

