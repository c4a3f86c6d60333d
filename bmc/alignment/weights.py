"""Token confidence weights and weighted sequence log-probs (BMC Eq. 6-7).

λ_t = 1 + m_t · min(1 / p_t, δ), computed without gradient: λ scales each token's log-prob but is
not itself differentiated. p_t is the probability the scoring model (policy or reference) gives the token.
"""

from __future__ import annotations

import torch


def confidence_weights(token_logps: torch.Tensor, mask: torch.Tensor, delta: float) -> torch.Tensor:
    """(batch, seq) weights 1 + mask · min(exp(-logp), δ), detached from the graph."""
    if delta <= 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    with torch.no_grad():
        inverse_p = torch.exp(-token_logps.detach()).clamp(max=delta)
        return 1.0 + mask.to(token_logps.dtype) * inverse_p


def weighted_logps(token_logps: torch.Tensor, weights: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """(batch,) Σ_t λ_t · log p_t over the tokens where loss_mask is 1."""
    return (weights * token_logps * loss_mask.to(token_logps.dtype)).sum(dim=-1)


def token_counts(loss_mask: torch.Tensor) -> torch.Tensor:
    """(batch,) number of scored tokens, at least 1 (for length normalisation); integer dtype."""
    return loss_mask.sum(dim=-1).clamp(min=1)
