"""Arrays built inside generated step functions from a data address, a shape and strides read from a table.

A generated step (``codegen``) runs its launches as a loop over a table of numbers: every array a launch
passes is rebuilt from its data address, shape and strides, at the cost of filling one array struct.
Numba's own ways to build a view cost 60-140 ns each (``arr[lo:hi].view(dt).reshape(shape)`` calls a
reshape helper; ``as_strided`` types its result ``'A'``, which would compile another signature of every
kernel).  ``address_view_<layout>[_readonly]`` type the array as ``numba.typeof`` types the recorded one
(layout ``'C'``, ``'F'`` or ``'A'``, read-only or not), so the kernels run the signatures eager code
compiled.  The array borrows the memory (no meminfo): the caller keeps the memory alive.

>>> import numpy as np
>>> from numba import njit
>>> @njit
... def first_row(address):
...     return address_view_c(address, (2, 2), (8, 4), np.float32)[0].copy()
>>> a = np.arange(4, dtype=np.float32)
>>> first_row(a.ctypes.data)
array([0., 1.], dtype=float32)
"""
from __future__ import annotations

from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array


def _intp_values(context, builder, tuple_type, value) -> list:
    items = cgutils.unpack_tuple(builder, value, len(tuple_type))
    return [context.cast(builder, v, t, types.intp) for v, t in zip(items, tuple_type)]


def _address_view(layout: str, readonly: bool):
    @intrinsic
    def view(typingctx, address, shape, strides, dtype):
        if not (isinstance(address, types.Integer) and isinstance(shape, types.BaseTuple)
                and isinstance(strides, types.BaseTuple) and len(shape) == len(strides)
                and all(isinstance(t, types.Integer) for t in tuple(shape) + tuple(strides))
                and isinstance(dtype, types.NumberClass)):
            return None
        result = types.Array(dtype.instance_type, len(shape), layout, readonly=readonly)

        def codegen(context, builder, signature, args):
            address_value, shape_value, strides_value, _ = args
            out = make_array(result)(context, builder)
            data = builder.inttoptr(context.cast(builder, address_value, signature.args[0], types.intp),
                                    out.data.type)
            itemsize = context.get_constant(types.intp, context.get_abi_sizeof(context.get_data_type(result.dtype)))
            populate_array(out, data=data, shape=_intp_values(context, builder, signature.args[1], shape_value),
                           strides=_intp_values(context, builder, signature.args[2], strides_value),
                           itemsize=itemsize, meminfo=None)
            return impl_ret_borrowed(context, builder, result, out._getvalue())

        return result(address, shape, strides, dtype), codegen

    return view


address_view_c = _address_view("C", False)
address_view_f = _address_view("F", False)
address_view_a = _address_view("A", False)
address_view_c_readonly = _address_view("C", True)
address_view_f_readonly = _address_view("F", True)
address_view_a_readonly = _address_view("A", True)
