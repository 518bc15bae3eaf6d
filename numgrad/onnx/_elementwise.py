"""ONNX spellings of the op table's elementwise rows (``numgrad.ir.table``), one entry per row name.

Each rule takes the graph builder, the operands' value names (already cast to
the row's compute dtype), the row's parameters, the compute dtype and the
output shape, and returns the output's value name.
"""
from __future__ import annotations

import math

import numpy as np


def _unary(op_type):
    return lambda b, x, p, dt, shape: b.op(op_type, x[:1], dt, shape)


def _binary(op_type):
    return lambda b, x, p, dt, shape: b.op(op_type, x[:2], dt, shape)


def _compare(op_type, arity=2):
    return lambda b, x, p, dt, shape: b.op(op_type, x[:arity], np.bool_, shape)


def _k(b, value, dt):
    return b.const(value, dt, "scalar")


def _gelu(b, x, p, dt, shape):
    # 0.5 * x * (1 + erf(x / sqrt(2))): PyTorch's exact gelu, in every opset (the Gelu op needs opset 20)
    if b.opset >= 20:
        return b.op("Gelu", x, dt, shape)
    inner = b.op("Erf", [b.op("Mul", [x[0], _k(b, math.sqrt(0.5), dt)], dt, shape)], dt, shape)
    half_x = b.op("Mul", [x[0], _k(b, 0.5, dt)], dt, shape)
    return b.op("Mul", [half_x, b.op("Add", [inner, _k(b, 1.0, dt)], dt, shape)], dt, shape)


def _gelu_tanh(b, x, p, dt, shape):
    if b.opset >= 20:
        return b.op("Gelu", x, dt, shape, approximate="tanh")
    cube = b.op("Mul", [b.op("Mul", [x[0], x[0]], dt, shape), x[0]], dt, shape)
    inner = b.op("Add", [x[0], b.op("Mul", [cube, _k(b, 0.044715, dt)], dt, shape)], dt, shape)
    t = b.op("Tanh", [b.op("Mul", [inner, _k(b, math.sqrt(2.0 / math.pi), dt)], dt, shape)], dt, shape)
    half_x = b.op("Mul", [x[0], _k(b, 0.5, dt)], dt, shape)
    return b.op("Mul", [half_x, b.op("Add", [t, _k(b, 1.0, dt)], dt, shape)], dt, shape)


def _softplus(b, x, p, dt, shape):
    beta, threshold = p
    scaled = b.op("Mul", [x[0], _k(b, beta, dt)], dt, shape)
    soft = b.op("Div", [b.op("Softplus", [scaled], dt, shape), _k(b, beta, dt)], dt, shape)
    linear = b.op("Greater", [scaled, _k(b, threshold, dt)], np.bool_, shape)
    return b.op("Where", [linear, x[0], soft], dt, shape)


def _remainder(b, x, p, dt, shape):
    # Python's (and PyTorch's) remainder takes the divisor's sign: x - floor(x / y) * y
    if np.issubdtype(dt, np.integer):
        return b.op("Mod", x, dt, shape, fmod=0)
    q = b.op("Floor", [b.op("Div", x, dt, shape)], dt, shape)
    return b.op("Sub", [x[0], b.op("Mul", [q, x[1]], dt, shape)], dt, shape)


def _clamp(b, x, p, dt, shape):
    return b.op("Min", [b.op("Max", [x[0], x[1]], dt, shape), x[2]], dt, shape)


def _hardtanh(b, x, p, dt, shape):
    return b.op("Min", [b.op("Max", [x[0], _k(b, float(p[0]), dt)], dt, shape), _k(b, float(p[1]), dt)], dt, shape)


ELEMENTWISE_RULES = {
    "add": _binary("Add"), "sub": _binary("Sub"), "mul": _binary("Mul"), "div": _binary("Div"),
    "pow": _binary("Pow"), "maximum": _binary("Max"), "minimum": _binary("Min"),
    "clamp_min": _binary("Max"), "clamp_max": _binary("Min"), "clamp": _clamp, "hardtanh": _hardtanh,
    "remainder": _remainder,
    "neg": _unary("Neg"), "abs": _unary("Abs"), "sign": _unary("Sign"), "reciprocal": _unary("Reciprocal"),
    "square": lambda b, x, p, dt, shape: b.op("Mul", [x[0], x[0]], dt, shape),
    "floor": _unary("Floor"), "ceil": _unary("Ceil"), "round": _unary("Round"), "identity": _unary("Identity"),
    "exp": _unary("Exp"), "log": _unary("Log"), "sqrt": _unary("Sqrt"), "sin": _unary("Sin"),
    "cos": _unary("Cos"), "tan": _unary("Tan"), "tanh": _unary("Tanh"), "erf": _unary("Erf"),
    "sigmoid": _unary("Sigmoid"), "relu": _unary("Relu"),
    "exp2": lambda b, x, p, dt, shape: b.op("Pow", [_k(b, 2.0, dt), x[0]], dt, shape),
    "log2": lambda b, x, p, dt, shape: b.op("Div", [b.op("Log", x, dt, shape), _k(b, math.log(2.0), dt)], dt, shape),
    "log1p": lambda b, x, p, dt, shape: b.op("Log", [b.op("Add", [x[0], _k(b, 1.0, dt)], dt, shape)], dt, shape),
    "expm1": lambda b, x, p, dt, shape: b.op("Sub", [b.op("Exp", x, dt, shape), _k(b, 1.0, dt)], dt, shape),
    "rsqrt": lambda b, x, p, dt, shape: b.op("Reciprocal", [b.op("Sqrt", x, dt, shape)], dt, shape),
    "leaky_relu": lambda b, x, p, dt, shape: b.op("LeakyRelu", x, dt, shape, alpha=float(p[0])),
    "elu": lambda b, x, p, dt, shape: b.op("Elu", x, dt, shape, alpha=float(p[0])),
    "silu": lambda b, x, p, dt, shape: b.op("Mul", [x[0], b.op("Sigmoid", x, dt, shape)], dt, shape),
    "gelu": _gelu, "gelu_tanh": _gelu_tanh, "softplus": _softplus,
    "where": lambda b, x, p, dt, shape: b.op("Where", x[:3], dt, shape),
    "eq": _compare("Equal"), "lt": _compare("Less"), "le": _compare("LessOrEqual"), "gt": _compare("Greater"),
    "ge": _compare("GreaterOrEqual"), "ne": lambda b, x, p, dt, shape: b.op(
        "Not", [b.op("Equal", x[:2], np.bool_, shape)], np.bool_, shape),
    "isnan": _compare("IsNaN", 1), "logical_not": _compare("Not", 1), "logical_and": _compare("And"),
    "logical_or": _compare("Or"), "logical_xor": _compare("Xor"),
}
