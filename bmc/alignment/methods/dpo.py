"""DPO (Rafailov et al. 2023) and the paper's study of BMC's parts on it (Table 1): DPO-MC, DPO-BC, DPO-BMC."""

from bmc.alignment.method_spec import Objective


def loss(terms, hp):
    from bmc.alignment.objective import dpo_loss

    return dpo_loss(terms, hp)


METHOD = Objective(name="DPO", loss=loss, variants=("MC", "BC", "BMC"), ablations=True)
