"""Arrays built inside generated step functions from a data address, a shape and strides read from a table.

A generated step (``codegen``) runs its launches as a loop over a table of numbers: every array a launch
passes is rebuilt from its data address, shape and strides (``ndim`` of each) at ``table[offset:]``, at the
cost of filling one array struct (one call in the source: Numba types and lowers one call instead of an
indexing per number).
Numba's own ways to build a view cost 60-140 ns each (``arr[lo:hi].view(dt).reshape(shape)`` calls a
reshape helper; ``as_strided`` types its result ``'A'``, which would compile another signature of every
kernel).  ``address_view_<layout>[_readonly]`` type the array as ``numba.typeof`` types the recorded one
(layout ``'C'``, ``'F'`` or ``'A'``, read-only or not), so the kernels run the signatures eager code
compiled.  The array borrows the memory (no meminfo): the caller keeps the memory alive.

>>> import numpy as np
>>> from numba import njit
>>> @njit
... def first_row(table):
...     return address_view_c(table, 1, 2, np.float32)[0].copy()
>>> a = np.arange(4, dtype=np.float32)
>>> first_row(np.array([-1, a.ctypes.data, 2, 2, 8, 4]))
array([0., 1.], dtype=float32)
"""
from __future__ import annotations

from numba.core import types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array


def _address_view(layout: str, readonly: bool):
    @intrinsic
    def view(typingctx, table, offset, ndim, dtype):
        if not (isinstance(table, types.Array) and table.ndim == 1 and table.dtype == types.int64
                and isinstance(offset, types.Integer) and isinstance(ndim, types.IntegerLiteral)
                and isinstance(dtype, types.NumberClass)):
            return None
        n = ndim.literal_value
        result = types.Array(dtype.instance_type, n, layout, readonly=readonly)

        def codegen(context, builder, signature, args):
            table_value, offset_value, _, _ = args
            src = make_array(signature.args[0])(context, builder, table_value)
            start = context.cast(builder, offset_value, signature.args[1], types.intp)
            entries = [builder.load(builder.gep(src.data, [builder.add(start, start.type(i))]))
                       for i in range(1 + 2 * n)]
            out = make_array(result)(context, builder)
            data = builder.inttoptr(entries[0], out.data.type)
            itemsize = context.get_constant(types.intp, context.get_abi_sizeof(context.get_data_type(result.dtype)))
            populate_array(out, data=data, shape=entries[1:1 + n], strides=entries[1 + n:], itemsize=itemsize,
                           meminfo=None)
            return impl_ret_borrowed(context, builder, result, out._getvalue())

        return result(table, offset, ndim, dtype), codegen

    return view


address_view_c = _address_view("C", False)
address_view_f = _address_view("F", False)
address_view_a = _address_view("A", False)
address_view_c_readonly = _address_view("C", True)
address_view_f_readonly = _address_view("F", True)
address_view_a_readonly = _address_view("A", True)
