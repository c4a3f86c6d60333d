"""Preference objectives on (possibly BMC-weighted) sequence log-probs. Shapes: every tensor is (batch,).

`chosen`/`rejected` are policy log-probs Σ_t λ_t log p_t; `ref_*` the reference's; `*_len` token counts.
See bmc/alignment/methods.py for the formulas and their papers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta: float) -> torch.Tensor:
    logits = (chosen - ref_chosen) - (rejected - ref_rejected)
    return -F.logsigmoid(beta * logits)


def ipo_loss(
    chosen, rejected, ref_chosen, ref_rejected, chosen_len, rejected_len, beta: float
) -> torch.Tensor:
    delta = (chosen - ref_chosen) / chosen_len - (rejected - ref_rejected) / rejected_len
    return (delta - 1 / (2 * beta)) ** 2


def rdpo_loss(
    chosen, rejected, ref_chosen, ref_rejected, chosen_len, rejected_len, beta: float, alpha: float
):
    logits = beta * ((chosen - ref_chosen) - (rejected - ref_rejected)) - alpha * (chosen_len - rejected_len)
    return -F.logsigmoid(logits)


def simpo_loss(chosen, rejected, chosen_len, rejected_len, beta: float, gamma: float) -> torch.Tensor:
    return -F.logsigmoid(beta * (chosen / chosen_len - rejected / rejected_len) - gamma)


def orpo_loss(chosen, rejected, chosen_len, rejected_len, lam: float) -> torch.Tensor:
    """NLL of y_w (per token) plus λ times the odds-ratio term on length-normalised log-probs."""
    avg_chosen, avg_rejected = chosen / chosen_len, rejected / rejected_len

    def log_odds(avg_logp):  # log(p / (1 - p)) with p = exp(avg_logp) < 1
        return avg_logp - torch.log1p(-torch.exp(avg_logp).clamp(max=1 - 1e-6))

    return -avg_chosen - lam * F.logsigmoid(log_odds(avg_chosen) - log_odds(avg_rejected))


def preference_loss(
    objective: str, chosen, rejected, ref_chosen, ref_rejected, chosen_len, rejected_len, hp: dict
):
    """(batch,) loss of `objective` with hyperparameters hp (beta, and alpha / gamma / lam where used)."""
    if objective == "dpo":
        return dpo_loss(chosen, rejected, ref_chosen, ref_rejected, hp["beta"])
    if objective == "ipo":
        return ipo_loss(chosen, rejected, ref_chosen, ref_rejected, chosen_len, rejected_len, hp["beta"])
    if objective == "rdpo":
        return rdpo_loss(
            chosen, rejected, ref_chosen, ref_rejected, chosen_len, rejected_len, hp["beta"], hp["alpha"]
        )
    if objective == "simpo":
        return simpo_loss(chosen, rejected, chosen_len, rejected_len, hp["beta"], hp["gamma"])
    if objective == "orpo":
        return orpo_loss(chosen, rejected, chosen_len, rejected_len, hp["lam"])
    raise ValueError(f"unknown objective {objective!r}")


def implicit_rewards(objective, chosen, rejected, ref_chosen, ref_rejected, chosen_len, rejected_len, beta):
    """(chosen_reward, rejected_reward) as each method defines its reward, for logging accuracies and margins."""
    if objective in {"simpo", "orpo"}:
        return beta * chosen / chosen_len, beta * rejected / rejected_len
    return beta * (chosen - ref_chosen), beta * (rejected - ref_rejected)
