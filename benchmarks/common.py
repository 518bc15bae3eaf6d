"""Timing helpers shared by the benchmarks (medians of repeats, ratios from one run)."""
from __future__ import annotations

import statistics
import time


def median_time(fn, repeats: int = 7, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_medians(steps: dict, rounds: int = 5, repeats: int = 3, warmup: int = 2) -> dict:
    """Median wall time in seconds of each ``steps[name]()``, timed in alternating rounds.

    This machine's memory bandwidth drifts by up to 2x within a minute (a
    float32 triad measured 23.6 and 46 GB/s in one session), so timing one
    workload after another puts the drift into their ratios; here every round
    times each workload ``repeats`` times, and the medians are over all rounds.
    A step that is None (a peer not installed) is skipped and reported as None.
    """
    present = {name: fn for name, fn in steps.items() if fn is not None}
    for fn in present.values():
        for _ in range(warmup):
            fn()
    samples: dict = {name: [] for name in present}
    for _ in range(rounds):
        for name, fn in present.items():
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(samples[name]) if name in samples else None for name in steps}


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.3f} ms"


def table(rows, headers) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(str(h).rjust(w) for h, w in zip(headers, widths))
    out = [line, "-" * len(line)]
    for r in rows:
        out.append("  ".join(str(c).rjust(w) for c, w in zip(r, widths)))
    return "\n".join(out)
