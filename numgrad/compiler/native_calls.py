"""Calls from generated step functions to kernels' compiled code through its address, without linking it in.

When jitted code calls a Numba dispatcher, Numba links the kernel's LLVM module into the caller's and
optimizes and compiles it again, so a generated step that calls 60 kernels spends most of its compile
time recompiling them.  ``call_compiled(kernel, signature_key, address, args)`` types the call as a call
of ``kernel`` (the same overload, the same return type) and lowers it as a call through ``address``, the
kernel's compiled function in this process (``native_address``, read from a table at run time, so the
step's cached machine code holds no address).  ``signature_key`` (a constant in the source) must be the
``signature_key`` of the argument types: a step whose arguments Numba types otherwise than the table's
address was taken for does not compile, so no call ever goes to a function of another signature.

>>> import numpy as np
>>> from numba import njit, typeof
>>> @njit
... def double(a):
...     a *= 2
>>> a = np.ones(3)
>>> double(a)
>>> key = signature_key((typeof(a),))
>>> address = native_address(double, (typeof(a),))
>>> @njit
... def through(a, address):
...     call_compiled(double, key, address, (a,))  # a constant (generated sources write it in hex)
>>> through(a, address); a
array([4., 4., 4.])

A kernel that returns nothing (most of them: they write into arrays) is called with ``call_void(key,
address, args)``, typed from the arguments alone: the caller names no kernel, so one call site serves every
such kernel with those argument types (a map kernel's serial and parallel twins, which eager code picks
by size, and any other), and the table's address says which runs.  Its callers check that the address
is a kernel returning nothing (``returns_nothing``): Numba's calling convention then depends on the
argument types only.

>>> returns_nothing(double, (typeof(a),))
True
>>> @njit
... def through_void(a, address):
...     call_void(key, address, (a,))
>>> through_void(a, address); a
array([8., 8., 8.])
"""
from __future__ import annotations

import hashlib
from typing import Optional

from numba.core import cgutils, types
from numba.core.imputils import impl_ret_new_ref
from numba.extending import intrinsic


def signature_key(argtypes: tuple) -> int:
    """A number (60 bits) naming the Numba argument types ``argtypes`` in every process."""
    return int(hashlib.sha256(repr(tuple(argtypes)).encode()).hexdigest()[:15], 16)


def native_address(dispatcher, argtypes: tuple) -> Optional[int]:
    """The address of ``dispatcher``'s compiled function for exactly ``argtypes`` (Numba's calling convention),
    or None when it has no such overload."""
    compiled = dispatcher.overloads.get(tuple(argtypes))
    if compiled is None:
        return None
    return compiled.library.get_pointer_to_function(compiled.fndesc.mangled_name) or None


def returns_nothing(dispatcher, argtypes: tuple) -> bool:
    """Whether ``dispatcher``'s compiled function for exactly ``argtypes`` returns None (``call_void`` calls it)."""
    compiled = dispatcher.overloads.get(tuple(argtypes))
    return compiled is not None and compiled.signature.return_type == types.none


def _call_lowering(restype, argtypes: tuple, address_type):
    """The lowering of a call of the compiled function at an address (the intrinsics' third argument)."""
    def codegen(context, builder, sig, llargs):
        address_value, args_value = llargs[-2:]
        values = cgutils.unpack_tuple(builder, args_value, len(argtypes))
        fnty = context.call_conv.get_function_type(restype, argtypes)
        pointer = builder.inttoptr(context.cast(builder, address_value, address_type, types.intp), fnty.as_pointer())
        status, result = context.call_conv.call_function(builder, pointer, restype, argtypes, values)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return impl_ret_new_ref(context, builder, restype, result)

    return codegen


@intrinsic
def call_void(typingctx, key, address, args):
    if not (isinstance(key, types.IntegerLiteral) and isinstance(address, types.Integer)
            and isinstance(args, types.BaseTuple)):
        return None
    argtypes = tuple(args)
    if signature_key(argtypes) != key.literal_value:
        return None
    return types.none(key, address, args), _call_lowering(types.none, argtypes, address)


@intrinsic
def call_compiled(typingctx, kernel, key, address, args):
    if not (isinstance(kernel, types.Dispatcher) and isinstance(key, types.IntegerLiteral)
            and isinstance(address, types.Integer) and isinstance(args, types.BaseTuple)):
        return None
    argtypes = tuple(args)
    if signature_key(argtypes) != key.literal_value:
        return None
    signature = kernel.get_call_type(typingctx, argtypes, {})
    if signature is None or tuple(signature.args) != argtypes:
        return None
    restype = signature.return_type
    return restype(kernel, key, address, args), _call_lowering(restype, argtypes, address)
