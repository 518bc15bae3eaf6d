"""A quick tour: the three autograd examples numgrad started from, and a small fit.

Run with ``python -m numgrad.demo``.
"""
from __future__ import annotations

import time

import numgrad as ng


def article_examples() -> None:
    """The three examples of the PyTorch autograd article, with numgrad."""
    print("1) scalar chain: x = 2, y = x**2, z = 2*y + 1")
    x = ng.tensor(2.0, requires_grad=True)
    y = x ** 2
    z = 2 * y + 1
    z.backward()
    print(f"   z = {z.item():.1f}, dz/dx = {x.grad.item():.1f}  (expected 8)")

    print("2) vector output: z = x*y + sum(x)")
    ng.manual_seed(0)
    x = ng.rand(3, requires_grad=True)
    y = ng.rand(3, requires_grad=True)
    z = x * y + ng.sum(x)
    try:
        z.backward()
    except RuntimeError as err:
        print(f"   z.backward() without gradient -> RuntimeError: {str(err).split(' (')[0]}")
    z.backward(ng.ones(3))
    print(f"   with gradient=ones(3): x.grad = {x.grad.tolist()}  (y + 3)")
    print(f"                          y.grad = {y.grad.tolist()}  (x)")

    print("3) weighted loss: loss = sum(weights * x**2)")
    x = ng.rand(4, requires_grad=True)
    weights = ng.rand(4, requires_grad=True)
    loss = ng.sum(weights * x ** 2)
    loss.backward()
    print(f"   x.grad == 2*weights*x: {ng.allclose(x.grad, 2 * weights * x)}")
    print(f"   weights.grad == x**2:  {ng.allclose(weights.grad, x ** 2)}")


def small_fit(steps: int = 300) -> float:
    """Fit y = sin(x) on [-3, 3] with a cubic polynomial by gradient descent."""
    ng.manual_seed(0)
    x = ng.linspace(-3, 3, 256)
    target = ng.sin(x)
    coeffs = [ng.zeros(1, requires_grad=True) for _ in range(4)]
    lr = 0.01
    start = time.perf_counter()
    for step in range(steps):
        pred = coeffs[0] + coeffs[1] * x + coeffs[2] * x ** 2 + coeffs[3] * x ** 3
        loss = ((pred - target) ** 2).mean()
        for c in coeffs:
            c.grad = None
        loss.backward()
        with ng.no_grad():
            for c, scale in zip(coeffs, (1.0, 0.3, 0.1, 0.03)):
                c -= lr * scale * c.grad
        if step % 100 == 0 or step == steps - 1:
            print(f"   step {step:4d}  mse {loss.item():.5f}")
    elapsed = time.perf_counter() - start
    print(f"   {steps} steps in {elapsed:.2f} s; coefficients "
          + ", ".join(f"{c.item():+.3f}" for c in coeffs))
    return loss.item()


def main() -> None:
    article_examples()
    print("4) a small training loop: cubic fit of sin(x)")
    small_fit()
    info = ng.kernels.cache_info()
    print(f"kernels: {info['compiled']} compiled, {info['disk_hits']} loaded from the disk cache "
          f"({info['cache_dir']})")


if __name__ == "__main__":
    main()
