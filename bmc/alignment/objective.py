"""The preference objective, to be read beside the paper's modeling phase (arXiv 2408.07471; the steps are
numbered as in the suite's specification, BMC.md).

BMC's bridging phase is data, not loss: ỹ_w is made from y_l by targeted modification (`bmc.bridging`), and
DPO-BC is plain DPO on those pairs. Its modeling phase is this module, in the paper's order:
  step 1, diff masks m_t (the tokens of ỹ_w and y_l that vary): `bmc.alignment.masks`, once per pair;
  step 2, confidence weights λ_t = 1 + m_t · min(1/p_t, δ): `confidence_weights`;
  step 3, the weighted sequence log-prob Σ_t λ_t log p_t (`weighted_logps`) in the DPO objective (`dpo_loss`).
DPO-MC is steps 1-3 on the original pairs, DPO-BMC on bridged pairs (`bmc.alignment.methods`). Then the
variants BMC is applied to (Table 5: IPO, R-DPO, SimPO, ORPO) and the baselines FIGA and TDPO, each formula
above its function; `preference_loss` picks one by name.

Notation: y_w is the chosen response (ỹ_w on bridged pairs), π_w = log π(y_w) the policy's sequence log-prob
(Σ_t λ_t log p_t with BMC weights, each model weighting with its own p_t), π_ref its reference's,
Δ = π - π_ref, |y| the response's token count, σ the logistic function. Tensors are (batch,) unless a shape is
given; "rows" are a batch's [chosen; rejected] sequences. A padding-free batch holds them in one row (1, N)
whose `segments` say where each sequence lies (`bmc.alignment.packing`): its per-row sums are segment sums.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from bmc.alignment.methods import OBJECTIVES, Method
from bmc.alignment.packing import Segments, rejected_positions, row_sums

Tensor = torch.Tensor


@dataclass(frozen=True)
class Hyperparameters:
    """The objective's numbers, resolved once from the training config (`BMCConfig.hyperparameters`)."""

    beta: float  # β: scale of the log-ratio margin (SimPO: of the length-normalised margin)
    delta: float  # upper bound of BMC's confidence term 1/p_t: δ (`confidence_bound`)
    # the method's own hyperparameters, as its module declares them (`bmc.alignment.method_spec`), by name:
    # R-DPO's α, SimPO's γ, ORPO's λ, TDPO's α, ...
    params: Mapping[str, Any] = field(default_factory=dict)


class PairTerms(NamedTuple):
    """What an objective is computed from, per pair of the batch."""

    policy_chosen: Tensor  # π_w
    policy_rejected: Tensor  # π_l
    ref_chosen: Tensor  # π_ref,w (zeros for the reference-free SimPO, ORPO, FIGA)
    ref_rejected: Tensor  # π_ref,l
    chosen_len: Tensor  # |y_w|
    rejected_len: Tensor  # |y_l|
    chosen_nll: Tensor | None = None  # ORPO only: `orpo_chosen_nll`
    seq_kl: tuple[Tensor, Tensor] | None = None  # TDPO only: (D_w, D_l), `sequential_kl`


# ---- Step 1. Diff masks m_t: `bmc.alignment.masks.diff_masks`, computed once per pair when the trainer
# tokenises the data (`bmc.alignment.trainer.response_masks`), not per step.


# ---- Step 2. Confidence weights: λ_t = 1 + m_t · min(1/p_t, δ), p_t the scoring model's own probability of
# token t; a stop-gradient: λ scales a token's log-prob and is not itself differentiated.
def confidence_weights(token_logps: Tensor, mask: Tensor, delta: float) -> Tensor:
    """(rows, seq) weights 1 + mask · min(exp(-logp), δ), detached from the graph."""
    if delta <= 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    with torch.no_grad():
        inverse_p = torch.exp(-token_logps.detach()).clamp(max=delta)
        return 1.0 + mask.to(token_logps.dtype) * inverse_p


# ---- SimPO-BMC's bound of the confidence term. The paper applies BMC to SimPO as to DPO, λ_t bounded by δ
# (`delta`, the default). The authors' only SimPO-BMC code, a compiled leftover of their trainer
# (scripts/__pycache__/simpo_trainer_tl.cpython-310.pyc, commit 958d49e), bounds it at 1.0 instead, whatever δ
# (`released_1.0`); as 1/p_t ≥ 1, its λ_t is 1 + m_t: a fixed weight of 2 on every varied token, which no
# longer depends on the model's confidence.
SIMPO_BMC_BOUNDS = ("delta", "released_1.0")
RELEASED_SIMPO_BMC_BOUND = 1.0


def confidence_bound(loss: str, delta: float, simpo_bmc_bound: str = "delta") -> float:
    """The upper bound of the confidence term 1/p_t: δ, or 1.0 for SimPO under the released bound."""
    if simpo_bmc_bound not in SIMPO_BMC_BOUNDS:
        raise ValueError(f"simpo_bmc_bound must be one of {SIMPO_BMC_BOUNDS}, got {simpo_bmc_bound!r}")
    return RELEASED_SIMPO_BMC_BOUND if loss == "simpo" and simpo_bmc_bound == "released_1.0" else delta


# ---- Step 3. Sequence log-prob: log π(y) = Σ_t λ_t · log p_t over the response tokens.
def weighted_logps(
    token_logps: Tensor, weights: Tensor, loss_mask: Tensor, segments: Segments | None = None
) -> Tensor:
    """(rows,) Σ_t λ_t · log p_t over the tokens where loss_mask is 1."""
    return row_sums(weights * token_logps * loss_mask.to(token_logps.dtype), segments)


def token_counts(loss_mask: Tensor, segments: Segments | None = None) -> Tensor:
    """(rows,) |y|, the number of scored tokens, at least 1 (for length normalisation); integer dtype."""
    return row_sums(loss_mask, segments).clamp(min=1)


def log_ratio_margin(s: PairTerms) -> Tensor:
    """Δ_w - Δ_l = (π_w - π_ref,w) - (π_l - π_ref,l)."""
    return (s.policy_chosen - s.ref_chosen) - (s.policy_rejected - s.ref_rejected)


# ---- Step 3. DPO (Rafailov et al. 2023): L = -log σ(β[Δ_w - Δ_l]).
def dpo_loss(s: PairTerms, hp: Hyperparameters) -> Tensor:
    return -F.logsigmoid(hp.beta * log_ratio_margin(s))


# ---- IPO (Azar et al. 2024): L = (Δ_w/|y_w| - Δ_l/|y_l| - 1/(2β))², log-ratios averaged per token as in TRL
# and the released BMC code.
def ipo_loss(s: PairTerms, hp: Hyperparameters) -> Tensor:
    h = (s.policy_chosen - s.ref_chosen) / s.chosen_len - (
        s.policy_rejected - s.ref_rejected
    ) / s.rejected_len
    return (h - 1 / (2 * hp.beta)) ** 2


# ---- R-DPO (Park et al. 2024, Eq. 9): L = -log σ(β[Δ_w - Δ_l] + α(|y_w| - |y_l|)). The released BMC code
# computes -log σ(β[Δ_w - Δ_l - (|y_w| - |y_l|)]): the same formula with α = -β (its declared default, None).
def rdpo_loss(s: PairTerms, hp: Hyperparameters) -> Tensor:
    alpha = -hp.beta if hp.params["alpha"] is None else hp.params["alpha"]
    logits = hp.beta * log_ratio_margin(s)
    return -F.logsigmoid(logits + alpha * (s.chosen_len - s.rejected_len))


# ---- SimPO (Meng et al. 2024): L = -log σ(β[π_w/|y_w| - π_l/|y_l|] - γ), no reference.
def simpo_loss(s: PairTerms, hp: Hyperparameters) -> Tensor:
    margin = s.policy_chosen / s.chosen_len - s.policy_rejected / s.rejected_len
    return -F.logsigmoid(hp.beta * margin - hp.params["gamma"])


# ---- ORPO (Hong et al. 2024): L = NLL(y_w) - λ log σ(log odds(y_w) - log odds(y_l)), odds of the per-token
# average probability, NLL without BMC weights (as the released code), λ = β by default; no reference.
def orpo_chosen_nll(plain_chosen: Tensor, chosen_len: Tensor) -> Tensor:
    """ORPO's NLL(y_w) from the plain sums Σ_t log p_t(y_w): the mean over every chosen token of the batch
    (cross-entropy, as the released code and TRL), spread as Σ_t NLL_i / mean |y_w| per pair so that the
    batch mean of the loss holds it exactly once."""
    return -plain_chosen / chosen_len.mean()


def orpo_loss(s: PairTerms, hp: Hyperparameters) -> Tensor:
    if s.chosen_nll is None:
        raise ValueError("orpo needs chosen_nll, the per-token NLL of the chosen response")
    avg_chosen, avg_rejected = s.policy_chosen / s.chosen_len, s.policy_rejected / s.rejected_len

    def log_odds(avg_logp: Tensor) -> Tensor:  # log(p / (1 - p)) with p = exp(avg_logp) < 1
        return avg_logp - torch.log1p(-torch.exp(avg_logp).clamp(max=1 - 1e-6))

    weight = hp.beta if hp.params["lambda"] is None else hp.params["lambda"]
    return s.chosen_nll - weight * F.logsigmoid(log_odds(avg_chosen) - log_odds(avg_rejected))


# ---- FIGA (Guo et al. 2024), the released BMC code's form: L = -Σ_t m_t log p_t(ỹ_w) + ½ Σ_t m_t log p_t(y_l),
# varied tokens only, no reference. The masks and the ½ are token weights, so the sums arrive as π_w, π_l.
def figa_token_weights(diff_mask: Tensor, dtype: torch.dtype, segments: Segments | None = None) -> Tensor:
    """(rows, seq) m_t on the chosen rows, ½ m_t on the rejected rows."""
    scale = 1.0 - 0.5 * rejected_positions(diff_mask, segments).to(dtype)
    return diff_mask.to(dtype) * scale


def figa_loss(s: PairTerms, hp: Hyperparameters) -> Tensor:
    return -s.policy_chosen + s.policy_rejected


# ---- TDPO2 (Zeng et al. 2024): L = -log σ(β[Δ_w - Δ_l] - α·β[D_l - sg(D_w)]),
# D(y) = Σ_t KL(π_ref(·|x, y_<t) ‖ π_θ(·|x, y_<t)); needs both models' full next-token distributions.
def sequential_kl(
    ref_logprobs: Tensor, policy_logprobs: Tensor, loss_mask: Tensor, segments: Segments | None = None
) -> Tensor:
    """(rows,) D(y) over the positions where loss_mask is 1, from (rows, seq, vocab) next-token
    log-distributions; differentiated through the policy only (the reference carries no gradient)."""
    ref_logprobs = ref_logprobs.detach()
    per_position = (ref_logprobs.exp() * (ref_logprobs - policy_logprobs)).sum(dim=-1)  # (rows, seq)
    return row_sums(per_position * loss_mask.to(per_position.dtype), segments)


def tdpo_loss(s: PairTerms, hp: Hyperparameters) -> Tensor:
    if s.seq_kl is None:
        raise ValueError("tdpo needs seq_kl, the sequential KL of the chosen and rejected responses")
    kl_chosen, kl_rejected = s.seq_kl
    u = hp.beta * log_ratio_margin(s)
    return -F.logsigmoid(u - hp.params["alpha"] * hp.beta * (kl_rejected - kl_chosen.detach()))


# ---- A method's objective, by name: its module's declaration (`bmc.alignment.methods`) --------------------
def token_weights(
    method: Method, token_logps: Tensor, diff_mask: Tensor, delta: float, segments: Segments | None = None
) -> Tensor:
    """(rows, seq) the method's per-token weights from the scoring model's own log-probs: FIGA's, BMC's λ_t
    (the -MC and -BMC methods), or 1."""
    if method.objective.token_weights == "diff_mask":
        return figa_token_weights(diff_mask, token_logps.dtype, segments)
    if method.bmc_weights:
        return confidence_weights(token_logps, diff_mask, delta)
    return torch.ones_like(token_logps)


def preference_loss(loss: str, terms: PairTerms, hp: Hyperparameters) -> Tensor:
    """(batch,) the loss of objective `loss` (a module of bmc/alignment/methods, one of its `LOSSES`)."""
    if loss not in OBJECTIVES:
        raise ValueError(f"unknown objective {loss!r}; expected one of {sorted(OBJECTIVES)}")
    return OBJECTIVES[loss].loss(terms, hp)


def implicit_rewards(loss: str, s: PairTerms, beta: float) -> tuple[Tensor, Tensor]:
    """(chosen_reward, rejected_reward) as each method defines its reward (its module's `reward`), for
    accuracies and margins."""
    reward = OBJECTIVES[loss].reward
    if reward == "length_normalised":
        return beta * s.policy_chosen / s.chosen_len, beta * s.policy_rejected / s.rejected_len
    if reward == "policy":
        return s.policy_chosen, s.policy_rejected
    return beta * (s.policy_chosen - s.ref_chosen), beta * (s.policy_rejected - s.ref_rejected)
