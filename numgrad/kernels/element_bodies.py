"""Per-element kernel bodies written once for the CPU and the GPU.

These are plain Python functions, never called as such on a hot path:
``kernels/cpu`` compiles them with ``njit`` and ``kernels/cuda`` with
``cuda.jit(device=True)``, so both devices run the same statements in the same
order (the fused optimizer updates follow PyTorch's single-tensor
implementation; max pooling lets a NaN win, as PyTorch does).  Bodies take
arrays plus an index, and write their results into the arrays or return them.

A body names device-dependent functions as module globals (``sqrt``) bound
here to the CPU's choice; the CUDA module compiles a copy with the GPU's
binding (``variants.rebind``).

Numba keys a kernel's disk cache on the kernel's own source file only: after
an edit here, a cached caller in ``cpu/`` or ``cuda/`` keeps the old body until
its own file changes or its cache is cleared.

Example (the CPU compilation, as ``kernels/cpu/optim.py`` does it)::

    from numba import njit
    sgd_elem = njit(cache=True)(sgd_update)
"""
from __future__ import annotations

import numpy as np

# NumPy's sqrt on the CPU: NaN for a negative argument under any Numba error model,
# where centered RMSprop can round s - ga * ga below zero
sqrt = np.sqrt


def sgd_update(p, g, buf, i, lr, weight_decay, momentum, one_minus_dampening, nesterov, maximize, first):
    """SGD with momentum on element ``i``: updates ``p[i]`` and the momentum buffer ``buf[i]``."""
    d = -g[i] if maximize else g[i]
    if weight_decay != 0:
        d = d + weight_decay * p[i]
    if momentum != 0:
        if first:
            b = d
        else:
            b = momentum * buf[i] + one_minus_dampening * d
        buf[i] = b
        if nesterov:
            d = d + momentum * b
        else:
            d = b
    p[i] = p[i] - lr * d


def adam_update(p, g, m, v, vmax, i, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled,
                amsgrad, maximize, step_size, bc2_sqrt):
    """Adam / AdamW on element ``i``: updates ``p[i]``, ``m[i]``, ``v[i]`` and (amsgrad) ``vmax[i]``."""
    grad = -g[i] if maximize else g[i]
    if decoupled:
        p[i] = p[i] * decay
    elif weight_decay != 0:
        grad = grad + weight_decay * p[i]
    mi = m[i] + one_minus_beta1 * (grad - m[i])
    vi = v[i] * beta2 + one_minus_beta2 * grad * grad
    m[i] = mi
    v[i] = vi
    if amsgrad:
        if vi > vmax[i] or vi != vi:
            vmax[i] = vi
        vi = vmax[i]
    denom = sqrt(vi) / bc2_sqrt + eps
    p[i] = p[i] - step_size * (mi / denom)


def rmsprop_update(p, g, sq, gavg, buf, i, lr, alpha, one_minus_alpha, eps, weight_decay, momentum, centered,
                   maximize):
    """RMSprop on element ``i``: updates ``p[i]``, ``sq[i]`` and (centered / momentum) ``gavg[i]``, ``buf[i]``."""
    grad = -g[i] if maximize else g[i]
    if weight_decay != 0:
        grad = grad + weight_decay * p[i]
    s = sq[i] * alpha + one_minus_alpha * grad * grad
    sq[i] = s
    if centered:
        ga = gavg[i] + one_minus_alpha * (grad - gavg[i])
        gavg[i] = ga
        avg = sqrt(s - ga * ga) + eps
    else:
        avg = sqrt(s) + eps
    if momentum > 0:
        b = buf[i] * momentum + grad / avg
        buf[i] = b
        p[i] = p[i] - lr * b
    else:
        p[i] = p[i] - lr * (grad / avg)


def adagrad_update(p, g, acc, i, neg_clr, eps, weight_decay, maximize):
    """Adagrad on element ``i``: ``acc += g²``, ``p += neg_clr * g / (sqrt(acc) + eps)``; updates ``p[i]``, ``acc[i]``."""
    grad = -g[i] if maximize else g[i]
    if weight_decay != 0:
        grad = grad + weight_decay * p[i]
    s = acc[i] + grad * grad
    acc[i] = s
    std = sqrt(s) + eps
    p[i] = p[i] + neg_clr * (grad / std)


def adadelta_update(p, g, sq, acc_delta, i, neg_lr, rho, one_minus_rho, eps, weight_decay, maximize):
    """Adadelta on element ``i``: updates ``p[i]``, the squared-gradient average ``sq[i]`` and ``acc_delta[i]``."""
    grad = -g[i] if maximize else g[i]
    if weight_decay != 0:
        grad = grad + weight_decay * p[i]
    s = sq[i] * rho + one_minus_rho * grad * grad
    sq[i] = s
    std = sqrt(s + eps)
    delta = sqrt(acc_delta[i] + eps) / std * grad
    acc_delta[i] = acc_delta[i] * rho + one_minus_rho * delta * delta
    p[i] = p[i] + neg_lr * delta


def adamax_update(p, g, m, u, i, one_minus_beta1, beta2, eps, weight_decay, maximize, neg_clr):
    """Adamax on element ``i``: ``u = max(beta2 * u, |g| + eps)`` (NaN wins, as ``torch.maximum``); updates ``p, m, u``."""
    grad = -g[i] if maximize else g[i]
    if weight_decay != 0:
        grad = grad + weight_decay * p[i]
    mi = m[i] + one_minus_beta1 * (grad - m[i])
    m[i] = mi
    a = u[i] * beta2
    b = abs(grad) + eps
    ui = a if (a > b or a != a) else b
    u[i] = ui
    p[i] = p[i] + neg_clr * (mi / ui)


def nadam_update(p, g, m, v, i, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled,
                 maximize, bias_correction2, grad_coef, avg_coef):
    """NAdam on element ``i``: ``p += grad_coef * g / denom + avg_coef * m / denom``; updates ``p[i]``, ``m[i]``, ``v[i]``.

    ``denom = sqrt(v / bias_correction2) + eps``; the momentum-schedule
    coefficients come from the caller (they depend on the step only).
    """
    grad = -g[i] if maximize else g[i]
    if weight_decay != 0:
        if decoupled:
            p[i] = p[i] * decay
        else:
            grad = grad + weight_decay * p[i]
    mi = m[i] + one_minus_beta1 * (grad - m[i])
    vi = v[i] * beta2 + one_minus_beta2 * grad * grad
    m[i] = mi
    v[i] = vi
    denom = sqrt(vi / bias_correction2) + eps
    q = p[i] + grad_coef * (grad / denom)
    p[i] = q + avg_coef * (mi / denom)


def radam_update(p, g, m, v, i, decay, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decoupled,
                 maximize, bias_correction1, lr, rectified, bc2_sqrt, rect):
    """RAdam on element ``i``: Adam's moments; the step is rectified (``rect``) once the variance is tractable."""
    grad = -g[i] if maximize else g[i]
    if weight_decay != 0:
        if decoupled:
            p[i] = p[i] * decay
        else:
            grad = grad + weight_decay * p[i]
    mi = m[i] + one_minus_beta1 * (grad - m[i])
    vi = v[i] * beta2 + one_minus_beta2 * grad * grad
    m[i] = mi
    v[i] = vi
    update = mi / bias_correction1 * lr
    if rectified:
        update = update * (bc2_sqrt / (sqrt(vi) + eps)) * rect
    p[i] = p[i] - update


def rprop_update(p, g, prev, step_size, i, etaminus, etaplus, step_size_min, step_size_max, maximize):
    """Rprop on element ``i``: the step size grows by ``etaplus`` while the gradient keeps its sign and shrinks by
    ``etaminus`` (skipping the update) when it flips; updates ``p[i]``, ``prev[i]`` and ``step_size[i]``.

    Written with selects, not branches: gradient signs are random, and
    mispredicted branches made this loop ten times slower.  ``x * zero + one``
    is 1 for a finite ``x`` and NaN for NaN, as PyTorch's ``sign`` gives.
    """
    # 1 and 0 in the element type: an int literal would widen float32 arithmetic to float64
    one = etaplus / etaplus
    zero = one - one
    grad = -g[i] if maximize else g[i]
    prod = grad * prev[i]
    factor = etaplus if prod > 0 else (etaminus if prod < 0 else prod * zero + one)
    s = step_size[i] * factor
    s = step_size_min if s < step_size_min else s
    s = step_size_max if s > step_size_max else s
    step_size[i] = s
    grad = zero if prod < 0 else grad  # no step where the sign flipped (an exact 0, even for an infinite g)
    sign = one if grad > 0 else (-one if grad < 0 else grad * zero)
    p[i] = p[i] - sign * s
    prev[i] = grad


def asgd_update(p, g, ax, i, decay, neg_eta, mu, weight_decay, average, maximize):
    """ASGD on element ``i``: ``p = p * decay - eta * g``; the average ``ax[i]`` moves toward ``p[i]`` by ``mu``
    (or copies it while ``average`` is False)."""
    grad = -g[i] if maximize else g[i]
    if weight_decay != 0:
        grad = grad + weight_decay * p[i]
    q = p[i] * decay
    q = q + neg_eta * grad
    p[i] = q
    if average:
        ax[i] = ax[i] + (q - ax[i]) * mu
    else:
        ax[i] = q


def max_pool_window(x, n, c, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, low):
    """(max, flat index ``ih * W + iw`` of the max) over output ``(oh, ow)``'s window of plane ``x[n, c]``.

    ``low`` starts the running maximum (-inf); its type sets the comparison
    type.  A window with no element inside the input gives ``(low, -1)``.
    """
    H = x.shape[2]
    W = x.shape[3]
    h0 = oh * sh - ph
    w0 = ow * sw - pw
    best = low
    best_i = -1
    for i in range(kh):
        ih = h0 + i * dh
        if ih < 0 or ih >= H:
            continue
        for j in range(kw):
            iw = w0 + j * dw
            if iw < 0 or iw >= W:
                continue
            v = x[n, c, ih, iw]
            # NaN wins, as in PyTorch
            if best_i < 0 or v > best or v != v:
                best = v
                best_i = ih * W + iw
    return best, best_i
