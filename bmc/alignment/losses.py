"""Preference objectives on (possibly BMC-weighted) sequence log-probs. Every tensor is (batch,).

`policy_*` are the policy's Σ_t λ_t log p_t over response tokens, `ref_*` the reference's (λ from its own
p_t), `*_len` response token counts. Formulas and papers: bmc/alignment/methods.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def dpo_loss(
    policy_chosen: Tensor, policy_rejected: Tensor, ref_chosen: Tensor, ref_rejected: Tensor, beta: float
):
    """-log σ(β[(π_w - ref_w) - (π_l - ref_l)])."""
    logits = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)  # (batch,)
    return -F.logsigmoid(beta * logits)


def ipo_loss(
    policy_chosen, policy_rejected, ref_chosen, ref_rejected, chosen_len, rejected_len, beta: float
) -> Tensor:
    """(Δ_w/|y_w| - Δ_l/|y_l| - 1/(2β))², log-ratios averaged per token (TRL, released BMC code)."""
    h = (policy_chosen - ref_chosen) / chosen_len - (policy_rejected - ref_rejected) / rejected_len
    return (h - 1 / (2 * beta)) ** 2


def rdpo_loss(
    policy_chosen,
    policy_rejected,
    ref_chosen,
    ref_rejected,
    chosen_len,
    rejected_len,
    beta: float,
    alpha: float,
) -> Tensor:
    """-log σ(β[Δ_w - Δ_l] + α(|y_w| - |y_l|)), Park et al. 2024.

    The released BMC code computes -log σ(β[Δ_w - Δ_l - (|y_w| - |y_l|)]): the same formula with α = -β.
    """
    logits = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    return -F.logsigmoid(logits + alpha * (chosen_len - rejected_len))


def simpo_loss(policy_chosen, policy_rejected, chosen_len, rejected_len, beta: float, gamma: float) -> Tensor:
    """-log σ(β[π_w/|y_w| - π_l/|y_l|] - γ); no reference model."""
    return -F.logsigmoid(beta * (policy_chosen / chosen_len - policy_rejected / rejected_len) - gamma)


def orpo_loss(policy_chosen, policy_rejected, chosen_len, rejected_len, chosen_nll, lam: float) -> Tensor:
    """chosen_nll + λ·(-log σ(log odds(y_w) - log odds(y_l))), odds of the per-token average probability.

    `chosen_nll` (batch,) is the plain per-token NLL of y_w (no BMC weights, as in the released code).
    """
    avg_chosen, avg_rejected = policy_chosen / chosen_len, policy_rejected / rejected_len

    def log_odds(avg_logp: Tensor) -> Tensor:  # log(p / (1 - p)) with p = exp(avg_logp) < 1
        return avg_logp - torch.log1p(-torch.exp(avg_logp).clamp(max=1 - 1e-6))

    return chosen_nll - lam * F.logsigmoid(log_odds(avg_chosen) - log_odds(avg_rejected))


def figa_loss(policy_chosen, policy_rejected) -> Tensor:
    """-π_w + π_l, where the sums cover varied tokens only (ỹ_w weight 1, y_l weight ½)."""
    return -policy_chosen + policy_rejected


def sequential_kl(ref_logprobs: Tensor, policy_logprobs: Tensor, loss_mask: Tensor) -> Tensor:
    """(rows,) Σ_t KL(π_ref(·|x, y_<t) ‖ π_θ(·|x, y_<t)) over the positions where loss_mask is 1.

    `*_logprobs` are (rows, seq, vocab) next-token log-distributions; the KL is differentiated through
    the policy only (the reference carries no gradient).
    """
    ref_logprobs = ref_logprobs.detach()
    per_position = (ref_logprobs.exp() * (ref_logprobs - policy_logprobs)).sum(dim=-1)  # (rows, seq)
    return (per_position * loss_mask.to(per_position.dtype)).sum(dim=-1)


def tdpo_loss(
    policy_chosen,
    policy_rejected,
    ref_chosen,
    ref_rejected,
    kl_chosen,
    kl_rejected,
    beta: float,
    alpha: float,
) -> Tensor:
    """TDPO2: -log σ(β[Δ_w - Δ_l] - α·β[D_l - sg(D_w)]), D = sequential KL(π_ref ‖ π_θ) (Zeng et al. 2024)."""
    u = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    return -F.logsigmoid(u - alpha * beta * (kl_rejected - kl_chosen.detach()))


def preference_loss(
    loss: str,
    policy_chosen: Tensor,
    policy_rejected: Tensor,
    ref_chosen: Tensor,
    ref_rejected: Tensor,
    chosen_len: Tensor,
    rejected_len: Tensor,
    hp: dict,
    chosen_nll: Tensor | None = None,
    seq_kl: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """(batch,) loss of objective `loss` with hyperparameters hp (beta; alpha / gamma / lam / tdpo_alpha where
    used); ORPO needs `chosen_nll`, TDPO `seq_kl` = (D_w, D_l)."""
    args = (policy_chosen, policy_rejected, ref_chosen, ref_rejected)
    if loss == "dpo":
        return dpo_loss(*args, hp["beta"])
    if loss == "ipo":
        return ipo_loss(*args, chosen_len, rejected_len, hp["beta"])
    if loss == "rdpo":
        return rdpo_loss(*args, chosen_len, rejected_len, hp["beta"], hp["alpha"])
    if loss == "simpo":
        return simpo_loss(policy_chosen, policy_rejected, chosen_len, rejected_len, hp["beta"], hp["gamma"])
    if loss == "orpo":
        if chosen_nll is None:
            raise ValueError("orpo needs chosen_nll, the per-token NLL of the chosen response")
        return orpo_loss(policy_chosen, policy_rejected, chosen_len, rejected_len, chosen_nll, hp["lam"])
    if loss == "figa":
        return figa_loss(policy_chosen, policy_rejected)
    if loss == "tdpo":
        if seq_kl is None:
            raise ValueError("tdpo needs seq_kl, the sequential KL of the chosen and rejected responses")
        return tdpo_loss(*args, *seq_kl, hp["beta"], hp["tdpo_alpha"])
    raise ValueError(f"unknown objective {loss!r}")


def implicit_rewards(
    loss: str, policy_chosen, policy_rejected, ref_chosen, ref_rejected, chosen_len, rejected_len, beta: float
) -> tuple[Tensor, Tensor]:
    """(chosen_reward, rejected_reward) (batch,) as each method defines its reward, for accuracies and margins."""
    if loss in {"simpo", "orpo"}:
        return beta * policy_chosen / chosen_len, beta * policy_rejected / rejected_len
    if loss == "figa":
        return policy_chosen, policy_rejected
    return beta * (policy_chosen - ref_chosen), beta * (policy_rejected - ref_rejected)
