"""Benchmark peers timed each in its own worker process, in alternating rounds run from a coordinator.

Why: timed in one process, the peers slowed each other.  Their thread pools (XLA's, PyTorch's OpenMP team,
NumPy's OpenBLAS threads) keep spinning after their turn and take the core from whoever runs next, and the
import order set the BLAS threading (numgrad imported first runs OpenBLAS on one thread, NumPy's included).
Measured on the 2-vCPU build machine: the MLP 784-512-256-10 SGD b128 step in the shared process gave
compiled numgrad / NumPy by hand 1.22 and / jax.jit 1.04; each alone in its own process, numgrad 1.43 ms
against torch 1.70 and jax 1.58-1.69.

Here every peer lives in a persistent worker process that imports only its own library (the other peers'
libraries are blocked in its ``sys.modules``), starts from the environment the benchmark was launched with
(``benchmarks.LAUNCH_ENVIRON``: not numgrad's defaults), applies its own thread setting, builds each
workload's steps once and, asked by the coordinator, times ``calls`` calls of one step.  The coordinator
alternates the workers round by round; one worker runs at a time while the others wait blocked on their pipe,
and before each worker's turn the coordinator waits until the previous worker's threads stopped spinning
(its CPU time, read from ``/proc``, stops growing), so no turn pays for the one before.

    specs = [PeerSpec("numgrad", "benchmarks.peer_numgrad", threads=1), PeerSpec("torch", ...)]
    with PeerPool(specs) as pool:
        pool.build("mlp", inputs_path, {"batch": 128})  # inputs_path: an .npz every worker loads
        medians = pool.alternating_medians(rounds=7, repeats=5)  # {"numgrad compiled@1": seconds, ...}

A peer module defines ``configure(threads) -> str`` (applies the thread setting, None: the library's
default, and describes the configuration) and ``build(workload, inputs, **params) -> (steps, report)``:
``steps`` maps names to zero-argument callables (an empty dict where the peer has no such workload),
``report`` is None or a callable returning a JSON-able dict (a compiled step's counters).

Protocol: one JSON line per request on the worker's stdin, one JSON line per reply on its stdout (the
worker's own prints go to stderr): ``{"op": "build", "workload", "inputs", "params"}`` -> ``{"steps"}``;
``{"op": "time", "step", "calls"}`` -> ``{"seconds": [one per call]}``; ``{"op": "report"}`` ->
``{"report"}``; ``{"op": "quit"}``.  A failure replies ``{"error": traceback}``.
"""
from __future__ import annotations

import dataclasses
import glob
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import traceback

import benchmarks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The modules each peer's library brings; a worker blocks every other peer's, so it cannot load them by accident
# (an optional ``import torch`` in a shared benchmark module then takes its ImportError path).
PEER_LIBRARIES = {"numgrad": ("numgrad", "numba"), "torch": ("torch",), "jax": ("jax", "jaxlib"), "numpy": ()}


@dataclasses.dataclass(frozen=True)
class PeerSpec:
    """One worker process: a peer's module and its thread setting.

    ``threads``: passed to the module's ``configure`` (None: the library's default).  ``env``: variables set
    before the worker starts (a library that reads its thread count at load, as OpenBLAS does).
    ``pool_sized_at_start``: the library sizes its thread pool from the CPUs the process may use when the pool
    is made (XLA's CPU client: jaxlib 0.10 has no flag for it, ``--xla_cpu_multi_thread_eigen=false`` and
    ``intra_op_parallelism_threads`` measured no change); the worker then starts on ``threads`` CPUs and, once
    ``configure`` made the pool, lets every thread run on all of them again.
    """

    peer: str
    module: str
    threads: int | None = None
    env: tuple = ()
    pool_sized_at_start: bool = False

    @property
    def key(self) -> str:
        return self.peer if self.threads is None else f"{self.peer}@{self.threads}"

    def step_key(self, name: str) -> str:
        """The step's name in the medians: "name@threads" where the worker has a thread setting."""
        return name if self.threads is None else f"{name}@{self.threads}"


class PeerError(RuntimeError):
    """A worker failed: its reply carried a traceback, or it exited."""


class PeerUnavailable(PeerError):
    """The peer's library is not installed: the benchmark reports the peer as not measured."""


class PeerWorker:
    """One running worker process (see the module docstring for its protocol)."""

    def __init__(self, spec: PeerSpec):
        self.spec = spec
        env = dict(benchmarks.LAUNCH_ENVIRON, **dict(spec.env))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.peer_processes", json.dumps(_spec_json(spec))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        self.steps: list = []
        try:
            hello = self._read()
        except BaseException:
            self.close()
            raise
        self.configuration: str = hello["configuration"]

    def request(self, op: str, **fields) -> dict:
        try:
            self.proc.stdin.write(json.dumps(dict(fields, op=op)) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise PeerError(f"{self.spec.key} worker exited (status {self.proc.wait()})") from None
        return self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise PeerError(f"{self.spec.key} worker exited (status {self.proc.wait()}); its stderr is above")
        reply = json.loads(line)
        if "error" in reply:
            kind = PeerUnavailable if reply.get("unavailable") else PeerError
            raise kind(f"{self.spec.key} worker: {reply['error']}")
        return reply

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
        except OSError:  # the worker exited already
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


class PeerPool:
    """The workers of a benchmark run, started one after another (so imports and compiles do not overlap).

    A peer whose library is missing is left out and listed in ``unavailable``.
    """

    def __init__(self, specs):
        self.workers: list = []
        self.unavailable: dict = {}
        self.settle_s: list = []  # per turn: how long the previous worker's threads took to go idle
        try:
            for spec in specs:
                try:
                    self.workers.append(PeerWorker(spec))
                except PeerUnavailable as exc:
                    self.unavailable[spec.key] = str(exc).splitlines()[-1]
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "PeerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for w in self.workers:
            w.close()

    def configurations(self) -> dict:
        return {w.spec.key: w.configuration for w in self.workers}

    def build(self, workload: str, inputs_path: str, params: dict) -> dict:
        """Every worker builds ``workload`` (one after another); returns {worker key: its step names}."""
        for w in self.workers:
            w.steps = w.request("build", workload=workload, inputs=inputs_path, params=params)["steps"]
        return {w.spec.key: w.steps for w in self.workers}

    def reports(self) -> dict:
        """{worker key: its build's report} for the workers whose build gave one."""
        out = {}
        for w in self.workers:
            r = w.request("report")["report"]
            if r is not None:
                out[w.spec.key] = r
        return out

    def alternating_medians(self, rounds: int, repeats: int, warmup=lambda name: 1) -> dict:
        """Median seconds per call of every worker's every step over ``rounds`` rounds of ``repeats`` calls.

        Each round gives every worker one turn, in which it times each of its steps ``repeats`` times; the
        medians are over all calls of all rounds (as ``common.interleaved_medians``).  ``warmup(name)``: untimed
        calls first (a compiled step needs its warm-up call and two recordings before it replays).  Keys:
        ``PeerSpec.step_key``.
        """
        busy = [w for w in self.workers if w.steps]
        samples: dict = {w.spec.step_key(name): [] for w in busy for name in w.steps}
        previous = None
        for w in busy:
            previous = self._turn(w, previous, {name: (warmup(name), None) for name in w.steps})
        for _ in range(rounds):
            for w in busy:
                previous = self._turn(w, previous, {name: (repeats, samples[w.spec.step_key(name)])
                                                     for name in w.steps})
        return {key: statistics.median(s) for key, s in samples.items()}

    def _turn(self, worker: PeerWorker, previous, calls: dict):
        if previous is not None and previous is not worker:
            self.settle_s.append(wait_until_idle(previous.proc.pid))
        for name, (n, keep) in calls.items():
            seconds = worker.request("time", step=name, calls=n)["seconds"]
            if keep is not None:
                keep.extend(seconds)
        return worker


def _cpu_ns(pid: int) -> int | None:
    """CPU time in ns used so far by all threads of process ``pid`` (None where /proc has no schedstat)."""
    paths = glob.glob(f"/proc/{pid}/task/*/schedstat")
    if not paths:
        return None
    total = 0
    for path in paths:
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that exited between the listing and the read
            pass
    return total


def wait_until_idle(pid: int, window_s: float = 0.01, quiet_windows: int = 3, busy_fraction: float = 0.05,
                    timeout_s: float = 2.0) -> float:
    """Wait until process ``pid`` used under ``busy_fraction`` of a CPU in each of ``quiet_windows`` windows of
    ``window_s`` in a row: its thread pools stopped spinning (on a loaded machine a spinning thread can go a
    window unscheduled, hence several).  Returns the seconds waited (at most about ``timeout_s``; a fixed 50 ms
    where /proc has no schedstat)."""
    start = time.perf_counter()
    before = _cpu_ns(pid)
    if before is None:
        time.sleep(0.05)
        return time.perf_counter() - start
    quiet = 0
    while quiet < quiet_windows and time.perf_counter() - start < timeout_s:
        time.sleep(window_s)
        now = _cpu_ns(pid)
        if now is None:  # the process exited
            break
        quiet = quiet + 1 if now - before < busy_fraction * window_s * 1e9 else 0
        before = now
    return time.perf_counter() - start


def settle_summary(settle_s: list) -> str:
    if not settle_s:
        return "no worker switches"
    return (f"{len(settle_s)} worker switches, waited for the previous worker's threads to go idle: median "
            f"{statistics.median(settle_s) * 1e3:.0f} ms, longest {max(settle_s) * 1e3:.0f} ms")


# ------------------------------------------------------------------ the worker process
def _spec_json(spec: PeerSpec) -> dict:
    blocked = sorted({m for peer, mods in PEER_LIBRARIES.items() if peer != spec.peer for m in mods})
    return {"key": spec.key, "module": spec.module, "threads": spec.threads, "blocked": blocked,
            "pool_sized_at_start": spec.pool_sized_at_start}


def _set_affinity_of_all_threads(cpus) -> None:
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:  # a thread that exited meanwhile
            pass


def _worker(spec: dict) -> None:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the libraries' own prints go to stderr, never into the replies

    def reply(**fields):
        protocol.write(json.dumps(fields) + "\n")

    for name in spec["blocked"]:
        sys.modules[name] = None
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    pinned = spec["pool_sized_at_start"] and spec["threads"] and allowed and spec["threads"] < len(allowed)
    if pinned:
        os.sched_setaffinity(0, sorted(allowed)[:spec["threads"]])
    try:
        module = importlib.import_module(spec["module"])
        configuration = module.configure(spec["threads"])
    except ImportError:
        reply(error=traceback.format_exc(), unavailable=True)
        return
    except Exception:  # noqa: BLE001 - reported to the coordinator, which raises it
        reply(error=traceback.format_exc())
        return
    if pinned:
        _set_affinity_of_all_threads(allowed)  # the pool stays its size; its threads may now run anywhere
    # after the peer's module: numgrad's worker imports numgrad before NumPy (its OpenBLAS setting then holds)
    import numpy as np

    reply(configuration=configuration)
    steps: dict = {}
    report = None
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            if msg["op"] == "quit":
                break
            if msg["op"] == "build":
                steps, report = {}, None  # the previous workload's tensors go before the next one's are made
                with np.load(msg["inputs"]) as data:
                    inputs = {k: data[k] for k in data.files}
                steps, report = module.build(msg["workload"], inputs, **msg["params"])
                reply(steps=list(steps))
            elif msg["op"] == "time":
                fn = steps[msg["step"]]
                seconds = []
                for _ in range(msg["calls"]):
                    t0 = time.perf_counter()
                    fn()
                    seconds.append(time.perf_counter() - t0)
                reply(seconds=seconds)
            elif msg["op"] == "report":
                reply(report=report() if report is not None else None)
            else:
                reply(error=f"unknown request {msg['op']!r}")
        except Exception:  # noqa: BLE001 - reported to the coordinator, which raises it
            reply(error=traceback.format_exc())


if __name__ == "__main__":
    _worker(json.loads(sys.argv[1]))
