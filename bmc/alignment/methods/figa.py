"""FIGA (Guo et al. 2024), a baseline of Table 1: it learns from an LLM-revised response against the original
one, i.e. bridged pairs, weighting the varied tokens by the diff masks; reference-free."""

from bmc.alignment.method_spec import Objective


def loss(terms, hp):
    from bmc.alignment.objective import figa_loss

    return figa_loss(terms, hp)


METHOD = Objective(
    name="FIGA", loss=loss, data="bridged", reference=False, reward="policy", token_weights="diff_mask"
)
