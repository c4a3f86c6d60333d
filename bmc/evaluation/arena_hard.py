"""Arena-Hard v0.1 scoring: pairwise judgments against a baseline -> Bradley-Terry win rate with a bootstrap CI.

Each question is judged twice, once with the model's answer first and once with the baseline's first, so a
judge's position bias cancels. A judgment is a verdict of the judge's labels: "A>>B", "A>B", "A=B", "B>A",
"B>>A", where A is whichever answer was shown first. As in Arena-Hard, a strong verdict counts as three
battles. Ratings are the maximum-likelihood Bradley-Terry strengths on the Elo scale (base 10, 400 points
per factor of 10 in odds, baseline anchored at 1000); a model's score is its expected win rate against
the baseline, and its 95% CI comes from resampling the battles with replacement.
"""

from __future__ import annotations

import numpy as np

VERDICTS = {"A>>B": (1.0, 3), "A>B": (1.0, 1), "A=B": (0.5, 1), "B>A": (0.0, 1), "B>>A": (0.0, 3)}
SCALE, BASE, ANCHOR = 400.0, 10.0, 1000.0


def battles(judgments: list[dict], baseline: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(models, model index per battle, outcome per battle: 1 model wins, 0.5 tie, 0 baseline wins).

    A judgment is {"model": name, "model_first": bool, "verdict": one of VERDICTS}; strong verdicts repeat.
    """
    models = sorted({j["model"] for j in judgments} - {baseline})
    index = {m: i for i, m in enumerate(models)}
    rows, outcomes = [], []
    for j in judgments:
        if j["verdict"] not in VERDICTS:
            raise ValueError(f"unknown verdict {j['verdict']!r}; expected one of {list(VERDICTS)}")
        first_wins, repeat = VERDICTS[j["verdict"]]
        outcome = first_wins if j["model_first"] else 1.0 - first_wins
        rows += [index[j["model"]]] * repeat
        outcomes += [outcome] * repeat
    return models, np.asarray(rows, dtype=int), np.asarray(outcomes, dtype=float)


def fit_ratings(n_models: int, rows: np.ndarray, outcomes: np.ndarray) -> np.ndarray:
    """Elo-scale Bradley-Terry ratings of the models, with the baseline at ANCHOR.

    Every battle is a model against the baseline, so the joint maximum-likelihood fit separates into one
    logistic fit per model, whose solution is closed-form: log-odds θ = log(w / (g - w)) with w the wins
    (ties count half, as in Arena-Hard) and g the battles. w is clipped to [0.5, g - 0.5] so that a model
    that never (or always) wins keeps a finite rating.
    """
    wins = np.bincount(rows, weights=outcomes, minlength=n_models)
    games = np.bincount(rows, minlength=n_models).astype(float)
    wins = np.clip(wins, 0.5, np.maximum(games - 0.5, 0.5))
    theta = np.log(wins / np.maximum(games - wins, 0.5))
    return ANCHOR + theta * SCALE / np.log(BASE)


def win_rate(rating: np.ndarray | float) -> np.ndarray | float:
    """Expected win rate (0-100) against the baseline at ANCHOR."""
    return 100.0 / (1.0 + BASE ** ((ANCHOR - np.asarray(rating)) / SCALE))


def score(judgments: list[dict], baseline: str, rounds: int = 100, seed: int = 0) -> dict[str, dict]:
    """Per model {"win_rate", "ci_low", "ci_high", "battles"}: the fit on all battles and the 2.5/97.5
    percentiles of `rounds` bootstrap refits over battles resampled with replacement."""
    models, rows, outcomes = battles(judgments, baseline)
    point = win_rate(fit_ratings(len(models), rows, outcomes))
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(rounds):
        pick = rng.integers(0, len(rows), len(rows))
        samples.append(win_rate(fit_ratings(len(models), rows[pick], outcomes[pick])))
    low, high = np.percentile(np.asarray(samples), [2.5, 97.5], axis=0)
    counts = np.bincount(rows, minlength=len(models))
    return {
        m: {
            "win_rate": round(float(point[i]), 2),
            "ci_low": round(float(low[i]), 2),
            "ci_high": round(float(high[i]), 2),
            "battles": int(counts[i]),
        }
        for i, m in enumerate(models)
    }
