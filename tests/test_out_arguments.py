"""``out=`` on the ``numgrad`` functions whose PyTorch counterparts take it (``numgrad/_out_arguments.py``),
against torch: the values written, ``out`` returned, resizing (with PyTorch's warning), factories taking out's
dtype, tuples of outputs, and the errors."""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
import torch

import numgrad as ng

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
Y = RNG.standard_normal((3, 4))
SQ = RNG.standard_normal((3, 3))


def _t(lib, a, dtype="float64"):
    return lib.tensor(np.array(a, dtype=dtype))


# name -> (arguments for one library, keyword arguments, the out dtypes: one string per output)
CASES = {
    "cumsum": (lambda L: (_t(L, X), 1), {}, ["float64"]),
    "cat": (lambda L: ([_t(L, X), _t(L, Y)],), {"dim": 0}, ["float64"]),
    "stack": (lambda L: ([_t(L, X), _t(L, Y)],), {}, ["float64"]),
    "sum": (lambda L: (_t(L, X), 1), {}, ["float64"]),
    "mean": (lambda L: (_t(L, X),), {"dim": 0}, ["float64"]),
    "clamp": (lambda L: (_t(L, X),), {"min": -0.5, "max": 0.5}, ["float64"]),
    "mm": (lambda L: (_t(L, X).T, _t(L, Y)), {}, ["float64"]),
    "bmm": (lambda L: (_t(L, X).reshape(1, 3, 4), _t(L, Y).reshape(1, 4, 3)), {}, ["float64"]),
    "div": (lambda L: (_t(L, X), _t(L, Y)), {"rounding_mode": "floor"}, ["float64"]),
    "where": (lambda L: (_t(L, X) > 0, _t(L, X), _t(L, Y)), {}, ["float64"]),
    "gather": (lambda L: (_t(L, X), 1, L.tensor([[0, 1], [2, 3], [1, 1]])), {}, ["float64"]),
    "index_select": (lambda L: (_t(L, X), 0, L.tensor([2, 0])), {}, ["float64"]),
    "argmax": (lambda L: (_t(L, X), 1), {}, ["int64"]),
    "tril": (lambda L: (_t(L, SQ),), {}, ["float64"]),
    "logsumexp": (lambda L: (_t(L, X), 1), {}, ["float64"]),
    "sort": (lambda L: (_t(L, X), 1), {}, ["float64", "int64"]),
    "max": (lambda L: (_t(L, X), 1), {}, ["float64", "int64"]),
    "topk": (lambda L: (_t(L, X), 2), {}, ["float64", "int64"]),
    "cummax": (lambda L: (_t(L, X), 0), {}, ["float64", "int64"]),
    "std": (lambda L: (_t(L, X), 1), {}, ["float64"]),
    "outer": (lambda L: (_t(L, X[0]), _t(L, Y[0])), {}, ["float64"]),
    "inverse": (lambda L: (_t(L, SQ),), {}, ["float64"]),
    "nan_to_num": (lambda L: (_t(L, [np.nan, np.inf, 1.0]),), {}, ["float64"]),
    "round": (lambda L: (_t(L, X * 10),), {"decimals": 1}, ["float64"]),
    "masked_select": (lambda L: (_t(L, X), _t(L, X) > 0), {}, ["float64"]),
}


def _outs(lib, dtypes: list, shape=(0,)):
    made = [lib.empty(shape, dtype=getattr(lib, d)) for d in dtypes]
    return made[0] if len(made) == 1 else tuple(made)


def _values(result) -> list:
    items = result if isinstance(result, tuple) else (result,)
    return [np.asarray(r.numpy()) for r in items]


@pytest.mark.parametrize("name", list(CASES))
def test_out_gets_the_result_and_is_returned(name):
    args, kwargs, dtypes = CASES[name]
    results = {}
    for lib in (torch, ng):
        out = _outs(lib, dtypes)
        got = getattr(lib, name)(*args(lib), **kwargs, out=out)
        outs = out if isinstance(out, tuple) else (out,)
        assert all(a is b for a, b in zip(got if isinstance(got, tuple) else (got,), outs))
        results[lib.__name__] = _values(got)
    for want, have in zip(results["torch"], results["numgrad"]):
        assert want.shape == have.shape and want.dtype == have.dtype
        np.testing.assert_allclose(have, want, rtol=1e-12, atol=1e-12)


def test_every_listed_name_takes_out_when_numgrad_has_it():
    import inspect
    with open(os.path.join(os.path.dirname(ng.__file__), "_torch_names.json"), encoding="utf-8") as f:
        names = json.load(f)["out_arguments"]
    assert {"cumsum", "cat", "sort", "zeros", "arange"} <= set(names)
    for name in names:
        fn = getattr(ng, name, None)
        if fn is None or inspect.isclass(fn):
            continue
        params = inspect.signature(fn).parameters
        assert "out" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()), name


def test_factories_make_their_values_in_outs_dtype():
    for lib in (torch, ng):
        ints = lib.empty(0, dtype=lib.int64)
        assert lib.zeros(3, out=ints) is ints and ints.dtype == lib.int64
        floats = lib.empty(0, dtype=lib.float64)
        lib.arange(4, out=floats)
        assert floats.tolist() == [0.0, 1.0, 2.0, 3.0] and floats.dtype == lib.float64
        ints = lib.empty(0, dtype=lib.int32)
        lib.full((2,), 7, out=ints)
        assert ints.tolist() == [7, 7] and ints.dtype == lib.int32


def test_an_out_with_elements_is_resized_with_pytorchs_warning():
    for lib in (torch, ng):
        out = lib.zeros(5, dtype=lib.float64)
        with pytest.warns(UserWarning, match="An output with one or more elements was resized since it had shape "
                                             r"\[5\], which does not match the required output shape \[3, 4\]"):
            lib.cumsum(_t(lib, X), 0, out=out)
        assert tuple(out.shape) == (3, 4)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            lib.cumsum(_t(lib, X), 1, out=out)  # the right shape now: no warning
            lib.cumsum(_t(lib, X), 1, out=lib.empty(0, dtype=lib.float64))  # no elements: no warning


def test_out_errors_follow_pytorch():
    for lib in (torch, ng):
        x = _t(lib, X).requires_grad_()
        with pytest.raises(RuntimeError, match=r"cumsum\(\): functions with out=\.\.\. arguments don't support "
                                               "automatic differentiation, but one of the arguments requires grad"):
            lib.cumsum(x, 0, out=lib.empty(0, dtype=lib.float64))
        with pytest.raises(RuntimeError):  # (torch's message depends on the op)
            lib.clamp(_t(lib, X), 0, 1, out=lib.empty(0, dtype=lib.int64))
        # an op with dtype= accumulates in out's dtype instead
        assert lib.cumsum(_t(lib, X * 3), 0, out=lib.empty(0, dtype=lib.int64)).tolist() == \
            np.cumsum((X * 3).astype(np.int64), 0).tolist()
    with pytest.raises(RuntimeError, match="result type Double can't be cast to the desired output type Long"):
        ng.clamp(_t(ng, X), 0, 1, out=ng.empty(0, dtype=ng.int64))
    with pytest.raises(TypeError, match=r"sort\(\): argument 'out' must be a tuple of 2 Tensors, not Tensor"):
        ng.sort(_t(ng, X), out=ng.empty(0, dtype=ng.float64))
    with pytest.raises(TypeError, match=r"cumsum\(\): argument 'out' must be Tensor, not list"):
        ng.cumsum(_t(ng, X), 0, out=[])
    with ng.no_grad():  # under no_grad a tensor that requires grad may be an argument, as in torch
        out = ng.empty(0, dtype=ng.float64)
        ng.cumsum(_t(ng, X).requires_grad_(), 0, out=out)
        assert not out.requires_grad


def test_docstring_examples_run():
    import doctest

    from numgrad import _out_arguments
    from numgrad.ops import elementwise_functions
    for module in (_out_arguments, elementwise_functions):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0
