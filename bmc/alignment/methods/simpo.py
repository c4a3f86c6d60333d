"""SimPO (Meng et al. 2024) and SimPO-BMC (Table 5): reference-free, rewards normalised by length; its margin
is the config's `simpo_gamma`, SimPO-BMC's bound of the confidence term its `simpo_bmc_bound`."""

from bmc.alignment.method_spec import Objective


def loss(terms, hp):
    from bmc.alignment.objective import simpo_loss

    return simpo_loss(terms, hp)


METHOD = Objective(name="SimPO", loss=loss, variants=("BMC",), reference=False, reward="length_normalised")
