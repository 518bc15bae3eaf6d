"""Regenerate ``numgrad/_torch_names.json``: PyTorch's documented public names per namespace.

Run once per PyTorch release with torch installed (numgrad itself never imports torch):

    python tools/gen_torch_names.py

The rules, per namespace (a name must be public, i.e. not start with ``_``):
- ``torch``: the lowercase callables of ``torch.__all__`` that carry a docstring, less the
  TorchScript/quantization/sparse/functionalization internals listed in ``_TORCH_INTERNAL``;
  plus the dtypes (``torch.float32``, ``torch.long``, ...) and the tensor types users construct
  (``Tensor``, ``FloatTensor``, ``Size``, ``Generator``, ``dtype``, ``device``).
- ``Tensor``: the public attributes of ``torch.Tensor`` with a docstring.
- ``nn``: the classes in ``torch.nn`` and its public submodules users import.
- ``nn.functional``: its functions defined by PyTorch (not re-exported helpers or typing names).
- ``optim``, ``optim.lr_scheduler``, ``utils.data``: their ``__all__``.

``out_arguments`` lists the ``torch`` functions whose ATen schema has an ``out=`` overload, with the number of
tensors ``out`` takes (``sort``: 2); ``numgrad/_out_arguments.py`` gives those names ``out=``.
"""
from __future__ import annotations

import inspect
import json
import os

import torch
import torch.nn.functional as F
import torch.optim.lr_scheduler
import torch.utils.data

_TORCH_INTERNAL_PREFIXES = ("sym_", "quantize", "quantized_", "fake_quantize", "sparse_", "import_ir_module",
                            "parse_", "native_", "unsafe_")
_TORCH_INTERNAL = {"fork", "wait", "merge_type_from_type_comment", "unify_type_list", "thread_safe_generator",
                   "dequantize", "hspmm", "smm", "sspaddmm", "conv_tbc", "cond", "is_storage", "hash_tensor",
                   "set_default_tensor_type", "from_file", "lobpcg", "init_num_threads"}
_TENSOR_TYPES = ["Tensor", "FloatTensor", "DoubleTensor", "HalfTensor", "BFloat16Tensor", "LongTensor", "IntTensor",
                 "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor", "Size", "Generator", "dtype", "device"]
_SUB_BYTE_INTS = {f"int{k}" for k in range(1, 8)} | {"bit"}
_F_HELPERS = {"assert_int_or_pair", "boolean_dispatch", "handle_torch_function", "has_torch_function",
              "has_torch_function_unary", "has_torch_function_variadic", "grad"}


def _documented(obj) -> bool:
    return bool((getattr(obj, "__doc__", None) or "").strip())


def torch_names() -> list:
    names = []
    for n in torch.__all__:
        obj = getattr(torch, n, None)
        if n.startswith("_") or not n[0].islower() or not callable(obj) or not _documented(obj):
            continue
        if n in _TORCH_INTERNAL or n.startswith(_TORCH_INTERNAL_PREFIXES) or n.endswith("_copy"):
            continue
        names.append(n)
    names += [n for n in dir(torch) if not n.startswith("_") and isinstance(getattr(torch, n), torch.dtype)
              and not n.startswith(("q", "complex", "c", "float8", "float4", "uint", "bits"))
              and n not in _SUB_BYTE_INTS]
    names.append("uint8")
    names += _TENSOR_TYPES
    return sorted(set(names))


def tensor_names() -> list:
    out = []
    for n in dir(torch.Tensor):
        if n.startswith("_"):
            continue
        try:
            obj = getattr(torch.Tensor, n)
        except Exception:  # some descriptors raise on the class
            continue
        if _documented(obj):
            out.append(n)
    return sorted(out)


def nn_names() -> list:
    out = [n for n in dir(torch.nn) if not n.startswith("_") and inspect.isclass(getattr(torch.nn, n))]
    return sorted(out + ["functional", "init", "utils", "parallel", "modules"])


def functional_names() -> list:
    out = []
    for n in dir(F):
        obj = getattr(F, n)
        if n.startswith("_") or n in _F_HELPERS or inspect.ismodule(obj) or inspect.isclass(obj):
            continue
        if not callable(obj) or not _documented(obj) or n.startswith(("Broadcasting", "scaled_", "grouped_mm")):
            continue
        if getattr(obj, "__module__", "") in ("typing", "collections.abc", "torch._jit_internal", "torch.overrides"):
            continue
        out.append(n)
    return sorted(out)


def out_arguments(names: list) -> dict:
    """name -> the number of ``out`` tensors of its ``out=`` overloads (the most, when they differ: ``max``'s
    ``(values, indices)``), for the ``torch`` functions whose ATen schemas have one."""
    found = {}
    for n in names:
        if n.endswith("_"):
            continue
        try:
            schemas = torch._C._jit_get_schemas_for_operator("aten::" + n)
        except RuntimeError:
            continue
        counts = [sum(1 for a in s.arguments if a.is_out) for s in schemas]
        if any(counts):
            found[n] = max(counts)
    return found


def main() -> None:
    torch_public = torch_names()
    data = {
        "torch_version": torch.__version__,
        "namespaces": {
            "torch": torch_public,
            "Tensor": tensor_names(),
            "nn": nn_names(),
            "nn.functional": functional_names(),
            "optim": sorted(n for n in torch.optim.__all__ if not n.startswith("_")),
            "optim.lr_scheduler": sorted(n for n in torch.optim.lr_scheduler.__all__ if not n.startswith("_")),
            "utils.data": sorted(n for n in torch.utils.data.__all__ if not n.startswith("_")),
        },
        "out_arguments": out_arguments(torch_public),
    }
    path = os.path.join(os.path.dirname(__file__), "..", "numgrad", "_torch_names.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=False)
        f.write("\n")
    print(path, {k: len(v) for k, v in data["namespaces"].items()})


if __name__ == "__main__":
    main()
