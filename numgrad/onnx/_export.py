"""``numgrad.onnx.export``: run the model once on example inputs, read the recorded graph, write ONNX.

The forward pass runs with grad recording on and every floating-point input
turned into a leaf that requires grad, so every op that touches an input or
a parameter records a node: elementwise ops an ``ElementwiseNode`` (its row,
operands and parameters), other ops a ``FunctionNode`` whose call arguments a
hook in ``Function.apply`` (``autograd.function.RECORD_HOOKS``) hands to the
tracer. Walking the nodes from the outputs back, in recording order, gives
the ONNX graph; tensors no recorded op produced are constants (parameters and
buffers named by the module's ``state_dict`` keys, as PyTorch's exporter does).
"""
from __future__ import annotations

import enum
import inspect
import threading
import warnings
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np

from ..autograd.function import RECORD_HOOKS, AccumulateGrad, FunctionNode
from ..autograd.grad_mode import enable_grad
from ..fusion.lazy import pending_op
from ..fusion.state import is_fusion_enabled, set_fusion
from ..nn.functional.regularization import _Dropout
from ..nn.modules.module import Module
from ..ops.elementwise import ElementwiseNode
from ..creation import tensor
from ..tensor import Tensor
from . import _graph
from ._elementwise import ELEMENTWISE_RULES
from ._functions import FUNCTION_RULES, ROW_PRESERVING
from .errors import OnnxExporterError, UnsupportedOperatorError


class TrainingMode(enum.IntEnum):
    """The mode a model is exported in (``torch.onnx.TrainingMode``): EVAL (default), PRESERVE or TRAINING."""

    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


_exporting = [False]


def is_in_onnx_export() -> bool:
    """Whether a ``numgrad.onnx.export`` call is running (models may branch on it, as with PyTorch).

    >>> import numgrad as ng
    >>> ng.onnx.is_in_onnx_export()
    False
    """
    return _exporting[0]


class _Recorder:
    """The call arguments of every FunctionNode recorded on this thread while it is installed."""

    def __init__(self):
        self.calls: dict = {}  # id(node) -> (node, args, kwargs); the node is kept so its id stays unique
        self.thread = threading.get_ident()

    def __call__(self, node, args, kwargs) -> None:
        if threading.get_ident() == self.thread:
            self.calls[id(node)] = (node, args, kwargs)

    def __enter__(self):
        RECORD_HOOKS.append(self)
        return self

    def __exit__(self, *exc):
        RECORD_HOOKS.remove(self)


class _Lowering:
    """Turns the recorded graph into ONNX nodes through a ``GraphBuilder``."""

    def __init__(self, builder, inputs: dict, names: dict, export_params: bool, calls: dict):
        self.b = builder
        self.inputs = inputs  # id(tensor) -> graph input name
        self.names = names  # id(tensor) -> state_dict key
        self.export_params = export_params
        self.calls = calls
        self.values: dict = {}  # (id(node), output_nr) -> value name
        self.constants: dict = {}  # id(tensor) -> value name
        self.param_inputs: list = []  # parameters that are graph inputs (export_params=False)
        self._keep: list = []  # tensors whose ids key self.constants
        self._node = None
        self._args = ()
        self._current = "the outputs"  # what is being lowered, for error messages
        self.lowered: list = []  # node names in lowering order
        self.constant_log: list = []  # (node name, value) of every anonymous constant

    # ------------------------------------------------------------------ values
    def tensor_value(self, t: Tensor) -> str:
        """A tensor no recorded op produced: a graph input, a parameter or buffer, or a constant."""
        key = id(t)
        name = self.inputs.get(key)
        if name is not None:
            return name
        name = self.constants.get(key)
        if name is not None:
            return name
        state_name = self.names.get(key)
        lazy = pending_op(t) if state_name is None else None
        if lazy is not None:
            # an elementwise op that records no graph node (a comparison, a logical op, an op on tensors that
            # need no gradient) whose value is still pending: its recorded row and operands are exported
            name = self._elementwise(lazy.row, lazy.operands, lazy.params, lazy.compute, lazy.dtype, lazy.shape,
                                     lambda i, x: self.output_value(x), f"pending {lazy.row.name}")
            self.constants[key] = name
            self._keep.append(t)
            return name
        array = np.asarray(t.detach().cpu().numpy())  # parameters of a CUDA model too
        if state_name is None:
            name = self.constant(array, array.dtype, "const")
        elif self.export_params:
            name = self.b.initializer(state_name, array)
        else:  # PyTorch makes parameters graph inputs when they are not exported
            name = self.b.typed(state_name, array.dtype, array.shape)
            self.param_inputs.append(name)
        self.constants[key] = name
        self._keep.append(t)
        return name

    def edge_value(self, edge) -> str:
        node, nr = edge
        if isinstance(node, AccumulateGrad):
            return self.tensor_value(node.variable)
        name = self.values.get((id(node), nr))
        if name is None:
            raise OnnxExporterError(
                f"numgrad.onnx.export: output {nr} of {node.name()} is used but was not exported (an op of this "
                "kind has an output ONNX cannot express, such as max_pool2d's indices)"
            )
        return name

    def operand(self, node, i: int, x) -> str:
        edge = node._next[i] if i < len(node._next) else None
        if edge is not None:
            return self.edge_value(edge)
        return self.tensor_value(x)

    def constant(self, value, dtype, hint: str) -> str:
        """An anonymous constant, logged with the op it feeds (``export`` compares two traces' logs)."""
        array = np.asarray(value, dtype=dtype)
        self.constant_log.append((self._current, array))
        return self.b.const(array, dtype, hint)

    def inp(self, i: int) -> Optional[str]:
        """Value name of argument ``i`` of the Function call being lowered."""
        x = self._args[i]
        if x is None:
            return None
        return self.operand(self._node, i, x)

    def is_zero_constant(self, i: int) -> bool:
        """Whether argument ``i`` of the call being lowered is a tensor of zeros that no input or parameter feeds
        (such as a recurrent layer's default initial state)."""
        x = self._args[i]
        edge = self._node._next[i] if i < len(self._node._next) else None
        if not isinstance(x, Tensor) or edge is not None or id(x) in self.inputs or id(x) in self.names:
            return False
        if pending_op(x) is not None:
            return False
        return not np.any(np.asarray(x.detach().cpu().numpy()))

    def output_value(self, t: Tensor) -> str:
        fn = t._grad_fn
        if fn is not None:
            return self.edge_value((fn, t._output_nr))
        return self.tensor_value(t)

    # ------------------------------------------------------------------ nodes
    def unsupported(self, node, what: str):
        raise UnsupportedOperatorError(
            f"numgrad.onnx.export: {node.name()} ({what}) is not supported for export to ONNX"
        )

    def lower(self, node) -> None:
        self._current = node.name()
        self.lowered.append(self._current)
        if isinstance(node, ElementwiseNode):
            outs = [self._elementwise(node.row, node.operands, node.params, node.compute, node.out_dtype,
                                      node.out_shape, lambda i, x: self.operand(node, i, x), node.name())]
        elif isinstance(node, FunctionNode):
            call = self.calls.get(id(node))
            fn = node.fn
            rule = FUNCTION_RULES.get(fn)
            if fn is _Dropout:
                self.unsupported(node, "dropout in training mode draws a random mask; export in eval mode, the "
                                       "default training=TrainingMode.EVAL")
            if rule is None or call is None:
                self.unsupported(node, f"recorded by {fn.__name__}")
            self._node, self._args = node, call[1]
            outs = rule(self, node, call[1])
            if fn in ROW_PRESERVING and isinstance(call[1][0], Tensor):
                self.keep_lead(outs[0], [self.inp(0)])
        else:
            self.unsupported(node, f"a {type(node).__name__} graph node")
        for i, name in enumerate(outs):
            if name is not None:
                self.values[(id(node), i)] = name

    def keep_lead(self, out: str, sources: list) -> None:
        """``out``'s dim 0 is that of a source whose dim 0 is a flattening of leading dims (``b.lead``): so is
        ``out``'s (the reshape that undoes the flattening then reads the sizes at runtime)."""
        b = self.b
        shape = b.shapes[out]
        if out in b.lead or not shape or shape[0] == 1:
            return
        for v in sources:
            lead = b.lead.get(v)
            if lead is not None and len(b.shapes[v]) == len(shape) and b.shapes[v][0] == shape[0]:
                b.lead[out] = lead
                return

    def _elementwise(self, row, operands, params, compute, out_dtype, shape, value_of, what: str) -> str:
        """One op-table row applied to ``operands`` (``value_of(i, tensor)`` names tensor operand ``i``)."""
        b = self.b
        compute = compute.np
        if row.name.startswith("cast_"):
            return b.cast(value_of(0, operands[0]), np.dtype(row.name[5:]))
        rule = ELEMENTWISE_RULES.get(row.name)
        if rule is None:
            raise UnsupportedOperatorError(
                f"numgrad.onnx.export: {what} (the elementwise op {row.name!r}) is not supported for export to ONNX")
        values = []
        raw = row.kind == "logical"
        for i, x in enumerate(operands):
            if isinstance(x, Tensor):
                v = value_of(i, x)
                want = np.bool_ if raw or (row.name == "where" and i == 0) else compute
                values.append(b.cast(v, want))
            else:  # a Python number: a constant of the compute dtype, as the kernel computes it
                values.append(self.constant(x, np.bool_ if raw else compute, "scalar"))
        out = b.cast(rule(b, values, params, compute, shape), out_dtype.np)
        self.keep_lead(out, [v for v in values if v in b.lead])
        return out


def _flatten_outputs(out) -> list:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten_outputs(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flatten_outputs(o)]
    raise OnnxExporterError(
        f"numgrad.onnx.export: the model returned a {type(out).__name__}; outputs must be tensors or "
        "(nested) tuples, lists or dicts of tensors"
    )


def _reachable(outputs: list) -> list:
    """The recorded nodes the outputs depend on, in recording order (operands before their users)."""
    seen, stack, nodes = set(), [t._grad_fn for t in outputs if t._grad_fn is not None], []
    while stack:
        node = stack.pop()
        if id(node) in seen or isinstance(node, AccumulateGrad):
            continue
        seen.add(id(node))
        nodes.append(node)
        stack.extend(e[0] for e in node._next if e is not None)
    nodes.sort(key=lambda n: n._seq)
    return nodes


def _input_names(model, inputs: list, keys: list, given) -> list:
    """Graph input names of the tensors among ``inputs`` (positional arguments, then the values of keyword
    arguments ``keys``): ``given`` first, then the forward's parameter names or the keywords."""
    try:
        params = [p.name for p in inspect.signature(model.forward if isinstance(model, Module) else model)
                  .parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    n_positional = len(inputs) - len(keys)
    default = []
    for i, a in enumerate(inputs):
        base = keys[i - n_positional] if i >= n_positional else (params[i] if i < len(params) else f"input_{i}")
        found = _tensors_in(a)
        default += [base] if isinstance(a, Tensor) else [f"{base}_{j}" for j in range(len(found))]
    given = list(given or [])
    if len(given) > len(default):
        raise ValueError(f"numgrad.onnx.export: {len(given)} input_names given for {len(default)} tensor inputs")
    return given + default[len(given):]


def _dims(name: str, shape: tuple, dynamic_axes: Mapping) -> list:
    spec = dynamic_axes.get(name)
    dims = list(shape)
    if spec is None:
        return dims
    if not isinstance(spec, Mapping):
        spec = {int(a): f"{name}_dynamic_axes_{i + 1}" for i, a in enumerate(spec)}
    for axis, label in spec.items():
        axis = int(axis)
        if not -len(dims) <= axis < len(dims):
            raise ValueError(f"numgrad.onnx.export: dynamic axis {axis} of {name!r} is out of range for its "
                             f"shape {list(shape)}")
        dims[axis] = str(label)
    return dims


def _reject(name: str, value, default) -> None:
    if value is not default and value != default:
        raise NotImplementedError(f"numgrad.onnx.export: {name}={value!r} is not supported by numgrad's exporter "
                                  "(it traces the recorded graph once; leave the argument at its default)")


def export(model: Union[Module, Callable], args: Union[tuple, Tensor] = (), f=None, *,
           kwargs: Optional[dict] = None, verbose: Optional[bool] = None,
           input_names: Optional[Sequence[str]] = None, output_names: Optional[Sequence[str]] = None,
           opset_version: Optional[int] = None, dynamo: bool = True, external_data: bool = True,
           dynamic_shapes: Any = None, custom_translation_table: Any = None, report: bool = False,
           optimize: bool = True, verify: bool = False, profile: bool = False,
           dump_exported_program: bool = False, artifacts_dir: Any = ".", export_params: bool = True,
           keep_initializers_as_inputs: bool = False,
           dynamic_axes: Optional[Mapping[str, Union[Mapping[int, str], Sequence[int]]]] = None,
           training: TrainingMode = TrainingMode.EVAL, operator_export_type: Any = None,
           do_constant_folding: bool = True, custom_opsets: Optional[Mapping[str, int]] = None,
           export_modules_as_functions: bool = False, autograd_inlining: bool = True) -> None:
    """Write ``model`` as an ONNX file, with ``torch.onnx.export``'s signature.

    The model runs once on ``args`` (a tensor or a tuple; a trailing dict is
    keyword arguments, as in PyTorch); the recorded graph becomes the ONNX
    graph, parameters and buffers its initializers named by their
    ``state_dict`` keys. ``dynamic_axes`` (``{"x": {0: "batch"}}`` or
    ``{"x": [0]}``) marks input/output dims whose size may change. The model
    is exported in eval mode unless ``training`` says otherwise (dropout then
    vanishes, batch norm uses its running statistics). Values computed without
    reference to the inputs or parameters are constants of the graph (constant
    folding always happens). Unlike ``torch.onnx.export(dynamo=True)``,
    nothing is returned: the file is the result. An op with no ONNX spelling
    raises ``UnsupportedOperatorError`` naming it.

    >>> import io, numgrad as ng
    >>> buf = io.BytesIO()
    >>> ng.onnx.export(ng.nn.Linear(3, 2), (ng.randn(4, 3),), buf, dynamic_axes={"input": {0: "batch"}})
    """
    _graph.require_onnx()
    for name, value, default in (("dynamic_shapes", dynamic_shapes, None),
                                 ("custom_translation_table", custom_translation_table, None),
                                 ("report", report, False), ("verify", verify, False), ("profile", profile, False),
                                 ("dump_exported_program", dump_exported_program, False),
                                 ("custom_opsets", custom_opsets, None),
                                 ("export_modules_as_functions", export_modules_as_functions, False)):
        _reject(name, value, default)
    if operator_export_type is not None and getattr(operator_export_type, "name", "ONNX") != "ONNX":
        _reject("operator_export_type", operator_export_type, None)
    if f is None:
        raise ValueError("numgrad.onnx.export: f (a file path or a binary file object) is required; numgrad does "
                         "not return an ONNXProgram")
    opset = _graph.DEFAULT_OPSET if opset_version is None else int(opset_version)
    if not _graph.MIN_OPSET <= opset <= _graph.max_opset():
        raise ValueError(f"numgrad.onnx.export: opset_version={opset} is not supported (numgrad writes opsets "
                         f"{_graph.MIN_OPSET} to {_graph.max_opset()}, the newest the installed onnx knows)")
    training = TrainingMode(training)
    if training == TrainingMode.TRAINING:
        raise NotImplementedError("numgrad.onnx.export: training=TrainingMode.TRAINING is not supported (dropout and "
                                  "batch statistics have no deterministic ONNX form); use EVAL or PRESERVE")
    args = (args,) if isinstance(args, Tensor) else tuple(args)
    call_kwargs = dict(kwargs or {})
    if args and isinstance(args[-1], dict):  # PyTorch's convention: a trailing dict holds keyword arguments
        call_kwargs.update(args[-1])
        args = args[:-1]
    dynamic_axes = dict(dynamic_axes or {})

    is_module = isinstance(model, Module)
    was_training = model.training if is_module else False
    if is_module and training == TrainingMode.EVAL:
        model.train(False)
    _exporting[0] = True
    fusion = is_fusion_enabled()
    # fused (lazy) elementwise ops keep their operands until computed: that is how comparisons and other ops
    # that record no graph node are found (Lowering.tensor_value)
    set_fusion(True)
    try:
        # keyword arguments' tensors are graph inputs too, after the positional ones
        inputs, keys = list(args) + list(call_kwargs.values()), list(call_kwargs)
        names = _input_names(model, inputs, keys, input_names)
        build = (model, names, opset, output_names, dynamic_axes, export_params, keep_initializers_as_inputs)
        model_proto, lowering = _build(*_trace(model, inputs, keys), *build)
        # Values that ops without graph nodes computed from the inputs (integer ops, .item(), detached values,
        # tensors made from an input's size) would be frozen into constants: a second trace on other input
        # values, with the dynamic axes one longer, must see the same graph and the same constants.
        try:
            other = _trace(model, _perturbed(inputs, names, dynamic_axes, grow=True), keys)
        except Exception:  # the model refuses other sizes (a fixed spatial size, even lengths): values only
            try:
                other = _trace(model, _perturbed(inputs, names, dynamic_axes, grow=False), keys)
            except Exception as e:
                other = None
                warnings.warn(
                    f"numgrad.onnx.export: the model raised {type(e).__name__}: {e} on shuffled input values, so "
                    "the check that no value computed from the inputs was frozen into a constant did not run",
                    UserWarning, stacklevel=2)
        if other is not None:
            try:
                _, again = _build(*other, *build)
            except OnnxExporterError:
                again = None
            _check_same_trace(lowering, again)
    finally:
        set_fusion(fusion)
        _exporting[0] = False
        if is_module and training == TrainingMode.EVAL:
            model.train(was_training)
    onnx = _graph.require_onnx()
    onnx.checker.check_model(model_proto)
    if verbose:
        print(onnx.printer.to_text(model_proto.graph))
    onnx.save_model(model_proto, f)


def _map_tensors(obj, fn):
    """``obj`` with every tensor inside (nested tuples, lists, dict values) replaced by ``fn(tensor)``."""
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_map_tensors(o, fn) for o in obj)
    if isinstance(obj, dict):
        return {k: _map_tensors(v, fn) for k, v in obj.items()}
    return obj


def _tensors_in(obj) -> list:
    found: list = []
    _map_tensors(obj, found.append)
    return found


def _trace(model, inputs: list, keys: list):
    """(input tensors, outputs, recorded calls) of one run of ``model`` on ``inputs`` (the last ``len(keys)``
    passed by keyword; tensors may sit in nested tuples, lists and dicts); floating-point tensors become leaves
    that require grad, so every op on them records a node."""
    leaves = [_map_tensors(a, lambda t: t.detach().requires_grad_() if t.dtype.is_floating_point else t)
              for a in inputs]
    n_positional = len(leaves) - len(keys)
    with _Recorder() as recorder, enable_grad():
        result = model(*leaves[:n_positional], **dict(zip(keys, leaves[n_positional:])))
    return _tensors_in(leaves), _flatten_outputs(result), recorder.calls


def _perturbed(args: list, names: list, dynamic_axes: Mapping, grow: bool) -> list:
    """Other inputs drawn from the given ones' values (so in their ranges), floats scaled by 1-1.05; with
    ``grow``, every dynamic axis one longer."""
    rng = np.random.default_rng(0)
    tensors = iter(names)

    def other(a):
        flat = np.asarray(a.detach().cpu().numpy()).reshape(-1)
        shape = list(a.shape)
        spec = dynamic_axes.get(next(tensors), ()) if grow else ()
        for axis in spec:
            shape[int(axis)] += 1
        n = int(np.prod(shape, dtype=np.int64))
        if n == flat.size:
            flat = rng.permutation(flat)
        else:
            flat = rng.choice(flat, n) if flat.size else np.zeros(n, flat.dtype)
        if a.dtype.is_floating_point:
            flat = flat * (1.0 + 0.05 * rng.random(flat.shape)).astype(flat.dtype)
        return tensor(flat.reshape(shape), dtype=a.dtype)

    return [_map_tensors(a, other) for a in args]


def _check_same_trace(first: "_Lowering", again: Optional["_Lowering"]) -> None:
    if again is None or again.lowered != first.lowered or len(again.constant_log) != len(first.constant_log):
        raise OnnxExporterError(
            "numgrad.onnx.export: the model records a different graph for other input values (control flow that "
            "depends on the inputs' values, e.g. `if x.sum() > 0`); a traced ONNX graph cannot express it"
        )
    for (where, a), (_, b) in zip(first.constant_log, again.constant_log):
        same = a.shape == b.shape and (np.array_equal(a, b, equal_nan=True) if a.dtype.kind in "fc"
                                       else np.array_equal(a, b))
        if not same:
            raise OnnxExporterError(
                f"numgrad.onnx.export: an operand of {where} (shape {list(a.shape)}, {a.dtype}) changes with the "
                "input values or dynamic axes' sizes but no recorded op computes it: it was derived from the "
                "inputs by ops that record no graph node (integer ops, .item()/.tolist()/.numpy(), .detach()), "
                "made from an input's size (ng.zeros(x.shape[0]), an index or shape that depends on a dynamic "
                "axis), or it is random; numgrad cannot export it. Compute it with tensor ops on the inputs, pass "
                "it as an input, or drop that axis from dynamic_axes"
            )


def _build(leaves, outputs, calls, model, in_names, opset, output_names, dynamic_axes, export_params,
           keep_initializers_as_inputs):
    """(ModelProto, the lowering that built it) of one trace."""
    b = _graph.GraphBuilder(opset)
    tensor_args = [t for t in leaves if isinstance(t, Tensor)]
    out_names = list(output_names or [])
    if len(out_names) > len(outputs):
        raise ValueError(f"numgrad.onnx.export: {len(out_names)} output_names given for {len(outputs)} outputs")
    default_out = ["output"] if len(outputs) == 1 else [f"output_{i}" for i in range(len(outputs))]
    out_names += default_out[len(out_names):]
    unknown = set(dynamic_axes) - set(in_names) - set(out_names)
    if unknown:
        raise ValueError(f"numgrad.onnx.export: dynamic_axes names {sorted(unknown)} are neither input nor output "
                         f"names (inputs {in_names}, outputs {out_names})")
    graph_inputs, inputs = [], {}
    for t, name in zip(tensor_args, in_names):
        b.typed(b.reserve(name), t.dtype.np, t.shape)
        inputs[id(t)] = name
        graph_inputs.append(_graph.value_info(name, t.dtype.np, _dims(name, t.shape, dynamic_axes)))
    state_names = {}
    if isinstance(model, Module):
        state_names = {id(v): k for k, v in reversed(list(model.state_dict(keep_vars=True).items()))}
    for name in set(state_names.values()) - set(in_names):
        b.reserve(name)
    for name in out_names:
        b.reserve(name)
    lw = _Lowering(b, inputs, state_names, export_params, calls)
    for node in _reachable(outputs):
        lw.lower(node)
    graph_outputs = []
    for t, name in zip(outputs, out_names):
        b.nodes.append(_graph.require_onnx().helper.make_node("Identity", [lw.output_value(t)], [name],
                                                              name=b.fresh("/Identity")))
        graph_outputs.append(_graph.value_info(name, t.dtype.np, _dims(name, t.shape, dynamic_axes)))
    for name in lw.param_inputs:
        graph_inputs.append(_graph.value_info(name, b.dtypes[name], b.shapes[name]))
    if keep_initializers_as_inputs:
        graph_inputs += [_graph.value_info(n, b.dtypes[n], b.shapes[n]) for n in b.initializers]
    return b.model(graph_inputs, graph_outputs, type(model).__name__), lw
