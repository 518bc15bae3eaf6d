"""Differential fuzzing of ``ng.compile``: seeded random training steps, compiled against eager, bit for bit.

Each seed makes a program (Python source): module-level state (layers, an optimizer, a global, a closure
list, an object whose attribute the step reads), a step ``step(x, y)`` (a chain of layers and ops, a loss,
optionally backward and an optimizer step, ``no_grad`` parts, ``.item()`` reads, tensors built from Python
data) and a ``mutate(k)`` that changes what the step reads between calls (the global, a list item, a
module attribute such as ``Dropout.p``, ``train()``/``eval()``, optimizer hyperparameters, loaded or rebound
weights, a scheduler step).  The program is executed twice, into two independent copies of all state built
from the same seed; one copy's step is wrapped in ``ng.compile`` (or, in some programs, its model is:
``ng.compile(model)`` in an eager loop).  Inputs are sometimes strided views or require grad; some programs
use ``dynamic=False``/``True`` or a small ``cache_size_limit``.
Both run the same calls (random batch sizes, a smaller last batch, the same generator seed before each
call) and after every call their outputs, parameters, gradients, optimizer state and module buffers must
be equal bit for bit (NaN equal to NaN), and both must raise the same exception type when one raises.
A mismatch is shrunk to a small program by removing statements while it persists.

Run many seeds locally (replay through generated functions, and as a Python launch loop)::

    python -m tests.fuzz_compile --seeds 0:300
    python -m tests.fuzz_compile --seeds 0:100 --no-fuse
    python -m tests.fuzz_compile --seeds 0:200 --without-found-bugs   # not the triggers of FOUND_BUGS

Each line says how many calls of the program replayed; the summary counts the programs that replayed at
least once and the fallback reasons (a fuzzer whose programs all fall back tests nothing).
"""
from __future__ import annotations

import argparse
import random
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

FEATURES = (6, 8)  # few distinct widths and batch sizes: the programs share their kernels
BATCH, SMALL_BATCH = 8, 5
CLASSES = 4
IMAGE = (2, 6, 6)  # (channels, height, width) of the convolutional programs


@dataclass
class Program:
    seed: int
    conv: bool = False  # inputs are images (B, C, H, W); else rows (B, F)
    setup: List[str] = field(default_factory=list)  # statements inside make(), before the step
    body: List[str] = field(default_factory=list)  # the step's statements (a ``with`` block is one entry)
    mutations: Dict[int, List[str]] = field(default_factory=dict)  # call index -> statements run before it
    per_call: List[str] = field(default_factory=list)  # statements run before every call but the first
    batches: List[int] = field(default_factory=list)
    in_features: int = 6
    # ``ng.compile(model)`` in an eager loop (a compiled module's forward and backward, ``compiler/aot.py``)
    # instead of a compiled step: the body up to FORWARD_END is the module's forward
    module_mode: bool = False
    layers: List[str] = field(default_factory=list)  # the modules a module-mode Net holds
    free_params: List[str] = field(default_factory=list)  # the nn.Parameters it holds (else closure-only)
    input_layout: str = "contiguous"  # or "transposed", "sliced": inputs that are strided views
    input_grad: bool = False  # the input requires grad (a leaf argument: its .grad is compared too)
    dynamic: Optional[bool] = None  # ng.compile's dynamic= (False: every batch size captured from scratch)
    cache_size_limit: int = 8
    # how the caller keeps each call's parameter .grad: the tensor, or an array or a view of its memory
    grads_kept_as: str = "tensor"

    def source(self, body: Optional[List[str]] = None, mutations: Optional[Dict[int, List[str]]] = None) -> str:
        body = self.body if body is None else body
        mutations = self.mutations if mutations is None else mutations
        lines = ["SCALE = 0.5", "KCOL = 1", "", "def make(compile_model=False, options=None, dynamic=None):",
                 f"    ng.manual_seed({self.seed})"]
        lines += ["    " + s for s in self.setup]
        if self.module_mode and FORWARD_END in body:
            end = body.index(FORWARD_END)
            head = [b for b in body[:end] if b.startswith("opt.zero_grad")]
            forward = [b for b in body[:end] if not b.startswith("opt.zero_grad")]
            lines += ["    class Net(nn.Module):", "        def __init__(self):", "            super().__init__()",
                      f"            self.parts = nn.ModuleList([{', '.join(self.layers)}])"]
            if self.free_params:  # parameters the forward reads from its closure, registered in the module too
                lines.append(f"            self.free = nn.ParameterList([{', '.join(self.free_params)}])")
            lines.append("        def forward(self, x):")
            for stmt in forward:
                lines += ["            " + ln for ln in stmt.split("\n")]
            lines += ["            return h", "    net = Net()",
                      "    model = ng.compile(net, dynamic=dynamic, options=options) if compile_model else net"]
            body = head + ["h = model(x)"] + body[end + 1:]
        lines.append("    def step(x, y):")
        for stmt in body:
            if stmt != FORWARD_END:
                lines += ["        " + ln for ln in stmt.split("\n")]
        lines.append("    def mutate(k):")
        lines.append("        global SCALE, KCOL")
        if self.per_call:
            lines.append("        if k > 0:")
            lines += ["            " + s for s in self.per_call]
        for k in sorted(mutations):
            if mutations[k]:
                lines.append(f"        if k == {k}:")
                lines += ["            " + s for s in mutations[k]]
        lines.append("        pass")
        lines.append("    return step, mutate, locals()")
        return "\n".join(lines)


FORWARD_END = "# end of the forward"  # a body marker: where a module-mode program's module forward ends


class _Hidden:
    """A value holder the guards cannot see (no ``__dict__``): only verification's poisoning protects a step that
    builds a tensor from it."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


# Mismatches this fuzzer found, all fixed since (their repros are tests in tests/test_fuzz_compile.py). Each name
# gates its trigger in the generator, on by default; a new bug found and not fixed yet can be gated the same way
# (left out of ``FOUND_BUGS``'s default set), so that runs keep finding new ones.
FOUND_BUGS = {
    "masked_fill_value": "masked_fill(mask, 1.0) with a mask that is all False in the recorded calls replays NaN "
                         "where the mask is True later (the fill value is a tensor from Python data, poisoned by "
                         "verification and never rebuilt; clamp(x, max=ng.tensor(1.0)) likewise)",
    "freeze_parameter": "requires_grad_(False) on a parameter between calls is not in the guards of a compiled "
                        "step: the replay keeps computing its gradient and the optimizer keeps updating it",
    "module_closure_parameter": "ng.compile(module) whose forward reads an nn.Parameter the module does not "
                                "register (a closure variable): each recording call leaves the placeholder "
                                "backward's gradient in its .grad",
    "module_python_value": "ng.compile(module) in grad mode: a global or closure value its forward reads is not "
                           "guarded, the replay keeps the recorded value",
    "grad_hook_value": "a gradient hook registered outside the step reads a Python value the guards never see: the "
                       "replay keeps the recorded value",
    "tensor_slot": "a tensor the step reads from a list item or an object attribute, rebound between calls, is not "
                   "guarded: the replay keeps reading the old tensor's memory (found by hand, not by this fuzzer; its "
                   "trigger is generated since)",
    "class_namespace": "a number the step reads as an attribute of a class used as a namespace (CFG.scale), changed "
                       "between calls, is not guarded (found by hand; its trigger is generated since)",
    "returned_state": "a step returning a parameter got a copy, not the parameter, and a failed verification "
                      "left the parameter one update behind (its memory was poisoned as an output and put back); a "
                      ".grad kept from an earlier call was overwritten by the next replay (found by hand; its "
                      "trigger is generated, and every call's results and .grad tensors are kept and compared)",
    "kept_grad_views": "a .grad kept from an earlier call as an array or a view of its memory (p.grad.detach(), "
                       ".numpy(), p.grad[0]) was overwritten by the next replay: only references to the .grad tensor "
                       "itself were counted (found by hand; its trigger is generated since)",
}

# how a caller may keep a parameter's .grad after a call (``Program.grads_kept_as``)
GRAD_KEEPERS = {
    "tensor": lambda g: g,
    "detach": lambda g: g.detach(),
    "numpy": lambda g: g.numpy(),
    "row": lambda g: g[0],
}


class Generator:
    def __init__(self, seed: int, calls: int, known_bugs: frozenset = frozenset(FOUND_BUGS)):
        self.known_bugs = known_bugs
        self.rng = random.Random(seed)
        self.p = Program(seed)
        self.calls = calls
        self.n_layers = 0
        self.features = 0
        self.trainable: List[str] = []
        self.modules: List[str] = []
        self.dropouts: List[str] = []
        self.leaky: List[str] = []

    # ------------------------------------------------------------ helpers
    def setup(self, line: str) -> None:
        self.p.setup.append(line)

    def body(self, stmt: str) -> None:
        self.p.body.append(stmt)

    def layer(self, ctor: str, trainable: bool = True) -> str:
        name = f"m{self.n_layers}"
        self.n_layers += 1
        self.setup(f"{name} = {ctor}")
        self.modules.append(name)
        if trainable:
            self.trainable.append(name)
        return name

    def mutate(self, stmt: str, undo: str = "") -> None:
        """Run ``stmt`` before a random call (mostly after the step was captured), and often ``undo`` a call or
        two later, so the first variant replays again."""
        k = self.rng.randrange(4, self.calls) if self.rng.random() < 0.85 else self.rng.randrange(1, self.calls)
        self.p.mutations.setdefault(k, []).append(stmt)
        back = k + self.rng.randint(1, 2)
        if undo and back < self.calls and self.rng.random() < 0.7:
            self.p.mutations.setdefault(back, []).append(undo)

    def value(self) -> float:
        return self.rng.choice([0.25, 0.5, 0.75, 1.5, -0.5, 2.0])

    # ------------------------------------------------------------ the step's chain
    def linear(self) -> None:
        out = self.rng.choice(FEATURES)
        bias = self.rng.random() < 0.8
        m = self.layer(f"nn.Linear({self.features}, {out}, bias={bias})")
        self.body(f"h = {m}(h)")
        self.features = out

    def activation(self) -> None:
        r = self.rng.random()
        if r < 0.2:
            slope = self.rng.choice([0.01, 0.1, 0.2])
            m = self.layer(f"nn.LeakyReLU({slope})", trainable=False)
            self.leaky.append(m)
            self.body(f"h = {m}(h)")
            if self.rng.random() < 0.5:
                self.mutate(f"{m}.negative_slope = {self.rng.choice([0.05, 0.3])}", f"{m}.negative_slope = {slope}")
        else:
            self.body("h = " + self.rng.choice(["F.relu(h)", "ng.tanh(h)", "ng.sigmoid(h)", "F.gelu(h)", "F.silu(h)",
                                                "F.elu(h)", "h.clamp(-1.0, 1.0)", "F.softplus(h)"]))

    def scalar_op(self) -> None:
        r = self.rng.random()
        if r < 0.3:
            self.body(self.rng.choice(["h = h * SCALE", "h = h + SCALE", "h = h - SCALE * h.mean()"]))
            if self.rng.random() < 0.6:
                self.mutate(f"SCALE = {self.value()}", "SCALE = 0.5")
        elif r < 0.55:
            self.body(self.rng.choice(["h = h * cfg[0]", "h = h + cfg[0]", "h = h / (1.0 + abs(cfg[0]))"]))
            if self.rng.random() < 0.6:
                self.mutate(f"cfg[0] = {self.value()}", "cfg[0] = 0.5")
        elif r < 0.7:
            self.body(self.rng.choice(["h = h * opts.scale", "h = h + opts.scale * 0.5"]))
            if self.rng.random() < 0.6:
                self.mutate(f"opts.scale = {self.value()}", "opts.scale = 1.5")
        elif r < 0.75 and "class_namespace" in self.known_bugs:  # a class of settings, changed between calls
            k = self.n_layers
            self.n_layers += 1
            self.setup(f"Knobs{k} = type('Knobs{k}', (), {{'scale': 1.5}})")
            self.body(f"h = h * Knobs{k}.scale")
            self.mutate(f"Knobs{k}.scale = {self.value()}", f"Knobs{k}.scale = 1.5")
        elif r < 0.8 and "tensor_slot" in self.known_bugs:  # a tensor in a Python slot, rebound between calls
            f, k = self.features, self.n_layers
            self.n_layers += 1
            if self.rng.random() < 0.5:
                self.setup(f"tslot{k} = [ng.ones({f})]")
                self.body(f"h = h * tslot{k}[0]")
                self.mutate(f"tslot{k}[0] = ng.full(({f},), {self.value()})", f"tslot{k}[0] = ng.ones({f})")
            else:
                self.setup(f"tslot{k} = types.SimpleNamespace(t=ng.zeros({f}))")
                self.body(f"h = h + tslot{k}.t")
                self.mutate(f"tslot{k}.t = ng.full(({f},), {self.value()})", f"tslot{k}.t = ng.zeros({f})")
        else:
            self.body(f"h = h * {self.value()} + {self.value()}")

    def elementwise(self) -> None:
        self.body(self.rng.choice(["h = h * ng.sigmoid(h)", "h = h + ng.tanh(h) * 0.5", "h = ng.maximum(h, h * 0.3)",
                                   "h = ng.where(h > 0, h, h * 0.1)", "h = h * h * 0.25 + h", "h = ng.exp(-h * h)",
                                   "h = h / (h.abs() + 1.0)", "h = ng.sqrt(h * h + 0.5)"]))

    def reduction(self) -> None:
        self.body(self.rng.choice(["h = h - h.mean(1, keepdim=True)", "h = h - h.amax(1, keepdim=True)",
                                   "h = h / (h.norm(dim=1, keepdim=True) + 1.0)", "h = h - h.mean(0)",
                                   "h = h * h.std(1, keepdim=True)", "h = h + h.sum(1, keepdim=True) * 0.1",
                                   "h = F.softmax(h, 1)", "h = F.log_softmax(h, 1)", "h = h + h.max(1, keepdim=True)[0]",
                                   "h = h - h.var(0, keepdim=True)"]))

    def matmul(self) -> None:
        out = self.rng.choice(FEATURES)
        name = f"w{self.n_layers}"
        self.n_layers += 1
        self.setup(f"{name} = nn.Parameter(ng.randn({self.features}, {out}) * 0.3)")
        self.trainable.append(name)
        self.body(self.rng.choice([f"h = h @ {name}", f"h = ng.matmul(h, {name})", f"h = h.mm({name})"]))
        self.features = out

    def indexing(self) -> None:
        f = self.features
        r = self.rng.randrange(7)
        if r == 0:  # an index tensor made once, outside the step
            idx = [self.rng.randrange(f) for _ in range(f)]
            self.setup(f"idx{self.n_layers} = ng.tensor({idx})")
            self.body(f"h = h[:, idx{self.n_layers}]")
            self.n_layers += 1
        elif r == 1:  # a Python int read from a global that changes
            self.body("h = h * h[:, KCOL].unsqueeze(1)")
            if self.rng.random() < 0.6:
                self.mutate(f"KCOL = {self.rng.randrange(f)}", "KCOL = 1")
        elif r == 2:
            start = self.rng.randrange(1, 3)
            self.body(f"h = ng.cat([h[:, {start}:], h[:, :{start}]], 1)")
        elif r == 3:
            self.body(f"h = h + h[:, {self.rng.randrange(f)}:{self.rng.randrange(f) + 1}].sum(1, keepdim=True)")
        elif r == 4:  # a list index (Python data turned into an index tensor by indexing)
            cols = [self.rng.randrange(f) for _ in range(f)]
            self.body(f"h = h[:, {cols}]")
        elif r == 5:  # a boolean mask from the data
            if "masked_fill_value" in self.known_bugs:
                self.body("h = h.masked_fill(h > 1.0, 1.0)")
            else:
                self.body("h = ng.where(h > 1.0, h * 0.5, h)")
        else:
            self.body("h = h.flip(1) * 0.5 + h")

    def view_inplace(self) -> None:
        f = self.features
        r = self.rng.randrange(7)
        if r == 0:
            self.body("h = h.clone()\nh[:, 0] = 0.25")
        elif r == 1:
            self.body("h = h.clone()\nh.mul_(cfg[0])")
            if self.rng.random() < 0.5:
                self.mutate(f"cfg[0] = {self.value()}", "cfg[0] = 0.5")
        elif r == 2:
            self.body("h = h.t().contiguous().t()")
        elif r == 3:
            self.body(f"h = h.reshape(-1, 2, {f // 2}).sum(1).repeat(1, 2)")
        elif r == 4:
            self.body("h = h.clone()\nh[:, 1:3].add_(1.0)")
        elif r == 5:
            self.body("h = F.relu(h).clone().add_(0.5)")
        else:
            self.body("h = h.view(-1, 2, h.shape[1] // 2).transpose(1, 2).reshape(h.shape[0], -1)")

    def no_grad_part(self) -> None:
        r = self.rng.randrange(3)
        if r == 0:
            self.body("with ng.no_grad():\n    m = h.mean(0, keepdim=True)\nh = h - m")
        elif r == 1:
            self.body("with ng.no_grad():\n    s = h.abs().amax() + 1.0\nh = h / s")
        else:
            self.body("with ng.no_grad():\n    mask = (h > 0).float()\nh = h * mask")

    def dropout(self) -> None:
        if self.rng.random() < 0.7:
            p = self.rng.choice([0.1, 0.25, 0.5])
            m = self.layer(f"nn.Dropout({p})", trainable=False)
            self.dropouts.append(m)
            self.body(f"h = {m}(h)")
            if self.rng.random() < 0.4:
                self.mutate(f"{m}.p = {self.rng.choice([0.0, 0.3, 0.6])}", f"{m}.p = {p}")
        else:
            self.body("h = F.dropout(h, p=cfg[1], training=True)")
            if self.rng.random() < 0.5:
                self.mutate(f"cfg[1] = {self.rng.choice([0.0, 0.2, 0.4])}", "cfg[1] = 0.25")

    def batchnorm(self) -> None:
        momentum = self.rng.choices([0.1, 0.3, None], [4, 4, 1])[0]  # None: a cumulative average, read in Python
        affine = self.rng.random() < 0.8
        m = self.layer(f"nn.BatchNorm1d({self.features}, momentum={momentum}, affine={affine})", trainable=affine)
        self.body(f"h = {m}(h)")
        if momentum is not None and self.rng.random() < 0.3:
            self.mutate(f"{m}.momentum = 0.5", f"{m}.momentum = {momentum}")

    def python_data(self) -> None:
        """A tensor built from Python data inside the step (falls back or replays correctly)."""
        f = self.features
        r = self.rng.randrange(4)
        if r == 0:
            self.body(f"h = h * ng.tensor({[self.value() for _ in range(f)]})")
        elif r == 1:
            self.body("h = h * ng.tensor(hidden.value)")
            if self.rng.random() < 0.7:
                self.mutate(f"hidden.value = {self.value()}", "hidden.value = 1.0")
        elif r == 2:
            self.body(f"h = h + ng.arange({f}.0) * 0.1")
        else:
            self.body(f"h = h + ng.full(({f},), cfg[0])")
            if self.rng.random() < 0.5:
                self.mutate(f"cfg[0] = {self.value()}", "cfg[0] = 0.5")

    def grad_hook(self) -> None:
        """A gradient hook on a parameter, registered outside the step."""
        layer = self.rng.choice([n for n in self.trainable if n.startswith("m")] or [None])
        if layer is None:
            return
        if "grad_hook_value" in self.known_bugs and self.rng.random() < 0.5:
            self.setup(f"{layer}.weight.register_hook(lambda g: g * cfg[0])")
            self.mutate(f"cfg[0] = {self.value()}", "cfg[0] = 0.5")
        else:
            self.setup(f"{layer}.weight.register_hook(lambda g: g.clamp(-0.05, 0.05))")

    def item_read(self) -> None:
        self.body(self.rng.choice(["s = h.detach().abs().sum().item()\nh = h * (0.5 if s > 10.0 else 2.0)",
                                   "h = h * float(h.detach().mean())"]))

    def conv_stem(self) -> None:
        c = IMAGE[0]
        out = self.rng.choice([3, 4])
        pad = self.rng.choice([0, 1])
        m = self.layer(f"nn.Conv2d({c}, {out}, 3, padding={pad})")
        self.body(f"h = {m}(x)")
        if self.rng.random() < 0.5:
            bn = self.layer(f"nn.BatchNorm2d({out})")
            self.body(f"h = {bn}(h)")
        self.body("h = F.relu(h)")
        pool = self.rng.choice(["h = F.max_pool2d(h, 2)", "h = F.avg_pool2d(h, 2)", "h = F.adaptive_avg_pool2d(h, 2)"])
        self.body(pool)
        side = 2 if "adaptive" in pool else (IMAGE[1] - 2 + 2 * pad) // 2
        self.body("h = h.flatten(1)")
        self.features = self.rng.choice(FEATURES)
        lin = self.layer(f"nn.Linear({out * side * side}, {self.features})")
        self.body(f"h = {lin}(h)")

    def loss(self) -> None:
        head = self.layer(f"nn.Linear({self.features}, {CLASSES})")
        self.body(f"h = {head}(h)")
        self.body(FORWARD_END)
        r = self.rng.randrange(8)
        red = self.rng.choice(["mean", "mean", "sum"])
        if r == 0:
            self.body(f"loss = F.cross_entropy(h, y, reduction='{red}')")
        elif r == 1:
            self.setup(f"cw = ng.tensor({[self.rng.choice([0.5, 1.0, 2.0]) for _ in range(CLASSES)]})")
            self.body(f"loss = F.cross_entropy(h, y, weight=cw, reduction='{red}')")
        elif r == 2:
            self.body(f"loss = F.cross_entropy(h, y, label_smoothing={self.rng.choice([0.1, 0.2])})")
        elif r == 3:
            self.setup(f"cw = ng.tensor({[self.rng.choice([0.5, 1.0, 2.0]) for _ in range(CLASSES)]})")
            self.body(f"loss = F.nll_loss(F.log_softmax(h, 1), y, weight=cw, reduction='{red}')")
        elif r == 4:  # a class weight built from Python data inside the step
            self.body(f"loss = F.cross_entropy(h, y, weight=ng.tensor({[self.value() for _ in range(CLASSES)]}).abs())")
        elif r == 5:
            loss_mod = self.layer("nn.CrossEntropyLoss(ignore_index=0)", trainable=False)
            self.body(f"loss = {loss_mod}(h, y)")
        elif r == 6:
            self.body(f"loss = F.mse_loss(h, F.one_hot(y, {CLASSES}).float(), reduction='{red}')")
        else:
            self.body("loss = (h * h).mean() + h.abs().sum() * 0.01")

    def optimizer(self) -> None:
        params = ", ".join(f"*{n}.parameters()" if n.startswith("m") else n for n in self.trainable)
        r = self.rng.randrange(5)
        if r == 0:
            ctor = f"ng.optim.SGD([{params}], lr=0.05)"
        elif r == 1:
            ctor = (f"ng.optim.SGD([{params}], lr=0.05, momentum=0.9, nesterov={self.rng.random() < 0.5}, "
                    f"weight_decay={self.rng.choice([0.0, 1e-3])})")
        elif r == 2:
            ctor = f"ng.optim.Adam([{params}], lr=0.01, amsgrad={self.rng.random() < 0.3})"
        elif r == 3:
            ctor = f"ng.optim.AdamW([{params}], lr=0.01, weight_decay=0.05)"
        else:
            ctor = f"ng.optim.RMSprop([{params}], lr=0.01, momentum={self.rng.choice([0.0, 0.5])})"
        self.setup(f"opt = {ctor}")
        r = self.rng.random()
        if r < 0.15:  # hyperparameters changed between calls, as a schedule by hand does
            key = self.rng.choice(["lr", "weight_decay"] + (["momentum"] if "momentum=0.9" in ctor else []))
            self.mutate(f"opt.param_groups[0][{key!r}] = {self.rng.choice([0.001, 0.02])}")
        elif r < 0.25 and "freeze_parameter" in self.known_bugs:  # freezing a layer between calls
            layer = self.rng.choice([n for n in self.trainable if n.startswith("m")] or self.trainable)
            what = f"{layer}.parameters()" if layer.startswith("m") else f"[{layer}]"
            self.mutate(f"for q in {what}: q.requires_grad_(False)", f"for q in {what}: q.requires_grad_(True)")
        elif r < 0.38:  # a module's weights loaded from a snapshot, or rebound to a copy (a buffer guard miss)
            layer = self.rng.choice([n for n in self.trainable if n.startswith("m")] or [None])
            if layer is not None and self.rng.random() < 0.5:
                self.setup(f"snap = {{k: v.clone() for k, v in {layer}.state_dict().items()}}")
                self.mutate(f"{layer}.load_state_dict(snap)")
            elif layer is not None:
                self.mutate(f"{layer}.weight.data = {layer}.weight.data * 0.5")
        elif r < 0.43:  # gradient accumulation: one call's zero_grad skipped
            self.p.body = [b for b in self.p.body if not b.startswith("opt.zero_grad")]
            self.p.per_call.append("if k % 2 == 0: opt.zero_grad()")
        if self.rng.random() < 0.25:
            self.setup(self.rng.choice(["sched = ng.optim.lr_scheduler.StepLR(opt, 2, gamma=0.5)",
                                        "sched = ng.optim.lr_scheduler.ExponentialLR(opt, 0.9)"]))
            if self.rng.random() < 0.2:  # inside the step: the learning rate changes on every call (may fall back)
                self.tail_sched = True
            else:  # an epoch loop's scheduler, outside the step
                self.p.per_call.append("sched.step()")
        self.p.body.insert(0, self.rng.choice(["opt.zero_grad()", "opt.zero_grad()", "opt.zero_grad(set_to_none=False)"]))

    def generate(self) -> Program:
        rng = self.rng
        self.tail_sched = False
        self.setup("cfg = [0.5, 0.25]")
        self.setup("opts = types.SimpleNamespace(scale=1.5)")
        self.setup("hidden = Hidden(1.0)")
        self.p.conv = rng.random() < 0.15
        if self.p.conv:
            self.conv_stem()
        else:
            self.features = self.p.in_features = rng.choice(FEATURES)
            self.body("h = x")
            self.linear()
        moves = [(self.linear, 3), (self.activation, 4), (self.scalar_op, 3), (self.elementwise, 2),
                 (self.reduction, 2), (self.matmul, 1), (self.indexing, 2), (self.view_inplace, 2),
                 (self.no_grad_part, 1), (self.dropout, 1.5), (self.batchnorm, 1.5), (self.python_data, 0.5),
                 (self.item_read, 0.25), (self.grad_hook, 0.5)]
        fns, weights = [m for m, _ in moves], [w for _, w in moves]
        for _ in range(rng.randint(2, 7)):
            rng.choices(fns, weights)[0]()
        self.loss()
        train = rng.random() < 0.8
        if train:
            self.body("loss.backward()")
            if rng.random() < 0.15:
                self.body("nn.utils.clip_grad_norm_(opt.param_groups[0]['params'], 1.0)")
            self.optimizer()
            self.body("opt.step()")
            if self.tail_sched:
                self.body("sched.step()")
        elif rng.random() < 0.5:
            self.p.body = ["with ng.no_grad():\n" + "\n".join("    " + ln for s in self.p.body for ln in s.split("\n"))]
        # a returned tensor that needs a graph runs eagerly (rarely chosen: it replays nothing)
        returns = ["return loss.detach()", "return loss.detach(), h.detach()",
                   "return {'loss': loss.detach(), 'out': [h.detach()]}", "return loss"]
        layers = [n for n in self.trainable if n.startswith("m")]
        if layers and "returned_state" in self.known_bugs:  # persistent memory returned: the caller keeps it
            returns.append(f"return loss.detach(), {rng.choice(layers)}.weight")
        self.body(rng.choices(returns, [3, 3, 1, 0.3, 0.5][:len(returns)])[0])
        if self.modules and rng.random() < 0.3:  # train/eval switches between calls
            self.mutate(f"{rng.choice(self.modules)}.eval()", "for mod in [" + ", ".join(self.modules) + "]: mod.train()")
        self.p.module_mode = train and rng.random() < 0.2
        if self.p.module_mode and "module_python_value" not in self.known_bugs:
            plain = ("SCALE", "KCOL", "cfg", "opts", "hidden")
            self.p.mutations = {k: [m for m in v if not m.startswith(plain)] for k, v in self.p.mutations.items()}
        self.p.layers = [m for m in self.modules]
        if "module_closure_parameter" not in self.known_bugs:
            self.p.free_params = [n for n in self.trainable if n.startswith("w")]
        r = rng.random()
        self.p.input_layout = "contiguous" if r < 0.8 else ("transposed" if r < 0.9 else "sliced")
        self.p.input_grad = rng.random() < 0.1
        self.p.dynamic = None if rng.random() < 0.8 else rng.choice([False, True])
        self.p.cache_size_limit = 8 if rng.random() < 0.9 else 2
        if "kept_grad_views" in self.known_bugs and rng.random() < 0.3:
            self.p.grads_kept_as = rng.choice(["detach", "numpy", "row"])
        batches = [BATCH] * self.calls
        r = rng.random()
        if r < 0.4:  # an epoch's smaller last batch
            batches[-1] = SMALL_BATCH
        elif r < 0.6:
            batches = batches[:3] + [rng.choice([BATCH, SMALL_BATCH]) for _ in range(self.calls - 3)]
        self.p.batches = batches
        return self.p


def generate(seed: int, calls: int = 10, known_bugs: frozenset = frozenset(FOUND_BUGS)) -> Program:
    """The program of ``seed``; ``known_bugs``: names in ``FOUND_BUGS`` whose triggers may be generated (all)."""
    return Generator(seed, calls, known_bugs).generate()


# ------------------------------------------------------------------------------------------------ running
def _inputs(program: Program, k: int, ng):
    rng = np.random.default_rng(program.seed * 1000 + k)
    b = program.batches[k]
    shape = (b,) + IMAGE if program.conv else (b, program.in_features)
    data = rng.standard_normal(shape).astype(np.float32)
    if program.input_layout == "transposed":  # the same values, Fortran order: x.t() of a contiguous tensor
        x = ng.tensor(np.ascontiguousarray(data.T)).permute(*reversed(range(data.ndim)))
    elif program.input_layout == "sliced":  # every other element of a wider buffer
        wide = np.zeros(shape[:-1] + (2 * shape[-1],), np.float32)
        wide[..., ::2] = data
        x = ng.tensor(wide)[..., ::2]
    else:
        x = ng.tensor(data)
    if program.input_grad:
        x.requires_grad_(True)
    y = ng.tensor(rng.integers(0, CLASSES, size=b).astype(np.int64))
    return x, y


def _instantiate(source: str, *args):
    """``make(*args)`` of the program ``source``, in a namespace of its own: (step, mutate, make's locals)."""
    import types

    import numgrad as ng
    from numgrad import nn
    from numgrad.nn import functional as F
    env = {"ng": ng, "nn": nn, "F": F, "types": types, "Hidden": _Hidden, "__name__": "fuzz_compile_program"}
    exec(compile(source, "<fuzz_compile program>", "exec"), env)
    step, mutate, local = env["make"](*args)
    return step, mutate, local


def _arrays(value, prefix: str, out: list) -> None:
    import numgrad as ng
    if isinstance(value, ng.Tensor):
        out.append((prefix, value.detach().numpy().copy()))
    elif isinstance(value, np.ndarray):
        out.append((prefix, value.copy()))
    elif isinstance(value, dict):
        for k in value:
            _arrays(value[k], f"{prefix}[{k!r}]", out)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _arrays(v, f"{prefix}[{i}]", out)
    elif value is None or isinstance(value, (int, float, bool, str)):
        out.append((prefix, value))
    else:
        out.append((prefix, repr(type(value))))


def snapshot(local: dict, result) -> list:
    """Everything a call may change, as (name, value) pairs: outputs, parameters, grads, buffers, optimizer state."""
    import numgrad as ng
    out: list = []
    _arrays(result, "output", out)
    for name in sorted(local):
        obj = local[name]
        if isinstance(obj, ng.nn.Module):
            for pname, p in obj.named_parameters():
                out.append((f"{name}.{pname}", p.detach().numpy().copy()))
                out.append((f"{name}.{pname}.grad", None if p.grad is None else p.grad.numpy().copy()))
            for bname, b in obj.named_buffers():
                out.append((f"{name}.{bname} (buffer)", b.numpy().copy()))
            out.append((f"{name}.training", obj.training))
        elif isinstance(obj, ng.Tensor) and obj.requires_grad:
            out.append((name, obj.detach().numpy().copy()))
            out.append((f"{name}.grad", None if obj.grad is None else obj.grad.numpy().copy()))
        elif isinstance(obj, ng.optim.Optimizer):
            _arrays(obj.state_dict(), f"{name}.state_dict()", out)
    return out


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind in "fc":
            na, nb = np.isnan(a), np.isnan(b)
            if not np.array_equal(na, nb):
                return False
            return np.where(na, 0, a).tobytes() == np.where(nb, 0, b).tobytes()
        return a.tobytes() == b.tobytes()
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return type(a) is type(b) and a == b


def _describe(a) -> str:
    if isinstance(a, np.ndarray):
        flat = a.ravel()
        return f"{a.dtype}{a.shape} {np.array2string(flat[:6], precision=9)}{' ...' if flat.size > 6 else ''}"
    return repr(a)


@dataclass
class Outcome:
    mismatch: Optional[str] = None  # the first difference, with the call index
    replays: int = 0
    eager_calls: int = 0
    fallback_reason: Optional[str] = None
    explain: str = ""
    raised: Optional[str] = None  # both copies raised this (same type, same call)


def run(program: Program, body: Optional[List[str]] = None, mutations=None, fuse: bool = True) -> Outcome:
    """Run the program in two copies (compiled and eager) and compare them after every call."""
    import numgrad as ng
    source = program.source(body, mutations)
    outcome = Outcome()
    module_mode = program.module_mode and "model = ng.compile" in source
    try:
        options = {"fuse": fuse, "cache_size_limit": program.cache_size_limit}
        c_step, c_mutate, c_local = _instantiate(source, module_mode, options, program.dynamic)
        e_step, e_mutate, e_local = _instantiate(source)
    except Exception as exc:  # noqa: BLE001 - a program whose setup fails (shrinking) compares nothing
        outcome.raised = f"setup: {type(exc).__name__}: {exc}"
        return outcome
    if module_mode:  # the module is compiled; the step around it runs eagerly
        compiled = c_local["model"]._compiled_call
        c_local = {k: v for k, v in c_local.items() if k != "model"}
        e_local = {k: v for k, v in e_local.items() if k != "model"}
    else:
        compiled = c_step = ng.compile(c_step, dynamic=program.dynamic, options=options)
    # every call's result and .grad tensors, kept as a caller keeping them would: an earlier one must not change
    # where eager's does not (a replay writing memory a kept tensor still uses)
    kept: tuple = ([], [])
    for k, _ in enumerate(program.batches):
        results = []
        input_grads = []
        for step, mutate in ((c_step, c_mutate), (e_step, e_mutate)):
            mutate(k)
            x, y = _inputs(program, k, ng)
            ng.manual_seed(program.seed * 7919 + k)
            try:
                results.append(("ok", step(x, y)))
            except Exception as exc:  # noqa: BLE001 - compared across the two copies
                results.append(("raised", f"{type(exc).__name__}: {str(exc)[:300]}"))
            input_grads.append(("x.grad", None if x.grad is None else x.grad.numpy().copy()))
        (ck, cv), (ek, ev) = results
        if ck != ek or (ck == "raised" and cv.split(":")[0] != ev.split(":")[0]):
            outcome.mismatch = f"call {k}: compiled {ck} {cv if ck == 'raised' else ''} / eager {ek} " \
                               f"{ev if ek == 'raised' else ''}"
            break
        if ck == "raised":
            outcome.raised = f"call {k}: {ev}"
            break
        for keep, local, value in zip(kept, (c_local, e_local), (cv, ev)):
            keep_grad = GRAD_KEEPERS[program.grads_kept_as]
            keep.append((value, [None if p.grad is None else keep_grad(p.grad)
                                 for m in local.values() if isinstance(m, ng.nn.Module) for p in m.parameters()]))
        got, want = snapshot(c_local, cv) + input_grads[:1], snapshot(e_local, ev) + input_grads[1:]
        for out, keep in ((got, kept[0]), (want, kept[1])):
            _arrays(keep, "kept", out)
        diffs = [f"{n}: compiled {_describe(a)} vs eager {_describe(b)}"
                 for (n, a), (_, b) in zip(got, want) if not _same(a, b)]
        if len(got) != len(want):
            diffs.append(f"{len(got)} values compiled vs {len(want)} eager")
        if diffs:
            outcome.mismatch = f"call {k} (batch {program.batches[k]}): " + "; ".join(diffs[:4]) + \
                               (f"; and {len(diffs) - 4} more" if len(diffs) > 4 else "")
            break
    outcome.replays = compiled.replays
    outcome.eager_calls = compiled.eager_calls
    outcome.fallback_reason = compiled.fallback_reason
    outcome.explain = compiled.explain()
    return outcome


def shrink(program: Program, fuse: bool = True) -> tuple:
    """Remove step statements and mutations while a mismatch persists; the smallest (body, mutations) found."""
    body = list(program.body)
    mutations = {k: list(v) for k, v in program.mutations.items()}
    changed = True
    while changed:
        changed = False
        for i in range(len(body) - 1, -1, -1):
            if body[i].startswith("return") or body[i] == FORWARD_END:
                continue
            trial = body[:i] + body[i + 1:]
            if run(program, trial, mutations, fuse).mismatch:
                body, changed = trial, True
        for k in sorted(mutations):
            for j in range(len(mutations[k]) - 1, -1, -1):
                trial = {kk: (v[:j] + v[j + 1:] if kk == k else v) for kk, v in mutations.items()}
                if run(program, body, trial, fuse).mismatch:
                    mutations, changed = trial, True
    return body, mutations


def check(seed: int, fuse: bool = True, calls: int = 10, minimize: bool = True,
          known_bugs: frozenset = frozenset(FOUND_BUGS)) -> tuple:
    """(a report of the mismatch or None, the outcome) for the program of ``seed``."""
    program = generate(seed, calls, known_bugs)
    outcome = run(program, fuse=fuse)
    if outcome.mismatch is None:
        return None, outcome
    report = [f"seed {seed} (fuse={fuse}): {outcome.mismatch}",
              f"fallback_reason: {outcome.fallback_reason}", f"batches: {program.batches}"]
    if minimize:
        body, mutations = shrink(program, fuse)
        small = run(program, body, mutations, fuse)
        report += [f"minimal ({small.mismatch}):", program.source(body, mutations), small.explain]
    else:
        report += [program.source(), outcome.explain]
    return "\n".join(report), outcome


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0:300", help="start:stop")
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--no-fuse", action="store_true", help="replay as a Python launch loop (fuse=False)")
    parser.add_argument("--no-minimize", action="store_true")
    parser.add_argument("--show", action="store_true", help="print each program's source")
    parser.add_argument("--without-found-bugs", action="store_true",
                        help="leave out the triggers of FOUND_BUGS (the programs of earlier runs)")
    args = parser.parse_args(argv)
    # a scheduler stepped before the first optimizer step says so in both copies; keep the log readable
    warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
    start, stop = (int(s) for s in args.seeds.split(":"))
    failures = replays = replayed = raised = 0
    reasons: Dict[str, int] = {}
    t0 = time.time()
    for seed in range(start, stop):
        known = frozenset() if args.without_found_bugs else frozenset(FOUND_BUGS)
        if args.show:
            print(generate(seed, args.calls, known).source())
        report, outcome = check(seed, not args.no_fuse, args.calls, not args.no_minimize, known)
        replays += outcome.replays
        replayed += outcome.replays > 0
        raised += outcome.raised is not None
        if outcome.fallback_reason:
            key = outcome.fallback_reason[:90]
            reasons[key] = reasons.get(key, 0) + 1
        if report:
            failures += 1
            print(f"--- {report}\n", flush=True)
        print(f"seed {seed}: {outcome.replays} replays{' MISMATCH' if report else ''}"
              f"{' raised ' + outcome.raised[:80] if outcome.raised else ''}"
              f"{' fallback: ' + outcome.fallback_reason[:150] if outcome.fallback_reason else ''}", flush=True)
    n = stop - start
    print(f"{failures} mismatching programs of {n}; {replayed} programs replayed at least once, {replays} replays "
          f"in all; {raised} raised in both copies; {time.time() - t0:.0f} s")
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"  {count:4d} x fallback: {reason}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
