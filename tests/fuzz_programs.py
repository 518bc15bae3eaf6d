"""Differential fuzzing against PyTorch: seeded random programs, run in numgrad and in torch.

A program is a list of Python statements over ``lib`` (numgrad or torch):
leaves, elementwise ops with broadcasting, reductions, views, indexing,
in-place ops (on bases and views, under ``no_grad`` or recorded), ``detach``,
``clone``, reads of values in the middle, and ``backward`` (with and without
``retain_graph``). Both runs must agree on every value, gradient, dtype and
``requires_grad`` flag, and on which statement raises (exception type). A
mismatch is shrunk to a minimal program by removing statements while the
mismatch persists.

Run many seeds locally (fusion on and off)::

    python -m tests.fuzz_programs --seeds 0:5000
"""
from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

SHAPES = [(3,), (2, 3), (3, 1), (1, 3), (2, 1, 3), (4,)]
UNARY = ["lib.tanh({a})", "lib.sigmoid({a})", "lib.sin({a})", "lib.exp({a} * 0.5)", "{a}.abs()", "-{a}",
         "lib.relu({a})", "{a} * {a}", "{a}.clamp(-0.5, 0.5)", "{a} ** 2", "lib.cos({a})", "{a} * 2.5 + 1",
         "3 - {a}", "{a} / 2", "lib.sqrt({a}.abs() + 0.25)"]
BINARY = ["{a} + {b}", "{a} - {b}", "{a} * {b}", "{a} / ({b}.abs() + 1)", "lib.maximum({a}, {b})",
          "lib.minimum({a}, {b})", "lib.where({a} > {b}, {a}, {b})", "{a} * lib.tanh({b})"]
INPLACE_WITH_OPERAND = ["{a}.add_({b})", "{a}.mul_({b})", "{a}.sub_({b})", "{a}.copy_({b})"]
INPLACE_SCALAR = ["{a}.add_(1.5)", "{a}.mul_(2)", "{a}.zero_()", "{a}.fill_(0.25)", "{a}.clamp_(-0.3, 0.6)",
                  "{a}.sigmoid_()", "{a}.tanh_()", "{a}.neg_()"]


@dataclass
class Var:
    name: str
    shape: tuple
    leaf: bool = False  # a leaf that requires grad
    expanded: bool = False  # a view through expand(): several elements share memory
    root: str = ""  # the variable whose memory this one views (itself when not a view)
    # reshape() views or copies depending on the memory layout, and PyTorch's elementwise results keep their
    # input's strides where numgrad's are contiguous: writes through a reshape's result may reach its input in
    # one library and not the other, as PyTorch's documentation warns
    layout_dependent: bool = False


@dataclass
class Program:
    seed: int
    lines: List[str] = field(default_factory=list)
    leaves: List[str] = field(default_factory=list)

    def source(self) -> str:
        return "\n".join(self.lines)


def _broadcastable_to(rng: random.Random, shape: tuple) -> tuple:
    """A shape that broadcasts to ``shape`` (for operands of in-place ops)."""
    choice = rng.random()
    if choice < 0.5 or not shape:
        return shape
    if choice < 0.75:
        return shape[1:]
    return tuple(1 if rng.random() < 0.5 else s for s in shape)


def _data(rng: random.Random, shape: tuple) -> str:
    n = int(np.prod(shape)) if shape else 1
    values = [rng.choice([-1.5, -1.0, -0.75, -0.5, -0.25, 0.125, 0.25, 0.5, 0.75, 1.0, 1.25, 2.0])
              for _ in range(n)]
    arr = np.array(values, dtype=np.float64).reshape(shape)
    return repr(arr.tolist())


class Generator:
    def __init__(self, seed: int, length: int):
        self.rng = random.Random(seed)
        self.program = Program(seed)
        self.vars: List[Var] = []
        self.length = length
        self.counter = 0

    def fresh(self) -> str:
        self.counter += 1
        return f"v{self.counter}"

    def emit(self, line: str) -> None:
        self.program.lines.append(line)

    def pick(self, pred=lambda v: True) -> Optional[Var]:
        options = [v for v in self.vars if pred(v)]
        return self.rng.choice(options) if options else None

    def new_var(self, expr: str, shape: tuple, **kw) -> Var:
        var = Var(self.fresh(), shape, **kw)
        var.root = var.root or var.name
        self.emit(f"{var.name} = {expr}")
        self.vars.append(var)
        return var

    def leaf(self) -> None:
        shape = self.rng.choice(SHAPES)
        var = self.new_var(f"lib.tensor({_data(self.rng, shape)}, requires_grad=True)", shape, leaf=True)
        self.program.leaves.append(var.name)

    def constant(self) -> None:
        shape = self.rng.choice(SHAPES)
        self.new_var(f"lib.tensor({_data(self.rng, shape)})", shape)

    def unary(self) -> None:
        a = self.pick()
        self.new_var(self.rng.choice(UNARY).format(a=a.name), a.shape)

    def binary(self) -> None:
        a = self.pick()
        b = self.pick(lambda v: _broadcast(v.shape, a.shape) is not None)
        self.new_var(self.rng.choice(BINARY).format(a=a.name, b=b.name), _broadcast(a.shape, b.shape))

    def reduction(self) -> None:
        a = self.pick(lambda v: len(v.shape) >= 1)
        if a is None:
            return
        kind = self.rng.randrange(5)
        if kind == 0:
            self.new_var(f"{a.name}.sum()", ())
        elif kind == 1:
            self.new_var(f"{a.name}.mean()", ())
        else:
            dim = self.rng.randrange(len(a.shape))
            keep = self.rng.random() < 0.5
            shape = tuple(1 if i == dim else s for i, s in enumerate(a.shape)) if keep else \
                a.shape[:dim] + a.shape[dim + 1:]
            op = ["sum", "mean", "amax"][kind - 2]
            self.new_var(f"{a.name}.{op}({dim}, keepdim={keep})", shape)

    def view(self) -> None:
        a = self.pick(lambda v: len(v.shape) >= 1)
        if a is None:
            return
        shape = a.shape
        kind = self.rng.randrange(8)
        same = dict(expanded=a.expanded, root=a.root, layout_dependent=a.layout_dependent)  # what views inherit
        if kind == 0 and len(shape) == 2:
            self.new_var(f"{a.name}.t()", shape[::-1], **same)
        elif kind == 1:
            self.new_var(f"{a.name}.reshape(-1)", (int(np.prod(shape)),), **dict(same, layout_dependent=True))
        elif kind == 2:
            i = self.rng.randrange(shape[0])
            self.new_var(f"{a.name}[{i}]", shape[1:], **same)
        elif kind == 3 and shape[0] > 1:
            start = self.rng.randrange(shape[0] - 1)
            self.new_var(f"{a.name}[{start}:]", (shape[0] - start,) + shape[1:], **same)
        elif kind == 4 and len(shape) >= 2:
            j = self.rng.randrange(shape[-1])
            self.new_var(f"{a.name}[..., {j}]", shape[:-1], **same)
        elif kind == 5:
            self.new_var(f"{a.name}.unsqueeze(0)", (1,) + shape, **same)
        elif kind == 6 and len(shape) <= 2:
            self.new_var(f"{a.name}.expand(2, {', '.join(map(str, shape))})", (2,) + shape, **dict(same, expanded=True))
        else:
            self.new_var(f"{a.name}.detach()", shape, **same)

    def index_copy(self) -> None:
        a = self.pick(lambda v: len(v.shape) >= 1 and v.shape[0] >= 2)
        if a is None:
            return
        idx = [self.rng.randrange(a.shape[0]) for _ in range(self.rng.randint(1, 3))]
        self.new_var(f"{a.name}[{idx}]", (len(idx),) + a.shape[1:])

    def clone(self) -> None:
        a = self.pick()
        self.new_var(f"{a.name}.clone()", a.shape)

    def inplace(self) -> None:
        # writes through an expand()ed view are a known difference (tests/test_view_semantics.py)
        a = self.pick(lambda v: not v.expanded and not v.layout_dependent)
        if a is None:
            return
        r = self.rng.random()
        if r < 0.45:
            b = self.pick(lambda v: _broadcast(v.shape, a.shape) == a.shape and _no_alias(v, a))
            if b is None:
                return
            stmt = self.rng.choice(INPLACE_WITH_OPERAND).format(a=a.name, b=b.name)
        elif r < 0.8:
            stmt = self.rng.choice(INPLACE_SCALAR).format(a=a.name)
        elif len(a.shape) >= 1:
            i = self.rng.randrange(a.shape[0])
            b = self.pick(lambda v: _broadcast(v.shape, a.shape[1:]) == a.shape[1:] and _no_alias(v, a))
            value = b.name if b is not None and self.rng.random() < 0.6 else "0.5"
            stmt = f"{a.name}[{i}] = {value}"
        else:
            return
        if self.rng.random() < 0.3:
            self.emit("with lib.no_grad():")
            stmt = "    " + stmt
        self.emit(stmt)

    def index_write(self) -> None:
        """Writes through index tensors and masks (recorded as IndexPut / masked_fill)."""
        a = self.pick(lambda v: len(v.shape) >= 1 and not v.expanded and not v.layout_dependent)
        if a is None:
            return
        kind = self.rng.randrange(3)
        if kind == 0:
            idx = sorted(set(self.rng.randrange(a.shape[0]) for _ in range(2)))
            b = self.pick(lambda v: _broadcast(v.shape, (len(idx),) + a.shape[1:]) == (len(idx),) + a.shape[1:]
                          and _no_alias(v, a))
            value = b.name if b is not None and self.rng.random() < 0.6 else "0.75"
            stmt = f"{a.name}[lib.tensor({idx})] = {value}"
        elif kind == 1:
            stmt = f"{a.name}.masked_fill_({a.name} > 0.3, -0.5)"
        else:
            stmt = f"{a.name}.data.mul_(1.5)"
        if self.rng.random() < 0.2:
            self.emit("with lib.no_grad():")
            stmt = "    " + stmt
        self.emit(stmt)

    def matmul(self) -> None:
        a = self.pick(lambda v: len(v.shape) == 2)
        if a is None:
            return
        b = self.pick(lambda v: len(v.shape) == 2 and v.shape[0] == a.shape[1])
        if b is None:
            b = self.new_var(f"lib.tensor({_data(self.rng, (a.shape[1], 2))}, requires_grad=True)", (a.shape[1], 2),
                             leaf=True)
            self.program.leaves.append(b.name)
        self.new_var(f"{a.name} @ {b.name}", (a.shape[0], b.shape[1]))

    def softmax(self) -> None:
        a = self.pick(lambda v: len(v.shape) >= 1)
        if a is None:
            return
        dim = self.rng.randrange(len(a.shape))
        fn = self.rng.choice(["softmax", "log_softmax"])
        self.new_var(f"lib.nn.functional.{fn}({a.name}, {dim})", a.shape)

    def retain(self) -> None:
        a = self.pick(lambda v: not v.leaf)
        if a is not None:
            self.emit(f"{a.name}.retain_grad()")

    def grad_call(self) -> None:
        """autograd.grad with create_graph: the gradient is a new variable of the leaf's shape."""
        a = self.pick()
        leaf = self.pick(lambda v: v.leaf)
        # PyTorch hands out some gradients as expanded views (a sum's) and others as fresh tensors (a mean's);
        # numgrad's are always writable, so writes into them are left out (layout_dependent)
        self.new_var(f"lib.autograd.grad(({a.name} * {a.name}).sum(), {leaf.name}, create_graph=True, "
                     f"retain_graph=True)[0]", leaf.shape, layout_dependent=True)

    def read(self) -> None:
        a = self.pick()
        self.emit(f"snap({a.name})")

    def backward(self) -> None:
        a = self.pick()
        retain = self.rng.random() < 0.5
        self.emit(f"({a.name} * {a.name}).sum().backward(retain_graph={retain})")

    def generate(self) -> Program:
        self.leaf()
        self.leaf()
        if self.rng.random() < 0.5:
            self.constant()
        moves = [(self.unary, 4), (self.binary, 4), (self.reduction, 2), (self.view, 4), (self.index_copy, 1),
                 (self.clone, 1), (self.inplace, 5), (self.read, 1), (self.backward, 1), (self.leaf, 1),
                 (self.index_write, 2), (self.matmul, 1), (self.softmax, 1), (self.retain, 1), (self.grad_call, 1)]
        fns = [m for m, _ in moves]
        weights = [w for _, w in moves]
        for _ in range(self.length):
            self.rng.choices(fns, weights)[0]()
        self.emit("final()")
        return self.program


def _no_alias(operand: Var, target: Var) -> bool:
    """An in-place operand that views part of the target's memory makes PyTorch's result depend on its loop
    order (it reads elements it already wrote); programs keep such operands out."""
    return operand.root != target.root or operand is target


def _broadcast(a: tuple, b: tuple) -> Optional[tuple]:
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return tuple(reversed(out))


def generate(seed: int, length: int = 12) -> Program:
    return Generator(seed, length).generate()


# ------------------------------------------------------------------------------------------------ running
def _dtype_name(t) -> str:
    return str(t.dtype).rsplit(".", 1)[-1]


def run(lib, program: Program, lines: Optional[List[str]] = None) -> dict:
    """Run ``lines`` (default: the program's) one statement at a time; what happened, comparable across libs."""
    lines = program.lines if lines is None else lines
    record = {"snaps": [], "final": None, "raised": None}

    def snap(t):
        record["snaps"].append((t.detach().numpy().copy(), _dtype_name(t)))

    def final():
        # every variable still defined, in order; the final loss reaches every tensor that requires grad
        names = sorted((k for k in env if k[0] == "v" and k[1:].isdigit()), key=lambda k: int(k[1:]))
        ts = [env[k] for k in names]
        state = [(t.detach().numpy().copy(), _dtype_name(t), bool(t.requires_grad)) for t in ts]
        record["final"] = state
        record["retained"] = [_grad_of(t) for t in ts if not t.is_leaf and t.retains_grad]
        loss = None
        for t in ts:
            if t.requires_grad:
                term = (t * t).sum()
                loss = term if loss is None else loss + term
        if loss is not None:
            loss.backward()

    def grads():
        return [None if env.get(n) is None or env[n].grad is None else env[n].grad.numpy().copy()
                for n in program.leaves]

    env = {"lib": lib, "snap": snap, "final": final}
    statements = _statements(lines)
    for index, stmt in enumerate(statements):
        # a backward that raises may have accumulated part of its gradients first (PyTorch's engine runs
        # a leaf's accumulation last, numgrad's may not): compare the gradients from before that statement
        before = grads() if "backward" in stmt or "final" in stmt else None
        try:
            exec(stmt, env)
            # PyTorch regenerates a view's history lazily, when its grad_fn is read; an in-place write into a
            # view whose grad_fn was not read since its base changed is refused as a write into a leaf. numgrad
            # retakes views at the base's write. Reading grad_fn after each statement compares the two as
            # PyTorch behaves once a view has been looked at.
            for k, t in env.items():
                if k[0] == "v" and k[1:].isdigit() and hasattr(t, "requires_grad"):
                    t.grad_fn
        except Exception as e:  # noqa: BLE001 - which statement raises, and the type, are what we compare
            record["raised"] = (index, type(e).__name__, str(e)[:200])
            record["grads"] = before if before is not None else grads()
            return record
    record["grads"] = grads()
    return record


def _grad_of(t):
    return None if t.grad is None else t.grad.detach().numpy().copy()


def _statements(lines: List[str]) -> List[str]:
    """Group a ``with`` line with its indented body."""
    out: List[str] = []
    for line in lines:
        if line.startswith("    ") and out:
            out[-1] += "\n" + line
        else:
            out.append(line)
    return out


def difference(ng_record: dict, torch_record: dict) -> Optional[str]:
    """A description of the first disagreement, or None."""
    a, b = ng_record["raised"], torch_record["raised"]
    if (a is None) != (b is None) or (a and (a[0], a[1]) != (b[0], b[1])):
        return f"raised: numgrad {a} vs torch {b}"
    for i, (x, y) in enumerate(zip(ng_record["snaps"], torch_record["snaps"])):
        if x[1] != y[1] or not _close(x[0], y[0]):
            return f"snap {i}: numgrad {x} vs torch {y}"
    if (ng_record["final"] is None) != (torch_record["final"] is None):
        return "final state reached by one library only"
    for i, (x, y) in enumerate(zip(ng_record["final"] or (), torch_record["final"] or ())):
        if x[1:] != y[1:] or not _close(x[0], y[0]):
            return f"final value {i}: numgrad {x} vs torch {y}"
    retained = (ng_record.get("retained") or [], torch_record.get("retained") or [])
    if len(retained[0]) != len(retained[1]):
        return f"{len(retained[0])} tensors retain their grad in numgrad, {len(retained[1])} in torch"
    for i, (x, y) in enumerate(zip(*retained)):
        if (x is None) != (y is None) or (x is not None and not _close(x, y)):
            return f"retained grad {i}: numgrad {x} vs torch {y}"
    for i, (x, y) in enumerate(zip(ng_record["grads"], torch_record["grads"])):
        if (x is None) != (y is None) or (x is not None and not _close(x, y)):
            return f"grad of leaf {i}: numgrad {x} vs torch {y}"
    return None


def _close(x, y) -> bool:
    x, y = np.asarray(x), np.asarray(y)
    return x.shape == y.shape and np.allclose(x, y, rtol=2e-4, atol=2e-5, equal_nan=True)


def check(seed: int, ng, torch, length: int = 12) -> Optional[str]:
    """None when numgrad and torch agree on the program of ``seed``; else the minimal failing program."""
    program = generate(seed, length)
    diff = difference(run(ng, program), run(torch, program))
    if diff is None:
        return None
    lines = shrink(program, ng, torch)
    final_diff = difference(run(ng, program, lines), run(torch, program, lines))
    return f"seed {seed}: {final_diff}\nminimal program:\n" + "\n".join(lines)


def shrink(program: Program, ng, torch) -> List[str]:
    """Remove statements (a ``with`` block as one) while numgrad and torch still disagree."""
    statements = _statements(program.lines)
    changed = True
    while changed:
        changed = False
        for i in range(len(statements) - 1, -1, -1):
            trial = statements[:i] + statements[i + 1:]
            lines = [ln for s in trial for ln in s.split("\n")]
            if difference(run(ng, program, lines), run(torch, program, lines)) is not None:
                statements = trial
                changed = True
    return [ln for s in statements for ln in s.split("\n")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0:1000", help="start:stop")
    parser.add_argument("--length", type=int, default=12)
    parser.add_argument("--fusion", choices=["on", "off", "both"], default="both")
    args = parser.parse_args(argv)
    import numgrad as ng
    import torch
    start, stop = (int(s) for s in args.seeds.split(":"))
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.fusion]
    failures = 0
    for fusion in modes:
        ng.set_fusion(fusion)
        for seed in range(start, stop):
            report = check(seed, ng, torch, args.length)
            if report:
                failures += 1
                print(f"--- fusion {'on' if fusion else 'off'}: {report}\n", flush=True)
    print(f"{failures} failing programs of {(stop - start) * len(modes)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
