"""IPO (Azar et al. 2024) and IPO-BMC (Table 5); its β is the config's `beta`."""

from bmc.alignment.method_spec import Objective


def loss(terms, hp):
    from bmc.alignment.objective import ipo_loss

    return ipo_loss(terms, hp)


METHOD = Objective(name="IPO", loss=loss, variants=("BMC",))
