"""R-DPO (Park et al. 2024) and R-DPO-BMC (Table 5); its length coefficient is the config's `rdpo_alpha`."""

from bmc.alignment.method_spec import Objective


def loss(terms, hp):
    from bmc.alignment.objective import rdpo_loss

    return rdpo_loss(terms, hp)


METHOD = Objective(name="R-DPO", loss=loss, variants=("BMC",))
