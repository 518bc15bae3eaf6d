"""Views of a plan's arena built inside generated step functions, at the cost of filling one array struct.

A replay passes the plan's arena to its generated function once; every buffer the launches use is
a view of it at a fixed byte offset.  Numba's own ways to build such a view cost 60-140 ns each
(``arr[lo:hi].view(dt).reshape(shape)`` calls a reshape helper; ``as_strided`` types its result
``'A'``, which would compile another signature of every kernel), as much as passing the array in.
``arena_view_c``/``arena_view_a`` write the array struct directly (data pointer, shape, strides,
the arena's meminfo) and type it ``'C'`` or ``'A'`` like ``numba.typeof`` types the recorded
array, so the kernels run the signatures eager code compiled.

>>> import numpy as np
>>> from numba import njit
>>> @njit
... def first_row(arena):
...     return arena_view_c(arena, 8, (2, 2), (8, 4), np.float32)[0]
>>> arena = np.zeros(32, np.uint8)
>>> arena[8:24].view(np.float32)[:] = [1, 2, 3, 4]
>>> first_row(arena)
array([1., 2.], dtype=float32)
"""
from __future__ import annotations

from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array


def _intp_values(context, builder, tuple_type, value) -> list:
    items = cgutils.unpack_tuple(builder, value, len(tuple_type))
    return [context.cast(builder, v, t, types.intp) for v, t in zip(items, tuple_type)]


def _arena_view(layout: str):
    @intrinsic
    def view(typingctx, arena, offset, shape, strides, dtype):
        if not (isinstance(arena, types.Array) and isinstance(shape, types.BaseTuple)
                and isinstance(strides, types.BaseTuple) and len(shape) == len(strides) and len(shape) > 0
                and isinstance(dtype, types.NumberClass)):
            return None
        result = types.Array(dtype.instance_type, len(shape), layout)

        def codegen(context, builder, signature, args):
            arena_value, offset_value, shape_value, strides_value, _ = args
            src = make_array(signature.args[0])(context, builder, arena_value)
            out = make_array(result)(context, builder)
            start = context.cast(builder, offset_value, signature.args[1], types.intp)
            data = builder.bitcast(builder.gep(builder.bitcast(src.data, cgutils.voidptr_t), [start]),
                                   out.data.type)
            itemsize = context.get_constant(types.intp, context.get_abi_sizeof(context.get_data_type(result.dtype)))
            populate_array(out, data=data, shape=_intp_values(context, builder, signature.args[2], shape_value),
                           strides=_intp_values(context, builder, signature.args[3], strides_value),
                           itemsize=itemsize, meminfo=src.meminfo)
            return impl_ret_borrowed(context, builder, result, out._getvalue())

        return result(arena, offset, shape, strides, dtype), codegen

    return view


arena_view_c = _arena_view("C")
arena_view_a = _arena_view("A")
