"""Recurrent benchmarks: numgrad vs PyTorch eager in one run; prints medians and ratios (no assertions).

    python -m benchmarks.bench_rnn [--repeats 30] [--torch-threads N]

1. LSTM language-model step: Embedding(1000, 128) -> LSTM(128, 128) ->
   Linear(128, 1000) -> cross-entropy, forward + backward (zero_grad
   included), float32, batch 16, sequence 32.
2. The LSTM cell at small sizes (batch 16, hidden 128): one ``LSTMCell`` step
   forward, and forward + backward; plus the layer's own per-step cost
   (``nn.LSTM`` over 32 steps, forward, divided by 32) and the layer alone
   forward + backward (the LM step without embedding, head and loss).
3. The gate math alone (after the two products), numgrad's one fused kernel
   vs PyTorch eager's ops on the same ``(16, 512)`` gate pre-activations.
"""
from __future__ import annotations

import argparse

import numpy as np

import numgrad as ng  # before numba/torch: numgrad's threading defaults apply
from benchmarks.common import interleaved_medians

try:
    import torch
except ImportError:  # the benchmark still reports numgrad's own times
    torch = None

VOCAB, EMBED, HIDDEN, BATCH, SEQ = 1000, 128, 128, 16, 32


def _lm_modules(lib):
    nn = lib.nn

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, EMBED)
            self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
            self.head = nn.Linear(HIDDEN, VOCAB)

        def forward(self, tokens):
            out, _ = self.lstm(self.embed(tokens))
            return self.head(out.reshape(-1, HIDDEN))

    return LM()


def lm_step(lib):
    """One LSTM language-model fwd+bwd step (``lib`` is numgrad or torch)."""
    lib.manual_seed(0)
    model = _lm_modules(lib)
    rng = np.random.default_rng(0)
    tokens = lib.tensor(rng.integers(0, VOCAB, (BATCH, SEQ)))
    target = lib.tensor(rng.integers(0, VOCAB, (BATCH * SEQ,)))

    def step():
        model.zero_grad()
        loss = lib.nn.functional.cross_entropy(model(tokens), target)
        loss.backward()
        return loss.item()
    return step


def cell_steps(lib):
    """(forward, forward+backward) of one LSTMCell step at batch 16, hidden 128."""
    lib.manual_seed(0)
    cell = lib.nn.LSTMCell(HIDDEN, HIDDEN)
    x = lib.randn(BATCH, HIDDEN)
    h, c = lib.randn(BATCH, HIDDEN), lib.randn(BATCH, HIDDEN)

    def forward():
        return cell(x, (h, c))

    def forward_backward():
        cell.zero_grad()  # as a training step does: the weight gradients are written, not accumulated
        h1, c1 = cell(x, (h, c))
        (h1.sum() + c1.sum()).backward()
    return forward, forward_backward


def layer_forward(lib):
    """nn.LSTM(128, 128) forward over 32 steps, batch 16 (divide by 32 for the per-step cost)."""
    lib.manual_seed(0)
    lstm = lib.nn.LSTM(HIDDEN, HIDDEN)
    x = lib.randn(SEQ, BATCH, HIDDEN)

    def forward():
        with lib.no_grad():
            return lstm(x)
    return forward


def layer_forward_backward(lib):
    """nn.LSTM(128, 128) forward + backward over 32 steps, batch 16 (the LM step without embedding, head, loss)."""
    lib.manual_seed(0)
    lstm = lib.nn.LSTM(HIDDEN, HIDDEN)
    x = lib.randn(SEQ, BATCH, HIDDEN, requires_grad=True)

    def step():
        lstm.zero_grad()
        x.grad = None
        out, (h, c) = lstm(x)
        out.sum().backward()
    return step


def gates_numgrad():
    """numgrad's fused LSTM gate kernel alone on (16, 512) pre-activations."""
    from numgrad.kernels.cpu import rnn as k

    rng = np.random.default_rng(0)
    ig = rng.standard_normal((BATCH, 4 * HIDDEN)).astype(np.float32)
    hg = rng.standard_normal((BATCH, 4 * HIDDEN)).astype(np.float32)
    b = np.zeros(4 * HIDDEN, np.float32)
    c = rng.standard_normal((BATCH, HIDDEN)).astype(np.float32)
    h_out, c_out = np.empty_like(c), np.empty_like(c)
    acts = np.empty_like(ig)
    one = np.float32(1)
    return lambda: k.lstm_step_forward(ig, hg, b, c, one, h_out, c_out, acts)


def gates_torch():
    """PyTorch eager's LSTM gate math (what its CPU cell runs after the products) on the same sizes."""
    g = torch.randn(BATCH, 4 * HIDDEN)
    hg = torch.randn(BATCH, 4 * HIDDEN)
    c = torch.randn(BATCH, HIDDEN)

    def gates():
        i, f, gg, o = (g + hg).chunk(4, 1)
        c1 = f.sigmoid() * c + i.sigmoid() * gg.tanh()
        return o.sigmoid() * c1.tanh(), c1
    return gates


def _timed_ms(steps: dict, repeats: int) -> dict:
    rounds = 5
    times = interleaved_medians(steps, rounds=rounds, repeats=max(1, repeats // rounds), warmup=3)
    return {k: None if t is None else 1e3 * t for k, t in times.items()}


def run(repeats: int = 30) -> dict:
    """Medians in ms: {workload: {"numgrad": ms, "torch_eager": ms or None}}."""
    have = torch is not None
    results = {"lstm_lm_step": _timed_ms({"numgrad": lm_step(ng), "torch_eager": lm_step(torch) if have else None},
                                         repeats)}
    ng_fwd, ng_fb = cell_steps(ng)
    t_fwd, t_fb = cell_steps(torch) if have else (None, None)
    results["lstm_cell_forward"] = _timed_ms({"numgrad": ng_fwd, "torch_eager": t_fwd}, repeats * 10)
    results["lstm_cell_fwd_bwd"] = _timed_ms({"numgrad": ng_fb, "torch_eager": t_fb}, repeats * 10)
    layer = _timed_ms({"numgrad": layer_forward(ng), "torch_eager": layer_forward(torch) if have else None},
                      repeats)
    results["lstm_layer_per_step_forward"] = {k: None if v is None else v / SEQ for k, v in layer.items()}
    results["lstm_layer_fwd_bwd"] = _timed_ms({"numgrad": layer_forward_backward(ng),
                                               "torch_eager": layer_forward_backward(torch) if have else None},
                                              repeats)
    results["lstm_gates_only"] = _timed_ms({"numgrad": gates_numgrad(), "torch_eager": gates_torch() if have
                                            else None}, repeats * 10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads(N) first (default: PyTorch's own choice)")
    args = parser.parse_args()
    if torch is not None and args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    if torch is not None:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s)")
    results = run(args.repeats)
    names = {
        "lstm_lm_step": f"LSTM LM step (emb->LSTM->linear->CE) b{BATCH} T{SEQ} H{HIDDEN} fwd+bwd",
        "lstm_cell_forward": f"LSTMCell step forward, b{BATCH} H{HIDDEN}",
        "lstm_cell_fwd_bwd": f"LSTMCell step fwd+bwd, b{BATCH} H{HIDDEN}",
        "lstm_layer_per_step_forward": f"nn.LSTM forward per step (T{SEQ}), b{BATCH} H{HIDDEN}",
        "lstm_layer_fwd_bwd": f"nn.LSTM alone fwd+bwd, T{SEQ} b{BATCH} H{HIDDEN}",
        "lstm_gates_only": f"LSTM gate math only, ({BATCH}, {4 * HIDDEN}) pre-activations",
    }
    print(f"{'workload':62s} {'numgrad ms':>11s} {'torch ms':>9s} {'numgrad/torch':>14s}")
    for key, label in names.items():
        ours, theirs = results[key]["numgrad"], results[key]["torch_eager"]
        ratio = f"{ours / theirs:14.2f}" if theirs else f"{'-':>14s}"
        print(f"{label:62s} {ours:11.4f} {(theirs or float('nan')):9.4f} {ratio}")


if __name__ == "__main__":
    main()
