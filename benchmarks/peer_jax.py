"""jax.jit's side of bench_compile's workloads, built in JAX's own worker process.

Imports JAX and NumPy only (``benchmarks/peer_processes.py`` runs it).  XLA's CPU client sizes its thread
pool from the CPUs the process may use when the client is made; for a one-thread configuration the worker
starts on one CPU, ``configure`` makes the client there, and then every thread may run on all CPUs again
(``PeerSpec.pool_sized_at_start``).  Each ``build`` gets the same input arrays as the other peers.
"""
from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np


def configure(threads: int | None) -> str:
    """Make XLA's CPU client now (its pool takes the size of the CPUs the worker may use at this point)."""
    (jnp.ones((64, 64)) @ jnp.ones((64, 64))).block_until_ready()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"jax {jax.__version__} jit, XLA's CPU client with its thread pool sized for {cpus} CPU{'s' if cpus > 1 else ''}"


def w1_step(x: np.ndarray, w: np.ndarray, b: np.ndarray):
    """W1 ``(tanh(x*w+b)*sigmoid(x)**2).sum()``'s three gradients as one jitted function (also ``bench_fusion``)."""
    x, w, b = (jnp.asarray(a) for a in (x, w, b))
    grad = jax.jit(jax.grad(lambda x, w, b: (jnp.tanh(x * w + b) * jax.nn.sigmoid(x) ** 2).sum(), argnums=(0, 1, 2)))

    def step():
        for g in grad(x, w, b):
            g.block_until_ready()
    return step


def polynomial(inputs: dict) -> dict:
    """The PyTorch tutorial's cubic fit of sin on 2000 points as one jitted update."""
    x = jnp.linspace(-math.pi, math.pi, 2000, dtype=jnp.float32)
    y = jnp.sin(x)
    params = [jnp.asarray(v, dtype=jnp.float32) for v in np.random.default_rng(0).standard_normal(4)]

    def loss_fn(p, x, y):
        a, b, c, d = p
        return ((a + b * x + c * x ** 2 + d * x ** 3 - y) ** 2).sum()

    @jax.jit
    def update(p, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        return [v - 1e-6 * g for v, g in zip(p, grads)], loss

    state = [params]

    def step():
        state[0], loss = update(state[0], x, y)
        return loss.block_until_ready()

    return {"jax.jit": step}


def mlp(inputs: dict, batch: int) -> dict:
    """The MLP SGD step (cross entropy) as one ``jax.jit`` function: parameters in, updated parameters out."""
    del batch  # the inputs' first dimension
    rng = np.random.default_rng(0)
    params = [(jnp.asarray(rng.standard_normal((i, o), dtype=np.float32) / np.float32(np.sqrt(i))),
               jnp.zeros(o, jnp.float32)) for i, o in ((784, 512), (512, 256), (256, 10))]
    x, y = jnp.asarray(inputs["x"]), jnp.asarray(inputs["y"])

    def loss_fn(p, x, y):
        h = x
        for k, (w, b) in enumerate(p):
            h = h @ w + b
            if k < 2:
                h = jax.nn.relu(h)
        return -jnp.take_along_axis(jax.nn.log_softmax(h), y[:, None], axis=1).mean()

    @jax.jit
    def update(p, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        return jax.tree_util.tree_map(lambda v, g: v - 0.01 * g, p, grads), loss

    state = [params]

    def step():
        state[0], loss = update(state[0], x, y)
        return loss.block_until_ready()

    return {"jax.jit": step}


BUILDERS = {"w1": lambda inputs: {"jax.jit": w1_step(inputs["x"], inputs["w"], inputs["b"])},
            "polynomial": polynomial, "mlp": mlp}


def build(workload: str, inputs: dict, **params) -> tuple:
    """The workload's jax.jit step; none for the digits CNN and the matmul chain (no JAX peer there)."""
    if workload not in BUILDERS:
        return {}, None
    return BUILDERS[workload](inputs, **params), None
