"""The Arena-Hard scorer on synthetic judgments drawn from known Bradley-Terry strengths."""

import numpy as np
import pytest

from bmc.evaluation.arena_hard import battles, score, win_rate

FLIP = {"A>>B": "B>>A", "A>B": "B>A", "A=B": "A=B", "B>A": "A>B", "B>>A": "A>>B"}


def synthetic(true_win: dict[str, float], n_questions: int, seed: int = 0, position_bias: float = 0.0):
    """Judgments in both orders; the judge prefers the first answer by `position_bias` (in probability)."""
    rng = np.random.default_rng(seed)
    out = []
    for model, p in true_win.items():
        for _ in range(n_questions):
            for model_first in (True, False):
                p_first = (p if model_first else 1 - p) + position_bias
                verdict = "A>B" if rng.random() < p_first else "B>A"
                out.append({"model": model, "model_first": model_first, "verdict": verdict})
    return out


def test_recovers_known_strengths_and_covers_them():
    truth = {"strong": 0.8, "even": 0.5, "weak": 0.2}
    got = score(synthetic(truth, 500), baseline="base", rounds=200)
    for model, p in truth.items():
        assert got[model]["win_rate"] == pytest.approx(100 * p, abs=4)
        assert got[model]["ci_low"] <= 100 * p <= got[model]["ci_high"]
        assert got[model]["battles"] == 1000


def test_both_orders_cancel_the_judges_position_bias():
    biased = score(synthetic({"m": 0.7}, 2000, position_bias=0.2), baseline="base", rounds=20)
    assert biased["m"]["win_rate"] == pytest.approx(70, abs=2.5)


def test_strong_verdicts_count_three_times_and_ties_half():
    judgments = [
        {"model": "m", "model_first": True, "verdict": "A>>B"},  # model wins x3
        {"model": "m", "model_first": False, "verdict": "A>B"},  # baseline shown first and wins x1
        {"model": "m", "model_first": True, "verdict": "A=B"},  # tie
    ]
    models, rows, outcomes = battles(judgments, "base")
    assert models == ["m"] and outcomes.tolist() == [1, 1, 1, 0, 0.5]
    assert score(judgments, "base", rounds=5)["m"]["win_rate"] == pytest.approx(100 * 3.5 / 5)


def test_flipped_judgments_mirror_the_win_rate():
    judgments = synthetic({"m": 0.65}, 300, seed=3)
    flipped = [{**j, "verdict": FLIP[j["verdict"]]} for j in judgments]
    a, b = score(judgments, "base", rounds=5)["m"], score(flipped, "base", rounds=5)["m"]
    assert a["win_rate"] + b["win_rate"] == pytest.approx(100, abs=0.02)


def test_win_rate_scale_and_bad_verdicts():
    assert win_rate(1000.0) == pytest.approx(50)
    assert win_rate(1400.0) == pytest.approx(100 * 10 / 11)
    with pytest.raises(ValueError, match="unknown verdict"):
        battles([{"model": "m", "model_first": True, "verdict": "A>>>B"}], "base")
