import pytest
import torch

from bmc.alignment.trainer import token_dynamics_rows, token_group_means


def test_token_group_means_on_known_log_probs():
    # rows: [chosen; rejected]; loss_mask 0 at the prompt position, diff_mask marks varied tokens
    logps = torch.tensor([[0.0, -1.0, -3.0, -5.0], [0.0, -2.0, -4.0, -6.0]])
    loss = torch.tensor([[0, 1, 1, 1], [0, 1, 1, 1]])
    diff = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]])  # the prompt's mark is ignored
    out = token_group_means(logps, diff, loss)
    assert out["chosen_varied_logp"] == pytest.approx(-1.0)
    assert out["chosen_unvaried_logp"] == pytest.approx(-4.0)
    assert out["rejected_varied_logp"] is None
    assert out["rejected_unvaried_logp"] == pytest.approx(-4.0)


def test_token_dynamics_rows_keep_the_logged_steps():
    history = [
        {"loss": 0.7, "grad_norm": 1.5, "tokens/chosen_varied_logp": -2.0, "step": 1, "epoch": 0.5},
        {"train_runtime": 3.0, "step": 2},
    ]
    assert token_dynamics_rows(history) == [
        {"step": 1, "epoch": 0.5, "chosen_varied_logp": -2.0, "loss": 0.7, "grad_norm": 1.5}
    ]
