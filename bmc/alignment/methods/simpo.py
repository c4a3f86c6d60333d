"""SimPO (Meng et al. 2024) and SimPO-BMC (Table 5): reference-free, rewards normalised by length, a target
margin γ. SimPO-BMC's bound of the confidence term is a weighting setting, `train.simpo_bmc_bound`."""

from bmc.alignment.method_spec import Hyperparameter, Objective


def loss(terms, hp):
    from bmc.alignment.objective import simpo_loss

    return simpo_loss(terms, hp)


METHOD = Objective(
    name="SimPO",
    loss=loss,
    variants=("BMC",),
    reference=False,
    reward="length_normalised",
    hyperparameters={"gamma": Hyperparameter(float, 0.5, help="γ, the target reward margin")},
)
