"""Length-controlled win rate: recovers known parameters, and removes a pure length preference."""

import numpy as np
import pytest

from bmc.evaluation.length_control import fit, lc_win_rate


def test_fit_recovers_the_parameters_of_simulated_judgments():
    rng = np.random.default_rng(0)
    delta = rng.normal(0, 300, 20000)
    p = 1 / (1 + np.exp(-(0.4 + 1.5 * np.tanh(delta / delta.std()))))
    theta, phi = fit(rng.random(delta.size) < p, delta)
    assert theta == pytest.approx(0.4, abs=0.05) and phi == pytest.approx(1.5, abs=0.08)


def test_a_judge_that_only_likes_length_gets_half_after_control():
    rng = np.random.default_rng(1)
    delta = rng.normal(200, 300, 4000)  # the model is longer on average
    wins = (delta + rng.normal(0, 50, delta.size)) > 0  # and wins exactly when longer
    assert wins.mean() > 0.7
    assert lc_win_rate(wins.astype(float), delta) == pytest.approx(50, abs=6)


def test_ties_count_half_and_equal_lengths_give_the_raw_rate():
    prefs = [1.0, 0.5, 0.0, 1.0]
    assert lc_win_rate(prefs, [0, 0, 0, 0]) == pytest.approx(62.5, abs=0.1)
    with pytest.raises(ValueError):
        fit([1.5], [0])
