"""Train a small CNN on the 8x8 handwritten digits (1 797 samples) with numgrad.

    python -m numgrad.examples.digits [--epochs 12] [--out digits_cnn.npz] [--quiet] [--device cuda] [--no-compile]
    mpiexec -n 2 python -m numgrad.examples.digits --ddp    # data-parallel over MPI (the distributed extra)

The data ship with numgrad (``numgrad/examples/data/digits.npz``, see
``LICENSE-digits.txt``); nothing is downloaded.  A fixed seed drives the
stratified train/held-out split, the initial weights and the shuffling, so a
run is reproducible.  Each epoch prints the mean training loss and the
held-out accuracy; the trained weights are saved with ``ng.save``.  With
``--device cuda`` the model, every batch and the optimizer state live on the
GPU (the data set stays in host memory and each batch is copied over).  With
``--ddp``, started by ``mpiexec -n N``, each of the N ranks trains a
``DistributedDataParallel`` replica on its ``DistributedSampler`` share of every
epoch (``--batch-size`` stays the global batch: each rank takes 1/N of it); rank
0 prints and saves.

The training step (zero_grad, forward, loss, backward, Adam) runs under ``ng.compile``: captured
once, then replayed (on the CPU as a few generated Numba calls, on CUDA as a loop over the captured
kernel launches), with the same results bit for bit.
To show what that buys, epoch 2 runs the same step eagerly and the last line compares its time with
the compiled epochs after it (``--no-compile`` trains eagerly throughout; ``--ddp`` trains eagerly,
as ``ng.compile`` does not capture DDP's communication yet).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

# The CNN's matrix products are tiny (at most 64 x 576 x 2048): OpenBLAS threads cannot
# speed them up, and their busy-waiting made each product 100-300x slower on a loaded
# 2-vCPU machine (measured: 48 ms vs 0.15 ms).  SciPy's OpenBLAS, which numba's np.dot
# calls, is loaded only when the first kernel compiles, so this default still applies.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from typing import Dict, List, Optional, Sequence

import numpy as np

import numgrad as ng
import numgrad.nn as nn
import numgrad.nn.functional as F
import numgrad.optim as optim
import numgrad.distributed as dist
from numgrad.data import DataLoader, TensorDataset
from numgrad.nn.parallel import DistributedDataParallel
from numgrad.serialization import save
from numgrad.utils.data import DistributedSampler

DATA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "digits.npz")


def load_digits() -> tuple:
    """The bundled data: ``images`` (1797, 8, 8) uint8 in 0..16 and ``labels`` (1797,) int64.

    >>> images, labels = load_digits()
    >>> images.shape, labels.shape
    ((1797, 8, 8), (1797,))
    """
    with np.load(DATA_PATH, allow_pickle=False) as archive:
        return archive["images"], archive["labels"]


def stratified_split(labels: np.ndarray, held_out_fraction: float, seed: int) -> tuple:
    """Train and held-out index arrays with the same class proportions in both (seeded).

    >>> train, test = stratified_split(np.repeat(np.arange(2), 10), 0.2, seed=0)
    >>> len(train), len(test)
    (16, 4)
    """
    rng = np.random.default_rng(seed)
    train, test = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_test = int(round(len(members) * held_out_fraction))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return rng.permutation(np.concatenate(train)), np.sort(np.concatenate(test))


class DigitsCNN(nn.Module):
    """Two conv blocks (conv 3x3, batch norm, ReLU, 2x2 max pool) and a two-layer classifier.

    >>> import numgrad as ng
    >>> DigitsCNN()(ng.zeros(2, 1, 8, 8)).shape
    (2, 10)
    """

    def __init__(self, channels: int = 16, hidden: int = 64, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.BatchNorm2d(2 * channels), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * channels * 2 * 2, hidden), nn.ReLU(), nn.Dropout(0.1),
            nn.Linear(hidden, classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def _progress(iterable, total: int, desc: str, quiet: bool):
    if quiet:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional: the per-epoch lines are printed either way
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False, unit="batch", file=sys.stdout)


def evaluate(model: nn.Module, images: ng.Tensor, labels: ng.Tensor) -> float:
    """Fraction of ``images`` whose predicted class equals ``labels`` (model put in eval mode; all on the
    model's device)."""
    model.eval()
    with ng.no_grad():
        predicted = model(images).argmax(1)
    return (predicted == labels).sum().item() / labels.shape[0]


def train(epochs: int = 12, batch_size: int = 32, lr: float = 3e-3, seed: int = 0, held_out: float = 0.2,
          out: Optional[str] = "digits_cnn.npz", quiet: bool = False, device: str = "cpu",
          max_batches: Optional[int] = None, channels: int = 16, hidden: int = 64,
          ddp: bool = False, compile: bool = True, num_threads: Optional[int] = 1) -> Dict[str, object]:
    """Train ``DigitsCNN`` on ``device`` and return ``{"accuracy", "losses", "accuracies", "seconds", "model",
    "epoch_seconds", "epoch_modes", "compiled_step"}``.

    ``compile``: the training step runs under ``ng.compile`` (without ``ddp`` only), except in epoch 2,
    which runs it eagerly for the comparison printed at the end; ``epoch_modes`` says how each epoch ran and
    ``compiled_step`` is the ``ng.compile``d step (None when training eagerly).
    ``num_threads``: numgrad's kernel threads while training (restored afterwards; None keeps the setting).
    The CNN's kernels are tiny (a few microseconds of work each): waking a second thread costs more than it
    saves, and on a loaded 2-vCPU machine one thread made the step 1.6x (eager) to 2.3x (compiled) faster.

    ``max_batches`` ends each epoch after that many batches, and ``channels`` / ``hidden`` size the model
    (``DigitsCNN``), for quick smoke runs.  ``ddp``: train data-parallel over the MPI ranks that ``mpiexec``
    started (``DistributedDataParallel`` + ``DistributedSampler``, the global batch split over the ranks);
    only rank 0 prints and saves, and ``"model"`` is the wrapped ``DigitsCNN``.

    >>> result = train(epochs=1, out=None, quiet=True)  # doctest: +SKIP
    """
    if num_threads is not None:
        previous_threads = ng.get_num_threads()
        ng.set_num_threads(num_threads)
        try:
            return train(epochs, batch_size, lr, seed, held_out, out, quiet, device, max_batches, channels, hidden,
                         ddp, compile, num_threads=None)
        finally:
            ng.set_num_threads(previous_threads)
    if ddp:
        if ng.device(device).type != "cpu":
            raise ValueError("--ddp trains on the CPU (numgrad.distributed communicates host memory over MPI)")
        if not dist.is_initialized():
            dist.init_process_group("mpi")
    rank, world = (dist.get_rank(), dist.get_world_size()) if ddp else (0, 1)
    quiet = quiet or rank != 0  # rank 0 speaks for all

    def say(text: str) -> None:
        if not quiet:
            print(text, flush=True)

    start = time.perf_counter()
    ng.manual_seed(seed)
    images, labels = load_digits()
    train_idx, test_idx = stratified_split(labels, held_out, seed)
    pixels = images.reshape(-1, 1, 8, 8)

    def as_inputs(idx: np.ndarray) -> ng.Tensor:
        return ng.tensor(pixels[idx], dtype=ng.float32) / 16.0  # pixel counts 0..16 -> [0, 1]

    x_train, y_train = as_inputs(train_idx), ng.tensor(labels[train_idx])
    x_test, y_test = as_inputs(test_idx).to(device), ng.tensor(labels[test_idx]).to(device)
    if ddp:
        # every rank reads its share of each epoch; the global batch stays batch_size
        sampler = DistributedSampler(TensorDataset(x_train, y_train), num_replicas=world, rank=rank, seed=seed)
        loader = DataLoader(TensorDataset(x_train, y_train), batch_size=max(batch_size // world, 1),
                            sampler=sampler)
    else:
        loader = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True,
                            generator=np.random.default_rng(seed))
    model = DigitsCNN(channels, hidden).to(device)
    net = model
    if ddp:
        net = DistributedDataParallel(model)  # rank 0's initial weights everywhere
        ng.manual_seed(seed + 1000 * rank)  # each rank its own dropout masks
    optimizer = optim.Adam(net.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))

    def train_step(xb: ng.Tensor, yb: ng.Tensor) -> ng.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(net(xb), yb)
        loss.backward()
        optimizer.step()
        return loss

    # ng.compile captures CPU and CUDA steps, not DDP's communication yet
    compiled_step = ng.compile(train_step) if compile and not ddp else None
    say(f"digits: {len(train_idx)} training / {len(test_idx)} held-out images, {epochs} epochs, "
        f"{sum(p.numel() for p in model.parameters())} parameters, on {ng.device(device)}"
        + (f", data-parallel over {world} MPI ranks" if ddp else ""))
    losses: List[float] = []
    accuracies: List[float] = []
    epoch_seconds: List[float] = []
    epoch_modes: List[str] = []
    for epoch in range(1, epochs + 1):
        net.train()
        # epoch 1 compiles the kernels and captures the step; epoch 2 runs it eagerly (kernels warm) to compare
        step_fn = train_step if compiled_step is None or epoch == 2 else compiled_step
        epoch_modes.append("eager" if step_fn is train_step else "compiled")
        epoch_start = time.perf_counter()
        if ddp:
            sampler.set_epoch(epoch)
        total, count = 0.0, 0
        n_batches = len(loader) if max_batches is None else min(len(loader), max_batches)
        bar = _progress(loader, n_batches, f"epoch {epoch}/{epochs}", quiet)
        for step, (xb, yb) in enumerate(bar):
            if step == n_batches:
                break
            xb, yb = xb.to(device), yb.to(device)
            loss = step_fn(xb, yb)
            total += loss.item() * yb.shape[0]
            count += yb.shape[0]
            if bar is not loader and hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)  # tqdm redraws at its own pace
        epoch_seconds.append(time.perf_counter() - epoch_start)
        scheduler.step()
        if ddp:  # the mean loss over every rank's samples
            sums = ng.tensor([total, float(count)], dtype=ng.float64)
            dist.all_reduce(sums)
            total, count = sums.tolist()
        losses.append(total / count)
        accuracies.append(evaluate(net, x_test, y_test))
        say(f"epoch {epoch:2d}/{epochs}  loss {losses[-1]:.4f}  held-out accuracy {100 * accuracies[-1]:.2f}%  "
            f"({time.perf_counter() - start:.1f} s; epoch {epoch_seconds[-1]:.2f} s, {epoch_modes[-1]})")
    if out and rank == 0:
        # saved from host memory, whatever the device (the plain module's keys, with or without DDP)
        save({k: v.cpu() if isinstance(v, ng.Tensor) else v for k, v in model.state_dict().items()}, out)
        say(f"saved weights to {out}")
    seconds = time.perf_counter() - start
    say(f"done in {seconds:.1f} s; final held-out accuracy {100 * accuracies[-1]:.2f}%")
    if compiled_step is not None and epochs >= 3:
        # the compiled epochs after the eager one (kernels warm in both; the last, smaller batch of an epoch is
        # captured as a variant of its own over epochs 3-4)
        compiled_s = float(np.median(epoch_seconds[2:]))
        say(f"epoch time: eager {epoch_seconds[1]:.3f} s (epoch 2), compiled {compiled_s:.3f} s (median of epochs "
            f"3-{epochs}): {epoch_seconds[1] / compiled_s:.1f}x faster; compiled step: {compiled_step.replays} "
            f"replays, {compiled_step.recaptures} recaptures"
            + (f", eager fallback: {compiled_step.fallback_reason}" if compiled_step.fallback_reason else ""))
    return {"accuracy": accuracies[-1] if accuracies else evaluate(model, x_test, y_test), "losses": losses,
            "accuracies": accuracies, "seconds": seconds, "model": model, "epoch_seconds": epoch_seconds,
            "epoch_modes": epoch_modes, "compiled_step": compiled_step}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point (``python -m numgrad.examples.digits``)."""
    parser = argparse.ArgumentParser(description="Train a small CNN on the 8x8 handwritten digits with numgrad.")
    parser.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default 32)")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the split, the weights and shuffling")
    parser.add_argument("--out", default="digits_cnn.npz",
                        help="where to save the trained weights (ng.save); '' to skip saving")
    parser.add_argument("--quiet", action="store_true", help="print nothing but the final accuracy")
    parser.add_argument("--device", default="cpu", help="where to train: cpu (default) or cuda")
    parser.add_argument("--ddp", action="store_true",
                        help="data-parallel over MPI: start with `mpiexec -n N python -m numgrad.examples.digits "
                             "--ddp` (needs the distributed extra: mpi4py, mpich)")
    parser.add_argument("--threads", type=int, default=1,
                        help="numgrad kernel threads (default 1: the CNN's kernels are too small to share)")
    parser.add_argument("--no-compile", dest="compile", action="store_false",
                        help="run every training step eagerly (by default the step runs under ng.compile on the CPU)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    try:
        device = ng.device(args.device)
    except (RuntimeError, ValueError, TypeError) as exc:
        parser.error(f"--device: {exc}")
    if args.ddp and not dist.is_available():
        parser.error("--ddp: mpi4py is not installed; pip install \"numgrad[distributed]\" (mpi4py and the mpich "
                     "wheels, with their mpiexec), then run mpiexec -n 2 python -m numgrad.examples.digits --ddp")
    if args.ddp and device.type != "cpu":
        parser.error("--ddp trains on the CPU: numgrad.distributed communicates host memory over MPI")
    if device.type == "cuda" and not ng.cuda.is_available():
        parser.error("--device cuda: no usable GPU (numba-cuda finds no NVIDIA driver); use --device cpu, or set "
                     "NUMBA_ENABLE_CUDASIM=1 to run on Numba's (slow) CUDA simulator")
    result = train(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                   out=args.out or None, quiet=args.quiet, device=device, ddp=args.ddp, compile=args.compile,
                   num_threads=args.threads)
    if args.quiet and (not args.ddp or dist.get_rank() == 0):
        print(f"held-out accuracy {100 * result['accuracy']:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
