import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bmc.alignment.objective import confidence_weights, weighted_logps


def naive(token_logps, mask, loss_mask, delta):
    """Per-token loop over BMC's equations: λ_t = 1 + m_t·min(1/p_t, δ); Σ_t λ_t log p_t."""
    sums = []
    for row_lp, row_m, row_l in zip(token_logps, mask, loss_mask, strict=True):
        total = 0.0
        for lp, m, keep in zip(row_lp, row_m, row_l, strict=True):
            if keep:
                p = math.exp(lp)
                total += (1 + m * min(1 / p, delta)) * lp
        sums.append(total)
    return sums


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 9),
    st.floats(0.5, 5.0),
    st.integers(0, 10_000),
)
def test_vectorised_equals_per_token_loop(batch, seq, delta, seed):
    g = torch.Generator().manual_seed(seed)
    logps = -torch.rand(batch, seq, generator=g, dtype=torch.float64) * 6
    mask = torch.randint(0, 2, (batch, seq), generator=g)
    loss_mask = torch.randint(0, 2, (batch, seq), generator=g)
    got = weighted_logps(logps, confidence_weights(logps, mask, delta), loss_mask)
    want = naive(logps.tolist(), mask.tolist(), loss_mask.tolist(), delta)
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float64), atol=1e-10)


def test_weights_carry_no_gradient():
    logps = torch.tensor([[-0.1, -2.0, -4.0]], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1, 0]])
    weights = confidence_weights(logps, mask, 3.0)
    assert not weights.requires_grad
    weighted_logps(logps, weights, torch.ones_like(mask)).sum().backward()
    assert torch.allclose(logps.grad, weights)  # d/dlogp of λ·logp with λ constant


def test_delta_clips_and_must_be_positive():
    logps = torch.log(torch.tensor([[0.9, 0.1, 0.01]]))
    w = confidence_weights(logps, torch.ones(1, 3), 3.0)
    assert torch.allclose(w, torch.tensor([[1 + 1 / 0.9, 4.0, 4.0]]))
    import pytest

    with pytest.raises(ValueError):
        confidence_weights(logps, torch.ones(1, 3), 0.0)
