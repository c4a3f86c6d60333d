"""Each objective on a hand-computed example against its published formula."""

import math

import pytest
import torch

from bmc.alignment.losses import preference_loss
from bmc.alignment.methods import METHODS, get_method, uses_bridged_data

# one pair: policy log-probs, reference log-probs, token counts
C, R, RC, RR, LC, LR = -10.0, -14.0, -11.0, -13.0, 5.0, 8.0


def loss(objective, **hp):
    t = lambda x: torch.tensor([x], dtype=torch.float64)  # noqa: E731
    hp = {"beta": 0.1, "alpha": 0.2, "gamma": 0.5, "lam": 0.1, **hp}
    return preference_loss(objective, t(C), t(R), t(RC), t(RR), t(LC), t(LR), hp).item()


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_dpo():  # -log σ(β[(c - rc) - (r - rr)]) = -log σ(0.1 · 2)
    assert loss("dpo") == pytest.approx(-math.log(sigmoid(0.2)))


def test_ipo():  # ((1/5) - (-1/8) - 1/(2·0.1))² = (0.325 - 5)²
    assert loss("ipo") == pytest.approx((0.325 - 5) ** 2)


def test_rdpo():  # -log σ(0.1·2 - 0.2·(5 - 8))
    assert loss("rdpo") == pytest.approx(-math.log(sigmoid(0.2 + 0.6)))


def test_simpo():  # -log σ(β(-10/5 + 14/8) - γ) with β = 2, γ = 0.5
    assert loss("simpo", beta=2.0) == pytest.approx(-math.log(sigmoid(2.0 * (-2 + 1.75) - 0.5)))


def test_orpo():
    pc, pr = math.exp(-2.0), math.exp(-1.75)
    log_odds = math.log(pc / (1 - pc)) - math.log(pr / (1 - pr))
    assert loss("orpo", lam=0.1) == pytest.approx(2.0 - 0.1 * math.log(sigmoid(log_odds)))


def test_unknown_objective():
    with pytest.raises(ValueError, match="unknown objective"):
        loss("kto")


def test_method_registry():
    assert get_method("DPO-BMC").bridged_data and get_method("DPO-BMC").bmc_weights
    assert uses_bridged_data("DPO-BC") and not get_method("DPO-BC").bmc_weights
    assert not uses_bridged_data("DPO-MC") and get_method("DPO-MC").bmc_weights
    assert not get_method("SimPO-BMC").needs_reference and get_method("IPO-BMC").objective == "ipo"
    assert {"DPO", "IPO", "ORPO", "R-DPO", "SimPO", "IPO-BMC", "ORPO-BMC", "R-DPO-BMC", "SimPO-BMC"} <= set(
        METHODS
    )
    with pytest.raises(ValueError, match="valid methods"):
        get_method("dpo")
