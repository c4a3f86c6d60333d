"""Each objective on a hand-computed example against its published formula."""

import math
from dataclasses import fields, replace

import pytest
import torch

from bmc.alignment.objective import (
    Hyperparameters,
    PairTerms,
    implicit_rewards,
    preference_loss,
    sequential_kl,
)

# one pair: policy log-probs, reference log-probs, token counts, plain per-token NLL of the chosen response
C, R, RC, RR, LC, LR, NLL = -10.0, -14.0, -11.0, -13.0, 5.0, 8.0, 1.5


def t(x):
    return torch.tensor([x], dtype=torch.float64)


def terms(c=None, r=None, nll=None, seq_kl=None):
    c, r = t(C) if c is None else c, t(R) if r is None else r
    return PairTerms(c, r, t(RC), t(RR), t(LC), t(LR), nll, seq_kl)


def hyper(**given):
    """Hyperparameters with those given, the method's own (alpha, gamma, ...) in `params`; β or δ not given is
    NaN, so an objective reading it gives NaN."""
    shared = [f.name for f in fields(Hyperparameters) if f.name != "params"]
    return Hyperparameters(**{name: given.pop(name, math.nan) for name in shared}, params=given)


def loss(objective, **hp):
    hp = {"beta": 0.1, "alpha": 0.2, "gamma": 0.5, "lambda": 0.1, **hp}
    return preference_loss(objective, terms(nll=t(NLL)), hyper(**hp)).item()


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_dpo():  # -log σ(β[(c - rc) - (r - rr)]) = -log σ(0.1 · (1 - (-1)))
    assert loss("dpo") == pytest.approx(-math.log(sigmoid(0.2)))


def test_ipo():  # ((c - rc)/5 - (r - rr)/8 - 1/(2·0.1))² = (0.2 + 0.125 - 5)²
    assert loss("ipo") == pytest.approx((0.325 - 5) ** 2)


def test_rdpo():  # Park et al.: -log σ(β·2 + α(|y_w| - |y_l|)) = -log σ(0.2 + 0.2·(5 - 8))
    assert loss("rdpo") == pytest.approx(-math.log(sigmoid(0.2 - 0.6)))


def test_rdpo_released_code_form_is_alpha_minus_beta():  # -log σ(β[Δ_w - Δ_l - (|y_w| - |y_l|)])
    assert loss("rdpo", alpha=-0.1) == pytest.approx(-math.log(sigmoid(0.1 * (2 - (5 - 8)))))
    assert loss("rdpo", alpha=None) == loss("rdpo", alpha=-0.1)  # its declared default: α = -β


def test_simpo():  # -log σ(β(-10/5 + 14/8) - γ) with β = 2, γ = 0.5
    assert loss("simpo", beta=2.0) == pytest.approx(-math.log(sigmoid(2.0 * (-2 + 1.75) - 0.5)))


def test_orpo():  # NLL + λ·(-log σ(log odds(e^{-2}) - log odds(e^{-1.75})))
    pc, pr = math.exp(-2.0), math.exp(-1.75)
    log_odds = math.log(pc / (1 - pc)) - math.log(pr / (1 - pr))
    assert loss("orpo", **{"lambda": 0.1}) == pytest.approx(NLL - 0.1 * math.log(sigmoid(log_odds)))
    assert loss("orpo", beta=0.3, **{"lambda": None}) == loss("orpo", **{"lambda": 0.3})  # default: λ = β


def test_orpo_needs_the_chosen_nll():
    with pytest.raises(ValueError, match="chosen_nll"):
        preference_loss("orpo", terms(), hyper(**{"lambda": 0.1}))


def test_figa():  # -chosen + rejected on the (varied-token) sums
    assert loss("figa") == pytest.approx(10.0 - 14.0)


def test_tdpo():  # TDPO2: -log σ(β·2 - α·β·(D_l - D_w)) with D_w = 0.3, D_l = 0.8, α = 0.5
    kl = (t(0.3), t(0.8))
    hp = hyper(beta=0.1, alpha=0.5)
    got = preference_loss("tdpo", terms(seq_kl=kl), hp).item()
    assert got == pytest.approx(-math.log(sigmoid(0.2 - 0.5 * 0.1 * 0.5)))
    with pytest.raises(ValueError, match="needs seq_kl"):
        preference_loss("tdpo", terms(), hp)


def test_tdpo_stops_the_gradient_of_the_chosen_kl():
    kl_w, kl_l = t(0.3).requires_grad_(), t(0.8).requires_grad_()
    hp = hyper(beta=0.1, alpha=0.5)
    preference_loss("tdpo", terms(seq_kl=(kl_w, kl_l)), hp).sum().backward()
    assert kl_w.grad is None
    assert kl_l.grad.item() == pytest.approx(0.5 * 0.1 * sigmoid(-(0.2 - 0.025)))


def test_sequential_kl_against_a_loop():
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(3, 5, 7, generator=g, dtype=torch.float64).log_softmax(-1)
    pol = torch.randn(3, 5, 7, generator=g, dtype=torch.float64).log_softmax(-1)
    mask = torch.randint(0, 2, (3, 5), generator=g)
    want = [
        sum(
            sum(math.exp(ref[r, s, v].item()) * (ref[r, s, v] - pol[r, s, v]).item() for v in range(7))
            for s in range(5)
            if mask[r, s]
        )
        for r in range(3)
    ]
    assert sequential_kl(ref, pol, mask).tolist() == pytest.approx(want, rel=1e-12)


def test_unknown_objective():
    with pytest.raises(ValueError, match="unknown objective"):
        loss("kto")


def test_rewards():
    chosen, rejected = implicit_rewards("dpo", terms(), 0.1)
    assert (chosen.item(), rejected.item()) == pytest.approx((0.1, -0.1))
    chosen, rejected = implicit_rewards("simpo", terms(), 2.0)
    assert (chosen.item(), rejected.item()) == pytest.approx((-4.0, -3.5))


def test_gradients_flow_to_policy_only():
    c, r = t(C).requires_grad_(), t(R).requires_grad_()
    preference_loss("dpo", terms(c, r), hyper(beta=0.1)).sum().backward()
    s = sigmoid(-0.2)  # d/dc -log σ(βh) = -β σ(-βh)
    assert c.grad.item() == pytest.approx(-0.1 * s) and r.grad.item() == pytest.approx(0.1 * s)


# SimPO-BMC on one pair, each bound computed by hand: per-token log-probs of ỹ_w and y_l, their diff masks and
# which tokens are scored (the last chosen position is padding)
SIMPO_LOGPS = ([-0.1, -2.3, -0.7, -4.0], [-1.2, -0.05, -3.1, -0.9])
SIMPO_MASKS = ([0, 1, 1, 1], [1, 0, 1, 0])
SIMPO_SCORED = ([1, 1, 1, 0], [1, 1, 1, 1])


def simpo_bmc_by_hand(bound: float, beta: float, gamma: float) -> float:
    """-log σ(β(Σλ log p / |ỹ_w| - Σλ log p / |y_l|) - γ), λ = 1 + m·min(1/p, bound), |y| the scored tokens."""
    averages = []
    for logps, marks, scored in zip(SIMPO_LOGPS, SIMPO_MASKS, SIMPO_SCORED, strict=True):
        weighted = [
            (1 + m * min(1 / math.exp(lp), bound)) * lp
            for lp, m, s in zip(logps, marks, scored, strict=True)
            if s
        ]
        averages.append(sum(weighted) / sum(scored))
    return -math.log(sigmoid(beta * (averages[0] - averages[1]) - gamma))


@pytest.mark.parametrize("bound, expected_bound", [("delta", 2.5), ("released_1.0", 1.0)])
def test_simpo_bmc_under_each_confidence_bound(tmp_path, bound, expected_bound):
    from bmc.alignment.objective import token_counts, token_weights, weighted_logps
    from bmc.alignment.trainer import BMCConfig

    args = BMCConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        method="SimPO-BMC",
        beta=2.0,
        delta=2.5,
        simpo_bmc_bound=bound,
    )
    hp = replace(args.hyperparameters, params={"gamma": 1.0})
    assert hp.delta == expected_bound
    logps, marks, scored = (
        torch.tensor(x, dtype=torch.float64) for x in (SIMPO_LOGPS, SIMPO_MASKS, SIMPO_SCORED)
    )
    weights = token_weights(args.resolved_method, logps, marks, hp.delta)
    sums, counts = weighted_logps(logps, weights, scored), token_counts(scored)
    pair = PairTerms(sums[:1], sums[1:], t(0.0), t(0.0), counts[:1], counts[1:])
    got = preference_loss("simpo", pair, hp).item()
    assert got == pytest.approx(simpo_bmc_by_hand(expected_bound, 2.0, 1.0), rel=1e-12)
    if bound == "released_1.0":  # 1/p ≥ 1: every varied token weighs exactly 2, whatever its probability
        assert weights.tolist() == [[1 + m for m in row] for row in SIMPO_MASKS]


def test_the_released_bound_concerns_simpo_only(tmp_path):
    from bmc.alignment.objective import confidence_bound
    from bmc.alignment.trainer import BMCConfig

    assert confidence_bound("dpo", 2.5, "released_1.0") == 2.5 and confidence_bound("simpo", 2.5) == 2.5
    dpo = BMCConfig(
        output_dir=str(tmp_path), use_cpu=True, method="DPO-BMC", delta=2.5, simpo_bmc_bound="released_1.0"
    )
    assert dpo.hyperparameters.delta == 2.5
    with pytest.raises(ValueError, match="simpo_bmc_bound must be one of"):
        BMCConfig(output_dir=str(tmp_path), use_cpu=True, simpo_bmc_bound="1.0")
