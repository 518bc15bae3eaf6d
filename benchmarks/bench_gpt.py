"""A small GPT training step: numgrad vs PyTorch eager in one run; prints medians and the ratio (no assertions).

    python -m benchmarks.bench_gpt [--repeats 20]

Token + learned position embeddings, two pre-norm ``TransformerEncoderLayer``s (d_model 128, 4 heads,
feed-forward 512, GELU, causal mask), a final LayerNorm and a linear head over 65 characters; batch 8,
sequence 64; cross-entropy, backward and an AdamW step, float32.  One model definition, built once with
``numgrad`` and once with ``torch`` (the import is the only difference), from the same weights.
"""
from __future__ import annotations

import argparse

import numpy as np

import numgrad as ng  # before numba/torch: numgrad's threading defaults apply at numba's import

from benchmarks.common import interleaved_medians

try:
    import torch
except ImportError:  # the benchmark still reports numgrad's own time
    torch = None

VOCAB, BLOCK, D_MODEL, HEADS, LAYERS, BATCH = 65, 64, 128, 4, 2, 8


def _model_class(lib):
    nn = lib.nn

    class TinyGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok_emb = nn.Embedding(VOCAB, D_MODEL)
            self.pos_emb = nn.Embedding(BLOCK, D_MODEL)
            layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, 4 * D_MODEL, dropout=0.0, activation="gelu",
                                               batch_first=True, norm_first=True)
            self.blocks = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
            self.ln_f = nn.LayerNorm(D_MODEL)
            self.head = nn.Linear(D_MODEL, VOCAB)
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(BLOCK))

        def forward(self, idx, targets):
            x = self.tok_emb(idx) + self.pos_emb.weight[: idx.shape[1]]
            x = self.blocks(x, mask=self.mask, is_causal=True)
            logits = self.head(self.ln_f(x))
            return nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))

    return TinyGPT


def _data():
    rng = np.random.default_rng(0)
    return rng.integers(0, VOCAB, (BATCH, BLOCK)), rng.integers(0, VOCAB, (BATCH, BLOCK))


def gpt_step(lib, state=None):
    """One training step of ``lib`` (numgrad or torch): zero_grad, forward, cross-entropy, backward, AdamW."""
    model = _model_class(lib)()
    if state is not None:
        model.load_state_dict(state)
    opt = lib.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = (lib.tensor(a) for a in _data())

    def step():
        opt.zero_grad()
        loss = model(x, y)
        loss.backward()
        opt.step()
        return loss.item()
    return step, model


def run(repeats: int = 20) -> dict:
    """Median ms of one GPT step in numgrad and in PyTorch eager (same weights), timed in alternating rounds."""
    steps = {}
    state = None
    if torch is not None:
        torch.manual_seed(0)
        steps["torch_eager"], t_model = gpt_step(torch)
        state = {k: v.detach().numpy().copy() for k, v in t_model.state_dict().items()}
    steps["numgrad"], _ = gpt_step(ng, state)
    if torch is not None:
        # same weights, same first loss: the two steps do the same work
        first_ng, first_t = steps["numgrad"](), steps["torch_eager"]()
        if abs(first_ng - first_t) > 1e-3 * abs(first_t):
            raise RuntimeError(f"bench_gpt: the first losses differ (numgrad {first_ng}, torch {first_t})")
    rounds = 5
    times = interleaved_medians(steps, rounds=rounds, repeats=max(1, repeats // rounds), warmup=2)
    return {k: None if t is None else 1e3 * t for k, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    r = run(args.repeats)
    theirs = r.get("torch_eager") or float("nan")
    print(f"{'workload':52s} {'numgrad ms':>11s} {'torch ms':>9s} {'numgrad/torch':>14s}")
    print(f"{f'GPT step b{BATCH} T{BLOCK} d{D_MODEL} {LAYERS} layers, AdamW':52s} {r['numgrad']:11.3f} "
          f"{theirs:9.3f} {r['numgrad'] / theirs:14.2f}")


if __name__ == "__main__":
    main()
