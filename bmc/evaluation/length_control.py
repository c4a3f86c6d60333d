"""Length-controlled win rate: the win rate a model would have if its answers were as long as the baseline's.

A logistic model of each judgment's preference for the model, p = σ(θ + φ·tanh(Δ / s)), with Δ the
length difference (model − baseline, characters) of the judged pair and s the standard deviation of Δ,
is fitted by maximum likelihood (preferences of 0.5 for ties are fractional targets); the
length-controlled win rate is 100·σ(θ), the prediction at Δ = 0. This is AlpacaEval 2's GLM without its
per-instruction difficulty term (which needs the hub's `instruction_difficulty.csv`), and it serves
Arena-Hard's length-controlled variant too.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def fit(preferences, length_deltas, l2: float = 1e-4, steps: int = 100) -> tuple[float, float]:
    """(θ, φ) by Newton's method on the mean log-loss plus a small ridge (keeps a clean sweep finite)."""
    y = np.asarray(preferences, dtype=float)
    delta = np.asarray(length_deltas, dtype=float)
    if y.shape != delta.shape or y.size == 0:
        raise ValueError("preferences and length_deltas must be non-empty and of the same length")
    if np.any((y < 0) | (y > 1)):
        raise ValueError("preferences must lie in [0, 1]")
    scale = delta.std()
    x = np.tanh(delta / scale) if scale > 0 else np.zeros_like(delta)
    features = np.stack([np.ones_like(x), x], axis=1)
    w = np.zeros(2)
    for _ in range(steps):
        p = _sigmoid(features @ w)
        grad = features.T @ (p - y) / y.size + l2 * w
        hess = (features * (p * (1 - p))[:, None]).T @ features / y.size + l2 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


def lc_win_rate(preferences, length_deltas) -> float:
    """Length-controlled win rate (0-100)."""
    theta, _ = fit(preferences, length_deltas)
    return 100.0 * float(_sigmoid(np.asarray(theta)))
