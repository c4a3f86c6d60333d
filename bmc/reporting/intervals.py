"""Confidence intervals of accuracies (stdlib only, so that light stages such as `sweep-pairs` can use them)."""

from __future__ import annotations

import math
from statistics import NormalDist


def wilson_interval(k: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion of k successes in n trials."""
    if n < 1:
        raise ValueError("n must be >= 1")
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def average_interval(sets: dict[str, dict], confidence: float = 0.95) -> tuple[float, float]:
    """An approximate interval (points) of the average of per-set accuracies {set: {score (%), n}}: each
    set's Wilson half-width read as z standard errors (so a set at 0% still has one), the sets independent."""
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    variances = []
    for s in sets.values():
        low, high = wilson_interval(s["score"] / 100 * s["n"], s["n"], confidence)
        variances.append(((high - low) / 2 / z) ** 2)
    avg = sum(s["score"] for s in sets.values()) / len(sets)
    half = 100 * z * math.sqrt(sum(variances)) / len(sets)
    return max(0.0, avg - half), min(100.0, avg + half)
