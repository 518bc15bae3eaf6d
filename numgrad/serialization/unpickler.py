"""A pickle reader that never executes code: PyTorch's ``weights_only`` rules, without torch.

The pickle in a PyTorch checkpoint is a program for a stack machine.  Python's
own ``pickle`` runs it, and its ``GLOBAL``/``REDUCE`` instructions can call
any function (``os.system``...).  This module interprets the instructions
itself (as ``torch/_weights_only_unpickler.py`` does): ``GLOBAL`` resolves only
names on an allow-list, to numgrad's stand-ins for them (tensor rebuild
functions that make numgrad tensors, storage types, dtypes, ``torch.Size``,
``torch.device``, ``collections.OrderedDict``...), and ``REDUCE``/``NEWOBJ``/
``BUILD`` apply only to those.  Anything else is refused with PyTorch's
message, which says how to opt in (``weights_only=False``) for a trusted file.

Every malformed stream (truncated, a stack underflow, a bad memo reference, a
wrong argument type) raises ``pickle.UnpicklingError`` naming the problem; no
Python exception from inside the interpreter reaches the caller.
"""
from __future__ import annotations

import _compat_pickle
import codecs
import pickle
import struct
from collections import Counter, OrderedDict
from typing import Any, Callable, Dict

UNSAFE_MESSAGE = (
    "In PyTorch 2.6 (and numgrad), the default value of the `weights_only` argument of `load` is `True`. "
    "Re-running `numgrad.load` with `weights_only=False` will likely succeed, but it can result in arbitrary "
    "code execution. Do it only if you got the file from a trusted source."
)

_BLOCKED_MODULES = ("sys", "os", "posix", "nt", "subprocess", "builtins.eval", "builtins.exec")

# the opcodes a checkpoint uses (protocol 2, PyTorch's default), plus the data-only ones of protocols 3-5
_OP = {name: getattr(pickle, name)[0] for name in (
    "PROTO", "STOP", "GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD", "NEWOBJ", "MARK", "POP", "POP_MARK", "DUP",
    "NONE", "NEWTRUE", "NEWFALSE", "BININT", "BININT1", "BININT2", "LONG1", "LONG4", "BINFLOAT",
    "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "SHORT_BINSTRING", "BINSTRING", "SHORT_BINBYTES",
    "BINBYTES", "BINBYTES8", "BYTEARRAY8", "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
    "EMPTY_LIST", "APPEND", "APPENDS", "EMPTY_DICT", "SETITEM", "SETITEMS", "EMPTY_SET", "ADDITEMS",
    "FROZENSET", "BINPERSID", "BINGET", "LONG_BINGET", "BINPUT", "LONG_BINPUT", "MEMOIZE", "FRAME",
)}
_NAME = {code: name for name, code in _OP.items()}


def unsupported_global(full_path: str) -> pickle.UnpicklingError:
    """PyTorch's error for a name that is not on the allow-list (its text, numgrad's function names)."""
    return pickle.UnpicklingError(
        "Weights only load failed. This file can still be loaded, to do so you have two options, do those "
        f"steps only if you trust the source of the checkpoint.\n\t(1) {UNSAFE_MESSAGE}\n\t(2) Alternatively, "
        "save only tensors, numbers, strings and containers of those (e.g. `model.state_dict()` instead of the "
        "model), which load with `weights_only=True`.\n\tWeightsUnpickler error: Unsupported global: GLOBAL "
        f"{full_path} was not an allowed global by default."
    )


class Unpickler:
    """Runs a pickle stream with only ``allowed`` globals (full name -> object) callable.

    ``persistent_load(pid)`` turns a ``BINPERSID`` id (PyTorch's storage
    tuples) into an object; ``constructors`` are the allowed objects that
    ``NEWOBJ`` may instantiate (class -> factory), ``builders`` those that
    ``BUILD`` may update (type -> function(inst, state)), ``reducible`` the
    allowed globals ``REDUCE`` may call (default: all of them).

    >>> import io, pickle
    >>> Unpickler(io.BytesIO(pickle.dumps({"a": [1, 2.5, "x"]}, protocol=2)), {}).load()
    {'a': [1, 2.5, 'x']}
    """

    def __init__(self, file, allowed: Dict[str, Any], persistent_load: Callable = None,
                 constructors: Dict[Any, Callable] = None, builders: Dict[type, Callable] = None,
                 reducible: Dict[str, Any] = None):
        self._read = file.read
        self._readline = file.readline
        self.allowed = allowed
        self.persistent_load = persistent_load
        self.constructors = constructors or {}
        self.builders = builders or {}
        self.memo: Dict[int, Any] = {}
        self._known = {id(v) for v in allowed.values()}
        # what REDUCE may call: by default every allowed global (a class such as Tensor is only for NEWOBJ)
        self._callable = {id(v) for v in (reducible if reducible is not None else allowed).values()}

    # ------------------------------------------------------------ input
    def read(self, n: int) -> bytes:
        data = self._read(n)
        if len(data) != n:
            raise pickle.UnpicklingError("the pickle is truncated (it ends inside an instruction)")
        return data

    def readline(self) -> bytes:
        line = self._readline()
        if not line.endswith(b"\n"):
            raise pickle.UnpicklingError("the pickle is truncated (a GLOBAL name has no end of line)")
        return line[:-1]

    # ------------------------------------------------------------ the interpreter
    def load(self) -> Any:
        try:
            return self._load()
        except pickle.UnpicklingError:
            raise
        except (IndexError, KeyError, TypeError, ValueError, AttributeError, struct.error, UnicodeDecodeError,
                OverflowError, MemoryError, RecursionError) as exc:
            raise pickle.UnpicklingError(f"malformed pickle ({type(exc).__name__}: {exc})") from None

    def _global(self, module: str, name: str):
        # protocol 2 spells Python 2's names (``__builtin__.set``): map them as pickle's fix_imports does
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        full = f"{module}.{name}"
        if full in self.allowed:
            return self.allowed[full]
        if module.split(".")[0] in _BLOCKED_MODULES or full in _BLOCKED_MODULES:
            raise pickle.UnpicklingError(
                f"Trying to load unsupported GLOBAL {full} whose module {module} is blocked.")
        raise unsupported_global(full)

    def _load(self) -> Any:
        stack: list = []
        metastack: list = []
        memo = self.memo
        read, op = self.read, _OP
        while True:
            key = self._read(1)
            if not key:
                raise pickle.UnpicklingError("the pickle is truncated (no STOP instruction)")
            code = key[0]
            if code == op["PROTO"]:
                read(1)
            elif code == op["FRAME"]:
                read(8)
            elif code == op["STOP"]:
                if len(stack) != 1 or metastack:
                    raise pickle.UnpicklingError("malformed pickle: STOP with an unbalanced stack")
                return stack.pop()
            elif code == op["GLOBAL"]:
                module = self.readline().decode("utf-8")
                name = self.readline().decode("utf-8")
                stack.append(self._global(module, name))
            elif code == op["STACK_GLOBAL"]:
                name, module = stack.pop(), stack.pop()
                if type(module) is not str or type(name) is not str:
                    raise pickle.UnpicklingError("STACK_GLOBAL needs two strings")
                stack.append(self._global(module, name))
            elif code == op["REDUCE"]:
                args = stack.pop()
                func = stack[-1]
                if id(func) not in self._callable or type(args) is not tuple:
                    raise pickle.UnpicklingError(f"Trying to call reduce for unrecognized function {func!r}")
                stack[-1] = func(*args)
            elif code == op["NEWOBJ"]:
                args = stack.pop()
                cls = stack.pop()
                factory = self.constructors.get(cls) if id(cls) in self._known else None
                if factory is None or type(args) is not tuple:
                    raise pickle.UnpicklingError(
                        f"Can only create new object for nn.Parameter or allowlisted classes, but got {cls!r}")
                stack.append(factory(*args))
            elif code == op["BUILD"]:
                state = stack.pop()
                inst = stack[-1]
                builder = self.builders.get(type(inst))
                if builder is None:
                    raise pickle.UnpicklingError(
                        f"Can only build OrderedDict or allowlisted types, but got {type(inst).__name__}")
                builder(inst, state)
            elif code == op["MARK"]:
                metastack.append(stack)
                stack = []
            elif code == op["POP"]:
                if stack:
                    stack.pop()
                else:
                    stack = metastack.pop()
            elif code == op["POP_MARK"]:
                stack = metastack.pop()
            elif code == op["DUP"]:
                stack.append(stack[-1])
            elif code == op["NONE"]:
                stack.append(None)
            elif code == op["NEWTRUE"]:
                stack.append(True)
            elif code == op["NEWFALSE"]:
                stack.append(False)
            elif code == op["BININT"]:
                stack.append(struct.unpack("<i", read(4))[0])
            elif code == op["BININT1"]:
                stack.append(read(1)[0])
            elif code == op["BININT2"]:
                stack.append(struct.unpack("<H", read(2))[0])
            elif code == op["LONG1"]:
                stack.append(pickle.decode_long(read(read(1)[0])))
            elif code == op["LONG4"]:
                n = struct.unpack("<i", read(4))[0]
                if n < 0:
                    raise pickle.UnpicklingError("LONG4 with a negative byte count")
                stack.append(pickle.decode_long(read(n)))
            elif code == op["BINFLOAT"]:
                stack.append(struct.unpack(">d", read(8))[0])
            elif code == op["BINUNICODE"]:
                stack.append(str(read(struct.unpack("<I", read(4))[0]), "utf-8", "surrogatepass"))
            elif code == op["SHORT_BINUNICODE"]:
                stack.append(str(read(read(1)[0]), "utf-8", "surrogatepass"))
            elif code == op["BINUNICODE8"]:
                stack.append(str(read(struct.unpack("<Q", read(8))[0]), "utf-8", "surrogatepass"))
            elif code == op["SHORT_BINSTRING"]:
                stack.append(read(read(1)[0]).decode("latin1"))
            elif code == op["BINSTRING"]:
                n = struct.unpack("<i", read(4))[0]
                if n < 0:
                    raise pickle.UnpicklingError("BINSTRING with a negative length")
                stack.append(read(n).decode("latin1"))
            elif code == op["SHORT_BINBYTES"]:
                stack.append(read(read(1)[0]))
            elif code == op["BINBYTES"]:
                stack.append(read(struct.unpack("<I", read(4))[0]))
            elif code == op["BINBYTES8"]:
                stack.append(read(struct.unpack("<Q", read(8))[0]))
            elif code == op["BYTEARRAY8"]:
                stack.append(bytearray(read(struct.unpack("<Q", read(8))[0])))
            elif code == op["EMPTY_TUPLE"]:
                stack.append(())
            elif code == op["TUPLE"]:
                items = stack
                stack = metastack.pop()
                stack.append(tuple(items))
            elif code == op["TUPLE1"]:
                stack[-1] = (stack[-1],)
            elif code == op["TUPLE2"]:
                if len(stack) < 2:
                    raise pickle.UnpicklingError("malformed pickle: TUPLE2 on a short stack")
                stack[-2:] = [(stack[-2], stack[-1])]
            elif code == op["TUPLE3"]:
                if len(stack) < 3:
                    raise pickle.UnpicklingError("malformed pickle: TUPLE3 on a short stack")
                stack[-3:] = [(stack[-3], stack[-2], stack[-1])]
            elif code == op["EMPTY_LIST"]:
                stack.append([])
            elif code == op["APPEND"]:
                item = stack.pop()
                _check_type(stack[-1], list, "APPEND")
                stack[-1].append(item)
            elif code == op["APPENDS"]:
                items = stack
                stack = metastack.pop()
                _check_type(stack[-1], list, "APPENDS")
                stack[-1].extend(items)
            elif code == op["EMPTY_DICT"]:
                stack.append({})
            elif code == op["SETITEM"]:
                value, key_ = stack.pop(), stack.pop()
                _check_type(stack[-1], (dict, OrderedDict, Counter), "SETITEM")
                stack[-1][key_] = value
            elif code == op["SETITEMS"]:
                items = stack
                stack = metastack.pop()
                _check_type(stack[-1], (dict, OrderedDict, Counter), "SETITEMS")
                if len(items) % 2:
                    raise pickle.UnpicklingError("malformed pickle: SETITEMS with an odd number of items")
                target = stack[-1]
                for i in range(0, len(items), 2):
                    target[items[i]] = items[i + 1]
            elif code == op["EMPTY_SET"]:
                stack.append(set())
            elif code == op["ADDITEMS"]:
                items = stack
                stack = metastack.pop()
                _check_type(stack[-1], set, "ADDITEMS")
                stack[-1].update(items)
            elif code == op["FROZENSET"]:
                items = stack
                stack = metastack.pop()
                stack.append(frozenset(items))
            elif code == op["BINPERSID"]:
                pid = stack.pop()
                if self.persistent_load is None:
                    raise pickle.UnpicklingError("unsupported persistent id encountered")
                stack.append(self.persistent_load(pid))
            elif code == op["BINGET"]:
                stack.append(memo[read(1)[0]])
            elif code == op["LONG_BINGET"]:
                stack.append(memo[struct.unpack("<I", read(4))[0]])
            elif code == op["BINPUT"]:
                memo[read(1)[0]] = stack[-1]
            elif code == op["LONG_BINPUT"]:
                memo[struct.unpack("<I", read(4))[0]] = stack[-1]
            elif code == op["MEMOIZE"]:
                memo[len(memo)] = stack[-1]
            else:
                raise pickle.UnpicklingError(f"Unsupported operand {code} ({_NAME.get(code, 'unknown opcode')})")


def _check_type(obj, types, opcode: str) -> None:
    if not isinstance(obj, types) or (types is list and type(obj) is not list):
        raise pickle.UnpicklingError(f"Can only {opcode} into a list/dict/set, but got {type(obj).__name__}")


def encode(text, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode``, which protocol-2 pickles use to spell ``bytes``; text codecs only."""
    if type(text) is not str or encoding not in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        raise pickle.UnpicklingError(f"_codecs.encode only for str with a text encoding, not {encoding!r}")
    return codecs.encode(text, encoding, errors)


def _bytearray(data=b"", *encoding):
    """``bytearray`` from bytes or text only (an int would allocate that many bytes)."""
    if isinstance(data, (bytes, bytearray)) and not encoding:
        return bytearray(data)
    if isinstance(data, str) and len(encoding) == 1:
        return bytearray(encode(data, encoding[0]))
    raise pickle.UnpicklingError("bytearray only from bytes or (str, encoding)")


def build_ordered_dict(inst, state) -> None:
    """``BUILD`` on an OrderedDict: its attributes (a state_dict's ``_metadata``)."""
    if not isinstance(state, dict) or not all(type(k) is str and not k.startswith("__") for k in state):
        raise pickle.UnpicklingError("an OrderedDict's state must be a dict of attribute names")
    inst.__dict__.update(state)


def base_allowed() -> Dict[str, Any]:
    """The globals a checkpoint may name that are plain Python (PyTorch's allow-list, less torch's own)."""
    return {
        "collections.OrderedDict": OrderedDict,
        "collections.Counter": Counter,
        "_codecs.encode": encode,
        "builtins.bytearray": _bytearray,
        "builtins.set": set,
        "builtins.frozenset": frozenset,
        "builtins.complex": complex,
    }
