"""TDPO2 (Zeng et al. 2024), a baseline of Table 1: reads both models' full next-token distributions at
every step, and weighs its sequential KL term by α."""

from bmc.alignment.method_spec import Hyperparameter, Objective


def loss(terms, hp):
    from bmc.alignment.objective import tdpo_loss

    return tdpo_loss(terms, hp)


METHOD = Objective(
    name="TDPO",
    loss=loss,
    distributions=True,
    hyperparameters={
        "alpha": Hyperparameter(float, 0.5, ge=0.0, help="α, the weight of the sequential KL term (TDPO2)")
    },
)
