"""TDPO2 (Zeng et al. 2024), a baseline of Table 1: reads both models' full next-token distributions at
every step; its weight of the sequential KL term is the config's `tdpo_alpha`."""

from bmc.alignment.method_spec import Objective


def loss(terms, hp):
    from bmc.alignment.objective import tdpo_loss

    return tdpo_loss(terms, hp)


METHOD = Objective(name="TDPO", loss=loss, distributions=True)
