"""ORPO (Hong et al. 2024) and ORPO-BMC (Table 5): reference-free, rewards normalised by length; its weight
of the odds-ratio term is the config's `orpo_lambda`."""

from bmc.alignment.method_spec import Objective


def loss(terms, hp):
    from bmc.alignment.objective import orpo_loss

    return orpo_loss(terms, hp)


METHOD = Objective(name="ORPO", loss=loss, variants=("BMC",), reference=False, reward="length_normalised")
