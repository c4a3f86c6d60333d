"""R-DPO (Park et al. 2024) and R-DPO-BMC (Table 5): DPO with a length term α(|y_w| - |y_l|)."""

from bmc.alignment.method_spec import Hyperparameter, Objective


def loss(terms, hp):
    from bmc.alignment.objective import rdpo_loss

    return rdpo_loss(terms, hp)


METHOD = Objective(
    name="R-DPO",
    loss=loss,
    variants=("BMC",),
    hyperparameters={
        "alpha": Hyperparameter(
            float,
            None,
            help="α, the length coefficient; None: -β, the released BMC code's -β(|y_w| - |y_l|)",
        )
    },
)
